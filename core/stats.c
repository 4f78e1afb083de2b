/*
 * core/stats.c — the heap's statistics (hk_stats_get and hk_stats_print
 * are their public faces in core/observe.c, which starts init first), the
 * HAKMEM_STATS=1 report at exit, and hk_trim. Reads counters without stopping anyone (relaxed reads,
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
#include "core/lane.h"
#include "core/large.h"
#include "core/platform.h"
#include "core/profile.h"
#include "core/purge.h"
#include "core/region.h"
#include "core/stats.h"
#include "core/validate.h"

int hk_env_stats;

void hk_stats_collect(hk_stats_t *out)
{
	size_t bins = 0, live = 0, committed = 0;
	memset(out, 0, sizeof *out);
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
		live += hk_ctr_live(&a->ctr) + hk_bump_live(a, &bump_allocs);
		committed += a->ctr.committed;
	}
	out->live_bytes = live > bins ? live - bins : 0;
	/* Runs of destroyed arenas waiting for the next one (core/region.c). */
	committed += atomic_load_explicit(&hk_region.parked_bytes, memory_order_relaxed);
	out->committed_bytes = committed;
	out->reserved_bytes = hk_region.len + hk_large_bytes();
	out->backing = hk_arena0.backing;
	hk_platform_fill_stats(out);
}

void hk_stats_bands(size_t out[HK_BANDS])
{
	memset(out, 0, HK_BANDS * sizeof out[0]);
	for (unsigned i = 0, n = hk_arena_count(); i < n; i++) {
		hk_arena_t *a = hk_arena_at(i);
		if (!a || a->magic != HK_ARENA_LIVE)
			continue;
		for (int b = 0; b < HK_BANDS; b++)
			out[b] += atomic_load_explicit(&a->ctr.live[b], memory_order_relaxed);
	}
}

void hk_stats_write(int fd)
{
	hk_stats_t s;
	char buf[2048];
	hk_stats_collect(&s);
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
	if (n > 0 && (size_t)n < sizeof buf) {
		size_t band[HK_BANDS];
		hk_stats_bands(band);
		n += snprintf(buf + n, sizeof buf - (size_t)n,
			      "  bands: tiny %zu, mid %zu, pool %zu, large %zu bytes (slab bands: cached blocks too)\n",
			      band[HK_BAND_TINY], band[HK_BAND_MID], band[HK_BAND_POOL],
			      band[HK_BAND_LARGE]);
	}
	if (CONFIG_HK_SAMPLE && n > 0 && (size_t)n < sizeof buf) {
		size_t glive, gkept, gopen, gbytes, records, tbytes;
		uint64_t dropped;
		hk_guard_counts(&glive, &gkept, &gopen, &gbytes);
		hk_profile_counts(&records, &tbytes, &dropped);
		n += snprintf(buf + n, sizeof buf - (size_t)n,
			      "  sampler: %zu guarded blocks, %zu freed kept resident, %zu in open slots "
			      "(%zu bytes committed), "
			      "%zu profile records (table %zu bytes mapped, %llu dropped)\n",
			      glive, gkept, gopen, gbytes, records, tbytes, (unsigned long long)dropped);
	}
	if (n > 0) {
		ssize_t r = write(fd, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
		(void)r;
	}
}

__attribute__((destructor)) static void stats_at_exit(void)
{
	if (hk_env_stats && hk_ready())
		hk_stats_write(2);
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
