# core/ — the allocator. Backends are listed by configuration, so a pruned
# backend is not compiled at all.
obj-y += core/sizeclass.o core/platform.o core/region.o core/span.o core/slab.o
obj-y += core/large.o core/lane.o core/alloc.o core/arena.o core/purge.o
obj-y += core/init.o core/stats.o
obj-$(CONFIG_HK_TINY) += core/tiny.o
obj-$(CONFIG_HK_MID) += core/mid.o
obj-$(CONFIG_HK_POOL) += core/pool.o
