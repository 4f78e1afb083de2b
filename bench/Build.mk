# bench/ — the benchmark suite (bench/README.md). Benchmarks see only include/.
#
# make bench             default set (a few minutes on 2 cores), every allocator found
# make bench-full        every benchmark, more rounds
# make bench-callgrind   callgrind instructions per operation (random mixed, pairs)
# BENCH_ARGS="--strace --rounds 5 --only 'pairs' --alloc glibc,hakmem"  passes options
# to tools/bench-run.py. A failed libhakmem build is not fatal: hakmem is reported
# absent. Optional fragments bench/*.mk (bench/os.mk, bench/kv*.mk) add binaries to
# bench-bins-y and benchmarks in bench/*.suite files (format: bench/suite.txt).

BENCH_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -D_GNU_SOURCE -pthread
ifeq ($(WERROR),1)
BENCH_CFLAGS += -Werror
endif
BENCH_PY   ?= $(KPY)
BENCH_ARGS ?=

bench-progs  := random_mixed pairs batch mt_mixed prodcons larson cache_scratch \
		realloc_grow frag thread_churn large numa arena_pairs
bench-bins-y := $(addprefix $(O)/bench/,$(bench-progs)) $(O)/bench/libideal.so
# Also built against libhakmem.a (hk_malloc/hk_free, no preload): the "hakmem-linked" column.
bench-hk-y   := $(O)/bench/random_mixed_hk $(O)/bench/pairs_hk $(O)/bench/arena_pairs_hk

-include $(filter-out bench/Build.mk,$(wildcard bench/*.mk))

$(O)/bench/%: bench/%.c bench/bench.h bench/bench_threads.h
	@mkdir -p $(dir $@)
	@echo "  BENCH   $@"
	@$(CC) $(BENCH_CFLAGS) $< -o $@

# The "ideal" column of make bench-callgrind (a per-class LIFO, not a real allocator).
# -fno-builtin: gcc would turn calloc's malloc+memset back into a call to calloc.
$(O)/bench/libideal.so: bench/ideal_lifo.c
	@mkdir -p $(dir $@)
	@echo "  BENCH   $@"
	@$(CC) $(BENCH_CFLAGS) -fno-builtin -fPIC -shared -fvisibility=hidden -ftls-model=initial-exec $< -o $@

$(O)/bench/%_hk: bench/%.c bench/bench.h include/hakmem.h $(O)/libhakmem.a
	@mkdir -p $(dir $@)
	@echo "  BENCH   $@"
	@$(CC) $(BENCH_CFLAGS) -DBENCH_HK -I include $< -o $@ $(O)/libhakmem.a $(LDLIBS)

.PHONY: bench bench-full bench-callgrind bench-bins bench-hk-bins bench-smoke
bench-bins: $(bench-bins-y)
bench-hk-bins: $(bench-hk-y)

# deps first; then hakmem (allowed to fail: its columns are then reported absent),
# the benchmarks, the linked variants (also allowed to fail), and the runner.
define bench-run
	@bash tools/deps.sh bench
	@mkdir -p $(O)/bench
	@hk=1; lk=1; \
	if ! $(MAKE) --no-print-directory all >$(O)/bench/hakmem-build.log 2>&1; then hk=0; lk=0; \
	  echo "bench: libhakmem did not build (see $(O)/bench/hakmem-build.log): hakmem is reported absent"; \
	elif ! $(MAKE) --no-print-directory bench-hk-bins >>$(O)/bench/hakmem-build.log 2>&1; then lk=0; \
	  echo "bench: the hakmem-linked binaries did not build (see $(O)/bench/hakmem-build.log)"; fi; \
	$(MAKE) --no-print-directory bench-bins || exit 1; \
	HK_BENCH_HAKMEM=$$hk HK_BENCH_LINKED=$$lk $(BENCH_PY) tools/bench-run.py --O $(O) $(1) $(BENCH_ARGS)
endef

bench:
	$(call bench-run,--set default)
bench-full:
	$(call bench-run,--set full)
bench-callgrind:
	$(call bench-run,--set callgrind)

# Correctness only, never timing: every benchmark with tiny arguments, under
# glibc and under LD_PRELOAD=libhakmem.so, must pass its own self-check.
once-suites-y += bench-smoke
bench-smoke: all $(bench-bins-y)
	@bash tools/bench-smoke.sh $(HK_TEST_RESULTS) $(LABEL) $(O)/bench $(abspath $(O)/libhakmem.so)
