/*
 * test/unit/test_hugepage.c — hugepage/ on the real kernel. As root it
 * reserves a few 2 MiB pages (/proc/sys/vm/nr_hugepages + 4) and restores
 * the old value in the suite's fini; as another user the pool tests skip
 * with a message. Checks that HugePages_Free drops, the memory is usable,
 * a purge or decommit gives the pages back, and THP shows in smaps.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hugepage/hugepage.h"
#include "os/os.h"
#include "../common/hugetlb_pool.h"

#define MIB ((size_t)1 << 20)
#define EXTRA 4

static struct hugetlb_pool nr_pool, over_pool;
static int reserved; /* the pool grew by EXTRA pages for this test */

/* Criterion runs .init and .fini in the test's process, so a failed
 * assertion still restores the pool. Tests run in parallel processes, so
 * everything that reserves or counts pool pages is one test (pool), and
 * the flock keeps other programs that resize the pool out meanwhile. */
static void reserve_pool(void)
{
	hugetlb_pool_begin(&nr_pool, HUGETLB_NR_PATH);
	hugetlb_pool_begin(&over_pool, HUGETLB_OVER_PATH);
	long nr = hugetlb_read_long(HUGETLB_NR_PATH);
	reserved = nr >= 0 && hugetlb_pool_set(&nr_pool, nr + EXTRA) == 0;
	/* surplus pages would hide an empty pool */
	if (hugetlb_read_long(HUGETLB_OVER_PATH) > 0)
		hugetlb_pool_set(&over_pool, 0);
}

static void restore_pool(void)
{
	hugetlb_pool_end(&over_pool);
	hugetlb_pool_end(&nr_pool);
	reserved = 0;
}

TestSuite(hugepage_pool, .init = reserve_pool, .fini = restore_pool);
TestSuite(hugepage_real);

static void need_pool(size_t pages)
{
	if (!reserved)
		cr_skip_test("not root: cannot reserve hugetlb pages (run tools/hugepages.sh reserve 2M %d as root)", EXTRA);
	if (hugetlb_meminfo("HugePages_Free") < (long)pages)
		cr_skip_test("the kernel gave fewer than %zu free 2 MiB pages", pages);
	if (!CONFIG_HK_HUGETLB_2M)
		cr_skip_test("CONFIG_HK_HUGETLB_2M=n");
}

static void pool_pages_are_taken_used_and_given_back(void)
{
	hk_hugepage_init("2m");
	void *p = NULL;
	cr_assert_eq(hk_os_reserve(16 * MIB, 2 * MIB, &p), 0);
	long free0 = hugetlb_meminfo("HugePages_Free");
	hk_backing_t b;
	cr_assert_eq(hk_hugepage_commit(p, 4 * MIB, hk_hugepage_default_policy(), 0, &b), 0);
	cr_assert_eq(b, HK_BACKING_2M, "notes: %s", hk_hugepage_notes());
	memset(p, 0x5c, 4 * MIB);
	cr_assert_eq(((unsigned char *)p)[4 * MIB - 1], 0x5c);
	cr_assert_eq(hugetlb_meminfo("HugePages_Free"), free0 - 2, "two pages from the pool");
	cr_assert_eq(hk_hugepage_purge_granule(b), 2 * MIB);
	/* A purge of one hugepage zeroes it (the kernel may keep it reserved). */
	cr_assert_eq(hk_os_purge(p, 2 * MIB), 0);
	cr_assert_eq(((unsigned char *)p)[100], 0);
	cr_assert_eq(hk_hugepage_decommit(p, 4 * MIB, b), 0);
	cr_assert_eq(hugetlb_meminfo("HugePages_Free"), free0, "pages back in the pool");
	cr_assert_eq(hk_os_release(p, 16 * MIB), 0);
}

