/*
 * core/backend.h — the contract between the lanes / malloc API and the
 * backends: slabs (Tiny and MID, core/slab.c), POOL spans, direct mappings.
 * Owns declarations only. A backend pruned by Kconfig is never called: the
 * callers test CONFIG_HK_* first, so its symbols need not exist.
 */
#ifndef HK_CORE_BACKEND_H
#define HK_CORE_BACKEND_H

#include "core/types.h"

/* Slabs: a batch of up to `want` blocks of class `cls`, linked through word 0
 * (NULL-terminated) into *chain; returns how many (0: out of memory).
 * `kind` is HK_KIND_SLAB. */
unsigned hk_slab_refill(hk_arena_t *a, unsigned cls, uint32_t units, unsigned kind,
			void **chain, unsigned want);
/* Returns up to *left blocks of class `cls` from the chain at *chain to
 * their slabs of arena a, stopping early at a block of another arena;
 * *chain becomes the rest, *left what was not given back. Returns 1 if a
 * span went back to the arena (the purger may be needed). */
int hk_slab_flush(hk_arena_t *a, unsigned cls, void **chain, size_t *left);
/* Releases a class's cached empty slab if it has been idle since `until`. */
int hk_slab_release_idle(hk_arena_t *a, unsigned cls, uint64_t until);
/* Arena destroy: forget every slab of the class (class locks held). */
void hk_slab_forget(hk_arena_t *a, unsigned cls);
/* Arena reset: every slab of the class becomes empty (kept as the class's
 * empty slab or given back, stamped now). 1 if a span went back. */
int hk_slab_reset(hk_arena_t *a, unsigned cls, uint64_t now);

/* Tiny: classes up to HK_TINY_LAST, 64 KiB one-class pages. */
unsigned hk_tiny_refill(hk_arena_t *a, unsigned cls, unsigned kind, void **chain, unsigned want);
/* MID: the classes above Tiny, multi-unit spans. */
unsigned hk_mid_refill(hk_arena_t *a, unsigned cls, unsigned kind, void **chain, unsigned want);

/* POOL: one block per span of whole units, aligned to `align` (<= any power
 * of two). NULL when out of memory or capacity. */
void *hk_pool_alloc(hk_arena_t *a, size_t size, size_t align);
/* Frees the POOL block of descriptor d (p == d->start checked by caller).
 * Returns -1, freeing nothing, when the block is no longer live (a racing
 * free got there first: the kind is checked again under the arena lock). */
int hk_pool_free(hk_arena_t *a, hk_desc_t *d);
/* Arena reset: frees every live POOL block of user arena a. 1 if any. */
int hk_pool_reset(hk_arena_t *a, uint64_t now);

/* Direct mappings above every enabled band. *fresh says the memory is
 * zero (a new mapping, not from the cache). */
void *hk_large_alloc(hk_arena_t *a, size_t size, size_t align, int *fresh);
/* 1 and the usable size / arena if p is a live large block, else 0. */
int hk_large_lookup(const void *p, size_t *usable, unsigned *arena);
/* Frees a large block found by hk_large_lookup; -1 when it is gone from the
 * table by now (a racing free of the same block). */
int hk_large_free(void *p);
/* Grows or shrinks in place or by mremap; NULL (block intact) on failure. */
void *hk_large_realloc(void *p, size_t size);
/* Unmaps cached mappings idle since `until` (all if force). Bit 0: some
 * were unmapped; bit 1: some remain cached. */
int hk_large_trim(uint64_t until, int force);
/* Frees every large block of an arena (reset/destroy). */
void hk_large_free_arena(unsigned arena);
/* Bytes of live direct mappings (stats). */
size_t hk_large_bytes(void);
/* Freed mappings kept for reuse (never more than CONFIG_HK_LARGE_CACHE). */
unsigned hk_large_cached(void);
void hk_large_lock_all(void);
void hk_large_unlock_all(void);

#endif /* HK_CORE_BACKEND_H */
