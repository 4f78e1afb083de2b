/*
 * bench/request/request_malloc.c — a request on plain malloc/free: every
 * block freed one by one at the end, in allocation order. Whatever malloc is
 * there serves it: glibc, or the allocator in LD_PRELOAD.
 */
#include <stdlib.h>

#include "request.h"

int req_open(const char *variant)
{
	(void)variant;
	return 0;
}

void *req_alloc(size_t size)
{
	return malloc(size);
}

void req_free_all(void **blocks, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(blocks[i]);
}

void req_close(void)
{
}
