/*
 * test/api/test_arena_api.c — the arena API's contract through hakmem.h:
 * create with defaults or a config, allocation functions and their errno,
 * hk_arena_of/hk_usable_size/hk_free across arenas, statistics counters,
 * and capacity exhaustion (NULL + ENOMEM + failed_allocs, nothing else
 * breaks, the arena recovers once blocks are freed).
 */
#include <errno.h>
#include <stdlib.h>

#include "arena_test.h"

Test(arena_api, defaults_and_names)
{
	hk_arena_t *a = hk_arena_create(NULL);
	cr_assert_not_null(a, "NULL config gives the defaults");
	hk_arena_stats_t s = arena_stats(a);
	cr_assert_eq(s.capacity, 0, "unlimited");
	cr_assert_eq(s.numa_node, HK_NODE_LOCAL);
	cr_assert_eq(s.policy, HK_HUGEPAGE_AUTO);
	cr_assert_eq(s.live_bytes, 0);
	cr_assert_eq(s.allocs, 0);
	cr_assert_eq(s.failed_allocs, 0);
	hk_arena_destroy(a);

	char name[64];
	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .name = name };
	a = hk_arena_create(&cfg);
	cr_assert_not_null(a);
	name[0] = 'y'; /* the arena copied it */
	s = arena_stats(a);
	cr_assert_eq(s.name[sizeof(s.name) - 1], '\0', "name truncated and terminated");
	cr_assert_eq(s.name[0], 'x');
	hk_arena_destroy(a);
}

/* A config hakmem cannot honour is refused with EINVAL, never half taken:
 * a flag bit it does not know, a policy past the last. */
Test(arena_api, unknown_flags_and_policies_are_refused)
{
	static const unsigned bad_flags[] = { 0x4, 0x80, 0x80000000u, HK_ARENA_BUMP | 0x10 };
	for (size_t i = 0; i < sizeof bad_flags / sizeof bad_flags[0]; i++) {
		hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .flags = bad_flags[i] };
		errno = 0;
		cr_assert_null(hk_arena_create(&cfg), "flags %#x accepted", bad_flags[i]);
		cr_assert_eq(errno, EINVAL, "flags %#x: errno %d", bad_flags[i], errno);
	}
	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .hugepages = HK_HUGEPAGE_1G + 1 };
	errno = 0;
	cr_assert_null(hk_arena_create(&cfg));
	cr_assert_eq(errno, EINVAL);
	cfg.hugepages = HK_HUGEPAGE_AUTO;
	cfg.flags = HK_ARENA_BUMP | HK_ARENA_ZERO_ON_RESET; /* every known flag at once */
	hk_arena_t *a = hk_arena_create(&cfg);
	cr_assert_not_null(a);
	hk_arena_destroy(a);
}

/* The first hakmem call of the process goes through the default arena's
 * handle (each Criterion test runs in a fresh process): it must initialise
 * the allocator, not see an unset arena. */
Test(arena_api, default_arena_as_first_call)
{
	hk_arena_t *d = hk_arena_default();
	cr_assert_not_null(d);
	void *p = hk_arena_malloc(d, 100);
	cr_assert_not_null(p);
	cr_assert_eq(hk_arena_of(p), d);
	p = hk_arena_realloc(d, p, 5000);
	cr_assert_not_null(p);
	cr_assert_eq(hk_arena_of(p), d);
	hk_free(p);
	hk_arena_stats_t s;
	cr_assert_eq(hk_arena_stats(d, &s), 0);
}

Test(arena_api, default_arena_stats_as_first_call)
{
	hk_arena_stats_t s = arena_stats(hk_arena_default());
	cr_assert_eq(s.capacity, 0);
}

/* The process heap is never reset or destroyed: both calls leave it alone. */
Test(arena_api, default_arena_survives_reset_and_destroy)
{
	char *p = hk_malloc(1000);
	cr_assert_not_null(p);
	fill(p, 1000, 9);
	hk_arena_reset(hk_arena_default());
	hk_arena_destroy(hk_arena_default());
	cr_assert(check_fill(p, 1000, 9), "a default-heap block survived");
	void *q = hk_arena_malloc(hk_arena_default(), 1000);
	cr_assert_not_null(q);
	cr_assert_neq(q, p);
	hk_free(q);
	hk_free(p);
}

