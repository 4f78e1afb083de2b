/*
 * core/types.h — the shared structs and constants of core/, and THE design
 * comment. Owns no code. Every core file includes it; it includes nothing
 * from the layers below (only core/platform.c talks to them).
 *
 * Invariant: the comment below stays true; change it with the code.
 */
#ifndef HK_CORE_TYPES_H
#define HK_CORE_TYPES_H

#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>

#include "hakmem.h"
#include "hk_config.h"

/*
 * DESIGN
 *
 * Memory. One PROT_NONE region reserved at init; it grows by a bump of
 * 2 MiB chunks ("runs" of one or more chunks, committed on demand and
 * owned by one arena; a destroyed arena's runs stay committed, parked in
 * the region, for the next arena that grows on the same node with the
 * same pages, until the purger decommits them: core/region.c). Each
 * 64 KiB "unit" of the region has a 64-byte descriptor (hk_desc) in a
 * dense array; descriptors are committed before
 * the region's `used` mark passes them, so `(p - base) >= used` rejects
 * NULL, foreign pointers and direct mappings in one compare, and every unit
 * below `used` has a readable descriptor.
 *
 * Spans. An arena cuts its runs into spans of whole units. A span is FREE
 * (in a size-bucketed free list of its arena, or the dense list when its
 * run is dense: a THP run grown for one-unit slabs once the arena is big,
 * core/span.c; every unit's descriptor says
 * FREE, head and tail carry the length), SLAB (one size class, blocks
 * carved lazily by a bump pointer), POOL (one block), BUMP (a region arena's
 * chunk, below), or PURGING (out of the
 * lists while the purger returns its pages, or held whole by core/span.c as
 * hk_arena0's last freed POOL span, inner units still POOL;
 * nobody else touches it). Free spans
 * coalesce with free neighbours of the same run through head/tail
 * descriptors, never reading a unit past their run (the next run may be
 * another arena's: its descriptors are under that arena's lock). A free span is `dirty` (pages maybe resident) with the time
 * it became free, on its length's dirty list or clean list (each in
 * address order); requests take the lowest dirty span first (core/span.c).
 * The purger thread releases empty slabs and the held span after
 * CONFIG_HK_PURGE_DELAY_MS, purges dirty spans 5 delays old (8 while the
 * arena is busy taking and freeing spans) and reinserts them clean (the
 * held span goes back to the lists then, or before the arena grows).
 *
 * Descriptors. Hot fields (kind, cls, arena, bsize, start) are copied
 * into every unit of a span, so free() reads one descriptor; the head unit
 * is the one at `start`. Cold
 * slab state (free list, bump, used, list links) is in the head unit's
 * descriptor only, protected by the class lock of its arena; a slab's
 * carved end (`bump`) is also kept in every unit the carve reached, and
 * in product space (`lim`, 0 in every unit that is not a slab's), so
 * free() rejects a position never handed out, an interior pointer and a
 * unit of another kind with one multiply and one compare.
 *
 * Default heap. The process heap behind malloc is one arena per NUMA node
 * (`heap` set): hk_arena0 and, on a machine with more nodes, one more per
 * node, made on the first slow path of a thread running there. Slow paths
 * take new slabs, POOL spans and large blocks from the caller's node's
 * arena; to the API they are all the default arena.
 *
 * Lanes and caches. Each thread has a lane, reached by one initial-exec
 * TLS pointer: its caches of arenas, each per-class bins (LIFO lists of
 * free blocks) with one cold hk_cache record. An arena owns one cache slot
 * for its life (`bins` = slot * HK_ROW_WORDS): slot 0 is the default heap
 * (every node's arena: bins mix their blocks, flushes split them), slots
 * 1.. go to user arenas at create while any is free, and the last slot is
 * HK_CACHE_NONE, never set up (arenas created when every slot is taken go
 * to their slabs under the class lock on every call). A slab descriptor
 * carries its arena's bin of its class, so free() pushes any arena's block
 * into the right bin in the same instructions. One implementation of
 * refill, flush and limits (core/lane.c) serves every slot.
 * A new thread's pointer is the static empty lane and a dead thread's the
 * dead lane: their bins are empty with room 0, the fast paths test room
 * before writing, so nothing writes them. Bins take blocks of any thread
 * (tcache style): a flush returns a batch to the blocks' slabs under the
 * class lock, which is how cross-thread frees are made safe.
 *
 * Owners (core/owner.c). So that two live threads do not write the same
 * lines, each slab's head unit has an owner tag (a byte beside the
 * descriptors, hk_region_owner, written under the class lock):
 * the tag of the lane that refilled from it last. A refill takes its own
 * lane's slabs first, a dead lane's once its heir had time to claim them
 * (a young lane's at once), and skips other live lanes' (core/slab.c pick). A free that leaves the
 * fast path sends a block of another live lane's slab back to it, and a
 * young lane freeing a dead lane's block inherits that lane's tag
 * (core/lane.c keep_off). The fast paths never look: a hint, not a rule.
 *
 * A bin is set up (its class's bit in the cache's `classes`) from the
 * owner's slow path; a lane with a set-up bin of a user arena's slot is on
 * that slot's list (hk_cache_slot.lanes, under its lock). Reset and
 * destroy walk that list under the slot lock and clear those bins in place
 * (no epoch, no test on the fast paths): by the API contract the owners do
 * not use the arena meanwhile, and whatever else touches a lane's bins of
 * another slot than its own use (thread exit, trim, fork) takes the slot
 * lock. Counters fold into the arena then (reset, thread exit), so
 * readers, who sum the slot's list under its lock, see each count once.
 * malloc_trim asks every lane to flush (`trim` flag, honoured on the
 * owner's next slow path) besides flushing the caller's.
 *
 * Region arenas (HK_ARENA_BUMP, core/arena_bump.c). Blocks are bumped from
 * the arena's current chunk, a span of kind BUMP, each after a header word
 * (the block's end ^ key); the chunks are linked through their head
 * descriptors. The bump state (struct hk_bump) has no lock: the caller lets
 * one thread at a time allocate, reset or destroy (include/hakmem.h). Frees
 * from any thread only read the state: the cursor (acquire) says where the
 * current chunk's blocks end, and a retired chunk's end is stored in its
 * head descriptor (release) before the cursor leaves it. A reset rewinds the
 * cursor to the first chunk and changes the key (older blocks no longer
 * decode); chunks the round did not reach go back to the span lists. A
 * region arena has no cache slot.
 *
 * Families. Parent/child/sibling links of user arenas change under the
 * family lock (core/arena.c): create with a parent, destroy of an arena
 * with a parent or children, reset of an arena with children (the whole
 * family is reset and destroyed under it, children first). An arena with
 * no parent and no child (read relaxed) skips it.
 *
 * Lock order (outer first): family lock → thread-start lock → purge lock
 * → cache slot locks (slot by slot) → lanes lock → class locks (arena by
 * arena, class by class) → arena lock → region lock → large lock; the
 * arena table lock nests inside the family lock and outside the class
 * locks. The thread-start lock (core/base.c) is held from a helper
 * thread's pthread_create until the thread runs, so a fork never splits
 * the start; the purger's start may come under the family lock. The purge
 * lock is taken with none of the others held but the family lock: by the
 * purger, by arena destroy (so spans the purger holds between taking them
 * dirty and putting them clean are never rebuilt under it) and by fork.
 * Bins flush under their slot lock (thread exit, trim) or with no lock (a
 * full bin, the owner's own use), always taking the class lock inside.
 * Lock-free: the malloc/free fast paths of every arena (thread-local
 * bins), reading descriptors of live blocks, stats reads.
 *
 * Atomics: hk_region_used (release after descriptors are committed); the
 * owner tags' held flags (a hint: CAS to take one, a release store to
 * free one, an acquire load to read it); the
 * stats counters (relaxed); the bump state (relaxed loads and stores by its
 * one writer, read by frees and stats; `freed` and the frees counter are
 * added to by any thread); hk_init_state (init: BUSY carries the
 * initialiser's pid); the purger's started/pending/sleeping flags
 * (core/purge.c); a slab unit's carved end (`bump` and `lim`: written
 * under the class lock, read by free() without it); a lane's trim flag. Bins and cache
 * counters are plain: written by their owner, or by a reset/destroy that
 * the API orders after the owner's last use.
 *
 * A freed small block has word 1 = hk_secret ^ its address; malloc clears
 * word 1 of the block it hands out, so free() sees a double free in one
 * compare (of the mark's fixed top byte, HK_MARK_TOP; a match is confirmed
 * in full on a cold branch). Its word 0, the free-list link, is stored encoded with the
 * secret and every decode checks it (NULL, or aligned inside the region),
 * so a write into a freed block aborts naming it (core/harden.h).
 *
 * Sampling (CONFIG_HK_SAMPLE, core/sample.c): each lane counts down the
 * bytes its thread mallocs on slow paths, and each default-heap bin its
 * pops (an interval drawn so that every block is still picked with
 * probability 1 - exp(-size/rate)); below zero, the block is served
 * specially — in a guarded slot outside the region (core/guard.c), or, for the profiler,
 * from a direct mapping (lane sizes) or as usual (POOL, large) and
 * recorded (core/profile.c) — so no sampled block is a default-heap slab
 * block and hk_free's fast path never sees one. The guard's and the
 * profiler's locks are leaf locks (nothing is taken inside them but the OS).
 *
 * Hardened (CONFIG_HK_HARDENED, core/harden.h): links are also encoded with
 * their slot's address; every slab block ends with a canary (pattern
 * bytes after the request, then the encoded request) checked by free; the
 * last unit of every run and a page after every direct mapping are
 * PROT_NONE guards.
 *
 * Debug (CONFIG_HK_ASSERT_CHEAP/FULL): HK_ASSERT checks O(1) invariants on
 * slow paths; core/validate.c checks every statement above that a walk can
 * (tests, the fuzzer, and every hk_trim of the full build call it).
 */

