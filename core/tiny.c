/*
 * core/tiny.c — the Tiny backend: classes up to HK_TINY_LAST served from
 * 64 KiB one-class pages (one unit each), carved lazily through the shared
 * slab logic. Built only with CONFIG_HK_TINY; callers test it first.
 * Invariant: a Tiny slab is exactly one unit, so block 0 is 64 KiB aligned.
 */
#include "core/slab.h"
#include "core/tiny.h"

unsigned hk_tiny_refill(hk_arena_t *a, unsigned cls, unsigned kind, unsigned tag, void **chain,
			unsigned want, unsigned most)
{
	return hk_slab_refill(a, cls, 1, kind, tag, chain, want, most);
}
