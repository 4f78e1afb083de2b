# bench/ — the benchmark suite (bench/README.md). Benchmarks see only include/.
.PHONY: bench bench-full bench-callgrind
bench: all
	@bash tools/deps.sh bench
	@echo "benchmarks: none yet"
-include $(filter-out bench/Build.mk,$(wildcard bench/*.mk))