#define HK_UNIT_SHIFT 16
#define HK_UNIT ((size_t)1 << HK_UNIT_SHIFT)
#define HK_CHUNK_SHIFT 21
#define HK_CHUNK ((size_t)1 << HK_CHUNK_SHIFT)
#define HK_CHUNK_UNITS (HK_CHUNK >> HK_UNIT_SHIFT)
#define HK_ARENA_MAX 1024
#define HK_NCLASS_MAX 64

enum hk_kind {
	HK_KIND_NONE = 0, /* never handed to an arena (or a run not yet cut) */
	HK_KIND_FREE,     /* part of a free span */
	HK_KIND_SLAB,     /* slab of any arena: the only kind free()'s fast path takes */
	HK_KIND_POOL,     /* one POOL block (live) */
	HK_KIND_PURGING,  /* free span out of the lists while being purged */
	HK_KIND_BUMP,     /* chunk of a region-mode arena (core/arena_bump.c) */
};

/* flags (cold, head unit) */
#define HK_DF_LISTED 0x1u /* slab is on its class's partial list */
#define HK_DF_DIRTY 0x2u  /* free span, or one just cut: pages may be resident */
#define HK_DF_RUN 0x4u    /* first unit of a run (run_units valid) */
#define HK_DF_FULL 0x8u   /* slab is on its class's full list */
#define HK_DF_DENSE 0x10u /* free span in a dense run: on the dense list (core/span.c) */

