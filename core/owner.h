/*
 * core/owner.h — refill affinity (core/owner.c): a small tag per live
 * thread's lane, and per slab the tag of the lane that refilled from it
 * last, so two live threads do not take blocks of one slab and write the
 * same cache lines. A hint only: a wrong or stale tag costs locality,
 * never safety (blocks always go back to their own slabs by address).
 * Must not allocate. Invariant: a tag is held by at most one live lane.
 */
#ifndef HK_CORE_OWNER_H
#define HK_CORE_OWNER_H

#include "core/base.h"
#include "core/region.h"

/* Tag 0 is "none": a slab nobody refilled from since the table's page was
 * committed, or a refill with no lane (it takes any slab). */
#define HK_OWNER_TAGS 256

extern HK_HIDDEN _Atomic uint8_t hk_owner_held[HK_OWNER_TAGS];

/* The tag of slab s (its head unit): written under its class lock, read
 * there and, as a hint, by a slow free of one of its blocks without it
 * (core/lane.c keep_off): relaxed atomics, plain moves on x86. */
static inline unsigned hk_owner_of(uint32_t s)
{
	return __atomic_load_n(&hk_region_owner[s], __ATOMIC_RELAXED);
}

static inline void hk_owner_set(uint32_t s, unsigned tag)
{
	__atomic_store_n(&hk_region_owner[s], (uint8_t)tag, __ATOMIC_RELAXED);
}

/* A live lane holds the tag: a hint, but an acquire load (a plain one on
 * x86), so that a tag seen free comes with the death stamps its release
 * wrote before (hk_owner_adoptable reads them next). */
static inline int hk_owner_live(unsigned tag)
{
	return tag && atomic_load_explicit(&hk_owner_held[tag], memory_order_acquire);
}

/* A tag for a new lane (0: every tag is held). */
unsigned hk_owner_take(void);
/* Takes a tag no live lane holds (an heir's inheritance): 1 if taken. */
int hk_owner_claim(unsigned tag);
/* A lane was born (the grace below counts births). */
void hk_owner_born(void);
/* No live lane holds the tag and its heir had time to inherit it, or the
 * refilling lane is `young` (may be that heir): a refill may take its
 * slabs (core/owner.c). */
int hk_owner_adoptable(unsigned tag, int young);
/* Or'ed into a refill's tag by a young lane (core/lane.c YOUNG_REFILLS). */
#define HK_OWNER_YOUNG 0x100u
/* A lane's exit: its tag is free for an heir (`heirless`: a fork child's
 * other threads, none will come: for any refill at once). */
void hk_owner_release(unsigned tag, int heirless);
/* How many tags live lanes hold (a relaxed count). */
unsigned hk_owner_holders(void);
/* Fork child: every tag but `keep` (its one lane's) is free, for any
 * refill at once (core/owner.c). */
void hk_owner_after_fork_child(unsigned keep);

#endif /* HK_CORE_OWNER_H */
