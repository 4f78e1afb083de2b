/*
 * test/api/test_api_sizes.c — every allocation function at every class boundary.
 *
 * Owns: sizes 1 B … 64 MiB through hk_malloc/calloc/realloc/valloc/pvalloc/
 * free_sized/usable_size: 16-byte alignment, usable ≥ requested, every usable byte
 * writable without touching a neighbour, calloc zero also on reused memory,
 * realloc keeping min(old, new) bytes across every band. Sees include/hakmem.h only.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "hakmem.h"
#include "hk_test.h"

static size_t sizes[512];
static size_t nsizes;

static void setup(void) { nsizes = boundary_sizes(sizes); }

TestSuite(sizes, .init = setup, .timeout = 120);

static void common_checks(const char *fn, void *p, size_t n, size_t align)
{
	cr_assert_not_null(p, "%s(%zu) returned NULL", fn, n);
	cr_assert_eq((uintptr_t)p % align, 0, "%s(%zu) = %p not %zu-aligned", fn, n, p, align);
	size_t u = hk_usable_size(p);
	cr_assert_geq(u, n, "%s(%zu): usable %zu < requested", fn, n, u);
	/* The extremes of the usable range are ours to write. */
	((volatile uint8_t *)p)[0] = 0x5a;
	((volatile uint8_t *)p)[u - 1] = 0xa5;
}

Test(sizes, malloc_neighbours_untouched)
{
	enum { K = 3 };
	for (size_t i = 0; i < nsizes; i++) {
		size_t n = sizes[i], u[K];
		void *p[K];
		int k = n > 4 * MiB ? 1 : K; /* above 4 MiB blocks are never packed together */
		for (int j = 0; j < k; j++) {
			p[j] = hk_malloc(n);
			common_checks("hk_malloc", p[j], n, 16);
			u[j] = hk_usable_size(p[j]);
			fill(p[j], u[j], (unsigned)(i * K + j));
		}
		for (int j = 0; j < k; j++) {
			size_t bad = check(p[j], u[j], (unsigned)(i * K + j));
			cr_assert_eq(bad, (size_t)-1, "size %zu block %d: byte %zu of %zu changed", n, j, bad, u[j]);
			hk_free(p[j]);
		}
	}
}

Test(sizes, malloc_zero_is_unique_block)
{
	void *a = hk_malloc(0), *b = hk_malloc(0);
	cr_assert(a && b && a != b, "malloc(0) must give distinct freeable blocks: %p %p", a, b);
	cr_assert_eq((uintptr_t)a % 16, 0);
	hk_free(a);
	hk_free(b);
	cr_assert_eq(hk_usable_size(NULL), 0);
}

Test(sizes, calloc_every_boundary)
{
	for (size_t i = 0; i < nsizes; i++) {
		size_t n = sizes[i];
		uint8_t *p = hk_calloc(1, n);
		common_checks("hk_calloc", p, n, 16);
		p[0] = 0; /* common_checks wrote the ends */
		if (n > 1)
			p[n - 1] = 0;
		cr_assert(all_zero(p, n), "calloc(1, %zu) not zeroed", n);
		hk_free(p);
		p = hk_calloc(n, 1);
		cr_assert_not_null(p);
		cr_assert(all_zero(p, n), "calloc(%zu, 1) not zeroed", n);
		hk_free(p);
	}
}

/* Dirty blocks of a size, free them, calloc the same size: the reused memory must be zero. */
Test(sizes, calloc_zeroes_reused_memory)
{
	enum { K = 32 };
	for (size_t i = 0; i < nsizes; i++) {
		size_t n = sizes[i];
		int k = n > 1 * MiB ? 2 : K;
		void *p[K];
		for (int j = 0; j < k; j++) {
			p[j] = hk_malloc(n);
			cr_assert_not_null(p[j]);
			memset(p[j], 0xAB, n <= 4 * MiB ? hk_usable_size(p[j]) : 64 * KiB);
			if (n > 4 * MiB) /* a sample: fill() touches the same offsets check reads */
				fill(p[j], n, 7);
		}
		for (int j = 0; j < k; j++)
			hk_free(p[j]);
		for (int j = 0; j < k; j++) {
			p[j] = hk_calloc(n, 1);
			cr_assert_not_null(p[j]);
			cr_assert(all_zero(p[j], n), "calloc(%zu, 1) of reused memory not zeroed (block %d)", n, j);
		}
		for (int j = 0; j < k; j++)
			hk_free(p[j]);
	}
}

Test(sizes, realloc_null_is_malloc)
{
	for (size_t i = 0; i < nsizes; i++) {
		void *p = hk_realloc(NULL, sizes[i]);
		common_checks("hk_realloc(NULL)", p, sizes[i], 16);
		hk_free(p);
	}
}

/* One size per band and its edges; every pair keeps min(old, new) bytes. */
static const size_t band_sizes[] = {
	1, 16, 17, 128, 129, 1040, 2048, 2049, 4096, 65536, 65537, 262144, 262145,
	1 * MiB, 2 * MiB + 1, 32 * MiB, 32 * MiB + 1, 64 * MiB,
};
#define NBAND (sizeof band_sizes / sizeof band_sizes[0])

