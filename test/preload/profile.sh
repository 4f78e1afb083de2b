#!/usr/bin/env bash
# test/preload/profile.sh — the heap profiler under LD_PRELOAD (HAKMEM_PROFILE).
# progs/leaker leaks 64 MiB in 1 KiB blocks from leak_kib_blocks and churns
# other sizes: google-pprof --text on the exit dump must put leak_kib_blocks
# first with 64 MiB +- 15 %; the folded stacks and the leak report name it;
# the same from 4 threads; every block sampled (rate 1) through the libc family,
# errno kept, no file descriptor taken;
# the rate read with suffixes (64k), a bad one reported; a forked child writes its own file (its pid), never
# the parent's; python3 building a large dict, dumped on a signal
# (HAKMEM_PROFILE_SIGNAL), names interpreter allocation functions.
set -u
P=$HK_O/test/preload/progs
fail() { echo "FAIL: $*"; exit 1; }
grep -q 'define CONFIG_HK_PROFILE 1' "$HK_CONFIG_H" || { echo "built without CONFIG_HK_PROFILE"; exit 77; }
command -v google-pprof >/dev/null || { echo "google-pprof is not installed (google-perftools)"; exit 77; }
# Debian's interpreter itself (a pyenv shim on PATH would be a shell script).
PY=/usr/bin/python3
[ -x $PY ] || { echo "no /usr/bin/python3"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# first_mib FUNCTION PROGRAM FILE: the MB pprof gives FUNCTION's own line,
# which must be the first (largest) one
first_mib() {
	local txt
	txt=$(google-pprof --text "$2" "$3" 2>/dev/null)
	awk -v f="$1" '/^ +[0-9.]+ +[0-9.]+%/ { if ($6 == f) { print $1; exit 0 } exit 1 }' <<<"$txt" ||
		{ echo "pprof --text:" >&2; head -n 8 <<<"$txt" >&2; return 1; }
}
in_range() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v >= lo && v <= hi) }'; }

# The rate: 64 MiB of 1 KiB blocks give 128 samples at the default 512 KiB,
# so the estimate's standard error is 8.8 % and a 15 % check would fail one
# run in eleven; at 32 KiB (2048 samples, 2.2 %) 15 % is 6.8 standard errors.
# The default rate is checked below with a margin of 4.5 standard errors.
HAKMEM_PROFILE=$dir/one HAKMEM_PROFILE_RATE=32768 LD_PRELOAD=$HAKMEM_SO "$P/leaker" >/dev/null ||
	fail "leaker exited $?"
heap=$(ls "$dir"/one.*.heap 2>/dev/null | head -n 1)
[ -n "$heap" ] || fail "no dump at exit: $(ls "$dir")"
head -n 1 "$heap" | grep -qE '^heap profile: +[0-9]+: +[0-9]+ \[ *[0-9]+: +[0-9]+\] @ heap_v2/32768$' ||
	fail "bad header: $(head -n 1 "$heap")"
grep -q '^MAPPED_LIBRARIES:' "$heap" || fail "no MAPPED_LIBRARIES section"
grep -q '^# arena 0 ' "$heap" || fail "no per-arena live bytes"
mib=$(first_mib leak_kib_blocks "$P/leaker" "$heap") || fail "pprof: leak_kib_blocks is not first"
in_range "$mib" 54.4 73.6 || fail "pprof: leak_kib_blocks has $mib MB, want 64 +- 15 %"
grep -q 'main;leak_kib_blocks [0-9]' "$heap.folded" || fail "folded stacks do not name leak_kib_blocks"
sed -n 3p "$heap.leaks" | grep -q 'leak_kib_blocks' || fail "leak report: first site is not leak_kib_blocks: $(cat "$heap.leaks")"
echo "one thread: leak_kib_blocks first with $mib MB"

