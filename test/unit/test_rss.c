/*
 * test/unit/test_rss.c — the memory-return policies of core/span.c,
 * core/pool.c, core/large.c and core/purge.c: a freed dirty span is reused
 * before fresh memory, the default arena's held POOL span (reuse, misuse,
 * given back before the arena grows), the large cache bound, realloc growth
 * staying in the heap with no blocks left in bins and in place for one
 * growing block only, AUTO hugepages for
 * one-chunk runs and for the small slabs' dense runs of a heap with many
 * small blocks live, small
 * blocks' slabs filled to their last page, and
 * memory going back to the kernel after the purge delay. Bounded waits only.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/arena_table.h"
#include "core/harden.h"
#include "core/init.h"
#include "core/lane.h"
#include "core/large.h"
#include "core/lock.h"
#include "core/owner.h"
#include "core/platform.h"
#include "core/pool.h"
#include "core/purge.h"
#include "core/region.h"
#include "core/sizeclass.h"
#include "core/span.h"
#include "os/os.h"

static void init(void) { cr_assert_eq(hk_init(), 0); }

TestSuite(rss, .init = init);

static hk_arena_t *private_arena(void)
{
	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .hugepages = HK_HUGEPAGE_NONE };
	hk_arena_t *a = hk_arena_create(&cfg);
	cr_assert_not_null(a);
	return a;
}

Test(rss, dirty_span_reused_before_fresh_memory)
{
	hk_arena_t *a = private_arena();
	hk_lock(&a->lock);
	uint32_t s1 = hk_span_alloc(a, 8, 1, 0), s2 = hk_span_alloc(a, 8, 1, 0);
	cr_assert_neq(s1, HK_NIL);
	cr_assert_neq(s2, HK_NIL);
	hk_span_mark(s1, 8, HK_KIND_POOL, 0, a->index, 8 * HK_UNIT);
	hk_span_mark(s2, 8, HK_KIND_POOL, 0, a->index, 8 * HK_UNIT);
	size_t committed = a->ctr.committed;
	hk_span_free(a, s1, 8, hk_platform_now_ms());
	cr_assert(hk_desc_at(s1)->flags & HK_DF_DIRTY);
	/* The run's never-touched rest is a bigger clean span: the dirty one,
	 * already resident, is the better fit for both an exact and a
	 * smaller request. */
	uint32_t r = hk_span_alloc(a, 6, 1, 0);
	cr_assert_eq(r, s1, "dirty span not reused first");
	hk_span_mark(r, 6, HK_KIND_POOL, 0, a->index, 6 * HK_UNIT);
	hk_span_free(a, r, 6, hk_platform_now_ms());
	cr_assert_eq(hk_span_alloc(a, 8, 1, 0), s1);
	cr_assert_eq(a->ctr.committed, committed, "fresh memory committed");
	hk_unlock(&a->lock);
	hk_arena_destroy(a);
}

/* A function, so a config without POOL (0) is no constant comparison. */
static size_t pool_max(void)
{
	return HK_POOL_MAX;
}

/* A POOL size for the default arena, or 0 when this config has no POOL
 * band above the slabs. */
static size_t pool_size(void)
{
	size_t n = (size_t)1 << 20;
	if (!CONFIG_HK_POOL || n <= hk_small_max() || n > pool_max())
		return 0;
	return n;
}

/* The held span is the purger's to give back once CONFIG_HK_PURGE_DELAY_MS has
 * passed, at once in the debug config: the tests that look at it keep the
 * purger out (it released the span before the check in 1 debug run of 6). */
Test(rss, held_pool_span_is_reused_whole)
{
	size_t n = pool_size();
	if (!n || CONFIG_HK_HARDENED)
		cr_skip_test("no POOL band or hardened (no held span)");
	hk_purge_exclude();
	char *p = hk_malloc(n);
	cr_assert_not_null(p);
	memset(p, 0x5a, n);
	hk_free(p);
	cr_assert_eq(hk_desc_of(p)->kind, HK_KIND_PURGING, "the freed span is held");
	cr_assert_eq(hk_desc_of(p + n - 1)->kind, HK_KIND_PURGING, "its tail too");
	char *q = hk_malloc(n - 100);
	cr_assert_eq(q, p, "same length: the held span comes back");
	cr_assert_eq(hk_desc_of(q)->kind, HK_KIND_POOL);
	cr_assert_eq(hk_desc_of(q + n - 1)->kind, HK_KIND_POOL);
	cr_assert_eq(hk_usable_size(q), n);
	char *r = hk_malloc(2 * n);
	cr_assert_not_null(r);
	cr_assert(r >= q + n || r + 2 * n <= q, "overlapping blocks");
	hk_free(r);
	hk_free(q);
	hk_purge_allow();
}

/* In a child: Criterion counts a skipped .signal test as a failure. */
Test(rss, held_pool_span_double_free_aborts)
{
	size_t n = pool_size();
	if (!n)
		cr_skip_test("no POOL band");
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		fclose(stderr); /* the one-line report is expected */
		char *p = hk_malloc(n);
		hk_free(p);
		hk_free(p);
		_exit(0);
	}
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "the second free did not abort (status %#x)", st);
}

