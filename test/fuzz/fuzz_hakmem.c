/*
 * test/fuzz/fuzz_hakmem.c — libFuzzer target: random sequences of every hk_* call
 * against a shadow model.
 *
 * Owns: the model (slots holding pointer, requested size, arena, fill seed) and its
 * checks after every step — results non-NULL for possible sizes and NULL + ENOMEM /
 * EINVAL for impossible ones, alignment, usable ≥ requested, arena_of right, no two
 * live blocks overlapping (usable ranges), contents intact (realloc keeps the prefix,
 * calloc zero), and after every input the heap's invariants (hk_validate_heap).
 * Must not: misuse the API (misuse aborts by design; test/api covers it).
 * Built with clang -fsanitize=fuzzer,address and hakmem's sources (test/fuzz/Build.mk).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hakmem.h"
/* The one internal header: the debug validators (core/validate.c), run
 * after every input. */
#include "core/validate.h"

#define NSLOTS 48
#define FULL_CHECK (64u << 10) /* bytes filled/checked exhaustively; above, a sample */

struct slot {
	uint8_t *p;
	size_t n;
	hk_arena_t *arena; /* the arena the block must report */
	uint8_t seed;
};

static struct slot slots[NSLOTS];
static hk_arena_t *arena;

struct input { const uint8_t *d; size_t n, i; };

static unsigned take(struct input *in)
{
	return in->i < in->n ? in->d[in->i++] : 0;
}

#define BUG(...) do { fprintf(stderr, "fuzz_hakmem: " __VA_ARGS__); fputc('\n', stderr); abort(); } while (0)

static size_t step(size_t i, size_t n)
{
	return (n <= FULL_CHECK || i < 4096 || i + 4096 >= n) ? 1 : 65521; /* a prime: every offset mod 64 KiB */
}

static void fill(struct slot *s)
{
	for (size_t i = 0; i < s->n; i += step(i, s->n))
		s->p[i] = (uint8_t)(s->seed + i * 7 + (i >> 8));
}

/* Checks the first m bytes of slot s against the pattern its n and seed produced. */
static void check(const struct slot *s, size_t m, const char *when)
{
	for (size_t i = 0; i < m; i += step(i, s->n))
		if (s->p[i] != (uint8_t)(s->seed + i * 7 + (i >> 8)))
			BUG("%s: block %p (%zu B) byte %zu changed", when, (void *)s->p, s->n, i);
}

/* Sizes: mostly Tiny, then MID, POOL, large, 0, and impossible ones (returned as 0 with *bad = 1). */
static size_t pick_size(struct input *in, int *bad)
{
	unsigned sel = take(in), r = take(in) | take(in) << 8 | take(in) << 16;
	*bad = 0;
	if (sel < 150) return r % 2048 + 1;
	if (sel < 200) return r % (256u << 10) + 1;
	if (sel < 235) return r % (4u << 20) + 1;
	if (sel < 245) return (size_t)(r % 40 + 1) << 20 | (r & 0xFFF);
	if (sel < 250) return 0;
	*bad = 1;
	return SIZE_MAX - (r & 0xFFFF);
}

static void verify_new(struct slot *s, size_t align, const char *fn)
{
	if ((uintptr_t)s->p % align)
		BUG("%s(%zu) = %p not %zu-aligned", fn, s->n, (void *)s->p, align);
	size_t u = hk_usable_size(s->p);
	if (u < s->n)
		BUG("%s(%zu): usable %zu", fn, s->n, u);
	if (hk_arena_of(s->p) != s->arena)
		BUG("%s: block %p reports arena %p, want %p", fn, (void *)s->p, (void *)hk_arena_of(s->p), (void *)s->arena);
	for (int j = 0; j < NSLOTS; j++) {
		const struct slot *o = &slots[j];
		if (o == s || !o->p)
			continue;
		size_t ou = hk_usable_size(o->p);
		if (s->p < o->p + ou && o->p < s->p + u)
			BUG("%s: %p+%zu overlaps live %p+%zu", fn, (void *)s->p, u, (void *)o->p, ou);
	}
}

static void drop(struct slot *s)
{
	if (!s->p)
		return;
	check(s, s->n, "before free");
	if (s->seed & 1)
		hk_free_sized(s->p, s->n);
	else
		hk_free(s->p);
	errno = 0;
	s->p = NULL;
}

static void expect_fail(void *p, int err, const char *fn)
{
	if (p)
		BUG("%s of an impossible size returned %p", fn, p);
	if (errno != err)
		BUG("%s: errno %d, want %d", fn, errno, err);
}

