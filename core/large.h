/*
 * core/large.h — direct OS mappings above every enabled band
 * (core/large.c): aligned, tracked so free/usable_size/realloc know them,
 * a small cache of freed mappings, mremap for realloc.
 */
#ifndef HK_CORE_LARGE_H
#define HK_CORE_LARGE_H

#include "core/types.h"

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

#endif /* HK_CORE_LARGE_H */
