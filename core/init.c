/*
 * core/init.c — initialisation without recursion, the bootstrap area,
 * fork handlers and fatal errors. Init reads `environ` directly (no getenv,
 * printf or dlsym); an allocation made by the initialising thread itself
 * (libnuma, pthread_atfork) is served from a static bootstrap area whose
 * blocks are never reused. Invariant: hk_init_state reaches DONE only after
 * every structure the fast paths read is ready.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "core/backend.h"
#include "core/core.h"
#include "core/lane.h"
#include "core/lock.h"
#include "core/platform.h"
#include "core/region.h"
#include "core/sample.h"

_Atomic int hk_init_state;
uintptr_t hk_secret;
int hk_env_stats;
static __thread int in_init __attribute__((tls_model("initial-exec")));
__thread const char *hk_slow_call __attribute__((tls_model("initial-exec"))) = "malloc";

extern char **environ;

static const char *env_get(const char *name)
{
	size_t n = strlen(name);
	for (char **e = environ; e && *e; e++)
		if (!strncmp(*e, name, n) && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

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
	o = put(o, strchr(call, ' ') ? ": " : "(): "); /* "thread exit: " */
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

/* ---- fork ---- */

static int init_busy(int s)
{
	return (s & 3) == HK_INIT_BUSY;
}

/* Another thread still initialising would leave the child a state no
 * thread of it finishes: fork waits for it (issue 12 bug 8). The handlers
 * are registered first thing in init, so a fork before that sees an
 * initialiser of the parent's pid, and the child starts over (hk_init). */
static void fork_prepare(void)
{
	while (init_busy(atomic_load(&hk_init_state)) && !in_init)
		sched_yield();
	hk_arena_family_lock();
	hk_purge_atfork_prepare();
	hk_lanes_lock();
	hk_arenas_lock_all();
	hk_lock(&hk_region.lock);
	hk_large_lock_all();
	hk_sample_atfork_prepare();
}

/* The forking thread took every spin lock in prepare, and it is the child's
 * only thread: parent and child both just release them. */
static void fork_unlock(void)
{
	hk_sample_atfork_release();
	hk_large_unlock_all();
	hk_unlock(&hk_region.lock);
	hk_arenas_unlock_all();
	hk_lanes_unlock();
}

static void fork_parent(void)
{
	fork_unlock();
	hk_purge_atfork_parent();
	hk_arena_family_unlock();
}

static void fork_child(void)
{
	fork_unlock();
	hk_purge_atfork_child();
	hk_platform_atfork_child();
	hk_lanes_after_fork_child();
	hk_arena_family_unlock();
	hk_purge_atfork_child_done();
}

/* ---- init ---- */

static uintptr_t make_secret(void)
{
	uintptr_t s = 0;
	const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
	if (r)
		memcpy(&s, r + 8, sizeof s);
	s ^= (uintptr_t)&s * 0x9e3779b97f4a7c15ull;
	s = (s & ~((uintptr_t)0xff << 56)) | (uintptr_t)HK_MARK_TOP << 56;
	return s | 1;
}

static int init_once(void)
{
	/* First: from here on a fork waits for init to finish (fork_prepare). */
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	hk_platform_init(env_get("HAKMEM_PURGE"), env_get("HAKMEM_HUGEPAGES"),
			 env_get("HAKMEM_NUMA"));
	const char *st = env_get("HAKMEM_STATS");
	hk_env_stats = st && st[0] == '1';
	hk_secret = make_secret();
	if (hk_region_init())
		return -1;
	hk_arena_init0();
	if (hk_lane_global_init())
		return -1;
	hk_sample_init(env_get);
	return 0;
}

int hk_init(void)
{
	int s = atomic_load(&hk_init_state);
	if (s == HK_INIT_DONE)
		return 0;
	if (s == HK_INIT_FAILED)
		return -2;
	if (in_init)
		return -1;
	int expected = HK_INIT_NONE, busy = HK_INIT_BUSY | (int)getpid() << 2;
	if (!atomic_compare_exchange_strong(&hk_init_state, &expected, busy)) {
		while (init_busy(s = atomic_load(&hk_init_state))) {
			/* The initialiser is a thread of the parent we were forked
			 * from before it registered the fork handlers: it did
			 * nothing yet that the child must keep. Start over. */
			if (s >> 2 != (int)getpid() && atomic_compare_exchange_strong(&hk_init_state,
										       &s, HK_INIT_NONE))
				return hk_init();
			sched_yield();
		}
		return s == HK_INIT_DONE ? 0 : -2;
	}
	int saved = errno;
	in_init = 1;
	int r = init_once();
	in_init = 0;
	errno = saved;
	atomic_store(&hk_init_state, r ? HK_INIT_FAILED : HK_INIT_DONE);
	return r ? -2 : 0;
}
