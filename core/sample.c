/*
 * core/sample.c — the one sampler behind the guard and the heap profiler.
 * Each lane counts down the bytes its thread allocates (hk_malloc's fast
 * path subtracts; malloc_slow too); below zero, hk_sample_take draws the
 * next interval from an exponential distribution (mean: the profiling rate
 * while profiling, else HAKMEM_GUARD_RATE), so a block of size s is sampled
 * with probability 1 - exp(-s/rate) whatever the sizes around it (what
 * pprof un-samples). Must not allocate through malloc. Invariant: see
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
#include "core/stack.h"
#include "core/statlog.h"

#define GUARD_RATE_DEFAULT ((size_t)64 << 20)
/* Neither guard nor profiler: the countdown still runs out now and then
 * (once per 64 MiB a thread allocates), which is when a thread notices that
 * hk_profile_start turned the profiler on. */
#define IDLE_INTERVAL ((int64_t)64 << 20)

static size_t guard_rate = GUARD_RATE_DEFAULT;
_Atomic size_t hk_sample_outside;

/* "123", "64k", "8M", "1G"; *ok = 0 on anything else. */
static size_t parse_size(const char *s, int *ok)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	*ok = end != s;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end)
		*ok = 0;
	return (size_t)v;
}

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
	int ok = 1;
	if (!CONFIG_HK_SAMPLE)
		return;
	if (g) {
		size_t v = parse_size(g, &ok);
		if (ok)
			guard_rate = v;
	}
	if (guard_rate)
		hk_guard_install();
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

/* The lane's next random 64 bits (xorshift64*). */
static uint64_t rng_next(hk_lane_t *l)
{
	uint64_t x = hk_lane_cache(l, 0)->sample_rng;
	if (!x)
		x = (hk_secret ^ (uintptr_t)l) | 1;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	hk_lane_cache(l, 0)->sample_rng = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* An exponential interval of mean `mean` bytes. */
static int64_t interval(hk_lane_t *l, size_t mean)
{
	double u = (double)((rng_next(l) >> 11) + 1) * (1.0 / 9007199254740992.0);
	double n = -ln(u) * (double)mean;
	return n > 4e18 ? INT64_MAX : (int64_t)n + 1;
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

void hk_sample_reset_self(void)
{
	hk_lane_t *l = hk_lane_self;
	size_t prate = hk_profile_rate();
	/* Records exist from now on: resets and destroys drop an arena's. */
	if (CONFIG_HK_PROFILE && prate)
		atomic_store_explicit(&hk_arena_forget, forget_arena, memory_order_release);
	if (CONFIG_HK_SAMPLE && l->state == HK_LANE_LIVE)
		reset(l, prate);
}

HK_ENTRY __attribute__((noinline)) int hk_sample_take(hk_lane_t *l, size_t size, void **out)
{
	void *stack[HK_STACK_MAX];
	size_t prate = hk_profile_rate();
	int first = !hk_lane_cache(l, 0)->sample_rng;
	*out = NULL;
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
