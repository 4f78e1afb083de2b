/*
 * bench/frag.c — fragmentation and RSS over time: CYCLES cycles of phases
 * with different size mixes, RSS sampled after each phase:
 *   1 small: N blocks of 16..256 B      2 thin: free 9 of every 10 small
 *   3 medium: N/8 blocks of 1..16 KiB  4 swap: free medium, N/64 of 64..512 KiB
 *   5 drain: free all but the surviving small blocks, wait SETTLE_MS
 * The thinned small blocks pin pages: an allocator that cannot reuse or
 * return partly used memory grows cycle after cycle. Results: ops/s of the
 * allocation work, and rss_drain_kb (RSS after the last drain) — the number
 * to compare. Self-check: a stamp at both ends of every block, checked at free.
 * Usage: frag [N=200000] [CYCLES=3] [SETTLE_MS=100]
 */
#include <unistd.h>
#include "bench.h"

struct set {
	unsigned char **p;
	uint32_t *n;
	size_t count;
};

static uint32_t state = 777;
static uint64_t bad, sum, ops;

static void fill(struct set *s, size_t count, uint32_t min, uint32_t max)
{
	for (size_t i = 0; i < count; i++) {
		uint32_t n = min + bench_xorshift32(&state) % (max - min + 1);

		s->p[i] = bench_xmalloc(n);
		s->n[i] = n;
		bench_stamp(s->p[i], n, (uint32_t)i ^ n);
	}
	s->count = count;
	ops += count;
}

static void drop(struct set *s, size_t i)
{
	if (!s->p[i])
		return;
	sum += bench_verify(s->p[i], s->n[i], (uint32_t)i ^ s->n[i], &bad);
	b_free(s->p[i]);
	s->p[i] = NULL;
	ops++;
}

static int set_init(struct set *s, size_t count)
{
	s->p = calloc(count, sizeof(*s->p));
	s->n = calloc(count, sizeof(*s->n));
	s->count = 0;
	return s->p && s->n;
}

int main(int argc, char **argv)
{
	size_t n = bench_arg(argc, argv, 1, 200000);
	unsigned cycles = (unsigned)bench_arg(argc, argv, 2, 3);
	unsigned settle_ms = (unsigned)bench_arg(argc, argv, 3, 100);
	struct set small, medium, large;
	long rss[5] = { 0 }, peak = 0;
	double busy = 0;

	if (n < 64 || cycles == 0) {
		fprintf(stderr, "frag: need N >= 64 and CYCLES > 0\n");
		return 2;
	}
	if (!set_init(&small, n * cycles) || !set_init(&medium, n / 8) || !set_init(&large, n / 64))
		return 3;
	for (unsigned c = 0; c < cycles; c++) {
		struct set cur = { small.p + c * n, small.n + c * n, 0 };
		double t0 = bench_now();

		fill(&cur, n, 16, 256);
		rss[0] = bench_rss_kb();
		for (size_t i = 0; i < n; i++)
			if (i % 10)
				drop(&cur, i);
		rss[1] = bench_rss_kb();
		fill(&medium, n / 8, 1024, 16384);
		rss[2] = bench_rss_kb();
		for (size_t i = 0; i < medium.count; i++)
			drop(&medium, i);
		fill(&large, n / 64, 65536, 524288);
		rss[3] = bench_rss_kb();
		for (size_t i = 0; i < large.count; i++)
			drop(&large, i);
		busy += bench_now() - t0;
		usleep(settle_ms * 1000u);
		rss[4] = bench_rss_kb();
		for (int k = 0; k < 5; k++)
			peak = rss[k] > peak ? rss[k] : peak;
		fprintf(stderr, "frag: cycle %u rss_kb small=%ld thin=%ld medium=%ld large=%ld drain=%ld\n",
			c + 1, rss[0], rss[1], rss[2], rss[3], rss[4]);
	}
	for (unsigned c = 0; c < cycles; c++) {
		struct set cur = { small.p + c * n, small.n + c * n, n };

		for (size_t i = 0; i < n; i++)
			drop(&cur, i);
	}
	free(small.p);
	free(small.n);
	free(medium.p);
	free(medium.n);
	free(large.p);
	free(large.n);
	return bench_report("frag", (double)ops, busy, bad == 0,
			    "n=%zu cycles=%u rss_peak_sampled_kb=%ld rss_drain_kb=%ld checksum=%llu bad=%llu",
			    n, cycles, peak, rss[4], (unsigned long long)sum, (unsigned long long)bad);
}
