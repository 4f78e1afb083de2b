/*
 * core/purge.c — memory return: the purger thread, started lazily on the
 * first dirty span (never during init, outside every lock), sleeps until
 * the next idle slab or dirty span is due (two delays, below), takes expired
 * spans out of their arena (PURGING), purges them with no arena lock held
 * (madvise, or io_uring when HAKMEM_PURGE=uring) and puts them back clean.
 * It also releases idle empty slabs, idle cached large mappings and the
 * runs of destroyed arenas that no new arena took.
 * Invariant: the steady state makes no system call here — a kick is one
 * atomic store unless the purger sleeps with nothing to do (no deadline).
 */
#include <pthread.h>
#include <time.h>

#include "core/arena_table.h"
#include "core/base.h"
#include "core/large.h"
#include "core/lock.h"
#include "core/platform.h"
#include "core/purge.h"
#include "core/region.h"
#include "core/sizeclass.h"
#include "core/slab.h"
#include "core/span.h"

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	_Atomic int started, pending, sleeping; /* sleeping: waits with no deadline */
	pthread_mutex_t run; /* serialises the os purge queue */
	_Atomic uint64_t first_kick; /* ms of the first kick not started on, 0: none */
} purge HK_FORKED = {
	PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, PTHREAD_MUTEX_INITIALIZER, 0
};

#define BATCH 64

/* Purges the spans taken out; hugetlb backing purges whole pages only. */
static void purge_spans(hk_backing_t backing, const uint32_t *heads, const uint32_t *units,
			unsigned n)
{
	void *ptrs[BATCH];
	size_t lens[BATCH];
	unsigned m = 0;
	size_t g = backing >= HK_BACKING_2M ? hk_platform_purge_granule(backing) : 0;
	for (unsigned i = 0; i < n; i++) {
		uintptr_t s = (uintptr_t)hk_unit_addr(heads[i]);
		uintptr_t e = s + ((uintptr_t)units[i] << HK_UNIT_SHIFT);
		if (g) {
			s = (s + g - 1) & ~(uintptr_t)(g - 1);
			e &= ~(uintptr_t)(g - 1);
		}
		if (s < e) {
			ptrs[m] = (void *)s;
			lens[m++] = e - s;
		}
	}
	if (m)
		hk_platform_purge(ptrs, lens, m);
}

/*
 * Two delays. Empty slabs, the held POOL span and cached large mappings
 * wait CONFIG_HK_PURGE_DELAY_MS: until they go back to the span lists, no
 * other size can use them, and sqlite3 grew its heap 2 MB beside them when
 * they waited 500 ms (peak 58.9 -> 60.8 MB). Free spans are on the lists,
 * usable by every size, and dirty ones are taken first: keeping them longer
 * (SPAN_DELAY) costs no growth, while purging them during a program's next
 * allocation burst costs a page fault per page (bench/frag, 100 ms apart:
 * 41k -> 31k faults). Only as many as the arena's recent peak could take
 * back wait that long (hk_span_take_dirty): the rest goes after the slab
 * delay, which kept sqlite3's peak within 0.15 MB of one short delay.
 */
#define SLAB_DELAY ((uint64_t)CONFIG_HK_PURGE_DELAY_MS)
#define SPAN_DELAY (5 * SLAB_DELAY)

static uint64_t before(uint64_t now, uint64_t delay)
{
	return now >= delay ? now - delay : 0;
}

static void earliest(uint64_t *due, uint64_t stamp, uint64_t delay)
{
	if (stamp != UINT64_MAX && stamp + delay < *due)
		*due = stamp + delay;
}

