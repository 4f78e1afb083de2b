/*
 * os/os_internal.h — what the files of os/ share and nobody else sees.
 *
 * os.c (or the fake OS of the unit tests) provides the syscall wrappers
 * and counters below; purge.c the purge-mode choice; purge_uring.c the ring.
 * Every int function returns 0 or a positive errno and preserves errno.
 */
#ifndef HK_OS_INTERNAL_H
#define HK_OS_INTERNAL_H

#include <stddef.h>

/* What a fork's child writes (hk_os_atfork_child): on the page or two of
 * core's fork state (HK_FORKED in core/base.h), not a page of its own. */
#define HK_OS_FORKED __attribute__((section("hk_forked")))

/* os.c: a number read from a /proc or /sys file, -1 if absent. */
long hk_os_read_number(const char *path);
/* os.c: kernel.io_uring_disabled (-1 if absent), read on the first call
 * with `read` set; -2 before that. Any thread. */
int hk_os_io_uring_sysctl(int read);
/* os.c: counts one purged range / one batch handed to the kernel. */
void hk_os_count_purge(size_t bytes, int async, int fallback);
void hk_os_count_batch(void);
/* os.c: MADV_DONTNEED now, counted (as a fallback when `fallback`). */
int hk_os_purge_sync(void *p, size_t len, int fallback);

/* purge.c: picks the purge mode at init from HAKMEM_PURGE and the config;
 * kernel.io_uring_disabled and the ring setup settle it at the first purge. */
int hk_os_purge_setup(const char *purge_env);
/* purge.c: why the current mode was chosen (a static string). */
const char *hk_os_purge_note(void);
/* purge.c: bytes an io_uring-mode process purges with plain madvise before
 * it sets its ring up (64 MiB; the fake-OS tests set 0 to reach the ring). */
extern size_t hk_os_ring_after;

/* purge_uring.c (only with CONFIG_HK_IO_URING): the asynchronous engine.
 * init returns 0 or a positive errno: EPERM or ENOSYS when io_uring is
 * refused, EOPNOTSUPP when the kernel lacks IORING_OP_MADVISE. */
int hk_os_uring_init(void);
void hk_os_uring_exit(void);
/* Queues one IORING_OP_MADVISE; EAGAIN when the submission queue is full. */
int hk_os_uring_queue(void *p, size_t len, void *cookie);
/* Hands every queued entry to the kernel in one system call. */
int hk_os_uring_submit(void);
/* Calls done(cookie, ctx, res) for each completion; if `wait`, first waits
 * for at least one (submitting what is queued). */
int hk_os_uring_reap(void (*done)(void *cookie, void *ctx, int res), void *ctx, int wait);
unsigned hk_os_uring_inflight(void);

#endif /* HK_OS_INTERNAL_H */
