/*
 * bench/request/request.c — the per-request pattern of servers and language
 * runtimes: K blocks of MIN..MAX bytes, then all of them freed at once; the
 * time per request. Linked with one request_<way>.c (request.h) per binary.
 * Every block is stamped at both ends when allocated and checked before the
 * free-all, so a way that hands out overlapping blocks fails (check=FAIL).
 * The sizes are one xorshift sequence, the same for every way.
 * Usage: request_WAY K MIN MAX [BLOCKS=2000000] [MS=400] [VARIANT]
 *   BLOCKS: blocks in all (requests = BLOCKS / K, at least 100), after a
 *   tenth as many untimed; a way slower than MS milliseconds stops there
 *   (glibc's trimming makes some ways 1000x slower: make bench stays short).
 *   Prints ns_per_req over the requests done on the RESULT line.
 */
#include "../bench.h"
#include "request.h"

#define SIZE_TABLE 4096 /* sizes cycled through; a power of two */

static size_t sizes[SIZE_TABLE];

/* One request: K blocks from `first` in the size table, checked, freed. */
static uint64_t one_request(void **blk, size_t k, uint32_t req, uint64_t *bad)
{
	size_t at = (size_t)req * k;
	uint64_t sum = 0;

	for (size_t j = 0; j < k; j++) {
		size_t n = sizes[(at + j) & (SIZE_TABLE - 1)];
		unsigned char *p = req_alloc(n);
		if (!p) {
			fprintf(stderr, "request: allocation of %zu bytes failed\n", n);
			exit(3);
		}
		bench_stamp(p, n, req + (uint32_t)j);
		blk[j] = p;
	}
	for (size_t j = 0; j < k; j++)
		sum += bench_verify(blk[j], sizes[(at + j) & (SIZE_TABLE - 1)], req + (uint32_t)j, bad);
	req_free_all(blk, k);
	return sum;
}

int main(int argc, char **argv)
{
	size_t k = bench_arg(argc, argv, 1, 64);
	size_t min = bench_arg(argc, argv, 2, 16);
	size_t max = bench_arg(argc, argv, 3, 256);
	uint64_t blocks = bench_arg(argc, argv, 4, 2000000);
	double limit = (double)bench_arg(argc, argv, 5, 400) * 1e-3;
	const char *variant = argc > 6 ? argv[6] : "";
	uint32_t seed = 12345;
	uint64_t bad = 0, sum = 0;

	if (!k || min < 2 || max < min) {
		fprintf(stderr, "usage: %s K MIN MAX [BLOCKS] [VARIANT] (MIN >= 2)\n", argv[0]);
		return 2;
	}
	uint32_t requests = blocks / k < 100 ? 100 : (uint32_t)(blocks / k);
	void **blk = malloc(k * sizeof(*blk));
	if (!blk)
		return 3;
	for (size_t i = 0; i < SIZE_TABLE; i++)
		sizes[i] = min + bench_xorshift32(&seed) % (max - min + 1);
	if (req_open(variant))
		return 4;

	double t0 = bench_now();
	for (uint32_t r = 0; r < requests / 10 && bench_now() - t0 < limit / 10; r++)
		sum += one_request(blk, k, r, &bad);
	uint32_t done = 0;
	t0 = bench_now();
	/* The clock is read every 16 requests: its cost is not in small requests' figure. */
	while (done < requests && ((done & 15) || bench_now() - t0 < limit))
		sum += one_request(blk, k, done++, &bad);
	double secs = bench_now() - t0;
	req_close();
	free(blk);
	bench_escape(&sum);
	return bench_report("request", done, secs, bad == 0,
			    "ns_per_req=%.1f k=%zu min=%zu max=%zu variant=%s bad=%llu",
			    secs * 1e9 / done, k, min, max, variant[0] ? variant : "-",
			    (unsigned long long)bad);
}
