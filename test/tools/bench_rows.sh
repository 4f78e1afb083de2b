#!/usr/bin/env bash
# test/tools/bench_rows.sh — tools/bench-run.py's rows (make bench's table): each cell is
# the allocator's fastest round over the baseline's fastest (highest rate, lowest time),
# bracketed by the same with either side's second fastest; an A/A column and its spread
# line; single-threaded rows at SCHED_FIFO pinned to one CPU, rows that start threads at
# the normal priority (checked against the benchmarks' sources); a short row gets more
# rounds; a real-time child dies with the runner and past its real-time CPU limit.
# Synthetic rounds and tiny child processes; no benchmark is timed.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
python3 - "$root" <<'PY'
import importlib.util, os, re, signal, subprocess, sys, time
root = sys.argv[1]
spec = importlib.util.spec_from_file_location("bench_run", os.path.join(root, "tools", "bench-run.py"))
br = importlib.util.module_from_spec(spec)
spec.loader.exec_module(br)
bs = br.bench_sched

def cell(metric, vals, sched="fifo"):
    return {"status": "ok", "values": {metric: vals}, "rss": [1024.0] * len(vals), "sched": sched,
            "median": {metric: sorted(vals)[len(vals) // 2]}, "rss_median_kb": 1024.0}

def need(text, lines):
    for w in lines:
        if w not in text:
            sys.exit(f"missing {w!r} in:\n{text}")

# A rate: fastest = highest. x's best 110 over 100 = 1.10; with mimalloc's second (90)
# 1.22, with x's second (99) 0.99. A time (_ns): fastest = lowest, inverted so > 1 is
# better: 10 / 8 = 1.25, bracket 10 / 20 = 0.50 and 12 / 8 = 1.50. The A/A column (the
# baseline under another name): 0.91 [0.83–1.09] on t, and its own line: 1 of 2 rows within 5 %.
results = {
    "r": {"mimalloc": cell("ops_per_s", [100.0, 90.0, 80.0]), "x": cell("ops_per_s", [50.0, 110.0, 99.0]),
          "mimalloc-aa": cell("ops_per_s", [95.0, 100.0, 60.0])},
    "t": {"mimalloc": cell("lat_ns", [10.0, 12.0], "normal"), "x": cell("lat_ns", [20.0, 8.0], "normal"),
          "mimalloc-aa": cell("lat_ns", [12.0, 11.0], "normal")},
}
benches = [br.Bench("r", ["default"], ["ops_per_s"], {}, ["r"], "test"),
           br.Bench("t", ["default"], ["lat_ns"], {"mt": ""}, ["t"], "test")]
text = "\n".join(br.speed_tables(benches, results, ["mimalloc", "x", "mimalloc-aa"], "mimalloc", 2))
need(text, ["| r | 100 | 1.10 [0.99–1.22] (110) | 1.00 [0.95–1.11] (100) | 3 | fifo |",
            "| t | 10 | 1.25 [0.50–1.50] (8) | 0.91 [0.83–1.09] (11) | 2 | normal |",
            "| **geometric mean** |  | **1.173** [0.704–1.354] | **0.953** [0.890–1.101] | | |",
            "1 of 2 rows within 5 % of 1.00", "worst 0.91 (t)",
            "Rows at real-time priority: 1 of 2; at the normal priority: t."])

# A row's env= settings follow the family: the A/A column takes the baseline's.
eb = br.Bench("e", [], ["m"], {"env": "mimalloc:MIMALLOC_X=1;hakmem:HAKMEM_Y=2"}, ["e"], "t")
assert eb.env_for(br.Alloc("mimalloc-aa", family="mimalloc")) == {"MIMALLOC_X": "1"}
assert eb.env_for(br.Alloc("hakmem-linked", linked=True, family="hakmem")) == {"HAKMEM_Y": "2"}
assert eb.env_for(br.Alloc("tcmalloc")) == {}

# The priority: one thread -> real time; mt, T= and real programs -> not.
Bench = br.Bench
assert bs.is_realtime(Bench("a", [], ["m"], {}, ["a"], "t"))
for opts in ({"mt": ""}, {"T": "1..n"}, {"program": ""}, {"linked": "", "mt": ""}):
    assert not bs.is_realtime(Bench("a", [], ["m"], opts, ["a"], "t")), opts

# Every row of the real suites whose benchmark starts threads says so (mt or T=), and
# no single-threaded one is kept off real time.
suites = [os.path.join(root, "bench", f) for f in os.listdir(os.path.join(root, "bench"))
          if f == "suite.txt" or f.endswith(".suite")]
for b in br.parse_suite(suites, 2):
    if b.program:
        continue
    src = [p for p in (os.path.join(root, "bench", b.argv[0] + ".c"),
                       os.path.join(root, "examples", b.argv[0], b.argv[0] + ".c")) if os.path.exists(p)]
    if not src:
        continue
    threads = re.search(r"pthread_create|bench_threads_start", open(src[0]).read()) is not None
    if threads == bs.is_realtime(b):
        sys.exit(f"{b.origin}: {b.name} ({src[0]}) {'starts' if threads else 'starts no'} threads "
                 f"but runs at {'real-time' if bs.is_realtime(b) else 'normal'} priority")

# Rounds: a short row gets rounds up to the time budget and the cap; a long one --rounds.
assert bs.row_rounds(3, 0.05, 1.5, 15) == 15
assert bs.row_rounds(3, 0.2, 1.5, 15) == 8
assert bs.row_rounds(3, 1.2, 1.5, 15) == 3

# The CPU: the fastest now; the previous one stays while within 3 % of it.
if len(os.sched_getaffinity(0)) > 1:
    cpus = sorted(os.sched_getaffinity(0))[:2]
    f = lambda c: {cpus[0]: 1.0, cpus[1]: 0.9}.get(c, 2.0)
    assert bs.pick_cpu(None, f)[0] == cpus[1]
    assert bs.pick_cpu(cpus[0], lambda c: {cpus[0]: 1.0, cpus[1]: 0.98}.get(c, 2.0))[0] == cpus[0]
    assert bs.pick_cpu(cpus[0], f)[0] == cpus[1]

# run_once reports a run's wall time: at least what the child slept (load only adds).
res = br.run_once(["sleep", "0.2"], dict(os.environ), 60)
if not res.get("secs", 0) >= 0.2:
    sys.exit(f"run_once: a 0.2 s sleep took {res.get('secs')} s")

# run_rounds end to end with a child that reports its own policy and CPUs: the
# single-threaded row runs at SCHED_FIFO on one CPU, the mt row normally on all. The
# rounds follow the runs' reported secs, which the spy sets (the real ones grow with the
# machine's load: a 1 s budget over a python child's 0.3 s under load gave 3 rounds,
# not 4): the short row takes the cap; the row where A, run first, took 0.4 s and B
# 0.1 s ceil(1 / 0.4) = 3 rounds (the longest run counts, not the last); the program
# row (sched None) its --rounds.
rt = bs.realtime_allowed()
probe = [sys.executable, "-c", "import os; print('RESULT check=ok ops_per_s=1 pol=%d ncpu=%d' % "
         "(os.sched_getscheduler(0), len(os.sched_getaffinity(0))))"]
br.bench_argv = lambda b, a, d: probe
br.log = lambda msg: None
got = {}
orig = br.run_once
secs = {}  # row -> allocator -> the secs its runs report
def spy(argv, env, timeout, wrap=None, preexec=None):
    res = orig(argv, env, timeout, wrap, preexec)
    got.setdefault(env["WHO"], []).append(res.get("kv"))
    res["secs"] = secs[env["WHO"]][env["ALLOC"]]
    return res
br.run_once = spy
br.bench_env = lambda b, a: dict(os.environ, WHO=b.name, ALLOC=a.name)
sched = {"secs": 1.0, "cap": 4, "realtime": rt}
allocs = [br.Alloc("A"), br.Alloc("B")]
for b, s, row_secs, want_rounds in (
        (Bench("one", [], ["ops_per_s"], {}, ["x"], "t"), sched, (0.01, 0.05), 4),
        (Bench("many", [], ["ops_per_s"], {"mt": ""}, ["x"], "t"), sched, (0.4, 0.1), 3),
        (Bench("prog", [], ["ops_per_s"], {"program": ""}, ["x"], "t"), None, (0.01, 0.01), 2)):
    cells = {}
    secs[b.name] = dict(zip(("A", "B"), row_secs))
    br.run_rounds(b, allocs, 2, "/nonexistent", cells, None, {"done": 0, "total": 99, "t0": 0}, s)
    kv = got[b.name]
    if len(kv) != 2 * want_rounds:
        sys.exit(f"{b.name}: {len(kv)} runs, want {2 * want_rounds}")
    fifo = b.name == "one" and rt
    for k in kv:
        if int(k["pol"]) != (os.SCHED_FIFO if fifo else os.SCHED_OTHER):
            sys.exit(f"{b.name}: policy {k['pol']}, want {'FIFO' if fifo else 'OTHER'}")
        if (int(k["ncpu"]) == 1) != (b.name == "one") and len(os.sched_getaffinity(0)) > 1:
            sys.exit(f"{b.name}: ran on {k['ncpu']} CPUs")
    if b.name == "one" and cells["A"]["cpu"][0] is None:
        sys.exit("the single-threaded row's CPU is not recorded")
br.run_once = orig

if not rt:
    print("ok (not root: SCHED_FIFO and its watchdogs not checked)")
    sys.exit(0)

# A real-time child spinning past its limit of real-time CPU time is killed (SIGXCPU).
res = br.run_once([sys.executable, "-c", "while True: pass"], dict(os.environ), 20, None,
                  bs.child_setup(None, True, 0.3))
if res["status"] != "crash" or res["detail"] != "SIGXCPU":
    sys.exit(f"a spinning FIFO child: {res['status']} {res.get('detail')}, want crash SIGXCPU")

# A runner killed with SIGKILL takes its real-time child with it (no run_once cleanup runs).
# No wait below is a race against the machine's speed: the pid file is awaited for as
# long as the runner lives, and the child, which would sleep 300 s, gets 20 s to die
# (the kernel kills it when the runner exits; a FIFO child runs at once).
pidfile = f"/tmp/bench_rows_test.{os.getpid()}"
runner = subprocess.Popen([sys.executable, "-c", f"""
import importlib.util, os, sys
spec = importlib.util.spec_from_file_location("b", {os.path.join(root, 'tools', 'bench-run.py')!r})
b = importlib.util.module_from_spec(spec); spec.loader.exec_module(b)
b.run_once(["sh", "-c", "echo $$ > {pidfile}.tmp && mv {pidfile}.tmp {pidfile}; exec sleep 300"],
           dict(os.environ), 600, None, b.bench_sched.child_setup(None, True, 600))
"""])
while not os.path.exists(pidfile):
    if runner.poll() is not None:
        sys.exit(f"the runner exited ({runner.returncode}) before its child wrote {pidfile}")
    time.sleep(0.02)
child = int(open(pidfile).read())
os.unlink(pidfile)
runner.kill()
runner.wait()
deadline = time.monotonic() + 20
while True:
    try:
        state = open(f"/proc/{child}/stat").read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        break
    if state == "Z":
        break
    if time.monotonic() > deadline:
        os.kill(child, signal.SIGKILL)
        sys.exit("the real-time child outlived its runner by 20 s")
    time.sleep(0.02)
print("ok")
PY
