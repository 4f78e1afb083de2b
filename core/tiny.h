/*
 * core/tiny.h — the Tiny backend (core/tiny.c, CONFIG_HK_TINY): the
 * classes up to HK_TINY_LAST from 64 KiB one-class pages. A pruned backend
 * is never called: callers test CONFIG_HK_TINY first.
 */
#ifndef HK_CORE_TINY_H
#define HK_CORE_TINY_H

#include "core/types.h"

/* Tiny: classes up to HK_TINY_LAST, 64 KiB one-class pages. */
unsigned hk_tiny_refill(hk_arena_t *a, unsigned cls, unsigned kind, unsigned tag, void **chain,
			unsigned want, unsigned most);

#endif /* HK_CORE_TINY_H */
