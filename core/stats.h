/*
 * core/stats.h — statistics (core/stats.c): hk_stats_get, hk_stats_print,
 * hk_arena_stats and hk_trim are public (include/hakmem.h); the counters
 * they read are in core/base.h. This header holds the one internal knob.
 */
#ifndef HK_CORE_STATS_H
#define HK_CORE_STATS_H


/* HAKMEM_STATS=1: print the statistics at exit (set by init). */
extern int hk_env_stats;

#endif /* HK_CORE_STATS_H */