Test(rss, held_pool_span_returns_before_the_arena_grows)
{
	size_t n = pool_size();
	if (!n || CONFIG_HK_HARDENED)
		cr_skip_test("no POOL band or hardened (no held span)");
	hk_purge_exclude();
	char *p = hk_malloc(n);
	cr_assert_not_null(p);
	hk_free(p);
	cr_assert_eq(hk_desc_of(p)->kind, HK_KIND_PURGING);
	size_t committed = hk_arena0.ctr.committed;
	void *blocks[256];
	int k = 0;
	/* Longer blocks never fit the held span as it is: the arena uses up
	 * its free spans, then the held one, and only then grows. */
	while (hk_arena0.ctr.committed == committed && k < 256) {
		blocks[k] = hk_malloc(n + HK_UNIT);
		cr_assert_not_null(blocks[k]);
		k++;
	}
	cr_assert_gt(hk_arena0.ctr.committed, committed, "the arena never grew");
	cr_assert_neq(hk_desc_of(p)->kind, HK_KIND_PURGING, "grew while a span was held");
	while (k--)
		hk_free(blocks[k]);
	hk_purge_allow();
}

Test(rss, large_cache_stays_under_its_bound)
{
	size_t top = pool_max() > hk_small_max() ? pool_max() : hk_small_max();
	size_t n = top + ((size_t)1 << 20);
	void *p[CONFIG_HK_LARGE_CACHE + 4];
	unsigned count = CONFIG_HK_LARGE_CACHE + 4;
	for (unsigned i = 0; i < count; i++) {
		p[i] = hk_malloc(n + i * 4096);
		cr_assert_not_null(p[i]);
		cr_assert_null(hk_desc_of(p[i]), "not a direct mapping");
	}
	for (unsigned i = 0; i < count; i++) {
		hk_free(p[i]);
		cr_assert_leq(hk_large_cached(), (unsigned)CONFIG_HK_LARGE_CACHE);
	}
	if (!CONFIG_HK_HARDENED)
		cr_assert_eq(hk_large_cached(), (unsigned)CONFIG_HK_LARGE_CACHE);
	hk_large_trim(0, 1);
	cr_assert_eq(hk_large_cached(), 0u);
}

/* A cached mapping reused for a smaller request belongs whole to the new
 * block: its usable size says so and its free unmaps every page of it. */
Test(rss, large_cache_reuse_keeps_the_whole_mapping)
{
	if (CONFIG_HK_HARDENED || CONFIG_HK_LARGE_CACHE == 0)
		cr_skip_test("no large-mapping cache (hardened, or HK_LARGE_CACHE=0)");
	size_t top = pool_max() > hk_small_max() ? pool_max() : hk_small_max();
	size_t page = 4096, n = (top + ((size_t)1 << 20) + page - 1) & ~(page - 1);
	hk_large_trim(0, 1);
	char *p = hk_malloc(n);
	cr_assert_not_null(p);
	cr_assert_null(hk_desc_of(p), "not a direct mapping");
	hk_free(p);
	char *q = hk_malloc(n - 16 * page); /* within 25 %: served from the cache */
	cr_assert_eq(q, p, "the cached mapping was reused");
	cr_assert_eq(hk_usable_size(q), n, "usable size is the whole mapping");
	hk_free(q);
	hk_large_trim(0, 1);
	cr_assert_eq(hk_large_cached(), 0u);
	/* msync fails with ENOMEM on a range that is no longer mapped. */
	cr_assert_eq(msync(p + n - page, page, MS_ASYNC), -1, "tail page still mapped");
	cr_assert_eq(errno, ENOMEM);
}

/* Grows bufs[0..n) side by side, round robin, from 16 bytes to max by
 * 1/8 plus 8 each step (the pattern of bench/realloc_grow), writing every
 * new byte; returns the sum of their final lengths. */
static size_t grow_side_by_side(unsigned char **bufs, size_t *len, unsigned n, size_t max)
{
	size_t total = 0;
	for (unsigned i = 0; i < n; i++)
		bufs[i] = NULL, len[i] = 0;
	for (int growing = 1; growing;) {
		growing = 0;
		for (unsigned i = 0; i < n; i++) {
			size_t old = len[i], want = old ? old + old / 8 + 8 : 16;
			if (old >= max)
				continue;
			want = want > max ? max : want;
			unsigned char *q = hk_realloc(bufs[i], want);
			cr_assert_not_null(q);
			if (old)
				cr_assert_eq(q[old - 1], (unsigned char)(i + old - 1), "byte lost");
			for (size_t j = old; j < want; j++)
				q[j] = (unsigned char)(i + j);
			bufs[i] = q;
			len[i] = want;
			growing = 1;
		}
	}
	for (unsigned i = 0; i < n; i++)
		total += len[i];
	return total;
}

/* A function, so a config without lane classes (0) is no constant comparison. */
static unsigned nlane(void)
{
	return HK_NLANE;
}

