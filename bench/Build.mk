# bench/ — the benchmark suite (bench/README.md). Benchmarks see only include/.
.PHONY: bench bench-full bench-callgrind
bench: all
	@bash tools/deps.sh bench
	@echo "benchmarks: none yet"

# Benchmarks contributed by other folders (bench/kv.mk: the key-value server);
# not this file itself, which also matches bench/*.mk.
-include $(filter-out bench/Build.mk,$(wildcard bench/*.mk))
