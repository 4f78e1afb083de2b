#!/usr/bin/env python3
"""bench/programs/run.py — one real Debian program under one allocator.

Owns: the workloads (python3, lua5.4, sqlite3, gcc, perl, redis-server, jq,
git), their generated inputs (made once per scale in WORK, outside any timing),
and a RESULT line with the program's CPU time (user+sys of the whole process
tree, from wait4; redis: the server's own /proc/PID/stat) and peak RSS
(/usr/bin/time's %M, the largest process of the tree; redis: the server's
VmHWM), with its minor page faults (minflt: a fault costs 7-40 us on a VM).
tools/bench-run.py calls it per round.
Must not: run under the allocator itself. The allocator to measure comes in
HK_PROG_PRELOAD (or --preload) and is put in LD_PRELOAD of the program only.
Invariant: check=ok only when the program's output matches the output of a
run without preload (computed once per scale and cached in WORK). Every
allocator gets the same treatment: fixed hash seeds, real-time priority, and
the pin its caller chose (HK_PROG_CPU: a serial program, or redis's server, runs
on that CPU).

Usage: [HK_PROG_CPU=N] run.py run NAME [--scale S] [--work DIR] [--preload LIB]
       run.py prepare NAME [--scale S] [--work DIR]   inputs and reference, untimed
       run.py have NAME          exit 0 if the program is installed
       run.py list
       run.py callgrind NAME --preload LIB [--scale S] [--work DIR]
       run.py profile NAME,... --alloc name=LIB,... [--scale S]   markdown table
"""
import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TICK = os.sysconf("SC_CLK_TCK")


# ---- generated inputs (deterministic; made once per scale) ------------------------------

def gen_sql(path, scale):
    n = int(200000 * scale)
    with open(path, "w") as f:
        f.write(f"""
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INT, val REAL, note TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n})
INSERT INTO t SELECT x, 'name' || (x * 7919 % 100003), x % 1000, (x * 37 % 1000) / 7.0,
	printf('%.*c', x % 60, 'n') FROM c;
CREATE INDEX t_name ON t(name);
CREATE INDEX t_grp ON t(grp, val);
SELECT grp, count(*), round(sum(val), 3), max(name) FROM t GROUP BY grp
	ORDER BY sum(val) DESC, grp LIMIT 10;
UPDATE t SET note = note || 'updated' || id WHERE id % 3 = 0;
DELETE FROM t WHERE id % 7 = 0;
SELECT count(*), sum(length(note)) FROM t;
SELECT name, count(*) FROM t GROUP BY name ORDER BY 2 DESC, 1 LIMIT 5;
CREATE TABLE u AS SELECT grp, group_concat(name) AS names FROM t GROUP BY grp;
SELECT sum(length(names)) FROM u;
SELECT a.grp, count(*) FROM t a JOIN u b ON a.grp = b.grp WHERE a.id < 20000
	GROUP BY a.grp ORDER BY 2 DESC, 1 LIMIT 3;
SELECT count(DISTINCT substr(note, 1, 20)), max(length(note)) FROM t;
""")


def gen_c(path, scale):
    """A C file that keeps gcc -O2 busy: many functions with loops, switches, strings."""
    n = int(150 * scale)
    with open(path, "w") as f:
        f.write("#include <stdio.h>\n#include <string.h>\n"
                "struct node { struct node *next; int key; char name[24]; };\n")
        for i in range(1, n + 1):
            f.write(f"static int h_{i}(int x) {{ return x * {i} % 1009; }}\n")
        for i in range(1, n + 1):
            f.write(f"""static const char *names_{i}[] = {{ "a{i}", "bb{i}", "ccc{i}", "dddd{i}" }};
int f_{i}(int x, struct node *n) {{
	int s = 0;
	for (int k = 0; k < x % 17; k++) {{
		switch ((x + k) & 7) {{
		case 0: s += k * {i}; break;
		case 1: s ^= (int)strlen(names_{i}[k & 3]); break;
		case 2: s -= n ? n->key : {i}; break;
		case 3: if (n && n->next) s += n->next->key; break;
		case 4: {{ char b[32]; snprintf(b, sizeof(b), "%d-{i}", x); s += b[1]; break; }}
		default: s += (x << 2) / ({i} + k + 1);
		}}
	}}
	return s + h_{max(1, i - 1)}(x);
}}
""")
        f.write("int main(void) { int s = 0; for (int i = 0; i < 100; i++) "
                f"s += f_{n}(i, 0); printf(\"%d\\n\", s); return 0; }}\n")


