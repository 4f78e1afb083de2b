/*
 * test/unit/test_owner.c — refill affinity (core/owner.c, core/slab.c
 * pick, core/lane.c keep_off): two live threads' refills never take blocks
 * of one slab, in the default heap and in a user arena; a block of another
 * live thread's slab freed on a slow path goes back to that slab, not to
 * the freeing thread's next malloc (cache_scratch's false sharing); an
 * exited thread's slabs go to the thread that frees its blocks (its heir),
 * not to another live thread's refills; with no heir, they are reused
 * after a grace, at once by a young thread (no partial slab stranded),
 * and a thread that only allocates grows old (its refills wait too); a
 * fork child holds no tag but its own lane's; with every tag held, a
 * release frees one for the next take; a tag released just now is not the
 * next take's while others are free.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/init.h"
#include "core/lane.h"
#include "core/owner.h"
#include "core/region.h"
#include "core/sizeclass.h"

static void init(void)
{
	cr_assert_eq(hk_init(), 0);
	if (HK_NLANE == 0)
		cr_skip_test("no Tiny or MID band in this configuration");
}

TestSuite(owner, .init = init);

/* A size of its own per test, in Tiny (one-unit slabs), so no other test's
 * or Criterion's blocks share its slabs. */
#define ROUNDS 6
#define STEP 40 /* each a refill or two: a first refill takes 1 KiB */
#define N (ROUNDS * STEP)

struct worker {
	hk_arena_t *arena; /* NULL: the default heap */
	size_t size;
	int me; /* its turn: 0 or 1 */
	void *p[N];
};

static pthread_barrier_t turn;

static void *block(hk_arena_t *a, size_t size)
{
	void *p = a ? hk_arena_malloc(a, size) : hk_malloc(size);
	cr_assert(p);
	return p;
}

/* Takes STEP blocks per round, the two threads in turn (a barrier between
 * turns): without affinity the second one's refill took the rest of the
 * slab the first one's had just started. */
static void *take_in_turns(void *arg)
{
	struct worker *w = arg;
	for (int r = 0; r < ROUNDS; r++)
		for (int t = 0; t < 2; t++) {
			if (t == w->me)
				for (int i = 0; i < STEP; i++)
					w->p[r * STEP + i] = block(w->arena, w->size);
			pthread_barrier_wait(&turn);
		}
	return NULL;
}

/* Blocks of a and b in one unit (Tiny slabs are one unit each). */
static int units_shared(void *const *a, int na, void *const *b, int nb)
{
	int shared = 0;
	for (int i = 0; i < na; i++)
		for (int j = 0; j < nb; j++)
			shared += hk_unit_of(a[i]) == hk_unit_of(b[j]);
	return shared;
}

static void two_live_threads(hk_arena_t *a, size_t size)
{
	static struct worker w[2];
	pthread_t th[2];
	cr_assert_lt(hk_class_of(size), (unsigned)HK_TINY_LAST + 1);
	pthread_barrier_init(&turn, NULL, 2);
	for (int t = 0; t < 2; t++)
		w[t] = (struct worker){ .arena = a, .size = size, .me = t };
	for (int t = 0; t < 2; t++)
		cr_assert_eq(pthread_create(&th[t], NULL, take_in_turns, &w[t]), 0);
	for (int t = 0; t < 2; t++)
		pthread_join(th[t], NULL);
	pthread_barrier_destroy(&turn);
	cr_expect_eq(units_shared(w[0].p, N, w[1].p, N), 0,
		     "two live threads took blocks of one slab");
	for (int t = 0; t < 2; t++)
		for (int i = 0; i < N; i++)
			hk_free(w[t].p[i]);
}

Test(owner, two_live_threads_never_refill_from_one_slab)
{
	two_live_threads(NULL, 200);
}

Test(owner, nor_in_a_user_arena)
{
	hk_arena_t *a = hk_arena_create(NULL);
	cr_assert(a);
	two_live_threads(a, 200);
	hk_arena_destroy(a);
}

/* cache_scratch: this thread's neighbouring blocks, one handed to a new
 * thread, which frees it (its first free of the class: a slow path) and
 * mallocs the same size: without the check it got the same block back,
 * one line away from the blocks this thread still writes. */
