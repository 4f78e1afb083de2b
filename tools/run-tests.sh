#!/usr/bin/env bash
# tools/run-tests.sh — runs test programs and counts what passed.
#
# Usage: tools/run-tests.sh RESULTS_FILE LABEL TEST...
# A TEST is a Criterion binary (its tests are counted one by one from its
# "Synthesis" line) or any other executable / shell script (one test: exit
# status 0 passes, 77 skips). Appends "PASS|FAIL|SKIP label/name" lines to
# RESULTS_FILE and prints each failure's output.
set -u
results=$1 label=$2
shift 2
for t in "$@"; do
	name=$(basename "$t")
	log=$(mktemp)
	case $t in
	*.sh) bash "$t" >"$log" 2>&1; rc=$? ;;
	*) "$t" >"$log" 2>&1; rc=$? ;;
	esac
	synth=$(grep -a 'Synthesis: Tested:' "$log" | tail -n 1)
	if [ -n "$synth" ]; then
		# [====] Synthesis: Tested: 12 | Passing: 11 | Failing: 1 | Crashing: 0
		pass=$(sed 's/.*Passing: \([0-9]*\).*/\1/' <<<"$synth")
		fail=$(sed 's/.*Failing: \([0-9]*\).*/\1/' <<<"$synth")
		for ((i = 0; i < pass; i++)); do echo "PASS $label/$name#$i"; done >>"$results"
		for ((i = 0; i < fail; i++)); do echo "FAIL $label/$name#$i"; done >>"$results"
		if [ "$fail" -ne 0 ] || [ $rc -ne 0 ]; then
			[ "$fail" -eq 0 ] && echo "FAIL $label/$name(exit $rc)" >>"$results"
			echo "---- FAIL $label/$name"; grep -a -v '^\[----\] *$' "$log" | tail -n 40
		else
			echo "  ok    $label/$name ($pass tests)"
		fi
	elif [ $rc -eq 0 ]; then
		echo "PASS $label/$name" >>"$results"; echo "  ok    $label/$name"
	elif [ $rc -eq 77 ]; then
		echo "SKIP $label/$name" >>"$results"; echo "  skip  $label/$name: $(tail -n 1 "$log")"
	else
		echo "FAIL $label/$name" >>"$results"; echo "---- FAIL $label/$name (exit $rc)"; tail -n 40 "$log"
	fi
	rm -f "$log"
done
exit 0
