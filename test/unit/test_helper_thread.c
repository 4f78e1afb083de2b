/*
 * test/unit/test_helper_thread.c — starting a helper thread (core/base.c,
 * hk_thread_start: the purger, the stats logger). The starter waits until
 * the new thread runs, so that no fork splits the start; it sleeps while it
 * waits. It spun on sched_yield, and on a busy machine, where the new
 * thread waited for the other CPU, git checkout's purger start took up to
 * 4712 yields. Here sched_yield traps (seccomp, SIGSYS counted) on a
 * process pinned to one CPU, where the new thread runs only once the
 * starter gives up the CPU.
 * The wait must not be a cancellation point: hk_thread_start runs inside
 * free() and hk_arena_reset (a purge kick), where a thread with a pending
 * cancel request must not be cancelled.
 */
#include <criterion/criterion.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/base.h"

static volatile sig_atomic_t yields;
static _Atomic int ran;

static void on_sigsys(int sig)
{
	(void)sig;
	yields++;
}

static void *helper(void *arg)
{
	(void)arg;
	atomic_fetch_add(&ran, 1);
	return NULL;
}

static void trap_sched_yield(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_sched_yield, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof f / sizeof *f, .filter = f };
	cr_assert_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	cr_assert_eq(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog), 0);
}

Test(helper_thread, the_starter_sleeps_until_the_thread_runs)
{
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	cr_assert_eq(sched_setaffinity(0, sizeof one, &one), 0);
	struct sigaction sa = { .sa_handler = on_sigsys };
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGSYS, &sa, NULL), 0);
	trap_sched_yield();
	for (int i = 0; i < 8; i++)
		cr_assert_eq(hk_thread_start(helper, (size_t)64 << 10), 0);
	int seen = yields;
	for (int i = 0; i < 1000 && atomic_load(&ran) < 8; i++)
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	cr_assert_eq(atomic_load(&ran), 8, "every helper ran");
	cr_assert_eq(seen, 0, "the starter called sched_yield %d times", seen);
}

/* A thread with a deferred cancel pending starts a helper: sem_wait acts on
 * the request, and the thread died inside the allocator, its `starting`
 * mutex held (every later start hung) and the helper's post landing in
 * the dead frame. The start must return; the request stays pending for the
 * program's next cancellation point. */
static void *start_with_cancel_pending(void *arg)
{
	int *returned = arg;
	if (pthread_cancel(pthread_self()))
		return NULL;
	int err = hk_thread_start(helper, (size_t)64 << 10);
	*returned = 1;
	return err ? NULL : (void *)1;
}

Test(helper_thread, a_pending_cancel_does_not_stop_the_start)
{
	pthread_t t;
	void *res = NULL;
	int returned = 0, before = atomic_load(&ran);
	cr_assert_eq(pthread_create(&t, NULL, start_with_cancel_pending, &returned), 0);
	cr_assert_eq(pthread_join(t, &res), 0);
	cr_assert(returned && res == (void *)1, "the starter was cancelled in hk_thread_start");
	for (int i = 0; i < 1000 && atomic_load(&ran) == before; i++)
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	cr_assert_eq(atomic_load(&ran), before + 1, "the helper ran");
	/* The start lock was let go: another start returns. */
	cr_assert_eq(hk_thread_start(helper, (size_t)64 << 10), 0);
}
