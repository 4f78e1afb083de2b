/*
 * test/unit/test_fakeos_hugepage.c — the backing ladder on the fake OS:
 * hugetlb 1G → 2M → THP → 4K, each step reached by making the one above
 * fail, and ENOMEM when even 4 KiB pages fail; nothing leaked (address
 * space and pool pages back where they were), nothing crashed.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "hugepage/hugepage.h"
#include "os/fake_os.h"

#define MIB ((size_t)1 << 20)
#define GIB ((size_t)1 << 30)
/* What a THP request gets in this configuration. */
#define THP_B (CONFIG_HK_THP_NEVER ? HK_BACKING_4K : HK_BACKING_THP)
#define NEED(cfg) do { if (!(cfg)) cr_skip_test("needs " #cfg); } while (0)

static void setup(void)
{
	hk_fake_os_reset();
	hk_os_init(NULL);
	hk_hugepage_init(NULL);
}

TestSuite(fakeos_hugepage, .init = setup);

/* Reserves, commits with `policy`, checks the memory works, decommits,
 * releases: returns the backing and the commit's result. */
static int ladder(size_t len, size_t align, hk_hugepage_policy_t policy, int want_thp,
		  hk_backing_t *backing)
{
	void *p = NULL;
	cr_assert_eq(hk_os_reserve(len, align, &p), 0);
	*backing = HK_BACKING_NONE;
	int err = hk_hugepage_commit(p, len, policy, want_thp, backing);
	if (!err) {
		memset(p, 0x11, len < 8 * MIB ? len : 8 * MIB);
		cr_assert_eq(hk_hugepage_decommit(p, len, *backing), 0);
	}
	cr_assert_eq(hk_os_release(p, len), 0);
	cr_assert_eq(hk_fake_os_mapped_bytes(), 0, "address space leaked");
	return err;
}

Test(fakeos_hugepage, policy_2m_uses_the_pool_and_gives_pages_back)
{
	hk_fake_os_caps()->hugetlb_2m_total = hk_fake_os_caps()->hugetlb_2m_free = 4;
	hk_backing_t b;
	cr_assert_eq(ladder(4 * MIB, 2 * MIB, HK_HUGEPAGE_2M, 0, &b), 0);
	cr_assert_eq(b, HK_BACKING_2M);
	cr_assert_eq(hk_fake_os_caps()->hugetlb_2m_free, 4, "pool pages returned");
	cr_assert_eq(hk_hugepage_fallbacks(), 0);
}

Test(fakeos_hugepage, auto_with_a_pool_uses_2m)
{
	hk_fake_os_caps()->hugetlb_2m_total = hk_fake_os_caps()->hugetlb_2m_free = 1;
	hk_backing_t b;
	cr_assert_eq(ladder(2 * MIB, 2 * MIB, HK_HUGEPAGE_AUTO, 0, &b), 0);
	cr_assert_eq(b, HK_BACKING_2M);
}

Test(fakeos_hugepage, one_gig_unsupported_falls_to_2m_with_a_note)
{
	NEED(CONFIG_HK_HUGETLB_1G);
	hk_fake_os_caps()->hugetlb_2m_total = hk_fake_os_caps()->hugetlb_2m_free = 512;
	hk_backing_t b;
	cr_assert_eq(ladder(GIB, GIB, HK_HUGEPAGE_1G, 0, &b), 0);
	cr_assert_eq(b, HK_BACKING_2M);
	cr_assert(strstr(hk_hugepage_notes(), "hugetlb-1G unsupported"), "%s", hk_hugepage_notes());
	cr_assert_eq(hk_hugepage_fallbacks(), 1);
	cr_assert_eq(hk_fake_os_caps()->hugetlb_2m_free, 512);
}

Test(fakeos_hugepage, one_gig_when_supported_and_reserved)
{
	NEED(CONFIG_HK_HUGETLB_1G);
	hk_os_caps_t *c = hk_fake_os_caps();
	c->hugetlb_1g_supported = 1;
	c->hugetlb_1g_total = c->hugetlb_1g_free = 1;
	hk_backing_t b;
	cr_assert_eq(ladder(GIB, GIB, HK_HUGEPAGE_1G, 0, &b), 0);
	cr_assert_eq(b, HK_BACKING_1G);
	cr_assert_eq(c->hugetlb_1g_free, 1);
}

Test(fakeos_hugepage, one_gig_pool_empty_then_2m_empty_then_thp)
{
	NEED(CONFIG_HK_HUGETLB_1G);
	hk_fake_os_caps()->hugetlb_1g_supported = 1;
	hk_backing_t b;
	cr_assert_eq(ladder(GIB, GIB, HK_HUGEPAGE_1G, 0, &b), 0);
	cr_assert_eq(b, THP_B);
	cr_assert(strstr(hk_hugepage_notes(), "hugetlb-1G pool empty"));
	cr_assert(strstr(hk_hugepage_notes(), "hugetlb-2M pool empty"));
	cr_assert_eq(hk_fake_os_calls(HK_FAKE_COMMIT_HUGETLB), 2);
	cr_assert_eq(hk_fake_os_calls(HK_FAKE_ADVISE), !CONFIG_HK_THP_NEVER);
}

