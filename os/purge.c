/*
 * os/purge.c — returning memory to the kernel, asynchronously when it can.
 *
 * Owns the purge queue and the choice between io_uring and plain madvise.
 * A range handed to hk_os_purge_queue() belongs to this file until done()
 * is called for it: the madvise may run at any moment before that.
 * Callers serialise (the core holds its purge lock around these calls).
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "os/os.h"
#include "os/os_internal.h"

static int mode = HK_OS_PURGE_MADVISE;

/* Ranges queued and not yet submitted (madvise mode runs them at submit). */
#define PENDING_MAX 256
static struct pending { void *p; size_t len; void *cookie; } pending[PENDING_MAX];
static unsigned npending;

/* Folds to 0 without CONFIG_HK_IO_URING, so purge_uring.c need not exist. */
static inline int uring_mode(void)
{
	return CONFIG_HK_IO_URING && mode == HK_OS_PURGE_IO_URING;
}

static int env_is(const char *env, const char *word)
{
	return env && strcmp(env, word) == 0;
}

int hk_os_purge_setup(const char *purge_env)
{
	mode = HK_OS_PURGE_MADVISE;
	if (CONFIG_HK_IO_URING && !env_is(purge_env, "madvise") && hk_os_uring_init() == 0)
		mode = HK_OS_PURGE_IO_URING;
	return mode;
}

int hk_os_purge_mode(void)
{
	return mode;
}

static void purge_now(struct pending *r, hk_os_purge_done_fn done, void *ctx, int fallback)
{
	int saved = errno;
	madvise(r->p, r->len, MADV_DONTNEED);
	errno = saved;
	hk_os_count_purge(r->len, 0, fallback);
	done(r->cookie, ctx);
}

int hk_os_purge_queue(void *p, size_t len, void *cookie)
{
	if (npending == PENDING_MAX)
		return EAGAIN;
	pending[npending++] = (struct pending){ p, len, cookie };
	return 0;
}

struct reap_ctx { hk_os_purge_done_fn done; void *ctx; };

/* A completion: success, or a failed madvise redone synchronously. */
static void uring_done(void *cookie, void *vctx, int res)
{
	struct reap_ctx *rc = vctx;
	struct pending *r = cookie;
	if (res < 0) {
		purge_now(r, rc->done, rc->ctx, 1);
		return;
	}
	hk_os_count_purge(r->len, 1, 0);
	rc->done(r->cookie, rc->ctx);
}

/* In-flight ranges live here, since the ring carries only a cookie. */
static struct pending inflight[PENDING_MAX];
static unsigned inflight_next;

int hk_os_purge_submit(hk_os_purge_done_fn done, void *ctx)
{
	unsigned n = npending;
	npending = 0;
	for (unsigned i = 0; i < n; i++) {
		struct pending *r = &pending[i];
		if (uring_mode() && hk_os_uring_inflight() < PENDING_MAX) {
			struct pending *slot = &inflight[inflight_next++ % PENDING_MAX];
			*slot = *r;
			if (hk_os_uring_queue(slot->p, slot->len, slot) == 0)
				continue;
		}
		purge_now(r, done, ctx, 0);
	}
	if (uring_mode() && n)
		hk_os_uring_submit();
	return 0;
}

int hk_os_purge_reap(hk_os_purge_done_fn done, void *ctx)
{
	if (!uring_mode())
		return 0;
	struct reap_ctx rc = { done, ctx };
	return hk_os_uring_reap(uring_done, &rc, 0);
}

int hk_os_purge_drain(hk_os_purge_done_fn done, void *ctx)
{
	hk_os_purge_submit(done, ctx);
	if (!uring_mode())
		return 0;
	struct reap_ctx rc = { done, ctx };
	while (hk_os_uring_inflight())
		hk_os_uring_reap(uring_done, &rc, 1);
	return 0;
}

void hk_os_atfork_child(void)
{
	if (!uring_mode())
		return;
	/* The parent's ring is not ours: drop it, in-flight ranges included
	 * (their madvise ran or runs in the parent's address space only). */
	hk_os_uring_exit();
	if (hk_os_uring_init() != 0)
		mode = HK_OS_PURGE_MADVISE;
}
