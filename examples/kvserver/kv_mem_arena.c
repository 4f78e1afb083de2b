/*
 * kv_mem_arena.c — kv_mem.h on hakmem arenas: per worker, a store arena
 * (values, bounded by the capacity option, bound to a NUMA node) and a
 * scratch arena for replies, reset once the requests since the last reset
 * have used scratch_batch bytes (every request when 0: a reset costs a few
 * microseconds, more than the blocks it frees). Uses include/hakmem.h only.
 * Invariant: a store block may be freed from any thread (hk_free finds its
 * arena); the scratch arena is touched by its worker alone.
 */
#include <errno.h>
#include <stdio.h>

#include <hakmem.h>

#include "kv_mem.h"

struct kv_heap {
	hk_arena_t *store;
	hk_arena_t *scratch;
	size_t scratch_used, scratch_batch;
};

const char *kv_mem_mode(void) { return "arena"; }

struct kv_heap *kv_heap_new(int id, const struct kv_mem_opts *opts)
{
	char name[2][32];
	snprintf(name[0], sizeof(name[0]), "kv-store-%d", id);
	snprintf(name[1], sizeof(name[1]), "kv-scratch-%d", id);
	hk_arena_config_t cfg = {
		.capacity = opts->capacity,
		.numa_node = opts->numa_node,
		.hugepages = (hk_hugepage_policy_t)opts->hugepages,
		.name = name[0],
	};
	struct kv_heap *h = hk_malloc(sizeof(*h));
	if (!h)
		return NULL;
	h->scratch_used = 0;
	h->scratch_batch = opts->scratch_batch;
	h->store = hk_arena_create(&cfg);
	/* Scratch is small and short-lived: 4 KiB pages, no budget. */
	cfg = (hk_arena_config_t){ .numa_node = opts->numa_node,
				   .hugepages = HK_HUGEPAGE_NONE, .name = name[1] };
	h->scratch = h->store ? hk_arena_create(&cfg) : NULL;
	if (!h->scratch) {
		int err = errno;
		if (h->store)
			hk_arena_destroy(h->store);
		hk_free(h);
		errno = err;
		return NULL;
	}
	return h;
}

void kv_heap_delete(struct kv_heap *h)
{
	hk_arena_destroy(h->scratch);
	hk_arena_destroy(h->store);
	hk_free(h);
}

void *kv_store_alloc(struct kv_heap *h, size_t n) { return hk_arena_malloc(h->store, n); }
void kv_store_free(void *p) { hk_free(p); }
void *kv_scratch_alloc(struct kv_heap *h, size_t n)
{
	h->scratch_used += n;
	return hk_arena_malloc(h->scratch, n);
}

void kv_scratch_reset(struct kv_heap *h)
{
	if (h->scratch_used >= h->scratch_batch) {
		hk_arena_reset(h->scratch);
		h->scratch_used = 0;
	}
}
void *kv_table_calloc(size_t count, size_t size) { return hk_calloc(count, size); }
void kv_table_free(void *p) { hk_free(p); }

static const char *backing_name(hk_backing_t b)
{
	static const char *const names[] = { "none", "4k", "thp", "2m", "1g" };
	return (unsigned)b < sizeof(names) / sizeof(names[0]) ? names[b] : "?";
}

static size_t arena_stats(hk_arena_t *a, char *buf, size_t len)
{
	hk_arena_stats_t s;
	if (hk_arena_stats(a, &s) != 0)
		return 0;
	int n = snprintf(buf, len,
			 "STAT arena.%s.live_bytes %zu\nSTAT arena.%s.committed_bytes %zu\n"
			 "STAT arena.%s.failed_allocs %llu\nSTAT arena.%s.backing %s\n",
			 s.name, s.live_bytes, s.name, s.committed_bytes, s.name,
			 (unsigned long long)s.failed_allocs, s.name, backing_name(s.backing));
	return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}

size_t kv_heap_stats(struct kv_heap *h, char *buf, size_t len)
{
	size_t n = arena_stats(h->store, buf, len);
	return n + arena_stats(h->scratch, buf + n, len - n);
}
