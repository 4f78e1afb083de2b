/*
 * test/unit/test_os.c — os/ on the real kernel: reserve, commit, decommit,
 * direct mappings, synchronous and queued purge, the populate probe, errno
 * never changed. Purge through io_uring and through madvise
 * (HAKMEM_PURGE=madvise, and a seccomp filter making io_uring_setup fail
 * with EPERM / ENOSYS) drops RSS; THP advice shows as AnonHugePages in
 * /proc/self/smaps. Fallbacks the kernel cannot be made to take are in
 * test_fakeos_*.c.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "os/os.h"
#include "../common/child.h"

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

/* The probe tells an unknown advice from a range the kernel cannot
 * populate, which gets EINVAL too (core/platform.c): on a kernel that
 * populates a committed page, the probe says the advice is known while a
 * reserved (PROT_NONE) range fails. */
Test(os, populate_probe_tells_the_advice_from_the_range)
{
	void *p = NULL;
	cr_assert_eq(hk_os_reserve((size_t)2 << 20, 4096, &p), 0);
	cr_assert_eq(hk_os_commit(p, 4096), 0);
	int err = hk_os_populate(p, 4096);
	if (err == EINVAL) {
		cr_expect_eq(hk_os_populate_probe(p), EINVAL, "no MADV_POPULATE_WRITE, yet known");
	} else {
		cr_assert_eq(err, 0, "populate of a committed page: %s", strerror(err));
		cr_expect_eq(hk_os_populate_probe(p), 0, "the probe does not know the advice");
		cr_expect_eq(hk_os_populate((char *)p + 4096, 4096), EINVAL,
			     "a PROT_NONE range populated");
	}
	cr_assert_eq(hk_os_release(p, (size_t)2 << 20), 0);
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

/* ---- real-kernel behaviour of purge, THP, the purge modes ------------- */

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "os/os_internal.h"

#define MIB ((size_t)1 << 20)


/* Touches 64 MiB, purges it through the queue, checks RSS and contents. */
static void purge_drops_rss(void)
{
	size_t len = 64 * MIB;
	void *p = NULL;
	cr_assert_eq(hk_os_map(len, 2 * MIB, 0, &p), 0);
	hk_os_advise_thp(p, len, 0); /* 4 KiB pages: RSS counts them exactly */
	memset(p, 0x33, len);
	long before = rss_kib();
	done_count = 0;
	for (size_t off = 0; off < len; off += 8 * MIB)
		cr_assert_eq(hk_os_purge_queue((char *)p + off, 8 * MIB, p), 0);
	cr_assert_eq(hk_os_purge_submit(on_done, NULL), 0);
	cr_assert_eq(hk_os_purge_drain(on_done, NULL), 0);
	cr_assert_eq(done_count, 8);
	long after = rss_kib();
	cr_assert(before - after >= 56 * 1024, "RSS %ld KiB -> %ld KiB", before, after);
	for (size_t off = 0; off < len; off += 4096)
		cr_assert_eq(((unsigned char *)p)[off], 0);
	hk_os_unmap(p, len);
}

/* The first 64 MiB go with plain madvise (os/purge.c hk_os_ring_after),
 * the next through the ring, set up then. */
Test(os_real, io_uring_purge_drops_rss)
{
	hk_os_ring_after = 64 * MIB;
	hk_os_init("uring");
	purge_drops_rss();
	hk_os_counters_t c;
	hk_os_counters(&c);
	cr_assert_eq(c.purge_async, 0, "a ring before 64 MiB were purged");
	cr_assert_eq(c.purge, 8);
	purge_drops_rss();
	if (!CONFIG_HK_IO_URING)
		cr_assert_eq(hk_os_purge_mode(), HK_OS_PURGE_MADVISE);
	else if (hk_os_purge_mode() != HK_OS_PURGE_IO_URING)
		cr_skip_test("io_uring refused here: %s", hk_os_caps()->purge_note);
	hk_os_counters(&c);
	if (CONFIG_HK_IO_URING) {
		cr_assert_eq(c.purge_async, 8, "purged through the ring");
		cr_assert_eq(c.purge_batches, 1, "one submission for the batch");
	}
}

Test(os_real, madvise_mode_by_environment_drops_rss)
{
	hk_os_init("madvise");
	cr_assert_eq(hk_os_purge_mode(), HK_OS_PURGE_MADVISE);
	cr_assert_eq(hk_os_caps()->io_uring, 0);
	purge_drops_rss();
	hk_os_counters_t c;
	hk_os_counters(&c);
	cr_assert_eq(c.purge_async, 0);
	cr_assert_eq(c.purge, 8);
}

/* Makes the kernel answer io_uring_setup with `err`, for this process. */
static void refuse_io_uring(int err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned)err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof f / sizeof *f, .filter = f };
	cr_assert_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	cr_assert_eq(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog), 0);
}

