/*
 * core/validate.c — the debug validators (CONFIG_HK_ASSERT_*): walk every
 * live arena's runs span by span and check the descriptor array, the
 * slabs (hot fields in every unit, carved ends, free lists against `used`),
 * the free-span lists and the calling thread's bins against the invariants
 * of core/types.h. Unit tests and the fuzzer call hk_validate_heap; the
 * full-assertion build also runs it on every hk_trim. Changes nothing; a
 * broken invariant is fatal ("validate(): <what> <address>").
 */
#include "core/arena_table.h"
#include "core/base.h"
#include "core/harden.h"
#include "core/lane.h"
#include "core/lock.h"
#include "core/purge.h"
#include "core/region.h"
#include "core/sizeclass.h"
#include "core/span.h"
#include "core/validate.h"


#define CHECK(cond, what, p)                                                               \
	do {                                                                               \
		if (!(cond))                                                               \
			hk_fatal("validate", what, (const void *)(p));                     \
	} while (0)

/* Counts found while walking one arena's runs, compared with its lists. */
struct tally {
	size_t units;         /* units of every run */
	unsigned free_spans;  /* FREE spans, each on a bucket list */
	unsigned listed[HK_NCLASS_MAX]; /* slabs flagged as on the partial list */
	unsigned full[HK_NCLASS_MAX];   /* slabs flagged as on the full list */
};

static int is_slab(unsigned kind)
{
	return kind == HK_KIND_SLAB;
}

/* Every unit of the span says what the head says (the hot fields). */
static void check_units(uint32_t h, uint32_t n, unsigned kind)
{
	const hk_desc_t *d = hk_desc_at(h);
	for (uint32_t u = h; u < h + n; u++) {
		const hk_desc_t *e = hk_desc_at(u);
		CHECK(e->kind == kind, "unit of another kind in span", hk_unit_addr(u));
		CHECK(e->start == d->start && e->bin == d->bin && e->bsize == d->bsize &&
			      e->arena == d->arena,
		      "unit's hot fields differ from its head's", hk_unit_addr(u));
	}
}

/* The carved ends of the units (core/slab.c set_carved): above every block
 * carved in the unit, at or below every block not carved yet. */
static void check_carved(uint32_t h, uint32_t n)
{
	const hk_desc_t *d = hk_desc_at(h);
	uintptr_t bs = d->bsize, bump = d->bump;
	for (uint32_t u = h; u < h + n; u++) {
		uintptr_t lo = (uintptr_t)hk_unit_addr(u), hi = lo + HK_UNIT;
		uintptr_t first = d->start + (lo - d->start + bs - 1) / bs * bs;
		uintptr_t last = d->start + (hi - 1 - d->start) / bs * bs; /* block starts in u */
		uintptr_t mine = hk_desc_carved(hk_desc_at(u));
		CHECK(hk_desc_lim(hk_desc_at(u)) == (mine - d->start) * hk_divm(bs),
		      "unit's carved limit disagrees with its carved end", hk_unit_addr(u));
		if (first >= hi)
			continue;
		uintptr_t last_carved = bump > d->start && bump - bs < last ? bump - bs : last;
		if (bump > d->start && first <= last_carved)
			CHECK(mine > last_carved, "unit's carved end below a carved block", hk_unit_addr(u));
		uintptr_t first_uncarved = bump > first ? bump : first;
		if (first_uncarved <= last)
			CHECK(mine <= first_uncarved, "unit's carved end above an uncarved block",
			      hk_unit_addr(u));
	}
}

static void check_slab(hk_arena_t *a, uint32_t h, uint32_t n, struct tally *t)
{
	hk_desc_t *d = hk_desc_at(h);
	uintptr_t start = (uintptr_t)hk_unit_addr(h), end = start + ((uintptr_t)n << HK_UNIT_SHIFT);
	size_t bs = d->bsize;
	unsigned cls = hk_desc_cls(d);
	CHECK(d->start == start, "slab head is not its own start", start);
	CHECK((int)cls < HK_NLANE && bs == hk_class_size(cls), "slab of no lane class", start);
	CHECK(d->bin == hk_bin_of(a->bins, cls), "slab's bin is not its arena's bin of its class",
	      start);
	check_units(h, n, d->kind);
	CHECK(d->bump >= start && d->bump <= end && (d->bump - start) % bs == 0,
	      "slab bump out of the slab or off a block", start);
	check_carved(h, n);
	size_t carved = (d->bump - start) / bs, nfree = 0;
	for (void *b = d->free; b; b = hk_next_get(b, "validate")) {
		CHECK(++nfree <= carved, "slab free list longer than the slab (a cycle?)", start);
		CHECK((uintptr_t)b >= start && (uintptr_t)b < d->bump && ((uintptr_t)b - start) % bs == 0,
		      "slab free list holds a block of no slab position", b);
	}
	CHECK(d->used + nfree == carved, "slab: used + free != carved", start);
	if (d->flags & HK_DF_LISTED)
		t->listed[cls]++;
	else
		CHECK(!nfree && (d->bump + bs > end || d->used == 0),
		      "slab with room is on no partial list", start);
	if (d->flags & HK_DF_FULL)
		t->full[cls]++;
}

