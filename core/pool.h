/*
 * core/pool.h — the POOL backend (core/pool.c, CONFIG_HK_POOL): one block
 * per span of whole 64 KiB units. A pruned backend is never called:
 * callers test CONFIG_HK_POOL first.
 */
#ifndef HK_CORE_POOL_H
#define HK_CORE_POOL_H

#include "core/types.h"

/* POOL: one block per span of whole units, aligned to `align` (<= any power
 * of two); `dense`: the caller touches most of it at once (a realloc move:
 * core/span.c may cut it from a THP run). NULL when out of memory or
 * capacity. */
void *hk_pool_alloc(hk_arena_t *a, size_t size, size_t align, int dense);
/* Grows the live POOL block of descriptor d (of arena a) in place to
 * `size` bytes, more than it has, when it is the block realloc grew last
 * in a (hk_pool_mark_grown) and the free span after it in its run has the
 * room: 0 when it did, -1 (nothing changed) when the caller must move it. */
int hk_pool_grow(hk_arena_t *a, hk_desc_t *d, size_t size);
/* The live POOL block of descriptor d (of arena a) is the one realloc
 * grew last: the only one hk_pool_grow grows in place (core/alloc.c). A
 * hint: read and written relaxed, a stale one only moves a block. */
void hk_pool_mark_grown(hk_arena_t *a, const hk_desc_t *d);
int hk_pool_last_grown(hk_arena_t *a, const hk_desc_t *d);
/* Frees the POOL block of descriptor d (p == d->start checked by caller);
 * `hold`: the default arena may hold its span whole for a request of the
 * same length (core/span.c). Returns -1, freeing nothing, when the block is
 * no longer live (a racing free got there first: the kind is checked again
 * under the arena lock). */
int hk_pool_free(hk_arena_t *a, hk_desc_t *d, int hold);
/* Arena reset: frees every live POOL block of user arena a. 1 if any. */
int hk_pool_reset(hk_arena_t *a, uint64_t now);

#endif /* HK_CORE_POOL_H */
