#!/usr/bin/env bash
# test/preload/ulimit.sh — hakmem under `ulimit -v` (DESIGN §8.7): programs start and
# work under a 1 GiB address-space limit, the limit still bounds the heap (a request
# beyond it is NULL/MemoryError, not a crash), and the heap recovers afterwards.
set -u
fail() { echo "FAIL: $*"; exit 1; }
PY=/usr/bin/python3
P=$HK_O/test/preload/progs

out=$(ulimit -v 1048576; HK_EXPECT_HAKMEM=1 LD_PRELOAD=$HAKMEM_SO "$P/family" 2>&1) ||
	fail "progs/family under ulimit -v 1 GiB: $out"
out=$(ulimit -v 1048576; LD_PRELOAD=$HAKMEM_SO ls /usr/include 2>&1 | wc -l)
[ "$out" -gt 10 ] || fail "ls under ulimit -v 1 GiB"
if [ -x $PY ]; then
	out=$(ulimit -v 1048576; LD_PRELOAD=$HAKMEM_SO $PY -c '
blocks = []
try:
    for i in range(100):            # 100 x 64 MiB: beyond the 1 GiB limit
        blocks.append(bytearray(64 << 20))
    print("no MemoryError")
except MemoryError:
    n = len(blocks)
    blocks.clear()
    again = [bytearray(64 << 20) for _ in range(4)]   # the heap recovers
    print("MemoryError after %d blocks; recovered %d" % (n, len(again)))
' 2>&1)
	grep -q '^MemoryError after [0-9]* blocks; recovered 4$' <<<"$out" || fail "python3 under ulimit -v: $out"
	n=$(sed 's/MemoryError after \([0-9]*\).*/\1/' <<<"$out")
	[ "$n" -le 16 ] || fail "the 1 GiB limit did not bound the heap: $n x 64 MiB allocated"
	echo "$out"
fi
echo "ulimit -v: ok"
