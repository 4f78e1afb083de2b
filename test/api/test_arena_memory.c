/*
 * test/api/test_arena_memory.c — hk_arena_reset and hk_arena_destroy give
 * memory back: the arena's committed bytes and the process's resident set
 * drop (at once with HK_ARENA_ZERO_ON_RESET, within seconds otherwise, the
 * purge delay), and a reset arena hands out fresh, non-overlapping blocks,
 * also to threads whose per-thread caches held blocks from before the reset.
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "arena_test.h"

#define FOOTPRINT (32 * MIB)

/* Tiny, MID and POOL sizes, 32 MiB in all, every byte written. */
static void **populate(hk_arena_t *a, size_t *count)
{
	static const size_t sizes[] = { 1024, 32 * 1024, 1 * MIB };
	size_t n = 0, cap = FOOTPRINT / 1024 + 64;
	void **blocks = calloc(cap, sizeof(void *));
	for (int s = 0; s < 3; s++)
		for (size_t done = 0; done < FOOTPRINT / 3; done += sizes[s]) {
			void *p = hk_arena_malloc(a, sizes[s]);
			cr_assert_not_null(p, "size %zu", sizes[s]);
			fill(p, sizes[s], n);
			blocks[n++] = p;
		}
	*count = n;
	return blocks;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Waits (at most `seconds`) for the arena's committed bytes and the RSS
 * to fall below their limits: without ZERO_ON_RESET the purge comes after
 * a delay. Not a timed assertion: the bound is far above the delay. */
static void wait_for_drop(hk_arena_t *a, size_t committed, size_t rss, double seconds)
{
	double end = now() + seconds;
	while ((arena_stats(a).committed_bytes > committed || rss_bytes() > rss) && now() < end)
		usleep(20000);
}

static void reset_returns_memory(unsigned flags, double wait)
{
	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .hugepages = HK_HUGEPAGE_NONE,
				  .flags = flags, .name = "reset" };
	hk_arena_t *a = hk_arena_create(&cfg);
	cr_assert_not_null(a);
	size_t rss0 = rss_bytes(), n;
	void **blocks = populate(a, &n);
	hk_arena_stats_t s = arena_stats(a);
	size_t rss1 = rss_bytes();
	cr_assert_geq(s.committed_bytes, FOOTPRINT * 9 / 10);
	cr_assert_geq(rss1 - rss0, FOOTPRINT * 9 / 10, "RSS grew by %zu", rss1 - rss0);

	hk_arena_reset(a);
	wait_for_drop(a, FOOTPRINT / 4, rss1 - FOOTPRINT * 3 / 4, wait);
	size_t rss2 = rss_bytes();
	s = arena_stats(a);
	cr_assert_eq(s.live_bytes, 0, "reset frees every block");
	cr_assert_geq(rss1 - rss2, FOOTPRINT * 3 / 4, "RSS fell by %zu only", rss1 - rss2);
	cr_assert_leq(s.committed_bytes, FOOTPRINT / 4,
		      "RSS fell by %zu but the arena still reports %zu bytes committed",
		      rss1 - rss2, s.committed_bytes);

	/* Still usable: the same load again, every block intact. */
	free(blocks);
	blocks = populate(a, &n);
	for (size_t i = 0; i < n; i++)
		cr_assert(check_fill(blocks[i], 1024, i), "block %zu", i);
	free(blocks);
	hk_arena_destroy(a);
}

Test(arena_memory, reset_zero_on_reset_returns_memory_at_once)
{
	reset_returns_memory(HK_ARENA_ZERO_ON_RESET, 0);
}

Test(arena_memory, reset_returns_memory_within_seconds)
{
	reset_returns_memory(0, 10);
}

Test(arena_memory, destroy_returns_memory)
{
	hk_stats_t g0, g1, g2;
	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .name = "destroy" };
	hk_arena_t *a = hk_arena_create(&cfg);
	cr_assert_not_null(a);
	cr_assert_eq(hk_stats_get(&g0), 0);
	size_t n;
	void **blocks = populate(a, &n);
	free(blocks);
	size_t rss1 = rss_bytes();
	cr_assert_eq(hk_stats_get(&g1), 0);
	cr_assert_geq(g1.committed_bytes, g0.committed_bytes + FOOTPRINT * 9 / 10);
	hk_arena_destroy(a);
	/* Destroy decommits; allow for an asynchronous (io_uring) purge. */
	double end = now() + 10;
	do
		cr_assert_eq(hk_stats_get(&g2), 0);
	while (g2.committed_bytes > g0.committed_bytes + FOOTPRINT / 4 && now() < end && !usleep(20000));
	cr_assert_leq(g2.committed_bytes, g0.committed_bytes + FOOTPRINT / 4,
		      "committed %zu before, %zu after destroy", g0.committed_bytes, g2.committed_bytes);
	cr_assert_geq(rss1 - rss_bytes(), FOOTPRINT * 3 / 4, "RSS did not fall");
}

#define NBLK 3000

/* Blocks handed out after a reset must not overlap each other, even when
 * blocks freed before the reset sat in a per-thread cache (stale bins). */
static void check_no_overlap(void **p, size_t n, size_t size)
{
	for (size_t i = 0; i < n; i++)
		fill(p[i], size, i);
	for (size_t i = 0; i < n; i++)
		cr_assert(check_fill(p[i], size, i), "block %zu (%p) overwritten by another", i, p[i]);
}

