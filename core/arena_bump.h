/*
 * core/arena_bump.h — region-mode arenas (HK_ARENA_BUMP): the inline pointer
 * bump hk_arena_malloc takes first, and the slow functions behind it (new
 * chunks, alignment, frees and size checks, reset, stats). The state is
 * struct hk_bump in core/types.h. Invariant: a bump block is 16-byte aligned
 * and preceded by its header word (its end ^ the round's key; bit 0: freed);
 * `cur` only moves forward between resets, except a last block shrinking.
 */
#ifndef HK_CORE_ARENA_BUMP_H
#define HK_CORE_ARENA_BUMP_H

#include "core/region.h"
#include "core/types.h"

#define HK_BUMP_HDR ((uintptr_t)8)          /* header word before every block */
#define HK_BUMP_MAX ((size_t)256 << 10)     /* larger requests take the normal paths */
#define HK_BUMP_ALIGN_MAX ((size_t)1 << HK_UNIT_SHIFT) /* larger alignments too */

/* Bytes a block of `size` takes with its header: a multiple of 16, so the
 * usable size (step - 8) is 8 mod 16. Wraps for a size near SIZE_MAX. */
static inline uintptr_t hk_bump_step(size_t size)
{
	return (size + HK_BUMP_HDR + 15) & ~(uintptr_t)15;
}

/* The end of a block at p (16-aligned) of `size` bytes: the next block's
 * address, p + hk_bump_step(size), whose header slot ends the block; 0 if
 * that wraps. The block's header holds it, so a header tells where its
 * block ends (usable: end - p - 8). */
static inline uintptr_t hk_bump_end(uintptr_t p, size_t size)
{
	uintptr_t n;
	if (__builtin_add_overflow(p + HK_BUMP_HDR + 15, size, &n))
		return 0;
	return n & ~(uintptr_t)15;
}

/*
 * Fast path (hk_arena_malloc, the arena's allocating thread, tested before
 * the cache): the block at the cursor, if its end is within the chunk (no
 * size fits while there is no chunk: cur = end = 0; a wrapping one carries
 * out), then its header (end ^ key), the cursor and the count; 19
 * instructions with the call and the region test.
 */
static inline int hk_bump_malloc(hk_arena_t *a, size_t size, void **out)
{
	hk_bump_t *b = &a->bump;
	uintptr_t p = atomic_load_explicit(&b->cur, memory_order_relaxed), n;
	if (__builtin_expect(!__builtin_add_overflow(p + HK_BUMP_HDR + 15, size, &n), 1) &&
	    __builtin_expect((n &= ~(uintptr_t)15) <= b->end, 1)) {
		((uintptr_t *)p)[-1] = n ^ b->key;
		atomic_store_explicit(&b->cur, n, memory_order_relaxed);
		b->allocs++;
		*out = (void *)p;
		return 1;
	}
	return 0;
}

#define HK_BUMP_KEY_STEP 0x9e3779b97f4a7c15ull /* odd: every reset's key differs */

/* A new round: every block so far becomes invalid (new key); the round's
 * counters start over. */
static inline void hk_bump_new_round(hk_bump_t *b)
{
	b->key += HK_BUMP_KEY_STEP;
	atomic_store_explicit(&b->round_allocs, b->allocs, memory_order_relaxed);
	atomic_store_explicit(&b->adjust, 0, memory_order_relaxed);
}

/*
 * Reset's steady state (hk_arena_reset, before any other check, when
 * b->rewind is set): the round stayed in the first and only chunk, so
 * rewinding the cursor to `rewind` is the whole reset.
 */
static inline void hk_bump_rewind(hk_bump_t *b, uintptr_t rewind)
{
	hk_bump_new_round(b);
	atomic_store_explicit(&b->cur, rewind, memory_order_relaxed);
}

/* Create (setup): an empty region state. */
void hk_bump_init(hk_arena_t *a);
/* A block of `size` <= HK_BUMP_MAX bytes aligned to `align` (0 or a power
 * of two <= HK_BUMP_ALIGN_MAX), from the current chunk or a new one; NULL
 * when the arena's capacity or memory is exhausted (the caller counts it). */
void *hk_bump_alloc(hk_arena_t *a, size_t size, size_t align);
/* A block of the arena's normal paths (POOL, mapping) is being made: the
 * next reset must free those too. */
void hk_bump_mixed(hk_arena_t *a);
/* Checks a pointer into a bump chunk (descriptor d): a live block of a live
 * arena, handed out since its last reset, not freed. Returns its usable
 * size; aborts naming `call` otherwise. */
size_t hk_bump_check(const void *p, const hk_desc_t *d, const char *call);
/* Checks and frees (marks, counts) a bump block; aborts if `size_hint`
 * exceeds it. Any thread; leaves errno alone. */
void hk_bump_free(void *p, const hk_desc_t *d, const char *call, size_t size_hint);
/* Grows (or shrinks) the arena's last block p of `usable` bytes in place to
 * `size`; 1 if done. The arena's allocating thread only. */
int hk_bump_resize(hk_arena_t *a, void *p, size_t usable, size_t size);
/* Reset: rewinds to the first chunk, gives back chunks this round did not
 * reach, invalidates every block (what hk_bump_rewind does when b->rewind
 * is set). Returns 0 instead when the arena also
 * holds blocks of the normal paths or purges on reset: the chunks are then
 * forgotten (hk_bump_drop) and the caller runs the full reset. */
int hk_bump_reset(hk_arena_t *a);
/* Gives back the chunks after the current one (a reset keeps the ones the
 * last round reached; they hold no block of this round); 1 if any went.
 * On a failure: they count against the arena's capacity. */
int hk_bump_trim(hk_arena_t *a);
/* Forgets every chunk (full reset, destroy: the caller frees the spans). */
void hk_bump_drop(hk_arena_t *a);
/* Bytes of bump blocks handed out and not freed, and bump allocations. */
size_t hk_bump_live(hk_arena_t *a, uint64_t *allocs);

#endif /* HK_CORE_ARENA_BUMP_H */
