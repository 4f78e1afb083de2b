/*
 * core/mid.h — the MID backend (core/mid.c, CONFIG_HK_MID): the classes
 * above Tiny up to HK_MID_LAST from multi-unit one-class spans. A pruned
 * backend is never called: callers test CONFIG_HK_MID first.
 */
#ifndef HK_CORE_MID_H
#define HK_CORE_MID_H

#include "core/types.h"

/* MID: the classes above Tiny, multi-unit spans. */
unsigned hk_mid_refill(hk_arena_t *a, unsigned cls, unsigned kind, unsigned tag, void **chain,
		       unsigned want, unsigned most);

#endif /* HK_CORE_MID_H */
