# bench/kv.mk — the key-value server benchmark (examples/kvserver/): the
# same server storing values in hakmem arenas, or in plain malloc under
# glibc, mimalloc and hakmem (LD_PRELOAD). Included by bench/Build.mk's
# `-include $(wildcard bench/*.mk)`; `make bench` runs it, `make bench-kv`
# alone too. Binaries and their rules come from test/kv/Build.mk.
.PHONY: bench-kv
bench-kv: export KV_BIN := $(abspath $(O)/examples/kvserver)
bench-kv: export HAKMEM_SO := $(abspath $(O)/libhakmem.so)
bench-kv: all $(kv-bins)
	@bash tools/deps.sh bench
	@bash bench/kv-bench.sh

bench: bench-kv
