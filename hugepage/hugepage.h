/*
 * hugepage/hugepage.h — which pages back a chunk: hugetlb 2 MiB / 1 GiB,
 * transparent hugepages, or 4 KiB pages.
 *
 * Owns the backing policy and its fallbacks; calls only os/. Never crashes
 * on a missing pool or an unsupported page size: it falls back to the next
 * backing and records a note. Never uses MAP_NORESERVE with hugetlb.
 */
#ifndef HK_HUGEPAGE_H
#define HK_HUGEPAGE_H

#include <stddef.h>

#include "hakmem.h"
#include "hk_config.h"

#define HK_CHUNK_SIZE ((size_t)2 << 20) /* the unit every backing commits */

/* Reads HAKMEM_HUGEPAGES (off|thp|2m|1g|auto, NULL = auto) once and decides
 * the process heap's policy. Calls hk_os_init() first if needed. */
void hk_hugepage_init(const char *env);
/* The default heap's policy after the environment. */
hk_hugepage_policy_t hk_hugepage_default_policy(void);

/*
 * Commits [p, p+len) of a reservation (p and len multiples of HK_CHUNK_SIZE,
 * or of 1 GiB for HK_HUGEPAGE_1G to get 1 GiB pages) with the best backing
 * the policy allows, falling back in order 1G → 2M → THP → 4K. `want_thp`
 * lets the caller refuse THP for this range (small heaps keep RSS low).
 * Returns 0 and stores the backing used, or a positive errno if even 4 KiB
 * pages could not be committed.
 */
int hk_hugepage_commit(void *p, size_t len, hk_hugepage_policy_t policy,
		       int want_thp, hk_backing_t *backing);
/* Releases the memory of a committed range back to a PROT_NONE reservation. */
int hk_hugepage_decommit(void *p, size_t len, hk_backing_t backing);
/* The smallest range that can be purged without splitting a page. */
size_t hk_hugepage_purge_granule(hk_backing_t backing);
/*
 * A direct mapping of `len` bytes aligned to `align` with the best backing
 * the policy allows: hugetlb when len is a multiple of its page size, else
 * 4 KiB pages advised THP when len >= 2 MiB. 0 or a positive errno.
 */
int hk_hugepage_map(size_t len, size_t align, hk_hugepage_policy_t policy,
		    void **out, hk_backing_t *backing);
/* HAKMEM_HUGEPAGES-style word → policy (NULL or unknown: AUTO, noted). */
hk_hugepage_policy_t hk_hugepage_parse(const char *env);
/* Commits that got a lesser backing than their policy asked for. */
unsigned long hk_hugepage_fallbacks(void);
/* A short phrase for stats, e.g. "hugetlb-2M pool empty: using THP". */
const char *hk_hugepage_notes(void);
const char *hk_backing_name(hk_backing_t backing);

#endif /* HK_HUGEPAGE_H */
