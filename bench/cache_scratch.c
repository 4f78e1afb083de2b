/*
 * bench/cache_scratch.c — false sharing, in the style of Hoard's
 * cache-scratch: the main thread mallocs THREADS small objects in a row (so
 * they likely share cache lines) and hands one to each thread; each thread
 * frees it, then ITERS times mallocs an object of the same SIZE, writes it
 * WRITES times, and frees it. An allocator that gives the freed neighbour
 * slots back to different threads makes them fight over one cache line.
 * Self-check: each thread's write count is read back from its object.
 * Usage: cache_scratch [THREADS=2] [ITERS=2000] [WRITES=10000] [SIZE=8]
 */
#include "bench.h"
#include "bench_threads.h"

struct worker {
	struct bench_thread th; /* first: see bench_threads.h */
	unsigned char *first;
	uint64_t iters, writes;
	size_t size;
};

static void *work(void *arg)
{
	struct worker *w = arg;

	b_free(w->first);
	for (uint64_t i = 0; i < w->iters; i++) {
		volatile unsigned char *p = bench_xmalloc(w->size);

		for (size_t j = 0; j < w->size; j++)
			p[j] = 0;
		for (uint64_t k = 0; k < w->writes; k++)
			p[k % w->size]++;
		uint64_t got = 0;
		for (size_t j = 0; j < w->size; j++)
			got += p[j];
		/* each byte wrapped mod 256: the exact total is known */
		uint64_t want = 0;
		for (size_t j = 0; j < w->size; j++)
			want += (unsigned char)(w->writes / w->size + (j < w->writes % w->size));
		w->th.bad += got != want;
		w->th.sum += got;
		b_free((void *)p);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned threads = (unsigned)bench_arg(argc, argv, 1, 2);
	uint64_t iters = bench_arg(argc, argv, 2, 2000);
	uint64_t writes = bench_arg(argc, argv, 3, 10000);
	size_t size = bench_arg(argc, argv, 4, 8);
	struct bench_thread all = { 0 };

	if (threads == 0 || threads > 1024 || size == 0) {
		fprintf(stderr, "cache_scratch: need 1..1024 threads and SIZE > 0\n");
		return 2;
	}
	struct worker *w = bench_workers(threads, sizeof(*w));
	for (unsigned t = 0; t < threads; t++)
		w[t] = (struct worker){ .first = bench_xmalloc(size), .iters = iters, .writes = writes,
					.size = size };
	double t0 = bench_now();
	bench_threads_start(w, sizeof(*w), threads, work);
	bench_threads_join(w, sizeof(*w), threads, &all);
	double secs = bench_now() - t0;
	free(w);
	return bench_report("cache_scratch", (double)threads * iters * writes, secs, all.bad == 0,
			    "threads=%u iters=%llu writes=%llu size=%zu checksum=%llu bad=%llu", threads,
			    (unsigned long long)iters, (unsigned long long)writes, size,
			    (unsigned long long)all.sum, (unsigned long long)all.bad);
}
