/*
 * os/purge.c — returning memory to the kernel: madvise, or io_uring on request.
 *
 * Owns the purge queue, the in-flight slots and the choice between io_uring
 * and plain madvise. A range handed to hk_os_purge_queue() belongs to this
 * file until done() is called for it, exactly once: the madvise may run at
 * any moment before that. Callers serialise (the core holds its purge lock
 * around these calls). Never blocks except in hk_os_purge_drain().
 *
 * States of a range: pending (queued, not yet submitted) → in flight (in a
 * slot, its SQE in the ring) → done. Completions arrive in any order, so
 * slots come from a free list, never from a rotating index.
 */
#include <errno.h>
#include <string.h>

#include "os/os.h"
#include "os/os_internal.h"

#define PENDING_MAX 256
/* In flight at most: the ring's completion queue size (purge_uring.c). */
#define SLOTS 256
/* IORING_OP_MADVISE carries a 32-bit length: larger ranges go synchronously. */
#define ASYNC_MAX_LEN ((size_t)1 << 31)

/* `extra`: NULL-cookie ranges merged into this one, each owed a done(NULL). */
struct range { void *p; size_t len; void *cookie; unsigned extra; };
struct slot { struct range r; struct slot *next_free; int busy; };

static HK_OS_FORKED const char *note = "madvise";
static struct range pending[PENDING_MAX];
static unsigned npending;
/* Entries below this index are being submitted: a done() called meanwhile
 * may queue more ranges, which go after them and never merge into them. */
static unsigned merge_floor;
static struct slot slots[SLOTS];
static struct slot *free_slots;
/* Slots from here up were never handed out: they join through slot_take,
 * not at setup, whose loop over all 256 faulted in 3 pages of .bss (~12 us
 * each here) in every process, most of which never purge. */
static unsigned fresh;
/* Set when in-flight slots lost their ring (fork child, broken ring): they
 * are finished synchronously at the next call that has a done() to call. */
static HK_OS_FORKED int orphans;
/* Where the ring stands. NONE: madvise for good (the note says why).
 * LATER: io_uring mode with no ring yet: not at init nor in a fork's child,
 * and not for the first hk_os_ring_after bytes, which go with plain madvise.
 * Most processes never purge (git's 19 short processes and their forks set
 * up 32 rings), and a ring cost ~90 us of CPU to set up and tear down (git
 * rev-parse, 1500 interleaved runs: 7.26 ms with one at init, 7.18 ms
 * without). A process that purged once paid 150-280 us more CPU with its
 * ring than with madvise (24 MiB freed, 700 ms idle, 100 interleaved runs),
 * and the ring saved no CPU at any volume measured (144 MiB in 7 purges:
 * other threads' CPU 17.8-19.5 ms with it, 16.0-18.6 with madvise): the
 * purger thread, not the program, waits for the madvise either way.
 * So the ring is opt-in (HAKMEM_PURGE=uring): the purger drains each batch
 * before it puts the spans back, so the ring only moves the madvise to a
 * kernel worker and adds its own calls; see README "Returning memory". */
enum ring { RING_NONE, RING_LATER, RING_OPEN };
static HK_OS_FORKED enum ring ring;
size_t hk_os_ring_after = (size_t)64 << 20;
static HK_OS_FORKED size_t sync_bytes; /* purged with madvise while the ring waited */

/* Always RING_NONE without CONFIG_HK_IO_URING: the calls into
 * purge_uring.c fold away, so that file need not exist. */
static inline enum ring ring_state(void)
{
	return CONFIG_HK_IO_URING ? ring : RING_NONE;
}

static int env_is(const char *env, const char *word)
{
	return env && strcmp(env, word) == 0;
}

static void slots_reset(void)
{
	for (unsigned i = 0; i < fresh; i++)
		slots[i].busy = 0;
	fresh = 0;
	free_slots = NULL;
	orphans = 0;
}

static struct slot *slot_take(void)
{
	struct slot *s = free_slots;
	if (s)
		free_slots = s->next_free;
	else if (fresh < SLOTS)
		s = &slots[fresh++];
	return s;
}

