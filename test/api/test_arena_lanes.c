/*
 * test/api/test_arena_lanes.c — user arenas' per-thread caches seen from
 * the API: reset while other threads hold cached blocks, destroy and
 * re-create of the same arena slot while a thread holds its old cache,
 * thread exit giving cached blocks back, capacity exhaustion with blocks
 * cached by another thread, exact counters, and cross-thread frees between
 * 4 threads on 2 arenas. Every block's contents are checked. Bounded work,
 * no timed assertion; threads meet at barriers, never by sleeping.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "arena_test.h"

/* Aborts the test if any two blocks of the list overlap. */
static int by_addr(const void *x, const void *y)
{
	uintptr_t a = *(const uintptr_t *)x, b = *(const uintptr_t *)y;
	return a < b ? -1 : a > b;
}

/* Small blocks come from per-thread cached slabs unless the build has no
 * Tiny or MID band (then 64 KiB POOL blocks serve them, no caches). */
static int small_blocks_cached(void)
{
	hk_arena_t *a = hk_arena_create(NULL);
	void *p = hk_arena_malloc(a, 32);
	int small = p && hk_usable_size(p) < 4096;
	hk_free(p);
	hk_arena_destroy(a);
	return small;
}

static void check_disjoint(void **p, size_t n)
{
	uintptr_t *s = malloc(n * sizeof *s);
	cr_assert_not_null(s);
	for (size_t i = 0; i < n; i++)
		s[i] = (uintptr_t)p[i];
	qsort(s, n, sizeof *s, by_addr);
	for (size_t i = 1; i < n; i++)
		cr_assert(s[i - 1] + hk_usable_size((void *)s[i - 1]) <= s[i],
			  "blocks %#lx and %#lx overlap", (unsigned long)s[i - 1], (unsigned long)s[i]);
	free(s);
}

/* ---- reset while 3 threads hold cached blocks ------------------------------- */

#define HOLDERS 3
#define PER 600

static struct {
	hk_arena_t *a;
	pthread_barrier_t bar;
	void *blk[HOLDERS + 1][PER];
	int bad;
} R;

static void *holder(void *arg)
{
	int me = (int)(intptr_t)arg;
	for (int i = 0; i < PER; i++)
		R.blk[me][i] = hk_arena_malloc(R.a, 48 + 16 * (i % 5));
	for (int i = 0; i < PER; i++)
		if (i % 3)
			hk_free(R.blk[me][i]); /* two thirds stay cached in this thread */
	pthread_barrier_wait(&R.bar); /* main resets */
	pthread_barrier_wait(&R.bar);
	for (int i = 0; i < PER; i++) {
		size_t n = 48 + 16 * (i % 5);
		R.blk[me][i] = hk_arena_malloc(R.a, n);
		if (!R.blk[me][i])
			R.bad++;
		else
			fill(R.blk[me][i], n, (uint64_t)me * PER + i);
	}
	pthread_barrier_wait(&R.bar); /* everyone allocated: main checks */
	pthread_barrier_wait(&R.bar);
	for (int i = 0; i < PER; i++)
		if (!check_fill(R.blk[me][i], 48 + 16 * (i % 5), (uint64_t)me * PER + i))
			__atomic_fetch_add(&R.bad, 1, __ATOMIC_RELAXED);
	return NULL;
}

