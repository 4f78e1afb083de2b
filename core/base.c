/*
 * core/base.c — the bottom of core/ (core/base.h): the secret, the init
 * state word, the global counters, fatal errors, helper threads and the
 * bootstrap area that serves allocations made while initialising.
 * Bootstrap blocks are never reused. Must not call any other core file, nor
 * anything that may allocate: hk_fatal formats with write(2) alone.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/base.h"

uintptr_t hk_secret;
_Atomic int hk_init_state;
hk_gstats_t hk_gstats;
__thread const char *hk_slow_call __attribute__((tls_model("initial-exec"))) = "malloc";

/* ---- bootstrap area ---- */

static _Alignas(64) unsigned char boot[256 << 10];
static _Atomic size_t boot_used;

void *hk_boot_alloc(size_t size, size_t align)
{
	align = align < 16 ? 16 : align;
	if (size > sizeof boot || align > 4096)
		goto fail;
	for (;;) {
		size_t used = atomic_load(&boot_used);
		size_t start = (used + 16 + align - 1) & ~(align - 1);
		if (start + size > sizeof boot)
			goto fail;
		if (atomic_compare_exchange_weak(&boot_used, &used, start + size)) {
			((size_t *)(boot + start))[-1] = size; /* for usable_size, realloc */
			memset(boot + start, 0, size);
			return boot + start;
		}
	}
fail:
	errno = ENOMEM;
	return NULL;
}

int hk_boot_owns(const void *p)
{
	return (const unsigned char *)p >= boot && (const unsigned char *)p < boot + sizeof boot;
}

size_t hk_boot_usable(const void *p)
{
	return ((const size_t *)p)[-1];
}

/* ---- fatal errors ---- */

static char *put(char *o, const char *s)
{
	while (*s)
		*o++ = *s++;
	return o;
}

void hk_fatal(const char *call, const char *what, const void *p)
{
	char buf[256], *o = buf;
	uintptr_t v = (uintptr_t)p;
	o = put(o, "hakmem: ");
	o = put(o, call);
	o = put(o, "(): ");
	o = put(o, what);
	o = put(o, " 0x");
	int shift = 60;
	while (shift > 0 && !((v >> shift) & 0xf))
		shift -= 4;
	for (; shift >= 0; shift -= 4)
		*o++ = "0123456789abcdef"[(v >> shift) & 0xf];
	*o++ = '\n';
	ssize_t r = write(2, buf, (size_t)(o - buf));
	(void)r;
	abort();
}

/* ---- environment values ---- */

/* A value that is not what its variable takes says so, once, at start-up:
 * one read as something else passes unseen (HAKMEM_PROFILE_RATE=512k was
 * 512 bytes, 1024 times the samples; -1 and 99999999999999999999 were
 * SIZE_MAX; HAKMEM_STATS_INTERVAL=1s was 1 ms). */
static size_t env_bad(const char *name, const char *value, const char *want, size_t fallback)
{
	char buf[256], *o = buf;
	size_t n = strnlen(value, 64);
	o = put(o, "hakmem: ");
	o = put(o, name);
	*o++ = '=';
	memcpy(o, value, n);
	o += n;
	o = put(o, ": not ");
	o = put(o, want);
	o = put(o, ": ignored\n");
	ssize_t r = write(2, buf, (size_t)(o - buf));
	(void)r;
	return fallback;
}

#define SIZE_FORM "a size (123, 64k, 8M, 1G)"

size_t hk_env_size(const char *name, const char *value, size_t fallback)
{
	int saved = errno, shift = 0;
	char *end;
	if (!value || !*value) /* set to nothing: as if unset */
		return fallback;
	if (*value < '0' || *value > '9') /* strtoull takes a sign and spaces */
		return env_bad(name, value, SIZE_FORM, fallback);
	errno = 0;
	unsigned long long v = strtoull(value, &end, 10);
	int range = errno;
	errno = saved;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	}
	if (range || *end || v > (SIZE_MAX >> shift))
		return env_bad(name, value, SIZE_FORM, fallback);
	return (size_t)v << shift;
}

