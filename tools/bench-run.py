#!/usr/bin/env python3
"""tools/bench-run.py — runs hakmem's benchmark suite against the peers.

Owns: finding the allocators, running every benchmark of a set under each of
them interleaved (A B C D, B C D A, ... in a balanced order), ratios to mimalloc,
peak RSS, optional callgrind instructions per operation and strace syscall
counts, and the report (markdown table, JSON, gnuplot charts).
Must not: fail because one benchmark crashes under one allocator (that cell
says "crash"), or use anything beyond the Python standard library.
Invariant: a run counts only if the benchmark's own self-check passed
(check=ok); any failing round marks the whole cell as failed.

Usage: bench-run.py [--set default|full|callgrind] [--rounds N] [--only REGEX]
                    [--alloc LIST] [--callgrind] [--strace] [--out DIR] [--O BUILD]
"""
import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_sched  # noqa: E402 (tools/ is not a package)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBDIRS = ["/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib", "/lib/x86_64-linux-gnu"]
# name, candidate sonames, Debian package (for the version and the hint)
PEERS = [
    ("mimalloc", ["libmimalloc.so.2", "libmimalloc.so"], "libmimalloc2.0"),
    ("jemalloc", ["libjemalloc.so.2", "libjemalloc.so"], "libjemalloc2"),
    ("tcmalloc", ["libtcmalloc_minimal.so.4", "libtcmalloc.so.4"], "libtcmalloc-minimal4"),
]
BASELINE = "mimalloc"
LOWER_BETTER = re.compile(r"(_kb|_ns|secs|^ns_per_\w+)$")
SIZE_METRIC = re.compile(r"_kb$")  # a size, not a time: the median of rounds, not the fastest


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- the suite --------------------------------------------------------------------------

class Bench:
    def __init__(self, name, sets, metrics, opts, argv, origin):
        self.name, self.sets, self.metrics, self.opts = name, sets, metrics, opts
        self.argv, self.origin = argv, origin

    @property
    def linked(self):
        return "linked" in self.opts

    @property
    def program(self):
        """A real program run by bench/programs/run.py (option `program`)."""
        return "program" in self.opts

    @property
    def timeout(self):
        return float(self.opts.get("timeout", 60))

    def env_for(self, alloc):
        """Variables option env=ALLOC:VAR=VAL;... sets for this allocator ('*': all; a name
        covers its family: hakmem also hakmem-linked and HK_BENCH_EXTRA builds of hakmem,
        mimalloc also the A/A column)."""
        out = {}
        for item in filter(None, self.opts.get("env", "").split(";")):
            who, _, assign = item.partition(":")
            var, _, val = assign.partition("=")
            if who in ("*", alloc.name, alloc.family):
                out[var] = val
        return out


def parse_suite(paths, ncpu):
    benches = []
    for path in paths:
        with open(path) as f:
            for lineno, line in enumerate(f, 1):
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                fields = line.split()
                if len(fields) < 5:
                    raise SystemExit(f"{path}:{lineno}: need NAME SETS METRICS OPTIONS COMMAND")
                name, sets, metrics, optstr = fields[:4]
                opts = {}
                if optstr != "-":
                    for o in optstr.split(","):
                        k, _, v = o.partition("=")
                        opts[k] = v
                threads = [None]
                if "T" in opts:
                    m = re.fullmatch(r"(\d+)\.\.(\d*)n", opts["T"])
                    if not m:
                        raise SystemExit(f"{path}:{lineno}: T= must be like 1..n or 1..2n")
                    top = int(m.group(2) or 1) * ncpu
                    threads = list(range(int(m.group(1)), top + 1))
                for t in threads:
                    sub = (lambda s: s.replace("{T}", str(t))) if t else (lambda s: s)
                    benches.append(Bench(sub(name), sets.split(","), metrics.split(","), opts,
                                         [sub(a) for a in fields[4:]], f"{path}:{lineno}"))
    return benches


# ---- allocators -------------------------------------------------------------------------

class Alloc:
    def __init__(self, name, preload=None, linked=False, note="", family=None):
        self.name, self.preload, self.linked, self.note = name, preload, linked, note
        self.family = family or name  # whose env= settings of a row it takes

    def env(self, extra=None):
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        if self.preload:
            env["LD_PRELOAD"] = self.preload
        env.update(extra or {})
        return env


def find_lib(sonames):
    for d in LIBDIRS:
        for s in sonames:
            p = os.path.join(d, s)
            if os.path.exists(p):
                return p
    try:
        out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
        for s in sonames:
            m = re.search(r"\s" + re.escape(s) + r" \(.*x86-64.*\) => (\S+)", out)
            if m:
                return m.group(1)
    except OSError:
        pass
    return None


def exports_malloc(lib, symbol="malloc"):
    """Whether a preload library defines `symbol` (malloc: else it would silently measure
    glibc; hk_arena_create: it is a build of hakmem)."""
    if not shutil.which("nm"):
        return symbol == "malloc"
    out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True).stdout
    return re.search(r"\s[TWi] " + symbol + "$", out, re.M) is not None


def smoke(alloc, bindir):
    """Runs a tiny self-checking benchmark under the allocator; '' or why not."""
    if alloc.preload and not os.path.exists(alloc.preload):
        return f"{alloc.preload} does not exist"
    if alloc.preload and not exports_malloc(alloc.preload):
        return f"{alloc.preload} does not define malloc (no allocator in this build yet)"
    binary = os.path.join(bindir, "random_mixed_hk" if alloc.linked else "random_mixed")
    if not os.path.exists(binary):
        return f"{binary} is missing"
    r = run_once([binary, "20000", "64"], alloc.env(), 30)
    return "" if r["status"] == "ok" else f"smoke run: {r['status']} {r.get('detail', '')}".strip()


def find_allocs(builddir, bindir, wanted, ideal=False):
    allocs, absent = [Alloc("glibc", note="system malloc")], []  # glibc: no preload
    for name, sonames, _ in PEERS:
        lib = find_lib(sonames)
        if lib:
            allocs.append(Alloc(name, preload=lib))
        else:
            absent.append((name, f"none of {', '.join(sonames)} found (Debian: apt-get install "
                                  f"{dict((p[0], p[2]) for p in PEERS)[name]})"))
    # make bench says whether this build of hakmem succeeded (a stale library must not run).
    so = os.path.join(builddir, "libhakmem.so")
    if os.environ.get("HK_BENCH_HAKMEM") == "0":
        absent.append(("hakmem", f"libhakmem failed to build (log: {bindir}/hakmem-build.log)"))
    elif os.path.exists(so):
        allocs.insert(1, Alloc("hakmem", preload=os.path.abspath(so)))
    else:
        absent.append(("hakmem", f"{so} was not built"))
    if os.environ.get("HK_BENCH_LINKED") == "0":
        if os.environ.get("HK_BENCH_HAKMEM") != "0":
            absent.append(("hakmem-linked", "bench/*_hk binaries (libhakmem.a) failed to build"))
    elif os.path.exists(os.path.join(bindir, "random_mixed_hk")):
        allocs.insert(2 if len(allocs) > 1 and allocs[1].name == "hakmem" else 1,
                      Alloc("hakmem-linked", linked=True, family="hakmem"))
    elif os.path.exists(so):
        absent.append(("hakmem-linked", "bench/*_hk binaries were not built (libhakmem.a)"))
    # The cheapest possible malloc/free (bench/ideal_lifo.c): instruction counts only.
    if ideal and os.path.exists(os.path.join(bindir, "libideal.so")):
        allocs.append(Alloc("ideal", preload=os.path.join(bindir, "libideal.so")))
    # HK_BENCH_EXTRA="name=/path/lib.so,..." adds preloaded libraries (an older
    # hakmem build, a broken allocator to check the runner).
    for item in filter(None, os.environ.get("HK_BENCH_EXTRA", "").split(",")):
        name, _, lib = item.partition("=")
        lib = os.path.abspath(lib)  # a build of hakmem takes hakmem's env= settings
        hk = os.path.exists(lib) and exports_malloc(lib, "hk_arena_create")
        allocs.append(Alloc(name, preload=lib, family="hakmem" if hk else None))
    if wanted:
        keep = set(wanted.split(","))
        allocs = [a for a in allocs if a.name in keep]
    ok = []
    for a in allocs:
        why = smoke(a, bindir)
        if why:
            absent.append((a.name, why))
        else:
            ok.append(a)
    return ok, absent


