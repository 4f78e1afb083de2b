/*
 * core/alloc.c — the hk_* allocation API: malloc/free fast paths and one
 * slow function each, calloc, realloc, reallocarray, the memalign family,
 * usable_size, free_sized. Owns the always-on checks of DESIGN §8.10 and
 * checked size arithmetic. Must not take a lock on the fast paths.
 * Invariant: every result is 16-byte aligned; every failure is NULL with
 * errno ENOMEM (EINVAL for a bad alignment); free never changes errno.
 */
#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/arena_bump.h"
#include "core/arena_table.h"
#include "core/base.h"
#include "core/guard.h"
#include "core/harden.h"
#include "core/init.h"
#include "core/lane.h"
#include "core/large.h"
#include "core/pool.h"
#include "core/purge.h"
#include "core/region.h"
#include "core/sample.h"
#include "core/sizeclass.h"
#include "core/stack.h"

static void *malloc_slow(size_t size, const char *call);
static void *malloc_refill(size_t size, const char *call, size_t bin);
static void *sample_slow(size_t size, const char *call, size_t bin);

/*
 * Fast path budget (x86-64, objdump of libhakmem.so, defconfig): 22
 * instructions with the return (26 before the room's add became an asm
 * operand, HK_ROOM_GIVE, and the block was pinned to %rax; 24 before the
 * counter went into the room word; 23 before the sampler's countdown went
 * into it too) — class
 * lookup (a byte table indexed by the request up to 1 KiB: no add and
 * shift; a second table above), the TLS lane pointer (2 loads from a
 * shared object), the room counter, the bin's count of pops and the
 * sampler's countdown in one add and a never-taken branch on its sign
 * (core/types.h; the count was an add of its own: pairs_16's CPU time per
 * pair 3.68 -> 3.56 ns; the countdown a subtract on the cache's line),
 * pop of the bin's head with the link's decode and range check (7,
 * core/harden.h), a prefetch of the new head (a bin refilled with a slab's
 * free list of shuffled frees is a chain of cold lines: without it each pop
 * waits for the previous one's miss; batch_shuffled's median 4.23 -> 4.58
 * M ops/s, loaded machine, mimalloc 6.06), one store
 * clearing word 1 (the free mark). A copy of the lookup in the lane (no
 * lea: 22 instructions) ran 2 % slower: the byte load then waits for the
 * lane pointer, and the bin's load for both. No
 * init test: a thread without a lane reads the static empty lane, whose
 * bins are empty, and falls into malloc_slow (so the static lanes'
 * countdown is never written). In the hk_entry section: the sampler's stack
 * capture drops the frames of that section (core/stack.h). Inlined with the
 * name of its API call (calloc, realloc, ...), which only the cold aborts
 * of a corrupted link and the slow paths use: no instruction on this path.
 */
static inline __attribute__((always_inline)) void *heap_malloc(size_t size, const char *call)
{
	size_t bin; /* slot 0's: the class * HK_BIN_WORDS */
	size_t need = size + HK_CANARY; /* the hardened canary's room */
	if (likely(need <= HK_CLASS_TABLE_MAX && HK_SMALL_MAX > 0 && need >= size))
		bin = hk_class_table[need];
	else if (need <= HK_SMALL_MAX && need >= size)
		bin = hk_class_table2[(need + 255) >> 8];
	else
		return malloc_slow(size, call);
	{
		hk_lane_t *l = hk_lane_self;
		void **p = HK_HEAD(l, bin);
		if (likely(p != NULL)) {
			if (CONFIG_HK_SAMPLE)
				HK_ROOM_GIVE_OR(l, bin, sampled);
			else
				HK_ROOM_GIVE(l, bin);
			/* The block in the return register from its load on
			 * (GCC put it elsewhere and added a mov before ret). */
			asm("" : "+a"(p));
			void *next = hk_next_get(p, call);
			HK_HEAD(l, bin) = next;
			__builtin_prefetch(next);
			p[1] = NULL;
			if (CONFIG_HK_HARDENED)
				hk_canary_set(p, size, hk_class_size(bin / HK_BIN_WORDS));
			return p;
		}
	}
	return malloc_refill(size, call, bin);
sampled:
	return sample_slow(size, call, bin);
}

HK_API HK_ENTRY void *hk_malloc(size_t size)
{
	return heap_malloc(size, "malloc");
}

/* For a caller in another file (hk_arena_malloc of the default heap). */
void *hk_malloc_as(size_t size, const char *call)
{
	return heap_malloc(size, call);
}

static void free_slow(void *p, const char *call);
static void free_full(void *p, const hk_desc_t *d, hk_lane_t *l, const char *call);