/* Bytes of lane bins of the default heap's classes of at least `min` bytes. */
static size_t bin_bytes_from(size_t min)
{
	hk_lane_t *l = hk_lane_self;
	size_t bytes = 0;
	for (unsigned c = 0; c < nlane(); c++)
		if (hk_class_size(c) >= min && hk_lane_cache(l, 0)->classes >> c & 1)
			bytes += (size_t)(hk_bin_limit(l, 0, c) - hk_room(l, hk_bin_of(0, c))) * hk_class_size(c);
	return bytes;
}

/* A block realloc moved away from goes back to its slab, not to the bin:
 * growing buffers pass through every class, and the bins kept the blocks
 * they left (each pinning its slab) long after the buffers moved on. */
Test(rss, realloc_growth_leaves_no_blocks_in_bins)
{
	enum { N = 16 };
	unsigned char *bufs[N];
	size_t len[N], top = (size_t)1 << 20;
	if (hk_small_max() < ((size_t)64 << 10))
		cr_skip_test("no slab classes of 16-64 KiB here");
	top = top < hk_small_max() ? top : hk_small_max();
	hk_free(hk_malloc(100)); /* a lane for this thread */
	hk_lane_flush_self();
	grow_side_by_side(bufs, len, N, top);
	size_t held = bin_bytes_from((size_t)16 << 10);
	cr_assert_eq(held, 0, "bins of 16 KiB classes and up hold %zu bytes", held);
	for (unsigned i = 0; i < N; i++)
		hk_free(bufs[i]);
}

/* The POOL span a realloc moved away from goes to the free lists, where
 * the spans freed beside it merge with it, never held whole for a repeat
 * of its length (growth asks for more): held, it stayed out of the lists
 * until the purger's clock let it go, and realloc_grow's layout, and peak
 * RSS, changed with the timing. */
Test(rss, realloc_does_not_hold_the_span_it_left)
{
	size_t n = pool_size();
	if (!n || CONFIG_HK_HARDENED)
		cr_skip_test("no POOL band or hardened (no held span)");
	hk_purge_exclude();
	unsigned char *p = hk_malloc(n);
	cr_assert_not_null(p);
	memset(p, 0x3c, n);
	unsigned char *q = hk_realloc(p, 2 * n);
	cr_assert_not_null(q);
	cr_assert_neq(q, p);
	cr_assert_eq(hk_desc_of(p)->kind, HK_KIND_FREE, "the span realloc left is held");
	cr_assert_eq(q[n - 1], 0x3c);
	hk_free(q);
	cr_assert_eq(hk_desc_of(q)->kind, HK_KIND_PURGING, "a plain free still holds it");
	hk_purge_allow();
}

/* Bytes 0..n of p hold (unsigned char)(j + seed)? */
static int holds(const unsigned char *p, size_t n, unsigned seed)
{
	for (size_t j = 0; j < n; j++)
		if (p[j] != (unsigned char)(j + seed))
			return 0;
	return 1;
}

static unsigned char *filled(hk_arena_t *a, size_t n, unsigned seed)
{
	unsigned char *p = hk_arena_malloc(a, n);
	cr_assert_not_null(p);
	for (size_t j = 0; j < n; j++)
		p[j] = (unsigned char)(j + seed);
	return p;
}

/* Only the POOL block realloc grew last grows in place, into the free
 * units after it: a buffer growing step by step copies nothing, while
 * buffers growing side by side move, so that the holes they leave merge
 * (each taking its neighbour's hole raised bench realloc_grow's peak RSS
 * from 39.8 to 59.8 MB). A private arena lays its spans out in the order
 * taken; the free units after each block are checked, not assumed. */
Test(rss, realloc_grows_in_place_only_the_block_it_grew_last)
{
	size_t u = HK_UNIT, n = (hk_small_max() / HK_UNIT + 1) * HK_UNIT; /* POOL's first */
	if (!CONFIG_HK_POOL || n + 4 * u > pool_max())
		cr_skip_test("no POOL band here");
	hk_purge_exclude(); /* freed spans stay FREE, not taken to purge */
	hk_arena_t *a = private_arena();
	unsigned char *x0 = filled(a, n, 1), *z = filled(a, n, 5); /* z: x0 cannot grow */
	unsigned char *x = hk_arena_realloc(a, x0, n + u);
	cr_assert_not_null(x);
	unsigned char *y = filled(a, n, 2); /* the hole x left */
	unsigned char *gap = filled(a, n, 3);
	unsigned char *b = hk_arena_realloc(a, filled(a, n, 4), n + u); /* grown last */
	cr_assert_not_null(b);
	hk_free(gap);
	cr_assert_eq(hk_desc_of(x + n + u)->kind, HK_KIND_FREE, "test layout: x has no free units after it");
	unsigned char *x2 = hk_arena_realloc(a, x, n + 2 * u);
	cr_assert_not_null(x2);
	cr_assert_neq(x2, x, "a block grown before the last one grew in place");
	cr_assert(holds(x2, n, 1), "bytes lost");
	/* x2 grew last: b moves, and is the block grown last then. */
	cr_assert_not_null(b = hk_arena_realloc(a, b, n + 2 * u));
	size_t had = hk_usable_size(b);
	cr_assert_eq(hk_desc_of(b + had)->kind, HK_KIND_FREE, "test layout: b has no free units after it");
	unsigned char *b2 = hk_arena_realloc(a, b, had + u);
	cr_assert_eq(b2, b, "the block grown last moved (%p -> %p)", (void *)b, (void *)b2);
	cr_assert_geq(hk_usable_size(b2), had + u);
	cr_assert(holds(b2, n, 4), "bytes lost");
	hk_arena_stats_t st;
	cr_assert_eq(hk_arena_stats(a, &st), 0);
	cr_assert_geq(st.live_bytes, hk_usable_size(b) + hk_usable_size(x2) + n, "live bytes miss the growth");
	hk_free(b);
	hk_free(x2);
	hk_free(y);
	hk_free(z);
	hk_purge_allow(); /* before the destroy, which takes the purge lock */
	hk_arena_destroy(a);
}

