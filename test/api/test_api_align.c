/*
 * test/api/test_api_align.c — alignment, overflow and errno through the hk_ API.
 *
 * Owns: every power-of-two alignment 1 B … 64 MiB with sizes around it (also
 * size == alignment) for posix_memalign/aligned_alloc/memalign; invalid alignments
 * (EINVAL, output untouched); every impossible size (calloc, reallocarray, huge
 * and near-SIZE_MAX aligned requests) giving NULL + ENOMEM, never a small block;
 * a failed realloc leaving the block intact; realloc(p, 0) freeing p and
 * returning NULL. Sees include/hakmem.h only.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hakmem.h"
#include "hk_test.h"

TestSuite(align, .timeout = 120);

static void check_block(const char *fn, void *p, size_t a, size_t n)
{
	cr_assert_not_null(p, "%s(align %zu, size %zu) returned NULL", fn, a, n);
	cr_assert_eq((uintptr_t)p % a, 0, "%s(align %zu, size %zu) = %p misaligned", fn, a, n, p);
	cr_assert_eq((uintptr_t)p % 16, 0, "%s: not 16-byte aligned", fn);
	size_t u = hk_usable_size(p);
	cr_assert_geq(u, n, "%s(align %zu, size %zu): usable %zu", fn, a, n, u);
	if (u) /* a hardened build's usable size is the request: 0 for 0 */
		((volatile uint8_t *)p)[u - 1] = 1;
	fill(p, n, (unsigned)a);
}

/* Sizes tried for alignment a: 0 (a unique block all the same: the fuzzer
 * found memalign(4 MiB, 0) failing), small ones, a-1, a, a+1, 3a (when
 * small enough). */
static size_t sizes_for(size_t a, size_t *s)
{
	size_t k = 0;
	s[k++] = 0;
	s[k++] = 1;
	s[k++] = 24;
	if (a > 1)
		s[k++] = a - 1;
	s[k++] = a;
	s[k++] = a + 1;
	if (a <= 4 * MiB)
		s[k++] = 3 * a;
	return k;
}

Test(align, every_power_of_two_every_function)
{
	for (size_t a = 1; a <= HK_TEST_MAX; a <<= 1) {
		size_t s[9], k = sizes_for(a, s);
		for (size_t i = 0; i < k; i++) {
			size_t n = s[i];
			void *p = (void *)1, *q, *r;
			int rc = hk_posix_memalign(&p, a, n);
			if (a < sizeof(void *)) {
				cr_assert_eq(rc, EINVAL, "posix_memalign(%zu) must be EINVAL", a);
				cr_assert_eq(p, (void *)1, "posix_memalign changed the output on EINVAL");
			} else {
				cr_assert_eq(rc, 0, "posix_memalign(align %zu, size %zu) = %d", a, n, rc);
				check_block("hk_posix_memalign", p, a, n);
				hk_free(p);
			}
			q = hk_aligned_alloc(a, n);
			check_block("hk_aligned_alloc", q, a, n);
			r = hk_memalign(a, n);
			check_block("hk_memalign", r, a, n);
			cr_assert_eq(check(q, n, (unsigned)a), (size_t)-1, "aligned_alloc(%zu, %zu) block overwritten", a, n);
			hk_free(r);
			hk_free_sized(q, n);
		}
	}
}

/* Several live aligned blocks at once: none overlaps another (size == alignment). */
Test(align, size_equals_alignment_live_together)
{
	for (size_t a = 16; a <= 1 * MiB; a <<= 1) {
		void *p[8];
		for (int j = 0; j < 8; j++) {
			p[j] = hk_aligned_alloc(a, a);
			check_block("hk_aligned_alloc", p[j], a, a);
			fill(p[j], a, (unsigned)(a + j));
		}
		for (int j = 0; j < 8; j++) {
			cr_assert_eq(check(p[j], a, (unsigned)(a + j)), (size_t)-1, "align %zu block %d overwritten", a, j);
			hk_free(p[j]);
		}
	}
}

Test(align, arena_aligned_alloc)
{
	hk_arena_t *ar = hk_arena_create(NULL);
	cr_assert_not_null(ar);
	for (size_t a = 1; a <= 4 * MiB; a <<= 1) {
		void *p = hk_arena_aligned_alloc(ar, a, a);
		check_block("hk_arena_aligned_alloc", p, a, a);
		cr_assert_eq(hk_arena_of(p), ar);
		hk_free(p);
	}
	errno = 0;
	cr_assert_null(hk_arena_aligned_alloc(ar, 3, 16));
	cr_assert_eq(errno, EINVAL);
	hk_arena_destroy(ar);
}

