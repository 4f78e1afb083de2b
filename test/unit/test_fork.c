/*
 * test/unit/test_fork.c — fork at the awkward moments (issue 12 bug 8):
 * while another thread is still initialising hakmem (its first malloc), and
 * with another thread's bins to give back in the child (no thread may be
 * created inside the child's atfork handler). Every test forks a fresh
 * process in which hakmem is not yet initialised; a child that hangs is
 * killed by alarm() and counted as a failure. A unit test only to stay out
 * of the sanitizer builds of test/api: libasan has no fork handlers, and a
 * fork while a thread starts up can deadlock inside its allocator. Also
 * that a fork waits for hakmem's own helper thread to finish starting:
 * pthread_create is wrapped here (test/unit/Build.mk) to act as such a
 * runtime.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/harden.h"
#include "core/lane.h"
#include "core/sizeclass.h"
#include "hakmem.h"

static void *first_malloc(void *arg)
{
	(void)arg;
	hk_free(hk_malloc(64));
	return NULL;
}

static void spin_ns(long ns)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < ns);
}

/* Exit status of a child that must finish: 0, else 1 (hung or failed). */
static int finished(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return 1;
	return !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* A child's wait status as one number: its exit status, or 100 + its signal. */
static int exit_code(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* One round, in a process where hakmem was never used: a thread makes the
 * first malloc (hakmem initialises) while this one forks after `delay` ns;
 * the fork's child must be able to allocate. 0: fine, 1: the child hung. */
static int fork_during_init(long delay)
{
	pthread_t t;
	pthread_create(&t, NULL, first_malloc, NULL);
	spin_ns(delay);
	pid_t pid = fork();
	if (pid == 0) {
		alarm(5); /* before: the child spun for ever on a BUSY init state */
		void *p = hk_malloc(64);
		hk_free(p);
		_exit(p ? 0 : 2);
	}
	int bad = pid < 0 || finished(pid);
	pthread_join(t, NULL);
	return bad;
}

/* Delays sweep the parent's init (a few hundred microseconds here): every
 * round must pass, whenever the fork lands. */
Test(fork, during_another_threads_init)
{
	int rounds = 80, hung = 0;
	for (int i = 0; i < rounds && !hung; i++) {
		pid_t pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0)
			_exit(fork_during_init((long)(i % 40) * 10000));
		hung += finished(pid);
	}
	cr_assert_eq(hung, 0, "a child forked during another thread's init hung");
}

static int threads_now(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static pthread_barrier_t held, done;

/* Leaves a freed block in this thread's bin (a 16 KiB block: a MID slab of
 * two units that is given back, not cached, once empty) and waits. */
static void *keep_bin(void *arg)
{
	(void)arg;
	hk_free(hk_malloc(16 << 10));
	pthread_barrier_wait(&held);
	pthread_barrier_wait(&done);
	return NULL;
}

/* The child gives the other thread's bins back inside its atfork handler;
 * a span freed there used to start the purger thread right there. */
static int fork_with_other_bins(void)
{
	pthread_t t;
	pthread_barrier_init(&held, NULL, 2);
	pthread_barrier_init(&done, NULL, 2);
	pthread_create(&t, NULL, keep_bin, NULL);
	pthread_barrier_wait(&held);
	pid_t pid = fork();
	if (pid == 0) {
		alarm(5);
		if (threads_now() != 1)
			_exit(3); /* a thread was created by the fork handlers */
		/* The purger still starts at the child's first need (a heap
		 * past core/purge.c's START_BYTES: 24 MiB). */
		hk_free(hk_malloc(24 << 20));
		void *p = hk_malloc(64);
		hk_free(p);
		_exit(p ? 0 : 2);
	}
	int st = -1;
	waitpid(pid, &st, 0);
	pthread_barrier_wait(&done);
	pthread_join(t, NULL);
	return exit_code(st);
}

/* Runs fn in a fresh process; returns its exit_code(). */
static int in_fresh_process(int (*fn)(void))
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(fn());
	int st = -1;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return exit_code(st);
}

Test(fork, no_thread_created_in_the_child_handler)
{
	int st = in_fresh_process(fork_with_other_bins);
	cr_assert_neq(st, 3, "the child had a second thread right after fork");
	cr_assert_eq(st, 0, "child status %d", st);
}

/* ---- a fork while another thread is inside a flush ---- */

/* A thread's flush hands a bin's blocks back to their slabs under the class
 * lock, then stores the bin's new head. The fork's prepare may take that
 * lock in between, and the thread may not run again before the fork: the
 * child then sees the blocks in the bin and free in their slab. Simulated:
 * this thread flushes its bin (hk_trim) and puts the old head back across
 * the fork. One block stays live so the slab is neither cached nor purged. */
enum { STALE_N = 64, STALE_SIZE = 48 };
static _Atomic int stale_stage;

static void *stale_bin(void *arg)
{
	void *b[STALE_N];
	size_t bin = hk_class_table[STALE_SIZE + HK_CANARY];
	for (int i = 0; i < STALE_N; i++)
		b[i] = hk_malloc(STALE_SIZE);
	for (int i = 1; i < STALE_N; i++)
		hk_free(b[i]);
	hk_lane_t *l = hk_lane_self;
	void *stale = HK_HEAD(l, bin);
	hk_trim(0);
	void *now = HK_HEAD(l, bin);
	HK_HEAD(l, bin) = stale;
	atomic_store(&stale_stage, 1);
	while (atomic_load(&stale_stage) != 2)
		sched_yield();
	HK_HEAD(l, bin) = now;
	hk_free(b[0]);
	*(int *)arg = stale != NULL && stale != now;
	return NULL;
}

static int by_address(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
	return x < y ? -1 : x > y;
}

/* 0: the child's blocks of that class are distinct and do not overlap;
 * 2: two overlap; 3: the simulation did not set up (nothing tested);
 * 100 + signal: the child died (an abort: it flushed the stale bin). */
static int fork_during_flush(void)
{
	pthread_t t;
	int set_up = 0;
	alarm(10);
	pthread_create(&t, NULL, stale_bin, &set_up);
	while (!atomic_load(&stale_stage))
		sched_yield();
	pid_t pid = fork();
	if (pid == 0) {
		uintptr_t p[4 * STALE_N];
		for (int i = 0; i < 4 * STALE_N; i++)
			p[i] = (uintptr_t)hk_malloc(STALE_SIZE);
		qsort(p, 4 * STALE_N, sizeof *p, by_address);
		for (int i = 1; i < 4 * STALE_N; i++)
			if (p[i] - p[i - 1] < STALE_SIZE)
				_exit(2);
		_exit(0);
	}
	int st = -1;
	waitpid(pid, &st, 0);
	atomic_store(&stale_stage, 2);
	pthread_join(t, NULL);
	return set_up ? exit_code(st) : 3;
}

Test(fork, child_leaves_other_threads_bins_alone)
{
	if (HK_NLANE == 0)
		cr_skip_test("no Tiny or MID band in this configuration: no bins");
	int st = in_fresh_process(fork_during_flush);
	cr_assert_neq(st, 3, "the thread's flush left its bin as it was: nothing tested");
	cr_assert_neq(st, 2, "the child handed out one block twice");
	cr_assert_eq(st, 0, "child status %d (100 + signal: it flushed the other thread's "
		      "stale bin)", st);
}

/* ---- a fork while hakmem starts its purger ---- */

int __real_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);

