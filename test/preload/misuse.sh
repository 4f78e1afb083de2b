#!/usr/bin/env bash
# test/preload/misuse.sh — invalid frees through the libc names (progs/misuse.c) abort
# with SIGABRT and a one-line message on stderr naming the call and the pointer.
set -u
P=$HK_O/test/preload/progs
fail() { echo "FAIL: $*"; exit 1; }

for kind in small medium large interior stack realloc free_sized; do
	out=$(LD_PRELOAD=$HAKMEM_SO "$P/misuse" $kind 2>/tmp/hk-misuse.$$)
	rc=$?
	err=$(cat /tmp/hk-misuse.$$)
	rm -f /tmp/hk-misuse.$$
	[ $rc -eq 134 ] || fail "$kind: exit $rc, want SIGABRT (134); stderr: $err"
	ptr=$(sed -n 's/^ptr 0x//p' <<<"$out")
	[ -n "$ptr" ] || fail "$kind: no pointer printed"
	line=$(grep -i "$ptr" <<<"$err") || fail "$kind: stderr does not name the pointer 0x$ptr: $err"
	grep -qiE 'free|realloc|delete' <<<"$line" || fail "$kind: message does not name the call: $line"
	echo "$kind: $line"
done
echo "misuse through libc names: ok"
