/*
 * core/init.h — hk_init (core/init.c): sets the allocator up once, without
 * recursion, and registers the fork handlers. Called by the API files only
 * (everything else runs after init, or tests hk_ready from core/base.h).
 */
#ifndef HK_CORE_INIT_H
#define HK_CORE_INIT_H


/* Makes sure the allocator is initialised. Returns 0, or -1 when the caller
 * is the initialising thread itself (recursion: use the bootstrap area),
 * -2 when init failed. */
int hk_init(void);

#endif /* HK_CORE_INIT_H */