static void check_span(hk_arena_t *a, uint32_t h, uint32_t n, struct tally *t)
{
	hk_desc_t *d = hk_desc_at(h), *tail = hk_desc_at(h + n - 1);
	/* free() takes only what lim lets through: 0 in every unit not a slab's. */
	for (uint32_t u = h; d->kind != HK_KIND_SLAB && u < h + n; u++)
		CHECK(hk_desc_lim(hk_desc_at(u)) == 0, "unit of no slab takes frees (lim)", hk_unit_addr(u));
	switch (d->kind) {
	case HK_KIND_FREE:
		CHECK(tail->kind == HK_KIND_FREE && tail->units == n, "free span's tail differs", hk_unit_addr(h));
		for (uint32_t u = h; u < h + n; u++)
			CHECK(hk_desc_at(u)->kind == HK_KIND_FREE && hk_desc_at(u)->arena == a->index,
			      "free span holds a unit not free", hk_unit_addr(u));
		t->free_spans++;
		break;
	case HK_KIND_PURGING:
		/* Taken by the purger (inner units FREE), or the held POOL span. */
		CHECK(tail->kind == HK_KIND_PURGING, "purging span's tail differs", hk_unit_addr(h));
		for (uint32_t u = h + 1; u + 1 < h + n; u++)
			CHECK(hk_desc_at(u)->kind == hk_desc_at(h + 1)->kind &&
				      (hk_desc_at(u)->kind == HK_KIND_FREE || hk_desc_at(u)->kind == HK_KIND_POOL),
			      "purging span's inner unit", hk_unit_addr(u));
		break;
	case HK_KIND_SLAB:
		check_slab(a, h, n, t);
		break;
	case HK_KIND_POOL:
	case HK_KIND_BUMP:
		CHECK(d->start == (uintptr_t)hk_unit_addr(h), "span head is not its own start", hk_unit_addr(h));
		check_units(h, n, d->kind);
		break;
	default:
		CHECK(0, "unit of no kind inside a run", hk_unit_addr(h));
	}
	CHECK(tail->units == n, "span's tail has another length", hk_unit_addr(h));
}

static void check_runs(hk_arena_t *a, struct tally *t)
{
	size_t used = atomic_load_explicit(&hk_region_used, memory_order_acquire) >> HK_UNIT_SHIFT;
	unsigned prev_free = 0;
	for (uint32_t r = a->runs; r != HK_NIL; r = hk_desc_at(r)->run_next) {
		uint32_t n = hk_desc_at(r)->run_units;
		CHECK(n && r + n <= used, "run out of the region", hk_unit_addr(r));
		CHECK(hk_desc_at(r + n - 1)->run_next == HK_RUN_END, "run's last unit unmarked",
		      hk_unit_addr(r));
		t->units += n;
		prev_free = 0;
		for (uint32_t u = r, len; u < r + n; u += len) {
			len = hk_desc_at(u)->units;
			CHECK(len && u + len <= r + n, "span runs past its run", hk_unit_addr(u));
			CHECK(hk_desc_at(u)->arena == a->index, "span of another arena in a run", hk_unit_addr(u));
			unsigned is_free = hk_desc_at(u)->kind == HK_KIND_FREE;
			CHECK(!(is_free && prev_free), "two free spans side by side (not merged)", hk_unit_addr(u));
			prev_free = is_free;
			check_span(a, u, len, t);
		}
	}
}

/* What a broken slab list of a class says (partial or full). */
struct list_says {
	const char *longer, *stranger, *link, *missing;
};
static const struct list_says partial_says = {
	"partial list longer than its slabs", "partial list holds no slab of its class",
	"partial list back link", "listed slab on no partial list",
}, full_says = {
	"full list longer than its slabs", "full list holds no slab of its class",
	"full list back link", "full slab on no full list",
};

/* One of class c's slab lists: the `want` slabs that carry `flag`, each once. */
static void check_class_list(const hk_arena_t *a, uint32_t head, unsigned c, uint8_t flag,
			     unsigned want, const struct list_says *say)
{
	unsigned n = 0;
	uint32_t prev = HK_NIL;
	for (uint32_t s = head; s != HK_NIL; prev = s, s = hk_desc_at(s)->next) {
		hk_desc_t *d = hk_desc_at(s);
		CHECK(++n <= want, say->longer, hk_unit_addr(s));
		CHECK(is_slab(d->kind) && hk_desc_cls(d) == c && (d->flags & flag), say->stranger,
		      hk_unit_addr(s));
		CHECK(d->prev == prev, say->link, hk_unit_addr(s));
	}
	CHECK(n == want, say->missing, a);
}