/* The block realloc grew last, with no free units after it, moves with
 * half as much room again (untouched: address space, not RSS), so its
 * next steps stay in place; a sized free still takes the request. */
Test(rss, realloc_moves_the_block_it_grew_last_with_room)
{
	size_t u = HK_UNIT, n = (hk_small_max() / HK_UNIT + 1) * HK_UNIT;
	if (!CONFIG_HK_POOL || 2 * (n + 2 * u) > pool_max())
		cr_skip_test("no POOL band here");
	hk_purge_exclude(); /* freed spans stay FREE, not taken to purge */
	hk_arena_t *a = private_arena();
	unsigned char *x = hk_arena_realloc(a, filled(a, n, 1), n + u); /* grown last */
	cr_assert_not_null(x);
	unsigned char *y = filled(a, n, 3), *w = filled(a, n, 2); /* y: the hole x left */
	cr_assert_neq(hk_desc_of(x + n + u)->kind, HK_KIND_FREE, "test layout: x has free units after it");
	size_t want = n + 2 * u;
	unsigned char *x2 = hk_arena_realloc(a, x, want);
	cr_assert_not_null(x2);
	cr_assert_geq(hk_usable_size(x2), want + want / 2, "moved with %zu bytes for %zu",
		      hk_usable_size(x2), want);
	unsigned char *x3 = hk_arena_realloc(a, x2, want + want / 2);
	cr_assert_eq(x3, x2, "the next step moved");
	cr_assert(holds(x3, n, 1), "bytes lost");
	hk_free_sized(x3, want + want / 2);
	/* Side by side (w grew by no realloc): no room. */
	unsigned char *w2 = hk_arena_realloc(a, w, n + u);
	cr_assert_lt(hk_usable_size(w2), n + 2 * u, "room for a block realloc had not grown");
	hk_free(w2);
	hk_free(y);
	hk_purge_allow(); /* before the destroy, which takes the purge lock */
	hk_arena_destroy(a);
}

/* Growth past the slab classes stays in the heap's POOL spans up to the
 * POOL limit, where the spans freed by the earlier steps (slabs of the
 * classes passed through, smaller POOL blocks) are reused; past the limit
 * it is a mapping that mremap grows. Buffers side by side: the heap holds
 * little more than their bytes (growth into mappings beside the slabs'
 * freed spans committed 2x). */
Test(rss, realloc_growth_stays_in_the_heap)
{
	enum { N = 16 };
	unsigned char *bufs[N];
	size_t len[N], top = (size_t)1 << 20;
	hk_arena_stats_t st;
	if (!CONFIG_HK_POOL || pool_max() < 2 * top || hk_small_max() >= top)
		cr_skip_test("no POOL band from the slabs up to 2 MiB");
	hk_purge_exclude(); /* spans stay where the growth left them */
	size_t live = grow_side_by_side(bufs, len, N, top);
	for (unsigned i = 0; i < N; i++)
		cr_assert_not_null(hk_desc_of(bufs[i]), "buffer %u left the heap", i);
	cr_assert_eq(hk_arena_stats(hk_arena_default(), &st), 0);
	cr_assert_leq(st.committed_bytes, live + live / 2, "committed %zu for %zu live",
		      st.committed_bytes, live);
	unsigned char *big = hk_realloc(bufs[0], pool_max() + top);
	cr_assert_not_null(big);
	cr_assert_null(hk_desc_of(big), "past the POOL limit: a mapping");
	for (size_t j = 0; j < top; j++)
		cr_assert_eq(big[j], (unsigned char)j, "byte %zu lost", j);
	bufs[0] = big;
	for (unsigned i = 0; i < N; i++)
		hk_free(bufs[i]);
	hk_purge_allow();
}

/* The kernel's THP mode line ("always [madvise] never"), or "". */
static void thp_mode(char *mode, size_t len)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	mode[0] = 0;
	if (f) {
		if (!fgets(mode, (int)len, f))
			mode[0] = 0;
		fclose(f);
	}
}

/* Every chunk is THP (the config's choice or the kernel's): no run is told
 * apart by its backing. */
