/*
 * core/lane.c — lanes and their caches of every arena, one implementation
 * for the default heap (slot 0) and user arenas (slots 1..): lane creation
 * on a thread's first slow path, bin set-up, batched refill from Tiny/MID
 * slabs, flush of half a full bin, reset/destroy clearing a slot's bins in
 * every lane, trim requests, thread exit, fork's child. Must not call
 * malloc. Invariant: every block in a set-up bin is a free, marked block
 * (word 1 = key ^ address) of the bin's class and of its slot's arena
 * (for slot 0, of any of the default heap's arenas).
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "core/arena_table.h"
#include "core/base.h"
#include "core/harden.h"
#include "core/lane.h"
#include "core/lock.h"
#include "core/mid.h"
#include "core/owner.h"
#include "core/platform.h"
#include "core/purge.h"
#include "core/region.h"
#include "core/sizeclass.h"
#include "core/slab.h"
#include "core/tiny.h"

/* Both in .bss: lane_dead's state is set at init (an initialiser put its
 * 35 KB in .data, resident in every process once its page was read). */
static hk_lane_t lane_empty, lane_dead;
__thread hk_lane_t *hk_lane_self __attribute__((tls_model("initial-exec"))) = &lane_empty;

static struct {
	hk_lock_t lock;
	hk_lane_t *live, *spare;
	hk_lane_t *fresh, *fresh_end; /* lanes never used, carved on demand */
	pthread_key_t key;
	uint64_t malloc_fast, free_fast, refills, flushes; /* of dead lanes */
	/* Bin limits (blocks) of the default heap and of user arenas: a
	 * quarter for those — a thread may cache many arenas, and an arena's
	 * bytes held in caches are bytes its budget cannot use (bench-kv's
	 * peak RSS grew by 5 MB with the full limit, 4 workers). */
	int64_t limit[2][HK_NCLASS_MAX];
	/* Most blocks a refill of the class takes: 16 KiB of them, 1 to 128
	 * (bin_fill; a division there before, once a refill). */
	uint32_t cap[HK_NCLASS_MAX];
	/* Most blocks a flush gives back: FLUSH_BYTES of them, at least 1. */
	uint32_t flush_cap[HK_NCLASS_MAX];
} LN HK_FORKED;

/* User arenas' cache slots. `lanes` lists the lanes with a set-up bin of
 * the slot; the lock covers the list, `arena` and those bins whenever
 * another thread than their owner may touch them (core/types.h). */
static struct cache_slot {
	hk_lock_t lock;
	hk_arena_t *arena;
	hk_lane_t *lanes;
	/* Since the arena's last full reset: blocks every lane and path took
	 * from its slabs, and flushes back to them (hk_cache_rewind's proof
	 * that its caller's runs are all the arena handed out). */
	_Atomic uint64_t taken, given;
} SL[HK_CACHE_SLOTS] HK_FORKED;

/* A lane's took word (core/types.h): a run's start, its count above. */
#define TOOK_SHIFT 48
#define TOOK_BROKEN 1

static uintptr_t took_start(uint64_t took)
{
	return (uintptr_t)(took & (((uint64_t)1 << TOOK_SHIFT) - 1));
}

static uint64_t took_count(uint64_t took)
{
	return took >> TOOK_SHIFT;
}

#define LANE_BLOCK ((size_t)256 << 10)
/*
 * Lanes are carved LANE_AT bytes into a page, LANE_STRIDE apart, so the
 * default heap's row (bins, then cache) ends at a page's end: its hot
 * words are at page offsets 0x7a0-0xfff, away from the first blocks of a
 * unit's pages (offsets from 0: pairs_16's block is at 16) and from
 * malloc's byte lookup (0x300-0x780, core/sizeclass.h). A load that meets
 * the bytes of an older store at the same page offset, in another size,
 * waits for the store to retire: with the row at offset 0, pairs_16's
 * room (offset 16) met the program's byte store into its block, 3.9 ->
 * 3.6 ns per pair (CPU time), as fast as pairs_64.
 */
#define LANE_AT ((size_t)4096 - HK_ROW_WORDS * 8)
#define LANE_STRIDE ((sizeof(hk_lane_t) + 4095) & ~(size_t)4095)
_Static_assert(LANE_AT >= offsetof(struct hk_class_tables, table) + sizeof(hk_class_table) &&
	       LANE_AT % 64 == 32, "the row is off the byte lookup, its bins 32-byte aligned");
_Static_assert(HK_BIN_WORDS == HK_CLASS_SCALE, "the class tables give a bin's first word");
_Static_assert(HK_NLANE <= HK_NCLASS_MAX, "every lane class has a bin (HK_MID_MAX's range)");
/* A user arena's cache's first refill takes 2 blocks, then 4, 8 ... up to
 * 128: after a reset (which unsets the bins) a request of 4 blocks carved 8
 * per class. Callgrind per request, hk arena + reset, 16-256 B: K=4 3624 ->
 * 2929, K=64 20696 -> 20720, K=1024 107617 -> 108713 (1 is no better at
 * K=4). */
#define FIRST_BATCH 2
/* The default heap ramps each class on its own: a class's first refill
 * carves RAMP_BYTES, each further one twice as much, up to the full batch
 * (16 KiB) after RAMP_STEPS refills. With one batch for the whole cache,
 * doubling per refill of any class, every class after a short program's
 * fourth refill carved 16 KiB, touching pages for blocks it never used
 * (git --version: 20 refills carved 226 KB for 75 mallocs); a class that
 * churns reaches the full batch after RAMP_STEPS refills. At least
 * RAMP_MIN blocks: with 2, the class refilled first held one block after
 * the program's first malloc, and a malloc/free loop of that class popped
 * the last block every time, its NULL link taking hk_next_get's slow branch
 * (pairs 16: 87.7 -> 83.8 instructions a pair). */
#define RAMP_BYTES ((size_t)1 << 10)
#define RAMP_STEPS 4
#define RAMP_MIN 4
_Static_assert((RAMP_BYTES << RAMP_STEPS) == (16u << 10), "the ramp ends at the full batch");

