/*
 * lua_mem.c — lua_mem.h over hakmem arenas: a lua_Alloc that maps Lua's
 * (ptr, osize, nsize) protocol onto hk_arena_realloc / hk_free, and the
 * arena's life per state (create/destroy) or per worker (reset and reuse).
 * Invariant: after a state is gone its arena counts no live bytes; the
 * stats are read before the arena is destroyed or reset to prove it.
 */
#include <errno.h>
#include <stdio.h>

#include <hakmem.h>
#include <lauxlib.h>

#include "lua_mem.h"

struct lh_heap {
	enum lh_mode mode;
	size_t limit;
	int worker;
	hk_arena_t *arena; /* LH_ARENA: the current state's; REUSE/DROP: the worker's */
};

/*
 * Lua's allocator protocol: nsize 0 frees (ptr may be NULL); otherwise
 * allocate (ptr NULL: osize is then a type tag, not a size) or resize, and
 * NULL means "no memory" with the old block left as it was, which
 * hk_arena_realloc guarantees. Lua turns that NULL into its "not enough
 * memory" error after an emergency collection. A shrink the arena cannot
 * serve keeps the old, larger block: a shrink must not raise errors.
 */
static void *lh_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	void *p;

	if (nsize == 0) {
		hk_free(ptr);
		return NULL;
	}
	p = hk_arena_realloc(ud, ptr, nsize);
	if (!p && ptr && nsize <= osize)
		return ptr;
	return p;
}

static hk_arena_t *lh_arena_new(struct lh_heap *h)
{
	char name[32];

	snprintf(name, sizeof(name), "lua-%d", h->worker);
	hk_arena_config_t cfg = {
		.capacity = h->limit,
		.numa_node = HK_NODE_LOCAL,
		.hugepages = HK_HUGEPAGE_NONE, /* small states: 4 KiB pages */
		.name = name,
	};
	return hk_arena_create(&cfg);
}

static size_t lh_live(hk_arena_t *a)
{
	hk_arena_stats_t st;

	return hk_arena_stats(a, &st) == 0 ? st.live_bytes : (size_t)-1;
}

struct lh_heap *lh_heap_new(enum lh_mode mode, size_t limit, int worker)
{
	struct lh_heap *h = hk_malloc(sizeof(*h));

	if (!h)
		return NULL;
	*h = (struct lh_heap){ .mode = mode, .limit = limit, .worker = worker };
	if ((mode == LH_REUSE || mode == LH_DROP) && !(h->arena = lh_arena_new(h))) {
		int err = errno;
		hk_free(h);
		errno = err;
		return NULL;
	}
	return h;
}

void lh_heap_delete(struct lh_heap *h)
{
	if (h->arena)
		hk_arena_destroy(h->arena);
	hk_free(h);
}

lua_State *lh_state_open(struct lh_heap *h)
{
	lua_State *L;

	if (h->mode == LH_LIBC)
		return luaL_newstate();
	if (h->mode == LH_ARENA && !(h->arena = lh_arena_new(h)))
		return NULL;
	L = lua_newstate(lh_alloc, h->arena);
	if (!L && h->mode == LH_ARENA) {
		hk_arena_destroy(h->arena);
		h->arena = NULL;
	}
	return L;
}

size_t lh_state_close(struct lh_heap *h, lua_State *L)
{
	size_t live = 0;

	switch (h->mode) {
	case LH_LIBC:
		lua_close(L);
		break;
	case LH_ARENA:
		lua_close(L);
		live = lh_live(h->arena);
		hk_arena_destroy(h->arena);
		h->arena = NULL;
		break;
	case LH_REUSE:
		lua_close(L);
		live = lh_live(h->arena);
		hk_arena_reset(h->arena);
		break;
	case LH_DROP:
		/* The region way: the state's memory goes in one reset, unvisited. */
		hk_arena_reset(h->arena);
		live = lh_live(h->arena);
		break;
	}
	return live;
}
