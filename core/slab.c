/*
 * core/slab.c — slab logic shared by Tiny and MID: spans of one size class,
 * blocks carved lazily by a bump pointer (untouched pages cost no RSS),
 * returned blocks kept on the slab's own free list. Everything here runs
 * under the class lock of the arena (a->cls[cls].lock); the arena lock is
 * taken inside only to get or give a span. Invariant: `used` counts blocks
 * out of the slab; a slab with used == 0 is reset (bump = start) and either
 * cached as the class's one empty slab or given back to the arena; every
 * unit's `bump` is at least the end of the blocks carved in it, and at most
 * the unit's start where nothing was carved (free() checks against it).
 */
#include <stdatomic.h>
#include <string.h>

#include "core/base.h"
#include "core/harden.h"
#include "core/lock.h"
#include "core/owner.h"
#include "core/platform.h"
#include "core/region.h"
#include "core/sizeclass.h"
#include "core/slab.h"
#include "core/span.h"

/* A slab is on its class's partial list (HK_DF_LISTED), on its full list
 * (HK_DF_FULL), or is the class's empty slab: a reset finds every one. */
/* A class's band in the arena's live counters (core/types.h). */
static int slab_band(unsigned cls)
{
	return (int)cls > HK_TINY_LAST ? HK_BAND_MID : HK_BAND_TINY;
}

static void list_push(uint32_t *list, uint32_t s, uint8_t flag)
{
	hk_desc_t *d = hk_desc_at(s);
	d->prev = HK_NIL;
	d->next = *list;
	if (d->next != HK_NIL)
		hk_desc_at(d->next)->prev = s;
	*list = s;
	d->flags |= flag;
}

static void list_remove(uint32_t *list, uint32_t s, uint8_t flag)
{
	hk_desc_t *d = hk_desc_at(s);
	if (d->prev != HK_NIL)
		hk_desc_at(d->prev)->next = d->next;
	else
		*list = d->next;
	if (d->next != HK_NIL)
		hk_desc_at(d->next)->prev = d->prev;
	d->flags &= (uint8_t)~flag;
}

static void partial_push(hk_class_t *k, uint32_t s)
{
	list_push(&k->partial, s, HK_DF_LISTED);
}

static void partial_remove(hk_class_t *k, uint32_t s)
{
	list_remove(&k->partial, s, HK_DF_LISTED);
}

/* Appends block b to the chain head..*prev (links through hk_next_set). */
static inline void chain_append(void **head, void **prev, void *b)
{
	if (*prev)
		hk_next_set(*prev, b);
	else
		*head = b;
	*prev = b;
}

/*
 * A new slab's pages are faulted in by one call per carve that reaches
 * them (MADV_POPULATE_WRITE), not one fault a page as carve_links writes
 * each block's link: on this VM a 4 KiB fault cost 11.4 us of CPU, a page
 * of a 4 KiB populate 8.5 and of a 64 KiB one 6.2 (64 MiB touched page by
 * page, fastest of 6); a process growing 6 MiB of 16-512 B blocks took
 * 1,849 faults and 39.9 ms, 151 and 30.7 ms with it (mimalloc 38.0).
 * Only where the carve writes every page it reaches (blocks of at most a
 * page: no page made resident that the carve would not have touched, RSS
 * unchanged), on 4 KiB pages (a dense run's THP faults 2 MiB at once: a
 * call there is a wasted system call) and on a span that was clean when
 * the slab took it (never touched, or purged): the class follows its
 * newest such slab (k->fresh), whose pages from fresh_end on are
 * untouched, also when the slab is emptied and taken again. Any other
 * carve faults as before: a populate of pages already resident is a
 * wasted call, and one per carve made a per-request arena (carving its
 * slabs again after each reset) 17x slower (reverted in d34773f). A
 * kernel without it (EINVAL, before 5.14) or a filter that refuses it
 * stops the calls (core/platform.c).
 */
#define POP_PAGE 4096