/*
 * The most bytes one flush gives back. The flush reads every block's link,
 * one block after the other: the blocks freed last are still in cache, a
 * grown bin's older ones (half of 256 KiB) not, and under another
 * program's cache traffic the walk waited on memory block by block. Steady
 * rounds of batch 100000 shuffled, free phase: ~0.45x mimalloc's speed
 * with half the bin, ~0.8x with 16 KiB (8 KiB: a little faster, jq's
 * allocator instructions +2.8%; 16 KiB: perl, jq, lua unchanged).
 */
#define FLUSH_BYTES ((size_t)16 << 10)

static void lane_exit(void *arg);

/* A new lane's first slow frees that may make it an heir (keep_off). */
#define HEIR_FREES 16

/*
 * A lane is young (its refills take a dead lane's slabs without the grace:
 * core/owner.c) for its first YOUNG_REFILLS refills, or until HEIR_FREES
 * slow frees or an inheritance, whichever ends first. Frees alone left a
 * lane that only allocates young for good: prodcons' producer, 6889
 * refills a run, took every dying lane's slabs at once, before their heir
 * could. A thread_churn worker refills 37-52 times in its whole life (200
 * blocks over ~30 classes), a larson worker 20-55 an epoch: 64 keeps
 * them young as long as they live, as before.
 */
#define YOUNG_REFILLS 64

void (*hk_lane_bin_start)(hk_lane_t *l, unsigned bin);

int hk_lane_global_init(void)
{
	lane_dead.state = HK_LANE_DEAD; /* before any lane exists to exit */
	for (int c = 0; c < HK_NLANE; c++) {
		size_t n = CONFIG_HK_LANE_CLASS_BYTES / hk_class_size((unsigned)c);
		LN.limit[0][c] = n < 2 ? 2 : (int64_t)n;
		LN.limit[1][c] = n / 4 < 2 ? 2 : (int64_t)(n / 4);
		n = (16u << 10) / hk_class_size((unsigned)c);
		LN.cap[c] = n > 128 ? 128 : n ? (uint32_t)n : 1;
		n = FLUSH_BYTES / hk_class_size((unsigned)c);
		LN.flush_cap[c] = n ? (uint32_t)n : 1;
	}
	return pthread_key_create(&LN.key, lane_exit);
}

/* A default-heap bin's limit doubles (up to GROW_MAX times) when it
 * flushes again after a refill: the program's swings of that class (lua's
 * collector sweeping, then allocating) are wider than the bin, and each
 * swing costs a flush and a refill per block. A bin that only flushes (a
 * consumer of another thread's blocks) or only refills never grows. A
 * full flush of the lane (trim, thread exit) shrinks it back. Callgrind,
 * lua tables.lua 0.1: see the commit. A bin set up by a free holds a
 * quarter of its limit until its first refill: while it only receives
 * frees (a consumer of another thread's blocks), what it holds is of no use
 * to its thread, and the thread that allocates them carves new pages for
 * it (prodcons: peak RSS 1.27x mimalloc's with 64 KiB per class held by
 * the consumer, 1.04x with a quarter; lane->frees_only marks it). */
#define GROW_MAX 2
_Static_assert(((1048576 / 16) << GROW_MAX) <= HK_ROOM_MASK, "a room fits its bits");

/* A user bin's limit is at least the run it took since the reset: a rewind
 * (hk_cache_rewind) puts the whole run back in the bin, and a request that
 * popped more of a class than the limit (a refill each time the bin ran
 * dry) left the bin holding more than its room could say. The room went
 * below 0 into the count, and every later rewind failed into a full reset
 * that refilled each class again (request 64 x 16-4096 B: 1 rewind in 3
 * failed, 15 refills a request). A run is one unit at most: 64 KiB. */
static inline __attribute__((always_inline)) int64_t limit_of(const hk_lane_t *l, unsigned bins,
								unsigned cls)
{
	if (bins) {
		int64_t run = (int64_t)took_count(l->took[bins / HK_ROW_WORDS][cls]);
		return run > LN.limit[1][cls] ? run : LN.limit[1][cls];
	}
	if (l->frees_only[cls])
		return (LN.limit[0][cls] + 3) >> 2;
	return LN.limit[0][cls] << l->grow[cls];
}

int64_t hk_bin_limit(const hk_lane_t *l, unsigned bins, unsigned cls)
{
	return limit_of(l, bins, cls);
}

static struct cache_slot *slot_of(unsigned bins)
{
	return &SL[bins / HK_ROW_WORDS];
}

/* Lock held. A lane comes back clean from retire (or zero from the map). */
static hk_lane_t *take_lane(void)
{
	if (LN.spare) {
		hk_lane_t *l = LN.spare;
		LN.spare = l->next;
		return l;
	}
	/* Carved one at a time so untouched lanes cost no RSS. */
	if ((uintptr_t)LN.fresh + sizeof(hk_lane_t) > (uintptr_t)LN.fresh_end) {
		void *mem;
		if (hk_platform_map(LANE_BLOCK, 0, 0, &mem))
			return NULL;
		LN.fresh = (hk_lane_t *)((char *)mem + LANE_AT);
		LN.fresh_end = (hk_lane_t *)((char *)mem + LANE_BLOCK);
	}
	hk_lane_t *l = LN.fresh;
	LN.fresh = (hk_lane_t *)((char *)l + LANE_STRIDE);
	return l;
}

static hk_lane_t *lane_create(void)
{
	hk_lock(&LN.lock);
	hk_lane_t *l = take_lane();
	if (l) {
		l->prev = NULL;
		l->next = LN.live;
		if (LN.live)
			LN.live->prev = l;
		LN.live = l;
	}
	hk_unlock(&LN.lock);
	if (!l)
		return NULL;
	atomic_store_explicit(&l->trim, 0, memory_order_relaxed);
	l->heir_left = HEIR_FREES;
	l->young_refills = YOUNG_REFILLS;
	hk_owner_born();
	l->state = HK_LANE_LIVE;
	pthread_setspecific(LN.key, l);
	hk_lane_self = l;
	return l;
}

/* New blocks of class cls from arena a's slabs: up to want, or a slab's
 * whole free list of up to `most`; slabs tagged `tag` first (0: any). */
