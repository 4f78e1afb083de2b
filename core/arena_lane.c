/*
 * core/arena_lane.c — arena slots: per-thread caches of user arenas (the
 * DESIGN comment in core/types.h). Owns claiming, renewing and evicting a
 * slot, refill and flush of its bins, folding its counters into its arena,
 * thread exit and fork's child. Slots are carved from memory mapped through
 * platform, never malloc. Invariant: every block in a current slot's bin is
 * a free, marked block of the slot's arena and class, taken from the slabs
 * during the slot's epoch; a stale slot's blocks are never touched again.
 */
#include <errno.h>
#include <string.h>

#include "core/arena_lane.h"
#include "core/backend.h"
#include "core/core.h"
#include "core/lock.h"
#include "core/platform.h"
#include "core/sizeclass.h"

_Atomic uint32_t hk_arena_epoch[HK_ARENA_MAX];
/* Every lane's unused slots: index 0 and an epoch no arena reaches, so
 * hk_alane_slot never matches it; bins empty with room 0. */
hk_aslot_t hk_aslot_none = { .epoch = UINT32_MAX };

/* Under the lanes lock. */
static struct {
	hk_aslot_t *spare, *fresh, *fresh_end;
	uint32_t born[HK_ARENA_MAX]; /* epoch of each index when its arena was created */
} S;

#define SLOT_BLOCK ((size_t)64 << 10)
#define FIRST_BATCH 8

static uint32_t epoch_of(unsigned index)
{
	return atomic_load_explicit(&hk_arena_epoch[index], memory_order_relaxed);
}

