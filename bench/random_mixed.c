/*
 * bench/random_mixed.c — the seed project's headline benchmark (DESIGN §6):
 * one thread, SLOTS slots, ITERS iterations; each draws r from xorshift32,
 * picks slot r % SLOTS, frees its block if set, else mallocs
 * MIN + (r % (MAX - MIN + 1)) bytes (16 + (r & 0x3FF) for the defaults).
 * Self-check, kept to ~3 instructions so callgrind counts stay comparable with
 * the seed's (which stored one byte): the first byte of each block holds its
 * slot's low byte, checked when freed; at the end every live block is checked
 * at both ends (its last byte is stamped too). Nothing else is written.
 * MODE "seed" runs the seed's exact loop (one byte stored per malloc, no check
 * in the loop): its instruction counts compare with DESIGN §6's directly.
 * Usage: random_mixed [ITERS=10000000] [SLOTS=8192] [SEED=1234567] [MIN=16] [MAX=1039] [MODE=check|seed]
 */
#include "bench.h"

struct run {
	uint64_t iters;
	uint32_t slots, min, span, state;
	unsigned char **slot;
	uint32_t *size;
	uint64_t bad;
	int seed_loop; /* MODE=seed: the seed's loop, no per-iteration check */
};

/* The loop. Power-of-two slot counts and spans are masked instead of divided
 * (the callers pass constants, so each variant folds to its own loop). */
static inline __attribute__((always_inline)) void run_loop(struct run *b, int pow2_slots, int pow2_span,
							  int seed_loop)
{
	/* Locals, not b->: stores through unsigned char * alias everything. */
	const uint32_t slots = b->slots, span = b->span, min = b->min;
	const uint32_t smask = slots - 1, zmask = span - 1;
	unsigned char **const slot = b->slot;
	uint32_t *const size = b->size;
	uint32_t state = b->state;
	uint64_t bad = 0;

	for (uint64_t left = b->iters; left; left--) {
		uint32_t r = bench_xorshift32(&state);
		uint32_t idx = pow2_slots ? r & smask : r % slots;
		unsigned char *p = slot[idx];

		if (p) {
			if (!seed_loop)
				bad += p[0] != (unsigned char)idx;
			b_free(p);
			slot[idx] = NULL;
		} else {
			uint32_t n = min + (pow2_span ? r & zmask : r % span);

			p = b_malloc(n);
			if (!p) {
				bad++;
				continue;
			}
			if (!seed_loop) {
				p[n - 1] = (unsigned char)~idx; /* tail first: for n == 1 the head wins */
				size[idx] = n;
			}
			p[0] = (unsigned char)idx;
			slot[idx] = p;
		}
	}
	b->bad += bad;
}

static void run_any(struct run *b)
{
	int ps = (b->slots & (b->slots - 1)) == 0, pz = (b->span & (b->span - 1)) == 0;

	int sl = b->seed_loop;

	if (ps && pz)
		sl ? run_loop(b, 1, 1, 1) : run_loop(b, 1, 1, 0);
	else if (ps)
		sl ? run_loop(b, 1, 0, 1) : run_loop(b, 1, 0, 0);
	else if (pz)
		sl ? run_loop(b, 0, 1, 1) : run_loop(b, 0, 1, 0);
	else
		sl ? run_loop(b, 0, 0, 1) : run_loop(b, 0, 0, 0);
}

int main(int argc, char **argv)
{
	struct run b = { 0 };
	uint32_t seed;
	uint64_t sum = 0, live = 0;

	b.iters = bench_arg(argc, argv, 1, 10000000);
	b.slots = (uint32_t)bench_arg(argc, argv, 2, 8192);
	seed = (uint32_t)bench_arg(argc, argv, 3, 1234567);
	b.min = (uint32_t)bench_arg(argc, argv, 4, 16);
	uint32_t max = (uint32_t)bench_arg(argc, argv, 5, 1039);
	b.seed_loop = argc > 6 && strcmp(argv[6], "seed") == 0;
	if (b.slots == 0 || b.min == 0 || max < b.min) {
		fprintf(stderr, "random_mixed: need SLOTS > 0 and 0 < MIN <= MAX\n");
		return 2;
	}
	b.span = max - b.min + 1;
	b.state = seed ? seed : 1;
	b.slot = calloc(b.slots, sizeof(*b.slot));
	b.size = calloc(b.slots, sizeof(*b.size));
	if (!b.slot || !b.size)
		return 3;

	double t0 = bench_now();
	run_any(&b);
	double secs = bench_now() - t0;

	for (uint32_t i = 0; i < b.slots; i++) {
		unsigned char *p = b.slot[i];

		if (p) {
			b.bad += p[0] != (unsigned char)i ||
				 (!b.seed_loop && b.size[i] > 1 && p[b.size[i] - 1] != (unsigned char)~i);
			sum += p[0] + (b.seed_loop ? 0 : p[b.size[i] - 1]);
			b_free(p);
			live++;
		}
	}
	free(b.slot);
	free(b.size);
	return bench_report("random_mixed", (double)b.iters, secs, b.bad == 0,
			    "slots=%u seed=%u min=%u max=%u live_end=%llu checksum=%llu bad=%llu", b.slots,
			    seed, b.min, max, (unsigned long long)live, (unsigned long long)sum,
			    (unsigned long long)b.bad);
}
