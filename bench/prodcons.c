/*
 * bench/prodcons.c — cross-thread free: PAIRS producer/consumer pairs; each
 * producer mallocs blocks (MIN..MAX bytes) and hands them over a lock-free
 * single-producer/single-consumer ring; its consumer checks and frees them.
 * Every free is remote: the allocator's remote-free path and its draining.
 * Self-check: each block carries its sequence number and a tail stamp; the
 * consumer checks both and that sequence numbers arrive in order.
 * Usage: prodcons [PAIRS=1] [BLOCKS_PER_PAIR=2000000] [MIN=16] [MAX=256]
 */
#include <sched.h>
#include <stdatomic.h>
#include "bench.h"
#include "bench_threads.h"

#define RING 1024 /* a power of two */

struct pair {
	struct bench_thread cons; /* first: see bench_threads.h; the consumer checks */
	pthread_t prod;
	uint64_t blocks;
	uint32_t min, span, seed;
	_Alignas(64) _Atomic uint64_t head; /* written by the producer */
	_Alignas(64) _Atomic uint64_t tail; /* written by the consumer */
	_Alignas(64) unsigned char *ring[RING];
};

static void *produce(void *arg)
{
	struct pair *q = arg;
	uint32_t state = q->seed;

	for (uint64_t seq = 0; seq < q->blocks; seq++) {
		uint32_t n = q->min + bench_xorshift32(&state) % q->span;
		unsigned char *p = bench_xmalloc(n);

		memcpy(p, &seq, n < 8 ? n : 8);
		p[n - 1] = (unsigned char)(n ^ 0x5a);
		if (n < 8)
			p[0] = (unsigned char)seq;
		while (seq - atomic_load_explicit(&q->tail, memory_order_acquire) >= RING)
			sched_yield();
		q->ring[seq & (RING - 1)] = p;
		atomic_store_explicit(&q->head, seq + 1, memory_order_release);
	}
	return NULL;
}

static void *consume(void *arg)
{
	struct pair *q = arg;
	uint32_t state = q->seed; /* replays the producer's sizes */
	uint64_t bad = 0, sum = 0;

	for (uint64_t seq = 0; seq < q->blocks; seq++) {
		uint32_t n = q->min + bench_xorshift32(&state) % q->span;
		uint64_t got = 0;

		while (atomic_load_explicit(&q->head, memory_order_acquire) <= seq)
			sched_yield();
		unsigned char *p = q->ring[seq & (RING - 1)];
		if (n >= 8) {
			memcpy(&got, p, 8);
			bad += got != seq;
		} else {
			bad += p[0] != (unsigned char)seq;
		}
		bad += p[n - 1] != (unsigned char)(n ^ 0x5a);
		sum += p[n - 1];
		atomic_store_explicit(&q->tail, seq + 1, memory_order_release);
		b_free(p);
	}
	q->cons.bad = bad;
	q->cons.sum = sum;
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned pairs = (unsigned)bench_arg(argc, argv, 1, 1);
	uint64_t blocks = bench_arg(argc, argv, 2, 2000000);
	uint32_t min = (uint32_t)bench_arg(argc, argv, 3, 16);
	uint32_t max = (uint32_t)bench_arg(argc, argv, 4, 256);
	struct bench_thread all = { 0 };

	if (pairs == 0 || pairs > 256 || min == 0 || max < min) {
		fprintf(stderr, "prodcons: need 1..256 pairs, 0 < MIN <= MAX\n");
		return 2;
	}
	struct pair *q = aligned_alloc(64, sizeof(*q) * pairs);
	if (!q)
		return 3;
	double t0 = bench_now();
	for (unsigned i = 0; i < pairs; i++) {
		memset(&q[i], 0, sizeof(q[i]));
		q[i].blocks = blocks;
		q[i].min = min;
		q[i].span = max - min + 1;
		q[i].seed = 99991u + 131u * i;
		/* each pair's consumer first, then its producer: not bench_threads_start() */
		if (pthread_create(&q[i].cons.tid, NULL, consume, &q[i]) ||
		    pthread_create(&q[i].prod, NULL, produce, &q[i]))
			return 3;
	}
	for (unsigned i = 0; i < pairs; i++)
		pthread_join(q[i].prod, NULL);
	bench_threads_join(q, sizeof(*q), pairs, &all);
	double secs = bench_now() - t0;
	free(q);
	return bench_report("prodcons", (double)blocks * pairs, secs, all.bad == 0,
			    "pairs=%u min=%u max=%u checksum=%llu bad=%llu", pairs, min, max,
			    (unsigned long long)all.sum, (unsigned long long)all.bad);
}