static unsigned refill(hk_arena_t *a, unsigned cls, unsigned tag, void **chain, unsigned want,
		       unsigned most)
{
	unsigned got = 0;
	if (CONFIG_HK_TINY && (int)cls <= HK_TINY_LAST)
		got = hk_tiny_refill(a, cls, HK_KIND_SLAB, tag, chain, want, most);
	else if (CONFIG_HK_MID)
		got = hk_mid_refill(a, cls, HK_KIND_SLAB, tag, chain, want, most);
	if (!a->heap && a->bins != HK_BINS_NONE)
		atomic_fetch_add_explicit(&slot_of(a->bins)->taken, got, memory_order_relaxed);
	return got;
}

/* The lane's owner tag, taken on its first refill (core/owner.h). */
static unsigned lane_tag(hk_lane_t *l)
{
	if (!l->tag)
		l->tag = (uint8_t)hk_owner_take();
	return l->tag;
}

/* Whether this refill is a young lane's (YOUNG_REFILLS): counts it. */
static int young_refill(hk_lane_t *l)
{
	if (!l->young_refills)
		return 0;
	l->young_refills--;
	return l->heir_left != 0;
}

/* Gives up to *n blocks of the chain back to their slabs and returns the
 * rest (*n: how many were not given back). The default heap's bins mix
 * blocks of every node's arena: each stretch of one arena goes back under
 * its own lock (on one node the chain goes back whole). Sets *kick if the
 * purger is needed. */
static void *flush_chain(hk_arena_t *a, unsigned cls, void *chain, size_t *n, int *kick)
{
	HK_STAT(flushes, 1);
	if (!a->heap && a->bins != HK_BINS_NONE)
		atomic_fetch_add_explicit(&slot_of(a->bins)->given, 1, memory_order_relaxed);
	while (chain && *n) {
		if (a->heap)
			a = hk_arena_at(hk_desc_of(chain)->arena);
		*kick |= hk_slab_flush(a, cls, &chain, n);
	}
	return chain;
}

/* ---- one cache: its bins in one lane ---- */

/* Sets up bin `bins + cls` of lane l; the slot's first bin puts the lane
 * on the slot's list (user arenas: reset and destroy find it there). */
static void bin_setup(hk_lane_t *l, unsigned bins, unsigned cls)
{
	hk_cache_t *c = hk_lane_cache(l, bins);
	if (!c->classes) {
		c->batch = FIRST_BATCH;
		if (bins) {
			struct cache_slot *s = slot_of(bins);
			hk_lock(&s->lock);
			c->next = s->lanes;
			s->lanes = l;
			hk_unlock(&s->lock);
		}
	}
	c->classes |= (uint64_t)1 << cls;
	/* Until its first refill the bin has only received frees. */
	if (!bins) {
		l->grow[cls] = 0;
		l->frees_only[cls] = 1;
	}
	/* The divisor before the room: free() needs it once the room is set. */
	HK_DIVM(l, hk_bin_of(bins, cls)) = hk_class_divm[cls];
	hk_room_set(l, hk_bin_of(bins, cls), limit_of(l, bins, cls));
	if (!bins && hk_lane_bin_start)
		hk_lane_bin_start(l, hk_bin_of(bins, cls));
}

/* Notes the chain a user bin took (got blocks from head): one run with
 * the bin's earlier ones since the reset if it is carved in address order
 * right after them, and of at most a unit: a rewind keeps a run's memory
 * as a full reset keeps a class's empty slab, no more. Reads the chain's
 * links up to the first out of address order: a carve's, written just
 * now, or a slab's free list's (taken whole or as a run, not relinked:
 * core/slab.c), written when its blocks were freed, maybe long ago and
 * out of cache (a list freed out of order ends the walk early). */
static void took_note(hk_lane_t *l, unsigned bins, unsigned cls, void *head, unsigned got)
{
	unsigned sl = bins / (unsigned)HK_ROW_WORDS;
	uint64_t *t = &l->took[sl][cls];
	uintptr_t bs = hk_class_size(cls), p = (uintptr_t)head;
	l->took_blocks[sl] += got;
	for (unsigned i = 1; i < got; i++, p += bs)
		if ((*(uintptr_t *)p ^ hk_link_key((void *)p)) != p + bs)
			goto broken;
	uintptr_t start = *t ? took_start(*t) : (uintptr_t)head;
	uint64_t n = took_count(*t) + got;
	if (*t != TOOK_BROKEN && start + (n - got) * bs == (uintptr_t)head &&
	    !(start >> TOOK_SHIFT) && n * bs <= HK_UNIT) {
		*t = start | n << TOOK_SHIFT;
		return;
	}
broken:
	*t = TOOK_BROKEN;
}

/* Half the bin, at most 16 KiB or 128 blocks, and at most the user
 * cache's batch or the default heap class's ramp: carving touches every
 * block, so a small program (or a per-request arena, a few blocks then a
 * reset) must not carve far ahead. The limit is read once and the cap
 * from a table (limit_of thrice, the cap's division and the ramp's twice
 * before: bin_fill's own instructions a refill, batch_inorder, 88 -> 64). */
static unsigned bin_fill(hk_lane_t *l, hk_arena_t *a, unsigned bins, unsigned cls)
{
	hk_cache_t *c = hk_lane_cache(l, bins);
	unsigned bin = hk_bin_of(bins, cls), cap = LN.cap[cls];
	if (bins) {
		cap = cap > c->batch ? c->batch : cap;
		if (c->batch < 128)
			c->batch *= 2;
	} else {
		l->frees_only[cls] = 0; /* empty: nothing held */
		/* A ramp at its end carves 16 KiB (at least RAMP_MIN), never
		 * less than the cap: only a ramping class divides. */
		if (l->ramp[cls] < RAMP_STEPS) {
			size_t n = (RAMP_BYTES << l->ramp[cls]) / hk_class_size(cls);
			n = n < RAMP_MIN ? RAMP_MIN : n;
			cap = cap > n ? (unsigned)n : cap;
			l->ramp[cls]++;
		}
	}
	/* A user bin takes as many as its base limit says: the run it
	 * took raises the limit (limit_of), not the refill, so the blocks
	 * got always fit the limit a broken run leaves. */
	int64_t limit = bins ? LN.limit[1][cls] : limit_of(l, bins, cls);
	unsigned want = (unsigned)(limit / 2);
	want = want > cap ? cap : want ? want : 1;
	/* The bin is empty: an already carved free list may fill it. */
	unsigned tag = lane_tag(l) | (young_refill(l) ? HK_OWNER_YOUNG : 0);
	unsigned got = refill(a, cls, tag, &HK_HEAD(l, bin), want, (unsigned)limit);
	if (bins) {
		if (got)
			took_note(l, bins, cls, HK_HEAD(l, bin), got);
		limit = limit_of(l, bins, cls); /* the run's, with or without got */
	}
	hk_room_set(l, bin, limit - got);
	if (!bins)
		l->refilled[cls] = 1;
	c->refills++;
	c->refilled += got;
	return got;
}

