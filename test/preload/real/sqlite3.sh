#!/usr/bin/env bash
# test/preload/real/sqlite3.sh — sqlite3 with a few thousand inserts, an index and
# queries gives the same answers under LD_PRELOAD=$HAKMEM_SO (also with numactl), and ran
# on hakmem (test/common/loaded.sh).
set -u
. "$(dirname "$0")/../../common/loaded.sh"
command -v sqlite3 >/dev/null || { echo "no sqlite3"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
{
	echo 'CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, v REAL, blob BLOB);'
	echo 'BEGIN;'
	for i in $(seq 1 5000); do
		echo "INSERT INTO t(name, v, blob) VALUES ('name$((i % 97))-$i', $i * 1.5, randomblob($((i % 300))));"
	done
	echo 'COMMIT;'
	echo 'CREATE INDEX tn ON t(name);'
	echo "SELECT count(*), sum(v), sum(length(blob)) FROM t;"
	echo "SELECT name, count(*) FROM t GROUP BY substr(name, 1, 6) ORDER BY 2 DESC, 1 LIMIT 5;"
	echo "SELECT group_concat(id) FROM (SELECT id FROM t WHERE name LIKE 'name13-%' ORDER BY id LIMIT 20);"
	echo "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000) SELECT sum(x), count(*) FROM c;"
	echo "UPDATE t SET name = upper(name) WHERE id % 3 = 0; SELECT count(*) FROM t WHERE name GLOB 'NAME*';"
	echo 'DELETE FROM t WHERE id % 2 = 0; VACUUM; SELECT count(*) FROM t;'
} >"$d/script.sql"
want=$(sqlite3 "$d/a.db" <"$d/script.sql") || fail "sqlite3 without preload failed"
got=$(LD_PRELOAD=$HAKMEM_SO HAKMEM_STATS=1 sqlite3 "$d/b.db" <"$d/script.sql" 2>"$d/stats") || fail "sqlite3 under preload failed"
hk_loaded "$d/stats" 1 sqlite3
# randomblob() contents differ between runs; the queries only use their lengths.
[ "$want" = "$got" ] || fail "sqlite3 output differs: $(diff <(echo "$want") <(echo "$got") | head)"
got=$(LD_PRELOAD=$HAKMEM_SO HAKMEM_STATS=1 sqlite3 :memory: <"$d/script.sql" 2>"$d/stats") || fail "sqlite3 :memory: under preload failed"
hk_loaded "$d/stats" 1 "sqlite3 :memory:"
[ "$want" = "$got" ] || fail "sqlite3 (:memory:) output differs"
if command -v numactl >/dev/null; then
	got=$(LD_PRELOAD=$HAKMEM_SO HAKMEM_STATS=1 numactl --localalloc sqlite3 :memory: <"$d/script.sql" 2>"$d/stats") ||
		fail "sqlite3 + numactl failed"
	hk_loaded "$d/stats" 1 "numactl + sqlite3"
	[ "$want" = "$got" ] || fail "sqlite3 output differs under numactl --localalloc"
fi
echo "sqlite3: same answers ($(head -1 <<<"$want"))"
