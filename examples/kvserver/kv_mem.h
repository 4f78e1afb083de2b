/*
 * kv_mem.h — where the key-value server gets its memory: one seam, two
 * implementations picked when linking (kv_mem_arena.c: hakmem arenas;
 * kv_mem_malloc.c: plain malloc, for comparing allocators under LD_PRELOAD).
 * Owns nothing but this interface; the server never calls an allocator
 * directly. Invariant: a block from kv_store_alloc may be freed by any thread
 * with kv_store_free; kv_scratch_* blocks are dead after kv_scratch_reset of
 * the same heap (which may release them then or in a later batch), and only
 * the heap's own worker thread calls either.
 */
#ifndef KV_MEM_H
#define KV_MEM_H

#include <stddef.h>

struct kv_heap; /* one per worker thread */

struct kv_mem_opts {
	size_t capacity;   /* bytes per worker store arena; 0 = unlimited */
	int hugepages;     /* hk_hugepage_policy_t value (arena build only) */
	int numa_node;     /* a node, or -1 for the local node */
	size_t scratch_batch; /* reset the scratch arena once this many bytes
				 were handed out (0: after every request) */
};

/* "arena" or "malloc": which implementation was linked. */
const char *kv_mem_mode(void);
/* NULL (errno set) when the heap cannot be made. */
struct kv_heap *kv_heap_new(int id, const struct kv_mem_opts *opts);
/* Frees everything the heap handed out, stored values included. */
void kv_heap_delete(struct kv_heap *h);

/* Stored values: NULL when the worker's budget is exhausted. */
void *kv_store_alloc(struct kv_heap *h, size_t n);
void kv_store_free(void *p);

/* Per-request memory, released all at once by kv_scratch_reset. */
void *kv_scratch_alloc(struct kv_heap *h, size_t n);
void kv_scratch_reset(struct kv_heap *h);

/* Process-lifetime tables (the hash buckets). */
void *kv_table_calloc(size_t count, size_t size);
void kv_table_free(void *p);

/* Appends "STAT ..." lines about the heap to buf; returns bytes written. */
size_t kv_heap_stats(struct kv_heap *h, char *buf, size_t len);

#endif /* KV_MEM_H */
