/*
 * test/api/test_arena_misuse.c — misuse of the arena API stops the program
 * at the faulty call with a message on stderr (DESIGN §8.10): a destroyed
 * arena used again, hk_free of a pointer hakmem never handed out (stack,
 * glibc heap), of an interior pointer, of a block freed twice, freed after
 * its arena's reset, reallocated after its free, or whose arena was
 * destroyed. Each misuse runs in a child (expect_abort); the message must
 * name the call and the pointer.
 */
#include <stdlib.h>

#include "arena_test.h"

static hk_arena_t *destroyed_arena(void)
{
	hk_arena_t *a = hk_arena_create(NULL);
	void *p = hk_arena_malloc(a, 100);
	hk_free(p);
	hk_arena_destroy(a);
	return a;
}

static void malloc_destroyed(void *arg)
{
	(void)arg;
	void *p = hk_arena_malloc(destroyed_arena(), 100);
	fprintf(stderr, "returned %p\n", p);
}
static void destroy_twice(void *arg) { (void)arg; hk_arena_destroy(destroyed_arena()); }
static void reset_destroyed(void *arg) { (void)arg; hk_arena_reset(destroyed_arena()); }

Test(arena_misuse, destroyed_arena_is_detected)
{
	expect_abort(malloc_destroyed, NULL, "destroyed");
	expect_abort(destroy_twice, NULL, "destroyed");
	expect_abort(reset_destroyed, NULL, "destroyed");
}

/* The message must name the call and the pointer: "hakmem: free(): ... 0x<ptr>". */
static void expect_call_abort(void (*misuse)(void *), void *ptr, const char *call)
{
	char want[64];
	snprintf(want, sizeof(want), "hakmem: %s(): ", call);
	expect_abort(misuse, ptr, want);
	snprintf(want, sizeof(want), " 0x%lx\n", (unsigned long)(uintptr_t)ptr);
	expect_abort(misuse, ptr, want);
}

static void expect_free_abort(void (*misuse)(void *), void *ptr)
{
	expect_call_abort(misuse, ptr, "free");
}

static void free_it(void *p) { hk_free(p); }

Test(arena_misuse, foreign_pointers)
{
	int on_stack[16];
	expect_free_abort(free_it, &on_stack[4]);
	void *glibc = malloc(64); /* libhakmem.a does not replace malloc */
	expect_free_abort(free_it, glibc);
	free(glibc);
	static char in_data[64];
	expect_free_abort(free_it, in_data + 16);
}

static hk_arena_t *arena;
static char *block;

static void setup(void)
{
	arena = hk_arena_create(NULL);
	block = hk_arena_malloc(arena, 256);
	cr_assert_not_null(block);
}

TestSuite(arena_misuse_block, .init = setup);

Test(arena_misuse_block, interior_pointer)
{
	expect_free_abort(free_it, block + 16);
	char *big = hk_arena_malloc(arena, 500000);
	expect_free_abort(free_it, big + 4096);
	hk_free(big);
}

static void free_twice(void *p)
{
	hk_free(p);
	hk_free(p);
}

/* The misuse on the arena's small block, then on a POOL-sized one. */
static void small_and_big(void (*misuse)(void *), const char *call)
{
	expect_call_abort(misuse, block, call);
	char *big = hk_arena_malloc(arena, 500000);
	cr_assert_not_null(big);
	expect_call_abort(misuse, big, call);
	hk_free(big);
}

Test(arena_misuse_block, double_free) { small_and_big(free_twice, "free"); }

static void free_after_destroy(void *p)
{
	hk_arena_destroy(arena);
	hk_free(p);
}

Test(arena_misuse_block, block_of_a_destroyed_arena)
{
	expect_free_abort(free_after_destroy, block);
}

/* After a reset every block of the arena is gone: a free of an old one (not
 * handed out again yet) aborts. Slab blocks: the reset slab's carved end is
 * back at its start; a POOL block: its span is free. */
static void free_after_reset(void *p)
{
	hk_arena_reset(arena);
	hk_free(p);
}

Test(arena_misuse_block, free_after_reset) { small_and_big(free_after_reset, "free"); }

static void realloc_freed(void *p)
{
	hk_free(p);
	fprintf(stderr, "returned %p\n", hk_arena_realloc(arena, p, 1000));
}

Test(arena_misuse_block, realloc_of_freed) { small_and_big(realloc_freed, "hk_arena_realloc"); }
