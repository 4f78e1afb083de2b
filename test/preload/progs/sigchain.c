/*
 * test/preload/progs/sigchain.c — a program's own SIGSEGV handler, installed
 * before hakmem's guard installs its handler (at the first guarded block,
 * after it: core/guard.c chains to it), must act as it would without
 * hakmem (test/preload/sigchain.sh; run with HAKMEM_GUARD_RATE=1). argv[1]:
 *   resethand  SA_RESETHAND handler that returns: the fault runs again
 *              under the default action (exit by SIGSEGV), handler once;
 *   default    no handler, the signal sent by raise(): killed by it;
 *   nodefer    SA_NODEFER handler that faults inside itself: entered again
 *              (exit 42);
 *   mask       sa_mask holds SIGUSR1: blocked inside the handler (exit 43);
 *   resethand_then_guard  SA_RESETHAND handler that jumps back out, then
 *              a 1-byte overflow of a guarded block: hakmem's report
 *              (abort) under hakmem, no fault without (exit 0).
 * Prints "taken" once hakmem's handler replaced the program's (else the
 * run tests nothing, and says so), then faults outside the guard's pool.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t hits;
static void *volatile sink;

static void resethand(int sig)
{
	(void)sig;
	if (++hits > 1) {
		write(2, "resethand: entered again\n", 25);
		_exit(3); /* under hakmem it looped here forever */
	}
}

static sigjmp_buf back;

static void resethand_jump(int sig)
{
	(void)sig;
	siglongjmp(back, 1);
}

static void nodefer(int sig)
{
	(void)sig;
	if (hits++ == 0)
		*(volatile int *)16 = 1; /* a fault inside the handler */
	_exit(42);
}

static void mask(int sig)
{
	sigset_t m;
	(void)sig;
	sigprocmask(SIG_BLOCK, NULL, &m);
	_exit(sigismember(&m, SIGUSR1) ? 43 : 44);
}

int main(int argc, char **argv)
{
	const char *k = argc > 1 ? argv[1] : "";
	struct sigaction sa, cur;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	if (!strcmp(k, "resethand")) {
		sa.sa_handler = resethand;
		sa.sa_flags = SA_RESETHAND;
	} else if (!strcmp(k, "resethand_then_guard")) {
		sa.sa_handler = resethand_jump;
		sa.sa_flags = SA_RESETHAND;
	} else if (!strcmp(k, "nodefer")) {
		sa.sa_handler = nodefer;
		sa.sa_flags = SA_NODEFER;
	} else if (!strcmp(k, "mask")) {
		sa.sa_handler = mask;
		sigaddset(&sa.sa_mask, SIGUSR1);
	} else {
		sa.sa_handler = SIG_DFL;
	}
	sigaction(SIGSEGV, &sa, NULL);
	sink = malloc(64); /* guarded: hakmem installs its handler now */
	sigaction(SIGSEGV, NULL, &cur);
	printf("%s\n", cur.sa_handler != sa.sa_handler ? "taken" : "not taken");
	fflush(stdout);
	if (!strcmp(k, "resethand_then_guard")) {
		if (!sigsetjmp(back, 1))
			*(volatile int *)8 = 1; /* the handler's one fault */
		printf("recovered\n");
		fflush(stdout);
		char *p = malloc(64);
		sink = p;
		p[64] = 1; /* into the guard page under hakmem */
	} else if (!strcmp(k, "default"))
		raise(SIGSEGV);
	else
		*(volatile int *)8 = 1;
	printf("survived\n");
	return 0;
}