/* Gives the newest half of a full bin back, at most FLUSH_BYTES: the flush
 * walks it once, finding where it ends as it goes. */
static int bin_flush_half(hk_lane_t *l, hk_arena_t *a, unsigned bins, unsigned cls)
{
	hk_cache_t *c = hk_lane_cache(l, bins);
	unsigned bin = hk_bin_of(bins, cls);
	if (!bins && l->refilled[cls]) {
		l->refilled[cls] = 0;
		if (l->grow[cls] < GROW_MAX) {
			/* Twice the limit: the bin has room again, no flush. */
			hk_room_add(l, bin, limit_of(l, bins, cls));
			l->grow[cls]++;
			return 0;
		}
	}
	int64_t held = limit_of(l, bins, cls) - hk_room(l, bin);
	size_t want = (size_t)(held / 2 ? held / 2 : held), cap = LN.flush_cap[cls];
	want = want < cap ? want : cap;
	size_t left = want;
	int kick = 0;
	HK_HEAD(l, bin) = flush_chain(a, cls, HK_HEAD(l, bin), &left, &kick);
	hk_room_add(l, bin, (int64_t)(want - left));
	c->flushes++;
	c->flushed += want - left;
	return kick;
}

/* Every bin of the cache back to the slabs; the bins stay set up. */
static int cache_flush(hk_lane_t *l, hk_arena_t *a, unsigned bins)
{
	hk_cache_t *c = hk_lane_cache(l, bins);
	int kick = 0;
	for (uint64_t m = c->classes; m; m &= m - 1) {
		unsigned cls = (unsigned)__builtin_ctzll(m), bin = hk_bin_of(bins, cls);
		void *chain = HK_HEAD(l, bin);
		if (!chain && (bins || !(l->grow[cls] | l->refilled[cls] | l->frees_only[cls])))
			continue;
		size_t all = SIZE_MAX;
		c->flushed += (uint64_t)(limit_of(l, bins, cls) - hk_room(l, bin));
		HK_HEAD(l, bin) = NULL;
		if (!bins)
			l->grow[cls] = l->refilled[cls] = l->frees_only[cls] = 0; /* base limit */
		hk_room_set(l, bin, limit_of(l, bins, cls));
		if (chain)
			flush_chain(a, cls, chain, &all, &kick);
	}
	return kick;
}

static uint64_t cache_held(hk_lane_t *l, unsigned bins, size_t *bytes)
{
	hk_cache_t *c = hk_lane_cache(l, bins);
	uint64_t n = 0;
	for (uint64_t m = c->classes; m; m &= m - 1) {
		unsigned cls = (unsigned)__builtin_ctzll(m);
		unsigned bin = hk_bin_of(bins, cls);
		uint64_t held = (uint64_t)(limit_of(l, bins, cls) - hk_room(l, bin));
		n += held;
		if (bytes)
			*bytes += held * hk_class_size(cls);
	}
	return n;
}

/* Allocations: the slow paths' count, and the fast paths' in the room
 * word of each set-up bin (core/types.h). */
static uint64_t cache_allocs(hk_lane_t *l, unsigned bins)
{
	hk_cache_t *c = hk_lane_cache(l, bins);
	uint64_t n = c->allocs;
	for (uint64_t m = c->classes; m; m &= m - 1)
		n += hk_bin_allocs(l, hk_bin_of(bins, (unsigned)__builtin_ctzll(m)));
	return n;
}

/* Frees are derived: held = refilled - flushed + frees - allocs. */
static uint64_t cache_frees(hk_lane_t *l, unsigned bins)
{
	hk_cache_t *c = hk_lane_cache(l, bins);
	return cache_held(l, bins, NULL) - c->refilled + c->flushed + cache_allocs(l, bins);
}

/* Moves a user arena's cache counters into the arena (a NULL: dropped). */
static void cache_fold(hk_lane_t *l, unsigned bins, hk_arena_t *a)
{
	hk_cache_t *c = hk_lane_cache(l, bins);
	if (a) {
		atomic_fetch_add_explicit(&a->ctr.allocs, cache_allocs(l, bins),
					  memory_order_relaxed);
		atomic_fetch_add_explicit(&a->ctr.frees, cache_frees(l, bins),
					  memory_order_relaxed);
	}
	c->allocs = c->refilled = c->flushed = c->slow_pops = c->slow_pushes = 0;
	for (uint64_t m = c->classes; m; m &= m - 1) {
		unsigned bin = hk_bin_of(bins, (unsigned)__builtin_ctzll(m));
		l->room[bin] &= HK_ROOM_MASK;
		HK_DRAWN(l, bin) = 0;
	}
}

/* Empties every bin of the cache without looking at its blocks (a reset
 * took them back) and unsets them: the lane is off the slot's list. */
static void cache_clear(hk_lane_t *l, unsigned bins)
{
	hk_cache_t *c = hk_lane_cache(l, bins);
	for (uint64_t m = c->classes; m; m &= m - 1) {
		unsigned bin = hk_bin_of(bins, (unsigned)__builtin_ctzll(m));
		HK_HEAD(l, bin) = NULL;
		l->room[bin] = 0; /* and the count: folded or dropped before */
		HK_DRAWN(l, bin) = 0;
		l->took[bins / HK_ROW_WORDS][__builtin_ctzll(m)] = 0;
	}
	l->took_blocks[bins / HK_ROW_WORDS] = 0;
	c->classes = 0;
	c->next = NULL;
}

