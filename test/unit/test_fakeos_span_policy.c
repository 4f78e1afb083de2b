/*
 * test/unit/test_fakeos_span_policy.c — which free span a request takes and
 * when the purger returns one, on the fake OS and its clock: dirty spans
 * before clean ones, the lowest address first, and free spans kept past
 * the slabs' delay (bench/frag faulted its purged spans in again, 100 ms
 * later). The purger thread is kept out (hk_purge_exclude) while spans
 * are handled by hand, or parked by a clock far ahead of the real one.
 */
#include <criterion/criterion.h>

#include "core/lock.h"
#include "core/platform.h"
#include "core/purge.h"
#include "core/region.h"
#include "core/span.h"
#include "os/fake_os.h"

#define N 2 /* units per test span */

TestSuite(fakeos_span_policy, .init = hk_fake_os_reset);

static hk_arena_t *private_arena(void)
{
	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .hugepages = HK_HUGEPAGE_NONE };
	hk_arena_t *a = hk_arena_create(&cfg);
	cr_assert_not_null(a);
	return a;
}

/* k live spans, side by side in one fresh run (arena lock held): N units
 * each, N + 1 for span `longer`. 0 when they are not. */
static int take_row(hk_arena_t *a, uint32_t *s, int k, int longer)
{
	for (int i = 0; i < k; i++) {
		uint32_t n = N + (i == longer);
		s[i] = hk_span_alloc(a, n, 1, 0);
		if (s[i] == HK_NIL || (i && s[i] != s[i - 1] + hk_desc_at(s[i - 1])->units))
			return 0;
		hk_span_mark(s[i], n, HK_KIND_POOL, 0, a->index, n * HK_UNIT);
	}
	return 1;
}

static int dirty(uint32_t h)
{
	return (hk_desc_at(h)->flags & HK_DF_DIRTY) != 0;
}

/* The tests assert after unlocking: a failure must not leave the
 * process holding the arena lock and the purge lock at exit. */

/* LIFO lists gave back the span freed last: here the higher one. */
Test(fakeos_span_policy, lowest_free_span_first)
{
	hk_arena_t *a = private_arena();
	uint32_t s[5], r[2];
	hk_purge_exclude();
	hk_lock(&a->lock);
	int row = take_row(a, s, 5, -1);
	if (row) {
		hk_span_free(a, s[1], N, 1000); /* s[2] stays live between them */
		hk_span_free(a, s[3], N, 1000);
		r[0] = hk_span_alloc(a, N, 1, 0);
		r[1] = hk_span_alloc(a, N, 1, 0);
	}
	hk_unlock(&a->lock);
	hk_purge_allow();
	cr_assert(row, "no row of contiguous spans");
	cr_assert_eq(r[0], s[1], "not the lowest free span");
	cr_assert_eq(r[1], s[3]);
	hk_arena_destroy(a);
}

/* One list per length gave back the span put on it last: the purged one.
 * Dirty first also passes over a clean span of the exact length for a
 * longer dirty one. */
Test(fakeos_span_policy, dirty_span_before_a_clean_one)
{
	hk_arena_t *a = private_arena();
	uint32_t s[7], heads[4], units[4], r[3];
	uint64_t next = 0;
	unsigned n = 0;
	int row, was_dirty[2] = { 0, 0 };
	hk_purge_exclude();
	hk_lock(&a->lock);
	row = take_row(a, s, 7, 5);
	if (row) {
		hk_span_free(a, s[1], N, 1000);
		hk_span_free(a, s[3], N, 2000);
		/* Purge what was freed by 1500: s[1] only. */
		n = hk_span_take_dirty(a, 1500, 100, 0, 0, heads, units, 4, &next);
		hk_span_put_clean(a, heads, units, n);
		was_dirty[0] = dirty(s[1]);
		was_dirty[1] = dirty(s[3]);
		r[0] = hk_span_alloc(a, N, 1, 0);
		/* s[1] clean, of the exact length; s[5] dirty, one unit longer. */
		hk_span_free(a, s[5], N + 1, 3000);
		r[1] = hk_span_alloc(a, N, 1, 0);
		r[2] = hk_span_alloc(a, N, 1, 0);
	}
	hk_unlock(&a->lock);
	hk_purge_allow();
	cr_assert(row, "no row of contiguous spans");
	cr_assert_eq(n, 1);
	cr_assert_eq(heads[0], s[1]);
	cr_assert(!was_dirty[0] && was_dirty[1]);
	cr_assert_eq(next, 2000, "s[3]'s stamp is the next one due");
	cr_assert_eq(r[0], s[3], "the clean span was taken first");
	cr_assert_eq(r[1], s[5], "the clean exact fit was taken first");
	cr_assert_eq(r[2], s[1]);
	hk_arena_destroy(a);
}