static const char *setup_failure(int err)
{
	switch (err) {
	case EPERM: return "io_uring setup: EPERM (using madvise)";
	case ENOSYS: return "io_uring setup: ENOSYS (using madvise)";
	case EOPNOTSUPP: return "io_uring lacks IORING_OP_MADVISE (using madvise)";
	case ENOMEM: return "io_uring setup: ENOMEM (using madvise)";
	default: return "io_uring setup failed (using madvise)";
	}
}

#define SYSCTL_NOTE "madvise (kernel.io_uring_disabled=2)"

/* kernel.io_uring_disabled=2 refuses every ring (1 lets only a group set
 * one up: the setup's EPERM says so). Read at the first purge, not at
 * init (os.c); `read` 0 only looks at what was read. */
static int sysctl_refuses(int read)
{
	return hk_os_io_uring_sysctl(read) >= 2;
}

/* LATER -> OPEN; a ring that cannot be set up leaves madvise for good. */
static void open_ring(void)
{
	int err = sysctl_refuses(1) ? -1 : hk_os_uring_init();
	ring = err ? RING_NONE : RING_OPEN;
	if (err)
		note = err < 0 ? SYSCTL_NOTE : setup_failure(err);
}

int hk_os_purge_setup(const char *purge_env)
{
	npending = merge_floor = 0;
	slots_reset();
	sync_bytes = 0;
	ring = RING_NONE;
	if (!CONFIG_HK_IO_URING)
		note = "madvise (CONFIG_HK_IO_URING=n)";
	else if (env_is(purge_env, "uring")) {
		ring = RING_LATER;
		note = "io_uring (HAKMEM_PURGE=uring)";
	} else
		note = env_is(purge_env, "madvise") ? "madvise (HAKMEM_PURGE=madvise)"
						    : "madvise (default: io_uring saved no CPU)";
	return hk_os_purge_mode();
}

/* A ring still to come reports what its setup will find if the sysctl was
 * read already (the stats read it: hk_os_probe_io_uring). */
static int refused_later(void)
{
	return ring_state() == RING_LATER && sysctl_refuses(0);
}

int hk_os_purge_mode(void)
{
	return ring_state() == RING_NONE || refused_later() ? HK_OS_PURGE_MADVISE
							    : HK_OS_PURGE_IO_URING;
}

const char *hk_os_purge_note(void)
{
	return refused_later() ? SYSCTL_NOTE : note;
}

static void deliver(const struct range *r, hk_os_purge_done_fn done, void *ctx)
{
	for (unsigned i = 0; i <= r->extra; i++)
		done(r->cookie, ctx);
}

static void purge_now(const struct range *r, hk_os_purge_done_fn done, void *ctx, int fallback)
{
	hk_os_purge_sync(r->p, r->len, fallback);
	deliver(r, done, ctx);
}

static void slot_free(struct slot *s)
{
	s->busy = 0;
	s->next_free = free_slots;
	free_slots = s;
}

/* Finishes every in-flight range synchronously (their ring is gone). A
 * second madvise of a range is harmless: nobody touches it before done(). */
static void settle_orphans(hk_os_purge_done_fn done, void *ctx)
{
	if (!orphans)
		return;
	orphans = 0;
	for (unsigned i = 0; i < fresh; i++) {
		if (!slots[i].busy)
			continue;
		struct range r = slots[i].r;
		slot_free(&slots[i]);
		purge_now(&r, done, ctx, 1);
	}
}

/* The ring failed in a way retrying will not fix: close it (the kernel
 * then never posts the pending completions to us) and stay on madvise. */
static void ring_broken(void)
{
	hk_os_uring_exit();
	ring = RING_NONE;
	note = "io_uring failed at run time (using madvise)";
	orphans = 1;
}

