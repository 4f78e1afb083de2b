/*
 * test/unit/test_lane_cache.c — the lanes' caches (core/lane.c) from the
 * inside: a user arena owns a cache slot and its blocks go through the
 * same bins as the default heap's (the descriptor names the bin); a reset
 * clears the bins of every lane in place and the next use sets them up
 * again; destroy gives the slot back; an arena created when every slot is
 * taken works without a cache; the class divisor check matches every
 * class; a fork child drops the other threads' caches, counted as freed; nothing ever
 * writes the static empty and dead lanes (issue 12, bug 4); a reset visits
 * only the classes and spans the arena used since the last one, and a
 * warm one rewinds a class's run longer than its bin, and only the bins
 * popped since the last one; a bin
 * grows on swings of its class, never on frees alone, and a trim shrinks it;
 * a thread's first refill of the default heap takes more than two blocks,
 * and of each class at most 1 KiB or 4 blocks;
 * a block whose byte 15 is the free mark's top byte still takes free()'s
 * fast path, and a steady malloc/free pair loop never leaves the fast
 * paths; a bin that only receives frees (a consumer thread's) holds at
 * most a quarter of its limit; the default row's bins and the first
 * chunk's descriptors sit off the first blocks' page offsets; the fast
 * paths' counts (in the room words) survive flushes; a full bin gives back
 * at most 16 KiB; a bin's count is the sampler's countdown, whose run-out
 * pop leaves the fast path; the fast paths' direct refill and flush honour
 * a trim request, and a refill counts its bytes down to the next sample; a
 * thread on a recycled lane draws new sampling intervals.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/harden.h"
#include "core/init.h"
#include "core/lane.h"
#include "core/region.h"
#include "core/sizeclass.h"
#include "core/validate.h"

/* Without Tiny and MID there are no slabs, hence no caches. */
static void init(void)
{
	cr_assert_eq(hk_init(), 0);
	if (HK_NLANE == 0)
		cr_skip_test("no Tiny or MID band in this configuration");
}

TestSuite(lane_cache, .init = init);

static hk_arena_stats_t stats(hk_arena_t *a)
{
	hk_arena_stats_t s;
	cr_assert_eq(hk_arena_stats(a, &s), 0);
	return s;
}

static unsigned cls_of(size_t n)
{
	return hk_class_of(n + HK_CANARY);
}

Test(lane_cache, arena_blocks_use_the_arena_bins)
{
	hk_arena_t *a = hk_arena_create(NULL);
	cr_assert_neq(a->bins, 0, "a user arena never shares the default heap's slot");
	cr_assert_neq(a->bins, HK_BINS_NONE);
	cr_assert_eq(a->bins % HK_ROW_WORDS, 0);
	void *p = hk_arena_malloc(a, 64);
	unsigned c = cls_of(64), bin = hk_bin_of(a->bins, c);
	hk_desc_t *d = hk_desc_of(p);
	cr_assert_eq(d->kind, HK_KIND_SLAB);
	cr_assert_eq(d->bin, bin, "the descriptor names the arena's bin");
	cr_assert_eq(hk_desc_cls(d), c);
	hk_lane_t *l = hk_lane_self;
	hk_cache_t *cache = hk_lane_cache(l, a->bins);
	cr_assert(cache->classes >> c & 1, "the first allocation sets the bin up");
	uint64_t refilled = cache->refilled, allocs = hk_bin_allocs(l, bin);
	int64_t room = hk_room(l, bin);
	hk_free(p);
	cr_assert_eq(HK_HEAD(l, bin), p, "free pushed into the arena's bin");
	cr_assert_eq(hk_room(l, bin), room - 1);
	void *q = hk_arena_malloc(a, 64);
	cr_assert_eq(q, p, "LIFO: the freed block comes back from the bin");
	cr_assert_eq(cache->refilled, refilled, "no refill for a cached block");
	cr_assert_eq(hk_bin_allocs(l, bin), allocs + 1, "the fast path counts the allocation");
	cr_assert_eq(hk_room(l, bin), room, "and gives the room back");
	hk_free(q);
	hk_arena_destroy(a);
}

Test(lane_cache, reset_clears_bins_in_place)
{
	hk_arena_t *a = hk_arena_create(NULL);
	void *p[50];
	for (int i = 0; i < 50; i++)
		p[i] = hk_arena_malloc(a, 128);
	for (int i = 0; i < 50; i++)
		hk_free(p[i]);
	hk_lane_t *l = hk_lane_self;
	unsigned c = cls_of(128), bin = hk_bin_of(a->bins, c);
	cr_assert_not_null(HK_HEAD(l, bin));
	hk_arena_reset(a);
	cr_assert_null(HK_HEAD(l, bin), "a reset empties the bin");
	cr_assert_eq(hk_room(l, bin), 0, "and unsets it: a free goes to the slow path");
	cr_assert_eq(hk_lane_cache(l, a->bins)->classes, 0);
	/* The slab free lists were forgotten: dropping (not flushing) the
	 * bin is what keeps a block from having two owners. */
	void *q = hk_arena_malloc(a, 128);
	hk_desc_t *d = hk_desc_of(q);
	uint32_t head = hk_unit_of((void *)d->start);
	cr_assert(hk_lane_cache(l, a->bins)->classes >> c & 1, "set up again");
	cr_assert_eq(hk_desc_at(head)->used, hk_lane_cache(l, a->bins)->refilled,
		     "the slab counts exactly the blocks of this life");
	hk_free(q);
	hk_arena_stats_t st = stats(a);
	cr_assert_eq(st.allocs, 51);
	cr_assert_eq(st.frees, 51);
	cr_assert_eq(st.live_bytes, 0);
	hk_arena_destroy(a);
}

