/*
 * core/sizeclass.h — size classes: 16 B steps to 128 B, then 4 classes per
 * power of two (at most 25 % waste), 8 in (256, 1024] (12.5 %), and two
 * steps split in half: 1152 B in (1024, 1280] and 4608 B in (4096, 5120].
 * Owns the mapping size <-> class and the band limits derived from the
 * configuration. No state, no init. Invariant: class_size(class_of(n)) >=
 * n, and every class size is a multiple of 16 (so every small block is
 * 16-byte aligned).
 */
#ifndef HK_CORE_SIZECLASS_H
#define HK_CORE_SIZECLASS_H

#include <stddef.h>
#include <stdint.h>

#include "core/base.h"
#include "hk_config.h"

/* The lookup tables give class * HK_CLASS_SCALE: a lane's bin is that many
 * words (core/types.h HK_BIN_WORDS), so the fast paths index a bin with the
 * entry itself (no shift); 63 * 4 still fits a byte. */
#define HK_CLASS_SCALE 4
/*
 * The tables of one page, at fixed page offsets (hidden: the fast paths read
 * them as one RIP-relative operand). malloc's byte lookup sits at offsets
 * 0x300-0x780, off the first blocks of a unit's pages (a byte load there
 * waited for the program's last store into block 1 of the 16 B class:
 * false store-forwarding dependence on the address's low 12 bits) and off
 * the lane's default row (core/lane.c LANE_AT).
 */
/* Requests up to this many bytes take the byte lookup; the 1152 B class is
 * its last entry, so no class boundary above it is off a 256 B step. */
#define HK_CLASS_TABLE_MAX 1152
struct hk_class_tables {
	uint64_t divm[64];   /* hk_divm of every class size: no division on slow paths */
	uint32_t sizes[64];
	uint8_t table[HK_CLASS_TABLE_MAX + 1]; /* n → class * SCALE */
};
extern HK_HIDDEN const struct hk_class_tables hk_class_tabs;
#define hk_class_divm (hk_class_tabs.divm)
#define hk_class_sizes (hk_class_tabs.sizes)
#define hk_class_table (hk_class_tabs.table)
/* (n + 255) >> 8 → class * SCALE, HK_CLASS_TABLE_MAX < n <= the last
 * class's size (393216: a byte holds class * 4 up to class 63). */
#define HK_CLASS_TABLE2_MAX 393216
extern HK_HIDDEN const uint8_t hk_class_table2[HK_CLASS_TABLE2_MAX / 256 + 1];

/*
 * The classes, in order (HK_CLASS_SIZE_CONST):
 *   0-7    16 B steps to 128 B
 *   8-11   4 per power of two: 160, 192, 224, 256
 *   12-27  8 per power of two in (256, 1024]: 32 B steps, then 64 B
 *   28     1152, the first step above 1 KiB split in half
 *   29-36  4 per power of two: 1280 ... 4096
 *   37     4608, the first step above 4 KiB split in half
 *   38-63  4 per power of two: 5120 ... (262144 is 61)
 * Why 8 in (256, 1024]: blocks there waste 12.5 % at most, not 25 %, so
 * they take fewer lines and pages. random_mixed (16-1039 B) made 1.9x
 * fewer misses of a simulated 1 MiB L2 (cachegrind: 350k -> 192k per 2M
 * iterations; tcmalloc 261k, mimalloc 541k) and jq's peak RSS fell 97.7
 * -> 92.3 MB. The byte lookup serves every size up to 1152, so these cost
 * no instruction. Why the splits: sqlite3's page cache holds 1,032 B and
 * 4,368 B blocks (44.6 MB live at its peak), which 1280 and 5120 B classes
 * (mimalloc's bins too) rounded up by 5.2 MB: its peak RSS fell 59.7 ->
 * 55.7 MB (59.4 -> 53.1 without THP). A byte entry holds class * 4, so 64
 * classes at most: HK_MID_MAX stops at 256 KiB (Kconfig).
 */
#define HK_SPLIT_A 1152u
#define HK_SPLIT_B 4608u

static inline unsigned hk_class_of_big(size_t n)
{
	/* n > 1024: k = floor(log2(n - 1)), 4 steps of 2^(k-2) in
	 * (2^k, 2^(k+1)], then the 8 classes added below 1 KiB and one for
	 * each split below n. */
	unsigned k = 63u - (unsigned)__builtin_clzl(n - 1);
	unsigned j = (unsigned)((n - 1 - ((size_t)1 << k)) >> (k - 2));
	return 8 + (k - 7) * 4 + j + 8 + (n > HK_SPLIT_A) + (n > HK_SPLIT_B);
}

/* Class of a request n < 2^30 (the tables, then the formula above, whose
 * classes have no size in hk_class_sizes). */
