# bench/ — the benchmark suite (bench/README.md). Benchmarks see only include/.
.PHONY: bench bench-full bench-callgrind
bench: all
	@bash tools/deps.sh bench
	@echo "benchmarks: none yet"

# Benchmarks contributed by other folders (bench/kv.mk: the key-value server).
-include $(wildcard bench/*.mk)