static void an_exhausted_pool_falls_back_cleanly(void)
{
	hk_hugepage_init("2m");
	long free0 = hugetlb_meminfo("HugePages_Free");
	size_t len = (size_t)(free0 + 1) * 2 * MIB;
	void *p = NULL;
	cr_assert_eq(hk_os_reserve(len, 2 * MIB, &p), 0);
	hk_backing_t b;
	cr_assert_eq(hk_hugepage_commit(p, len, HK_HUGEPAGE_2M, 1, &b), 0);
	cr_assert_neq(b, HK_BACKING_2M);
	cr_assert(strstr(hk_hugepage_notes(), "pool empty"), "%s", hk_hugepage_notes());
	memset(p, 1, len); /* no SIGBUS: the fallback is ordinary memory */
	cr_assert_eq(hugetlb_meminfo("HugePages_Free"), free0);
	cr_assert_eq(hk_os_release(p, len), 0);
}

static void direct_hugetlb_map_aligned_beyond_its_page(void)
{
	hk_hugepage_init("2m");
	void *p = NULL;
	long free0 = hugetlb_meminfo("HugePages_Free");
	cr_assert_eq(hk_os_map(4 * MIB, 64 * MIB, 2 * MIB, &p), 0);
	cr_assert_eq((uintptr_t)p % (64 * MIB), 0);
	memset(p, 3, 4 * MIB); /* reserved pages count as free until touched */
	cr_assert_eq(hugetlb_meminfo("HugePages_Free"), free0 - 2, "exactly len from the pool");
	cr_assert_eq(hk_os_unmap(p, 4 * MIB), 0);
	cr_assert_eq(hugetlb_meminfo("HugePages_Free"), free0);
}

Test(hugepage_pool, pool)
{
	need_pool(2);
	pool_pages_are_taken_used_and_given_back();
	direct_hugetlb_map_aligned_beyond_its_page();
	an_exhausted_pool_falls_back_cleanly();
}

Test(hugepage_real, one_gig_pages_fall_back_with_a_note)
{
	if (!CONFIG_HK_HUGETLB_1G)
		cr_skip_test("CONFIG_HK_HUGETLB_1G=n");
	hk_hugepage_init("1g");
	hk_os_probe_hugetlb(); /* init leaves the pools unread */
	if (hk_os_caps()->hugetlb_1g_free)
		cr_skip_test("this machine has 1 GiB pages reserved");
	size_t len = (size_t)1 << 30;
	void *p = NULL;
	cr_assert_eq(hk_os_reserve(len, len, &p), 0);
	hk_backing_t b;
	cr_assert_eq(hk_hugepage_commit(p, len, HK_HUGEPAGE_1G, 1, &b), 0);
	cr_assert_neq(b, HK_BACKING_1G);
	cr_assert(strstr(hk_hugepage_notes(), "hugetlb-1G"), "%s", hk_hugepage_notes());
	((char *)p)[0] = 1;
	((char *)p)[len - 1] = 1;
	cr_assert_eq(hk_os_release(p, len), 0);
}

Test(hugepage_real, thp_policy_is_visible_in_smaps)
{
	hk_hugepage_init("thp");
	if (hk_os_caps()->thp_mode < HK_OS_THP_MADVISE || CONFIG_HK_THP_NEVER)
		cr_skip_test("THP is off here");
	void *p = NULL;
	cr_assert_eq(hk_os_reserve(8 * MIB, 2 * MIB, &p), 0);
	hk_backing_t b;
	cr_assert_eq(hk_hugepage_commit(p, 8 * MIB, HK_HUGEPAGE_THP, 1, &b), 0);
	cr_assert_eq(b, HK_BACKING_THP);
	memset(p, 1, 8 * MIB);
	long before = hugetlb_meminfo("AnonHugePages");
	cr_assert(before >= 2048, "AnonHugePages %ld kB", before);
	cr_assert_eq(hk_hugepage_decommit(p, 8 * MIB, b), 0);
	cr_assert_eq(hk_os_release(p, 8 * MIB), 0);
}