unsigned hk_env_ms(const char *name, const char *value)
{
	int saved = errno;
	char *end;
	if (!value || !*value)
		return 0;
	errno = 0;
	unsigned long long v = strtoull(value, &end, 10);
	int range = errno;
	errno = saved;
	if (*value < '0' || *value > '9' || range || *end || v > UINT32_MAX)
		return (unsigned)env_bad(name, value, "a number of milliseconds", 0);
	return (unsigned)v;
}

const char *hk_env_word(const char *name, const char *value, const char *words)
{
	if (!value || !*value)
		return value;
	size_t n = strlen(value);
	for (const char *w = words;;) {
		const char *bar = strchr(w, '|');
		size_t len = bar ? (size_t)(bar - w) : strlen(w);
		if (len == n && !memcmp(w, value, n))
			return value;
		if (!bar)
			break;
		w = bar + 1;
	}
	env_bad(name, value, words, 0);
	return value;
}

void hk_env_report(const char *name, const char *value, const char *want)
{
	env_bad(name, value, want, 0);
}

/* ---- helper threads ---- */

/*
 * A helper thread's start, from pthread_create until the new thread runs
 * its function, is never split by a fork: fork_prepare takes `starting`
 * (hk_thread_fork_lock), which the starter holds that long. A runtime that
 * wraps pthread_create and malloc without fork handlers of its own takes
 * its locks in that window: gcc 12's libasan, whose new thread frees into
 * its quarantine (pthread_getattr_np) under an allocator lock before `fn`
 * runs. A fork then left that lock held in the child, and every thread the
 * child started hung on it (test_api_threads under ASan, fork round 0: the
 * purger starts on the first dirty span, while the test forks). Helper
 * threads are started with no hakmem lock held but the family lock.
 * Recursive: under LD_PRELOAD pthread_create's own calloc may start the
 * other helper thread (a malloc slow path kicks the purger).
 */
static HK_FORKED pthread_mutex_t starting = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

struct start {
	void *(*fn)(void *);
	sem_t running;
};

/* The starter sleeps on `running` rather than spinning on sched_yield: on
 * a busy machine the new thread waited for the other CPU, and git
 * checkout's purger start took 0-128 yields (perf stat, syscalls:
 * sys_enter_sched_yield), at the cost of the program's own CPU time. */
static void *trampoline(void *arg)
{
	struct start *s = arg;
	void *(*fn)(void *) = s->fn;
	/* The starter's frame goes once this is seen: `s` is not read again
	 * (sem_post touches no memory of it after the count is up). */
	sem_post(&s->running);
	return fn(NULL);
}

int hk_thread_start(void *(*fn)(void *), size_t stack)
{
	pthread_attr_t attr;
	pthread_t tid;
	sigset_t all, old;
	struct start s = { .fn = fn };
	sem_init(&s.running, 0, 0);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, stack);
	sigfillset(&all);
	pthread_mutex_lock(&starting);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int err = pthread_create(&tid, &attr, trampoline, &s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	/* sem_wait is a cancellation point, which malloc and free must not
	 * be: a thread with a cancel pending died here, `starting` (and a
	 * reset's family lock) held and the new thread's post landing in a
	 * dead frame (test_helper_thread). */
	int saved = errno, cancel;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
	while (!err && sem_wait(&s.running) && errno == EINTR)
		;
	pthread_setcancelstate(cancel, &cancel);
	errno = saved;
	pthread_mutex_unlock(&starting);
	pthread_attr_destroy(&attr);
	return err;
}

void hk_thread_fork_lock(void)
{
	pthread_mutex_lock(&starting);
}

void hk_thread_fork_parent(void)
{
	pthread_mutex_unlock(&starting);
}

/* The child's only thread is the one that forked: no start is under way. */
void hk_thread_fork_child(void)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&starting, &a);
	pthread_mutexattr_destroy(&a);
}