/* Whether each free list's bit in a->listed says if the list has a span. */
static int listed_bits_agree(hk_arena_t *a)
{
	for (unsigned b = 0; b < HK_SPAN_BUCKETS; b++)
		if ((int)(a->listed[b / 64] >> (b % 64) & 1) != (a->buckets[b] != HK_NIL))
			return 0;
	return 1;
}

/* A fit visits only the lists a->listed marks: spans of lengths 1..K freed
 * between live ones, one per bucket, are each found again at their exact
 * length (a list left unmarked sent its request to the next bucket or to a
 * new run), and the bits follow every push and removal. */
#define K 6
Test(fakeos_span_policy, a_fit_finds_each_marked_list)
{
	hk_arena_t *a = private_arena();
	uint32_t s[2 * K], r[K];
	int row = 1, agree[3] = { 0, 0, 0 };
	size_t reserved = 0, grown = 0;
	hk_purge_exclude();
	hk_lock(&a->lock);
	for (int i = 0; i < 2 * K && row; i++) { /* span i / 2 + 1 units, then a 1-unit one */
		uint32_t n = i % 2 ? 1 : (uint32_t)i / 2 + 1;
		s[i] = hk_span_alloc(a, n, 1, 0);
		row = s[i] != HK_NIL && (!i || s[i] == s[i - 1] + hk_desc_at(s[i - 1])->units);
		if (row)
			hk_span_mark(s[i], n, HK_KIND_POOL, 0, a->index, n * HK_UNIT);
	}
	if (row) {
		reserved = a->ctr.reserved;
		agree[0] = listed_bits_agree(a);
		for (int i = 0; i < K; i++)
			hk_span_free(a, s[2 * i], (uint32_t)i + 1, 1000);
		agree[1] = listed_bits_agree(a);
		for (int i = K; i-- > 0;)
			r[i] = hk_span_alloc(a, (uint32_t)i + 1, 1, 0);
		agree[2] = listed_bits_agree(a) && !a->listed[0];
		grown = a->ctr.reserved - reserved;
	}
	hk_unlock(&a->lock);
	hk_purge_allow();
	cr_assert(row, "no row of contiguous spans");
	cr_assert(agree[0] && agree[1] && agree[2], "list bits: %d %d %d", agree[0], agree[1],
		  agree[2]);
	for (int i = 0; i < K; i++)
		cr_assert_eq(r[i], s[2 * i], "length %d: not its freed span", i + 1);
	cr_assert_eq(grown, 0, "the arena grew");
	hk_arena_destroy(a);
}
#undef K

/* Runs the purger's pass twice at the fake time `ms`: the first look may
 * find the arena busy (spans freed since the last one), the second not. */
static void purge_at(uint64_t ms)
{
	uint64_t next;
	hk_fake_os_set_clock(ms);
	hk_purge_run(0, &next);
	hk_purge_run(0, &next);
}

/* The purge delay, with the fake clock set far ahead of CLOCK_MONOTONIC
 * at *t: the purger thread's timed sleeps never end, and any pass it makes
 * sees the same time as ours. Skips where purges are at once. */
static uint64_t fake_clock_start(uint64_t *t)
{
	uint64_t delay = CONFIG_HK_PURGE_DELAY_MS;
	if (!delay)
		cr_skip_test("purges at once (CONFIG_HK_PURGE_DELAY_MS=0)");
	*t = hk_platform_now_ms() + ((uint64_t)1 << 40);
	hk_fake_os_set_clock(*t);
	return delay;
}

