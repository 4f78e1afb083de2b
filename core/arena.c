/*
 * core/arena.c — arenas' lifecycle: the default heap (arena 0 and one more
 * arena per further NUMA node) and user arenas with a capacity, a node, a
 * hugepage policy and a name; set-up, reset (every block freed at once) and
 * destroy (memory returned, handle dead), and hk_arena_stats. The table of arena structs is
 * core/arena_table.c's; allocation from an arena is core/arena_alloc.c's. Small blocks of every arena
 * go through the lanes' caches (core/lane.c): an arena owns a cache slot,
 * whose bins reset and destroy empty in every lane that set them up.
 * Invariant: arena structs are never freed; a destroyed arena's struct stays
 * mapped and says DEAD, so a later use aborts instead of corrupting memory.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "core/arena.h"
#include "core/arena_bump.h"
#include "core/arena_table.h"
#include "core/base.h"
#include "core/guard.h"
#include "core/harden.h"
#include "core/lane.h"
#include "core/large.h"
#include "core/lock.h"
#include "core/platform.h"
#include "core/pool.h"
#include "core/purge.h"
#include "core/region.h"
#include "core/sizeclass.h"
#include "core/slab.h"
#include "core/span.h"

/* Parent/child links of every arena (core/types.h lock order: first). */
static HK_FORKED hk_lock_t family;

/* The locks are left alone: a thread flushing a stale arena slot may hold
 * a class lock of the dead arena this slot is recycled from (it finds the
 * epoch changed and lets go). A fresh slot's are zero, i.e. unlocked. */
static void setup(hk_arena_t *a, unsigned index, const hk_arena_config_t *cfg, int heap)
{
	memset(&a->flags, 0, offsetof(hk_arena_t, cls) - offsetof(hk_arena_t, flags));
	a->index = (uint16_t)index;
	for (unsigned b = 0; b < HK_SPAN_BUCKETS; b++)
		a->buckets[b] = HK_NIL;
	for (unsigned c = 0; c < HK_NCLASS_MAX; c++) {
		a->cls[c].partial = a->cls[c].full = a->cls[c].empty = HK_NIL;
		a->cls[c].fresh = HK_NIL;
		a->cls[c].empty_stamp = 0;
	}
	a->runs = HK_NIL;
	a->pool_live = a->pool_grown = HK_NIL;
	a->node = cfg ? cfg->numa_node : HK_NODE_LOCAL;
	a->policy = cfg ? cfg->hugepages : hk_platform_default_policy();
	a->capacity = cfg ? cfg->capacity : 0;
	a->flags = cfg ? cfg->flags : 0;
	const char *name = cfg && cfg->name ? cfg->name : index ? "arena" : "default";
	strncpy(a->name, name, sizeof a->name - 1);
	a->heap = (uint16_t)heap;
	/* A region arena's small blocks are no slab blocks: no cache slot. */
	a->bins = heap ? 0 : (a->flags & HK_ARENA_BUMP) ? HK_BINS_NONE : hk_cache_slot_take(a);
	__atomic_store_n(&a->fast_bins,
			 atomic_load_explicit(&hk_arena_divert, memory_order_relaxed) ? HK_BINS_NONE
										 : a->bins,
			 __ATOMIC_RELAXED);
	hk_bump_init(a);
	__atomic_store_n(&a->magic, HK_ARENA_LIVE, __ATOMIC_RELEASE); /* the purger reads it */
}

_Atomic int hk_arena_divert;
void (*_Atomic hk_arena_forget)(unsigned index);

/* A reset or destroy unmapped the arena's mappings: sampled blocks among
 * them lose their records. */
static void forget_sampled(hk_arena_t *a)
{
	void (*forget)(unsigned) = atomic_load_explicit(&hk_arena_forget, memory_order_acquire);
	if (CONFIG_HK_PROFILE && forget)
		forget(a->index);
}

/* The machine has one node (set at init, after the platform's probe): the
 * default heap is hk_arena0 with no call to ask the CPU's node (3 calls,
 * 29 instructions, on every refill of a bin before). */
static int heap_one_node;

void hk_arena_init0(void)
{
	hk_arena_table_init();
	setup(&hk_arena0, 0, NULL, 1);
	heap_one_node = hk_platform_node_count() == 1;
}

hk_arena_t *hk_arena_check(hk_arena_t *a, const char *call)
{
	if (!a)
		return &hk_arena0;
	if (a->magic != HK_ARENA_LIVE)
		hk_fatal(call, a->magic == HK_ARENA_DEAD ? "destroyed arena" : "invalid arena", a);
	return a;
}

