/*
 * test/api/test_api_profile.c — hk_profile_start/dump/stop for an embedding
 * program (libhakmem.a, include/hakmem.h only).
 *
 * Owns: a dump names the blocks live at that moment and only those (sampled,
 * so counted with a low rate), its header carries the rate pprof un-samples
 * by, per-arena live bytes ride along, threads started after hk_profile_start
 * are sampled, and blocks sampled before hk_profile_stop leave the dump when
 * freed; its own memory is bounded (records, table, open slots) and counted
 * in hk_stats_print. Skips when hakmem was built without CONFIG_HK_PROFILE (ENOSYS).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hakmem.h"

enum { N = 4096, SIZE = 512 };

static void start(size_t rate)
{
	int r = hk_profile_start("/tmp/hk-api-profile", rate);
	if (r == ENOSYS)
		cr_skip_test("built without CONFIG_HK_PROFILE");
	cr_assert_eq(r, 0, "hk_profile_start: %s", strerror(r));
}

/* Number of sample lines in the dump; *rate from its header; *arena_live the
 * live bytes of the arena named `arena` (or -1). */
static long dump(size_t *rate, const char *arena, long *arena_live)
{
	char path[64], line[4096];
	long lines = 0;
	snprintf(path, sizeof path, "/tmp/hk-api-profile.%d.heap", (int)getpid());
	cr_assert_eq(hk_profile_dump(path), 0);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(line, sizeof line, f));
	char *v2 = strstr(line, "@ heap_v2/");
	cr_assert_not_null(v2, "header: %s", line);
	*rate = strtoull(v2 + 10, NULL, 10);
	*arena_live = -1;
	while (fgets(line, sizeof line, f)) {
		if (!strncmp(line, "1: ", 3))
			lines++;
		char *a = strstr(line, arena ? arena : "\001");
		if (!strncmp(line, "# arena ", 8) && a)
			*arena_live = strtol(strstr(line, "live ") + 5, NULL, 10);
		if (!strncmp(line, "MAPPED_LIBRARIES:", 17))
			break;
	}
	fclose(f);
	unlink(path);
	char folded[80];
	snprintf(folded, sizeof folded, "%s.folded", path);
	unlink(folded);
	return lines;
}

static void *blocks[4][N];

static void *alloc_many(void *arg)
{
	void **b = arg;
	for (int i = 0; i < N; i++)
		b[i] = hk_malloc(SIZE);
	return NULL;
}

Test(profile, live_blocks_threads_arenas_and_stop)
{
	size_t rate;
	long live;
	start(4096); /* a 512-byte block is sampled with p = 1 - e^-1/8 = 0.118 */
	hk_arena_t *a = hk_arena_create(&(hk_arena_config_t){ .name = "profiled" });
	cr_assert_not_null(a);
	void *ab = hk_arena_malloc(a, 100000);
	cr_assert_not_null(ab);
	pthread_t t[3];
	alloc_many(blocks[0]);
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, alloc_many, blocks[i + 1]);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	long all = dump(&rate, "profiled", &live);
	cr_assert_eq(rate, 4096);
	/* 16384 blocks x 0.118 = 1933 expected samples: 1500 is 10 standard
	 * deviations below, 2400 ten above. */
	cr_assert(all >= 1500 && all <= 2400, "%ld samples of 16384 blocks at p = 0.118", all);
	cr_assert_geq(live, 100000, "arena 'profiled' live %ld", live);
	hk_profile_stop();
	hk_free(ab); /* an arena block (sampled too: at this size surely) */
	for (int k = 0; k < 4; k++)
		for (int i = 0; i < N / 2; i++)
			hk_free(blocks[k][i]);
	long half = dump(&rate, NULL, &live);
	cr_assert(half >= all / 2 - 250 && half <= all / 2 + 250, "%ld of %ld left after half the frees",
		  half, all);
	for (int k = 0; k < 4; k++)
		for (int i = N / 2; i < N; i++)
			hk_free(blocks[k][i]);
	cr_assert_eq(dump(&rate, NULL, &live), 0, "freed blocks still in the dump");
	/* Stopped: new blocks are not sampled. */
	alloc_many(blocks[0]);
	cr_assert_eq(dump(&rate, NULL, &live), 0, "sampled after hk_profile_stop");
	for (int i = 0; i < N; i++)
		hk_free(blocks[0][i]);
	hk_arena_destroy(a);
}

/* The sampler line of hk_stats_print: guarded, open, committed bytes,
 * records, table bytes, dropped, kept. */
static void sampler_counts(size_t v[7])
{
	char buf[8192];
	FILE *f = tmpfile();
	cr_assert_not_null(f);
	hk_stats_print(fileno(f));
	rewind(f);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *s = strstr(buf, "sampler: ");
	cr_assert_not_null(s, "no sampler line: %s", buf);
	cr_assert_eq(sscanf(s, "sampler: %zu guarded blocks, %zu freed kept resident, %zu in open slots "
			       "(%zu bytes committed), %zu profile records (table %zu bytes mapped, "
			       "%zu dropped)",
			    &v[0], &v[6], &v[1], &v[2], &v[3], &v[4], &v[5]), 7, "sampler line: %.200s", s);
}

/* Its own memory is bounded and counted: every block sampled (rate 1),
 * more blocks live than records and open slots: the records stop at the
 * table's size (the rest counted as dropped), the table does not grow, the
 * open slots' committed bytes stop at 32 MiB, and every block still works. */
