/*
 * test/unit/test_os.c — os/ on the real kernel: reserve, commit, decommit,
 * direct mappings, synchronous and queued purge. errno is never changed.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "os/os.h"

static void init(void) { hk_os_init(NULL); }

TestSuite(os, .init = init);

Test(os, reserve_commit_decommit_release)
{
	void *p = NULL;
	errno = 1234;
	cr_assert_eq(hk_os_reserve((size_t)64 << 20, (size_t)2 << 20, &p), 0);
	cr_assert_eq((uintptr_t)p % ((size_t)2 << 20), 0, "reservation aligned");
	cr_assert_eq(hk_os_commit(p, (size_t)2 << 20), 0);
	memset(p, 0xab, (size_t)2 << 20);
	cr_assert_eq(hk_os_decommit(p, (size_t)2 << 20), 0);
	cr_assert_eq(hk_os_commit(p, (size_t)2 << 20), 0);
	cr_assert_eq(((unsigned char *)p)[4096], 0, "decommitted memory comes back zeroed");
	cr_assert_eq(hk_os_release(p, (size_t)64 << 20), 0);
	cr_assert_eq(errno, 1234, "errno preserved");
}

Test(os, reserve_failure_is_an_errno_not_errno)
{
	void *p = NULL;
	errno = 77;
	int err = hk_os_reserve((size_t)1 << 62, 4096, &p);
	cr_assert(err == ENOMEM || err == EINVAL, "got %d", err);
	cr_assert_eq(errno, 77);
}

Test(os, aligned_direct_map)
{
	void *p = NULL;
	cr_assert_eq(hk_os_map((size_t)3 << 20, (size_t)4 << 20, 0, &p), 0);
	cr_assert_eq((uintptr_t)p % ((size_t)4 << 20), 0);
	memset(p, 1, (size_t)3 << 20);
	cr_assert_eq(hk_os_unmap(p, (size_t)3 << 20), 0);
}

static int done_count;
static void on_done(void *cookie, void *ctx)
{
	(void)ctx;
	memset(cookie, 0, 0);
	done_count++;
}

Test(os, queued_purge_completes_and_zeroes)
{
	size_t len = (size_t)1 << 20;
	void *p = NULL;
	cr_assert_eq(hk_os_map(len, 4096, 0, &p), 0);
	memset(p, 0x5a, len);
	done_count = 0;
	cr_assert_eq(hk_os_purge_queue(p, len, p), 0);
	cr_assert_eq(hk_os_purge_submit(on_done, NULL), 0);
	cr_assert_eq(hk_os_purge_drain(on_done, NULL), 0);
	cr_assert_eq(done_count, 1, "one completion delivered");
	cr_assert_eq(((unsigned char *)p)[len / 2], 0, "purged memory reads as zero");
	hk_os_unmap(p, len);
}