Test(align, invalid_alignments)
{
	static const size_t bad[] = { 0, 3, 5, 24, 48, 100, 4097, (size_t)1 << 63 | 1, SIZE_MAX };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		void *p = (void *)0x1234;
		int rc = hk_posix_memalign(&p, bad[i], 64);
		cr_assert_eq(rc, EINVAL, "posix_memalign(align %zu) = %d, want EINVAL", bad[i], rc);
		cr_assert_eq(p, (void *)0x1234, "posix_memalign wrote the output on EINVAL");
		errno = 0;
		cr_assert_null(hk_aligned_alloc(bad[i], 64), "aligned_alloc(align %zu) must fail (C17)", bad[i]);
		cr_assert_eq(errno, EINVAL, "aligned_alloc(align %zu): errno %d, want EINVAL", bad[i], errno);
	}
	/* memalign is glibc's: below 16 (0 too) malloc's alignment, otherwise
	 * rounded up to a power of two; only past the largest one EINVAL. */
	static const size_t up[][2] = { { 0, 16 }, { 3, 16 }, { 24, 32 }, { 48, 64 }, { 100, 128 },
					{ 4097, 8192 }, { ((size_t)1 << 20) + 1, (size_t)1 << 21 } };
	for (size_t i = 0; i < sizeof up / sizeof up[0]; i++) {
		void *r = hk_memalign(up[i][0], 100);
		cr_assert_not_null(r, "memalign(%zu, 100) failed", up[i][0]);
		cr_assert_eq((uintptr_t)r % up[i][1], 0, "memalign(%zu): %p not aligned to %zu", up[i][0], r,
			     up[i][1]);
		cr_assert_geq(hk_usable_size(r), 100);
		hk_free(r);
	}
	errno = 0;
	cr_assert_null(hk_memalign(((size_t)1 << 63) + 1, 16));
	cr_assert_eq(errno, EINVAL);
	/* posix_memalign also wants a multiple of sizeof(void *). */
	for (size_t a = 1; a < sizeof(void *); a <<= 1) {
		void *p = (void *)0x1234;
		cr_assert_eq(hk_posix_memalign(&p, a, 8), EINVAL);
		cr_assert_eq(p, (void *)0x1234);
	}
}

static void expect_enomem(const char *what, void *p)
{
	int e = errno;
	cr_assert_null(p, "%s returned %p (usable %zu) instead of NULL", what, p, p ? hk_usable_size(p) : 0);
	cr_assert_eq(e, ENOMEM, "%s: errno %d, want ENOMEM", what, e);
}

#define ENOMEM_CASE(expr) do { errno = 0; expect_enomem(#expr, (expr)); } while (0)

Test(align, impossible_sizes_give_enomem)
{
	const size_t H = SIZE_MAX;
	ENOMEM_CASE(hk_malloc(H));
	ENOMEM_CASE(hk_malloc(H - 15));
	ENOMEM_CASE(hk_malloc(H - 4095));
	ENOMEM_CASE(hk_malloc(H / 2 + 1));
	ENOMEM_CASE(hk_malloc((size_t)PTRDIFF_MAX + 1));
	ENOMEM_CASE(hk_malloc((size_t)1 << 62));
	ENOMEM_CASE(hk_calloc(H, 2));
	ENOMEM_CASE(hk_calloc(2, H));
	ENOMEM_CASE(hk_calloc((size_t)1 << 32, (size_t)1 << 32));
	ENOMEM_CASE(hk_calloc(H / 2 + 1, 2));
	ENOMEM_CASE(hk_calloc(1, H - 15));
	ENOMEM_CASE(hk_calloc((size_t)1 << 31, (size_t)1 << 31));
	ENOMEM_CASE(hk_reallocarray(NULL, H, 2));
	ENOMEM_CASE(hk_reallocarray(NULL, (size_t)1 << 33, (size_t)1 << 31));
	ENOMEM_CASE(hk_realloc(NULL, H));
	ENOMEM_CASE(hk_valloc(H));
	ENOMEM_CASE(hk_valloc(H - 4095));
	ENOMEM_CASE(hk_pvalloc(H - 100)); /* glibc rounds this to a small block */
	ENOMEM_CASE(hk_pvalloc(H - 4095));
	ENOMEM_CASE(hk_pvalloc(H));
	ENOMEM_CASE(hk_aligned_alloc(4096, H - 100));
	ENOMEM_CASE(hk_aligned_alloc(4096, H - 4095));
	ENOMEM_CASE(hk_aligned_alloc(64 * MiB, H - 64 * MiB + 1));
	ENOMEM_CASE(hk_aligned_alloc(16, H));
	ENOMEM_CASE(hk_memalign(4096, H - 100));
	ENOMEM_CASE(hk_memalign(64 * MiB, H / 2));
	ENOMEM_CASE(hk_memalign((size_t)1 << 62, 16));

	for (size_t a = 8; a <= 64 * MiB; a <<= 1) {
		void *p = (void *)0x1234;
		cr_assert_eq(hk_posix_memalign(&p, a, H - a + 1), ENOMEM, "posix_memalign(%zu, near SIZE_MAX)", a);
		cr_assert_eq(p, (void *)0x1234, "posix_memalign wrote the output on ENOMEM");
		cr_assert_eq(hk_posix_memalign(&p, a, H), ENOMEM);
		errno = 0;
		expect_enomem("hk_aligned_alloc(a, SIZE_MAX - a + 1)", hk_aligned_alloc(a, H - a + 1));
		errno = 0;
		expect_enomem("hk_memalign(a, SIZE_MAX / 2 + 1)", hk_memalign(a, H / 2 + 1));
	}

	hk_arena_t *ar = hk_arena_create(NULL);
	cr_assert_not_null(ar);
	ENOMEM_CASE(hk_arena_malloc(ar, H));
	ENOMEM_CASE(hk_arena_calloc(ar, H, 3));
	ENOMEM_CASE(hk_arena_realloc(ar, NULL, H - 8));
	ENOMEM_CASE(hk_arena_aligned_alloc(ar, 4096, H - 100));
	hk_arena_destroy(ar);

	/* The heap still works after all that. */
	void *p = hk_malloc(100);
	cr_assert_not_null(p);
	hk_free(p);
}

