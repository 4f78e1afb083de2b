/*
 * core/lane.h — per-thread lanes and their caches of every arena (the
 * DESIGN comment in core/types.h): the TLS pointer the fast paths read,
 * cache slots, and the slow functions behind the fast paths. Lanes live in
 * memory mapped through platform, never malloc. Invariant: hk_lane_self is
 * never NULL (static empty lane before the first slow path, dead lane
 * after exit), and a bin with room > 0 is set up for its slot's arena.
 */
#ifndef HK_CORE_LANE_H
#define HK_CORE_LANE_H

#include "core/types.h"

extern __thread hk_lane_t *hk_lane_self __attribute__((tls_model("initial-exec")));

/* Set at init by core/sample.c (above): starts the sampler's countdown in
 * a default-heap bin being set up (core/types.h); NULL without a sampler. */
extern void (*hk_lane_bin_start)(hk_lane_t *l, unsigned bin);
/* Sets up the key whose destructor runs at thread exit (init only). */
int hk_lane_global_init(void);
/* The calling thread's live lane, created on first use; NULL without one
 * (exiting thread, no memory). */
hk_lane_t *hk_lane_get(void);
/* First live lane (lanes lock held; linked by `next`). */
hk_lane_t *hk_lanes_live(void);

/* A block of class `cls` of arena a (a NUMA node's arena for the default
 * heap) from the calling thread's cache of it: bin, refill, or straight
 * from the slabs without a lane or a cache slot. Counts a user arena's
 * allocation; NULL when out of memory or capacity. */
void *hk_cache_alloc(hk_arena_t *a, unsigned cls);
/* Puts a checked free slab block (descriptor d) into the calling thread's
 * cache of its arena (flushing half of a full bin first). Keeps errno. */
void hk_cache_free(void *p, const hk_desc_t *d);
/* The same, but straight back to its slab, past the bin: for a block that
 * realloc moved away from (its class is being left behind). */
void hk_cache_give_back(void *p, const hk_desc_t *d);

/* Direct paths from hk_malloc's and hk_free's misses, the default heap's
 * bin `bin` of lane l (hk_lane_self): refill the empty bin from the slabs
 * of a (the caller's node's arena: a live lane's thread is past init) and
 * pop a block; flush half of the full bin and
 * push the checked, unmarked block p. They return NULL / 0, having changed
 * nothing, when the general path must decide (no live lane, a trim
 * request, the bin not set up); a failed refill returns NULL too. The
 * caller set hk_slow_call. */
void *hk_lane_refill_pop(hk_lane_t *l, hk_arena_t *a, unsigned bin);
int hk_lane_flush_push(hk_lane_t *l, void *p, unsigned bin);

/* Blocks lane l's bin of the slot starting at `bins` holds at most now
 * (validators). */
int64_t hk_bin_limit(const hk_lane_t *l, unsigned bins, unsigned cls);
/* A cache slot for a new user arena, HK_CACHE_NONE when all are taken
 * (the slot's lanes were cleared when its last arena went). */
unsigned hk_cache_slot_take(hk_arena_t *a);
/* Reset / destroy of a user arena: every lane's bins of its slot are
 * emptied in place (blocks dropped: the slabs are reset); counters fold
 * into the arena, or are dropped with `destroy`, which frees the slot. */
void hk_cache_drop(hk_arena_t *a, int destroy);
/* A reset at the cost of what the arena handed out since the last one,
 * when the calling thread's cache is the arena's only one and its bins
 * took every block the arena's slabs gave: the blocks handed out go back
 * into its bins. Returns 0 (nothing changed) otherwise. */
int hk_cache_rewind(hk_arena_t *a);
/* Stats of user arena a in lanes' caches: allocs and frees not yet folded
 * into a->ctr, and bytes held in bins. */
void hk_cache_sum(hk_arena_t *a, uint64_t *allocs, uint64_t *frees, size_t *held);

/* Returns every block of the calling thread's bins to their slabs. */
void hk_lane_flush_self(void);
/* Asks every other lane to flush on its owner's next slow path (a lane
 * whose thread stays blocked keeps its bins: only the owner may touch
 * them, and the fast paths pay for no handshake). */
void hk_lanes_trim(void);
/* Any slow allocation path: honours a trim request to the caller's lane. */
static inline void hk_lane_trim_check(void)
{
	if (__builtin_expect(atomic_load_explicit(&hk_lane_self->trim, memory_order_relaxed), 0))
		hk_lane_flush_self();
}
/* Sums the default heap's lane counters and the bytes held in its bins. */
void hk_lane_sum(hk_stats_t *out, size_t *bin_bytes);
/* fork: the lanes lock and every slot lock, in the global order. */
void hk_lanes_lock(void);
void hk_lanes_unlock(void);
/* fork child: the other threads are gone; their bins go back to the slabs. */
void hk_lanes_after_fork_child(void);

#endif /* HK_CORE_LANE_H */