Test(arena_api, allocation_functions)
{
	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .name = "api" };
	hk_arena_t *a = hk_arena_create(&cfg);
	cr_assert_not_null(a);
	static const size_t sizes[] = { 1, 16, 100, 1040, 4096, 40000, 300000, (size_t)40 << 20 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned char *p = hk_arena_malloc(a, sizes[i]);
		cr_assert_not_null(p, "size %zu", sizes[i]);
		cr_assert_eq((uintptr_t)p % 16, 0, "16-byte aligned");
		cr_assert_geq(hk_usable_size(p), sizes[i]);
		cr_assert_eq(hk_arena_of(p), a, "size %zu: block knows its arena", sizes[i]);
		fill(p, hk_usable_size(p), i);
		unsigned char *z = hk_arena_calloc(a, 1, sizes[i]);
		cr_assert_not_null(z);
		for (size_t j = 0; j < sizes[i]; j += 4093)
			cr_assert_eq(z[j], 0, "calloc zeroes");
		cr_assert(check_fill(p, hk_usable_size(p), i), "neighbour untouched");
		hk_free(z);
		hk_free(p);
	}
	/* realloc keeps contents and stays in the arena, both directions. */
	char *r = hk_arena_realloc(a, NULL, 10);
	cr_assert_not_null(r);
	fill(r, 10, 5);
	r = hk_arena_realloc(a, r, 500000);
	cr_assert(r && check_fill(r, 10, 5) && hk_arena_of(r) == a);
	r = hk_arena_realloc(a, r, 8);
	cr_assert(r && check_fill(r, 8, 5) && hk_arena_of(r) == a);
	hk_free(r);
	for (size_t al = 16; al <= ((size_t)4 << 20); al <<= 1) {
		void *p = hk_arena_aligned_alloc(a, al, al);
		cr_assert(p && (uintptr_t)p % al == 0, "alignment %zu", al);
		cr_assert_eq(hk_arena_of(p), a);
		hk_free(p);
	}
	errno = 0;
	cr_assert_null(hk_arena_aligned_alloc(a, 48, 64));
	cr_assert_eq(errno, EINVAL, "non-power-of-two alignment");
	errno = 0;
	cr_assert_null(hk_arena_calloc(a, SIZE_MAX / 2, 3));
	cr_assert_eq(errno, ENOMEM, "calloc overflow");
	errno = 0;
	cr_assert_null(hk_arena_malloc(a, SIZE_MAX - 100));
	cr_assert_eq(errno, ENOMEM);
	hk_arena_destroy(a);
}

Test(arena_api, pointers_of_any_arena)
{
	hk_arena_t *a = hk_arena_create(NULL), *b = hk_arena_create(NULL);
	cr_assert(a && b && a != b);
	void *pa = hk_arena_malloc(a, 64), *pb = hk_arena_malloc(b, 64), *pd = hk_malloc(64);
	cr_assert(pa && pb && pd);
	cr_assert_eq(hk_arena_of(pa), a);
	cr_assert_eq(hk_arena_of(pb), b);
	cr_assert_eq(hk_arena_of(pd), hk_arena_default(), "the default heap is an arena");
	void *pd2 = hk_arena_malloc(hk_arena_default(), 64);
	cr_assert_eq(hk_arena_of(pd2), hk_arena_default());
	int on_stack;
	void *foreign = malloc(64); /* glibc's: hakmem.a does not replace malloc */
	cr_assert_null(hk_arena_of(&on_stack));
	cr_assert_null(hk_arena_of(foreign));
	cr_assert_null(hk_arena_of(NULL));
	free(foreign);
	errno = 4321;
	hk_free(pa);
	hk_free(pb);
	hk_free(pd);
	hk_free(pd2);
	hk_free(NULL);
	cr_assert_eq(errno, 4321, "hk_free keeps errno");
	cr_assert_eq(hk_usable_size(NULL), 0);
	hk_arena_stats_t s = arena_stats(a);
	cr_assert_eq(s.allocs, 1);
	cr_assert_eq(s.frees, 1);
	cr_assert_eq(s.live_bytes, 0);
	hk_arena_destroy(a);
	hk_arena_destroy(b);
}

Test(arena_api, stats_count_live_bytes)
{
	hk_arena_t *a = hk_arena_create(NULL);
	void *p[100];
	size_t usable = 0;
	for (int i = 0; i < 100; i++) {
		p[i] = hk_arena_malloc(a, 1000);
		cr_assert_not_null(p[i]);
		usable += hk_usable_size(p[i]);
	}
	hk_arena_stats_t s = arena_stats(a);
	cr_assert_eq(s.allocs, 100);
	/* live_bytes counts whole blocks: the usable bytes, plus in a hardened
	 * build the canary's room behind each request (at most a class step). */
	cr_assert_geq(s.live_bytes, usable, "live %zu, usable sum %zu", s.live_bytes, usable);
	cr_assert_leq(s.live_bytes, usable + usable / 4, "live %zu, usable sum %zu", s.live_bytes, usable);
	cr_assert_geq(s.committed_bytes, usable);
	cr_assert_geq(s.reserved_bytes, s.committed_bytes);
	cr_assert_neq(s.backing, HK_BACKING_NONE, "memory committed, so a backing was used");
	for (int i = 0; i < 100; i++)
		hk_free(p[i]);
	s = arena_stats(a);
	cr_assert_eq(s.frees, 100);
	cr_assert_eq(s.live_bytes, 0);
	hk_arena_destroy(a);
}

/* Fills the arena with `size` blocks until it says no; returns how many,
 * and in *usable the bytes they offer (a configuration without Tiny or MID
 * serves small sizes from 64 KiB POOL blocks: budgets are in usable bytes). */
