#!/usr/bin/env bash
# test/tools/bench_programs_pin.sh — the real programs' CPU: tools/bench-run.py picks the
# faster CPU (bench_sched.pick_cpu) before each program run and hands it down in
# HK_PROG_CPU; bench/programs/run.py pins a serial program's process tree to it and says
# so in its RESULT line (cpu=), pins redis's server alone to it and its clients to the
# other CPUs (elsewhere), and pins nothing without HK_PROG_CPU or for a program that is
# neither; the table counts the runs whose CPU probed slow. Tiny child processes and
# scripted probes; no program is timed.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
python3 - "$root" <<'PY'
import importlib.util, os, sys, tempfile
root = sys.argv[1]

def load(name, *path):
    spec = importlib.util.spec_from_file_location(name, os.path.join(root, *path))
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m

br = load("bench_run", "tools", "bench-run.py")
rp = load("programs_run", "bench", "programs", "run.py")
cpus = sorted(os.sched_getaffinity(0))
if len(cpus) < 2:
    print("ok (one CPU: nothing to choose between)")
    sys.exit(0)

# run.py: which programs take the pin: every one (redis: its server).
os.environ["HK_PROG_CPU"] = str(cpus[1])
for name, prog in rp.PROGRAMS.items():
    if rp.run_cpu(prog) != cpus[1]:
        sys.exit(f"run.py pins {name} to {rp.run_cpu(prog)}, want {cpus[1]}")
if rp.PROGRAMS["redis"].serial or not rp.PROGRAMS["redis"].pin_server:
    sys.exit("redis must pin its server alone, not its clients")
# A server's clients run on every CPU but the server's; anywhere when it is not pinned.
for cpu in (cpus[0], cpus[1]):
    pid = os.fork()
    if pid == 0:
        rp.elsewhere(cpu)()
        os._exit(0 if os.sched_getaffinity(0) == set(cpus) - {cpu} else 1)
    if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0:
        sys.exit(f"a client of a server on CPU {cpu} may run there")
if rp.elsewhere(None) is not None:
    sys.exit("an unpinned server's clients were pinned")
unpinned = rp.Program("neither", [], ["true"])
unpinned.serial = False
if rp.run_cpu(unpinned) is not None:
    sys.exit("a program neither serial nor a server was pinned")
for v in ("", "x", str(max(cpus) + 1000)):  # unset or unusable: not pinned
    os.environ["HK_PROG_CPU"] = v
    if rp.run_cpu(rp.PROGRAMS["lua"]) is not None:
        sys.exit(f"HK_PROG_CPU={v!r} pinned lua")

# run.py end to end: a program whose process tree writes its own CPUs (the child of a
# shell, as gcc's cc1 is gcc's) runs on the CPU given, a non-serial one on all; the
# program's environment does not carry HK_PROG_CPU (it would change the stack's place).
with tempfile.TemporaryDirectory() as work:
    report = os.path.join(work, "cpus")
    probe = [sys.executable, "-c", "import os, sys; open(sys.argv[1], 'w').write("
             "' '.join(map(str, sorted(os.sched_getaffinity(0)))) + ' ' + "
             "str('HK_PROG_CPU' in os.environ))", report]
    serial = rp.Program("probe", [], ["sh", "-c", '"$@"', "sh"] + probe)
    server = rp.Program("server", [], probe)  # not serial, not a server: runs anywhere
    server.serial = False
    for cpu in cpus[:2]:
        os.environ["HK_PROG_CPU"] = str(cpu)
        for prog, want in ((serial, f"{cpu} False"), (server, " ".join(map(str, cpus)) + " False")):
            ok, _, _ = prog.run(work, 1.0, None, cpu=rp.run_cpu(prog))
            got = open(report).read()
            if not ok or got != want:
                sys.exit(f"{prog.name} with HK_PROG_CPU={cpu}: ran on {got!r}, want {want!r}")

