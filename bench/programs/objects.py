# bench/programs/objects.py — python3 workload for bench/programs/run.py: builds
# and drops objects, strings, dicts, lists and JSON in waves, the way a web or
# data script does. Prints a digest of what it computed (same under any malloc).
import hashlib
import json
import random
import sys

scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
random.seed(7)
h = hashlib.sha256()


class Record:
    __slots__ = ("key", "tags", "score", "parent")

    def __init__(self, key, tags, score, parent):
        self.key, self.tags, self.score, self.parent = key, tags, score, parent


def wave(w, n):
    recs = {}
    prev = None
    for i in range(n):
        key = "user-%d-%06d" % (w, i)
        tags = [("t%d" % (i % k)) for k in range(1, 2 + i % 6)]
        r = Record(key, tags, (i * 2654435761) % 1000, prev)
        recs[key] = r
        prev = r if i % 4 else None
        if i % 5 == 0:  # drop some early ones: holes in the dict and the heap
            recs.pop("user-%d-%06d" % (w, i // 2), None)
    # strings: formatting, joining, splitting
    text = "\n".join("%s,%d,%s" % (r.key, r.score, "|".join(r.tags)) for r in recs.values())
    fields = [line.split(",") for line in text.splitlines()]
    by_tag = {}
    for f in fields:
        for t in f[2].split("|"):
            by_tag.setdefault(t, []).append(int(f[1]))
    # JSON round trip of nested dicts
    doc = {k: {"n": len(v), "sum": sum(v), "top": sorted(v)[-3:]} for k, v in by_tag.items()}
    back = json.loads(json.dumps(doc, sort_keys=True))
    h.update(json.dumps(back, sort_keys=True).encode())
    h.update(str(len(recs)).encode())
    # tuples and sets, a sort by a computed key
    pairs = sorted(((r.score, r.key) for r in recs.values()), key=lambda p: (p[0] % 97, p[1]))
    h.update(repr(pairs[:: max(1, len(pairs) // 50)]).encode())
    seen = {p[1][-4:] for p in pairs}
    h.update(str(len(seen)).encode())


n = int(16000 * scale)
for w in range(8):
    wave(w, n)
# growing and shrinking containers of mixed sizes
blobs = []
for i in range(int(24000 * scale)):
    blobs.append(("x" * (i % 700)) + str(i))
    if len(blobs) > 5000:
        del blobs[: 2500]
h.update("".join(blobs[-100:]).encode())
print(h.hexdigest())