/* A failed realloc or reallocarray returns NULL + ENOMEM and leaves the block intact. */
Test(align, failed_realloc_leaves_block_intact)
{
	static const size_t sz[] = { 24, 2000, 100000, 1 * MiB, 40 * MiB };
	static const size_t huge[] = { SIZE_MAX, SIZE_MAX - 15, SIZE_MAX / 2 + 1, (size_t)1 << 62 };
	for (size_t i = 0; i < sizeof sz / sizeof sz[0]; i++) {
		void *p = hk_malloc(sz[i]);
		cr_assert_not_null(p);
		fill(p, sz[i], (unsigned)i);
		for (size_t j = 0; j < sizeof huge / sizeof huge[0]; j++) {
			errno = 0;
			expect_enomem("hk_realloc(p, huge)", hk_realloc(p, huge[j]));
			errno = 0;
			expect_enomem("hk_reallocarray(p, 2, huge)", hk_reallocarray(p, 2, huge[j]));
			errno = 0;
			expect_enomem("hk_reallocarray(p, huge, huge)", hk_reallocarray(p, huge[j], huge[j]));
			cr_assert_eq(check(p, sz[i], (unsigned)i), (size_t)-1, "block of %zu changed by a failed realloc", sz[i]);
			cr_assert_geq(hk_usable_size(p), sz[i]);
		}
		void *q = hk_realloc(p, sz[i] * 2); /* and it is still a live, usable block */
		cr_assert_not_null(q);
		cr_assert_eq(check(q, sz[i], (unsigned)i), (size_t)-1);
		hk_free(q);
	}
}

/* realloc(p, 0) frees p and returns NULL, as glibc's does, in every band; errno
 * is left alone (nothing failed). That p is really freed: the tests below. */
Test(align, realloc_to_zero)
{
	static const size_t sz[] = { 1, 48, 1000, 20 * KiB, 300 * KiB, 1 * MiB, 40 * MiB };
	for (int round = 0; round < 20; round++) {
		for (size_t i = 0; i < sizeof sz / sizeof sz[0]; i++) {
			void *p = hk_malloc(sz[i] + (size_t)round);
			cr_assert_not_null(p);
			errno = 1234;
			void *q = hk_realloc(p, 0);
			cr_assert_null(q, "realloc(p of %zu, 0) = %p, want NULL", sz[i] + (size_t)round, q);
			cr_assert_eq(errno, 1234, "realloc(p, 0) set errno to %d", errno);
		}
	}
	/* realloc(NULL, 0) is malloc(0): a block of its own, freed once. */
	void *z = hk_realloc(NULL, 0);
	cr_assert_not_null(z);
	cr_assert_eq(hk_arena_of(z), hk_arena_default());
	hk_free(z);
}

/* After realloc(p, 0), p is a freed block: freeing it again aborts. */
static void *volatile zsink;
static void realloc_to_zero_frees(size_t n)
{
	zsink = hk_malloc(n);
	cr_assert_not_null(zsink);
	cr_assert_null(hk_realloc(zsink, 0));
	hk_free(zsink);
}

Test(align, realloc_to_zero_frees_small, .signal = SIGABRT) { realloc_to_zero_frees(48); }
Test(align, realloc_to_zero_frees_medium, .signal = SIGABRT) { realloc_to_zero_frees(20 * KiB); }
Test(align, realloc_to_zero_frees_pool, .signal = SIGABRT) { realloc_to_zero_frees(1 * MiB); }
Test(align, realloc_to_zero_frees_large, .signal = SIGABRT) { realloc_to_zero_frees(48 * MiB); }

