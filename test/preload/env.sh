#!/usr/bin/env bash
# test/preload/env.sh — the variables that take a word (HAKMEM_NUMA,
# HAKMEM_PURGE, HAKMEM_HUGEPAGES, HAKMEM_PROFILE_SIGNAL): a value that is none
# of their words is reported on stderr at start-up and the default taken (each
# ran with its default, silently: HAKMEM_NUMA=of left NUMA on); every word
# they take, and an empty value, run silent. The program (ls) still runs.
set -u
fail() { echo "FAIL: $*"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

run() { # run VAR=VALUE...: stderr of a short program that mallocs, or fail
	local e
	e=$(env "$@" LD_PRELOAD=$HAKMEM_SO ls -l "$T" 2>&1 >/dev/null) ||
		fail "ls with $* exited $?: $e"
	printf '%s' "$e"
}

bad() { # bad VAR VALUE WORDS: reported once, the run otherwise ok
	local e n
	e=$(run "$1=$2" "${@:4}")
	n=$(grep -cF "hakmem: $1=$2: not $3: ignored" <<<"$e")
	[ "$n" = 1 ] || fail "$1=$2 reported $n times: $e"
}

good() { # good VAR=VALUE...: nothing on stderr
	local e
	e=$(run "$@")
	[ -z "$e" ] || fail "$*: $e"
}

for v in of OFF 'off ' 1 ''x; do
	bad HAKMEM_NUMA "$v" 'off|local|interleave'
done
for v in io_uring MADVISE 0; do
	bad HAKMEM_PURGE "$v" 'madvise|uring'
done
for v in 2M 1GB yes; do
	bad HAKMEM_HUGEPAGES "$v" 'off|none|4k|thp|2m|1g|auto'
done
good HAKMEM_NUMA= HAKMEM_PURGE= HAKMEM_HUGEPAGES=
for v in off local interleave; do good HAKMEM_NUMA=$v; done
for v in madvise uring; do good HAKMEM_PURGE=$v; done
for v in off none 4k thp 2m 1g auto; do good HAKMEM_HUGEPAGES=$v; done

if grep -q 'define CONFIG_HK_PROFILE 1' "$HK_CONFIG_H"; then
	for v in USR3 10x 0 65 -1; do
		bad HAKMEM_PROFILE_SIGNAL "$v" 'USR1|USR2|PROF|SIGUSR1|SIGUSR2|SIGPROF|1..64' \
			HAKMEM_PROFILE="$T/p"
	done
	for v in USR1 SIGUSR2 PROF 12 64; do
		good HAKMEM_PROFILE_SIGNAL=$v HAKMEM_PROFILE="$T/p"
	done
fi
echo "env: bad words reported once and ignored, every good one silent"
