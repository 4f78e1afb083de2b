#!/usr/bin/env bash
# test/preload/statlog.sh — statistics over time: HAKMEM_STATS_INTERVAL=20 on a
# program that keeps 40 MiB by steps writes a header and lines whose time
# grows and whose live and RSS columns reach the 40 MiB (a forked child runs
# meanwhile: it has no logging thread); tools/stats-plot.sh makes a PNG.
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
if os.fork() == 0:
    time.sleep(0.1)
    os._exit(0)
os.wait()
time.sleep(0.1)' || fail "python3 exited $?"
[ "$(grep -c '^# hakmem stats: ms live committed rss purged large guarded profiled$' "$log")" -eq 1 ] ||
	fail "want one header: $(head -n 3 "$log")"
n=$(grep -vc '^#' "$log")
[ "$n" -ge 5 ] || fail "only $n lines: $(cat "$log")"
awk '!/^#/ { if (NF != 8) { print "bad line: " $0; exit 1 } if ($1 < t) { print "time goes back: " $0; exit 1 }
	t = $1; if ($2 > live) live = $2; if ($4 > rss) rss = $4 }
	END { if (live < 40 * 1048576 || rss < 40 * 1048576) { print "max live " live ", rss " rss; exit 1 } }' "$log" ||
	fail "columns: $(tail -n 3 "$log")"
if command -v gnuplot >/dev/null; then
	bash "$(dirname "$0")/../../tools/stats-plot.sh" "$log" "$dir/stats.png" >/dev/null || fail "stats-plot.sh failed"
	[ -s "$dir/stats.png" ] || fail "no PNG"
fi
echo "statlog: $n lines, ok"
