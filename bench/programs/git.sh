#!/bin/sh
# bench/programs/git.sh — git workload for bench/programs/run.py: imports the
# generated history ($1/history.fi, fixed names and dates), then walks it the
# ways people do: log with stats, diff, blame, grep, repack, fsck. Prints only
# what is the same under any malloc (hashes, counts).
set -e
export GIT_CONFIG_NOSYSTEM=1 HOME=$PWD GIT_AUTHOR_NAME=hk GIT_COMMITTER_NAME=hk \
	GIT_AUTHOR_EMAIL=hk@example.invalid GIT_COMMITTER_EMAIL=hk@example.invalid
git init -q -b main repo
cd repo
git fast-import --quiet <"$1/history.fi"
git checkout -q main
git log --stat --format='%H %s' | cksum
git diff --stat main~30 main | tail -n 1
git blame -s src/f0001.c | cksum
git grep -c 'value_7' | cksum
git repack -adq
git fsck --no-progress --no-dangling
git count-objects -v | grep -E '^(count|in-pack|packs)'
