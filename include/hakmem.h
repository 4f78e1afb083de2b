/*
 * hakmem.h — the public API of the hakmem allocator, and nothing else.
 *
 * Link statically (libhakmem.a exports only hk_* symbols) or dynamically
 * (libhakmem.so, which also replaces the libc allocation functions when
 * preloaded). Every hk_ function follows the contract of its libc
 * namesake: an impossible size gives NULL with errno ENOMEM, a bad
 * alignment EINVAL, and hk_free never changes errno.
 */
#ifndef HAKMEM_H
#define HAKMEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HAKMEM_VERSION_MAJOR 0
#define HAKMEM_VERSION_MINOR 1
#define HAKMEM_VERSION_PATCH 0
#define HAKMEM_VERSION "0.1.0"
/* Compare with: #if HAKMEM_VERSION_NUMBER >= HAKMEM_MAKE_VERSION(0, 1, 0) */
#define HAKMEM_MAKE_VERSION(a, b, c) ((a) * 10000 + (b) * 100 + (c))
#define HAKMEM_VERSION_NUMBER \
	HAKMEM_MAKE_VERSION(HAKMEM_VERSION_MAJOR, HAKMEM_VERSION_MINOR, HAKMEM_VERSION_PATCH)

#if defined(__GNUC__)
#define HK_API __attribute__((visibility("default")))
#define HK_MALLOC_ATTR __attribute__((malloc, warn_unused_result))
#else
#define HK_API
#define HK_MALLOC_ATTR
#endif

/* ---- The process heap (the default arena, also behind malloc) ---------- */

HK_API HK_MALLOC_ATTR void *hk_malloc(size_t size);
HK_API HK_MALLOC_ATTR void *hk_calloc(size_t count, size_t size);
HK_API void *hk_realloc(void *ptr, size_t size);
HK_API void *hk_reallocarray(void *ptr, size_t count, size_t size);
HK_API int hk_posix_memalign(void **out, size_t alignment, size_t size);
HK_API HK_MALLOC_ATTR void *hk_aligned_alloc(size_t alignment, size_t size);
HK_API HK_MALLOC_ATTR void *hk_memalign(size_t alignment, size_t size);
HK_API HK_MALLOC_ATTR void *hk_valloc(size_t size);
HK_API HK_MALLOC_ATTR void *hk_pvalloc(size_t size);

/* Frees a block of any arena. NULL is ignored. A pointer hakmem did not
 * hand out, or one already freed, aborts with a message naming it. */
HK_API void hk_free(void *ptr);
/* hk_free, checking that `size` fits the block (sized delete, free_sized). */
HK_API void hk_free_sized(void *ptr, size_t size);
/* Bytes usable in a block of any arena (0 for NULL). */
HK_API size_t hk_usable_size(const void *ptr);
/* Returns free memory to the OS now; 1 if any was returned. */
HK_API int hk_trim(size_t pad);

/* ---- Arenas ------------------------------------------------------------ */

typedef struct hk_arena hk_arena_t;

typedef enum hk_hugepage_policy {
	HK_HUGEPAGE_AUTO = 0, /* hugetlb 2 MiB if a pool is reserved, else THP, else 4 KiB */
	HK_HUGEPAGE_NONE,     /* 4 KiB pages only */
	HK_HUGEPAGE_THP,      /* transparent hugepages, else 4 KiB */
	HK_HUGEPAGE_2M,       /* hugetlb 2 MiB, else THP, else 4 KiB */
	HK_HUGEPAGE_1G,       /* hugetlb 1 GiB, else 2 MiB, else THP, else 4 KiB */
} hk_hugepage_policy_t;

/* The backing a chunk actually got. */
typedef enum hk_backing {
	HK_BACKING_NONE = 0, /* nothing committed yet */
	HK_BACKING_4K,
	HK_BACKING_THP,
	HK_BACKING_2M,
	HK_BACKING_1G,
} hk_backing_t;

#define HK_NODE_LOCAL (-1) /* memory from the node the allocating thread runs on */

typedef struct hk_arena_config {
	size_t capacity;                /* most bytes committed at once; 0 = unlimited */
	int numa_node;                  /* a node number, or HK_NODE_LOCAL */
	hk_hugepage_policy_t hugepages;
	unsigned flags;                 /* HK_ARENA_* */
	const char *name;               /* shown in stats; copied */
	hk_arena_t *parent;             /* NULL: none. A child arena is reset when its parent is
					   reset and destroyed when its parent is destroyed (APR
					   subpools, talloc hierarchies); destroying a child alone
					   detaches it. The parent must be a live user arena. */
} hk_arena_config_t;

#define HK_ARENA_ZERO_ON_RESET 0x1u /* purge every page on reset (RSS drops at once) */
/* Region mode. Allocation is a pointer bump; hk_free of such a block only
 * checks it and counts it (its memory comes back at hk_arena_reset /
 * hk_arena_destroy); hk_arena_realloc may grow the last block in place.
 * Each block has an 8-byte header; blocks up to 256 KiB are bumped, larger
 * ones (or alignments above 64 KiB) take the arena's normal paths.
 * Threads: a region arena takes no lock to allocate. Calls that allocate
 * from it (hk_arena_malloc/calloc/realloc/aligned_alloc, hk_realloc of
 * its blocks), hk_arena_reset and hk_arena_destroy must not run in two
 * threads at once: serialise them yourself (a mutex around a shared
 * arena), as with an APR pool or an obstack; two threads bumping at once
 * would hand out overlapping blocks. hk_free, hk_usable_size, hk_arena_of
 * and hk_arena_stats of it and its blocks are safe from any thread at any
 * time but during its reset or destroy. A free aborts for a pointer never
 * handed out, an interior pointer, a block from before a reset or one freed
 * already (checked through the header). Stats: live_bytes counts the
 * blocks handed out since the last reset and not freed. */
