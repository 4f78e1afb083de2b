/*
 * core/owner.c — the tags of live lanes (core/owner.h), lock-free: a CAS
 * per take or inheritance, slow paths only. A lane takes a tag on its
 * first refill, unless a slow free before it met a block of a slab whose
 * tag no live lane holds: it then inherits that tag, and with it the dead
 * lane's slabs. A thread that takes over an exited thread's blocks so
 * takes over its slabs, rather than share them with the other live
 * threads (larson: a new worker frees the exited one's blocks first).
 * Only a lane in its first slow frees inherits (core/lane.c keep_off,
 * HEIR_FREES): an old one that frees other threads' blocks without
 * allocating (a consumer, a main thread joining workers) would hold their
 * slabs and strand them. At exit the tag is free again.
 * With every tag held, a lane goes without (tag 0: no affinity).
 */
#include "core/owner.h"
#include "core/platform.h"

_Atomic uint8_t hk_owner_held[HK_OWNER_TAGS] HK_FORKED;

/* The tag the next take looks at first. Takes go round the tags (never
 * held ones first, in order): the cursor passed a tag when it was taken,
 * and comes back to it only after taking every free tag on its way round.
 * A tag released a moment ago is the one an heir of its lane should
 * inherit, not a stranger take: once every tag was used, the lowest free
 * one (taken before) was often that one, and the new lane owned the dead
 * lane's slabs at once, before its heir was born (test_owner
 * a_tag_released_just_now_is_not_taken_next). */
static _Atomic unsigned cursor = 1;

/* Releases so far, and 1 + their count when a scan last found every tag
 * held (0: none did): a lane without a tag asks again at each refill, and
 * with 300 threads live the scans of 255 tags were 3.6 % of the
 * instructions (callgrind); until a tag is released, the answer stands. */
static _Atomic uint32_t releases, all_held_at;

/* Tags held now: live lanes that refilled (core/span.c's dense rule). */
static _Atomic unsigned holders;

unsigned hk_owner_holders(void)
{
	return atomic_load_explicit(&holders, memory_order_relaxed);
}

/* Lanes born so far, and when each tag's last holder died: lane births
 * and ms. */
static _Atomic uint32_t births;
static _Atomic uint32_t died_birth[HK_OWNER_TAGS];
static _Atomic uint64_t died_ms[HK_OWNER_TAGS];

/*
 * A dead lane's slabs wait for an heir until two lanes were born since its
 * death, or GRACE_MS passed, before any refill may take them. A thread's
 * exit comes before its heir's birth: the other worker, still running,
 * took half of the exited one's slabs in the meantime (larson, every
 * epoch; the lines both live threads wrote grew from 3 to 113 in 10
 * epochs). The heir inherits at its first free, right after its birth, and
 * the other thread's refills see two births only once both are born. The
 * time bound is for a thread that dies with no heir and no thread born
 * after it: its partial slabs stay unused that long. A young lane (its
 * first refills: core/lane.c YOUNG_REFILLS) does not wait (it may be the
 * heir, or none comes): thread_churn's first worker of each round carved
 * new slabs while the last round's waited (peak RSS 8.1 MB, mimalloc 6.1,
 * 2e54b11 4.6; 5.1-5.6 MB without the wait).
 */
#define GRACE_MS 100

void hk_owner_born(void)
{
	atomic_fetch_add_explicit(&births, 1, memory_order_relaxed);
}

int hk_owner_adoptable(unsigned tag, int young)
{
	if (hk_owner_live(tag))
		return 0;
	if (!tag || young || atomic_load_explicit(&births, memory_order_relaxed) -
				    atomic_load_explicit(&died_birth[tag], memory_order_relaxed) >=
			    2)
		return 1;
	return hk_platform_now_ms() - atomic_load_explicit(&died_ms[tag], memory_order_relaxed) >=
	       GRACE_MS;
}

int hk_owner_claim(unsigned tag)
{
	uint8_t no = 0;
	/* Looked at first: take() tries every tag, most held. */
	if (!tag || atomic_load_explicit(&hk_owner_held[tag], memory_order_relaxed) ||
	    !atomic_compare_exchange_strong_explicit(&hk_owner_held[tag], &no, 1,
						     memory_order_relaxed, memory_order_relaxed))
		return 0;
	atomic_fetch_add_explicit(&holders, 1, memory_order_relaxed);
	return 1;
}

unsigned hk_owner_take(void)
{
	uint32_t r = atomic_load_explicit(&releases, memory_order_acquire);
	if (atomic_load_explicit(&all_held_at, memory_order_relaxed) == r + 1)
		return 0;
	unsigned t = atomic_load_explicit(&cursor, memory_order_relaxed);
	for (unsigned n = 1; n < HK_OWNER_TAGS; n++, t = t + 1 < HK_OWNER_TAGS ? t + 1 : 1)
		if (hk_owner_claim(t)) {
			/* A race may set it back a step: the claim decides. */
			atomic_store_explicit(&cursor, t + 1 < HK_OWNER_TAGS ? t + 1 : 1,
					      memory_order_relaxed);
			return t;
		}
	/* A release since r bumped the count: the next take scans. */
	atomic_store_explicit(&all_held_at, r + 1, memory_order_relaxed);
	return 0;
}

void hk_owner_release(unsigned tag, int heirless)
{
	if (!tag)
		return;
	/* heirless: as if two lanes were born since (no grace). */
	atomic_store_explicit(&died_birth[tag],
			      atomic_load_explicit(&births, memory_order_relaxed) - (heirless ? 2 : 0),
			      memory_order_relaxed);
	atomic_store_explicit(&died_ms[tag], hk_platform_now_ms(), memory_order_relaxed);
	/* Release: after the stamps above (hk_owner_live). */
	atomic_store_explicit(&hk_owner_held[tag], 0, memory_order_release);
	atomic_fetch_add_explicit(&releases, 1, memory_order_release);
	atomic_fetch_sub_explicit(&holders, 1, memory_order_relaxed);
}

/* A thread the fork left behind may have stopped between a tag's CAS and
 * its store into its lane: its lane dropped no tag, and the held flag would
 * keep that tag's slabs off every refill in the child for good
 * (test_owner a_fork_child_holds_only_its_own_lanes_tag). */
void hk_owner_after_fork_child(unsigned keep)
{
	for (unsigned t = 1; t < HK_OWNER_TAGS; t++)
		if (t != keep && atomic_load_explicit(&hk_owner_held[t], memory_order_relaxed))
			hk_owner_release(t, 1);
	/* Counted again: such a thread may have stopped before its count. */
	atomic_store_explicit(&holders, keep && hk_owner_live(keep), memory_order_relaxed);
}