static int thp_every_chunk(void)
{
	char mode[128];
	thp_mode(mode, sizeof mode);
	return CONFIG_HK_THP_ALWAYS || strstr(mode, "[always]");
}

Test(rss, auto_hugepages_skip_one_chunk_runs)
{
	if (thp_every_chunk())
		cr_skip_test("THP for every chunk in this config or kernel");
	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .hugepages = HK_HUGEPAGE_AUTO };
	hk_arena_t *a = hk_arena_create(&cfg);
	cr_assert_not_null(a);
	/* 24 MiB of one-chunk POOL runs: a busy heap, but no big block. */
	for (int i = 0; i < 24; i++)
		cr_assert_not_null(hk_arena_malloc(a, (size_t)1 << 20));
	hk_arena_stats_t st;
	hk_arena_stats(a, &st);
	cr_assert_geq(st.committed_bytes, (size_t)24 << 20);
	cr_assert_lt(st.backing, HK_BACKING_THP, "a one-chunk run got THP");
	hk_arena_destroy(a);
}

/* The kernel advises THP (madvise or always mode), so a run asked for THP gets it. */
static int thp_madvise(void)
{
	char mode[128];
	thp_mode(mode, sizeof mode);
	return strstr(mode, "[madvise]") || strstr(mode, "[always]");
}

/* A span freed alone (its neighbours live): 1 if it is on the dense list. */
static int freed_dense(hk_arena_t *a, uint32_t s, uint32_t units)
{
	hk_span_free(a, s, units, hk_platform_now_ms());
	return (hk_desc_at(s)->flags & HK_DF_DENSE) != 0;
}

Test(rss, big_heap_gives_small_slabs_dense_thp_runs)
{
	if (CONFIG_HK_THP_NEVER || !thp_madvise())
		cr_skip_test("no THP in this config or kernel");
	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .hugepages = HK_HUGEPAGE_AUTO };
	hk_arena_t *a = hk_arena_create(&cfg);
	cr_assert_not_null(a);
	size_t min = (size_t)CONFIG_HK_THP_HEAP_MIB << 20;
	hk_lock(&a->lock);
	/* Below the threshold: one-unit spans share 4 KiB runs. */
	uint32_t first = hk_span_alloc(a, 1, 1, 1), s = HK_NIL, big;
	cr_assert_neq(first, HK_NIL);
	/* The threshold counts small blocks live, which bare spans carry
	 * none of: count them as a program's heap this size would. */
	atomic_store(&a->ctr.live[HK_BAND_TINY], min);
	while (a->ctr.reserved < min + 2 * HK_CHUNK) {
		s = hk_span_alloc(a, 1, 1, 1);
		cr_assert_neq(s, HK_NIL);
	}
	cr_assert_eq(a->backing, HK_BACKING_THP, "no dense run was advised THP");
	/* Another one-unit span comes from the dense run's rest; a bigger
	 * span than that rest grows a 4 KiB run, never a dense one. */
	uint32_t t = hk_span_alloc(a, 1, 1, 1);
	cr_assert_eq(t, s + 1, "one-unit spans not cut in order from the dense run");
	big = hk_span_alloc(a, HK_CHUNK_UNITS - 1, 1, 0);
	cr_assert_neq(big, HK_NIL);
	cr_assert_neq(big / HK_CHUNK_UNITS, s / HK_CHUNK_UNITS);
	cr_assert(freed_dense(a, s, 1), "a one-unit span past the threshold is not in a dense run");
	cr_assert(!freed_dense(a, big, HK_CHUNK_UNITS - 1), "a multi-unit span grew a dense run");
	/* A longer slab of small blocks (5120 B blocks take 5 units, core/mid.c)
	 * is cut from a dense run too, not from the 4 KiB run grown for big. */
	uint32_t five = hk_span_alloc(a, 5, 1, 1);
	cr_assert_neq(five, HK_NIL);
	cr_assert(freed_dense(a, five, 5), "a five-unit slab of small blocks is not in a dense run");
	cr_assert(!freed_dense(a, first, 1) || min == 0, "the heap's first span is in a dense run");
	atomic_store(&a->ctr.live[HK_BAND_TINY], 0);
	hk_unlock(&a->lock);
	hk_arena_destroy(a);
}

/* Grows one-unit slab spans in arena a until it holds `runs` bytes of
 * runs, with `live` bytes of small blocks counted live: 1 if the last
 * span grown is in a dense run. Arena lock held. */
static int grown_dense(hk_arena_t *a, size_t runs, size_t live)
{
	atomic_store(&a->ctr.live[HK_BAND_MID], live);
	uint32_t s = HK_NIL;
	while (a->ctr.reserved < runs) {
		s = hk_span_alloc(a, 1, 1, HK_SPAN_SLAB);
		if (s == HK_NIL)
			return -1;
	}
	int dense = freed_dense(a, s, 1);
	atomic_store(&a->ctr.live[HK_BAND_MID], 0);
	return dense;
}

/* An arena whose hugepage policy is AUTO, or the test skipped where the
 * threshold `min` cannot show (no THP, or dense runs from the start). */