/*
 * Fast path budget: 28 instructions with the return (31 with the carved
 * end compared apart and the divisor in the descriptor) — one compare for
 * "in the region", the descriptor (start, lim, bin: one cache line), the
 * lane, one multiply by the divisor of the bin's class (the bin's first
 * word: free() reads and writes one line of the lane) and one compare
 * with the unit's lim: the
 * interior/misalignment check (always on, DESIGN §8.10), "a slab" (lim is
 * 0 in every other unit) and "handed out" (below the unit's carved end:
 * not the slack after the last block nor the uncarved rest; issue 12 bug
 * 1) at once (core/region.h hk_desc_set_carved), the
 * double-free mark's top byte (one byte: no store-forwarding stall; a match
 * compares the whole mark on a cold branch, so a live block whose byte 15
 * happens to be HK_MARK_TOP stays here; pairs 16 stamps it every 256th
 * pair, and sending it to free_slow cost ~180 instructions), the room counter
 * (tested, then decremented: the static lanes' rooms are 0 and never
 * written) and the push (word 0 = next, word 1 = mark). The descriptor's
 * bin is its arena's bin of its class, so every arena's blocks take this
 * path. Anything unusual (not a
 * slab block, a full or unset bin, a marked block) goes to free_slow,
 * which decides and reports. Inlined with its API call's name (realloc)
 * for the slow path, as heap_malloc.
 *
 * Measured, not kept (2026-12-05, pairs_16 30M pairs, 16 interleaved pinned
 * rounds, median of paired ratios to this code): the room word is what a
 * pair waits on. With neither path touching it (no limit, no countdown:
 * not a design) 1.09 and 1.10; with free's test-and-decrement gone alone
 * 0.98; free keeping a word of its own and comparing it with malloc's
 * (malloc alone writing the room word) 0.95. Without the mark's store and
 * byte-15 test 0.98, without the link's xor 0.97; random_mixed_400 moved
 * within its noise (0.97-1.06) with each of them and without the prefetch.
 */
static inline __attribute__((always_inline)) void heap_free(void *p, const char *call)
{
	uintptr_t off = (uintptr_t)p - hk_region_base;
	hk_desc_t *d;
	hk_lane_t *l;
	/* The used mark as a memory operand of the compare (an atomic load
	 * is a mov of its own: one instruction more). A racy read only
	 * grows, as hk_next_get's of hk_region_slots. */
	asm goto("cmpq %1, %0\n\tjae %l2" : : "r"(off), "m"(hk_region_used) : "cc" : slow);
	{
		d = &hk_region_desc[off >> HK_UNIT_SHIFT];
		l = hk_lane_self;
		size_t bin = d->bin;
		uint64_t rel = (uintptr_t)p - d->start;
		/* The divisor of an unset bin is 0: it takes any slab unit's
		 * block, whose room 0 then sends it to free_slow before
		 * anything is written. The multiply takes the divisor as a
		 * memory operand (in C, GCC adds a lea for the bin's address:
		 * one more instruction). */
		asm("imulq %1, %0" : "+r"(rel) : "m"(HK_DIVM(l, bin)) : "cc");
		if (likely(rel < hk_desc_lim(d))) {
			/* The secret once: the link's encoding reuses it after
			 * the mark's store (GCC reloads a global after a store
			 * it cannot tell apart from it: one load more). */
			uintptr_t secret = hk_secret, mark = secret ^ (uintptr_t)p;
			void **q = p;
			if (likely(((const uint8_t *)p)[15] != HK_MARK_TOP) ||
			    likely(q[1] != (void *)mark)) {
				HK_ROOM_TAKE(l, bin, full);
				if (CONFIG_HK_HARDENED)
					hk_canary_check(q, d->bsize, "free");
				q[1] = (void *)mark;
				hk_next_set_with(q, HK_HEAD(l, bin), secret);
				HK_HEAD(l, bin) = q;
				return;
			}
		}
	}
slow:
	free_slow(p, call);
	return;
full:
	free_full(p, d, l, call);
}

HK_API HK_ENTRY void hk_free(void *p)
{
	heap_free(p, "free");
}

static size_t align_up(size_t n, size_t a)
{
	return (n + a - 1) & ~(a - 1);
}

static void *alloc_band(hk_arena_t *a, size_t size, size_t align, int flags, int *counted);

