/*
 * core/arena_alloc.c — the allocation API of arenas: hk_arena_malloc's
 * fast path (the lane bins, or a region arena's pointer bump) and its slow
 * function, hk_arena_calloc/realloc/aligned_alloc, and the API calls that
 * may be a program's first (hk_arena_create, hk_arena_default), which make
 * sure of init. Sits above core/alloc.c, which it calls: nothing below calls
 * back. Invariant: as core/alloc.c's (16-byte alignment, ENOMEM, errno).
 */
#include <errno.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/arena_bump.h"
#include "core/arena_table.h"
#include "core/base.h"
#include "core/harden.h"
#include "core/init.h"
#include "core/lane.h"
#include "core/sizeclass.h"
#include "core/stack.h"

HK_API hk_arena_t *hk_arena_default(void)
{
	if (!hk_ready())
		hk_init();
	return &hk_arena0;
}

HK_API hk_arena_t *hk_arena_create(const hk_arena_config_t *cfg)
{
	int r = hk_ready() ? 0 : hk_init();
	if (r < 0) {
		errno = ENOMEM;
		return NULL;
	}
	return hk_arena_make(cfg);
}

/* The profiler diverts the fast path of every arena to the slow one, which
 * counts down (core/profile.c); once it is off, the first slow malloc puts
 * the fast path back (a live arena's `bins` are valid here: checked). Off
 * and not diverted: two compares (arena_reset_4x64 takes this path once a
 * request). An arena without a cache (no slot left, or a build without
 * lane classes) has nothing to divert: the profiling flag decides. */
static inline __attribute__((always_inline)) void *arena_sample(hk_arena_t *a, size_t size,
								      size_t align, int zero)
{
	if (!CONFIG_HK_PROFILE)
		return NULL;
	if (likely(__atomic_load_n(&a->fast_bins, __ATOMIC_RELAXED) == a->bins)) {
		if (likely(a->bins != HK_BINS_NONE) ||
		    !atomic_load_explicit(&hk_arena_divert, memory_order_relaxed))
			return NULL;
	} else if (!atomic_load_explicit(&hk_arena_divert, memory_order_relaxed)) {
		__atomic_store_n(&a->fast_bins, a->bins, __ATOMIC_RELAXED);
		return NULL;
	}
	return a == &hk_arena0 && !align && !zero ? NULL : hk_sample_alloc(a, size, align, zero);
}

static HK_ENTRY __attribute__((noinline)) void *arena_malloc_slow(hk_arena_t *a, size_t size)
{
	a = hk_arena_check(a, "hk_arena_malloc");
	void *p = arena_sample(a, size, 0, 0);
	if (p)
		return p;
	if (a == &hk_arena0)
		return hk_malloc_as(size, "hk_arena_malloc");
	hk_slow_call = "hk_arena_malloc";
	size_t need = size + HK_CANARY;
	if (need >= size && need <= hk_small_max() && !(a->flags & HK_ARENA_BUMP)) {
		/* An empty bin (every request's first block after a reset):
		 * straight to the cache, which counts the allocation. */
		unsigned cls = hk_class_of(need);
		p = hk_cache_alloc(a, cls);
		if (p && CONFIG_HK_HARDENED)
			hk_canary_set(p, size, hk_class_size(cls));
		if (p)
			return p;
	}
	return hk_alloc_in(a, size, 0, 0);
}

/*
 * Fast path: a region arena's pointer bump (its flag is in the line of
 * `bins`: two instructions for the others), else as hk_malloc's, with the
 * arena's first bin added to the class (one load and one add) and its
 * cache's counter instead of the heap's. An arena without a cache slot, or
 * destroyed, has bins that are never set up: it falls through to
 * hk_arena_check, which aborts on a dead one.
 */
HK_API HK_ENTRY void *hk_arena_malloc(hk_arena_t *a, size_t size)
{
	size_t need = size + HK_CANARY;
	if (__builtin_expect(a == NULL, 0))
		return arena_malloc_slow(a, size);
	if (a->flags & HK_ARENA_BUMP) {
		void *p;
		if (__builtin_expect(hk_bump_malloc(a, size, &p), 1))
			return p;
	} else if (__builtin_expect(HK_NLANE > 0 && need >= size, 1)) {
		/* A class that is no lane class has a bin never set up (empty).
		 * Above the byte lookup the second table, as malloc's: those
		 * sizes took the slow path before, through hk_alloc_in and
		 * hk_cache_alloc, ~230 instructions a block (request 64 x
		 * 16-4096 B: 46 blocks of 64). The byte lookup's test comes
		 * first and alone, as before (one test a malloc more cost
		 * request 64 x 16-256 B 2 instructions a block). */
		size_t cb; /* class * HK_BIN_WORDS */
		if (likely(need <= HK_CLASS_TABLE_MAX))
			cb = hk_class_table[need];
		else if (need <= HK_SMALL_MAX)
			cb = hk_class_table2[(need + 255) >> 8];
		else
			return arena_malloc_slow(a, size);
		size_t bins = __atomic_load_n(&a->fast_bins, __ATOMIC_RELAXED);
		hk_lane_t *l = hk_lane_self;
		void **p = HK_HEAD(l, bins + cb);
		if (__builtin_expect(p != NULL, 1)) {
			HK_HEAD(l, bins + cb) = hk_next_get(p, "hk_arena_malloc");
			HK_ROOM_GIVE(l, bins + cb);
			p[1] = NULL;
			if (CONFIG_HK_HARDENED)
				hk_canary_set(p, size, hk_class_size(cb / HK_BIN_WORDS));
			return p;
		}
	}
	return arena_malloc_slow(a, size);
}

HK_API HK_ENTRY void *hk_arena_calloc(hk_arena_t *a, size_t count, size_t size)
{
	size_t total;
	a = hk_arena_check(a, "hk_arena_calloc");
	if (__builtin_mul_overflow(count, size, &total)) {
		errno = ENOMEM;
		atomic_fetch_add_explicit(&a->ctr.failed, 1, memory_order_relaxed);
		return NULL;
	}
	hk_slow_call = "hk_arena_calloc";
	void *p = arena_sample(a, total, 0, 1);
	return p ? p : hk_alloc_in(a, total, 0, 1);
}

HK_API HK_ENTRY void *hk_arena_realloc(hk_arena_t *a, void *p, size_t size)
{
	a = hk_arena_check(a, "hk_arena_realloc");
	if (!p)
		return hk_arena_malloc(a, size);
	if (!size) {
		hk_free_checked(p, "hk_arena_realloc", 0);
		return NULL;
	}
	return hk_realloc_in(a, p, size, "hk_arena_realloc");
}

HK_API HK_ENTRY void *hk_arena_aligned_alloc(hk_arena_t *a, size_t align, size_t size)
{
	a = hk_arena_check(a, "hk_arena_aligned_alloc");
	if (!align || (align & (align - 1))) {
		errno = EINVAL;
		return NULL;
	}
	hk_slow_call = "hk_arena_aligned_alloc";
	void *p = arena_sample(a, size, align, 0);
	return p ? p : hk_alloc_in(a, size, align, 0);
}