static inline unsigned hk_class_of(size_t n)
{
	if (n <= HK_CLASS_TABLE_MAX)
		return hk_class_table[n] / HK_CLASS_SCALE;
	if (n <= HK_CLASS_TABLE2_MAX)
		return hk_class_table2[(n + 255) >> 8] / HK_CLASS_SCALE;
	return hk_class_of_big(n);
}

static inline size_t hk_class_size(unsigned cls)
{
	return hk_class_sizes[cls];
}

/* Size of class c as a constant expression (tables, band limits), by the
 * list above. */
#define HK_CLASS_SIZE_CONST(c)                                                      \
	((c) <= 11   ? HK_CLASS_SIZE4_(c)                                               \
	 : (c) <= 19 ? 256u + 32u * ((c) - 11)                                          \
	 : (c) <= 27 ? 512u + 64u * ((c) - 19)                                          \
	 : (c) == 28 ? HK_SPLIT_A                                                       \
	 : (c) <= 36 ? HK_CLASS_SIZE4_((c) > 9 ? (c) - 9 : 0)                            \
	 : (c) == 37 ? HK_SPLIT_B : HK_CLASS_SIZE4_((c) > 10 ? (c) - 10 : 0))
/* Compile-time class of a constant size (for the band limits and tables). */
#define HK_CLASS_OF_CONST(n)                                                        \
	((n) <= 256    ? HK_CLASS_OF4_(n)                                               \
	 : (n) <= 512  ? 11 + ((size_t)(n) - 256 + 31) / 32                             \
	 : (n) <= 1024 ? 19 + ((size_t)(n) - 512 + 63) / 64                             \
		       : HK_CLASS_OF4_(n) + 8 + ((n) > HK_SPLIT_A) + ((n) > HK_SPLIT_B))
/* 4 classes per power of two above 128 B, none added: size and class. */
#define HK_CLASS_SIZE4_(c) ((c) < 8 ? 16u * ((c) + 1) : HK_CLASS_SIZE_BIG_((c) < 8 ? 8 : (c)))
/* c >= 8 (the clamp above keeps every shift count of the unused branch
 * non-negative, which clang checks too). */
#define HK_CLASS_SIZE_BIG_(c) ((128u << (((c) - 8) / 4)) + (((c) - 8) % 4 + 1) * (32u << (((c) - 8) / 4)))
#define HK_CLASS_OF4_(n)                                                         \
	((n) <= 128 ? ((n) + 15) / 16 - 1                                           \
		    : 8 + (HK_LOG2_ABOVE_128_(n) - 7) * 4 +                          \
			      (unsigned)(((size_t)(n) - 1 -                              \
					  ((size_t)1 << HK_LOG2_ABOVE_128_(n))) >>       \
					 (HK_LOG2_ABOVE_128_(n) - 2)))
/* floor(log2(n - 1)) for n > 128; at least 7 for any n, so the shifts of
 * the branch not taken stay non-negative (clang checks that branch too). */
#define HK_LOG2_ABOVE_128_(n) (63 - __builtin_clzl(((size_t)(n) - 1) | 127))

/* Last class of each band (-1 when the band is off), and the lane classes. */
#define HK_TINY_LAST (CONFIG_HK_TINY ? (int)HK_CLASS_OF_CONST(CONFIG_HK_TINY_MAX + 0) : -1)
#define HK_MID_LAST (CONFIG_HK_MID ? (int)HK_CLASS_OF_CONST(CONFIG_HK_MID_MAX + 0) : HK_TINY_LAST)
#define HK_NLANE (HK_MID_LAST + 1)

/* Largest request served by the lanes (0: none), a constant. */
#define HK_SMALL_MAX ((size_t)(HK_NLANE > 0 ? HK_CLASS_SIZE_CONST(HK_NLANE - 1) : 0))
static inline size_t hk_small_max(void)
{
	return HK_SMALL_MAX;
}

/* Largest request served by POOL (0 when POOL is off). */
#define HK_POOL_MAX ((size_t)(CONFIG_HK_POOL ? CONFIG_HK_POOL_MAX + 0 : 0))

/*
 * Divisibility magic for the interior-pointer check (after Lemire et al.,
 * "Faster remainder by direct computation"): m = floor(2^64 / bsize) + 1, so
 * e = bsize * m mod 2^64 is in [1, bsize] (also for a power of two, where
 * ceil(2^64 / bsize) would give 0). For off = q * bsize + r < 2^32,
 * off * m mod 2^64 = q * e + r * m (no wrap-around): q * e < 2^32 < m for a
 * multiple, at least m otherwise. So off is a multiple iff off * m < m, and
 * the block index q can be compared in the same product (core/region.h
 * hk_desc_set_carved).
 */
#define HK_DIVM_CONST(b) (UINT64_MAX / (b) + 1 + !((b) & ((b) - 1)))
static inline uint64_t hk_divm(size_t bsize)
{
	return HK_DIVM_CONST((uint64_t)bsize);
}

#endif /* HK_CORE_SIZECLASS_H */
