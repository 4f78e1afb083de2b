/*
 * os/fake_os.c — the fault-injecting OS of the unit tests (os/fake_os.h).
 *
 * Replaces os/os.c and os/purge_uring.c in test binaries only; os/purge.c,
 * hugepage/ and the core above run unchanged on top of it. Memory is real
 * anonymous memory (so callers can touch it); hugetlb pools and the ring
 * are simulated, so every fallback can be reached on any machine.
 * Invariant: a failed call changes nothing but the counters.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "os/fake_os.h"
#include "os/os_internal.h"

static hk_os_caps_t caps;
static hk_os_counters_t counters;
static int inited;
static unsigned long calls[HK_FAKE_NKINDS];
static unsigned long fail_at[HK_FAKE_NKINDS]; /* call number that fails; 0 none */
static int fail_all[HK_FAKE_NKINDS], fail_err[HK_FAKE_NKINDS];
static long mapped;
static uint64_t clock_ms; /* 0: the real clock */

/* Live hugetlb ranges, to give their pages back to the simulated pool. */
#define HUGE_MAX 64
static struct { char *p; size_t len, page; } huge[HUGE_MAX];

void hk_fake_os_reset(void)
{
	memset(&caps, 0, sizeof caps);
	memset(&counters, 0, sizeof counters);
	memset(calls, 0, sizeof calls);
	memset(fail_at, 0, sizeof fail_at);
	memset(fail_all, 0, sizeof fail_all);
	memset(huge, 0, sizeof huge);
	caps.page_size = 4096;
	caps.thp_mode = HK_OS_THP_MADVISE;
	caps.as_limit = SIZE_MAX;
	caps.io_uring_disabled = -1;
	mapped = 0;
	inited = 0;
	clock_ms = 0;
}

void hk_fake_os_set_clock(uint64_t ms)
{
	__atomic_store_n(&clock_ms, ms, __ATOMIC_RELAXED);
}

