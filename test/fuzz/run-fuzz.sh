#!/usr/bin/env bash
# test/fuzz/run-fuzz.sh — runs $FUZZ_BIN for $FUZZ_SECONDS with a corpus kept beside it
# (grown across runs), on one core. Exit 0 when no crash was found, 1 otherwise
# (libFuzzer's own default, 77, would read as "skipped" to tools/run-tests.sh).
set -u
dir=$(dirname "$FUZZ_BIN")
mkdir -p "$dir/corpus"
cd "$dir" || exit 1
# A few long random seeds: each is a sequence of ~60 calls from the start, instead of
# libFuzzer growing inputs from a few bytes (a 60 s run would stay at 2-3 calls).
if [ -z "$(ls corpus)" ]; then
	for i in 1 2 3 4 5 6 7 8; do head -c 512 /dev/urandom >"corpus/seed$i"; done
fi
# detect_leaks=0: hakmem's blocks are its own mmap'ed memory, invisible to LeakSanitizer.
ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 "$FUZZ_BIN" -max_total_time="$FUZZ_SECONDS" \
	-max_len=512 -len_control=0 -timeout=30 -error_exitcode=1 -timeout_exitcode=1 -rss_limit_mb=4096 -print_final_stats=1 corpus 2>fuzz.log
rc=$?
grep -E 'fuzz_hakmem:|ERROR|SUMMARY|stat::number_of_executed_units|Done' fuzz.log | tail -n 12
exit $rc
