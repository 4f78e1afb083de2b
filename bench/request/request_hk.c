/*
 * bench/request/request_hk.c — a request in one hakmem arena (libhakmem.a):
 * hk_arena_malloc per block, hk_arena_reset as the free-all. Variant "bump":
 * the arena is created with HK_ARENA_BUMP (pointer-bump allocation, frees
 * deferred to the reset: the APR/obstack way).
 */
#include <stdio.h>
#include <string.h>

#include <hakmem.h>

#include "request.h"

static hk_arena_t *arena;

int req_open(const char *variant)
{
	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .name = "request" };

	if (!strcmp(variant, "bump")) {
		cfg.flags = HK_ARENA_BUMP;
	} else if (variant[0]) {
		fprintf(stderr, "request_hk: unknown variant '%s'\n", variant);
		return -1;
	}
	arena = hk_arena_create(&cfg);
	if (!arena)
		perror("request_hk: hk_arena_create");
	return arena ? 0 : -1;
}

void *req_alloc(size_t size)
{
	return hk_arena_malloc(arena, size);
}

void req_free_all(void **blocks, size_t n)
{
	(void)blocks;
	(void)n;
	hk_arena_reset(arena);
}

void req_close(void)
{
	hk_arena_destroy(arena);
}
