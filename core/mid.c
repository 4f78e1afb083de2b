/*
 * core/mid.c — the MID backend: the classes above Tiny up to HK_MID_LAST,
 * served from multi-unit one-class spans through the shared slab logic.
 * Built only with CONFIG_HK_MID. Invariant: a MID span holds 8 blocks, or
 * fewer (at least 2) when 8 would pass 256 KiB, and at most one chunk; a
 * span of one unit that would leave a whole page over takes 3 or 5 units,
 * which its blocks fill exactly.
 * Smaller spans for the big classes: a lane bin's blocks pin one span per
 * class, and 2 MiB spans of 256 KiB blocks cost realloc_grow ~18 MB RSS.
 */
#include "core/mid.h"
#include "core/sizeclass.h"
#include "core/slab.h"

/* The bytes a MID span aims at (8 blocks at most, 2 at least): 4 units. A
 * design figure of its own, not the MID limit, though both are 256 KiB in
 * the default configuration. */
#define MID_SPAN_BYTES (4 * HK_UNIT)

/* The kernel's base page: what a span's unused tail is resident by. */
#define BASE_PAGE 4096u

static uint32_t hk_mid_span_units(unsigned cls)
{
	size_t bs = hk_class_size(cls);
	size_t blocks = MID_SPAN_BYTES / bs;
	blocks = blocks < 2 ? 2 : blocks > 8 ? 8 : blocks;
	size_t units = (blocks * bs + HK_UNIT - 1) >> HK_UNIT_SHIFT;
	/* A one-unit span that would leave a whole page after its last block
	 * (5120 and 6144 B) takes as many units as the odd factor of the
	 * block size, which its blocks then fill exactly (5 units of 64
	 * blocks, 3 of 32): slabs of blocks this small are cut from THP runs
	 * in a big heap (core/span.c, whatever their length), where that page
	 * was resident for nothing (sqlite3's page cache: 0.9 MB of its peak).
	 * Not for a remainder under a page (2560 B: 1.5 KiB): its page is
	 * partly used anyway, and 5-unit slabs of 2560 B raised redis's peak
	 * by 1.5 MB (70.6 -> 72.0 MB, 3 runs each; why was not found). */
	if (units == 1 && HK_UNIT % bs >= BASE_PAGE)
		units = bs >> __builtin_ctzl(bs);
	return (uint32_t)(units > HK_CHUNK_UNITS ? HK_CHUNK_UNITS : units);
}

unsigned hk_mid_refill(hk_arena_t *a, unsigned cls, unsigned kind, unsigned tag, void **chain,
		       unsigned want, unsigned most)
{
	return hk_slab_refill(a, cls, hk_mid_span_units(cls), kind, tag, chain, want, most);
}
