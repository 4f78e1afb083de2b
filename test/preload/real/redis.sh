#!/usr/bin/env bash
# test/preload/real/redis.sh — redis-server (Debian's, linked with jemalloc: preloading
# replaces it, and redis calls malloc_usable_size on every allocation and free) under
# LD_PRELOAD=$HAKMEM_SO on 127.0.0.1, driven by redis-benchmark with a bounded request
# count; values read back, INFO memory and MEMORY USAGE answer. Stopped by its PID.
set -u
command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null || { echo "no redis-server/redis-benchmark"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
d=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid"
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null
	fi
	rm -rf "$d"
}
trap cleanup EXIT

port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
run_server() { # run_server [numactl ...]: starts the server in the background, sets pid
	"$@" env LD_PRELOAD="$HAKMEM_SO" redis-server --bind 127.0.0.1 --port "$port" --save '' \
		--appendonly no --daemonize no --dir "$d" --logfile "$d/redis.log" &
	pid=$!
	for _ in $(seq 100); do
		[ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	tail -20 "$d/redis.log"
	fail "redis-server under preload did not answer"
}
cli() { redis-cli -p "$port" "$@"; }

exercise() {
	grep -q "$HAKMEM_SO" "/proc/$pid/maps" || fail "libhakmem.so is not mapped in redis-server"
	redis-benchmark -h 127.0.0.1 -p "$port" -n 20000 -c 20 -P 8 -r 5000 -d 200 -q \
		-t set,get,incr,lpush,rpop,sadd,hset,zadd,lrange_100 >"$d/bench.txt" ||
		fail "redis-benchmark failed: $(tail -5 "$d/bench.txt")"
	grep -q 'requests per second' "$d/bench.txt" || fail "redis-benchmark printed no results"
	# Values of many sizes (redis's sds strings cross every Tiny/MID boundary) read back.
	for n in 1 15 16 17 100 1000 1040 2049 20000 300000 2000000; do
		head -c "$n" /dev/zero | tr '\0' x | cli -x set "k$n" >/dev/null
		[ "$(cli strlen "k$n")" = "$n" ] || fail "strlen k$n"
		[ "$(cli get "k$n" | tr -d '\n' | md5sum)" = "$(head -c "$n" /dev/zero | tr '\0' x | md5sum)" ] ||
			fail "get k$n returned something else"
		cli append "k$n" yz >/dev/null
		[ "$(cli getrange "k$n" -2 -1)" = yz ] || fail "append k$n"
	done
	cli rpush big $(seq 1 2000) >/dev/null
	[ "$(cli llen big)" = 2000 ] || fail "llen"
	[ "$(cli lindex big 1999)" = 2000 ] || fail "lindex"
	used=$(cli info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')
	[ -n "$used" ] && [ "$used" -gt 1000000 ] || fail "INFO memory used_memory=$used"
	usage=$(cli memory usage k300000)
	[ -n "$usage" ] && [ "$usage" -ge 300000 ] || fail "MEMORY USAGE k300000 = $usage"
	cli flushall >/dev/null
	cli debug sleep 0 >/dev/null
	[ "$(cli dbsize)" = 0 ] || fail "flushall"
	echo "used_memory=$used, $(tr '\r' '\n' <"$d/bench.txt" | grep -a -m1 -o 'SET: [0-9.]* requests per second')"
}

stop_server() {
	kill "$pid"
	wait "$pid"
	local rc=$?
	pid=
	[ $rc -eq 0 ] || fail "redis-server exited with status $rc on SIGTERM: $(tail -5 "$d/redis.log")"
}

run_server
exercise
stop_server
if command -v numactl >/dev/null; then
	run_server numactl --localalloc
	exercise
	stop_server
fi
echo "redis: ok"
