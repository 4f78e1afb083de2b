/*
 * test/api/test_arena_hugetlb.c — the hugepage policies of an arena: with a
 * reserved 2 MiB pool, HK_HUGEPAGE_2M uses hugetlb pages (stats, the pool's
 * free count, the mapping's page size); with an empty pool it falls back and
 * says so in the stats; 1 GiB falls back where the CPU or pool lacks them.
 * As root it resizes /proc/sys/vm/nr_hugepages and restores it (.fini runs
 * even when a test fails); otherwise the pool-changing tests skip. Criterion
 * runs tests in parallel processes: a file lock keeps them one at a time.
 */
#include <errno.h>

#include "../common/hugetlb_pool.h"
#include "arena_test.h"

static struct hugetlb_pool pool, over; /* nr_hugepages, nr_overcommit_hugepages */

/* One test at a time reads or resizes the pool (else one saves the size
 * another set, and restores that); the old size comes back in .fini. */
static void lock_pool(void)
{
	hugetlb_pool_begin(&pool, HUGETLB_NR_PATH);
	hugetlb_pool_begin(&over, HUGETLB_OVER_PATH); /* always after pool's lock */
}

static void unlock_pool(void)
{
	hugetlb_pool_end(&over);
	hugetlb_pool_end(&pool);
}

TestSuite(arena_hugetlb, .init = lock_pool, .fini = unlock_pool);

/* The kernel page size of the mapping holding p, from /proc/self/smaps. */
static long kernel_page_kb(const void *p)
{
	char line[256];
	long kb = -1;
	int inside = 0;
	FILE *f = fopen("/proc/self/smaps", "r");
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
		else if (inside && sscanf(line, "KernelPageSize: %ld kB", &kb) == 1)
			break;
	}
	if (f)
		fclose(f);
	return kb;
}

/* Allocates and touches `size` blocks until they offer `total` usable
 * bytes (counted in usable bytes: without Tiny, small blocks are 64 KiB). */
static char *touch_blocks(hk_arena_t *a, size_t size, size_t total)
{
	char *first = NULL;
	for (size_t done = 0; done < total;) {
		char *p = hk_arena_malloc(a, size);
		cr_assert_not_null(p, "errno %d", errno);
		memset(p, 3, size);
		done += hk_usable_size(p);
		if (!first)
			first = p;
	}
	return first;
}

Test(arena_hugetlb, reserved_pool_gives_hugetlb_pages)
{
	long before = hugetlb_read_long(HUGETLB_NR_PATH);
	if (before < 0 || hugetlb_pool_set(&pool, before + 16) != 0)
		cr_skip_test("cannot resize the 2 MiB pool (not root, or no hugetlb)");
	long free0 = hugetlb_meminfo("HugePages_Free");
	if (free0 < 16)
		cr_skip_test("the kernel reserved only %ld free 2 MiB pages", free0);

	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .hugepages = HK_HUGEPAGE_2M,
				  .name = "hugetlb" };
	hk_arena_t *a = hk_arena_create(&cfg);
	cr_assert_not_null(a);
	char *small = touch_blocks(a, 1024, 2 * MIB);
	char *big = touch_blocks(a, 4 * MIB, 8 * MIB); /* POOL, or a direct mapping */
	hk_arena_stats_t s = arena_stats(a);
	long free1 = hugetlb_meminfo("HugePages_Free");
	cr_assert_eq(s.policy, HK_HUGEPAGE_2M);
	cr_assert_eq(s.backing, HK_BACKING_2M, "backing %d with a reserved pool", s.backing);
	cr_assert_eq(s.fallbacks, 0);
	cr_assert_lt(free1, free0, "the pool's free pages did not move (%ld)", free0);
	cr_assert_eq(kernel_page_kb(small), 2048, "small blocks on %ld kB pages", kernel_page_kb(small));
	cr_assert_eq(kernel_page_kb(big), 2048, "4 MiB blocks on %ld kB pages", kernel_page_kb(big));

	hk_arena_destroy(a);
	cr_assert_eq(hugetlb_meminfo("HugePages_Free"), free0, "destroy gives the hugetlb pages back");
	hugetlb_pool_restore(&pool);
	cr_assert_eq(hugetlb_read_long(HUGETLB_NR_PATH), before, "pool restored");
}

Test(arena_hugetlb, empty_pool_falls_back_and_says_so)
{
	if (hugetlb_meminfo("HugePages_Free") > 0 && hugetlb_pool_set(&pool, 0) != 0)
		cr_skip_test("2 MiB pages are free and the pool cannot be emptied (not root)");
	if (hugetlb_meminfo("HugePages_Free") > 0)
		cr_skip_test("2 MiB pages still free after emptying the pool");
	/* Surplus pages would fill the empty pool on demand. */
	if (hugetlb_read_long(HUGETLB_OVER_PATH) > 0 && hugetlb_pool_set(&over, 0) != 0)
		cr_skip_test("surplus 2 MiB pages are allowed (nr_overcommit_hugepages) and cannot be forbidden");
	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .hugepages = HK_HUGEPAGE_2M,
				  .name = "no-pool" };
	hk_arena_t *a = hk_arena_create(&cfg);
	cr_assert_not_null(a, "an empty pool is not an error");
	char *p = touch_blocks(a, 1024, 4 * MIB);
	hk_arena_stats_t s = arena_stats(a);
	cr_assert(s.backing == HK_BACKING_THP || s.backing == HK_BACKING_4K,
		  "backing %d without a pool", s.backing);
	cr_assert_geq(s.fallbacks, 1, "the fallback is counted");
	cr_assert_eq(s.policy, HK_HUGEPAGE_2M, "the policy asked for is still reported");
	cr_assert_neq(kernel_page_kb(p), 2048);
	hk_arena_destroy(a);
	hugetlb_pool_restore(&over);
	hugetlb_pool_restore(&pool);
}

Test(arena_hugetlb, one_gib_policy_falls_back)
{
	if (access("/sys/kernel/mm/hugepages/hugepages-1048576kB", F_OK) == 0 &&
	    hugetlb_read_long("/sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages") > 0)
		cr_skip_test("1 GiB pages are reserved here: not a fallback case");
	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .hugepages = HK_HUGEPAGE_1G,
				  .name = "1g" };
	hk_arena_t *a = hk_arena_create(&cfg);
	cr_assert_not_null(a);
	touch_blocks(a, 1024, 4 * MIB);
	hk_arena_stats_t s = arena_stats(a);
	cr_assert_neq(s.backing, HK_BACKING_1G);
	cr_assert_neq(s.backing, HK_BACKING_NONE);
	cr_assert_geq(s.fallbacks, 1, "the fallback is counted");
	hk_arena_destroy(a);
}