static void *free_then_malloc(void *arg)
{
	void **p = arg;
	hk_free(p[0]);
	p[1] = hk_malloc(184);
	return NULL;
}

Test(owner, a_slow_free_of_a_live_threads_block_goes_back_to_its_slab)
{
	void *mine[4], *io[2];
	pthread_t th;
	for (int i = 0; i < 4; i++)
		mine[i] = hk_malloc(184);
	io[0] = mine[1];
	cr_assert_eq(pthread_create(&th, NULL, free_then_malloc, io), 0);
	pthread_join(th, NULL);
	cr_assert(io[1]);
	cr_expect_neq(hk_unit_of(io[1]), hk_unit_of(mine[0]),
		      "the freeing thread took a block of this thread's slab");
	hk_free(io[1]);
	hk_free(mine[0]);
	hk_free(mine[2]);
	hk_free(mine[3]);
}

/* ---- an exited thread's slabs ---- */

#define KEPT 150
static void *kept[KEPT];
static size_t kept_size;

/* Takes 2 * KEPT blocks, keeps every other one: its exit flushes the rest
 * back, leaving its slabs partial. */
static void *allocate_and_exit(void *arg)
{
	(void)arg;
	void *drop[KEPT];
	for (int i = 0; i < KEPT; i++) {
		kept[i] = hk_malloc(kept_size);
		drop[i] = hk_malloc(kept_size);
	}
	for (int i = 0; i < KEPT; i++)
		hk_free(drop[i]);
	return NULL;
}

/* The heir frees a block of the exited thread, says so, then lives until
 * told (dead, its slabs would be free to take again after a while). */
#define HEIRS 50
static void *heirs[HEIRS];

static void *free_one_kept(void *arg)
{
	pthread_barrier_t *until = arg;
	hk_free(kept[0]);
	kept[0] = hk_malloc(kept_size); /* the block it freed */
	for (int i = 0; i < HEIRS; i++)
		heirs[i] = hk_malloc(kept_size); /* its refills */
	pthread_barrier_wait(until);
	pthread_barrier_wait(until);
	return NULL;
}

struct other {
	pthread_barrier_t ready, go, done;
	int rounds;
	void *p[2][KEPT];
};

/* A thread that lives through it all, allocating when told. */
static void *allocate_when_told(void *arg)
{
	struct other *o = arg;
	/* Born before the other threads, and old: its first frees of each
	 * class (slow) are past, so it is no heir (core/lane.c HEIR_FREES). */
	for (size_t n = 16; n <= 64 * 16; n += 16)
		hk_free(hk_malloc(n));
	/* Before the exiting thread starts: young, its refills would take that
	 * thread's slabs once it is gone (a loaded machine ran it that late). */
	pthread_barrier_wait(&o->ready);
	for (int r = 0; r < o->rounds; r++) {
		pthread_barrier_wait(&o->go);
		for (int i = 0; i < KEPT; i++)
			o->p[r][i] = hk_malloc(kept_size);
		pthread_barrier_wait(&o->done);
	}
	return NULL;
}

static void other_start(struct other *o, pthread_t *th, int rounds)
{
	pthread_barrier_init(&o->ready, NULL, 2);
	pthread_barrier_init(&o->go, NULL, 2);
	pthread_barrier_init(&o->done, NULL, 2);
	o->rounds = rounds;
	cr_assert_eq(pthread_create(th, NULL, allocate_when_told, o), 0);
	pthread_barrier_wait(&o->ready);
}

static void other_round(struct other *o)
{
	pthread_barrier_wait(&o->go);
	pthread_barrier_wait(&o->done);
}

static void other_free(struct other *o)
{
	for (int r = 0; r < o->rounds; r++)
		for (int i = 0; i < KEPT; i++)
			hk_free(o->p[r][i]);
	for (int i = 0; i < KEPT; i++)
		hk_free(kept[i]);
}

static void run(void *(*fn)(void *))
{
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, fn, NULL), 0);
	pthread_join(th, NULL);
}

static int in_kept_slabs(void *const *p, int n)
{
	return units_shared(p, n, kept, KEPT);
}