Test(lane_cache, destroy_gives_the_slot_back)
{
	hk_arena_t *a = hk_arena_create(NULL);
	unsigned bins = a->bins;
	void *p = hk_arena_malloc(a, 32);
	hk_free(p);
	hk_arena_destroy(a);
	cr_assert_eq(a->bins, HK_BINS_NONE, "a destroyed arena's fast path fails");
	cr_assert_eq(hk_lane_cache(hk_lane_self, bins)->classes, 0);
	hk_arena_t *b = hk_arena_create(NULL);
	cr_assert_eq(b->bins, bins, "the first free slot is taken again");
	cr_assert_eq(hk_lane_cache(hk_lane_self, bins)->allocs, 0, "nothing of the old life");
	hk_arena_destroy(b);
}

Test(lane_cache, arenas_beyond_the_slots_work_uncached)
{
	enum { N = HK_CACHE_SLOTS + 4 };
	hk_arena_t *ar[N];
	void *p[N][20];
	int uncached = 0;
	for (int i = 0; i < N; i++) {
		ar[i] = hk_arena_create(NULL);
		cr_assert_not_null(ar[i]);
		uncached += ar[i]->bins == HK_BINS_NONE;
	}
	cr_assert_geq(uncached, 4, "only %d arenas without a slot", uncached);
	for (int i = 0; i < N; i++)
		for (int j = 0; j < 20; j++) {
			p[i][j] = hk_arena_malloc(ar[i], 16 + 16 * (size_t)j);
			cr_assert_not_null(p[i][j]);
			cr_assert_eq(hk_arena_of(p[i][j]), ar[i]);
			memset(p[i][j], i, 16 + 16 * (size_t)j);
		}
	for (int i = 0; i < N; i++) {
		for (int j = 0; j < 20; j++) {
			unsigned char *b = p[i][j];
			for (size_t k = 0; k < 16 + 16 * (size_t)j; k++)
				cr_assert_eq(b[k], (unsigned char)i);
			hk_free(b);
		}
		hk_arena_stats_t s = stats(ar[i]);
		cr_assert_eq(s.allocs, 20);
		cr_assert_eq(s.frees, 20);
		cr_assert_eq(s.live_bytes, 0);
		hk_arena_destroy(ar[i]);
	}
}

Test(lane_cache, interior_check_for_every_class)
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

