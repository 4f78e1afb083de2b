#!/usr/bin/env bash
# tools/bench-smoke.sh — the benchmarks as a correctness suite (make test's
# once-suite bench-smoke): each benchmark binary with tiny arguments, under
# glibc and under LD_PRELOAD=libhakmem.so, must exit 0 with check=ok. No
# timing is judged. Appends "PASS|FAIL label/name" lines like run-tests.sh.
# Usage: tools/bench-smoke.sh RESULTS LABEL BENCH_BIN_DIR LIBHAKMEM_SO
set -u
results=$1 label=$2 bin=$3 so=$4

# name and tiny arguments: seconds in all, even under a slow allocator
smokes=(
	"random_mixed 200000 8192 1234567 16 1039"
	"random_mixed 200000 400 7 1 5000"
	"pairs 64 100000" "pairs 40000 10000" "pairs 1048576 200"
	"batch 5000 2 3 16 4096" "batch 5000 0 3 1 300000"
	"mt_mixed 3 100000 1024 16 1039"
	"prodcons 2 50000 16 2048"
	"larson 3 4 5000 500 16 8192"
	"cache_scratch 3 50 1000 8"
	"realloc_grow 8 300000 1"
	"frag 4000 2 0"
	"thread_churn 30 3 50"
	"large 4 1 8 2"
	"numa 4 2 1"
	"arena_pairs 64 10000 0" "arena_pairs 1024 2000 4"
	"request_malloc 64 16 4096 20000" "request_obstack 64 16 4096 20000"
	"request_apr 64 16 4096 20000" "request_talloc 64 16 4096 20000"
	"request_mi 64 16 4096 20000" "request_hk 64 16 4096 20000" "request_hk 1024 16 256 20000"
	"request_hk 64 16 4096 20000 400 bump"
)
# A library without malloc would only rerun glibc: that is a failure, not fewer tests.
hk=0
if [ -f "$so" ] && nm -D --defined-only "$so" 2>/dev/null | grep -qE ' [TWi] malloc$'; then hk=1; fi
if [ $hk = 0 ]; then
	echo "FAIL $label/libhakmem: $so exports no malloc" >>"$results"
	echo "---- FAIL $label/libhakmem: $so exports no malloc: the @hakmem runs are not run"
fi
for s in "${smokes[@]}"; do
	set -- $s
	prog=$1
	[ -x "$bin/$prog" ] || { echo "FAIL $label/$prog(not built)" >>"$results"; echo "---- FAIL $label/$prog: $bin/$prog missing"; continue; }
	for alloc in glibc hakmem; do
		pre=
		if [ $alloc = hakmem ]; then
			[ $hk = 1 ] || continue
			pre=$so
		fi
		name="$label/${s// /_}@$alloc"
		out=$(LD_PRELOAD=$pre timeout 60 "$bin/$@" 2>&1)
		rc=$?
		if [ $rc -eq 0 ] && grep -q '^RESULT .*check=ok' <<<"$out"; then
			echo "PASS $name" >>"$results"; echo "  ok    $name"
		else
			why="exit $rc"
			[ $rc -eq 124 ] && why="timed out after 60 s"
			echo "FAIL $name: $why" >>"$results"; echo "---- FAIL $name: $why"; tail -n 20 <<<"$out"
		fi
	done
done

# larson's split (ns_per_op_first, ns_per_op_steady, epoch_outside_ns): with one
# worker an epoch is its outside part plus its loop, and the epochs tile the run, so
# the parts must add up to the run's secs on any load (within 5 us: the printed
# digits round by under 1 us in all).
name="$label/larson_split@glibc"
out=$(timeout 60 "$bin/larson" 1 4 20000 100 16 64 2>&1)
if awk '/^RESULT/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
	n = 20000; e = 4; ok = ("ns_per_op_first" in v) && ("ns_per_op_steady" in v) && ("epoch_outside_ns" in v)
	sum = (v["ns_per_op_first"] * (n / 10) + v["ns_per_op_steady"] * (n - n / 10) + v["epoch_outside_ns"]) * e / 1e9
	d = sum - v["secs"]; if (d < 0) d = -d
	exit !(ok && v["ns_per_op_steady"] > 0 && v["ns_per_op_first"] > 0 && d <= 5e-6) }
	END { }' <<<"$out" && grep -q '^RESULT' <<<"$out"; then
	echo "PASS $name" >>"$results"; echo "  ok    $name"
else
	echo "FAIL $name: the split does not add up to secs" >>"$results"; echo "---- FAIL $name"; tail -n 5 <<<"$out"
fi
exit 0