def gen_json(path, scale):
    rnd = random.Random(11)
    n = int(45000 * scale)
    tags = ["red", "blue", "bulk", "gift", "promo", "eu", "us", "late", "new", "vip"]
    with open(path, "w") as f:
        f.write("[")
        for i in range(n):
            o = {"id": i, "customer": f"c{rnd.randrange(4000):04d}", "sku": f"sku-{rnd.randrange(20000)}",
                 "qty": rnd.randrange(1, 9), "price": rnd.randrange(100, 100000) / 100,
                 "tags": rnd.sample(tags, rnd.randrange(0, 4)), "note": "x" * rnd.randrange(0, 80)}
            f.write(("," if i else "") + json.dumps(o))
        f.write("]\n")


def gen_history(path, scale):
    """A git fast-import stream: files edited over many commits, fixed dates."""
    rnd = random.Random(5)
    nfiles, ncommits = 300, int(200 * scale)
    files = {f"src/f{i:04d}.c": [f"int value_{(i * 7 + k) % 50} = {k};" for k in range(60)]
             for i in range(nfiles)}
    with open(path, "w") as f:
        for c in range(ncommits):
            touched = files if c == 0 else rnd.sample(sorted(files), 12)
            for name in touched:
                lines = files[name]
                for _ in range(rnd.randrange(1, 8)):
                    pos = rnd.randrange(len(lines) + 1)
                    lines.insert(pos, f"int value_{rnd.randrange(50)}_{c} = {rnd.randrange(1000)};")
                if len(lines) > 200:
                    del lines[rnd.randrange(len(lines)):][:20]
            msg = f"commit {c}\n"
            f.write(f"commit refs/heads/main\nmark :{c + 1}\n"
                    f"author hk <hk@example.invalid> {1767225600 + c * 60} +0000\n"
                    f"committer hk <hk@example.invalid> {1767225600 + c * 60} +0000\n"
                    f"data {len(msg)}\n{msg}")
            if c:
                f.write(f"from :{c}\n")
            for name in touched:
                data = "\n".join(files[name]) + "\n"
                f.write(f"M 100644 inline {name}\ndata {len(data.encode())}\n{data}")
            f.write("\n")


def gen_redis(path, scale):
    """redis-cli --pipe input (RESP): strings of every size band, hashes, lists,
    sets, sorted sets, then appends (realloc) and deletes."""
    rnd = random.Random(3)
    n = int(20000 * scale)

    def cmd(*args):
        out = [f"*{len(args)}\r\n"]
        for a in args:
            a = str(a)
            out.append(f"${len(a.encode())}\r\n{a}\r\n")
        return "".join(out)

    with open(path, "w") as f:
        for i in range(n):
            size = rnd.choice((8, 20, 60, 200, 700, 1500, 5000))
            f.write(cmd("SET", f"s:{i}", "v" * size))
            f.write(cmd("HSET", f"h:{i % 2000}", f"f{i}", i))
            f.write(cmd("RPUSH", f"l:{i % 500}", f"item{i}"))
            f.write(cmd("SADD", f"set:{i % 700}", i * 13 % 100000))
            f.write(cmd("ZADD", f"z:{i % 300}", i % 977, f"m{i}"))
        for i in range(0, n, 3):
            f.write(cmd("APPEND", f"s:{i}", "tail" * (i % 50)))
        for i in range(0, n, 5):
            f.write(cmd("DEL", f"s:{i}"))
        for i in range(0, 500, 2):
            f.write(cmd("LTRIM", f"l:{i}", 0, 40))


# ---- running ----------------------------------------------------------------------------

