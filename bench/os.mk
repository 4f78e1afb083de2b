# bench/os.mk — the OS-layer benchmark (bench/os_bench.c): first-touch cost
# and purge wait per backing. It sees internals, so it links the layer
# objects (os/, hugepage/, numa/) rather than the public library.
# `make bench-os` builds and runs it; OS_BENCH_ARGS="MiB rounds".
OS_BENCH := $(O)/bench/os_bench
OS_BENCH_OBJS := $(filter $(O)/os/% $(O)/hugepage/% $(O)/numa/%,$(OBJS))
OS_BENCH_ARGS ?=

$(OS_BENCH): bench/os_bench.c test/common/hugetlb_pool.h $(OS_BENCH_OBJS)
	@mkdir -p $(dir $@)
	@echo "  BENCH   $@"
	@$(CC) -std=gnu11 -O2 -g -Wall -Wextra -D_GNU_SOURCE $(if $(filter 1,$(WERROR)),-Werror) \
		-I include -I $(O)/include -I . $< $(OS_BENCH_OBJS) -o $@ $(LDLIBS)

.PHONY: bench-os
bench-os: $(OS_BENCH)
	@$(OS_BENCH) $(OS_BENCH_ARGS)
