/*
 * hugepage/hugepage.c — commits chunks with the best backing allowed.
 *
 * Owns the backing policy: hugetlb 1 GiB → hugetlb 2 MiB → THP → 4 KiB, each
 * step taken only when the policy and the configuration allow it, each
 * failure noted once for the stats. Calls os/ only.
 */
#include <string.h>

#include "hugepage/hugepage.h"
#include "os/os.h"

static hk_hugepage_policy_t default_policy = HK_HUGEPAGE_AUTO;
static char notes[200];

static void note(const char *what)
{
	if (strstr(notes, what))
		return;
	size_t used = strlen(notes);
	if (used + strlen(what) + 3 >= sizeof notes)
		return;
	if (used)
		strcat(notes, "; ");
	strcat(notes, what);
}

const char *hk_hugepage_notes(void)
{
	return notes;
}

void hk_hugepage_init(const char *env)
{
	hk_os_init(NULL);
	default_policy = HK_HUGEPAGE_AUTO;
	if (!env)
		return;
	if (!strcmp(env, "off") || !strcmp(env, "none"))
		default_policy = HK_HUGEPAGE_NONE;
	else if (!strcmp(env, "thp"))
		default_policy = HK_HUGEPAGE_THP;
	else if (!strcmp(env, "2m"))
		default_policy = HK_HUGEPAGE_2M;
	else if (!strcmp(env, "1g"))
		default_policy = HK_HUGEPAGE_1G;
}

hk_hugepage_policy_t hk_hugepage_default_policy(void)
{
	return default_policy;
}

static int try_hugetlb(void *p, size_t len, size_t page, hk_backing_t *backing, hk_backing_t kind)
{
	if (len % page || (uintptr_t)p % page)
		return -1;
	int err = hk_os_commit_hugetlb(p, len, page);
	if (err) {
		note(kind == HK_BACKING_1G ? "hugetlb-1G unavailable" : "hugetlb-2M pool empty");
		return err;
	}
	*backing = kind;
	return 0;
}

int hk_hugepage_commit(void *p, size_t len, hk_hugepage_policy_t policy,
		       int want_thp, hk_backing_t *backing)
{
	const hk_os_caps_t *caps = hk_os_caps();
	int hugetlb_ok = policy == HK_HUGEPAGE_2M || policy == HK_HUGEPAGE_1G ||
			 (policy == HK_HUGEPAGE_AUTO && caps->hugetlb_2m_total);
	if (CONFIG_HK_HUGETLB_1G && policy == HK_HUGEPAGE_1G &&
	    try_hugetlb(p, len, (size_t)1 << 30, backing, HK_BACKING_1G) == 0)
		return 0;
	if (CONFIG_HK_HUGETLB_2M && hugetlb_ok &&
	    try_hugetlb(p, len, HK_CHUNK_SIZE, backing, HK_BACKING_2M) == 0)
		return 0;
	int err = hk_os_commit(p, len);
	if (err)
		return err;
	*backing = HK_BACKING_4K;
	int thp_allowed = policy != HK_HUGEPAGE_NONE && !CONFIG_HK_THP_NEVER &&
			  (want_thp || CONFIG_HK_THP_ALWAYS || policy != HK_HUGEPAGE_AUTO);
	if (thp_allowed && caps->thp_mode >= HK_OS_THP_MADVISE &&
	    hk_os_advise_thp(p, len, 1) == 0)
		*backing = HK_BACKING_THP;
	return 0;
}

int hk_hugepage_decommit(void *p, size_t len, hk_backing_t backing)
{
	(void)backing;
	return hk_os_decommit(p, len);
}

size_t hk_hugepage_purge_granule(hk_backing_t backing)
{
	switch (backing) {
	case HK_BACKING_1G: return (size_t)1 << 30;
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
