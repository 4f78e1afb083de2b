/*
 * core/span.c — spans of whole 64 KiB units inside an arena's runs: first
 * fit from size-bucketed free lists, split on allocation, coalescing with
 * free neighbours of the same run on free, runs grown on demand.
 * Every function runs under the arena lock (core/types.h lock order); the
 * region lock is taken inside to grow. Invariant: a free span is maximal
 * (its neighbours in the run are not free), every one of its units says
 * FREE, and its head and tail carry its length.
 */
#include <errno.h>
#include <string.h>

#include "core/base.h"
#include "core/lock.h"
#include "core/owner.h"
#include "core/platform.h"
#include "core/region.h"
#include "core/sizeclass.h"
#include "core/span.h"

static unsigned bucket_of(uint32_t units)
{
	if (units <= HK_CHUNK_UNITS)
		return units - 1;
	return HK_CHUNK_UNITS + (31u - (unsigned)__builtin_clz(units)) - 5;
}

/*
 * Dense runs: once an arena is big (heap_dense: CONFIG_HK_THP_HEAP_MIB of
 * runs with one lane refilling, 3/4 of it in small blocks live with more),
 * slabs of small blocks (HK_SPAN_SLAB: their pages fill densely) grow runs
 * of their own advised THP; a 4 KiB fault costs ~12 us of CPU here (half
 * of it counted as user time), and jq took 10k of them from 32 MiB, 4k
 * from 8 MiB (besides fewer TLB misses). Not small heaps: a dense run is
 * resident whole (its frontier, its slabs' uncarved tails), and from
 * 4 MiB git's processes peaked 9 % higher than from 8 MiB (lua, perl,
 * sqlite3: +0.2-0.6 MB from 8 against 32); two threads of 4.5 MB live
 * (mt_mixed 2 3000000 8192 16 1039) grew 10 MiB of runs and peaked at
 * 9.8 MB with a THP run, 7.9 with none (mimalloc 8.2). POOL blocks realloc moved
 * (HK_SPAN_COPIED: the copy touched them) take dense runs whatever the
 * heap's size, when core/pool.c asks.
 * Other big blocks stay on 4 KiB runs: a heap of
 * buffers stamped at each end measured 3.5x mimalloc's RSS with THP. Free
 * spans of dense runs are on a list of their own, the last bucket (which
 * bucket_of never reaches: the region holds under 2^32 units), so that
 * small slabs take them first and other spans last. A bit per chunk says
 * which runs are dense; grow() rewrites a run's bits when it takes it.
 * A chunk's bit is read and written under its arena's lock, but one word
 * holds the bits of 64 chunks, which can belong to several arenas: the
 * writes are atomic read-modify-writes so that no arena loses another's bit.
 */
#define KIND_LISTS (HK_SPAN_BUCKETS / 2) /* dirty lists, then as many clean ones */
#define DENSE_LIST (KIND_LISTS - 1)
#define CLEAN KIND_LISTS
#define DENSE_MIN ((size_t)CONFIG_HK_THP_HEAP_MIB << 20)
#define REGION_CHUNKS ((size_t)CONFIG_HK_REGION_GIB << (30 - HK_CHUNK_SHIFT))

static uint64_t dense_map[REGION_CHUNKS / 64 + 1];
/* A bit per chunk of runs backed by 2 MiB pages (THP advised or hugetlb),
 * dense or not: a run grown for a block bigger than a chunk is advised
 * THP too (grow), and a first touch there faults 2 MiB. */
static uint64_t huge_map[REGION_CHUNKS / 64 + 1];

static int run_dense(uint32_t u)
{
	size_t c = u / HK_CHUNK_UNITS;
	return (int)(__atomic_load_n(&dense_map[c / 64], __ATOMIC_RELAXED) >> (c % 64)) & 1;
}

int hk_span_dense(uint32_t u)
{
	return run_dense(u);
}

/* Bytes of Tiny and MID blocks out of their slabs (in use or in a lane's
 * bin): what fills a dense run's pages. Written under class locks, read
 * here under the arena lock: a relaxed read is enough for a threshold. */
static size_t small_live(hk_arena_t *a)
{
	return atomic_load_explicit(&a->ctr.live[HK_BAND_TINY], memory_order_relaxed) +
	       atomic_load_explicit(&a->ctr.live[HK_BAND_MID], memory_order_relaxed);
}