Test(sizes, realloc_keeps_contents_across_bands)
{
	for (size_t a = 0; a < NBAND; a++)
		for (size_t b = 0; b < NBAND; b++) {
			size_t o = band_sizes[a], n = band_sizes[b], m = o < n ? o : n;
			unsigned seed = (unsigned)(a * 31 + b);
			void *p = hk_malloc(o);
			cr_assert_not_null(p);
			fill(p, o, seed);
			void *q = hk_realloc(p, n);
			cr_assert_not_null(q, "realloc %zu → %zu failed", o, n);
			cr_assert_geq(hk_usable_size(q), n);
			cr_assert_eq((uintptr_t)q % 16, 0);
			size_t bad = check_prefix(q, m, o, seed);
			cr_assert_eq(bad, (size_t)-1, "realloc %zu → %zu: byte %zu lost", o, n, bad);
			((volatile uint8_t *)q)[hk_usable_size(q) - 1] = 1;
			hk_free(q);
		}
}

/* Growing one byte at a time through the small classes, then by steps: contents follow. */
Test(sizes, realloc_grow_and_shrink_steps)
{
	uint8_t *p = NULL;
	size_t n = 0;
	for (size_t s = 1; s <= 4096; s++) {
		p = hk_realloc(p, s);
		cr_assert_not_null(p);
		p[s - 1] = pat(s - 1, 3);
		for (size_t i = 0; i < s; i++)
			cr_assert_eq(p[i], pat(i, 3), "grow to %zu: byte %zu", s, i);
		n = s;
	}
	for (size_t s = n; s >= 1; s = s * 3 / 4) {
		p = hk_realloc(p, s);
		cr_assert_not_null(p);
		cr_assert_eq(check(p, s, 3), (size_t)-1, "shrink to %zu", s);
		if (s == 1)
			break;
	}
	hk_free(p);
}

Test(sizes, reallocarray_keeps_contents)
{
	uint32_t *p = hk_reallocarray(NULL, 10, sizeof *p);
	cr_assert_not_null(p);
	for (uint32_t i = 0; i < 10; i++)
		p[i] = i * 7;
	p = hk_reallocarray(p, 100000, sizeof *p);
	cr_assert_not_null(p);
	for (uint32_t i = 0; i < 10; i++)
		cr_assert_eq(p[i], i * 7);
	p[99999] = 1;
	hk_free(p);
}

Test(sizes, valloc_pvalloc)
{
	for (size_t i = 0; i < nsizes; i++) {
		size_t n = sizes[i];
		void *p = hk_valloc(n);
		common_checks("hk_valloc", p, n, 4096);
		hk_free(p);
		p = hk_pvalloc(n);
		common_checks("hk_pvalloc", p, n, 4096);
		cr_assert_geq(hk_usable_size(p), (n + 4095) & ~(size_t)4095, "pvalloc(%zu) not a whole page count", n);
		hk_free(p);
	}
	void *p = hk_pvalloc(0);
	cr_assert_not_null(p);
	cr_assert_eq((uintptr_t)p % 4096, 0);
	hk_free(p);
}

/* The exact requested size is always a valid free_sized size. */
Test(sizes, free_sized_with_requested_size)
{
	for (size_t i = 0; i < nsizes; i++) {
		size_t n = sizes[i];
		void *p = hk_malloc(n), *q = hk_calloc(1, n), *r = hk_realloc(hk_malloc(1), n);
		cr_assert(p && q && r);
		hk_free_sized(p, n);
		hk_free_sized(q, n);
		hk_free_sized(r, n);
	}
	hk_free_sized(NULL, 0);
}

/* free never changes errno (DESIGN §8.8), in every band and for NULL. */
Test(sizes, free_keeps_errno)
{
	for (size_t i = 0; i < nsizes; i += 7) {
		void *p = hk_malloc(sizes[i]), *q = hk_malloc(sizes[i]);
		cr_assert(p && q);
		errno = 1234;
		hk_free(p);
		cr_assert_eq(errno, 1234, "hk_free(%zu-byte block) changed errno", sizes[i]);
		hk_free_sized(q, sizes[i]);
		cr_assert_eq(errno, 1234, "hk_free_sized(%zu) changed errno", sizes[i]);
	}
	errno = 4321;
	hk_free(NULL);
	cr_assert_eq(errno, 4321);
	/* A burst then free: flushes and purges happen inside free and must not leak errno. */
	void *v[4096];
	for (int i = 0; i < 4096; i++)
		v[i] = hk_malloc(64 + (size_t)(i % 17) * 200);
	errno = 77;
	for (int i = 0; i < 4096; i++)
		hk_free(v[i]);
	cr_assert_eq(errno, 77);
	(void)hk_trim(0);
}

/* Many live blocks of mixed sizes: pairwise disjoint, contents intact (a cheap overlap check). */
Test(sizes, mixed_live_blocks_disjoint)
{
	enum { N = 3000 };
	static void *p[N];
	static size_t n[N];
	uint32_t r = 12345;
	for (int i = 0; i < N; i++) {
		r ^= r << 13, r ^= r >> 17, r ^= r << 5;
		n[i] = (r % 7 == 0) ? (r % (300 * KiB)) + 1 : (r & 0x7FF) + 1;
		p[i] = hk_malloc(n[i]);
		cr_assert_not_null(p[i]);
		fill(p[i], n[i], (unsigned)i);
		if (i % 3 == 2) { /* free some so later mallocs reuse memory */
			int j = (int)(r % (unsigned)i);
			if (p[j]) {
				cr_assert_eq(check(p[j], n[j], (unsigned)j), (size_t)-1, "block %d corrupted", j);
				hk_free(p[j]);
				p[j] = NULL;
			}
		}
	}
	for (int i = 0; i < N; i++)
		if (p[i]) {
			cr_assert_eq(check(p[i], n[i], (unsigned)i), (size_t)-1, "block %d (%zu B) corrupted", i, n[i]);
			hk_free(p[i]);
		}
}
