# core/ — the allocator. Backends are listed by configuration, so a pruned
# backend is not compiled at all.
obj-y += core/version.o
