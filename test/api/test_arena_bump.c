/*
 * test/api/test_arena_bump.c — region arenas (HK_ARENA_BUMP) through
 * hakmem.h: alignment, contents across many chunks, reset rewinding and
 * reusing memory, capacity, free/usable_size/arena_of/realloc of bump
 * blocks, stats, and the misuse a region arena still catches (each in a
 * child that must abort).
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "arena_test.h"

static hk_arena_t *bump_arena(size_t capacity, unsigned flags)
{
	hk_arena_config_t cfg = { .capacity = capacity, .numa_node = HK_NODE_LOCAL,
				  .flags = HK_ARENA_BUMP | flags, .name = "bump" };
	hk_arena_t *a = hk_arena_create(&cfg);
	cr_assert_not_null(a);
	return a;
}

Test(arena_bump, alignment_and_distinct_blocks)
{
	hk_arena_t *a = bump_arena(0, 0);
	char *prev = NULL;
	for (size_t n = 0; n < 600; n++) {
		char *p = hk_arena_malloc(a, n);
		cr_assert_not_null(p);
		cr_assert_eq((uintptr_t)p % 16, 0, "size %zu: %p", n, p);
		cr_assert_neq(p, prev);
		cr_assert_geq(hk_usable_size(p), n);
		memset(p, 0xab, n);
		prev = p;
	}
	for (size_t al = 32; al <= 65536; al *= 2) {
		for (size_t n = 1; n <= 3000; n += 999) {
			char *p = hk_arena_aligned_alloc(a, al, n);
			cr_assert_not_null(p);
			cr_assert_eq((uintptr_t)p % al, 0, "align %zu size %zu: %p", al, n, p);
			cr_assert_eq(hk_arena_of(p), a);
			memset(p, 1, n);
			char *q = hk_arena_malloc(a, 16); /* the padding left behind is no block */
			cr_assert_not_null(q);
			cr_assert(q >= p + n);
		}
	}
	errno = 0;
	cr_assert_null(hk_arena_aligned_alloc(a, 48, 16));
	cr_assert_eq(errno, EINVAL);
	hk_arena_destroy(a);
}

/* Enough blocks to fill many chunks (64 KiB doubling to 1 MiB). */
#define NB 40000

Test(arena_bump, contents_across_chunks)
{
	static char *blk[NB];
	static size_t len[NB];
	hk_arena_t *a = bump_arena(0, 0);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < NB; i++) {
			len[i] = 1 + (size_t)((i * 7919) % (i % 50 ? 300 : 9000));
			blk[i] = hk_arena_malloc(a, len[i]);
			cr_assert_not_null(blk[i]);
			fill(blk[i], len[i], (uint64_t)i + round);
		}
		for (int i = 0; i < NB; i++)
			cr_assert(check_fill(blk[i], len[i], (uint64_t)i + round), "block %d", i);
		hk_arena_stats_t s = arena_stats(a);
		cr_assert_gt(s.committed_bytes, (size_t)4 << 20, "several chunks");
		hk_arena_reset(a);
	}
	hk_arena_destroy(a);
}

Test(arena_bump, reset_rewinds_and_reuses)
{
	hk_arena_t *a = bump_arena(0, 0);
	void *first = hk_arena_malloc(a, 100);
	size_t committed = 0;
	for (int r = 0; r < 1000; r++) {
		hk_arena_reset(a);
		/* A request of 64 blocks of 16-256 B, then one of ~200 KiB every
		 * tenth round: the chunks the big rounds need are kept or taken
		 * back, never piled up. */
		int k = r % 10 ? 64 : 1000;
		void *p = NULL;
		for (int i = 0; i < k; i++) {
			size_t n = 16 + (size_t)((i * 37) % 241);
			void *q = hk_arena_malloc(a, n);
			cr_assert_not_null(q);
			memset(q, i, n);
			if (!i)
				p = q;
		}
		cr_assert_eq(p, first, "round %d: the first block is where it was", r);
		hk_arena_stats_t s = arena_stats(a);
		if (r == 10)
			committed = s.committed_bytes;
		if (r > 10 && r % 10 == 0)
			cr_assert_eq(s.committed_bytes, committed, "round %d: %zu vs %zu", r,
				     s.committed_bytes, committed);
	}
	hk_arena_reset(a);
	hk_arena_stats_t s = arena_stats(a);
	cr_assert_eq(s.live_bytes, 0);
	hk_arena_destroy(a);
}

Test(arena_bump, calloc_zeroes_reused_memory)
{
	hk_arena_t *a = bump_arena(0, 0);
	for (int r = 0; r < 3; r++) {
		unsigned char *p = hk_arena_calloc(a, 100, 40);
		cr_assert_not_null(p);
		for (int i = 0; i < 4000; i++)
			cr_assert_eq(p[i], 0, "round %d byte %d", r, i);
		memset(p, 0xff, 4000);
		hk_arena_reset(a);
	}
	errno = 0;
	cr_assert_null(hk_arena_calloc(a, SIZE_MAX / 2, 4));
	cr_assert_eq(errno, ENOMEM);
	hk_arena_destroy(a);
}

