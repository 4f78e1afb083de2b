/*
 * core/init.c — initialisation without recursion and the fork handlers: the
 * one file that calls every part of core/ to set it up or to take its locks
 * (so it sits above them; the API files call hk_init). Init reads `environ`
 * directly (no getenv, printf or dlsym); an allocation made by the
 * initialising thread itself is served from the bootstrap area
 * (core/base.c). Invariant: hk_init_state reaches DONE only after every
 * structure the fast paths read is ready.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/base.h"
#include "core/init.h"
#include "core/lane.h"
#include "core/large.h"
#include "core/lock.h"
#include "core/platform.h"
#include "core/purge.h"
#include "core/region.h"
#include "core/sample.h"
#include "core/stack.h"
#include "core/stats.h"

static __thread int in_init __attribute__((tls_model("initial-exec")));

/* Init looks up about ten names: a strncmp call per variable and name was
 * 17k of git rev-parse's 700k instructions. The first two bytes settle
 * almost every variable inline ((*e)[1] exists: (*e)[0] matched a letter). */
static const char *env_get(const char *name)
{
	size_t n = strlen(name);
	for (char **e = environ; e && *e; e++)
		if ((*e)[0] == name[0] && (*e)[1] == name[1] && !strncmp(*e, name, n) &&
		    (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

/* ---- fork ---- */

static int init_busy(int s)
{
	return (s & 3) == HK_INIT_BUSY;
}

/* What this fork's prepare did, for its parent and child handlers (the
 * forking thread's alone: glibc runs a fork's handlers in turn). */
enum { FORK_NOTHING, FORK_LOCKED, FORK_HELD_INIT };
static HK_FORKED int fork_did;

/* 1 when hakmem was not started in this process (its state NONE, or a BUSY
 * of the parent we were forked from: hk_init starts over from it). Prepare
 * marks it BUSY for this fork, so no thread starts an init that the fork
 * would split: their hk_init waits and starts when the fork is done, and a
 * handler of this thread's allocates from the bootstrap area (in_init). */
static int hold_init(int s)
{
	int me = HK_INIT_BUSY | (int)getpid() << 2;
	if (s != HK_INIT_NONE && (!init_busy(s) || s >> 2 == (int)getpid()))
		return 0;
	if (!atomic_compare_exchange_strong(&hk_init_state, &s, me))
		return -1; /* a thread began its init meanwhile: look again */
	in_init = 1;
	fork_did = FORK_HELD_INIT;
	return 1;
}

/* Undoes hold_init in the parent and the child alike: nothing started. */
static int release_init(void)
{
	if (fork_did != FORK_HELD_INIT)
		return 0;
	fork_did = FORK_NOTHING;
	in_init = 0;
	atomic_store(&hk_init_state, HK_INIT_NONE);
	return 1;
}

/* Another thread still initialising would leave the child a state no
 * thread of it finishes: fork waits for it (issue 12 bug 8); one not yet
 * initialising waits for the fork (hold_init). */
static void fork_prepare(void)
{
	int s;
	for (;;) {
		s = atomic_load(&hk_init_state);
		int held = hold_init(s);
		if (held > 0)
			return;
		if (held == 0 && (!init_busy(s) || in_init))
			break;
		sched_yield();
	}
	fork_did = FORK_LOCKED;
	hk_arena_family_lock();
	hk_thread_fork_lock();
	hk_purge_atfork_prepare();
	hk_lanes_lock();
	hk_arena_lock_all();
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
	hk_arena_unlock_all();
	hk_lanes_unlock();
}

static void fork_parent(void)
{
	if (release_init())
		return;
	fork_did = FORK_NOTHING;
	fork_unlock();
	hk_purge_atfork_parent();
	hk_thread_fork_parent();
	hk_arena_family_unlock();
}

static void fork_child(void)
{
	if (release_init())
		return;
	fork_did = FORK_NOTHING;
	fork_unlock();
	hk_purge_atfork_child();
	hk_platform_atfork_child();
	hk_lanes_after_fork_child();
	hk_thread_fork_child();
	hk_stack_atfork_child();
	hk_arena_family_unlock();
	hk_purge_atfork_child_done();
}

/* Prepare handlers run last registered first, parent and child handlers
 * first registered first. Registered at init, after a program's own (a
 * library constructor's, or main's before its first malloc), ours took
 * every lock before the program's prepare ran and kept them through its
 * child handler: one that allocated spun for ever on a lock its thread
 * held (test_fork handlers_registered_before_the_first_malloc_may_allocate).
 * So they are registered when the library is loaded, before the program's
 * constructors (priority 101) and main, and again at init (once) in case a
 * constructor of another library called malloc before ours ran. */
static _Atomic int fork_handlers_registered;

/* A flag, not pthread_once: pthread_atfork may call malloc (glibc's list of
 * handlers grows on the heap past its first 48), and that first malloc's
 * init would call this again from inside the once and wait on itself. */
static void register_fork_handlers(void)
{
	if (!atomic_exchange(&fork_handlers_registered, 1))
		pthread_atfork(fork_prepare, fork_parent, fork_child);
}

__attribute__((constructor(101))) static void register_fork_handlers_at_load(void)
{
	register_fork_handlers();
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
	register_fork_handlers();
	/* A word the layers below do not know gives their default, said here
	 * (HAKMEM_NUMA=of ran with NUMA on, silently). */
	hk_platform_init(hk_env_word("HAKMEM_PURGE", env_get("HAKMEM_PURGE"), "madvise|uring"),
			 hk_env_word("HAKMEM_HUGEPAGES", env_get("HAKMEM_HUGEPAGES"),
				     "off|none|4k|thp|2m|1g|auto"),
			 hk_env_word("HAKMEM_NUMA", env_get("HAKMEM_NUMA"), "off|local|interleave"));
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
		if (s == HK_INIT_NONE) /* a fork held init back (hold_init) */
			return hk_init();
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
