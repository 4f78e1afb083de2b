#!/usr/bin/env bash
# tools/test-all.sh — what `make test` runs: the layer rules, the Kconfig
# round trip, the whole suite once per configs/*defconfig (each in its own
# build directory), then the suites that run once (sanitizers, fuzzing,
# real programs under LD_PRELOAD, the two-node NUMA guest, install). Every
# test lands as one PASS/FAIL/SKIP line in build/test-results.txt
# (tools/run-tests.sh); a build that fails, or a suite that reports nothing,
# is a FAIL line too. Ends with one line, "N passed, N failed, N skipped",
# and exits non-zero on any failure. HK_TEST_CONFIGS (config files) and
# HK_TEST_ONCE (once-suite names) run a subset instead, e.g. to try this script.
set -u
cd "$(dirname "$0")/.."
results=$PWD/build/test-results.txt
mkdir -p build
: >"$results"
jobs=${JOBS:-$(nproc)}
start=$(date +%s)
export HK_TEST_RESULTS=$results

stage() { printf '\n== %s\n' "$*"; }
pass() { echo "PASS $1" >>"$results"; echo "  ok    $1"; }
fail() { echo "FAIL $1: $2" >>"$results"; echo "---- FAIL $1: $2"; }
lines() { wc -l <"$results"; }

# suite NAME MAKE-ARGS...: runs a make target that records its tests; its build
# failing, or its recording nothing, fails NAME.
suite() {
	local name=$1 before rc
	shift
	before=$(lines)
	make -s "$@"
	rc=$?
	if [ $rc -ne 0 ]; then
		fail "$name" "make $* exited $rc (a build error above)"
	elif [ "$(lines)" -eq "$before" ]; then
		fail "$name" "recorded no test"
	fi
}

stage "layer rules (DESIGN §2), Kconfig"
bash tools/run-tests.sh "$results" top tools/check-layers.sh test/kconfig/test-kconfig.sh

for cfg in ${HK_TEST_CONFIGS:-configs/*defconfig}; do
	name=$(basename "$cfg")
	label=${name%_defconfig}
	dir=build/test/$label
	stage "$name → $dir"
	if ! make -s O="$dir" "$name" >/dev/null; then
		fail "$label/build" "make $name failed"
	elif ! make -s -j"$jobs" O="$dir" WERROR=1 build-tests; then
		fail "$label/build" "does not build with WERROR=1 (errors above)"
	else
		pass "$label/build"
		suite "$label" O="$dir" check-run LABEL="$label"
	fi
done

# Once, on the default configuration: the suites too slow for every config.
dir=build/test/defconfig
once=${HK_TEST_ONCE-$(make -s O="$dir" list-once-suites)}
[ -n "$once" ] || [ -n "${HK_TEST_ONCE+set}" ] || fail once-suites "make list-once-suites named none"
for s in $once; do
	stage "$s"
	suite "$s" -j"$jobs" O="$dir" "$s" LABEL="$s"
done

npass=$(grep -c '^PASS' "$results")
nfail=$(grep -c '^FAIL' "$results")
nskip=$(grep -c '^SKIP' "$results")
stage "skipped"
grep '^SKIP' "$results" || echo "  none"
if [ "$nfail" -ne 0 ]; then
	stage "failures"
	grep '^FAIL' "$results"
fi
echo
echo "make test took $(( $(date +%s) - start )) s; every result is in $results"
echo "$npass passed, $nfail failed, $nskip skipped"
[ "$nfail" -eq 0 ] && [ "$npass" -gt 0 ]
