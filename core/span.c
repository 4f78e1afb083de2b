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

#include "core/lock.h"
#include "core/platform.h"
#include "core/region.h"
#include "core/sizeclass.h"

static unsigned bucket_of(uint32_t units)
{
	if (units <= HK_CHUNK_UNITS)
		return units - 1;
	return HK_CHUNK_UNITS + (31u - (unsigned)__builtin_clz(units)) - 5;
}

static void list_push(hk_arena_t *a, uint32_t h)
{
	hk_desc_t *d = hk_desc_at(h);
	unsigned b = bucket_of(d->units);
	d->prev = HK_NIL;
	d->next = a->buckets[b];
	if (d->next != HK_NIL)
		hk_desc_at(d->next)->prev = h;
	a->buckets[b] = h;
}

static void list_remove(hk_arena_t *a, uint32_t h)
{
	hk_desc_t *d = hk_desc_at(h);
	if (d->prev != HK_NIL)
		hk_desc_at(d->prev)->next = d->next;
	else
		a->buckets[bucket_of(d->units)] = d->next;
	if (d->next != HK_NIL)
		hk_desc_at(d->next)->prev = d->prev;
}

void hk_span_mark(uint32_t head, uint32_t units, unsigned kind, unsigned cls,
		  unsigned arena, size_t bsize)
{
	uintptr_t start = (uintptr_t)hk_unit_addr(head);
	/* Only default-arena slabs get a divisor: free()'s fast path relies on
	 * divm == 0 for every other unit. */
	uint64_t divm = kind == HK_KIND_SLAB ? hk_divm(bsize) : 0;
	for (uint32_t u = head; u < head + units; u++) {
		hk_desc_t *d = hk_desc_at(u);
		d->kind = (uint8_t)kind;
		d->cls = (uint8_t)cls;
		d->arena = (uint16_t)arena;
		d->divm = divm;
		d->start = start;
		d->bsize = (uint32_t)bsize;
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
	d->flags = (uint8_t)(dirty ? HK_DF_DIRTY : 0);
	d->stamp = stamp;
	list_push(a, h);
}

static int mergeable(hk_arena_t *a, uint32_t u)
{
	hk_desc_t *d = hk_desc_at(u);
	return d->kind == HK_KIND_FREE && d->arena == a->index && !d->run_units;
}

/* Inserts [h, h+n) (inner units marked FREE), merged with free neighbours. */
static void insert_merged(hk_arena_t *a, uint32_t h, uint32_t n, unsigned dirty, uint64_t stamp)
{
	size_t used_units = atomic_load_explicit(&hk_region_used, memory_order_relaxed) >> HK_UNIT_SHIFT;
	if (!hk_desc_at(h)->run_units && h > 0) {
		hk_desc_t *t = hk_desc_at(h - 1);
		if (t->kind == HK_KIND_FREE && t->arena == a->index) {
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
	if (h + n < used_units && mergeable(a, h + n)) {
		hk_desc_t *r = hk_desc_at(h + n);
		list_remove(a, h + n);
		if (r->flags & HK_DF_DIRTY) {
			stamp = dirty && stamp > r->stamp ? stamp : r->stamp;
			dirty = 1;
		}
		n += r->units;
	}
	put_span(a, h, n, dirty, stamp);
}

void hk_span_free(hk_arena_t *a, uint32_t head, uint32_t units, uint64_t now)
{
	for (uint32_t u = head; u < head + units; u++) {
		hk_desc_t *d = hk_desc_at(u);
		d->kind = HK_KIND_FREE;
		d->divm = 0;
		d->arena = a->index;
	}
	a->inuse -= (size_t)units << HK_UNIT_SHIFT;
	insert_merged(a, head, units, 1, now);
}

/* Cuts [au, au+units) out of the free span at h. */
static uint32_t carve(hk_arena_t *a, uint32_t h, uint32_t au, uint32_t units)
{
	hk_desc_t *d = hk_desc_at(h);
	uint32_t n = d->units, end = h + n;
	unsigned dirty = d->flags & HK_DF_DIRTY;
	uint64_t stamp = d->stamp;
	list_remove(a, h);
	d->flags = 0;
	if (au > h)
		put_span(a, h, au - h, dirty, stamp);
	if (au + units < end)
		put_span(a, au + units, end - au - units, dirty, stamp);
	return au;
}

static uint32_t aligned_unit(uint32_t h, uint32_t align_units)
{
	if (align_units <= 1)
		return h;
	uintptr_t addr = (uintptr_t)hk_unit_addr(h);
	uintptr_t mask = ((uintptr_t)align_units << HK_UNIT_SHIFT) - 1;
	return hk_unit_of((void *)((addr + mask) & ~mask));
}

static uint32_t find_fit(hk_arena_t *a, uint32_t units, uint32_t align_units)
{
	for (unsigned b = bucket_of(units); b < HK_SPAN_BUCKETS; b++) {
		for (uint32_t h = a->buckets[b]; h != HK_NIL; h = hk_desc_at(h)->next) {
			uint32_t n = hk_desc_at(h)->units;
			uint32_t au = aligned_unit(h, align_units);
			if (n >= units && au - h <= n - units)
				return carve(a, h, au, units);
		}
	}
	return HK_NIL;
}

/* A new run big enough for the request, committed, as one clean free span. */
static int grow(hk_arena_t *a, uint32_t units, uint32_t align_units)
{
	size_t need = (size_t)units + (align_units > 1 ? align_units - 1 : 0) + HK_RUN_GUARD;
	size_t chunks = (need + HK_CHUNK_UNITS - 1) / HK_CHUNK_UNITS;
	uint32_t h;
	hk_backing_t backing = HK_BACKING_4K;
	if (hk_region_take_run(chunks, &h))
		return ENOMEM;
	int want_thp = chunks > 1 || a->ctr.reserved >= 8 * HK_CHUNK;
	hk_hugepage_policy_t policy = a->policy;
	/* AUTO never takes hugetlb for a heap: a MAP_PRIVATE hugetlb page
	 * touched by a forked child needs a second pool page, and an empty
	 * pool kills the child with SIGBUS (seen with bash under preload).
	 * Only an explicit 2m/1g policy (env or arena) takes that risk. */
	if (policy == HK_HUGEPAGE_AUTO)
		policy = (want_thp || CONFIG_HK_THP_ALWAYS) && !CONFIG_HK_THP_NEVER ? HK_HUGEPAGE_THP
										: HK_HUGEPAGE_NONE;
	if (hk_platform_commit_chunks(hk_unit_addr(h), chunks << HK_CHUNK_SHIFT, policy,
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
	d->backing = (uint8_t)backing;
	a->runs = h;
	a->ctr.reserved += (size_t)n << HK_UNIT_SHIFT;
	a->ctr.committed += (size_t)n << HK_UNIT_SHIFT;
	put_span(a, h, n, 0, 0);
	return 0;
}

uint32_t hk_span_alloc(hk_arena_t *a, uint32_t units, uint32_t align_units)
{
	if (a->capacity && a->inuse + ((size_t)units << HK_UNIT_SHIFT) > a->capacity)
		return HK_NIL;
	uint32_t h = find_fit(a, units, align_units);
	if (h == HK_NIL && grow(a, units, align_units) == 0)
		h = find_fit(a, units, align_units);
	if (h != HK_NIL)
		a->inuse += (size_t)units << HK_UNIT_SHIFT;
	return h;
}

unsigned hk_span_take_dirty(hk_arena_t *a, uint64_t until, uint32_t *heads,
			    uint32_t *units, unsigned max, uint64_t *next)
{
	unsigned n = 0;
	*next = UINT64_MAX;
	for (unsigned b = 0; b < HK_SPAN_BUCKETS; b++) {
		uint32_t h = a->buckets[b];
		while (h != HK_NIL) {
			hk_desc_t *d = hk_desc_at(h);
			uint32_t nx = d->next;
			if (d->flags & HK_DF_DIRTY) {
				if (d->stamp <= until && n < max) {
					list_remove(a, h);
					d->kind = hk_desc_at(h + d->units - 1)->kind = HK_KIND_PURGING;
					heads[n] = h;
					units[n++] = d->units;
				} else if (d->stamp < *next) {
					*next = d->stamp;
				}
			}
			h = nx;
		}
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

void hk_span_reset_all(hk_arena_t *a, uint64_t now)
{
	for (unsigned b = 0; b < HK_SPAN_BUCKETS; b++)
		a->buckets[b] = HK_NIL;
	for (uint32_t h = a->runs; h != HK_NIL; h = hk_desc_at(h)->run_next) {
		uint32_t n = hk_desc_at(h)->run_units;
		for (uint32_t u = h; u < h + n; u++) {
			hk_desc_at(u)->kind = HK_KIND_FREE;
			hk_desc_at(u)->divm = 0;
			hk_desc_at(u)->arena = a->index;
		}
		put_span(a, h, n, 1, now);
	}
	a->inuse = 0;
}
