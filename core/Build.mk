# core/ — the allocator. Backends are listed by configuration, so a pruned
# backend is not compiled at all.
obj-y += core/base.o core/sizeclass.o core/platform.o core/region.o core/span.o core/slab.o core/owner.o
obj-y += core/large.o core/lane.o core/alloc.o core/arena_table.o core/arena.o core/arena_alloc.o core/arena_bump.o core/purge.o
obj-y += core/init.o core/observe.o core/stats.o core/validate.o core/sample.o core/guard.o core/profile.o core/stack.o core/statlog.o
# The profiler dlopens libgcc_s on its first sample (core/stack.c): nothing to link.
obj-$(CONFIG_HK_TINY) += core/tiny.o
obj-$(CONFIG_HK_MID) += core/mid.o
obj-$(CONFIG_HK_POOL) += core/pool.o

# The LD_PRELOAD shim: only in libhakmem.so (libhakmem.a leaves libc's names alone).
preload-y += core/preload.o core/preload_cxx.o

# The C++ operators throw std::bad_alloc, so this file needs exceptions (the
# generic %.cc rule turns them off). Its C++ runtime references are then made
# weak, so libhakmem.so needs no libstdc++: a C program under LD_PRELOAD does
# not load it, a C++ program binds them to its own libstdc++.
# (A pattern rule, so it never becomes the default goal; its shorter stem wins.)
$(O)/core/%_cxx.o: core/%_cxx.cc $(GEN)
	@mkdir -p $(dir $@)
	@echo "  CXX     $<"
	@$(CXX) $(CPPFLAGS) $(filter-out -std=gnu11 -Wstrict-prototypes,$(CFLAGS)) -std=gnu++17 -fexceptions -c $< -o $@
	@objcopy --weaken $@
