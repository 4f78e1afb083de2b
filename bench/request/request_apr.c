/*
 * bench/request/request_apr.c — a request in an APR pool (libapr1): one pool
 * made once, apr_palloc per block, apr_pool_clear as the free-all (the way
 * httpd serves a request). The pool's blocks come from malloc underneath.
 */
#include <stdio.h>

#include <apr_general.h>
#include <apr_pools.h>

#include "request.h"

static apr_pool_t *pool;

int req_open(const char *variant)
{
	(void)variant;
	if (apr_initialize() != APR_SUCCESS || apr_pool_create(&pool, NULL) != APR_SUCCESS) {
		fprintf(stderr, "request_apr: APR did not initialise\n");
		return -1;
	}
	return 0;
}

void *req_alloc(size_t size)
{
	return apr_palloc(pool, size);
}

void req_free_all(void **blocks, size_t n)
{
	(void)blocks;
	(void)n;
	apr_pool_clear(pool);
}

void req_close(void)
{
	apr_pool_destroy(pool);
	apr_terminate();
}
