/*
 * test/unit/test_core.c — core internals: size classes (table against the
 * formula, waste bound, alignment), descriptor lookup (every unit of a
 * span reaches its head; foreign pointers are rejected) and span
 * coalescing in a private arena (free neighbours merge back into one span).
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "core/init.h"
#include "core/lock.h"
#include "core/region.h"
#include "core/sizeclass.h"
#include "core/span.h"

static void init(void) { cr_assert_eq(hk_init(), 0); }

TestSuite(core, .init = init);

Test(core, class_table_matches_formula)
{
	/* Up to the 64th class's size (384 KiB): the formula goes on above. */
	for (size_t n = 0; n <= HK_CLASS_SIZE_CONST(63); n += n < 8192 ? 1 : 61) {
		unsigned c = hk_class_of(n);
		cr_assert_lt(c, 64u);
		cr_assert_geq(hk_class_size(c), n, "class of %zu too small", n);
		if (c > 0)
			cr_assert_lt(hk_class_size(c - 1), n ? n : 1, "class of %zu not the smallest", n);
		if (n > 128)
			cr_assert_leq(hk_class_size(c) - n, n / 4, "waste above 25%% at %zu", n);
		cr_assert_eq(hk_class_size(c) % 16, 0);
	}
	for (unsigned c = 0; c < 64; c++)
		cr_assert_eq(hk_class_of(hk_class_size(c)), c);
	for (size_t n = HK_CLASS_TABLE_MAX + 1; n <= HK_CLASS_TABLE2_MAX; n++)
		cr_assert_eq(hk_class_table2[(n + 255) >> 8], hk_class_of_big(n) * HK_CLASS_SCALE,
			     "table2 at %zu", n);
}

/* malloc(req) comes from a slab of bsize-byte blocks (the lanes serve the
 * class through hk_malloc's lookup, not only hk_class_of). */
static void assert_slab_block(size_t req, size_t bsize)
{
	void *p = hk_malloc(req);
	hk_desc_t *d = hk_desc_of(p);
	cr_assert(d != NULL && d->kind == HK_KIND_SLAB);
	cr_assert_eq(hk_class_size(hk_desc_cls(d)), bsize, "malloc(%zu)", req);
	hk_free(p);
}

/* 8 classes per power of two in (256, 1024]: 32 B steps to 512, 64 B
 * steps to 1024 (jq's 272, 400 and 784 B blocks took 320, 448 and 896). */
Test(core, fine_classes)
{
	for (size_t n = 129; n <= 1024; n++) {
		size_t step = n <= 512 ? 32 : 64;
		size_t want = (n + step - 1) / step * step;
		cr_assert_eq(hk_class_size(hk_class_of(n)), want, "class of %zu", n);
		cr_assert_eq(HK_CLASS_SIZE_CONST(HK_CLASS_OF_CONST(n)), want, "constant class of %zu", n);
	}
	size_t req[3] = { 272, 400, 784 }, bsize[3] = { 288, 416, 832 };
	for (int i = 0; i < 3 && HK_SMALL_MAX >= 1024; i++)
		assert_slab_block(req[i], bsize[i]);
}

/* The split classes: sqlite3's page-cache blocks (1,032 and 4,368 B
 * requests, 44.6 MB live at its peak) take 1152 and 4608 B, not 1280 and
 * 5120, and the classes around them keep their sizes. */
Test(core, split_classes)
{
	for (size_t n = 1025; n <= 5120; n++) {
		size_t want = n <= 1152 ? 1152 : n <= 1280 ? 1280 : n <= 4096 ? hk_class_size(hk_class_of(n))
			    : n <= 4608 ? 4608 : 5120;
		cr_assert_eq(hk_class_size(hk_class_of(n)), want, "class of %zu", n);
		cr_assert_eq(HK_CLASS_SIZE_CONST(HK_CLASS_OF_CONST(n)), want, "constant class of %zu", n);
	}
	cr_assert_eq(hk_class_size(hk_class_of(1024)), 1024u);
	cr_assert_eq(hk_class_size(hk_class_of(4096)), 4096u);
	cr_assert_eq(hk_class_size(hk_class_of(1536)), 1536u);
	cr_assert_eq(hk_class_size(hk_class_of(6144)), 6144u);
	size_t req[2] = { 1032, 4368 }, bsize[2] = { 1152, 4608 };
	for (int i = 0; i < 2; i++)
		if (HK_SMALL_MAX >= bsize[i])
			assert_slab_block(req[i], bsize[i]);
}

Test(core, band_limits)
{
	if (CONFIG_HK_TINY)
		cr_assert_geq(hk_class_size((unsigned)HK_TINY_LAST), 1040u);
	if (HK_NLANE > 0)
		cr_assert_eq(hk_small_max(), hk_class_size((unsigned)HK_NLANE - 1));
	for (unsigned c = 0; c < 64; c++) {
		uint64_t m = hk_divm(hk_class_size(c));
		for (uint64_t off = 0; off < ((uint64_t)2 << 20); off += 1 + off % 7)
			cr_assert_eq(off * m < m, off % hk_class_size(c) == 0, "off %llu class %u",
				     (unsigned long long)off, c);
	}
}

/* free()'s one compare (core/region.h hk_desc_set_carved): (p - start) *
 * divm below the unit's lim iff p is a block boundary below the carved
 * end, for every class, powers of two included (with ceil(2^64 / bsize)
 * their blocks all gave 0 and no carved end could be told apart). */