# Every block sampled (rate 1), through the whole libc family: libunwind's
# first use in a thread allocates its TLS through malloc, and that block was
# sampled in turn, unwinding again, until the stack overflowed (SIGSEGV).
HK_EXPECT_HAKMEM=1 HAKMEM_PROFILE=$dir/all HAKMEM_PROFILE_RATE=1 LD_PRELOAD=$HAKMEM_SO "$P/family" >/dev/null ||
	fail "family with every block sampled exited $?"
ls "$dir"/all.*.heap >/dev/null 2>&1 || fail "no dump with every block sampled: $(ls "$dir")"
echo "every block sampled: family ok"
# A sampled malloc leaves errno alone (libunwind's address check left EAGAIN).
out=$(HAKMEM_PROFILE=$dir/errno HAKMEM_PROFILE_RATE=1 LD_PRELOAD=$HAKMEM_SO "$P/sampled_errno") ||
	fail "every block sampled: $out"
echo "every block sampled: errno kept"
# The profiler opens no file descriptor of the program's: libunwind kept a
# pipe at the lowest free numbers (3 and 4) to check addresses, which the
# program saw (CPython's test_subprocess pass_fds tests failed) and which a
# program that closes its descriptors and opens files there had read from,
# written to and closed by the unwinder.
want_fds=$(ls /proc/self/fd | sort -n | tr '\n' ' ')
got_fds=$(HAKMEM_PROFILE=$dir/fds HAKMEM_PROFILE_RATE=1 LD_PRELOAD=$HAKMEM_SO ls /proc/self/fd | sort -n | tr '\n' ' ') ||
	fail "ls with every block sampled exited $?"
ls "$dir"/fds.*.heap >/dev/null 2>&1 || fail "ls: no dump with every block sampled: $(ls "$dir")"
[ "$got_fds" = "$want_fds" ] || fail "the profiler left descriptors open: ls /proc/self/fd gave $got_fds, $want_fds without it"
echo "every block sampled: no descriptor of the program's taken"

# HAKMEM_PROFILE_RATE takes HAKMEM_GUARD_RATE's suffixes (64k was read as
# 64 bytes: 1024 times the samples); a value that is not a size is reported
# at start-up and the default rate taken.
HAKMEM_PROFILE=$dir/k HAKMEM_PROFILE_RATE=64k LD_PRELOAD=$HAKMEM_SO "$P/family" >/dev/null ||
	fail "family with HAKMEM_PROFILE_RATE=64k exited $?"
h=$(head -n 1 "$(ls "$dir"/k.*.heap | head -n 1)")
[[ $h == *'@ heap_v2/65536' ]] || fail "HAKMEM_PROFILE_RATE=64k: $h"
err=$(HAKMEM_PROFILE=$dir/q HAKMEM_PROFILE_RATE=64q LD_PRELOAD=$HAKMEM_SO "$P/family" 2>&1 >/dev/null) ||
	fail "family with HAKMEM_PROFILE_RATE=64q exited $?: $err"
grep -q '^hakmem: HAKMEM_PROFILE_RATE=64q: not a size' <<<"$err" ||
	fail "HAKMEM_PROFILE_RATE=64q was not reported: $err"
h=$(head -n 1 "$(ls "$dir"/q.*.heap | head -n 1)")
[[ $h == *'@ heap_v2/524288' ]] || fail "HAKMEM_PROFILE_RATE=64q: $h, want the default rate"
echo "HAKMEM_PROFILE_RATE: suffixes read, a bad value reported"

# Profiled samples stay off the guard's pages (two system calls and a page
# fault each) unless the guard picks them at its own rate (64 MiB): of ~2000
# records at 32 KiB, ~1 is guarded (every one was, before open slots).
st=$(HAKMEM_STATS=1 HAKMEM_PROFILE=$dir/st HAKMEM_PROFILE_RATE=32768 LD_PRELOAD=$HAKMEM_SO \
	"$P/leaker" 2>&1 >/dev/null) || fail "leaker (stats) exited $?"