Test(profile, own_memory_bounded_and_counted)
{
	enum { MANY = 26000 };
	static void *b[MANY];
	size_t before[7], after[7];
	start(1);
	sampler_counts(before);
	for (int i = 0; i < MANY; i++) {
		b[i] = hk_malloc(64);
		cr_assert_not_null(b[i]);
		memset(b[i], i & 0xff, 64);
	}
	sampler_counts(after);
	hk_profile_stop();
	cr_assert_eq(after[4], before[4], "table grew: %zu -> %zu bytes", before[4], after[4]);
	cr_assert_leq(after[3], 24576, "%zu records", after[3]);
	cr_assert_geq(after[3], 24000, "%zu records: not every block sampled", after[3]);
	cr_assert_gt(after[5], before[5], "no record dropped");
	cr_assert_leq(after[1], 8192, "%zu blocks in open slots", after[1]);
	cr_assert_leq(after[2], ((size_t)32 << 20) + (after[0] + after[6]) * 4096, "%zu bytes committed",
		      after[2]);
	for (int i = 0; i < MANY; i++) {
		cr_assert_eq(((unsigned char *)b[i])[63], i & 0xff);
		hk_free(b[i]);
	}
	size_t rate;
	long arena_live;
	cr_assert_eq(dump(&rate, NULL, &arena_live), 0, "records left after every block was freed");
}

/* Sample lines in a dump, of blocks of exactly `size` bytes. */
static long lines_of(size_t size)
{
	char path[64], line[4096], want[48];
	long n = 0;
	snprintf(path, sizeof path, "/tmp/hk-api-profile-kinds.%d.heap", (int)getpid());
	snprintf(want, sizeof want, "1: %zu [", size);
	cr_assert_eq(hk_profile_dump(path), 0);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	while (fgets(line, sizeof line, f) && strncmp(line, "MAPPED_LIBRARIES:", 17))
		n += !strncmp(line, want, strlen(want));
	fclose(f);
	unlink(path);
	strcat(path, ".folded");
	unlink(path);
	return n;
}

/*
 * Every kind of allocation is sampled (rate 1: each block is): arena blocks
 * (a user arena's fast path and the default heap's through
 * hk_arena_malloc), their records gone with hk_arena_reset and
 * hk_arena_destroy; aligned blocks; a large calloc (zeroed); a block that
 * realloc grows into a mapping keeps a record of its new size. After
 * hk_profile_stop the arena's fast path serves again, unsampled.
 */
Test(profile, every_kind_of_allocation)
{
	enum { K = 64 };
	static void *b[K];
	/* A thread's first counted malloc only draws its first interval (the
	 * very first one may start hakmem, before the thread has a lane). */
	for (int i = 0; i < 2; i++)
		hk_free(hk_malloc(8));
	start(1);
	hk_arena_t *a = hk_arena_create(&(hk_arena_config_t){ .name = "kinds" });
	cr_assert_not_null(a);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < K; i++)
			cr_assert_not_null(b[i] = hk_arena_malloc(a, 72));
		long n = lines_of(72);
		cr_assert_eq(n, K, "arena blocks, round %d: %ld samples of %d", round, n, K);
		hk_free(b[0]);
		cr_assert_eq(lines_of(72), K - 1, "a freed arena block kept its record");
		hk_arena_reset(a);
		cr_assert_eq(lines_of(72), 0, "records left after hk_arena_reset");
	}
	for (int i = 0; i < K; i++)
		cr_assert_not_null(b[i] = hk_arena_malloc(a, 88));
	hk_arena_destroy(a);
	cr_assert_eq(lines_of(88), 0, "records left after hk_arena_destroy");

	for (int i = 0; i < K; i++)
		cr_assert_not_null(b[i] = hk_arena_malloc(hk_arena_default(), 56));
	cr_assert_eq(lines_of(56), K, "default heap through hk_arena_malloc");
	for (int i = 0; i < K; i++)
		hk_free(b[i]);

	for (int i = 0; i < K; i++) {
		cr_assert_not_null(b[i] = hk_aligned_alloc(256, 200));
		cr_assert_eq((uintptr_t)b[i] % 256, 0);
	}
	cr_assert_eq(lines_of(200), K, "aligned_alloc");
	for (int i = 0; i < K; i++)
		hk_free(b[i]);

	for (int i = 0; i < 8; i++) {
		unsigned char *c = hk_calloc(1, 300000);
		cr_assert_not_null(c);
		cr_assert(c[0] == 0 && c[299999] == 0 && c[150000] == 0);
		memset(c, 1, 300000);
		b[i] = c;
	}
	cr_assert_eq(lines_of(300000), 8, "large calloc");
	for (int i = 0; i < 8; i++)
		hk_free(b[i]);
	for (int i = 0; i < 8; i++) {
		cr_assert_not_null(b[i] = hk_calloc(1, 300000));
		cr_assert_eq(((unsigned char *)b[i])[1000], 0, "a reused calloc block not zeroed");
	}
	for (int i = 0; i < 8; i++)
		hk_free(b[i]);

	for (int i = 0; i < 8; i++) {
		void *p = hk_malloc(100);
		cr_assert_not_null(p);
		memset(p, 7, 100);
		cr_assert_not_null(b[i] = hk_realloc(p, (size_t)3 << 20));
		cr_assert_eq(((unsigned char *)b[i])[99], 7);
	}
	cr_assert_eq(lines_of((size_t)3 << 20), 8, "realloc into a mapping");
	cr_assert_eq(lines_of(100), 0, "the moved blocks' old records");
	for (int i = 0; i < 8; i++)
		hk_free(b[i]);

	hk_profile_stop();
	a = hk_arena_create(NULL);
	cr_assert_not_null(a);
	start(1);
	hk_profile_stop();
	for (int i = 0; i < K; i++)
		cr_assert_not_null(b[i] = hk_arena_malloc(a, 40));
	cr_assert_eq(lines_of(40), 0, "arena blocks sampled after hk_profile_stop");
	hk_arena_destroy(a);
}
