# bench/request.mk — the per-request benchmark (bench/request/): K blocks then
# free-all, one binary per way of doing it (request.h), and its own runner
# (tools/bench-request.py: the columns are ways, not preloads). Included by
# bench/Build.mk; `make bench` runs it first, `make bench-request` alone too
# (REQ_ARGS="--rounds 5 --only 'hk|apr'" passes options to the runner).
# The peers' libraries come from tools/deps.sh's bench group. -flto lets the
# driver inline its way's four functions, the same for every way.

REQ_DIR  := bench/request
REQ_SRC  := $(REQ_DIR)/request.c $(REQ_DIR)/request.h bench/bench.h
REQ_CC    = $(CC) $(BENCH_CFLAGS) -flto $(REQ_DIR)/request.c $< -o $@
req-ways := malloc obstack apr talloc mi
req-libs-apr    := $(shell pkg-config --cflags --libs apr-1 2>/dev/null || echo -lapr-1)
req-libs-talloc := -ltalloc
req-libs-mi     := -lmimalloc

bench-bins-y += $(addprefix $(O)/bench/request_,$(req-ways))
bench-hk-y   += $(O)/bench/request_hk

$(O)/bench/request_%: $(REQ_DIR)/request_%.c $(REQ_SRC)
	@mkdir -p $(dir $@)
	@echo "  BENCH   $@"
	@$(REQ_CC) $(req-libs-$*)

$(O)/bench/request_hk: $(REQ_DIR)/request_hk.c $(REQ_SRC) include/hakmem.h $(O)/libhakmem.a
	@mkdir -p $(dir $@)
	@echo "  BENCH   $@"
	@$(REQ_CC) -DBENCH_HK -I include $(O)/libhakmem.a $(LDLIBS)

# make test's bench-smoke runs the hakmem way too (libhakmem.a is built by then).
bench-smoke: $(O)/bench/request_hk

.PHONY: bench-request
REQ_SET  ?= default
REQ_ARGS ?=
bench-request:
	@bash tools/deps.sh bench
	@mkdir -p $(O)/bench
	@$(MAKE) --no-print-directory all >$(O)/bench/request-build.log 2>&1 && \
	  $(MAKE) --no-print-directory $(O)/bench/request_hk >>$(O)/bench/request-build.log 2>&1 || \
	  echo "bench-request: hakmem did not build (see $(O)/bench/request-build.log): its columns are absent"
	@$(MAKE) --no-print-directory $(addprefix $(O)/bench/request_,$(req-ways))
	@$(BENCH_PY) tools/bench-request.py --O $(O) --set $(REQ_SET) $(REQ_ARGS)

# make bench-full runs it with more rows (K = 16, 256) and 5 rounds.
bench: bench-request
bench-full: REQ_SET := full
bench-full: bench-request
