/*
 * core/arena_lane.h — per-thread caches of user arenas ("arena slots", see
 * the DESIGN comment in core/types.h): the inline pop/push that
 * hk_arena_malloc and hk_free's arena branch take, and the slow functions
 * behind them. Owns no state here. Invariant: a slot's bins are used only
 * while its index and epoch match the arena's (hk_alane_slot checks both).
 */
#ifndef HK_CORE_ARENA_LANE_H
#define HK_CORE_ARENA_LANE_H

#include "core/harden.h"
#include "core/lane.h"
#include "core/types.h"

/* Bumped by reset and destroy with every class lock of the arena held. */
extern _Atomic uint32_t hk_arena_epoch[HK_ARENA_MAX];

/* One writer (the owning thread): relaxed load + store, no locked add. */
static inline void hk_alane_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline uint32_t hk_abin_room(hk_abin_t *b)
{
	return atomic_load_explicit(&b->room, memory_order_relaxed);
}

static inline void hk_abin_set_room(hk_abin_t *b, uint32_t room)
{
	atomic_store_explicit(&b->room, room, memory_order_relaxed);
}

/* The calling thread's slot for arena `index` if it is current, else NULL
 * (no slot yet, another arena's, or stale after a reset). Index 0 never
 * matches: the empty slot's epoch is one no arena reaches. */
static inline hk_aslot_t *hk_alane_slot(unsigned index)
{
	hk_aslot_t *s = hk_lane_self->aslot[index & (HK_ASLOTS - 1)];
	if (__builtin_expect(s->index == index &&
				     s->epoch == atomic_load_explicit(&hk_arena_epoch[index],
								      memory_order_relaxed),
			     1))
		return s;
	return NULL;
}

/* Pops a block of class cls from a current slot; NULL when the bin is empty.
 * Cost: the head, its next link, room, the free mark, one counter. */
static inline void *hk_alane_pop(hk_aslot_t *s, unsigned cls)
{
	hk_abin_t *b = &s->bin[cls];
	void **p = b->head;
	if (__builtin_expect(p == NULL, 0))
		return NULL;
	b->head = hk_next_get(p);
	hk_abin_set_room(b, hk_abin_room(b) + 1);
	p[1] = NULL;
	hk_alane_add(&s->allocs, 1);
	return p;
}

/* A block of class cls from user arena a for the calling thread (its slot,
 * refilled from the slabs; the locked path without a lane). Counts the
 * allocation; NULL when the arena's capacity or memory is exhausted. */
void *hk_alane_alloc(hk_arena_t *a, unsigned cls);
/* hk_alane_free without a current slot or with a full bin. */
void hk_alane_free_slow(void *p, unsigned index, unsigned cls);

/* Frees a checked block of user arena `index`, class cls, into the calling
 * thread's slot (flushing half of a full bin first). Frees are not counted
 * here: derived from the bins. Leaves errno alone. */
static inline void hk_alane_free(void *p, unsigned index, unsigned cls)
{
	((uintptr_t *)p)[1] = hk_secret ^ (uintptr_t)p;
	hk_aslot_t *s = hk_alane_slot(index);
	if (__builtin_expect(s != NULL, 1)) {
		hk_abin_t *b = &s->bin[cls];
		uint32_t room = hk_abin_room(b);
		if (__builtin_expect(room != 0, 1)) {
			hk_next_set(p, b->head);
			b->head = p;
			hk_abin_set_room(b, room - 1);
			return;
		}
	}
	hk_alane_free_slow(p, index, cls);
}
/* Stats of arena a held in live slots (lanes lock taken): allocs and frees
 * not yet folded into a->ctr, and bytes sitting in current bins. */
void hk_alane_sum(hk_arena_t *a, uint64_t *allocs, uint64_t *frees, size_t *held);
/* Reset/destroy: every class lock of the arena held. */
void hk_alane_bump(unsigned index);
/* Create: the arena now at `index` starts a new life (lanes lock held);
 * slots of its earlier lives are discarded, not folded into it. */
void hk_alane_born(unsigned index);
/* Thread exit and fork's child: flushes and folds every slot of lane l and
 * gives them back (lanes lock held). Returns 1 if the purger is needed. */
int hk_alane_release(hk_lane_t *l);

#endif /* HK_CORE_ARENA_LANE_H */
