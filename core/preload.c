/*
 * core/preload.c — the libc allocation names, for LD_PRELOAD (libhakmem.so only).
 *
 * Owns: the libc names that are not plain aliases of an hk_* function (those
 * are in core/preload.lds), each forwarding to the hk_* API of include/hakmem.h.
 * Must not: hold allocator logic, state or checks (they live behind hk_*), or be
 * linked into libhakmem.a (a static user keeps its libc malloc).
 * Invariant: every libc function that can hand out or take back a heap block is
 * here, so no glibc block ever reaches hakmem and no hakmem block reaches glibc.
 */
#include <malloc.h>
#include <stdlib.h>

#include "hakmem.h"

#define EXPORT __attribute__((visibility("default")))

/* A C23 name glibc 2.36 does not declare yet. */
void free_aligned_sized(void *ptr, size_t alignment, size_t size);

/* malloc, free, calloc, realloc, reallocarray, posix_memalign, aligned_alloc,
 * memalign, valloc, pvalloc, malloc_usable_size and free_sized are aliases of
 * their hk_* functions: core/preload.lds. */
/* The block of an aligned allocation is at least `size` usable bytes too. */
EXPORT void free_aligned_sized(void *p, size_t a, size_t n) { (void)a; hk_free_sized(p, n); }
EXPORT int malloc_trim(size_t pad) { return hk_trim(pad); }
EXPORT void malloc_stats(void) { hk_stats_print(2); }

/* glibc's fields, answered from hakmem's counters: arena = committed,
 * uordblks = in use, fordblks = committed but free, hblkhd = reserved. */
EXPORT struct mallinfo2 mallinfo2(void)
{
	struct mallinfo2 mi = { 0 };
	hk_stats_t st;

	if (hk_stats_get(&st) != 0)
		return mi;
	mi.arena = st.committed_bytes;
	mi.uordblks = st.live_bytes;
	mi.fordblks = st.committed_bytes > st.live_bytes ? st.committed_bytes - st.live_bytes : 0;
	mi.hblkhd = st.reserved_bytes;
	return mi;
}

/* The old int version saturates instead of wrapping (glibc wraps). */
static int clamp_int(size_t v) { return v > (size_t)__INT_MAX__ ? __INT_MAX__ : (int)v; }

EXPORT struct mallinfo mallinfo(void)
{
	struct mallinfo2 m2 = mallinfo2();
	struct mallinfo mi = {
		.arena = clamp_int(m2.arena), .uordblks = clamp_int(m2.uordblks),
		.fordblks = clamp_int(m2.fordblks), .hblkhd = clamp_int(m2.hblkhd),
	};
	return mi;
}
