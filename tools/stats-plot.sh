#!/usr/bin/env bash
# tools/stats-plot.sh — charts a HAKMEM_STATS_INTERVAL log (core/statlog.c)
# as memory over time with gnuplot (a bench dependency, tools/deps.sh bench).
#
# Usage: tools/stats-plot.sh STATS.log [OUT.png]   (default: STATS.log.png)
# Columns: ms live committed rss purged large guarded profiled tiny mid pool
# (the last three since the per-band counters; older logs have 8 columns); the
# chart shows live, committed, RSS, purged bytes so far, and the live bytes of
# each band (Tiny and MID slabs with the blocks threads cache, POOL, large
# mappings) in MiB.
set -euo pipefail
in=${1:?usage: $0 STATS.log [OUT.png]}
out=${2:-$in.png}
command -v gnuplot >/dev/null || { echo "gnuplot is not installed (apt-get install gnuplot-nox)" >&2; exit 1; }
grep -qv '^#' "$in" || { echo "$in: no samples" >&2; exit 1; }
bands=
if awk '!/^#/ { exit NF < 11 }' "$in"; then
	bands=', "" using ($1/1000.0):(mib($9)) with lines dt 3 title "tiny slabs"'
	bands+=', "" using ($1/1000.0):(mib($10)) with lines dt 3 title "MID slabs"'
	bands+=', "" using ($1/1000.0):(mib($11)) with lines dt 3 title "POOL"'
fi
gnuplot <<GP
set terminal pngcairo size 1000,500 noenhanced
set output "$out"
set title "hakmem memory over time: $(basename "$in")"
set xlabel "seconds"
set ylabel "MiB"
set key top left
set grid
mib(x) = x / 1048576.0
plot "$in" using (\$1/1000.0):(mib(\$2)) with lines lw 2 title "live", \
     "" using (\$1/1000.0):(mib(\$3)) with lines lw 2 title "committed", \
     "" using (\$1/1000.0):(mib(\$4)) with lines lw 2 title "RSS", \
     "" using (\$1/1000.0):(mib(\$5)) with lines dt 2 title "purged (total)", \
     "" using (\$1/1000.0):(mib(\$6)) with lines title "large mappings"$bands
GP
echo "$out"
