/*
 * core/lane.c — lanes: creation on a thread's first slow path, batched
 * refill from Tiny/MID slabs, flush of half a full bin, thread exit
 * (flush, then the TLS pointer goes to the dead lane), fork's child.
 * Must not call malloc. Invariant: every block in a bin is a free block of
 * the default arena, of the bin's class, marked (word 1 = key ^ address).
 * A lane's arena slots (user arenas) are core/arena_lane.c's; this file
 * only points them at the empty slot and has them released on exit/fork.
 */
#include <pthread.h>
#include <string.h>

#include "core/arena_lane.h"
#include "core/backend.h"
#include "core/core.h"
#include "core/harden.h"
#include "core/lane.h"
#include "core/lock.h"
#include "core/platform.h"
#include "core/region.h"
#include "core/sizeclass.h"

extern hk_aslot_t hk_aslot_none;
#define NO_SLOTS                                                                   \
	.aslot = { &hk_aslot_none, &hk_aslot_none, &hk_aslot_none, &hk_aslot_none, \
		   &hk_aslot_none, &hk_aslot_none, &hk_aslot_none, &hk_aslot_none }
_Static_assert(HK_ASLOTS == 8, "NO_SLOTS lists every arena slot");

static hk_lane_t lane_empty = { NO_SLOTS }, lane_dead = { .state = HK_LANE_DEAD, NO_SLOTS };
__thread hk_lane_t *hk_lane_self __attribute__((tls_model("initial-exec"))) = &lane_empty;

static struct {
	hk_lock_t lock;
	hk_lane_t *live, *spare;
	hk_lane_t *fresh, *fresh_end; /* lanes never used, carved on demand */
	pthread_key_t key;
	uint64_t malloc_fast, free_fast, refills, flushes; /* of dead lanes */
} LN;

#define LANE_BLOCK ((size_t)256 << 10)

static void lane_exit(void *arg);

int hk_lane_global_init(void)
{
	lane_empty.key = lane_dead.key = hk_secret;
	return pthread_key_create(&LN.key, lane_exit);
}

/* Lock held. */
static hk_lane_t *take_lane(void)
{
	if (LN.spare) {
		hk_lane_t *l = LN.spare;
		LN.spare = l->next;
		return l;
	}
	/* Carved one at a time so untouched lanes cost no RSS. */
	if (LN.fresh == LN.fresh_end) {
		void *mem;
		if (hk_platform_map(LANE_BLOCK, 0, 0, &mem))
			return NULL;
		LN.fresh = mem;
		LN.fresh_end = LN.fresh + LANE_BLOCK / sizeof(hk_lane_t);
	}
	return LN.fresh++;
}

static hk_lane_t *lane_create(void)
{
	hk_lock(&LN.lock);
	hk_lane_t *l = take_lane();
	if (l) {
		memset(l, 0, sizeof *l);
		for (int i = 0; i < HK_ASLOTS; i++)
			l->aslot[i] = &hk_aslot_none;
		l->next = LN.live;
		if (LN.live)
			LN.live->prev = l;
		LN.live = l;
	}
	hk_unlock(&LN.lock);
	if (!l)
		return NULL;
	for (int c = 0; c < HK_NLANE; c++) {
		size_t n = CONFIG_HK_LANE_CLASS_BYTES / hk_class_size(c);
		l->limit[c] = l->room[c] = (int32_t)(n < 2 ? 2 : n);
	}
	l->key = hk_secret;
	l->state = HK_LANE_LIVE;
	pthread_setspecific(LN.key, l);
	hk_lane_self = l;
	return l;
}

/* New blocks come from the default heap's arena of the caller's node. */
static unsigned refill(unsigned cls, void **chain, unsigned want)
{
	hk_arena_t *a = hk_heap_arena();
	if (CONFIG_HK_TINY && (int)cls <= HK_TINY_LAST)
		return hk_tiny_refill(a, cls, HK_KIND_SLAB, chain, want);
	if (CONFIG_HK_MID)
		return hk_mid_refill(a, cls, HK_KIND_SLAB, chain, want);
	return 0;
}

/* A bin mixes blocks of every node's arena (frees go to the freeing
 * thread's bin): each stretch of one arena goes back under its own lock. On
 * one node every block is hk_arena0's and the chain goes back whole. */
static void flush_chain(unsigned cls, void *chain)
{
	int kick = 0;
	HK_STAT(flushes, 1);
	while (chain) {
		unsigned arena = hk_desc_of(chain)->arena;
		void **last = chain, *rest = NULL;
		if (hk_heap_split()) {
			for (void **n; (n = hk_next_get(last)) != NULL; last = n)
				if (hk_desc_of(n)->arena != arena) {
					rest = n;
					hk_next_set(last, NULL);
					break;
				}
		}
		kick |= hk_slab_flush(hk_arena_at(arena), cls, chain);
		chain = rest;
	}
	if (kick)
		hk_purge_kick();
}

hk_lane_t *hk_lane_get(void)
{
	hk_lane_t *l = hk_lane_self;
	if (l->state == HK_LANE_EMPTY && hk_ready())
		l = lane_create();
	return l && l->state == HK_LANE_LIVE ? l : NULL;
}

hk_lane_t *hk_lanes_live(void)
{
	return LN.live;
}

