/*
 * bench/pairs.c — fixed-size malloc/free pairs: ITERS times malloc(SIZE),
 * touch, free. The cost of one size class's fast path (or, above the
 * allocator's cached sizes, its map/unmap path).
 * Self-check: every block gets a stamp at both ends, written after malloc and
 * checked before free, so a block that is handed out twice or overlaps a
 * live one fails. Before the clock starts, 64 pairs are filled and checked in
 * full (outside the timed loop, so callgrind's ITERS=0 baseline removes them).
 * Usage: pairs SIZE [ITERS=5000000]
 */
#include "bench.h"

int main(int argc, char **argv)
{
	size_t size = bench_arg(argc, argv, 1, 64);
	uint64_t iters = bench_arg(argc, argv, 2, 5000000);
	uint64_t bad = 0, sum = 0;
	unsigned char *keep;

	if (size == 0) {
		fprintf(stderr, "pairs: SIZE must be > 0\n");
		return 2;
	}
	/* One live block of the same size, so the pair never empties the page. */
	keep = bench_xmalloc(size);
	bench_stamp(keep, size, 7);

	for (int i = 0; i < 64; i++) {
		unsigned char *p = bench_xmalloc(size);
		uint64_t w = bench_fill(p, size, (uint32_t)i);

		bench_escape(p);
		if (bench_check_fill(p, size, (uint32_t)i, &bad) != w)
			bad++;
		sum += w;
		b_free(p);
	}

	double t0 = bench_now();
	bad += BENCH_PAIR_LOOP(b_malloc, size, iters);
	double secs = bench_now() - t0;

	sum += bench_verify(keep, size, 7, &bad);
	b_free(keep);
	return bench_report("pairs", (double)iters, secs, bad == 0, "size=%zu checksum=%llu bad=%llu",
			    size, (unsigned long long)sum, (unsigned long long)bad);
}
