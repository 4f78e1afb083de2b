/*
 * core/pool.h — the POOL backend (core/pool.c, CONFIG_HK_POOL): one block
 * per span of whole 64 KiB units. A pruned backend is never called:
 * callers test CONFIG_HK_POOL first.
 */
#ifndef HK_CORE_POOL_H
#define HK_CORE_POOL_H

#include "core/types.h"

/* POOL: one block per span of whole units, aligned to `align` (<= any power
 * of two). NULL when out of memory or capacity. */
void *hk_pool_alloc(hk_arena_t *a, size_t size, size_t align);
/* Frees the POOL block of descriptor d (p == d->start checked by caller);
 * `hold`: the default arena may hold its span whole for a request of the
 * same length (core/span.c). Returns -1, freeing nothing, when the block is
 * no longer live (a racing free got there first: the kind is checked again
 * under the arena lock). */
int hk_pool_free(hk_arena_t *a, hk_desc_t *d, int hold);
/* Arena reset: frees every live POOL block of user arena a. 1 if any. */
int hk_pool_reset(hk_arena_t *a, uint64_t now);

#endif /* HK_CORE_POOL_H */
