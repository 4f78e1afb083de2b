/*
 * core/platform.c — the only core file that includes os/, hugepage/ and
 * numa/ headers (tools/check-layers.sh checks it). Translation only: no
 * policy beyond picking the node and batching purges for the os queue.
 * Must not allocate through malloc.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/platform.h"
#include "hugepage/hugepage.h"
#include "numa/numa.h"
#include "os/os.h"

void hk_platform_init(const char *purge_env, const char *huge_env, const char *numa_env)
{
	hk_os_init(purge_env);
	hk_hugepage_init(huge_env);
	hk_numa_init(numa_env);
}

size_t hk_platform_page_size(void)
{
	return hk_os_caps()->page_size;
}

size_t hk_platform_as_limit(void)
{
	return hk_os_caps()->as_limit;
}

hk_hugepage_policy_t hk_platform_default_policy(void)
{
	return hk_hugepage_default_policy();
}

int hk_platform_reserve(size_t len, size_t align, void **out)
{
	return hk_os_reserve(len, align, out);
}

int hk_platform_commit(void *p, size_t len)
{
	return hk_os_commit(p, len);
}

int hk_platform_commit_chunks(void *p, size_t len, hk_hugepage_policy_t policy,
			      int want_thp, int node, hk_backing_t *backing)
{
	int err = hk_hugepage_commit(p, len, policy, want_thp, backing);
	if (err)
		return err;
	/* Binding after the commit and before the first touch is enough:
	 * no page exists yet. A failed bind leaves the memory local. */
	if (hk_platform_node_count() > 1)
		hk_numa_bind(p, len, node >= 0 ? node : hk_numa_current_node());
	return 0;
}

int hk_platform_decommit(void *p, size_t len)
{
	return hk_os_decommit(p, len);
}

int hk_platform_protect(void *p, size_t len)
{
	return hk_os_protect(p, len);
}

/* A refusal that will not change (no such advice before Linux 5.14:
 * EINVAL; a seccomp filter's EPERM or ENOSYS) stops the calls, for every
 * caller at once: their pages then fault in as they would without it, and
 * each further try would be a wasted system call (test_fakeos_request).
 * EINVAL also comes for a range the kernel cannot populate (read-only or
 * PROT_NONE, Linux 6.18 here): one such range stopped them for the whole
 * process. So the first EINVAL asks the kernel about the advice alone,
 * once; if it knows it, an EINVAL is the range's, counted as a failure
 * (hk_os_counters) and no more. */
static int populate_refused, populate_known;

int hk_platform_populate(void *p, size_t len)
{
	int err = __atomic_load_n(&populate_refused, __ATOMIC_RELAXED);
	if (err)
		return err;
	err = hk_os_populate(p, len);
	if (err == EINVAL && !__atomic_load_n(&populate_known, __ATOMIC_RELAXED)) {
		void *page = (void *)((uintptr_t)p & ~(uintptr_t)(hk_platform_page_size() - 1));
		int unknown = hk_os_populate_probe(page);
		if (!unknown)
			__atomic_store_n(&populate_known, 1, __ATOMIC_RELAXED);
		else
			__atomic_store_n(&populate_refused, unknown, __ATOMIC_RELAXED);
	} else if (err == EPERM || err == ENOSYS) {
		__atomic_store_n(&populate_refused, err, __ATOMIC_RELAXED);
	}
	return err;
}

int hk_platform_release(void *p, size_t len)
{
	return hk_os_release(p, len);
}

size_t hk_platform_purge_granule(hk_backing_t backing)
{
	return hk_hugepage_purge_granule(backing);
}

int hk_platform_map(size_t len, size_t align, int hugetlb, void **out)
{
	return hk_os_map(len, align, hugetlb ? HK_CHUNK_SIZE : 0, out);
}

int hk_platform_unmap(void *p, size_t len)
{
	return hk_os_unmap(p, len);
}

int hk_platform_remap(void *p, size_t old_len, size_t new_len, void **out)
{
	return hk_os_remap(p, old_len, new_len, out);
}

static void purge_done(void *cookie, void *ctx)
{
	(void)cookie;
	(void)ctx;
}

void hk_platform_purge(void *const *ptrs, const size_t *lens, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (hk_os_purge_queue(ptrs[i], lens[i], NULL) == EAGAIN) {
			hk_os_purge_drain(purge_done, NULL);
			hk_os_purge_queue(ptrs[i], lens[i], NULL);
		}
	}
	hk_os_purge_drain(purge_done, NULL);
}

int hk_platform_purge_now(void *p, size_t len)
{
	return hk_os_purge(p, len);
}

void hk_platform_atfork_child(void)
{
	hk_os_atfork_child();
}

int hk_platform_node_count(void)
{
	/* At least the one node, whatever numa/ probed. */
	int n = hk_numa_node_count();
	return n > 0 ? n : 1;
}

int hk_platform_current_node(void)
{
	return hk_numa_current_node();
}

uint64_t hk_platform_now_ms(void)
{
	return hk_os_now_ms();
}

void hk_platform_fill_stats(hk_stats_t *out)
{
	const hk_os_caps_t *caps = hk_os_caps();
	hk_os_counters_t c;
	hk_os_refresh_hugetlb();
	hk_os_probe_io_uring();
	hk_os_counters(&c);
	out->os_calls = c.reserve + c.commit + c.decommit + c.release + c.map + c.unmap +
			c.advise + c.purge + c.protect + c.populate;
	out->purges = c.purge;
	out->purged_bytes = c.purged_bytes;
	out->purge_fallbacks = c.purge_fallback;
	out->purge_mode = hk_os_purge_mode() == HK_OS_PURGE_IO_URING ? HK_PURGE_IO_URING
								     : HK_PURGE_MADVISE;
	out->thp_mode = caps->thp_mode;
	out->hugetlb_2m_free = __atomic_load_n(&caps->hugetlb_2m_free, __ATOMIC_RELAXED);
	out->hugetlb_2m_total = __atomic_load_n(&caps->hugetlb_2m_total, __ATOMIC_RELAXED);
	out->hugetlb_1g_free = __atomic_load_n(&caps->hugetlb_1g_free, __ATOMIC_RELAXED);
	out->hugetlb_1g_total = __atomic_load_n(&caps->hugetlb_1g_total, __ATOMIC_RELAXED);
	out->numa_nodes = hk_platform_node_count();
	out->io_uring_available = caps->io_uring;
	/* The purge note says why this mode (the default, an environment
	 * word, a refused ring): the mode alone does not tell them apart. */
	const char *hp = hk_hugepage_notes();
	snprintf(out->notes, sizeof out->notes, "%s%spurge: %s", hp, *hp ? "; " : "",
		 hk_os_caps()->purge_note);
}