/* Whether the heap is big enough for dense runs. With one lane refilling,
 * its runs are about its live blocks and DENSE_MIN of them counts, as
 * early as the programs need (lua at half scale: 2.1k faults, 3.0k when
 * it waited for 6 MiB live). With more, each keeps its own partial slabs
 * (core/owner.c) and runs outgrow live blocks: 3/4 of it live counts
 * (mt_mixed's two threads: 10 MiB of runs, 5.2 MB live). */
static int heap_dense(hk_arena_t *a)
{
	if (hk_owner_holders() <= 1)
		return a->ctr.reserved >= DENSE_MIN;
	return small_live(a) >= DENSE_MIN / 4 * 3;
}

int hk_span_small_pages(uint32_t u)
{
	size_t c = u / HK_CHUNK_UNITS;
	return !((__atomic_load_n(&huge_map[c / 64], __ATOMIC_RELAXED) >> (c % 64)) & 1);
}

static void set_bits(uint64_t *map, uint32_t h, size_t chunks, int on)
{
	for (size_t c = h / HK_CHUNK_UNITS; chunks--; c++) {
		uint64_t bit = (uint64_t)1 << (c % 64);

		if (on)
			__atomic_fetch_or(&map[c / 64], bit, __ATOMIC_RELAXED);
		else
			__atomic_fetch_and(&map[c / 64], ~bit, __ATOMIC_RELAXED);
	}
}

unsigned hk_span_list(const hk_desc_t *d)
{
	return (d->flags & HK_DF_DENSE ? DENSE_LIST : bucket_of(d->units)) +
	       (d->flags & HK_DF_DIRTY ? 0 : CLEAN);
}

/*
 * Lists are kept in address order, so first fit takes the lowest free
 * span: live memory packs at the bottom of the heap, where it was resident
 * before, and the top stays free long enough to be purged and stay so.
 * With LIFO order bench/frag's second cycle took the spans its first cycle
 * freed last (fresh, never touched) and faulted 13.5k pages with nothing
 * purged; lowest first, 6k. The walk is bounded: a list longer than that
 * stays sorted in stretches, which only weakens the preference.
 */
#define SORT_WALK 32

/* A list's head and its bit in a->listed, which always say the same. */
static void set_head(hk_arena_t *a, unsigned b, uint32_t h)
{
	uint64_t bit = (uint64_t)1 << (b % 64);
	a->buckets[b] = h;
	if (h != HK_NIL)
		a->listed[b / 64] |= bit;
	else
		a->listed[b / 64] &= ~bit;
}

static void list_push(hk_arena_t *a, uint32_t h)
{
	hk_desc_t *d = hk_desc_at(h);
	unsigned b = hk_span_list(d);
	uint32_t prev = HK_NIL, next = a->buckets[b];
	for (unsigned i = 0; next != HK_NIL && next < h && i < SORT_WALK; i++) {
		prev = next;
		next = hk_desc_at(next)->next;
	}
	d->prev = prev;
	d->next = next;
	if (next != HK_NIL)
		hk_desc_at(next)->prev = h;
	if (prev != HK_NIL)
		hk_desc_at(prev)->next = h;
	else
		set_head(a, b, h);
}

static void list_remove(hk_arena_t *a, uint32_t h)
{
	hk_desc_t *d = hk_desc_at(h);
	if (d->prev != HK_NIL)
		hk_desc_at(d->prev)->next = d->next;
	else
		set_head(a, hk_span_list(d), d->next);
	if (d->next != HK_NIL)
		hk_desc_at(d->next)->prev = d->prev;
}

void hk_span_mark(uint32_t head, uint32_t units, unsigned kind, unsigned bin,
		  unsigned arena, size_t bsize)
{
	uintptr_t start = (uintptr_t)hk_unit_addr(head);
	for (uint32_t u = head; u < head + units; u++) {
		hk_desc_t *d = hk_desc_at(u);
		d->kind = (uint8_t)kind;
		d->bin = (uint16_t)bin;
		d->arena = (uint16_t)arena;
		d->start = start;
		d->bsize = (uint32_t)bsize;
		/* Nothing carved (a slab), never carved (any other kind): lim 0,
		 * which free()'s fast path relies on for every unit not a slab's. */
		hk_desc_set_carved(d, start, 0);
	}
	hk_desc_at(head)->units = units;
	hk_desc_at(head + units - 1)->units = units;
}

