/*
 * test/unit/test_arena_lane.c — arena slots (core/arena_lane.c) from the
 * inside: a slot is claimed on first use and serves pops; arenas whose
 * indexes share a slot evict each other with their blocks flushed back
 * (counters folded); reset and destroy make a slot stale (bump the epoch)
 * and the stale bins are dropped, not flushed; the class divisor check
 * matches every class; a fork child gives back the other threads' slots.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/arena_lane.h"
#include "core/backend.h"
#include "core/core.h"
#include "core/region.h"
#include "core/sizeclass.h"

/* Without Tiny and MID there are no slabs, hence no arena slots. */
static void init(void)
{
	cr_assert_eq(hk_init(), 0);
	if (HK_NLANE == 0)
		cr_skip_test("no Tiny or MID band in this configuration");
}

TestSuite(arena_lane, .init = init);

static hk_arena_stats_t stats(hk_arena_t *a)
{
	hk_arena_stats_t s;
	cr_assert_eq(hk_arena_stats(a, &s), 0);
	return s;
}

Test(arena_lane, slot_claimed_then_pops_without_refill)
{
	hk_arena_t *a = hk_arena_create(NULL);
	void *p = hk_arena_malloc(a, 64);
	hk_aslot_t *s = hk_alane_slot(a->index);
	cr_assert_not_null(s, "the first allocation claims a slot");
	cr_assert_eq(s->index, a->index);
	uint64_t refilled = s->refilled;
	hk_free(p);
	void *q = hk_arena_malloc(a, 64);
	cr_assert_eq(q, p, "LIFO: the freed block comes back from the bin");
	cr_assert_eq(s->refilled, refilled, "no refill for a cached block");
	hk_free(q);
	hk_arena_destroy(a);
}

Test(arena_lane, colliding_arenas_evict_and_flush)
{
	hk_arena_t *ar[HK_ASLOTS + 1];
	for (int i = 0; i <= HK_ASLOTS; i++)
		ar[i] = hk_arena_create(NULL);
	hk_arena_t *a = ar[0], *b = ar[HK_ASLOTS];
	cr_assert_eq(a->index & (HK_ASLOTS - 1), b->index & (HK_ASLOTS - 1));
	void *p[100];
	for (int i = 0; i < 100; i++)
		p[i] = hk_arena_malloc(a, 32);
	for (int i = 0; i < 100; i++)
		hk_free(p[i]);
	cr_assert_gt(stats(a).committed_bytes, 0);
	void *q = hk_arena_malloc(b, 32); /* takes a's place */
	cr_assert_eq(hk_lane_self->aslot[a->index & (HK_ASLOTS - 1)]->index, b->index);
	cr_assert_null(hk_alane_slot(a->index));
	hk_arena_stats_t s = stats(a);
	cr_assert_eq(s.allocs, 100);
	cr_assert_eq(s.frees, 100);
	cr_assert_eq(s.live_bytes, 0, "a's cached blocks went back to its slabs");
	cr_assert_eq(hk_arena_of(q), b);
	hk_free(q);
	for (int i = 0; i <= HK_ASLOTS; i++)
		hk_arena_destroy(ar[i]);
}

Test(arena_lane, reset_makes_slots_stale_and_drops_them)
{
	hk_arena_t *a = hk_arena_create(NULL);
	void *p[50];
	for (int i = 0; i < 50; i++)
		p[i] = hk_arena_malloc(a, 128);
	for (int i = 0; i < 50; i++)
		hk_free(p[i]);
	hk_aslot_t *s = hk_alane_slot(a->index);
	cr_assert_not_null(s);
	uint32_t epoch = hk_arena_epoch[a->index];
	hk_arena_reset(a);
	cr_assert_eq(hk_arena_epoch[a->index], epoch + 1);
	cr_assert_null(hk_alane_slot(a->index), "a reset makes the slot stale");
	/* The slab free lists were forgotten: dropping (not flushing) the stale
	 * bin is what keeps a block from having two owners. */
	void *q = hk_arena_malloc(a, 128);
	cr_assert_eq(hk_alane_slot(a->index), s, "renewed in place");
	cr_assert_eq(s->epoch, epoch + 1);
	hk_desc_t *d = hk_desc_of(q);
	cr_assert_eq(d->kind, HK_KIND_SLAB_A);
	uint32_t head = hk_unit_of((void *)d->start);
	hk_abin_t *b = &s->bin[hk_class_of(128 + HK_CANARY)];
	cr_assert_eq(hk_desc_at(head)->used, b->limit - b->room + 1,
		     "the slab counts exactly the blocks of this epoch");
	hk_free(q);
	hk_arena_stats_t st = stats(a);
	cr_assert_eq(st.allocs, 51);
	cr_assert_eq(st.frees, 51);
	cr_assert_eq(st.live_bytes, 0);
	hk_arena_destroy(a);
	cr_assert_eq(hk_arena_epoch[a->index], epoch + 2, "destroy bumps the epoch too");
}

Test(arena_lane, interior_check_for_every_class)
{
	hk_arena_t *a = hk_arena_create(NULL);
	for (int i = 0; i < HK_NLANE; i++) {
		unsigned c = (unsigned)i;
		size_t n = hk_class_size(c) - HK_CANARY;
		void *p = hk_arena_malloc(a, n);
		cr_assert_not_null(p);
		cr_assert_geq(hk_usable_size(p), n, "class %u", c);
		hk_free(p);
	}
	hk_arena_destroy(a);
}

static void *hold(void *arg)
{
	hk_arena_t *a = arg;
	void *p[64];
	for (int i = 0; i < 64; i++)
		p[i] = hk_arena_malloc(a, 48);
	for (int i = 0; i < 64; i++)
		hk_free(p[i]);
	return NULL;
}

static pthread_barrier_t forked;

static void *hold_until_forked(void *arg)
{
	hold(arg);
	pthread_barrier_wait(&forked);
	pthread_barrier_wait(&forked);
	return NULL;
}

Test(arena_lane, fork_child_gives_back_other_threads_slots)
{
	hk_arena_t *a = hk_arena_create(NULL);
	pthread_t t;
	pthread_barrier_init(&forked, NULL, 2);
	pthread_create(&t, NULL, hold_until_forked, a);
	pthread_barrier_wait(&forked); /* the thread's slot holds 64 blocks */
	pid_t pid = fork();
	if (pid == 0) {
		hk_arena_stats_t s = stats(a);
		void *p = hk_arena_malloc(a, 48);
		int ok = p && s.live_bytes == 0 && s.allocs == 64 && s.frees == 64;
		hk_free(p);
		s = stats(a);
		ok = ok && s.live_bytes == 0 && s.allocs == 65 && s.frees == 65;
		_exit(ok ? 0 : 1);
	}
	cr_assert_gt(pid, 0);
	int status;
	waitpid(pid, &status, 0);
	pthread_barrier_wait(&forked);
	pthread_join(t, NULL);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
	hk_arena_destroy(a);
}