Test(lane_cache, fork_child_counts_other_threads_caches_freed)
{
	hk_arena_t *a = hk_arena_create(NULL);
	pthread_t t;
	pthread_barrier_init(&forked, NULL, 2);
	pthread_create(&t, NULL, hold_until_forked, a);
	pthread_barrier_wait(&forked); /* the thread's cache holds 64 blocks */
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

/* ---- the static lanes are never written (issue 12, bug 4) ---------------- */

static struct {
	hk_lane_t *empty, *dead;
	pthread_key_t late;
	void *blk[2];
} Z;

static void free_after_exit(void *p)
{
	Z.dead = hk_lane_self; /* hakmem's destructor ran first (its key is older) */
	hk_free(p);
}

static void *laneless_free(void *arg)
{
	(void)arg;
	Z.empty = hk_lane_self; /* no allocator call yet: the static empty lane */
	hk_free(Z.blk[0]); /* the first free of a thread without a lane */
	pthread_setspecific(Z.late, Z.blk[1]);
	return NULL;
}

static void assert_untouched(hk_lane_t *l, const char *which)
{
	for (unsigned s = 0; s < HK_CACHE_SLOTS; s++)
		for (unsigned c = 0; c < HK_NCLASS_MAX; c++) {
			unsigned bin = hk_bin_of(s * (unsigned)HK_ROW_WORDS, c);
			cr_assert_eq(l->room[bin], 0, "%s lane: room word of bin %u is %lld", which,
				     bin, (long long)l->room[bin]);
			cr_assert_null(HK_HEAD(l, bin), "%s lane: bin %u holds a block", which, bin);
		}
}

Test(lane_cache, static_lanes_are_never_written)
{
	cr_assert_eq(pthread_key_create(&Z.late, free_after_exit), 0);
	for (int round = 0; round < 20; round++) {
		pthread_t t;
		Z.blk[0] = hk_malloc(48);
		Z.blk[1] = hk_malloc(48);
		pthread_create(&t, NULL, laneless_free, NULL);
		pthread_join(t, NULL);
		cr_assert_neq(Z.empty, Z.dead);
		assert_untouched(Z.empty, "empty");
		assert_untouched(Z.dead, "dead");
	}
	pthread_key_delete(Z.late);
}

/* ---- a reset visits what the arena used ----------------------------------- */

Test(lane_cache, reset_visits_touched_classes_and_spans)
{
	hk_arena_t *a = hk_arena_create(NULL);
	unsigned c1 = cls_of(32), c2 = cls_of(1000);
	void *p[300];
	/* Enough 1000-byte blocks for several slabs, every one full. */
	for (int i = 0; i < 300; i++)
		cr_assert_not_null(p[i] = hk_arena_malloc(a, i % 2 ? 32 : 1000));
	cr_assert_eq(atomic_load(&a->touched), ((uint64_t)1 << c1) | ((uint64_t)1 << c2));
	cr_assert_neq(a->cls[c2].full, HK_NIL, "filled slabs are on the full list");
	void *pool = CONFIG_HK_POOL ? hk_arena_malloc(a, 1 * (1u << 20)) : NULL;
	if (CONFIG_HK_POOL)
		cr_assert_neq(a->pool_live, HK_NIL, "a live POOL span is linked");
	hk_arena_reset(a);
	cr_assert_eq(atomic_load(&a->touched), 0);
	for (unsigned c = 0; c < HK_NCLASS_MAX; c++) {
		cr_assert_eq(a->cls[c].partial, HK_NIL, "class %u", c);
		cr_assert_eq(a->cls[c].full, HK_NIL, "class %u", c);
	}
	cr_assert_eq(a->pool_live, HK_NIL);
	hk_arena_stats_t s = stats(a);
	cr_assert_eq(s.live_bytes, 0);
	/* At most one empty slab per class stays with the arena. */
	cr_assert_leq(s.committed_bytes, 2 * HK_UNIT, "committed %zu", s.committed_bytes);
	(void)pool;
	for (int i = 0; i < 300; i++)
		cr_assert_not_null(p[i] = hk_arena_malloc(a, i % 2 ? 32 : 1000));
	for (int i = 0; i < 300; i++)
		hk_free(p[i]);
	s = stats(a);
	cr_assert_eq(s.allocs, 600 + (CONFIG_HK_POOL ? 1 : 0));
	cr_assert_eq(s.frees, 300);
	cr_assert_eq(s.live_bytes, 0);
	hk_arena_destroy(a);
}

/* One request of bench/request's kind: n blocks of 16..256 bytes. */
static void request(hk_arena_t *a, unsigned n, unsigned seed, void **out)
{
	for (unsigned i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		size_t sz = 16 + (seed >> 16) % 241;
		char *p = hk_arena_malloc(a, sz);
		cr_assert_not_null(p);
		memset(p, 0x5a, sz);
		if (out)
			out[i] = p;
	}
}

/*
 * A warm per-request arena's reset puts the blocks handed out since the
 * last one back into the caller's bins: the next requests refill nothing,
 * however many classes the arena used before, and take the same blocks
 * again (bench/request's hk-arena, K = 4: 259 ns a request, 3,300
 * instructions, when every reset emptied the bins and walked the slabs,
 * so that each block was a refill). The stats count every allocation and
 * no free, and nothing stays live.
 */
Test(lane_cache, a_warm_reset_refills_nothing)
{
	hk_arena_t *a = hk_arena_create(NULL);
	void *first[4], *again[4];
	request(a, 64, 1, NULL); /* every class of 16..256 B */
	hk_arena_reset(a);
	for (unsigned r = 0; r < 1000; r++) { /* the requests below, once */
		request(a, 4, r, NULL);
		hk_arena_reset(a);
	}
	hk_cache_t *c = hk_lane_cache(hk_lane_self, a->bins);
	uint64_t refills = c->refills;
	uint64_t allocs = stats(a).allocs;
	for (unsigned r = 0; r < 1000; r++) {
		request(a, 4, r, NULL);
		hk_arena_reset(a);
	}
	cr_assert_eq(c->refills, refills, "%llu refills in 1000 warm requests",
		     (unsigned long long)(c->refills - refills));
	request(a, 4, 7, first);
	hk_arena_reset(a);
	request(a, 4, 7, again);
	hk_arena_reset(a);
	cr_assert_arr_eq(first, again, sizeof first, "a request takes the blocks of the one before");
	hk_arena_stats_t s = stats(a);
	cr_assert_eq(s.allocs, allocs + 4008);
	cr_assert_eq(s.frees, 0);
	cr_assert_eq(s.live_bytes, 0);
	hk_arena_destroy(a);
}

/*
 * A request that takes more blocks of one class than the user bin's limit
 * (the bin refilled again as it ran dry) is rewound all the same: the bin
 * holds the whole run after the reset, its room counter agrees (the
 * validator counts the blocks), and the next requests refill nothing,
 * pop every block on hk_arena_malloc's fast path (2 KiB: above the byte
 * lookup, the second table's) and take the same blocks. Before, the room went below 0 and every later
 * reset was a full one (bench/request K = 64 of 16 B-4 KiB: 15 refills a
 * request).
 */
Test(lane_cache, a_warm_reset_rewinds_a_run_longer_than_the_bin)
{
	enum { MOST = 256 };
	hk_arena_t *a = hk_arena_create(NULL);
	/* Above malloc's byte lookup (1152 B) where the band has it. */
	size_t sz = (HK_SMALL_MAX >= 2048 ? 2048 : 1024) - HK_CANARY;
	unsigned c = cls_of(sz), bin = hk_bin_of(a->bins, c);
	void *first[MOST], *again[MOST];
	hk_lane_t *l;
	cr_assert_not_null(first[0] = hk_arena_malloc(a, sz));
	l = hk_lane_self;
	int64_t base = hk_bin_limit(l, a->bins, c);
	size_t n = (size_t)base * 3, fit = HK_UNIT / hk_class_size(c);
	n = n < fit ? n : fit; /* one run is one unit at most */
	n = n < MOST ? n : MOST;
	cr_assert_gt((int64_t)n, base, "the request must outgrow the bin (%zu, limit %lld)", n,
		     (long long)base);
	hk_arena_reset(a);
	hk_cache_t *cache = hk_lane_cache(l, a->bins);
	uint64_t refills = 0, allocs = 0;
	for (unsigned r = 0; r < 20; r++) {
		if (r == 10) { /* warm from here */
			refills = cache->refills;
			allocs = stats(a).allocs;
		}
		for (size_t i = 0; i < n; i++) {
			void **out = r & 1 ? again : first;
			cr_assert_not_null(out[i] = hk_arena_malloc(a, sz));
			memset(out[i], 0x5a, sz);
		}
		if (r >= 10)
			cr_assert_eq(cache->slow_pops, 0, "round %u: %llu pops left the fast path", r,
				     (unsigned long long)cache->slow_pops);
		hk_arena_reset(a);
		hk_validate_heap();
		cr_assert_geq(hk_bin_limit(l, a->bins, c) - hk_room(l, bin), (int64_t)n,
			      "round %u: the bin holds the run after the reset", r);
	}
	cr_assert_eq(cache->refills, refills, "%llu refills in 10 warm requests",
		     (unsigned long long)(cache->refills - refills));
	cr_assert_arr_eq(first, again, n * sizeof *first, "a request takes the blocks of the one before");
	hk_arena_stats_t s = stats(a);
	cr_assert_eq(s.allocs, allocs + 10 * n);
	cr_assert_eq(s.frees, 0);
	cr_assert_eq(s.live_bytes, 0);
	hk_arena_destroy(a);
}

/*
 * A reset looks only at the bins popped since the last one (core/lane.c
 * popped_bins: the sign of each set-up bin's room word, two at a time from
 * the highest class down). With every Tiny class up to 2 KiB set up, one
 * block of one class per request, each class in turn (the lowest, the
 * highest, odd and even places, and two neighbours at once): the next
 * request takes the same block, nothing is refilled, the stats count each
 * block. A missed bin would keep its head past the block (another block
 * next time). A bin popped and pushed (a free in the request) is seen and
 * the reset is a full one: three blocks of the class afterwards are three
 * blocks.
 */
Test(lane_cache, a_reset_rewinds_each_popped_class_and_no_other)
{
	hk_arena_t *a = hk_arena_create(NULL);
	/* Tiny's classes: a MID class's blocks come from spans of 8, which
	 * a rewind does not follow from one to the next (a full reset). */
	size_t top = HK_TINY_LAST >= 0 ? hk_class_size((unsigned)HK_TINY_LAST) : HK_SMALL_MAX;
	top = top < 2048 ? top : 2048;
	for (size_t sz = 16; sz + HK_CANARY <= top; sz += 16)
		cr_assert_not_null(hk_arena_malloc(a, sz));
	hk_arena_reset(a);
	hk_cache_t *c = hk_lane_cache(hk_lane_self, a->bins);
	uint64_t set = c->classes, refills = c->refills, allocs = stats(a).allocs, n = 0;
	cr_assert_gt(__builtin_popcountll(set), 8, "classes set up: %d", __builtin_popcountll(set));
	for (uint64_t m = set; m; m &= m - 1) {
		unsigned k = (unsigned)__builtin_ctzll(m);
		size_t sz = hk_class_size(k) - HK_CANARY;
		uint64_t next = m & (m - 1);
		size_t sz2 = next ? hk_class_size((unsigned)__builtin_ctzll(next)) - HK_CANARY : 0;
		void *p[2], *q[2];
		for (int r = 0; r < 2; r++) {
			void **out = r ? q : p;
			cr_assert_not_null(out[0] = hk_arena_malloc(a, sz));
			memset(out[0], 0x5a, sz);
			out[1] = sz2 ? hk_arena_malloc(a, sz2) : NULL;
			n += 1 + !!sz2;
			hk_arena_reset(a);
			hk_validate_heap();
		}
		cr_assert_eq(p[0], q[0], "class %u: the block of the request before", k);
		cr_assert_eq(p[1], q[1], "class %u's neighbour: the block of the request before", k);
	}
	cr_assert_eq(c->refills, refills, "%llu refills", (unsigned long long)(c->refills - refills));
	cr_assert_eq(c->classes, set);
	hk_arena_stats_t s = stats(a);
	cr_assert_eq(s.allocs, allocs + n);
	cr_assert_eq(s.live_bytes, 0);

	size_t sz = 48;
	void *p = hk_arena_malloc(a, sz), *q = hk_arena_malloc(a, sz);
	cr_assert(p && q && p != q);
	hk_free(p);
	hk_arena_reset(a);
	void *b[3];
	for (int i = 0; i < 3; i++) {
		cr_assert_not_null(b[i] = hk_arena_malloc(a, sz));
		memset(b[i], i, sz);
	}
	cr_assert(b[0] != b[1] && b[1] != b[2] && b[0] != b[2], "a block handed out twice");
	hk_arena_reset(a);
	hk_validate_heap();
	hk_arena_destroy(a);
}

/* Blocks another thread took from the arena (its cache given back when it
 * exited) leave the caller's bins no proof: that reset is a full one, its
 * bins emptied, the other thread's blocks free. */
static void *take_and_exit(void *arg)
{
	request(arg, 8, 3, NULL);
	return NULL;
}

Test(lane_cache, a_reset_after_another_threads_blocks_is_full)
{
	hk_arena_t *a = hk_arena_create(NULL);
	request(a, 4, 1, NULL);
	hk_arena_reset(a);
	request(a, 4, 1, NULL);
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, take_and_exit, a), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	hk_arena_reset(a);
	cr_assert_eq(hk_lane_cache(hk_lane_self, a->bins)->classes, 0, "the bins were emptied");
	cr_assert_eq(stats(a).live_bytes, 0);
	hk_arena_destroy(a);
}