static void check_lists(hk_arena_t *a, const struct tally *t)
{
	unsigned spans = 0;
	for (unsigned b = 0; b < HK_SPAN_BUCKETS; b++) {
		uint32_t prev = HK_NIL;
		CHECK((int)(a->listed[b / 64] >> (b % 64) & 1) == (a->buckets[b] != HK_NIL),
		      "free list's non-empty bit wrong", a);
		for (uint32_t h = a->buckets[b]; h != HK_NIL; prev = h, h = hk_desc_at(h)->next) {
			hk_desc_t *d = hk_desc_at(h);
			CHECK(++spans <= t->free_spans, "more listed free spans than free spans", hk_unit_addr(h));
			CHECK(d->kind == HK_KIND_FREE && hk_span_list(d) == b,
			      "span in the wrong free list", hk_unit_addr(h));
			CHECK(d->prev == prev, "free list back link", hk_unit_addr(h));
		}
	}
	CHECK(spans == t->free_spans, "free span on no free list", a);
	for (int c = 0; c < HK_NLANE; c++) {
		check_class_list(a, a->cls[c].partial, (unsigned)c, HK_DF_LISTED, t->listed[c],
				 &partial_says);
		check_class_list(a, a->cls[c].full, (unsigned)c, HK_DF_FULL, t->full[c], &full_says);
		uint32_t e = a->cls[c].empty;
		if (e != HK_NIL)
			CHECK(is_slab(hk_desc_at(e)->kind) && hk_desc_at(e)->used == 0 &&
				      !(hk_desc_at(e)->flags & HK_DF_LISTED),
			      "class's empty slab is not empty", hk_unit_addr(e));
	}
}

static size_t check_arena(hk_arena_t *a)
{
	struct tally t = { 0 };
	for (int c = 0; c < HK_NLANE; c++)
		hk_lock(&a->cls[c].lock);
	hk_lock(&a->lock);
	check_runs(a, &t);
	check_lists(a, &t);
	hk_unlock(&a->lock);
	for (int c = HK_NLANE - 1; c >= 0; c--)
		hk_unlock(&a->cls[c].lock);
	return t.units;
}

/* The calling thread's set-up bins, every cache slot: free marked blocks
 * of their bin, as many as the room counter says (other threads' bins are
 * theirs alone to read). */
static void check_own_lane(void)
{
	hk_lane_t *l = hk_lane_self;
	if (l->state != HK_LANE_LIVE)
		return;
	for (unsigned bins = 0; bins < HK_BINS_NONE; bins += (unsigned)HK_ROW_WORDS) {
		for (uint64_t m = hk_lane_cache(l, bins)->classes; m; m &= m - 1) {
			unsigned c = (unsigned)__builtin_ctzll(m), bin = hk_bin_of(bins, c);
			int64_t n = 0, limit = hk_bin_limit(l, bins, c);
			for (void *b = HK_HEAD(l, bin); b; b = hk_next_get(b, "validate")) {
				hk_desc_t *d = hk_desc_of(b);
				CHECK(++n <= limit, "bin longer than its limit (a cycle?)", b);
				CHECK(d && d->kind == HK_KIND_SLAB && (bins ? d->bin == bin : hk_desc_cls(d) == c),
				      "bin holds a block of another class or arena", b);
				CHECK(((uintptr_t)b - d->start) % d->bsize == 0 && (uintptr_t)b < hk_desc_carved(d),
				      "bin holds no block of a slab", b);
			}
			CHECK(n + hk_room(l, bin) == limit,
			      "bin's room counter disagrees with its blocks", l);
			CHECK(HK_DIVM(l, bin) == hk_class_divm[c], "bin's divisor is not its class's", l);
		}
	}
}

void hk_validate_heap(void)
{
	if (!hk_ready())
		return;
	size_t used = atomic_load_explicit(&hk_region_used, memory_order_acquire) >> HK_UNIT_SHIFT;
	size_t in_runs = 0, none = 0;
	hk_purge_exclude(); /* spans the purger holds are PURGING; it must not move them now */
	for (unsigned i = 0, n = hk_arena_count(); i < n; i++) {
		hk_arena_t *a = hk_arena_at(i);
		if (a && __atomic_load_n(&a->magic, __ATOMIC_ACQUIRE) == HK_ARENA_LIVE)
			in_runs += check_arena(a);
	}
	hk_purge_allow();
	/* Units outside every live arena's runs were never handed to one, or
	 * came back to the region (guards, destroyed arenas' runs): kind NONE. */
	for (size_t u = 0; u < used; u++) {
		unsigned kind = hk_desc_at((uint32_t)u)->kind;
		CHECK(kind <= HK_KIND_BUMP, "descriptor of no kind", hk_unit_addr((uint32_t)u));
		none += kind == HK_KIND_NONE;
	}
	CHECK(in_runs + none >= used, "unit of no live arena's run is not NONE", (void *)hk_region_base);
	check_own_lane();
}
