#!/usr/bin/env bash
# test/lua/check-lua.sh — the Lua host of examples/luahost/ (a lua_State per
# hakmem arena). Checks: scripts give the same results on arenas (destroyed,
# reset and reused, dropped by a reset alone) as on Lua's own allocator, and
# tables.lua's totals match the closed sum computed here; with a memory limit
# the runaway scripts, and only they, end with "not enough memory" while the
# host carries on; a limit too small for a state is reported, not a crash;
# every arena counts zero live bytes once its state is gone (the host exits 1
# otherwise). LUAHOST picks the binary (check-sanitize passes its own);
# LUA_CHECK_JOBS (a multiple of 3, default 12) the scripts per case.
set -u
here=$(cd "$(dirname "$0")" && pwd)
host=${LUAHOST:-${HK_O:-$here/../../build}/examples/luahost/luahost}
scripts=$here/../../examples/luahost/scripts
[ -x "$host" ] || { echo "no $host (make build-tests)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# run NAME ARGS...: the job lines, sorted, in $tmp/NAME; fails on a bad exit
# or a summary that is not "0 failed, 0 leaked".
run() {
	local name=$1 rc
	shift
	"$host" "$@" >"$tmp/$name.out" 2>&1
	rc=$?
	grep '^job ' "$tmp/$name.out" | sort -n -k2 >"$tmp/$name"
	[ $rc -eq 0 ] || fail "$name: exit $rc: $(tail -n 3 "$tmp/$name.out")"
	grep -q ' 0 failed, 0 leaked;' "$tmp/$name.out" || fail "$name: $(tail -n 1 "$tmp/$name.out")"
}

# tables.lua's total for a job at a scale, from the closed sum (the script sums
# over tables).
tables_total() {
	awk -v job="$1" -v scale="${2:-1}" 'BEGIN { n = 2000 * scale + job % 97; t = 0
		for (r = 1; r <= 6; r++) for (i = 1; i <= n; i++)
			t += i * i + 3 + length(i "") + i % 3 + i % 5 + r + i
		printf "%.0f\n", t }'
}

jobs=${LUA_CHECK_JOBS:-12}
run libc -a libc -t 3 -n $jobs "$scripts/tables.lua" "$scripts/strings.lua"
[ "$(grep -c ': ok: ' "$tmp/libc")" -eq $jobs ] || fail "libc: not every script ran: $(cat "$tmp/libc")"
for ((j = 0; j < jobs; j += 2)); do
	want="job $j tables.lua: ok: $(tables_total $j)"
	grep -qxF "$want" "$tmp/libc" || fail "libc: expected '$want'"
done
for mode in arena reuse drop; do
	run $mode -a $mode -t 4 -n $jobs "$scripts/tables.lua" "$scripts/strings.lua"
	cmp -s "$tmp/libc" "$tmp/$mode" || fail "$mode: results differ from Lua's allocator:
$(diff "$tmp/libc" "$tmp/$mode" | head -n 10)"
done

# A memory limit: every third script runs away and must end with Lua's
# memory error; the others must still give the results Lua's allocator gives
# for the same job ids (strings.lua: a run of it alone; tables.lua: the sum).
# 4 MiB fits the scripts where small blocks share spans; a configuration
# without Tiny and MID (nomid: every block a page-granular POOL span) gets
# 32 MiB and the scripts at scale 0.
limit=4096 scale=1
if grep -qs '^#define CONFIG_HK_TINY 0' "${HK_CONFIG_H:-/dev/null}" &&
	grep -qs '^#define CONFIG_HK_MID 0' "${HK_CONFIG_H:-/dev/null}"; then
	limit=32768 scale=0
fi
run libc-strings -a libc -s $scale -t 2 -n $jobs "$scripts/strings.lua"
for mode in arena reuse drop; do
	run limit-$mode -a $mode -m $limit -s $scale -t 3 -n $jobs "$scripts/tables.lua" "$scripts/strings.lua" \
		"$scripts/runaway.lua"
	grep -q "$((jobs / 3)) memory limit, 0 failed" "$tmp/limit-$mode.out" ||
		fail "limit-$mode: $(tail -n 1 "$tmp/limit-$mode.out")"
	[ "$(wc -l <"$tmp/limit-$mode")" -eq $jobs ] || fail "limit-$mode: not $jobs job lines"
	for ((j = 0; j < jobs; j++)); do
		case $((j % 3)) in
		0) want="job $j tables.lua: ok: $(tables_total $j $scale)" ;;
		1) want=$(grep "^job $j " "$tmp/libc-strings") ;;
		2) want="job $j runaway.lua: memory limit: not enough memory" ;;
		esac
		grep -qxF "$want" "$tmp/limit-$mode" || fail "limit-$mode: expected '$want'"
	done
done

# Too small for a state or its libraries: reported per script, no crash.
run tiny -a arena -m 16 -t 2 -n 4 "$scripts/tables.lua"
[ "$(grep -c ': memory limit: ' "$tmp/tiny")" -eq 4 ] || fail "tiny: $(cat "$tmp/tiny.out")"

[ $fails -eq 0 ] && echo "check-lua: all cases passed ($host)"
exit $((fails != 0))