static int populates(const hk_arena_t *a, size_t bs, uint32_t s)
{
	int small_pages = a->policy == HK_HUGEPAGE_NONE ||
			  (a->policy == HK_HUGEPAGE_AUTO && !hk_span_dense(s));
	return bs <= POP_PAGE && small_pages && !CONFIG_HK_THP_ALWAYS &&
	       hk_platform_page_size() == POP_PAGE;
}

/* The carve about to link blocks bump..last of the class's fresh slab. */
static void populate_carve(hk_class_t *k, uintptr_t bump, uintptr_t last)
{
	uintptr_t from = bump & ~(uintptr_t)(POP_PAGE - 1);
	uintptr_t to = (last | (POP_PAGE - 1)) + 1;
	if (from < k->fresh_end)
		from = k->fresh_end;
	if (from >= to)
		return;
	k->fresh_end = to;
	/* Refused: the slab's later carves fault, as they would without it. */
	if (hk_platform_populate((void *)from, to - from))
		k->fresh = HK_NIL;
}

/* A slab with room: the cached empty one, else a new span. */
static uint32_t new_slab(hk_arena_t *a, hk_class_t *k, unsigned cls, uint32_t units, unsigned kind)
{
	uint32_t s = k->empty;
	if (s != HK_NIL) {
		k->empty = HK_NIL;
	} else {
		hk_lock(&a->lock);
		s = hk_span_alloc(a, units, 1, hk_class_size(cls) <= HK_SPAN_SMALL_BLOCK);
		if (s == HK_NIL) {
			hk_unlock(&a->lock);
			return HK_NIL;
		}
		/* Marked before the arena lock drops: until then the span still
		 * reads as FREE, and a neighbour's merge would take it back. */
		hk_span_mark(s, units, kind, hk_bin_of(a->bins, cls), a->index, hk_class_size(cls));
		hk_desc_t *d = hk_desc_at(s);
		int clean = !(d->flags & HK_DF_DIRTY);
		d->used = 0;
		d->free = NULL;
		d->flags = 0;
		hk_unlock(&a->lock);
		k->fresh = clean && populates(a, hk_class_size(cls), s) ? s : HK_NIL;
		k->fresh_end = d->start;
	}
	partial_push(k, s);
	if (!a->heap)
		atomic_fetch_or_explicit(&a->touched, (uint64_t)1 << cls, memory_order_relaxed);
	return s;
}

/* Carving [from, to): every unit it reaches, and the head, learn the new
 * end. free() compares a block with its own unit's `bump` (one descriptor
 * read): a unit the carve never reached still says `start`, so a free of a
 * never-carved position, or of the slack after the last block, fails it.
 * Units wholly carved earlier keep an older end, above all their blocks. */
static void set_carved(uint32_t s, uintptr_t from, uintptr_t to)
{
	uint64_t divm = hk_class_divm[hk_desc_cls(hk_desc_at(s))];
	for (uint32_t u = hk_unit_of((void *)from); u <= hk_unit_of((void *)(to - 1)); u++)
		hk_desc_set_carved(hk_desc_at(u), to, divm);
	hk_desc_set_carved(hk_desc_at(s), to, divm);
}

/* used reached 0 (or a new slab): nothing is carved in any unit. */
static void reset_carved(uint32_t s, hk_desc_t *d)
{
	for (uint32_t u = s; u < s + d->units; u++)
		hk_desc_set_carved(hk_desc_at(u), d->start, 0);
}

/* Blocks on the slab's free list: carved ones not out of it. */
static unsigned free_count(const hk_desc_t *d, size_t bs)
{
	return (unsigned)((d->bump - d->start) / bs) - d->used;
}

/*
 * A slab's free list is in the order its blocks came back: after shuffled
 * frees, a random walk over the slab, and each pop waits for its block's
 * line before it can read the next link (one miss after the other). When
 * the list holds most of the carved blocks, every line of them is asked
 * for at once, in address order (one prefetch per block, or per line of
 * small blocks; at most 2 per block taken). Steady rounds of batch 100000
 * shuffled: the allocation phase ~1.2x mimalloc's speed, from ~0.9x.
 */
