#!/usr/bin/env bash
# test/preload/guard.sh — the sampling guard (core/guard.c) under LD_PRELOAD:
# with HAKMEM_GUARD_RATE=1 every small block is guarded, so a 1-byte overflow,
# a use after free, an overflow into the alignment slack and a double free
# of a sampled block each abort with a report naming the block, its size,
# the access and the allocation (and free) stacks; many guarded blocks keep
# their data; a fault outside the pool still gets the default action; and
# HAKMEM_GUARD_RATE=0 turns the guard off; guarding loads no unwinder; a rate
# that is not a size is reported and ignored.
# Freed pages are kept for reuse (no fault) a bounded number at a time, and
# reused oldest first, so a use after free of a block on a reused page
# still faults while its page waits.
set -u
P=$HK_O/test/preload/progs
fail() { echo "FAIL: $*"; exit 1; }
grep -q 'define CONFIG_HK_SAMPLE 1' "$HK_CONFIG_H" || { echo "built without CONFIG_HK_SAMPLE"; exit 77; }
err=$(mktemp)
trap 'rm -f "$err"' EXIT

# run MODE RATE: sets rc, out, ptr, and the stderr file $err
run() {
	out=$(HAKMEM_GUARD_RATE=$2 LD_PRELOAD=$HAKMEM_SO "$P/guard" "$1" 2>"$err")
	rc=$?
	ptr=$(sed -n 's/^ptr 0x//p' <<<"$out")
}
want() { grep -qE -- "$1" "$err" || fail "$mode: no '$1' in the report: $(cat "$err")"; }

mode=overflow; run overflow 1
[ $rc -eq 134 ] || fail "overflow: exit $rc, want SIGABRT (134): $(cat "$err")"
want "heap-buffer-overflow \(write\) at 0x[0-9a-f]+, 1 bytes past the end of block 0x$ptr of 64 bytes"
want "allocated at:"
want "access at:"

# The stacks walk frame pointers: the program's call into malloc is the
# first frame even in a program built without them.
grep -A1 "allocated at:" "$err" | grep -q "progs/guard+" ||
	fail "overflow: the allocation stack does not start in the program: $(cat "$err")"

mode=uaf; run uaf 1
[ $rc -eq 134 ] || fail "uaf: exit $rc, want SIGABRT: $(cat "$err")"
want "use-after-free \(read\) at 0x[0-9a-f]+, byte 8 of freed block 0x$ptr of 64 bytes"
want "freed at:"
# hakmem's own frames are dropped from the free stack too (free_slow,
# outside the hk_entry section, was its first frame).
grep -A1 "freed at:" "$err" | grep -q "progs/guard+" ||
	fail "uaf: the free stack does not start in the program: $(cat "$err")"

mode=slack; run slack 1
[ $rc -eq 134 ] || fail "slack: exit $rc, want SIGABRT: $(cat "$err")"
want "heap-buffer-overflow found at free: byte 60 of guarded block 0x$ptr of 60 bytes"

mode=double; run double 1
[ $rc -eq 134 ] || fail "double: exit $rc, want SIGABRT: $(cat "$err")"
want "free\(\): double free or use of freed block 0x$ptr"

# Kept pages: a page comes back after D > 1 frees (a FIFO, not the last
# freed); after a burst of 200 frees the stats count the pages kept: at
# least D, at most the documented 32 (core/guard.c HK_GUARD_KEPT, README).
mode=kept
out=$(HAKMEM_STATS=1 HAKMEM_GUARD_RATE=1 LD_PRELOAD=$HAKMEM_SO "$P/guard" kept 2>"$err") ||
	fail "kept: exit $?: $(cat "$err")"
d=$(sed -n 's/^reuse //p' <<<"$out")
[ "${d:-0}" -gt 1 ] || fail "kept: a freed page came back after ${d:-no} frees: $out"
k=$(sed -n 's/.*sampler: [0-9]* guarded blocks, \([0-9]*\) freed kept resident.*/\1/p' "$err")
[ -n "$k" ] || fail "kept: no count of kept pages in the stats: $(cat "$err")"
[ "$k" -ge "$d" ] && [ "$k" -le 32 ] || fail "kept: $k pages kept after a burst (reuse after $d, bound 32)"

mode=quarantine; run quarantine 1
[ $rc -eq 134 ] || fail "quarantine: exit $rc, want SIGABRT: $(cat "$err")"
want "use-after-free \(read\) at 0x[0-9a-f]+, byte 8 of freed block 0x$ptr of 64 bytes"

mode=wild; run wild 1
[ $rc -eq 139 ] || fail "wild: exit $rc, want SIGSEGV's default action (139): $(cat "$err")"
grep -q "hakmem: guard" "$err" && fail "wild: the guard reported a fault outside its pool"

mode=data; run data 1
[ $rc -eq 0 ] && [ "$out" = "data ok" ] || fail "data: exit $rc, $out: $(cat "$err")"

# Off: no guard report (a hardened build's canary may still catch it at free).
mode=off; run overflow 0
grep -q "hakmem: guard" "$err" && fail "HAKMEM_GUARD_RATE=0: the guard still caught it: $(cat "$err")"
[ $rc -eq 0 ] || grep -q "heap overflow" "$err" || fail "HAKMEM_GUARD_RATE=0: exit $rc: $(cat "$err")"
# The guard's stacks load no unwinder: libunwind and liblzma cost every
# process ~110 KiB resident, ~250 KiB after a first unw_step (a third of
# the small make bench rows' excess over mimalloc); the profiler's is
# libgcc_s, which cat does not load.
mode=maps
maps=$(HAKMEM_GUARD_RATE=1 LD_PRELOAD=$HAKMEM_SO cat /proc/self/maps) || fail "maps: cat failed"
grep -q 'libhakmem' <<<"$maps" || fail "maps: hakmem not loaded"
grep -E 'libunwind|liblzma|libgcc_s' <<<"$maps" && fail "maps: the guard loaded an unwinder"
# A rate that is not a size is reported at start-up and ignored (-1 and
# 99999999999999999999 were read as SIZE_MAX: the guard silently off).
mode=rate
for v in -1 99999999999999999999 64q 20000000000G ' 8M'; do
	e=$(HAKMEM_GUARD_RATE="$v" LD_PRELOAD=$HAKMEM_SO "$P/guard" data 2>&1 >/dev/null) ||
		fail "HAKMEM_GUARD_RATE='$v': exit $?: $e"
	grep -qF "hakmem: HAKMEM_GUARD_RATE=$v: not a size" <<<"$e" ||
		fail "HAKMEM_GUARD_RATE='$v' was not reported: $e"
done
e=$(HAKMEM_GUARD_RATE=8M LD_PRELOAD=$HAKMEM_SO "$P/guard" data 2>&1 >/dev/null) ||
	fail "HAKMEM_GUARD_RATE=8M: exit $?: $e"
[ -z "$e" ] || fail "HAKMEM_GUARD_RATE=8M: $e"
echo "guard: overflow, use after free, slack, double free, kept pages, quarantine, data, chaining, off, no unwinder, bad rates: ok"