/* The one allocation routine behind every slow path and arena call. */
void *hk_alloc_in(hk_arena_t *a, size_t size, size_t align, int flags)
{
	int zero = flags & HK_ALLOC_ZERO;
	if (!hk_ready()) {
		int r = hk_init();
		if (r == -1)
			return hk_boot_alloc(size, align);
		if (r < 0)
			goto fail;
	}
	if (!a)
		a = &hk_arena0;
	hk_lane_trim_check();
	int heap = a->heap;
	if (heap)
		a = hk_arena_heap(); /* POOL and large blocks from the caller's node */
	if (align <= 16)
		align = 0;
	if (size > ((size_t)1 << 62) || align > ((size_t)1 << 62))
		goto fail;
	void *p = NULL;
	if (a->flags & HK_ARENA_BUMP) {
		if (size <= HK_BUMP_MAX && align <= HK_BUMP_ALIGN_MAX) {
			if (!(p = hk_bump_alloc(a, size, align)))
				goto fail;
			if (zero)
				memset(p, 0, size);
			return p;
		}
		hk_bump_mixed(a); /* a POOL block or mapping: never a slab */
	}
	int counted = 0;
	p = alloc_band(a, size, align, flags, &counted);
	/* A region arena's chunks kept by its reset count against its
	 * capacity: those the round has not reached go back, once. */
	if (!p && (a->flags & HK_ARENA_BUMP) && hk_bump_trim(a))
		p = alloc_band(a, size, align, flags, &counted);
	if (!p && !a->capacity) {
		/* Out of memory: what this thread's bins, empty slabs, free
		 * spans and cached mappings hold may be what the request needs
		 * (a mapping the address-space limit refused while the large
		 * cache held the room: issue 12 bug 3). Give it back, retry once.
		 * Not for an arena at its capacity: an expected answer there,
		 * which a purge of every arena would make slow. */
		hk_lane_flush_self();
		hk_purge_reclaim();
		p = alloc_band(a, size, align, flags, &counted);
	}
	if (!p)
		goto fail;
	if (!heap && !counted)
		atomic_fetch_add_explicit(&a->ctr.allocs, 1, memory_order_relaxed);
	return p;
fail:
	HK_STAT(failed_allocs, 1);
	if (a)
		atomic_fetch_add_explicit(&a->ctr.failed, 1, memory_order_relaxed);
	errno = ENOMEM;
	return NULL;
}

/* One try in the band the request belongs to; *counted when the arena
 * cache counted the allocation itself. */
static void *alloc_band(hk_arena_t *a, size_t size, size_t align, int flags, int *counted)
{
	void *p = NULL;
	int zero = flags & HK_ALLOC_ZERO;
	int fresh = 0;
	size_t need = size + HK_CANARY;
	size_t want = align ? align_up(need > align ? need : align, align) : need;
	if (HK_NLANE > 0 && align <= HK_UNIT && want <= HK_SMALL_MAX && !(a->flags & HK_ARENA_BUMP)) {
		unsigned cls = hk_class_of(want);
		p = hk_cache_alloc(a, cls); /* counts a user arena's allocation */
		*counted = 1;
		if (p && CONFIG_HK_HARDENED)
			hk_canary_set(p, size, hk_class_size(cls));
		if (p && zero)
			memset(p, 0, size);
	} else if (CONFIG_HK_POOL && size <= HK_POOL_MAX && (align <= HK_CHUNK || align <= size)) {
		/* A POOL span pads to its alignment inside a run, with a
		 * descriptor per 64 KiB of padding: a larger alignment than the
		 * block (aligned_alloc(1 << 40, 16) wrote 1 GiB of descriptors)
		 * goes to a direct mapping, which reserves the padding and
		 * trims it (issue 12 bug 2). */
		p = hk_pool_alloc(a, size, align, flags & HK_ALLOC_DENSE);
		if (p && zero)
			memset(p, 0, size);
	} else {
		p = hk_large_alloc(a, size, align, &fresh);
		if (p && zero && !fresh)
			memset(p, 0, size);
		if (p)
			HK_STAT(large_maps, 1);
	}
	return p;
}

/* A malloc the sampler picked: a guarded block, a recorded one (its free
 * must leave the fast path: a direct mapping for lane sizes, POOL and
 * large blocks as they are), or an ordinary one. */
static HK_ENTRY __attribute__((noinline)) void *sample_slow(size_t size, const char *call,
								  size_t bin)
{
	void *p;
	hk_slow_call = call;
	int how = hk_sample_take(hk_lane_self, size, bin, &p);
	if (how == HK_SAMPLE_DONE)
		return p;
	if (how == HK_SAMPLE_RECORD) {
		int fresh;
		if (size <= HK_SMALL_MAX)
			p = hk_large_alloc(hk_arena_heap(), size, 0, &fresh);
		else
			p = hk_alloc_in(&hk_arena0, size, 0, 0);
		if (p) {
			hk_sample_record(p, size, 0);
			return p;
		}
	}
	return hk_alloc_in(&hk_arena0, size, 0, 0);
}

/* The profiler is on (one load): the paths below call the sampler only then. */
#define PROFILING() (CONFIG_HK_PROFILE && atomic_load_explicit(&hk_arena_divert, memory_order_relaxed))

/* The arena number a record of a's block carries (0: the default heap). */
static unsigned record_arena(const hk_arena_t *a)
{
	return a->heap ? 0 : a->index;
}

HK_ENTRY __attribute__((noinline)) void *hk_sample_alloc(hk_arena_t *a, size_t size, size_t align,
							 int zero)
{
	int fresh;
	if (!CONFIG_HK_PROFILE || !hk_ready() || (a->flags & HK_ARENA_BUMP) ||
	    !hk_sample_count(size))
		return NULL;
	void *p = hk_large_alloc(a->heap ? hk_arena_heap() : a, size, align > 16 ? align : 0, &fresh);
	if (!p)
		return NULL;
	HK_STAT(large_maps, 1);
	if (zero && !fresh)
		memset(p, 0, size);
	if (!a->heap)
		atomic_fetch_add_explicit(&a->ctr.allocs, 1, memory_order_relaxed);
	hk_sample_record(p, size, record_arena(a));
	return p;
}

