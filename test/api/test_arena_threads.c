/*
 * test/api/test_arena_threads.c — arenas under concurrency: threads
 * allocate from their own and a shared arena and free each other's blocks
 * (contents checked on the way), then every arena's counters balance; and
 * threads create, use and destroy arenas at the same time without the
 * process's memory growing with each round; and arenas reset while the
 * purger returns their free spans. Bounded work, no timed assertion (a
 * Criterion timeout turns a hang into a failure).
 */
#include <pthread.h>
#include <stdlib.h>

#include "arena_test.h"

#define THREADS 4
#define ROUNDS 20000
#define RING 1024

static struct {
	pthread_mutex_t lock;
	void *slot[RING];
	uint64_t tag[RING];
	size_t len[RING];
	int head, count;
	hk_arena_t *shared;
	hk_arena_t *own[THREADS];
	int corrupt;
} ring = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Swaps a fresh block into the ring; frees whatever it displaced (usually
 * another thread's block, from another arena) after checking it. */
static void exchange(void *p, size_t len, uint64_t tag)
{
	pthread_mutex_lock(&ring.lock);
	int i = (ring.head++) % RING;
	void *old = ring.slot[i];
	uint64_t old_tag = ring.tag[i];
	size_t old_len = ring.len[i];
	ring.slot[i] = p;
	ring.tag[i] = tag;
	ring.len[i] = len;
	pthread_mutex_unlock(&ring.lock);
	if (old) {
		if (!check_fill(old, old_len, old_tag))
			__atomic_fetch_add(&ring.corrupt, 1, __ATOMIC_RELAXED);
		hk_free(old);
	}
}

static void *worker(void *arg)
{
	int id = (int)(intptr_t)arg;
	uint32_t rng = 2463534242u + (uint32_t)id * 7919u;
	for (int r = 0; r < ROUNDS; r++) {
		uint32_t x = xorshift32(&rng);
		size_t len = 16 + (x & 0x7ff);
		if ((x >> 16) % 64 == 0)
			len = 40000 + (x >> 20); /* MID sizes now and then */
		if ((x >> 16) % 2048 == 1)
			len = 600000; /* and POOL */
		hk_arena_t *a = (x >> 11) & 1 ? ring.shared : ring.own[id];
		void *p = hk_arena_malloc(a, len);
		if (!p) {
			__atomic_fetch_add(&ring.corrupt, 1000000, __ATOMIC_RELAXED);
			break;
		}
		uint64_t tag = ((uint64_t)id << 32) | (uint64_t)r;
		fill(p, len, tag);
		if ((x >> 24) % 8 == 0) { /* some die where they were born */
			if (!check_fill(p, len, tag))
				__atomic_fetch_add(&ring.corrupt, 1, __ATOMIC_RELAXED);
			hk_free(p);
		} else {
			exchange(p, len, tag);
		}
	}
	return NULL;
}

Test(arena_threads, cross_thread_frees_balance)
{
	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .name = "shared" };
	ring.shared = hk_arena_create(&cfg);
	cr_assert_not_null(ring.shared);
	for (int i = 0; i < THREADS; i++)
		cr_assert_not_null(ring.own[i] = hk_arena_create(NULL));
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	/* The workers are gone (their caches flushed); free what is left here. */
	for (int i = 0; i < RING; i++)
		if (ring.slot[i]) {
			cr_assert(check_fill(ring.slot[i], ring.len[i], ring.tag[i]), "slot %d", i);
			hk_free(ring.slot[i]);
			ring.slot[i] = NULL;
		}
	cr_assert_eq(ring.corrupt, 0, "%d corrupted blocks or failed allocations", ring.corrupt);
	uint64_t allocs = 0;
	for (int i = 0; i <= THREADS; i++) {
		hk_arena_t *a = i < THREADS ? ring.own[i] : ring.shared;
		hk_arena_stats_t s = arena_stats(a);
		cr_assert_eq(s.allocs, s.frees, "arena %d: %llu allocs, %llu frees", i,
			     (unsigned long long)s.allocs, (unsigned long long)s.frees);
		allocs += s.allocs;
		hk_arena_destroy(a);
	}
	cr_assert_eq(allocs, (uint64_t)THREADS * ROUNDS);
}

static void *churn(void *arg)
{
	(void)arg;
	for (int round = 0; round < 100; round++) {
		/* 200 blocks: 13 MiB where POOL serves small sizes (no Tiny, no MID) */
		hk_arena_config_t cfg = { .capacity = 16 * MIB, .numa_node = HK_NODE_LOCAL, .name = "churn" };
		hk_arena_t *a = hk_arena_create(&cfg);
		if (!a)
			return (void *)1;
		void *p[200];
		for (int i = 0; i < 200; i++) {
			p[i] = hk_arena_malloc(a, 16 + (size_t)i * 40);
			if (!p[i])
				return (void *)2;
			fill(p[i], 16 + (size_t)i * 40, (uint64_t)i);
		}
		for (int i = 0; i < 200; i += 2)
			hk_free(p[i]);
		for (int i = 1; i < 200; i += 2)
			if (!check_fill(p[i], 16 + (size_t)i * 40, (uint64_t)i))
				return (void *)3;
		hk_arena_destroy(a); /* with half the blocks still live */
	}
	return NULL;
}

Test(arena_threads, concurrent_create_destroy)
{
	hk_stats_t g0, g1;
	cr_assert_eq(hk_stats_get(&g0), 0);
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, churn, NULL);
	for (int i = 0; i < THREADS; i++) {
		void *rc;
		pthread_join(t[i], &rc);
		cr_assert_null(rc, "thread %d failed at step %ld", i, (long)(intptr_t)rc);
	}
	cr_assert_eq(hk_stats_get(&g1), 0);
	/* 400 arenas came and went: what they held must not have stayed. */
	cr_assert_leq(g1.committed_bytes, g0.committed_bytes + 32 * MIB,
		      "committed %zu before, %zu after", g0.committed_bytes, g1.committed_bytes);
}

/* Resets that land while the purger thread walks and returns the arena's
 * free spans (idle ~100 ms, then a burst of resets; the purger looks at
 * the arena every delay, and debug_defconfig's delay 0 purges at every
 * look): the arena must stay consistent. Once hung the purger in an endless walk
 * of a free list whose span pointed at itself. */
static void *reset_idle_reset(void *arg)
{
	hk_arena_t *a = hk_arena_create(NULL);
	uint32_t rng = 12345u + (uint32_t)(intptr_t)arg * 977u;
	for (int i = 0; i < 40 && a; i++) {
		for (int k = 0; k < 20; k++) {
			char *p = hk_arena_malloc(a, 1000);
			if (!p)
				return (void *)1;
			memset(p, 1, 1000);
			hk_arena_reset(a);
		}
		usleep(95000 + xorshift32(&rng) % 10000);
	}
	if (a)
		hk_arena_destroy(a);
	return a ? NULL : (void *)2;
}

Test(arena_threads, reset_while_the_purger_runs, .timeout = 30)
{
	pthread_t t[8];
	for (int i = 0; i < 8; i++)
		pthread_create(&t[i], NULL, reset_idle_reset, (void *)(intptr_t)i);
	for (int i = 0; i < 8; i++) {
		void *rc;
		pthread_join(t[i], &rc);
		cr_assert_null(rc, "thread %d failed (%ld)", i, (long)(intptr_t)rc);
	}
}