static uint64_t ld(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

void hk_alane_bump(unsigned index)
{
	atomic_store_explicit(&hk_arena_epoch[index], epoch_of(index) + 1, memory_order_relaxed);
}

void hk_alane_born(unsigned index)
{
	S.born[index] = epoch_of(index);
}

/* The slot's counters belong to the arena now at its index (not to one
 * destroyed since). Lanes lock held. */
static int same_life(const hk_aslot_t *s)
{
	return s->index && (int32_t)(s->epoch - S.born[s->index]) >= 0;
}

/* Lanes lock held. Limits in bytes per class: a quarter of the default
 * lanes' — a thread may hold slots of 8 arenas, and an arena's bytes held
 * in caches are bytes its budget cannot use (bench-kv's peak RSS grew by
 * 5 MB with the full limit, 4 workers). */
static hk_aslot_t *slot_take(void)
{
	hk_aslot_t *s = S.spare;
	if (s) {
		S.spare = s->next;
	} else {
		/* Carved one at a time so untouched slots cost no RSS. */
		if (S.fresh == S.fresh_end) {
			void *mem;
			if (hk_platform_map(SLOT_BLOCK, 0, 0, &mem))
				return NULL;
			S.fresh = mem;
			S.fresh_end = S.fresh + SLOT_BLOCK / sizeof(hk_aslot_t);
		}
		s = S.fresh++;
	}
	memset(s, 0, sizeof *s);
	for (int c = 0; c < HK_NLANE; c++) {
		size_t n = CONFIG_HK_LANE_CLASS_BYTES / 4 / hk_class_size((unsigned)c);
		s->bin[c].limit = (uint32_t)(n < 2 ? 2 : n);
		hk_abin_set_room(&s->bin[c], s->bin[c].limit);
	}
	return s;
}

static unsigned refill(hk_arena_t *a, unsigned cls, void **chain, unsigned want)
{
	if (CONFIG_HK_TINY && (int)cls <= HK_TINY_LAST)
		return hk_tiny_refill(a, cls, HK_KIND_SLAB_A, chain, want);
	if (CONFIG_HK_MID)
		return hk_mid_refill(a, cls, HK_KIND_SLAB_A, chain, want);
	return 0;
}

/* Gives a chain of the slot's blocks back to the slabs if the slot is still
 * current — re-checked under the class lock, which a reset holds while it
 * bumps the epoch; a stale chain is dropped (the reset took it back).
 * Returns 1 if the purger is needed. */
static int flush_chain(const hk_aslot_t *s, unsigned cls, void *chain)
{
	int released = 0;
	if (epoch_of(s->index) != s->epoch)
		return 0; /* also keeps a stale slot off a destroyed arena's locks */
	hk_arena_t *a = hk_arena_at(s->index);
	hk_lock(&a->cls[cls].lock);
	if (epoch_of(s->index) == s->epoch)
		released = hk_slab_flush_locked(a, cls, chain);
	hk_unlock(&a->cls[cls].lock);
	return released;
}

static int flush_bin(hk_aslot_t *s, unsigned cls)
{
	hk_abin_t *b = &s->bin[cls];
	void *chain = b->head;
	if (!chain)
		return 0;
	hk_alane_add(&s->flushed, b->limit - hk_abin_room(b));
	b->head = NULL;
	hk_abin_set_room(b, b->limit);
	return flush_chain(s, cls, chain);
}

static int flush_slot(hk_aslot_t *s)
{
	int released = 0;
	for (int c = 0; c < HK_NLANE; c++)
		released |= flush_bin(s, (unsigned)c);
	return released;
}

/* Cuts the first half of a full bin and gives it back. */
static int flush_half(hk_aslot_t *s, unsigned cls)
{
	hk_abin_t *b = &s->bin[cls];
	unsigned held = b->limit - hk_abin_room(b);
	unsigned n = held / 2 ? held / 2 : held;
	void **p = b->head, *chain = b->head;
	for (unsigned i = 1; i < n; i++)
		p = hk_next_get(p);
	b->head = hk_next_get(p);
	hk_abin_set_room(b, hk_abin_room(b) + n);
	hk_next_set(p, NULL);
	hk_alane_add(&s->flushed, n);
	return flush_chain(s, cls, chain);
}

static uint64_t held_blocks(hk_aslot_t *s)
{
	uint64_t n = 0;
	for (int c = 0; c < HK_NLANE; c++)
		n += s->bin[c].limit - hk_abin_room(&s->bin[c]);
	return n;
}

/* Frees are derived: held = refilled - flushed + frees - allocs. */
static uint64_t frees_of(hk_aslot_t *s)
{
	return held_blocks(s) - ld(&s->refilled) + ld(&s->flushed) + ld(&s->allocs);
}

/* Moves the slot's counters into its arena, or drops them if that arena
 * was destroyed since. Lanes lock held; the bins are empty. */
static void fold(hk_aslot_t *s)
{
	if (same_life(s)) {
		hk_arena_ctr_t *c = &hk_arena_at(s->index)->ctr;
		atomic_fetch_add_explicit(&c->allocs, ld(&s->allocs), memory_order_relaxed);
		atomic_fetch_add_explicit(&c->frees, frees_of(s), memory_order_relaxed);
	}
	atomic_store_explicit(&s->allocs, 0, memory_order_relaxed);
	atomic_store_explicit(&s->refilled, 0, memory_order_relaxed);
	atomic_store_explicit(&s->flushed, 0, memory_order_relaxed);
}

/* The calling thread's current slot for arena a: claimed, renewed after a
 * reset, or taken over from the arena that shared its place. NULL without
 * a lane (exiting thread, no memory). *released: the purger is needed. */
static hk_aslot_t *slot_get(hk_arena_t *a, int *released)
{
	hk_lane_t *l = hk_lane_get();
	if (!l)
		return NULL;
	unsigned index = a->index;
	hk_aslot_t **place = &l->aslot[index & (HK_ASLOTS - 1)], *s = *place;
	uint32_t epoch = epoch_of(index);
	if (s->index == index && s->epoch == epoch)
		return s;
	hk_lanes_lock();
	if (s == &hk_aslot_none) {
		s = slot_take();
		if (s)
			*place = s;
	} else {
		*released |= flush_slot(s); /* stale bins are dropped inside */
		/* Renewed after a reset of the same arena: its counters go on
		 * (a per-request arena passes here after every reset). */
		if (s->index != index || !same_life(s))
			fold(s);
	}
	if (s) {
		s->index = index;
		s->epoch = epoch;
		s->batch = FIRST_BATCH;
	}
	hk_lanes_unlock();
	return s;
}

/* Half the bin, at most 16 KiB or 128 blocks (as the default lanes), and
 * at most s->batch: a per-request arena (a few blocks, then a reset) must
 * not carve 128 blocks after every reset. */
static unsigned fill_bin(hk_arena_t *a, hk_aslot_t *s, unsigned cls)
{
	hk_abin_t *b = &s->bin[cls];
	unsigned want = b->limit / 2, cap = (unsigned)((16u << 10) / hk_class_size(cls));
	cap = cap > 128 ? 128 : cap ? cap : 1;
	cap = cap > s->batch ? s->batch : cap;
	want = want > cap ? cap : want ? want : 1;
	if (s->batch < 128)
		s->batch *= 2;
	unsigned got = refill(a, cls, &b->head, want);
	hk_abin_set_room(b, b->limit - got);
	hk_alane_add(&s->refilled, got);
	return got;
}

void *hk_alane_alloc(hk_arena_t *a, unsigned cls)
{
	int released = 0;
	void *p = NULL;
	hk_aslot_t *s = slot_get(a, &released);
	if (!s) {
		if (refill(a, cls, &p, 1)) {
			((void **)p)[1] = NULL;
			atomic_fetch_add_explicit(&a->ctr.allocs, 1, memory_order_relaxed);
		}
	} else if (s->bin[cls].head || fill_bin(a, s, cls)) {
		p = hk_alane_pop(s, cls);
	} else {
		/* Capacity or memory exhausted: this thread's own cached blocks
		 * of the arena may be what keeps its slabs busy. */
		released |= flush_slot(s);
		if (fill_bin(a, s, cls))
			p = hk_alane_pop(s, cls);
	}
	if (released)
		hk_purge_kick();
	return p;
}

void hk_alane_free_slow(void *p, unsigned index, unsigned cls)
{
	int saved = errno; /* free() keeps errno: a new slot maps memory */
	int released = 0;
	hk_arena_t *a = hk_arena_at(index);
	hk_aslot_t *s = slot_get(a, &released);
	if (!s) {
		hk_next_set(p, NULL);
		released = hk_slab_flush(a, cls, p);
		atomic_fetch_add_explicit(&a->ctr.frees, 1, memory_order_relaxed);
	} else {
		hk_abin_t *b = &s->bin[cls];
		if (!hk_abin_room(b))
			released |= flush_half(s, cls);
		hk_next_set(p, b->head);
		b->head = p;
		hk_abin_set_room(b, hk_abin_room(b) - 1);
	}
	if (released)
		hk_purge_kick();
	errno = saved;
}

void hk_alane_sum(hk_arena_t *a, uint64_t *allocs, uint64_t *frees, size_t *held)
{
	unsigned index = a->index;
	*allocs = *frees = 0;
	*held = 0;
	hk_lanes_lock();
	uint32_t epoch = epoch_of(index);
	for (hk_lane_t *l = hk_lanes_live(); l; l = l->next) {
		hk_aslot_t *s = l->aslot[index & (HK_ASLOTS - 1)];
		if (s->index != index || !same_life(s))
			continue;
		*allocs += ld(&s->allocs);
		*frees += frees_of(s);
		if (s->epoch != epoch)
			continue; /* stale bins: the reset already took their bytes */
		for (int c = 0; c < HK_NLANE; c++)
			*held += (size_t)(s->bin[c].limit - hk_abin_room(&s->bin[c])) *
				 hk_class_size((unsigned)c);
	}
	hk_lanes_unlock();
}

int hk_alane_release(hk_lane_t *l)
{
	int released = 0;
	for (unsigned i = 0; i < HK_ASLOTS; i++) {
		hk_aslot_t *s = l->aslot[i];
		if (s == &hk_aslot_none)
			continue;
		released |= flush_slot(s);
		fold(s);
		s->index = 0;
		s->next = S.spare;
		S.spare = s;
		l->aslot[i] = &hk_aslot_none;
	}
	return released;
}
