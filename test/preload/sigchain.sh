#!/usr/bin/env bash
# test/preload/sigchain.sh — the guard's SIGSEGV handler comes with the
# first guarded block, after a program may have installed its own; a fault
# outside the guard's pool must then get what the program asked for: the
# handler's SA_RESETHAND, SA_NODEFER and sa_mask honoured, and a SIGSEGV
# sent by raise() under the default action still kills (each one differed
# before, e.g. a returning SA_RESETHAND handler ran forever). The expected
# exit is the one without hakmem, checked first.
set -u
P=$HK_O/test/preload/progs/sigchain
fail() { echo "FAIL: $*"; exit 1; }
grep -q 'define CONFIG_HK_SAMPLE 1' "$HK_CONFIG_H" || { echo "built without CONFIG_HK_SAMPLE"; exit 77; }
err=$(mktemp)
trap 'rm -f "$err"' EXIT
for mode in resethand default nodefer mask; do
	want=$("$P" $mode >/dev/null 2>&1; echo $?)
	out=$(HAKMEM_GUARD_RATE=1 timeout 20 env LD_PRELOAD=$HAKMEM_SO "$P" $mode 2>"$err")
	rc=$?
	[ "$out" = taken ] || [ "$out" = "taken
survived" ] || fail "$mode: hakmem did not take over SIGSEGV (the test tests nothing): $out"
	[ $rc -eq "$want" ] || fail "$mode: exit $rc under hakmem, $want without: $(cat "$err")"
	grep -q "hakmem: guard" "$err" && fail "$mode: the guard reported a fault outside its pool"
done
# A SA_RESETHAND handler runs once, the default action after it, but in
# the chain only: a later fault of the guard's pool still gets the report
# (put back in the kernel, the default dropped hakmem's handler too: killed
# by SIGSEGV, no report).
out=$(HAKMEM_GUARD_RATE=1 timeout 20 env LD_PRELOAD=$HAKMEM_SO "$P" resethand_then_guard 2>"$err")
rc=$?
[ "$out" = "taken
recovered" ] || fail "resethand_then_guard: printed '$out' (exit $rc): $(cat "$err")"
[ $rc -eq 134 ] || fail "resethand_then_guard: exit $rc, want SIGABRT (134) after the guard's report: $(cat "$err")"
grep -q "heap-buffer-overflow" "$err" || fail "resethand_then_guard: no report: $(cat "$err")"
echo "sigchain: SA_RESETHAND (also before a guard fault), raise under SIG_DFL, SA_NODEFER, sa_mask: ok"
