/*
 * bench/thread_churn.c — thread churn: ROUNDS times, start THREADS threads;
 * each mallocs BLOCKS blocks (16..4096 B), frees half itself and hands the
 * other half back; the main thread frees those after the join. Measures
 * thread start/exit cost inside the allocator (lane setup, flushing a dead
 * thread's caches, adopting its pages) and frees of a dead thread's blocks.
 * Result: threads per second. Self-check: stamps at both ends of each block.
 * Usage: thread_churn [ROUNDS=2000] [THREADS=2] [BLOCKS=200]
 */
#include "bench.h"
#include "bench_threads.h"

struct job {
	struct bench_thread th; /* first: see bench_threads.h; the tally spans rounds */
	uint32_t seed, blocks;
	unsigned char **kept;
	uint32_t *size;
};

static void *work(void *arg)
{
	struct job *j = arg;
	uint32_t state = j->seed;

	for (uint32_t i = 0; i < j->blocks; i++) {
		uint32_t n = 16 + bench_xorshift32(&state) % 4081;

		j->kept[i] = bench_xmalloc(n);
		j->size[i] = n;
		bench_stamp(j->kept[i], n, i ^ n);
	}
	for (uint32_t i = 0; i < j->blocks; i += 2) {
		j->th.sum += bench_verify(j->kept[i], j->size[i], i ^ j->size[i], &j->th.bad);
		b_free(j->kept[i]);
		j->kept[i] = NULL;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned rounds = (unsigned)bench_arg(argc, argv, 1, 2000);
	unsigned threads = (unsigned)bench_arg(argc, argv, 2, 2);
	uint32_t blocks = (uint32_t)bench_arg(argc, argv, 3, 200);
	struct bench_thread all = { 0 };

	if (threads == 0 || threads > 256 || blocks == 0) {
		fprintf(stderr, "thread_churn: need 1..256 threads and BLOCKS > 0\n");
		return 2;
	}
	struct job *j = bench_workers(threads, sizeof(*j));
	for (unsigned t = 0; t < threads; t++) {
		j[t].kept = calloc(blocks, sizeof(*j[t].kept));
		j[t].size = calloc(blocks, sizeof(*j[t].size));
		if (!j[t].kept || !j[t].size)
			return 3;
	}
	double t0 = bench_now();
	for (unsigned r = 0; r < rounds; r++) {
		for (unsigned t = 0; t < threads; t++) {
			j[t].seed = 1 + r * 7919u + t;
			j[t].blocks = blocks;
		}
		bench_threads_start(j, sizeof(*j), threads, work);
		/* Each thread's blocks are freed right after its join, while later
		 * threads may still run: not bench_threads_join(). */
		for (unsigned t = 0; t < threads; t++) {
			pthread_join(j[t].th.tid, NULL);
			for (uint32_t i = 1; i < blocks; i += 2) {
				j[t].th.sum += bench_verify(j[t].kept[i], j[t].size[i], i ^ j[t].size[i], &j[t].th.bad);
				b_free(j[t].kept[i]);
			}
		}
	}
	double secs = bench_now() - t0;
	for (unsigned t = 0; t < threads; t++) {
		all.bad += j[t].th.bad;
		all.sum += j[t].th.sum;
		free(j[t].kept);
		free(j[t].size);
	}
	free(j);
	return bench_report("thread_churn", (double)rounds * threads, secs, all.bad == 0,
			    "threads=%u blocks=%u checksum=%llu bad=%llu", threads, blocks,
			    (unsigned long long)all.sum, (unsigned long long)all.bad);
}
