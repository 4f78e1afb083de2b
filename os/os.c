/*
 * os/os.c — address space, commit, direct mappings and synchronous purge.
 *
 * Owns the mmap/munmap/mremap/mprotect/madvise calls and the capability
 * probe. Every function returns 0 or a positive errno and leaves errno as it
 * found it. Invariant: a failed call leaves the range as it was (reserved
 * stays reserved). os/fake_os.c replaces this file in fake-OS tests.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
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

/* Every exit of a system-call wrapper: counts failures, passes err through. */
static int result(int err)
{
	if (err)
		COUNT(failures);
	return err;
}

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

uint64_t hk_os_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

long hk_os_read_number(const char *path)
{
	char buf[64];
	long v = 0;
	if (read_file(path, buf, sizeof buf) <= 0 || buf[0] < '0' || buf[0] > '9')
		return -1;
	for (const char *s = buf; *s >= '0' && *s <= '9'; s++)
		v = v * 10 + (*s - '0');
	return v;
}

static size_t read_count(const char *dir, const char *file)
{
	char path[160];
	size_t n = strlen(dir);
	if (n + strlen(file) + 1 > sizeof path)
		return 0;
	memcpy(path, dir, n);
	strcpy(path + n, file);
	long v = hk_os_read_number(path);
	return v > 0 ? (size_t)v : 0;
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

#define HSTATE_2M "/sys/kernel/mm/hugepages/hugepages-2048kB/"
#define HSTATE_1G "/sys/kernel/mm/hugepages/hugepages-1048576kB/"

/* Stored atomically: a thread's first large mapping may probe while
 * another reads the pools or the stats refresh them. */
#define SET(field, v) __atomic_store_n(&caps.field, (v), __ATOMIC_RELAXED)

static atomic_int hugetlb_read;

void hk_os_refresh_hugetlb(void)
{
	SET(hugetlb_2m_total, read_count(HSTATE_2M, "nr_hugepages"));
	SET(hugetlb_2m_free, read_count(HSTATE_2M, "free_hugepages"));
	SET(hugetlb_1g_total, read_count(HSTATE_1G, "nr_hugepages"));
	SET(hugetlb_1g_free, read_count(HSTATE_1G, "free_hugepages"));
	/* The directory exists only when the kernel registered a 1 GiB hstate:
	 * without one, MAP_HUGE_1GB answers EINVAL whatever the pool says. */
	SET(hugetlb_1g_supported, access(HSTATE_1G "nr_hugepages", F_OK) == 0);
	atomic_store_explicit(&hugetlb_read, 1, memory_order_release);
}

/* Not at init: nine system calls (~20 us here) that most processes, which
 * never map a block big enough for a hugetlb page, do not need. */
void hk_os_probe_hugetlb(void)
{
	if (!atomic_load_explicit(&hugetlb_read, memory_order_acquire))
		hk_os_refresh_hugetlb();
}

/* Not at init either: three system calls (~5 us here) in every process,
 * and only a process that purges, or asks for the stats, needs it. Two
 * threads reading it at once both store the same number. */
int hk_os_io_uring_sysctl(int read)
{
	int v = __atomic_load_n(&caps.io_uring_disabled, __ATOMIC_RELAXED);
	if (v == -2 && read) {
		v = (int)hk_os_read_number("/proc/sys/kernel/io_uring_disabled");
		SET(io_uring_disabled, v);
	}
	return v;
}

void hk_os_probe_io_uring(void)
{
	hk_os_io_uring_sysctl(1);
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
	caps.as_limit = rlimit_of(RLIMIT_AS);
	SET(io_uring_disabled, -2);
	caps.purge_mode = hk_os_purge_setup(purge_env);
	caps.io_uring = caps.purge_mode == HK_OS_PURGE_IO_URING;
	caps.purge_note = hk_os_purge_note();
	errno = saved;
}

const hk_os_caps_t *hk_os_caps(void)
{
	/* The purge mode can change after init (a fork child without a ring,
	 * a ring that broke): report the live one. */
	if (atomic_load_explicit(&probed, memory_order_relaxed)) {
		/* Written only when it changed: threads call this at the same
		 * time (page size, hugepage commits) and must not race on it. */
		int mode = hk_os_purge_mode();
		const char *note = hk_os_purge_note();
		if (caps.purge_mode != mode) {
			caps.purge_mode = mode;
			caps.io_uring = mode == HK_OS_PURGE_IO_URING;
		}
		if (caps.purge_note != note)
			caps.purge_note = note;
	}
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

void hk_os_count_batch(void)
{
	COUNT(purge_batches);
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

/* munmap / mprotect / madvise: 0 or errno, errno untouched. */
static int unmap_range(void *p, size_t len)
{
	int saved = errno;
	int err = munmap(p, len) ? errno : 0;
	errno = saved;
	return err;
}

#define RESERVE_FLAGS (MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)

/* Maps len + align and trims both ends, so the result is aligned. */
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
	if (head)
		unmap_range(p, head);
	if (tail)
		unmap_range((char *)start + len, tail);
	*out = (void *)start;
	return 0;
}

static int reserve_aligned(size_t len, size_t align, void **out)
{
	return map_aligned(len, align, PROT_NONE, RESERVE_FLAGS, out);
}

int hk_os_reserve(size_t len, size_t align, void **out)
{
	COUNT(reserve);
	return result(reserve_aligned(len, align, out));
}

int hk_os_commit(void *p, size_t len)
{
	COUNT(commit);
	int saved = errno;
	int err = mprotect(p, len, PROT_READ | PROT_WRITE) ? errno : 0;
	errno = saved;
	return result(err);
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
	if (page_size < caps.page_size || (page_size & (page_size - 1)) ||
	    len % page_size || (uintptr_t)p % page_size)
		return result(EINVAL);
	/* Never MAP_NORESERVE here: hugetlb pages must be reserved at mmap time,
	 * or the first touch of a page the pool cannot give is a SIGBUS. */
	int err = map_at(p, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | huge_flag(page_size), &q);
	if (err) {
		/* The kernel checks the pool before it unmaps the old range, but
		 * put the reservation back anyway: a hole could be reused by
		 * anyone's mmap and later overwritten by ours. */
		void *r;
		map_at(p, len, PROT_NONE, RESERVE_FLAGS | MAP_FIXED, &r);
	}
	return result(err);
}

int hk_os_decommit(void *p, size_t len)
{
	COUNT(decommit);
	void *q;
	/* Mapping fresh PROT_NONE over the range drops its pages (4 KiB, THP or
	 * hugetlb alike) and its commit charge in one call. */
	return result(map_at(p, len, PROT_NONE, RESERVE_FLAGS | MAP_FIXED, &q));
}

int hk_os_protect(void *p, size_t len)
{
	COUNT(protect);
	int saved = errno;
	int err = mprotect(p, len, PROT_NONE) ? errno : 0;
	errno = saved;
	return result(err);
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14; older headers lack it */
#endif

int hk_os_populate(void *p, size_t len)
{
	COUNT(populate);
	int saved = errno;
	int err = madvise(p, len, MADV_POPULATE_WRITE) ? errno : 0;
	errno = saved;
	return result(err);
}

int hk_os_populate_probe(void *p)
{
	COUNT(populate);
	int saved = errno;
	int err = madvise(p, 0, MADV_POPULATE_WRITE) ? errno : 0;
	errno = saved;
	return result(err);
}

int hk_os_release(void *p, size_t len)
{
	COUNT(release);
	return result(unmap_range(p, len));
}

/* A mapping aligned beyond the page size: reserve an aligned hole
 * (PROT_NONE, no commit charge), then map len bytes over it, so exactly len
 * bytes are charged: over-mapping read-write would charge len + align (a
 * 1 TiB alignment for a 16-byte block fails that way), and hugetlb would
 * take len + align from the pool, or fail on a small one. */
static int map_over_hole(size_t len, size_t align, int flags, void **out)
{
	void *hole, *q;
	int err = reserve_aligned(len, align, &hole);
	if (err)
		return err;
	err = map_at(hole, len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | flags, &q);
	if (err) {
		unmap_range(hole, len);
		return err;
	}
	*out = q;
	return 0;
}

int hk_os_map(size_t len, size_t align, size_t hugetlb_page, void **out)
{
	COUNT(map);
	void *p;
	int err;
	if (!hugetlb_page && align <= caps.page_size) {
		err = map_at(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, &p);
	} else if (!hugetlb_page) {
		err = map_over_hole(len, align, 0, &p);
	} else if ((hugetlb_page & (hugetlb_page - 1)) || len % hugetlb_page) {
		err = EINVAL;
	} else if (align <= hugetlb_page) {
		/* The kernel aligns a hugetlb mapping to its page size. */
		err = map_at(NULL, len, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | huge_flag(hugetlb_page), &p);
	} else {
		err = map_over_hole(len, align, huge_flag(hugetlb_page), &p);
	}
	if (!err)
		*out = p;
	return result(err);
}

int hk_os_unmap(void *p, size_t len)
{
	COUNT(unmap);
	return result(unmap_range(p, len));
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
	return result(err);
}

int hk_os_advise_thp(void *p, size_t len, int enable)
{
	COUNT(advise);
	int saved = errno;
	int err = madvise(p, len, enable ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) ? errno : 0;
	errno = saved;
	return result(err);
}

int hk_os_purge_sync(void *p, size_t len, int fallback)
{
	int saved = errno;
	int err = madvise(p, len, MADV_DONTNEED) ? errno : 0;
	errno = saved;
	hk_os_count_purge(len, 0, fallback);
	return result(err);
}

int hk_os_purge(void *p, size_t len)
{
	return hk_os_purge_sync(p, len, 0);
}