/* Allocation ops: the slot is emptied first; the result is checked and filled. */
static void op_alloc(struct input *in, struct slot *s, unsigned op)
{
	int bad;
	size_t n = pick_size(in, &bad), a = (size_t)1 << (take(in) % 24), c = 0;
	const char *fn = "?";
	int zero = 0;
	uint8_t *p = NULL;

	drop(s);
	s->arena = (op >= 8 && arena) ? arena : hk_arena_default();
	errno = 0;
	switch (op) {
	case 0: fn = "hk_malloc"; p = hk_malloc(n); a = 16; break;
	case 1: fn = "hk_calloc"; c = take(in) % 8 + 1; p = hk_calloc(c, bad ? n : n / c); n = bad ? n : n / c * c; a = 16; zero = 1; break;
	case 2: fn = "hk_posix_memalign"; a = a < 8 ? 8 : a;
		if (hk_posix_memalign((void **)&p, a, n)) { p = NULL; errno = ENOMEM; } break;
	case 3: fn = "hk_aligned_alloc"; p = hk_aligned_alloc(a, n); break;
	case 4: fn = "hk_memalign"; p = hk_memalign(a, n); break;
	case 5: fn = "hk_valloc"; p = hk_valloc(n); a = 4096; break;
	case 6: fn = "hk_pvalloc"; p = hk_pvalloc(n); a = 4096; break;
	case 7: fn = "hk_reallocarray(NULL)"; c = take(in) % 4 + 1; p = hk_reallocarray(NULL, c, bad ? n : n / c); n = bad ? n : n / c * c; a = 16; break;
	case 8: fn = "hk_arena_malloc"; p = hk_arena_malloc(s->arena, n); a = 16; break;
	case 9: fn = "hk_arena_calloc"; p = hk_arena_calloc(s->arena, 1, n); a = 16; zero = 1; break;
	default: fn = "hk_arena_aligned_alloc"; p = hk_arena_aligned_alloc(s->arena, a, n); break;
	}
	if (bad) {
		expect_fail(p, ENOMEM, fn);
		return;
	}
	if (!p)
		BUG("%s(align %zu, size %zu) returned NULL, errno %d", fn, a, n, errno);
	s->p = p, s->n = n, s->seed = (uint8_t)take(in);
	verify_new(s, a, fn);
	if (zero)
		for (size_t i = 0; i < n; i += step(i, n))
			if (p[i])
				BUG("%s(%zu): byte %zu not zero", fn, n, i);
	fill(s);
}

static void op_realloc(struct input *in, struct slot *s, int kind)
{
	int bad;
	size_t n = pick_size(in, &bad);
	uint8_t *q;

	if (s->p)
		check(s, s->n, "before realloc");
	errno = 0;
	if (kind == 0)
		q = hk_realloc(s->p, n);
	else if (kind == 1)
		q = hk_reallocarray(s->p, 1, n);
	else
		q = hk_arena_realloc(s->p ? s->arena : (s->arena = arena ? arena : hk_arena_default()), s->p, n);
	if (bad) {
		expect_fail(q, ENOMEM, "hk_realloc");
		if (s->p)
			check(s, s->n, "after a failed realloc");
		return;
	}
	if (!q && n == 0) { /* realloc(p, 0) may free and return NULL */
		s->p = NULL;
		return;
	}
	if (!q)
		BUG("hk_realloc(%p, %zu) returned NULL", (void *)s->p, n);
	if (!s->p)
		s->arena = kind == 2 ? s->arena : hk_arena_default();
	size_t keep = s->p ? (s->n < n ? s->n : n) : 0;
	struct slot old = *s;
	s->p = q;
	for (size_t i = 0; i < keep; i += step(i, old.n))
		if (q[i] != (uint8_t)(old.seed + i * 7 + (i >> 8)))
			BUG("realloc %zu → %zu: byte %zu lost", old.n, n, i);
	s->n = n;
	verify_new(s, 16, "hk_realloc");
	fill(s);
}

static void op_misc(struct input *in, unsigned op)
{
	hk_stats_t st;
	hk_arena_stats_t as;

	switch (op) {
	case 0: /* reset the arena: its slots are gone */
		if (!arena)
			return;
		for (int j = 0; j < NSLOTS; j++)
			if (slots[j].p && slots[j].arena == arena)
				slots[j].p = NULL;
		hk_arena_reset(arena);
		break;
	case 1: /* destroy and recreate it */
		if (arena) {
			for (int j = 0; j < NSLOTS; j++)
				if (slots[j].p && slots[j].arena == arena)
					drop(&slots[j]);
			hk_arena_destroy(arena);
		}
		arena = hk_arena_create(NULL);
		if (!arena)
			BUG("hk_arena_create failed");
		break;
	case 2:
		(void)hk_trim(take(in));
		break;
	case 3:
		if (hk_stats_get(&st) || st.committed_bytes < st.live_bytes / 2)
			BUG("hk_stats_get: committed %zu, live %zu", st.committed_bytes, st.live_bytes);
		if (arena && hk_arena_stats(arena, &as))
			BUG("hk_arena_stats failed");
		break;
	default: /* invalid alignments: EINVAL, output untouched */
	{
		size_t a = (take(in) | 1) * 3 + 2;
		void *p = (void *)&st;
		if (hk_posix_memalign(&p, a, 64) != EINVAL || p != (void *)&st)
			BUG("posix_memalign(align %zu) must be EINVAL", a);
		errno = 0;
		expect_fail(hk_aligned_alloc(a, 64), EINVAL, "hk_aligned_alloc(bad alignment)");
	}
	}
}

/* One allocation first: the default arena used before any allocation is
 * test/api's job (align::default_arena_before_any_allocation); here it would stop
 * every run at its first arena call. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	hk_free(hk_malloc(1));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size, 0 };

	while (in.i < in.n) {
		unsigned op = take(&in) % 20;
		struct slot *s = &slots[take(&in) % NSLOTS];
		if (op < 11)
			op_alloc(&in, s, op);
		else if (op < 14)
			op_realloc(&in, s, (int)op - 11);
		else if (op == 14)
			drop(s);
		else if (op == 15 && s->p)
			check(s, s->n, "check");
		else
			op_misc(&in, op - 15);
	}
	/* The heap's own invariants, with blocks live and after they went. */
	hk_validate_heap();
	for (int j = 0; j < NSLOTS; j++)
		drop(&slots[j]);
	hk_validate_heap();
	return 0;
}