/* Head and tail of a free span; the inner units already say FREE. */
static void put_span(hk_arena_t *a, uint32_t h, uint32_t n, unsigned dirty, uint64_t stamp)
{
	hk_desc_t *d = hk_desc_at(h), *t = hk_desc_at(h + n - 1);
	d->kind = t->kind = HK_KIND_FREE;
	d->arena = t->arena = a->index;
	d->units = t->units = n;
	d->flags = (uint8_t)((dirty ? HK_DF_DIRTY : 0) | (run_dense(h) ? HK_DF_DENSE : 0));
	d->stamp = stamp;
	list_push(a, h);
}

/*
 * A span merges only with units of its own run: the arena lock covers
 * them, while the unit after a run's end may be another arena's (or the
 * region's), written under other locks (TSan saw mergeable() race with
 * free_units and hk_span_mark of a neighbour arena, and with
 * hk_region_give_run). So neither side reads past the run: the left edge
 * is the run head (run_units), the right edge the run's last unit
 * (run_next == HK_RUN_END, set by grow()).
 */
static int run_first(uint32_t u)
{
	return hk_desc_at(u)->run_units != 0;
}

static int run_last(uint32_t u)
{
	return !run_first(u) && hk_desc_at(u)->run_next == HK_RUN_END;
}

/* Inserts [h, h+n) (inner units marked FREE), merged with free neighbours. */
static void insert_merged(hk_arena_t *a, uint32_t h, uint32_t n, unsigned dirty, uint64_t stamp)
{
	if (!run_first(h)) {
		hk_desc_t *t = hk_desc_at(h - 1);
		HK_ASSERT(t->arena == a->index);
		if (t->kind == HK_KIND_FREE) {
			uint32_t lh = h - t->units;
			hk_desc_t *l = hk_desc_at(lh);
			list_remove(a, lh);
			if (l->flags & HK_DF_DIRTY) {
				stamp = dirty && stamp > l->stamp ? stamp : l->stamp;
				dirty = 1;
			}
			n += t->units;
			h = lh;
		}
	}
	if (!run_last(h + n - 1) && hk_desc_at(h + n)->kind == HK_KIND_FREE) {
		hk_desc_t *r = hk_desc_at(h + n);
		HK_ASSERT(r->arena == a->index);
		list_remove(a, h + n);
		if (r->flags & HK_DF_DIRTY) {
			stamp = dirty && stamp > r->stamp ? stamp : r->stamp;
			dirty = 1;
		}
		n += r->units;
	}
	put_span(a, h, n, dirty, stamp);
}

static uint32_t aligned_unit(uint32_t h, uint32_t align_units)
{
	if (align_units <= 1)
		return h;
	uintptr_t addr = (uintptr_t)hk_unit_addr(h);
	uintptr_t mask = ((uintptr_t)align_units << HK_UNIT_SHIFT) - 1;
	return hk_unit_of((void *)((addr + mask) & ~mask));
}

static void free_units(hk_arena_t *a, uint32_t head, uint32_t units, uint64_t now)
{
	for (uint32_t u = head; u < head + units; u++) {
		hk_desc_t *d = hk_desc_at(u);
		d->kind = HK_KIND_FREE;
		d->lim = 0;
		d->arena = a->index;
	}
	insert_merged(a, head, units, 1, now);
}

static void note_peak(hk_arena_t *a)
{
	size_t u = a->inuse;
	if (u > a->peak_cur)
		a->peak_cur = u;
}

int hk_span_busy(hk_arena_t *a)
{
	int busy = a->span_ops != a->span_seen;
	a->span_seen = a->span_ops;
	return busy;
}

void hk_span_free(hk_arena_t *a, uint32_t head, uint32_t units, uint64_t now)
{
	HK_ASSERT(units && hk_desc_at(head)->arena == a->index);
	a->span_ops++;
	a->inuse -= (size_t)units << HK_UNIT_SHIFT;
	free_units(a, head, units, now);
}

