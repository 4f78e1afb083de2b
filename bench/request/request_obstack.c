/*
 * bench/request/request_obstack.c — a request on a glibc obstack: one
 * obstack made once, obstack_alloc per block, obstack_free back to the
 * request's first block as the free-all. Chunks come from malloc, at
 * obstack's default size, as most users leave it.
 * Why its rows with blocks up to 4 KiB are so slow: every chunk freed at the
 * free-all goes back to glibc's top chunk, which glibc then trims with brk,
 * and the next request grows it again (strace -c: 37 brk per request at
 * K = 64, 16 B-4 KiB; none at 16-256 B). 64 KiB chunks do not change that
 * (measured: the same brk count), so the driver keeps the defaults.
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