/* Flushes, folds and clears lane l's cache of user slot s, taking it off
 * the slot's list (thread exit, fork child). Returns 1 for the purger. */
static int cache_release(hk_lane_t *l, unsigned s)
{
	struct cache_slot *sl = &SL[s];
	unsigned bins = s * (unsigned)HK_ROW_WORDS;
	int kick = 0;
	hk_lock(&sl->lock);
	if (hk_lane_cache(l, bins)->classes) {
		kick = cache_flush(l, sl->arena, bins);
		cache_fold(l, bins, sl->arena);
		for (hk_lane_t **p = &sl->lanes; *p; p = &hk_lane_cache(*p, bins)->next)
			if (*p == l) {
				*p = hk_lane_cache(l, bins)->next;
				break;
			}
		cache_clear(l, bins);
	}
	hk_unlock(&sl->lock);
	return kick;
}

/* Every bin of the lane back to the slabs; they stay set up (trim). */
static int lane_flush(hk_lane_t *l)
{
	int kick = cache_flush(l, &hk_arena0, 0);
	for (unsigned s = 1; s < HK_CACHE_NONE; s++) {
		unsigned bins = s * (unsigned)HK_ROW_WORDS;
		hk_lock(&SL[s].lock);
		if (hk_lane_cache(l, bins)->classes)
			kick |= cache_flush(l, SL[s].arena, bins);
		hk_unlock(&SL[s].lock);
	}
	return kick;
}

/* The calling thread's live lane, created on first use, its trim request
 * honoured; NULL without one (exiting thread, no memory for one). */
hk_lane_t *hk_lane_get(void)
{
	hk_lane_t *l = hk_lane_self;
	if (l->state == HK_LANE_EMPTY && hk_ready())
		l = lane_create();
	if (!l || l->state != HK_LANE_LIVE)
		return NULL;
	hk_lane_trim_check();
	return l;
}

void *hk_cache_alloc(hk_arena_t *a, unsigned cls)
{
	hk_lane_t *l = hk_lane_get();
	unsigned bins = a->bins, bin = hk_bin_of(bins, cls);
	void **p = NULL;
	int kick = 0;
	if (!l || bins == HK_BINS_NONE) {
		/* No lane or no cache slot: one block under the class lock. */
		if (refill(a, cls, 0, (void **)&p, 1, 1)) {
			p[1] = NULL;
			if (!a->heap)
				atomic_fetch_add_explicit(&a->ctr.allocs, 1, memory_order_relaxed);
		}
		return p;
	}
	hk_cache_t *c = hk_lane_cache(l, bins);
	if (!(c->classes >> cls & 1))
		bin_setup(l, bins, cls);
	if (!HK_HEAD(l, bin) && !bin_fill(l, a, bins, cls)) {
		/* Out of capacity or memory: this thread's own cached blocks
		 * of a user arena may be what keeps its slabs busy. */
		if (a->heap)
			return NULL;
		kick = cache_flush(l, a, bins);
		if (!bin_fill(l, a, bins, cls))
			p = NULL;
	}
	if (HK_HEAD(l, bin)) {
		p = HK_HEAD(l, bin);
		HK_HEAD(l, bin) = hk_next_get(p, hk_slow_call);
		/* A user bin counts it as a fast pop (its count is all its
		 * pops: hk_cache_rewind); the default heap's count is the
		 * sampler's countdown. */
		if (bins) {
			l->room[bin] += HK_ROOM_POP;
		} else {
			hk_room_add(l, bin, 1);
			c->allocs++;
		}
		p[1] = NULL;
		c->slow_pops++;
	}
	if (kick)
		hk_purge_kick();
	return p;
}

/* The default heap's bins a fast path may go on with from its miss: a
 * live lane without a trim request, the bin set up (the static and dead
 * lanes are not live; their bins, and unset ones, have room 0). */
static inline int lane_direct(const hk_lane_t *l, unsigned cls)
{
	return l->state == HK_LANE_LIVE &&
	       !atomic_load_explicit(&l->trim, memory_order_relaxed) &&
	       (hk_lane_cache((hk_lane_t *)l, 0)->classes >> cls & 1);
}

void *hk_lane_refill_pop(hk_lane_t *l, hk_arena_t *a, unsigned bin)
{
	unsigned cls = bin / HK_BIN_WORDS;
	if (!lane_direct(l, cls) || !bin_fill(l, a, 0, cls))
		return NULL;
	hk_cache_t *c = hk_lane_cache(l, 0);
	void **p = HK_HEAD(l, bin);
	HK_HEAD(l, bin) = hk_next_get(p, hk_slow_call);
	hk_room_add(l, bin, 1);
	p[1] = NULL;
	c->allocs++;
	c->slow_pops++;
	return p;
}

int hk_lane_flush_push(hk_lane_t *l, void *p, unsigned bin)
{
	unsigned cls = bin / HK_BIN_WORDS;
	if (!lane_direct(l, cls))
		return 0;
	int kick = bin_flush_half(l, &hk_arena0, 0, cls);
	((uintptr_t *)p)[1] = hk_secret ^ (uintptr_t)p;
	hk_next_set(p, HK_HEAD(l, bin));
	HK_HEAD(l, bin) = p;
	hk_room_add(l, bin, -1);
	hk_lane_cache(l, 0)->slow_pushes++;
	if (kick) {
		/* free() keeps errno: the purger's start may set it (saved
		 * here, not around every flush: __errno_location is a call). */
		int saved = errno;
		hk_purge_kick();
		errno = saved;
	}
	return 1;
}

/*
 * A slow free's block is of a slab another live lane refills from: it goes
 * back to that slab, not into this thread's bin, from where this thread
 * would reuse it beside the other's blocks (cache_scratch: the main thread
 * hands each worker a block of one line, and each worker's malloc took the
 * block it had just freed: 0.34x mimalloc's speed). A block of a dead
 * lane's slab makes a young lane (HEIR_FREES) the heir of that lane's
 * tag, and so of its slabs, in place of a tag it took (core/owner.c):
 * larson's new worker often frees blocks of the main thread's slabs
 * first, then refills (taking a tag), and only then meets its
 * predecessor's blocks; the predecessor's slabs went to both workers'
 * refills, and the lines both wrote stayed at ~140 an epoch.
 * Only frees that leave the fast path look (the first of a class, a full
 * user-arena bin): the fast path has no owner check.
 */
