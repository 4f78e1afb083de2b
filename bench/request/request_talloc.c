/*
 * bench/request/request_talloc.c — a request as a talloc context (libtalloc,
 * Samba's hierarchical allocator): talloc_new under a long-lived parent at
 * its start, talloc_size children per block, talloc_free of the context as
 * the free-all. Every talloc block is a malloc underneath.
 */
#include <talloc.h>

#include "request.h"

static TALLOC_CTX *parent, *req;

int req_open(const char *variant)
{
	(void)variant;
	parent = talloc_new(NULL);
	req = talloc_new(parent);
	return parent && req ? 0 : -1;
}

void *req_alloc(size_t size)
{
	return talloc_size(req, size);
}

void req_free_all(void **blocks, size_t n)
{
	(void)blocks;
	(void)n;
	talloc_free(req);
	req = talloc_new(parent);
}

void req_close(void)
{
	talloc_free(parent);
}
