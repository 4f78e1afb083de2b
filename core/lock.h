/*
 * core/lock.h — the spin lock of every core structure. Owns nothing else.
 * Held only on slow paths and for short sections; after spinning a while
 * it yields the CPU (2 cores: the holder may be descheduled). fork takes
 * every lock in prepare; parent and child both release them.
 */
#ifndef HK_CORE_LOCK_H
#define HK_CORE_LOCK_H

#include <sched.h>
#include <stdatomic.h>

#include "core/types.h"

static inline void hk_lock(hk_lock_t *l)
{
	for (unsigned spins = 0;; spins++) {
		if (!atomic_load_explicit(&l->v, memory_order_relaxed) &&
		    !atomic_exchange_explicit(&l->v, 1, memory_order_acquire))
			return;
		if (spins > 64)
			sched_yield();
		else
			__builtin_ia32_pause();
	}
}

static inline void hk_unlock(hk_lock_t *l)
{
	atomic_store_explicit(&l->v, 0, memory_order_release);
}

#endif /* HK_CORE_LOCK_H */
