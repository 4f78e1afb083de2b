/*
 * bench/bench.h — what every benchmark shares: the clock, xorshift32, byte
 * stamps that prove a block was not overwritten, and the one result line.
 * Benchmarks see only the public allocation API: malloc/free (whatever is
 * preloaded), or hk_* when built with -DBENCH_HK (linked with libhakmem.a).
 * Invariant: a benchmark whose self-check failed prints check=FAIL and exits 1,
 * so a broken allocator can never look fast.
 */
#ifndef HK_BENCH_H
#define HK_BENCH_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

#ifdef BENCH_HK
#include <hakmem.h>
#define b_malloc hk_malloc
#define b_free hk_free
#define b_realloc hk_realloc
#define b_calloc hk_calloc
#define BENCH_LINKED "hakmem-linked"
#else
#define b_malloc malloc
#define b_free free
#define b_realloc realloc
#define b_calloc calloc
#define BENCH_LINKED "no"
#endif

/* Keeps the compiler from proving a malloc/free pair dead (gcc elides them). */
#define bench_escape(p) __asm__ volatile("" : : "r"(p) : "memory")

static inline double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline uint32_t bench_xorshift32(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

/* A numeric argument, or the default when absent; junk is fatal. */
static inline unsigned long long bench_arg(int argc, char **argv, int i, unsigned long long dflt)
{
	char *end;
	unsigned long long v;

	if (i >= argc)
		return dflt;
	errno = 0;
	v = strtoull(argv[i], &end, 0);
	if (errno || *end || end == argv[i]) {
		fprintf(stderr, "%s: bad argument %d: '%s'\n", argv[0], i, argv[i]);
		exit(2);
	}
	return v;
}

/* The stamp written at both ends of a block: a function of its owner tag. */
static inline unsigned char bench_stamp_byte(uint32_t tag)
{
	return (unsigned char)(tag * 2654435761u >> 24) | 1u;
}

static inline void bench_stamp(unsigned char *p, size_t size, uint32_t tag)
{
	p[0] = bench_stamp_byte(tag);
	p[size - 1] = (unsigned char)~bench_stamp_byte(tag);
}

/* Returns the stamp's contribution to the checksum, or counts a failure. */
static inline uint64_t bench_verify(const unsigned char *p, size_t size, uint32_t tag,
				    uint64_t *bad)
{
	unsigned char h = bench_stamp_byte(tag);

	if (p[0] != h || p[size - 1] != (unsigned char)~h)
		(*bad)++;
	return (uint64_t)p[0] + p[size - 1];
}

/* Every byte of a block from a seed; returns the sum of what it wrote. */
static inline uint64_t bench_fill(unsigned char *p, size_t n, uint32_t seed)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++) {
		p[i] = (unsigned char)(seed + i * 31u);
		sum += p[i];
	}
	return sum;
}

/* Checks a block filled by bench_fill; returns the sum of what it read. */
static inline uint64_t bench_check_fill(const unsigned char *p, size_t n, uint32_t seed, uint64_t *bad)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] != (unsigned char)(seed + i * 31u))
			(*bad)++;
		sum += p[i];
	}
	return sum;
}

/*
 * Peak resident set of this program, KiB: VmHWM of the current address
 * space. Not getrusage's ru_maxrss, which keeps the high-water mark of the
 * process image before exec (the runner's Python, a shell) and so hides
 * differences of a few MB.
 */
static inline long bench_maxrss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f) {
		struct rusage ru;

		getrusage(RUSAGE_SELF, &ru);
		return ru.ru_maxrss;
	}
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* Resident set now, from /proc/self/statm (pages → KiB). */
static inline long bench_rss_kb(void)
{
	long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &res) != 2)
		res = -1;
	fclose(f);
	return res < 0 ? -1 : res * 4;
}

/*
 * The result line the runner parses:
 *   RESULT bench=NAME ops=N secs=S ops_per_s=R check=ok|FAIL maxrss_kb=K [extra]
 * Returns the process exit status: 0, or 1 when the self-check failed.
 */
static inline int bench_report(const char *name, double ops, double secs, int ok,
			       const char *fmt, ...)
{
	char extra[512] = "";
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(extra, sizeof(extra), fmt, ap);
		va_end(ap);
	}
	printf("RESULT bench=%s ops=%.0f secs=%.6f ops_per_s=%.1f check=%s maxrss_kb=%ld linked=%s%s%s",
	       name, ops, secs, secs > 0 ? ops / secs : 0.0, ok ? "ok" : "FAIL", bench_maxrss_kb(),
	       BENCH_LINKED, extra[0] ? " " : "", extra);
#ifdef BENCH_HK
	/* Linked builds also say how often malloc left the fast path (DESIGN §6
	 * budget: <= 2 %); all zero when the build has no statistics. */
	hk_stats_t st;
	if (hk_stats_get(&st) == 0 && st.malloc_fast + st.malloc_slow > 0)
		printf(" hk_malloc_slow_pct=%.3f hk_refills=%llu hk_flushes=%llu", 100.0 * (double)st.malloc_slow /
		       (double)(st.malloc_fast + st.malloc_slow), (unsigned long long)st.refills,
		       (unsigned long long)st.flushes);
#endif
	printf("\n");
	fflush(stdout);
	return ok ? 0 : 1;
}

/*
 * The timed loop of bench/pairs and bench/arena_pairs: ITERS times ALLOC(SIZE),
 * a cheap stamp at both ends (a few instructions, so the loop's own cost stays
 * small), a check, b_free. A macro so that each caller's allocation call is
 * compiled in place as a program's would be (a function pointer would add an
 * indirect call to one row and not the other). Evaluates to the failures seen.
 */
#define BENCH_PAIR_LOOP(ALLOC, SIZE, ITERS)                                                  \
	({                                                                                   \
		const size_t last_ = (SIZE) - 1;                                             \
		uint64_t bad_ = 0;                                                           \
		for (uint64_t i_ = 0; i_ < (ITERS); i_++) {                                  \
			unsigned char *p_ = ALLOC(SIZE);                                     \
			if (!p_) {                                                           \
				bad_++;                                                      \
				continue;                                                    \
			}                                                                    \
			p_[0] = (unsigned char)i_;                                           \
			p_[last_] = (unsigned char)~i_;                                      \
			bench_escape(p_);                                                    \
			bad_ += (p_[0] != (unsigned char)i_) | (p_[last_] != (unsigned char)~i_); \
			b_free(p_);                                                          \
		}                                                                            \
		bad_;                                                                        \
	})

static inline void *bench_xmalloc(size_t n)
{
	void *p = b_malloc(n);

	if (!p) {
		fprintf(stderr, "bench: malloc(%zu) failed\n", n);
		exit(3);
	}
	return p;
}

#endif