Test(fakeos_hugepage, misaligned_1g_request_skips_1g)
{
	NEED(CONFIG_HK_HUGETLB_1G);
	hk_fake_os_caps()->hugetlb_1g_supported = 1;
	hk_fake_os_caps()->hugetlb_1g_free = 1;
	hk_backing_t b;
	cr_assert_eq(ladder(2 * MIB, 2 * MIB, HK_HUGEPAGE_1G, 0, &b), 0);
	cr_assert_eq(b, THP_B);
	cr_assert(strstr(hk_hugepage_notes(), "not 1 GiB-aligned"));
}

Test(fakeos_hugepage, hugetlb_failure_of_any_errno_falls_back)
{
	hk_fake_os_caps()->hugetlb_2m_total = hk_fake_os_caps()->hugetlb_2m_free = 8;
	hk_fake_os_fail(HK_FAKE_COMMIT_HUGETLB, 1, EAGAIN);
	hk_backing_t b;
	cr_assert_eq(ladder(2 * MIB, 2 * MIB, HK_HUGEPAGE_2M, 0, &b), 0);
	cr_assert_eq(b, THP_B);
	cr_assert_eq(hk_fake_os_caps()->hugetlb_2m_free, 8);
}

Test(fakeos_hugepage, empty_pool_backs_off_instead_of_retrying_each_chunk)
{
	hk_fake_os_caps()->hugetlb_2m_total = 1; /* reserved, all in use */
	hk_backing_t b;
	for (int i = 0; i < 5; i++)
		cr_assert_eq(ladder(2 * MIB, 2 * MIB, HK_HUGEPAGE_AUTO, 0, &b), 0);
	cr_assert_eq(hk_fake_os_calls(HK_FAKE_COMMIT_HUGETLB), 1);
	cr_assert_eq(b, CONFIG_HK_THP_ALWAYS ? THP_B : HK_BACKING_4K, "AUTO without want_thp");
}

Test(fakeos_hugepage, thp_refused_gives_4k)
{
	NEED(!CONFIG_HK_THP_NEVER);
	hk_fake_os_fail(HK_FAKE_ADVISE, 0, EINVAL);
	hk_backing_t b;
	cr_assert_eq(ladder(2 * MIB, 2 * MIB, HK_HUGEPAGE_THP, 1, &b), 0);
	cr_assert_eq(b, HK_BACKING_4K);
	cr_assert(strstr(hk_hugepage_notes(), "MADV_HUGEPAGE refused"));
	cr_assert_eq(hk_hugepage_fallbacks(), 1);
}

Test(fakeos_hugepage, thp_never_on_the_kernel_gives_4k)
{
	hk_fake_os_caps()->thp_mode = HK_OS_THP_NEVER;
	hk_backing_t b;
	cr_assert_eq(ladder(2 * MIB, 2 * MIB, HK_HUGEPAGE_THP, 1, &b), 0);
	cr_assert_eq(b, HK_BACKING_4K);
	cr_assert_eq(hk_fake_os_calls(HK_FAKE_ADVISE), 0);
}

Test(fakeos_hugepage, policy_none_never_asks_for_hugepages)
{
	hk_fake_os_caps()->hugetlb_2m_total = hk_fake_os_caps()->hugetlb_2m_free = 8;
	hk_backing_t b;
	cr_assert_eq(ladder(2 * MIB, 2 * MIB, HK_HUGEPAGE_NONE, 1, &b), 0);
	cr_assert_eq(b, HK_BACKING_4K);
	cr_assert_eq(hk_fake_os_calls(HK_FAKE_COMMIT_HUGETLB), 0);
	cr_assert_eq(hk_fake_os_calls(HK_FAKE_ADVISE), 0);
}

Test(fakeos_hugepage, policy_none_opts_out_of_thp_always)
{
	hk_fake_os_caps()->thp_mode = HK_OS_THP_ALWAYS;
	hk_backing_t b;
	cr_assert_eq(ladder(2 * MIB, 2 * MIB, HK_HUGEPAGE_NONE, 0, &b), 0);
	cr_assert_eq(b, HK_BACKING_4K);
	cr_assert_eq(hk_fake_os_calls(HK_FAKE_ADVISE), 1);
}

