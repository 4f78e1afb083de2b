#!/usr/bin/env bash
# tools/stats-plot.sh — charts a HAKMEM_STATS_INTERVAL log (core/statlog.c)
# as memory over time with gnuplot (a bench dependency, tools/deps.sh bench).
#
# Usage: tools/stats-plot.sh STATS.log [OUT.png]   (default: STATS.log.png)
# Columns: ms live committed rss purged large guarded profiled; the chart
# shows live, committed, RSS, large mappings (MiB) and purged bytes so far.
set -euo pipefail
in=${1:?usage: $0 STATS.log [OUT.png]}
out=${2:-$in.png}
command -v gnuplot >/dev/null || { echo "gnuplot is not installed (apt-get install gnuplot-nox)" >&2; exit 1; }
grep -qv '^#' "$in" || { echo "$in: no samples" >&2; exit 1; }
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
     "" using (\$1/1000.0):(mib(\$6)) with lines title "large mappings", \
     "" using (\$1/1000.0):(mib(\$5)) with lines dt 2 title "purged (total)"
GP
echo "$out"