static void prefetch_carved(const hk_desc_t *d, size_t bs, unsigned n)
{
	uintptr_t p = d->start, end = d->bump;
	if (2 * (size_t)n * bs < end - p)
		return;
	/* Four a round: the loop's add, compare and branch were 3 of its 4
	 * instructions a line (batch_shuffled: 1.4 of ~106 a malloc or free). */
	size_t step = bs < 64 ? 64 : bs;
	for (; p + 3 * step < end; p += 4 * step) {
		__builtin_prefetch((void *)p, 1);
		__builtin_prefetch((void *)(p + step), 1);
		__builtin_prefetch((void *)(p + 2 * step), 1);
		__builtin_prefetch((void *)(p + 3 * step), 1);
	}
	for (; p < end; p += step)
		__builtin_prefetch((void *)p, 1);
}

/* Links each block from p up to last (bs apart) to the next; last's link
 * is the caller's. Four a round: the loop's add, compare and branch once
 * for four stores (perl's build-up carves 197k blocks: 8 -> ~4.5
 * instructions a block). */
static void carve_links(uintptr_t p, uintptr_t last, size_t bs, uintptr_t secret)
{
	for (; p + 3 * bs < last; p += 4 * bs) {
		hk_next_set_with((void *)p, (void *)(p + bs), secret);
		hk_next_set_with((void *)(p + bs), (void *)(p + 2 * bs), secret);
		hk_next_set_with((void *)(p + 2 * bs), (void *)(p + 3 * bs), secret);
		hk_next_set_with((void *)(p + 3 * bs), (void *)(p + 4 * bs), secret);
	}
	for (; p != last; p += bs)
		hk_next_set_with((void *)p, (void *)(p + bs), secret);
}

/*
 * The partial slab a refill by the lane tagged `tag` takes (core/owner.h):
 * among the first PICK_LOOK of the list, the first of its own, else the
 * first whose tag no live lane holds and no heir will take (it becomes the
 * lane's); HK_NIL when the list is shorter and all are other live lanes'
 * (a new slab then), its first slab when it is not (what other lanes'
 * partial slabs strand stays bounded: mt_mixed's peak RSS rose 24 % when
 * every refill that found none carved a new slab). Two
 * threads that took blocks of one slab wrote the same cache lines
 * (larson: 555-1543 lines of both threads' live blocks per epoch; branch
 * larson-owner-proto). Its own slabs first: a new worker runs alone for a
 * while before the next one starts, and took over half of that one's
 * predecessor's slabs before it could claim them. The bound keeps the walk
 * short under the class lock.
 */
#define PICK_LOOK 16

static uint32_t pick(hk_class_t *k, unsigned tag, int young)
{
	uint32_t s = k->partial, dead = HK_NIL;
	if (!tag)
		return s;
	for (int n = 0; s != HK_NIL; n++, s = hk_desc_at(s)->next) {
		unsigned o = hk_owner_of(s);
		if (o == tag)
			return s;
		if (dead == HK_NIL && hk_owner_adoptable(o, young))
			dead = s;
		if (n + 1 == PICK_LOOK) {
			if (dead == HK_NIL)
				return k->partial;
			break;
		}
	}
	if (dead != HK_NIL)
		hk_owner_set(dead, tag);
	return dead;
}

