/*
 * core/platform.h — core's one narrow door to os/, hugepage/ and numa/.
 * Owns nothing but the translation: every function is one call below,
 * returning 0 or a positive errno with errno untouched. Must not allocate.
 * Invariant: no other core file includes a header of the layers below.
 */
#ifndef HK_CORE_PLATFORM_H
#define HK_CORE_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#include "hakmem.h"

/* Probes the machine once; env values may be NULL. */
void hk_platform_init(const char *purge_env, const char *huge_env, const char *numa_env);
size_t hk_platform_page_size(void);
/* RLIMIT_AS soft limit, SIZE_MAX when none. */
size_t hk_platform_as_limit(void);
hk_hugepage_policy_t hk_platform_default_policy(void);

int hk_platform_reserve(size_t len, size_t align, void **out);
/* Plain read-write pages in a reservation (descriptors). */
int hk_platform_commit(void *p, size_t len);
/* Chunks of the heap: backing by policy, bound to `node` (or local if < 0). */
int hk_platform_commit_chunks(void *p, size_t len, hk_hugepage_policy_t policy,
			      int want_thp, int node, hk_backing_t *backing);
int hk_platform_decommit(void *p, size_t len);
/* Inaccessible, pages kept: hk_platform_commit reopens it without a fault. */
int hk_platform_protect(void *p, size_t len);
int hk_platform_release(void *p, size_t len);
/* Faults committed 4 KiB pages in with one call (EINVAL: not on this
 * kernel). After a refusal that will not change, returns it at once. */
int hk_platform_populate(void *p, size_t len);
size_t hk_platform_purge_granule(hk_backing_t backing);

/* Direct mappings (large blocks, lanes, tables). */
int hk_platform_map(size_t len, size_t align, int hugetlb, void **out);
int hk_platform_unmap(void *p, size_t len);
int hk_platform_remap(void *p, size_t old_len, size_t new_len, void **out);

/* Purges ranges and waits for them (madvise; io_uring with HAKMEM_PURGE=uring).
 * Serialised by the caller. */
void hk_platform_purge(void *const *ptrs, const size_t *lens, unsigned n);
/* Purges one range now (madvise, outside the purge queue): for callers
 * holding locks the queue's serialisation ranks above. */
int hk_platform_purge_now(void *p, size_t len);

void hk_platform_atfork_child(void);
int hk_platform_node_count(void);
/* Node of the CPU the caller runs on (0 on one node). */
int hk_platform_current_node(void);
uint64_t hk_platform_now_ms(void);

/* Capabilities and OS counters, for hk_stats_get. */
void hk_platform_fill_stats(hk_stats_t *out);

#endif /* HK_CORE_PLATFORM_H */
