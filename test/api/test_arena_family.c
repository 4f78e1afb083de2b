/*
 * test/api/test_arena_family.c — child arenas (hk_arena_config_t.parent)
 * through hakmem.h: a child is reset with its parent and destroyed with it,
 * down a chain of grandchildren; destroying a child alone detaches it; a
 * destroyed family's handles and blocks are invalid. Region and ordinary
 * arenas mix in one family.
 */
#include <errno.h>
#include <stdlib.h>

#include "arena_test.h"

static hk_arena_t *child_of(hk_arena_t *parent, unsigned flags)
{
	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .flags = flags, .parent = parent };
	hk_arena_t *a = hk_arena_create(&cfg);
	cr_assert_not_null(a);
	return a;
}

static void *use(hk_arena_t *a, size_t n, uint64_t tag)
{
	void *p = hk_arena_malloc(a, n);
	cr_assert_not_null(p);
	fill(p, n, tag);
	return p;
}

Test(arena_family, reset_with_parent)
{
	hk_arena_t *parent = child_of(NULL, 0);
	hk_arena_t *kid = child_of(parent, HK_ARENA_BUMP), *kid2 = child_of(parent, 0);
	void *pp = use(parent, 100, 1), *kp = use(kid, 100, 2), *k2 = use(kid2, 5000, 3);
	cr_assert_eq(hk_arena_of(kp), kid);
	cr_assert_eq(hk_arena_of(k2), kid2);
	cr_assert_gt(arena_stats(kid).live_bytes, 0);
	(void)pp;
	(void)k2;
	hk_arena_reset(parent);
	cr_assert_eq(arena_stats(parent).live_bytes, 0);
	cr_assert_eq(arena_stats(kid).live_bytes, 0);
	cr_assert_eq(arena_stats(kid2).live_bytes, 0);
	/* Resetting a child leaves its parent alone. */
	pp = use(parent, 100, 4);
	use(kid, 100, 5);
	hk_arena_reset(kid);
	cr_assert_gt(arena_stats(parent).live_bytes, 0);
	cr_assert(check_fill(pp, 100, 4));
	hk_arena_destroy(parent);
}

static void stats_of(void *a)
{
	hk_arena_stats_t s;
	hk_arena_stats(a, &s);
}

static void malloc_from(void *a)
{
	void *p = hk_arena_malloc(a, 64);
	fprintf(stderr, "returned %p\n", p);
}

Test(arena_family, destroyed_with_parent)
{
	hk_arena_t *parent = child_of(NULL, HK_ARENA_BUMP);
	hk_arena_t *kid = child_of(parent, HK_ARENA_BUMP), *kid2 = child_of(parent, 0);
	void *kp = use(kid, 100, 1), *k2 = use(kid2, 100, 2), *big = use(kid2, 1 << 20, 3);
	hk_arena_destroy(parent);
	cr_assert_null(hk_arena_of(kp), "a destroyed child's blocks are no one's");
	cr_assert_null(hk_arena_of(k2));
	cr_assert_null(hk_arena_of(big));
	expect_abort(stats_of, kid, "destroyed");
	expect_abort(malloc_from, kid2, "destroyed");
	expect_abort(stats_of, parent, "destroyed");
}

Test(arena_family, grandchildren)
{
	hk_arena_t *a = child_of(NULL, 0);
	hk_arena_t *b = child_of(a, HK_ARENA_BUMP);
	hk_arena_t *c = child_of(b, 0);
	hk_arena_t *d = child_of(c, HK_ARENA_BUMP);
	use(d, 300, 1);
	use(c, 300, 2);
	hk_arena_reset(a);
	cr_assert_eq(arena_stats(d).live_bytes, 0, "a great-grandchild is reset too");
	cr_assert_eq(arena_stats(c).live_bytes, 0);
	/* Destroying b alone takes c and d along and detaches b from a. */
	void *dp = use(d, 300, 3);
	hk_arena_destroy(b);
	cr_assert_null(hk_arena_of(dp));
	expect_abort(stats_of, d, "destroyed");
	expect_abort(stats_of, c, "destroyed");
	/* a's family is empty now: a new arena may reuse a dead one's slot,
	 * and a's reset and destroy must not touch it. */
	hk_arena_t *other = child_of(NULL, HK_ARENA_BUMP);
	void *op = use(other, 500, 4);
	use(a, 64, 5);
	hk_arena_reset(a);
	hk_arena_destroy(a);
	cr_assert_eq(hk_arena_of(op), other);
	cr_assert(check_fill(op, 500, 4));
	cr_assert_gt(arena_stats(other).live_bytes, 0);
	hk_arena_destroy(other);
}

Test(arena_family, detached_child_lives_alone)
{
	hk_arena_t *a = child_of(NULL, 0);
	hk_arena_t *k1 = child_of(a, 0), *k2 = child_of(a, HK_ARENA_BUMP), *k3 = child_of(a, 0);
	hk_arena_destroy(k2); /* the middle of the children's list */
	void *p1 = use(k1, 100, 1), *p3 = use(k3, 100, 3);
	hk_arena_reset(a);
	cr_assert_eq(arena_stats(k1).live_bytes, 0);
	cr_assert_eq(arena_stats(k3).live_bytes, 0);
	(void)p1;
	(void)p3;
	hk_arena_destroy(k1);
	hk_arena_destroy(a);
	expect_abort(stats_of, k3, "destroyed");
}

Test(arena_family, bad_parents)
{
	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .parent = hk_arena_default() };
	errno = 0;
	cr_assert_null(hk_arena_create(&cfg), "the default heap is nobody's parent");
	cr_assert_eq(errno, EINVAL);
}

static void create_under_dead(void *arg)
{
	(void)arg;
	hk_arena_t *p = hk_arena_create(NULL);
	hk_arena_destroy(p);
	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .parent = p };
	hk_arena_t *a = hk_arena_create(&cfg);
	fprintf(stderr, "created %p\n", (void *)a);
}

Test(arena_family, dead_parent_aborts)
{
	expect_abort(create_under_dead, NULL, "destroyed");
}
