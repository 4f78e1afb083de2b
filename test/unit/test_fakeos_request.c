/*
 * test/unit/test_fakeos_request.c — a per-request arena (K blocks, then
 * hk_arena_reset), once warm, makes no memory system call per request: the
 * reset keeps the arena's spans, the next request carves them again. A
 * system call per carve made bench/request 17x slower once (a populate per
 * slab carve, reverted in d34773f), and only a timed benchmark saw it. The
 * purger's calls are left out of the count: they follow the clock, not the
 * requests, and purged pages come back by page fault, not by a call.
 * Populates are counted apart: the first carve of never-touched pages
 * makes them (core/slab.c), rarely once warm, never a carve of pages a
 * reset left resident.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include <hakmem.h>

#include "core/sizeclass.h"
#include "os/fake_os.h"

#define WARM 64       /* requests that may take memory from the OS */
#define REQUESTS 2000 /* requests that must not */

TestSuite(fakeos_request, .init = hk_fake_os_reset);

/* Every kind of call but the purger's (and the io_uring ring it uses). */
static unsigned long memory_calls(void)
{
	unsigned long n = 0;
	for (int k = 0; k < HK_FAKE_NKINDS; k++)
		if (k != HK_FAKE_PURGE && k != HK_FAKE_POPULATE &&
		    (k < HK_FAKE_URING_INIT || k > HK_FAKE_URING_COMPLETE))
			n += hk_fake_os_calls(k); /* a kind added later counts too */
	return n;
}

/* One request: k blocks of 16..256 bytes (the bench/request mix), each
 * written, then the reset. */
static void request(hk_arena_t *a, unsigned k, unsigned *seed)
{
	for (unsigned i = 0; i < k; i++) {
		*seed = *seed * 1103515245u + 12345u;
		size_t n = 16 + (*seed >> 16) % 241;
		unsigned char *p = hk_arena_malloc(a, n);
		cr_assert_not_null(p, "request block %u of %u (%zu bytes)", i, k, n);
		memset(p, (int)i, n);
	}
	hk_arena_reset(a);
}

static void warm_requests_make_no_call(unsigned flags, unsigned k)
{
	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .flags = flags, .name = "request" };
	hk_arena_t *a = hk_arena_create(&cfg);
	cr_assert_not_null(a);
	unsigned seed = 1;
	for (int r = 0; r < WARM; r++)
		request(a, k, &seed);
	unsigned long before = memory_calls(), pop = hk_fake_os_calls(HK_FAKE_POPULATE);
	for (int r = 0; r < REQUESTS; r++)
		request(a, k, &seed);
	unsigned long calls = memory_calls() - before;
	pop = hk_fake_os_calls(HK_FAKE_POPULATE) - pop;
	/* A populate is a page fault's replacement on pages never touched
	 * (core/slab.c): a slab the mix needs for the first time, now and
	 * then; one per carve of pages a reset left resident is the bug. */
	cr_assert_lt(pop, REQUESTS / 100, "%lu populate calls in %d warm requests of %u blocks",
		     pop, REQUESTS, k);
	cr_assert_eq(calls, 0, "%lu memory system calls in %d warm requests of %u blocks "
		     "(flags %#x): commit %lu, advise %lu, map %lu, decommit %lu",
		     calls, REQUESTS, k, flags, hk_fake_os_calls(HK_FAKE_COMMIT),
		     hk_fake_os_calls(HK_FAKE_ADVISE), hk_fake_os_calls(HK_FAKE_MAP),
		     hk_fake_os_calls(HK_FAKE_DECOMMIT));
	hk_arena_destroy(a);
}

Test(fakeos_request, warm_arena_of_4_blocks_makes_no_call)
{
	warm_requests_make_no_call(0, 4);
}

Test(fakeos_request, warm_arena_of_64_blocks_makes_no_call)
{
	warm_requests_make_no_call(0, 64);
}

Test(fakeos_request, warm_arena_of_1024_blocks_makes_no_call)
{
	warm_requests_make_no_call(0, 1024);
}

