/*
 * core/arena.h — the arenas' lifecycle (core/arena.c): set-up of hk_arena0
 * and the default heap's per-node arenas, user arenas made, reset and
 * destroyed, the family lock. Arena structs are in core/types.h, the table
 * of them in core/arena_table.h.
 */
#ifndef HK_CORE_ARENA_H
#define HK_CORE_ARENA_H

#include "core/types.h"

/* Checks a user handle: aborts on a destroyed arena. */
hk_arena_t *hk_arena_check(hk_arena_t *a, const char *call);
/* The default heap's arena of the caller's NUMA node (hk_arena0 on one node,
 * or when a node's arena cannot be made). */
hk_arena_t *hk_arena_heap(void);
/* Sets hk_arena0 up (init). */
void hk_arena_init0(void);
/* hk_arena_create once init is done: EINVAL / ENOMEM in errno and NULL on
 * failure. */
hk_arena_t *hk_arena_make(const hk_arena_config_t *cfg);
void hk_arena_lock_all(void);
/* The lock of parent/child links, first in the lock order (fork takes it). */
void hk_arena_family_lock(void);
void hk_arena_family_unlock(void);
void hk_arena_unlock_all(void);

/* The profiler's view of arenas (set from core/profile.c and core/sample.c,
 * above): hk_arena_divert is 1 while profiling (the slow paths read it to
 * call the sampler only then), and arenas made meanwhile get fast_bins
 * HK_BINS_NONE; once the profiler started,
 * hk_arena_forget(index) runs as a reset or destroy frees an arena's
 * mappings (sampled arena blocks are mappings: their records go). */
extern _Atomic int hk_arena_divert;
extern void (*_Atomic hk_arena_forget)(unsigned index);

#endif /* HK_CORE_ARENA_H */