# python3's and perl's hash seeds change with every run (string hashes, so dict and set
# layouts, and perl's key order): under callgrind, python3's instructions varied by 0.12 %
# and perl's by 0.05 % between runs, and by 0.0004 % with these fixed. The same values go
# to every allocator and to the reference run; a caller's own setting wins (PYTHONHASHSEED=
# random to measure the difference). lua5.4 seeds from addresses and the clock: no knob.
FIXED_SEEDS = {"PYTHONHASHSEED": "0", "PERL_HASH_SEED": "0", "PERL_PERTURB_KEYS": "0"}


def env_for(preload, extra=None):
    env = dict(FIXED_SEEDS)
    env.update(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("HK_PROG_PRELOAD", None)
    env.pop("HK_PROG_CPU", None)  # the same environment, whichever CPU a run got
    env.update(LC_ALL="C", **(extra or {}))
    if preload:
        env["LD_PRELOAD"] = preload_path(preload)
    return env


def preload_path(preload):
    """LD_PRELOAD's value for a program that runs in its own temporary directory:
    each library as an absolute path, checked to exist. A relative one did not load
    there, and the dynamic loader only warns on stderr: the run measured glibc under
    the allocator's name (run.py profile's "hk=build/libhakmem.so" read 0.00M)."""
    libs = [os.path.abspath(lib) for lib in preload.replace(":", " ").split()]
    missing = [lib for lib in libs if not os.path.isfile(lib)]
    if missing:
        raise SystemExit(f"programs: no such library to preload: {' '.join(missing)}")
    return " ".join(libs)


# Peak RSS and minor faults come from /usr/bin/time, which forks the program
# from its own small process: the rusage of a process this script starts
# includes this Python's own peak (Linux keeps the pre-exec peak in the
# process's maxrss), which put a ~20 MB floor under every program (git read
# 20096 KB under all five allocators). CPU time stays wait4's (microseconds).
PEAK = ["/usr/bin/time", "-f", "%M %R", "-o"]


# The timed program runs at a real-time priority (SCHED_FIFO 1; its children inherit it;
# redis: the server, not its clients), so the other processes of a loaded machine do not
# preempt it: each preemption costs the program cache and TLB refills that count as its own
# CPU time. Interleaved, under load 6-9, ten runs each: python3 took 1.13 s on average at
# the normal priority and 0.82 s at this one, lua 0.97 and 0.71 s, git 0.81 and 0.78 s;
# sqlite3, perl and jq the same at both (within 3 %). It does not narrow the spread from
# run to run: that comes from below the VM, whose two CPUs run at different speeds.
# The kernel keeps 5 % of each second for everything else, and the other CPU stays free.
# HK_PROG_SCHED=normal turns it off; without the right (not root) the program runs at the
# normal priority, and the RESULT line says so (sched=).
#
# The pin: HK_PROG_CPU=N (tools/bench-run.py sets it before each run to the CPU that is
# fastest then, bench_sched.pick_cpu) pins a program whose process tree runs one process
# at a time (Program.serial) to CPU N, and the RESULT line says which (cpu=; none: not
# pinned). Unpinned, lua's rounds read 0.45-0.55 or 0.93-1.13 s under every allocator, as
# they landed on the fast or the slow CPU. gcc runs cc1, then as (no -pipe); git runs one
# command at a time, and its threaded parts (git grep, pack-objects) took 0.05 of its
# 0.6 s of CPU; a pipe's two ends (git log | cksum) take turns on the one CPU. redis is
# a server and its clients at once: its server alone is pinned to CPU N (Program.pin_server),
# its clients to the other CPUs, so that the server's CPU time is taken at one CPU's speed
# and no client takes its turns there. Without HK_PROG_CPU nothing is pinned.
def child_setup(cpu):
    """Popen's preexec_fn: between fork and exec, in the program's first process (its
    children inherit both): pinned to cpu (None: not), at real-time priority."""
    def setup():
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        if os.environ.get("HK_PROG_SCHED", "fifo") != "fifo":
            return
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
        except OSError:
            pass
    return setup


def run_cpu(prog):
    """The CPU to pin prog to: HK_PROG_CPU for a serial program or a server, else None
    (unset, empty, not a CPU this process may use, or a program that needs more than one)."""
    v = os.environ.get("HK_PROG_CPU", "")
    pinned = prog.serial or prog.pin_server
    if not pinned or not v.isdigit() or int(v) not in os.sched_getaffinity(0):
        return None
    return int(v)


def elsewhere(cpu):
    """Popen's preexec_fn for a server's client: on every CPU but the server's (cpu None,
    or no other CPU: anywhere)."""
    others = os.sched_getaffinity(0) - {cpu}
    if cpu is None or not others:
        return None
    return lambda: os.sched_setaffinity(0, others)


def realtime_allowed():
    """Whether child_setup's priority will take (the RESULT line's sched=)."""
    if os.environ.get("HK_PROG_SCHED", "fifo") != "fifo":
        return "normal"
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        return "fifo"
    except OSError:
        return "normal"


def run_child(argv, env, cwd, stdin=None, wrap=None, cpu=None):
    """Runs argv to completion (pinned to cpu unless None): (exit status, stdout bytes,
    {cpu_secs, user_secs, sys_secs, maxrss_kb, minflt} of its process tree)."""
    with tempfile.TemporaryFile() as out, open(stdin or os.devnull, "rb") as inp, \
         tempfile.NamedTemporaryFile("r") as peak:
        timed = [] if wrap else PEAK + [peak.name, "--"]
        p = subprocess.Popen((wrap or []) + timed + argv, stdin=inp, stdout=out,
                             stderr=subprocess.PIPE, env=env, cwd=cwd,
                             preexec_fn=None if wrap else child_setup(cpu))
        err = p.stderr.read()
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        if p.returncode != 0:
            sys.stderr.write(err.decode(errors="replace")[-2000:])
        m = {"cpu_secs": ru.ru_utime + ru.ru_stime, "user_secs": ru.ru_utime,
             "sys_secs": ru.ru_stime, "maxrss_kb": ru.ru_maxrss, "minflt": ru.ru_minflt}
        if timed and p.returncode == 0:
            # time's last line (a killed program's status line comes first)
            m["maxrss_kb"], m["minflt"] = map(int, peak.read().split("\n")[-2].split())
        return p.returncode, out.read(), m


class Program:
    """A command whose stdout (or a file it writes) must match the unpreloaded run."""
    serial = True  # its processes run one at a time: it may be pinned to one CPU
    pin_server = False  # a server measured alone: pinned, its clients elsewhere (Redis)

    def __init__(self, name, need, argv, stdin=None, prepare=None, result_file=None, scale_arg=True):
        self.name, self.need, self._argv = name, need, argv
        self.stdin, self.prepare, self.result_file = stdin, prepare, result_file
        self.scale_arg = scale_arg

    def missing(self):
        return [b for b in self.need if not shutil.which(b)]

    def inputs(self, work, scale):
        """Generated inputs for this scale, made once (atomically: tmp + rename)."""
        if not self.prepare:
            return
        fn, fname = self.prepare
        path = os.path.join(work, fname)
        if not os.path.exists(path):
            fn(path + ".tmp", scale)
            os.replace(path + ".tmp", path)

    def argv(self, work, scale):
        return [a.format(here=HERE, work=work, scale=scale) for a in self._argv]

    def run(self, work, scale, preload, wrap=None, cpu=None):
        """(ok, output digest, {cpu_secs, user_secs, sys_secs, wall_secs, maxrss_kb});
        cpu: the CPU to pin it to, or None."""
        self.inputs(work, scale)
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            t0 = time.monotonic()
            stdin = os.path.join(work, self.stdin) if self.stdin else None
            rc, out, m = run_child(self.argv(work, scale), env_for(preload), tmp, stdin, wrap, cpu)
            m["wall_secs"] = time.monotonic() - t0
            if self.result_file and rc == 0:
                with open(os.path.join(tmp, self.result_file), "rb") as f:
                    out = f.read()
        return rc == 0, hashlib.sha256(out).hexdigest(), m


class Redis(Program):
    """redis-server under the allocator, on a private 127.0.0.1 port; a generated
    dataset loaded with redis-cli --pipe and checked (DEBUG DIGEST, reads), then
    redis-benchmark on another database. Client and loader run without preload;
    only the server's CPU time and VmHWM count. The server is stopped by its PID.
    Not serial: server and clients run at once; a cpu (run_cpu's) pins the server alone,
    and its clients run on the other CPUs."""
    serial = False
    pin_server = True

    def run(self, work, scale, preload, wrap=None, cpu=None):
        self.inputs(work, scale)
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
        s.close()
        plain = env_for(None)
        cli = ["redis-cli", "-p", port]
        away = elsewhere(cpu)
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            srv = subprocess.Popen((wrap or []) + [
                "redis-server", "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--dir", tmp, "--logfile", os.path.join(tmp, "log"),
                "--enable-debug-command", "local"], env=env_for(preload), cwd=tmp,
                preexec_fn=None if wrap else child_setup(cpu))
            t0 = time.monotonic()
            try:
                for _ in range(200):
                    if subprocess.run(cli + ["ping"], env=plain, capture_output=True, preexec_fn=away).stdout.strip() == b"PONG":
                        break
                    if srv.poll() is not None:
                        return False, "", {}
                    time.sleep(0.05)
                with open(os.path.join(work, "redis.resp"), "rb") as f:
                    ok = subprocess.run(cli + ["--pipe"], stdin=f, env=plain, capture_output=True, preexec_fn=away).returncode == 0
                out = b""
                for c in (["debug", "digest"], ["dbsize"], ["strlen", "s:3"], ["hlen", "h:7"],
                          ["lrange", "l:2", "0", "5"], ["zrange", "z:5", "0", "3"], ["scard", "set:9"]):
                    out += subprocess.run(cli + c, env=plain, capture_output=True, preexec_fn=away).stdout
                n = str(int(40000 * scale))
                bench = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", port, "--dbnum", "3",
                                        "-n", n, "-c", "16", "-P", "16", "-r", "20000", "-d", "150", "-q",
                                        "-t", "set,get,incr,lpush,rpop,sadd,hset,zadd,lrange_100"],
                                       env=plain, capture_output=True, preexec_fn=away)
                ok = ok and bench.returncode == 0 and b"requests per second" in bench.stdout
                out += subprocess.run(cli + ["dbsize"], env=plain, capture_output=True, preexec_fn=away).stdout
                with open(f"/proc/{srv.pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                utime, stime = int(fields[11]) / TICK, int(fields[12]) / TICK
                minflt = int(fields[7])
                with open(f"/proc/{srv.pid}/status") as f:
                    hwm = int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1))
            finally:
                if srv.poll() is None:
                    os.kill(srv.pid, signal.SIGTERM)
                try:
                    rc = srv.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.kill(srv.pid, signal.SIGKILL)
                    rc = srv.wait()
            wall = time.monotonic() - t0
        m = {"cpu_secs": utime + stime, "user_secs": utime, "sys_secs": stime, "wall_secs": wall,
             "maxrss_kb": hwm, "minflt": minflt}
        return ok and rc == 0, hashlib.sha256(out).hexdigest(), m


