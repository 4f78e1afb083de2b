/*
 * core/sample.c — the one sampler behind the guard and the heap profiler.
 * Each lane counts down the bytes its thread allocates on slow paths
 * (malloc_slow), and each default-heap bin the blocks hk_malloc's fast path
 * pops from it (in the bin's room word: core/types.h); below zero,
 * hk_sample_take draws the next interval (mean: the profiling rate while
 * profiling, else HAKMEM_GUARD_RATE), so a block of size s is sampled with
 * probability 1 - exp(-s/rate) whatever the sizes around it (what pprof
 * un-samples). Must not allocate through malloc. Invariant: see
 * core/sample.h (a sampled block never takes the free fast path).
 */
#include <stdlib.h>

#include "core/arena.h"
#include "core/base.h"
#include "core/guard.h"
#include "core/lane.h"
#include "core/platform.h"
#include "core/profile.h"
#include "core/sample.h"
#include "core/sizeclass.h"
#include "core/stack.h"
#include "core/statlog.h"

#define GUARD_RATE_DEFAULT ((size_t)64 << 20)
/* Neither guard nor profiler: the countdown still runs out now and then
 * (once per 64 MiB a thread allocates), which is when a thread notices that
 * hk_profile_start turned the profiler on. */
#define IDLE_INTERVAL ((int64_t)64 << 20)

static size_t guard_rate = GUARD_RATE_DEFAULT;
static void bin_start(hk_lane_t *l, unsigned bin);
_Atomic size_t hk_sample_outside;

/* hk_arena_forget: a reset or destroy freed the arena's sampled blocks. */
static void forget_arena(unsigned arena)
{
	size_t n = hk_profile_forget(arena);
	if (n)
		atomic_fetch_sub_explicit(&hk_sample_outside, n, memory_order_relaxed);
}

HK_ENTRY int hk_sample_free(void *p)
{
	int guarded = hk_guard_owns(p);
	if (hk_profile_remove(p) && !guarded)
		atomic_fetch_sub_explicit(&hk_sample_outside, 1, memory_order_relaxed);
	if (guarded)
		hk_guard_free(p);
	return guarded;
}

void hk_sample_init(const char *(*get)(const char *name))
{
	const char *g = get("HAKMEM_GUARD_RATE");
	if (!CONFIG_HK_SAMPLE)
		return;
	hk_lane_bin_start = bin_start;
	guard_rate = hk_env_size("HAKMEM_GUARD_RATE", g, GUARD_RATE_DEFAULT);
	hk_profile_init(get);
	if (CONFIG_HK_PROFILE && hk_profile_rate())
		atomic_store_explicit(&hk_arena_forget, forget_arena, memory_order_release);
	hk_statlog_init(get);
}

/* ln(x) for 0 < x <= 1 without libm: x = m * 2^e with m in [1, 2), and
 * ln m = 2 atanh((m-1)/(m+1)) by its series (|s| <= 1/3: error < 1e-6). */
static double ln(double x)
{
	union { double d; uint64_t u; } v = { .d = x };
	int e = (int)((v.u >> 52) & 0x7ff) - 1023;
	v.u = (v.u & ((1ull << 52) - 1)) | (1023ull << 52);
	double s = (v.d - 1) / (v.d + 1), s2 = s * s;
	double series = s * (2 + s2 * (2.0 / 3 + s2 * (2.0 / 5 + s2 * (2.0 / 7 + s2 * (2.0 / 9)))));
	return e * 0.6931471805599453 + series;
}

/* The lane's next random 64 bits (xorshift64*), seeded apart for each
 * thread that uses the lane (a recycled lane's count of retirements). */
