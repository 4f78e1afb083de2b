/*
 * core/purge.h — the purger (core/purge.c): a thread that returns dirty
 * spans, idle slabs and cached mappings to the kernel after
 * CONFIG_HK_PURGE_DELAY_MS, and the out-of-memory reclaim.
 */
#ifndef HK_CORE_PURGE_H
#define HK_CORE_PURGE_H

#include <stdint.h>

/* A dirty span or idle cache exists: make sure the purger will see it. */
void hk_purge_kick(void);
/* The same, and the purger starts now even in a small heap (a user
 * arena's reset: core/purge.c says why). */
void hk_purge_kick_now(void);
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

#endif /* HK_CORE_PURGE_H */