PROGRAMS = {p.name: p for p in [
    Program("python3", ["/usr/bin/python3"], ["/usr/bin/python3", "{here}/objects.py", "{scale}"]),
    Program("lua", ["lua5.4"], ["lua5.4", "{here}/tables.lua", "{scale}"]),
    Program("sqlite3", ["sqlite3"], ["sqlite3", ":memory:"], stdin="t.sql", prepare=(gen_sql, "t.sql")),
    Program("gcc", ["gcc"], ["gcc", "-O2", "-c", "{work}/gen.c", "-o", "out.o"],
            prepare=(gen_c, "gen.c"), result_file="out.o"),
    Program("perl", ["perl"], ["perl", "{here}/words.pl", "{scale}"]),
    Redis("redis", ["redis-server", "redis-cli", "redis-benchmark"], [], prepare=(gen_redis, "redis.resp")),
    Program("jq", ["jq"], ["jq", "-c", "-f", "{here}/report.jq", "{work}/orders.json"],
            prepare=(gen_json, "orders.json")),
    Program("git", ["git"], ["sh", "{here}/git.sh", "{work}"], prepare=(gen_history, "history.fi")),
]}


def workdir(base, scale):
    """Inputs and reference digests live in BASE/<hash of this folder's files>-<scale>:
    a changed workload never meets an old reference."""
    h = hashlib.sha256()
    for f in sorted(os.listdir(HERE)):
        if os.path.isfile(os.path.join(HERE, f)):
            with open(os.path.join(HERE, f), "rb") as fh:
                h.update(f.encode() + fh.read())
    # absolute: the programs run in a temporary folder and read their inputs by this path
    d = os.path.join(os.path.abspath(base), f"{h.hexdigest()[:12]}-{scale:g}")
    os.makedirs(d, exist_ok=True)
    return d


