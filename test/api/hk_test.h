/*
 * test/api/hk_test.h — helpers shared by the API tests (include/hakmem.h only).
 *
 * Owns: the list of interesting sizes (every class boundary from 1 B to 64 MiB),
 * a position-dependent fill pattern and its check. Must not: reach any internal
 * header. Invariant: a block filled with fill(p, n, seed) passes check(p, n, seed)
 * until something else writes it; above 4 MiB only a sample of pages is touched,
 * to keep page faults (9–33 µs each here) bounded.
 */
#ifndef HK_TEST_H
#define HK_TEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define HK_TEST_MAX (64 * MiB)

static inline uint8_t pat(size_t i, unsigned seed)
{
	return (uint8_t)(seed * 0x9Du + i * 131u + (i >> 9));
}

/* Full coverage up to 4 MiB; above, the first and last 64 KiB and one byte per 64 KiB. */
static inline size_t step_at(size_t i, size_t n)
{
	if (n <= 4 * MiB || i < 64 * KiB || i + 64 * KiB >= n)
		return 1;
	return 64 * KiB;
}

static inline void fill(void *p, size_t n, unsigned seed)
{
	uint8_t *b = p;
	for (size_t i = 0; i < n; i += step_at(i, n))
		b[i] = pat(i, seed);
}

/* Checks the first m bytes of what fill(p, n, seed) wrote (the offsets n's sampling
 * touched). Returns the first bad offset, or (size_t)-1 when they are intact. */
static inline size_t check_prefix(const void *p, size_t m, size_t n, unsigned seed)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < m; i += step_at(i, n))
		if (b[i] != pat(i, seed))
			return i;
	return (size_t)-1;
}

static inline size_t check(const void *p, size_t n, unsigned seed)
{
	return check_prefix(p, n, n, seed);
}

static inline int all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i += step_at(i, n))
		if (b[i])
			return 0;
	return 1;
}

static int size_cmp(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

/* Every size from 1 to 160 B, then n-1, n, n+1 around each quarter-power-of-two
 * step (the class boundaries of DESIGN §4) and the Kconfig band limits, up to
 * 64 MiB + 1. Returns the count; `out` holds at least 512. */
static inline size_t boundary_sizes(size_t *out)
{
	static const size_t band[] = { 1040, 2048, 4096, 65536, 262144, 1048576, 33554432 };
	size_t n = 0;

	for (size_t s = 1; s <= 160; s++)
		out[n++] = s;
	for (int k = 7; k <= 26; k++)
		for (int j = 0; j < 4; j++) {
			size_t c = ((size_t)1 << k) + j * ((size_t)1 << k) / 4;
			if (c > HK_TEST_MAX)
				break;
			out[n++] = c - 1, out[n++] = c, out[n++] = c + 1;
		}
	for (size_t i = 0; i < sizeof band / sizeof band[0]; i++)
		out[n++] = band[i] - 1, out[n++] = band[i], out[n++] = band[i] + 1;
	qsort(out, n, sizeof *out, size_cmp);
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (m == 0 || out[m - 1] != out[i])
			out[m++] = out[i];
	return m;
}

#endif /* HK_TEST_H */