static int purge_arena(hk_arena_t *a, uint64_t now, int force, uint64_t *due)
{
	uint64_t until = force ? UINT64_MAX : before(now, SLAB_DELAY);
	uint64_t span_until = force ? UINT64_MAX : before(now, SPAN_DELAY);
	uint32_t heads[BATCH], units[BATCH];
	int any = 0, busy;
	/* Idle slabs going back are the purger's own doing, not activity. */
	hk_lock(&a->lock);
	busy = hk_span_busy(a);
	hk_unlock(&a->lock);
	for (int c = 0; c < HK_NLANE; c++)
		hk_slab_release_idle(a, c, until);
	hk_lock(&a->lock);
	hk_span_busy(a);
	earliest(due, hk_span_release_held(a, until), SLAB_DELAY);
	hk_unlock(&a->lock);
	for (;;) {
		uint64_t nx;
		hk_lock(&a->lock);
		unsigned n = hk_span_take_dirty(a, span_until, SPAN_DELAY, until, busy, heads,
						units, BATCH, &nx);
		hk_backing_t backing = a->backing; /* grow() sets it under this lock */
		hk_unlock(&a->lock);
		earliest(due, nx, SPAN_DELAY);
		if (!n)
			break;
		purge_spans(backing, heads, units, n);
		hk_lock(&a->lock);
		hk_span_put_clean(a, heads, units, n);
		hk_unlock(&a->lock);
		any = 1;
	}
	for (int c = 0; c < HK_NLANE; c++) {
		hk_class_t *k = &a->cls[c];
		hk_lock(&k->lock); /* flushes set `empty` concurrently */
		if (k->empty != HK_NIL)
			earliest(due, k->empty_stamp, SLAB_DELAY);
		hk_unlock(&k->lock);
	}
	return any;
}

void hk_purge_exclude(void)
{
	pthread_mutex_lock(&purge.run);
}

void hk_purge_allow(void)
{
	pthread_mutex_unlock(&purge.run);
}

/* Runs of destroyed arenas that no arena took (core/region.c) go back
 * after the span delay, as dirty spans do. */
static int purge_parked(uint64_t until, uint64_t *due)
{
	uint32_t unit, units;
	uint64_t stamp;
	int any = 0;
	while (hk_region_unpark(until, &unit, &units, &stamp)) {
		hk_platform_decommit(hk_unit_addr(unit), (size_t)units << HK_UNIT_SHIFT);
		hk_region_give_run(unit, units);
		any = 1;
	}
	earliest(due, stamp, SPAN_DELAY);
	return any;
}

int hk_purge_run(int force, uint64_t *next)
{
	uint64_t now = hk_platform_now_ms();
	int any = 0;
	*next = UINT64_MAX;
	pthread_mutex_lock(&purge.run);
	for (unsigned i = 0, n = hk_arena_count(); i < n; i++) {
		hk_arena_t *a = hk_arena_at(i);
		/* Acquire: pairs with setup's release, so a LIVE arena is whole. */
		if (a && __atomic_load_n(&a->magic, __ATOMIC_ACQUIRE) == HK_ARENA_LIVE)
			any |= purge_arena(a, now, force, next);
	}
	any |= purge_parked(force ? UINT64_MAX : before(now, SPAN_DELAY), next);
	int large = hk_large_trim(force ? UINT64_MAX : before(now, SLAB_DELAY), force);
	any |= large & 1;
	if (large & 2)
		earliest(next, now, SLAB_DELAY);
	pthread_mutex_unlock(&purge.run);
	return any;
}

int hk_purge_reclaim(void)
{
	uint64_t next;
	return hk_purge_run(1, &next);
}

/*
 * With a deadline the purger sleeps through kicks: whatever they announce
 * became free after this run started, so it is due later than the
 * earliest of `due` and SLAB_DELAY from now, and the run then sees it.
 * Only a purger with nothing to wait for is woken, and only it looks at
 * `pending` (set by kicks during its run). A
 * kicker stores `pending` then reads `sleeping`; the purger stores
 * `sleeping` then reads `pending` (both seq_cst): one of them sees the
 * other, so no kick is lost. Waking on every kick cost a futex call per
 * POOL free, and looping while `pending` was set kept the purger spinning
 * on the arena locks under a steady stream of frees.
 */
static void wait_until(uint64_t due)
{
	if (due == UINT64_MAX) {
		atomic_store(&purge.sleeping, 1);
		if (!atomic_load(&purge.pending))
			pthread_cond_wait(&purge.cv, &purge.mu);
		atomic_store(&purge.sleeping, 0);
		return;
	}
	/* A slab emptied during the sleep is due SLAB_DELAY after it, which
	 * may be before a span's due time: never sleep longer than that. */
	uint64_t cap = hk_platform_now_ms() + SLAB_DELAY;
	due = due < cap ? due : cap;
	struct timespec ts = { (time_t)(due / 1000), (long)(due % 1000) * 1000000L };
	pthread_cond_timedwait(&purge.cv, &purge.mu, &ts);
}

