/*
 * core/arena_bump.c — region mode (HK_ARENA_BUMP): chunks of the arena's
 * spans (kind BUMP, 64 KiB doubling to 1 MiB, or sized for one big block),
 * linked through their head descriptors (`next`; `bump` = where a retired
 * chunk's blocks end). A reset rewinds to the first chunk and keeps the
 * chunks this round reached: no lock, no system call in the steady state.
 * Must not call arena.c or alloc.c (they call here). Invariant: chunks after
 * the current one hold no block of this round (their `bump` is their base).
 */
#include "core/arena_bump.h"
#include "core/arena_table.h"
#include "core/base.h"
#include "core/lock.h"
#include "core/platform.h"
#include "core/purge.h"
#include "core/region.h"
#include "core/span.h"

#define CHUNK_UNITS_MAX 16u /* 1 + 2 + 4 + 8 + 16 units fill one 2 MiB run */
#define FREED ((uintptr_t)1)

static uintptr_t ld(_Atomic uintptr_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

static void st(_Atomic uintptr_t *v, uintptr_t x)
{
	atomic_store_explicit(v, x, memory_order_relaxed);
}

/* The first block of a chunk (its header in the chunk's second word):
 * blocks are 16-byte aligned. */
#define BASE_OFFSET (2 * HK_BUMP_HDR)

static uintptr_t base_of(uint32_t chunk)
{
	return (uintptr_t)hk_unit_addr(chunk) + BASE_OFFSET;
}

static uintptr_t end_of(uint32_t chunk)
{
	size_t len = (size_t)hk_desc_at(chunk)->units << HK_UNIT_SHIFT;
	return (uintptr_t)hk_unit_addr(chunk) + len;
}

static void set_used_end(uint32_t chunk, uintptr_t end)
{
	__atomic_store_n(&hk_desc_at(chunk)->bump, end, __ATOMIC_RELEASE);
}

void hk_bump_init(hk_arena_t *a)
{
	hk_bump_t *b = &a->bump;
	b->chunk = b->first = HK_NIL;
	b->key = hk_secret ^ ((uintptr_t)a * HK_BUMP_KEY_STEP);
}

/* Makes `chunk` current; the one before (if any) is retired with its end.
 * A reset is a rewind while the first chunk is the only one, with no block
 * of the normal paths and no purge on reset. */
static void enter(hk_arena_t *a, uint32_t chunk)
{
	hk_bump_t *b = &a->bump;
	if (b->chunk != HK_NIL) {
		uintptr_t cur = ld(&b->cur);
		atomic_fetch_add_explicit(&b->adjust, (intptr_t)(cur - ld(&b->base)),
					  memory_order_relaxed);
		/* Before cur moves on: a free that finds cur outside its chunk
		 * reads this end (core/arena_bump.c used_end). */
		set_used_end(b->chunk, cur);
	}
	b->chunk = chunk;
	b->end = end_of(chunk);
	b->rewind = chunk == b->first && hk_desc_at(chunk)->next == HK_NIL &&
		    !atomic_load_explicit(&b->mixed, memory_order_relaxed) &&
		    !(a->flags & HK_ARENA_ZERO_ON_RESET) ? base_of(chunk) : 0;
	st(&b->base, base_of(chunk));
	atomic_store_explicit(&b->cur, base_of(chunk), memory_order_release);
}

/* A new span of `units` (else of `need` units, the least that fits the
 * request: a capacity may leave room for that only). HK_NIL if none. */
static uint32_t take_span(hk_arena_t *a, uint32_t *units, uint32_t need)
{
	hk_lock(&a->lock);
	uint32_t h = hk_span_alloc(a, *units, 1, 0);
	if (h == HK_NIL && *units > need)
		h = hk_span_alloc(a, *units = need, 1, 0);
	/* Marked before the arena lock drops (a FREE-looking span would merge). */
	if (h != HK_NIL)
		hk_span_mark(h, *units, HK_KIND_BUMP, 0, a->index, (size_t)*units << HK_UNIT_SHIFT);
	hk_unlock(&a->lock);
	return h;
}

static void give_back(hk_arena_t *a, uint32_t chunk);

/* Moves to a chunk of at least `need` bytes: the next kept one if it is
 * large enough, else a new one linked after the current one, twice its size
 * (64 KiB first): the n-th chunk of a round has the same size in every
 * round, so rounds of one shape take the same chunks. */
static int next_chunk(hk_arena_t *a, size_t need)
{
	hk_bump_t *b = &a->bump;
	uint32_t units_need = (uint32_t)((need + HK_UNIT - 1) >> HK_UNIT_SHIFT);
	uint32_t next = b->chunk == HK_NIL ? b->first : hk_desc_at(b->chunk)->next;
	if (next != HK_NIL && hk_desc_at(next)->units >= units_need) {
		enter(a, next);
		return 0;
	}
	uint32_t units = b->chunk == HK_NIL ? 1 : 2 * hk_desc_at(b->chunk)->units;
	units = units > CHUNK_UNITS_MAX ? CHUNK_UNITS_MAX : units;
	units = units > units_need ? units : units_need;
	uint32_t h = take_span(a, &units, units_need);
	if (h == HK_NIL && hk_bump_trim(a)) {
		next = HK_NIL;
		h = take_span(a, &units, units_need);
	}
	if (h == HK_NIL)
		return -1;
	hk_desc_at(h)->next = next;
	set_used_end(h, base_of(h));
	if (b->chunk == HK_NIL)
		b->first = h;
	else
		hk_desc_at(b->chunk)->next = h;
	enter(a, h);
	return 0;
}

void *hk_bump_alloc(hk_arena_t *a, size_t size, size_t align)
{
	hk_bump_t *b = &a->bump;
	if (align < 16)
		align = 16;
	for (;;) {
		uintptr_t c = ld(&b->cur);
		uintptr_t p = (c + align - 1) & ~(uintptr_t)(align - 1);
		uintptr_t n = hk_bump_end(p, size);
		if (c && n && n <= b->end) {
			((uintptr_t *)p)[-1] = n ^ b->key;
			atomic_fetch_sub_explicit(&b->adjust, (intptr_t)(p - c),
						  memory_order_relaxed); /* padding */
			st(&b->cur, n);
			b->allocs++;
			return (void *)p;
		}
		/* Worst case from a chunk's (64 KiB aligned) start: the first
		 * block at `align` (at least BASE_OFFSET), then its step. */
		if (next_chunk(a, (align > BASE_OFFSET ? align : BASE_OFFSET) + hk_bump_step(size)))
			return NULL;
	}
}

void hk_bump_mixed(hk_arena_t *a)
{
	atomic_store_explicit(&a->bump.mixed, 1, memory_order_relaxed);
	a->bump.rewind = 0;
}

/* Where the handed-out part of chunk d ends (the next block's address):
 * the cursor while it is inside the chunk (after its start, up to its very
 * end: a cursor at the chunk's start belongs to the chunk before), else the
 * end recorded when the chunk was retired, stored before the cursor left. */
static uintptr_t used_end(hk_bump_t *b, const hk_desc_t *d)
{
	uintptr_t cur = atomic_load_explicit(&b->cur, memory_order_acquire);
	if (cur - d->start - 1 < d->bsize)
		return cur;
	return __atomic_load_n(&hk_desc_at(hk_unit_of((void *)d->start))->bump, __ATOMIC_ACQUIRE);
}

size_t hk_bump_check(const void *p, const hk_desc_t *d, const char *call)
{
	hk_arena_t *a = hk_arena_at(d->arena);
	uintptr_t q = (uintptr_t)p;
	if (a->magic != HK_ARENA_LIVE)
		hk_fatal(call, "block of a destroyed arena", p);
	if ((q & 15) || q - d->start < BASE_OFFSET)
		hk_fatal(call, "invalid pointer (not a block start)", p);
	uintptr_t end = used_end(&a->bump, d);
	if (q >= end)
		hk_fatal(call, "invalid pointer (never handed out, or from before a reset)", p);
	/* A header made with another key (an interior pointer's "header" is
	 * user data; a block from before a reset has the old key) decodes to
	 * an end outside [q + 16, the chunk's used end], or to low bits other
	 * than 0 or 1, but for a chance of about 2^-4 * (end - q) / 2^64. */
	uintptr_t n = ((const uintptr_t *)p)[-1] ^ a->bump.key;
	uintptr_t e = n & ~FREED;
	if ((e & 15) || e - q - 16 > end - q - 16)
		hk_fatal(call, "invalid pointer (not a block start, or from before a reset)", p);
	if (n & FREED)
		hk_fatal(call, "double free or use of freed block", p);
	return e - q - HK_BUMP_HDR;
}

void hk_bump_free(void *p, const hk_desc_t *d, const char *call, size_t size_hint)
{
	size_t n = hk_bump_check(p, d, call);
	if (size_hint > n)
		hk_fatal(call, "size larger than the block", p);
	((uintptr_t *)p)[-1] ^= FREED;
	hk_arena_t *a = hk_arena_at(d->arena);
	atomic_fetch_add_explicit(&a->ctr.frees, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&a->bump.adjust, (intptr_t)n, memory_order_relaxed);
}

int hk_bump_resize(hk_arena_t *a, void *p, size_t usable, size_t size)
{
	hk_bump_t *b = &a->bump;
	uintptr_t q = (uintptr_t)p, n = hk_bump_end(q, size);
	if (q + usable + HK_BUMP_HDR != ld(&b->cur) || !n || n > b->end)
		return 0;
	((uintptr_t *)p)[-1] = n ^ b->key;
	st(&b->cur, n);
	return 1;
}

/* Gives a list of chunks back to the arena's spans (dirty: the purger
 * returns their pages after its delay). */
static void give_back(hk_arena_t *a, uint32_t chunk)
{
	uint64_t now = hk_platform_now_ms();
	hk_lock(&a->lock);
	while (chunk != HK_NIL) {
		uint32_t next = hk_desc_at(chunk)->next;
		hk_span_free(a, chunk, hk_desc_at(chunk)->units, now);
		chunk = next;
	}
	hk_unlock(&a->lock);
	hk_purge_kick_now();
}

int hk_bump_trim(hk_arena_t *a)
{
	hk_bump_t *b = &a->bump;
	uint32_t rest = b->chunk == HK_NIL ? HK_NIL : hk_desc_at(b->chunk)->next;
	if (rest == HK_NIL)
		return 0;
	hk_desc_at(b->chunk)->next = HK_NIL;
	give_back(a, rest);
	return 1;
}

int hk_bump_reset(hk_arena_t *a)
{
	hk_bump_t *b = &a->bump;
	if (atomic_load_explicit(&b->mixed, memory_order_relaxed) ||
	    (a->flags & HK_ARENA_ZERO_ON_RESET)) {
		hk_bump_drop(a);
		return 0;
	}
	if (b->chunk == HK_NIL)
		return 1;
	/* Chunks this round did not reach were not needed: they go back. */
	hk_bump_trim(a);
	/* The chunks this round used hold no block of the next one. */
	for (uint32_t c = b->first; c != HK_NIL; c = hk_desc_at(c)->next)
		set_used_end(c, base_of(c));
	hk_bump_new_round(b);
	b->chunk = HK_NIL;
	enter(a, b->first);
	return 1;
}

void hk_bump_drop(hk_arena_t *a)
{
	hk_bump_t *b = &a->bump;
	/* Back to the arena: a reset visits only what it tracks (slabs,
	 * POOL spans, large blocks), never the runs. */
	if (b->first != HK_NIL)
		give_back(a, b->first);
	hk_bump_new_round(b);
	b->chunk = b->first = HK_NIL;
	b->end = 0;
	b->rewind = 0;
	st(&b->cur, 0);
	st(&b->base, 0);
	atomic_store_explicit(&b->mixed, 0, memory_order_relaxed);
}

size_t hk_bump_live(hk_arena_t *a, uint64_t *allocs)
{
	hk_bump_t *b = &a->bump;
	uint64_t n = b->allocs, blocks = n - ld(&b->round_allocs);
	uintptr_t cur = ld(&b->cur);
	*allocs = n;
	if (!cur)
		return 0;
	intptr_t live = atomic_load_explicit(&b->adjust, memory_order_relaxed) +
			(intptr_t)(cur - ld(&b->base) - HK_BUMP_HDR * blocks);
	/* Read while the owner moves on, the parts may disagree a moment. */
	return live > 0 ? (size_t)live : 0;
}
