/*
 * core/arena_bump.h — region-mode arenas (HK_ARENA_BUMP): the inline pointer
 * bump hk_arena_malloc takes first, and the slow functions behind it (new
 * chunks, alignment, frees and size checks, reset, stats). The state is
 * struct hk_bump in core/types.h. Invariant: a bump block is 16-byte aligned
 * and preceded by its header word; `cur` only moves forward between resets.
 */
#ifndef HK_CORE_ARENA_BUMP_H
#define HK_CORE_ARENA_BUMP_H

#include "core/region.h"
#include "core/types.h"

#define HK_BUMP_HDR ((uintptr_t)8)          /* header word before every block */
#define HK_BUMP_MAX ((size_t)256 << 10)     /* larger requests take the normal paths */
#define HK_BUMP_ALIGN_MAX ((size_t)1 << HK_UNIT_SHIFT) /* larger alignments too */

/* The header of a block at p taking `step` bytes with its header (usable:
 * step - 8); bit 0 marks it freed. */
static inline uintptr_t hk_bump_hdr(const hk_bump_t *b, uintptr_t p, uintptr_t step)
{
	return step ^ b->key ^ p;
}

/* Bytes a block of `size` takes with its header: a multiple of 16, so the
 * usable size (step - 8) is 8 mod 16 and every header is 8 mod 16. At most
 * `size` only when size + 23 overflowed. */
static inline uintptr_t hk_bump_step(size_t size)
{
	return (size + HK_BUMP_HDR + 15) & ~(uintptr_t)15;
}

/* 1 if a block of `size` fits after the header slot h of a chunk ending at
 * end (h <= end): two compares, as the cursor may sit 8 bytes before end. */
static inline int hk_bump_fits(uintptr_t h, uintptr_t end, size_t size, uintptr_t step)
{
	return step <= end - h && step > size;
}

/*
 * Fast path (hk_arena_malloc, the arena's allocating thread, tested before
 * the cache): "fits in the current chunk" (every size fails while there is
 * no chunk: cur = end = 0), then the header, the cursor and the count; about
 * 20 instructions with the call. 0: take hk_alloc_in.
 */
static inline int hk_bump_malloc(hk_arena_t *a, size_t size, void **out)
{
	hk_bump_t *b = &a->bump;
	uintptr_t h = atomic_load_explicit(&b->cur, memory_order_relaxed);
	uintptr_t step = hk_bump_step(size);
	if (__builtin_expect(hk_bump_fits(h, b->end, size, step), 1)) {
		uintptr_t p = h + HK_BUMP_HDR;
		*(uintptr_t *)h = hk_bump_hdr(b, p, step);
		atomic_store_explicit(&b->cur, h + step, memory_order_relaxed);
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
/* Forgets every chunk (full reset, destroy: the caller frees the spans). */
void hk_bump_drop(hk_arena_t *a);
/* Bytes of bump blocks handed out and not freed, and bump allocations. */
size_t hk_bump_live(hk_arena_t *a, uint64_t *allocs);

#endif /* HK_CORE_ARENA_BUMP_H */