Test(core, carved_limit)
{
	for (unsigned c = 0; c < 64; c++) {
		uint64_t b = hk_class_size(c), m = hk_divm(b);
		uint64_t span = b > HK_UNIT / 2 ? 8 * b : 2 * HK_UNIT;
		for (uint64_t k = 0; k * b <= span; k += 1 + k / 3) {
			uint64_t lim = k * b * m; /* hk_desc_set_carved's, carved end at block k */
			for (uint64_t off = 0; off < span; off += 1 + off % 13 + (b > 4096) * b / 3)
				cr_assert_eq(off * m < lim, off % b == 0 && off / b < k,
					     "class %u carved %llu off %llu", c, (unsigned long long)k,
					     (unsigned long long)off);
			for (uint64_t j = k > 2 ? k - 2 : 0; j < k + 2; j++)
				cr_assert_eq(j * b * m < lim, j < k, "class %u carved %llu block %llu", c,
					     (unsigned long long)k, (unsigned long long)j);
		}
	}
}

Test(core, descriptor_lookup)
{
	int stack;
	cr_assert_null(hk_desc_of(NULL));
	cr_assert_null(hk_desc_of(&stack));
	void *big = hk_malloc((size_t)1 << 20);
	cr_assert_not_null(big);
	hk_desc_t *d = hk_desc_of(big);
	if (CONFIG_HK_POOL) {
		cr_assert_not_null(d);
		cr_assert_eq(d->kind, HK_KIND_POOL);
		for (size_t off = 0; off < ((size_t)1 << 20); off += HK_UNIT) {
			hk_desc_t *e = hk_desc_of((char *)big + off);
			cr_assert_eq(e->start, (uintptr_t)big);
		}
	}
	hk_free(big);
	if (HK_NLANE > 0) {
		char *p = hk_malloc(100);
		d = hk_desc_of(p);
		cr_assert_not_null(d);
		cr_assert_eq(d->kind, HK_KIND_SLAB);
		cr_assert_geq(hk_class_size(hk_desc_cls(d)), hk_usable_size(p));
		cr_assert_geq(hk_usable_size(p), 100u);
		hk_free(p);
	}
}

Test(core, span_coalescing)
{
	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .hugepages = HK_HUGEPAGE_NONE };
	hk_arena_t *a = hk_arena_create(&cfg);
	cr_assert_not_null(a);
	uint32_t s[4];
	hk_lock(&a->lock);
	for (int i = 0; i < 4; i++) {
		s[i] = hk_span_alloc(a, 4, 1, 0);
		cr_assert_neq(s[i], HK_NIL);
		hk_span_mark(s[i], 4, HK_KIND_POOL, 0, a->index, 4 * HK_UNIT);
	}
	/* First fit in a fresh run: the spans are adjacent. */
	for (int i = 1; i < 4; i++)
		cr_assert_eq(s[i], s[i - 1] + 4);
	hk_span_free(a, s[1], 4, 1);
	hk_span_free(a, s[3], 4, 1);
	cr_assert_eq(hk_desc_at(s[1])->units, 4u);
	hk_span_free(a, s[2], 4, 1); /* joins s[1] and the free rest of the run */
	cr_assert_eq(hk_desc_at(s[1])->kind, HK_KIND_FREE);
	cr_assert_eq(hk_desc_at(s[1])->units, HK_CHUNK_UNITS - HK_RUN_GUARD - 4);
	hk_span_free(a, s[0], 4, 1);
	cr_assert_eq(hk_desc_at(s[0])->units, HK_CHUNK_UNITS - HK_RUN_GUARD, "whole run is one free span");
	/* An aligned span of 8 units starts on a 512 KiB boundary. */
	uint32_t al = hk_span_alloc(a, 8, 8, 0);
	cr_assert_neq(al, HK_NIL);
	cr_assert_eq((uintptr_t)hk_unit_addr(al) % (8 * HK_UNIT), 0);
	hk_span_free(a, al, 8, 1);
	cr_assert_eq(hk_desc_at(s[0])->units, HK_CHUNK_UNITS - HK_RUN_GUARD);
	hk_unlock(&a->lock);
	hk_arena_destroy(a);
}

Test(core, arena_capacity_and_reset)
{
	hk_arena_config_t cfg = { .capacity = (size_t)1 << 20, .numa_node = HK_NODE_LOCAL };
	hk_arena_t *a = hk_arena_create(&cfg);
	size_t got = 0;
	void *p;
	while ((p = hk_arena_malloc(a, 3000)) != NULL) {
		cr_assert_eq(hk_arena_of(p), a);
		got += 3000;
	}
	cr_assert_leq(got, (size_t)1 << 20);
	/* Without a slab band for 3000 B, each block takes a 64 KiB span. */
	cr_assert_geq(got, hk_small_max() >= 3000 ? (size_t)1 << 19 : 3000);
	hk_arena_stats_t st;
	hk_arena_stats(a, &st);
	cr_assert_geq(st.failed_allocs, 1u);
	hk_arena_reset(a);
	hk_arena_stats(a, &st);
	cr_assert_eq(st.live_bytes, 0u);
	cr_assert_not_null(hk_arena_malloc(a, 3000));
	hk_arena_destroy(a);
}