unsigned hk_slab_refill(hk_arena_t *a, unsigned cls, uint32_t units, unsigned kind,
			unsigned tag, void **chain, unsigned want, unsigned most)
{
	hk_class_t *k = &a->cls[cls];
	size_t bs = hk_class_size(cls);
	void *head = NULL, *prev = NULL;
	unsigned got = 0;
	int young = !!(tag & HK_OWNER_YOUNG);
	tag &= ~HK_OWNER_YOUNG;
	hk_lock(&k->lock);
	while (got < want) {
		uint32_t s = pick(k, tag, young);
		if (s == HK_NIL) {
			if ((s = new_slab(a, k, cls, units, kind)) == HK_NIL)
				break;
			hk_owner_set(s, tag);
		}
		hk_desc_t *d = hk_desc_at(s);
		uintptr_t end = d->start + ((uintptr_t)d->units << HK_UNIT_SHIFT);
		HK_ASSERT(d->kind == kind && hk_desc_cls(d) == cls && (d->flags & HK_DF_LISTED));
		/* Returned blocks first, then never-carved ones. The slab's
		 * fields stay in locals: a link store may alias them. */
		unsigned from = got;
		void *f = d->free;
		if (f && got + free_count(d, bs) <= most) {
			/* The whole list, NULL-terminated, as the last piece: no
			 * walk through blocks whose lines have gone cold (shuffled
			 * frees: one cache miss per block, one after the other);
			 * the pops check each link as they take it. */
			unsigned n = free_count(d, bs);
			prefetch_carved(d, bs, n);
			chain_append(&head, &prev, f);
			prev = NULL;
			got += n;
			d->free = NULL;
			d->used = (uint16_t)(d->used + n);
			if (d->bump + bs > end) {
				partial_remove(k, s);
				list_push(&k->full, s, HK_DF_FULL);
			}
			break;
		}
		if (got < want && f) {
			/* Linked already: taken as a run, no link rewritten. */
			chain_append(&head, &prev, f);
			do {
				prev = f;
				f = hk_next_get(f, hk_slow_call);
			} while (++got < want && f);
		}
		d->free = f;
		uintptr_t bump = d->bump;
		if (got < want && bump + bs <= end) {
			/* Never-carved blocks are consecutive: each links to
			 * the next, the last one stays `prev`. Counted first
			 * (one division a carve), so the loop tests one end. */
			uintptr_t n = (end - bump) / bs, secret = hk_secret;
			n = n < want - got ? n : want - got;
			uintptr_t last = bump + (n - 1) * bs;
			chain_append(&head, &prev, (void *)bump);
			if (s == k->fresh)
				populate_carve(k, bump, last);
			carve_links(bump, last, bs, secret);
			prev = (void *)last;
			bump = last + bs;
			got += (unsigned)n;
		}
		if (bump != d->bump)
			set_carved(s, d->bump, bump);
		d->used = (uint16_t)(d->used + (got - from));
		if (!d->free && bump + bs > end) {
			partial_remove(k, s);
			list_push(&k->full, s, HK_DF_FULL);
		}
	}
	if (prev)
		hk_next_set(prev, NULL);
	a->ctr.live[slab_band(cls)] += got * bs;
	hk_unlock(&k->lock);
	*chain = head;
	return got;
}

/* used reached 0: cache the slab as the class's empty one, or give it back. */
static int slab_empty(hk_arena_t *a, hk_class_t *k, uint32_t s, uint64_t now)
{
	hk_desc_t *d = hk_desc_at(s);
	partial_remove(k, s);
	d->free = NULL;
	reset_carved(s, d);
	if (k->empty == HK_NIL && d->units == 1) {
		k->empty = s;
		k->empty_stamp = now;
		return 0;
	}
	hk_lock(&a->lock);
	hk_span_free(a, s, d->units, now);
	hk_unlock(&a->lock);
	return 1;
}

/* A flush gave blocks back to slab s, which was full or unlisted, or is
 * now empty: its lists, or the class's empty slab. Kept out of the flush
 * loop (its registers). Returns 1 if the span went back to the arena. */
static HK_COLD int flush_relist(hk_arena_t *a, hk_class_t *k, uint32_t s, uint64_t *now)
{
	hk_desc_t *d = hk_desc_at(s);
	if (d->flags & HK_DF_FULL)
		list_remove(&k->full, s, HK_DF_FULL);
	if (!(d->flags & HK_DF_LISTED))
		partial_push(k, s);
	if (d->used)
		return 0;
	if (!*now)
		*now = hk_platform_now_ms();
	return slab_empty(a, k, s, *now);
}