Test(arena_bump, capacity_exhaustion)
{
	hk_arena_t *a = bump_arena((size_t)1 << 20, 0);
	size_t got = 0;
	void *p;
	while ((p = hk_arena_malloc(a, 1000)) != NULL)
		got += 1000;
	cr_assert_eq(errno, ENOMEM);
	cr_assert_gt(got, (size_t)900 << 10, "most of the capacity is usable: %zu", got);
	cr_assert_leq(got, (size_t)1 << 20);
	hk_arena_stats_t s = arena_stats(a);
	cr_assert_geq(s.failed_allocs, 1);
	cr_assert_leq(s.committed_bytes, (size_t)1 << 20);
	errno = 0;
	cr_assert_null(hk_arena_malloc(a, 100000));
	cr_assert_eq(errno, ENOMEM);
	cr_assert_null(hk_arena_malloc(a, 1 << 20));
	cr_assert_null(hk_arena_malloc(a, SIZE_MAX));
	cr_assert_eq(errno, ENOMEM);
	hk_arena_reset(a);
	cr_assert_not_null(hk_arena_malloc(a, 1000), "usable again after a reset");
	hk_arena_destroy(a);
}

/* Fills a 4 MiB arena with `fill`-byte blocks, resets it, then asks for a
 * block of `ask` bytes: nothing is live, so it must come (a region arena's
 * reset keeps the chunks its round reached; they counted against the
 * capacity and refused it). The general arena gets the same pattern. */
static void fill_reset_ask(unsigned flags, size_t fill, size_t ask)
{
	hk_arena_config_t cfg = { .capacity = (size_t)4 << 20, .numa_node = HK_NODE_LOCAL,
				  .flags = flags, .name = "refill" };
	hk_arena_t *a = hk_arena_create(&cfg);
	cr_assert_not_null(a);
	size_t n = 0;
	while (hk_arena_malloc(a, fill))
		n++;
	/* Full: the fill stopped at the capacity (a 64-byte block may take
	 * a 64 KiB POOL block in a build without slab bands: nomid). */
	uint64_t failed = arena_stats(a).failed_allocs;
	cr_assert_gt(failed, 0, "flags %u: %zu blocks of %zu", flags, n, fill);
	hk_arena_reset(a);
	cr_assert_eq(arena_stats(a).live_bytes, 0);
	char *p = hk_arena_malloc(a, ask);
	/* expect: every case runs and reports */
	cr_expect_not_null(p, "flags %u: %zu bytes after a reset of %zu x %zu", flags, ask, n, fill);
	if (p)
		memset(p, 1, ask);
	cr_expect_eq(arena_stats(a).failed_allocs, failed, "flags %u: no failure counted", flags);
	hk_arena_destroy(a);
}

Test(arena_bump, capacity_free_after_reset)
{
	fill_reset_ask(HK_ARENA_BUMP, 100000, 300000); /* normal path (> 256 KiB) */
	fill_reset_ask(HK_ARENA_BUMP, 64, 200000);     /* a bigger chunk than kept */
	fill_reset_ask(HK_ARENA_BUMP, 100000, 200000);
	fill_reset_ask(0, 100000, 300000);
	fill_reset_ask(0, 64, 1000); /* slabs of another class */
	fill_reset_ask(0, 1000, 64);
	fill_reset_ask(0, 64, 20000);
}

