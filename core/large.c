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

#include "core/backend.h"
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

static struct {
	hk_lock_t lock;
	large_entry_t *tab;
	size_t cap, count, bytes;
	uint32_t of_arena[HK_ARENA_MAX]; /* live blocks of each arena: a reset of
					  * an arena with none skips the table */
	unsigned ncache;
	cached_t cache[CONFIG_HK_LARGE_CACHE + 1];
} L;

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
	if (L.tab && (L.count + 1) * 2 <= L.cap)
		return 0;
	size_t cap = L.cap ? L.cap * 2 : 1024;
	void *mem;
	if (hk_platform_map(cap * sizeof(large_entry_t), 0, 0, &mem))
		return -1;
	large_entry_t *tab = mem;
	for (size_t i = 0; i < L.cap; i++)
		if (L.tab[i].addr)
			put_entry(tab, cap, L.tab[i]);
	if (L.tab)
		hk_platform_unmap(L.tab, L.cap * sizeof(large_entry_t));
	L.tab = tab;
	L.cap = cap;
	return 0;
}

static large_entry_t *find(uintptr_t addr)
{
	if (!L.tab)
		return NULL;
	for (size_t i = slot_of(addr, L.cap);; i = (i + 1) & (L.cap - 1)) {
		if (L.tab[i].addr == addr)
			return &L.tab[i];
		if (!L.tab[i].addr)
			return NULL;
	}
}

/* Backward-shift deletion keeps probe chains whole without tombstones. */
static void erase(large_entry_t *e)
{
	size_t i = (size_t)(e - L.tab), j = i;
	for (;;) {
		j = (j + 1) & (L.cap - 1);
		if (!L.tab[j].addr)
			break;
		size_t k = slot_of(L.tab[j].addr, L.cap);
		if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
			L.tab[i] = L.tab[j];
			i = j;
		}
	}
	L.tab[i].addr = 0;
	L.count--;
}

/* The smallest cached mapping of at least *len bytes (at most 25 % more);
 * *len becomes its whole length, so the block owns, and later unmaps, all
 * of it. */
static void *from_cache(size_t *len)
{
	unsigned best = L.ncache;
	for (unsigned i = 0; i < L.ncache; i++)
		if (L.cache[i].len >= *len && L.cache[i].len - *len <= *len / 4 &&
		    (best == L.ncache || L.cache[i].len < L.cache[best].len))
			best = i;
	if (best == L.ncache)
		return NULL;
	void *p = L.cache[best].p;
	*len = L.cache[best].len;
	L.cache[best] = L.cache[--L.ncache];
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
	hk_lock(&L.lock);
	if (a->capacity && a->inuse + len > a->capacity)
		goto fail;
	if (grow_table())
		goto fail;
	if (!CONFIG_HK_HARDENED && align <= page && !a->capacity && (p = from_cache(&len)) != NULL) {
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
	put_entry(L.tab, L.cap, (large_entry_t){ (uintptr_t)p, len, a->index, (uint32_t)huge });
	L.count++;
	L.of_arena[a->index]++;
	L.bytes += len;
	a->inuse += len;
	a->ctr.committed += len;
	a->ctr.live += len;
	hk_unlock(&L.lock);
	return p;
fail:
	hk_unlock(&L.lock);
	return NULL;
}

int hk_large_lookup(const void *p, size_t *usable, unsigned *arena)
{
	hk_lock(&L.lock);
	large_entry_t *e = find((uintptr_t)p);
	if (e) {
		*usable = e->len;
		*arena = e->arena;
	}
	hk_unlock(&L.lock);
	return e != NULL;
}

extern hk_arena_t *hk_arena_at(unsigned index);

/* Lock held; the entry is gone from the table. */
static void release(void *p, size_t len, unsigned arena, int huge)
{
	hk_arena_t *a = hk_arena_at(arena);
	L.of_arena[arena]--;
	L.bytes -= len;
	a->inuse -= len;
	a->ctr.committed -= len;
	a->ctr.live -= len;
	if (!huge && !CONFIG_HK_HARDENED && CONFIG_HK_LARGE_CACHE > 0 && arena == 0) {
		if (L.ncache == CONFIG_HK_LARGE_CACHE) {
			hk_platform_unmap(L.cache[0].p, L.cache[0].len);
			L.cache[0] = L.cache[--L.ncache];
		}
		L.cache[L.ncache++] = (cached_t){ p, len, hk_platform_now_ms() };
		return;
	}
	hk_platform_unmap(p, huge ? len : len + guard_len());
}

int hk_large_free(void *p)
{
	hk_lock(&L.lock);
	large_entry_t *e = find((uintptr_t)p);
	if (e) {
		large_entry_t copy = *e;
		erase(e);
		release(p, copy.len, copy.arena, (int)copy.huge);
	}
	hk_unlock(&L.lock);
	return e ? 0 : -1;
}

void *hk_large_realloc(void *p, size_t size)
{
	size_t page = hk_platform_page_size();
	if (size > SIZE_MAX - page)
		return NULL;
	size_t len = (size + page - 1) & ~(page - 1);
	void *q = NULL;
	hk_lock(&L.lock);
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
	L.bytes += len - copy.len;
	a->inuse += len - copy.len;
	a->ctr.committed += len - copy.len;
	a->ctr.live += len - copy.len;
	copy.addr = (uintptr_t)q;
	copy.len = len;
	put_entry(L.tab, L.cap, copy);
	L.count++;
out:
	hk_unlock(&L.lock);
	return q;
}

int hk_large_trim(uint64_t until, int force)
{
	int any = 0;
	if (!L.ncache)
		return 0;
	hk_lock(&L.lock);
	for (unsigned i = 0; i < L.ncache;) {
		if (force || L.cache[i].stamp <= until) {
			hk_platform_unmap(L.cache[i].p, L.cache[i].len);
			L.cache[i] = L.cache[--L.ncache];
			any = 1;
		} else {
			i++;
		}
	}
	if (L.ncache)
		any |= 2;
	hk_unlock(&L.lock);
	return any;
}

void hk_large_free_arena(unsigned arena)
{
	/* Only the arena's users change its count, and none runs during its
	 * reset or destroy: an arena without large blocks skips the lock. */
	if (!L.of_arena[arena])
		return;
	hk_lock(&L.lock);
	for (size_t i = 0; i < L.cap && L.of_arena[arena];) {
		if (L.tab[i].addr && L.tab[i].arena == arena) {
			large_entry_t copy = L.tab[i];
			erase(&L.tab[i]);
			release((void *)copy.addr, copy.len, copy.arena, (int)copy.huge);
			continue; /* the shift may have moved another entry here */
		}
		i++;
	}
	hk_unlock(&L.lock);
}

size_t hk_large_bytes(void)
{
	return L.bytes;
}

unsigned hk_large_cached(void)
{
	return L.ncache;
}

void hk_large_lock_all(void)
{
	hk_lock(&L.lock);
}

void hk_large_unlock_all(void)
{
	hk_unlock(&L.lock);
}

/* The cache has room for one more than the limit only to keep the array
 * non-empty when the limit is 0. */