/* Arenas of the default heap by NUMA node; [0] stays NULL (hk_arena0). */
#define HEAP_NODES (CONFIG_HK_NUMA && CONFIG_HK_NUMA_MAX_NODES > 1 ? CONFIG_HK_NUMA_MAX_NODES : 1)
static hk_arena_t *_Atomic heap_node[HEAP_NODES];

/* Made under the table lock (fork takes it), so two threads of one node
 * make one. */
static hk_arena_t *heap_node_create(int node)
{
	hk_arena_t *a = NULL;
	unsigned index;
	hk_arena_table_lock();
	a = atomic_load_explicit(&heap_node[node], memory_order_relaxed);
	if (!a && hk_arena_table_take(&index, &a) == 0) {
		hk_arena_config_t cfg = { .numa_node = node,
					  .hugepages = hk_platform_default_policy(),
					  .name = "default" };
		setup(a, index, &cfg, 1);
		atomic_store_explicit(&heap_node[node], a, memory_order_release);
	}
	hk_arena_table_unlock();
	return a ? a : &hk_arena0;
}

hk_arena_t *hk_arena_heap(void)
{
	if (HEAP_NODES == 1 || heap_one_node)
		return &hk_arena0;
	int node = hk_platform_current_node();
	if (node <= 0 || node >= HEAP_NODES)
		return &hk_arena0;
	hk_arena_t *a = atomic_load_explicit(&heap_node[node], memory_order_acquire);
	return a ? a : heap_node_create(node);
}

/* Takes the family lock; a (checked live before) must still be live: a
 * parent destroyed meanwhile took it along (the caller's error). */
static void family_lock_live(hk_arena_t *a, const char *call)
{
	hk_lock(&family);
	if (a->magic != HK_ARENA_LIVE)
		hk_fatal(call, "destroyed arena", a);
}

void hk_arena_family_lock(void)
{
	hk_lock(&family);
}

void hk_arena_family_unlock(void)
{
	hk_unlock(&family);
}

hk_arena_t *hk_arena_make(const hk_arena_config_t *cfg)
{
	/* An unknown flag is refused, not ignored: a program built against a
	 * later hakmem would get an arena without the behaviour it asked for. */
	if (cfg && ((cfg->flags & ~(HK_ARENA_ZERO_ON_RESET | HK_ARENA_BUMP)) ||
		    (cfg->numa_node != HK_NODE_LOCAL &&
		     (cfg->numa_node < 0 || cfg->numa_node >= hk_platform_node_count())) ||
		    (unsigned)cfg->hugepages > HK_HUGEPAGE_1G)) {
		errno = EINVAL;
		return NULL;
	}
	unsigned index;
	hk_arena_t *a, *parent = cfg ? cfg->parent : NULL;
	if (parent && hk_arena_check(parent, "hk_arena_create")->heap) {
		errno = EINVAL; /* the default heap is never reset or destroyed */
		return NULL;
	}
	if (parent)
		family_lock_live(parent, "hk_arena_create");
	hk_arena_table_lock();
	int err = hk_arena_table_take(&index, &a);
	hk_arena_table_unlock();
	if (err) {
		if (parent)
			hk_unlock(&family);
		errno = err;
		return NULL;
	}
	setup(a, index, cfg, 0);
	if (parent) {
		a->parent = parent;
		a->sibling = parent->child;
		__atomic_store_n(&parent->child, a, __ATOMIC_RELAXED);
		hk_unlock(&family);
	}
	return a;
}

/* Takes every lock of one arena, in the global order. */
static void lock_arena(hk_arena_t *a)
{
	for (unsigned c = 0; c < HK_NCLASS_MAX; c++)
		hk_lock(&a->cls[c].lock);
	hk_lock(&a->lock);
}

static void unlock_arena(hk_arena_t *a)
{
	hk_unlock(&a->lock);
	for (unsigned c = HK_NCLASS_MAX; c-- > 0;)
		hk_unlock(&a->cls[c].lock);
}

