/*
 * core/arena_table.h — the table of every arena (core/arena_table.c):
 * hk_arena0 and the slot of each arena index.
 * It sits below the lanes, backends and purger, which find an arena by its
 * index (a descriptor's `arena`); making, resetting and destroying arenas is
 * core/arena.c's. Invariant: a slot once filled keeps its struct for good.
 */
#ifndef HK_CORE_ARENA_TABLE_H
#define HK_CORE_ARENA_TABLE_H

#include "core/types.h"

extern struct hk_arena hk_arena0;
/* The arena of an index below hk_arena_count(). */
hk_arena_t *hk_arena_at(unsigned index);
unsigned hk_arena_count(void);
/* Makes hk_arena0 index 0 (init, before any other arena). */
void hk_arena_table_init(void);
/* The table lock: held across a take and the set-up of what it took, and
 * by fork (core/types.h lock order: inside the family lock, outside the
 * class locks). */
void hk_arena_table_lock(void);
void hk_arena_table_unlock(void);
/* A slot for a new arena, table lock held: a fresh struct (mapped), else
 * the next dead one. 0 or ENOMEM; the struct's magic is 0 (neither live nor
 * dead) until its set-up. */
int hk_arena_table_take(unsigned *index, hk_arena_t **a);

#endif /* HK_CORE_ARENA_TABLE_H */