Test(arena_lanes, reset_with_blocks_cached_by_other_threads)
{
	pthread_t t[HOLDERS];
	R.a = hk_arena_create(NULL);
	cr_assert_not_null(R.a);
	pthread_barrier_init(&R.bar, NULL, HOLDERS + 1);
	for (int i = 0; i < HOLDERS; i++)
		pthread_create(&t[i], NULL, holder, (void *)(intptr_t)i);
	pthread_barrier_wait(&R.bar);
	hk_arena_reset(R.a);
	cr_assert_eq(arena_stats(R.a).live_bytes, 0, "cached blocks are not live after a reset");
	pthread_barrier_wait(&R.bar);
	for (int i = 0; i < PER; i++) {
		R.blk[HOLDERS][i] = hk_arena_malloc(R.a, 64);
		cr_assert_not_null(R.blk[HOLDERS][i]);
		fill(R.blk[HOLDERS][i], 64, (uint64_t)HOLDERS * PER + i);
	}
	pthread_barrier_wait(&R.bar);
	check_disjoint(&R.blk[0][0], (HOLDERS + 1) * PER);
	pthread_barrier_wait(&R.bar);
	for (int i = 0; i < HOLDERS; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(R.bad, 0, "%d blocks missing or overwritten after the reset", R.bad);
	for (int i = 0; i < PER; i++)
		cr_assert(check_fill(R.blk[HOLDERS][i], 64, (uint64_t)HOLDERS * PER + i));
	check_disjoint(&R.blk[0][0], (HOLDERS + 1) * PER);
	for (int t2 = 0; t2 <= HOLDERS; t2++)
		for (int i = 0; i < PER; i++)
			hk_free(R.blk[t2][i]);
	hk_arena_stats_t s = arena_stats(R.a);
	cr_assert_eq(s.live_bytes, 0);
	cr_assert_eq(s.allocs, s.frees + (uint64_t)HOLDERS * PER / 3 * 1,
		     "%llu allocs, %llu frees: only the blocks the reset took are unfreed",
		     (unsigned long long)s.allocs, (unsigned long long)s.frees);
	hk_arena_destroy(R.a);
}

/* ---- destroy + create reusing the slot while a thread holds its old cache --- */

static struct {
	hk_arena_t *a;
	pthread_barrier_t bar;
	int bad;
} D;

static void *old_cache(void *arg)
{
	(void)arg;
	void *p[200];
	for (int i = 0; i < 200; i++)
		p[i] = hk_arena_malloc(D.a, 32);
	for (int i = 0; i < 200; i++)
		hk_free(p[i]); /* all cached here */
	pthread_barrier_wait(&D.bar); /* main destroys and re-creates */
	pthread_barrier_wait(&D.bar);
	/* Same handle, new arena: the old cache must not leak into it. */
	for (int i = 0; i < 200; i++) {
		p[i] = hk_arena_malloc(D.a, 32);
		if (!p[i])
			D.bad++;
		else
			fill(p[i], 32, (uint64_t)i);
	}
	for (int i = 0; i < 200; i++)
		if (p[i] && !check_fill(p[i], 32, (uint64_t)i))
			D.bad++;
	for (int i = 0; i < 100; i++)
		hk_free(p[i]);
	pthread_barrier_wait(&D.bar); /* main checks the counters */
	pthread_barrier_wait(&D.bar);
	for (int i = 100; i < 200; i++)
		hk_free(p[i]);
	return NULL;
}

Test(arena_lanes, destroy_and_recreate_with_a_stale_cache, .timeout = 60)
{
	pthread_t t;
	D.a = hk_arena_create(NULL);
	cr_assert_not_null(D.a);
	pthread_barrier_init(&D.bar, NULL, 2);
	pthread_create(&t, NULL, old_cache, NULL);
	pthread_barrier_wait(&D.bar);
	hk_arena_t *old = D.a, *x = NULL;
	hk_arena_destroy(old);
	/* Slots are recycled once every one was used: create and destroy until
	 * the old one comes back (bounded by twice the table). */
	for (int i = 0; i < 4096 && x != old; i++) {
		x = hk_arena_create(NULL);
		cr_assert_not_null(x);
		if (x != old) {
			void *q = hk_arena_malloc(x, 32); /* used, so its index is touched */
			hk_free(q);
			hk_arena_destroy(x);
		}
	}
	cr_assert_eq(x, old, "the destroyed arena's slot was never recycled");
	hk_arena_stats_t s = arena_stats(x);
	cr_assert_eq(s.allocs, 0, "a re-created arena starts from zero");
	cr_assert_eq(s.live_bytes, 0);
	pthread_barrier_wait(&D.bar);
	pthread_barrier_wait(&D.bar);
	s = arena_stats(x);
	cr_assert_eq(D.bad, 0, "%d blocks missing or overwritten", D.bad);
	cr_assert_eq(s.allocs, 200, "allocs %llu: the old life's counts leaked in",
		     (unsigned long long)s.allocs);
	cr_assert_eq(s.frees, 100, "frees %llu", (unsigned long long)s.frees);
	if (small_blocks_cached()) {
		cr_assert_geq(s.live_bytes, 100 * 32, "live %zu", s.live_bytes);
		cr_assert_leq(s.live_bytes, 100 * 64, "live %zu", s.live_bytes);
	}
	pthread_barrier_wait(&D.bar);
	pthread_join(t, NULL);
	s = arena_stats(x);
	cr_assert_eq(s.frees, 200);
	cr_assert_eq(s.live_bytes, 0);
	hk_arena_destroy(x);
}

/* ---- a thread's exit gives its cached blocks back ---------------------------- */

static void *alloc_free_exit(void *arg)
{
	hk_arena_t *a = arg;
	void *p[1000];
	for (int i = 0; i < 1000; i++) {
		p[i] = hk_arena_malloc(a, 16 + 16 * (i % 8));
		if (!p[i])
			return (void *)1;
	}
	for (int i = 0; i < 1000; i++)
		hk_free(p[i]);
	return NULL;
}

Test(arena_lanes, thread_exit_returns_cached_blocks)
{
	hk_arena_t *a = hk_arena_create(NULL);
	pthread_t t;
	void *r;
	pthread_create(&t, NULL, alloc_free_exit, a);
	pthread_join(t, &r);
	cr_assert_null(r);
	hk_arena_stats_t s = arena_stats(a);
	cr_assert_eq(s.allocs, 1000);
	cr_assert_eq(s.frees, 1000);
	cr_assert_eq(s.live_bytes, 0);
	/* 8 classes, each at most one cached empty slab (64 KiB) once the
	 * thread's blocks went back. */
	cr_assert_leq(s.committed_bytes, 8 * ((size_t)64 << 10), "committed %zu after the exit",
		      s.committed_bytes);
	hk_arena_destroy(a);
}

/* ---- capacity exhaustion with blocks cached by another thread ---------------- */

static struct {
	hk_arena_t *a;
	pthread_barrier_t bar;
	int got;
} C;

static void *cacher(void *arg)
{
	(void)arg;
	void *p[256];
	for (int i = 0; i < 256; i++)
		if ((p[i] = hk_arena_malloc(C.a, 1024)) != NULL)
			C.got++;
	for (int i = 0; i < 256; i++)
		hk_free(p[i]); /* up to a bin's worth stays cached here */
	pthread_barrier_wait(&C.bar); /* main exhausts the arena */
	pthread_barrier_wait(&C.bar);
	return NULL;
}

Test(arena_lanes, capacity_exhaustion_with_blocks_cached_elsewhere)
{
	const size_t cap = 4 * MIB;
	if (!small_blocks_cached())
		cr_skip_test("1 KiB requests take 64 KiB POOL blocks here: nothing to cache");
	hk_arena_config_t cfg = { .capacity = cap, .numa_node = HK_NODE_LOCAL, .name = "capped" };
	pthread_t t;
	C.a = hk_arena_create(&cfg);
	cr_assert_not_null(C.a);
	pthread_barrier_init(&C.bar, NULL, 2);
	pthread_create(&t, NULL, cacher, NULL);
	pthread_barrier_wait(&C.bar);
	size_t max = 2 * cap / 1024, n = 0;
	void **b = calloc(max, sizeof(void *));
	errno = 0;
	while (n < max && (b[n] = hk_arena_malloc(C.a, 1024)) != NULL) {
		fill(b[n], 1024, n);
		n++;
	}
	cr_assert(n < max, "the capacity was never reached");
	cr_assert_eq(errno, ENOMEM);
	/* The other thread holds at most a bin (64 KiB of 1 KiB blocks) and
	 * the slabs they keep busy. */
	cr_assert_geq(n * 1024, cap / 2, "only %zu KiB usable", n);
	hk_arena_stats_t s = arena_stats(C.a);
	cr_assert_leq(s.committed_bytes, cap);
	cr_assert_eq(s.failed_allocs, 1);
	cr_assert_eq(s.allocs, n + (size_t)C.got);
	cr_assert_eq(s.frees, (size_t)C.got, "frees %llu: blocks in a cache count as freed",
		     (unsigned long long)s.frees);
	pthread_barrier_wait(&C.bar);
	pthread_join(t, NULL); /* its cache goes back */
	void *more = hk_arena_malloc(C.a, 1024);
	cr_assert_not_null(more, "the exited thread's cached blocks are usable again");
	hk_free(more);
	for (size_t i = 0; i < n; i++) {
		cr_assert(check_fill(b[i], 1024, i), "block %zu intact", i);
		hk_free(b[i]);
	}
	s = arena_stats(C.a);
	cr_assert_eq(s.live_bytes, 0);
	cr_assert_eq(s.allocs, s.frees);
	free(b);
	hk_arena_destroy(C.a);
}

/* ---- counters are exact while threads keep blocks cached ---------------------- */

static struct {
	hk_arena_t *a;
	pthread_barrier_t bar;
	size_t usable[2];
} X;

static void *counted(void *arg)
{
	int me = (int)(intptr_t)arg;
	void *p[500];
	for (int i = 0; i < 500; i++)
		p[i] = hk_arena_malloc(X.a, 16 + (size_t)(i * 37 % 2000));
	for (int i = 0; i < 500; i++)
		if (i % 4)
			hk_free(p[i]);
		else
			X.usable[me] += hk_usable_size(p[i]);
	pthread_barrier_wait(&X.bar); /* main reads while the caches are full */
	pthread_barrier_wait(&X.bar);
	for (int i = 0; i < 500; i += 4)
		hk_free(p[i]);
	return NULL;
}

Test(arena_lanes, counters_exact_with_cached_blocks)
{
	pthread_t t[2];
	X.a = hk_arena_create(NULL);
	pthread_barrier_init(&X.bar, NULL, 3);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, counted, (void *)(intptr_t)i);
	pthread_barrier_wait(&X.bar);
	hk_arena_stats_t s = arena_stats(X.a);
	size_t usable = X.usable[0] + X.usable[1];
	cr_assert_eq(s.allocs, 1000);
	cr_assert_eq(s.frees, 750);
	cr_assert_geq(s.live_bytes, usable, "live %zu, usable %zu", s.live_bytes, usable);
	cr_assert_leq(s.live_bytes, usable + usable / 4, "live %zu, usable %zu", s.live_bytes, usable);
	pthread_barrier_wait(&X.bar);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	s = arena_stats(X.a);
	cr_assert_eq(s.allocs, 1000);
	cr_assert_eq(s.frees, 1000);
	cr_assert_eq(s.live_bytes, 0);
	hk_arena_destroy(X.a);
}