# ---- running ----------------------------------------------------------------------------

def parse_result(text):
    for line in text.splitlines():
        if line.startswith("RESULT "):
            kv = {}
            for tok in line.split()[1:]:
                k, _, v = tok.partition("=")
                kv[k] = v
            return kv
    return None


def run_once(argv, env, timeout, wrap=None, preexec=None):
    """One run: status ok / fail / crash / timeout / error, metrics, peak RSS (KiB), and
    secs: its wall time from fork to reap (what a row's rounds are counted from).
    preexec: bench_sched.child_setup's priority and pin, or None."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        try:
            p = subprocess.Popen((wrap or []) + argv, stdout=out, stderr=err, env=env,
                                 start_new_session=True, preexec_fn=preexec)
        except OSError as e:
            return {"status": "error", "detail": str(e)}
        deadline = t0 + timeout
        timed_out = False
        try:
            while True:
                pid, status, ru = os.wait4(p.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    timed_out = True
                    os.killpg(p.pid, signal.SIGKILL)
                    pid, status, ru = os.wait4(p.pid, 0)
                    break
                time.sleep(0.005)
        except BaseException:
            # interrupted: the benchmark is in its own session, so stop it here
            os.killpg(p.pid, signal.SIGKILL)
            os.wait4(p.pid, 0)
            p.returncode = -9
            raise
        secs = time.monotonic() - t0
        p.returncode = 0  # reaped here with wait4, for its rusage
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    res = {"maxrss_kb": ru.ru_maxrss, "stderr": stderr[-2000:], "secs": secs}
    kv = parse_result(stdout)
    if timed_out:
        res.update(status="timeout", detail=f"killed after {timeout:.0f}s")
    elif os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        res.update(status="crash", detail=signal.Signals(sig).name if sig in signal.valid_signals() else str(sig))
    elif kv is None:
        res.update(status="error", detail=f"exit {os.WEXITSTATUS(status)}, no RESULT line")
    elif kv.get("check") != "ok" or os.WEXITSTATUS(status) != 0:
        res.update(status="fail", detail=f"self-check {kv.get('check')} (exit {os.WEXITSTATUS(status)})")
    else:
        res.update(status="ok", kv=kv)
    return res


class hugetlb_pool:
    """Reserves at least N 2 MiB hugetlb pages for one benchmark (root only) and puts
    /proc/sys/vm/nr_hugepages back afterwards, also on Ctrl-C: the machine is shared."""
    PATH = "/proc/sys/vm/nr_hugepages"

    def __init__(self, n, name):
        self.n, self.name, self.old = n, name, None

    def __enter__(self):
        if self.n <= 0:
            return self
        try:
            with open(self.PATH) as f:
                self.old = int(f.read())
            if self.old < self.n:
                with open(self.PATH, "w") as f:
                    f.write(str(self.n))
                with open(self.PATH) as f:
                    got = int(f.read())
                log(f"bench: {self.name}: hugetlb pool {self.old} -> {got} pages (asked {self.n})")
            else:
                self.old = None
        except (OSError, ValueError) as e:
            log(f"bench: {self.name}: cannot reserve hugetlb pages ({e}); runs without a pool")
            self.old = None
        return self

    def __exit__(self, *exc):
        if self.old is not None:
            with open(self.PATH, "w") as f:
                f.write(str(self.old))
            log(f"bench: {self.name}: hugetlb pool restored to {self.old} pages")
        return False


def numactl_wrap():
    if shutil.which("numactl") and os.path.exists("/sys/devices/system/node/node0"):
        return ["numactl", "--cpunodebind=0", "--membind=0"]
    return None


PROGRAMS_PY = os.path.join(ROOT, "bench", "programs", "run.py")


def bench_argv(bench, alloc, bindir):
    if bench.program:
        return [sys.executable, PROGRAMS_PY, "run"] + bench.argv + ["--work", os.path.join(bindir, "programs")]
    prog = bench.argv[0] + ("_hk" if alloc.linked else "")
    return [os.path.join(bindir, prog)] + [a.replace("{ROOT}", ROOT) for a in bench.argv[1:]]


def bench_env(bench, alloc):
    """The allocator's environment; a real program's runner (python) is not itself
    preloaded: it gets the library in HK_PROG_PRELOAD and preloads only the program."""
    env = alloc.env(bench.env_for(alloc))
    if bench.program:
        env["HK_PROG_PRELOAD"] = env.pop("LD_PRELOAD", "")
    return env


def applies(bench, alloc, bindir):
    if not alloc.linked:
        return True
    return bench.linked and os.path.exists(bench_argv(bench, alloc, bindir)[0])


def fmt_num(v):
    if v is None:
        return "—"
    a = abs(v)
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"{v / div:.3g}{suf}"
    return f"{v:.3g}"


# A real program's own split of its time and its faults, kept per round in the JSON beside
# the headline, so a noisy row can be looked into afterwards (user or sys time? a slow
# round with more faults?).
PROGRAM_DETAIL = ("user_secs", "sys_secs", "wall_secs", "minflt")


def host_cpu():
    """The machine's busy and steal time so far (s, all CPUs; /proc/stat's cpu line)."""
    with open("/proc/stat") as f:
        t = [int(x) for x in f.readline().split()[1:9]]
    tick = os.sysconf("SC_CLK_TCK")
    return (t[0] + t[1] + t[2] + t[5] + t[6] + t[7]) / tick, t[7] / tick


def round_order(n, r):
    """The order of n allocators in round r (from 0): a Williams square. Over n rounds
    (2n when n is odd) each allocator runs once in every place and right after every
    other allocator equally often, so neither the place in the round nor the program
    that ran just before (what it left in the caches, the page allocator, the host)
    favours anyone. A plain rotation (A B C, B C A) keeps B always right after A."""
    first, lo, hi = [0], 1, n - 1
    while len(first) < n:
        first.append(lo)
        lo += 1
        if len(first) < n:
            first.append(hi)
            hi -= 1
    rows = [[(x + k) % n for x in first] for k in range(n)]
    if n % 2:
        rows += [row[::-1] for row in rows]
    return rows[r % len(rows)]


def run_program(b, a, bindir, prev):
    """One run of a real program, on the CPU that is the faster one when it starts
    (bench_sched.pick_cpu; run.py pins a serial program to HK_PROG_CPU), probed again right
    after it. Returns (run_once's result, the CPU run.py pinned to or None, (probe before,
    probe after) or (None, None))."""
    cpu, secs = bench_sched.pick_cpu(prev)
    env = bench_env(b, a)
    env["HK_PROG_CPU"] = str(cpu)
    res = run_once(bench_argv(b, a, bindir), env, b.timeout)
    kv = res.get("kv") or {}
    ran = int(kv["cpu"]) if kv.get("cpu", "").isdigit() else None
    if res["status"] != "ok" or ran is None:  # broken, or not pinned: no probe
        return res, ran, (None, None)
    return res, ran, (secs[ran], bench_sched.cpu_speed(ran))


def run_rounds(b, todo, rounds, bindir, cells, wrap, progress, sched=None):
    """Round k of every allocator, then round k+1, in round_order. sched (the rows, not
    the programs): {"secs", "cap", "realtime"}: a single-threaded row runs pinned to the
    CPU that is fastest at the start of each round, at SCHED_FIFO when "realtime" (the
    runner may), and a short row gets more rounds (bench_sched.row_rounds). A real
    program: run_program."""
    pin = sched is not None and bench_sched.is_realtime(b)
    fifo = pin and sched["realtime"]
    cpu, probe, r, nround = None, None, 0, rounds
    while r < nround:
        r += 1
        if pin:
            cpu, secs = bench_sched.pick_cpu(cpu)
            probe = secs[cpu]
        longest = 0.0
        for a in (todo[i] for i in round_order(len(todo), r - 1)):
            cell = cells.setdefault(a.name, {"status": "ok", "values": {}, "rss": []})
            cell["sched"] = "fifo" if fifo else "normal"
            progress["done"] += 1
            if cell["status"] != "ok":
                continue  # a failed cell stays failed; don't wait on it again
            busy0, steal0 = host_cpu()
            if b.program:
                res, ran, (probe, after) = run_program(b, a, bindir, cpu)
                cpu = ran if ran is not None else cpu
            else:
                res = run_once(bench_argv(b, a, bindir), bench_env(b, a), b.timeout,
                               wrap if "numactl" in b.opts else None,
                               bench_sched.child_setup(cpu, fifo, b.timeout))
                ran = cpu
            longest = max(longest, res.get("secs", 0.0))
            busy1, steal1 = host_cpu()
            if res["status"] != "ok":
                cell.update(status=res["status"], detail=res.get("detail", ""))
                msg = f"{res['status']}: {res.get('detail', '')}"
                tail = res.get("stderr", "").strip().splitlines()[-1:]
                if tail:
                    msg += f" ({tail[0][:120]})"
            else:
                for m in b.metrics + [m for m in PROGRAM_DETAIL if b.program and m not in b.metrics]:
                    v = res["kv"].get(m)
                    cell["values"].setdefault(m, []).append(float(v) if v not in (None, "NA") else math.nan)
                # the benchmark's own VmHWM; wait4's ru_maxrss includes the pre-exec image
                rss = float(res["kv"].get("maxrss_kb", -1))
                cell["rss"].append(rss if rss > 0 else res["maxrss_kb"])
                cell["hk"] = {k: v for k, v in res["kv"].items() if k.startswith("hk_")}
                # what the whole machine did meanwhile: the run's own CPU time is part of it
                cell.setdefault("host", {"busy_secs": [], "steal_secs": []})
                cell["host"]["busy_secs"].append(round(busy1 - busy0, 2))
                cell["host"]["steal_secs"].append(round(steal1 - steal0, 2))
                cell.setdefault("cpu", []).append(ran)  # None: not pinned
                cell.setdefault("probe_secs", []).append(probe if ran is not None else None)
                v = cell["values"][b.metrics[0]][-1]
                msg = f"{fmt_num(v)} {b.metrics[0]}  {cell['rss'][-1] / 1024:.1f} MB"
                msg += f"  cpu {ran}" if ran is not None else ""
                if b.program:  # did the CPU slow down during the run? (slow_runs)
                    cell.setdefault("probe_after_secs", []).append(after)
                    msg += f" (probe {probe * 1e3:.2f} -> {after * 1e3:.2f} ms)" if after else ""
            done, total = progress["done"], progress["total"]
            el = time.monotonic() - progress["t0"]
            eta = el / done * (total - done)
            log(f"[{done:4d}/{total}] {b.name:<22} {a.name:<14} round {r}/{nround}  {msg}"
                f"   (elapsed {el:.0f}s, ~{eta:.0f}s left)")
        if r == 1 and sched:
            nround = bench_sched.row_rounds(rounds, longest, sched["secs"], sched["cap"])
            progress["total"] += (nround - rounds) * len(todo)


def prepare_program(b, bindir, cells, todo):
    """Generates a real program's inputs and its reference output (a run without
    preload) before the timed rounds; if that fails, every cell of the row says so."""
    p = subprocess.run([sys.executable, PROGRAMS_PY, "prepare"] + b.argv +
                       ["--work", os.path.join(bindir, "programs")], capture_output=True, text=True)
    if p.returncode == 0:
        return True
    log(f"bench: {b.name}: preparing failed: {p.stderr.strip()[-300:]}")
    for a in todo:
        cells[a.name] = {"status": "error", "detail": "no reference run", "values": {}, "rss": []}
    return False


def program_missing(b):
    return subprocess.run([sys.executable, PROGRAMS_PY, "have"] + b.argv[:1]).returncode != 0


def run_suite(benches, allocs, rounds, bindir, row_secs=0.0, row_cap=None):
    """results[bench][alloc] = {status, detail, values{metric: [..]}, rss: [..]}.
    The rows (not the programs) get up to row_cap rounds, about row_secs per allocator."""
    results = {}
    plan = [(b, a) for b in benches for a in allocs if applies(b, a, bindir)]
    progress = {"total": len(plan) * rounds, "done": 0, "t0": time.monotonic()}
    wrap = numactl_wrap()
    sched = {"secs": row_secs, "cap": row_cap or rounds, "realtime": bench_sched.realtime_allowed()}
    if not sched["realtime"]:
        log("bench: no right to SCHED_FIFO (not root): every row runs at the normal priority")
    for b in benches:
        cells = results.setdefault(b.name, {})
        todo = [a for a in allocs if applies(b, a, bindir)]
        if b.program and not prepare_program(b, bindir, cells, todo):
            continue
        with hugetlb_pool(int(b.opts.get("hugepages", 0)), b.name):
            run_rounds(b, todo, rounds, bindir, cells, wrap, progress, None if b.program else sched)
    for cells in results.values():
        for cell in cells.values():
            if cell["status"] == "ok":
                cell["median"] = {m: statistics.median(v) for m, v in cell["values"].items()}
                cell["rss_median_kb"] = statistics.median(cell["rss"]) if cell["rss"] else None
    return results


def callgrind_count(argv, env):
    """Instructions the whole process executed under callgrind, or None."""
    if not shutil.which("valgrind"):
        return None
    p = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"] + argv,
                       env=env, capture_output=True, text=True, timeout=1800)
    m = re.findall(r"Collected : (\d+)", p.stderr)
    if p.returncode != 0 or not m or "check=ok" not in p.stdout:
        return None
    return int(m[-1])


def run_callgrind(benches, allocs, bindir, n):
    """(Ir(N) - Ir(0)) / N per benchmark and allocator: startup cancels out.
    Instruction counts do not depend on load, so runs go in parallel (one per CPU)."""
    import concurrent.futures
    out = {}
    plan = [(b, a) for b in benches for a in allocs if applies(b, a, bindir)]

    def one(job):
        b, a = job
        argv = bench_argv(b, a, bindir)
        base = callgrind_count([x.replace("{N}", "0") for x in argv], a.env(b.env_for(a)))
        full = callgrind_count([x.replace("{N}", str(n)) for x in argv], a.env(b.env_for(a)))
        return (full - base) / n if base is not None and full is not None else None

    for b, a in plan:
        out.setdefault(b.name, {})[a.name] = None
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as ex:
        futs = {ex.submit(one, job): job for job in plan}
        for i, f in enumerate(concurrent.futures.as_completed(futs), 1):
            b, a = futs[f]
            v = f.result()
            out[b.name][a.name] = v
            log(f"[{i:3d}/{len(plan)}] callgrind {b.name:<20} {a.name:<14} "
                f"{'failed' if v is None else f'{v:.1f} instructions/op'}")
    return out


def run_program_ir(benches, allocs, bindir, scale):
    """The whole program's instructions (callgrind, every process of its tree) at a small
    scale, per real program and allocator: a second view of the CPU table that load does
    not move. Runs in parallel, one per CPU, like run_callgrind."""
    import concurrent.futures
    plan = [(b, a) for b in benches for a in allocs if not a.linked]

    def one(job):
        b, a = job
        argv = [sys.executable, PROGRAMS_PY, "callgrind", b.argv[0], "--scale", str(scale),
                "--work", os.path.join(bindir, "programs")]
        env = bench_env(b, a)
        p = subprocess.run(argv + ["--preload", env.pop("HK_PROG_PRELOAD", "")], env=env,
                           capture_output=True, text=True, timeout=3600)
        m = re.search(r"check=ok total_ir=(\d+)", p.stdout)
        return int(m.group(1)) if p.returncode == 0 and m else None

    out = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as ex:
        futs = {ex.submit(one, job): job for job in plan}
        for i, f in enumerate(concurrent.futures.as_completed(futs), 1):
            b, a = futs[f]
            out.setdefault(b.name, {})[a.name] = v = f.result()
            log(f"[{i:3d}/{len(plan)}] callgrind {b.name:<20} {a.name:<14} "
                f"{'failed' if v is None else f'{v / 1e6:.1f}M instructions'}")
    return out


def run_strace(benches, allocs, bindir):
    """System calls per run (strace -f -c), one run per benchmark and allocator."""
    out = {}
    if not shutil.which("strace"):
        log("strace: not installed, skipped")
        return out
    plan = [(b, a) for b in benches for a in allocs if applies(b, a, bindir)]
    for i, (b, a) in enumerate(plan, 1):
        with tempfile.NamedTemporaryFile(mode="r") as tf:
            env = dict(os.environ)
            env.pop("LD_PRELOAD", None)
            cmd = ["strace", "-f", "-c", "-o", tf.name]
            if a.preload:
                cmd += ["-E", f"LD_PRELOAD={a.preload}"]
            for k, v in b.env_for(a).items():
                cmd += ["-E", f"{k}={v}"]
            p = subprocess.run(cmd + bench_argv(b, a, bindir), env=env, capture_output=True,
                               text=True, timeout=b.timeout * 4)
            text = tf.read()
            m = re.search(r"^\S+\s+\S+\s+\S+\s+(\d+)\s+(\d+)?\s*total$", text, re.M)
            # memory calls alone: mmap munmap madvise mremap mprotect brk
            mem = sum(int(x) for x in re.findall(
                r"^\s*\S+\s+\S+\s+\S+\s+(\d+)\s+(?:\d+\s+)?(?:mmap|munmap|madvise|mremap|mprotect|brk)$",
                text, re.M))
            v = f"{m.group(1)} ({mem})" if m and p.returncode == 0 else None
        out.setdefault(b.name, {})[a.name] = v
        log(f"[{i:3d}/{len(plan)}] strace {b.name:<22} {a.name:<14} {v} syscalls")
    return out


# ---- the report -------------------------------------------------------------------------

def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine(allocs, absent):
    cpu = sh("sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1")
    mem = sh("awk '/MemTotal/ {printf \"%.1f GiB\", $2/1048576}' /proc/meminfo")
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "host": platform.node(), "kernel": platform.release(), "cpu": cpu,
        "cpus": os.cpu_count(), "memory": mem,
        "glibc": os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else "",
        "thp": sh("cat /sys/kernel/mm/transparent_hugepage/enabled"),
        "nr_hugepages": sh("cat /proc/sys/vm/nr_hugepages"),
        "numa_nodes_online": sh("cat /sys/devices/system/node/online"),
        "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "hakmem_commit": sh(f"git -C {ROOT} describe --always --dirty"),
        "allocators": {},
        "absent": {n: why for n, why in absent},
    }
    for a in allocs:
        ver = ""
        if a.preload:
            pkg = sh(f"dpkg -S {os.path.realpath(a.preload)} 2>/dev/null | cut -d: -f1 | head -n1")
            if pkg:
                ver = pkg + " " + sh("dpkg-query -W -f='${Version}' " + pkg)
        if a.name == "glibc":
            ver = "libc6 " + sh("dpkg-query -W -f='${Version}' libc6")
        info["allocators"][a.name] = (a.preload or ("libhakmem.a, linked" if a.linked else "system malloc")) + \
            (f" ({ver})" if ver else "")
    return info


def cell_text(cell, metric):
    if cell is None:
        return None
    if cell["status"] != "ok":
        return cell["status"]
    return cell["median"].get(metric)


def ratio(v, base, metric):
    if not isinstance(v, float) or not isinstance(base, float) or math.isnan(v) or math.isnan(base) \
            or v <= 0 or base <= 0:
        return None
    return base / v if LOWER_BETTER.search(metric) else v / base


def geomean(xs):
    xs = [x for x in xs if x]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def build_rows(benches, results):
    """Rows of (label, metric, bench name); the first metric of each bench, then extras."""
    rows, seen = [], set()
    for b in benches:
        if b.name in seen:
            continue
        seen.add(b.name)
        for i, m in enumerate(b.metrics):
            rows.append((b.name if i == 0 else f"{b.name} ({m})", m, b.name, i == 0))
    return rows


def best_value(cells, n, metric):
    """The value speed_ratio uses: the fastest round (a size: the median), or None."""
    v = rounds_of(cells, n, metric)
    if not v:
        return None
    if SIZE_METRIC.search(metric):
        return statistics.median(v)
    return min(v) if LOWER_BETTER.search(metric) else max(v)


def paired_speed(cells, n, d, metric):
    """The median over rounds of round i of n over round i of d, > 1 better."""
    per = [x / y for x, y in zip(rounds_of(cells, n, metric), rounds_of(cells, d, metric))]
    if not per:
        return None
    m = statistics.median(per)
    return 1 / m if LOWER_BETTER.search(metric) else m


def aa_line(rows, results, names, base):
    """How far the baseline's A/A column (--aa) is from 1.00: the method's own spread."""
    L = []
    for n in (x for x in names if x == base + "-aa"):
        got = [(speed_ratio(results.get(bname, {}), n, base, metric), label)
               for label, metric, bname, headline in rows if headline]
        got = [(r[0], label) for r, label in got if r]
        if got:
            worst = max(got, key=lambda x: abs(x[0] - 1))
            rms = math.sqrt(sum((r - 1) ** 2 for r, _ in got) / len(got))
            near = sum(abs(r - 1) <= 0.05 for r, _ in got)
            L.append(f"**A/A** ({n}, the same library under another name): {near} of {len(got)} "
                     f"rows within 5 % of 1.00, rms {rms * 100:.1f} %, worst {worst[0]:.2f} "
                     f"({worst[1]}). A difference smaller than that is this run's noise.")
    return L


def lucky_line(rows, results, names, base):
    """Rows whose cell one lucky round decides: the fastest-round ratio and the median of
    paired ratios more than 5 % apart. fastest_ratio assumes noise only adds time; a row
    of a few ms can also have rare runs far faster than the rest. pairs_16 (17 ms):
    mimalloc's rounds at 232-272M ops/s plus 303M and 306M (2 of 30, its A/A twin
    included; hakmem's 14 fast-CPU rounds within 270-284M) put the cell at 0.93, while
    13 of 15 paired ratios were 1.01-1.18 (median 1.08). A fast run did not come back
    with the same stack offset and ASLR off, and 10x longer runs still had them (50M
    pairs: 295M against a median of 216M): a state of the run, not of the allocator,
    so the paired median is the better reading there."""
    got = []
    for label, metric, bname, headline in rows:
        cells = results.get(bname, {})
        if not headline or SIZE_METRIC.search(metric):
            continue
        for n in names:
            r = speed_ratio(cells, n, base, metric) if n != base else None
            p = paired_speed(cells, n, base, metric) if r else None
            if r and p and abs(r[0] / p - 1) > 0.05:
                got.append(f"{label} {n} {r[0]:.2f} (paired {p:.2f})")
    if not got:
        return []
    return [f"**Decided by one round** (the fastest-round ratio and the median of paired "
            f"ratios > 5 % apart: read the paired one, and the bracket): {'; '.join(got)}."]


def speed_tables(benches, results, names, base, rounds):
    """The ratio table (then the peak RSS table), as markdown lines."""
    rows = build_rows(benches, results)
    fifo = [b.name for b in benches if any(c.get("sched") == "fifo" for c in results.get(b.name, {}).values())]
    L = ["", f"## Speed relative to {base} (fastest of each row's interleaved rounds; > 1 is better)",
         "", f"Each cell: the allocator's fastest round ÷ {base}'s fastest round, then in brackets "
         f"the same with {base}'s second fastest and with the allocator's second fastest (how "
         f"far one lucky round could move it; not a confidence interval), then the fastest "
         f"value ({base}: its value alone). Ops/s unless the row names another metric; for "
         f"_ns/secs metrics the ratio is inverted so that > 1 is still better; _kb metrics (a "
         f"size) are a ratio of medians. `rounds`: at least {rounds}, more for a short row "
         f"(about the same time per row). `run`: **fifo** = SCHED_FIFO 1, pinned to the CPU "
         f"that was fastest at the start of each round (this VM's two CPUs differ in speed, "
         f"and which is slower changes); **normal** = the normal priority, unpinned: rows "
         f"that run several threads (two at FIFO on 2 CPUs can starve each other or the "
         f"machine), or every row when the runner may not use FIFO. crash / fail (self-check) "
         f"/ timeout / error: that allocator's run broke.", ""]
    L.append("| benchmark | " + " | ".join(names) + " | rounds | run |")
    L.append("|---|" + "---:|" * len(names) + "---:|---|")
    per_alloc = {n: [] for n in names}
    paired = {n: [] for n in names}
    medians = {n: [] for n in names}
    for label, metric, bname, headline in rows:
        cells = results.get(bname, {})
        out = []
        for n in names:
            c = cells.get(n)
            r = speed_ratio(cells, n, base, metric) if base and n != base else None
            v = best_value(cells, n, metric)
            if c is None:
                out.append("")
            elif c["status"] != "ok":
                out.append(f"**{c['status']}**")
            elif not r:
                out.append(fmt_num(v))
            elif SIZE_METRIC.search(metric):
                out.append(f"{r[0]:.2f} ({fmt_num(v)})")
            else:
                out.append(f"{r[0]:.2f} [{r[1]:.2f}–{r[2]:.2f}] ({fmt_num(v)})")
            if r and headline:
                per_alloc[n].append(r)
                paired[n].append(paired_speed(cells, n, base, metric))
                medians[n].append(ratio(cell_text(c, metric), cell_text(cells.get(base), metric), metric))
        nr = max((len(c["values"].get(metric, [])) for c in cells.values() if c["status"] == "ok"), default=0)
        run = next((c.get("sched", "") for c in cells.values()), "")
        L.append(f"| {label} | " + " | ".join(out) + f" | {nr} | {run} |")
    nhead = max((len(v) for v in per_alloc.values()), default=0)

    def mean_cell(n, bold):
        rs = per_alloc[n]
        if not rs:
            return ""
        g = [geomean([r[i] for r in rs]) for i in range(3)]
        text = (f"**{g[0]:.3f}**" if bold else f"{g[0]:.3f}") + f" [{g[1]:.3f}–{g[2]:.3f}]"
        # An allocator that broke on some benchmarks gets "(k/n)": its mean covers only those.
        return text + (f" ({len(rs)}/{nhead})" if len(rs) < nhead else "")
    L.append("| **geometric mean** | " + " | ".join(mean_cell(n, True) for n in names) + " | | |")
    for what, vals in (("median of paired ratios", paired), ("ratio of medians", medians)):
        L.append(f"| {what} | " + " | ".join(
            f"{geomean(vals[n]):.3f}" if geomean(vals[n]) else "" for n in names) + " | | |")
    L += ["", f"Geometric means cover each benchmark's headline metric where both the allocator and "
          f"the baseline ran; hakmem-linked only has the benchmarks built against libhakmem.a. "
          f"Below the mean, two older views of the same rounds: the median over rounds of round "
          f"i ÷ {base}'s round i, and the ratio of the medians (this table before 2026-12-05). "
          f"Rows at real-time priority: {len(fifo)} of {len(benches)}"
          + (f"; at the normal priority: {', '.join(b.name for b in benches if b.name not in fifo)}."
             if len(fifo) < len(benches) else ".")]
    probes = [p for cells in results.values() for c in cells.values() for p in c.get("probe_secs", []) if p]
    if probes:
        lo, hi = min(probes), max(probes)
        L += ["", f"The machine's speed over the run: the CPU probe (a fixed loop, on the CPU each "
              f"round was pinned to) took {lo * 1e3:.2f}–{hi * 1e3:.2f} ms ({(hi / lo - 1) * 100:.0f} % "
              f"slower at worst). Rounds of one row run seconds apart and share that state; two "
              f"runs taken at different speeds can disagree by more than their brackets."]
    L += [""] + aa_line(rows, results, names, base) + [""]
    lucky = lucky_line(rows, results, names, base)
    L += lucky + ([""] if lucky else [])
    return L + rss_table(benches, results, names, base)


def rss_table(benches, results, names, base):
    """Peak RSS per benchmark and allocator, with ratios to the baseline."""
    L = [f"## Peak RSS (MB, median of rounds; ratio to {base} in brackets; < 1 is smaller)", ""]
    L.append("| benchmark | " + " | ".join(names) + " |")
    L.append("|---|" + "---:|" * len(names))
    rss_ratios = {n: [] for n in names}
    for b in benches:
        cells = results.get(b.name, {})
        if not cells:
            continue
        bcell = cells.get(base)
        brss = bcell.get("rss_median_kb") if bcell and bcell["status"] == "ok" else None
        out = []
        for n in names:
            c = cells.get(n)
            if c is None:
                out.append("")
            elif c["status"] != "ok":
                out.append(f"**{c['status']}**")
            else:
                v = c["rss_median_kb"]
                r = v / brss if brss and v else None
                if r:
                    rss_ratios[n].append(r)
                out.append(f"{v / 1024:.1f}" + (f" ({r:.2f})" if r else ""))
        L.append(f"| {b.name} | " + " | ".join(out) + " |")
    g = {n: geomean(rss_ratios[n]) for n in names}
    L.append("| **geometric mean of ratios** | " + " | ".join(f"**{g[n]:.2f}**" if g[n] else "" for n in names) + " |")
    return L


def rounds_of(cells, n, metric):
    """Allocator n's per-round values of metric (positive ones), or [] if its cell failed."""
    c = cells.get(n)
    if not c or c["status"] != "ok":
        return []
    return [v for v in c["values"].get(metric, []) if v > 0]  # NaN compares false: dropped


