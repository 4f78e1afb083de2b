/*
 * os/os_internal.h — what the files of os/ share and nobody else sees.
 */
#ifndef HK_OS_INTERNAL_H
#define HK_OS_INTERNAL_H

#include <stddef.h>

/* purge.c: picks the purge mode at init (HAKMEM_PURGE, config, io_uring probe). */
int hk_os_purge_setup(const char *purge_env);
/* os.c: counts one purged range. */
void hk_os_count_purge(size_t bytes, int async, int fallback);

/* purge_uring.c (only with CONFIG_HK_IO_URING): the asynchronous engine.
 * init returns 0 or a positive errno (EPERM, ENOSYS: io_uring refused). */
int hk_os_uring_init(void);
void hk_os_uring_exit(void);
/* Queues one IORING_OP_MADVISE; returns 0 or EAGAIN when the ring is full. */
int hk_os_uring_queue(void *p, size_t len, void *cookie);
int hk_os_uring_submit(void);
/* Calls done(cookie, ctx, res) for each completion; waits if `wait`. */
int hk_os_uring_reap(void (*done)(void *cookie, void *ctx, int res), void *ctx, int wait);
unsigned hk_os_uring_inflight(void);

#endif /* HK_OS_INTERNAL_H */
