/*
 * core/region.h — the reserved region, its descriptor array, and spans of
 * whole 64 KiB units inside an arena's runs (span.c).
 * Must not allocate through malloc. Invariant: every unit below
 * hk_region_used has a committed descriptor (see core/types.h).
 */
#ifndef HK_CORE_REGION_H
#define HK_CORE_REGION_H

#include "core/types.h"

/* Read by free()'s fast path: plain globals, so each is one RIP-relative
 * operand (fields of a struct cost an address load first). */
#define HK_HIDDEN __attribute__((visibility("hidden")))
extern HK_HIDDEN uintptr_t hk_region_base;
extern HK_HIDDEN _Atomic size_t hk_region_used; /* bytes handed to runs; descriptors committed below */
extern HK_HIDDEN hk_desc_t *hk_region_desc;
/* hk_region_used >> 4: the free-list link check compares a rotated offset
 * with it as a memory operand (core/harden.h; 2 instructions less). */
extern HK_HIDDEN _Atomic size_t hk_region_slots;

typedef struct hk_region {
	size_t len;              /* bytes reserved */
	size_t desc_committed;   /* bytes of the descriptor array committed */
	hk_lock_t lock;
	unsigned nfree;
	struct { uint32_t unit, units; } free_runs[64]; /* runs of destroyed arenas */
} hk_region_t;

extern hk_region_t hk_region;

static inline hk_desc_t *hk_desc_at(uint32_t unit)
{
	return &hk_region_desc[unit];
}

static inline uint32_t hk_unit_of(const void *p)
{
	return (uint32_t)(((uintptr_t)p - hk_region_base) >> HK_UNIT_SHIFT);
}

static inline void *hk_unit_addr(uint32_t unit)
{
	return (void *)(hk_region_base + ((uintptr_t)unit << HK_UNIT_SHIFT));
}

/* The descriptor of a pointer inside the region's used part, else NULL. */
static inline hk_desc_t *hk_desc_of(const void *p)
{
	uintptr_t off = (uintptr_t)p - hk_region_base;
	if (off >= atomic_load_explicit(&hk_region_used, memory_order_acquire))
		return NULL;
	return &hk_region_desc[off >> HK_UNIT_SHIFT];
}

/*
 * A slab unit's carved end (core/types.h: `bump`): blocks at or above it
 * were never handed out. Written under the class lock by the carving
 * thread, read without it by free(): a racy read of an aligned word, which
 * sees either end, both above every block handed out before the free.
 * Only TSan builds make it an atomic load (GCC does not fold one into a
 * compare: one more instruction on free()'s fast path).
 */
#ifdef __SANITIZE_THREAD__
#define HK_DESC_RACY_LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#else
#define HK_DESC_RACY_LOAD(x) (x)
#endif

static inline uintptr_t hk_desc_carved(const hk_desc_t *d)
{
	return HK_DESC_RACY_LOAD(d->bump);
}

static inline void hk_desc_set_carved(hk_desc_t *d, uintptr_t end)
{
	__atomic_store_n(&d->bump, end, __ATOMIC_RELAXED);
}

/* Units at the end of every run kept PROT_NONE (hardened guard). */
#define HK_RUN_GUARD ((uint32_t)(CONFIG_HK_HARDENED ? 1 : 0))

int hk_region_init(void);
/* A run of `chunks` reserved (not committed) chunks; its units' descriptors
 * are committed and zero (kind NONE). Returns 0 or ENOMEM. */
int hk_region_take_run(size_t chunks, uint32_t *unit);
/* Gives a decommitted run back for reuse by any arena. */
void hk_region_give_run(uint32_t unit, uint32_t units);

/* ---- spans (core/span.c); the arena lock is held for all of these ---- */

/* Head unit of a new span of `units` (aligned to `align_units`, a power of
 * two), grown from a new run when needed; HK_NIL when out of memory or over
 * the arena's capacity. */
uint32_t hk_span_alloc(hk_arena_t *a, uint32_t units, uint32_t align_units);
/* Returns a span (head, units) to its arena: dirty, stamped now, coalesced. */
void hk_span_free(hk_arena_t *a, uint32_t head, uint32_t units, uint64_t now);
/* The default arena's held POOL span (core/span.c): hk_span_hold keeps a
 * freed POOL span whole for the next request of the same length (1: held,
 * 0: free it as usual); hk_span_unhold gives it back as a live POOL span
 * (head unit; `bump` is the caller's) or HK_NIL. */
int hk_span_hold(hk_arena_t *a, uint32_t head, uint32_t units, uint64_t now);
uint32_t hk_span_unhold(hk_arena_t *a, uint32_t units, uint32_t align_units);
/* The free-list bucket of a span of `units` (for the validators). */
unsigned hk_span_bucket(uint32_t units);
/* Writes the hot fields into every unit of a span (bin: a slab's arena's
 * bin of its class, core/types.h). */
void hk_span_mark(uint32_t head, uint32_t units, unsigned kind, unsigned bin,
		  unsigned arena, size_t bsize);
/* 1 if spans were taken or freed since the last call (the purger's look). */
int hk_span_busy(hk_arena_t *a);
/* Takes up to `max` dirty spans stamped at or before `until` (much earlier
 * when `busy`) out of the lists (they become PURGING). Returns how many;
 * *next gets the earliest due stamp of a dirty span left (UINT64_MAX if
 * none): the purger looks again CONFIG_HK_PURGE_DELAY_MS after it. */
unsigned hk_span_take_dirty(hk_arena_t *a, uint64_t until, int busy, uint32_t *heads,
			    uint32_t *units, unsigned max, uint64_t *next);
/* Puts purged spans back, clean. */
void hk_span_put_clean(hk_arena_t *a, const uint32_t *heads, const uint32_t *units, unsigned n);

#endif /* HK_CORE_REGION_H */