typedef struct hk_desc {
	/* hot: copied into every unit of a span */
	uint8_t kind;
	uint8_t flags;   /* cold: head unit only */
	uint16_t arena;
	uint16_t bin;    /* slab: its arena's bin of its class (hk_desc_cls) */
	uint16_t used;   /* cold: slab: blocks out of the slab (live or in bins) */
	uint32_t bsize;  /* block size (POOL: usable bytes) */
	/* span shape: valid on head and tail units */
	uint32_t units;
	uintptr_t start; /* block 0 of the span = the span's first unit */
	uint64_t lim;    /* slab: (this unit's carved end - start) * the
			  * class's divisor (hk_divm) mod 2^64, else 0: free()
			  * takes p iff (p - start) * divisor < lim, which says
			  * "slab", "block boundary" and "carved" at once
			  * (core/region.h hk_desc_set_carved) */
	uint32_t run_units;  /* run head: units in the run (0: not a run head) */
	uint32_t run_next;   /* run head: next run of the same arena; the run's
			      * last unit (guard excluded): HK_RUN_END; else 0 */
	/* cold: head unit only */
	union {
		void *free;      /* slab: blocks returned, linked through word 0 */
		uint64_t stamp;  /* free span: ms when it became free */
	};
	uintptr_t bump;  /* slab: next block never carved (head unit); in every
			  * unit, an end >= its carved blocks and <= its start
			  * if none: free() rejects a block at or above it
			  * (core/slab.c set_carved). POOL head: the request */
	uint32_t next, prev; /* list links: unit indexes, HK_NIL ends */
} hk_desc_t;

