/*
 * core/slab.h — the slab logic shared by Tiny and MID (core/slab.c): one
 * size class per span, blocks carved lazily by a bump pointer, batches
 * refilled into and flushed from the lanes under the class lock.
 */
#ifndef HK_CORE_SLAB_H
#define HK_CORE_SLAB_H

#include "core/types.h"

/* Slabs: a batch of up to `want` blocks of class `cls`, linked through word 0
 * (NULL-terminated) into *chain; returns how many (0: out of memory). A
 * slab's whole free list may come instead, in one piece, when the batch
 * stays within `most` (>= want): its blocks are carved already, and taking
 * it costs no walk. `kind` is HK_KIND_SLAB. `tag`: the refilling lane's
 * owner tag (core/owner.h; 0: any slab), whose slabs come first, with
 * HK_OWNER_YOUNG or'ed in by a young lane. */
unsigned hk_slab_refill(hk_arena_t *a, unsigned cls, uint32_t units, unsigned kind,
			unsigned tag, void **chain, unsigned want, unsigned most);
/* Returns up to *left blocks of class `cls` from the chain at *chain to
 * their slabs of arena a, stopping early at a block of another arena;
 * *chain becomes the rest, *left what was not given back. Returns 1 if a
 * span went back to the arena (the purger may be needed). */
int hk_slab_flush(hk_arena_t *a, unsigned cls, void **chain, size_t *left);
/* Releases a class's cached empty slab if it has been idle since `until`. */
int hk_slab_release_idle(hk_arena_t *a, unsigned cls, uint64_t until);
/* Arena destroy: forget every slab of the class (class locks held). */
void hk_slab_forget(hk_arena_t *a, unsigned cls);
/* Arena reset: every slab of the class becomes empty (kept as the class's
 * empty slab or given back, stamped now). 1 if a span went back. */
int hk_slab_reset(hk_arena_t *a, unsigned cls, uint64_t now);

#endif /* HK_CORE_SLAB_H */
