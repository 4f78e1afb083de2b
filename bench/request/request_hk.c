/*
 * bench/request/request_hk.c — a request in one hakmem arena (libhakmem.a):
 * hk_arena_malloc per block, hk_arena_reset as the free-all. Variant "bump":
 * the arena is created with HK_ARENA_BUMP (pointer-bump allocation, frees
 * deferred to the reset); a hakmem without that flag reports the variant
 * absent rather than measuring the plain arena under its name.
 */
#include <stdio.h>
#include <string.h>

#include <hakmem.h>

#include "request.h"

#ifdef HK_ARENA_BUMP
#define REQ_BUMP HK_ARENA_BUMP
#else
#define REQ_BUMP 0u /* this hakmem has no bump arenas yet */
#endif

static hk_arena_t *arena;

int req_open(const char *variant)
{
	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .name = "request" };

	if (!strcmp(variant, "bump")) {
		if (!REQ_BUMP) {
			fprintf(stderr, "request_hk: this hakmem has no HK_ARENA_BUMP\n");
			return -1;
		}
		cfg.flags = REQ_BUMP;
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
