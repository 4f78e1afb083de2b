/*
 * test/unit/test_arena_life.c — an arena created and destroyed per script
 * or connection (core/region.c hk_region_park_run): the next arena grows
 * into the destroyed one's committed run with no new page faults, calloc
 * there is zero although the pages are not, an arena that zeroes on reset
 * takes no such run, runs nobody takes go back to the kernel after the
 * purge delay, and the runs kept are bounded. Bounded waits only.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#include "core/arena_table.h"
#include "core/init.h"
#include "core/platform.h"
#include "core/region.h"
#include "core/sizeclass.h"

static void init(void) { cr_assert_eq(hk_init(), 0); }

TestSuite(arena_life, .init = init);

static hk_arena_t *new_arena(unsigned flags)
{
	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .hugepages = HK_HUGEPAGE_NONE,
				  .flags = flags };
	hk_arena_t *a = hk_arena_create(&cfg);
	cr_assert_not_null(a);
	return a;
}

static void skip_unless_parked(void)
{
	if (hk_platform_node_count() > 1)
		cr_skip_test("a local arena's runs are parked on one-node machines only");
	if (CONFIG_HK_PURGE_DELAY_MS == 0)
		cr_skip_test("purge delay 0: the purger takes parked runs back at once");
}

/* The largest block served from an arena's runs (a larger one is a
 * direct mapping): POOL's, else the lanes'. */
static size_t in_runs_max(void)
{
	volatile size_t pool = HK_POOL_MAX; /* 0 without POOL: no constant compare */
	return pool > hk_small_max() ? pool : hk_small_max();
}

/* Sizes of a script's blocks: small, MID and POOL ones (0.8 MB: one run). */
#define NBLOCKS 200
static size_t block_size(int i)
{
	static const size_t sizes[] = { 24, 40, 100, 300, 900, 3000, 9000, 20000 };
	size_t n = sizes[i % (int)(sizeof sizes / sizeof sizes[0])];
	return n <= in_runs_max() ? n : in_runs_max();
}

/* Fills every byte of every block with `fill`; returns the bytes asked. */
static size_t fill_blocks(hk_arena_t *a, void **p, int fill)
{
	size_t bytes = 0;
	for (int i = 0; i < NBLOCKS; i++) {
		p[i] = hk_arena_malloc(a, block_size(i));
		cr_assert_not_null(p[i]);
		memset(p[i], fill, hk_usable_size(p[i]));
		bytes += block_size(i);
	}
	return bytes;
}