#define HK_NIL UINT32_MAX
#define HK_RUN_END (UINT32_MAX - 1) /* run_next of a run's last unit: merges stop */

_Static_assert(sizeof(hk_desc_t) == 64, "descriptor is one cache line");



/* A spin lock: fork resets it; contended only on slow paths. */
typedef struct hk_lock { atomic_int v; } hk_lock_t;

/* One size class of one arena: its partial slabs. */
typedef struct hk_class {
	hk_lock_t lock;
	uint32_t partial;  /* head of slabs with free or uncarved blocks */
	uint32_t full;     /* head of slabs with neither (a reset finds them) */
	uint32_t empty;    /* one empty slab kept for reuse, or HK_NIL */
	uint32_t fresh;    /* the slab whose pages from fresh_end on were never
			    * touched (core/slab.c populate_carve), or HK_NIL */
	uint64_t empty_stamp; /* ms when `empty` was set */
	uintptr_t fresh_end;
} hk_class_t;

#define HK_SPAN_BUCKETS 128 /* by length: dirty spans' lists, then clean ones' */

/* Live bytes by band: each backend adds to its own counter where it added
 * to one live counter before (no more updates), readers sum them
 * (hk_arena_live). Slab bands count blocks cached in threads' bins too. */
enum { HK_BAND_TINY, HK_BAND_MID, HK_BAND_POOL, HK_BAND_LARGE, HK_BANDS };

typedef struct hk_arena_stats_ctr {
	atomic_size_t live[HK_BANDS], committed, reserved;
	atomic_uint_fast64_t allocs, frees, failed, fallbacks;
} hk_arena_ctr_t;

/* Every band's live bytes to 0 (reset, destroy): stores, no loop. */
static inline void hk_ctr_live_zero(hk_arena_ctr_t *c)
{
	_Static_assert(HK_BANDS == 4, "one store per band");
	atomic_store_explicit(&c->live[HK_BAND_TINY], 0, memory_order_relaxed);
	atomic_store_explicit(&c->live[HK_BAND_MID], 0, memory_order_relaxed);
	atomic_store_explicit(&c->live[HK_BAND_POOL], 0, memory_order_relaxed);
	atomic_store_explicit(&c->live[HK_BAND_LARGE], 0, memory_order_relaxed);
}

static inline size_t hk_ctr_live(const hk_arena_ctr_t *c)
{
	size_t n = 0;
	for (int b = 0; b < HK_BANDS; b++)
		n += atomic_load_explicit(&c->live[b], memory_order_relaxed);
	return n;
}