void *hk_lane_alloc(unsigned cls)
{
	hk_lane_t *l = hk_lane_self;
	void *chain;
	if (l->state == HK_LANE_EMPTY && hk_ready())
		l = lane_create();
	if (!l || l->state != HK_LANE_LIVE) {
		/* No lane (thread exiting, or no memory for one): one block. */
		if (!refill(cls, &chain, 1))
			return NULL;
		((void **)chain)[1] = NULL;
		return chain;
	}
	if (!l->head[cls]) {
		/* Half the bin, at most 16 KiB or 128 blocks: carving touches
		 * every block, so a small program must not carve far ahead. */
		unsigned want = l->limit[cls] / 2, cap = (unsigned)((16u << 10) / hk_class_size(cls));
		cap = cap > 128 ? 128 : cap ? cap : 1;
		want = want > cap ? cap : want ? want : 1;
		unsigned got = refill(cls, &l->head[cls], want);
		l->room[cls] = l->limit[cls] - (int32_t)got;
		l->refills++;
		l->refilled += got;
		if (!got)
			return NULL;
	}
	void **p = l->head[cls];
	l->head[cls] = hk_next_get(p);
	l->room[cls]++;
	p[1] = NULL;
	l->popped_slow++;
	return p;
}

/* Cuts the first half of a full bin and returns it to the slabs. */
static void flush_half(hk_lane_t *l, unsigned cls)
{
	unsigned held = (unsigned)(l->limit[cls] - l->room[cls]);
	unsigned n = held / 2 ? held / 2 : held;
	void **p = l->head[cls], *chain = l->head[cls];
	for (unsigned i = 1; i < n; i++)
		p = hk_next_get(p);
	l->head[cls] = hk_next_get(p);
	l->room[cls] += (int32_t)n;
	hk_next_set(p, NULL);
	l->flushes++;
	l->flushed += n;
	flush_chain(cls, chain);
}

void hk_lane_free(void *p, unsigned cls)
{
	hk_lane_t *l = hk_lane_self;
	((uintptr_t *)p)[1] = hk_secret ^ (uintptr_t)p;
	if (l->state == HK_LANE_EMPTY && hk_ready())
		l = lane_create();
	if (!l || l->state != HK_LANE_LIVE) {
		hk_next_set(p, NULL);
		flush_chain(cls, p);
		return;
	}
	if (l->room[cls] <= 0) {
		l->room[cls] = 0; /* hk_free leaves -1 in a full bin's counter */
		flush_half(l, cls);
	}
	hk_next_set(p, l->head[cls]);
	l->head[cls] = p;
	l->room[cls]--;
	l->pushed_slow++;
}

static void flush_all(hk_lane_t *l)
{
	for (int c = 0; c < HK_NLANE; c++) {
		if (l->head[c]) {
			void *chain = l->head[c];
			l->flushed += (uint64_t)(l->limit[c] - l->room[c]);
			l->head[c] = NULL;
			l->room[c] = l->limit[c];
			flush_chain((unsigned)c, chain);
		}
	}
}

void hk_lane_flush_self(void)
{
	hk_lane_t *l = hk_lane_self;
	if (l->state == HK_LANE_LIVE)
		flush_all(l);
}

/* Fast frees are not counted on the fast path: derived (core/types.h). */
static uint64_t free_fast_of(const hk_lane_t *l)
{
	uint64_t held = 0;
	for (int c = 0; c < HK_NLANE; c++)
		held += (uint64_t)(l->limit[c] - l->room[c]);
	return held - l->refilled + l->flushed - l->pushed_slow + l->malloc_fast + l->popped_slow;
}

/* Lock held; the lane's bins are empty. */
static void retire(hk_lane_t *l)
{
	LN.malloc_fast += l->malloc_fast;
	LN.free_fast += free_fast_of(l);
	LN.refills += l->refills;
	LN.flushes += l->flushes;
	if (l->prev)
		l->prev->next = l->next;
	else
		LN.live = l->next;
	if (l->next)
		l->next->prev = l->prev;
	l->state = HK_LANE_DEAD;
	l->next = LN.spare;
	LN.spare = l;
}

static void lane_exit(void *arg)
{
	hk_lane_t *l = arg;
	/* Late frees (other TSD destructors, TLS teardown) use the dead lane. */
	hk_lane_self = &lane_dead;
	flush_all(l);
	hk_lock(&LN.lock);
	int released = hk_alane_release(l);
	retire(l);
	hk_unlock(&LN.lock);
	if (released)
		hk_purge_kick(); /* outside the lock: it may start the purger */
}

void hk_lane_sum(hk_stats_t *out, size_t *bin_bytes)
{
	size_t bytes = 0;
	hk_lock(&LN.lock);
	out->malloc_fast = LN.malloc_fast;
	out->free_fast = LN.free_fast;
	out->refills = LN.refills;
	out->flushes = LN.flushes;
	for (hk_lane_t *l = LN.live; l; l = l->next) {
		out->malloc_fast += l->malloc_fast;
		out->free_fast += free_fast_of(l);
		out->refills += l->refills;
		out->flushes += l->flushes;
		for (int c = 0; c < HK_NLANE; c++)
			bytes += (size_t)(l->limit[c] - l->room[c]) * hk_class_size((unsigned)c);
	}
	hk_unlock(&LN.lock);
	*bin_bytes = bytes;
}

void hk_lanes_lock(void)
{
	hk_lock(&LN.lock);
}

void hk_lanes_unlock(void)
{
	hk_unlock(&LN.lock);
}

void hk_lanes_after_fork_child(void)
{
	hk_lane_t *self = hk_lane_self, *next;
	for (hk_lane_t *l = LN.live; l; l = next) {
		next = l->next;
		if (l == self)
			continue;
		flush_all(l);
		hk_alane_release(l);
		retire(l);
	}
}