/* realloc moved or grew a block into mapping q: counted like a malloc of
 * `size`, recorded if picked (the old block's record went with it). */
static void sample_moved(hk_arena_t *a, void *q, size_t size)
{
	if (PROFILING() && hk_sample_count(size))
		hk_sample_record(q, size, record_arena(a));
}

/* malloc's slow path; `flags` for hk_alloc_in (HK_ALLOC_DENSE: a realloc
 * move, which counts down like any malloc). */
static inline __attribute__((always_inline)) void *malloc_slow_as(size_t size, const char *call,
								  int flags)
{
	HK_STAT(malloc_slow, 1);
	hk_slow_call = call;
	if (CONFIG_HK_SAMPLE) {
		/* Only a live lane counts down: the static lanes are shared. A
		 * build without lane classes (nomid) makes one here for it.
		 * The process's first malloc initialises first, so it counts
		 * too (HAKMEM_GUARD_RATE=1 guards it: test/preload/guard.sh).
		 * (Sizes past 2^62 fail anyway; the clamp keeps the sign.) */
		hk_lane_t *l = hk_ready() || hk_init() == 0 ? hk_lane_get() : NULL;
		int64_t n = size < ((size_t)1 << 62) ? (int64_t)size : (int64_t)1 << 62;
		if (l && (hk_lane_cache(l, 0)->sample_left -= n) < 0)
			return sample_slow(size, call, HK_SAMPLE_BYTES);
	}
	return hk_alloc_in(&hk_arena0, size, 0, flags);
}

static HK_ENTRY __attribute__((noinline)) void *malloc_slow(size_t size, const char *call)
{
	return malloc_slow_as(size, call, 0);
}

static HK_ENTRY __attribute__((noinline)) void *malloc_dense(size_t size, const char *call)
{
	return malloc_slow_as(size, call, HK_ALLOC_DENSE);
}

/*
 * hk_malloc's bin was empty: refilled from the slabs and popped in one
 * call (hk_lane_refill_pop), not through malloc_slow, hk_alloc_in,
 * alloc_band and hk_cache_alloc, which looked up the lane twice, the
 * arena, the band and the class again (callgrind, batch_inorder: 390 ->
 * 158 instructions a refill besides the slab's). A sample due
 * (sample_left counts the slow paths' bytes, as malloc_slow's), a thread
 * without a live lane, an unset bin or no memory take malloc_slow, which
 * counts down itself: nothing was taken off here.
 */
static HK_ENTRY __attribute__((noinline)) void *malloc_refill(size_t size, const char *call,
								    size_t bin)
{
	hk_lane_t *l = hk_lane_self;
	int64_t left = 0;
	if (CONFIG_HK_SAMPLE) {
		/* The static lanes' count is 0: any size but 0 leaves here
		 * (a lane class's size: no clamp as malloc_slow's). */
		left = hk_lane_cache(l, 0)->sample_left - (int64_t)size;
		if (left < 0)
			return malloc_slow(size, call);
	}
	void **p;
	hk_slow_call = call;
	/* Live first: a static lane may come before init, where the node's
	 * arena is not to be asked for. */
	if (l->state != HK_LANE_LIVE || !(p = hk_lane_refill_pop(l, hk_arena_heap(), (unsigned)bin)))
		return malloc_slow(size, call);
	HK_STAT(malloc_slow, 1);
	if (CONFIG_HK_SAMPLE)
		hk_lane_cache(l, 0)->sample_left = left;
	if (CONFIG_HK_HARDENED)
		hk_canary_set(p, size, hk_class_size((unsigned)bin / HK_BIN_WORDS));
	return p;
}

/* Checks a slab block; returns its usable size. Aborts on misuse. */
static inline __attribute__((always_inline)) size_t check_slab(const void *p, const hk_desc_t *d,
								const char *call)
{
	uint64_t rel = (uintptr_t)p - d->start, divm = hk_class_divm[hk_desc_cls(d)];
	if (rel * divm >= divm)
		hk_fatal(call, "invalid pointer (interior or misaligned)", p);
	if ((uintptr_t)p >= hk_desc_carved(d))
		hk_fatal(call, "invalid pointer (never allocated)", p);
	if (((const uintptr_t *)p)[1] == (hk_secret ^ (uintptr_t)p))
		hk_fatal(call, "double free or use of freed block", p);
	if (CONFIG_HK_HARDENED)
		return hk_canary_check(p, d->bsize, call);
	return d->bsize;
}

/* The checked usable size of p, whose descriptor (or NULL) the caller
 * looked up already. */
