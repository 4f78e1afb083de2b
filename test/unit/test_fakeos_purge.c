/*
 * test/unit/test_fakeos_purge.c — os/purge.c on the fake OS: mode choice
 * (HAKMEM_PURGE, kernel.io_uring_disabled, EPERM / ENOSYS / EOPNOTSUPP at
 * setup), out-of-order completions, failed completions redone with madvise
 * and counted, a full queue, a broken ring, fork. Every queued range gets
 * exactly one done() and its memory reads as zero afterwards.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "os/fake_os.h"
#include "os/os_internal.h"

#define NR 300 /* more than the in-flight slots (256) and the fake SQ (8) */
#define LEN 4096

static unsigned char *mem;
static unsigned char done_count[NR];

static void on_done(void *cookie, void *ctx)
{
	(void)ctx;
	done_count[((unsigned char *)cookie - mem) / LEN]++;
}

static void setup(void)
{
	hk_fake_os_reset();
	hk_os_ring_after = 0; /* the ring at the first purge, unless a test says */
	mem = mmap(NULL, (size_t)NR * LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert(mem != MAP_FAILED);
	memset(mem, 0x77, (size_t)NR * LEN);
	memset(done_count, 0, sizeof done_count);
}

static void teardown(void)
{
	munmap(mem, (size_t)NR * LEN);
}

TestSuite(fakeos_purge, .init = setup, .fini = teardown);

/* Queues ranges [first, first+n), submitting whenever the queue is full. */
static void queue_ranges(int first, int n)
{
	for (int i = first; i < first + n; i++) {
		unsigned char *p = mem + (size_t)i * LEN;
		if (hk_os_purge_queue(p, LEN, p) == EAGAIN) {
			cr_assert_eq(hk_os_purge_submit(on_done, NULL), 0);
			cr_assert_eq(hk_os_purge_queue(p, LEN, p), 0);
		}
	}
}

static void assert_all_done_once(int n)
{
	for (int i = 0; i < n; i++) {
		cr_assert_eq(done_count[i], 1, "range %d delivered %d times", i, done_count[i]);
		cr_assert_eq(mem[(size_t)i * LEN + 100], 0, "range %d not purged", i);
	}
}

static int uring_expected(void)
{
	return CONFIG_HK_IO_URING;
}

Test(fakeos_purge, uring_mode_out_of_order_completions_use_a_free_list)
{
	hk_os_init("uring");
	cr_assert_eq(hk_os_purge_mode(), uring_expected() ? HK_OS_PURGE_IO_URING : HK_OS_PURGE_MADVISE);
	/* Rounds of queue / submit / partial reap, so slots are reused while
	 * others are still in flight, and completions come newest first. */
	for (int round = 0; round < 3; round++) {
		queue_ranges(round * 100, 100);
		cr_assert_eq(hk_os_purge_submit(on_done, NULL), 0);
		if (round == 1)
			cr_assert_eq(hk_os_purge_reap(on_done, NULL), 0);
	}
	cr_assert_eq(hk_os_purge_drain(on_done, NULL), 0);
	assert_all_done_once(NR);
	hk_os_counters_t c;
	hk_os_counters(&c);
	cr_assert_eq(c.purge, NR);
	cr_assert_eq(c.purge_async, uring_expected() ? NR : 0);
	cr_assert_eq(c.purge_fallback, 0);
	if (uring_expected())
		cr_assert(c.purge_batches >= 3 && c.purge_batches < NR, "batched: %lu",
			  (unsigned long)c.purge_batches);
}

Test(fakeos_purge, env_madvise_never_sets_up_a_ring)
{
	hk_os_init("madvise");
	cr_assert_eq(hk_os_purge_mode(), HK_OS_PURGE_MADVISE);
	cr_assert_eq(hk_fake_os_calls(HK_FAKE_URING_INIT), 0);
	cr_assert(strstr(hk_os_caps()->purge_note, "madvise"));
	queue_ranges(0, 10);
	cr_assert_eq(hk_os_purge_submit(on_done, NULL), 0);
	assert_all_done_once(10); /* madvise mode: done() from submit */
	cr_assert_eq(hk_fake_os_calls(HK_FAKE_PURGE), 10);
}

/* With no HAKMEM_PURGE the ring is never set up, however much is purged:
 * it saved no CPU in any measured workload (os/purge.c, README), and the
 * stats say it is the default rather than a refusal. */
Test(fakeos_purge, madvise_is_the_default)
{
	hk_os_init(NULL);
	cr_assert_eq(hk_os_purge_mode(), HK_OS_PURGE_MADVISE);
	cr_assert_eq(hk_os_caps()->io_uring, 0);
	const char *why = CONFIG_HK_IO_URING ? "default" : "CONFIG_HK_IO_URING=n";
	cr_assert(strstr(hk_os_caps()->purge_note, why), "%s", hk_os_caps()->purge_note);
	for (int round = 0; round < 3; round++) {
		memset(done_count, 0, sizeof done_count);
		queue_ranges(0, NR);
		cr_assert_eq(hk_os_purge_drain(on_done, NULL), 0);
		assert_all_done_once(NR);
	}
	cr_assert_eq(hk_fake_os_calls(HK_FAKE_URING_INIT), 0);
	hk_os_counters_t c;
	hk_os_counters(&c);
	cr_assert_eq(c.purge_async, 0);
	cr_assert_eq(hk_os_purge_mode(), HK_OS_PURGE_MADVISE);
}

/* A process (or a fork's child) that never purges sets up no ring: one
 * cost ~90 us of CPU, and git's workload started 32 (os/purge.c). */
Test(fakeos_purge, the_ring_waits_for_the_first_purge)
{
	if (!CONFIG_HK_IO_URING)
		cr_skip_test("no io_uring in this configuration");
	hk_os_init("uring");
	cr_assert_eq(hk_os_purge_mode(), HK_OS_PURGE_IO_URING);
	cr_assert_eq(hk_os_purge_submit(on_done, NULL), 0);
	cr_assert_eq(hk_os_purge_drain(on_done, NULL), 0);
	cr_assert_eq(hk_fake_os_calls(HK_FAKE_URING_INIT), 0, "a ring with nothing to purge");
	queue_ranges(0, 10);
	cr_assert_eq(hk_os_purge_drain(on_done, NULL), 0);
	assert_all_done_once(10);
	cr_assert_eq(hk_fake_os_calls(HK_FAKE_URING_INIT), 1);
	hk_os_atfork_child();
	cr_assert_eq(hk_fake_os_calls(HK_FAKE_URING_INIT), 1, "a ring for a fork's child at once");
	queue_ranges(10, 10);
	cr_assert_eq(hk_os_purge_drain(on_done, NULL), 0);
	assert_all_done_once(20);
	cr_assert_eq(hk_fake_os_calls(HK_FAKE_URING_INIT), 2);
	hk_os_counters_t c;
	hk_os_counters(&c);
	cr_assert_eq(c.purge_async, 20);
}

/* A process that purges a little keeps to madvise: its first
 * hk_os_ring_after bytes go without a ring (one cost a process that purged
 * once 150-280 us of CPU, and saved none at any volume, os/purge.c). */
Test(fakeos_purge, the_ring_waits_until_enough_was_purged)
{
	if (!CONFIG_HK_IO_URING)
		cr_skip_test("no io_uring in this configuration");
	hk_os_ring_after = 3 * LEN;
	hk_os_init("uring");
	queue_ranges(0, 1);
	queue_ranges(2, 1); /* not adjacent: two madvise calls */
	cr_assert_eq(hk_os_purge_drain(on_done, NULL), 0);
	queue_ranges(4, 1);
	cr_assert_eq(hk_os_purge_drain(on_done, NULL), 0);
	cr_assert_eq(hk_fake_os_calls(HK_FAKE_URING_INIT), 0, "a ring after %d bytes", 3 * LEN);
	cr_assert_eq(hk_fake_os_calls(HK_FAKE_PURGE), 3);
	cr_assert_eq(hk_os_purge_mode(), HK_OS_PURGE_IO_URING, "still io_uring mode");
	queue_ranges(6, 1);
	cr_assert_eq(hk_os_purge_drain(on_done, NULL), 0);
	cr_assert_eq(hk_fake_os_calls(HK_FAKE_URING_INIT), 1, "no ring after %d bytes", 3 * LEN);
	hk_os_counters_t c;
	hk_os_counters(&c);
	cr_assert_eq(c.purge_async, 1);
	cr_assert_eq(c.purge_fallback, 0, "the first purges are no fallback");
	for (int i = 0; i < 8; i += 2) {
		cr_assert_eq(done_count[i], 1, "range %d delivered %d times", i, done_count[i]);
		cr_assert_eq(mem[(size_t)i * LEN + 100], 0, "range %d not purged", i);
	}
}

static void setup_refused(int err, const char *word)
{
	hk_fake_os_fail(HK_FAKE_URING_INIT, 1, err);
	hk_os_init("uring");
	queue_ranges(0, 20); /* the first purge sets the ring up */
	cr_assert_eq(hk_os_purge_drain(on_done, NULL), 0);
	assert_all_done_once(20);
	cr_assert_eq(hk_os_purge_mode(), HK_OS_PURGE_MADVISE);
	cr_assert_eq(hk_os_caps()->io_uring, 0);
	if (CONFIG_HK_IO_URING)
		cr_assert(strstr(hk_os_caps()->purge_note, word), "%s", hk_os_caps()->purge_note);
}

Test(fakeos_purge, setup_eperm_means_madvise) { setup_refused(EPERM, "EPERM"); }
Test(fakeos_purge, setup_enosys_means_madvise) { setup_refused(ENOSYS, "ENOSYS"); }
Test(fakeos_purge, no_madvise_op_means_madvise) { setup_refused(EOPNOTSUPP, "IORING_OP_MADVISE"); }

Test(fakeos_purge, io_uring_disabled_sysctl_means_madvise)
{
	hk_fake_os_caps()->io_uring_disabled = 2;
	hk_os_init("uring");
	cr_assert_eq(hk_os_purge_mode(), HK_OS_PURGE_MADVISE);
	/* The first purge (where os.c reads the sysctl) sets up no ring. */
	queue_ranges(0, 20);
	cr_assert_eq(hk_os_purge_drain(on_done, NULL), 0);
	assert_all_done_once(20);
	cr_assert_eq(hk_os_purge_mode(), HK_OS_PURGE_MADVISE);
	cr_assert_eq(hk_os_caps()->io_uring, 0);
	cr_assert_eq(hk_fake_os_calls(HK_FAKE_URING_INIT), 0);
	if (CONFIG_HK_IO_URING)
		cr_assert(strstr(hk_os_caps()->purge_note, "io_uring_disabled=2"), "%s",
			  hk_os_caps()->purge_note);
}

Test(fakeos_purge, failed_completions_are_redone_with_madvise_and_counted)
{
	if (!CONFIG_HK_IO_URING)
		cr_skip_test("no io_uring in this configuration");
	hk_os_init("uring");
	hk_fake_os_fail(HK_FAKE_URING_COMPLETE, 3, EINVAL);
	queue_ranges(0, 50);
	cr_assert_eq(hk_os_purge_drain(on_done, NULL), 0);
	assert_all_done_once(50);
	hk_os_counters_t c;
	hk_os_counters(&c);
	cr_assert_eq(c.purge_fallback, 1);
	cr_assert_eq(c.purge_async, 49);
	cr_assert_eq(hk_fake_os_calls(HK_FAKE_PURGE), 1);
}

Test(fakeos_purge, full_submission_queue_flushes_or_falls_back)
{
	if (!CONFIG_HK_IO_URING)
		cr_skip_test("no io_uring in this configuration");
	hk_os_init("uring");
	hk_fake_os_fail(HK_FAKE_URING_QUEUE, 5, EAGAIN);
	hk_fake_os_fail(HK_FAKE_URING_SUBMIT, 1, EBUSY); /* a transient error */
	queue_ranges(0, 40);
	cr_assert_eq(hk_os_purge_submit(on_done, NULL), 0);
	cr_assert_eq(hk_os_purge_drain(on_done, NULL), 0);
	assert_all_done_once(40);
}

Test(fakeos_purge, broken_ring_is_abandoned_for_madvise)
{
	if (!CONFIG_HK_IO_URING)
		cr_skip_test("no io_uring in this configuration");
	hk_os_init("uring");
	hk_fake_os_fail(HK_FAKE_URING_SUBMIT, 0, EINVAL);
	queue_ranges(0, 30);
	cr_assert_eq(hk_os_purge_submit(on_done, NULL), 0);
	cr_assert_eq(hk_os_purge_drain(on_done, NULL), 0);
	assert_all_done_once(30);
	cr_assert_eq(hk_os_purge_mode(), HK_OS_PURGE_MADVISE);
	queue_ranges(30, 10);
	cr_assert_eq(hk_os_purge_submit(on_done, NULL), 0);
	assert_all_done_once(40);
}

Test(fakeos_purge, fork_child_finishes_the_parents_inflight_ranges)
{
	if (!CONFIG_HK_IO_URING)
		cr_skip_test("no io_uring in this configuration");
	hk_os_init("uring");
	queue_ranges(0, 20);
	/* Queued but not submitted + submitted but not reaped, then "fork". */
	cr_assert_eq(hk_os_purge_submit(on_done, NULL), 0);
	queue_ranges(20, 5);
	hk_os_atfork_child();
	cr_assert_eq(hk_os_purge_mode(), HK_OS_PURGE_IO_URING, "a new ring");
	cr_assert_eq(hk_os_purge_reap(on_done, NULL), 0);
	cr_assert_eq(hk_os_purge_drain(on_done, NULL), 0);
	assert_all_done_once(25);
}

Test(fakeos_purge, fork_child_without_a_ring_uses_madvise)
{
	if (!CONFIG_HK_IO_URING)
		cr_skip_test("no io_uring in this configuration");
	hk_os_init("uring");
	queue_ranges(0, 10);
	cr_assert_eq(hk_os_purge_submit(on_done, NULL), 0);
	hk_fake_os_fail(HK_FAKE_URING_INIT, 1, ENOMEM);
	hk_os_atfork_child();
	queue_ranges(10, 5); /* the child's first purge tries its ring */
	cr_assert_eq(hk_os_purge_drain(on_done, NULL), 0);
	cr_assert_eq(hk_os_purge_mode(), HK_OS_PURGE_MADVISE);
	assert_all_done_once(15);
}

Test(fakeos_purge, synchronous_purge_failure_is_reported)
{
	hk_os_init("madvise");
	hk_fake_os_fail(HK_FAKE_PURGE, 1, EINVAL);
	cr_assert_eq(hk_os_purge(mem, LEN), EINVAL);
	cr_assert_eq(hk_os_purge(mem, LEN), 0);
}

Test(fakeos_purge, queue_full_says_eagain)
{
	hk_os_init("uring");
	int i = 0;
	while (hk_os_purge_queue(mem + (size_t)i * LEN, LEN, mem + (size_t)i * LEN) == 0)
		i++;
	cr_assert_eq(i, 256);
	cr_assert_eq(hk_os_purge_drain(on_done, NULL), 0);
	assert_all_done_once(256);
}

static int null_done;
static void on_null_done(void *cookie, void *ctx)
{
	(void)ctx;
	cr_assert(cookie == NULL || cookie == mem);
	null_done++;
}

Test(fakeos_purge, adjacent_null_cookie_ranges_merge_into_one_madvise)
{
	hk_os_init("madvise");
	null_done = 0;
	for (int i = 0; i < 10; i++) /* touching ranges: one call */
		cr_assert_eq(hk_os_purge_queue(mem + (size_t)i * LEN, LEN, NULL), 0);
	cr_assert_eq(hk_os_purge_queue(mem + 20 * LEN, LEN, NULL), 0); /* a gap */
	cr_assert_eq(hk_os_purge_queue(mem + 21 * LEN, LEN, mem), 0);  /* a cookie */
	cr_assert_eq(hk_os_purge_submit(on_null_done, NULL), 0);
	cr_assert_eq(hk_fake_os_calls(HK_FAKE_PURGE), 3);
	cr_assert_eq(mem[9 * LEN + 5], 0, "the merged range is purged to its end");
	cr_assert_eq(mem[10 * LEN + 5], 0x77, "nothing beyond it");
}

Test(fakeos_purge, merged_ranges_in_flight_complete_once_each)
{
	hk_os_init("uring");
	null_done = 0;
	for (int i = 0; i < 40; i++)
		cr_assert_eq(hk_os_purge_queue(mem + (size_t)i * LEN, LEN, NULL), 0);
	hk_fake_os_fail(HK_FAKE_URING_COMPLETE, 1, EIO); /* and redone by madvise */
	cr_assert_eq(hk_os_purge_drain(on_null_done, NULL), 0);
	cr_assert_eq(null_done, 40);
	cr_assert_eq(mem[39 * LEN], 0);
}

/* A done() that queues the next range, as a purger refilling its batch. */
static void on_done_requeue(void *cookie, void *ctx)
{
	on_done(cookie, ctx);
	unsigned char *next = (unsigned char *)cookie + 100 * LEN;
	if (next < mem + (size_t)NR * LEN)
		cr_assert_eq(hk_os_purge_queue(next, LEN, next), 0);
}

Test(fakeos_purge, done_may_queue_more_ranges)
{
	hk_os_init("uring");
	queue_ranges(0, 100);
	cr_assert_eq(hk_os_purge_drain(on_done_requeue, NULL), 0); /* drains all */
	assert_all_done_once(NR);
}
