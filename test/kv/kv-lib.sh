# test/kv/kv-lib.sh — sourced by the kv check and benchmark: starts a
# kvserver on a free loopback port and stops it by its PID. Never leaves a
# server behind (kv_cleanup runs on exit). Needs $KV_BIN.
kv_pid= kv_port= kv_tmp=$(mktemp -d)

kv_cleanup() {
	if [ -n "$kv_pid" ]; then
		kill -KILL "$kv_pid" 2>/dev/null
		wait "$kv_pid" 2>/dev/null
	fi
	kv_pid=
	rm -rf "$kv_tmp"
}
trap kv_cleanup EXIT

# kv_start [env VAR=x ...] BINARY ARGS...: sets kv_pid and kv_port.
kv_start() {
	"$@" -p 0 >"$kv_tmp/out" 2>"$kv_tmp/err" &
	kv_pid=$!
	for _ in $(seq 100); do
		kv_port=$(awk '/^PORT /{print $2}' "$kv_tmp/out")
		[ -n "$kv_port" ] && return 0
		kill -0 "$kv_pid" 2>/dev/null || break
		sleep 0.05
	done
	echo "kvserver did not start: $*"; cat "$kv_tmp/err"
	kill -KILL "$kv_pid" 2>/dev/null
	wait "$kv_pid" 2>/dev/null
	kv_pid=
	return 1
}

# kv_status FIELD: a /proc/PID/status field of the server, in kB.
kv_status() { awk -v f="$1:" '$1 == f {print $2}' "/proc/$kv_pid/status"; }

# kv_cpu: the server's user+system CPU seconds so far.
kv_cpu() {
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' \
		"/proc/$kv_pid/stat"
}

# kv_stop: SIGTERM, wait (SIGKILL after 10 s: a stuck server fails, it
# does not hang the suite); returns the server's exit status.
kv_stop() {
	local rc
	kill -TERM "$kv_pid"
	for _ in $(seq 200); do
		kill -0 "$kv_pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$kv_pid" 2>/dev/null; then
		echo "kvserver $kv_pid did not stop on SIGTERM: killed"
		kill -KILL "$kv_pid"
	fi
	wait "$kv_pid"; rc=$?
	kv_pid=
	return $rc
}