Test(owner, an_exited_threads_slabs_go_to_its_heir)
{
	static struct other o;
	pthread_barrier_t until;
	pthread_t th, heir;
	kept_size = 232;
	pthread_barrier_init(&until, NULL, 2);
	other_start(&o, &th, 1);
	run(allocate_and_exit);
	cr_assert_eq(pthread_create(&heir, NULL, free_one_kept, &until), 0);
	pthread_barrier_wait(&until); /* the heir has freed */
	other_round(&o);
	pthread_barrier_wait(&until);
	pthread_join(heir, NULL);
	pthread_join(th, NULL);
	cr_expect_eq(in_kept_slabs(o.p[0], KEPT), 0,
		     "a live thread took the exited thread's slabs from its heir");
	cr_expect_gt(in_kept_slabs(heirs, HEIRS), 0, "the heir did not refill from them");
	for (int i = 0; i < HEIRS; i++)
		hk_free(heirs[i]);
	other_free(&o);
}

static void *nothing(void *arg)
{
	hk_free(hk_malloc(16));
	return arg;
}

static uint64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* Right after the exit, another live thread's refills wait (the heir may
 * not be born yet: core/owner.c's grace, 100 ms or two births); once two
 * threads were born, they take the exited thread's partial slabs. */
Test(owner, with_no_heir_they_are_reused_after_a_grace)
{
	static struct other o;
	pthread_t th;
	kept_size = 264;
	other_start(&o, &th, 2);
	uint64_t t0 = now_ms();
	run(allocate_and_exit);
	other_round(&o);
	/* Only a run slow enough to outlast the grace may take them. */
	if (now_ms() - t0 < 50)
		cr_expect_eq(in_kept_slabs(o.p[0], KEPT), 0, "taken before its heir was born");
	run(nothing);
	run(nothing);
	other_round(&o);
	pthread_join(th, NULL);
	cr_expect_gt(in_kept_slabs(o.p[1], KEPT), 0, "the exited thread's partial slabs were stranded");
	other_free(&o);
}

/* A young thread (the first of a new batch of workers) may be the heir,
 * or there is none: it takes the exited thread's slabs without waiting
 * (thread_churn's workers carved new slabs every round: peak RSS 1.31x
 * mimalloc's). */
static void *allocate_young(void *arg)
{
	void **p = arg;
	for (int i = 0; i < KEPT; i++)
		p[i] = hk_malloc(kept_size);
	return NULL;
}

Test(owner, a_young_thread_takes_them_at_once)
{
	static void *p[KEPT];
	pthread_t th;
	kept_size = 296;
	run(allocate_and_exit);
	cr_assert_eq(pthread_create(&th, NULL, allocate_young, p), 0);
	pthread_join(th, NULL);
	cr_expect_gt(in_kept_slabs(p, KEPT), 0, "a young thread left the exited thread's slabs");
	for (int i = 0; i < KEPT; i++) {
		hk_free(p[i]);
		hk_free(kept[i]);
	}
}

/* Youth ends with refills too (core/lane.c YOUNG_REFILLS): a thread that
 * only allocates (a producer) and never frees on a slow path was young
 * for good, and its refills took an exited thread's slabs at once, before
 * the heir was born. */
#define PRODUCED 2048 /* 1000-byte blocks: ~130 refills of at most 16 */

struct producer {
	pthread_barrier_t grown, go;
	void *old[PRODUCED], *p[KEPT];
};

static void *allocate_only(void *arg)
{
	struct producer *pr = arg;
	for (int i = 0; i < PRODUCED; i++)
		pr->old[i] = block(NULL, 1000);
	pthread_barrier_wait(&pr->grown);
	pthread_barrier_wait(&pr->go);
	for (int i = 0; i < KEPT; i++)
		pr->p[i] = block(NULL, kept_size);
	return NULL;
}