static hk_arena_t *threshold_arena(size_t min)
{
	if (CONFIG_HK_THP_NEVER || min == 0 || !thp_madvise())
		cr_skip_test("no THP in this config or kernel, or no threshold");
	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .hugepages = HK_HUGEPAGE_AUTO };
	hk_arena_t *a = hk_arena_create(&cfg);
	cr_assert_not_null(a);
	return a;
}

/* With several lanes refilling, runs past the threshold with few small
 * blocks live stay on 4 KiB pages: each live lane keeps its own partial
 * slabs (core/owner.c), and two threads of 4.5 MB live (mt_mixed 2
 * 3000000 8192 16 1039) grew 10 MiB of runs; a THP run for the last
 * 2 MiB, resident whole, peaked at 1.21x mimalloc's RSS. Half the
 * threshold live here, twice it in runs, two tags held as two lanes. */
Test(rss, runs_past_the_threshold_with_few_small_blocks_live_stay_4k)
{
	size_t min = (size_t)CONFIG_HK_THP_HEAP_MIB << 20;
	hk_arena_t *a = threshold_arena(min);
	unsigned t1 = hk_owner_take(), t2 = hk_owner_take();
	cr_assert(t1 && t2);
	hk_lock(&a->lock);
	int dense = grown_dense(a, 2 * min + HK_CHUNK, min / 2);
	hk_unlock(&a->lock);
	hk_owner_release(t1, 1);
	hk_owner_release(t2, 1);
	hk_arena_destroy(a);
	cr_assert_geq(dense, 0, "no span");
	cr_assert(!dense, "%zu B of runs, %zu B live, two lanes: a dense run", 2 * min, min / 2);
}

/* With one lane, its runs are about its live blocks: past the threshold
 * in runs they are dense however few blocks count live (lua at half
 * scale: 2.1k faults, 3.0k when it waited for 6 MiB live). In a child:
 * there the only lane is the forking thread's (core/owner.c). */
Test(rss, runs_past_the_threshold_with_one_lane_are_dense)
{
	size_t min = (size_t)CONFIG_HK_THP_HEAP_MIB << 20;
	hk_arena_t *a = threshold_arena(min);
	pid_t pid = fork();
	if (pid == 0) {
		if (hk_owner_holders() > 1)
			_exit(3);
		hk_lock(&a->lock);
		int dense = grown_dense(a, min + HK_CHUNK, min / 4);
		hk_unlock(&a->lock);
		_exit(dense < 0 ? 2 : !dense);
	}
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	hk_arena_destroy(a);
	cr_assert(WIFEXITED(st), "the child died");
	cr_assert_neq(WEXITSTATUS(st), 3, "the child had more than one lane holding a tag");
	cr_assert_neq(WEXITSTATUS(st), 2, "no span");
	cr_assert_eq(WEXITSTATUS(st), 0, "%zu B of runs, one lane: no dense run", min);
}

/* A heap of small blocks the size of lua's or perl's (~20 MB; 12 MiB
 * here) gets dense THP runs for its slabs: each 4 KiB first touch costs
 * ~12 us of CPU on this VM, and with runs only from 32 MiB of runs those
 * two took 4.6-5.7k faults where dense runs from 8 MiB took 3.6-4.1k. */
Test(rss, a_program_sized_heap_of_small_blocks_gets_thp_runs)
{
	if (HK_NLANE == 0 || CONFIG_HK_THP_NEVER || !thp_madvise())
		cr_skip_test("no slab classes or no THP here");
	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .hugepages = HK_HUGEPAGE_AUTO };
	hk_arena_t *a = hk_arena_create(&cfg);
	cr_assert_not_null(a);
	hk_arena_stats_t st = { 0 };
	size_t n = 0;
	while (st.committed_bytes < ((size_t)12 << 20)) {
		char *p = hk_arena_malloc(a, 256);
		cr_assert_not_null(p);
		p[0] = 1;
		if (++n % 1024 == 0)
			cr_assert_eq(hk_arena_stats(a, &st), 0);
	}
	cr_assert_eq(st.backing, HK_BACKING_THP,
		     "%zu small blocks (%zu B committed) and no THP run", n, st.committed_bytes);
	hk_arena_destroy(a);
}

/* A POOL block realloc moved is touched through the bytes it copied: once
 * the arena has 4 MiB of POOL blocks live, it comes from a dense THP run
 * when the copy fills half of it or more (a 4 KiB fault costs 10-20 us
 * here). Not before (lua peaked 1.1 MB higher), and not a block grown from
 * a few bytes, whose pages stay untouched until written. Each move below
 * needs a new run (one-chunk runs of 32 units, their spans first fit). */