static int keep_off(hk_lane_t *l, const hk_desc_t *d)
{
	unsigned o = hk_owner_of(hk_unit_of((void *)d->start));
	if (l->heir_left)
		l->heir_left--;
	if (o == l->tag)
		return 0;
	if (hk_owner_live(o))
		return 1;
	if (l->heir_left && hk_owner_claim(o)) {
		/* Its own few slabs, if any, to any refill at once. */
		hk_owner_release(l->tag, 1);
		l->tag = (uint8_t)o;
		l->heir_left = 0;
	}
	return 0;
}

/* A checked free slab block into the caller's bin, or with `direct`
 * straight back to its slab (counted as a free and a flush of the bin, so
 * the derived frees stay right). */
static void cache_put(void *p, const hk_desc_t *d, int direct)
{
	int saved = errno; /* free() keeps errno: a new lane maps memory */
	unsigned cls = hk_desc_cls(d), bin = d->bin, bins = bin - cls * HK_BIN_WORDS;
	hk_arena_t *a = bins ? hk_arena_at(d->arena) : &hk_arena0;
	hk_lane_t *l = hk_lane_get();
	int kick = 0;
	size_t one = 1;
	((uintptr_t *)p)[1] = hk_secret ^ (uintptr_t)p;
	if (!l || bins == HK_BINS_NONE) {
		hk_next_set(p, NULL);
		flush_chain(a, cls, p, &one, &kick);
		if (!a->heap)
			atomic_fetch_add_explicit(&a->ctr.frees, 1, memory_order_relaxed);
	} else {
		hk_cache_t *c = hk_lane_cache(l, bins);
		if (!(c->classes >> cls & 1))
			bin_setup(l, bins, cls);
		direct |= keep_off(l, d);
		if (direct) {
			hk_next_set(p, NULL);
			flush_chain(a, cls, p, &one, &kick);
			c->flushed++;
		} else {
			if (hk_room(l, bin) <= 0)
				kick = bin_flush_half(l, a, bins, cls);
			hk_next_set(p, HK_HEAD(l, bin));
			HK_HEAD(l, bin) = p;
			hk_room_add(l, bin, -1);
		}
		c->slow_pushes++;
	}
	if (kick)
		hk_purge_kick();
	errno = saved;
}

void hk_cache_free(void *p, const hk_desc_t *d)
{
	cache_put(p, d, 0);
}

void hk_cache_give_back(void *p, const hk_desc_t *d)
{
	cache_put(p, d, 1);
}

/* ---- cache slots of user arenas ---- */

unsigned hk_cache_slot_take(hk_arena_t *a)
{
	for (unsigned s = 1; s < HK_CACHE_NONE; s++) {
		int mine = 0;
		hk_lock(&SL[s].lock);
		if (!SL[s].arena) {
			SL[s].arena = a;
			mine = 1;
		}
		hk_unlock(&SL[s].lock);
		if (mine)
			return s * (unsigned)HK_ROW_WORDS;
	}
	return HK_BINS_NONE;
}

void hk_cache_drop(hk_arena_t *a, int destroy)
{
	unsigned bins = a->bins;
	if (bins == HK_BINS_NONE)
		return;
	struct cache_slot *s = slot_of(bins);
	hk_lock(&s->lock);
	for (hk_lane_t *l = s->lanes, *next; l; l = next) {
		next = hk_lane_cache(l, bins)->next;
		cache_fold(l, bins, destroy ? NULL : a);
		cache_clear(l, bins);
	}
	s->lanes = NULL;
	atomic_store_explicit(&s->taken, 0, memory_order_relaxed);
	atomic_store_explicit(&s->given, 0, memory_order_relaxed);
	if (destroy) {
		s->arena = NULL;
		a->bins = HK_BINS_NONE; /* its fast path now fails into the check */
		__atomic_store_n(&a->fast_bins, HK_BINS_NONE, __ATOMIC_RELAXED);
	}
	hk_unlock(&s->lock);
}

/* The bin took one run of n blocks from lo since the reset; pops (> 0)
 * left it since the last rewind. It passes if those are the run's first
 * pops and it holds exactly the others: nothing else was pushed (a push
 * left another block on top, or the count of held blocks off). A broken
 * run (TOOK_BROKEN) has n = 0 and fails on pops <= n. */
static int rewind_check(hk_lane_t *l, unsigned bins, unsigned cls, uint64_t took, uint64_t pops)
{
	unsigned bin = hk_bin_of(bins, cls);
	uint64_t n = took_count(took);
	uint64_t held = (uint64_t)(limit_of(l, bins, cls) - hk_room(l, bin));
	uintptr_t h = took_start(took) + pops * hk_class_size(cls);
	return pops <= n && held == n - pops && (uintptr_t)HK_HEAD(l, bin) == (pops == n ? 0 : h);
}

/* The pops blocks from the run's start go back on top of the bin: linked
 * and marked free as a carve leaves them, the count cleared. */
static void rewind_bin(hk_lane_t *l, unsigned bins, unsigned cls, uint64_t pops, uintptr_t secret)
{
	unsigned bin = hk_bin_of(bins, cls);
	uintptr_t bs = hk_class_size(cls);
	uintptr_t lo = took_start(l->took[bins / HK_ROW_WORDS][cls]);
	uintptr_t last = lo + (pops - 1) * bs;
	for (uintptr_t p = lo; p < last; p += bs) {
		hk_next_set_with((void *)p, (void *)(p + bs), secret);
		((uintptr_t *)p)[1] = secret ^ p;
	}
	hk_next_set_with((void *)last, HK_HEAD(l, bin), secret);
	((uintptr_t *)last)[1] = secret ^ last;
	HK_HEAD(l, bin) = (void *)lo;
	l->room[bin] = hk_room(l, bin) - (int64_t)pops;
}

