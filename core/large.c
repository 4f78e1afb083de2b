/*
 * core/large.c — direct OS mappings above every enabled band: aligned,
 * tracked in an open-addressing table (mapped through platform, never
 * malloc) so free/usable_size/realloc recognise them, a small cache of
 * freed mappings (CONFIG_HK_LARGE_CACHE) unmapped by the purger when idle,
 * mremap for realloc. One lock (the last in the lock order) guards it all.
 * Hardened: a PROT_NONE guard page follows every mapping (no cache, no
 * mremap, so the guard always sits right after the block).
 * Invariant: a pointer is in the table iff it is a live large block.
 */
#include <string.h>

#include "core/arena_table.h"
#include "core/base.h"
#include "core/large.h"
#include "core/lock.h"
#include "core/platform.h"

typedef struct large_entry {
	uintptr_t addr; /* 0: empty slot */
	size_t len;     /* mapping length (page multiple) = usable size */
	uint32_t arena;
	uint32_t huge;
} large_entry_t;

typedef struct cached {
	void *p;
	size_t len;
	uint64_t stamp;
} cached_t;

/* Apart from `large`: 4 KiB of which fork writes only this lock. */
static HK_FORKED hk_lock_t large_lock;

static struct {
	large_entry_t *tab;
	size_t cap, count, bytes;
	uint32_t of_arena[HK_ARENA_MAX]; /* live blocks of each arena: a reset of
					  * an arena with none skips the table */
	/* Changed under the lock; hk_large_trim reads it without, to skip the
	 * lock when nothing is cached (atomic: TSan saw the purger's read race
	 * with a free's write, test_api_profile). */
	_Atomic unsigned ncache;
	cached_t cache[CONFIG_HK_LARGE_CACHE + 1];
} large;

/* Bytes mapped after a block as its guard. */
static size_t guard_len(void)
{
	return CONFIG_HK_HARDENED ? hk_platform_page_size() : 0;
}

static size_t slot_of(uintptr_t addr, size_t cap)
{
	uint64_t h = (uint64_t)(addr >> 12) * 0x9e3779b97f4a7c15ull;
	return (size_t)(h >> 20) & (cap - 1);
}

static void put_entry(large_entry_t *tab, size_t cap, large_entry_t e)
{
	size_t i = slot_of(e.addr, cap);
	while (tab[i].addr)
		i = (i + 1) & (cap - 1);
	tab[i] = e;
}

/* Keeps the load under 1/2; lock held. */
static int grow_table(void)
{
	if (large.tab && (large.count + 1) * 2 <= large.cap)
		return 0;
	size_t cap = large.cap ? large.cap * 2 : 1024;
	void *mem;
	if (hk_platform_map(cap * sizeof(large_entry_t), 0, 0, &mem))
		return -1;
	large_entry_t *tab = mem;
	for (size_t i = 0; i < large.cap; i++)
		if (large.tab[i].addr)
			put_entry(tab, cap, large.tab[i]);
	if (large.tab)
		hk_platform_unmap(large.tab, large.cap * sizeof(large_entry_t));
	large.tab = tab;
	large.cap = cap;
	return 0;
}

static large_entry_t *find(uintptr_t addr)
{
	if (!large.tab)
		return NULL;
	for (size_t i = slot_of(addr, large.cap);; i = (i + 1) & (large.cap - 1)) {
		if (large.tab[i].addr == addr)
			return &large.tab[i];
		if (!large.tab[i].addr)
			return NULL;
	}
}

/* Backward-shift deletion keeps probe chains whole without tombstones. */
static void erase(large_entry_t *e)
{
	size_t i = (size_t)(e - large.tab), j = i;
	for (;;) {
		j = (j + 1) & (large.cap - 1);
		if (!large.tab[j].addr)
			break;
		size_t k = slot_of(large.tab[j].addr, large.cap);
		if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
			large.tab[i] = large.tab[j];
			i = j;
		}
	}
	large.tab[i].addr = 0;
	large.count--;
}

/* The smallest cached mapping of at least *len bytes (at most 25 % more);
 * *len becomes its whole length, so the block owns, and later unmaps, all
 * of it. */
static void *from_cache(size_t *len)
{
	unsigned best = large.ncache;
	for (unsigned i = 0; i < large.ncache; i++)
		if (large.cache[i].len >= *len && large.cache[i].len - *len <= *len / 4 &&
		    (best == large.ncache || large.cache[i].len < large.cache[best].len))
			best = i;
	if (best == large.ncache)
		return NULL;
	void *p = large.cache[best].p;
	*len = large.cache[best].len;
	large.cache[best] = large.cache[--large.ncache];
	return p;
}

void *hk_large_alloc(hk_arena_t *a, size_t size, size_t align, int *fresh)
{
	size_t page = hk_platform_page_size();
	if (size > SIZE_MAX - 2 * page - align)
		return NULL;
	/* A zero-byte request still gets a page of its own: memalign(4 MiB, 0)
	 * comes here and must return a unique block (the fuzzer found it). */
	size_t len = size ? (size + page - 1) & ~(page - 1) : page;
	void *p = NULL;
	int huge = 0;
	*fresh = 1;
	hk_lock(&large_lock);
	if (a->capacity && a->inuse + len > a->capacity)
		goto fail;
	if (grow_table())
		goto fail;
	int cacheable = !CONFIG_HK_HARDENED && align <= page && !a->capacity;
	if (cacheable && (p = from_cache(&len)) != NULL) {
		*fresh = 0;
	} else {
		int hugetlb = len >= HK_CHUNK && !(len & (HK_CHUNK - 1)) &&
			      (a->policy == HK_HUGEPAGE_2M || a->policy == HK_HUGEPAGE_1G);
		if (hugetlb && !CONFIG_HK_HARDENED && hk_platform_map(len, align, 1, &p) == 0)
			huge = 1;
		else if (hk_platform_map(len + guard_len(), align, 0, &p))
			goto fail;
		else if (CONFIG_HK_HARDENED)
			hk_platform_decommit((char *)p + len, guard_len());
	}
	large_entry_t e = { (uintptr_t)p, len, a->index, (uint32_t)huge };
	put_entry(large.tab, large.cap, e);
	large.count++;
	large.of_arena[a->index]++;
	large.bytes += len;
	a->inuse += len;
	a->ctr.committed += len;
	a->ctr.live[HK_BAND_LARGE] += len;
	hk_unlock(&large_lock);
	return p;
fail:
	hk_unlock(&large_lock);
	return NULL;
}

