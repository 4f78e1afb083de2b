/*
 * core/alloc.h — the allocation API's internal entry points (core/alloc.c):
 * the one allocation routine behind every slow path and arena call, the
 * checked free, usable size and realloc. The hk_* functions themselves are
 * declared in include/hakmem.h.
 */
#ifndef HK_CORE_ALLOC_H
#define HK_CORE_ALLOC_H

#include "core/types.h"

/* flags: HK_ALLOC_ZERO (calloc), HK_ALLOC_DENSE (a block realloc moves,
 * touched through its copied bytes at once: a POOL span may come from a
 * THP run, core/span.c). */
#define HK_ALLOC_ZERO 1
#define HK_ALLOC_DENSE 2
void *hk_alloc_in(hk_arena_t *a, size_t size, size_t align, int flags);
/* hk_malloc naming another API call in its aborts (core/alloc.c). */
void *hk_malloc_as(size_t size, const char *call);
void hk_free_checked(void *p, const char *call, size_t size_hint);
size_t hk_usable_checked(const void *p, const char *call, unsigned *arena);
void *hk_realloc_in(hk_arena_t *a, void *p, size_t size, const char *call);
/*
 * The sampler's turn for an allocation hk_malloc's countdown does not see
 * (aligned, a large calloc, an arena's block): while profiling it counts
 * down like a malloc, and one the profiler picks is served from a direct
 * mapping of the arena (its free leaves the fast path; a reset or destroy
 * unmaps it and drops its record) and recorded. NULL: serve it as usual
 * (always when the profiler is off, or for a region arena, whose pointer
 * bump has no countdown).
 */
void *hk_sample_alloc(hk_arena_t *a, size_t size, size_t align, int zero);

#endif /* HK_CORE_ALLOC_H */
