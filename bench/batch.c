/*
 * bench/batch.c — batches: allocate N blocks, then free all N, ROUNDS times.
 * ORDER 0 frees in allocation order (FIFO), 1 in reverse (LIFO), 2 in a
 * shuffled order (a fresh permutation each round). Sizes are drawn from
 * MIN..MAX with xorshift32, so bins, refills and flushes are all exercised.
 * Self-check: each block holds its index in its first 8 bytes (or its low
 * bytes) and a stamp in its last byte; both are checked before it is freed.
 * Usage: batch [N=100000] [ORDER=2] [ROUNDS=20] [MIN=16] [MAX=512]
 */
#include "bench.h"

static const char *order_name[] = { "inorder", "reverse", "shuffled" };

/* The first min(n, 8) bytes hold v; a block longer than 8 also gets a tail stamp. */
static void put_index(unsigned char *p, size_t n, uint64_t v)
{
	memcpy(p, &v, n < 8 ? n : 8);
	if (n > 8)
		p[n - 1] = 0xa5;
}

static int index_ok(const unsigned char *p, size_t n, uint64_t v)
{
	return memcmp(p, &v, n < 8 ? n : 8) == 0 && (n <= 8 || p[n - 1] == 0xa5);
}

int main(int argc, char **argv)
{
	uint32_t n = (uint32_t)bench_arg(argc, argv, 1, 100000);
	unsigned order = (unsigned)bench_arg(argc, argv, 2, 2);
	unsigned rounds = (unsigned)bench_arg(argc, argv, 3, 20);
	uint32_t min = (uint32_t)bench_arg(argc, argv, 4, 16);
	uint32_t max = (uint32_t)bench_arg(argc, argv, 5, 512);
	uint32_t state = 12345, span;
	uint64_t bad = 0, sum = 0;

	if (n == 0 || order > 2 || min == 0 || max < min) {
		fprintf(stderr, "batch: need N > 0, ORDER 0..2, 0 < MIN <= MAX\n");
		return 2;
	}
	span = max - min + 1;
	unsigned char **blk = malloc(n * sizeof(*blk));
	uint32_t *len = malloc(n * sizeof(*len));
	uint32_t *perm = malloc(n * sizeof(*perm));
	if (!blk || !len || !perm)
		return 3;
	for (uint32_t i = 0; i < n; i++)
		perm[i] = order == 1 ? n - 1 - i : i;

	double t0 = bench_now();
	for (unsigned r = 0; r < rounds; r++) {
		for (uint32_t i = 0; i < n; i++) {
			len[i] = min + bench_xorshift32(&state) % span;
			blk[i] = bench_xmalloc(len[i]);
			put_index(blk[i], len[i], (uint64_t)r << 32 | i);
		}
		if (order == 2) {
			for (uint32_t i = n - 1; i > 0; i--) {
				uint32_t j = bench_xorshift32(&state) % (i + 1), t = perm[i];

				perm[i] = perm[j];
				perm[j] = t;
			}
		}
		for (uint32_t k = 0; k < n; k++) {
			uint32_t i = perm[k];

			bad += !index_ok(blk[i], len[i], (uint64_t)r << 32 | i);
			sum += blk[i][0];
			b_free(blk[i]);
		}
	}
	double secs = bench_now() - t0;

	free(blk);
	free(len);
	free(perm);
	return bench_report("batch", 2.0 * n * rounds, secs, bad == 0,
			    "n=%u order=%s rounds=%u min=%u max=%u checksum=%llu bad=%llu", n,
			    order_name[order], rounds, min, max, (unsigned long long)sum,
			    (unsigned long long)bad);
}
