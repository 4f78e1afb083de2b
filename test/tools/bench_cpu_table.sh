#!/usr/bin/env bash
# test/tools/bench_cpu_table.sh — tools/bench-run.py's real-program table: each CPU
# cell is the allocator's fastest round over the baseline's fastest, bracketed by the
# same with either side's second fastest; the median of paired ratios (round i over
# the baseline's round i) and the old ratio of medians keep rows of their own.
# Synthetic rounds where the three disagree; no program is run. Also checks that
# the order of the allocators in the rounds is balanced.
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

# run_rounds: the order of the rounds is balanced. Over 2n rounds (n odd) or n rounds
# (n even) every allocator runs once in every place, and right after every other one
# equally often (a plain rotation would keep B always right after A).
br.bench_env = lambda b, a: {"WHO": a.name}
br.bench_argv = lambda b, a, d: []
br.log = lambda msg: None
br.host_cpu = lambda: (0.0, 0.0)
for names, rounds in (("ABC", 6), ("ABCD", 4)):
    order = []
    br.run_once = lambda argv, env, timeout, wrap=None, preexec=None: (order.append(env["WHO"]), {"status": "ok", "kv": {
        "cpu_secs": "1", "check": "ok"}, "maxrss_kb": 1})[1]
    allocs = [br.Alloc(n) for n in names]
    cells = {a.name: {"status": "ok", "values": {}, "rss": []} for a in allocs}
    br.run_rounds(benches[0], allocs, rounds, "/nonexistent", cells, None, {"done": 0, "total": 99, "t0": 0})
    n = len(names)
    rows = ["".join(order[i:i + n]) for i in range(0, len(order), n)]
    places = {(x, row.index(x)) for row in rows for x in names}
    follows = [row[i:i + 2] for row in rows for i in range(n - 1)]
    pairs = {p: follows.count(p) for p in {x + y for x in names for y in names if x != y}}
    if len(places) != n * n or len(set(pairs.values())) != 1:
        sys.exit(f"rounds {rows}: places {sorted(places)}, followers {pairs}")
print("ok")
PY