/* Armed, the wrapper starts the next thread through hold_runtime_lock: like
 * gcc 12's libasan, which in a new thread takes its allocator's lock before
 * the thread's function runs, and has no fork handlers to keep a fork out. */
static _Atomic int armed, holding, forked;
static pthread_mutex_t runtime_lock = PTHREAD_MUTEX_INITIALIZER;
static struct { void *(*fn)(void *); void *arg; } wrapped;

static void *hold_runtime_lock(void *arg)
{
	(void)arg;
	struct timespec ms = { 0, 1000000 };
	pthread_mutex_lock(&runtime_lock);
	atomic_store(&holding, 1);
	/* Until the fork is done; if it waits for this start (it must), 1 s. */
	for (int i = 0; i < 1000 && !atomic_load(&forked); i++)
		nanosleep(&ms, NULL);
	pthread_mutex_unlock(&runtime_lock);
	return wrapped.fn(wrapped.arg);
}

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
	if (!atomic_exchange(&armed, 0))
		return __real_pthread_create(t, a, fn, arg);
	wrapped.fn = fn;
	wrapped.arg = arg;
	return __real_pthread_create(t, a, hold_runtime_lock, NULL);
}

static _Atomic int fork_status = -1;

/* Forks while the helper thread being started holds the runtime's lock; the
 * child, like a new thread of the sanitized child would, needs that lock. */
static void *fork_when_held(void *arg)
{
	(void)arg;
	while (!atomic_load(&holding))
		sched_yield();
	pid_t pid = fork();
	if (pid == 0)
		_exit(pthread_mutex_trylock(&runtime_lock) ? 1 : 0);
	atomic_store(&forked, 1);
	int st = -1;
	waitpid(pid, &st, 0);
	atomic_store(&fork_status, exit_code(st));
	return NULL;
}

/* In a fresh process: the first thread hakmem starts, the purger, comes
 * with the first dirty span of a heap past core/purge.c's START_BYTES (a
 * 24 MiB block freed: a POOL span, or a large mapping cached where there
 * is no POOL), and another thread forks during that start. */
static int fork_during_purger_start(void)
{
	pthread_t f;
	alarm(10);
	pthread_create(&f, NULL, fork_when_held, NULL);
	atomic_store(&armed, 1);
	hk_free(hk_malloc(24 << 20));
	if (atomic_load(&armed))
		_exit(3); /* no thread was started: nothing tested */
	pthread_join(f, NULL);
	return atomic_load(&fork_status);
}

