/*
 * core/arena.c — arenas: the default heap (arena 0 and one more arena per
 * further NUMA node) and hk_arena_* for
 * user arenas with a capacity, a node, a hugepage policy and a name; reset
 * (every block freed at once) and destroy (memory returned, handle dead).
 * Arena structs live in memory from platform. Small blocks of every arena
 * go through the lanes' caches (core/lane.c): an arena owns a cache slot,
 * whose bins reset and destroy empty in every lane that set them up.
 * Invariant: arena structs are never freed; a destroyed arena's struct stays
 * mapped and says DEAD, so a later use aborts instead of corrupting memory.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "core/arena_bump.h"
#include "core/backend.h"
#include "core/core.h"
#include "core/guard.h"
#include "core/harden.h"
#include "core/lane.h"
#include "core/lock.h"
#include "core/platform.h"
#include "core/region.h"
#include "core/sizeclass.h"

struct hk_arena hk_arena0;

/* Parent/child links of every arena (core/types.h lock order: first). */
static hk_lock_t family;

static struct {
	hk_lock_t lock;
	unsigned count;     /* slots used so far */
	unsigned reuse;     /* next dead slot to recycle once all are used */
	hk_arena_t *slot[HK_ARENA_MAX];
} A;

hk_arena_t *hk_arena_at(unsigned index)
{
	return A.slot[index];
}

unsigned hk_arena_count(void)
{
	return atomic_load_explicit((_Atomic unsigned *)&A.count, memory_order_acquire);
}

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
		a->cls[c].empty_stamp = 0;
	}
	a->runs = HK_NIL;
	a->pool_live = HK_NIL;
	a->node = cfg ? cfg->numa_node : HK_NODE_LOCAL;
	a->policy = cfg ? cfg->hugepages : hk_platform_default_policy();
	a->capacity = cfg ? cfg->capacity : 0;
	a->flags = cfg ? cfg->flags : 0;
	const char *name = cfg && cfg->name ? cfg->name : index ? "arena" : "default";
	strncpy(a->name, name, sizeof a->name - 1);
	a->heap = (uint16_t)heap;
	/* A region arena's small blocks are no slab blocks: no cache slot. */
	a->bins = heap ? 0 : (a->flags & HK_ARENA_BUMP) ? HK_BINS_NONE : hk_cache_slot_take(a);
	hk_bump_init(a);
	__atomic_store_n(&a->magic, HK_ARENA_LIVE, __ATOMIC_RELEASE); /* the purger reads it */
}

void hk_arena_init0(void)
{
	setup(&hk_arena0, 0, NULL, 1);
	A.slot[0] = &hk_arena0;
	A.count = 1;
}

hk_arena_t *hk_arena_check(hk_arena_t *a, const char *call)
{
	if (!hk_ready())
		hk_init(); /* the default arena may be the program's first call */
	if (!a)
		return &hk_arena0;
	if (a->magic != HK_ARENA_LIVE)
		hk_fatal(call, a->magic == HK_ARENA_DEAD ? "destroyed arena" : "invalid arena", a);
	return a;
}

HK_API hk_arena_t *hk_arena_default(void)
{
	if (!hk_ready())
		hk_init();
	return &hk_arena0;
}

/* A slot for a new arena: a fresh one, else the next dead one. A.lock held. */
static int take_slot_locked(unsigned *index, hk_arena_t **a)
{
	int err = 0;
	if (A.count < HK_ARENA_MAX) {
		void *mem;
		err = hk_platform_map(sizeof(hk_arena_t), 0, 0, &mem);
		if (!err) {
			*index = A.count;
			*a = A.slot[A.count] = mem;
			atomic_store_explicit((_Atomic unsigned *)&A.count, A.count + 1,
					      memory_order_release);
		}
	} else {
		err = ENOMEM;
		for (unsigned i = 0; i < HK_ARENA_MAX && err; i++) {
			unsigned j = 1 + (A.reuse + i) % (HK_ARENA_MAX - 1);
			if (A.slot[j]->magic == HK_ARENA_DEAD) {
				*index = j;
				*a = A.slot[j];
				A.reuse = j;
				err = 0;
			}
		}
	}
	if (!err)
		__atomic_store_n(&(*a)->magic, 0, __ATOMIC_RELAXED); /* not live until set up, not dead for others */
	return err;
}

