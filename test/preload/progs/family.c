/*
 * test/preload/progs/family.c — the whole allocation family through the libc names.
 *
 * Owns: a run of every libc allocation function (and libc functions that allocate
 * internally: strdup, asprintf, getline, stdio, opendir, qsort) with the contracts of
 * DESIGN §8 checked. With HK_EXPECT_HAKMEM=1 (set by the preload tests) every block
 * must belong to hakmem (hk_arena_of, found with dlsym) and hakmem-only promises are
 * checked too; without it the program also runs against glibc or another allocator.
 * Prints "family: ok" and exits 0, or names the first broken promise and exits 1.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* C23; glibc 2.36 lacks it, so a weak reference: hakmem provides it when preloaded. */
void free_sized(void *ptr, size_t size) __attribute__((weak));

static void *(*arena_of)(const void *);
static int expect_hk;
static int failures;
/* Sizes and pointers through volatiles: the compiler must neither fold nor warn about
 * impossible requests, nor drop a malloc/free pair. */
static volatile size_t H = SIZE_MAX;
static void *volatile sink;

#define FAIL(...) do { fprintf(stderr, "family: " __VA_ARGS__); fputc('\n', stderr); failures++; } while (0)

static void owned(const char *what, const void *p)
{
	if (!p)
		FAIL("%s returned NULL", what);
	else if (expect_hk && !arena_of(p))
		FAIL("%s = %p is not a hakmem block", what, p);
}

static void aligned(const char *what, void *p, size_t a, size_t n)
{
	owned(what, p);
	if (!p)
		return;
	if ((uintptr_t)p % a)
		FAIL("%s(%zu, %zu) = %p misaligned", what, a, n, p);
	if (malloc_usable_size(p) < n)
		FAIL("%s(%zu, %zu): usable %zu", what, a, n, malloc_usable_size(p));
	memset(p, 0x5c, n);
}

static void enomem(const char *what, void *p)
{
	int e = errno;
	if (p)
		FAIL("%s returned %p (usable %zu), not NULL", what, p, malloc_usable_size(p));
	else if (e != ENOMEM)
		FAIL("%s: errno %d, want ENOMEM", what, e);
}
#define ENOMEM_CASE(x) do { errno = 0; enomem(#x, (x)); } while (0)

static void basic(void)
{
	char *p = malloc(100);
	owned("malloc", p);
	memset(p, 1, 100);
	p = realloc(p, 100000);
	owned("realloc", p);
	for (int i = 0; i < 100; i++)
		if (p[i] != 1)
			FAIL("realloc lost byte %d", i);
	p = reallocarray(p, 1000, 1000);
	owned("reallocarray", p);
	if (p[99] != 1)
		FAIL("reallocarray lost contents");
	free(p);
	int *z = calloc(1000, sizeof(int));
	owned("calloc", z);
	for (int i = 0; i < 1000; i++)
		if (z[i])
			FAIL("calloc not zero");
	if (free_sized)
		free_sized(z, 1000 * sizeof(int));
	else if (expect_hk)
		FAIL("free_sized is not exported");
	else
		free(z);
	p = malloc(0);
	owned("malloc(0)", p);
	free(p);
	errno = 42;
	free(NULL);
	sink = malloc(10);
	free(sink);
	sink = malloc(1 << 20);
	free(sink);
	sink = malloc(100 << 20);
	free(sink);
	if (errno != 42)
		FAIL("free changed errno to %d", errno);
}

static void alignment(void)
{
	for (size_t a = 1; a <= ((size_t)64 << 20); a <<= 1) {
		void *p = NULL;
		if (a >= sizeof(void *)) {
			int rc = posix_memalign(&p, a, a);
			if (rc)
				FAIL("posix_memalign(%zu, %zu) = %d", a, a, rc);
			aligned("posix_memalign", p, a, a);
			free(p);
		}
		p = aligned_alloc(a, a);
		aligned("aligned_alloc", p, a, a);
		free(p);
		p = memalign(a, a + 1);
		aligned("memalign", p, a, a + 1);
		free(p);
	}
	void *p = valloc(5000);
	aligned("valloc", p, 4096, 5000);
	free(p);
	p = pvalloc(5000);
	aligned("pvalloc", p, 4096, 8192);
	free(p);
	p = (void *)7;
	if (posix_memalign(&p, 24, 64) != EINVAL || p != (void *)7)
		FAIL("posix_memalign(24) must be EINVAL with the output untouched");
}