/* At one delay for everything, the free span went back after 100 ms. */
Test(fakeos_span_policy, free_span_outlives_the_slab_delay)
{
	uint64_t t, delay = fake_clock_start(&t);
	hk_arena_t *a = private_arena();
	uint32_t s[3];
	hk_lock(&a->lock);
	int row = take_row(a, s, 3, -1);
	if (row)
		hk_span_free(a, s[1], N, hk_platform_now_ms());
	hk_unlock(&a->lock);
	cr_assert(row, "no row of contiguous spans");
	purge_at(t);
	unsigned long purges = hk_fake_os_calls(HK_FAKE_PURGE) +
			       hk_fake_os_calls(HK_FAKE_URING_QUEUE);
	purge_at(t + delay + 1);
	cr_assert(dirty(s[1]), "purged %llu ms after its free",
		  (unsigned long long)delay + 1);
	purge_at(t + 5 * delay + 1);
	cr_assert(!dirty(s[1]), "still dirty %llu ms after its free",
		  (unsigned long long)(5 * delay + 1));
	cr_assert_eq(hk_desc_at(s[1])->kind, HK_KIND_FREE);
	cr_assert_gt(hk_fake_os_calls(HK_FAKE_PURGE) + hk_fake_os_calls(HK_FAKE_URING_QUEUE),
		     purges, "no purge call");
	hk_fake_os_set_clock(0);
	hk_arena_destroy(a);
}

/* A row of three spans, the middle one (s[1]) freed, then two longer spans
 * taken: new memory, and a new peak of use beyond the freed one. */
static void free_below_a_new_peak(hk_arena_t *a, uint32_t *s)
{
	uint32_t big[2] = { HK_NIL, HK_NIL };
	hk_lock(&a->lock);
	int row = take_row(a, s, 3, 1);
	if (row) {
		hk_span_free(a, s[1], N + 1, hk_platform_now_ms());
		for (int i = 0; i < 2; i++) {
			big[i] = hk_span_alloc(a, 2 * N + 2, 1, 0);
			if (big[i] != HK_NIL)
				hk_span_mark(big[i], 2 * N + 2, HK_KIND_POOL, 0, a->index,
					     (2 * N + 2) * HK_UNIT);
		}
	}
	hk_unlock(&a->lock);
	cr_assert(row, "no row of contiguous spans");
	cr_assert(big[0] != HK_NIL && big[1] != HK_NIL && big[0] != s[1] && big[1] != s[1]);
}

/* The longer wait is for what the arena may take back: a span freed while
 * its arena grows past the peak it had goes after the slab delay. */
Test(fakeos_span_policy, span_beyond_the_recent_peak_goes_early)
{
	uint64_t t, delay = fake_clock_start(&t);
	hk_arena_t *a = private_arena();
	uint32_t s[3];
	purge_at(t); /* the peak's window starts here */
	free_below_a_new_peak(a, s);
	purge_at(t + delay + 1);
	cr_assert(!dirty(s[1]), "kept %llu ms though the arena grew past it",
		  (unsigned long long)delay + 1);
	hk_fake_os_set_clock(0);
	hk_arena_destroy(a);
}

/* An arena's peak is its own: a slot recycled from an arena that peaked
 * high kept that peak for up to two windows, and the new arena's span
 * beyond its own peak waited the long delay. */
Test(fakeos_span_policy, a_recycled_arena_slot_starts_without_a_peak)
{
	uint64_t t, delay = fake_clock_start(&t);
	purge_at(t);
	hk_arena_t *old = private_arena();
	unsigned index = old->index;
	hk_lock(&old->lock);
	uint32_t wide = hk_span_alloc(old, 64 * N, 1, 0);
	hk_unlock(&old->lock);
	cr_assert(wide != HK_NIL);
	hk_arena_destroy(old);
	/* Slots are recycled once the table is full. */
	hk_arena_t *a = NULL;
	for (int i = 0; i < 2 * HK_ARENA_MAX && !a; i++) {
		hk_arena_t *b = private_arena();
		if (b->index == index)
			a = b;
		else
			hk_arena_destroy(b);
	}
	cr_assert_not_null(a, "slot %u never recycled", index);
	uint32_t s[3];
	free_below_a_new_peak(a, s);
	purge_at(t + delay + 1);
	cr_assert(!dirty(s[1]), "kept %llu ms for the slot's last owner's peak",
		  (unsigned long long)delay + 1);
	hk_fake_os_set_clock(0);
	hk_arena_destroy(a);
}