def reference(prog, work, scale):
    """The digest of a run without preload, made once."""
    path = os.path.join(work, prog.name + ".ref")
    if not os.path.exists(path):
        ok, digest, _ = prog.run(work, scale, None)
        if not ok:
            raise SystemExit(f"programs: {prog.name} fails without preload")
        with open(path + ".tmp", "w") as f:
            f.write(digest)
        os.replace(path + ".tmp", path)
    with open(path) as f:
        return f.read().strip()


# ---- callgrind: where the allocator's instructions go -----------------------------------

# Entry points of glibc's malloc inside libc.so.6 (a preloaded allocator's object
# holds nothing else, so every function of it counts there).
GLIBC_ENTRY = re.compile(r"^(malloc|free|calloc|realloc|reallocarray|malloc_usable_size|posix_memalign|"
                         r"aligned_alloc|memalign|valloc|pvalloc|cfree|__libc_\w+)$")
# Entry points by what they do, whatever the allocator names them (hk_malloc, mi_malloc, ...).
KINDS = [("realloc", r"realloc"), ("calloc", r"calloc"), ("usable_size", r"usable_size|malloc_size"),
         ("aligned", r"align|valloc"), ("free", r"free|delete|_Zd[la]Pv"), ("malloc", r"malloc|new|_Zn[wa]m")]


