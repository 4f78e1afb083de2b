/*
 * core/span.h — spans of whole 64 KiB units inside an arena's runs
 * (core/span.c): first fit from size-bucketed free lists, coalescing, runs
 * grown on demand, the purger's view of dirty spans. The arena lock is held
 * for all of these.
 */
#ifndef HK_CORE_SPAN_H
#define HK_CORE_SPAN_H

#include "core/types.h"

/* How the caller touches a new span (hk_span_alloc's `how`): any way; a
 * slab of blocks of at most HK_SPAN_SMALL_BLOCK bytes, which fill their
 * pages densely; a POOL block realloc moved, touched through its copied
 * bytes at once. The dense two may come from a THP run (core/span.c). */
enum { HK_SPAN_SPARSE, HK_SPAN_SLAB, HK_SPAN_COPIED };
/* Head unit of a new span of `units` (aligned to `align_units`, a power of
 * two), grown from a new run when needed; HK_NIL when out of memory or over
 * the arena's capacity. The head's flags are HK_DF_DIRTY if a page of the
 * span may be resident, else 0 (never touched, or purged), until the caller
 * sets them. */
uint32_t hk_span_alloc(hk_arena_t *a, uint32_t units, uint32_t align_units, int how);
#define HK_SPAN_SMALL_BLOCK (HK_UNIT / 8)
/* Takes the first `more` units of the free span right after live span
 * (head, units) of the same run, for the caller to mark as its own; -1
 * (nothing changed) when that span is not free, too short, or past the
 * arena's capacity. */
int hk_span_grow(hk_arena_t *a, uint32_t head, uint32_t units, uint32_t more);
/* Returns a span (head, units) to its arena: dirty, stamped now, coalesced. */
void hk_span_free(hk_arena_t *a, uint32_t head, uint32_t units, uint64_t now);
/* The default arena's held POOL span (core/span.c): hk_span_hold keeps a
 * freed POOL span whole for the next request of the same length (1: held,
 * 0: free it as usual); hk_span_unhold gives it back as a live POOL span
 * (head unit; `bump` is the caller's) or HK_NIL. */
int hk_span_hold(hk_arena_t *a, uint32_t head, uint32_t units, uint64_t now);
uint32_t hk_span_unhold(hk_arena_t *a, uint32_t units, uint32_t align_units);
/* 1 if unit u is in a dense run (THP advised): its pages fault in 2 MiB
 * at a time. Any lock or none (a relaxed read of the run's bit). */
int hk_span_dense(uint32_t u);
/* 1 if unit u is in a run on 4 KiB pages (no THP advice, no hugetlb): a
 * first touch there faults one page. Any lock or none (a relaxed read). */
int hk_span_small_pages(uint32_t u);
/* A destroyed arena's run (head h, `units` with its guard) leaves it:
 * parked committed for the next arena to grow into (core/region.c), else
 * decommitted and given back to the region. 1 if parked (the purger
 * decommits it if no arena takes it). */
int hk_span_retire_run(const hk_arena_t *a, uint32_t h, uint32_t units, uint64_t now);
/* The free list of the free span headed by d (for the validators). */
unsigned hk_span_list(const hk_desc_t *d);
/* Writes the hot fields into every unit of a span (bin: a slab's arena's
 * bin of its class, core/types.h). */
void hk_span_mark(uint32_t head, uint32_t units, unsigned kind, unsigned bin,
		  unsigned arena, size_t bsize);
/* 1 if spans were taken or freed since the last call (the purger's look). */
int hk_span_busy(hk_arena_t *a);
/* Frees the held span if stamped at or before `until`; returns the stamp of
 * the one still held, or UINT64_MAX. */
uint64_t hk_span_release_held(hk_arena_t *a, uint64_t until);
/* Takes up to `max` dirty spans stamped at or before `until` (now - delay;
 * much earlier when `busy`), and those stamped at or before `early` beyond
 * the recent peak's demand (core/span.c), out of the lists (they become
 * PURGING). Returns how many; *next gets the earliest due stamp of a dirty
 * span left (UINT64_MAX if none): the purger looks again `delay` after it. */
unsigned hk_span_take_dirty(hk_arena_t *a, uint64_t until, uint64_t delay, uint64_t early,
			    int busy, uint32_t *heads, uint32_t *units, unsigned max,
			    uint64_t *next);
/* Puts purged spans back, clean. */
void hk_span_put_clean(hk_arena_t *a, const uint32_t *heads, const uint32_t *units, unsigned n);

#endif /* HK_CORE_SPAN_H */
