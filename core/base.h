/*
 * core/base.h — the bottom of core/: what every other core file may use and
 * nothing in it calls up. Branch hints and symbol markers, the secret, fatal
 * errors and debug assertions, the init state word (written by core/init.c,
 * read here), the bootstrap area for allocations made while initialising,
 * and the global counters. Includes nothing of core/ but the config.
 * Invariant: base.c calls no other core file.
 */
#ifndef HK_CORE_BASE_H
#define HK_CORE_BASE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "hk_config.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Read on fast paths: a hidden global is one RIP-relative operand (a
 * default-visibility one costs a GOT load first in the shared object). */
#define HK_HIDDEN __attribute__((visibility("hidden")))
/* Written by the fork handlers (locks, state a child resets): a fork makes
 * every page the parent wrote copy-on-write, and each one the handlers
 * touch then faults once in the parent and once in the child. Spread over
 * .bss and .data that was 8-9 pages: 41 faults a fork against mimalloc's
 * 20. The linker collects one section name from every object into one
 * output section: 2 pages, 26 faults (test_fork's handlers_write_few_pages).
 * Not ".bss.*": the default script merges that into .bss in object order,
 * spread again. Not NOBITS: ~7 KiB of zeros in the file, and one more
 * fault at load (ld.so relocates .data on one page, clears .bss on the
 * next). */
#define HK_FORKED __attribute__((section("hk_forked")))
/* A slow path kept out of its fast path's frame and text. */
#define HK_SLOW __attribute__((noinline))
/* Reached only on an error: placed apart from the hot text. */
#define HK_COLD __attribute__((noinline, cold))

/* The double-free mark and free-list link key (core/harden.h); set once by
 * init before any block is handed out. */
extern HK_HIDDEN uintptr_t hk_secret;
/* The secret's top byte, fixed (a freed block's link word shows it anyway:
 * a pointer's top byte is 0). free()'s fast path compares this one byte of
 * a block's word 1 with it — byte 15, so a byte load that no earlier store
 * of the program only partly covers (an 8-byte load after a store of the
 * last byte of a 16-byte block waited ~12 cycles for the store to retire:
 * pairs_16) — and leaves a match to the slow path's full compare. 0xfa
 * appears in no UTF-8 text, pointer, small integer or usual double. */
#define HK_MARK_TOP 0xfa

/* Writes "hakmem: <call>(): <what> <ptr>" and aborts. */
__attribute__((noreturn, cold)) void hk_fatal(const char *call, const char *what, const void *p);
/* An environment variable's value in bytes ("123", "64k", "8M", "1G"), or
 * `fallback` for NULL; any other value is reported on stderr and ignored. */
size_t hk_env_size(const char *name, const char *value, size_t fallback);
/* Milliseconds ("250"), or 0 for NULL and for anything else, reported. */
unsigned hk_env_ms(const char *name, const char *value);
/* `value` as it is; one that is not one of `words` ("off|local") is
 * reported on stderr (the layer that reads it then takes its default). */
const char *hk_env_word(const char *name, const char *value, const char *words);
/* Reports "NAME=value: not <want>: ignored" on stderr, for a variable the
 * forms above do not describe. */
void hk_env_report(const char *name, const char *value, const char *want);

/* The API call a slow path serves, named by the aborts of checks made below
 * it that are not told the call (a corrupted link found while a lane or a
 * slab walks a free list). Thread-local; written on slow paths only: the
 * fast paths pass their own name as a constant (core/harden.h). */
extern __thread const char *hk_slow_call __attribute__((tls_model("initial-exec")));

/* A debug assertion on the allocator's own state (DESIGN §8.10's first
 * kind): compiled in with CONFIG_HK_ASSERT_CHEAP or _FULL, O(1), slow paths
 * only. The always-on checks of user pointers call hk_fatal themselves.
 * _FULL also runs the validators (core/validate.h) at every hk_trim. */
#define HK_ASSERT(cond)                                                                    \
	do {                                                                               \
		if ((CONFIG_HK_ASSERT_CHEAP || CONFIG_HK_ASSERT_FULL) && !(cond))          \
			hk_fatal("assert", #cond " failed, " __FILE__, NULL);              \
	} while (0)

/* The init state (core/init.c drives it). BUSY is stored with the
 * initialising process's pid above the two state bits: a forked child
 * knows whether the initialiser is its own. */
enum { HK_INIT_NONE = 0, HK_INIT_BUSY, HK_INIT_DONE, HK_INIT_FAILED };
extern _Atomic int hk_init_state;
static inline int hk_ready(void)
{
	return likely(atomic_load_explicit(&hk_init_state, memory_order_acquire) == HK_INIT_DONE);
}

/* Bootstrap area for allocations made while initialising: never reused. */
void *hk_boot_alloc(size_t size, size_t align);
int hk_boot_owns(const void *p);
size_t hk_boot_usable(const void *p);

/* Starts a detached helper thread (purger, stats log) with `stack` bytes of
 * stack and every signal blocked: it must never run a program's signal
 * handler. Returns pthread_create's result. */
int hk_thread_start(void *(*fn)(void *), size_t stack);
/* fork: a start under way finishes first (prepare waits for it; after the
 * family lock, as a start may come under it: an arena family's reset). */
void hk_thread_fork_lock(void);
void hk_thread_fork_parent(void);
void hk_thread_fork_child(void);

/* Global counters, bumped from any layer (relaxed; CONFIG_HK_STATS). */
typedef struct hk_gstats {
	_Atomic uint64_t large_maps, large_unmaps, failed_allocs, flushes, refills;
	_Atomic uint64_t malloc_slow, free_slow;
} hk_gstats_t;
extern hk_gstats_t hk_gstats;
#define HK_STAT(field, n)                                                                  \
	do {                                                                               \
		if (CONFIG_HK_STATS)                                                       \
			atomic_fetch_add_explicit(&hk_gstats.field, (n), memory_order_relaxed); \
	} while (0)

#endif /* HK_CORE_BASE_H */