# bench-run.py: each program run gets the CPU pick_cpu chose just before it (here a
# script of alternating choices), passed down as HK_PROG_CPU; the cell records the CPU
# the RESULT line names (none -> None); a row (not a program) gets no HK_PROG_CPU.
os.environ.pop("HK_PROG_CPU")
picks = []
def fake_pick(prev=None, speed=None):
    cpu = cpus[len(picks) % 2]
    picks.append(cpu)
    return cpu, {c: 0.002 for c in cpus}
after = []  # the probes after each pinned run: 2 ms (the normal speed) unless scripted
br.bench_sched.pick_cpu = fake_pick
br.bench_sched.cpu_speed = lambda cpu, **kw: after.pop(0) if after else 0.002
br.log = lambda msg: None
seen = []
def spy(argv, env, timeout, wrap=None, preexec=None):
    seen.append((env.get("WHO"), env.get("HK_PROG_CPU"), len(picks)))
    named = env.get("HK_PROG_CPU", "none") if env.get("WHO") == "prog" else "none"
    return {"status": "ok", "maxrss_kb": 1, "secs": 0.01,
            "kv": {"cpu_secs": str(len(seen)), "maxrss_kb": "1", "check": "ok", "cpu": named}}
br.run_once = spy
br.bench_env = lambda b, a: dict(os.environ, WHO=b.name)
allocs = [br.Alloc("A"), br.Alloc("B"), br.Alloc("C")]
for b, s in ((br.Bench("prog", [], ["cpu_secs"], {"program": ""}, ["x"], "t"), None),
             (br.Bench("srv", [], ["cpu_secs"], {"program": ""}, ["x"], "t"), None),
             (br.Bench("row", [], ["cpu_secs"], {}, ["x"], "t"), {"secs": 0, "cap": 2, "realtime": False})):
    cells, n0, p0 = {}, len(seen), len(picks)
    br.run_rounds(b, allocs, 2, "/nonexistent", cells, None, {"done": 0, "total": 99, "t0": 0}, s)
    runs = seen[n0:]
    if len(runs) != 6:
        sys.exit(f"{b.name}: {len(runs)} runs, want 6")
    if b.name == "row":
        if any(cpu is not None for _, cpu, _ in runs) or len(picks) - p0 != 2:
            sys.exit(f"row: {runs}, {len(picks) - p0} picks; want no HK_PROG_CPU and one pick a round")
        continue
    for i, (who, cpu, npicks) in enumerate(runs):
        if cpu != str(picks[npicks - 1]) or npicks - p0 != i + 1:
            sys.exit(f"{b.name}: runs {runs} after picks {picks[p0:]}: each run must get the CPU "
                     f"picked right before it")
    rec = [c for a in allocs for c in cells[a.name]["cpu"]]
    want = sorted(int(cpu) for _, cpu, _ in runs) if b.name == "prog" else [None] * 6
    if sorted(rec, key=str) != sorted(want, key=str):
        sys.exit(f"{b.name}: cells record CPUs {rec}, want {want}")

# Each pinned run's probes (before, from the pick; after, probed again) are kept, and the
# table counts the runs whose probe before or after read over SLOWED x the median probe
# (2 ms here; 2.5 ms is within SLOWED of it, not of the fastest, 1.7 ms).
after[:] = [0.0025, 0.002 * br.SLOWED * 1.1, 0.002, 0.002]
cells = {}
b = br.Bench("prog", [], ["cpu_secs"], {"program": ""}, ["x"], "t")
br.run_rounds(b, allocs[:2], 2, "/nonexistent", cells, None, {"done": 0, "total": 99, "t0": 0}, None)
got = {a: c["probe_after_secs"] for a, c in cells.items()}
if got != {"A": [0.0025, 0.002], "B": [0.002 * br.SLOWED * 1.1, 0.002]} or after:
    sys.exit(f"probes after the runs: {got}, probes left {after}")
cells["A"]["probe_secs"][1] = 0.0017
for c in cells.values():
    c["median"], c["rss_median_kb"] = {"cpu_secs": c["values"]["cpu_secs"][0]}, 1.0
text = "\n".join(br.program_tables([b], {"prog": cells}, ["A", "B"], "A", 2))
if "): A 0, B 1, of 4 pinned runs." not in text:
    sys.exit(f"the table does not count the slow runs:\n{text}")
print("ok")
PY