/*
 * Region mode (HK_ARENA_BUMP, core/arena_bump.c): blocks are cut from the
 * current chunk by a pointer bump, each after an 8-byte header (where it
 * ends, i.e. the next block's address, ^ key; bit 0 set once freed).
 * Written by one thread at a time (the caller serialises allocation, reset
 * and destroy: include/hakmem.h);
 * atomics only so that frees and stats readers of other threads may look.
 */
typedef struct hk_bump {
	/* hk_arena_malloc's and hk_arena_reset's inline paths: the first line. */
	_Atomic uintptr_t cur;   /* the next block (16-aligned; its header is the
				  * word before); 0: no chunk */
	uintptr_t end;           /* end of the current chunk (the last block's end
				  * may reach it); 0: no chunk */
	uintptr_t key;           /* header key: changes at every reset */
	uint64_t allocs;         /* bump blocks handed out since create: a plain
				  * add of the allocating thread (one instruction);
				  * stats read it as they read the lanes' counters */
	uintptr_t rewind;        /* the first chunk's base while a reset is a rewind
				  * (the round is in the first and only chunk, no
				  * normal-path block, no purge on reset), else 0 */
	/* Since the last reset; live bytes are derived from them. */
	_Atomic uint64_t round_allocs; /* `allocs` at the last reset */
	_Atomic intptr_t adjust; /* bytes used in chunks retired since, less
				  * padding, less blocks freed (any thread) */
	_Atomic uintptr_t base;  /* first block of the current chunk */
	uint32_t chunk, first;   /* head units of the current and first chunk (HK_NIL: none) */
	_Atomic uint32_t mixed;  /* blocks of the normal paths exist: reset takes the full path */
} hk_bump_t;

struct hk_arena {
	uint32_t magic;    /* HK_ARENA_LIVE or HK_ARENA_DEAD */
	uint16_t index;
	uint16_t heap;     /* 1: part of the default heap (a NUMA node's arena) */
	uint32_t bins;     /* cache slot * HK_ROW_WORDS: the lanes' first bin of this arena */
	uint32_t fast_bins; /* what hk_arena_malloc's fast path reads: `bins`, or
			     * HK_BINS_NONE while the profiler samples arena blocks
			     * (every malloc then takes the slow path, which counts
			     * down: no countdown on the fast path) or once destroyed */
	hk_lock_t lock;    /* spans, runs, counters below */
	unsigned flags;    /* HK_ARENA_*: hk_arena_malloc tests HK_ARENA_BUMP first */
	hk_bump_t bump;
	/* Family links (the family lock, core/arena.c); `child` is also read
	 * without it (relaxed) to skip the lock for an arena without one. */
	struct hk_arena *parent, *child, *sibling;
	uint32_t buckets[HK_SPAN_BUCKETS]; /* free spans by length */
	/* Bit b of word b / 64: buckets[b] is not empty (core/span.c), so a
	 * fit visits the non-empty lists only, not all 128. */
	uint64_t listed[HK_SPAN_BUCKETS / 64];
	uint32_t runs;     /* first run head */
	_Atomic size_t inuse; /* bytes of spans handed out + large mappings (capacity) */
	size_t capacity;
	int node;
	hk_hugepage_policy_t policy;
	hk_backing_t backing;
	char name[32];
	hk_arena_ctr_t ctr;
	/* What a reset must visit (a user arena's, under its class locks and
	 * arena lock): classes that took a slab since the last reset, live
	 * POOL spans (linked through their head descriptors). */
	_Atomic uint64_t touched;
	uint32_t pool_live;
	uint32_t pool_grown; /* head of the POOL block realloc grew last (a relaxed hint) */
	/* The purger's view of the spans (core/span.c; zeroed with the arena,
	 * so a recycled slot does not inherit its last owner's peak): the most
	 * bytes in use in the current window and the last one, when the
	 * window began, spans taken and given back and that count at the
	 * purger's last look. */
	size_t peak_cur, peak_last;
	uint64_t peak_since, span_ops, span_seen;
	hk_class_t cls[HK_NCLASS_MAX];
};