/* The first 8 bytes of a unit's descriptor (kind, flags, arena, bin, used)
 * with used masked out, and the flags too for a multi-unit span (they are
 * its head's only): a flushed block's unit must read as a slab of the
 * flushing arena and bin, and a one-unit (Tiny) slab as one on its class's
 * partial list, so a run needs no look at its flags when it closes
 * (core/types.h's layout). */
#define UNIT_ID_MASK 0x0000ffffffff00ffull
#define UNIT_FLAGS ((uint64_t)(HK_DF_FULL | HK_DF_LISTED) << 8)

static uint64_t unit_id(unsigned kind, unsigned arena, unsigned bin, int one_unit)
{
	return kind | (one_unit ? (uint64_t)HK_DF_LISTED << 8 : 0) | (uint64_t)arena << 16 |
	       (uint64_t)bin << 32;
}

static uint64_t unit_id_of(const hk_desc_t *u, int one_unit)
{
	uint64_t w;
	memcpy(&w, u, sizeof w);
	return w & (UNIT_ID_MASK | (one_unit ? UNIT_FLAGS : 0));
}

/* An offset in 16-byte slots; off a slot, huge (rotated): one compare
 * with a count of slots checks both. */
static inline uintptr_t slot_of(uintptr_t off)
{
	return off >> 4 | off << 60;
}

/* A flushed block's unit is not a slab of the flushing arena's bin. A
 * one-unit slab of it that is full or unlisted is put on its partial list
 * first (returns 0: the run goes on). The default heap's bins mix the
 * nodes' arenas (the same bins, and only theirs are slot 0's): a slab of
 * another of them ends the stretch (returns 1). Anything else is a link
 * that decoded inside the region but not to a block of the bin's class: a
 * use after free rewrote it, or a double free of the class's block made it
 * another slab's; taking the block would give it to the wrong slab, under a
 * lock that does not cover it. `from` is the block that linked to it (the
 * chain's head names itself). */
static HK_COLD int flush_foreign(hk_arena_t *a, hk_class_t *k, hk_desc_t *u, uint64_t id,
				 int one_unit, const char *call, const void *from)
{
	uint64_t arena = 0xffffull << 16, w = unit_id_of(u, 0);
	if (one_unit && w == (id & ~UNIT_FLAGS)) {
		if (u->flags & HK_DF_FULL)
			list_remove(&k->full, (uint32_t)(u - hk_region_desc), HK_DF_FULL);
		if (!(u->flags & HK_DF_LISTED))
			partial_push(k, (uint32_t)(u - hk_region_desc));
		return 0;
	}
	if (a->heap && (w & ~arena) == (id & ~UNIT_FLAGS & ~arena))
		return 1;
	hk_fatal(call, "corrupted free list at", from);
}

/* A link that ended a run and is not NULL: it must decode into the region,
 * at a 16-byte slot (hk_next_get_with's check, once a run instead of once
 * a block). */
static inline void flush_check_link(uintptr_t b, const char *call, const void *from)
{
	if (unlikely(slot_of(b - hk_region_base) >= atomic_load_explicit(&hk_region_slots,
							       memory_order_relaxed)))
		hk_fatal(call, "corrupted free list at", from);
}

/* A run first..last of m blocks of slab d onto its free list, at once. */
static inline __attribute__((always_inline)) int
run_close(hk_arena_t *a, hk_class_t *k, hk_desc_t *d, void *first, void *last, size_t m,
	  uintptr_t secret, uint64_t *now, int one_unit)
{
	hk_next_set_with(last, d->free, secret);
	d->free = first;
	HK_ASSERT(d->used >= m && hk_desc_cls(d) == (unsigned)(k - a->cls));
	uint16_t used = (uint16_t)(d->used - m);
	d->used = used;
	/* `used` first: the subtraction's flags test it. A one-unit slab was
	 * listed when its run began (flush_foreign). */
	if (unlikely(!used) ||
	    (!one_unit && unlikely((d->flags & (HK_DF_FULL | HK_DF_LISTED)) != HK_DF_LISTED)))
		return flush_relist(a, k, (uint32_t)(d - hk_region_desc), now);
	return 0;
}

