/*
 * test/unit/test_oom.c — out of memory is an answer and the heap recovers
 * (DESIGN §8.7, issue 12 bug 3). Each test runs in a forked child whose
 * address space is limited before hakmem initialises (so the region is
 * sized to the limit, as under `ulimit -v`), and reports by exit status.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hakmem.h"

#define MiB ((size_t)1 << 20)
#define MAXP ((size_t)1 << 23)

static size_t vm_size(void)
{
	long pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f || fscanf(f, "%ld", &pages) != 1)
		_exit(90);
	fclose(f);
	return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* Allocates blocks of each size in turn until NULL, frees everything, then
 * asks for 64 MiB, 1 MiB and 64 B. Exit 0: all three answered. */
static int exhaust_then_recover(void)
{
	static const size_t sizes[] = { 40 * MiB, 1 * MiB, 64 };
	void **v = mmap(NULL, MAXP * sizeof(void *), PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (v == MAP_FAILED)
		return 91;
	struct rlimit r;
	r.rlim_cur = r.rlim_max = vm_size() + 512 * MiB;
	if (setrlimit(RLIMIT_AS, &r))
		return 92;
	size_t n = 0;
	for (int s = 0; s < 3; s++) {
		size_t first = n;
		while (n < MAXP && (v[n] = hk_malloc(sizes[s])) != NULL)
			n++;
		if (n == MAXP)
			return 93; /* the limit did not bound the heap */
		if (s == 0 && n == first)
			return 94;
	}
	for (size_t i = 0; i < n; i++)
		hk_free(v[i]);
	void *big = hk_malloc(64 * MiB), *mid = hk_malloc(MiB), *small = hk_malloc(64);
	if (!big)
		return 1;
	if (!mid)
		return 2;
	if (!small)
		return 3;
	return 0;
}

Test(oom, heap_recovers_after_exhaustion)
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		alarm(60);
		_exit(exhaust_then_recover());
	}
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st), "child status %#x", st);
	cr_assert_neq(WEXITSTATUS(st), 1, "malloc(64 MiB) failed after everything was freed");
	cr_assert_eq(WEXITSTATUS(st), 0, "child exit %d", WEXITSTATUS(st));
}
