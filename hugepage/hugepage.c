/*
 * hugepage/hugepage.c — commits chunks with the best backing allowed.
 *
 * Owns the backing policy: hugetlb 1 GiB → hugetlb 2 MiB → THP → 4 KiB, each
 * step taken only when the policy and the configuration allow it, each
 * failure noted once for the stats. Calls os/ only. Never MAP_NORESERVE with
 * hugetlb (os/ guarantees it). Invariant: a failed step leaves the range a
 * PROT_NONE reservation, so the next step starts from the same state.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "hugepage/hugepage.h"
#include "os/os.h"

#define GIB ((size_t)1 << 30)
/* After a pool runs dry, this many commits skip it before trying again:
 * a failed hugetlb mmap costs two system calls per chunk. */
#define EMPTY_POOL_SKIP 16
#define NEVER_AGAIN 0x7fffffff

static hk_hugepage_policy_t default_policy = HK_HUGEPAGE_AUTO;
static char notes[256];
static atomic_flag notes_lock = ATOMIC_FLAG_INIT;
static int skip_1g, skip_2m;        /* accessed with relaxed atomics */
static unsigned long fallbacks;

static void note(const char *what)
{
	while (atomic_flag_test_and_set_explicit(&notes_lock, memory_order_acquire))
		;
	size_t used = strlen(notes);
	if (!strstr(notes, what) && used + strlen(what) + 3 < sizeof notes) {
		if (used)
			strcat(notes, "; ");
		strcat(notes, what);
	}
	atomic_flag_clear_explicit(&notes_lock, memory_order_release);
}

const char *hk_hugepage_notes(void)
{
	return notes;
}

unsigned long hk_hugepage_fallbacks(void)
{
	return __atomic_load_n(&fallbacks, __ATOMIC_RELAXED);
}

hk_hugepage_policy_t hk_hugepage_parse(const char *env)
{
	if (!env || !strcmp(env, "auto") || !*env)
		return HK_HUGEPAGE_AUTO;
	if (!strcmp(env, "off") || !strcmp(env, "none") || !strcmp(env, "4k"))
		return HK_HUGEPAGE_NONE;
	if (!strcmp(env, "thp"))
		return HK_HUGEPAGE_THP;
	if (!strcmp(env, "2m"))
		return HK_HUGEPAGE_2M;
	if (!strcmp(env, "1g"))
		return HK_HUGEPAGE_1G;
	note("HAKMEM_HUGEPAGES not off|thp|2m|1g|auto: auto");
	return HK_HUGEPAGE_AUTO;
}

void hk_hugepage_init(const char *env)
{
	hk_os_init(NULL);
	notes[0] = '\0';
	__atomic_store_n(&skip_1g, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&skip_2m, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&fallbacks, 0, __ATOMIC_RELAXED);
	default_policy = hk_hugepage_parse(env);
}

hk_hugepage_policy_t hk_hugepage_default_policy(void)
{
	return default_policy;
}

/* 1 when this pool is in its back-off after a failure (counts one down). */
static int skipping(int *skip)
{
	int n = __atomic_load_n(skip, __ATOMIC_RELAXED);
	if (n <= 0)
		return 0;
	if (n != NEVER_AGAIN)
		__atomic_store_n(skip, n - 1, __ATOMIC_RELAXED);
	return 1;
}

/* Notes why a hugetlb attempt failed and sets the pool's back-off. */
static void hugetlb_failed(int err, size_t page, int *skip)
{
	int is_1g = page == GIB;
	if (err == EINVAL) {
		note(is_1g ? "hugetlb-1G unsupported (EINVAL): falling back"
			   : "hugetlb-2M unsupported (EINVAL): falling back");
		__atomic_store_n(skip, NEVER_AGAIN, __ATOMIC_RELAXED);
	} else if (err) {
		note(is_1g ? "hugetlb-1G pool empty: falling back" : "hugetlb-2M pool empty: falling back");
		__atomic_store_n(skip, EMPTY_POOL_SKIP, __ATOMIC_RELAXED);
	}
}

/* One hugetlb commit attempt over a reservation. */
static int try_hugetlb(void *p, size_t len, size_t page, int *skip)
{
	if (len % page || (uintptr_t)p % page) {
		note(page == GIB ? "hugetlb-1G: range not 1 GiB-aligned" : "hugetlb-2M: range not 2 MiB-aligned");
		return EINVAL;
	}
	if (skipping(skip))
		return ENOMEM;
	int err = hk_os_commit_hugetlb(p, len, page);
	if (err)
		hugetlb_failed(err, page, skip);
	return err;
}

/* One hugetlb direct-mapping attempt (len a multiple of page, or skipped). */
static int try_hugetlb_map(size_t len, size_t align, size_t page, int *skip, void **out)
{
	if (len % page || skipping(skip))
		return ENOMEM;
	int err = hk_os_map(len, align, page, out);
	if (err)
		hugetlb_failed(err, page, skip);
	return err;
}