/*
 * The held span: hk_arena0's last freed POOL span, kept whole and
 * still marked POOL inside, its head and tail PURGING (out of the lists: no
 * merge takes it, a free of its address reads as a double free). A request
 * of the same length takes it back without re-marking every unit or
 * splitting and merging spans (a 1 MiB malloc/free pair cost ~1100
 * instructions through the lists). It goes back to the lists before the
 * arena grows and when the purger finds it older than the delay, so it
 * never costs memory that a free span would not.
 */
static struct {
	uint32_t head, units;
	uint64_t stamp;
} held = { HK_NIL, 0, 0 };

static void release_held(hk_arena_t *a)
{
	if (held.head == HK_NIL || a->index != 0)
		return;
	uint32_t h = held.head;
	held.head = HK_NIL;
	free_units(a, h, held.units, held.stamp);
}

int hk_span_hold(hk_arena_t *a, uint32_t head, uint32_t units, uint64_t now)
{
	if (CONFIG_HK_HARDENED || a->index != 0 || held.head != HK_NIL)
		return 0;
	held.head = head;
	held.units = units;
	held.stamp = now;
	hk_desc_at(head)->kind = hk_desc_at(head + units - 1)->kind = HK_KIND_PURGING;
	a->inuse -= (size_t)units << HK_UNIT_SHIFT;
	return 1;
}

uint32_t hk_span_unhold(hk_arena_t *a, uint32_t units, uint32_t align_units)
{
	uint32_t h = held.head;
	if (a->index != 0 || h == HK_NIL || held.units != units ||
	    (align_units > 1 && aligned_unit(h, align_units) != h) ||
	    (a->capacity && a->inuse + ((size_t)units << HK_UNIT_SHIFT) > a->capacity))
		return HK_NIL;
	held.head = HK_NIL;
	hk_desc_at(h)->kind = hk_desc_at(h + units - 1)->kind = HK_KIND_POOL;
	a->inuse += (size_t)units << HK_UNIT_SHIFT;
	note_peak(a);
	return h;
}

/* Cuts [au, au+units) out of the free span at h. */
static uint32_t carve(hk_arena_t *a, uint32_t h, uint32_t au, uint32_t units)
{
	hk_desc_t *d = hk_desc_at(h);
	uint32_t n = d->units, end = h + n;
	unsigned dirty = d->flags & HK_DF_DIRTY;
	uint64_t stamp = d->stamp;
	HK_ASSERT(d->kind == HK_KIND_FREE && au >= h && au + units <= end);
	list_remove(a, h);
	hk_desc_at(au)->flags = (uint8_t)dirty; /* for the caller (core/span.h) */
	if (au > h)
		put_span(a, h, au - h, dirty, stamp);
	if (au + units < end)
		put_span(a, au + units, end - au - units, dirty, stamp);
	return au;
}

/* A live span grows into the free span right after it in its run (a POOL
 * block realloc grows: core/alloc.c says which). The free span loses its
 * first units; the caller marks them. Never past the run's end (the next
 * run may be another arena's). */
int hk_span_grow(hk_arena_t *a, uint32_t head, uint32_t units, uint32_t more)
{
	uint32_t next = head + units;
	if (run_last(next - 1))
		return -1;
	hk_desc_t *r = hk_desc_at(next);
	if (r->kind != HK_KIND_FREE || r->units < more ||
	    (a->capacity && a->inuse + ((size_t)more << HK_UNIT_SHIFT) > a->capacity))
		return -1;
	carve(a, next, next, more);
	a->inuse += (size_t)more << HK_UNIT_SHIFT;
	a->span_ops++;
	note_peak(a);
	return 0;
}

static uint32_t fit_in(hk_arena_t *a, unsigned b, uint32_t units, uint32_t align_units)
{
	for (uint32_t h = a->buckets[b]; h != HK_NIL; h = hk_desc_at(h)->next) {
		uint32_t n = hk_desc_at(h)->units;
		uint32_t au = aligned_unit(h, align_units);
		if (n >= units && au - h <= n - units)
			return carve(a, h, au, units);
	}
	return HK_NIL;
}

/* Sized lists from the request's bucket up, bucket by bucket: its dirty
 * list (kinds & DIRTY_OK), then its clean one (kinds & CLEAN_OK). */
#define DIRTY_OK 1u
#define CLEAN_OK 2u

