#!/usr/bin/env bash
# tools/run-tests.sh — runs test programs and counts each test once.
#
# Usage: tools/run-tests.sh RESULTS_FILE LABEL TEST...
# A TEST is a Criterion binary (each of its tests counted from the TAP report it
# writes through CRITERION_OUTPUTS: "ok", "not ok" or "ok ... # SKIP reason") or
# any other executable / shell script (one test: exit status 0 passes, 77 skips
# with its last output line as the reason). Every TEST runs under `timeout`
# ($HK_TEST_TIMEOUT seconds, 1200 by default): a hung test fails, it does not hang
# the suite. The bound is for hangs, not slowness: the slowest, the TSan
# test_api_threads, takes 92 s of CPU and took 8.5 minutes at a load of 20 on 2 cores. Appends "PASS|FAIL|SKIP label/name[: reason]" lines to RESULTS_FILE
# and prints each failure's output and each skip's reason.
set -u
results=$1 label=$2
shift 2
limit=${HK_TEST_TIMEOUT:-1200}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# note KIND NAME [REASON]: one result line, also on the terminal unless a pass.
note() {
	echo "$1 $2${3:+: $3}" >>"$results"
	case $1 in
	SKIP) echo "  skip  $2: $3" ;;
	FAIL) echo "---- FAIL $2${3:+: $3}" ;;
	esac
}

# count_tap TAP NAME RC: the results of one Criterion binary; returns 1 on a failure.
count_tap() {
	local tap=$1 name=$2 rc=$3 plan seen=0 bad=0 pass=0 skip=0 line t
	plan=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$tap" | head -n 1)
	while IFS= read -r line; do
		case $line in
		"not ok - "*) t=${line#not ok - }; note FAIL "$name/${t%% *}"; bad=1 ;;
		"ok - "*"# SKIP"*) t=${line#ok - }; note SKIP "$name/${t%% *}" "${line#*# SKIP }"; skip=$((skip + 1)) ;;
		"ok - "*) t=${line#ok - }; echo "PASS $name/${t%% *}" >>"$results"; pass=$((pass + 1)) ;;
		*) continue ;;
		esac
		seen=$((seen + 1))
	done <"$tap"
	if [ "$seen" -ne "${plan:-0}" ] || [ "$seen" -eq 0 ]; then
		note FAIL "$name" "$seen of ${plan:-?} tests reported (exit $rc)"; bad=1
	elif [ "$rc" -ne 0 ] && [ $bad -eq 0 ]; then
		note FAIL "$name" "exit $rc with no failed test"; bad=1
	fi
	[ $bad -eq 0 ] && echo "  ok    $name ($pass tests, $skip skipped, $secs s)"
	return $bad
}

for t in "$@"; do
	name=$label/$(basename "$t")
	log=$tmp/log tap=$tmp/tap
	rm -f "$tap"
	case $t in
	*.sh) cmd=(bash "$t") ;;
	*) cmd=(env CRITERION_OUTPUTS="tap:$tap" "$t") ;;
	esac
	start=$(date +%s)
	timeout --verbose -k 10 "$limit" "${cmd[@]}" </dev/null >"$log" 2>&1
	rc=$? secs=$(( $(date +%s) - start ))
	if grep -q '^timeout: sending signal' "$log"; then
		note FAIL "$name" "timed out after $limit s (tools/run-tests.sh, HK_TEST_TIMEOUT)"
	elif [ -s "$tap" ]; then
		count_tap "$tap" "$name" $rc && continue
	elif [ $rc -eq 0 ]; then
		echo "PASS $name" >>"$results"; echo "  ok    $name ($secs s)"
		continue
	elif [ $rc -eq 77 ]; then
		note SKIP "$name" "$(tail -n 1 "$log")"
		continue
	else
		note FAIL "$name" "exit $rc"
	fi
	grep -a -v '^\[----\] *$' "$log" | tail -n 40
done
exit 0
