/*
 * os/os.h — the only seam between hakmem and the kernel's memory calls.
 *
 * Owns: mmap/munmap/mprotect/madvise and io_uring. Nothing above this layer
 * makes a memory system call. Mechanism only, no policy: each function does
 * one syscall-sized thing and returns 0 or a positive errno value; the
 * caller's errno is preserved. Must not allocate with malloc (it runs
 * inside the allocator) and must not include core/.
 *
 * Preconditions for every range argument: page-aligned address and length
 * (the base page size, or the hugetlb page size for hugetlb ranges).
 */
#ifndef HK_OS_H
#define HK_OS_H

#include <stddef.h>
#include <stdint.h>

#include "hk_config.h"

enum hk_os_thp { HK_OS_THP_UNAVAILABLE = -1, HK_OS_THP_NEVER = 0, HK_OS_THP_MADVISE = 1, HK_OS_THP_ALWAYS = 2 };
enum hk_os_purge_mode { HK_OS_PURGE_MADVISE = 0, HK_OS_PURGE_IO_URING = 1 };

/* What the kernel offers, probed once by hk_os_init(). */
typedef struct hk_os_caps {
	size_t page_size;        /* base page size */
	int thp_mode;            /* enum hk_os_thp */
	size_t hugetlb_2m_total, hugetlb_2m_free; /* pages in the 2 MiB pool */
	size_t hugetlb_1g_total, hugetlb_1g_free; /* pages in the 1 GiB pool */
	int io_uring;            /* 1: io_uring mode (its ring set up at the first purge) */
	int purge_mode;          /* enum hk_os_purge_mode, after HAKMEM_PURGE (live) */
	size_t as_limit;         /* RLIMIT_AS soft limit, SIZE_MAX if none */
	/* Added after the first version (append only): */
	int hugetlb_1g_supported; /* the kernel has a 1 GiB hstate (CPU has pdpe1gb) */
	int io_uring_disabled;    /* kernel.io_uring_disabled: 0, 1, 2; -1 if absent;
				   * -2 until read (hk_os_probe_io_uring) */
	const char *purge_note;   /* why this purge mode, e.g. "io_uring setup: EPERM" */
} hk_os_caps_t;

/* Counters of every call made, for stats and the fake-OS tests. */
typedef struct hk_os_counters {
	uint64_t reserve, commit, decommit, release, map, unmap, advise, purge;
	uint64_t purge_async, purge_fallback, purged_bytes;
	/* Added after the first version (append only): */
	uint64_t purge_batches;  /* io_uring_enter calls that carried purges */
	uint64_t failures;       /* calls of any kind that returned an errno */
	uint64_t protect;        /* hk_os_protect calls */
	uint64_t populate;       /* hk_os_populate calls */
} hk_os_counters_t;

/* Probes capabilities; `purge_env` is HAKMEM_PURGE ("madvise", "uring" or NULL).
 * Safe to call more than once; cheap after the first. */
void hk_os_init(const char *purge_env);
const hk_os_caps_t *hk_os_caps(void);
/* CLOCK_MONOTONIC in ms: the purge delays' clock (the fake OS's can be set). */
uint64_t hk_os_now_ms(void);
void hk_os_counters(hk_os_counters_t *out);
/* Re-reads the hugetlb pool counters (they change under us). */
void hk_os_refresh_hugetlb(void);
/* Reads them once: hk_os_init leaves the hugetlb fields of the caps 0 until
 * this or a refresh (read them atomically: a probe may run meanwhile). */
void hk_os_probe_hugetlb(void);
/* Reads kernel.io_uring_disabled once, if the first ring setup did not:
 * until then the purge mode says io_uring whatever the sysctl says. */
void hk_os_probe_io_uring(void);

/* Address space: PROT_NONE, MAP_NORESERVE, aligned to `align` (a power of two
 * >= page size). Costs no memory until committed. */
int hk_os_reserve(size_t len, size_t align, void **out);
/* Makes [p, p+len) of a reservation readable and writable (4 KiB pages). */
int hk_os_commit(void *p, size_t len);
/* Maps hugetlb pages of `page_size` (2 MiB or 1 GiB) over [p, p+len) of a
 * reservation. On failure (empty pool: ENOMEM; size unsupported: EINVAL) the
 * range is a PROT_NONE reservation again. */
int hk_os_commit_hugetlb(void *p, size_t len, size_t page_size);
/* Returns the pages and makes the range PROT_NONE again (still reserved). */
int hk_os_decommit(void *p, size_t len);
/* Gives address space back (munmap). */
int hk_os_release(void *p, size_t len);
/* Makes [p, p+len) of a reservation inaccessible but keeps its pages and
 * their contents (mprotect PROT_NONE), so hk_os_commit opens it again
 * without a page fault; hk_os_decommit gives the pages back. */
int hk_os_protect(void *p, size_t len);

/* Faults [p, p+len) of committed memory in now, writable (MADV_POPULATE_WRITE,
 * Linux 5.14): one system call instead of a page fault a page. EINVAL on an
 * older kernel. */
int hk_os_populate(void *p, size_t len);
/* Whether the kernel knows MADV_POPULATE_WRITE, at page-aligned p with no
 * range (it checks the advice first, then returns: no memory touched): 0
 * if it does, EINVAL if not. hk_os_populate's EINVAL alone does not tell:
 * a range it cannot populate (read-only, PROT_NONE) gets EINVAL too. */
int hk_os_populate_probe(void *p);

/* A direct read-write mapping of `len` bytes aligned to `align`, outside any
 * reservation; `hugetlb_page` is 0 or the hugetlb page size to use. */
int hk_os_map(size_t len, size_t align, size_t hugetlb_page, void **out);
int hk_os_unmap(void *p, size_t len);
/* Grows or shrinks a direct mapping in place or by moving it (mremap). */
int hk_os_remap(void *p, size_t old_len, size_t new_len, void **out);

/* MADV_HUGEPAGE / MADV_NOHUGEPAGE on committed memory. */
int hk_os_advise_thp(void *p, size_t len, int enable);

/* Synchronous purge: MADV_DONTNEED; the range stays committed and reads as zero. */
int hk_os_purge(void *p, size_t len);

/*
 * Asynchronous purge. A queued range must not be touched by anyone until its
 * completion has been delivered: the madvise may run at any moment before.
 * hk_os_purge_queue() adds a range tagged with `cookie` (the caller merges
 * adjacent ranges first; a NULL-cookie range that starts where the previous
 * NULL-cookie range ends is merged here, and done(NULL) still comes once
 * per queued range); EAGAIN when the queue is full (256 ranges): submit
 * first. hk_os_purge_submit() hands the batch to the
 * kernel (io_uring) or runs it (madvise mode); hk_os_purge_reap() never
 * blocks and calls done(cookie) for every range finished since. In madvise
 * mode done() is called from submit. done() may queue ranges (they wait for
 * the next submit) but must not submit, reap or drain. Not thread-safe: the
 * caller serialises.
 */
typedef void (*hk_os_purge_done_fn)(void *cookie, void *ctx);
int hk_os_purge_queue(void *p, size_t len, void *cookie);
int hk_os_purge_submit(hk_os_purge_done_fn done, void *ctx);
int hk_os_purge_reap(hk_os_purge_done_fn done, void *ctx);
/* Waits for everything queued (tests, trim, fork prepare). */
int hk_os_purge_drain(hk_os_purge_done_fn done, void *ctx);
int hk_os_purge_mode(void);

/* fork: the child gets a new ring (an io_uring is not shared across fork). */
void hk_os_atfork_child(void);

#endif /* HK_OS_H */
