/*
 * bench/request/request_obstack.c — a request on a glibc obstack: one
 * obstack made once, obstack_alloc per block, obstack_free back to the
 * request's first block as the free-all. Chunks come from malloc.
 */
#include <stdlib.h>
#include <obstack.h>

#include "request.h"

#define obstack_chunk_alloc malloc
#define obstack_chunk_free free

static struct obstack ob;
static void *first; /* the request's first block: freeing it frees the rest */

int req_open(const char *variant)
{
	(void)variant;
	return obstack_init(&ob) ? 0 : -1;
}

void *req_alloc(size_t size)
{
	void *p = obstack_alloc(&ob, size);

	if (!first)
		first = p;
	return p;
}

void req_free_all(void **blocks, size_t n)
{
	(void)blocks;
	(void)n;
	obstack_free(&ob, first);
	first = NULL;
}

void req_close(void)
{
	obstack_free(&ob, NULL);
}