/*
 * A default-heap bin that flushes again after a refill doubles its limit
 * instead of flushing, twice at most (lua's collector: sweeps wider than
 * the bin, then allocations); a bin fed by frees alone (a consumer of
 * another thread's blocks) keeps its limit; a trim sets every bin back.
 * The validator checks the room counters against the grown limits.
 */
Test(lane_cache, bins_grow_on_swings_only_and_trim_shrinks_them)
{
	enum { N = 8000 };
	static void *blk[N];
	size_t n = 200;
	unsigned c = cls_of(n);
	for (int i = 0; i < N; i++)
		cr_assert_not_null(blk[i] = hk_malloc(n));
	hk_trim(0); /* no refill since: the frees below only flush */
	hk_lane_t *l = hk_lane_self;
	int64_t base = hk_bin_limit(l, 0, c);
	cr_assert_lt(4 * base, N, "the test needs more blocks than a grown bin holds");
	for (int i = 0; i < N; i++)
		hk_free(blk[i]);
	cr_assert_eq(hk_bin_limit(l, 0, c), base, "frees alone grew the bin");
	for (int swing = 1; swing <= 4; swing++) {
		for (int i = 0; i < N; i++)
			cr_assert_not_null(blk[i] = hk_malloc(n));
		for (int i = 0; i < N; i++)
			hk_free(blk[i]);
		int64_t want = base << (swing < 2 ? swing : 2);
		cr_assert_eq(hk_bin_limit(l, 0, c), want, "swing %d: limit %lld, not %lld", swing,
			     (long long)hk_bin_limit(l, 0, c), (long long)want);
		hk_validate_heap();
	}
	hk_trim(0);
	cr_assert_eq(hk_bin_limit(l, 0, c), base, "a trim left the bin grown");
	hk_validate_heap();
}