/* Every block of the arena is gone and its runs go back to the region. */
static void destroy_arena(hk_arena_t *a)
{
	/* Every thread's cached blocks of the arena are dropped, before the
	 * slabs forget them (no thread flushes them meanwhile: slot lock). */
	hk_cache_drop(a, 1);
	hk_large_free_arena(a->index);
	forget_sampled(a);
	/* Lock order: the purge lock before the arena's locks (core/types.h). */
	hk_purge_exclude();
	lock_arena(a);
	for (unsigned c = 0; c < HK_NCLASS_MAX; c++)
		hk_slab_forget(a, c);
	/* Runs stay committed for the next arena to grow into (no system
	 * call, no fault there: core/region.c); the purger returns them. */
	uint64_t now = hk_platform_now_ms();
	int parked = 0;
	uint32_t h = a->runs, next;
	for (; h != HK_NIL; h = next) {
		uint32_t n = hk_desc_at(h)->run_units + HK_RUN_GUARD;
		next = hk_desc_at(h)->run_next;
		parked |= hk_span_retire_run(a, h, n, now);
	}
	a->runs = HK_NIL;
	for (unsigned b = 0; b < HK_SPAN_BUCKETS; b++)
		a->buckets[b] = HK_NIL;
	memset(a->listed, 0, sizeof a->listed);
	a->ctr.committed = 0;
	a->ctr.reserved = 0;
	a->inuse = 0;
	hk_ctr_live_zero(&a->ctr);
	a->touched = 0;
	a->pool_live = HK_NIL;
	/* before the purger may look again */
	__atomic_store_n(&a->magic, HK_ARENA_DEAD, __ATOMIC_RELAXED);
	unlock_arena(a);
	hk_purge_allow();
	if (parked)
		hk_purge_kick_now();
}

/*
 * Every block of the arena is gone, at the cost of what it used since the
 * last reset: the lanes that cached it, the classes that took a slab (each
 * slab becomes empty: one stays as the class's empty slab, the others go
 * back as dirty spans), its live POOL spans and large blocks. No lock
 * sweep, no system call beyond unmapping its large blocks: the purger
 * keeps its own lock (its PURGING spans are no live span of the arena and
 * never merge). Returns 1 if spans went back (the purger has work).
 */
static int reset_arena(hk_arena_t *a)
{
	uint64_t now = hk_platform_now_ms();
	int dirty = 0;
	hk_cache_drop(a, 0);
	hk_large_free_arena(a->index);
	forget_sampled(a);
	uint64_t m = atomic_exchange_explicit(&a->touched, 0, memory_order_relaxed);
	for (; m; m &= m - 1)
		dirty |= hk_slab_reset(a, (unsigned)__builtin_ctzll(m), now);
	if (CONFIG_HK_POOL)
		dirty |= hk_pool_reset(a, now);
	hk_ctr_live_zero(&a->ctr);
	return dirty;
}

static void reset_one(hk_arena_t *a)
{
	if ((a->flags & HK_ARENA_BUMP) && hk_bump_reset(a))
		return; /* a region arena's steady state: the cursor rewound */
	if (!(a->flags & (HK_ARENA_BUMP | HK_ARENA_ZERO_ON_RESET)) && a->pool_live == HK_NIL &&
	    hk_cache_rewind(a)) {
		/* Every small block is back in the caller's bins; the
		 * slabs stay as they are, their blocks held there. */
		hk_large_free_arena(a->index);
		forget_sampled(a);
		atomic_store_explicit(&a->ctr.live[HK_BAND_LARGE], 0, memory_order_relaxed);
		return;
	}
	int dirty = reset_arena(a);
	if (a->flags & HK_ARENA_ZERO_ON_RESET) {
		uint64_t next;
		hk_purge_run(1, &next);
	} else if (dirty) {
		hk_purge_kick_now();
	}
}

/* Children first, down the whole family (family lock held). */
static void reset_family(hk_arena_t *a)
{
	for (hk_arena_t *c = a->child; c; c = c->sibling)
		reset_family(c);
	reset_one(a);
}

HK_API void hk_arena_reset(hk_arena_t *a)
{
	/* A region arena's steady state first (about 15 instructions): its
	 * round stayed in its first chunk and it has no children. `rewind` is
	 * 0 in every other arena, destroyed ones included (hk_bump_drop), so
	 * those still reach hk_arena_check. */
	uintptr_t rewind = a ? a->bump.rewind : 0;
	if (__builtin_expect(rewind && !__atomic_load_n(&a->child, __ATOMIC_RELAXED), 1)) {
		hk_bump_rewind(&a->bump, rewind);
		return;
	}
	a = hk_arena_check(a, "hk_arena_reset");
	if (a == &hk_arena0)
		return; /* the process heap is never reset */
	/* Without children no lock: a child made meanwhile comes after the reset. */
	if (!__atomic_load_n(&a->child, __ATOMIC_RELAXED)) {
		reset_one(a);
		return;
	}
	family_lock_live(a, "hk_arena_reset");
	reset_family(a);
	hk_unlock(&family);
}

/* Children first; links cleared before the arena is marked dead (its slot
 * may be recycled at once). Family lock held, or no family. */
static void destroy_family(hk_arena_t *a)
{
	hk_arena_t *c = a->child, *next;
	for (; c; c = next) {
		next = c->sibling;
		destroy_family(c);
	}
	a->parent = a->sibling = NULL;
	__atomic_store_n(&a->child, NULL, __ATOMIC_RELAXED);
	if (a->flags & HK_ARENA_BUMP)
		hk_bump_drop(a);
	destroy_arena(a);
}