/* Only the non-empty lists are visited: a new slab of a short process,
 * whose free spans sit in one or two buckets, walked all 126 sized lists
 * (git rev-parse: 37k of its 700k instructions in find_fit and fit_in). */
_Static_assert(KIND_LISTS == 64, "a->listed: word 0 the dirty lists, word 1 the clean ones");

static uint32_t fit_sized(hk_arena_t *a, unsigned kinds, uint32_t units, uint32_t align_units)
{
	uint64_t dirty = kinds & DIRTY_OK ? a->listed[0] : 0;
	uint64_t clean = kinds & CLEAN_OK ? a->listed[1] : 0;
	uint64_t sized = ((uint64_t)1 << DENSE_LIST) - ((uint64_t)1 << bucket_of(units));
	for (uint64_t m = (dirty | clean) & sized; m; m &= m - 1) {
		unsigned b = (unsigned)__builtin_ctzll(m);
		uint32_t h = HK_NIL;
		if (dirty >> b & 1)
			h = fit_in(a, b, units, align_units);
		if (h == HK_NIL && clean >> b & 1)
			h = fit_in(a, CLEAN + b, units, align_units);
		if (h != HK_NIL)
			return h;
	}
	return HK_NIL;
}

/*
 * Dirty spans before clean ones, as jemalloc takes its dirty extents
 * first: a clean span is faulted in again page by page, while a dirty one
 * is likely resident already, and keeping a dirty span beside a freshly
 * touched one only raises the peak. Not for blocks bigger than a chunk:
 * they are touched in full, and cutting them from a bigger dirty span
 * rather than a smaller clean one kept the dirty rest resident beside
 * them (`make bench` row large, 1-32 MiB blocks: 74.6 MB against 69.5);
 * they take the smallest bucket that fits, dirty or clean. A slab of small
 * blocks tries the dense lists first, any other request last.
 */
static uint32_t find_fit(hk_arena_t *a, uint32_t units, uint32_t align_units, int small)
{
	uint32_t h = HK_NIL;
	if (small && ((h = fit_in(a, DENSE_LIST, units, align_units)) != HK_NIL ||
		      (h = fit_in(a, CLEAN + DENSE_LIST, units, align_units)) != HK_NIL))
		return h;
	if (units > HK_CHUNK_UNITS)
		h = fit_sized(a, DIRTY_OK | CLEAN_OK, units, align_units);
	else if ((h = fit_sized(a, DIRTY_OK, units, align_units)) == HK_NIL)
		h = fit_sized(a, CLEAN_OK, units, align_units);
	if (h != HK_NIL || small)
		return h;
	if ((h = fit_in(a, DENSE_LIST, units, align_units)) == HK_NIL)
		h = fit_in(a, CLEAN + DENSE_LIST, units, align_units);
	return h;
}

/*
 * The tag of runs of destroyed arenas that can serve this arena's growth
 * with `policy` (core/region.c hk_region_park_run), 0 for none: the same
 * node (a local arena's run was bound where its creator ran: only on a
 * one-node machine is that known to be here) and the same pages, THP
 * advised or 4 KiB (a THP-backed run is THP advised; a 4 KiB one was not,
 * or THP is unavailable). Hugetlb runs are never parked: their pool pages
 * go back at destroy, as before.
 */
static uint32_t park_tag(const hk_arena_t *a, int thp)
{
	int node = a->node >= 0 ? a->node : hk_platform_node_count() == 1 ? 0 : -1;
	return node < 0 ? 0 : (uint32_t)(node + 1) << 1 | (thp ? 1 : 0);
}

/* The policy a new run of the arena is committed with: AUTO resolved. */
static hk_hugepage_policy_t run_policy(const hk_arena_t *a, int want_thp)
{
	/* AUTO never takes hugetlb for a heap: a MAP_PRIVATE hugetlb page
	 * touched by a forked child needs a second pool page, and an empty
	 * pool kills the child with SIGBUS (seen with bash under preload).
	 * Only an explicit 2m/1g policy (env or arena) takes that risk. */
	if (a->policy == HK_HUGEPAGE_AUTO)
		return (want_thp || CONFIG_HK_THP_ALWAYS) && !CONFIG_HK_THP_NEVER ? HK_HUGEPAGE_THP
										: HK_HUGEPAGE_NONE;
	return a->policy;
}