/*
 * A thread's first refill of the default heap takes more than the 2 blocks a
 * user arena's first refill takes: with 2, the program's first class held
 * one block after its first malloc, and every malloc/free pair of it popped
 * the bin's last block (a NULL link: hk_next_get's slow branch).
 */
static void *first_refill(void *arg)
{
	unsigned c = cls_of(16);
	uint64_t *out = arg;
	void *p[4];
	for (int i = 0; i < 4; i++)
		p[i] = hk_malloc(16);
	out[0] = hk_lane_cache(hk_lane_self, 0)->refills;
	out[1] = HK_HEAD(hk_lane_self, hk_bin_of(0, c)) != NULL;
	for (int i = 0; i < 4; i++)
		hk_free(p[i]);
	return NULL;
}

Test(lane_cache, a_threads_first_refill_fills_more_than_two)
{
	pthread_t t;
	uint64_t out[2] = { 0, 0 };
	pthread_create(&t, NULL, first_refill, out);
	pthread_join(t, NULL);
	cr_assert_eq(out[0], 1, "4 mallocs of a new thread took %llu refills",
		     (unsigned long long)out[0]);
	cr_assert(out[1], "the first refill left the bin empty after 4 mallocs");
}

/*
 * A fresh thread's first refill of each class carves at most 1 KiB of it,
 * or 4 blocks: with one batch for the whole cache, doubling with each
 * refill of any class, every class after the fourth carved 16 KiB (128
 * blocks of 16 B), and a short program (git --version) touched pages for
 * blocks it never used. One malloc of every lane class; its bin then holds
 * what the refill took, less the block handed out.
 */
static void *first_refill_of_each_class(void *arg)
{
	unsigned *bad = arg;
	hk_lane_t *l;
	for (int c = 0; c < HK_NLANE; c++) {
		size_t n = hk_class_size(c), most = 1024 / n > 4 ? 1024 / n : 4;
		void *p = hk_malloc(n - HK_CANARY); /* the class itself, hardened too */
		l = hk_lane_self;
		int64_t took = hk_bin_limit(l, 0, c) - hk_room(l, hk_bin_of(0, c)) + 1;
		if ((!p || took > (int64_t)most) && !bad[2])
			bad[0] = (unsigned)c, bad[1] = (unsigned)took, bad[2] = 1;
		hk_free(p);
	}
	return NULL;
}

Test(lane_cache, a_threads_first_refill_of_a_class_carves_little)
{
	pthread_t t;
	unsigned bad[3] = { 0, 0, 0 };
	pthread_create(&t, NULL, first_refill_of_each_class, bad);
	pthread_join(t, NULL);
	cr_assert_eq(bad[2], 0, "the first refill of class %u (%zu B) took %u blocks", bad[0],
		     hk_class_size(bad[0]), bad[1]);
}

/*
 * free() tests the free mark's top byte (HK_MARK_TOP), then the whole word
 * on a match, inline: a live block whose byte 15 happens to equal it (one
 * byte in 256 of random data; pairs 16 stamps it every 256th pair) went
 * through free_slow and hk_cache_free before (~180 instructions).
 */
Test(lane_cache, mark_byte_alone_stays_on_the_fast_path)
{
	unsigned c = cls_of(16);
	void *keep = hk_malloc(16); /* the lane exists, the bin is set up */
	unsigned char *p = hk_malloc(16);
	hk_lane_t *l = hk_lane_self;
	hk_cache_t *cache = hk_lane_cache(l, 0);
	uint64_t slow = cache->slow_pushes; /* the pop above left room for one */
	p[15] = HK_MARK_TOP;
	hk_free(p);
	cr_assert_eq(HK_HEAD(l, hk_bin_of(0, c)), p, "the block went into the bin");
	cr_assert_eq(cache->slow_pushes, slow, "a live block took free's slow path");
	hk_free(keep);
}

