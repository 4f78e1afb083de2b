/*
 * bench/request/request.h — one way of serving a request's memory, as the
 * per-request benchmark (request.c) sees it: K blocks, then free them all.
 * Each request_<way>.c implements these four for one allocator (an hk arena,
 * an APR pool, a mimalloc heap, talloc, an obstack, plain malloc/free); the
 * driver is linked with exactly one of them, so no call goes through a pointer.
 */
#ifndef HK_BENCH_REQUEST_H
#define HK_BENCH_REQUEST_H

#include <stddef.h>

/* Sets up the long-lived part (an arena, a pool, a parent context) once.
 * `variant` is the way's own option (request_hk: "bump"); 0, or -1 with a
 * message when this way cannot run here (the runner reports it absent). */
int req_open(const char *variant);
/* One block of a request; NULL fails the run. */
void *req_alloc(size_t size);
/* Ends the request: every block it got goes at once (or one by one for
 * malloc, which is why the blocks are passed). */
void req_free_all(void **blocks, size_t n);
void req_close(void);

#endif