Test(arena_bump, free_usable_of_realloc)
{
	hk_arena_t *a = bump_arena(0, 0);
	char *p = hk_arena_malloc(a, 100);
	cr_assert_not_null(p);
	cr_assert_eq(hk_usable_size(p), 104);
	cr_assert_eq(hk_arena_of(p), a);
	hk_arena_stats_t s = arena_stats(a);
	cr_assert_eq(s.live_bytes, 104);
	cr_assert_eq(s.allocs, 1);
	fill(p, 100, 1);
	/* The last block grows in place while its chunk has room. */
	char *q = hk_arena_realloc(a, p, 5000);
	cr_assert_eq(q, p);
	cr_assert(check_fill(q, 100, 1));
	cr_assert_geq(hk_usable_size(q), 5000);
	fill(q, 5000, 2);
	/* Not the last block any more: it moves, contents kept. */
	char *r = hk_arena_malloc(a, 10);
	cr_assert_not_null(r);
	char *q2 = hk_realloc(q, 9000);
	cr_assert_not_null(q2);
	cr_assert_neq(q2, q);
	cr_assert(check_fill(q2, 5000, 2));
	cr_assert_eq(hk_arena_of(q2), a);
	s = arena_stats(a);
	cr_assert_eq(s.frees, 1, "the old block was freed");
	/* Shrinking keeps it. */
	cr_assert_eq(hk_arena_realloc(a, r, 8), r);
	/* Beyond the bump limit: the arena's normal path, same arena. */
	char *big = hk_arena_realloc(a, q2, 3 << 20);
	cr_assert_not_null(big);
	cr_assert(check_fill(big, 5000, 2));
	cr_assert_eq(hk_arena_of(big), a);
	hk_free(r);
	hk_free_sized(big, 3 << 20);
	s = arena_stats(a);
	cr_assert_eq(s.live_bytes, 0, "every block freed: %zu", s.live_bytes);
	cr_assert_eq(s.frees, s.allocs);
	/* A reset after a normal-path block takes the full path and still
	 * leaves a working region arena. */
	big = hk_arena_malloc(a, 1 << 20);
	cr_assert_not_null(big);
	hk_arena_reset(a);
	s = arena_stats(a);
	cr_assert_eq(s.live_bytes, 0);
	for (int i = 0; i < 1000; i++) {
		char *x = hk_arena_malloc(a, 64);
		cr_assert_not_null(x);
		fill(x, 64, (uint64_t)i);
		cr_assert(check_fill(x, 64, (uint64_t)i));
	}
	cr_assert_eq(hk_arena_realloc(a, NULL, 0) != NULL, 1);
	hk_arena_destroy(a);
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The pages leave at once (an io_uring purge completes a moment later: the
 * wait is a bound far above that, not a timing). */
Test(arena_bump, zero_on_reset_drops_pages)
{
	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .hugepages = HK_HUGEPAGE_NONE,
				  .flags = HK_ARENA_BUMP | HK_ARENA_ZERO_ON_RESET };
	hk_arena_t *a = hk_arena_create(&cfg);
	cr_assert_not_null(a);
	for (int r = 0; r < 3; r++) {
		for (int i = 0; i < 8000; i++) {
			char *p = hk_arena_malloc(a, 1000);
			cr_assert_not_null(p);
			memset(p, 7, 1000);
		}
		size_t before = rss_bytes();
		hk_arena_reset(a);
		double end = now() + 10;
		while (rss_bytes() + 6 * MIB > before && now() < end)
			usleep(10000);
		cr_assert_leq(rss_bytes() + 6 * MIB, before, "round %d: the pages left", r);
		cr_assert_eq(arena_stats(a).live_bytes, 0);
	}
	hk_arena_destroy(a);
}

/* ---- misuse: each runs in a child that must abort ---- */

static hk_arena_t *arena;
static char *block;

static void setup(void)
{
	arena = bump_arena(0, 0);
	block = hk_arena_malloc(arena, 256);
	cr_assert_not_null(block);
}

TestSuite(arena_bump_misuse, .init = setup);

static void free_it(void *p) { hk_free(p); }

/* What is wrong, and the call and the pointer: "hakmem: free(): ... 0x<ptr>". */
static void expect_free_abort(void *ptr, const char *needle)
{
	char want[32];
	expect_abort(free_it, ptr, needle);
	expect_abort(free_it, ptr, "hakmem: free(): ");
	snprintf(want, sizeof(want), " 0x%lx\n", (unsigned long)(uintptr_t)ptr);
	expect_abort(free_it, ptr, want);
}

Test(arena_bump_misuse, never_handed_out)
{
	expect_free_abort(block + 4096, "never handed out");
	expect_free_abort(block + 272, "never handed out");
}

Test(arena_bump_misuse, interior_and_misaligned)
{
	cr_assert_not_null(hk_arena_malloc(arena, 64));
	expect_free_abort(block + 16, "invalid pointer");
	expect_free_abort(block + 8, "invalid pointer");
	memset(block, 0, 256); /* zeroed data before an interior pointer is no header */
	expect_free_abort(block + 128, "invalid pointer");
}

static void free_twice(void *p)
{
	hk_free(p);
	hk_free(p);
}

Test(arena_bump_misuse, double_free)
{
	expect_abort(free_twice, block, "double free");
}

static void free_after_reset(void *arg)
{
	(void)arg;
	char *second = hk_arena_malloc(arena, 100);
	hk_arena_reset(arena);
	/* The cursor passes the old block again, writing no header there. */
	if (!hk_arena_malloc(arena, 1000))
		_exit(1);
	hk_free(second);
}

static void free_after_destroy(void *p)
{
	hk_arena_destroy(arena);
	hk_free(p);
}

static void usable_after_destroy(void *p)
{
	hk_arena_destroy(arena);
	fprintf(stderr, "usable %zu\n", hk_usable_size(p));
}

Test(arena_bump_misuse, stale_blocks)
{
	expect_abort(free_after_reset, block, "before a reset");
	expect_abort(free_after_destroy, block, "invalid pointer");
	expect_abort(usable_after_destroy, block, "invalid pointer");
}

static void malloc_destroyed(void *arg)
{
	(void)arg;
	hk_arena_destroy(arena);
	void *p = hk_arena_malloc(arena, 16);
	fprintf(stderr, "returned %p\n", p);
}

static void sized_too_big(void *p)
{
	hk_free_sized(p, 300);
}

Test(arena_bump_misuse, destroyed_arena_and_sizes)
{
	expect_abort(malloc_destroyed, NULL, "destroyed");
	expect_abort(sized_too_big, block, "size larger");
}
