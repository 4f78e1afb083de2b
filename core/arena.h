/*
 * core/arena.h — the arena table and the arenas' lifecycle (core/arena.c):
 * hk_arena0 and the default heap's per-node arenas, user arenas' slots,
 * reset/destroy, the family lock. Arena structs are in core/types.h.
 */
#ifndef HK_CORE_ARENA_H
#define HK_CORE_ARENA_H

#include "core/types.h"

extern struct hk_arena hk_arena0;
hk_arena_t *hk_arena_at(unsigned index);
/* Checks a user handle: aborts on a destroyed arena. */
hk_arena_t *hk_arena_check(hk_arena_t *a, const char *call);
/* The default heap's arena of the caller's NUMA node (hk_arena0 on one node,
 * or when a node's arena cannot be made). */
hk_arena_t *hk_heap_arena(void);
/* 1 once the default heap has an arena besides hk_arena0. */
int hk_heap_split(void);
void hk_arena_init0(void);
unsigned hk_arena_count(void);
void hk_arenas_lock_all(void);
/* The lock of parent/child links, first in the lock order (fork takes it). */
void hk_arena_family_lock(void);
void hk_arena_family_unlock(void);
void hk_arenas_unlock_all(void);

#endif /* HK_CORE_ARENA_H */
