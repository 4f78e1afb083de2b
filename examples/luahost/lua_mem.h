/*
 * lua_mem.h — where a Lua state's memory comes from, for the Lua host
 * (luahost.c): one hakmem arena per state, its capacity the script's memory
 * limit, or Lua's own allocator (luaL_newstate: realloc/free, no limit) to
 * compare with. Owns the arenas; the host never calls hakmem itself.
 * Invariant: a worker's lh_heap and its states are used by that worker alone.
 */
#ifndef LUA_MEM_H
#define LUA_MEM_H

#include <stddef.h>

#include <lua.h>

enum lh_mode {
	LH_LIBC,   /* luaL_newstate(): Lua's realloc-based allocator */
	LH_ARENA,  /* an arena per state, destroyed after lua_close */
	LH_REUSE,  /* one arena per worker, reset after each lua_close */
	LH_DROP,   /* one arena per worker, reset without lua_close (no __gc runs) */
};

struct lh_heap; /* one per worker thread */

/* NULL when the worker's arena cannot be made (errno set). limit: bytes, 0 = none. */
struct lh_heap *lh_heap_new(enum lh_mode mode, size_t limit, int worker);
void lh_heap_delete(struct lh_heap *h);

/* A fresh state with no libraries open; NULL when even that does not fit. */
lua_State *lh_state_open(struct lh_heap *h);
/* Gives back everything the state held. Returns the bytes the arena still
 * counted live once the state was gone (0 unless something leaked; always 0
 * for LH_LIBC, which has no arena to ask). */
size_t lh_state_close(struct lh_heap *h, lua_State *L);

#endif