/*
 * The set-up bins of row `bins` (classes `set`) popped since the last
 * rewind, a bit each: the pops' count is the high part of the room word
 * (core/types.h), 0 after a rewind or a refill of a reset bin, so a
 * popped bin's word is below 0. The other bins hold what the last rewind
 * (or refill) left in them and are not looked at: a push needs a block of
 * the bin's class, and this arena's blocks of it come from that bin alone
 * (then popped), from another lane or path (taken differs, or the slot has
 * another lane: no rewind), or from before the last reset (a free after
 * it: misuse). From the highest class down, no branch but the loop's.
 * Checking every set-up bin in full (head, held blocks) was ~70 % of a
 * request of 4 blocks (callgrind, 16-256 B: 815 of 1224 instructions;
 * 16-4096 B: 1665 of 2096). A bit or'ed by each hk_arena_malloc instead
 * cost 3 instructions on its fast path (arena_pairs_64 76 -> 79 a pair,
 * past pairs_64's 71 + 10 %; K = 1024: +3000 a request); the count's
 * sign taking the fast path out once a class and request (a js) cost
 * 2 a pop and ~43 a class: K = 64 of 16-256 B 6983 against 6160 here.
 */
static uint64_t popped_bins(const hk_lane_t *l, unsigned bins, uint64_t set)
{
	if (!set)
		return 0;
	unsigned lo = (unsigned)__builtin_ctzll(set), hi = 63 - (unsigned)__builtin_clzll(set);
	const int64_t *r = &l->room[hk_bin_of(bins, hi)], *end = &l->room[hk_bin_of(bins, lo)];
	uint64_t used = 0;
	if ((hi - lo) % 2 == 0) { /* an odd number of classes: the top one alone */
		used = (uint64_t)*r >> 63;
		r -= HK_BIN_WORDS;
	}
	for (; r > end; r -= 2 * HK_BIN_WORDS) /* two at a time: ~4 instructions a class */
		used = used << 2 | ((uint64_t)r[0] >> 63) << 1 | (uint64_t)r[-HK_BIN_WORDS] >> 63;
	return used << lo & set;
}

int hk_cache_rewind(hk_arena_t *a)
{
	unsigned bins = a->bins, sl = bins / (unsigned)HK_ROW_WORDS;
	hk_lane_t *l = hk_lane_self;
	if (bins == HK_BINS_NONE || l->state != HK_LANE_LIVE)
		return 0;
	struct cache_slot *s = slot_of(bins);
	hk_cache_t *c = hk_lane_cache(l, bins);
	uint64_t used = popped_bins(l, bins, c->classes), all = 0;
	hk_lock(&s->lock);
	int ok = s->lanes == l && !c->next &&
		 !atomic_load_explicit(&s->given, memory_order_relaxed) &&
		 atomic_load_explicit(&s->taken, memory_order_relaxed) == l->took_blocks[sl];
	for (uint64_t m = used; ok && m; m &= m - 1) {
		unsigned cls = (unsigned)__builtin_ctzll(m);
		uint64_t pops = hk_bin_allocs(l, hk_bin_of(bins, cls));
		ok = rewind_check(l, bins, cls, l->took[sl][cls], pops);
		all += pops;
	}
	if (ok) {
		uintptr_t secret = hk_secret;
		for (uint64_t m = used; m; m &= m - 1) {
			unsigned cls = (unsigned)__builtin_ctzll(m);
			rewind_bin(l, bins, cls, hk_bin_allocs(l, hk_bin_of(bins, cls)), secret);
		}
		/* The bins hold again what they took (refilled): the pops
		 * become the arena's allocations and derive no frees. */
		atomic_fetch_add_explicit(&a->ctr.allocs, all + c->allocs, memory_order_relaxed);
		c->allocs = c->slow_pops = c->slow_pushes = 0;
	}
	hk_unlock(&s->lock);
	return ok;
}

void hk_cache_sum(hk_arena_t *a, uint64_t *allocs, uint64_t *frees, size_t *held)
{
	unsigned bins = a->bins;
	*allocs = *frees = 0;
	*held = 0;
	if (bins == HK_BINS_NONE)
		return;
	struct cache_slot *s = slot_of(bins);
	hk_lock(&s->lock);
	for (hk_lane_t *l = s->lanes; l; l = hk_lane_cache(l, bins)->next) {
		*allocs += cache_allocs(l, bins);
		*frees += cache_frees(l, bins);
		cache_held(l, bins, held);
	}
	hk_unlock(&s->lock);
}

/* ---- lanes ---- */

hk_lane_t *hk_lanes_live(void)
{
	return LN.live;
}

void hk_lane_flush_self(void)
{
	hk_lane_t *l = hk_lane_self;
	if (l->state != HK_LANE_LIVE)
		return;
	atomic_store_explicit(&l->trim, 0, memory_order_relaxed);
	if (lane_flush(l))
		hk_purge_kick();
}

/*
 * Asks every other live lane to flush, on its owner's next slow path. No
 * more than that: a thread blocked forever keeps its cached blocks, at most
 * its bin limits (CONFIG_HK_LANE_CLASS_BYTES of each class, two blocks of
 * the classes above it: ~5.9 MiB of the default heap with every class
 * touched; a quarter of that per user arena). Taking them from here races
 * with the owner's fast paths, which pop and push with plain loads and
 * stores: an exchange of a bin's head between the owner's load of it and
 * its store of the next link gives the popped block to both (two live
 * owners), and a push in that window drops the stolen chain's rest. Safe
 * stealing needs a locked read-modify-write on every pop and push (~20
 * cycles on a path of ~30 instructions), or stopping the owner at a known
 * point: a signal may land inside a pop, and a restartable sequence (rseq)
 * adds its set-up to every call. Neither is free on the fast path, so the
 * flag waits for the owner (issue 12 bug 5; doc/hakmem.3, hk_trim).
 */
void hk_lanes_trim(void)
{
	hk_lane_t *self = hk_lane_self;
	hk_lock(&LN.lock);
	for (hk_lane_t *l = LN.live; l; l = l->next)
		if (l != self)
			atomic_store_explicit(&l->trim, 1, memory_order_relaxed);
	hk_unlock(&LN.lock);
}

/* The default heap's fast frees are not counted: derived (core/types.h). */
static uint64_t free_fast_of(hk_lane_t *l)
{
	return cache_frees(l, 0) - hk_lane_cache(l, 0)->slow_pushes;
}