#define HK_ARENA_LIVE 0x4b41524eu
#define HK_ARENA_DEAD 0x44454144u

/* Cache slots: 0 the default heap, the last one never set up. */
#define HK_CACHE_SLOTS 32
#define HK_CACHE_NONE (HK_CACHE_SLOTS - 1)

/*
 * A lane's cache of one arena, the cold part (its bins are in the same
 * row of the lane). Blocks held in its bins = refilled - flushed + frees -
 * allocs, so frees are derived, not counted.
 */
typedef struct hk_cache {
	/* First a word the fast paths never store (see HK_BIN_WORDS). */
	uint64_t refilled;   /* blocks taken from the slabs */
	uint64_t allocs;     /* blocks handed out, fast and slow */
	/* Sampler (slot 0's only): bytes left before the next sampled malloc
	 * of the slow paths (hk_malloc's pops count down in their bins). */
	int64_t sample_left;
	uint64_t flushed;    /* blocks given to the slabs */
	uint64_t slow_pops, slow_pushes, refills, flushes;
	uint64_t classes;    /* bit c: bin c is set up (its room is valid) */
	struct hk_lane *next; /* next lane on the slot's list */
	uint32_t batch;      /* user arenas: most blocks one refill takes: small after a
			      * reset, doubling with each refill */
	uint32_t retired;    /* slot 0's: threads that used the lane before
			      * (core/lane.c retire): seeds its sampler */
	/* The sampler's random state (core/sample.c; slot 0's only): 0 until
	 * the lane's first interval is drawn. */
	uint64_t sample_rng;
} hk_cache_t;

/*
 * A bin of a lane row: 4 words, 32-byte aligned, in the order
 *   divisor (hk_divm of its class; free() multiplies with it), head, room,
 *   drawn (the sampler's, below).
 * One line holds all that free() reads or writes of a bin (it read three
 * lines before: heads, rooms and divisors were arrays of their own). The
 * order keeps the words the fast paths store (head, room) off the first
 * word of a 64-byte line, where a descriptor's `bin` is: a load that
 * overlaps an older store's bytes in the address's low 12 bits only
 * waits for that store to retire (false store-forwarding dependence, 4K
 * aliasing), and a 2-byte load under an 8-byte store of the same page
 * offset is the costly kind (an 8-byte load under an 8-byte store is not).
 * With the heads first, the 16 B class's head (lane page offset 0) sat on
 * the descriptor of the region's first unit (page offset 0 of the
 * descriptor array): pairs_16 ran 0.87x of pairs_64's speed at the same
 * instructions (CPU time, loaded machine). Bin b of slot s is word
 * s * HK_ROW_WORDS + class * HK_BIN_WORDS (core/sizeclass.h's tables give
 * class * HK_BIN_WORDS, so the fast paths index a bin with no shift).
 */
#define HK_BIN_WORDS 4
/* A row of a lane: one slot's bins, then its cache, in 8-byte words. */
#define HK_ROW_WORDS (HK_BIN_WORDS * HK_NCLASS_MAX + sizeof(hk_cache_t) / 8)
_Static_assert(HK_ROW_WORDS % HK_BIN_WORDS == 0, "every row's bins are 32-byte aligned");
#define HK_BINS_NONE ((unsigned)(HK_CACHE_NONE * HK_ROW_WORDS))

/* Bin of class cls in the row that starts at word `bins`. */
static inline unsigned hk_bin_of(unsigned bins, unsigned cls)
{
	return bins + cls * HK_BIN_WORDS;
}

