/*
 * core/sizeclass.c — the static size-class tables (no init, read-only).
 * Owns hk_class_table and hk_class_sizes; sizeclass.h derives everything
 * else. Invariant: hk_class_table[(n + 15) >> 4] is the smallest class whose
 * size is >= n, for n <= 1024 (checked by test/unit/test_core_sizeclass.c).
 */
#include "core/sizeclass.h"

const uint8_t hk_class_table[65] = {
	0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 8, 9, 9, 10, 10, 11,
	11, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15,
	15, 16, 16, 16, 16, 16, 16, 16, 16, 17, 17, 17, 17, 17, 17, 17,
	17, 18, 18, 18, 18, 18, 18, 18, 18, 19, 19, 19, 19, 19, 19, 19,
	19,
};

const uint32_t hk_class_sizes[64] = {
	16, 32, 48, 64, 80, 96, 112, 128,
	160, 192, 224, 256, 320, 384, 448, 512,
	640, 768, 896, 1024, 1280, 1536, 1792, 2048,
	2560, 3072, 3584, 4096, 5120, 6144, 7168, 8192,
	10240, 12288, 14336, 16384, 20480, 24576, 28672, 32768,
	40960, 49152, 57344, 65536, 81920, 98304, 114688, 131072,
	163840, 196608, 229376, 262144, 327680, 393216, 458752, 524288,
	655360, 786432, 917504, 1048576, 1310720, 1572864, 1835008, 2097152,
};
