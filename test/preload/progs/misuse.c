/*
 * test/preload/progs/misuse.c — one invalid free through the libc names, chosen by argv[1].
 *
 * Owns: double (small | medium | large), interior, stack, realloc-after-free, and
 * free_sized with a wrong size. Prints "ptr 0x..." on stdout before the misuse so the
 * preload test can check that hakmem's message names this pointer; the process must
 * then die of SIGABRT (exit 0 here means the misuse went unnoticed).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void free_sized(void *ptr, size_t size) __attribute__((weak));

static void *volatile sink;

static void *announce(void *p)
{
	printf("ptr %#lx\n", (unsigned long)(uintptr_t)p);
	fflush(stdout);
	sink = p;
	return p;
}

int main(int argc, char **argv)
{
	const char *k = argc > 1 ? argv[1] : "";
	size_t n = !strcmp(k, "medium") ? 40000 : !strcmp(k, "large") ? 64 << 20 : 48;
	char stack[64];

	/* The first free may start hakmem's purger thread, whose start
	 * allocates (pthread_create's DTV) and could be handed the block just
	 * freed (nomid: POOL reuses its last freed span first): the misuse
	 * would then be a legal call on the DTV. Start it before. */
	free(malloc(n));

	if (!strcmp(k, "small") || !strcmp(k, "medium") || !strcmp(k, "large")) {
		void *p = malloc(n), *q = malloc(n);
		free(announce(p));
		free(q);
		free(sink);
	} else if (!strcmp(k, "interior")) {
		char *p = malloc(256);
		free(announce(p + 32));
	} else if (!strcmp(k, "stack")) {
		free(announce(stack));
	} else if (!strcmp(k, "realloc")) {
		void *p = malloc(100);
		free(announce(p));
		sink = realloc(sink, 1000);
	} else if (!strcmp(k, "free_sized") && free_sized) {
		free_sized(announce(malloc(32)), 100000);
	} else {
		fprintf(stderr, "misuse: unknown kind \"%s\"\n", k);
		return 2;
	}
	return 0;
}