g=$(sed -n 's/.*sampler: \([0-9]*\) guarded blocks.*/\1/p' <<<"$st")
r=$(sed -n 's/.* \([0-9]*\) profile records.*/\1/p' <<<"$st")
[ -n "$g" ] && [ -n "$r" ] && [ "$r" -ge 1000 ] || fail "stats: no sampler line or few records: $st"
[ $((g * 10)) -lt "$r" ] || fail "$g of $r profiled samples are guarded, want ~$((r / 2048))"
echo "open slots: $g of $r profiled samples guarded"

HAKMEM_PROFILE=$dir/def LD_PRELOAD=$HAKMEM_SO "$P/leaker" >/dev/null || fail "leaker exited $?"
heap=$(ls "$dir"/def.*.heap | head -n 1)
head -n 1 "$heap" | grep -q 'heap_v2/524288$' || fail "default rate: header $(head -n 1 "$heap")"
mib=$(first_mib leak_kib_blocks "$P/leaker" "$heap") || fail "default rate: leak_kib_blocks is not first"
in_range "$mib" 38.4 89.6 || fail "default rate: leak_kib_blocks has $mib MB, want 64 +- 40 %"
echo "default rate: leak_kib_blocks first with $mib MB"

HAKMEM_PROFILE=$dir/thr HAKMEM_PROFILE_RATE=32768 LD_PRELOAD=$HAKMEM_SO "$P/leaker" threads >/dev/null ||
	fail "leaker threads exited $?"
heap=$(ls "$dir"/thr.*.heap | head -n 1)
mib=$(first_mib leak_kib_blocks "$P/leaker" "$heap") || fail "threads: leak_kib_blocks is not first"
in_range "$mib" 54.4 73.6 || fail "threads: leak_kib_blocks has $mib MB, want 64 +- 15 %"
echo "four threads: leak_kib_blocks first with $mib MB"

# fork: one dump per process, each named with its own pid, the child's without the leak
HAKMEM_PROFILE=$dir/fork LD_PRELOAD=$HAKMEM_SO "$P/leaker" fork >/dev/null || fail "leaker fork exited $?"
n=$(ls "$dir"/fork.*.heap | wc -l)
[ "$n" -eq 2 ] || fail "fork: $n dumps, want 2 (parent and child, by pid): $(ls "$dir")"
[ "$(ls "$dir"/fork.*.heap | sed 's/.*fork\.\([0-9]*\)\..*/\1/' | sort -u | wc -l)" -eq 2 ] || fail "fork: two dumps with one pid"

# python3 building a large dict, dumped by a signal while the dict is live
# (at exit the interpreter has freed it): interpreter allocation functions
HAKMEM_PROFILE=$dir/py HAKMEM_PROFILE_SIGNAL=USR2 LD_PRELOAD=$HAKMEM_SO $PY -c '
import os, signal
d = {i: str(i) * 3 for i in range(1000000)}
os.kill(os.getpid(), signal.SIGUSR2)
print(len(d))' >/dev/null || fail "python3 exited $?"
heap=$(ls "$dir"/py.*.0000.heap 2>/dev/null)
[ -n "$heap" ] && [ -f "${heap%0000.heap}0001.heap" ] || fail "python3: want a dump on the signal and one at exit: $(ls "$dir")"
txt=$(google-pprof --text $PY "$heap" 2>/dev/null)
# (python3's own symbols are only its exported ones, so pprof names the
# nearest: PyObject_Malloc, PyType_GenericAlloc, PyUnicode_New, ...)
pyalloc='_?Py[A-Za-z_]*(Alloc|Malloc|_New|[Rr]esize)|dictresize|new_keys_object'
grep -qE "$pyalloc" <<<"$txt" ||
	fail "python3: no interpreter allocation function in the profile: $(head -n 20 <<<"$txt")"
echo "python3: $(grep -oE "$pyalloc" <<<"$txt" | sort -u | tr '\n' ' ')"
echo "profile: ok"
