/*
 * bench/bench_threads.h — the thread scaffolding of the multi-threaded
 * benchmarks: an array of workers, each starting with a struct bench_thread
 * (its thread id and its tally: failed self-checks and checksum), started
 * on one function, joined in order, tallies summed. Must not read the clock
 * or allocate through the allocator under test: each benchmark decides what
 * its timing covers. Invariant: struct bench_thread is a worker's first
 * member, so a worker's address is both its thread argument and its tally.
 */
#ifndef HK_BENCH_THREADS_H
#define HK_BENCH_THREADS_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct bench_thread {
	pthread_t tid;
	uint64_t bad; /* failed self-checks */
	uint64_t sum; /* checksum of what the worker read back */
};

/* Worker i of an array of n workers of `size` bytes each. */
static inline struct bench_thread *bench_thread_at(void *workers, size_t size, unsigned i)
{
	return (struct bench_thread *)((char *)workers + (size_t)i * size);
}

/* n zeroed workers of `size` bytes (plain calloc: scaffolding, not load). */
static inline void *bench_workers(unsigned n, size_t size)
{
	void *w = calloc(n, size);

	if (!w) {
		fprintf(stderr, "bench: no memory for %u workers\n", n);
		exit(3);
	}
	return w;
}

/* Starts fn(worker) on each of the n workers; a thread that cannot start
 * ends the benchmark (exit 3): fewer threads would measure something else. */
static inline void bench_threads_start(void *workers, size_t size, unsigned n, void *(*fn)(void *))
{
	for (unsigned i = 0; i < n; i++) {
		struct bench_thread *t = bench_thread_at(workers, size, i);

		if (pthread_create(&t->tid, NULL, fn, t)) {
			fprintf(stderr, "bench: cannot start thread %u of %u\n", i + 1, n);
			exit(3);
		}
	}
}

/* Joins the n workers in order and adds their tallies to *total (NULL: only joins). */
static inline void bench_threads_join(void *workers, size_t size, unsigned n, struct bench_thread *total)
{
	for (unsigned i = 0; i < n; i++) {
		struct bench_thread *t = bench_thread_at(workers, size, i);

		pthread_join(t->tid, NULL);
		if (total) {
			total->bad += t->bad;
			total->sum += t->sum;
		}
	}
}

#endif