static uint64_t malloc_fast_of(hk_lane_t *l)
{
	return cache_allocs(l, 0) - hk_lane_cache(l, 0)->slow_pops;
}

/* Flushes and gives back every cache of lane l (its thread is gone or
 * going). Returns 1 if the purger is needed. */
static int lane_release(hk_lane_t *l)
{
	int kick = cache_flush(l, &hk_arena0, 0);
	for (unsigned s = 1; s < HK_CACHE_NONE; s++)
		kick |= cache_release(l, s);
	return kick;
}

/* Lanes lock held; the lane's user caches are released, its default heap
 * bins flushed (a fork child's other lanes: not, their blocks go with the
 * bins: hk_lanes_after_fork_child). It goes to the spare list clean (all
 * bins unset), its owner tag to an heir (`heirless`: to any refill at once). */
static void retire(hk_lane_t *l, int heirless)
{
	hk_cache_t *c = hk_lane_cache(l, 0);
	LN.malloc_fast += malloc_fast_of(l);
	LN.free_fast += free_fast_of(l);
	LN.refills += c->refills;
	LN.flushes += c->flushes;
	for (unsigned s = 1; s < HK_CACHE_NONE; s++) {
		hk_cache_t *u = hk_lane_cache(l, s * (unsigned)HK_ROW_WORDS);
		LN.refills += u->refills;
		LN.flushes += u->flushes;
		u->refills = u->flushes = 0;
	}
	cache_clear(l, 0);
	hk_owner_release(l->tag, heirless); /* its slabs go to an heir, or any refill */
	l->tag = 0;
	/* The lane's next thread seeds its sampler from this count: from the
	 * lane's address alone, each thread on a recycled lane replayed the
	 * last one's intervals (larson: the same pops sampled in every epoch,
	 * 1 to 34 guarded blocks a run where 8 are expected). */
	uint32_t retired = c->retired + 1;
	memset(c, 0, sizeof *c);
	c->retired = retired;
	memset(l->grow, 0, sizeof l->grow);
	memset(l->refilled, 0, sizeof l->refilled);
	memset(l->frees_only, 0, sizeof l->frees_only);
	memset(l->ramp, 0, sizeof l->ramp);
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
	hk_slow_call = "thread exit";
	int kick = lane_release(l);
	hk_lock(&LN.lock);
	retire(l, 0);
	hk_unlock(&LN.lock);
	if (kick)
		hk_purge_kick(); /* outside the locks: it may start the purger */
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
		out->malloc_fast += malloc_fast_of(l);
		out->free_fast += free_fast_of(l);
		for (unsigned s = 0; s < HK_CACHE_NONE; s++) {
			hk_cache_t *c = hk_lane_cache(l, s * (unsigned)HK_ROW_WORDS);
			out->refills += c->refills;
			out->flushes += c->flushes;
		}
		cache_held(l, 0, &bytes);
	}
	hk_unlock(&LN.lock);
	*bin_bytes = bytes;
}

void hk_lanes_lock(void)
{
	for (unsigned s = 1; s < HK_CACHE_NONE; s++)
		hk_lock(&SL[s].lock);
	hk_lock(&LN.lock);
}

void hk_lanes_unlock(void)
{
	hk_unlock(&LN.lock);
	for (unsigned s = HK_CACHE_NONE; s-- > 1;)
		hk_unlock(&SL[s].lock);
}

/* Fork child: a lane whose thread is gone loses its user caches' bins
 * without a look at their blocks (why: below). Their blocks were freed:
 * they leave the arena's live bytes as a flush would take them out. The
 * default heap's bins mix the nodes' arenas, and only a block says which:
 * their blocks stay counted live in the child. */
static void lane_drop(hk_lane_t *l)
{
	for (unsigned s = 1; s < HK_CACHE_NONE; s++) {
		struct cache_slot *sl = &SL[s];
		unsigned bins = s * (unsigned)HK_ROW_WORDS;
		hk_cache_t *c = hk_lane_cache(l, bins);
		if (!c->classes)
			continue;
		for (uint64_t m = c->classes; sl->arena && m; m &= m - 1) {
			unsigned cls = (unsigned)__builtin_ctzll(m);
			int64_t held = limit_of(l, bins, cls) - hk_room(l, hk_bin_of(bins, cls));
			int band = (int)cls > HK_TINY_LAST ? HK_BAND_MID : HK_BAND_TINY;
			if (held > 0)
				atomic_fetch_sub_explicit(&sl->arena->ctr.live[band],
							  (size_t)held * hk_class_size(cls),
							  memory_order_relaxed);
		}
		cache_fold(l, bins, sl->arena);
		for (hk_lane_t **p = &sl->lanes; *p; p = &hk_lane_cache(*p, bins)->next)
			if (*p == l) {
				*p = hk_lane_cache(l, bins)->next;
				break;
			}
		cache_clear(l, bins);
	}
}

/*
 * The lanes of the threads a fork left behind go with the blocks they
 * cached: never flushed. Such a thread may have stopped between handing a
 * bin's blocks back to their slabs (under the class lock, which the fork's
 * prepare took next) and storing the bin's new head; the child then saw
 * those blocks in the bin and free in their slabs, and flushing them again
 * handed one block out twice (test_fork child_leaves_other_threads_bins_alone;
 * a child of a parent with 3 busy threads aborted once in ~900 forks with
 * "corrupted free list"). Not flushing also spares the child a copy-on-write
 * fault for each page of cached blocks it wrote: with 3 busy threads in the
 * parent, 352 -> 79 faults and 15 -> 3 ms of CPU per child, mostly for a
 * child that execs. The cost: those blocks stay used in the child, at most
 * the lanes' budget.
 */
void hk_lanes_after_fork_child(void)
{
	hk_lane_t *self = hk_lane_self, *next;
	hk_slow_call = "fork";
	for (hk_lane_t *l = LN.live; l; l = next) {
		next = l->next;
		if (l == self)
			continue;
		lane_drop(l);
		retire(l, 1); /* its thread is not in the child: no heir comes */
	}
	hk_owner_after_fork_child(self->tag);
}
