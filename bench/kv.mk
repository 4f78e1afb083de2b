# bench/kv.mk — the key-value server benchmark (examples/kvserver/): the
# same server storing values in hakmem arenas, or in plain malloc under
# glibc, mimalloc and hakmem (LD_PRELOAD). Included by bench/Build.mk;
# `make bench` runs it first (a prerequisite), `make bench-kv` alone too.
# Binaries and their rules come from test/kv/Build.mk. A hakmem that does
# not build skips this benchmark with a message instead of failing bench.
.PHONY: bench-kv
bench-kv: export KV_BIN := $(abspath $(O)/examples/kvserver)
bench-kv: export HAKMEM_SO := $(abspath $(O)/libhakmem.so)
bench-kv:
	@bash tools/deps.sh bench
	@mkdir -p $(O)/bench
	@if $(MAKE) --no-print-directory all $(kv-bins) >$(O)/bench/kv-build.log 2>&1; then \
	  bash bench/kv-bench.sh; \
	else echo "bench-kv: kvserver did not build (see $(O)/bench/kv-build.log): skipped"; fi

bench: bench-kv