static size_t usable_at(const void *p, const hk_desc_t *d, const char *call, unsigned *arena)
{
	size_t usable;
	if (d) {
		*arena = d->arena;
		switch (d->kind) {
		case HK_KIND_SLAB:
			return check_slab(p, d, call);
		case HK_KIND_BUMP:
			return hk_bump_check(p, d, call);
		case HK_KIND_POOL:
			if ((uintptr_t)p != d->start)
				hk_fatal(call, "invalid pointer (inside a block)", p);
			return d->bsize;
		case HK_KIND_FREE:
		case HK_KIND_PURGING:
			hk_fatal(call, "double free or use of freed block", p);
		default:
			hk_fatal(call, "invalid pointer", p);
		}
	}
	*arena = 0;
	if (hk_boot_owns(p))
		return hk_boot_usable(p);
	if (CONFIG_HK_SAMPLE && hk_guard_owns(p))
		return hk_guard_usable(p, call);
	if (hk_large_lookup(p, &usable, arena))
		return usable;
	hk_fatal(call, "invalid pointer", p);
}

size_t hk_usable_checked(const void *p, const char *call, unsigned *arena)
{
	return usable_at(p, hk_desc_of(p), call, arena);
}

/* The default heap's frees are counted by the lanes and free_slow. */
static void count_free(unsigned arena)
{
	hk_arena_t *a = hk_arena_at(arena);
	if (!a->heap)
		atomic_fetch_add_explicit(&a->ctr.frees, 1, memory_order_relaxed);
}

static void free_other(void *p, hk_desc_t *d, const char *call, size_t size_hint, int hold);

/* A slab block of any arena goes, checked, into this thread's cache of its
 * arena (which counts it): kept free of the general path's frame. */
static inline void free_slab_block(void *p, const hk_desc_t *d, const char *call, size_t size_hint)
{
	if (size_hint > check_slab(p, d, call))
		hk_fatal(call, "size larger than the block", p);
	hk_cache_free(p, d);
}

/* A free whose caller looked the descriptor up (NULL: not in the region). */
static void free_at(void *p, hk_desc_t *d, const char *call, size_t size_hint)
{
	hk_slow_call = call;
	if (d && d->kind == HK_KIND_SLAB)
		free_slab_block(p, d, call, size_hint);
	else if (d && d->kind == HK_KIND_BUMP)
		hk_bump_free(p, d, call, size_hint);
	else if (p)
		free_other(p, d, call, size_hint, 1);
}

HK_ENTRY void hk_free_checked(void *p, const char *call, size_t size_hint)
{
	free_at(p, hk_desc_of(p), call, size_hint); /* NULL for p == NULL */
}

/* `hold`: a POOL span may be held for a request of its length (not the
 * block a realloc moved away from: growth asks for more). */
HK_ENTRY static __attribute__((noinline)) void free_other(void *p, hk_desc_t *d, const char *call,
						 size_t size_hint, int hold)
{
	unsigned arena;
	size_t usable = usable_at(p, d, call, &arena);
	/* A POOL block can be much larger than a small request: check against
	 * the request itself (kept in the head descriptor), or the usable size
	 * (what malloc_usable_size told the program), so a wrong size is caught. */
	if (size_hint > usable ||
	    (size_hint && size_hint != usable && d && d->kind == HK_KIND_POOL &&
	     size_hint > hk_desc_at(hk_unit_of((void *)d->start))->bump))
		hk_fatal(call, "size larger than the block", p);
	count_free(arena);
	/* Sampled blocks: guarded ones go back to their slot; a recorded POOL
	 * or large block loses its record and is freed below. */
	if (CONFIG_HK_SAMPLE && (!d || d->kind == HK_KIND_POOL) &&
	    (hk_guard_owns(p) || atomic_load_explicit(&hk_sample_outside, memory_order_relaxed)) &&
	    hk_sample_free(p))
		return;
	if (d) {
		if (CONFIG_HK_POOL) {
			/* Seen live above, unlocked: two racing frees both get
			 * here, the loser learns it under the lock (bug 6). */
			if (hk_pool_free(hk_arena_at(d->arena), d, hold))
				hk_fatal(call, "double free or use of freed block", p);
			hk_purge_kick();
		}
	} else if (!hk_boot_owns(p)) {
		if (hk_large_free(p))
			hk_fatal(call, "double free or use of freed block", p);
		HK_STAT(large_unmaps, 1);
		if (CONFIG_HK_LARGE_CACHE)
			hk_purge_kick();
	}
}

/* Whatever free()'s fast path did not take. A region arena's block keeps
 * errno itself; a user arena's slab block counts with its arena, not as a
 * slow free of the default heap (whose bins are slot 0's). In the hk_entry
 * section: a guarded block's free stack starts past it (core/stack.c). */
static HK_ENTRY __attribute__((noinline)) void free_slow(void *p, const char *call)
{
	if (!p)
		return; /* lua frees NULL as often as one block in six: no errno dance */
	hk_desc_t *d = hk_desc_of(p);
	if (d && d->kind == HK_KIND_BUMP) {
		hk_bump_free(p, d, call, 0);
		return;
	}
	int saved = errno;
	if (!d || d->kind != HK_KIND_SLAB || d->bin < HK_ROW_WORDS)
		HK_STAT(free_slow, 1);
	free_at(p, d, call, 0);
	errno = saved;
}

