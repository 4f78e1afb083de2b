#!/usr/bin/env bash
# tools/test-all.sh — what `make test` runs: the layer rules, the Kconfig
# round trip, the whole suite once per configs/*defconfig (each in its own
# build directory), then the suites that run once (sanitizers, fuzzing,
# real programs under LD_PRELOAD, the two-node NUMA guest). Ends with one
# line, "N passed, N failed", and exits non-zero on any failure.
set -u
cd "$(dirname "$0")/.."
top=$PWD
results=$top/build/test-results.txt
mkdir -p build
: >"$results"
jobs=${JOBS:-$(nproc)}
export HK_TEST_RESULTS=$results

stage() { printf '\n== %s\n' "$*"; }
record() { # record NAME COMMAND...: one test from a command's exit status
	local name=$1; shift
	if "$@" >build/record.log 2>&1; then
		echo "PASS $name" >>"$results"; echo "  ok    $name"
	else
		echo "FAIL $name" >>"$results"; echo "---- FAIL $name"; tail -n 40 build/record.log
	fi
}

stage "layer rules (DESIGN §2)"
record layers bash tools/check-layers.sh

stage "Kconfig"
record kconfig bash test/kconfig/test-kconfig.sh

for cfg in configs/*defconfig; do
	name=$(basename "$cfg")
	dir=build/test/${name%_defconfig}
	stage "$name → $dir"
	if make -s O="$dir" "$name" >/dev/null && make -s -j"$jobs" O="$dir" WERROR=1 build-tests; then
		make -s O="$dir" check-run LABEL="${name%_defconfig}"
	else
		echo "FAIL build/$name" >>"$results"; echo "---- FAIL: $name does not build"
	fi
done

# Once, on the default configuration: the suites too slow for every config.
dir=build/test/defconfig
for suite in $(make -s O="$dir" list-once-suites); do
	stage "$suite"
	make -s -j"$jobs" O="$dir" "$suite" LABEL="$suite"
done

pass=$(grep -c '^PASS' "$results")
fail=$(grep -c '^FAIL' "$results")
skip=$(grep -c '^SKIP' "$results")
if [ "$fail" -ne 0 ]; then
	stage "failures"
	grep '^FAIL' "$results"
fi
echo
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