/*
 * A parked run for a new run of `chunks`, committed with `policy`: its
 * pages are dirty (resident, not zero), which the arena's spans say. Not
 * for an arena that zeroes on reset (its memory reads zero until used).
 */
static int take_parked(hk_arena_t *a, size_t chunks, hk_hugepage_policy_t policy, uint32_t *h,
		       hk_backing_t *backing)
{
	uint32_t tag = 0;
	if (policy == HK_HUGEPAGE_NONE || policy == HK_HUGEPAGE_THP)
		tag = park_tag(a, policy == HK_HUGEPAGE_THP);
	if (!tag || (a->flags & HK_ARENA_ZERO_ON_RESET) || !hk_region_take_parked(chunks, tag, h))
		return 0;
	*backing = policy == HK_HUGEPAGE_THP ? HK_BACKING_THP : HK_BACKING_4K;
	return 1;
}

int hk_span_retire_run(const hk_arena_t *a, uint32_t h, uint32_t units, uint64_t now)
{
	uint32_t tag = a->backing < HK_BACKING_2M ? park_tag(a, !hk_span_small_pages(h)) : 0;
	if (tag && hk_region_park_run(h, units, tag, now))
		return 1;
	hk_platform_decommit(hk_unit_addr(h), (size_t)units << HK_UNIT_SHIFT);
	hk_region_give_run(h, units);
	return 0;
}

/* A new run big enough for the request, committed, as one free span: clean,
 * or dirty if it was a destroyed arena's (parked); `dense`: a run for
 * small slabs, advised THP. */
static int grow(hk_arena_t *a, uint32_t units, uint32_t align_units, int dense)
{
	size_t need = (size_t)units + (align_units > 1 ? align_units - 1 : 0) + HK_RUN_GUARD;
	size_t chunks = (need + HK_CHUNK_UNITS - 1) / HK_CHUNK_UNITS;
	uint32_t h;
	hk_backing_t backing = HK_BACKING_4K;
	/* AUTO advises THP only for a run made for one big request (more than
	 * a chunk): a THP fault makes the whole 2 MiB resident, and heaps of
	 * sparsely touched blocks (a stamp at each end of 64-512 KiB buffers)
	 * measured 3.5x mimalloc's RSS with THP on every busy-heap chunk. */
	int want_thp = chunks > 1 || dense;
	hk_hugepage_policy_t policy = run_policy(a, want_thp);
	int parked = take_parked(a, chunks, policy, &h, &backing);
	if (!parked && hk_region_take_run(chunks, &h))
		return ENOMEM;
	if (!parked && hk_platform_commit_chunks(hk_unit_addr(h), chunks << HK_CHUNK_SHIFT, policy,
						 want_thp, a->node, &backing)) {
		hk_region_give_run(h, (uint32_t)(chunks * HK_CHUNK_UNITS));
		return ENOMEM;
	}
	if (backing > a->backing)
		a->backing = backing;
	if ((a->policy == HK_HUGEPAGE_2M && backing < HK_BACKING_2M) ||
	    (a->policy == HK_HUGEPAGE_1G && backing < HK_BACKING_1G) ||
	    (a->policy == HK_HUGEPAGE_THP && backing < HK_BACKING_THP))
		a->ctr.fallbacks++;
	/* Hardened: the run's last unit stays PROT_NONE, a guard between runs. */
	set_bits(dense_map, h, chunks, dense && backing == HK_BACKING_THP);
	set_bits(huge_map, h, chunks, backing >= HK_BACKING_THP);
	uint32_t n = (uint32_t)(chunks * HK_CHUNK_UNITS) - HK_RUN_GUARD;
	if (HK_RUN_GUARD)
		hk_platform_decommit(hk_unit_addr(h + n), HK_RUN_GUARD * HK_UNIT);
	hk_desc_t *d = hk_desc_at(h);
	for (uint32_t u = h; u < h + n; u++) {
		hk_desc_at(u)->kind = HK_KIND_FREE;
		hk_desc_at(u)->arena = a->index;
	}
	d->run_units = n;
	d->run_next = a->runs;
	hk_desc_at(h + n - 1)->run_next = HK_RUN_END; /* n >= 31: never the head */
	a->runs = h;
	a->ctr.reserved += (size_t)n << HK_UNIT_SHIFT;
	a->ctr.committed += (size_t)n << HK_UNIT_SHIFT;
	put_span(a, h, n, parked, parked ? hk_platform_now_ms() : 0);
	return 0;
}

