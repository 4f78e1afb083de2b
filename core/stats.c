/*
 * core/stats.c — hk_stats_get / hk_stats_print and the HAKMEM_STATS=1
 * report at exit. Reads counters without stopping anyone (relaxed reads,
 * a consistent-enough picture). Must not allocate: printing formats into
 * a stack buffer and writes it with write(2).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/arena_bump.h"
#include "core/arena_table.h"
#include "core/base.h"
#include "core/guard.h"
#include "core/init.h"
#include "core/lane.h"
#include "core/large.h"
#include "core/platform.h"
#include "core/profile.h"
#include "core/purge.h"
#include "core/region.h"
#include "core/stats.h"
#include "core/validate.h"

int hk_env_stats;

HK_API int hk_stats_get(hk_stats_t *out)
{
	size_t bins = 0, live = 0, committed = 0;
	if (!out)
		return -1;
	memset(out, 0, sizeof *out);
	if (!hk_ready() && hk_init() != 0)
		return -1;
	hk_lane_sum(out, &bins);
	out->malloc_slow = hk_gstats.malloc_slow;
	out->free_slow = hk_gstats.free_slow;
	out->large_maps = hk_gstats.large_maps;
	out->large_unmaps = hk_gstats.large_unmaps;
	out->failed_allocs = hk_gstats.failed_allocs;
	for (unsigned i = 0, n = hk_arena_count(); i < n; i++) {
		hk_arena_t *a = hk_arena_at(i);
		if (!a || a->magic != HK_ARENA_LIVE)
			continue;
		uint64_t bump_allocs;
		live += a->ctr.live + hk_bump_live(a, &bump_allocs);
		committed += a->ctr.committed;
	}
	out->live_bytes = live > bins ? live - bins : 0;
	out->committed_bytes = committed;
	out->reserved_bytes = hk_region.len + hk_large_bytes();
	out->backing = hk_arena0.backing;
	hk_platform_fill_stats(out);
	return 0;
}

HK_API void hk_stats_print(int fd)
{
	hk_stats_t s;
	char buf[2048];
	if (hk_stats_get(&s))
		return;
	int n = snprintf(buf, sizeof buf,
		"hakmem stats\n"
		"  malloc fast %llu slow %llu, free fast %llu slow %llu\n"
		"  refills %llu flushes %llu\n"
		"  large maps %llu unmaps %llu, failed allocs %llu\n"
		"  os calls %llu, purges %llu (%llu bytes, %llu fallbacks), purge mode %s\n"
		"  live %zu, committed %zu, reserved %zu bytes\n"
		"  backing %d, thp mode %d, hugetlb 2M %zu/%zu 1G %zu/%zu, numa nodes %d, io_uring %d\n"
		"  notes: %s\n",
		(unsigned long long)s.malloc_fast, (unsigned long long)s.malloc_slow,
		(unsigned long long)s.free_fast, (unsigned long long)s.free_slow,
		(unsigned long long)s.refills, (unsigned long long)s.flushes,
		(unsigned long long)s.large_maps, (unsigned long long)s.large_unmaps,
		(unsigned long long)s.failed_allocs, (unsigned long long)s.os_calls,
		(unsigned long long)s.purges, (unsigned long long)s.purged_bytes,
		(unsigned long long)s.purge_fallbacks,
		s.purge_mode == HK_PURGE_IO_URING ? "io_uring" : "madvise",
		s.live_bytes, s.committed_bytes, s.reserved_bytes, (int)s.backing, s.thp_mode,
		s.hugetlb_2m_free, s.hugetlb_2m_total, s.hugetlb_1g_free, s.hugetlb_1g_total,
		s.numa_nodes, s.io_uring_available, s.notes[0] ? s.notes : "none");
	if (CONFIG_HK_SAMPLE && n > 0 && (size_t)n < sizeof buf) {
		size_t glive, gopen, gbytes, records, tbytes;
		uint64_t dropped;
		hk_guard_counts(&glive, &gopen, &gbytes);
		hk_profile_counts(&records, &tbytes, &dropped);
		n += snprintf(buf + n, sizeof buf - (size_t)n,
			      "  sampler: %zu guarded blocks, %zu in open slots (%zu bytes committed), "
			      "%zu profile records (table %zu bytes mapped, %llu dropped)\n",
			      glive, gopen, gbytes, records, tbytes, (unsigned long long)dropped);
	}
	if (n > 0) {
		ssize_t r = write(fd, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
		(void)r;
	}
}

HK_API int hk_arena_stats(hk_arena_t *a, hk_arena_stats_t *out)
{
	if (!out)
		return -1;
	a = hk_arena_check(a, "hk_arena_stats");
	memset(out, 0, sizeof *out);
	memcpy(out->name, a->name, sizeof out->name);
	out->capacity = a->capacity;
	out->live_bytes = a->ctr.live;
	/* What the arena's blocks hold (its capacity's measure); the runs they
	 * are cut from are its reserved bytes. */
	out->committed_bytes = a->inuse;
	out->reserved_bytes = a->ctr.reserved;
	out->allocs = a->ctr.allocs;
	out->frees = a->ctr.frees;
	out->failed_allocs = a->ctr.failed;
	out->fallbacks = a->ctr.fallbacks;
	if (a == &hk_arena0) {
		hk_stats_t s;
		size_t bins = 0;
		/* The other nodes' arenas of the default heap. */
		for (unsigned i = 1, n = hk_arena_count(); i < n; i++) {
			hk_arena_t *h = hk_arena_at(i);
			if (!h || h->magic != HK_ARENA_LIVE || !h->heap)
				continue;
			out->live_bytes += h->ctr.live;
			out->committed_bytes += h->inuse;
			out->reserved_bytes += h->ctr.reserved;
			out->failed_allocs += h->ctr.failed;
			out->fallbacks += h->ctr.fallbacks;
		}
		memset(&s, 0, sizeof s);
		hk_lane_sum(&s, &bins);
		s.malloc_slow = hk_gstats.malloc_slow;
		s.free_slow = hk_gstats.free_slow;
		out->live_bytes = out->live_bytes > bins ? out->live_bytes - bins : 0;
		out->allocs += s.malloc_fast + s.malloc_slow;
		out->frees += s.free_fast + s.free_slow;
	} else {
		uint64_t allocs, frees, bump_allocs;
		size_t held;
		hk_cache_sum(a, &allocs, &frees, &held);
		out->live_bytes = out->live_bytes > held ? out->live_bytes - held : 0;
		/* Region mode: blocks bumped and not freed (core/arena_bump.c). */
		out->live_bytes += hk_bump_live(a, &bump_allocs);
		out->allocs += allocs + bump_allocs;
		out->frees += frees;
	}
	out->backing = a->backing;
	out->policy = a->policy;
	out->numa_node = a->node;
	return 0;
}

__attribute__((destructor)) static void stats_at_exit(void)
{
	if (hk_env_stats && hk_ready())
		hk_stats_print(2);
}

HK_API int hk_trim(size_t pad)
{
	uint64_t next;
	(void)pad;
	if (!hk_ready())
		return 0;
	hk_slow_call = "malloc_trim";
	hk_lane_flush_self();
	hk_lanes_trim();
	int r = hk_purge_run(1, &next);
	if (CONFIG_HK_ASSERT_FULL)
		hk_validate_heap(); /* the debug build checks the heap at every trim */
	return r;
}