def fastest_ratio(cells, n, d, metric):
    """(n's fastest round ÷ d's fastest round, the same with d's second fastest, with n's
    second fastest), or None. On this VM noise only ever adds time (a busy neighbour, the
    host below the VM), and neighbouring runs do not share it: in A/A runs at real-time
    priority (mimalloc against a copy of itself, 38 program cells of 5 rounds, load 5-10)
    round i's deviations of the two correlated by 0.03, and this ratio missed 1.00 by
    6.0 % rms, the median of paired ratios by 7.5 %, the ratio of medians by 10.9 %.
    Over eight programs the three geometric means agree within 0.03. The bracket says
    how far one lucky fastest round could have moved it (a single round: no bracket).
    The fastest round of a rate (ops/s) is its highest; the ratio is always n's value over
    d's (for a time, < 1 is better; speed_ratio turns it round)."""
    high = not LOWER_BETTER.search(metric)
    a = sorted(rounds_of(cells, n, metric), reverse=high)
    b = sorted(rounds_of(cells, d, metric), reverse=high)
    if not a or not b:
        return None
    other = (a[0] / b[1] if len(b) > 1 else a[0] / b[0], a[1] / b[0] if len(a) > 1 else a[0] / b[0])
    return a[0] / b[0], min(other), max(other)