static long minor_faults(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

static size_t resident_bytes(void *p, size_t len)
{
	size_t page = 4096, n = len / page, r = 0;
	static unsigned char vec[8192];
	cr_assert_leq(n, sizeof vec);
	cr_assert_eq(mincore(p, len, vec), 0);
	for (size_t i = 0; i < n; i++)
		r += vec[i] & 1;
	return r * page;
}

static size_t run_bytes(uint32_t head)
{
	return ((size_t)hk_desc_at(head)->run_units + HK_RUN_GUARD) << HK_UNIT_SHIFT;
}

/* The heads of an arena's runs (a config without MID cuts a POOL span per
 * block of a few KiB: several runs). */
#define MAX_RUNS 16
static unsigned runs_of(const hk_arena_t *a, uint32_t *runs)
{
	unsigned n = 0;
	for (uint32_t h = a->runs; h != HK_NIL; h = hk_desc_at(h)->run_next) {
		cr_assert_lt(n, MAX_RUNS);
		runs[n++] = h;
	}
	return n;
}

/* Every run of b was one of `runs`. */
static int grew_into(const hk_arena_t *b, const uint32_t *runs, unsigned n)
{
	uint32_t mine[MAX_RUNS];
	unsigned m = runs_of(b, mine);
	for (unsigned i = 0; i < m; i++) {
		unsigned j = 0;
		while (j < n && runs[j] != mine[i])
			j++;
		if (j == n)
			return 0;
	}
	return m > 0;
}

Test(arena_life, next_arena_reuses_the_run_without_faults)
{
	skip_unless_parked();
	static void *p[NBLOCKS];
	uint32_t runs[MAX_RUNS];
	hk_arena_t *a = new_arena(0);
	fill_blocks(a, p, 0x5a);
	unsigned n = runs_of(a, runs);
	size_t resident = 0;
	for (unsigned i = 0; i < n; i++)
		resident += resident_bytes(hk_unit_addr(runs[i]), run_bytes(runs[i]));
	hk_arena_destroy(a);
	cr_assert_eq(hk_region.nparked, n, "%u of %u runs kept", hk_region.nparked, n);

	long before = minor_faults();
	hk_arena_t *b = new_arena(0);
	fill_blocks(b, p, 0x33);
	long faults = minor_faults() - before;
	cr_assert(grew_into(b, runs, n), "the next arena did not take the destroyed one's runs");
	/* Its struct's page and a lane's record may fault; the run's pages
	 * (resident / 4096 of them) must not fault again. */
	cr_assert_lt(faults, (long)(resident / 4096) / 4, "%ld faults for %zu resident bytes",
		     faults, resident);
	hk_arena_destroy(b);
}

Test(arena_life, calloc_from_a_reused_run_is_zero)
{
	skip_unless_parked();
	static void *p[NBLOCKS];
	uint32_t runs[MAX_RUNS];
	hk_arena_t *a = new_arena(0);
	fill_blocks(a, p, 0xff);
	unsigned n = runs_of(a, runs);
	hk_arena_destroy(a);

	hk_arena_t *b = new_arena(0);
	for (int i = 0; i < NBLOCKS; i++) {
		unsigned char *q = hk_arena_calloc(b, 1, block_size(i));
		cr_assert_not_null(q);
		for (size_t j = 0; j < block_size(i); j++)
			cr_assert_eq(q[j], 0, "calloc block %d (%zu bytes): byte %zu is %#x", i,
				     block_size(i), j, q[j]);
	}
	cr_assert(grew_into(b, runs, n), "the calloc blocks were not in reused runs");
	hk_arena_destroy(b);
}

/* Its memory reads zero after every reset, and before the first: it takes
 * fresh runs only. */
Test(arena_life, zero_on_reset_arena_takes_no_dirty_run)
{
	skip_unless_parked();
	static void *p[NBLOCKS];
	uint32_t runs[MAX_RUNS], mine[MAX_RUNS];
	hk_arena_t *a = new_arena(0);
	fill_blocks(a, p, 0xff);
	unsigned n = runs_of(a, runs);
	hk_arena_destroy(a);
	hk_arena_t *b = new_arena(HK_ARENA_ZERO_ON_RESET);
	unsigned char *q = hk_arena_malloc(b, 100);
	cr_assert_not_null(q);
	cr_assert_eq(runs_of(b, mine), 1);
	for (unsigned i = 0; i < n; i++)
		cr_assert_neq(mine[0], runs[i], "a zero-on-reset arena took a dirty run");
	hk_arena_destroy(b);
}

Test(arena_life, untaken_runs_go_back_to_the_kernel)
{
	static void *p[NBLOCKS];
	hk_arena_t *a = new_arena(0);
	fill_blocks(a, p, 0x11);
	uint32_t run = a->runs;
	void *at = hk_unit_addr(run);
	size_t len = run_bytes(run);
	cr_assert_gt(resident_bytes(at, len), 0u);
	hk_stats_t st;
	hk_stats_get(&st);
	size_t committed = st.committed_bytes;
	hk_arena_destroy(a);
	hk_stats_get(&st);
	if (hk_region.nparked)
		cr_assert_geq(st.committed_bytes + HK_RUN_GUARD * HK_UNIT, committed,
			      "a parked run is committed memory: the stats lost it");
	/* The purger (kicked by the destroy) decommits it once it is 5 purge
	 * delays old: wait for that, at most 10 s. */
	size_t res = 0;
	for (int i = 0; i < 1000; i++) {
		res = resident_bytes(at, len);
		if (!res && !hk_region.nparked)
			break;
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	cr_assert_eq(res, 0u, "%zu bytes still resident", res);
	cr_assert_eq(hk_region.nparked, 0);
	hk_stats_get(&st);
	cr_assert_lt(st.committed_bytes, committed, "committed bytes did not drop");
}

/* Arenas destroyed together keep at most HK_PARK_BYTES committed; the rest
 * of their runs are decommitted at once. */
Test(arena_life, parked_runs_are_bounded)
{
	enum { N = 24 };
	hk_arena_t *a[N];
	uint32_t run[N];
	size_t len[N];
	for (int i = 0; i < N; i++) {
		a[i] = new_arena(0);
		/* 1 MiB of one arena's run touched. */
		size_t bs = in_runs_max() < 16384 ? in_runs_max() : 16384;
		for (size_t j = 0; j < ((size_t)1 << 20) / bs; j++) {
			char *q = hk_arena_malloc(a[i], bs);
			cr_assert_not_null(q);
			memset(q, 1, bs);
		}
		run[i] = a[i]->runs;
		len[i] = run_bytes(run[i]);
	}
	for (int i = 0; i < N; i++)
		hk_arena_destroy(a[i]);
	size_t parked = atomic_load(&hk_region.parked_bytes);
	cr_assert_leq(parked, HK_PARK_BYTES);
	cr_assert_leq(hk_region.nparked, HK_PARK_RUNS);
	size_t resident = 0;
	for (int i = 0; i < N; i++)
		resident += resident_bytes(hk_unit_addr(run[i]), len[i]);
	cr_assert_leq(resident, HK_PARK_BYTES, "%zu bytes of destroyed arenas resident",
		      resident);
	cr_assert_gt(N * ((size_t)1 << 20), HK_PARK_BYTES, "the test must overflow the bound");
}
