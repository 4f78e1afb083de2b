/*
 * core/region.c — the one reserved region and its dense descriptor array.
 * Owns hk_region: reservation at init (sized to RLIMIT_AS when one is set),
 * the bump of runs, reuse of runs given back by destroyed arenas (parked
 * committed for a while, then decommitted), and the lazy commit of
 * descriptor pages. Runs are reserved address space; the
 * arena commits them with its own backing policy.
 */
#include <errno.h>
#include <string.h>

#include "core/base.h"
#include "core/lock.h"
#include "core/platform.h"
#include "core/region.h"

HK_FORKED hk_region_t hk_region;
uintptr_t hk_region_base;
_Atomic size_t hk_region_used;
_Atomic size_t hk_region_slots;
hk_desc_t *hk_region_desc;
uint8_t *hk_region_owner;

/* A limit must still bound the heap (DESIGN §8.7): under RLIMIT_AS the
 * region gets half of it, the rest is for direct mappings, stacks, code. */
#ifdef __SANITIZE_THREAD__
#define UNDER_TSAN 1 /* TSan's application range cannot hold terabytes */
#else
#define UNDER_TSAN 0
#endif

static size_t region_size(void)
{
	size_t len = (size_t)CONFIG_HK_REGION_GIB << 30;
	if (UNDER_TSAN && len > ((size_t)64 << 30))
		len = (size_t)64 << 30;
	size_t limit = hk_platform_as_limit();
	if (limit != SIZE_MAX && limit / 2 < len)
		len = limit / 2;
	return len & ~(HK_CHUNK - 1);
}

/*
 * The descriptor array starts DESC_SKEW bytes into its page: unit u's
 * descriptor is at page offset (DESC_SKEW + 64 u) % 4096. free() loads a
 * descriptor right after the program's stores into the block; a load
 * whose page offset meets an older store's bytes waits for that store to
 * retire when their sizes differ (false store-forwarding dependence, "4K
 * aliasing"), and at skew 0 the first blocks of the region's first unit
 * (where a small heap and most benchmarks live) shared their page offset
 * with that unit's descriptor: pairs_16's block (offset 16) met `start` and
 * `lim` (CPU time per pair 4.15 -> 3.9 ns with this skew and the lane's
 * bin layout, core/types.h). With half a page, the first chunk's
 * descriptors sit where its units' first 2 KiB of every page never are.
 */
#define DESC_SKEW ((size_t)2048)

/* Where the owner bytes start in the descriptor reservation: a page
 * boundary, as they are committed page by page. */
static size_t owner_at(size_t len)
{
	size_t page = hk_platform_page_size();
	return (DESC_SKEW + (len >> HK_UNIT_SHIFT) * sizeof(hk_desc_t) + page - 1) & ~(page - 1);
}

int hk_region_init(void)
{
	size_t len = region_size();
	for (; len >= 4 * HK_CHUNK; len = (len / 2) & ~(HK_CHUNK - 1)) {
		/* The descriptors, then the owner bytes from a page boundary. */
		size_t dlen = owner_at(len) + (len >> HK_UNIT_SHIFT);
		void *base, *desc;
		if (hk_platform_reserve(len, HK_CHUNK, &base))
			continue;
		if (hk_platform_reserve(dlen, 4096, &desc)) {
			hk_platform_release(base, len);
			continue;
		}
		hk_region_base = (uintptr_t)base;
		hk_region_desc = (hk_desc_t *)((char *)desc + DESC_SKEW);
		hk_region_owner = (uint8_t *)desc + owner_at(len);
		hk_region.len = len;
		return 0;
	}
	return ENOMEM;
}

/* Commits [*done, need) of a lazily committed array at `at` (need rounded up
 * to pages). */
static int commit_upto(char *at, size_t *done, size_t need, size_t page)
{
	need = (need + page - 1) & ~(page - 1);
	if (need <= *done)
		return 0;
	int err = hk_platform_commit(at + *done, need - *done);
	if (!err)
		*done = need;
	return err;
}

/* Commits descriptors, and their units' owner bytes (a page per 256 MiB
 * of region), up to `end` units. Region lock held. */
static int commit_desc(size_t end_units)
{
	size_t page = hk_platform_page_size();
	int err = commit_upto((char *)hk_region_desc - DESC_SKEW, &hk_region.desc_committed,
			      DESC_SKEW + end_units * sizeof(hk_desc_t), page);
	return err ? err
		   : commit_upto((char *)hk_region_owner, &hk_region.owner_committed, end_units,
				 page);
}

static int reuse_run(uint32_t units, uint32_t *unit)
{
	for (unsigned i = 0; i < hk_region.nfree; i++) {
		if (hk_region.free_runs[i].units < units)
			continue;
		*unit = hk_region.free_runs[i].unit;
		hk_region.free_runs[i].unit += units;
		hk_region.free_runs[i].units -= units;
		if (!hk_region.free_runs[i].units)
			hk_region.free_runs[i] = hk_region.free_runs[--hk_region.nfree];
		memset(hk_desc_at(*unit), 0, units * sizeof(hk_desc_t));
		return 1;
	}
	return 0;
}