int hk_os_purge_queue(void *p, size_t len, void *cookie)
{
	/* A NULL-cookie range that starts where the previous one ends joins
	 * it: one madvise over many pages costs far less than many calls. */
	struct range *last = npending > merge_floor ? &pending[npending - 1] : NULL;
	if (!cookie && last && !last->cookie && (char *)last->p + last->len == (char *)p &&
	    last->len + len < ASYNC_MAX_LEN && last->extra < 0xffff) {
		last->len += len;
		last->extra++;
		return 0;
	}
	if (npending == PENDING_MAX)
		return EAGAIN;
	pending[npending++] = (struct range){ p, len, cookie, 0 };
	return 0;
}

struct reap_ctx { hk_os_purge_done_fn done; void *ctx; };

/* A completion: success, or a failed madvise redone synchronously. */
static void uring_done(void *cookie, void *vctx, int res)
{
	struct reap_ctx *rc = vctx;
	struct slot *s = cookie;
	struct range r = s->r;
	slot_free(s);
	if (res < 0) {
		purge_now(&r, rc->done, rc->ctx, 1);
		return;
	}
	hk_os_count_purge(r.len, 1, 0);
	deliver(&r, rc->done, rc->ctx);
}

static void flush(void)
{
	if (hk_os_uring_submit() == 0)
		hk_os_count_batch();
	/* On a transient error (EAGAIN, EBUSY, EINTR) the entries stay in the
	 * submission queue; the next submit or the drain's wait sends them. */
}

/* Puts one range in flight; 0 if it must be purged synchronously instead. */
static int send_async(const struct range *r, unsigned *queued)
{
	struct slot *s = r->len < ASYNC_MAX_LEN ? slot_take() : NULL;
	if (!s)
		return 0;
	s->busy = 1;
	s->r = *r;
	int err = hk_os_uring_queue(r->p, r->len, s);
	if (err == EAGAIN && *queued) {
		flush();
		*queued = 0;
		err = hk_os_uring_queue(r->p, r->len, s);
	}
	if (err) {
		slot_free(s);
		return 0;
	}
	(*queued)++;
	return 1;
}

int hk_os_purge_submit(hk_os_purge_done_fn done, void *ctx)
{
	settle_orphans(done, ctx);
	unsigned n = npending, queued = 0;
	if (n && ring_state() == RING_LATER && sync_bytes >= hk_os_ring_after)
		open_ring();
	merge_floor = n;
	for (unsigned i = 0; i < n; i++) {
		struct range r = pending[i];
		if (ring_state() == RING_OPEN && send_async(&r, &queued))
			continue;
		purge_now(&r, done, ctx, 0);
		if (ring_state() == RING_LATER)
			sync_bytes += r.len;
	}
	if (queued)
		flush();
	/* Keep what done() queued while we were busy, for the next submit. */
	memmove(pending, pending + n, (npending - n) * sizeof *pending);
	npending -= n;
	merge_floor = 0;
	return 0;
}

int hk_os_purge_reap(hk_os_purge_done_fn done, void *ctx)
{
	settle_orphans(done, ctx);
	if (ring_state() != RING_OPEN)
		return 0;
	struct reap_ctx rc = { done, ctx };
	return hk_os_uring_reap(uring_done, &rc, 0);
}

int hk_os_purge_drain(hk_os_purge_done_fn done, void *ctx)
{
	struct reap_ctx rc = { done, ctx };
	do { /* until done() stops queueing more */
		hk_os_purge_submit(done, ctx);
		while (ring_state() == RING_OPEN && hk_os_uring_inflight()) {
			int err = hk_os_uring_reap(uring_done, &rc, 1);
			if (err && err != EAGAIN && err != EBUSY)
				ring_broken();
		}
		settle_orphans(done, ctx);
	} while (npending);
	return 0;
}

void hk_os_atfork_child(void)
{
	if (ring_state() == RING_NONE)
		return;
	/* The parent's ring is not ours: its in-flight madvises act on the
	 * parent's address space. Our copies of those ranges are purged again
	 * synchronously at the next call, and a new ring is set up once the
	 * child has purged as much as a process does before its first (most
	 * children exec first). */
	if (ring_state() == RING_OPEN)
		hk_os_uring_exit();
	orphans = 1;
	sync_bytes = 0;
	ring = RING_LATER;
}
