#!/usr/bin/env bash
# test/preload/family.sh — the C allocation family, threads and fork through the libc
# names under LD_PRELOAD (progs/family.c, progs/threads.c), every block checked to be
# hakmem's; then small everyday programs give the same output as without preload.
set -u
P=$HK_O/test/preload/progs
fail() { echo "FAIL: $*"; exit 1; }

HK_EXPECT_HAKMEM=1 LD_PRELOAD=$HAKMEM_SO "$P/family" || fail "progs/family under preload"
HK_EXPECT_HAKMEM=1 LD_PRELOAD=$HAKMEM_SO "$P/threads" || fail "progs/threads under preload"

# Everyday programs: same output (and exit status) with and without hakmem.
same() {
	local want got
	want=$("$@" 2>&1; echo "rc=$?")
	got=$(LD_PRELOAD=$HAKMEM_SO "$@" 2>&1; echo "rc=$?")
	[ "$want" = "$got" ] || fail "'$*' differs under preload: $(diff <(echo "$want") <(echo "$got") | head -5)"
}
same ls -la /usr/include
same sort -r /usr/include/stdlib.h
same awk '{ n[$1]++ } END { for (k in n) c++; print c }' /usr/include/stdio.h
same sh -c 'for i in $(seq 1 200); do echo $i; done | tac | head -3'
same sed -n 's/extern/EXTERN/p' /usr/include/unistd.h
echo "family, threads and everyday programs: ok"