uint64_t hk_os_now_ms(void)
{
	uint64_t ms = __atomic_load_n(&clock_ms, __ATOMIC_RELAXED);
	struct timespec ts;
	if (ms)
		return ms;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

hk_os_caps_t *hk_fake_os_caps(void)
{
	return &caps;
}

void hk_fake_os_fail(enum hk_fake_call kind, unsigned nth, int err)
{
	fail_all[kind] = nth == 0;
	fail_at[kind] = nth ? calls[kind] + nth : 0;
	fail_err[kind] = err;
}

unsigned long hk_fake_os_calls(enum hk_fake_call kind)
{
	return calls[kind];
}

long hk_fake_os_mapped_bytes(void)
{
	return mapped;
}

/* Counts a call of `kind`; returns the errno it must fail with, or 0. */
static int call(enum hk_fake_call kind)
{
	unsigned long n = ++calls[kind];
	int err = fail_all[kind] || n == fail_at[kind] ? fail_err[kind] : 0;
	if (err)
		counters.failures++;
	return err;
}

void hk_os_init(const char *purge_env)
{
	if (inited)
		return;
	inited = 1;
	caps.purge_mode = hk_os_purge_setup(purge_env);
	caps.io_uring = caps.purge_mode == HK_OS_PURGE_IO_URING;
	caps.purge_note = hk_os_purge_note();
}

/* The live purge mode, as os.c reports it (the ring is set up late). */
const hk_os_caps_t *hk_os_caps(void)
{
	caps.purge_mode = hk_os_purge_mode();
	caps.io_uring = caps.purge_mode == HK_OS_PURGE_IO_URING;
	caps.purge_note = hk_os_purge_note();
	return &caps;
}
void hk_os_counters(hk_os_counters_t *out) { *out = counters; }
void hk_os_refresh_hugetlb(void) {}
void hk_os_probe_hugetlb(void) {}
long hk_os_read_number(const char *path) { (void)path; return -1; }
/* The caps' value as the test set it, read or not. */
int hk_os_io_uring_sysctl(int read) { (void)read; return caps.io_uring_disabled; }
void hk_os_probe_io_uring(void) {}
void hk_os_count_batch(void) { counters.purge_batches++; }

void hk_os_count_purge(size_t bytes, int async, int fallback)
{
	counters.purge++;
	counters.purged_bytes += bytes;
	counters.purge_async += !!async;
	counters.purge_fallback += !!fallback;
}

static int real_map(void *hint, size_t len, int prot, int flags, void **out)
{
	int saved = errno;
	void *p = mmap(hint, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
	int err = p == MAP_FAILED ? errno : 0;
	errno = saved;
	if (!err)
		*out = p;
	return err;
}

/* An aligned mapping, like os.c: over-map by `align`, trim both ends. */
static int map_aligned(size_t len, size_t align, int prot, int flags, void **out)
{
	char *p;
	if (align < 4096)
		align = 4096;
	int err = real_map(NULL, len + align, prot, flags, (void **)&p);
	if (err)
		return err;
	char *start = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	if (start > p)
		munmap(p, (size_t)(start - p));
	munmap(start + len, (size_t)(p + align - start));
	*out = start;
	mapped += (long)len;
	return 0;
}

static size_t *pool_free(size_t page)
{
	return page == ((size_t)1 << 30) ? &caps.hugetlb_1g_free : &caps.hugetlb_2m_free;
}

/* Takes len/page pages from the simulated pool, as the kernel would. */
static int pool_take(char *p, size_t len, size_t page)
{
	if (page == ((size_t)1 << 30) && !caps.hugetlb_1g_supported)
		return EINVAL; /* no 1 GiB hstate: what this CPU answers */
	if (page != ((size_t)1 << 30) && page != ((size_t)2 << 20))
		return EINVAL;
	if (len % page || *pool_free(page) < len / page)
		return ENOMEM;
	for (int i = 0; i < HUGE_MAX; i++) {
		if (!huge[i].p) {
			huge[i].p = p, huge[i].len = len, huge[i].page = page;
			*pool_free(page) -= len / page;
			return 0;
		}
	}
	return ENOMEM;
}

/* Gives back the pages of hugetlb ranges that start in [p, p+len). */
static void pool_give(char *p, size_t len)
{
	for (int i = 0; i < HUGE_MAX; i++) {
		if (huge[i].p >= p && huge[i].p < p + len) {
			*pool_free(huge[i].page) += huge[i].len / huge[i].page;
			huge[i].p = NULL;
		}
	}
}

int hk_os_reserve(size_t len, size_t align, void **out)
{
	counters.reserve++;
	int err = call(HK_FAKE_RESERVE);
	return err ? err : map_aligned(len, align, PROT_NONE, MAP_NORESERVE, out);
}

int hk_os_commit(void *p, size_t len)
{
	counters.commit++;
	int err = call(HK_FAKE_COMMIT);
	if (!err && mprotect(p, len, PROT_READ | PROT_WRITE))
		err = ENOMEM;
	return err;
}

int hk_os_commit_hugetlb(void *p, size_t len, size_t page_size)
{
	counters.commit++;
	int err = call(HK_FAKE_COMMIT_HUGETLB);
	if (!err && (uintptr_t)p % page_size)
		err = EINVAL;
	if (!err)
		err = pool_take(p, len, page_size);
	if (!err && mprotect(p, len, PROT_READ | PROT_WRITE)) {
		pool_give(p, len);
		err = ENOMEM;
	}
	return err;
}

int hk_os_decommit(void *p, size_t len)
{
	counters.decommit++;
	void *q;
	int err = call(HK_FAKE_DECOMMIT);
	if (!err)
		err = real_map(p, len, PROT_NONE, MAP_NORESERVE | MAP_FIXED, &q);
	if (!err)
		pool_give(p, len);
	return err;
}

int hk_os_protect(void *p, size_t len)
{
	counters.protect++;
	int err = call(HK_FAKE_PROTECT);
	if (!err && mprotect(p, len, PROT_NONE))
		err = ENOMEM;
	return err;
}

/* Writes every page, as the kernel faults them in. */
int hk_os_populate(void *p, size_t len)
{
	counters.populate++;
	int err = call(HK_FAKE_POPULATE);
	for (size_t o = 0; !err && o < len; o += 4096)
		*(volatile char *)((char *)p + o) |= 0;
	return err;
}

int hk_os_populate_probe(void *p)
{
	(void)p;
	counters.populate++;
	return call(HK_FAKE_POPULATE_PROBE);
}

int hk_os_release(void *p, size_t len)
{
	counters.release++;
	int err = call(HK_FAKE_RELEASE);
	if (!err) {
		pool_give(p, len);
		munmap(p, len);
		mapped -= (long)len;
	}
	return err;
}

int hk_os_map(size_t len, size_t align, size_t hugetlb_page, void **out)
{
	counters.map++;
	void *p;
	int err = call(HK_FAKE_MAP);
	if (!err && hugetlb_page && len % hugetlb_page)
		err = EINVAL;
	if (!err && hugetlb_page && align < hugetlb_page)
		align = hugetlb_page;
	if (!err)
		err = map_aligned(len, align, PROT_READ | PROT_WRITE, 0, &p);
	if (!err && hugetlb_page && (err = pool_take(p, len, hugetlb_page))) {
		munmap(p, len);
		mapped -= (long)len;
	}
	if (!err)
		*out = p;
	return err;
}

int hk_os_unmap(void *p, size_t len)
{
	counters.unmap++;
	int err = call(HK_FAKE_UNMAP);
	if (!err) {
		pool_give(p, len);
		munmap(p, len);
		mapped -= (long)len;
	}
	return err;
}

int hk_os_remap(void *p, size_t old_len, size_t new_len, void **out)
{
	counters.map++;
	int err = call(HK_FAKE_REMAP);
	if (err)
		return err;
	void *q = mremap(p, old_len, new_len, MREMAP_MAYMOVE);
	if (q == MAP_FAILED)
		return ENOMEM;
	mapped += (long)new_len - (long)old_len;
	*out = q;
	return 0;
}

int hk_os_advise_thp(void *p, size_t len, int enable)
{
	(void)p, (void)len, (void)enable;
	counters.advise++;
	return call(HK_FAKE_ADVISE);
}

int hk_os_purge_sync(void *p, size_t len, int fallback)
{
	hk_os_count_purge(len, 0, fallback);
	int err = call(HK_FAKE_PURGE);
	if (!err)
		madvise(p, len, MADV_DONTNEED);
	return err;
}

int hk_os_purge(void *p, size_t len)
{
	return hk_os_purge_sync(p, len, 0);
}

/* ---- the simulated ring: a small submission queue (8, to exercise the
 * full-queue path) and completions delivered newest first. */
#define SQ_MAX 8
#define CQ_MAX 512
struct entry { void *p; size_t len; void *cookie; int res; };
static struct entry sq[SQ_MAX], cq[CQ_MAX];
static unsigned nsq, ncq, ring_up;

int hk_os_uring_init(void)
{
	int err = call(HK_FAKE_URING_INIT);
	ring_up = !err;
	nsq = ncq = 0;
	return err;
}

void hk_os_uring_exit(void)
{
	ring_up = 0;
	nsq = ncq = 0; /* the lost completions are purge.c's orphans */
}

int hk_os_uring_queue(void *p, size_t len, void *cookie)
{
	int err = call(HK_FAKE_URING_QUEUE);
	if (!err && (!ring_up || nsq == SQ_MAX))
		err = EAGAIN;
	if (!err)
		sq[nsq++] = (struct entry){ p, len, cookie, 0 };
	return err;
}

/* The "kernel" runs each madvise at submit and posts its completion. */
int hk_os_uring_submit(void)
{
	int err = call(HK_FAKE_URING_SUBMIT);
	if (err || !ring_up)
		return err ? err : EBADF;
	for (unsigned i = 0; i < nsq && ncq < CQ_MAX; i++) {
		struct entry e = sq[i];
		int cerr = call(HK_FAKE_URING_COMPLETE);
		e.res = cerr ? -cerr : 0;
		if (!cerr)
			madvise(e.p, e.len, MADV_DONTNEED);
		cq[ncq++] = e;
	}
	nsq = 0;
	return 0;
}

int hk_os_uring_reap(void (*done)(void *cookie, void *ctx, int res), void *ctx, int wait)
{
	if (!ring_up)
		return EBADF;
	if (wait && !ncq && nsq) {
		int err = hk_os_uring_submit();
		if (err)
			return err;
	}
	while (ncq) {
		struct entry e = cq[--ncq];
		done(e.cookie, ctx, e.res);
	}
	return 0;
}

unsigned hk_os_uring_inflight(void)
{
	return nsq + ncq;
}
