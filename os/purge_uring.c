/*
 * os/purge_uring.c — the io_uring engine behind asynchronous purge.
 *
 * Owns the process's one ring (liburing). Queues IORING_OP_MADVISE, submits
 * a batch in one io_uring_enter, and reaps completions without blocking
 * unless asked to. Setup failure (EPERM when kernel.io_uring_disabled
 * forbids it, ENOSYS on old kernels, EOPNOTSUPP without the madvise op) is
 * reported to purge.c, which then stays on plain madvise. Never mallocs
 * (the liburing calls used here only mmap the rings).
 */
#include <errno.h>
#include <liburing.h>
#include <string.h>
#include <sys/mman.h>

#include "os/os.h"
#include "os/os_internal.h"

/* 128 submission entries; the kernel gives 2x completion entries (256),
 * which is purge.c's in-flight limit, so the completion queue never
 * overflows. */
#define RING_ENTRIES 128

static struct io_uring ring;
static int ring_ok;
static unsigned inflight;

/* IORING_OP_MADVISE appeared in 5.6; probing avoids a failed completion
 * (and a madvise fallback) for every purge on a kernel without it. */
static int madvise_op_supported(void)
{
	enum { NOPS = 256 };
	_Alignas(struct io_uring_probe) unsigned char
		buf[sizeof(struct io_uring_probe) + NOPS * sizeof(struct io_uring_probe_op)];
	struct io_uring_probe *probe = (struct io_uring_probe *)buf;
	memset(buf, 0, sizeof buf);
	if (io_uring_register_probe(&ring, probe, NOPS) < 0)
		return 0;
	return probe->last_op >= IORING_OP_MADVISE &&
	       (probe->ops[IORING_OP_MADVISE].flags & IO_URING_OP_SUPPORTED);
}

int hk_os_uring_init(void)
{
	int saved = errno;
	int rc = io_uring_queue_init(RING_ENTRIES, &ring, 0);
	int err = rc < 0 ? -rc : 0;
	if (!err && !madvise_op_supported()) {
		io_uring_queue_exit(&ring);
		err = EOPNOTSUPP;
	}
	if (!err) {
		/* One kernel worker per ring: purging is background work, and
		 * io-wq would otherwise start up to 4 per CPU for a batch, all
		 * taking CPU from the program at once. The freeing thread's cost
		 * is the same either way (3-10 us of CPU per 2 MiB chunk against
		 * 30-290 us for madvise: bench/os_bench.c); completions arrive
		 * one after another. */
		unsigned workers[2] = { 1, 1 };
		io_uring_register_iowq_max_workers(&ring, workers);
	}
	errno = saved;
	ring_ok = !err;
	inflight = 0;
	return err;
}

void hk_os_uring_exit(void)
{
	int saved = errno;
	if (ring_ok)
		io_uring_queue_exit(&ring);
	errno = saved;
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
	if (!ring_ok)
		return EBADF;
	int saved = errno;
	int rc = io_uring_submit(&ring);
	errno = saved;
	return rc < 0 ? -rc : 0;
}

int hk_os_uring_reap(void (*done)(void *cookie, void *ctx, int res), void *ctx, int wait)
{
	struct io_uring_cqe *cqe;
	int saved = errno, err = 0;
	if (!ring_ok)
		return EBADF;
	while (inflight) {
		int rc = io_uring_peek_cqe(&ring, &cqe);
		if (rc == -EAGAIN && wait) {
			/* Submits anything left in the queue, then sleeps. */
			rc = io_uring_submit_and_wait(&ring, 1);
			if (rc == -EINTR || rc >= 0)
				continue;
			err = -rc;
			break;
		}
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
	return err;
}

unsigned hk_os_uring_inflight(void)
{
	return inflight;
}