Test(os_real, setup_eperm_from_the_kernel_falls_back_to_madvise)
{
	refuse_io_uring(EPERM);
	hk_os_ring_after = 0;
	hk_os_init("uring");
	purge_drops_rss(); /* the ring is set up by the first purge */
	cr_assert_eq(hk_os_purge_mode(), HK_OS_PURGE_MADVISE);
	if (CONFIG_HK_IO_URING)
		cr_assert(strstr(hk_os_caps()->purge_note, "EPERM"), "%s", hk_os_caps()->purge_note);
}

Test(os_real, setup_enosys_from_the_kernel_falls_back_to_madvise)
{
	refuse_io_uring(ENOSYS);
	hk_os_ring_after = 0;
	hk_os_init("uring");
	purge_drops_rss(); /* the ring is set up by the first purge */
	cr_assert_eq(hk_os_purge_mode(), HK_OS_PURGE_MADVISE);
	if (CONFIG_HK_IO_URING)
		cr_assert(strstr(hk_os_caps()->purge_note, "ENOSYS"), "%s", hk_os_caps()->purge_note);
}

Test(os_real, caps_are_probed)
{
	hk_os_init(NULL);
	const hk_os_caps_t *c = hk_os_caps();
	cr_assert_eq(c->page_size, (size_t)sysconf(_SC_PAGESIZE));
	cr_assert(c->thp_mode >= HK_OS_THP_UNAVAILABLE && c->thp_mode <= HK_OS_THP_ALWAYS);
	cr_assert(c->purge_note && *c->purge_note);
	cr_assert_eq(c->io_uring_disabled, -2, "read at init");
	hk_os_probe_io_uring();
	cr_assert_eq(c->io_uring_disabled, (int)hk_os_read_number("/proc/sys/kernel/io_uring_disabled"));
}

/* The AnonHugePages of the smaps entry that contains p, in KiB. */
static long anon_huge_kib(const void *p)
{
	char line[256];
	long kib = -1;
	int inside = 0;
	FILE *f = fopen("/proc/self/smaps", "r");
	cr_assert(f);
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
		else if (inside && sscanf(line, "AnonHugePages: %ld kB", &kib) == 1)
			break;
	}
	fclose(f);
	return kib;
}

Test(os_real, thp_advice_gives_anon_huge_pages)
{
	hk_os_init(NULL);
	if (hk_os_caps()->thp_mode < HK_OS_THP_MADVISE)
		cr_skip_test("THP is off on this kernel");
	size_t len = 8 * MIB;
	void *p = NULL;
	cr_assert_eq(hk_os_reserve(len, 2 * MIB, &p), 0);
	cr_assert_eq(hk_os_commit(p, len), 0);
	cr_assert_eq(hk_os_advise_thp(p, len, 1), 0);
	memset(p, 1, len);
	long kib = anon_huge_kib(p);
	cr_assert(kib >= 2048, "AnonHugePages %ld kB", kib);
	cr_assert_eq(hk_os_release(p, len), 0);
}

Test(os_real, remap_grows_and_keeps_contents)
{
	hk_os_init(NULL);
	void *p = NULL, *q = NULL;
	cr_assert_eq(hk_os_map(MIB, 4096, 0, &p), 0);
	memset(p, 0x42, MIB);
	cr_assert_eq(hk_os_remap(p, MIB, 8 * MIB, &q), 0);
	cr_assert_eq(((unsigned char *)q)[MIB - 1], 0x42);
	((unsigned char *)q)[8 * MIB - 1] = 1;
	cr_assert_eq(hk_os_unmap(q, 8 * MIB), 0);
}

Test(os_real, hugetlb_map_needs_whole_pages)
{
	hk_os_init(NULL);
	void *p;
	cr_assert_eq(hk_os_map(MIB, 0, 2 * MIB, &p), EINVAL);
}