static uint64_t rng_next(hk_lane_t *l)
{
	hk_cache_t *c = hk_lane_cache(l, 0);
	uint64_t x = c->sample_rng;
	if (!x)
		x = (hk_secret ^ (uintptr_t)l ^ c->retired * 0x9e3779b97f4a7c15ull) | 1;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	c->sample_rng = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Uniform in (0, 1]. */
static double uniform(hk_lane_t *l)
{
	return (double)((rng_next(l) >> 11) + 1) * (1.0 / 9007199254740992.0);
}

/* An exponential interval of mean `mean` bytes. */
static int64_t interval(hk_lane_t *l, size_t mean)
{
	double n = -ln(uniform(l)) * (double)mean;
	return n > 4e18 ? INT64_MAX : (int64_t)n + 1;
}

/* 1 - e^-x for x >= 0 without libm: the series of e^-y - 1 for y = x / 2^n
 * <= 1/16 (error < y^6/720 relative), squared up n times as m(m + 2) (no
 * cancellation for small x, where the ratio below needs the digits). */
static double one_minus_exp(double x)
{
	int n = 0;
	if (x > 40)
		return 1;
	for (; x > 0.0625; n++)
		x *= 0.5;
	double m = -x * (1 - x / 2 * (1 - x / 3 * (1 - x / 4 * (1 - x / 5))));
	for (; n; n--)
		m = m * (m + 2);
	return -m;
}

/* Most pops a bin's countdown holds (its count has 40 signed bits). */
#define POPS_MAX ((int64_t)1 << 38)

/* Pops of blocks of `csize` bytes that pass before the next one is picked,
 * each picked with probability 1 - e^(-csize/mean): geometric, as the
 * bytes of the exponential interval above cover whole blocks. */
static int64_t pops(hk_lane_t *l, size_t mean, size_t csize)
{
	double k = -ln(uniform(l)) * (double)mean / (double)csize;
	return k >= (double)POPS_MAX ? POPS_MAX : (int64_t)k;
}

/* While profiling, samples come every `prate` bytes: the guard takes one
 * in guard_rate / prate of them, so it keeps its own rate (and the rest
 * stay off its system calls), or every one when it asks for more. */
static int guard_pick(hk_lane_t *l, size_t prate)
{
	if (!guard_rate)
		return 0;
	if (guard_rate <= prate)
		return 1;
	return (double)(rng_next(l) >> 11) * (1.0 / 9007199254740992.0) <
	       (double)prate / (double)guard_rate;
}

static void reset(hk_lane_t *l, size_t prate)
{
	size_t mean = prate ? prate : guard_rate;
	hk_lane_cache(l, 0)->sample_left = mean ? interval(l, mean) : IDLE_INTERVAL;
}

/* Default-heap bin `bin` of lane l counts down a fresh interval (its count
 * of pops kept: core/types.h). Any moment may start one: the draw is
 * memoryless. */
static void bin_draw(hk_lane_t *l, unsigned bin, size_t mean)
{
	uint64_t allocs = hk_bin_allocs(l, bin);
	int64_t k = pops(l, mean ? mean : (size_t)IDLE_INTERVAL, hk_class_size(bin / HK_BIN_WORDS));
	l->room[bin] = (l->room[bin] & HK_ROOM_MASK) | (int64_t)((uint64_t)k << HK_ROOM_BITS);
	HK_DRAWN(l, bin) = allocs + (uint64_t)k;
}

/* hk_lane_bin_start: a default-heap bin of live lane l is set up. */
static void bin_start(hk_lane_t *l, unsigned bin)
{
	size_t prate = hk_profile_rate();
	/* The lane's first draw: its byte countdown too, which otherwise
	 * starts at 0 (hk_sample_take's `first`, as if drawn now). */
	if (!hk_lane_cache(l, 0)->sample_rng)
		reset(l, prate);
	bin_draw(l, bin, prate ? prate : guard_rate);
}

/*
 * hk_malloc's pop from default-heap bin `bin` took its countdown below 0:
 * undoes the pop's add (nothing was popped: the caller serves the block on
 * the slow path), draws the bin's next interval and says whether this
 * block is sampled. The interval is drawn for the class size, so the block
 * is kept with (1 - e^(-size/rate)) / (1 - e^(-csize/rate)): picked with
 * 1 - e^(-size/rate) in all, as by the byte countdown.
 */
static int bin_due(hk_lane_t *l, unsigned bin, size_t size, size_t prate)
{
	size_t mean = prate ? prate : guard_rate;
	size_t csize = hk_class_size(bin / HK_BIN_WORDS);
	l->room[bin] -= HK_ROOM_POP;
	bin_draw(l, bin, mean);
	hk_statlog_kick();
	if (!mean || size >= csize)
		return mean != 0;
	return uniform(l) * one_minus_exp((double)csize / (double)mean) <=
	       one_minus_exp((double)size / (double)mean);
}

void hk_sample_reset_self(void)
{
	hk_lane_t *l = hk_lane_self;
	size_t prate = hk_profile_rate();
	/* Records exist from now on: resets and destroys drop an arena's. */
	if (CONFIG_HK_PROFILE && prate)
		atomic_store_explicit(&hk_arena_forget, forget_arena, memory_order_release);
	if (CONFIG_HK_SAMPLE && l->state == HK_LANE_LIVE) {
		size_t mean = prate ? prate : guard_rate;
		reset(l, prate);
		for (uint64_t m = hk_lane_cache(l, 0)->classes; m; m &= m - 1)
			bin_draw(l, hk_bin_of(0, (unsigned)__builtin_ctzll(m)), mean);
	}
}

HK_ENTRY __attribute__((noinline)) int hk_sample_take(hk_lane_t *l, size_t size, size_t bin,
						     void **out)
{
	void *stack[HK_STACK_MAX];
	size_t prate = hk_profile_rate();
	int first = !hk_lane_cache(l, 0)->sample_rng;
	*out = NULL;
	if (hk_stack_capturing()) /* the unwinder's own malloc */
		return HK_SAMPLE_NONE;
	if (bin != HK_SAMPLE_BYTES) {
		if (!bin_due(l, (unsigned)bin, size, prate))
			return HK_SAMPLE_NONE;
		goto picked;
	}
	reset(l, prate);
	hk_statlog_kick();
	if (!prate && !guard_rate)
		return HK_SAMPLE_NONE;
	/* A new lane's countdown starts at 0, so its first malloc comes here
	 * whatever its size: it draws the first interval and is sampled only
	 * when that interval ends inside it, as a running countdown would do
	 * (with HAKMEM_GUARD_RATE=1, a thread's first block is guarded too). */
	if (first) {
		int64_t left = hk_lane_cache(l, 0)->sample_left - (int64_t)size;
		if (left >= 0) {
			hk_lane_cache(l, 0)->sample_left = left;
			return HK_SAMPLE_NONE;
		}
		reset(l, prate);
	}
picked:
	hk_profile_poll();
	if (size > hk_platform_page_size())
		return prate ? HK_SAMPLE_RECORD : HK_SAMPLE_NONE;
	int depth = hk_stack_capture(stack, HK_STACK_MAX, prate != 0);
	void *p = hk_guard_alloc(size, stack, depth, !prate || guard_pick(l, prate));
	if (!p)
		return prate ? HK_SAMPLE_RECORD : HK_SAMPLE_NONE;
	if (prate)
		hk_profile_add(p, size, stack, depth, 0);
	*out = p;
	return HK_SAMPLE_DONE;
}

HK_ENTRY __attribute__((noinline)) void hk_sample_record(void *p, size_t size, unsigned arena)
{
	void *stack[HK_STACK_MAX];
	if (hk_stack_capturing())
		return;
	int depth = hk_stack_capture(stack, HK_STACK_MAX, 1);
	if (hk_profile_add(p, size, stack, depth, arena) == 0)
		atomic_fetch_add_explicit(&hk_sample_outside, 1, memory_order_relaxed);
}

HK_ENTRY int hk_sample_count(size_t size)
{
	size_t prate = hk_profile_rate();
	hk_lane_t *l;
	if (!prate || !(l = hk_lane_get()))
		return 0;
	int64_t n = size < ((size_t)1 << 62) ? (int64_t)size : (int64_t)1 << 62;
	if ((hk_lane_cache(l, 0)->sample_left -= n) >= 0)
		return 0;
	int first = !hk_lane_cache(l, 0)->sample_rng;
	reset(l, prate);
	hk_statlog_kick();
	if (first) {
		/* As hk_sample_take: the first interval may end after this block. */
		int64_t left = hk_lane_cache(l, 0)->sample_left - n;
		if (left >= 0) {
			hk_lane_cache(l, 0)->sample_left = left;
			return 0;
		}
		reset(l, prate);
	}
	hk_profile_poll();
	return 1;
}

void hk_sample_atfork_prepare(void)
{
	hk_profile_lock();
	hk_guard_lock();
}

void hk_sample_atfork_release(void)
{
	hk_guard_unlock();
	hk_profile_unlock();
}
