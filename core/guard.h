/*
 * core/guard.h — the guarded slots (core/guard.c): sampled blocks of up to
 * one page, each at the end of its own page, followed by a PROT_NONE page;
 * the page of a freed block is PROT_NONE too, and its slot waits behind
 * every other slot before reuse. A SIGSEGV in the pool aborts with a report
 * (the handler comes with the first guarded block and chains to the one it
 * found for faults outside the pool).
 * Open slots (one page, kept committed) hold the profiler's other samples.
 * Must not allocate through malloc. Invariant: a guarded slot's page is
 * readable exactly while its block is live.
 */
#ifndef HK_CORE_GUARD_H
#define HK_CORE_GUARD_H

#include "core/types.h"

/* A block of `size` (<= a page) with its allocation stack, or NULL (too
 * big, no slot left, out of memory): in a guarded slot, or (`guarded` 0,
 * for the profiler) in an open one, which costs no system call. */
void *hk_guard_alloc(size_t size, void *const *stack, int depth, int guarded);
/* 1 if p is inside the pool (a live, freed or never used slot). */
static inline int hk_guard_owns(const void *p)
{
	/* end is set before base is published (release): a reader that sees
	 * the base sees the end (0 and 0 before the pool exists: no range). */
	extern _Atomic uintptr_t hk_guard_base, hk_guard_end;
	uintptr_t base = atomic_load_explicit(&hk_guard_base, memory_order_acquire);
	return (uintptr_t)p - base <
	       atomic_load_explicit(&hk_guard_end, memory_order_relaxed) - base;
}
/* The usable size of a live guarded block; aborts naming `call` on a
 * pointer that is not one. */
size_t hk_guard_usable(const void *p, const char *call);
/* Frees a live guarded block (checked by hk_guard_usable first). */
void hk_guard_free(void *p);
/* fork: the pool's lock is held across fork (a leaf lock: taken last). */
void hk_guard_lock(void);
void hk_guard_unlock(void);
/* Live blocks in guarded slots, freed guarded slots that keep their page
 * (<= 32), live blocks in open slots, and bytes committed for slots (the
 * live and kept guarded ones, every open one committed so far: <= 32 MiB). */
void hk_guard_counts(size_t *live, size_t *kept, size_t *open, size_t *committed);

#endif /* HK_CORE_GUARD_H */
