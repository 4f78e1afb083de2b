/*
 * test/unit/test_purger_start.c — when hakmem starts its purger thread
 * (core/purge.c, thread_due). A thread costs a short process ~200 us of
 * CPU, so a small heap's first dirty span starts none; a later one does,
 * once the process has lived past the span delay, and a heap past 16 MiB
 * starts it at its first (memory must go back without more traffic), as
 * does a user arena's reset.
 * Each test runs in a fresh process (Criterion's worker) and counts its
 * threads in /proc/self/task: the start is synchronous in the kick.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <string.h>
#include <time.h>

#include "hakmem.h"
#include "hk_config.h"

static int threads_now(void)
{
	DIR *d = opendir("/proc/self/task");
	int n = 0;
	cr_assert_not_null(d);
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* A kick from a small heap: a 1 MiB block of a user arena freed, a POOL
 * span (or, where POOL is pruned, a large mapping: a user arena's is
 * unmapped, not cached, and the free still kicks). */
static void small_kick(hk_arena_t *a)
{
	char *p = hk_arena_malloc(a, (size_t)1 << 20);
	cr_assert_not_null(p);
	memset(p, 1, 4096);
	hk_free(p);
}

static uint64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

Test(purger_start, a_small_heap_starts_it_only_once_it_lived_past_the_delay)
{
	int t0 = threads_now();
	hk_arena_t *a = hk_arena_create(NULL);
	cr_assert_not_null(a);
	uint64_t start = now_ms();
	small_kick(a);
	if (CONFIG_HK_PURGE_DELAY_MS == 0) {
		/* No delay to wait for (debug): the first kick starts it. */
		cr_assert_eq(threads_now(), t0 + 1);
		return;
	}
	cr_assert_eq(threads_now(), t0, "a small heap's first dirty span started a thread");
	/* Kicks every 20 ms: one the span delay after the first starts it. */
	while (threads_now() == t0 && now_ms() - start < 10000) {
		nanosleep(&(struct timespec){ 0, 20 * 1000000L }, NULL);
		small_kick(a);
	}
	cr_assert_eq(threads_now(), t0 + 1, "no purger 10 s after the first dirty span");
	cr_assert_geq(now_ms() - start, (uint64_t)CONFIG_HK_PURGE_DELAY_MS,
		      "started before anything could be due");
	hk_arena_destroy(a);
}

Test(purger_start, a_big_heap_starts_it_at_the_first_dirty_span)
{
	int t0 = threads_now();
	/* A POOL span, or a cached large mapping where POOL is pruned. */
	hk_free(hk_malloc((size_t)24 << 20));
	cr_assert_eq(threads_now(), t0 + 1, "freeing 24 MiB started no purger");
}

/* hk_arena_reset promises the arena's memory back after the delay, however
 * small the heap: the reset may be the process's last kick (a server between
 * requests), so it starts the purger at once (hk_purge_kick_now). */
Test(purger_start, a_user_arena_reset_starts_it_at_once)
{
	int t0 = threads_now();
	hk_arena_t *a = hk_arena_create(NULL);
	cr_assert_not_null(a);
	for (int i = 0; i < 1024; i++) /* 1 MiB of slabs (Tiny: every config) */
		memset(hk_arena_malloc(a, 1000), 1, 1000);
	cr_assert_eq(threads_now(), t0, "allocating started a thread");
	hk_arena_reset(a);
	cr_assert_eq(threads_now(), t0 + 1, "a user arena's reset started no purger");
	hk_arena_destroy(a);
}