/*
 * A steady malloc/free pair of one size, stamped as bench/pairs.c stamps it
 * (first and last byte; byte 15 takes every value, the mark's top byte
 * among them), never leaves the fast paths: no slow call, refill or flush,
 * and every pop and push is counted there (pairs_16's 73 instructions a
 * pair, 65.6 for mimalloc, are all fast-path instructions: callgrind found
 * no slow call to cut; fails if the mark byte, a refill/flush swing at the
 * bin's limit or anything else sends a pair off the fast path). The
 * sampler's countdown is pushed far out: a sample leaves it by design.
 */
Test(lane_cache, a_steady_pair_loop_stays_on_the_fast_paths)
{
	if (!CONFIG_HK_STATS)
		cr_skip_test("no slow-path counters in this configuration");
	static const size_t sizes[] = { 16, 48, 256, 1000, 4096, 32768 };
	enum { N = 4096 };
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		size_t n = sizes[k];
		if (n + HK_CANARY > HK_SMALL_MAX)
			continue;
		unsigned bin = hk_bin_of(0, cls_of(n));
		hk_free(hk_malloc(n)); /* the bin set up, a block in it */
		hk_lane_t *l = hk_lane_self;
		l->room[bin] += (int64_t)1 << (HK_ROOM_BITS + 30);
		HK_DRAWN(l, bin) += (uint64_t)1 << 30;
		hk_stats_t a, b;
		cr_assert_eq(hk_stats_get(&a), 0);
		for (unsigned i = 0; i < N; i++) {
			unsigned char *p = hk_malloc(n);
			cr_assert_not_null(p);
			p[0] = (unsigned char)i;
			p[15] = (unsigned char)i;
			p[n - 1] = (unsigned char)~i;
			hk_free(p);
		}
		cr_assert_eq(hk_stats_get(&b), 0);
		cr_assert_eq(b.malloc_slow - a.malloc_slow, 0, "%zu B: %llu slow mallocs", n,
			     (unsigned long long)(b.malloc_slow - a.malloc_slow));
		cr_assert_eq(b.free_slow - a.free_slow, 0, "%zu B: %llu slow frees", n,
			     (unsigned long long)(b.free_slow - a.free_slow));
		cr_assert_eq(b.refills - a.refills, 0, "%zu B: refills", n);
		cr_assert_eq(b.flushes - a.flushes, 0, "%zu B: flushes", n);
		cr_assert_eq(b.malloc_fast - a.malloc_fast, N, "%zu B: fast mallocs", n);
		cr_assert_eq(b.free_fast - a.free_fast, N, "%zu B: fast frees", n);
	}
}

/* A consumer's bins only receive frees: the producer carves new pages for
 * whatever they hold (prodcons' peak RSS was 1.27x mimalloc's with
 * consumer bins of up to 64 KiB per class, 1.04x with a quarter). */
struct consumer {
	void **blk;
	int n;
	unsigned c;
	int64_t most, limit;
};

static void *consume(void *arg)
{
	struct consumer *k = arg;
	for (int i = 0; i < k->n; i++) {
		hk_free(k->blk[i]);
		hk_lane_t *l = hk_lane_self;
		int64_t held = hk_bin_limit(l, 0, k->c) - hk_room(l, hk_bin_of(0, k->c));
		if (held > k->most)
			k->most = held;
	}
	k->limit = hk_bin_limit(hk_lane_self, 0, k->c);
	return NULL;
}

Test(lane_cache, a_bin_that_only_receives_frees_holds_a_quarter)
{
	enum { N = 4000 };
	static void *blk[N];
	size_t n = 48;
	struct consumer k = { .blk = blk, .n = N, .c = cls_of(n) };
	int64_t base = hk_bin_limit(hk_lane_self, 0, k.c);
	cr_assert_lt(2 * base, N, "the test needs more blocks than a bin holds");
	for (int i = 0; i < N; i++)
		cr_assert_not_null(blk[i] = hk_malloc(n));
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, consume, &k), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_leq(k.most, (base + 3) / 4, "the consumer's bin held %lld blocks, limit %lld",
		      (long long)k.most, (long long)base);
	cr_assert_eq(k.limit, (base + 3) / 4);
	hk_validate_heap();
}

/* ---- layout: hot metadata off the first blocks' page offsets -------------- */

/* A load meeting an older store of another size at the same page offset
 * waits for it (4K aliasing): the default row's bins and the first chunk's
 * descriptors stay off the first 2 KiB of a page, where a unit's first
 * blocks are (pairs_16's block was at offset 16, on bin 0's room and on
 * unit 0's descriptor), and no bin stores its head or room at the start
 * of a line, where a descriptor's 2-byte bin is. */
Test(lane_cache, hot_metadata_sits_off_the_first_blocks)
{
	void *p = hk_malloc(16);
	hk_lane_t *l = hk_lane_self;
	cr_assert_eq(l->state, HK_LANE_LIVE);
	for (unsigned c = 0; c < HK_NCLASS_MAX; c++) {
		unsigned bin = hk_bin_of(0, c);
		uintptr_t head = (uintptr_t)&HK_HEAD(l, bin), room = (uintptr_t)&l->room[bin];
		cr_assert_geq(head % 4096, 1024, "class %u's head at page offset %#lx", c,
			      (unsigned long)(head % 4096));
		cr_assert_geq(room % 4096, 1024, "class %u's room at page offset %#lx", c,
			      (unsigned long)(room % 4096));
		cr_assert_neq(head % 64, 0, "class %u's head starts a line", c);
		cr_assert_neq(room % 64, 0, "class %u's room starts a line", c);
	}
	for (uint32_t u = 0; u < HK_CHUNK_UNITS; u++)
		cr_assert_geq((uintptr_t)hk_desc_at(u) % 4096, 2048, "unit %u's descriptor", u);
	hk_free(p);
}