Test(rss, realloc_moves_dense_blocks_to_thp_runs_in_a_pool_heap)
{
	size_t u = HK_UNIT;
	if (!CONFIG_HK_POOL || CONFIG_HK_THP_NEVER || !thp_madvise() || pool_max() < 18 * u ||
	    hk_small_max() >= 5 * u)
		cr_skip_test("no POOL band or no THP here");
	if (thp_every_chunk())
		cr_skip_test("THP for every chunk in this config or kernel");
	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .hugepages = HK_HUGEPAGE_AUTO };
	hk_arena_t *a = hk_arena_create(&cfg);
	cr_assert_not_null(a);
	hk_arena_stats_t st;
	unsigned char *p = hk_arena_realloc(a, filled(a, 16 * u, 1), 17 * u);
	cr_assert_not_null(p);
	cr_assert_eq(hk_arena_stats(a, &st), 0);
	cr_assert_lt(st.backing, HK_BACKING_THP, "a THP run under 4 MiB of POOL blocks");
	for (int i = 0; i < 4; i++)
		cr_assert_not_null(filled(a, 16 * u, 2));
	cr_assert_not_null(hk_arena_realloc(a, filled(a, 5 * u, 3), 15 * u));
	cr_assert_eq(hk_arena_stats(a, &st), 0);
	cr_assert_lt(st.backing, HK_BACKING_THP, "a THP run for a block the copy filled under half");
	unsigned char *q = hk_arena_realloc(a, p, 18 * u);
	cr_assert_not_null(q);
	cr_assert_neq(q, p, "test layout: grew in place");
	cr_assert(holds(q, 16 * u, 1), "bytes lost");
	cr_assert_eq(hk_arena_stats(a, &st), 0);
	cr_assert_eq(st.backing, HK_BACKING_THP, "a moved block is not in a THP run");
	hk_arena_destroy(a);
}

/* Every slab class of blocks small enough for dense runs (whose pages are
 * resident whole, core/span.c) fills its span to less than a page: one
 * unit of 5120 B blocks left 4 KiB unused (sqlite3's page cache, 1.5 MB
 * of its peak RSS). */
Test(rss, small_block_slabs_leave_no_page_unused)
{
	if (HK_NLANE == 0)
		cr_skip_test("no slab classes in this configuration");
	hk_arena_t *a = private_arena();
	int checked = 0;
	for (unsigned cls = 0; (int)cls <= HK_MID_LAST; cls++) {
		size_t bs = hk_class_size(cls);
		if (bs > HK_SPAN_SMALL_BLOCK)
			break;
		/* The hardened canary's room would take the next class up. */
		void *p = hk_arena_malloc(a, bs - HK_CANARY);
		cr_assert_not_null(p);
		const hk_desc_t *d = hk_desc_of(p);
		if (d && d->kind == HK_KIND_SLAB) { /* not a sampled block */
			cr_assert_eq(d->bsize, bs);
			size_t span = (size_t)hk_desc_at(hk_unit_of((void *)d->start))->units
				      << HK_UNIT_SHIFT;
			cr_assert_lt(span % bs, 4096, "%zu B blocks leave %zu B of a %zu B slab",
				     bs, span % bs, span);
			checked++;
		}
		hk_free(p);
	}
	cr_assert_gt(checked, 0, "every block was a sampled one");
	hk_arena_destroy(a);
}

static size_t resident_bytes(void *p, size_t len)
{
	size_t page = 4096, n = len / page, r = 0;
	unsigned char vec[1024];
	cr_assert_leq(n, sizeof vec);
	cr_assert_eq(mincore(p, len, vec), 0);
	for (size_t i = 0; i < n; i++)
		r += vec[i] & 1;
	return r * page;
}

Test(rss, memory_returns_after_the_purge_delay)
{
	if (!CONFIG_HK_POOL || hk_small_max() >= ((size_t)4 << 20))
		cr_skip_test("no POOL band");
	hk_arena_t *a = private_arena();
	size_t n = (size_t)2 << 20;
	char *p = hk_arena_malloc(a, n);
	cr_assert_not_null(p);
	memset(p, 1, n);
	cr_assert_eq(resident_bytes(p, n), n);
	hk_stats_t st0, st;
	hk_stats_get(&st0);
	hk_free(p);
	/* The purger thread (kicked by the free) or this loop purges it once
	 * it is CONFIG_HK_PURGE_DELAY_MS old: wait for that, at most 10 s. */
	struct timespec ts = { 0, 20 * 1000000L };
	size_t res = n;
	for (int i = 0; i < 500 && res; i++) {
		uint64_t next;
		nanosleep(&ts, NULL);
		hk_purge_run(0, &next);
		res = resident_bytes(p, n);
	}
	cr_assert_eq(res, 0u, "%zu bytes still resident", res);
	hk_stats_get(&st);
	cr_assert_geq(st.purged_bytes - st0.purged_bytes, n);
	hk_arena_destroy(a);
}

static uint64_t populate_calls(void)
{
	hk_os_counters_t c;
	hk_os_counters(&c);
	return c.populate;
}

/* A fresh slab's carve faults in the pages it links blocks on with one
 * call (core/slab.c: a page fault cost 11.4 us of CPU here, a populated
 * page 6-8.5), and no page past them: RSS as without it. After a reset
 * the slab's pages are resident, and carving them again makes no call
 * (d34773f reverted a populate per carve: a per-request arena made a
 * system call per request, 17x slower). */
