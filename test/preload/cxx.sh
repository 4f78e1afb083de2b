#!/usr/bin/env bash
# test/preload/cxx.sh — every C++ operator new/delete form under LD_PRELOAD
# (progs/cxx_new.cc): hakmem's blocks, std::bad_alloc thrown (also by aligned
# new(SIZE_MAX, 4096)), nothrow forms nullptr; a wrong-size sized delete aborts;
# the same failures in C++ code a C program loaded with dlopen (progs/cxx_host).
set -u
P=$HK_O/test/preload/progs
fail() { echo "FAIL: $*"; exit 1; }

HK_EXPECT_HAKMEM=1 LD_PRELOAD=$HAKMEM_SO "$P/cxx_new" || fail "progs/cxx_new under preload"

out=$(LD_PRELOAD=$HAKMEM_SO "$P/cxx_new" wrong-size-delete 2>&1)
rc=$?
[ $rc -eq 134 ] || fail "sized delete with a wrong size: exit $rc, want SIGABRT (134): $out"
ptr=$(sed -n 's/^ptr 0x//p' <<<"$out")
grep -v '^ptr' <<<"$out" | grep -qi "$ptr" || fail "the wrong-size delete message does not name $ptr: $out"
# A C program that dlopen'ed C++ code: its failed new throws, calls its
# new_handler (once aborted: the runtime came after hakmem's start-up); its
# nothrow new calls the new_handler too (it returned nullptr at once).
out=$(LD_PRELOAD=$HAKMEM_SO "$P/cxx_host" "$HK_O/test/preload/plugin/cxx_plugin.so" 2>&1) ||
	fail "C++ plugin of a C program: exit $?: $out"
echo "C++ operators: ok"