static void *purger(void *arg)
{
	(void)arg;
	for (;;) {
		uint64_t due;
		atomic_store(&purge.pending, 0);
		hk_purge_run(0, &due);
		pthread_mutex_lock(&purge.mu);
		wait_until(due);
		pthread_mutex_unlock(&purge.mu);
	}
	return NULL;
}

static void start(void)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&purge.cv, &ca);
	if (hk_thread_start(purger, (size_t)128 << 10))
		atomic_store(&purge.started, 0);
}

/*
 * Whether a kick should start the purger now. A thread costs a process
 * ~200 us of CPU on this VM (clone, its stack, its exit), more than all of
 * the allocator's other work in one of git's or gcc's short processes
 * (cc1, as, git checkout, fsck and pack-objects each started one and
 * purged nothing before they exited). So a small heap waits: while the
 * region has handed out less than START_BYTES and no large mapping is
 * cached, the thread starts only at a kick that comes SPAN_DELAY after the
 * first one (a process that lived that long pays under 0.1 % for it). Until
 * then such a heap keeps its free memory if the program goes idle: less
 * than START_BYTES, where a burst of more (DESIGN 8.9) starts the purger
 * at once. Any thread may call this; the first kick's time is a CAS.
 */
#define START_BYTES ((size_t)16 << 20)

static int thread_due(void)
{
	if (SLAB_DELAY == 0 || hk_large_cached() ||
	    atomic_load_explicit(&hk_region_used, memory_order_relaxed) >= START_BYTES)
		return 1;
	uint64_t now = hk_platform_now_ms() + 1, first = 0; /* + 1: 0 means unset */
	if (atomic_compare_exchange_strong(&purge.first_kick, &first, now))
		return 0;
	/* Not now - first >= SPAN_DELAY: with debug's delay 0 that compare is
	 * always true, an error under -Werror. */
	return now >= first + SPAN_DELAY;
}

static void kick(int now)
{
	if (!hk_ready())
		return;
	atomic_store(&purge.pending, 1);
	if (!atomic_load(&purge.started)) {
		if ((now || thread_due()) && !atomic_exchange(&purge.started, 1))
			start();
		return;
	}
	if (atomic_load(&purge.sleeping)) {
		pthread_mutex_lock(&purge.mu);
		pthread_cond_signal(&purge.cv);
		pthread_mutex_unlock(&purge.mu);
	}
}

void hk_purge_kick(void)
{
	kick(0);
}

/* A user arena's reset promises its memory back after the delay however
 * small the heap (test_arena_memory: without MID and POOL the region held
 * under START_BYTES, the reset was the only kick, and nothing came back). A
 * program that resets arenas serves requests: it lives long enough to pay
 * for the thread. */
void hk_purge_kick_now(void)
{
	kick(1);
}

void hk_purge_atfork_prepare(void)
{
	pthread_mutex_lock(&purge.run);
	pthread_mutex_lock(&purge.mu);
}

void hk_purge_atfork_parent(void)
{
	pthread_mutex_unlock(&purge.mu);
	pthread_mutex_unlock(&purge.run);
}

/* No purger in the child. Until the child handler is done, kicks (the
 * other threads' bins going back) find it "started" and do nothing: a
 * thread must not be created inside an atfork handler (issue 12 bug 8). */
void hk_purge_atfork_child(void)
{
	pthread_mutex_init(&purge.mu, NULL);
	pthread_mutex_init(&purge.run, NULL);
	atomic_store(&purge.started, 1);
	atomic_store(&purge.sleeping, 0);
	atomic_store(&purge.pending, 0);
	atomic_store(&purge.first_kick, 0);
}

/* The child's next kick (its first need) starts a purger. */
void hk_purge_atfork_child_done(void)
{
	atomic_store(&purge.started, 0);
}