Test(fakeos_hugepage, commit_failure_is_enomem_and_the_range_stays_reserved)
{
	hk_fake_os_caps()->hugetlb_2m_total = hk_fake_os_caps()->hugetlb_2m_free = 0;
	hk_fake_os_fail(HK_FAKE_COMMIT, 1, ENOMEM);
	hk_backing_t b;
	cr_assert_eq(ladder(2 * MIB, 2 * MIB, HK_HUGEPAGE_AUTO, 1, &b), ENOMEM);
	cr_assert_eq(b, HK_BACKING_NONE);
	/* The next commit works again. */
	cr_assert_eq(ladder(2 * MIB, 2 * MIB, HK_HUGEPAGE_AUTO, 1, &b), 0);
}

Test(fakeos_hugepage, every_step_failing_ends_in_enomem)
{
	hk_os_caps_t *c = hk_fake_os_caps();
	c->hugetlb_1g_supported = 1;
	c->hugetlb_1g_free = c->hugetlb_2m_free = c->hugetlb_2m_total = 1024;
	hk_fake_os_fail(HK_FAKE_COMMIT_HUGETLB, 0, ENOMEM);
	hk_fake_os_fail(HK_FAKE_COMMIT, 0, ENOMEM);
	hk_backing_t b;
	cr_assert_eq(ladder(GIB, GIB, HK_HUGEPAGE_1G, 1, &b), ENOMEM);
	cr_assert_eq(c->hugetlb_1g_free, 1024);
	cr_assert_eq(c->hugetlb_2m_free, 1024);
}

Test(fakeos_hugepage, direct_map_ladder)
{
	void *p;
	hk_backing_t b;
	hk_fake_os_caps()->hugetlb_2m_total = hk_fake_os_caps()->hugetlb_2m_free = 2;
	cr_assert_eq(hk_hugepage_map(4 * MIB, 4 * MIB, HK_HUGEPAGE_2M, &p, &b), 0);
	cr_assert_eq(b, HK_BACKING_2M);
	cr_assert_eq((uintptr_t)p % (4 * MIB), 0);
	cr_assert_eq(hk_fake_os_caps()->hugetlb_2m_free, 0);
	void *q;
	cr_assert_eq(hk_hugepage_map(4 * MIB, 4096, HK_HUGEPAGE_2M, &q, &b), 0);
	cr_assert_eq(b, THP_B, "pool empty: THP");
	cr_assert_eq(hk_os_unmap(p, 4 * MIB), 0);
	cr_assert_eq(hk_os_unmap(q, 4 * MIB), 0);
	cr_assert_eq(hk_fake_os_caps()->hugetlb_2m_free, 2);
	hk_fake_os_fail(HK_FAKE_MAP, 0, ENOMEM);
	cr_assert_eq(hk_hugepage_map(4 * MIB, 4096, HK_HUGEPAGE_AUTO, &q, &b), ENOMEM);
	cr_assert_eq(hk_fake_os_mapped_bytes(), 0);
}

Test(fakeos_hugepage, reserve_failure_is_an_errno)
{
	void *p;
	hk_fake_os_fail(HK_FAKE_RESERVE, 1, ENOMEM);
	cr_assert_eq(hk_os_reserve(64 * MIB, 2 * MIB, &p), ENOMEM);
	cr_assert_eq(hk_fake_os_mapped_bytes(), 0);
	cr_assert_eq(hk_os_reserve(64 * MIB, 2 * MIB, &p), 0, "only the 1st call fails");
	cr_assert_eq(hk_os_release(p, 64 * MIB), 0);
}

Test(fakeos_hugepage, purge_granule_follows_the_backing)
{
	cr_assert_eq(hk_hugepage_purge_granule(HK_BACKING_4K), 4096);
	cr_assert_eq(hk_hugepage_purge_granule(HK_BACKING_THP), 2 * MIB);
	cr_assert_eq(hk_hugepage_purge_granule(HK_BACKING_2M), 2 * MIB);
	cr_assert_eq(hk_hugepage_purge_granule(HK_BACKING_1G), GIB);
}

Test(fakeos_hugepage, env_words)
{
	cr_assert_eq(hk_hugepage_parse(NULL), HK_HUGEPAGE_AUTO);
	cr_assert_eq(hk_hugepage_parse("auto"), HK_HUGEPAGE_AUTO);
	cr_assert_eq(hk_hugepage_parse("off"), HK_HUGEPAGE_NONE);
	cr_assert_eq(hk_hugepage_parse("thp"), HK_HUGEPAGE_THP);
	cr_assert_eq(hk_hugepage_parse("2m"), HK_HUGEPAGE_2M);
	cr_assert_eq(hk_hugepage_parse("1g"), HK_HUGEPAGE_1G);
	cr_assert_eq(hk_hugepage_parse("banana"), HK_HUGEPAGE_AUTO);
	cr_assert(strstr(hk_hugepage_notes(), "HAKMEM_HUGEPAGES"));
	hk_hugepage_init("thp");
	cr_assert_eq(hk_hugepage_default_policy(), HK_HUGEPAGE_THP);
}
