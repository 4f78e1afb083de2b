/*
 * core/stats.h — statistics (core/stats.c). hk_trim is public
 * (include/hakmem.h); the counters read are in core/base.h.
 */
#ifndef HK_CORE_STATS_H
#define HK_CORE_STATS_H

#include "core/types.h"

/* hk_stats_get's and hk_stats_print's work once init is done (every
 * caller but core/observe.c runs after init). */
void hk_stats_collect(hk_stats_t *out);
void hk_stats_write(int fd);
/* Live bytes by band over every arena (HK_BAND_*: Tiny and MID slabs with
 * the blocks threads cache, POOL blocks, large mappings). */
void hk_stats_bands(size_t out[HK_BANDS]);

/* HAKMEM_STATS=1: print the statistics at exit (set by init). */
extern int hk_env_stats;

#endif /* HK_CORE_STATS_H */