/*
 * A lane: the bins of every cache slot, so the fast paths index a head and
 * a room with one bin number (descriptor or arena) in one addressing mode
 * each. room counts the pushes left before a bin is full (its limit -
 * blocks held; 0 when not set up); the fast paths test it before writing
 * anything. The default heap's row comes first: a thread that uses only it
 * touches the first pages and the last of its lane. Lanes are 32-byte
 * aligned, as a bin is long: each bin lies within one line. (The carved
 * lanes start 32 bytes past a line, core/lane.c's LANE_AT; a 64-byte
 * alignment here would be a promise they break, which UBSan reports.)
 */
typedef struct hk_lane {
	/* Bin b's words: word[b] (divisor), head[b], room[b]. The head and
	 * room arrays start one and two words in, so the fast paths address
	 * them as displacement(lane, bin, 8) (with head[b + 1], GCC kept b + 1
	 * in a register of its own: one more instruction). */
	union {
		uint64_t word[HK_CACHE_SLOTS * HK_ROW_WORDS];
		struct {
			uint64_t head_at_;
			void *head[HK_CACHE_SLOTS * HK_ROW_WORDS - 1];
		};
		struct {
			uint64_t room_at_[2];
			int64_t room[HK_CACHE_SLOTS * HK_ROW_WORDS - 2];
		};
	};
	/* Slow paths only (the fast paths touch the bins alone). */
	uint32_t state;      /* HK_LANE_* */
	_Atomic int trim;    /* 1: flush every bin on the next slow path */
	/* Default heap's bins (core/lane.c): limit shift, refilled since the
	 * bin's last flush, and set up by a free and never refilled since (a
	 * quarter of the limit) */
	uint8_t grow[HK_NCLASS_MAX];
	uint8_t refilled[HK_NCLASS_MAX];
	uint8_t frees_only[HK_NCLASS_MAX];
	/* Default heap's refill ramp by class: refills so far, up to
	 * core/lane.c's RAMP_STEPS (the batch doubles with each). */
	uint8_t ramp[HK_NCLASS_MAX];
	/* Owner tag of the slabs this lane refills from (core/owner.h), 0
	 * until its first refill or a dead lane's tag it inherits. */
	uint8_t tag;
	uint8_t heir_left; /* slow frees left that may make it an heir */
	uint8_t young_refills; /* refills left that may be young (core/lane.c) */
	struct hk_lane *next, *prev; /* list of live lanes */
	/* User arenas' bins (core/lane.c hk_cache_rewind): the blocks bin
	 * [slot][class] took since its arena's last full reset, when they are
	 * one run in address order (start | count << 48; 0: none,
	 * 1: not one run), and per slot the blocks of all its runs. Cleared
	 * with the bins (cache_clear), by any thread under the slot's lock. */
	uint64_t took[HK_CACHE_SLOTS][HK_NCLASS_MAX];
	uint64_t took_blocks[HK_CACHE_SLOTS];
} __attribute__((aligned(32))) hk_lane_t;

/* The divisor of the bin's class (hk_divm), written when the bin is set up
 * (0 before: the static lanes' and unset bins', whose room is 0 too). free()
 * multiplies with it where it reads the room: a copy in the lane, not a
 * table by class, is one addressing mode and no lea (core/alloc.c). */
#define HK_DIVM(l, bin) ((l)->word[(bin)])
#define HK_HEAD(l, bin) ((l)->head[(bin)])

/*
 * A bin's room word: the room in its low HK_ROOM_BITS bits (0 <= room <=
 * HK_ROOM_MASK), above them a signed count that every fast-path pop takes
 * 1 from. A pop gives a room back and counts itself in one add (the count
 * was an add of its own on the cache's line, CONFIG_HK_STATS: one
 * instruction, a load and a store fewer a malloc); readers sum the bins
 * (core/lane.c cache_allocs). The count has 40 bits.
 *
 * In the default heap's row the count is also the sampler's countdown
 * (core/sample.c bin_due): the pop that takes it below 0 leaves
 * hk_malloc's fast path for the sampler, with the flags of the same add
 * (a countdown of bytes of its own was a read-modify-write of another
 * line on every malloc: callgrind random_mixed_8192 60.03 -> 59.54
 * instructions an op, pairs_16 74.0 -> 73.0 a pair). The bin's 4th word
 * (HK_DRAWN) sums the countdown's starts (drawn when the bin is set up and
 * at each sample): pops = HK_DRAWN - count. Other rows only count
 * (HK_DRAWN 0).
 */