/* The policy's wish, before any fallback. */
static hk_backing_t wanted(hk_hugepage_policy_t policy, int want_thp)
{
	const hk_os_caps_t *caps = hk_os_caps();
	switch (policy) {
	case HK_HUGEPAGE_1G: return HK_BACKING_1G;
	case HK_HUGEPAGE_2M: return HK_BACKING_2M;
	case HK_HUGEPAGE_THP: return HK_BACKING_THP;
	case HK_HUGEPAGE_NONE: return HK_BACKING_4K;
	default: break;
	}
	if (CONFIG_HK_HUGETLB_2M) {
		hk_os_probe_hugetlb();
		if (__atomic_load_n(&caps->hugetlb_2m_total, __ATOMIC_RELAXED))
			return HK_BACKING_2M;
	}
	return want_thp || CONFIG_HK_THP_ALWAYS ? HK_BACKING_THP : HK_BACKING_4K;
}

/* 4 KiB pages, then MADV_HUGEPAGE if allowed (or NOHUGEPAGE when the policy
 * says 4 KiB on a kernel whose THP mode is "always"). */
static int commit_small(void *p, size_t len, hk_backing_t want, hk_backing_t *backing)
{
	int thp_mode = hk_os_caps()->thp_mode;
	int err = hk_os_commit(p, len);
	if (err)
		return err;
	*backing = HK_BACKING_4K;
	if (want == HK_BACKING_4K || CONFIG_HK_THP_NEVER) {
		if (thp_mode == HK_OS_THP_ALWAYS)
			hk_os_advise_thp(p, len, 0);
		return 0;
	}
	if (thp_mode < HK_OS_THP_MADVISE) {
		note("THP unavailable: 4K pages");
		return 0;
	}
	if (hk_os_advise_thp(p, len, 1) == 0)
		*backing = HK_BACKING_THP;
	else
		note("MADV_HUGEPAGE refused: 4K pages");
	return 0;
}

int hk_hugepage_commit(void *p, size_t len, hk_hugepage_policy_t policy,
		       int want_thp, hk_backing_t *backing)
{
	hk_backing_t want = wanted(policy, want_thp);
	if (CONFIG_HK_HUGETLB_1G && want == HK_BACKING_1G &&
	    try_hugetlb(p, len, GIB, &skip_1g) == 0) {
		*backing = HK_BACKING_1G;
		return 0;
	}
	if (CONFIG_HK_HUGETLB_2M && want >= HK_BACKING_2M &&
	    try_hugetlb(p, len, HK_CHUNK_SIZE, &skip_2m) == 0) {
		*backing = HK_BACKING_2M;
		goto out;
	}
	/* AUTO's THP is the caller's choice (small heaps keep RSS low);
	 * an explicit policy's fallback is THP. */
	hk_backing_t small = want >= HK_BACKING_THP ? HK_BACKING_THP : want;
	if (policy == HK_HUGEPAGE_AUTO && !want_thp && !CONFIG_HK_THP_ALWAYS)
		small = HK_BACKING_4K;
	int err = commit_small(p, len, small, backing);
	if (err)
		return err;
out:
	if (*backing < want)
		__atomic_fetch_add(&fallbacks, 1, __ATOMIC_RELAXED);
	return 0;
}

int hk_hugepage_decommit(void *p, size_t len, hk_backing_t backing)
{
	(void)backing; /* a fresh PROT_NONE mapping replaces any kind of page */
	return hk_os_decommit(p, len);
}

/* A direct mapping of len bytes: the same ladder, without a reservation. */
int hk_hugepage_map(size_t len, size_t align, hk_hugepage_policy_t policy,
		    void **out, hk_backing_t *backing)
{
	hk_backing_t want = wanted(policy, len >= HK_CHUNK_SIZE);
	if (CONFIG_HK_HUGETLB_1G && want == HK_BACKING_1G &&
	    try_hugetlb_map(len, align, GIB, &skip_1g, out) == 0) {
		*backing = HK_BACKING_1G;
		return 0;
	}
	if (CONFIG_HK_HUGETLB_2M && want >= HK_BACKING_2M &&
	    try_hugetlb_map(len, align, HK_CHUNK_SIZE, &skip_2m, out) == 0) {
		*backing = HK_BACKING_2M;
		return 0;
	}
	int err = hk_os_map(len, align, 0, out);
	if (err)
		return err;
	*backing = HK_BACKING_4K;
	if (want >= HK_BACKING_THP && !CONFIG_HK_THP_NEVER && len >= HK_CHUNK_SIZE &&
	    hk_os_caps()->thp_mode >= HK_OS_THP_MADVISE && hk_os_advise_thp(*out, len, 1) == 0)
		*backing = HK_BACKING_THP;
	return 0;
}

size_t hk_hugepage_purge_granule(hk_backing_t backing)
{
	switch (backing) {
	case HK_BACKING_1G: return GIB;
	case HK_BACKING_2M:
	case HK_BACKING_THP: return HK_CHUNK_SIZE;
	default: return hk_os_caps()->page_size;
	}
}

const char *hk_backing_name(hk_backing_t backing)
{
	static const char *const names[] = { "none", "4K", "THP", "hugetlb-2M", "hugetlb-1G" };
	return (unsigned)backing < 5 ? names[backing] : "?";
}
