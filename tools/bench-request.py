#!/usr/bin/env python3
"""tools/bench-request.py — the per-request benchmark's runner (bench/request/).

Owns: the table of ways to serve a request's memory (K blocks, then free-all):
hakmem arenas + hk_arena_reset (plain and HK_ARENA_BUMP), APR pools, mimalloc
heaps, talloc, glibc obstack, and plain malloc/free under every allocator
bench-run.py finds (glibc, hakmem, mimalloc, jemalloc, tcmalloc preloaded).
Each round runs every row under every way (interleaved: A B C ..., A B C ...);
cells are medians of ns per request with the ratio to the hakmem arena.
Must not: fail because one way is missing or breaks (its column says why).
Invariant: a run counts only if its self-check passed (check=ok).

With --callgrind: instructions per request instead (callgrind, the
difference of two run lengths, so start-up and set-up cancel out): repeatable
on a loaded machine, where the timings are not.

Usage: bench-request.py [--set default|full] [--rounds N] [--O BUILD] [--only REGEX]
                        [--callgrind]
"""
import argparse
import datetime
import importlib.util
import json
import os
import re
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location("bench_run", os.path.join(ROOT, "tools", "bench-run.py"))
br = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(br)

# (K, smallest, largest block): the default set; full adds K = 16 and 256.
ROWS = {"default": [(k, lo, hi) for lo, hi in ((16, 256), (16, 4096)) for k in (4, 64, 1024)],
        "full": [(k, lo, hi) for lo, hi in ((16, 256), (16, 4096)) for k in (4, 16, 64, 256, 1024)]}
BASE = "hk-arena"


class Way:
    def __init__(self, name, binary, variant="", preload=None, what=""):
        self.name, self.binary, self.variant, self.preload, self.what = name, binary, variant, preload, what

    def argv(self, bindir, k, lo, hi, blocks, ms=400):
        return [os.path.join(bindir, self.binary), str(k), str(lo), str(hi), str(blocks), str(ms)] + \
            ([self.variant] if self.variant else [])

    def env(self):
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        if self.preload:
            env["LD_PRELOAD"] = self.preload
        return env


def find_ways(builddir, bindir):
    ways = [Way("hk-arena", "request_hk", what="hk_arena_malloc + hk_arena_reset (libhakmem.a)"),
            Way("hk-bump", "request_hk", "bump", what="the same, arena created with HK_ARENA_BUMP"),
            Way("hk-life", "request_hk", "life", what="an arena per request: hk_arena_create, hk_arena_malloc, hk_arena_destroy"),
            Way("apr", "request_apr", what="apr_palloc + apr_pool_clear"),
            Way("mi-heap", "request_mi", what="mi_heap_new, mi_heap_malloc, mi_heap_destroy"),
            Way("talloc", "request_talloc", what="talloc_new child, talloc_size, talloc_free"),
            Way("obstack", "request_obstack", what="obstack_alloc, obstack_free to the first block")]
    preloads = [("glibc", None)]
    so = os.path.join(builddir, "libhakmem.so")
    if os.path.exists(so) and br.exports_malloc(so):
        preloads.append(("hakmem", os.path.abspath(so)))
    for name, sonames, _ in br.PEERS:
        lib = br.find_lib(sonames)
        if lib:
            preloads.append((name, lib))
    for name, lib in preloads:
        ways.append(Way(f"malloc:{name}", "request_malloc", preload=lib,
                        what=f"malloc/free of each block, {'LD_PRELOAD=' + lib if lib else 'glibc'}"))
    ok, absent = [], []
    for w in ways:
        if not os.path.exists(os.path.join(bindir, w.binary)):
            absent.append((w.name, f"{w.binary} was not built"))
            continue
        r = br.run_once(w.argv(bindir, 4, 16, 64, 400), w.env(), 30)
        if r["status"] == "ok":
            ok.append(w)
        else:
            tail = r.get("stderr", "").strip().splitlines()[-1:]
            absent.append((w.name, f"smoke run: {r['status']} {tail[0] if tail else ''}".strip()))
    return ok, absent


def run(ways, rows, rounds, bindir, blocks):
    cells = {}  # (row, way) -> {"values": [...], "status", "detail"}
    total, done = len(ways) * len(rows) * rounds, 0
    t0 = br.time.monotonic()
    for r in range(1, rounds + 1):
        for row in rows:
            for w in ways:
                done += 1
                cell = cells.setdefault((row, w.name), {"status": "ok", "values": []})
                if cell["status"] != "ok":
                    continue
                res = br.run_once(w.argv(bindir, *row, blocks), w.env(), 120)
                if res["status"] != "ok":
                    cell.update(status=res["status"], detail=res.get("detail", ""))
                    msg = res["status"]
                else:
                    v = float(res["kv"]["ns_per_req"])
                    cell["values"].append(v)
                    msg = f"{v:.0f} ns/request"
                el = br.time.monotonic() - t0
                br.log(f"[{done:4d}/{total}] K={row[0]:<5} {row[1]}-{row[2]:<5} {w.name:<16} "
                       f"round {r}/{rounds}  {msg}   (~{el / done * (total - done):.0f}s left)")
    for cell in cells.values():
        if cell["status"] == "ok" and cell["values"]:
            cell["median"] = statistics.median(cell["values"])
    return cells


CG_REQUESTS = (200, 1200)  # two run lengths; each run also warms up with a tenth as many