Test(owner, a_thread_that_only_allocates_grows_old)
{
	static struct producer pr;
	pthread_t th;
	kept_size = 360;
	pthread_barrier_init(&pr.grown, NULL, 2);
	pthread_barrier_init(&pr.go, NULL, 2);
	cr_assert_eq(pthread_create(&th, NULL, allocate_only, &pr), 0);
	pthread_barrier_wait(&pr.grown);
	uint64_t t0 = now_ms();
	run(allocate_and_exit);
	pthread_barrier_wait(&pr.go);
	pthread_join(th, NULL);
	/* Only a run slow enough to outlast the grace may take them. */
	if (now_ms() - t0 < 50)
		cr_expect_eq(in_kept_slabs(pr.p, KEPT), 0,
			     "an old producer took the exited thread's slabs before its heir was born");
	for (int i = 0; i < PRODUCED; i++)
		hk_free(pr.old[i]);
	for (int i = 0; i < KEPT; i++) {
		hk_free(pr.p[i]);
		hk_free(kept[i]);
	}
}

/* A fork can stop another thread between a tag's CAS and the store into
 * its lane (core/lane.c lane_tag, keep_off): the child dropped that lane
 * with the tag it had stored (none), and the tag stayed held there by no
 * lane, its slabs another live lane's in the child for good. Taken here
 * and stored nowhere, it is that moment's state. */
Test(owner, a_fork_child_holds_only_its_own_lanes_tag)
{
	hk_free(hk_malloc(328)); /* this thread's lane takes its tag */
	unsigned mine = hk_lane_self->tag, t = hk_owner_take();
	cr_assert(mine && t && t != mine);
	pid_t pid = fork();
	if (!pid)
		_exit(hk_owner_live(t) ? 1 : !hk_owner_live(mine) ? 2 : 0);
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	hk_owner_release(t, 1);
	cr_expect(WIFEXITED(st), "the child died");
	cr_expect_neq(WEXITSTATUS(st), 1, "a tag no lane holds stayed held in the child");
	cr_expect_neq(WEXITSTATUS(st), 2, "the child's own lane lost its tag");
}

/* With every tag held, take() remembers it found none (core/owner.c
 * all_held_at) and answers 0 without a scan, but only until a release:
 * the tag released is the next take's. */
Test(owner, with_every_tag_held_a_release_frees_one_for_the_next_take)
{
	static unsigned got[HK_OWNER_TAGS];
	unsigned n = 0, t;
	while ((t = hk_owner_take()) != 0)
		got[n++] = t;
	cr_assert(n > 0 && n < HK_OWNER_TAGS);
	cr_assert_eq(hk_owner_take(), 0, "a tag was free after every one was taken");
	cr_expect_eq(hk_owner_holders(), HK_OWNER_TAGS - 1, "the holders' count is off");
	hk_owner_release(got[n / 2], 1);
	cr_expect_eq(t = hk_owner_take(), got[n / 2], "the released tag was not taken again");
	cr_expect_eq(hk_owner_take(), 0);
	hk_owner_release(t, 1);
	for (unsigned i = 0; i < n; i++)
		if (i != n / 2)
			hk_owner_release(got[i], 1);
	cr_expect_neq(t = hk_owner_take(), 0, "the tags released were not free again");
	hk_owner_release(t, 1);
}

/* Takes go round the tags (core/owner.c cursor): threads that come and go,
 * two live at a time, never take the tag the one before them released just
 * now while other tags are free, also once every tag was used (the lowest
 * free tag came first: the exited thread's, at once). */
Test(owner, a_tag_released_just_now_is_not_taken_next)
{
	static unsigned got[HK_OWNER_TAGS];
	unsigned n = 0, t;
	while ((t = hk_owner_take()) != 0)
		got[n++] = t;
	cr_assert(n > 3 && n < HK_OWNER_TAGS);
	for (unsigned i = 0; i < n; i++)
		hk_owner_release(got[i], 0);
	unsigned older = hk_owner_take(), newer = hk_owner_take();
	cr_assert(older && newer);
	for (int i = 0; i < 3 * HK_OWNER_TAGS; i++) {
		hk_owner_release(older, 0);
		t = hk_owner_take();
		cr_assert(t, "no tag free with %u of them released", n - 1);
		cr_assert_neq(t, older, "take %d: the tag released just now came back at once", i);
		older = newer;
		newer = t;
	}
	hk_owner_release(older, 0);
	hk_owner_release(newer, 0);
}