def speed_ratio(cells, n, d, metric):
    """The rows' cell: (ratio, low, high) with > 1 better whatever the metric. A time
    or a rate: fastest_ratio (inverted for a time). A size (_kb): the ratio of medians and
    no bracket, since a size is not only ever made worse by load."""
    if SIZE_METRIC.search(metric):
        r = ratio(statistics.median(rounds_of(cells, n, metric) or [math.nan]),
                  statistics.median(rounds_of(cells, d, metric) or [math.nan]), metric)
        return (r, r, r) if r else None
    r = fastest_ratio(cells, n, d, metric)
    if r and LOWER_BETTER.search(metric):
        return 1 / r[0], 1 / r[2], 1 / r[1]
    return r


def fastest_geomean(benches, results, n, d, metric):
    """fastest_ratio's three values, each as a geometric mean over the programs both
    allocators ran; None if none."""
    rows = [fastest_ratio(results.get(b.name, {}), n, d, metric) for b in benches]
    rows = [r for r in rows if r]
    return tuple(geomean([r[i] for r in rows]) for i in range(3)) if rows else None


def paired_geomean(benches, results, n, d, metric):
    """Geometric mean over programs of the median over rounds of round i's value of n over
    round i's of d (the two ran seconds apart); the row that shows a round-to-round view."""
    per = [[x / y for x, y in zip(rounds_of(results.get(b.name, {}), n, metric),
                                  rounds_of(results.get(b.name, {}), d, metric))] for b in benches]
    per = [r for r in per if r]
    return geomean([statistics.median(r) for r in per]) if per else None