#define HK_ROOM_BITS 24
#define HK_ROOM_MASK (((int64_t)1 << HK_ROOM_BITS) - 1)

static inline int64_t hk_room(const hk_lane_t *l, unsigned bin)
{
	return l->room[bin] & HK_ROOM_MASK;
}

static inline void hk_room_set(hk_lane_t *l, unsigned bin, int64_t room)
{
	l->room[bin] = (l->room[bin] & ~HK_ROOM_MASK) | room;
}

static inline void hk_room_add(hk_lane_t *l, unsigned bin, int64_t n)
{
	hk_room_set(l, bin, hk_room(l, bin) + n);
}

#define HK_DRAWN(l, bin) ((l)->word[(bin) + 3])
/* The add of a pop: a room back, 1 off the count. */
#define HK_ROOM_POP (1 - ((int64_t)1 << HK_ROOM_BITS))

/* The count above a bin's room (signed: a countdown that ran out is < 0). */
static inline int64_t hk_room_count(const hk_lane_t *l, unsigned bin)
{
	return l->room[bin] >> HK_ROOM_BITS;
}

/* The bin's fast-path pops since its count was last cleared. */
static inline uint64_t hk_bin_allocs(const hk_lane_t *l, unsigned bin)
{
	return HK_DRAWN(l, bin) - (uint64_t)hk_room_count(l, bin);
}

/*
 * Takes one room of a bin, or jumps to `full` when it has none: the test
 * reads room on its own, so a room of 0 (the static lanes', an unset bin)
 * is never written (issue 12, bug 4), and the update stays one
 * instruction with no extra address arithmetic (written in C, gcc loads,
 * tests, subtracts and stores, or adds a lea: 2 more on free()'s path).
 * A room above 0 has no borrow into the count.
 */
#define HK_ROOM_TAKE(l, bin, full)                                                         \
	asm goto("testl %[mask], %[room]\n\tje %l[" #full "]\n\tsubq $1, %[room]"            \
		 : [room] "+m"((l)->room[bin]) : [mask] "i"(HK_ROOM_MASK) : "cc" : full)
/* Gives one room back and counts the pop (a malloc's): an asm operand too,
 * or GCC keeps the bin's address in a register of its own (a lea more on
 * the malloc paths). */
#define HK_ROOM_GIVE(l, bin)                                                                \
	asm("addq %1, %0" : "+m"((l)->room[bin]) : "i"(HK_ROOM_POP) : "cc")
/* The same for hk_malloc, jumping to `due` when the count (the sampler's
 * countdown) goes below 0. */
#define HK_ROOM_GIVE_OR(l, bin, due)                                                       \
	asm goto("addq %[pop], %[room]\n\tjs %l[" #due "]"                                  \
		 : [room] "+m"((l)->room[bin]) : [pop] "i"(HK_ROOM_POP) : "cc" : due)

/* The cache of the slot whose first bin is `bins`. */
static inline hk_cache_t *hk_lane_cache(hk_lane_t *l, size_t bins)
{
	return (hk_cache_t *)&l->word[bins + HK_BIN_WORDS * HK_NCLASS_MAX];
}

enum { HK_LANE_EMPTY = 0, HK_LANE_LIVE, HK_LANE_DEAD };

/* A slab's class from its bin (slow paths: a division by a constant). */
static inline unsigned hk_desc_cls(const hk_desc_t *d)
{
	return d->bin % HK_ROW_WORDS / HK_BIN_WORDS;
}

#endif /* HK_CORE_TYPES_H */
