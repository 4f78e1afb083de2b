#!/usr/bin/env bash
# test/tools/bench_cpu_table.sh — tools/bench-run.py's real-program table: each CPU
# cell is the allocator's fastest round over the baseline's fastest, bracketed by the
# same with either side's second fastest; the median of paired ratios (round i over
# the baseline's round i) and the old ratio of medians keep rows of their own.
# Synthetic rounds where the three disagree; no program is run. Also checks that
# rounds rotate the order of the allocators.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
python3 - "$root/tools/bench-run.py" <<'PY'
import importlib.util, sys
spec = importlib.util.spec_from_file_location("bench_run", sys.argv[1])
br = importlib.util.module_from_spec(spec)
spec.loader.exec_module(br)

def cell(vals):
    return {"status": "ok", "values": {"cpu_secs": vals}, "rss": [1024.0] * len(vals),
            "median": {"cpu_secs": sorted(vals)[len(vals) // 2]}, "rss_median_kb": 1024.0}

# The baseline slows down over the rounds; x is 10 % slower than it in rounds 1 and 2
# and much faster in round 3: fastest 0.8 / 1.0, bracket 0.8 / 2.0 and 1.1 / 1.0,
# paired median 1.10, ratio of medians 1.1 / 2 = 0.55.
results = {"prog_a": {"mimalloc": cell([1.0, 2.0, 4.0]), "x": cell([1.1, 2.2, 0.8])}}
benches = [br.Bench("prog_a", ["full"], ["cpu_secs"], {"program": ""}, ["a"], "test")]
text = "\n".join(br.program_tables(benches, results, ["mimalloc", "x"], "mimalloc", 3))
want = ["| a | 1 s | 0.80 [0.40–1.10] (0.8 s) |",
        "| **geometric mean** |  | **0.800** [0.400–1.100] |",
        "| median of paired ratios |  | 1.100 |",
        "| ratio of medians |  | 0.550 |"]
for w in want:
    if w not in text:
        sys.exit(f"missing line {w!r} in:\n{text}")

# run_rounds: round r starts with the allocator r-1 places later
order = []
br.bench_env = lambda b, a: {"WHO": a.name}
br.bench_argv = lambda b, a, d: []
br.log = lambda msg: None
allocs = [br.Alloc(n) for n in "ABC"]
cells = {}
for a in allocs:  # a failed cell is skipped: keep them ok so every round runs
    cells[a.name] = {"status": "ok", "values": {}, "rss": []}
br.run_once = lambda argv, env, timeout, wrap=None: (order.append(env["WHO"]), {"status": "ok", "kv": {
    "cpu_secs": "1", "check": "ok"}, "maxrss_kb": 1})[1]
br.host_cpu = lambda: (0.0, 0.0)
br.run_rounds(benches[0], allocs, 3, "/nonexistent", cells, None, {"done": 0, "total": 9, "t0": 0})
if "".join(order) != "ABCBCACAB":
    sys.exit(f"round order {''.join(order)}, want ABCBCACAB")
print("ok")
PY
