/*
 * test/unit/test_arena_bump.c — region arenas' chunks (core/arena_bump.c):
 * every unit of a chunk is a BUMP span of its arena, the chain doubles from
 * one unit, a reset keeps the chunks the round reached and gives the others
 * back to the arena's free spans, and the cursor (the next block) stays
 * 16-aligned.
 */
#include <criterion/criterion.h>
#include <stdint.h>

#include "core/arena_bump.h"
#include "core/init.h"
#include "core/purge.h"
#include "core/region.h"

static hk_arena_t *bump_arena(void)
{
	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL, .flags = HK_ARENA_BUMP };
	hk_arena_t *a = hk_arena_create(&cfg);
	cr_assert_not_null(a);
	return a;
}

/* Units of the chunks from the first one on; their count. */
static unsigned chain(hk_arena_t *a, uint32_t *units, unsigned max)
{
	unsigned n = 0;
	for (uint32_t c = a->bump.first; c != HK_NIL && n < max; c = hk_desc_at(c)->next) {
		units[n++] = hk_desc_at(c)->units;
		for (uint32_t u = c; u < c + hk_desc_at(c)->units; u++) {
			hk_desc_t *d = hk_desc_at(u);
			cr_assert_eq(d->kind, HK_KIND_BUMP, "unit %u of chunk %u", u, c);
			cr_assert_eq(d->arena, a->index);
			cr_assert_eq(d->start, (uintptr_t)hk_unit_addr(c));
			cr_assert_eq(d->lim, 0, "free()'s fast path must reject it");
		}
	}
	return n;
}

/* Bytes of blocks of 1000 B that take a round through `chunks` chunks. */
static void fill_chunks(hk_arena_t *a, unsigned chunks)
{
	size_t bytes = ((size_t)1 << chunks) - 1; /* 1 + 2 + ... units */
	bytes = (bytes << HK_UNIT_SHIFT) - (HK_UNIT / 2);
	for (size_t done = 0; done < bytes; done += 1008) {
		cr_assert_not_null(hk_arena_malloc(a, 1000));
		cr_assert_eq(atomic_load(&a->bump.cur) % 16, 0);
	}
}

Test(arena_bump_unit, chunks_double_and_reset_keeps_what_was_reached)
{
	cr_assert_eq(hk_init(), 0);
	hk_arena_t *a = bump_arena();
	uint32_t units[16];
	fill_chunks(a, 4);
	cr_assert_eq(chain(a, units, 16), 4);
	for (unsigned i = 0; i < 4; i++)
		cr_assert_eq(units[i], 1u << i, "chunk %u has %u units", i, units[i]);
	cr_assert_eq(a->inuse, (size_t)15 << HK_UNIT_SHIFT);

	/* The same round again: the same chunks, nothing taken or given. */
	hk_arena_reset(a);
	cr_assert_eq(a->bump.chunk, a->bump.first);
	cr_assert_eq(atomic_load(&a->bump.cur), (uintptr_t)hk_unit_addr(a->bump.first) + 16);
	cr_assert_eq(a->bump.rewind, 0, "four chunks kept: no rewind-only reset");
	fill_chunks(a, 4);
	cr_assert_eq(a->inuse, (size_t)15 << HK_UNIT_SHIFT);

	/* A round that stays in two chunks: the last two go back, FREE. The
	 * purger is kept out: with debug's 0 ms delay it took them (PURGING)
	 * before the check, 1 run in 10. */
	hk_arena_reset(a);
	uint32_t third = hk_desc_at(hk_desc_at(a->bump.first)->next)->next;
	fill_chunks(a, 2);
	hk_purge_exclude();
	hk_arena_reset(a);
	cr_assert_eq(chain(a, units, 16), 2);
	cr_assert_eq(a->inuse, (size_t)3 << HK_UNIT_SHIFT);
	cr_assert_eq(hk_desc_at(third)->kind, HK_KIND_FREE);
	hk_purge_allow();

	/* Destroy: the descriptors no longer name the arena's chunks. */
	uint32_t first = a->bump.first;
	hk_arena_destroy(a);
	cr_assert_neq(hk_desc_at(first)->kind, HK_KIND_BUMP);
}

/* hk_arena_reset's inline rewind (bump.rewind) is armed only while the
 * round is in the first and only chunk of a region arena that has no block
 * of the normal paths and does not purge on reset: every other reset must
 * take the full path (which gives chunks back, frees the POOL blocks). */
Test(arena_bump_unit, rewind_only_in_the_steady_state)
{
	cr_assert_eq(hk_init(), 0);
	hk_arena_t *a = bump_arena();
	cr_assert_eq(a->bump.rewind, 0, "no chunk yet");
	cr_assert_not_null(hk_arena_malloc(a, 100));
	uintptr_t base = (uintptr_t)hk_unit_addr(a->bump.first) + 16;
	cr_assert_eq(a->bump.rewind, base);
	fill_chunks(a, 2);
	cr_assert_eq(a->bump.rewind, 0, "in the second chunk");
	hk_arena_reset(a);
	cr_assert_eq(a->bump.rewind, 0, "two chunks kept");
	cr_assert_not_null(hk_arena_malloc(a, 100));
	hk_arena_reset(a); /* the second chunk goes back */
	cr_assert_eq(chain(a, (uint32_t[16]){ 0 }, 16), 1);
	cr_assert_eq(a->bump.rewind, base);
	cr_assert_not_null(hk_arena_malloc(a, 1 << 20)); /* a POOL block */
	cr_assert_eq(a->bump.rewind, 0, "a normal-path block");
	hk_arena_reset(a);
	cr_assert_eq(hk_ctr_live(&a->ctr), 0, "the POOL block was freed");
	cr_assert_not_null(hk_arena_malloc(a, 100));
	cr_assert_neq(a->bump.rewind, 0);
	hk_arena_destroy(a);
	cr_assert_eq(a->bump.rewind, 0, "destroyed: hk_arena_reset reaches its check");

	hk_arena_config_t cfg = { .numa_node = HK_NODE_LOCAL,
				  .flags = HK_ARENA_BUMP | HK_ARENA_ZERO_ON_RESET };
	a = hk_arena_create(&cfg);
	cr_assert_not_null(a);
	cr_assert_not_null(hk_arena_malloc(a, 100));
	cr_assert_eq(a->bump.rewind, 0, "purges on reset");
	hk_arena_destroy(a);
}
