/*
 * core/sample.h — the one sampler behind the guard and the heap profiler
 * (core/sample.c): a per-thread countdown of bytes allocated on slow paths
 * and one of pops per default-heap bin, reset to a random interval at each
 * sample, and the choice of how a sampled block
 * is served. Called only from core/alloc.c's slow paths (and, through
 * hk_lane_bin_start, core/lane.c's set-up of a bin). Invariant: a
 * sampled block is never a default-heap slab block, so hk_free's fast path
 * never takes one and every free of it reaches hk_sample_free.
 */
#ifndef HK_CORE_SAMPLE_H
#define HK_CORE_SAMPLE_H

#include "core/types.h"

/* Reads HAKMEM_GUARD_RATE, HAKMEM_PROFILE* and HAKMEM_STATS_INTERVAL
 * through `get` (init, before any lane exists). */
void hk_sample_init(const char *(*get)(const char *name));

enum hk_sample_how {
	HK_SAMPLE_NONE = 0, /* serve as usual (*out NULL) */
	HK_SAMPLE_DONE,     /* *out is a guarded block (recorded if profiling) */
	HK_SAMPLE_RECORD,   /* profiling: the caller serves `size` from a block
			     * free() takes slowly, then calls hk_sample_record */
};
/* A countdown of lane l went below zero on a malloc of `size`: the lane's
 * count of bytes (bin HK_SAMPLE_BYTES, malloc_slow), or the count of pops
 * of default-heap bin `bin` (hk_malloc's fast path, which popped nothing:
 * the caller serves the block as usual unless this says otherwise).
 * Draws the next interval and decides. */
#define HK_SAMPLE_BYTES ((size_t)-1)
int hk_sample_take(hk_lane_t *l, size_t size, size_t bin, void **out);
/* Records a block the caller served for HK_SAMPLE_RECORD, or one
 * hk_sample_count picked, of arena number `arena` (0: the default heap). */
void hk_sample_record(void *p, size_t size, unsigned arena);
/* While profiling, counts `size` bytes of an allocation that hk_malloc's
 * countdown does not see (aligned, a large calloc, an arena's block, a
 * realloc into a mapping) down the calling thread's countdown: 1 when the
 * profiler is to record it (the caller serves it from a block whose free
 * leaves the fast path: a mapping or POOL block). 0 at once when off. */
int hk_sample_count(size_t size);

/* Live records of blocks outside the guard pool: free_other looks up its
 * POOL and large blocks only while this is non-zero. */
extern _Atomic size_t hk_sample_outside;
/* Frees a block the sampler served or recorded; 1 if it was a guarded block
 * (gone), 0 if the caller still frees it (the record is dropped). */
int hk_sample_free(void *p);
/* Sets the calling thread's countdown to a fresh interval (after a rate
 * change, so it takes effect at once). */
void hk_sample_reset_self(void);

/* fork: the guard's and the profiler's locks, taken last in prepare. */
void hk_sample_atfork_prepare(void);
void hk_sample_atfork_release(void);

#endif /* HK_CORE_SAMPLE_H */