# A probe of the pinned CPU read 1.85-2.6 ms at the CPU's normal speed (median 2.0-2.2;
# 448 runs, 2026-12-05) and 3.4-4.4 ms in a slow episode; the faster CPU is seldom slow,
# so the median probe of a run is the normal speed. Redoing a slow run at once did not
# help: an episode where both CPUs were slow lasted ~25 s, and lua's runs in it, each
# redone twice, read 0.74-1.52 s every time (0.44-0.71 s outside it).
SLOWED = 1.4


def slow_runs(benches, results):
    """({allocator: runs whose probe before or after read over SLOWED x the median probe},
    number of runs probed)."""
    runs = [(n, p, q) for b in benches for n, c in results.get(b.name, {}).items()
            for p, q in zip(c.get("probe_secs", []), c.get("probe_after_secs", [])) if p and q]
    if not runs:
        return {}, 0
    mid = statistics.median([x for _, p, q in runs for x in (p, q)])
    slow = {}
    for n, p, q in runs:
        slow[n] = slow.get(n, 0) + (max(p, q) > SLOWED * mid)
    return slow, len(runs)


def program_tables(benches, results, names, base, rounds, ir=None, ir_scale=None):
    """Real programs: CPU time as the ratio of fastest rounds to the baseline's, peak RSS
    as a ratio of medians (< 1 is better, as programs are judged), geometric means, and
    hakmem's geometric mean against each peer."""
    L = ["", f"## Real programs under LD_PRELOAD ({rounds} interleaved rounds; "
         f"ratio to {base}, < 1 is better)", "",
         "bench/programs/run.py: CPU time is user+sys of the program's process tree (redis: the "
         "server's own, from /proc/PID/stat), peak RSS its largest process's (/usr/bin/time %M; "
         "redis: VmHWM). A cell "
         "counts only if the output matched a run without preload (else **fail**).", "",
         f"CPU cells: the allocator's fastest round ÷ {base}'s fastest round, then in brackets "
         f"the same with {base}'s second fastest and with the allocator's second fastest (how "
         f"far one lucky round could move it; not a confidence interval), then the fastest CPU "
         f"time in seconds. The programs run at real-time priority (run.py), so load adds "
         f"less, and what it still adds only ever slows a round; each run is pinned to the CPU "
         f"that was the faster one when it started (redis: its server, its clients on the "
         f"other CPU; since session 14) (this VM's two CPUs differ in speed, and which is slower changes within "
         f"seconds; pinned since session 13, 2026-12-05). In A/A runs under load "
         f"({base} against itself, `--aa`) the geometric mean landed at 0.97–1.03. Before "
         f"2026-12-05 this table showed the ratio of the two medians; that row and the median "
         f"of paired ratios (round i ÷ {base}'s round i) are kept below the mean.", ""]
    if rounds:  # --rounds 0: the instruction view alone
        L += ["| CPU time | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        for b in benches:
            cells, out = results.get(b.name, {}), []
            for n in names:
                c, v = cells.get(n), min(rounds_of(cells, n, "cpu_secs"), default=None)
                r = fastest_ratio(cells, n, base, "cpu_secs") if n != base else None
                if c is None:
                    out.append("")
                elif c["status"] != "ok":
                    out.append(f"**{c['status']}**")
                elif r:
                    out.append(f"{r[0]:.2f} [{r[1]:.2f}–{r[2]:.2f}] ({v:.3g} s)")
                else:
                    out.append(f"{v:.3g} s" if v else "—")
            L.append(f"| {b.argv[0]} | " + " | ".join(out) + " |")

        def gm_cell(n, d, bold=False):
            g = fastest_geomean(benches, results, n, d, "cpu_secs") if d and n != d else None
            return (f"**{g[0]:.3f}**" if bold else f"{g[0]:.3f}") + f" [{g[1]:.3f}–{g[2]:.3f}]" if g else ""

        def paired_cell(n, d):
            g = paired_geomean(benches, results, n, d, "cpu_secs") if d and n != d else None
            return f"{g:.3f}" if g else ""

        def old_gm(n, d):  # the ratio of medians, as before 2026-12-05
            med = [[statistics.median(rounds_of(results.get(b.name, {}), x, "cpu_secs") or [0]) for x in (n, d)]
                   for b in benches]
            g = geomean([x / y for x, y in med if x > 0 and y > 0])
            return f"{g:.3f}" if g and n != d else ""
        L.append("| **geometric mean** | " + " | ".join(gm_cell(n, base, True) for n in names) + " |")
        L.append("| median of paired ratios | " + " | ".join(paired_cell(n, base) for n in names) + " |")
        L.append("| ratio of medians | " + " | ".join(old_gm(n, base) for n in names) + " |")
        if "hakmem" in names:
            L.append("| hakmem ÷ this allocator | " + " | ".join(gm_cell("hakmem", n) for n in names) + " |")
        slow, probed = slow_runs(benches, results)
        if probed:
            L += ["", f"Runs in a slow episode of this VM's CPUs (the CPU's probe loop, just before "
                  f"or just after the run, took over {SLOWED:g}× the median probe of the whole run: "
                  f"both CPUs can be slow at once, or slow down during a run; these runs count as "
                  f"any other): " + ", ".join(f"{n} {slow.get(n, 0)}" for n in names)
                  + f", of {probed} pinned runs."]
    if ir:
        L += ["", f"Instructions of the whole program (callgrind, all its processes, scale {ir_scale:g}; "
              f"ratio to {base}, then millions): three runs differ by at most 0.01 %, except redis "
              f"(0.5 %: the client's timing batches its requests) and lua (2 %: it seeds its string "
              f"hashes from addresses and the clock). A failed or mismatching run: —.", "",
              "| instructions | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        ratios = {n: [] for n in names}
        for b in benches:
            row = ir.get(b.name, {})
            bv, out = row.get(base), []
            for n in names:
                v = row.get(n)
                if v and bv:
                    ratios[n].append(v / bv)
                out.append("" if n not in row else "—" if not v else
                           f"{v / bv:.3f} ({v / 1e6:.0f}M)" if bv else f"{v / 1e6:.0f}M")
            L.append(f"| {b.argv[0]} | " + " | ".join(out) + " |")
        L.append("| **geometric mean** | " + " | ".join(
            f"**{geomean(ratios[n]):.3f}**" if ratios[n] else "" for n in names) + " |")
    if rounds:
        L += ["", "| peak RSS, MB | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        val = {}
        for b in benches:
            cells = results.get(b.name, {})
            val[b.name] = {n: c["rss_median_kb"] / 1024 for n, c in cells.items()
                           if c["status"] == "ok" and c["rss_median_kb"]}
            bv, out = val[b.name].get(base), []
            for n in names:
                c, v = cells.get(n), val[b.name].get(n)
                if c is None:
                    out.append("")
                elif c["status"] != "ok":
                    out.append(f"**{c['status']}**")
                else:
                    out.append(f"{v / bv:.2f} ({v:.3g})" if bv and v else fmt_num(v))
            L.append(f"| {b.argv[0]} | " + " | ".join(out) + " |")

        def gm(n, d):  # peak RSS is steady from round to round: the ratio of medians
            return geomean([v[n] / v[d] for v in val.values() if v.get(n) and v.get(d)])
        L.append("| **geometric mean** | " + " | ".join(
            f"**{gm(n, base):.3f}**" if base and gm(n, base) else "" for n in names) + " |")
        if "hakmem" in names:
            L.append("| hakmem ÷ this allocator | " + " | ".join(
                f"{gm('hakmem', n):.3f}" if gm("hakmem", n) else "" for n in names) + " |")
    L.append("")
    return L


def report_md(info, benches, results, allocs, cg, st, setname, rounds, cg_names, pir=None, pir_scale=None):
    names = [a.name for a in allocs]
    base = BASELINE if BASELINE in names else (names[0] if names else None)
    L = [f"# hakmem benchmarks — set `{setname}`, {rounds} rounds, {info['date']}", ""]
    L.append("Machine: " + ", ".join(f"{k}: {info[k]}" for k in
             ("host", "cpu", "cpus", "memory", "kernel", "glibc", "thp", "nr_hugepages", "numa_nodes_online",
              "load_average", "hakmem_commit")))
    L.append("")
    for n, what in info["allocators"].items():
        L.append(f"- **{n}**: {what}")
    for n, why in info["absent"].items():
        L.append(f"- **{n}**: absent — {why}")
    micro = [b for b in benches if not b.program]
    if micro:
        L += speed_tables(micro, results, names, base, rounds)
    if len(micro) < len(benches):
        L += program_tables([b for b in benches if b.program], results, names, base, rounds,
                            pir, pir_scale)
    if cg:
        L += ["", "## Callgrind instructions per operation (repeatable; lower is better)", "",
              "(Ir(N) − Ir(0)) / N: the benchmark loop's own instructions included, start-up excluded. "
              "`ideal` is bench/ideal_lifo.c (a per-class LIFO behind a 16-byte header): the loop plus "
              "the cheapest malloc/free, the floor to measure the others against.", ""]
        L.append("| benchmark | " + " | ".join(cg_names) + " |")
        L.append("|---|" + "---:|" * len(cg_names))
        for bname, cells in cg.items():
            L.append(f"| {bname} | " + " | ".join(
                "" if n not in cells else ("failed" if cells[n] is None else f"{cells[n]:.1f}") for n in cg_names) + " |")
    if st:
        L += ["", "## System calls per run (strace -f -c; one run): all (memory: mmap, munmap, madvise, "
              "mremap, mprotect, brk)", ""]
        L.append("| benchmark | " + " | ".join(names) + " |")
        L.append("|---|" + "---:|" * len(names))
        for bname, cells in st.items():
            L.append(f"| {bname} | " + " | ".join(
                "" if n not in cells else ("failed" if cells[n] is None else str(cells[n])) for n in names) + " |")
    hk = [(b, c["hk"]) for b, cells in results.items() for n, c in cells.items()
          if n == "hakmem-linked" and c.get("hk")]
    if hk:
        keys = sorted({k for _, d in hk for k in d})
        L += ["", "## hakmem internals (linked builds, hk_stats_get at exit, last round)", "",
              "| benchmark | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
        L += [f"| {b} | " + " | ".join(d.get(k, "") for k in keys) + " |" for b, d in hk]
    # Failures, with detail
    fails = [(b, n, c) for b, cells in results.items() for n, c in cells.items() if c["status"] != "ok"]
    if fails:
        L += ["", "## Failed runs", ""]
        for b, n, c in fails:
            L.append(f"- {b} under {n}: {c['status']} — {c.get('detail', '')}")
    return "\n".join(L) + "\n"


def charts(path_base, benches, results, allocs, programs=False):
    """Two PNGs via gnuplot: ratios to the baseline, and peak RSS. Returns the files made.
    programs: the real-program rows, as CPU time ratios (lower is better, as in their table)."""
    if not shutil.which("gnuplot"):
        log("gnuplot not found: no charts")
        return []
    names = [a.name for a in allocs]
    base = BASELINE if BASELINE in names else names[0]
    rows = [r for r in build_rows(benches, results) if r[3]]
    made = []
    what = "real programs" if programs else "benchmarks"
    if programs:
        path_base += "-programs"
    for kind in ("ratio", "rss"):
        dat = f"{path_base}-{kind}.dat"
        with open(dat, "w") as f:
            f.write("bench " + " ".join(names) + "\n")
            for label, metric, bname, _ in rows:
                cells = results.get(bname, {})
                vals = []
                for n in names:
                    c = cells.get(n)
                    v = None
                    if c and c["status"] == "ok":
                        if kind == "ratio" and programs:  # as in their table: fastest rounds
                            v = (fastest_ratio(cells, n, base, metric) or [None])[0]
                        elif kind == "ratio":  # as in their table: fastest rounds, > 1 better
                            v = (speed_ratio(cells, n, base, metric) or [None])[0] if n != base else 1.0
                        else:
                            v = c["rss_median_kb"] / 1024
                    vals.append("NaN" if v is None else f"{v:.4g}")
                f.write(label.replace(" ", "_") + " " + " ".join(vals) + "\n")
        png = f"{path_base}-{kind}.png"
        ylabel = ("peak RSS, MB (log scale; lower is better)" if kind == "rss" else
                  f"CPU time relative to {base}, fastest rounds (lower is better)" if programs else
                  f"speed relative to {base} (higher is better)")
        plots = ", ".join(f"'{dat}' using {i + 2}:xtic(1) title '{n}'" if i == 0
                          else f"'' using {i + 2} title '{n}'" for i, n in enumerate(names))
        width = max(1600, 300 + 8 * len(rows) * len(names))  # room for every bar
        gp = "\n".join([
            f"set terminal pngcairo size {width},700 font ',10'"
            if "pngcairo" in sh("gnuplot -e 'set terminal' 2>&1") else f"set terminal png size {width},700",
            f"set output '{png}'", "set termoption noenhanced",
            "set datafile missing 'NaN'",
            "set style data histograms", "set style histogram clustered gap 1",
            "set style fill solid 0.85 border -1", "set boxwidth 0.9",
            "set xtics rotate by -45 scale 0 font ',9'", "set key top left horizontal reverse Left",
            "set grid ytics", f"set ylabel '{ylabel}'",
            "set logscale y 2" if kind == "ratio" else "set logscale y 10",
            "set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 dt 2" if kind == "ratio" else "",
            f"set title 'hakmem {what}: {'ratio to ' + base if kind == 'ratio' else 'peak RSS'}'",
            f"plot {plots}", ""])
        gpf = f"{path_base}-{kind}.gp"
        with open(gpf, "w") as f:
            f.write(gp)
        p = subprocess.run(["gnuplot", gpf], capture_output=True, text=True)
        if p.returncode == 0 and os.path.exists(png):
            made.append(png)
        else:
            log(f"gnuplot failed for {kind}: {p.stderr.strip()[:300]}")
    return made


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", default="default", help="default, full or callgrind")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3; full 5; 0: none, e.g. with --prog-ir)")
    ap.add_argument("--only", default=None, help="regex on benchmark names")
    ap.add_argument("--row-secs", type=float, default=None,
                    help="a row (not a program) shorter than this over --rounds gets more rounds, up to "
                         "this many seconds per allocator and 5x --rounds (default 1; full 3)")
    ap.add_argument("--alloc", default=None, help="comma list of allocators to run")
    ap.add_argument("--callgrind", action="store_true", help="also callgrind instructions per operation")
    ap.add_argument("--strace", action="store_true", help="also syscall counts (strace -c)")
    ap.add_argument("--aa", action="store_true",
                    help=f"also run {BASELINE} a second time as {BASELINE}-aa: ratios to itself, the run's noise")
    ap.add_argument("--prog-ir", type=float, default=None, metavar="SCALE",
                    help="also the real programs' whole instructions under callgrind at this scale (0.1)")
    ap.add_argument("--cg-n", type=int, default=1000000, help="operations per callgrind run")
    ap.add_argument("--O", dest="builddir", default=os.path.join(ROOT, "build"), help="build directory")
    ap.add_argument("--out", default=None, help="where reports go (default BUILD/bench)")
    args = ap.parse_args()
    # SIGTERM unwinds like Ctrl-C, so a reserved hugetlb pool is given back.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    bindir = os.path.join(args.builddir, "bench")
    outdir = args.out or bindir
    os.makedirs(outdir, exist_ok=True)
    rounds = args.rounds if args.rounds is not None else 5 if args.set == "full" else 3
    suites = [os.path.join(ROOT, "bench", "suite.txt")] + sorted(
        p for p in (os.path.join(ROOT, "bench", f) for f in os.listdir(os.path.join(ROOT, "bench")))
        if p.endswith(".suite"))
    all_benches = parse_suite(suites, os.cpu_count() or 1)
    pick = lambda s: [b for b in all_benches if s in b.sets and (not args.only or re.search(args.only, b.name))]
    cg_only = args.set == "callgrind"
    benches = [] if cg_only else pick(args.set)
    missing = [b for b in benches + pick("callgrind") if (program_missing(b) if b.program else
               not os.path.exists(os.path.join(bindir, b.argv[0])))]
    for b in missing:
        log(f"bench: {b.name}: " + (f"program {b.argv[0]} not installed (tools/deps.sh bench)" if b.program
            else f"binary {b.argv[0]} not built") + f" ({b.origin}); skipped")
    benches = [b for b in benches if b not in missing]

    allocs, absent = find_allocs(args.builddir, bindir, args.alloc)
    base_lib = next((a.preload for a in allocs if a.name == BASELINE), None)
    if args.aa and base_lib:
        # an A/A control: the baseline again under another name; its ratios are this run's noise
        allocs.append(Alloc(BASELINE + "-aa", preload=base_lib, family=BASELINE))
    if cg_only or args.callgrind:
        cg_allocs = allocs + [a for a in find_allocs(args.builddir, bindir, None, ideal=True)[0]
                              if a.name == "ideal"]
    else:
        cg_allocs = allocs
    for n, why in absent:
        log(f"bench: allocator {n} absent: {why}")
    if not allocs:
        raise SystemExit("bench: no allocator to run")
    log(f"bench: set {args.set}: {len(benches)} benchmarks x {len(allocs)} allocators "
        f"({', '.join(a.name for a in allocs)}) x {rounds} rounds")
    info = machine(allocs, absent)
    row_secs = args.row_secs if args.row_secs is not None else 3.0 if args.set == "full" else 1.0
    results = run_suite(benches, allocs, rounds, bindir, row_secs, 5 * rounds) if benches and rounds else {}
    cg = st = None
    if cg_only or args.callgrind:
        cgb = [b for b in pick("callgrind") if b not in missing]
        cg = run_callgrind(cgb, cg_allocs, bindir, args.cg_n)
    if args.strace and benches:
        st = run_strace(benches, allocs, bindir)
    pir = None
    if args.prog_ir and any(b.program for b in benches):
        pir = run_program_ir([b for b in benches if b.program], allocs, bindir, args.prog_ir)

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = os.path.join(outdir, f"bench-{args.set}-{stamp}")
    # the raw rounds first: a report that cannot be drawn must not lose a run's data
    with open(base + ".json", "w") as f:
        json.dump({"machine": info, "set": args.set, "rounds": rounds, "results": results,
                   "callgrind": cg, "strace": st, "program_ir": pir}, f, indent=1, default=str)
    md = report_md(info, benches, results, allocs, cg, st, args.set, rounds,
                   [a.name for a in cg_allocs], pir, args.prog_ir)
    micro = [b for b in benches if not b.program]
    pngs = charts(base, micro, results, allocs) if results and micro else []
    if results and any(b.program for b in benches):
        pngs += charts(base, [b for b in benches if b.program], results, allocs, programs=True)
    if pngs:
        md += "\n" + "\n".join(f"![{os.path.basename(p)}]({os.path.basename(p)})" for p in pngs) + "\n"
    with open(base + ".md", "w") as f:
        f.write(md)
    print(md)
    log(f"bench: report {base}.md" + (f", charts {', '.join(pngs)}" if pngs else ""))


if __name__ == "__main__":
    main()
