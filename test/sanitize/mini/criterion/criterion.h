/*
 * test/sanitize/mini/criterion/criterion.h — a minimal stand-in for Criterion, for the
 * TSan build only: Criterion's runner itself crashes under ThreadSanitizer (a SEGV in
 * libcriterion.so.3 before any test runs), so test/sanitize/Build.mk puts this
 * directory first on the include path for the TSan binaries.
 * Owns: Test/TestSuite registration, the cr_assert* subset the API tests use, and a
 * main that runs each test in a forked child and prints Criterion's Synthesis line
 * (tools/run-tests.sh counts tests from it). Must not: be used for other builds.
 */
#ifndef MINI_CRITERION_H
#define MINI_CRITERION_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct mini_test { const char *name; void (*fn)(void); };
static struct mini_test mini_tests[64];
static int mini_count;

static inline void mini_register(const char *name, void (*fn)(void))
{
	if (mini_count < 64)
		mini_tests[mini_count++] = (struct mini_test){ name, fn };
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

int main(void)
{
	int pass = 0, fail = 0;
	for (int i = 0; i < mini_count; i++) {
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
		} else {
			fail++;
			printf("[FAIL] %s: status %#x\n", mini_tests[i].name, st);
		}
	}
	printf("[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: 0\n",
	       pass + fail, pass, fail);
	return fail != 0;
}

#endif /* MINI_CRITERION_H */
