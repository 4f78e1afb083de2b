/*
 * core/region.h — the reserved region, its descriptor array and runs of
 * chunks (core/region.c); spans inside the runs are core/span.h's.
 * Must not allocate through malloc. Invariant: every unit below
 * hk_region_used has a committed descriptor (see core/types.h).
 */
#ifndef HK_CORE_REGION_H
#define HK_CORE_REGION_H

#include "core/base.h"
#include "core/types.h"

/* Read by free()'s fast path: plain globals, so each is one RIP-relative
 * operand (fields of a struct cost an address load first). */
extern HK_HIDDEN uintptr_t hk_region_base;
extern HK_HIDDEN _Atomic size_t hk_region_used; /* bytes handed to runs; descriptors committed below */
extern HK_HIDDEN hk_desc_t *hk_region_desc;
/* A byte per unit beside the descriptors, committed with them: a slab's
 * owner tag (core/owner.h), kept off the descriptor's line. */
extern HK_HIDDEN uint8_t *hk_region_owner;
/* hk_region_used >> 4: the free-list link check compares a rotated offset
 * with it as a memory operand (core/harden.h; 2 instructions less). */
extern HK_HIDDEN _Atomic size_t hk_region_slots;

/* The most runs, and bytes, of destroyed arenas kept committed at once
 * (core/region.c says why). */
#define HK_PARK_RUNS 16
#define HK_PARK_BYTES ((size_t)16 << 20)

typedef struct hk_region {
	size_t len;              /* bytes reserved */
	size_t desc_committed;   /* bytes of the descriptor array committed (from its page) */
	size_t owner_committed;  /* bytes of hk_region_owner committed */
	hk_lock_t lock;
	unsigned nfree;
	struct { uint32_t unit, units; } free_runs[64]; /* runs of destroyed arenas */
	/* Runs of destroyed arenas kept committed for the next arena's growth
	 * (core/region.c hk_region_park_run), oldest first. */
	unsigned nparked;
	_Atomic size_t parked_bytes; /* read by the stats without the lock */
	struct { uint32_t unit, units, tag; uint64_t stamp; } parked[HK_PARK_RUNS];
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
 * A slab unit's carved end (core/types.h: `bump`, and `lim` for free()'s
 * fast path): blocks at or above it were never handed out. Written under
 * the class lock by the carving thread, read without it by free(): a racy
 * read of an aligned word, which sees either end, both above every block
 * handed out before the free. Only TSan builds make it an atomic load (GCC
 * does not fold one into a compare: one more instruction on free()'s fast
 * path).
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

static inline uint64_t hk_desc_lim(const hk_desc_t *d)
{
	return HK_DESC_RACY_LOAD(d->lim);
}

/*
 * end: a carved end at a block boundary (start + k * bsize), divm: the
 * class's hk_divm (any value when end == start). lim = k * (bsize * divm
 * mod 2^64) = k * e with 0 < e <= bsize (core/sizeclass.h): block j of the
 * span gives (p - start) * divm = j * e, below lim iff j < k, and any
 * position off a block boundary gives at least divm, far above any lim
 * (k * e is below the span's length). lim 0 (nothing carved, not a slab)
 * takes nothing.
 */
static inline void hk_desc_set_carved(hk_desc_t *d, uintptr_t end, uint64_t divm)
{
	__atomic_store_n(&d->bump, end, __ATOMIC_RELAXED);
	__atomic_store_n(&d->lim, (uint64_t)(end - d->start) * divm, __ATOMIC_RELAXED);
}

/* Units at the end of every run kept PROT_NONE (hardened guard). */
#define HK_RUN_GUARD ((uint32_t)(CONFIG_HK_HARDENED ? 1 : 0))

int hk_region_init(void);
/* A run of `chunks` reserved (not committed) chunks; its units' descriptors
 * are committed and zero (kind NONE). Returns 0 or ENOMEM. */
int hk_region_take_run(size_t chunks, uint32_t *unit);
/* Gives a decommitted run back for reuse by any arena. */
void hk_region_give_run(uint32_t unit, uint32_t units);
/* Keeps a destroyed arena's committed run (guard unit included), its
 * descriptors zeroed, for hk_region_take_parked with the same `tag` (not
 * 0: the caller's description of its pages); `now` stamps it. 0: no room
 * (the caller decommits and gives it back). */
int hk_region_park_run(uint32_t unit, uint32_t units, uint32_t tag, uint64_t now);
/* A parked run's first `chunks` chunks, tagged `tag`: committed, maybe
 * resident and not zero, descriptors zero. 1 if found. */
int hk_region_take_parked(size_t chunks, uint32_t tag, uint32_t *unit);
/* Takes out the oldest parked run stamped at or before `until` (1), else
 * sets *stamp to the oldest one's stamp (UINT64_MAX: none) and returns 0.
 * The caller decommits the run and gives it back (the purger). */
int hk_region_unpark(uint64_t until, uint32_t *unit, uint32_t *units, uint64_t *stamp);

#endif /* HK_CORE_REGION_H */