static int take_slot(unsigned *index, hk_arena_t **a)
{
	hk_lock(&A.lock);
	int err = take_slot_locked(index, a);
	hk_unlock(&A.lock);
	return err;
}

/* Arenas of the default heap by NUMA node; [0] stays NULL (hk_arena0). */
#define HEAP_NODES (CONFIG_HK_NUMA && CONFIG_HK_NUMA_MAX_NODES > 1 ? CONFIG_HK_NUMA_MAX_NODES : 1)
static hk_arena_t *_Atomic heap_node[HEAP_NODES];
static atomic_int heap_split;

/* Made under A.lock (fork takes it), so two threads of one node make one. */
static hk_arena_t *heap_node_create(int node)
{
	hk_arena_t *a = NULL;
	unsigned index;
	hk_lock(&A.lock);
	a = atomic_load_explicit(&heap_node[node], memory_order_relaxed);
	if (!a && take_slot_locked(&index, &a) == 0) {
		hk_arena_config_t cfg = { .numa_node = node,
					  .hugepages = hk_platform_default_policy(),
					  .name = "default" };
		setup(a, index, &cfg, 1);
		atomic_store_explicit(&heap_split, 1, memory_order_relaxed);
		atomic_store_explicit(&heap_node[node], a, memory_order_release);
	}
	hk_unlock(&A.lock);
	return a ? a : &hk_arena0;
}

int hk_heap_split(void)
{
	return atomic_load_explicit(&heap_split, memory_order_relaxed);
}

