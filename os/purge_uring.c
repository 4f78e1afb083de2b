/*
 * os/purge_uring.c — the io_uring engine behind asynchronous purge.
 *
 * Owns the process's one ring (liburing). Submits IORING_OP_MADVISE and reaps
 * completions without blocking unless asked to. Setup failure (EPERM when
 * kernel.io_uring_disabled forbids it, ENOSYS on old kernels) is reported to
 * purge.c, which then stays on plain madvise.
 */
#include <errno.h>
#include <liburing.h>
#include <sys/mman.h>

#include "os/os.h"
#include "os/os_internal.h"

#define RING_ENTRIES 64

static struct io_uring ring;
static int ring_ok;
static unsigned inflight;

int hk_os_uring_init(void)
{
	int saved = errno;
	int rc = io_uring_queue_init(RING_ENTRIES, &ring, 0);
	errno = saved;
	if (rc < 0)
		return -rc;
	ring_ok = 1;
	inflight = 0;
	return 0;
}

void hk_os_uring_exit(void)
{
	if (ring_ok)
		io_uring_queue_exit(&ring);
	ring_ok = 0;
	inflight = 0;
}

int hk_os_uring_queue(void *p, size_t len, void *cookie)
{
	struct io_uring_sqe *sqe = ring_ok ? io_uring_get_sqe(&ring) : NULL;
	if (!sqe)
		return EAGAIN;
	io_uring_prep_madvise(sqe, p, (off_t)len, MADV_DONTNEED);
	io_uring_sqe_set_data(sqe, cookie);
	inflight++;
	return 0;
}

int hk_os_uring_submit(void)
{
	int saved = errno;
	int rc = io_uring_submit(&ring);
	errno = saved;
	return rc < 0 ? -rc : 0;
}

int hk_os_uring_reap(void (*done)(void *cookie, void *ctx, int res), void *ctx, int wait)
{
	struct io_uring_cqe *cqe;
	int saved = errno;
	while (inflight) {
		int rc = wait ? io_uring_wait_cqe(&ring, &cqe) : io_uring_peek_cqe(&ring, &cqe);
		if (rc < 0)
			break;
		void *cookie = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
		inflight--;
		done(cookie, ctx, res);
		wait = 0;
	}
	errno = saved;
	return 0;
}

unsigned hk_os_uring_inflight(void)
{
	return inflight;
}