/*
 * Gives back up to *left blocks of the chain at *chain, in chain order,
 * stopping at a block of another arena (the default heap's bins mix the
 * nodes' arenas). A run of blocks of one slab costs one descriptor lookup:
 * the run is linked already, so the slab's free list takes it whole (one
 * link rewritten), and its `used` and lists change once. Shuffled frees
 * make runs of 1.1 blocks, so the per-run part is kept short: the secret
 * and the API call's name in locals, the region's globals as memory
 * operands (in locals they were spilled to the stack and loaded again:
 * batch_shuffled 105.1 -> 104.0 a malloc or free), one compare of
 * the unit's kind, arena, bin (and a Tiny slab's list flags), the head
 * descriptor from the unit's, list changes and an emptied slab on one rare
 * branch (callgrind, batch 100000 x2 shuffled, whole program per
 * operation: 131 -> 125; x10, with the unit compare and Tiny's copy: 111.0
 * -> 107.1; the used mark as a memory operand and the start's negation
 * first, for one lea where two copies and a subtract were: 102.06 ->
 * 101.16, 42 -> 40 instructions a run). Inside a run a block costs one
 * compare of its link with the
 * slab's carved slots: the region check of hk_next_get_with, which that
 * compare implies, is made once a run, on the link that ended it (perl's
 * teardown, runs of 5 blocks: 14 -> 10 instructions a block).
 */
static inline __attribute__((always_inline)) int
flush_locked(hk_arena_t *a, unsigned cls, size_t bs, void **chain, size_t *left, int one_unit)
{
	hk_class_t *k = &a->cls[cls];
	const char *call = hk_slow_call;
	uintptr_t secret = hk_secret;
	uint64_t id = unit_id(HK_KIND_SLAB, a->index, hk_bin_of(a->bins, cls), one_unit), now = 0;
	int released = 0;
	size_t n = *left, todo = n;
	uintptr_t b = (uintptr_t)*chain;
	void *last = (void *)b;
	if (!todo)
		goto out;
	for (;;) {
		/* The region check of hk_next_get_with, once a run: on the link
		 * that ended the last one (NULL fails it too), or the chain's
		 * head. The alignment is checked below, with the carved end. */
		uintptr_t at = b - hk_region_base;
		/* The used mark as the compare's memory operand (an atomic
		 * load is a mov of its own: one instruction a run). */
		asm goto("cmpq %1, %0\n\tjae %l2" : : "r"(at), "m"(hk_region_used) : "cc" : outside);
		hk_desc_t *u = &hk_region_desc[at >> HK_UNIT_SHIFT], *d = u;
		if (unlikely(unit_id_of(u, one_unit) != id) &&
		    flush_foreign(a, k, u, id, one_unit, call, last))
			break;
		/* Opaque to GCC: it would subtract start where an add of this is
		 * one lea (here and in the loop below: a copy of b fewer), and
		 * (b below) test b == 0 as raw link == key, keeping both in the
		 * loop. */
		uintptr_t to_off = -u->start;
		__asm__("" : "+r"(to_off));
		uintptr_t off = b + to_off;
		/* The head: as many units back as the block is into its span
		 * (Tiny: the unit itself). */
		if (!one_unit)
			d = u - (off >> HK_UNIT_SHIFT);
		/* A block boundary the bump never reached was never handed out:
		 * taking it back would later give it to two owners. One compare
		 * also says "same slab" for the blocks after it (and ends the
		 * run at NULL: 0 - start is above any slab's length). */
		uintptr_t lim = (hk_desc_carved(d) + to_off) >> 4;
		if (slot_of(off) >= lim)
			hk_fatal(call, "invalid pointer (never allocated)", (void *)b);
		void *first = (void *)b;
		size_t was = todo;
		for (uintptr_t next;; b = next) {
			next = *(uintptr_t *)b ^ hk_link_key_with((void *)b, secret);
			if (!--todo) {
				last = (void *)b;
				b = next;
				__asm__("" : "+r"(b));
				released |= run_close(a, k, d, first, last, was, secret, &now, one_unit);
				/* The rest becomes the bin's head: checked in full. */
				if (b)
					flush_check_link(b, call, last);
				goto out;
			}
			if (slot_of(next + to_off) >= lim) {
				last = (void *)b;
				b = next;
				__asm__("" : "+r"(b));
				break;
			}
		}
		released |= run_close(a, k, d, first, last, was - todo, secret, &now, one_unit);
	}
	goto out; /* a block of another arena: it stays the chain's head */
outside:
	if (b)
		hk_fatal(call, "corrupted free list at", last);
out:
	a->ctr.live[slab_band(cls)] -= (n - todo) * bs;
	*chain = (void *)b;
	*left = todo;
	return released;
}

