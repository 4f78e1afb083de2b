#!/usr/bin/env bash
# tools/deps.sh — installs the Debian packages hakmem needs, or says which.
#
# Usage: tools/deps.sh [build|bench|all]   (default: all; make test and make
# bench call it). As root it runs apt-get; otherwise it prints the exact
# apt-get line and fails, so nothing half-works.
set -euo pipefail

want=${1:-all}
build_pkgs=(gcc g++ make pkg-config binutils python3-kconfiglib liburing-dev libnuma-dev
	    libcriterion-dev clang libclang-rt-14-dev numactl liblua5.4-dev)
# Real programs run under LD_PRELOAD by the test suite.
# google-perftools: google-pprof reads the heap profiles (test/preload/profile.sh).
# libpython3.11-testsuite: CPython's own regression tests (test/preload/real/cpython.sh).
program_pkgs=(python3 git sqlite3 redis-server redis-tools google-perftools libpython3.11-testsuite)
# The per-request peers (bench/request/): APR pools, talloc, mimalloc heaps.
bench_pkgs=(libmimalloc-dev libjemalloc-dev libtcmalloc-minimal4 gnuplot-nox valgrind strace
	    libhugetlbfs-bin libapr1-dev libtalloc-dev)
# Real programs of bench/programs/ (with program_pkgs): lua, jq and perl workloads;
# time: /usr/bin/time measures their peak RSS.
bench_program_pkgs=(lua5.4 jq perl time)
# The two-node NUMA test boots a guest kernel under qemu.
numa_pkgs=(qemu-system-x86 linux-image-amd64 cpio)

case $want in
build) pkgs=("${build_pkgs[@]}" "${program_pkgs[@]}" "${numa_pkgs[@]}") ;;
bench) pkgs=("${build_pkgs[@]}" "${bench_pkgs[@]}" "${program_pkgs[@]}" "${bench_program_pkgs[@]}") ;;
all)   pkgs=("${build_pkgs[@]}" "${program_pkgs[@]}" "${bench_pkgs[@]}" "${bench_program_pkgs[@]}"
	     "${numa_pkgs[@]}") ;;
*) echo "usage: $0 [build|bench|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

line="apt-get install -y ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	echo "hakmem: missing Debian packages. Run as root:" >&2
	echo "  apt-get update && $line" >&2
	exit 1
fi
echo "hakmem: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Debian's redis-server package starts a server when systemd is there; we
# start our own on a private port, so keep the package's from starting.
policy_rc=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e $policy_rc ]; then
	printf '#!/bin/sh\nexit 101\n' > $policy_rc && chmod +x $policy_rc && added_policy=1
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
[ $added_policy -eq 1 ] && rm -f $policy_rc
exit 0