Test(fork, waits_for_a_helper_thread_to_start)
{
	int st = in_fresh_process(fork_during_purger_start);
	cr_assert_neq(st, 3, "freeing 24 MiB started no purger");
	cr_assert_neq(st, 1, "the fork split the purger's start: a lock its start took was "
		      "still held in the child");
	cr_assert_eq(st, 0, "child status %d", st);
}

/* ---- what a fork costs the parent ---- */

/* The fewest minor faults the parent took over one fork whose child only
 * _exits, of `rounds` forks. A fork makes every page the parent wrote
 * copy-on-write, and each page the fork handlers write faults once more in
 * the parent (HK_FORKED in core/base.h). Fault counts are exact, not times;
 * the least of many forks leaves out a fault another thread took meanwhile. */
static long parent_faults_per_fork(int rounds)
{
	long best = -1;
	for (int i = 0; i < rounds; i++) {
		struct rusage a, b;
		getrusage(RUSAGE_SELF, &a);
		pid_t pid = fork();
		if (pid == 0)
			_exit(0);
		waitpid(pid, NULL, 0);
		getrusage(RUSAGE_SELF, &b);
		long f = b.ru_minflt - a.ru_minflt;
		if (best < 0 || f < best)
			best = f;
	}
	return best;
}

/* In a fresh process: a fork's faults before hakmem registered its handlers
 * (libc's own: its stack, its malloc's and stdio's locks) and after, with
 * small and large blocks live. Exit status: hakmem's extra faults. */
static int faults_added_by_handlers(void)
{
	long before = parent_faults_per_fork(20);
	void *p[64];
	for (int i = 0; i < 64; i++)
		p[i] = hk_malloc((size_t)16 << (i % 12));
	void *big = hk_malloc(4 << 20);
	long after = parent_faults_per_fork(20);
	for (int i = 0; i < 64; i++)
		hk_free(p[i]);
	hk_free(big);
	return after > before ? (int)(after - before) : 0;
}

/* Section hk_forked's pages (core/base.h HK_FORKED), from the linker's
 * bounds of the section. */
extern char __start_hk_forked[], __stop_hk_forked[];

static int forked_pages(void)
{
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	return (int)(((uintptr_t)__stop_hk_forked - 1) / pg - (uintptr_t)__start_hk_forked / pg + 1);
}

/* The handlers' state is ~7 KiB in section hk_forked: 2 pages, or 3 where
 * it straddles one more boundary (minimal). Spread over .bss and .data it
 * cost 6 here (8 in libhakmem.so). One more is allowed: minimal's 3 came
 * out 4 in 3 of 40 runs beside two busy make tests (never idle), a page
 * we could not name (the handlers' stack frames below libc's, maybe). */
Test(fork, handlers_write_few_pages)
{
	int extra = in_fresh_process(faults_added_by_handlers), pages = forked_pages();
	cr_assert_leq(extra, pages + 1, "the fork handlers cost the parent %d faults a fork, "
		      "section hk_forked is %d pages: they write pages outside it", extra, pages);
}

/* ---- fork handlers of the program's own that allocate ---- */

/* One block of each band (Tiny, MID, POOL, large): with fresh bins each
 * leaves the fast path and takes its backend's lock. */
static void alloc_every_band(void)
{
	static const size_t sizes[] = { 100, 5000, 100 << 10, 1 << 20, 64 << 20 };
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		char *p = hk_malloc(sizes[i]);
		if (!p)
			_exit(2);
		p[0] = p[sizes[i] - 1] = 1;
		hk_free(p);
	}
}

/* Waits up to 5 s for the child; kills a child that hangs (its handlers run
 * before fork returns in it, so its own alarm cannot be armed in time). */
static int finished_within_5s(pid_t pid)
{
	for (int i = 0; i < 500; i++) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid)
			return exit_code(st);
		struct timespec ms10 = { 0, 10000000 };
		nanosleep(&ms10, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return 4;
}

/* In a fresh process: the program registers its fork handlers before its
 * first allocation (a library's constructor, or main before any malloc),
 * and each handler allocates. Prepare handlers run last registered first,
 * child and parent handlers first registered first: hakmem's registered at
 * init, after them, took every lock before the program's prepare ran and
 * released them only after its child handler; the prepare's malloc spun for
 * ever on a lock its own thread held. */
static int fork_with_allocating_handlers(void)
{
	alarm(10);
	pthread_atfork(alloc_every_band, alloc_every_band, alloc_every_band);
	alloc_every_band(); /* hakmem starts here, after the handlers */
	pid_t pid = fork();
	if (pid == 0) {
		alloc_every_band();
		_exit(0);
	}
	return pid < 0 ? 5 : finished_within_5s(pid);
}

Test(fork, handlers_registered_before_the_first_malloc_may_allocate)
{
	int st = in_fresh_process(fork_with_allocating_handlers);
	cr_assert_neq(st, 100 + SIGALRM, "the parent hung in the fork (a handler's allocation "
		      "waited for a lock hakmem's prepare held)");
	cr_assert_neq(st, 4, "the child hung in its fork handler");
	cr_assert_eq(st, 0, "status %d", st);
}