/*
 * Before the arena grows for a block bigger than a chunk, its dirty free
 * spans (too small or too cut up to take it) give back up to as many
 * bytes as it grows by, largest first: the new run is about to be touched
 * in full, and spans kept resident beside it only raised the peak (`make
 * bench` row large, 1-32 MiB blocks, 2 live: 94 MB against mimalloc's 70).
 * Synchronous under the arena lock (the purge queue's lock ranks above it),
 * but only on this path, where the program faults in megabytes next.
 * 4 KiB and THP backing only (hugetlb purges whole pages: the purger's job).
 */
static void purge_before_grow(hk_arena_t *a, uint32_t units)
{
	if (a->backing >= HK_BACKING_2M)
		return;
	for (unsigned b = KIND_LISTS; b-- > 0 && units;) {
		for (uint32_t h = a->buckets[b], nx; h != HK_NIL && units; h = nx) {
			hk_desc_t *d = hk_desc_at(h);
			nx = d->next;
			size_t bytes = (size_t)d->units << HK_UNIT_SHIFT;
			if (hk_platform_purge_now(hk_unit_addr(h), bytes))
				continue;
			list_remove(a, h);
			d->flags &= (uint8_t)~HK_DF_DIRTY;
			list_push(a, h); /* onto its clean list */
			units -= d->units < units ? d->units : units;
		}
	}
}

uint32_t hk_span_alloc(hk_arena_t *a, uint32_t units, uint32_t align_units, int how)
{
	if (a->capacity && a->inuse + ((size_t)units << HK_UNIT_SHIFT) > a->capacity)
		return HK_NIL;
	int small = how != HK_SPAN_SPARSE && align_units <= 1; /* dense */
	uint32_t h = find_fit(a, units, align_units, small);
	/* A small request (a slab, at most half a chunk) grows the arena
	 * before cutting a bigger held span: growing commits address space and
	 * a slab touches pages as it carves, while cutting the span loses it
	 * for its next request and leaves its rest resident (pairs 1048576:
	 * the purger's first start allocated its DTV there, and the next 1 MiB
	 * block grew a fresh 1 MiB beside it, peak 3.6 against 2.8 MB). Larger
	 * requests are touched in full: they cut it (row large: 70 vs 84 MB). */
	int cut_held = held.head != HK_NIL && a->index == 0;
	if (h == HK_NIL && cut_held && (units >= held.units || units > HK_CHUNK_UNITS / 2)) {
		release_held(a);
		h = find_fit(a, units, align_units, small);
	}
	if (h == HK_NIL && units > HK_CHUNK_UNITS)
		purge_before_grow(a, units);
	/* Only AUTO's choice: an explicit policy backs every run alike. */
	int dense = small && a->policy == HK_HUGEPAGE_AUTO && !CONFIG_HK_THP_NEVER &&
		    (how == HK_SPAN_COPIED || heap_dense(a));
	if (h == HK_NIL && grow(a, units, align_units, dense) == 0)
		h = find_fit(a, units, align_units, small);
	if (h == HK_NIL && cut_held && held.head != HK_NIL) {
		release_held(a); /* no room to grow: the held span it is */
		h = find_fit(a, units, align_units, small);
	}
	if (h != HK_NIL) {
		a->inuse += (size_t)units << HK_UNIT_SHIFT;
		a->span_ops++;
		note_peak(a);
	}
	return h;
}

/*
 * A busy arena (spans taken or freed since the purger's last look) keeps
 * its dirty spans up to BUSY_KEEP times CONFIG_HK_PURGE_DELAY_MS: a program
 * that frees a batch and allocates the next one reuses them, and purging
 * them meant faulting the pages again (batch of 1-64 KiB blocks: 4.4 GB
 * purged in a 6 s run, 1.6x mimalloc's page faults). An idle arena is
 * purged after `delay`.
 */
#define BUSY_KEEP 8

uint64_t hk_span_release_held(hk_arena_t *a, uint64_t until)
{
	if (a->index == 0 && held.head != HK_NIL && held.stamp <= until)
		release_held(a); /* dirty with its stamp */
	return a->index == 0 && held.head != HK_NIL ? held.stamp : UINT64_MAX;
}

