/*
 * core/mid.c — the MID backend: the classes above Tiny up to HK_MID_LAST,
 * served from multi-unit one-class spans through the shared slab logic.
 * Built only with CONFIG_HK_MID. Invariant: a MID span holds at least 8
 * blocks (2 for classes above 256 KiB) and at most one chunk (32 units).
 */
#include "core/backend.h"
#include "core/sizeclass.h"

static uint32_t hk_mid_span_units(unsigned cls)
{
	size_t bs = hk_class_size(cls);
	size_t blocks = bs <= (256u << 10) ? 8 : 2;
	size_t units = (blocks * bs + HK_UNIT - 1) >> HK_UNIT_SHIFT;
	return (uint32_t)(units > HK_CHUNK_UNITS ? HK_CHUNK_UNITS : units);
}

unsigned hk_mid_refill(hk_arena_t *a, unsigned cls, unsigned kind, void **chain, unsigned want)
{
	return hk_slab_refill(a, cls, hk_mid_span_units(cls), kind, chain, want);
}
