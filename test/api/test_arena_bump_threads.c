/*
 * test/api/test_arena_bump_threads.c — region arenas (HK_ARENA_BUMP) and
 * families under threads, as include/hakmem.h allows: each thread with its
 * own region arena (requests, resets); one shared region arena whose
 * allocations and resets the threads serialise with a mutex while any
 * thread frees and measures its blocks without it; children created,
 * reset and destroyed by several threads under one parent. Contents are
 * checked on the way; counters balance at the end. Also built under TSan.
 */
#include <pthread.h>
#include <stdlib.h>

#include "arena_test.h"

#define THREADS 4

static hk_arena_t *bump_arena(hk_arena_t *parent)
{
	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .flags = HK_ARENA_BUMP,
				  .parent = parent };
	return hk_arena_create(&cfg);
}

/* Per-request pattern in the thread's own arena: K blocks, check, reset. */
static void *own_arena(void *arg)
{
	uint32_t seed = (uint32_t)(uintptr_t)arg * 2654435761u + 1;
	hk_arena_t *a = bump_arena(NULL);
	void *blk[512];
	size_t len[512];
	long bad = a ? 0 : 1;
	for (int r = 0; r < 400 && !bad; r++) {
		int k = 1 + (int)(xorshift32(&seed) % 512);
		for (int i = 0; i < k; i++) {
			len[i] = 16 + xorshift32(&seed) % (i % 8 ? 241 : 4081);
			blk[i] = hk_arena_malloc(a, len[i]);
			if (!blk[i])
				return (void *)1L;
			fill(blk[i], len[i], (uint64_t)r * 1000 + (uint64_t)i);
		}
		for (int i = 0; i < k; i++)
			bad += !check_fill(blk[i], len[i], (uint64_t)r * 1000 + (uint64_t)i);
		if (r % 3 == 0)
			for (int i = 0; i < k; i += 2)
				hk_free(blk[i]);
		hk_arena_reset(a);
	}
	hk_arena_stats_t s;
	hk_arena_stats(a, &s);
	bad += s.live_bytes != 0;
	hk_arena_destroy(a);
	return (void *)bad;
}

Test(arena_bump_threads, own_arena_each, .timeout = 120)
{
	pthread_t t[THREADS];
	for (long i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, own_arena, (void *)i), 0);
	for (int i = 0; i < THREADS; i++) {
		void *bad;
		pthread_join(t[i], &bad);
		cr_assert_null(bad, "thread %d saw bad contents or live bytes", i);
	}
}

/* One shared region arena: allocation and reset under `lock` (the caller's
 * job, include/hakmem.h); blocks pass through a ring, and whoever takes
 * one out checks it, measures it and frees it without the lock. A reset
 * waits until no thread holds a block (`hold` taken for writing). */
#define RING 256
static struct {
	pthread_mutex_t lock;  /* the arena's allocations and resets */
	pthread_mutex_t ring_lock;
	pthread_rwlock_t hold;  /* read: blocks in hand; write: a reset */
	hk_arena_t *arena;
	void *slot[RING];
	uint64_t tag[RING];
	size_t len[RING];
	unsigned head;
} S = { .lock = PTHREAD_MUTEX_INITIALIZER, .ring_lock = PTHREAD_MUTEX_INITIALIZER,
	.hold = PTHREAD_RWLOCK_INITIALIZER };

static long check_and_free(void *p, size_t n, uint64_t tag)
{
	long bad = !check_fill(p, n, tag);
	bad += hk_usable_size(p) < n;
	bad += hk_arena_of(p) != S.arena;
	hk_free(p);
	return bad;
}