/* The fast paths count a bin's pops in its room word: the counts survive a
 * flush of the bins (which rewrites the rooms) and add up exactly. */
Test(lane_cache, fast_counts_survive_flushes)
{
	hk_stats_t a, b, c;
	hk_free(hk_malloc(16)); /* the bin set up and filled */
	cr_assert_eq(hk_stats_get(&a), 0);
	for (int i = 0; i < 1000; i++)
		hk_free(hk_malloc(16));
	cr_assert_eq(hk_stats_get(&b), 0);
	cr_assert_eq(b.malloc_fast - a.malloc_fast, 1000);
	cr_assert_eq(b.free_fast - a.free_fast, 1000);
	hk_trim(0);
	cr_assert_eq(hk_stats_get(&c), 0);
	cr_assert_eq(c.malloc_fast, b.malloc_fast, "a flush keeps the counts");
	cr_assert_eq(c.free_fast, b.free_fast);
}

/*
 * A full bin gives back its newest blocks, at most 16 KiB of them (core/lane.c
 * FLUSH_BYTES): the flush reads every block's link, one after the other, and
 * half a bin of 512-byte blocks (32 KiB, 128 KiB grown) had gone cold in
 * batch_shuffled (its free phase 0.47x mimalloc's speed, 0.74x with the cap).
 */
Test(lane_cache, a_flush_gives_back_at_most_16_kib)
{
	enum { N = 2000 };
	static void *blk[N];
	size_t n = 512;
	unsigned c = cls_of(n);
	int64_t cap = (16 << 10) / (int64_t)hk_class_size(c), flushes = 0;
	for (int i = 0; i < N; i++)
		cr_assert_not_null(blk[i] = hk_malloc(n));
	hk_trim(0); /* no refill since: the frees below only flush, no bin grows */
	hk_lane_t *l = hk_lane_self;
	int64_t limit = hk_bin_limit(l, 0, c), held = limit - hk_room(l, hk_bin_of(0, c));
	cr_assert_gt(limit / 2, cap, "the test needs a bin whose half is over 16 KiB");
	cr_assert_lt(2 * limit, N, "the test needs more blocks than the bin holds");
	for (int i = 0; i < N; i++) {
		hk_free(blk[i]);
		/* A sampled block (core/sample.c) does not come to the bin: held
		 * stays. A flush gives back cap blocks before the push. */
		int64_t now = limit - hk_room(l, hk_bin_of(0, c));
		if (now < held) {
			flushes++;
			cr_assert_eq(held + 1 - now, cap, "a flush gave back %lld blocks of %zu bytes",
				     (long long)(held + 1 - now), hk_class_size(c));
		}
		held = now;
	}
	cr_assert_gt(flushes, 0, "the frees never filled the bin");
	cr_assert_eq(hk_bin_limit(l, 0, c), limit, "frees alone grew the bin");
	hk_validate_heap();
}

/* The sampler's countdown is the count in a default-heap bin's room word
 * (core/types.h): the pop that takes it below 0 leaves the fast path, the
 * sampler draws the next interval, and the bin's count of pops stays
 * exact (fails with HK_ROOM_GIVE on hk_malloc's path: the pop stays fast
 * and the count goes to -1). */
Test(lane_cache, a_run_out_countdown_leaves_the_fast_path)
{
	if (!CONFIG_HK_SAMPLE)
		cr_skip_test("no sampler in this configuration");
	size_t n = 48;
	unsigned bin = hk_bin_of(0, cls_of(n));
	hk_free(hk_malloc(n)); /* the bin set up, a block in it */
	hk_lane_t *l = hk_lane_self;
	cr_assert_not_null(HK_HEAD(l, bin));
	uint64_t allocs = hk_bin_allocs(l, bin);
	HK_DRAWN(l, bin) -= (uint64_t)hk_room_count(l, bin);
	l->room[bin] &= HK_ROOM_MASK; /* the countdown at 0: the next pop runs it out */
	cr_assert_eq(hk_bin_allocs(l, bin), allocs);
	hk_stats_t a, b;
	cr_assert_eq(hk_stats_get(&a), 0);
	void *p = hk_malloc(n);
	cr_assert_not_null(p);
	cr_assert_eq(hk_stats_get(&b), 0);
	cr_assert_eq(b.malloc_fast, a.malloc_fast, "the pop left the fast path");
	cr_assert_eq(hk_bin_allocs(l, bin), allocs, "and was not counted there");
	cr_assert_geq(hk_room_count(l, bin), 0, "the next interval is drawn");
	hk_free(p);
	void *q = hk_malloc(n);
	cr_assert_eq(hk_bin_allocs(l, bin), allocs + 1,
		     "a pop inside the interval counts on the fast path");
	hk_free(q);
}

/*
 * hk_malloc's miss refills the bin in one call, and free()'s full bin
 * flushes in one (core/alloc.c malloc_refill, free_full): a trim request
 * that another thread left on the lane (hk_lanes_trim) must still be
 * honoured there, as the general slow paths do — every bin flushed, not
 * only the one at hand. Fails with the direct paths going on past the
 * request (lane.c lane_direct without its trim test).
 */