int hk_large_lookup(const void *p, size_t *usable, unsigned *arena)
{
	hk_lock(&large_lock);
	large_entry_t *e = find((uintptr_t)p);
	if (e) {
		*usable = e->len;
		*arena = e->arena;
	}
	hk_unlock(&large_lock);
	return e != NULL;
}

/* Lock held; the entry is gone from the table. */
static void release(void *p, size_t len, unsigned arena, int huge)
{
	hk_arena_t *a = hk_arena_at(arena);
	large.of_arena[arena]--;
	large.bytes -= len;
	a->inuse -= len;
	a->ctr.committed -= len;
	a->ctr.live[HK_BAND_LARGE] -= len;
	if (!huge && !CONFIG_HK_HARDENED && CONFIG_HK_LARGE_CACHE > 0 && arena == 0) {
		if (large.ncache == CONFIG_HK_LARGE_CACHE) {
			hk_platform_unmap(large.cache[0].p, large.cache[0].len);
			large.cache[0] = large.cache[--large.ncache];
		}
		large.cache[large.ncache++] = (cached_t){ p, len, hk_platform_now_ms() };
		return;
	}
	hk_platform_unmap(p, huge ? len : len + guard_len());
}

int hk_large_free(void *p)
{
	hk_lock(&large_lock);
	large_entry_t *e = find((uintptr_t)p);
	if (e) {
		large_entry_t copy = *e;
		erase(e);
		release(p, copy.len, copy.arena, (int)copy.huge);
	}
	hk_unlock(&large_lock);
	return e ? 0 : -1;
}

void *hk_large_realloc(void *p, size_t size)
{
	size_t page = hk_platform_page_size();
	if (size > SIZE_MAX - page)
		return NULL;
	size_t len = (size + page - 1) & ~(page - 1);
	void *q = NULL;
	hk_lock(&large_lock);
	large_entry_t *e = find((uintptr_t)p);
	if (!e || e->huge || CONFIG_HK_HARDENED)
		goto out;
	hk_arena_t *a = hk_arena_at(e->arena);
	if (len > e->len && a->capacity && a->inuse + (len - e->len) > a->capacity)
		goto out;
	/* Growth takes half as much again in address space (pages untouched
	 * cost no RSS): a buffer grown step by step stays in place for the
	 * next steps instead of one mremap per step (realloc_grow: 704
	 * mremaps -> ~200). Not for an arena with a capacity, whose budget
	 * counts the mapping. */
	if (len > e->len && !a->capacity && len <= SIZE_MAX / 2)
		len = (len + len / 2 + page - 1) & ~(page - 1);
	if (hk_platform_remap(p, e->len, len, &q)) {
		q = NULL;
		goto out;
	}
	large_entry_t copy = *e;
	erase(e);
	large.bytes += len - copy.len;
	a->inuse += len - copy.len;
	a->ctr.committed += len - copy.len;
	a->ctr.live[HK_BAND_LARGE] += len - copy.len;
	copy.addr = (uintptr_t)q;
	copy.len = len;
	put_entry(large.tab, large.cap, copy);
	large.count++;
out:
	hk_unlock(&large_lock);
	return q;
}

int hk_large_trim(uint64_t until, int force)
{
	int any = 0;
	if (!large.ncache)
		return 0;
	hk_lock(&large_lock);
	for (unsigned i = 0; i < large.ncache;) {
		if (force || large.cache[i].stamp <= until) {
			hk_platform_unmap(large.cache[i].p, large.cache[i].len);
			large.cache[i] = large.cache[--large.ncache];
			any = 1;
		} else {
			i++;
		}
	}
	if (large.ncache)
		any |= 2;
	hk_unlock(&large_lock);
	return any;
}

void hk_large_free_arena(unsigned arena)
{
	/* Only the arena's users change its count, and none runs during its
	 * reset or destroy: an arena without large blocks skips the lock. */
	if (!large.of_arena[arena])
		return;
	hk_lock(&large_lock);
	for (size_t i = 0; i < large.cap && large.of_arena[arena];) {
		if (large.tab[i].addr && large.tab[i].arena == arena) {
			large_entry_t copy = large.tab[i];
			erase(&large.tab[i]);
			release((void *)copy.addr, copy.len, copy.arena, (int)copy.huge);
			continue; /* the shift may have moved another entry here */
		}
		i++;
	}
	hk_unlock(&large_lock);
}

size_t hk_large_bytes(void)
{
	return large.bytes;
}

unsigned hk_large_cached(void)
{
	return large.ncache;
}

void hk_large_lock_all(void)
{
	hk_lock(&large_lock);
}

void hk_large_unlock_all(void)
{
	hk_unlock(&large_lock);
}

/* The cache has room for one more than the limit only to keep the array
 * non-empty when the limit is 0. */
