/*
 * core/core.h — what core files share beyond the types: init state, the
 * arena table, fatal errors, the purger, global counters. Declarations
 * only. Invariant: nothing here is called from a fast path except through
 * an unlikely branch.
 */
#ifndef HK_CORE_CORE_H
#define HK_CORE_CORE_H

#include "core/types.h"

/* ---- init (core/init.c) ---- */
/* BUSY is stored with the initialising process's pid above the two state
 * bits: a forked child knows whether the initialiser is its own. */
enum { HK_INIT_NONE = 0, HK_INIT_BUSY, HK_INIT_DONE, HK_INIT_FAILED };
extern _Atomic int hk_init_state;
/* The double-free mark and free-list link key; hidden: one RIP-relative
 * operand on the fast paths (core/harden.h). */
extern __attribute__((visibility("hidden"))) uintptr_t hk_secret;
/* The secret's top byte, fixed (a freed block's link word shows it anyway:
 * a pointer's top byte is 0). free()'s fast path compares this one byte of
 * a block's word 1 with it — byte 15, so a byte load that no earlier store
 * of the program only partly covers (an 8-byte load after a store of the
 * last byte of a 16-byte block waited ~12 cycles for the store to retire:
 * pairs_16) — and leaves a match to the slow path's full compare. 0xfa
 * appears in no UTF-8 text, pointer, small integer or usual double. */
#define HK_MARK_TOP 0xfa
/* Makes sure the allocator is initialised. Returns 0, or -1 when the caller
 * is the initialising thread itself (recursion: use the bootstrap area). */
int hk_init(void);
static inline int hk_ready(void)
{
	return __builtin_expect(atomic_load_explicit(&hk_init_state, memory_order_acquire) ==
					HK_INIT_DONE, 1);
}
/* Bootstrap area for allocations made while initialising. */
void *hk_boot_alloc(size_t size, size_t align);
int hk_boot_owns(const void *p);
size_t hk_boot_usable(const void *p);
/* Writes "hakmem: <call>(): <what> <ptr>" and aborts. */
__attribute__((noreturn, cold)) void hk_fatal(const char *call, const char *what, const void *p);
/* The API call a slow path serves, named by the aborts of checks made below
 * it that are not told the call (a corrupted link found while a lane or a
 * slab walks a free list). Thread-local; written on slow paths only: the
 * fast paths pass their own name as a constant (core/harden.h). */
extern __thread const char *hk_slow_call __attribute__((tls_model("initial-exec")));
/* A debug assertion on the allocator's own state (DESIGN §8.10's first
 * kind): compiled in with CONFIG_HK_ASSERT_CHEAP or _FULL, O(1), slow paths
 * only. The always-on checks of user pointers call hk_fatal themselves.
 * _FULL also runs the validators (core/validate.h) at every hk_trim. */
#define HK_ASSERT(cond)                                                                    \
	do {                                                                               \
		if ((CONFIG_HK_ASSERT_CHEAP || CONFIG_HK_ASSERT_FULL) && !(cond))          \
			hk_fatal("assert", #cond " failed, " __FILE__, NULL);              \
	} while (0)
extern int hk_env_stats;

/* ---- arenas (core/arena.c) ---- */
extern struct hk_arena hk_arena0;
hk_arena_t *hk_arena_at(unsigned index);
/* Checks a user handle: aborts on a destroyed arena. */
hk_arena_t *hk_arena_check(hk_arena_t *a, const char *call);
/* The default heap's arena of the caller's NUMA node (hk_arena0 on one node,
 * or when a node's arena cannot be made). */
hk_arena_t *hk_heap_arena(void);
/* 1 once the default heap has an arena besides hk_arena0. */
int hk_heap_split(void);
void hk_arena_init0(void);
unsigned hk_arena_count(void);
void hk_arenas_lock_all(void);
/* The lock of parent/child links, first in the lock order (fork takes it). */
void hk_arena_family_lock(void);
void hk_arena_family_unlock(void);
void hk_arenas_unlock_all(void);

/* ---- purger (core/purge.c) ---- */
/* A dirty span or idle cache exists: make sure the purger will see it. */
void hk_purge_kick(void);
/* Keeps the purger out while an arena's spans are rebuilt (reset, destroy):
 * the purger holds spans between taking them dirty and putting them clean. */
void hk_purge_exclude(void);
void hk_purge_allow(void);
/* Purges what has waited CONFIG_HK_PURGE_DELAY_MS (all if force); returns
 * 1 if anything was returned, and *next the ms of the next deadline. */
int hk_purge_run(int force, uint64_t *next);
/* Out of memory: returns everything returnable now (every empty slab,
 * dirty span and cached mapping); 1 if anything went back. */
int hk_purge_reclaim(void);
void hk_purge_atfork_prepare(void);
void hk_purge_atfork_parent(void);
void hk_purge_atfork_child(void);
void hk_purge_atfork_child_done(void);

/* ---- global counters (core/stats.c) ---- */
typedef struct hk_gstats {
	_Atomic uint64_t large_maps, large_unmaps, failed_allocs, flushes, refills;
	_Atomic uint64_t malloc_slow, free_slow;
} hk_gstats_t;
extern hk_gstats_t hk_gstats;
#define HK_STAT(field, n)                                                                  \
	do {                                                                               \
		if (CONFIG_HK_STATS)                                                       \
			atomic_fetch_add_explicit(&hk_gstats.field, (n), memory_order_relaxed); \
	} while (0)

/* ---- the API's internal entry points (core/alloc.c) ---- */
void *hk_alloc_in(hk_arena_t *a, size_t size, size_t align, int zero);
/* hk_malloc naming another API call in its aborts (core/alloc.c). */
void *hk_malloc_as(size_t size, const char *call);
void hk_free_checked(void *p, const char *call, size_t size_hint);
size_t hk_usable_checked(const void *p, const char *call, unsigned *arena);
void *hk_realloc_in(hk_arena_t *a, void *p, size_t size, const char *call);

#endif /* HK_CORE_CORE_H */