static void overflow(void)
{
	ENOMEM_CASE(malloc(H));
	ENOMEM_CASE(calloc(H / 2, 3));
	ENOMEM_CASE(reallocarray(NULL, H, 2));
	ENOMEM_CASE(realloc(NULL, H - 8));
	ENOMEM_CASE(valloc(H - 100));
	ENOMEM_CASE(aligned_alloc(4096, H - 100));
	if (expect_hk) { /* glibc 2.36 gets these wrong (DESIGN §8) */
		ENOMEM_CASE(pvalloc(H - 100));
		errno = 0;
		sink = aligned_alloc(3, 64);
		if (sink || errno != EINVAL)
			FAIL("aligned_alloc(3, 64) must fail with EINVAL (C17)");
	}
	char *p = malloc(64);
	strcpy(p, "intact");
	sink = p;
	errno = 0;
	if (realloc(sink, H - 64) || errno != ENOMEM || strcmp(p, "intact"))
		FAIL("a failed realloc must leave the block intact");
	free(sink);
}

static int cmp(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* libc functions that allocate inside libc: their blocks must be ours, freed by our free. */
static void libc_internal(void)
{
	char *s = strdup("hakmem");
	owned("strdup", s);
	free(s);
	char *a = NULL;
	if (asprintf(&a, "%d-%s", 42, "x") < 0)
		FAIL("asprintf failed");
	owned("asprintf", a);
	free(a);
	FILE *f = tmpfile();
	for (int i = 0; i < 1000; i++)
		fprintf(f, "line %d %0*d\n", i, i % 200, 0);
	rewind(f);
	char *line = NULL;
	size_t cap = 0;
	int lines = 0;
	while (getline(&line, &cap, f) > 0)
		lines++;
	owned("getline", line);
	free(line);
	fclose(f);
	if (lines != 1000)
		FAIL("getline read %d lines", lines);
	DIR *d = opendir("/usr/lib");
	int entries = 0;
	while (d && readdir(d))
		entries++;
	if (d)
		closedir(d);
	if (entries < 3)
		FAIL("opendir/readdir failed");
	static int v[200000];
	for (int i = 0; i < 200000; i++)
		v[i] = (i * 7919) % 200003;
	qsort(v, 200000, sizeof v[0], cmp); /* merge sort: a malloc'ed buffer inside libc */
	for (int i = 1; i < 200000; i++)
		if (v[i - 1] > v[i])
			FAIL("qsort");
}

static void introspection(void)
{
	void *big = malloc(10 << 20);
	memset(big, 1, 10 << 20);
	struct mallinfo2 mi = mallinfo2();
	if (expect_hk && mi.arena < mi.uordblks)
		FAIL("mallinfo2: committed %zu < in use %zu", mi.arena, mi.uordblks);
	free(big);
	int t = malloc_trim(0);
	if (t != 0 && t != 1)
		FAIL("malloc_trim returned %d", t);
	if (expect_hk) {
		int saved = dup(2), null = open("/dev/null", 1);
		dup2(null, 2); /* malloc_stats writes to stderr */
		malloc_stats();
		dup2(saved, 2);
		close(null);
		close(saved);
	}
}

int main(void)
{
	expect_hk = getenv("HK_EXPECT_HAKMEM") && atoi(getenv("HK_EXPECT_HAKMEM"));
	if (expect_hk) {
		arena_of = (void *(*)(const void *))dlsym(RTLD_DEFAULT, "hk_arena_of");
		if (!arena_of) {
			fprintf(stderr, "family: hakmem is not preloaded (no hk_arena_of)\n");
			return 1;
		}
	}
	basic();
	alignment();
	overflow();
	libc_internal();
	introspection();
	if (failures)
		return 1;
	puts("family: ok");
	return 0;
}
