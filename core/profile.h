/*
 * core/profile.h — the heap profiler's records and dumps (core/profile.c):
 * one record per live sampled block (address, size, arena, call stack) in
 * a fixed table mapped from the OS, dumped in the gperftools heap-profile
 * format (pprof reads it), as folded stacks, and as a leak report at exit.
 * Must not allocate through malloc. Invariant: a record exists exactly
 * while its block is live.
 */
#ifndef HK_CORE_PROFILE_H
#define HK_CORE_PROFILE_H

#include "core/types.h"

/* Reads HAKMEM_PROFILE, HAKMEM_PROFILE_RATE, HAKMEM_PROFILE_SIGNAL (init). */
void hk_profile_init(const char *(*get)(const char *name));
/* The sampling rate in bytes while profiling, else 0. */
size_t hk_profile_rate(void);
/* hk_profile_start / hk_profile_stop once init is done (core/observe.c):
 * begin maps the table and sets prefix and rate (0: the default); an errno. */
int hk_profile_begin(const char *prefix, size_t rate);
void hk_profile_end(void);
/* Adds a record of a block of arena number `arena` (0: the default heap);
 * -1 when the table is full (the block stays unrecorded and is counted as
 * dropped). */
int hk_profile_add(void *p, size_t size, void *const *stack, int depth, unsigned arena);
/* Drops p's record if it has one; 1 if it had. */
int hk_profile_remove(const void *p);
/* Drops the records of an arena's blocks (its reset or destroy freed
 * them); how many. */
size_t hk_profile_forget(unsigned arena);
/* Writes the dump a profiling signal could not (it found the table locked). */
void hk_profile_poll(void);
/* fork: the table's lock (a leaf lock). */
void hk_profile_lock(void);
void hk_profile_unlock(void);
/* Records and bytes of table memory, for stats. */
void hk_profile_counts(size_t *records, size_t *bytes, uint64_t *dropped);

#endif /* HK_CORE_PROFILE_H */