Test(align, stats_trim_and_print)
{
	hk_stats_t st;
	void *big = hk_malloc(8 * MiB);
	cr_assert_not_null(big);
	memset(big, 1, 8 * MiB);
	cr_assert_eq(hk_stats_get(&st), 0);
	cr_assert_geq(st.committed_bytes, st.live_bytes);
	cr_assert_geq(st.reserved_bytes, st.committed_bytes);
	cr_assert_geq(st.numa_nodes, 1);
	hk_free(big);
	int t = hk_trim(0);
	cr_assert(t == 0 || t == 1, "hk_trim returned %d", t);

	FILE *f = tmpfile();
	cr_assert_not_null(f);
	hk_stats_print(fileno(f));
	cr_assert_gt(lseek(fileno(f), 0, SEEK_END), 0, "hk_stats_print wrote nothing");
	fclose(f);
}

Test(align, arena_basics)
{
	hk_arena_config_t cfg = { .capacity = 0, .numa_node = HK_NODE_LOCAL,
				  .hugepages = HK_HUGEPAGE_NONE, .name = "api-test" };
	hk_arena_t *ar = hk_arena_create(&cfg);
	cr_assert_not_null(ar);
	cr_assert_not_null(hk_arena_default());
	int local;
	cr_assert_null(hk_arena_of(&local), "a stack address belongs to no arena");
	cr_assert_null(hk_arena_of(NULL));

	void *d = hk_malloc(100);
	cr_assert_eq(hk_arena_of(d), hk_arena_default());
	hk_free(d);

	static const size_t sz[] = { 1, 16, 1040, 2049, 65536, 262145, 2 * MiB, 33 * MiB };
	void *p[8];
	for (int i = 0; i < 8; i++) {
		p[i] = hk_arena_malloc(ar, sz[i]);
		cr_assert_not_null(p[i], "arena_malloc(%zu)", sz[i]);
		cr_assert_eq(hk_arena_of(p[i]), ar, "arena_of(block of %zu)", sz[i]);
		cr_assert_geq(hk_usable_size(p[i]), sz[i]);
		fill(p[i], sz[i], (unsigned)i);
	}
	uint8_t *z = hk_arena_calloc(ar, 1000, 3);
	cr_assert_not_null(z);
	cr_assert(all_zero(z, 3000));
	z = hk_arena_realloc(ar, z, 100000);
	cr_assert_not_null(z);
	cr_assert(all_zero(z, 3000), "arena_realloc lost contents");
	hk_free(z);
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(check(p[i], sz[i], (unsigned)i), (size_t)-1, "arena block %d", i);
		hk_free(p[i]);
	}
	hk_arena_stats_t as;
	cr_assert_eq(hk_arena_stats(ar, &as), 0);
	cr_assert_str_eq(as.name, "api-test");
	/* 8 arena_malloc + 1 arena_calloc; whether a moving realloc counts is left open */
	cr_assert_geq(as.allocs, 9, "arena allocs %llu after 9 allocations", (unsigned long long)as.allocs);

	for (int i = 0; i < 1000; i++)
		cr_assert_not_null(hk_arena_malloc(ar, (size_t)(i % 300) * 8 + 1));
	hk_arena_reset(ar);
	for (int i = 0; i < 100; i++) {
		void *q = hk_arena_malloc(ar, 500);
		cr_assert_not_null(q, "arena unusable after reset");
		memset(q, 0x33, 500);
	}
	hk_arena_destroy(ar);
}

/* A capacity bounds the arena: allocation beyond it is NULL + ENOMEM, counted. */
Test(align, arena_capacity)
{
	hk_arena_config_t cfg = { .capacity = 8 * MiB, .numa_node = HK_NODE_LOCAL, .name = "cap" };
	hk_arena_t *ar = hk_arena_create(&cfg);
	cr_assert_not_null(ar);
	size_t got = 0;
	int failed = 0;
	for (int i = 0; i < 100000; i++) {
		errno = 0;
		void *p = hk_arena_malloc(ar, 4096);
		if (!p) {
			cr_assert_eq(errno, ENOMEM);
			failed = 1;
			break;
		}
		got += 4096;
	}
	cr_assert(failed, "8 MiB arena gave %zu bytes without failing", got);
	cr_assert_leq(got, 8 * MiB);
	hk_arena_stats_t as;
	cr_assert_eq(hk_arena_stats(ar, &as), 0);
	cr_assert_geq(as.failed_allocs, 1);
	cr_assert_leq(as.committed_bytes, 8 * MiB);
	hk_arena_reset(ar);
	cr_assert_not_null(hk_arena_malloc(ar, 4096), "reset gives the capacity back");
	hk_arena_destroy(ar);
}
