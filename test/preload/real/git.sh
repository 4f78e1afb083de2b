#!/usr/bin/env bash
# test/preload/real/git.sh — git init/add/commit/log/gc/fsck in a temporary repository
# under LD_PRELOAD=$HAKMEM_SO gives the same commits (fixed dates and identity) as without;
# every git process ran on hakmem (test/common/loaded.sh).
set -u
fail() { echo "FAIL: $*"; exit 1; }
. "$(dirname "$0")/../../common/loaded.sh"
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
export GIT_AUTHOR_NAME=hk GIT_AUTHOR_EMAIL=hk@example.invalid GIT_COMMITTER_NAME=hk \
	GIT_COMMITTER_EMAIL=hk@example.invalid GIT_AUTHOR_DATE='2026-01-01T00:00:00Z' \
	GIT_COMMITTER_DATE='2026-01-01T00:00:00Z' GIT_CONFIG_NOSYSTEM=1 HOME=$d
session() { # session DIR: the same history every time
	set -e
	git init -q -b main "$1"
	cd "$1"
	for c in $(seq 1 8); do
		for f in $(seq 1 25); do
			printf 'file %d commit %d\n%s\n' $f $c "$(seq $f $((f + c * 10)))" >"f$f.txt"
		done
		mkdir -p "dir$c"
		seq 1 $((c * 300)) >"dir$c/data"
		git add -A
		git commit -q -m "commit $c"
	done
	git log --format='%H %s' | head -20
	git gc -q
	git fsck --no-progress && echo 'fsck: ok'
	git diff HEAD~5 --stat | tail -1
	git rev-list --all | wc -l
}
want=$(session "$d/a") || fail "git without preload failed"
got=$(LD_PRELOAD=$HAKMEM_SO HAKMEM_STATS=1 session "$d/b" 2>"$d/stats") || fail "git under preload failed"
# init, 8 x (add, commit), log, gc (39 processes with what it runs), fsck, diff, rev-list
hk_loaded "$d/stats" 22 "git"
[ "$want" = "$got" ] || fail "git output differs: $(diff <(echo "$want") <(echo "$got") | head)"
echo "git: same history ($(head -1 <<<"$want"))"
