/*
 * core/lane.h — per-thread lanes: the TLS pointer the fast paths read, and
 * the slow functions behind them. Owns lane creation, refill/flush of bins,
 * thread exit and the lanes' part of fork. Lanes live in memory mapped
 * through platform, never malloc. Invariant: hk_lane_self is never NULL
 * (static empty lane before the first slow path, dead lane after exit).
 */
#ifndef HK_CORE_LANE_H
#define HK_CORE_LANE_H

#include "core/types.h"

extern __thread hk_lane_t *hk_lane_self __attribute__((tls_model("initial-exec")));

/* Sets up the key whose destructor runs at thread exit (init only). */
int hk_lane_global_init(void);
/* The calling thread's lane, created on first use; NULL when it has none
 * (exiting thread, or no memory for one). */
hk_lane_t *hk_lane_get(void);
/* First live lane (lanes lock held; linked by `next`). */
hk_lane_t *hk_lanes_live(void);
/* A block of lane class `cls` for the default arena (bin, refill, or a
 * direct slab block for a dead lane); NULL when out of memory. */
void *hk_lane_alloc(unsigned cls);
/* Puts a checked, marked free block of the default arena into the bin
 * (flushing half of a full bin first). */
void hk_lane_free(void *p, unsigned cls);
/* Returns every block of the calling thread's bins to their slabs. */
void hk_lane_flush_self(void);
/* Sums lane counters and the bytes held in bins. */
void hk_lane_sum(hk_stats_t *out, size_t *bin_bytes);
void hk_lanes_lock(void);
void hk_lanes_unlock(void);
/* fork child: the other threads are gone; their bins go back to the slabs. */
void hk_lanes_after_fork_child(void);

#endif /* HK_CORE_LANE_H */