int hk_region_take_run(size_t chunks, uint32_t *unit)
{
	int err = 0;
	uint32_t units = (uint32_t)(chunks * HK_CHUNK_UNITS);
	hk_lock(&hk_region.lock);
	if (!reuse_run(units, unit)) {
		size_t used = atomic_load_explicit(&hk_region_used, memory_order_relaxed);
		size_t bytes = chunks << HK_CHUNK_SHIFT;
		if (chunks > hk_region.len >> HK_CHUNK_SHIFT || bytes > hk_region.len - used) {
			err = ENOMEM;
		} else if (!(err = commit_desc((used + bytes) >> HK_UNIT_SHIFT))) {
			*unit = (uint32_t)(used >> HK_UNIT_SHIFT);
			atomic_store_explicit(&hk_region_slots, (used + bytes) >> 4,
					      memory_order_relaxed);
			atomic_store_explicit(&hk_region_used, used + bytes, memory_order_release);
		}
	}
	hk_unlock(&hk_region.lock);
	return err;
}

void hk_region_give_run(uint32_t unit, uint32_t units)
{
	hk_lock(&hk_region.lock);
	memset(hk_desc_at(unit), 0, units * sizeof(hk_desc_t));
	/* Merge with a neighbour; a full table leaks address space only. */
	for (unsigned i = 0; i < hk_region.nfree; i++) {
		if (hk_region.free_runs[i].unit + hk_region.free_runs[i].units == unit) {
			hk_region.free_runs[i].units += units;
			goto out;
		}
		if (unit + units == hk_region.free_runs[i].unit) {
			hk_region.free_runs[i].unit = unit;
			hk_region.free_runs[i].units += units;
			goto out;
		}
	}
	if (hk_region.nfree < 64)
		hk_region.free_runs[hk_region.nfree++] =
			(typeof(hk_region.free_runs[0])){ unit, units };
out:
	hk_unlock(&hk_region.lock);
}

/*
 * A run of a destroyed arena stays committed, its pages as the arena left
 * them, for the next arena that grows with the same tag (node and pages:
 * core/span.c park_tag): an arena per script or connection then reuses its
 * predecessor's resident pages with no system call and no fault, as malloc
 * reuses freed spans. Decommitting every run at destroy and faulting its
 * pages in again after the next create made bench/request's hk-life way
 * (an arena per 64-block request) cost 300 us a request against 0.36 us
 * for a reset, and the Lua host's arena per script 30 % more CPU than
 * malloc. The purger decommits runs nobody took after its delay (DESIGN
 * 8.9); at most HK_PARK_BYTES wait at once, beyond that destroy
 * decommits as before. Region lock held by all three below.
 */
int hk_region_park_run(uint32_t unit, uint32_t units, uint32_t tag, uint64_t now)
{
	size_t bytes = (size_t)units << HK_UNIT_SHIFT;
	int ok = 0;
	hk_lock(&hk_region.lock);
	size_t held = atomic_load_explicit(&hk_region.parked_bytes, memory_order_relaxed);
	if (hk_region.nparked < HK_PARK_RUNS && bytes <= HK_PARK_BYTES - held) {
		memset(hk_desc_at(unit), 0, units * sizeof(hk_desc_t));
		hk_region.parked[hk_region.nparked++] =
			(typeof(hk_region.parked[0])){ unit, units, tag, now };
		atomic_store_explicit(&hk_region.parked_bytes, held + bytes, memory_order_relaxed);
		ok = 1;
	}
	hk_unlock(&hk_region.lock);
	return ok;
}

/* Entry i leaves the table, the others keep their (age) order. */
static void unpark_at(unsigned i, size_t bytes)
{
	memmove(&hk_region.parked[i], &hk_region.parked[i + 1],
		(hk_region.nparked - i - 1) * sizeof hk_region.parked[0]);
	hk_region.nparked--;
	atomic_fetch_sub_explicit(&hk_region.parked_bytes, bytes, memory_order_relaxed);
}

/* The newest first: its pages are the likeliest to be still resident. */
int hk_region_take_parked(size_t chunks, uint32_t tag, uint32_t *unit)
{
	uint32_t units = (uint32_t)(chunks * HK_CHUNK_UNITS);
	int found = 0;
	hk_lock(&hk_region.lock);
	for (unsigned i = hk_region.nparked; i-- > 0;) {
		if (hk_region.parked[i].tag != tag || hk_region.parked[i].units < units)
			continue;
		*unit = hk_region.parked[i].unit;
		if (hk_region.parked[i].units == units) {
			unpark_at(i, (size_t)units << HK_UNIT_SHIFT);
		} else {
			hk_region.parked[i].unit += units;
			hk_region.parked[i].units -= units;
			atomic_fetch_sub_explicit(&hk_region.parked_bytes,
						  (size_t)units << HK_UNIT_SHIFT,
						  memory_order_relaxed);
		}
		found = 1;
		break;
	}
	hk_unlock(&hk_region.lock);
	return found;
}

int hk_region_unpark(uint64_t until, uint32_t *unit, uint32_t *units, uint64_t *stamp)
{
	int found = 0;
	*stamp = UINT64_MAX;
	hk_lock(&hk_region.lock);
	if (hk_region.nparked) {
		*stamp = hk_region.parked[0].stamp;
		if (*stamp <= until) {
			*unit = hk_region.parked[0].unit;
			*units = hk_region.parked[0].units;
			unpark_at(0, (size_t)*units << HK_UNIT_SHIFT);
			found = 1;
		}
	}
	hk_unlock(&hk_region.lock);
	return found;
}
