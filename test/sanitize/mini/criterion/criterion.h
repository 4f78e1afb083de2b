/*
 * test/sanitize/mini/criterion/criterion.h — a minimal stand-in for Criterion, for the
 * TSan build only: Criterion's runner itself crashes under ThreadSanitizer (a SEGV in
 * libcriterion.so.3 before any test runs), so test/sanitize/Build.mk puts this
 * directory first on the include path for the TSan binaries.
 * Owns: Test/TestSuite registration, the cr_assert* subset the API tests use,
 * cr_skip_test, and a main that runs each test in a forked child and writes the TAP
 * report Criterion writes for CRITERION_OUTPUTS=tap:FILE (tools/run-tests.sh counts
 * tests from it). Must not: be used for other builds.
 */
#ifndef MINI_CRITERION_H
#define MINI_CRITERION_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

struct mini_test { const char *name; void (*fn)(void); };
static struct mini_test mini_tests[64];
static int mini_count;
/* A skipped test's reason, written by the child into memory shared with main. */
static char *mini_skip_reason;

static inline void mini_register(const char *name, void (*fn)(void))
{
	if (mini_count == 64) {
		fprintf(stderr, "mini criterion: more than 64 tests, %s not run\n", name);
		exit(1);
	}
	mini_tests[mini_count++] = (struct mini_test){ name, fn };
}

#define MINI_SKIPPED 77
static inline __attribute__((noreturn, format(printf, 1, 2))) void cr_skip_test(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(mini_skip_reason, 256, fmt, ap);
	va_end(ap);
	exit(MINI_SKIPPED);
}

static inline __attribute__((noreturn, format(printf, 4, 5)))
void mini_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "[----] %s:%d: Assertion Failed: %s\n[----]   ", file, line, cond);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

#define TestSuite(...)
#define Test(suite, name, ...)                                                           \
	static void suite##_##name(void);                                                 \
	__attribute__((constructor)) static void mini_reg_##suite##_##name(void)          \
	{ mini_register(#suite "::" #name, suite##_##name); }                             \
	static void suite##_##name(void)

#define cr_assert(cond, ...) \
	do { if (!(cond)) mini_fail(__FILE__, __LINE__, #cond, " " __VA_ARGS__); } while (0)
#define cr_assert_eq(a, b, ...) cr_assert((a) == (b), __VA_ARGS__)
#define cr_assert_neq(a, b, ...) cr_assert((a) != (b), __VA_ARGS__)
#define cr_assert_geq(a, b, ...) cr_assert((a) >= (b), __VA_ARGS__)
#define cr_assert_gt(a, b, ...) cr_assert((a) > (b), __VA_ARGS__)
#define cr_assert_leq(a, b, ...) cr_assert((a) <= (b), __VA_ARGS__)
#define cr_assert_null(a, ...) cr_assert((a) == NULL, __VA_ARGS__)
#define cr_assert_not_null(a, ...) cr_assert((a) != NULL, __VA_ARGS__)

/* The TAP file named by CRITERION_OUTPUTS=tap:FILE, or NULL. */
static FILE *mini_tap(void)
{
	const char *o = getenv("CRITERION_OUTPUTS");
	return o && !strncmp(o, "tap:", 4) ? fopen(o + 4, "w") : NULL;
}

int main(void)
{
	int pass = 0, fail = 0, skip = 0;
	FILE *tap = mini_tap();
	mini_skip_reason = mmap(NULL, 256, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mini_skip_reason == MAP_FAILED)
		return 1;
	if (tap)
		fprintf(tap, "TAP version 13\n1..%d\n", mini_count);
	for (int i = 0; i < mini_count; i++) {
		const char *name = mini_tests[i].name;
		fflush(NULL);
		pid_t pid = fork();
		if (pid == 0) {
			mini_tests[i].fn();
			exit(0);
		}
		int st = 0;
		waitpid(pid, &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
			pass++;
			if (tap)
				fprintf(tap, "ok - %s\n", name);
		} else if (WIFEXITED(st) && WEXITSTATUS(st) == MINI_SKIPPED) {
			skip++;
			if (tap)
				fprintf(tap, "ok - %s  # SKIP %s\n", name, mini_skip_reason);
		} else {
			fail++;
			printf("[FAIL] %s: status %#x\n", name, st);
			if (tap)
				fprintf(tap, "not ok - %s  status %#x\n", name, st);
		}
	}
	printf("[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: 0 | Skipped: %d\n",
	       pass + fail, pass, fail, skip);
	if (tap)
		fclose(tap);
	return fail != 0;
}

#endif /* MINI_CRITERION_H */