def run_callgrind(ways, rows, bindir):
    """Instructions per request: (Ir(long) - Ir(short)) / (1.1 x the extra requests)."""
    import concurrent.futures
    cells = {}

    def one(job):
        row, w = job
        k = row[0]
        irs = [br.callgrind_count(w.argv(bindir, k, row[1], row[2], n * k, 10 ** 7), w.env())
               for n in CG_REQUESTS]
        if None in irs:
            return {"status": "fail", "values": []}
        v = (irs[1] - irs[0]) / (1.1 * (CG_REQUESTS[1] - CG_REQUESTS[0]))
        return {"status": "ok", "values": [v], "median": v}

    jobs = [(row, w) for row in rows for w in ways]
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as ex:
        futs = {ex.submit(one, j): j for j in jobs}
        for i, f in enumerate(concurrent.futures.as_completed(futs), 1):
            row, w = futs[f]
            cells[(row, w.name)] = c = f.result()
            br.log(f"[{i:3d}/{len(jobs)}] callgrind K={row[0]:<5} {row[1]}-{row[2]:<5} {w.name:<16} "
                   + (f"{c['median']:.0f} instructions/request" if c["status"] == "ok" else "failed"))
    return cells


def table(ways, rows, cells, rounds, blocks, unit="ns"):
    names = [w.name for w in ways]
    peers = [n for n in names if not n.startswith("hk-") and n != "malloc:hakmem"]
    what = (f"ns per request (median of {rounds} interleaved rounds; {blocks} blocks per run)"
            if unit == "ns" else "callgrind instructions per request (user space only)")
    L = [f"## Per request: K blocks then free-all, {what}", "",
         f"Each cell: {unit} (ratio to {BASE}; > 1: {BASE} is faster). Last column: the fastest way "
         "that is not hakmem, and how many times slower it is than the fastest hakmem way.", "",
         "| K | sizes | " + " | ".join(names) + " | fastest peer |",
         "|---:|---|" + "---:|" * (len(names) + 1)]
    for row in rows:
        base = cells.get((row, BASE), {}).get("median")
        out = []
        for n in names:
            c = cells.get((row, n))
            if not c or c["status"] != "ok":
                out.append(f"**{c['status']}**" if c else "")
                continue
            v = c["median"]
            out.append(f"{v:.0f} ({v / base:.2f})" if base else f"{v:.0f}")
        hk = [cells[(row, n)]["median"] for n in names if n.startswith("hk-") and "median" in cells[(row, n)]]
        pv = [(cells[(row, n)]["median"], n) for n in peers if "median" in cells[(row, n)]]
        best = ""
        if hk and pv:
            v, n = min(pv)
            best = f"{n} {v / min(hk):.2f}"
        L.append(f"| {row[0]} | {row[1]}–{row[2]} B | " + " | ".join(out) + f" | {best} |")
    return L


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", default="default", choices=sorted(ROWS))
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3; full 5)")
    ap.add_argument("--blocks", type=int, default=2000000, help="blocks per run (requests = blocks / K)")
    ap.add_argument("--only", default=None, help="regex on way names")
    ap.add_argument("--callgrind", action="store_true", help="instructions per request, not time")
    ap.add_argument("--O", dest="builddir", default=os.path.join(ROOT, "build"), help="build directory")
    args = ap.parse_args()
    bindir = os.path.join(args.builddir, "bench")
    rounds = args.rounds or (5 if args.set == "full" else 3)
    ways, absent = find_ways(args.builddir, bindir)
    if args.only:
        ways = [w for w in ways if re.search(args.only, w.name)]
    for n, why in absent:
        br.log(f"bench-request: {n} absent: {why}")
    if not ways:
        raise SystemExit("bench-request: no way to run")
    rows = ROWS[args.set]
    if args.callgrind:
        cells, rounds = run_callgrind(ways, rows, bindir), 1
    else:
        cells = run(ways, rows, rounds, bindir, args.blocks)
    info = br.machine([], absent)
    L = [f"# hakmem per-request benchmark — set `{args.set}`, {rounds} rounds, {info['date']}", "",
         "Machine: " + ", ".join(f"{k}: {info[k]}" for k in ("host", "cpu", "cpus", "kernel", "glibc",
                                                              "load_average", "hakmem_commit")), ""]
    L += [f"- **{w.name}**: {w.what}" for w in ways]
    L += [f"- **{n}**: absent — {why}" for n, why in absent]
    L += [""] + table(ways, rows, cells, rounds, args.blocks, "instructions" if args.callgrind else "ns")
    fails = [(row, n, c) for (row, n), c in cells.items() if c["status"] != "ok"]
    if fails:
        L += ["", "Failed runs:"] + [f"- K={r[0]} {r[1]}–{r[2]} B under {n}: {c['status']} — "
                                     f"{c.get('detail', '')}" for r, n, c in fails]
    md = "\n".join(L) + "\n"
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    out = os.path.join(bindir, f"request-{args.set}{'-callgrind' if args.callgrind else ''}-{stamp}")
    with open(out + ".md", "w") as f:
        f.write(md)
    with open(out + ".json", "w") as f:
        json.dump({"machine": info, "rounds": rounds, "blocks": args.blocks,
                   "cells": [{"k": r[0], "min": r[1], "max": r[2], "way": n, **c}
                             for (r, n), c in cells.items()]}, f, indent=1)
    print(md)
    br.log(f"bench-request: report {out}.md")


if __name__ == "__main__":
    main()