#define HK_ARENA_BUMP 0x2u

typedef struct hk_arena_stats_s {
	char name[32];
	size_t capacity;        /* 0 = unlimited */
	size_t live_bytes;      /* bytes of the blocks not freed: their usable size (a hardened
				   build adds each block's canary room) */
	size_t committed_bytes; /* memory the arena holds from the OS */
	size_t reserved_bytes;  /* address space the arena holds */
	uint64_t allocs;        /* successful allocations */
	uint64_t frees;
	uint64_t failed_allocs; /* NULL returns: capacity, ENOMEM */
	hk_backing_t backing;   /* backing of the arena's chunks (the best used) */
	hk_hugepage_policy_t policy;
	int numa_node;          /* HK_NODE_LOCAL or the bound node */
	uint64_t fallbacks;     /* chunks that got a lesser backing than the policy asked */
} hk_arena_stats_t;

/* NULL config = the defaults (unlimited, local node, AUTO). NULL + errno on failure. */
HK_API hk_arena_t *hk_arena_create(const hk_arena_config_t *config);
/* Frees every block and releases the arena's address space. No other
 * thread may allocate from the arena or free its blocks meanwhile. Its
 * children are destroyed first, down the family; a child destroyed alone
 * leaves its parent's family. */
HK_API void hk_arena_destroy(hk_arena_t *arena);
/* Frees every block at once; the arena stays usable. No other thread may
 * allocate from the arena or free its blocks meanwhile (other threads'
 * cached blocks of it are dropped when they next use it). Its children
 * (hk_arena_config_t.parent) are reset first, down the family. */
HK_API void hk_arena_reset(hk_arena_t *arena);
HK_API HK_MALLOC_ATTR void *hk_arena_malloc(hk_arena_t *arena, size_t size);
HK_API HK_MALLOC_ATTR void *hk_arena_calloc(hk_arena_t *arena, size_t count, size_t size);
HK_API void *hk_arena_realloc(hk_arena_t *arena, void *ptr, size_t size);
HK_API HK_MALLOC_ATTR void *hk_arena_aligned_alloc(hk_arena_t *arena, size_t alignment, size_t size);
HK_API int hk_arena_stats(hk_arena_t *arena, hk_arena_stats_t *out);
/* The process heap, behind malloc and hk_malloc. Never destroyed. */
HK_API hk_arena_t *hk_arena_default(void);
/* The arena a block belongs to, or NULL for a pointer hakmem does not own. */
HK_API hk_arena_t *hk_arena_of(const void *ptr);

/* ---- Heap profiler ----------------------------------------------------- */

/* Samples one allocation per `rate` bytes on average (0: 512 KiB) with its
 * call stack, until hk_profile_stop. `prefix` names the dumps (NULL keeps
 * the one set before, e.g. by HAKMEM_PROFILE). Returns 0 or an errno value
 * (ENOSYS: built without CONFIG_HK_SAMPLE). Other threads follow within
 * 64 MiB of their own allocations. */
HK_API int hk_profile_start(const char *prefix, size_t rate);
/* Writes the live sampled blocks as a gperftools heap profile to `path`
 * (google-pprof --text PROGRAM path), and folded stacks to path.folded;
 * NULL: to <prefix>.<pid>.<seq>.heap. Returns 0 or an errno value. */
HK_API int hk_profile_dump(const char *path);
/* Stops sampling; blocks sampled so far stay in the dumps until freed. */
HK_API void hk_profile_stop(void);

/* ---- Process statistics ------------------------------------------------ */

typedef enum hk_purge_mode {
	HK_PURGE_MADVISE = 0, /* synchronous madvise */
	HK_PURGE_IO_URING,    /* asynchronous IORING_OP_MADVISE */
} hk_purge_mode_t;

typedef struct hk_stats {
	/* paths */
	uint64_t malloc_fast, malloc_slow, free_fast, free_slow;
	/* ABI change in 0.1.0: remote_frees and remote_drains, never written
	 * (there is no remote-free list: a thread's bins take any thread's
	 * blocks), are gone; the fields below them moved up 16 bytes. */
	uint64_t refills, flushes;
	uint64_t large_maps, large_unmaps;
	uint64_t failed_allocs;
	/* OS */
	uint64_t os_calls;      /* every system call made for memory */
	uint64_t purges;        /* ranges returned to the kernel */
	uint64_t purged_bytes;
	uint64_t purge_fallbacks; /* io_uring completions that failed and were redone with madvise */
	/* bytes */
	size_t live_bytes, committed_bytes, reserved_bytes;
	/* capabilities and choices, decided at init */
	hk_purge_mode_t purge_mode;
	hk_backing_t backing;   /* backing of the default heap's chunks */
	int thp_mode;           /* 0 never, 1 madvise, 2 always, -1 unavailable */
	size_t hugetlb_2m_free, hugetlb_2m_total;
	size_t hugetlb_1g_free, hugetlb_1g_total;
	int numa_nodes;         /* 1 when NUMA is off or unavailable */
	int io_uring_available;
	char notes[256];        /* fallbacks taken and why this purge mode, one phrase each */
} hk_stats_t;

HK_API int hk_stats_get(hk_stats_t *out);
/* Prints the statistics, human-readable, to a file descriptor. */
HK_API void hk_stats_print(int fd);

#ifdef __cplusplus
}
#endif

#endif /* HAKMEM_H */