static void *shared_arena(void *arg)
{
	uint32_t seed = (uint32_t)(uintptr_t)arg * 2654435761u + 7;
	long bad = 0;
	for (int r = 0; r < 20000; r++) {
		size_t n = 16 + xorshift32(&seed) % 500;
		uint64_t tag = ((uint64_t)(uintptr_t)arg << 32) | (uint64_t)r;
		if (r % 2000 == 1999) {
			/* A reset: nobody may hold blocks of the arena, so the
			 * ring is emptied first. */
			pthread_rwlock_wrlock(&S.hold);
			for (int i = 0; i < RING; i++)
				if (S.slot[i])
					bad += check_and_free(S.slot[i], S.len[i], S.tag[i]);
			memset(S.slot, 0, sizeof S.slot);
			pthread_mutex_lock(&S.lock);
			hk_arena_reset(S.arena);
			pthread_mutex_unlock(&S.lock);
			pthread_rwlock_unlock(&S.hold);
		}
		pthread_rwlock_rdlock(&S.hold);
		pthread_mutex_lock(&S.lock);
		void *p = hk_arena_malloc(S.arena, n);
		pthread_mutex_unlock(&S.lock);
		if (!p)
			return (void *)1L;
		fill(p, n, tag);
		pthread_mutex_lock(&S.ring_lock);
		unsigned i = S.head++ % RING;
		void *old = S.slot[i];
		size_t old_n = S.len[i];
		uint64_t old_tag = S.tag[i];
		S.slot[i] = p;
		S.len[i] = n;
		S.tag[i] = tag;
		pthread_mutex_unlock(&S.ring_lock);
		if (old) /* another thread's block, freed without the arena's lock */
			bad += check_and_free(old, old_n, old_tag);
		pthread_rwlock_unlock(&S.hold);
	}
	return (void *)bad;
}

Test(arena_bump_threads, shared_arena_with_a_lock, .timeout = 120)
{
	S.arena = bump_arena(NULL);
	cr_assert_not_null(S.arena);
	pthread_t t[THREADS];
	for (long i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, shared_arena, (void *)i), 0);
	for (int i = 0; i < THREADS; i++) {
		void *bad;
		pthread_join(t[i], &bad);
		cr_assert_null(bad, "thread %d saw bad blocks", i);
	}
	for (int i = 0; i < RING; i++)
		if (S.slot[i])
			cr_assert_eq(check_and_free(S.slot[i], S.len[i], S.tag[i]), 0);
	hk_arena_stats_t s;
	cr_assert_eq(hk_arena_stats(S.arena, &s), 0);
	cr_assert_eq(s.live_bytes, 0, "every block freed: %zu live", s.live_bytes);
	cr_assert_eq(s.allocs, (uint64_t)THREADS * 20000);
	cr_assert_eq(s.frees, s.allocs);
	hk_arena_destroy(S.arena);
}

/* Children of one parent made, used, reset and destroyed by several threads
 * at once (the family lock keeps the parent's list whole) while another
 * thread reads the parent's stats; the parent's destroy finds its list
 * empty. */
static hk_arena_t *parent;

static void *children(void *arg)
{
	uint32_t seed = (uint32_t)(uintptr_t)arg + 11;
	long bad = 0;
	for (int r = 0; r < 300; r++) {
		hk_arena_t *c = bump_arena(parent);
		hk_arena_t *g = bump_arena(c);
		if (!c || !g)
			return (void *)1L;
		size_t n = 16 + xorshift32(&seed) % 300;
		void *p = hk_arena_malloc(c, n), *q = hk_arena_malloc(g, n);
		if (!p || !q)
			return (void *)1L;
		fill(p, n, (uint64_t)r);
		fill(q, n, (uint64_t)r + 1);
		bad += !check_fill(p, n, (uint64_t)r) + !check_fill(q, n, (uint64_t)r + 1);
		bad += hk_arena_of(q) != g;
		hk_arena_reset(c);
		hk_arena_destroy(c); /* takes g along */
	}
	return (void *)bad;
}

static void *parent_stats(void *arg)
{
	(void)arg;
	for (int r = 0; r < 300; r++)
		hk_arena_stats(parent, &(hk_arena_stats_t){ 0 });
	return NULL;
}

Test(arena_bump_threads, children_of_one_parent, .timeout = 120)
{
	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL };
	parent = hk_arena_create(&cfg);
	cr_assert_not_null(parent);
	pthread_t t[THREADS + 1];
	for (long i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, children, (void *)i), 0);
	cr_assert_eq(pthread_create(&t[THREADS], NULL, parent_stats, NULL), 0);
	for (int i = 0; i <= THREADS; i++) {
		void *bad;
		pthread_join(t[i], &bad);
		cr_assert_null(bad, "thread %d saw bad blocks", i);
	}
	hk_arena_destroy(parent);
}
