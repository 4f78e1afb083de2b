/*
 * test/api/arena_test.h — helpers shared by the test_arena*.c API tests:
 * resident set size, patterned fills, arena stats, and running a misuse in
 * a child to check that it aborts with a message. Sees include/hakmem.h
 * only. Every helper is static: each test file is its own program.
 */
#ifndef ARENA_TEST_H
#define ARENA_TEST_H

#include <criterion/criterion.h>
#include <ctype.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hakmem.h>

#define MIB ((size_t)1 << 20)

/* Resident bytes of this process, from /proc/self/statm. */
static inline size_t rss_bytes(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%lu %lu", &size, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static inline hk_arena_stats_t arena_stats(hk_arena_t *a)
{
	hk_arena_stats_t s;
	memset(&s, 0xee, sizeof(s));
	cr_assert_eq(hk_arena_stats(a, &s), 0, "hk_arena_stats");
	return s;
}

/* The tests' random numbers (xorshift32: any nonzero seed). */
static inline uint32_t xorshift32(uint32_t *s)
{
	uint32_t x = *s;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

/* Fills n bytes with a pattern derived from tag; check_fill verifies it. */
static inline void fill(void *p, size_t n, uint64_t tag)
{
	unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(tag * 31 + i * 7 + (i >> 8));
}

static inline int check_fill(const void *p, size_t n, uint64_t tag)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i] != (unsigned char)(tag * 31 + i * 7 + (i >> 8)))
			return 0;
	return 1;
}

static inline const char *find_ci(const char *hay, const char *needle)
{
	for (; *hay; hay++) {
		size_t i = 0;
		while (needle[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
			i++;
		if (!needle[i])
			return hay;
	}
	return NULL;
}

/* Runs misuse(arg) in a child; the child must die of SIGABRT after
 * writing a message to stderr that contains `needle` (case-insensitive). */
static inline void expect_abort(void (*misuse)(void *), void *arg, const char *needle)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		dup2(fds[1], 2);
		close(fds[0]);
		signal(SIGABRT, SIG_DFL);
		misuse(arg);
		_exit(0);
	}
	close(fds[1]);
	char msg[4096];
	size_t len = 0;
	ssize_t n;
	while (len < sizeof(msg) - 1 && (n = read(fds[0], msg + len, sizeof(msg) - 1 - len)) > 0)
		len += (size_t)n;
	msg[len] = '\0';
	close(fds[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
		  "expected an abort, got status %#x; stderr: \"%s\"", status, msg);
	cr_assert(len > 0, "aborted without a message");
	cr_assert(find_ci(msg, needle), "message \"%s\" does not contain \"%s\"", msg, needle);
}

#endif /* ARENA_TEST_H */