/* Takes a out of its parent's children (family lock held). */
static void detach(hk_arena_t *a)
{
	hk_arena_t **pp;
	if (!a->parent)
		return;
	for (pp = &a->parent->child; *pp != a; pp = &(*pp)->sibling)
		;
	__atomic_store_n(pp, a->sibling, __ATOMIC_RELAXED);
}

HK_API void hk_arena_destroy(hk_arena_t *a)
{
	if (!a)
		return;
	a = hk_arena_check(a, "hk_arena_destroy");
	if (a == &hk_arena0)
		return;
	if (!__atomic_load_n(&a->parent, __ATOMIC_RELAXED) &&
	    !__atomic_load_n(&a->child, __ATOMIC_RELAXED)) {
		destroy_family(a);
		return;
	}
	family_lock_live(a, "hk_arena_destroy");
	detach(a);
	destroy_family(a);
	hk_unlock(&family);
}

HK_API hk_arena_t *hk_arena_of(const void *p)
{
	if (!p || !hk_ready())
		return NULL;
	hk_desc_t *d = hk_desc_of(p);
	hk_arena_t *a = NULL;
	if (d) {
		if (d->kind == HK_KIND_SLAB || d->kind == HK_KIND_POOL || d->kind == HK_KIND_BUMP)
			a = hk_arena_at(d->arena);
	} else {
		size_t usable;
		unsigned arena;
		if (hk_large_lookup(p, &usable, &arena))
			a = hk_arena_at(arena);
		else if (CONFIG_HK_SAMPLE && hk_guard_owns(p))
			a = &hk_arena0; /* sampled blocks are malloc's */
	}
	/* Every node's part of the default heap is the default arena. */
	return a && a->heap ? &hk_arena0 : a;
}

void hk_arena_lock_all(void)
{
	hk_arena_table_lock();
	for (unsigned i = 0; i < hk_arena_count(); i++)
		lock_arena(hk_arena_at(i));
}

void hk_arena_unlock_all(void)
{
	for (unsigned i = hk_arena_count(); i-- > 0;)
		unlock_arena(hk_arena_at(i));
	hk_arena_table_unlock();
}

/* An arena's statistics (public): its own counters, the lanes' cached blocks
 * taken off its live bytes; the default heap adds its other nodes' arenas. */
HK_API int hk_arena_stats(hk_arena_t *a, hk_arena_stats_t *out)
{
	if (!out)
		return -1;
	a = hk_arena_check(a, "hk_arena_stats");
	memset(out, 0, sizeof *out);
	memcpy(out->name, a->name, sizeof out->name);
	out->capacity = a->capacity;
	out->live_bytes = hk_ctr_live(&a->ctr);
	/* What the arena's blocks hold (its capacity's measure); the runs they
	 * are cut from are its reserved bytes. */
	out->committed_bytes = a->inuse;
	out->reserved_bytes = a->ctr.reserved;
	out->allocs = a->ctr.allocs;
	out->frees = a->ctr.frees;
	out->failed_allocs = a->ctr.failed;
	out->fallbacks = a->ctr.fallbacks;
	if (a == &hk_arena0) {
		hk_stats_t s;
		size_t bins = 0;
		/* The other nodes' arenas of the default heap. */
		for (unsigned i = 1, n = hk_arena_count(); i < n; i++) {
			hk_arena_t *h = hk_arena_at(i);
			if (!h || h->magic != HK_ARENA_LIVE || !h->heap)
				continue;
			out->live_bytes += hk_ctr_live(&h->ctr);
			out->committed_bytes += h->inuse;
			out->reserved_bytes += h->ctr.reserved;
			out->failed_allocs += h->ctr.failed;
			out->fallbacks += h->ctr.fallbacks;
		}
		memset(&s, 0, sizeof s);
		hk_lane_sum(&s, &bins);
		s.malloc_slow = hk_gstats.malloc_slow;
		s.free_slow = hk_gstats.free_slow;
		out->live_bytes = out->live_bytes > bins ? out->live_bytes - bins : 0;
		out->allocs += s.malloc_fast + s.malloc_slow;
		out->frees += s.free_fast + s.free_slow;
	} else {
		uint64_t allocs, frees, bump_allocs;
		size_t held;
		hk_cache_sum(a, &allocs, &frees, &held);
		out->live_bytes = out->live_bytes > held ? out->live_bytes - held : 0;
		/* Region mode: blocks bumped and not freed (core/arena_bump.c). */
		out->live_bytes += hk_bump_live(a, &bump_allocs);
		out->allocs += allocs + bump_allocs;
		out->frees += frees;
	}
	out->backing = a->backing;
	out->policy = a->policy;
	out->numa_node = a->node;
	return 0;
}