struct stale_ctx {
	hk_arena_t *a;
	pthread_barrier_t *bar;
	int ok;
};

static void *stale_thread(void *arg)
{
	struct stale_ctx *c = arg;
	void **p = calloc(NBLK, sizeof(void *));
	for (int i = 0; i < NBLK; i++)
		p[i] = hk_arena_malloc(c->a, 64);
	for (int i = 0; i < NBLK; i += 2)
		hk_free(p[i]); /* half of them into this thread's cache */
	pthread_barrier_wait(c->bar); /* main resets the arena now */
	pthread_barrier_wait(c->bar);
	for (int i = 0; i < NBLK; i++)
		p[i] = hk_arena_malloc(c->a, 64);
	c->ok = 1;
	for (int i = 0; i < NBLK; i++)
		fill(p[i], 64, (uint64_t)i + 1000000);
	pthread_barrier_wait(c->bar); /* main allocates and writes too */
	pthread_barrier_wait(c->bar);
	for (int i = 0; i < NBLK; i++)
		c->ok &= check_fill(p[i], 64, (uint64_t)i + 1000000);
	free(p);
	return NULL;
}

Test(arena_memory, reset_drops_stale_thread_caches)
{
	hk_arena_t *a = hk_arena_create(NULL);
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, 2);
	struct stale_ctx c = { a, &bar, 0 };
	pthread_t t;
	pthread_create(&t, NULL, stale_thread, &c);
	void **p = calloc(NBLK, sizeof(void *));
	for (int i = 0; i < NBLK; i++)
		p[i] = hk_arena_malloc(a, 64);
	for (int i = 1; i < NBLK; i += 2)
		hk_free(p[i]);
	pthread_barrier_wait(&bar);
	hk_arena_reset(a);
	pthread_barrier_wait(&bar);
	for (int i = 0; i < NBLK; i++) {
		p[i] = hk_arena_malloc(a, 64);
		cr_assert_not_null(p[i]);
	}
	pthread_barrier_wait(&bar);
	check_no_overlap(p, NBLK, 64);
	pthread_barrier_wait(&bar);
	pthread_join(t, NULL);
	cr_assert(c.ok, "the other thread's blocks were overwritten after the reset");
	check_no_overlap(p, NBLK, 64);
	hk_arena_stats_t s = arena_stats(a);
	/* Whole blocks: exactly the usable bytes, or a class step more per block
	 * in a hardened build (the canary's room). */
	size_t usable = 2 * NBLK * hk_usable_size(p[0]);
	cr_assert_geq(s.live_bytes, usable, "live %zu", s.live_bytes);
	cr_assert_leq(s.live_bytes, usable + usable / 4, "live %zu", s.live_bytes);
	free(p);
	hk_arena_destroy(a);
}

/* A warm reset puts the blocks handed out back into the caller's bins
 * (core/lane.c hk_cache_rewind) when nothing else touched the arena, and
 * takes the full reset otherwise: rounds of both kinds, Tiny and MID sizes,
 * some with frees, must hand out whole, disjoint blocks, calloc's zeroed,
 * with nothing live after each reset. */
struct span_ref { const char *p; size_t n; };

static int by_address(const void *x, const void *y)
{
	const struct span_ref *a = x, *b = y;
	return a->p < b->p ? -1 : a->p > b->p;
}

Test(arena_memory, warm_resets_in_a_loop_hand_out_whole_blocks)
{
	enum { ROUNDS = 3000, MOST = 200 };
	static void *p[MOST];
	static size_t n[MOST];
	static struct span_ref r[MOST];
	hk_arena_t *a = hk_arena_create(NULL);
	cr_assert_not_null(a);
	uint32_t x = 2463534242u;
	for (int round = 0; round < ROUNDS; round++) {
		int k = 1 + (int)(xorshift32(&x) % MOST), frees = round % 3 == 0;
		size_t most = round & 4 ? 3000 : 256;
		for (int i = 0; i < k; i++) {
			n[i] = 16 + xorshift32(&x) % most;
			int zero = i % 4 == 0;
			p[i] = zero ? hk_arena_calloc(a, 1, n[i]) : hk_arena_malloc(a, n[i]);
			cr_assert_not_null(p[i]);
			for (size_t j = 0; zero && j < n[i]; j++)
				cr_assert_eq(((unsigned char *)p[i])[j], 0, "round %d: calloc gave a used byte", round);
			fill(p[i], n[i], (uint64_t)round << 8 | (unsigned)i);
			if (frees && i && xorshift32(&x) % 4 == 0) {
				int o = (int)(xorshift32(&x) % (unsigned)i);
				hk_free(p[o]);
				p[o] = hk_arena_malloc(a, n[o]);
				cr_assert_not_null(p[o]);
				fill(p[o], n[o], (uint64_t)round << 8 | (unsigned)o);
			}
		}
		for (int i = 0; i < k; i++) {
			cr_assert(check_fill(p[i], n[i], (uint64_t)round << 8 | (unsigned)i),
				  "round %d: block %d overwritten", round, i);
			r[i] = (struct span_ref){ p[i], n[i] };
		}
		qsort(r, (size_t)k, sizeof *r, by_address);
		for (int i = 1; i < k; i++)
			cr_assert_leq(r[i - 1].p + r[i - 1].n, r[i].p, "round %d: blocks overlap", round);
		hk_arena_reset(a);
		cr_assert_eq(arena_stats(a).live_bytes, 0, "round %d: live after the reset", round);
	}
	hk_arena_destroy(a);
}
