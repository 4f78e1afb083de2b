/*
 * bench/os_bench.c — what the OS layers cost, per backing (4 KiB, THP,
 * hugetlb 2 MiB): first-touch cost per MiB, and how long the freeing thread
 * waits to purge a 2 MiB chunk, synchronous madvise against io_uring
 * (queue + submit; the madvise itself then runs in a kernel worker).
 *
 * Sees internals (os/, hugepage/), unlike the allocator benchmarks. As root
 * it reserves a hugetlb pool for the run and restores nr_hugepages after;
 * otherwise the hugetlb rows say n/a. Medians of ROUNDS rounds.
 * Usage: os_bench [MiB per round, default 64] [rounds, default 5]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hugepage/hugepage.h"
#include "os/os.h"
#include "test/common/hugetlb_pool.h"

#define MIB ((size_t)1 << 20)
#define MAX_ROUNDS 50

static size_t region_mib = 64;
static int rounds = 5;

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* CPU time of the calling thread: what it spent itself, whatever the
 * scheduler did with the kernel worker meanwhile (2 busy cores here). */
static double cpu_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void touch(char *p, size_t len)
{
	for (size_t off = 0; off < len; off += 4096)
		p[off] = 1;
}

static void on_done(void *cookie, void *ctx)
{
	(void)cookie;
	++*(int *)ctx;
}

/* touch; madvise; uring 1-by-1 wait wall/cpu; uring batch wait wall/cpu, done */
#define NV 7
struct result { double v[NV]; int ok; };

/* Purges every 2 MiB chunk through the queue (touched again first): one
 * submit per chunk, then all in one submit. Fills out[2..6]. */
static int purge_async(char *p, size_t chunks, double *out)
{
	int done = 0;
	touch(p, chunks * 2 * MIB);
	double c0 = cpu_us(), t0 = now_us();
	for (size_t i = 0; i < chunks; i++) {
		hk_os_purge_queue(p + i * 2 * MIB, 2 * MIB, p); /* no merging */
		hk_os_purge_submit(on_done, &done);
	}
	out[2] = (now_us() - t0) / (double)chunks;
	out[3] = (cpu_us() - c0) / (double)chunks;
	hk_os_purge_drain(on_done, &done);

	touch(p, chunks * 2 * MIB);
	c0 = cpu_us(), t0 = now_us();
	for (size_t i = 0; i < chunks; i++)
		hk_os_purge_queue(p + i * 2 * MIB, 2 * MIB, p); /* no merging */
	hk_os_purge_submit(on_done, &done);
	out[4] = (now_us() - t0) / (double)chunks;
	out[5] = (cpu_us() - c0) / (double)chunks;
	hk_os_purge_drain(on_done, &done);
	out[6] = (now_us() - t0) / (double)chunks;
	return done == 2 * (int)chunks ? 0 : -1;
}

/* One round on a fresh commit: first touch, every chunk purged with a
 * synchronous madvise, then through the queue. */
static int one_round(hk_hugepage_policy_t policy, hk_backing_t want, double out[NV])
{
	size_t len = region_mib * MIB, chunks = len / (2 * MIB);
	void *p = NULL;
	hk_backing_t got;
	if (hk_os_reserve(len, 2 * MIB, &p))
		return -1;
	if (hk_hugepage_commit(p, len, policy, 1, &got) || got != want) {
		hk_os_release(p, len);
		return -1;
	}
	double t0 = now_us();
	touch(p, len);
	out[0] = (now_us() - t0) / (double)region_mib;
	t0 = now_us();
	for (size_t i = 0; i < chunks; i++)
		hk_os_purge((char *)p + i * 2 * MIB, 2 * MIB);
	out[1] = (now_us() - t0) / (double)chunks;
	int err = purge_async(p, chunks, out);
	hk_hugepage_decommit(p, len, got);
	hk_os_release(p, len);
	return err;
}

static struct result measure(hk_hugepage_policy_t policy, hk_backing_t want)
{
	double v[NV][MAX_ROUNDS], r[NV];
	struct result res = { { 0 }, 0 };
	/* A warm-up round first: io_uring starts its kernel workers lazily. */
	for (int i = -1; i < rounds; i++) {
		if (one_round(policy, want, r))
			return res;
		for (int k = 0; k < NV && i >= 0; k++)
			v[k][i] = r[k];
	}
	for (int k = 0; k < NV; k++)
		res.v[k] = median(v[k], rounds);
	res.ok = 1;
	return res;
}

static void row(const char *name, struct result r, const char *why)
{
	printf("%-11s", name);
	for (int k = 0; k < NV; k++)
		r.ok ? printf(k > 1 ? " %10.1f" : k ? " %8.1f" : " %8.0f", r.v[k])
		     : printf(k > 1 ? " %10s" : " %8s", "n/a");
	printf(r.ok ? "\n" : "   (%s)\n", why);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		region_mib = (size_t)atol(argv[1]) & ~(size_t)1;
	if (argc > 2)
		rounds = atoi(argv[2]);
	if (region_mib < 2 || rounds < 1 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "usage: %s [MiB >= 2] [rounds 1..%d]\n", argv[0], MAX_ROUNDS);
		return 2;
	}
	/* Held until the end: tests that count pool pages wait meanwhile. */
	struct hugetlb_pool pool;
	hugetlb_pool_begin(&pool, HUGETLB_NR_PATH);
	long nr = hugetlb_read_long(HUGETLB_NR_PATH);
	int reserved = nr >= 0 && hugetlb_pool_set(&pool, nr + (long)(region_mib / 2)) == 0;
	hk_os_init(getenv("HAKMEM_PURGE"));
	hk_hugepage_init(NULL);
	const hk_os_caps_t *c = hk_os_caps();
	double load = -1;
	FILE *f = fopen("/proc/loadavg", "r");
	if (f) {
		if (fscanf(f, "%lf", &load) != 1)
			load = -1;
		fclose(f);
	}
	printf("os_bench: %zu MiB per round, %d rounds (medians); purge mode: %s; THP mode %d;"
	       " load average %.1f (wall times grow with it)\n",
	       region_mib, rounds, c->purge_note, c->thp_mode, load);
	printf("touch: first-touch us per MiB. Other columns: us per 2 MiB chunk purged.\n"
	       "madvise: synchronous call. 1by1: one io_uring submit per chunk; batch: one\n"
	       "submit for all; wall = the freeing thread's wait, cpu = its own CPU time;\n"
	       "done = until the kernel finished the batch.\n\n");
	printf("%-11s %8s %8s %10s %10s %10s %10s %10s\n", "backing", "touch", "madvise",
	       "1by1 wall", "1by1 cpu", "batch wall", "batch cpu", "batch done");
	row("4K", measure(HK_HUGEPAGE_NONE, HK_BACKING_4K), "");
	row("THP", measure(HK_HUGEPAGE_THP, HK_BACKING_THP), "THP unavailable");
	row("hugetlb-2M", measure(HK_HUGEPAGE_2M, HK_BACKING_2M),
	    reserved ? hk_hugepage_notes() : "no pool: run as root or tools/hugepages.sh reserve 2M N");
	hugetlb_pool_end(&pool);
	if (c->purge_mode != HK_OS_PURGE_IO_URING)
		printf("\nnote: io_uring is not in use, so the uring columns are madvise too\n");
	return 0;
}
