#!/usr/bin/env bash
# test/kv/check-man.sh — doc/hakmem.3 renders without a groff warning and
# names every function declared in include/hakmem.h.
set -u
cd "$(dirname "$0")/../.."
command -v groff >/dev/null || { echo "groff is not installed"; exit 77; }
warn=$(groff -man -Tutf8 -ww -z doc/hakmem.3 2>&1)
[ -z "$warn" ] || { echo "groff warnings:"; echo "$warn"; exit 1; }
missing=0
for fn in $(grep -oE '\bhk_[a-z0-9_]+\(' include/hakmem.h | tr -d '(' | sort -u); do
	grep -q "$fn" doc/hakmem.3 || { echo "doc/hakmem.3 does not mention $fn"; missing=1; }
done
exit $missing