/* Bytes of dirty spans worth keeping at `now`: what the arena had in use
 * at its recent peak beyond what it has now. */
static size_t keep_budget(hk_arena_t *a, uint64_t now, uint64_t window)
{
	size_t u = a->inuse;
	if (now - a->peak_since >= window) {
		a->peak_last = a->peak_cur;
		a->peak_cur = u;
		a->peak_since = now;
	}
	size_t p = a->peak_cur > a->peak_last ? a->peak_cur : a->peak_last;
	return p > u ? p - u : 0;
}

static void take(hk_arena_t *a, uint32_t h, uint32_t *heads, uint32_t *units, unsigned *n)
{
	hk_desc_t *d = hk_desc_at(h);
	list_remove(a, h);
	d->kind = hk_desc_at(h + d->units - 1)->kind = HK_KIND_PURGING;
	heads[*n] = h;
	units[(*n)++] = d->units;
}

/* The highest dirty span stamped at or before `early`, or HK_NIL. */
static uint32_t highest_dirty(hk_arena_t *a, uint64_t early)
{
	uint32_t best = HK_NIL;
	for (unsigned b = 0; b < KIND_LISTS; b++)
		for (uint32_t h = a->buckets[b]; h != HK_NIL; h = hk_desc_at(h)->next)
			if (hk_desc_at(h)->stamp <= early && (best == HK_NIL || h > best))
				best = h;
	return best;
}

/*
 * Dirty spans wait `delay` (until), or up to BUSY_KEEP slab delays while
 * the arena is busy, except those beyond the recent peak's demand: once
 * `early` has passed, the dirty bytes more than the arena would need to
 * get back to its peak of the last window or two go at once, highest
 * first (requests take the lowest: the highest are the coldest). A
 * program that frees a burst and allocates the next one (bench/frag)
 * keeps its spans; one whose use grows past what it freed (sqlite3) gets
 * them purged after the slab delay, as before the span delay was longer.
 */
unsigned hk_span_take_dirty(hk_arena_t *a, uint64_t until, uint64_t delay, uint64_t early,
			    int busy, uint32_t *heads, uint32_t *units, unsigned max,
			    uint64_t *next)
{
	uint64_t most = BUSY_KEEP * (uint64_t)CONFIG_HK_PURGE_DELAY_MS;
	uint64_t keep = most > delay ? most - delay : 0, cut = until;
	size_t early_bytes = 0, budget;
	unsigned n = 0;
	if (busy && until != UINT64_MAX)
		cut = until > keep ? until - keep : 0;
	*next = UINT64_MAX;
	for (unsigned b = 0; b < KIND_LISTS; b++) {
		uint32_t h = a->buckets[b];
		while (h != HK_NIL) {
			hk_desc_t *d = hk_desc_at(h);
			uint32_t nx = d->next;
			/* Kept while busy: due at the next look or at BUSY_KEEP delays. */
			uint64_t due = d->stamp <= cut || d->stamp > until ? d->stamp
				       : d->stamp + keep < until + delay ? d->stamp + keep
									 : until + delay;
			if (d->stamp <= cut && n < max) {
				take(a, h, heads, units, &n);
			} else {
				if (due < *next)
					*next = due;
				if (d->stamp <= early)
					early_bytes += (size_t)d->units << HK_UNIT_SHIFT;
			}
			h = nx;
		}
	}
	if (until == UINT64_MAX || !early_bytes)
		return n;
	budget = keep_budget(a, until + delay, delay);
	while (early_bytes > budget && n < max) {
		uint32_t h = highest_dirty(a, early);
		if (h == HK_NIL)
			break;
		early_bytes -= (size_t)hk_desc_at(h)->units << HK_UNIT_SHIFT;
		take(a, h, heads, units, &n);
	}
	return n;
}

void hk_span_put_clean(hk_arena_t *a, const uint32_t *heads, const uint32_t *units, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		hk_desc_at(heads[i])->kind = HK_KIND_FREE;
		hk_desc_at(heads[i] + units[i] - 1)->kind = HK_KIND_FREE;
		insert_merged(a, heads[i], units[i], 0, 0);
	}
}