/* ---- cross-thread frees between 4 threads on 2 arenas --------------------------- */

#define XT 4
#define XROUNDS 4000
#define XRING 256

static struct {
	hk_arena_t *a[2];
	pthread_mutex_t lock;
	void *slot[XRING];
	uint64_t tag[XRING];
	size_t len[XRING];
	unsigned head;
	int bad;
} Q = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void *swapper(void *arg)
{
	int me = (int)(intptr_t)arg;
	uint32_t r = 2463534242u + (uint32_t)me;
	for (int i = 0; i < XROUNDS; i++) {
		r ^= r << 13;
		r ^= r >> 17;
		r ^= r << 5;
		size_t len = 16 + r % 3000;
		uint64_t tag = (uint64_t)me << 32 | (uint64_t)i;
		void *p = hk_arena_malloc(Q.a[(me + i) & 1], len);
		if (!p) {
			__atomic_fetch_add(&Q.bad, 1, __ATOMIC_RELAXED);
			continue;
		}
		fill(p, len, tag);
		pthread_mutex_lock(&Q.lock);
		unsigned k = Q.head++ % XRING;
		void *old = Q.slot[k];
		uint64_t old_tag = Q.tag[k];
		size_t old_len = Q.len[k];
		Q.slot[k] = p;
		Q.tag[k] = tag;
		Q.len[k] = len;
		pthread_mutex_unlock(&Q.lock);
		if (old) {
			if (!check_fill(old, old_len, old_tag))
				__atomic_fetch_add(&Q.bad, 1, __ATOMIC_RELAXED);
			hk_free(old);
		}
	}
	return NULL;
}

Test(arena_lanes, cross_thread_frees_four_threads_two_arenas, .timeout = 60)
{
	pthread_t t[XT];
	Q.a[0] = hk_arena_create(NULL);
	Q.a[1] = hk_arena_create(NULL);
	for (int i = 0; i < XT; i++)
		pthread_create(&t[i], NULL, swapper, (void *)(intptr_t)i);
	for (int i = 0; i < XT; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(Q.bad, 0, "%d blocks failed or overwritten", Q.bad);
	for (unsigned k = 0; k < XRING; k++) {
		cr_assert(check_fill(Q.slot[k], Q.len[k], Q.tag[k]), "ring block %u", k);
		hk_free(Q.slot[k]);
	}
	for (int i = 0; i < 2; i++) {
		hk_arena_stats_t s = arena_stats(Q.a[i]);
		cr_assert_eq(s.allocs, s.frees, "arena %d: %llu allocs, %llu frees", i,
			     (unsigned long long)s.allocs, (unsigned long long)s.frees);
		cr_assert_eq(s.allocs, XT * XROUNDS / 2);
		cr_assert_eq(s.live_bytes, 0);
		hk_arena_destroy(Q.a[i]);
	}
}
