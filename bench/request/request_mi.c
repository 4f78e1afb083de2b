/*
 * bench/request/request_mi.c — a request in a mimalloc heap (libmimalloc):
 * mi_heap_new at its start, mi_heap_malloc per block, mi_heap_destroy as the
 * free-all (mimalloc's own region idiom; a heap cannot be cleared and kept).
 */
#include <mimalloc.h>

#include "request.h"

static mi_heap_t *heap;

int req_open(const char *variant)
{
	(void)variant;
	heap = mi_heap_new();
	return heap ? 0 : -1;
}

void *req_alloc(size_t size)
{
	return mi_heap_malloc(heap, size);
}

void req_free_all(void **blocks, size_t n)
{
	(void)blocks;
	(void)n;
	mi_heap_destroy(heap);
	heap = mi_heap_new();
}

void req_close(void)
{
	if (heap)
		mi_heap_destroy(heap);
}