/*
 * free()'s fast path found the bin's room 0 after its checks (a slab block
 * of a set-up bin, not marked free): a full bin of the default heap loses
 * half to the slabs and takes the block, in one call
 * (hk_lane_flush_push), not through free_slow, free_at and hk_cache_free,
 * which looked up the descriptor, checked the block and looked up the
 * lane again. The fast path's descriptor and lane come along (looked up
 * again here before: a region check, the descriptor and the TLS load, per
 * flush). An unset bin (room 0, divisor 0), a static or dead lane, a trim
 * request or another arena's bin take free_slow.
 */
static __attribute__((noinline)) void free_full(void *p, const hk_desc_t *d, hk_lane_t *l,
						 const char *call)
{
	unsigned bin = d->bin;
	if (bin < HK_ROW_WORDS) {
		if (CONFIG_HK_HARDENED)
			hk_canary_check(p, d->bsize, call);
		hk_slow_call = call;
		if (hk_lane_flush_push(l, p, bin)) { /* keeps errno */
			HK_STAT(free_slow, 1);
			return;
		}
	}
	free_slow(p, call);
}

HK_API HK_ENTRY void hk_free_sized(void *p, size_t size)
{
	int saved = errno;
	hk_free_checked(p, "free_sized", size);
	errno = saved;
}

static __attribute__((noinline)) size_t usable_slow(const void *p)
{
	unsigned arena;
	if (!p)
		return 0;
	return hk_usable_checked(p, "malloc_usable_size", &arena);
}

/*
 * The usable size of a live default-heap slab block, with the checks of
 * check_slab, or 0 for anything else (NULL, POOL, large, user arenas, a
 * freed or interior pointer, hardened canaries): those go the checked way.
 * Row 0's bins are the default heap's classes (a user arena's block must
 * stay in its arena when realloc moves it: the fuzzer found one moved to
 * the default heap); the unit's lim with the class's divisor says "slab
 * block boundary, handed out once" (issue 12 bug 1: realloc would keep a
 * never-carved block in place), then the mark.
 */
static inline __attribute__((always_inline)) size_t heap_slab_usable(const void *p)
{
	if (CONFIG_HK_HARDENED)
		return 0;
	uintptr_t off = (uintptr_t)p - hk_region_base;
	asm goto("cmpq %1, %0\n\tjae %l2" : : "r"(off), "m"(hk_region_used) : "cc" : other);
	{
		const hk_desc_t *d = &hk_region_desc[off >> HK_UNIT_SHIFT];
		uint64_t rel = (uintptr_t)p - d->start;
		/* Row 0's bin is class * HK_BIN_WORDS: the divisor at byte bin * 2
		 * (a scaled index, no shift). */
		_Static_assert(HK_BIN_WORDS * sizeof(uint16_t) == sizeof(hk_class_divm[0]),
			       "scale");
		uint64_t divm = *(const uint64_t *)((const uint16_t *)hk_class_divm + d->bin);
		if (likely(d->bin < HK_BIN_WORDS * HK_NCLASS_MAX && rel * divm < hk_desc_lim(d) &&
			   ((const uint8_t *)p)[15] != HK_MARK_TOP)) {
			size_t n = d->bsize;
			if (!n)
				__builtin_unreachable(); /* a slab's: the callers' test of 0 folds */
			return n;
		}
	}
other:
	return 0;
}

/* redis asks on every allocation and free: 20 instructions for a slab
 * block (hk_usable_checked: ~54). */
HK_API size_t hk_usable_size(const void *p)
{
	size_t n = heap_slab_usable(p);
	return likely(n) ? n : usable_slow(p);
}

