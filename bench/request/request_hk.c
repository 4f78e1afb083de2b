/*
 * bench/request/request_hk.c — a request in one hakmem arena (libhakmem.a):
 * hk_arena_malloc per block, hk_arena_reset as the free-all. Variant "bump":
 * the arena is created with HK_ARENA_BUMP (pointer-bump allocation, frees
 * deferred to the reset: the APR/obstack way). Variant "life": an arena per
 * request, hk_arena_destroy as the free-all and hk_arena_create for the next
 * (a Lua state per script, an arena per connection).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hakmem.h>

#include "request.h"

static hk_arena_t *arena;
static hk_arena_config_t config;
static int per_request; /* variant "life" */

int req_open(const char *variant)
{
	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .name = "request" };

	if (!strcmp(variant, "bump")) {
		cfg.flags = HK_ARENA_BUMP;
	} else if (!strcmp(variant, "life")) {
		per_request = 1;
	} else if (variant[0]) {
		fprintf(stderr, "request_hk: unknown variant '%s'\n", variant);
		return -1;
	}
	config = cfg;
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
	if (!per_request) {
		hk_arena_reset(arena);
		return;
	}
	hk_arena_destroy(arena);
	arena = hk_arena_create(&config);
	if (!arena) {
		perror("request_hk: hk_arena_create");
		exit(3);
	}
}

void req_close(void)
{
	hk_arena_destroy(arena);
}
