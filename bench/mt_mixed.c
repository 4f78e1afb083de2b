/*
 * bench/mt_mixed.c — per-thread random mixed: THREADS threads each run the
 * random mixed loop (DESIGN §6) on their own slots with their own seed, all
 * started together. Measures how the allocator scales with threads that
 * never share blocks. Result: total iterations per second of wall time.
 * Self-check: head and tail stamps per block, checked at free and at the end.
 * Usage: mt_mixed [THREADS=2] [ITERS_PER_THREAD=4000000] [SLOTS=8192] [MIN=16] [MAX=1039]
 */
#include "bench.h"
#include "bench_threads.h"

struct worker {
	struct bench_thread th; /* first: see bench_threads.h */
	uint64_t iters;
	uint32_t slots, min, span, seed;
};

static pthread_barrier_t start;

static void *work(void *arg)
{
	struct worker *w = arg;
	unsigned char **slot = calloc(w->slots, sizeof(*slot));
	uint32_t *size = calloc(w->slots, sizeof(*size));
	uint32_t state = w->seed;
	uint64_t bad = 0, sum = 0;

	if (!slot || !size)
		exit(3);
	pthread_barrier_wait(&start);
	for (uint64_t i = 0; i < w->iters; i++) {
		uint32_t r = bench_xorshift32(&state), idx = r % w->slots;
		unsigned char *p = slot[idx];

		if (p) {
			sum += bench_verify(p, size[idx], idx, &bad);
			b_free(p);
			slot[idx] = NULL;
		} else {
			uint32_t n = w->min + r % w->span;

			p = bench_xmalloc(n);
			bench_stamp(p, n, idx);
			size[idx] = n;
			slot[idx] = p;
		}
	}
	for (uint32_t i = 0; i < w->slots; i++)
		if (slot[i]) {
			sum += bench_verify(slot[i], size[i], i, &bad);
			b_free(slot[i]);
		}
	free(slot);
	free(size);
	w->th.bad = bad;
	w->th.sum = sum;
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned threads = (unsigned)bench_arg(argc, argv, 1, 2);
	uint64_t iters = bench_arg(argc, argv, 2, 4000000);
	uint32_t slots = (uint32_t)bench_arg(argc, argv, 3, 8192);
	uint32_t min = (uint32_t)bench_arg(argc, argv, 4, 16);
	uint32_t max = (uint32_t)bench_arg(argc, argv, 5, 1039);
	struct bench_thread all = { 0 };

	if (threads == 0 || threads > 1024 || slots == 0 || min == 0 || max < min) {
		fprintf(stderr, "mt_mixed: need 1..1024 threads, SLOTS > 0, 0 < MIN <= MAX\n");
		return 2;
	}
	struct worker *w = bench_workers(threads, sizeof(*w));
	pthread_barrier_init(&start, NULL, threads + 1);
	for (unsigned t = 0; t < threads; t++)
		w[t] = (struct worker){ .iters = iters, .slots = slots, .min = min,
					.span = max - min + 1, .seed = 1234567u + 7919u * t };
	bench_threads_start(w, sizeof(*w), threads, work);
	pthread_barrier_wait(&start);
	double t0 = bench_now();
	bench_threads_join(w, sizeof(*w), threads, &all);
	double secs = bench_now() - t0;
	free(w);
	return bench_report("mt_mixed", (double)iters * threads, secs, all.bad == 0,
			    "threads=%u slots=%u min=%u max=%u checksum=%llu bad=%llu", threads, slots, min,
			    max, (unsigned long long)all.sum, (unsigned long long)all.bad);
}
