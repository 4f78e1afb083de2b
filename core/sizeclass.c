/*
 * core/sizeclass.c — the size-class tables, written out by the compiler from
 * the formulas of core/sizeclass.h (read-only, no init). Owns hk_class_tabs
 * (hk_class_table, hk_class_sizes, hk_class_divm) and hk_class_table2.
 * Invariant: hk_class_table[n] is HK_CLASS_SCALE times the smallest class
 * whose size is >= n, for n <= HK_CLASS_TABLE_MAX (1152), and
 * hk_class_table2[(n + 255) >> 8] for 1152 < n <= 393216 (every class
 * boundary above 1152 is a multiple of 256, so entry i serves
 * (256(i-1), 256 i]);
 * test/unit/test_core.c checks both against the formula.
 */
#include <stddef.h>

#include "core/sizeclass.h"

/* Entry i of a table of step S is the class of S * i (entry 0: class 0),
 * times HK_CLASS_SCALE. */
#define ENTRY(S, i) ((i) ? (uint8_t)(HK_CLASS_OF_CONST((size_t)(S) * (i)) * HK_CLASS_SCALE) : 0)
#define R4(S, i) ENTRY(S, i), ENTRY(S, (i) + 1), ENTRY(S, (i) + 2), ENTRY(S, (i) + 3)
#define R16(S, i) R4(S, i), R4(S, (i) + 4), R4(S, (i) + 8), R4(S, (i) + 12)
#define R64(S, i) R16(S, i), R16(S, (i) + 16), R16(S, (i) + 32), R16(S, (i) + 48)
#define R256(S, i) R64(S, i), R64(S, (i) + 64), R64(S, (i) + 128), R64(S, (i) + 192)
#define R1024(S, i) R256(S, i), R256(S, (i) + 256), R256(S, (i) + 512), R256(S, (i) + 768)

const uint8_t hk_class_table2[HK_CLASS_TABLE2_MAX / 256 + 1] = {
	R1024(256, 0), R256(256, 1024), R256(256, 1280), ENTRY(256, 1536),
};
_Static_assert(HK_CLASS_SIZE_CONST(63) == HK_CLASS_TABLE2_MAX, "table2 ends at the last class");

#define SIZE4(c) HK_CLASS_SIZE_CONST(c), HK_CLASS_SIZE_CONST((c) + 1), \
		 HK_CLASS_SIZE_CONST((c) + 2), HK_CLASS_SIZE_CONST((c) + 3)
#define SIZE16(c) SIZE4(c), SIZE4((c) + 4), SIZE4((c) + 8), SIZE4((c) + 12)

#define DIVM(c) HK_DIVM_CONST((uint64_t)HK_CLASS_SIZE_CONST(c))
#define DIVM4(c) DIVM(c), DIVM((c) + 1), DIVM((c) + 2), DIVM((c) + 3)
#define DIVM16(c) DIVM4(c), DIVM4((c) + 4), DIVM4((c) + 8), DIVM4((c) + 12)

_Static_assert(offsetof(struct hk_class_tables, table) == 0x300, "the byte lookup's page offset");
_Static_assert(HK_CLASS_TABLE_MAX == HK_SPLIT_A && HK_SPLIT_B % 256 == 0,
	       "hk_class_table2's 256 B steps meet every class boundary above the byte lookup");
_Static_assert(HK_CLASS_OF4_(256) == 11 && HK_CLASS_OF_CONST(1024) == 27 &&
		       HK_CLASS_OF_CONST(HK_SPLIT_A) == 28 && HK_CLASS_OF_CONST(4096) == 36 &&
		       HK_CLASS_OF_CONST(HK_SPLIT_B) == 37 && HK_CLASS_OF_CONST(262144) == 61,
	       "the class numbers of core/sizeclass.h's list");

/* hk_class_table: one entry per byte, not per 16: the malloc fast path
 * indexes it with the request itself, no add and shift (2 instructions;
 * 1152 B of table, as mimalloc's array of pages by word size). Up to 1152,
 * not 1024, so the split class (1024, 1152] costs no finer second table. */
const struct hk_class_tables hk_class_tabs __attribute__((aligned(4096))) = {
	.divm = { DIVM16(0), DIVM16(16), DIVM16(32), DIVM16(48) },
	.sizes = { SIZE16(0), SIZE16(16), SIZE16(32), SIZE16(48) },
	.table = { R1024(1, 0), R64(1, 1024), R64(1, 1088), ENTRY(1, 1152) },
};
