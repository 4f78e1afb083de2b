/*
 * test/preload/progs/guard.c — misuses of a sampled block for the guard test
 * (test/preload/guard.sh), chosen by argv[1]; run with HAKMEM_GUARD_RATE=1
 * so every small malloc is guarded. Prints "ptr 0x..." before the misuse;
 * the guard must then abort with a report. "data" checks that many guarded
 * and ordinary blocks (4 threads, malloc/calloc/realloc/free) keep their
 * contents; "wild" faults outside the pool (the default action must run).
 * "kept" guards and frees blocks one at a time until a page comes back,
 * prints how many frees later ("reuse D"), frees a burst of live blocks and
 * ends (the test reads the stats at exit); "quarantine" then reads the
 * oldest freed block whose page has not come back since (its slot was used
 * before): the guard must report it.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *volatile sink;

static void announce(void *p)
{
	printf("ptr %#lx\n", (unsigned long)(uintptr_t)p);
	fflush(stdout);
}

/* A named allocation site for the report's "allocated at" stack. */
__attribute__((noinline)) static char *guard_site(size_t n)
{
	char *p = malloc(n);
	__asm__ volatile("" : : "r"(p) : "memory");
	return p;
}

static void *churn(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	enum { SLOTS = 512 };
	static __thread char *slot[SLOTS];
	static __thread size_t len[SLOTS];
	for (int i = 0; i < 200000; i++) {
		seed = seed * 1103515245u + 12345u;
		unsigned k = (seed >> 8) % SLOTS;
		if (slot[k]) {
			for (size_t j = 0; j < len[k]; j++)
				if (slot[k][j] != (char)(k + len[k]))
					return (void *)1;
			if (seed & 0x10000) {
				size_t n = (seed >> 4) % 9000 + 1;
				char *q = realloc(slot[k], n);
				if (!q)
					return (void *)1;
				for (size_t j = 0; j < (n < len[k] ? n : len[k]); j++)
					if (q[j] != (char)(k + len[k]))
						return (void *)1;
				slot[k] = q;
				len[k] = n;
				memset(q, (char)(k + n), n);
				continue;
			}
			free(slot[k]);
			slot[k] = NULL;
			continue;
		}
		size_t n = (seed >> 4) % (seed & 1 ? 300 : 9000) + 1;
		slot[k] = seed & 2 ? calloc(1, n) : malloc(n);
		if (!slot[k])
			return (void *)1;
		if (seed & 2)
			for (size_t j = 0; j < n; j++)
				if (slot[k][j])
					return (void *)1;
		len[k] = n;
		memset(slot[k], (char)(k + n), n);
	}
	for (int k = 0; k < SLOTS; k++)
		free(slot[k]);
	return NULL;
}

/* The page a guarded block sits on. */
static uintptr_t page_of(const void *p)
{
	return (uintptr_t)p & ~(uintptr_t)4095;
}

static int quarantine(int touch)
{
	enum { MAX = 256, BURST = 200 };
	static char *b[MAX];
	static char *live[BURST];
	int d = 0, n;
	for (n = 0; n < MAX && !d; n++) {
		b[n] = guard_site(64);
		for (int j = n - 1; j >= 0 && !d; j--)
			if (page_of(b[j]) == page_of(b[n]))
				d = n - j;
		free(b[n]);
	}
	printf("reuse %d\n", d);
	if (!d)
		return 1;
	/* More live at once than pages are kept: the frees give some back. */
	for (int i = 0; i < BURST; i++)
		live[i] = guard_site(64);
	for (int i = 0; i < BURST; i++)
		free(live[i]);
	if (!touch)
		return 0;
	/* Blocks one at a time again: each takes the oldest kept page. */
	for (int i = 0; i < 2 * d; i++)
		free(guard_site(64));
	/* The last d freed pages are all kept, none reused yet: the oldest of
	 * them was a block on a page used before it (the 2 d above). */
	sink = guard_site(64);
	free(sink);
	for (int i = 0; i < d - 1; i++)
		free(guard_site(64));
	announce(sink);
	(void)((volatile char *)sink)[8]; /* through sink: no -Wuse-after-free */
	return 0;
}

int main(int argc, char **argv)
{
	const char *k = argc > 1 ? argv[1] : "";
	if (!strcmp(k, "data")) {
		pthread_t t[4];
		void *r;
		int bad = 0;
		for (uintptr_t i = 0; i < 4; i++)
			pthread_create(&t[i], NULL, churn, (void *)(i + 1));
		for (int i = 0; i < 4; i++) {
			pthread_join(t[i], &r);
			bad |= r != NULL;
		}
		printf("data %s\n", bad ? "corrupted" : "ok");
		return bad;
	}
	if (!strcmp(k, "kept") || !strcmp(k, "quarantine"))
		return quarantine(!strcmp(k, "quarantine"));
	if (!strcmp(k, "wild")) {
		announce(NULL);
		*(volatile char *)(uintptr_t)16 = 1;
		return 0;
	}
	size_t n = !strcmp(k, "slack") ? 60 : 64;
	char *p = guard_site(n);
	announce(p);
	volatile char *v = p;
	sink = p;
	if (!strcmp(k, "overflow") || !strcmp(k, "slack")) {
		v[n] = 1;
		free(p);
	} else if (!strcmp(k, "uaf")) {
		free(p);
		(void)((volatile char *)sink)[8]; /* through sink: no -Wuse-after-free */
	} else if (!strcmp(k, "double")) {
		free(p);
		free(sink);
	}
	return 0;
}