hk_arena_t *hk_heap_arena(void)
{
	if (HEAP_NODES == 1)
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

HK_API hk_arena_t *hk_arena_create(const hk_arena_config_t *cfg)
{
	int r = hk_ready() ? 0 : hk_init();
	if (r < 0) {
		errno = ENOMEM;
		return NULL;
	}
	if (cfg && ((cfg->numa_node != HK_NODE_LOCAL &&
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
	int err = take_slot(&index, &a);
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
	/* Lock order: the purge lock before the arena's locks (core/types.h). */
	hk_purge_exclude();
	lock_arena(a);
	for (unsigned c = 0; c < HK_NCLASS_MAX; c++)
		hk_slab_forget(a, c);
	uint32_t h = a->runs, next;
	for (; h != HK_NIL; h = next) {
		uint32_t n = hk_desc_at(h)->run_units + HK_RUN_GUARD;
		next = hk_desc_at(h)->run_next;
		hk_platform_decommit(hk_unit_addr(h), (size_t)n << HK_UNIT_SHIFT);
		hk_region_give_run(h, n);
	}
	a->runs = HK_NIL;
	for (unsigned b = 0; b < HK_SPAN_BUCKETS; b++)
		a->buckets[b] = HK_NIL;
	a->ctr.committed = 0;
	a->ctr.reserved = 0;
	a->inuse = 0;
	a->ctr.live = 0;
	a->touched = 0;
	a->pool_live = HK_NIL;
	/* before the purger may look again */
	__atomic_store_n(&a->magic, HK_ARENA_DEAD, __ATOMIC_RELAXED);
	unlock_arena(a);
	hk_purge_allow();
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
	uint64_t m = atomic_exchange_explicit(&a->touched, 0, memory_order_relaxed);
	for (; m; m &= m - 1)
		dirty |= hk_slab_reset(a, (unsigned)__builtin_ctzll(m), now);
	if (CONFIG_HK_POOL)
		dirty |= hk_pool_reset(a, now);
	atomic_store_explicit(&a->ctr.live, 0, memory_order_relaxed);
	return dirty;
}

static void reset_one(hk_arena_t *a)
{
	if ((a->flags & HK_ARENA_BUMP) && hk_bump_reset(a))
		return; /* a region arena's steady state: the cursor rewound */
	int dirty = reset_arena(a);
	if (a->flags & HK_ARENA_ZERO_ON_RESET) {
		uint64_t next;
		hk_purge_run(1, &next);
	} else if (dirty) {
		hk_purge_kick();
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

static __attribute__((noinline)) void *arena_malloc_slow(hk_arena_t *a, size_t size)
{
	a = hk_arena_check(a, "hk_arena_malloc");
	if (a == &hk_arena0)
		return hk_malloc_as(size, "hk_arena_malloc");
	hk_slow_call = "hk_arena_malloc";
	size_t need = size + HK_CANARY;
	if (need <= 1024 && need >= size && need <= hk_small_max() && !(a->flags & HK_ARENA_BUMP)) {
		/* An empty bin (every request's first block after a reset):
		 * straight to the cache, which counts the allocation. */
		unsigned cls = hk_class_table[(need + 15) >> 4];
		void *p = hk_cache_alloc(a, cls);
		if (p && CONFIG_HK_HARDENED)
			hk_canary_set(p, size, hk_class_size(cls));
		if (p)
			return p;
	}
	return hk_alloc_in(a, size, 0, 0);
}

/*
 * Fast path: a region arena's pointer bump (its flag is in the line of
 * `bins`: two instructions for the others), else as hk_malloc's, with the
 * arena's first bin added to the class (one load and one add) and its
 * cache's counter instead of the heap's. An arena without a cache slot, or
 * destroyed, has bins that are never set up: it falls through to
 * hk_arena_check, which aborts on a dead one.
 */
HK_API void *hk_arena_malloc(hk_arena_t *a, size_t size)
{
	size_t need = size + HK_CANARY;
	if (__builtin_expect(a == NULL, 0))
		return arena_malloc_slow(a, size);
	if (a->flags & HK_ARENA_BUMP) {
		void *p;
		if (__builtin_expect(hk_bump_malloc(a, size, &p), 1))
			return p;
	} else if (__builtin_expect(HK_NLANE > 0 && need <= 1024 && need >= size, 1)) {
		/* A class that is no lane class has a bin never set up (empty). */
		size_t cls = hk_class_table[(need + 15) >> 4], bins = a->bins;
		hk_lane_t *l = hk_lane_self;
		void **p = l->head[bins + cls];
		if (__builtin_expect(p != NULL, 1)) {
			l->head[bins + cls] = hk_next_get(p, "hk_arena_malloc");
			HK_ROOM(l, bins + cls)++;
			p[1] = NULL;
			hk_lane_cache(l, bins)->allocs++;
			if (CONFIG_HK_HARDENED)
				hk_canary_set(p, size, hk_class_size(cls));
			return p;
		}
	}
	return arena_malloc_slow(a, size);
}

HK_API void *hk_arena_calloc(hk_arena_t *a, size_t count, size_t size)
{
	size_t total;
	a = hk_arena_check(a, "hk_arena_calloc");
	if (__builtin_mul_overflow(count, size, &total)) {
		errno = ENOMEM;
		atomic_fetch_add_explicit(&a->ctr.failed, 1, memory_order_relaxed);
		return NULL;
	}
	hk_slow_call = "hk_arena_calloc";
	return hk_alloc_in(a, total, 0, 1);
}

HK_API void *hk_arena_realloc(hk_arena_t *a, void *p, size_t size)
{
	a = hk_arena_check(a, "hk_arena_realloc");
	if (!p)
		return hk_arena_malloc(a, size);
	if (!size) {
		hk_free_checked(p, "hk_arena_realloc", 0);
		return NULL;
	}
	return hk_realloc_in(a, p, size, "hk_arena_realloc");
}

HK_API void *hk_arena_aligned_alloc(hk_arena_t *a, size_t align, size_t size)
{
	a = hk_arena_check(a, "hk_arena_aligned_alloc");
	if (!align || (align & (align - 1))) {
		errno = EINVAL;
		return NULL;
	}
	hk_slow_call = "hk_arena_aligned_alloc";
	return hk_alloc_in(a, size, align, 0);
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

void hk_arenas_lock_all(void)
{
	hk_lock(&A.lock);
	for (unsigned i = 0; i < A.count; i++)
		lock_arena(A.slot[i]);
}

void hk_arenas_unlock_all(void)
{
	for (unsigned i = A.count; i-- > 0;)
		unlock_arena(A.slot[i]);
	hk_unlock(&A.lock);
}