Test(fakeos_request, warm_bump_arena_makes_no_call)
{
	warm_requests_make_no_call(HK_ARENA_BUMP, 64);
	warm_requests_make_no_call(HK_ARENA_BUMP, 1024);
}

/* 16 fresh slabs of 1 KiB blocks, each carve populating its pages. */
static void carve_fresh_slabs(void)
{
	hk_arena_t *a = hk_arena_create(&(hk_arena_config_t){ .numa_node = HK_NODE_LOCAL });
	cr_assert_not_null(a);
	for (int i = 0; i < 1024; i++) {
		char *p = hk_arena_malloc(a, 1000);
		cr_assert_not_null(p);
		p[999] = 1;
	}
	hk_arena_destroy(a);
	/* Its runs back to the kernel, not kept for the next arena: the
	 * next call's slabs are fresh again (core/region.c parks them). */
	hk_trim(0);
}

static void skip_without_populate(void)
{
	if (HK_NLANE == 0 || CONFIG_HK_THP_ALWAYS)
		cr_skip_test("no slab on 4 KiB pages in this configuration");
}

/* A populate the kernel cannot do (EINVAL, and the advice unknown: before
 * 5.14) or that a seccomp filter refuses (EPERM, ENOSYS) fails the same
 * way every time: the first failure stops the calls (core/platform.c),
 * and the carves fault their pages as before. Calling on was a wasted
 * system call per carve of a fresh slab, for the whole process. */
static void a_refused_populate_is_not_retried(int err, unsigned long probes)
{
	skip_without_populate();
	hk_fake_os_fail(HK_FAKE_POPULATE, 0, err);
	hk_fake_os_fail(HK_FAKE_POPULATE_PROBE, 0, err);
	carve_fresh_slabs();
	cr_assert_eq(hk_fake_os_calls(HK_FAKE_POPULATE), 1, "%lu populate calls after %s",
		     hk_fake_os_calls(HK_FAKE_POPULATE), strerror(err));
	cr_assert_eq(hk_fake_os_calls(HK_FAKE_POPULATE_PROBE), probes, "%lu probes after %s",
		     hk_fake_os_calls(HK_FAKE_POPULATE_PROBE), strerror(err));
}

Test(fakeos_request, populate_einval_of_an_unknown_advice_is_not_retried)
{
	a_refused_populate_is_not_retried(EINVAL, 1);
}

Test(fakeos_request, populate_eperm_is_not_retried)
{
	a_refused_populate_is_not_retried(EPERM, 0);
}

Test(fakeos_request, populate_enosys_is_not_retried)
{
	a_refused_populate_is_not_retried(ENOSYS, 0);
}

/* The kernel also answers EINVAL for a range it cannot populate (read-only,
 * PROT_NONE) while it knows the advice: that failure is the range's, the
 * next carves populate again. The first such EINVAL stopped populating for
 * the whole process. */
Test(fakeos_request, populate_einval_of_a_range_is_counted_and_not_latched)
{
	skip_without_populate();
	hk_fake_os_fail(HK_FAKE_POPULATE, 1, EINVAL);
	hk_os_counters_t c;
	hk_os_counters(&c);
	uint64_t failures = c.failures;
	carve_fresh_slabs();
	cr_assert_gt(hk_fake_os_calls(HK_FAKE_POPULATE), 1,
		     "populating stopped after one range's EINVAL");
	cr_assert_eq(hk_fake_os_calls(HK_FAKE_POPULATE_PROBE), 1, "%lu probes of the advice",
		     hk_fake_os_calls(HK_FAKE_POPULATE_PROBE));
	hk_os_counters(&c);
	cr_assert_eq(c.failures - failures, 1, "the failure was not counted once");
	/* Once known, the advice is not asked about again. */
	unsigned long calls = hk_fake_os_calls(HK_FAKE_POPULATE);
	hk_fake_os_fail(HK_FAKE_POPULATE, 0, EINVAL);
	carve_fresh_slabs();
	cr_assert_gt(hk_fake_os_calls(HK_FAKE_POPULATE), calls + 1, "populating stopped");
	cr_assert_eq(hk_fake_os_calls(HK_FAKE_POPULATE_PROBE), 1, "the advice was asked about again");
}