def parse_callgrind(path, lib):
    """{entry function: [calls, inclusive Ir]} over every call arc from code outside the
    allocator (lib; None: glibc's malloc in libc.so.6) into it, and the total Ir. Arcs
    inside the allocator are skipped, so nothing is counted twice."""
    names, ob, fn, cob, cfn, calls = {}, None, None, None, None, None
    total, arcs = 0, {}

    def name(kind, rest):  # "(12) text" defines id 12, "(12)" refers to it
        m = re.match(r"\((\d+)\)\s*(.*)", rest)
        if not m:
            return rest
        if m.group(2):
            names[(kind, m.group(1))] = m.group(2)
        return names.get((kind, m.group(1)), "?")

    def ours(obj, f):
        if lib:
            return obj == lib
        return obj and obj.endswith("/libc.so.6") and GLIBC_ENTRY.match(f)

    with open(path, errors="replace") as fh:
        for line in fh:
            key, eq, rest = line.rstrip("\n").partition("=")
            if eq and key in ("ob", "fn", "cob", "cfn"):
                v = name("fn" if key in ("fn", "cfn") else "ob", rest)
                v = re.sub(r"'\d+$", "", v)
                if key == "ob":
                    ob = v
                elif key == "fn":
                    fn = v
                elif key == "cob":
                    cob = v
                else:
                    cfn = v
            elif eq and key == "calls":
                calls = int(rest.split()[0])
            elif line.startswith("summary:") or line.startswith("totals:"):
                total = max(total, int(line.split()[1]))
            elif calls is not None and line[:1] in "0123456789+-*":
                cost = int(line.split()[1]) if len(line.split()) > 1 else 0
                callee_ob = cob or ob
                if ours(callee_ob, cfn) and not ours(ob, fn):
                    a = arcs.setdefault(cfn, [0, 0])
                    a[0] += calls
                    a[1] += cost
                calls = cob = cfn = None
    return total, arcs