static void set_trim(hk_lane_t *l)
{
	atomic_store_explicit(&l->trim, 1, memory_order_relaxed);
}

static int64_t held(hk_lane_t *l, unsigned c)
{
	return hk_bin_limit(l, 0, c) - hk_room(l, hk_bin_of(0, c));
}

Test(lane_cache, a_refill_or_flush_from_the_fast_path_honours_a_trim)
{
	enum { N = 4000 };
	static void *blk[N];
	size_t n = 96, other = 32;
	unsigned c = cls_of(n), o = cls_of(other);
	hk_free(hk_malloc(other)); /* another class's bin holds blocks */
	hk_lane_t *l = hk_lane_self;
	cr_assert_gt(held(l, o), 0);
	/* Refill: class c's bin emptied, the next malloc misses. */
	int i = 0;
	blk[i++] = hk_malloc(n);
	while (HK_HEAD(l, hk_bin_of(0, c)) && i < N)
		blk[i++] = hk_malloc(n);
	cr_assert_null(HK_HEAD(l, hk_bin_of(0, c)), "the bin never ran empty");
	set_trim(l);
	blk[i++] = hk_malloc(n);
	cr_assert_eq(atomic_load(&l->trim), 0, "the refill left the trim request");
	cr_assert_eq(held(l, o), 0, "the refill did not flush the other bins");
	/* Flush: class c's bin full, the next free finds no room. */
	hk_free(hk_malloc(other));
	cr_assert_gt(held(l, o), 0);
	while (i < N)
		blk[i++] = hk_malloc(n);
	hk_trim(0);
	int k = 0;
	while (hk_room(l, hk_bin_of(0, c)) > 0 && k < N)
		hk_free(blk[k++]);
	cr_assert_eq(hk_room(l, hk_bin_of(0, c)), 0, "the bin never filled");
	set_trim(l);
	hk_free(blk[k++]);
	cr_assert_eq(atomic_load(&l->trim), 0, "the flush left the trim request");
	cr_assert_eq(held(l, o), 0, "the flush did not flush the other bins");
	while (k < N)
		hk_free(blk[k++]);
	hk_validate_heap();
}

/*
 * A malloc that refills its bin counts its bytes down in the slow paths'
 * sampler countdown (sample_left), as malloc_slow did for it: once the
 * countdown runs out there, the malloc goes to the sampler, which draws
 * the next interval. Fails with the refill's countdown left out (the
 * count stays where it was, or goes below 0 and stays).
 */
Test(lane_cache, a_refill_counts_down_to_a_sample)
{
	if (!CONFIG_HK_SAMPLE)
		cr_skip_test("no sampler in this configuration");
	enum { N = 4000 };
	static void *blk[N];
	size_t n = 160;
	unsigned bin = hk_bin_of(0, cls_of(n));
	hk_free(hk_malloc(n)); /* the bin set up */
	hk_lane_t *l = hk_lane_self;
	hk_cache_t *cache = hk_lane_cache(l, 0);
	int i = 0;
	for (int round = 0; round < 2; round++) {
		while (HK_HEAD(l, bin) && i < N)
			blk[i++] = hk_malloc(n);
		cr_assert_null(HK_HEAD(l, bin), "the bin never ran empty");
		/* Round 0: room for this malloc; round 1: one byte short. */
		int64_t left = round ? (int64_t)n - 1 : (int64_t)1 << 40;
		cache->sample_left = left;
		uint64_t refills = cache->refills;
		blk[i++] = hk_malloc(n);
		cr_assert_not_null(blk[i - 1]);
		if (!round) {
			cr_assert_eq(cache->refills, refills + 1, "the malloc did not refill");
			cr_assert_eq(cache->sample_left, left - (int64_t)n,
				     "the refill's bytes were not counted down");
		} else {
			cr_assert_geq(cache->sample_left, 0, "the run-out countdown was not sampled");
		}
	}
	while (i > 0)
		hk_free(blk[--i]);
	hk_validate_heap();
}

struct draw {
	hk_lane_t *lane;
	uint64_t drawn;
	int64_t left;
};

static void *draw_once(void *arg)
{
	struct draw *d = arg;
	size_t n = 48;
	hk_free(hk_malloc(n)); /* the lane and its bin set up: intervals drawn */
	d->lane = hk_lane_self;
	d->drawn = HK_DRAWN(d->lane, hk_bin_of(0, cls_of(n)));
	d->left = hk_lane_cache(d->lane, 0)->sample_left;
	return NULL;
}

/* A thread on a recycled lane draws other sampling intervals than the
 * lane's last thread: seeded from the lane's address alone, each thread
 * replayed the same intervals, so a program of short-lived threads had the
 * same pops of each guarded (fails with retire's count left out of the
 * seed: both threads draw the same). */
Test(lane_cache, a_recycled_lane_draws_new_intervals)
{
	if (!CONFIG_HK_SAMPLE)
		cr_skip_test("no sampler in this configuration");
	struct draw d[2];
	for (int i = 0; i < 2; i++) {
		pthread_t t;
		cr_assert_eq(pthread_create(&t, NULL, draw_once, &d[i]), 0);
		pthread_join(t, NULL);
	}
	if (d[0].lane != d[1].lane)
		cr_skip_test("the second thread did not get the first one's lane");
	cr_assert(d[0].drawn != d[1].drawn || d[0].left != d[1].left,
		  "the second thread replayed the first one's intervals");
}