Test(rss, a_fresh_slab_is_populated_once_and_only_where_carved)
{
	if (HK_NLANE == 0)
		cr_skip_test("no slab classes in this configuration");
	if (hk_platform_page_size() != 4096 || CONFIG_HK_THP_ALWAYS)
		cr_skip_test("not 4 KiB pages");
	hk_arena_t *a = private_arena();
	uint64_t before = populate_calls();
	char *p = hk_arena_malloc(a, 1000);
	cr_assert_not_null(p);
	cr_assert_gt(populate_calls(), before, "the carve populated nothing");
	const hk_desc_t *d = hk_desc_at(hk_unit_of(p));
	cr_assert_eq(d->kind, HK_KIND_SLAB);
	const hk_desc_t *h = hk_desc_at(hk_unit_of((void *)d->start));
	uintptr_t last = h->bump - d->bsize; /* the last block carved */
	size_t pages = ((last - d->start) | 4095) + 1;
	cr_assert_lt(pages, HK_UNIT, "the first carve took the whole slab");
	cr_assert_eq(resident_bytes((void *)d->start, HK_UNIT), pages,
		     "populated past the carve (%zu bytes carved)", (size_t)(h->bump - d->start));
	hk_arena_reset(a);
	before = populate_calls();
	char *q = hk_arena_malloc(a, 1000);
	cr_assert_not_null(q);
	cr_assert_eq(hk_unit_of(q), hk_unit_of(p), "not the same slab again");
	cr_assert_eq(populate_calls(), before, "resident pages populated again");
	hk_arena_destroy(a);
}

/* A slab cut from a span in use before (its pages may be resident: the
 * head that hk_span_alloc hands out says HK_DF_DIRTY) is carved with no
 * call. A reset gives every slab but the class's empty one back to the
 * arena, dirty; the next request takes them again, and a populate of each
 * would be a system call per request on resident pages (d34773f: 17x
 * slower). Two rounds first: the second may still carve pages the first
 * never reached (the kept empty slab's tail). The purger is held off, so
 * no span turns clean meanwhile. */
Test(rss, a_slab_from_a_dirty_span_is_not_populated)
{
	if (HK_NLANE == 0)
		cr_skip_test("no slab classes in this configuration");
	if (hk_platform_page_size() != 4096 || CONFIG_HK_THP_ALWAYS)
		cr_skip_test("not 4 KiB pages");
	enum { N = 256, ROUNDS = 3 }; /* blocks of 1 KiB: 4 slabs of 64 KiB */
	hk_arena_t *a = private_arena();
	uint64_t calls[ROUNDS];
	int got = 1;
	hk_purge_exclude();
	for (int r = 0; r < ROUNDS; r++) {
		uint64_t before = populate_calls();
		for (int i = 0; i < N; i++)
			got &= hk_arena_malloc(a, 1000) != NULL;
		calls[r] = populate_calls() - before;
		hk_arena_reset(a);
	}
	hk_purge_allow();
	cr_assert(got);
	cr_assert_gt(calls[0], 0, "the fresh slabs were not populated");
	cr_assert_eq(calls[ROUNDS - 1], 0, "populate calls by round: %llu %llu %llu",
		     (unsigned long long)calls[0], (unsigned long long)calls[1],
		     (unsigned long long)calls[2]);
	hk_arena_destroy(a);
}

/* A POOL block realloc moves into (dense: the copy writes at least its
 * first half) is faulted in by one call over that half when its span is
 * fresh (core/pool.c: a 128 KiB copy into fresh pages cost 440 us, 242
 * after one populate), and no page past it; on a span used before (dirty:
 * resident, likely) and for any other POOL block, no call. */
Test(rss, a_fresh_span_a_realloc_copies_into_is_populated_half)
{
	if (!CONFIG_HK_POOL || hk_platform_page_size() != 4096 || CONFIG_HK_THP_ALWAYS)
		cr_skip_test("no POOL, or not 4 KiB pages");
	enum { UNITS = 4 };
	hk_arena_t *a = private_arena();
	hk_purge_exclude();
	uint64_t before = populate_calls();
	char *p = hk_pool_alloc(a, UNITS * HK_UNIT, 0, 1);
	cr_assert_not_null(p);
	cr_assert_eq(populate_calls(), before + 1, "the fresh span was not populated once");
	cr_assert_eq(resident_bytes(p, UNITS * HK_UNIT), UNITS * HK_UNIT / 2,
		     "not exactly the copied half resident");
	cr_assert_eq(hk_pool_free(a, hk_desc_of(p), 0), 0);
	before = populate_calls();
	char *q = hk_pool_alloc(a, UNITS * HK_UNIT, 0, 1);
	cr_assert_eq(q, p, "not the freed span again");
	cr_assert_eq(populate_calls(), before, "a dirty span populated");
	char *r = hk_pool_alloc(a, UNITS * HK_UNIT, 0, 0);
	cr_assert_not_null(r);
	cr_assert_eq(populate_calls(), before, "a block no copy fills populated");
	hk_purge_allow();
	hk_arena_destroy(a);
}
