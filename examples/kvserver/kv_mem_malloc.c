/*
 * kv_mem_malloc.c — kv_mem.h on plain malloc/free, so the same server can
 * run on glibc, or on any allocator preloaded with LD_PRELOAD. Scratch
 * blocks are remembered and freed one by one at reset (what an arena reset
 * saves). Invariant: capacity and placement options are ignored here.
 */
#include <errno.h>
#include <stdlib.h>

#include "kv_mem.h"

#define KV_SCRATCH_MAX 16

struct kv_heap {
	void *scratch[KV_SCRATCH_MAX];
	int nscratch;
};

const char *kv_mem_mode(void) { return "malloc"; }

struct kv_heap *kv_heap_new(int id, const struct kv_mem_opts *opts)
{
	(void)id;
	(void)opts;
	return calloc(1, sizeof(struct kv_heap));
}

void kv_heap_delete(struct kv_heap *h)
{
	kv_scratch_reset(h);
	free(h);
}

void *kv_store_alloc(struct kv_heap *h, size_t n)
{
	(void)h;
	return malloc(n);
}

void kv_store_free(void *p) { free(p); }

void *kv_scratch_alloc(struct kv_heap *h, size_t n)
{
	if (h->nscratch == KV_SCRATCH_MAX) {
		errno = ENOMEM;
		return NULL;
	}
	void *p = malloc(n);
	if (p)
		h->scratch[h->nscratch++] = p;
	return p;
}

void kv_scratch_reset(struct kv_heap *h)
{
	while (h->nscratch > 0)
		free(h->scratch[--h->nscratch]);
}

void *kv_table_calloc(size_t count, size_t size) { return calloc(count, size); }
void kv_table_free(void *p) { free(p); }

size_t kv_heap_stats(struct kv_heap *h, char *buf, size_t len)
{
	(void)h;
	(void)buf;
	(void)len;
	return 0;
}