HK_API HK_ENTRY void *hk_calloc(size_t count, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(count, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	if (total <= HK_SMALL_MAX) {
		void *p = heap_malloc(total, "calloc");
		if (p)
			memset(p, 0, total);
		return p;
	}
	hk_slow_call = "calloc";
	void *p = PROFILING() ? hk_sample_alloc(&hk_arena0, total, 0, 1) : NULL;
	return p ? p : hk_alloc_in(&hk_arena0, total, 0, 1);
}

/*
 * The block realloc moved away from skips the caches that bet on a repeat
 * of its size: a growing buffer leaves its size behind.
 * - A slab block of GIVE_BACK_MIN bytes or more goes straight back to its
 *   slab, past the bin: bins kept the blocks the buffers left (64 KiB of
 *   each class, up to 4 times that once a bin grows), each pinning a slab of
 *   every class passed through (realloc_grow 32 1048576 2: 15 MB of MID
 *   blocks in bins at exit). One class lock per move, beside a copy of at
 *   least as many bytes.
 * - A POOL span goes to the free lists, never held whole (core/span.c): a
 *   held span is out of the lists, so the spans freed beside it could not
 *   merge with it, and when the purger let it go (after a delay, so by the
 *   clock) the layout changed: realloc_grow's peak RSS was 39.4 or 44.4 MB
 *   run to run, 39.4 MB every run without it.
 */
#define GIVE_BACK_MIN 4096

/* After realloc copied p (of usable bytes, descriptor d) elsewhere. */
static inline void moved_from(void *p, hk_desc_t *d, size_t usable, int heap, const char *call)
{
	int give_back = d && d->kind == HK_KIND_SLAB && usable >= GIVE_BACK_MIN;
	if (give_back || (d && d->kind == HK_KIND_POOL)) {
		if (heap)
			HK_STAT(free_slow, 1); /* a free of the heap that took no bin */
		if (give_back)
			hk_cache_give_back(p, d);
		else
			free_other(p, d, call, 0, 0);
	} else if (heap) {
		heap_free(p, call);
	} else {
		hk_free_checked(p, call, 0);
	}
}

/*
 * Growing in place. The POOL block realloc grew last in its arena
 * (a->pool_grown: a buffer growing step by step, as perl's arrays and
 * strings do past 256 KiB, by 1/8-1/4 a step) grows into the free units
 * after it in its run, or moves with half as much room again, so its next
 * steps stay in place: perl at scale 0.1 copied 12 blocks of 0.2-1 MiB,
 * 4.8 M instructions of memcpy. The room is untouched until used (address
 * space, not RSS, on the 4 KiB pages of runs under 2 MiB). Only that one
 * block: buffers growing side by side (bench realloc_grow, 32 of them) each
 * ate the hole its neighbour had just left, the holes no longer merged into
 * room for the next moves and the arena grew (peak RSS 39.8 -> 59.8 MB,
 * mimalloc 39.6; room for all of them: 58.0).
 */
static void grown_into(void *q, size_t size)
{
	hk_desc_t *e;
	if (CONFIG_HK_POOL && size > HK_SMALL_MAX && size <= HK_POOL_MAX &&
	    (e = hk_desc_of(q)) && e->kind == HK_KIND_POOL) {
		hk_desc_at(hk_unit_of((void *)e->start))->bump = size; /* the request */
		hk_pool_mark_grown(hk_arena_at(e->arena), e);
	}
}

/* What realloc asks for to move p (descriptor d) out of arena `from`,
 * staying in it: `size`, or half as much again for the POOL block grown
 * last (not in an arena with a capacity: room counts against it). */
static size_t regrow_ask(hk_arena_t *from, const hk_desc_t *d, size_t size, size_t usable)
{
	size_t room = size + size / 2;
	if (CONFIG_HK_POOL && d && d->kind == HK_KIND_POOL && size > usable &&
	    room <= HK_POOL_MAX && !from->capacity && hk_pool_last_grown(from, d))
		return room;
	return size;
}

/*
 * The block realloc moves `copied` bytes into, `ask` bytes long. The copy
 * touches it at once: a POOL span that the copy fills at least half of is
 * as dense as a slab of small blocks and may come from a THP run
 * (HK_ALLOC_DENSE, core/pool.c), where a 4 KiB fault costs 10-20 us here
 * and a 2 MiB one ~0.3 us per 4 KiB (realloc_grow 32 1048576 2: 9.6k
 * faults -> 4.0k). A block grown from a few bytes to a large size is not:
 * its pages stay untouched until written.
 */
static void *move_alloc(hk_arena_t *a, size_t ask, size_t copied, const char *call)
{
	int dense = ask > HK_SMALL_MAX && copied >= align_up(ask, HK_UNIT) / 2;
	if (!a->heap)
		return hk_alloc_in(a, ask, 0, dense ? HK_ALLOC_DENSE : 0);
	return dense ? malloc_dense(ask, call) : heap_malloc(ask, call);
}

HK_ENTRY void *hk_realloc_in(hk_arena_t *a, void *p, size_t size, const char *call)
{
	unsigned arena;
	hk_desc_t *d = hk_desc_of(p);
	size_t usable = usable_at(p, d, call, &arena);
	hk_arena_t *from = hk_arena_at(arena);
	if (!a)
		a = from;
	int same = a == from || (a->heap && from->heap);
	if (CONFIG_HK_HARDENED && same && d &&
	    d->kind == HK_KIND_SLAB) {
		/* The canary moves with the request: in place while it fits. */
		if (size <= d->bsize - HK_CANARY && size >= d->bsize / 2) {
			hk_canary_set(p, size, d->bsize);
			return p;
		}
	} else if (same && d && d->kind == HK_KIND_BUMP &&
		   (hk_bump_resize(from, p, usable, size) || size <= usable)) {
		return p; /* the last block grows or shrinks in place; moving frees nothing */
	} else if (same && size <= usable && (usable <= HK_SMALL_MAX || size >= usable / 2)) {
		if (d && d->kind == HK_KIND_POOL)
			hk_desc_at(hk_unit_of((void *)d->start))->bump = size;
		return p;
	}
	/* A POOL block grows into the free units after it (no copy). */
	if (CONFIG_HK_POOL && same && d && d->kind == HK_KIND_POOL && size > usable &&
	    size <= HK_POOL_MAX && hk_pool_grow(from, d, size) == 0) {
		if (CONFIG_HK_SAMPLE &&
		    atomic_load_explicit(&hk_sample_outside, memory_order_relaxed))
			hk_sample_free(p); /* its record had the old size */
		sample_moved(a, p, size);
		return p;
	}
	/* A mapping grows or shrinks by mremap while it stays above POOL
	 * (below, it moves into a POOL span: realloc growth stays in its band,
	 * where freed spans of every size are reused). */
	if (same && !d && !hk_boot_owns(p) && !hk_guard_owns(p) && size > HK_SMALL_MAX &&
	    size > HK_POOL_MAX) {
		if (CONFIG_HK_SAMPLE && atomic_load_explicit(&hk_sample_outside, memory_order_relaxed))
			hk_sample_free(p); /* a moved block keeps no record */
		void *q = hk_large_realloc(p, size);
		if (q) {
			sample_moved(a, q, size);
			if (!from->heap) {
				atomic_fetch_add_explicit(&a->ctr.allocs, 1, memory_order_relaxed);
				atomic_fetch_add_explicit(&a->ctr.frees, 1, memory_order_relaxed);
			}
			return q;
		}
	}
	/* The default heap moves through the malloc and free fast paths: p was
	 * checked above, and the bins are where a small block would come from
	 * and go to anyway (sqlite3's reallocs: 415 -> ~200 instructions). */
	hk_slow_call = call;
	size_t ask = same ? regrow_ask(from, d, size, usable) : size;
	void *q = move_alloc(a, ask, size < usable ? size : usable, call);
	if (!q)
		return NULL;
	if (size > usable)
		grown_into(q, size);
	memcpy(q, p, size < usable ? size : usable);
	moved_from(p, d, usable, from->heap, call);
	return q;
}

HK_API HK_ENTRY void *hk_realloc(void *p, size_t size)
{
	if (!p)
		return heap_malloc(size, "realloc");
	if (!size) {
		hk_free_checked(p, "realloc", 0);
		return NULL;
	}
	/* A default-heap slab block stays in place while it fits and moves
	 * through the malloc fast path (perl, sqlite3: most reallocs). */
	size_t usable = heap_slab_usable(p);
	if (likely(usable)) {
		if (size <= usable)
			return p;
		/* Past the classes, POOL: a move_alloc (not inlined here, where
		 * it cost perl's reallocs 15 instructions each). */
		void *q = size <= HK_SMALL_MAX ? heap_malloc(size, "realloc")
					       : move_alloc(&hk_arena0, size, usable, "realloc");
		if (q) {
			if (size > HK_SMALL_MAX)
				grown_into(q, size);
			memcpy(q, p, usable);
			moved_from(p, hk_desc_of(p), usable, 1, "realloc");
		}
		return q;
	}
	return hk_realloc_in(NULL, p, size, "realloc");
}

HK_API HK_ENTRY void *hk_reallocarray(void *p, size_t count, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(count, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return hk_realloc(p, total);
}

static int pow2(size_t a)
{
	return a && !(a & (a - 1));
}

static HK_ENTRY void *aligned(size_t align, size_t size, const char *call)
{
	if (!pow2(align)) {
		errno = EINVAL;
		return NULL;
	}
	if (align <= 16)
		return heap_malloc(size, call);
	hk_slow_call = call;
	void *p = PROFILING() ? hk_sample_alloc(&hk_arena0, size, align, 0) : NULL;
	return p ? p : hk_alloc_in(&hk_arena0, size, align, 0);
}

HK_API HK_ENTRY int hk_posix_memalign(void **out, size_t align, size_t size)
{
	if (!pow2(align) || align % sizeof(void *))
		return EINVAL;
	int saved = errno;
	void *p = aligned(align, size, "posix_memalign");
	errno = saved;
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

HK_API HK_ENTRY void *hk_aligned_alloc(size_t align, size_t size)
{
	return aligned(align, size, "aligned_alloc");
}

/* glibc's memalign, which programs ported from it rely on: an alignment
 * below 16 (0 too) is malloc's, one that is not a power of two is rounded
 * up to the next (memalign(24, n) gave EINVAL here, a block under glibc);
 * only one above the largest power of two fails, with EINVAL. C17's
 * aligned_alloc and posix_memalign keep their stricter rules. */
HK_API HK_ENTRY void *hk_memalign(size_t align, size_t size)
{
	if (align < 16)
		align = 16;
	else if (!pow2(align)) {
		if (align > SIZE_MAX / 2 + 1) {
			errno = EINVAL;
			return NULL;
		}
		align = (size_t)1 << (64 - __builtin_clzll(align));
	}
	return aligned(align, size, "memalign");
}

HK_API HK_ENTRY void *hk_valloc(size_t size)
{
	return aligned(4096, size, "valloc");
}

HK_API HK_ENTRY void *hk_pvalloc(size_t size)
{
	if (size > SIZE_MAX - 4096) {
		errno = ENOMEM;
		return NULL;
	}
	return aligned(4096, size ? align_up(size, 4096) : 4096, "pvalloc");
}