static size_t exhaust(hk_arena_t *a, size_t size, void **blocks, size_t max, size_t *usable)
{
	size_t n = 0;
	*usable = 0;
	errno = 0;
	while (n < max && (blocks[n] = hk_arena_malloc(a, size)) != NULL) {
		fill(blocks[n], size, n);
		*usable += hk_usable_size(blocks[n]);
		n++;
	}
	cr_assert_lt(n, max, "capacity never reached with %zu blocks of %zu", n, size);
	cr_assert_eq(errno, ENOMEM, "errno %d at the capacity", errno);
	return n;
}

Test(arena_api, capacity_exhaustion)
{
	const size_t cap = 8 * MIB;
	hk_arena_config_t cfg = { .capacity = cap, .numa_node = HK_NODE_LOCAL, .name = "capped" };
	hk_arena_t *a = hk_arena_create(&cfg), *other = hk_arena_create(NULL);
	cr_assert(a && other);
	size_t max = 2 * cap / 1024;
	void **blocks = calloc(max, sizeof(void *));
	size_t usable, n = exhaust(a, 1024, blocks, max, &usable);
	cr_assert_geq(usable, cap / 2, "only %zu KiB of an 8 MiB budget usable", usable >> 10);
	cr_assert_leq(usable, cap, "%zu KiB usable from an 8 MiB budget", usable >> 10);
	hk_arena_stats_t s = arena_stats(a);
	cr_assert_eq(s.capacity, cap);
	cr_assert_leq(s.committed_bytes, cap, "committed %zu over the capacity", s.committed_bytes);
	cr_assert_eq(s.failed_allocs, 1);
	cr_assert_eq(s.allocs, n);

	/* Every other way in says no too, and leaves blocks alone. */
	errno = 0;
	cr_assert_null(hk_arena_malloc(a, 2 * cap));
	cr_assert_eq(errno, ENOMEM);
	cr_assert_null(hk_arena_aligned_alloc(a, 4096, 4 * MIB));
	cr_assert_null(hk_arena_calloc(a, 1024, 1024));
	void *grown = hk_arena_realloc(a, blocks[0], 4 * MIB);
	cr_assert_null(grown, "realloc past the capacity fails");
	cr_assert(check_fill(blocks[0], 1024, 0), "a failed realloc keeps the block");
	cr_assert_geq(arena_stats(a).failed_allocs, 5);

	/* Nothing else is affected. */
	void *d = hk_malloc(4 * MIB), *o = hk_arena_malloc(other, 4 * MIB);
	cr_assert(d && o, "the default heap and other arenas still allocate");
	hk_free(d);
	hk_free(o);
	for (size_t i = 0; i < n; i++)
		cr_assert(check_fill(blocks[i], 1024, i), "block %zu intact", i);

	/* Freed blocks make room again. */
	for (size_t i = 0; i < n; i++)
		hk_free(blocks[i]);
	cr_assert_eq(arena_stats(a).live_bytes, 0);
	size_t again = exhaust(a, 1024, blocks, max, &usable);
	cr_assert_geq(again, n * 9 / 10, "%zu blocks after freeing, %zu before", again, n);
	for (size_t i = 0; i < again; i++)
		hk_free(blocks[i]);
	free(blocks);
	hk_arena_destroy(a);
	hk_arena_destroy(other);
}

Test(arena_api, capacity_with_large_blocks)
{
	const size_t cap = 16 * MIB;
	hk_arena_config_t cfg = { .capacity = cap, .numa_node = HK_NODE_LOCAL, .name = "capped-large" };
	hk_arena_t *a = hk_arena_create(&cfg);
	cr_assert_not_null(a);
	void *blocks[64];
	size_t usable, n = exhaust(a, 3 * MIB, blocks, 64, &usable);
	cr_assert_geq(n, 2, "a 16 MiB budget holds at least two 3 MiB blocks");
	cr_assert_leq(n * 3 * MIB, cap);
	hk_arena_stats_t s = arena_stats(a);
	cr_assert_leq(s.committed_bytes, cap, "%zu blocks of 3 MiB: %zu bytes committed, capacity %zu",
		      n, s.committed_bytes, cap);
	hk_free(blocks[0]);
	blocks[0] = hk_arena_malloc(a, 3 * MIB);
	cr_assert_not_null(blocks[0], "the freed space is usable again");
	for (size_t i = 0; i < n; i++)
		hk_free(blocks[i]);
	hk_arena_destroy(a);
}

/* realloc (the libc-style call, no arena named) keeps a user arena's block in
 * its arena, in place or moved: the default heap's inline realloc once took
 * every slab block for its own (found by the fuzzer). */
Test(arena_api, realloc_keeps_the_blocks_arena)
{
	hk_arena_t *a = hk_arena_create(NULL);
	cr_assert_not_null(a);
	char *p = hk_arena_malloc(a, 24);
	cr_assert_not_null(p);
	memset(p, 7, 24);
	for (size_t n = 32; n <= 64 * 1024; n *= 2) {
		p = hk_realloc(p, n);
		cr_assert_not_null(p);
		cr_assert_eq(hk_arena_of(p), a, "realloc to %zu moved the block out of its arena", n);
		cr_assert_eq(p[0], 7);
		cr_assert_eq(p[23], 7);
	}
	hk_free(p);
	hk_arena_destroy(a);
}
