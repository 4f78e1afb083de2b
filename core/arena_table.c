/*
 * core/arena_table.c — the table of every arena: hk_arena0 (static) and the
 * structs of the others, mapped through platform and never freed, found by
 * index. Owns no arena's contents: core/arena.c sets them up. Invariant:
 * `count` only grows (release), so a reader below it sees a mapped struct.
 */
#include <errno.h>

#include "core/arena_table.h"
#include "core/base.h"
#include "core/lock.h"
#include "core/platform.h"

HK_FORKED struct hk_arena hk_arena0;

/* Apart from `table`: 8 KiB of which fork writes only this lock. */
static HK_FORKED hk_lock_t table_lock;

static struct {
	unsigned count;     /* slots used so far */
	unsigned reuse;     /* next dead slot to recycle once all are used */
	hk_arena_t *slot[HK_ARENA_MAX];
} table;

hk_arena_t *hk_arena_at(unsigned index)
{
	return table.slot[index];
}

unsigned hk_arena_count(void)
{
	return atomic_load_explicit((_Atomic unsigned *)&table.count, memory_order_acquire);
}

void hk_arena_table_init(void)
{
	table.slot[0] = &hk_arena0;
	table.count = 1;
}

void hk_arena_table_lock(void)
{
	hk_lock(&table_lock);
}

void hk_arena_table_unlock(void)
{
	hk_unlock(&table_lock);
}

int hk_arena_table_take(unsigned *index, hk_arena_t **a)
{
	int err = 0;
	if (table.count < HK_ARENA_MAX) {
		void *mem;
		err = hk_platform_map(sizeof(hk_arena_t), 0, 0, &mem);
		if (!err) {
			*index = table.count;
			*a = table.slot[table.count] = mem;
			atomic_store_explicit((_Atomic unsigned *)&table.count, table.count + 1,
					      memory_order_release);
		}
	} else {
		err = ENOMEM;
		for (unsigned i = 0; i < HK_ARENA_MAX && err; i++) {
			unsigned j = 1 + (table.reuse + i) % (HK_ARENA_MAX - 1);
			if (table.slot[j]->magic == HK_ARENA_DEAD) {
				*index = j;
				*a = table.slot[j];
				table.reuse = j;
				err = 0;
			}
		}
	}
	if (!err)
		/* not live until set up, not dead for others */
		__atomic_store_n(&(*a)->magic, 0, __ATOMIC_RELAXED);
	return err;
}
