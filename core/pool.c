/*
 * core/pool.c — the POOL backend: one block per span of whole 64 KiB units
 * cut from the arena's runs (reused without a system call; returned to the
 * kernel by the purger). The default arena's last freed span is held whole
 * for a repeat of its length (core/span.c). Built only with CONFIG_HK_POOL.
 * Invariant: every unit of a live POOL span says POOL with start = block.
 */
#include "core/lock.h"
#include "core/platform.h"
#include "core/pool.h"
#include "core/region.h"
#include "core/span.h"

/*
 * A block realloc moved (`dense`) is cut from a THP run once the arena has
 * COPIED_MIN bytes of POOL blocks live: a dense run's free rest is
 * resident too, under a chunk, small beside them. Without the floor lua
 * (a few table parts of 256 KiB-1 MiB moved) peaked 1.1 MB higher
 * (23.7 -> 24.8 MB) for no fewer faults; realloc_grow 32 1048576 2 gets
 * past it while its buffers are ~256 KiB. (Runs of more than a chunk are
 * advised THP anyway.)
 */
#define COPIED_MIN ((size_t)2 * HK_CHUNK)

/*
 * A block realloc moves (`dense`) is written at once by the copy, at least
 * its first half (core/alloc.c move_alloc). On a span never touched (or
 * purged) and on 4 KiB pages, that half is faulted in by one call
 * (MADV_POPULATE_WRITE) before the copy rather than one fault a page during
 * it: a 128 KiB copy into fresh pages took 440 us of CPU here, 242 us after
 * one populate (/tmp/progs/pr.c, fastest of 20). Not on a resident span
 * (a populate of resident pages is a wasted call: 4.4 us for 128 KiB
 * against a 1.9 us copy) nor on THP (the copy's first touch faults 2 MiB).
 * A kernel or filter that refuses the call stops them (core/platform.c).
 */
static void populate_copied(hk_arena_t *a, uint32_t h, size_t units)
{
	if (CONFIG_HK_THP_ALWAYS || !(a->policy == HK_HUGEPAGE_NONE || a->policy == HK_HUGEPAGE_AUTO) ||
	    !hk_span_small_pages(h) || hk_platform_page_size() != 4096)
		return;
	hk_platform_populate(hk_unit_addr(h), units << (HK_UNIT_SHIFT - 1));
}

void *hk_pool_alloc(hk_arena_t *a, size_t size, size_t align, int dense)
{
	int fresh = 0;
	size_t units = (size + HK_UNIT - 1) >> HK_UNIT_SHIFT;
	size_t align_units = align > HK_UNIT ? align >> HK_UNIT_SHIFT : 1;
	if (!units)
		units = 1;
	if (units > UINT32_MAX / 2 || align_units > UINT32_MAX / 2)
		return NULL;
	hk_lock(&a->lock);
	int how = dense && units <= HK_CHUNK_UNITS && a->ctr.live[HK_BAND_POOL] >= COPIED_MIN
			  ? HK_SPAN_COPIED
			  : HK_SPAN_SPARSE;
	uint32_t h = hk_span_unhold(a, (uint32_t)units, (uint32_t)align_units);
	if (h == HK_NIL && (h = hk_span_alloc(a, (uint32_t)units, (uint32_t)align_units, how)) != HK_NIL) {
		hk_span_mark(h, (uint32_t)units, HK_KIND_POOL, 0, a->index, units << HK_UNIT_SHIFT);
		fresh = dense && !(hk_desc_at(h)->flags & HK_DF_DIRTY);
	}
	if (h != HK_NIL) {
		hk_desc_t *d = hk_desc_at(h);
		d->bump = size; /* the request, for sized frees */
		a->ctr.live[HK_BAND_POOL] += units << HK_UNIT_SHIFT;
		if (!a->heap) { /* a user arena's reset finds it here */
			d->prev = HK_NIL;
			d->next = a->pool_live;
			if (d->next != HK_NIL)
				hk_desc_at(d->next)->prev = h;
			a->pool_live = h;
		}
	}
	hk_unlock(&a->lock);
	if (fresh)
		populate_copied(a, h, units);
	return h == HK_NIL ? NULL : hk_unit_addr(h);
}

int hk_pool_grow(hk_arena_t *a, hk_desc_t *d, size_t size)
{
	uint32_t head = hk_unit_of((void *)d->start);
	size_t units = (size + HK_UNIT - 1) >> HK_UNIT_SHIFT;
	if (units > UINT32_MAX / 2)
		return -1;
	hk_lock(&a->lock);
	uint32_t had = hk_desc_at(head)->units;
	int r = hk_pool_last_grown(a, d) ? hk_span_grow(a, head, had, (uint32_t)units - had) : -1;
	if (r == 0) {
		hk_span_mark(head, (uint32_t)units, HK_KIND_POOL, 0, a->index,
			     units << HK_UNIT_SHIFT);
		hk_desc_at(head)->bump = size;
		a->ctr.live[HK_BAND_POOL] += (units - had) << HK_UNIT_SHIFT;
	}
	hk_unlock(&a->lock);
	return r;
}

void hk_pool_mark_grown(hk_arena_t *a, const hk_desc_t *d)
{
	__atomic_store_n(&a->pool_grown, hk_unit_of((void *)d->start), __ATOMIC_RELAXED);
}

int hk_pool_last_grown(hk_arena_t *a, const hk_desc_t *d)
{
	return __atomic_load_n(&a->pool_grown, __ATOMIC_RELAXED) == hk_unit_of((void *)d->start);
}

/* Arena lock held. */
static void pool_unlink(hk_arena_t *a, uint32_t h)
{
	hk_desc_t *d = hk_desc_at(h);
	if (d->prev != HK_NIL)
		hk_desc_at(d->prev)->next = d->next;
	else
		a->pool_live = d->next;
	if (d->next != HK_NIL)
		hk_desc_at(d->next)->prev = d->prev;
}

int hk_pool_free(hk_arena_t *a, hk_desc_t *d, int hold)
{
	uint64_t now = hk_platform_now_ms();
	uint32_t head = hk_unit_of((void *)d->start);
	uint32_t units;
	hk_lock(&a->lock);
	/* The caller saw POOL without the lock; a free of the same block by
	 * another thread may have won since (the head is FREE or PURGING then):
	 * check and change the kind in one locked step. */
	if (hk_desc_at(head)->kind != HK_KIND_POOL) {
		hk_unlock(&a->lock);
		return -1;
	}
	units = hk_desc_at(head)->units;
	a->ctr.live[HK_BAND_POOL] -= (size_t)units << HK_UNIT_SHIFT;
	if (!a->heap)
		pool_unlink(a, head);
	if (!hold || !hk_span_hold(a, head, units, now))
		hk_span_free(a, head, units, now);
	hk_unlock(&a->lock);
	return 0;
}

int hk_pool_reset(hk_arena_t *a, uint64_t now)
{
	int any = 0;
	/* Only the arena's users link spans, and none runs during a reset. */
	if (a->pool_live == HK_NIL)
		return 0;
	hk_lock(&a->lock);
	for (uint32_t h; (h = a->pool_live) != HK_NIL; any = 1) {
		uint32_t units = hk_desc_at(h)->units;
		pool_unlink(a, h);
		a->ctr.live[HK_BAND_POOL] -= (size_t)units << HK_UNIT_SHIFT;
		hk_span_free(a, h, units, now);
	}
	hk_unlock(&a->lock);
	return any;
}
