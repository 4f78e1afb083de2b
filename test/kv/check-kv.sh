#!/usr/bin/env bash
# test/kv/check-kv.sh — the key-value server embedding hakmem arenas, end to
# end on 127.0.0.1: for each case, start kvserver on a free port, run kvload
# (bounded request count; it reads back and checks every value), stop the
# server by its PID and require a clean exit. Cases: arenas with reconnects
# (workers free each other's blocks), arenas with a 4 MiB budget per worker
# (SETs refused, nothing corrupted) and a scratch reset after every request,
# the same server on plain malloc.
set -u
: "${KV_BIN:?KV_BIN (the built examples/kvserver folder) is not set}"
. "$(dirname "$0")/kv-lib.sh"

fails=0
run_case() { # run_case NAME "SERVER ARGS" "LOAD ARGS" [EXPECT-OOM]
	local name=$1 srv=$2 load=$3 oom=${4:-0} out rc
	# shellcheck disable=SC2086
	kv_start $srv || { fails=$((fails + 1)); return; }
	# shellcheck disable=SC2086
	out=$(timeout 60 "$KV_BIN/kvload" -p "$kv_port" $load 2>&1); rc=$?
	echo "$name: $(grep -E '^kvload: [0-9]+ requests|rss_kb' <<<"$out" | tr '\n' ' ')"
	if ! kv_stop; then
		echo "$name: server exited badly"; cat "$kv_tmp/err"; rc=1
	fi
	if [ "$oom" = 1 ] && ! grep -q '[1-9][0-9]* SETs refused' <<<"$out"; then
		echo "$name: expected SETs refused by the arena budget"; rc=1
	fi
	[ $rc -eq 0 ] || { echo "$name: FAILED"; echo "$out" | tail -n 20; fails=$((fails + 1)); }
}

run_case arena "$KV_BIN/kvserver -w 3" "-t 4 -n 5000 -k 500 -s 32:4096 -r 200 -v"
run_case arena-budget "$KV_BIN/kvserver -w 2 -c 4 -R 0" "-t 2 -n 3000 -k 3000 -s 1000:8000 -r 100" 1
run_case malloc "$KV_BIN/kvserver-malloc -w 3" "-t 4 -n 3000 -k 500 -s 32:4096 -r 200"
exit $((fails != 0))
