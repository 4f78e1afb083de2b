/*
 * bench/larson.c — a server simulation in the style of Larson & Krishnan:
 * THREADS workers each own SLOTS blocks (MIN..MAX bytes) and replace random
 * ones (check, free, malloc, stamp) OPS times; then the worker exits and a
 * fresh thread takes over its slots, EPOCHS times. So most frees hit blocks
 * allocated by a thread that has since exited, as in a server whose requests
 * are handled by short-lived threads. Result: replacements per second.
 * Self-check: each block holds its owner slot's stamp at both ends.
 * Also split, so a run says which part loses: ns_per_op_first (a worker's
 * first tenth of its epoch, where it frees the exited thread's blocks),
 * ns_per_op_steady (the other nine tenths; each worker's own wall time per
 * replacement) and epoch_outside_ns (an epoch's time outside its longest
 * worker loop: thread start, exit and join).
 * Usage: larson [THREADS=2] [EPOCHS=20] [OPS=50000] [SLOTS=1000] [MIN=16] [MAX=512]
 */
#include "bench.h"
#include "bench_threads.h"

struct lane {
	struct bench_thread th; /* first: see bench_threads.h; the tally spans epochs */
	unsigned char **slot;
	uint32_t *size;
	uint32_t state, slots, min, span;
};

/* Replacements per lane and epoch: kept out of struct lane so that the lane
 * stays 56 bytes, as before struct bench_thread (neighbouring lanes share
 * cache lines as they always did: the numbers stay comparable). */
static uint64_t epoch_ops;

/* A worker's clock readings in the current epoch, one line each (read by
 * main after the join), also out of struct lane. */
struct split {
	double start, warm, end; /* loop start, end of its first tenth, loop end */
} __attribute__((aligned(64)));
static struct split *splits;
static struct lane *lanes;

static void replace(struct lane *l, uint64_t n_ops)
{
	for (uint64_t i = 0; i < n_ops; i++) {
		uint32_t r = bench_xorshift32(&l->state), k = r % l->slots;
		uint32_t n = l->min + (r >> 8) % l->span;

		l->th.sum += bench_verify(l->slot[k], l->size[k], k ^ l->size[k], &l->th.bad);
		b_free(l->slot[k]);
		l->slot[k] = bench_xmalloc(n);
		l->size[k] = n;
		bench_stamp(l->slot[k], n, k ^ n);
	}
}

/* Two loops, not a test in one: the split adds no instruction per op. */
static void *epoch(void *arg)
{
	struct lane *l = arg;
	struct split *s = &splits[l - lanes];

	s->start = bench_now();
	replace(l, epoch_ops / 10);
	s->warm = bench_now();
	replace(l, epoch_ops - epoch_ops / 10);
	s->end = bench_now();
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned threads = (unsigned)bench_arg(argc, argv, 1, 2);
	unsigned epochs = (unsigned)bench_arg(argc, argv, 2, 20);
	uint64_t ops = bench_arg(argc, argv, 3, 50000);
	uint32_t slots = (uint32_t)bench_arg(argc, argv, 4, 1000);
	uint32_t min = (uint32_t)bench_arg(argc, argv, 5, 16);
	uint32_t max = (uint32_t)bench_arg(argc, argv, 6, 512);
	struct bench_thread all = { 0 };

	if (threads == 0 || threads > 1024 || slots == 0 || min == 0 || max < min) {
		fprintf(stderr, "larson: need 1..1024 threads, SLOTS > 0, 0 < MIN <= MAX\n");
		return 2;
	}
	struct lane *l = bench_workers(threads, sizeof(*l));
	double first = 0, steady = 0, outside = 0; /* seconds, summed */
	epoch_ops = ops;
	lanes = l;
	/* The main thread fills every lane: the first epoch already frees remotely. */
	for (unsigned t = 0; t < threads; t++) {
		l[t] = (struct lane){ .state = 4242u + 17u * t, .slots = slots, .min = min,
				      .span = max - min + 1 };
		l[t].slot = malloc(slots * sizeof(*l[t].slot));
		l[t].size = malloc(slots * sizeof(*l[t].size));
		if (!l[t].slot || !l[t].size)
			return 3;
		for (uint32_t k = 0; k < slots; k++) {
			uint32_t n = min + bench_xorshift32(&l[t].state) % l[t].span;

			l[t].slot[k] = bench_xmalloc(n);
			l[t].size[k] = n;
			bench_stamp(l[t].slot[k], n, k ^ n);
		}
	}
	/* After the fill: the lanes' blocks are placed as they always were. */
	splits = aligned_alloc(64, threads * sizeof(*splits));
	if (!splits)
		return 3;
	/* One clock reading ends an epoch and starts the next: the epochs tile the
	 * run, so with one worker the three parts add up to secs exactly, however
	 * long this thread is preempted between epochs (tools/bench-smoke.sh). */
	double t0 = bench_now(), e0 = t0;
	for (unsigned e = 0; e < epochs; e++) {
		double longest = 0, e1;

		bench_threads_start(l, sizeof(*l), threads, epoch);
		bench_threads_join(l, sizeof(*l), threads, NULL);
		e1 = bench_now();
		outside += e1 - e0;
		e0 = e1;
		for (unsigned t = 0; t < threads; t++) {
			first += splits[t].warm - splits[t].start;
			steady += splits[t].end - splits[t].warm;
			if (splits[t].end - splits[t].start > longest)
				longest = splits[t].end - splits[t].start;
		}
		outside -= longest;
	}
	double secs = e0 - t0;
	double runs = (double)threads * epochs, n_first = (double)(ops / 10) * runs;
	double n_steady = (double)(ops - ops / 10) * runs;
	for (unsigned t = 0; t < threads; t++) {
		for (uint32_t k = 0; k < slots; k++) {
			all.sum += bench_verify(l[t].slot[k], l[t].size[k], k ^ l[t].size[k], &all.bad);
			b_free(l[t].slot[k]);
		}
		all.bad += l[t].th.bad;
		all.sum += l[t].th.sum;
		free(l[t].slot);
		free(l[t].size);
	}
	free(l);
	free(splits);
	return bench_report("larson", (double)ops * threads * epochs, secs, all.bad == 0,
			    "threads=%u epochs=%u slots=%u min=%u max=%u checksum=%llu bad=%llu "
			    "ns_per_op_first=%.2f ns_per_op_steady=%.2f epoch_outside_ns=%.0f",
			    threads, epochs, slots, min, max, (unsigned long long)all.sum,
			    (unsigned long long)all.bad, n_first > 0 ? first / n_first * 1e9 : 0,
			    n_steady > 0 ? steady / n_steady * 1e9 : 0, epochs ? outside / epochs * 1e9 : 0);
}
