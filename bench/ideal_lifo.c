/*
 * bench/ideal_lifo.c — libideal.so, the "limit" column of make bench-callgrind
 * (DESIGN §6: ideal per-class LIFO): malloc pops a per-thread, per-class free
 * list, free pushes onto it; a 16-byte header before each block holds its
 * class. Memory comes from per-thread bump chunks and is never returned.
 * Not an allocator to use: no purging, no limits, memory freed by another
 * thread moves to that thread. Only for instruction counts of the benchmark
 * loops plus the cheapest possible malloc/free; never in the timed sets.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define EXPORT __attribute__((visibility("default")))
#define HDR 16
#define SMALL_MAX 2048 /* 16-byte classes up to here, then powers of two */
#define NCLASS (SMALL_MAX / 16 + 48)
#define CHUNK (64u << 20)

struct hdr {
	size_t cls;  /* class index, or NCLASS for an aligned block never reused */
	size_t size; /* usable bytes */
};

static __thread void *lists[NCLASS];
static __thread char *bump, *bump_end;

static size_t class_of(size_t n, size_t *usable)
{
	if (n <= SMALL_MAX) {
		size_t c = (n + 15) >> 4;

		*usable = c << 4;
		return c;
	}
	unsigned b = 64 - (unsigned)__builtin_clzl(n - 1);

	*usable = (size_t)1 << b;
	return SMALL_MAX / 16 + b;
}

static void *carve(size_t bytes)
{
	if ((size_t)(bump_end - bump) < bytes) {
		size_t len = bytes > CHUNK ? bytes : CHUNK;
		void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (m == MAP_FAILED)
			return NULL;
		bump = m;
		bump_end = bump + len;
	}
	void *p = bump;
	bump += bytes;
	return p;
}

/* Everything but a non-empty small list: large classes, empty lists, n == 0. */
static __attribute__((noinline)) void *malloc_slow(size_t n)
{
	size_t usable, cls;

	if (n > ((size_t)1 << 40)) {
		errno = ENOMEM;
		return NULL;
	}
	cls = class_of(n ? n : 1, &usable);
	void *p = lists[cls];
	if (p) {
		lists[cls] = *(void **)p;
		return p;
	}
	struct hdr *h = carve(HDR + usable);
	if (!h) {
		errno = ENOMEM;
		return NULL;
	}
	h->cls = cls;
	h->size = usable;
	return (char *)h + HDR;
}

/* The whole fast path: one compare, one shift, a pop. */
EXPORT void *malloc(size_t n)
{
	if (__builtin_expect(n - 1 < SMALL_MAX, 1)) {
		size_t cls = (n + 15) >> 4;
		void *p = lists[cls];

		if (__builtin_expect(p != NULL, 1)) {
			lists[cls] = *(void **)p;
			return p;
		}
	}
	return malloc_slow(n);
}

EXPORT void free(void *p)
{
	if (!p)
		return;
	struct hdr *h = (struct hdr *)((char *)p - HDR);
	if (h->cls < NCLASS) {
		*(void **)p = lists[h->cls];
		lists[h->cls] = p;
	}
}

EXPORT size_t malloc_usable_size(void *p)
{
	return p ? ((struct hdr *)((char *)p - HDR))->size : 0;
}

EXPORT void *calloc(size_t a, size_t b)
{
	size_t n;

	if (__builtin_mul_overflow(a, b, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	void *p = malloc(n);
	if (p)
		memset(p, 0, n);
	return p;
}

EXPORT void *realloc(void *p, size_t n)
{
	if (!p)
		return malloc(n);
	size_t old = malloc_usable_size(p);
	if (n <= old && n)
		return p;
	void *q = malloc(n);
	if (q) {
		memcpy(q, p, old < n ? old : n);
		free(p);
	}
	return q;
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	if (align < sizeof(void *) || (align & (align - 1)))
		return EINVAL;
	if (align <= HDR) {
		void *p = malloc(n);
		if (!p)
			return ENOMEM;
		*out = p;
		return 0;
	}
	if (n > ((size_t)1 << 40))
		return ENOMEM;
	char *raw = carve(n + align + HDR);
	if (!raw)
		return ENOMEM;
	char *p = (char *)(((uintptr_t)raw + HDR + align - 1) & ~(uintptr_t)(align - 1));
	struct hdr *h = (struct hdr *)(p - HDR);
	h->cls = NCLASS;
	h->size = n;
	*out = p;
	return 0;
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
	void *p = NULL;
	int e = posix_memalign(&p, align, n);

	if (e) {
		errno = e;
		return NULL;
	}
	return p;
}

EXPORT void *memalign(size_t align, size_t n)
{
	return aligned_alloc(align, n);
}

EXPORT void *valloc(size_t n)
{
	return aligned_alloc(4096, n);
}

EXPORT void *pvalloc(size_t n)
{
	return aligned_alloc(4096, (n + 4095) & ~(size_t)4095);
}
