/*
 * bench/arena_pairs.c — the cost of a user arena's small-block paths.
 * MODE 0: ITERS times hk_arena_malloc(SIZE) + hk_free (the arena fast path,
 * to compare with bench/pairs' hk_malloc + hk_free). MODE K > 0: ITERS times
 * K blocks from the arena, then hk_arena_reset (a per-request arena).
 * Built with -DBENCH_HK it uses one hk_arena_create()d arena; without it,
 * malloc/free stand in (K mallocs then K frees), so other allocators have
 * a comparable row. Self-check: every block is stamped at both ends after
 * the allocation and checked before its free/reset; a block handed out twice
 * while live fails. Usage: arena_pairs SIZE [ITERS=5000000] [MODE=0]
 */
#include "bench.h"

#ifdef BENCH_HK
static hk_arena_t *arena;
#define a_malloc(n) hk_arena_malloc(arena, (n))
#else
#define a_malloc(n) malloc(n)
#endif

/* MODE 0, bench/pairs.c's loop (the arena in a register, as a caller that
 * owns it keeps it): the callgrind rows of the two compare the allocators'
 * instructions alone. */
static uint64_t pair_loop(size_t size, uint64_t iters)
{
#ifdef BENCH_HK
	hk_arena_t *const ar = arena;
#define pair_malloc(n) hk_arena_malloc(ar, (n))
#else
#define pair_malloc(n) malloc(n)
#endif
	return BENCH_PAIR_LOOP(pair_malloc, size, iters);
}

#define KMAX 64

static void end_request(unsigned char **blk, unsigned k)
{
#ifdef BENCH_HK
	(void)blk;
	(void)k;
	hk_arena_reset(arena);
#else
	for (unsigned j = 0; j < k; j++)
		free(blk[j]);
#endif
}

int main(int argc, char **argv)
{
	size_t size = bench_arg(argc, argv, 1, 64);
	uint64_t iters = bench_arg(argc, argv, 2, 5000000);
	unsigned k = (unsigned)bench_arg(argc, argv, 3, 0);
	uint64_t bad = 0;
	const size_t last = size - 1;
	unsigned char *blk[KMAX];

	if (size < 2 || k > KMAX) {
		fprintf(stderr, "arena_pairs: SIZE must be >= 2, MODE <= %d\n", KMAX);
		return 2;
	}
#ifdef BENCH_HK
	arena = hk_arena_create(NULL);
	if (!arena) {
		fprintf(stderr, "arena_pairs: hk_arena_create failed\n");
		return 1;
	}
#endif
	/* Warm-up outside the timed loop (callgrind's ITERS=0 run removes it). */
	for (unsigned i = 0; i < KMAX; i++)
		blk[i] = a_malloc(size);
	for (unsigned i = 0; i < KMAX; i++)
		b_free(blk[i]);

	double t0 = bench_now();
	if (!k)
		bad = pair_loop(size, iters);
	for (uint64_t i = 0; k && i < iters; i++) {
		for (unsigned j = 0; j < k; j++) {
			blk[j] = a_malloc(size);
			if (!blk[j]) {
				bad++;
				k = j;
				break;
			}
			blk[j][0] = (unsigned char)j;
			blk[j][last] = (unsigned char)(i + j);
		}
		for (unsigned j = 0; j < k; j++)
			bad += (blk[j][0] != (unsigned char)j) | (blk[j][last] != (unsigned char)(i + j));
		end_request(blk, k);
	}
	double secs = bench_now() - t0;

#ifdef BENCH_HK
	hk_arena_destroy(arena);
#endif
	return bench_report("arena_pairs", (double)iters, secs, bad == 0, "size=%zu mode=%u bad=%llu",
			    size, k, (unsigned long long)bad);
}