def callgrind(prog, work, scale, preload):
    """Runs the program under callgrind (children traced): whether its output matched,
    its total Ir, and the allocator's inclusive Ir and calls per kind of entry."""
    with tempfile.TemporaryDirectory() as cgdir:
        wrap = ["valgrind", "--tool=callgrind", "--trace-children=yes",
                f"--callgrind-out-file={cgdir}/cg.%p"]
        ok, digest, _ = prog.run(work, scale, preload, wrap)
        ok = ok and digest == reference(prog, work, scale)
        lib = os.path.realpath(preload) if preload else None
        total, kinds = 0, {}
        for f in os.listdir(cgdir):
            t, arcs = parse_callgrind(os.path.join(cgdir, f), lib)
            total += t
            for fn, (calls, cost) in arcs.items():
                kind = next((k for k, rx in KINDS if re.search(rx, fn)), "other")
                k = kinds.setdefault(kind, [0, 0])
                k[0] += calls
                k[1] += cost
    return ok, total, kinds


def profile(a):
    """callgrind for each program and allocator: the allocator's share of all
    instructions, and instructions per call of each kind of entry point."""
    allocs = [x.partition("=")[::2] for x in a.alloc.split(",") if x]
    print(f"| program (scale {a.scale:g}) | allocator | total Ir | allocator Ir | share | "
          "Ir per call: malloc / free / realloc / calloc / usable_size |")
    print("|---|---|---:|---:|---:|---|")
    for name in a.name.split(","):
        prog = PROGRAMS[name]
        work = workdir(a.work, a.scale)
        reference(prog, work, a.scale)
        for an, lib in allocs:
            ok, total, kinds = callgrind(prog, work, a.scale, lib or None)
            alloc = sum(v[1] for v in kinds.values())
            per = " / ".join(f"{kinds[k][1] / kinds[k][0]:.0f} ({kinds[k][0]})" if kinds.get(k, [0])[0] else "—"
                             for k in ("malloc", "free", "realloc", "calloc", "usable_size"))
            print(f"| {name} | {an}{'' if ok else ' **FAIL**'} | {total / 1e6:.1f}M | {alloc / 1e6:.2f}M | "
                  f"{100 * alloc / max(total, 1):.1f}% | {per} |", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cmd", choices=["run", "prepare", "have", "list", "callgrind", "profile"])
    ap.add_argument("--alloc", default="", help="profile: name=LIB,... (LIB empty: glibc)")
    ap.add_argument("name", nargs="?")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "hakmem-programs"))
    ap.add_argument("--preload", default=os.environ.get("HK_PROG_PRELOAD") or None)
    a = ap.parse_args()
    if a.cmd == "list":
        for p in PROGRAMS.values():
            print(p.name, "missing: " + " ".join(p.missing()) if p.missing() else "ok")
        return
    if a.cmd == "profile":
        return profile(a)
    prog = PROGRAMS.get(a.name)
    if not prog:
        raise SystemExit(f"programs: unknown program {a.name!r} ({', '.join(PROGRAMS)})")
    if a.cmd == "have":
        sys.exit(1 if prog.missing() else 0)
    work = workdir(a.work, a.scale)
    want = reference(prog, work, a.scale)
    if a.cmd == "prepare":
        return
    if a.cmd == "callgrind":
        ok, total, kinds = callgrind(prog, work, a.scale, a.preload)
        alloc = sum(v[1] for v in kinds.values())
        print(f"CALLGRIND program={prog.name} check={'ok' if ok else 'FAIL'} total_ir={total} "
              f"alloc_ir={alloc} " + " ".join(f"{k}_calls={c} {k}_ir={v}" for k, (c, v) in sorted(kinds.items())))
        sys.exit(0 if ok else 1)
    cpu = run_cpu(prog)
    ok, digest, m = prog.run(work, a.scale, a.preload, cpu=cpu)
    check = "ok" if ok and digest == want else "FAIL"
    m["sched"] = realtime_allowed()
    m["cpu"] = "none" if cpu is None else cpu
    print(f"RESULT bench={prog.name} " + " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                                                  for k, v in m.items()) + f" check={check}")
    sys.exit(0 if check == "ok" else 1)


if __name__ == "__main__":
    main()
