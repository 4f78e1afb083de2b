/*
 * test/unit/test_helper_thread.c — starting a helper thread (core/base.c,
 * hk_thread_start: the purger, the stats logger). The starter waits until
 * the new thread runs, so that no fork splits the start; it sleeps while it
 * waits. It spun on sched_yield, and on a busy machine, where the new
 * thread waited for the other CPU, git checkout's purger start took up to
 * 4712 yields. Here sched_yield traps (seccomp, SIGSYS counted) on a
 * process pinned to one CPU, where the new thread runs only once the
 * starter gives up the CPU.
 */
#include <criterion/criterion.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
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
