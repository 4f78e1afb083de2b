#!/usr/bin/env bash
# test/preload/real/python3.sh — an allocation-heavy python3 script gives the same
# output under LD_PRELOAD=$HAKMEM_SO as without it (also under numactl --localalloc), and
# ran on hakmem (test/common/loaded.sh).
set -u
. "$(dirname "$0")/../../common/loaded.sh"
PY=/usr/bin/python3
[ -x $PY ] || { echo "no /usr/bin/python3"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
script=$(mktemp --suffix=.py) stats=$(mktemp)
trap 'rm -f "$script" "$stats"' EXIT
cat >"$script" <<'PY'
import hashlib, json, random, threading, collections
random.seed(42)
h = hashlib.sha256()
# Many small objects: dicts, lists, strings, tuples; grown and dropped in waves.
for wave in range(6):
    d = {}
    for i in range(60000):
        k = "k%d-%d" % (wave, i)
        d[k] = [i, str(i) * (i % 13), (i, wave), {"x": i % 7}]
        if i % 3 == 0:
            d.pop("k%d-%d" % (wave, i // 2), None)
    h.update(json.dumps(sorted(d.keys())[:1000]).encode())
    h.update(str(len(d)).encode())
# Big and medium buffers, bytes concatenation, a big sort.
bufs = [bytes(random.getrandbits(8) for _ in range(64)) * random.randint(1, 4000) for _ in range(300)]
h.update(b"".join(bufs[::7]))
xs = [random.random() for _ in range(300000)]
xs.sort()
h.update(repr(xs[::1000]).encode())
c = collections.Counter(random.randint(0, 999) for _ in range(200000))
h.update(repr(sorted(c.items())).encode())
# Threads allocating and handing objects to each other.
out = []
lock = threading.Lock()
def work(n):
    local = [("%d" % i) * 5 for i in range(n)]
    with lock:
        out.append(sum(len(s) for s in local))
ts = [threading.Thread(target=work, args=(20000 + i,)) for i in range(8)]
[t.start() for t in ts]
[t.join() for t in ts]
h.update(repr(sorted(out)).encode())
print(h.hexdigest())
PY
want=$($PY "$script") || fail "python3 without preload failed"
got=$(LD_PRELOAD=$HAKMEM_SO HAKMEM_STATS=1 $PY "$script" 2>"$stats") || fail "python3 under preload failed (exit $?)"
hk_loaded "$stats" 1 python3
[ "$want" = "$got" ] || fail "python3 output differs: $want vs $got"
if command -v numactl >/dev/null; then
	got=$(LD_PRELOAD=$HAKMEM_SO HAKMEM_STATS=1 numactl --localalloc $PY "$script" 2>"$stats") ||
		fail "python3 under preload + numactl --localalloc failed"
	hk_loaded "$stats" 1 "numactl + python3"
	[ "$want" = "$got" ] || fail "python3 output differs under numactl --localalloc"
fi
echo "python3: same output ($want)"