int hk_slab_flush(hk_arena_t *a, unsigned cls, void **chain, size_t *left)
{
	hk_lock(&a->cls[cls].lock);
	/* Two copies of the loop: Tiny slabs are one unit each. The size
	 * is read before the branch (GCC's bounds warning, nomid: no class
	 * above Tiny's reaches here). */
	size_t bs = hk_class_size(cls);
	int released = (int)cls <= HK_TINY_LAST ? flush_locked(a, cls, bs, chain, left, 1)
						: flush_locked(a, cls, bs, chain, left, 0);
	hk_unlock(&a->cls[cls].lock);
	return released;
}

int hk_slab_release_idle(hk_arena_t *a, unsigned cls, uint64_t until)
{
	hk_class_t *k = &a->cls[cls];
	int released = 0;
	/* Under the class lock even to look: flushes set `empty` concurrently. */
	hk_lock(&k->lock);
	uint32_t s = k->empty;
	if (s != HK_NIL && k->empty_stamp <= until) {
		k->empty = HK_NIL;
		hk_lock(&a->lock);
		hk_span_free(a, s, hk_desc_at(s)->units, k->empty_stamp);
		hk_unlock(&a->lock);
		released = 1;
	}
	hk_unlock(&k->lock);
	return released;
}

void hk_slab_forget(hk_arena_t *a, unsigned cls)
{
	a->cls[cls].partial = HK_NIL;
	a->cls[cls].full = HK_NIL;
	a->cls[cls].empty = HK_NIL;
	a->cls[cls].fresh = HK_NIL;
}

/* Every slab of the list becomes empty: the first one may stay as the
 * class's empty slab (the next request's refill takes it without the
 * arena lock), the others go back to the arena. Class lock held. */
static int reset_list(hk_arena_t *a, hk_class_t *k, uint32_t *list, uint8_t flag, uint64_t now)
{
	int released = 0;
	while (*list != HK_NIL) {
		uint32_t s = *list;
		hk_desc_t *d = hk_desc_at(s);
		list_remove(list, s, flag);
		d->used = 0;
		d->free = NULL;
		reset_carved(s, d);
		if (k->empty == HK_NIL && d->units == 1) {
			k->empty = s;
			k->empty_stamp = now;
			continue;
		}
		hk_lock(&a->lock);
		hk_span_free(a, s, d->units, now);
		hk_unlock(&a->lock);
		released = 1;
	}
	return released;
}

int hk_slab_reset(hk_arena_t *a, unsigned cls, uint64_t now)
{
	hk_class_t *k = &a->cls[cls];
	hk_lock(&k->lock);
	int released = reset_list(a, k, &k->partial, HK_DF_LISTED, now);
	released |= reset_list(a, k, &k->full, HK_DF_FULL, now);
	hk_unlock(&k->lock);
	return released;
}
