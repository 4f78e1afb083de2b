#!/usr/bin/env bash
# bench/kv-bench.sh — throughput and server memory of examples/kvserver with
# arenas vs plain malloc (glibc, mimalloc, hakmem preloaded). Rounds are
# interleaved (A B C D A B C D ...) and the median reported, since a
# client/server pair on 2 cores is noisy; the server's CPU time is printed
# too (the steadier figure). "arenas" resets each worker's scratch arena
# every 256 KiB of replies, "arenas-reset1" after every request. Loopback
# only; each server stopped by its PID.
# Knobs: KV_ROUNDS (3), KV_THREADS (4), KV_REQUESTS per thread (30000),
# KV_KEYS per thread (5000), KV_SIZES (32:2048).
set -u
: "${KV_BIN:?KV_BIN is not set (make bench-kv sets it)}"
. "$(dirname "$0")/../test/kv/kv-lib.sh"

rounds=${KV_ROUNDS:-3} threads=${KV_THREADS:-4} requests=${KV_REQUESTS:-30000}
keys=${KV_KEYS:-5000} sizes=${KV_SIZES:-32:2048}
mimalloc=$(ls /usr/lib/x86_64-linux-gnu/libmimalloc.so.2* 2>/dev/null | head -n 1)

names=(arenas arenas-reset1 glibc mimalloc hakmem-preload)
declare -A cmd=(
	[arenas]="$KV_BIN/kvserver"
	[arenas-reset1]="$KV_BIN/kvserver -R 0"
	[glibc]="$KV_BIN/kvserver-malloc"
	[mimalloc]="env LD_PRELOAD=$mimalloc $KV_BIN/kvserver-malloc"
	[hakmem-preload]="env LD_PRELOAD=${HAKMEM_SO:-} $KV_BIN/kvserver-malloc"
)
[ -n "$mimalloc" ] || unset 'cmd[mimalloc]'
[ -f "${HAKMEM_SO:-}" ] || unset 'cmd[hakmem-preload]'
declare -A rps cpu hwm rss

one_round() { # one_round NAME: appends "req/s cpu hwm rss" figures
	local n=$1 out
	# shellcheck disable=SC2086
	kv_start ${cmd[$n]} -w 4 || return 1
	out=$(timeout 300 "$KV_BIN/kvload" -p "$kv_port" -t "$threads" -n "$requests" -k "$keys" -s "$sizes" -r 1000) ||
		{ echo "kv-bench: $n: load generator failed: $out" >&2; kv_stop; return 1; }
	rps[$n]+="$(sed -n 's/.*: \([0-9]*\) req\/s.*/\1/p' <<<"$out") "
	cpu[$n]+="$(kv_cpu) "
	hwm[$n]+="$(kv_status VmHWM) "
	rss[$n]+="$(kv_status VmRSS) "
	kv_stop || echo "kv-bench: $n: server exited badly" >&2
}

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print NR ? a[int((NR+1)/2)] : 0}'; }

for ((r = 0; r < rounds; r++)); do
	for n in "${names[@]}"; do
		[ -n "${cmd[$n]:-}" ] && one_round "$n"
	done
done

echo
echo "kv server: 4 workers; $threads clients x $requests requests (45% SET, 45% GET, 10% DEL),"
echo "$keys keys per client, values $sizes bytes; median of $rounds interleaved rounds"
printf '%-16s %10s %8s %12s %12s %12s\n' allocator "req/s" "vs mi" "server CPU s" "peak RSS MB" "end RSS MB"
base=$(median <<<"${rps[mimalloc]:-}")
for n in "${names[@]}"; do
	[ -n "${rps[$n]:-}" ] || continue
	m=$(median <<<"${rps[$n]}")
	ratio=$(awk -v a="$m" -v b="$base" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
	printf '%-16s %10s %8s %12s %12.1f %12.1f\n' "$n" "$m" "$ratio" "$(median <<<"${cpu[$n]}")" \
		"$(awk -v k="$(median <<<"${hwm[$n]}")" 'BEGIN{print k/1024}')" \
		"$(awk -v k="$(median <<<"${rss[$n]}")" 'BEGIN{print k/1024}')"
done
