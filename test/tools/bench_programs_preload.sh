#!/usr/bin/env bash
# test/tools/bench_programs_preload.sh — bench/programs/run.py runs each program in a
# temporary directory, so the library to preload is handed down as an absolute path
# (a relative one loaded nothing there, silently), and a path that names no file stops
# the run instead of measuring glibc under the allocator's name.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
python3 - "$root" <<'PY'
import importlib.util, os, sys, tempfile
root = sys.argv[1]
spec = importlib.util.spec_from_file_location("programs_run", os.path.join(root, "bench", "programs", "run.py"))
rp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rp)

with tempfile.TemporaryDirectory(dir=root) as d:
    lib = os.path.join(d, "lib.so")
    open(lib, "w").close()
    rel = os.path.relpath(lib, root)
    env = rp.env_for(rel)
    if env["LD_PRELOAD"] != lib:
        sys.exit(f"LD_PRELOAD={env['LD_PRELOAD']!r} for {rel!r}, want {lib!r}")
    two = rp.env_for(f"{rel}:{rel}")["LD_PRELOAD"].split()
    if two != [lib, lib]:
        sys.exit(f"two libraries became {two!r}")
    try:
        rp.env_for(os.path.join(rel, "none.so"))
        sys.exit("a missing library was accepted")
    except SystemExit as e:
        if "no such library" not in str(e):
            raise
print("ok")
PY
