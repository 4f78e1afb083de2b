/*
 * os/os.c — address space, commit, direct mappings and synchronous purge.
 *
 * Owns the mmap/munmap/mprotect/madvise calls and the capability probe.
 * Every function returns 0 or a positive errno and leaves errno as it found
 * it, so the allocator above can decide what the caller of malloc sees.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "os/os.h"
#include "os/os_internal.h"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif

static hk_os_caps_t caps;
static hk_os_counters_t counters;
static atomic_int probed;

#define COUNT(field) __atomic_fetch_add(&counters.field, 1, __ATOMIC_RELAXED)

/* Reads a small /proc or /sys file without stdio (stdio may allocate). */
static long read_file(const char *path, char *buf, size_t len)
{
	int saved = errno;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	long n = -1;
	if (fd >= 0) {
		n = read(fd, buf, len - 1);
		close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
	errno = saved;
	return n;
}

static size_t read_number(const char *path)
{
	char buf[64];
	size_t v = 0;
	if (read_file(path, buf, sizeof buf) <= 0)
		return 0;
	for (const char *s = buf; *s >= '0' && *s <= '9'; s++)
		v = v * 10 + (size_t)(*s - '0');
	return v;
}

static int probe_thp(void)
{
	char buf[128];
	if (read_file("/sys/kernel/mm/transparent_hugepage/enabled", buf, sizeof buf) <= 0)
		return HK_OS_THP_UNAVAILABLE;
	if (strstr(buf, "[always]"))
		return HK_OS_THP_ALWAYS;
	if (strstr(buf, "[madvise]"))
		return HK_OS_THP_MADVISE;
	return HK_OS_THP_NEVER;
}

void hk_os_refresh_hugetlb(void)
{
	const char *d2 = "/sys/kernel/mm/hugepages/hugepages-2048kB/";
	const char *d1 = "/sys/kernel/mm/hugepages/hugepages-1048576kB/";
	char path[128];
	strcpy(path, d2); strcat(path, "nr_hugepages");
	caps.hugetlb_2m_total = read_number(path);
	strcpy(path, d2); strcat(path, "free_hugepages");
	caps.hugetlb_2m_free = read_number(path);
	strcpy(path, d1); strcat(path, "nr_hugepages");
	caps.hugetlb_1g_total = read_number(path);
	strcpy(path, d1); strcat(path, "free_hugepages");
	caps.hugetlb_1g_free = read_number(path);
}

static size_t rlimit_of(int resource)
{
	struct rlimit rl;
	if (getrlimit(resource, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return SIZE_MAX;
	return (size_t)rl.rlim_cur;
}

void hk_os_init(const char *purge_env)
{
	if (atomic_exchange(&probed, 1))
		return;
	int saved = errno;
	long ps = sysconf(_SC_PAGESIZE);
	caps.page_size = ps > 0 ? (size_t)ps : 4096;
	caps.thp_mode = probe_thp();
	hk_os_refresh_hugetlb();
	caps.as_limit = rlimit_of(RLIMIT_AS);
	caps.data_limit = rlimit_of(RLIMIT_DATA);
	caps.purge_mode = hk_os_purge_setup(purge_env);
	caps.io_uring = caps.purge_mode == HK_OS_PURGE_IO_URING;
	errno = saved;
}

const hk_os_caps_t *hk_os_caps(void)
{
	return &caps;
}

void hk_os_counters(hk_os_counters_t *out)
{
	/* Each field is read atomically; the set is not a snapshot. */
	const uint64_t *src = (const uint64_t *)&counters;
	uint64_t *dst = (uint64_t *)out;
	for (size_t i = 0; i < sizeof counters / sizeof *src; i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

void hk_os_count_purge(size_t bytes, int async, int fallback)
{
	COUNT(purge);
	__atomic_fetch_add(&counters.purged_bytes, bytes, __ATOMIC_RELAXED);
	if (async)
		COUNT(purge_async);
	if (fallback)
		COUNT(purge_fallback);
}

/* mmap returning 0 or an errno, errno untouched. */
static int map_at(void *hint, size_t len, int prot, int flags, void **out)
{
	int saved = errno;
	void *p = mmap(hint, len, prot, flags, -1, 0);
	int err = p == MAP_FAILED ? errno : 0;
	errno = saved;
	if (!err)
		*out = p;
	return err;
}

static int call_result(int rc)
{
	int err = rc == 0 ? 0 : errno;
	return err;
}

/* Over-reserves by `align` and trims both ends, so the result is aligned. */
static int map_aligned(size_t len, size_t align, int prot, int flags, void **out)
{
	void *p;
	if (align <= caps.page_size)
		return map_at(NULL, len, prot, flags, out);
	if (len + align < len)
		return ENOMEM;
	int err = map_at(NULL, len + align, prot, flags, &p);
	if (err)
		return err;
	uintptr_t start = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);
	size_t head = start - (uintptr_t)p, tail = align - head;
	int saved = errno;
	if (head)
		munmap(p, head);
	if (tail)
		munmap((char *)start + len, tail);
	errno = saved;
	*out = (void *)start;
	return 0;
}

int hk_os_reserve(size_t len, size_t align, void **out)
{
	COUNT(reserve);
	return map_aligned(len, align, PROT_NONE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, out);
}

int hk_os_commit(void *p, size_t len)
{
	COUNT(commit);
	int saved = errno;
	int err = call_result(mprotect(p, len, PROT_READ | PROT_WRITE));
	errno = saved;
	return err;
}

static int huge_flag(size_t page_size)
{
	int shift = __builtin_ctzl(page_size);
	return MAP_HUGETLB | (shift << MAP_HUGE_SHIFT);
}

int hk_os_commit_hugetlb(void *p, size_t len, size_t page_size)
{
	COUNT(commit);
	void *q;
	/* Never MAP_NORESERVE here: hugetlb pages must be reserved at mmap time,
	 * or the first touch of a page the pool cannot give is a SIGBUS. */
	int err = map_at(p, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | huge_flag(page_size), &q);
	if (err) {
		/* A failed MAP_FIXED may have unmapped the range: reserve it again. */
		void *r;
		map_at(p, len, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, &r);
	}
	return err;
}

int hk_os_decommit(void *p, size_t len)
{
	COUNT(decommit);
	void *q;
	/* Mapping fresh PROT_NONE over the range drops its pages (4 KiB, THP or
	 * hugetlb alike) and its commit charge in one call. */
	return map_at(p, len, PROT_NONE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, &q);
}

int hk_os_release(void *p, size_t len)
{
	COUNT(release);
	int saved = errno;
	int err = call_result(munmap(p, len));
	errno = saved;
	return err;
}

int hk_os_map(size_t len, size_t align, size_t hugetlb_page, void **out)
{
	COUNT(map);
	int flags = MAP_PRIVATE | MAP_ANONYMOUS;
	if (hugetlb_page) {
		flags |= huge_flag(hugetlb_page);
		if (align < hugetlb_page)
			align = hugetlb_page;
		/* hugetlb mappings are aligned by the kernel to their page size. */
		if (align == hugetlb_page)
			return map_at(NULL, len, PROT_READ | PROT_WRITE, flags, out);
	}
	return map_aligned(len, align, PROT_READ | PROT_WRITE, flags, out);
}

int hk_os_unmap(void *p, size_t len)
{
	COUNT(unmap);
	int saved = errno;
	int err = call_result(munmap(p, len));
	errno = saved;
	return err;
}

int hk_os_remap(void *p, size_t old_len, size_t new_len, void **out)
{
	COUNT(map);
	int saved = errno;
	void *q = mremap(p, old_len, new_len, MREMAP_MAYMOVE);
	int err = q == MAP_FAILED ? errno : 0;
	errno = saved;
	if (!err)
		*out = q;
	return err;
}

int hk_os_advise_thp(void *p, size_t len, int enable)
{
	COUNT(advise);
	int saved = errno;
	int err = call_result(madvise(p, len, enable ? MADV_HUGEPAGE : MADV_NOHUGEPAGE));
	errno = saved;
	return err;
}

int hk_os_purge(void *p, size_t len)
{
	int saved = errno;
	int err = call_result(madvise(p, len, MADV_DONTNEED));
	errno = saved;
	hk_os_count_purge(len, 0, 0);
	return err;
}
