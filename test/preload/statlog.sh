#!/usr/bin/env bash
# test/preload/statlog.sh — statistics over time: HAKMEM_STATS_INTERVAL=20 on a
# program that keeps 40 MiB by steps writes a header and lines whose time
# grows and whose live and RSS columns reach the 40 MiB (a forked child runs
# meanwhile: it has no logging thread); each band's column reaches what the
# program keeps in it (3 MB of 1000-byte blocks: Tiny; 3 MB of 10000-byte
# ones: MID; the 5 MiB blocks: POOL; a 48 MiB one: large), as far as the
# build has the band; tools/stats-plot.sh makes a PNG; an interval that is
# not a number of milliseconds is reported and logs nothing.
set -u
fail() { echo "FAIL: $*"; exit 1; }
grep -q 'define CONFIG_HK_SAMPLE 1' "$HK_CONFIG_H" || { echo "built without CONFIG_HK_SAMPLE"; exit 77; }
PY=/usr/bin/python3
[ -x $PY ] || { echo "no /usr/bin/python3"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
log=$dir/stats.log
HAKMEM_STATS_INTERVAL=20 HAKMEM_STATS_FILE=$log LD_PRELOAD=$HAKMEM_SO $PY -c '
import os, time
keep = []
for i in range(8):
    keep.append(bytearray(5 << 20))
    time.sleep(0.03)
tiny = [bytes(1000 - 33) + i.to_bytes(4, "little") for i in range(3000)]
mid = [bytearray(10000) for i in range(300)]
big = bytearray(48 << 20)
time.sleep(0.1)
if os.fork() == 0:
    time.sleep(0.1)
    os._exit(0)
os.wait()
time.sleep(0.1)' || fail "python3 exited $?"
[ "$(grep -c '^# hakmem stats: ms live committed rss purged large guarded profiled tiny mid pool$' "$log")" -eq 1 ] ||
	fail "want one header: $(head -n 3 "$log")"
n=$(grep -vc '^#' "$log")
[ "$n" -ge 5 ] || fail "only $n lines: $(cat "$log")"
has() { grep -q "define CONFIG_HK_$1 1" "$HK_CONFIG_H" && echo 1 || echo 0; }
awk -v tiny_on="$(has TINY)" -v mid_on="$(has MID)" -v pool_on="$(has POOL)" '
	function max(c) { if ($c > m[c]) m[c] = $c }
	!/^#/ { if (NF != 11) { print "bad line: " $0; exit 1 } if ($1 < t) { print "time goes back: " $0; exit 1 }
	t = $1; for (c = 2; c <= 11; c++) max(c) }
	END { MB = 1048576
	if (m[2] < 40 * MB || m[4] < 40 * MB) { print "max live " m[2] ", rss " m[4]; exit 1 }
	if (m[6] < 48 * MB) { print "large " m[6]; exit 1 }
	if (tiny_on && m[9] < 2.8e6) { print "tiny " m[9]; exit 1 }
	if (mid_on && m[10] < 2.8e6) { print "mid " m[10]; exit 1 }
	if (pool_on && m[11] < 40 * MB) { print "pool " m[11]; exit 1 }
	if (m[9] + m[10] + m[11] + m[6] > 1.5 * m[2] + 8 * MB) { print "bands add up to more than live"; exit 1 } }' "$log" ||
	fail "columns: $(tail -n 3 "$log")"
if command -v gnuplot >/dev/null; then
	bash "$(dirname "$0")/../../tools/stats-plot.sh" "$log" "$dir/stats.png" >/dev/null || fail "stats-plot.sh failed"
	[ -s "$dir/stats.png" ] || fail "no PNG"
fi
# An interval that is not a number of milliseconds is reported and logs
# nothing (atoi read 1s as 1 ms and 4294967297 as 1: a line every ms).
for v in 1s 4294967297 -5; do
	e=$(HAKMEM_STATS_INTERVAL=$v HAKMEM_STATS_FILE=$dir/bad.log LD_PRELOAD=$HAKMEM_SO $PY -c 'print(1)' 2>&1 >/dev/null) ||
		fail "HAKMEM_STATS_INTERVAL=$v: exit $?: $e"
	grep -qF "hakmem: HAKMEM_STATS_INTERVAL=$v: not a number of milliseconds" <<<"$e" ||
		fail "HAKMEM_STATS_INTERVAL=$v was not reported: $e"
	[ ! -s "$dir/bad.log" ] || fail "HAKMEM_STATS_INTERVAL=$v logged: $(head -n 2 "$dir/bad.log")"
done
echo "statlog: $n lines, bad intervals reported, ok"
