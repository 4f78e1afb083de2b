/*
 * os/fake_os.h — control of the fake OS that unit tests link instead of
 * os/os.o and os/purge_uring.o (test/unit/Build.mk, tests test_fakeos*.c).
 *
 * The fake implements all of os/os.h and the ring of os/os_internal.h on
 * real anonymous memory, deterministically: hugetlb pools are simulated
 * numbers, io_uring completions arrive in reverse order, and the Nth call
 * of any kind can be made to fail with a chosen errno. Never in libhakmem.
 */
#ifndef HK_FAKE_OS_H
#define HK_FAKE_OS_H

#include <stddef.h>
#include <stdint.h>

#include "os/os.h"

enum hk_fake_call {
	HK_FAKE_RESERVE, HK_FAKE_COMMIT, HK_FAKE_COMMIT_HUGETLB, HK_FAKE_DECOMMIT,
	HK_FAKE_RELEASE, HK_FAKE_MAP, HK_FAKE_UNMAP, HK_FAKE_REMAP, HK_FAKE_ADVISE,
	HK_FAKE_PURGE,          /* synchronous MADV_DONTNEED (also the fallback) */
	HK_FAKE_URING_INIT,     /* ring setup: fail with EPERM / ENOSYS / EOPNOTSUPP */
	HK_FAKE_URING_QUEUE,    /* getting an SQE: EAGAIN = queue full */
	HK_FAKE_URING_SUBMIT,   /* io_uring_enter */
	HK_FAKE_URING_COMPLETE, /* a completion's result: -err */
	HK_FAKE_PROTECT,        /* hk_os_protect (mprotect PROT_NONE) */
	HK_FAKE_POPULATE,       /* hk_os_populate (MADV_POPULATE_WRITE) */
	HK_FAKE_POPULATE_PROBE, /* hk_os_populate_probe: EINVAL = advice unknown */
	HK_FAKE_NKINDS
};

/* Forgets every mapping count, failure and call count; default caps (4 KiB
 * pages, THP madvise, empty pools, no 1 GiB hstate, io_uring allowed);
 * hk_os_init() probes again. Unmaps nothing: free what you mapped first. */
void hk_fake_os_reset(void);
/* The caps hk_os_init() will report; edit them after reset, before init.
 * The pool counters are live: commits take pages, decommits give back. */
hk_os_caps_t *hk_fake_os_caps(void);
/* The `nth` call of `kind` from now (1 = the next) fails with `err`;
 * nth = 0: every call from now on fails. One rule per kind. */
void hk_fake_os_fail(enum hk_fake_call kind, unsigned nth, int err);
/* Calls of `kind` since reset (failed ones included). */
unsigned long hk_fake_os_calls(enum hk_fake_call kind);
/* Freezes hk_os_now_ms() at `ms` (0: the real clock again, as after reset).
 * The purger thread sleeps on the real clock: a frozen time far ahead of it
 * keeps the thread parked once it has a deadline. */
void hk_fake_os_set_clock(uint64_t ms);
/* Bytes of address space mapped by the fake and not given back. */
long hk_fake_os_mapped_bytes(void);

#endif /* HK_FAKE_OS_H */
