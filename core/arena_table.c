/*
 * core/arena_table.c — the table of every arena: hk_arena0 (static) and the
 * structs of the others, mapped through platform and never freed, found by
 * index. Owns no arena's contents: core/arena.c sets them up. Invariant:
 * `count` only grows (release), so a reader below it sees a mapped struct.
 */
#include <errno.h>

#include "core/arena_table.h"
#include "core/lock.h"
#include "core/platform.h"

struct hk_arena hk_arena0;

static struct {
	hk_lock_t lock;
	unsigned count;     /* slots used so far */
	unsigned reuse;     /* next dead slot to recycle once all are used */
	hk_arena_t *slot[HK_ARENA_MAX];
} A;

static atomic_int heap_split;

hk_arena_t *hk_arena_at(unsigned index)
{
	return A.slot[index];
}

unsigned hk_arena_count(void)
{
	return atomic_load_explicit((_Atomic unsigned *)&A.count, memory_order_acquire);
}

void hk_arena_table_init(void)
{
	A.slot[0] = &hk_arena0;
	A.count = 1;
}

void hk_arena_table_lock(void)
{
	hk_lock(&A.lock);
}

void hk_arena_table_unlock(void)
{
	hk_unlock(&A.lock);
}

int hk_arena_table_take(unsigned *index, hk_arena_t **a)
{
	int err = 0;
	if (A.count < HK_ARENA_MAX) {
		void *mem;
		err = hk_platform_map(sizeof(hk_arena_t), 0, 0, &mem);
		if (!err) {
			*index = A.count;
			*a = A.slot[A.count] = mem;
			atomic_store_explicit((_Atomic unsigned *)&A.count, A.count + 1,
					      memory_order_release);
		}
	} else {
		err = ENOMEM;
		for (unsigned i = 0; i < HK_ARENA_MAX && err; i++) {
			unsigned j = 1 + (A.reuse + i) % (HK_ARENA_MAX - 1);
			if (A.slot[j]->magic == HK_ARENA_DEAD) {
				*index = j;
				*a = A.slot[j];
				A.reuse = j;
				err = 0;
			}
		}
	}
	if (!err)
		__atomic_store_n(&(*a)->magic, 0, __ATOMIC_RELAXED); /* not live until set up, not dead for others */
	return err;
}

int hk_arena_heap_split(void)
{
	return atomic_load_explicit(&heap_split, memory_order_relaxed);
}

void hk_arena_heap_split_set(void)
{
	atomic_store_explicit(&heap_split, 1, memory_order_relaxed);
}
