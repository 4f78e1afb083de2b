#!/usr/bin/env bash
# test/tools/bench_lucky_round.sh — tools/bench-run.py's row table names a row whose
# cell one lucky round decides (the fastest-round ratio and the median of paired
# ratios more than 5 % apart) and stays quiet when the two agree. Synthetic rounds
# shaped like pairs_16's of 2026-12-05 (the baseline's one fast run); nothing is run.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
python3 - "$root/tools/bench-run.py" <<'PY'
import importlib.util, sys
spec = importlib.util.spec_from_file_location("bench_run", sys.argv[1])
br = importlib.util.module_from_spec(spec)
spec.loader.exec_module(br)

def cell(vals):
    return {"status": "ok", "values": {"ops_per_s": vals}, "rss": [1024.0] * len(vals),
            "median": {"ops_per_s": sorted(vals)[len(vals) // 2]}, "rss_median_kb": 1024.0,
            "sched": "fifo"}

# lucky: the baseline's round 3 is 306 against 255-260 otherwise; x leads every other
# round by 7-8 %: fastest 280 / 306 = 0.92, paired median 1.08. steady: x leads by
# 2 % in every round, fastest and paired agree.
results = {"lucky": {"mimalloc": cell([259.0, 255.0, 306.0, 260.0, 257.0]),
                     "x": cell([279.0, 275.0, 280.0, 280.0, 277.0])},
           "steady": {"mimalloc": cell([100.0, 90.0, 95.0]), "x": cell([102.0, 91.8, 96.9])}}
benches = [br.Bench(n, ["default"], ["ops_per_s"], {}, ["a"], "test") for n in results]
text = "\n".join(br.speed_tables(benches, results, ["mimalloc", "x"], "mimalloc", 3))
line = [l for l in text.splitlines() if l.startswith("**Decided by one round**")]
if len(line) != 1 or "lucky x 0.92 (paired 1.08)" not in line[0] or "steady" in line[0]:
    sys.exit(f"want one line naming 'lucky x 0.92 (paired 1.08)' and not steady, in:\n{text}")
del results["lucky"]
text = "\n".join(br.speed_tables(benches[1:], results, ["mimalloc", "x"], "mimalloc", 3))
if "Decided by one round" in text:
    sys.exit(f"a row whose two readings agree was named:\n{text}")
print("ok")
PY
