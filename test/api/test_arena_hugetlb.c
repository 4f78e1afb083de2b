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
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>

#include "arena_test.h"

#define NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"

static long saved_pool = -1;
static int pool_lock = -1;

static long read_long(const char *path)
{
	long v = -1;
	FILE *f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	int ok = fprintf(f, "%ld\n", v) > 0;
	return (fclose(f) == 0 && ok) ? 0 : -1;
}

static long meminfo(const char *field)
{
	char line[256];
	long v = -1;
	size_t n = strlen(field);
	FILE *f = fopen("/proc/meminfo", "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':')
			v = atol(line + n + 1);
	if (f)
		fclose(f);
	return v;
}

/* Resizes the 2 MiB pool (root only); the old size comes back in .fini. */
static int set_pool(long pages)
{
	if (geteuid() != 0)
		return -1;
	if (saved_pool < 0)
		saved_pool = read_long(NR_HUGEPAGES);
	return write_long(NR_HUGEPAGES, pages);
}

static void restore_pool(void)
{
	if (saved_pool >= 0 && write_long(NR_HUGEPAGES, saved_pool) != 0)
		fprintf(stderr, "test_arena_hugetlb: could not restore %s to %ld\n", NR_HUGEPAGES, saved_pool);
	saved_pool = -1;
}

/* One test at a time reads or resizes the pool (else one saves the size
 * another set, and restores that). */
static void lock_pool(void)
{
	/* The pool's own file: nothing left behind, and flock(1) users agree. */
	pool_lock = open(NR_HUGEPAGES, O_RDONLY | O_CLOEXEC);
	if (pool_lock >= 0)
		flock(pool_lock, LOCK_EX);
}

static void unlock_pool(void)
{
	restore_pool();
	if (pool_lock >= 0)
		close(pool_lock); /* releases the lock */
	pool_lock = -1;
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
	long before = read_long(NR_HUGEPAGES);
	if (before < 0 || set_pool(before + 16) != 0)
		cr_skip_test("cannot resize the 2 MiB pool (not root, or no hugetlb)");
	long free0 = meminfo("HugePages_Free");
	if (free0 < 16)
		cr_skip_test("the kernel reserved only %ld free 2 MiB pages", free0);

	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .hugepages = HK_HUGEPAGE_2M,
				  .name = "hugetlb" };
	hk_arena_t *a = hk_arena_create(&cfg);
	cr_assert_not_null(a);
	char *small = touch_blocks(a, 1024, 2 * MIB);
	char *big = touch_blocks(a, 4 * MIB, 8 * MIB); /* POOL, or a direct mapping */
	hk_arena_stats_t s = arena_stats(a);
	long free1 = meminfo("HugePages_Free");
	cr_assert_eq(s.policy, HK_HUGEPAGE_2M);
	cr_assert_eq(s.backing, HK_BACKING_2M, "backing %d with a reserved pool", s.backing);
	cr_assert_eq(s.fallbacks, 0);
	cr_assert_lt(free1, free0, "the pool's free pages did not move (%ld)", free0);
	cr_assert_eq(kernel_page_kb(small), 2048, "small blocks on %ld kB pages", kernel_page_kb(small));
	cr_assert_eq(kernel_page_kb(big), 2048, "4 MiB blocks on %ld kB pages", kernel_page_kb(big));

	hk_arena_destroy(a);
	cr_assert_eq(meminfo("HugePages_Free"), free0, "destroy gives the hugetlb pages back");
	restore_pool();
	cr_assert_eq(read_long(NR_HUGEPAGES), before, "pool restored");
}

Test(arena_hugetlb, empty_pool_falls_back_and_says_so)
{
	if (meminfo("HugePages_Free") > 0 && set_pool(0) != 0)
		cr_skip_test("2 MiB pages are free and the pool cannot be emptied (not root)");
	if (meminfo("HugePages_Free") > 0)
		cr_skip_test("2 MiB pages still free after emptying the pool");
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
	restore_pool();
}

Test(arena_hugetlb, one_gib_policy_falls_back)
{
	if (access("/sys/kernel/mm/hugepages/hugepages-1048576kB", F_OK) == 0 &&
	    read_long("/sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages") > 0)
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
