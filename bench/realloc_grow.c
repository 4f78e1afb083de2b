/*
 * bench/realloc_grow.c — realloc growth: BUFS buffers grow side by side
 * (round robin, so a neighbour usually blocks growth in place) from 16 bytes
 * to MAX, each step by 1/8 plus a few bytes — the pattern of a vector or a
 * string builder — then are freed; ROUNDS times. Crosses every size band.
 * Self-check: every byte appended is written from a pattern; after each
 * realloc the old last byte is checked, and each buffer is checked in full
 * before it is freed (realloc must keep min(old, new) bytes).
 * Usage: realloc_grow [BUFS=32] [MAX=1048576] [ROUNDS=4]
 */
#include "bench.h"

int main(int argc, char **argv)
{
	uint32_t bufs = (uint32_t)bench_arg(argc, argv, 1, 32);
	size_t max = bench_arg(argc, argv, 2, 1 << 20);
	unsigned rounds = (unsigned)bench_arg(argc, argv, 3, 4);
	uint64_t bad = 0, sum = 0, ops = 0;

	if (bufs == 0 || max < 16) {
		fprintf(stderr, "realloc_grow: need BUFS > 0 and MAX >= 16\n");
		return 2;
	}
	unsigned char **buf = calloc(bufs, sizeof(*buf));
	size_t *len = calloc(bufs, sizeof(*len));
	if (!buf || !len)
		return 3;

	double t0 = bench_now();
	for (unsigned r = 0; r < rounds; r++) {
		int growing = 1;

		for (uint32_t b = 0; b < bufs; b++)
			len[b] = 0;
		while (growing) {
			growing = 0;
			for (uint32_t b = 0; b < bufs; b++) {
				size_t old = len[b], n = old ? old + old / 8 + 8 : 16;

				if (old >= max)
					continue;
				if (n > max)
					n = max;
				unsigned char *p = b_realloc(buf[b], n);
				if (!p) {
					bad++;
					continue;
				}
				if (old && p[old - 1] != (unsigned char)(b + (old - 1) * 31u))
					bad++;
				for (size_t i = old; i < n; i++)
					p[i] = (unsigned char)(b + i * 31u);
				buf[b] = p;
				len[b] = n;
				ops++;
				growing = 1;
			}
		}
		for (uint32_t b = 0; b < bufs; b++) {
			sum += bench_check_fill(buf[b], len[b], b, &bad);
			b_free(buf[b]);
			buf[b] = NULL;
		}
	}
	double secs = bench_now() - t0;
	free(buf);
	free(len);
	return bench_report("realloc_grow", (double)ops, secs, bad == 0,
			    "bufs=%u max=%zu rounds=%u checksum=%llu bad=%llu", bufs, max, rounds,
			    (unsigned long long)sum, (unsigned long long)bad);
}
