#!/usr/bin/env bash
# test/preload/startup.sh — what a short process pays at start under preload. Each
# file read at init costs a few system calls (~6 us each read here), paid by every
# one of git's short processes: the hugetlb pools are read when first needed (a
# direct mapping, the stats), not at init, and the stats still report them; so
# is kernel.io_uring_disabled (at the first purge, or the stats), and the
# guard's SIGSEGV handler comes with the first guarded block.
set -u
fail() { echo "FAIL: $*"; exit 1; }
command -v strace >/dev/null || { echo "strace not installed"; exit 77; }
command -v perl >/dev/null || { echo "perl not installed"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# perl -e 1: a short process that mallocs (init runs) and exits through exit().
LD_PRELOAD=$HAKMEM_SO strace -f -o "$T/plain" -e trace=openat,open,access,rt_sigaction perl -e 1 ||
	fail "perl under preload and strace"
grep -q transparent_hugepage "$T/plain" ||
	fail "hakmem's init did not run (no THP probe): $(head -n 3 "$T/plain")"
! grep -q /sys/kernel/mm/hugepages/ "$T/plain" ||
	fail "init read the hugetlb pools: $(grep /sys/kernel/mm/hugepages/ "$T/plain" | head -n 2)"
! grep -q io_uring_disabled "$T/plain" || fail "init read kernel.io_uring_disabled"
! grep -q 'rt_sigaction(SIGSEGV, {' "$T/plain" || fail "init installed a SIGSEGV handler"

# With HAKMEM_STATS=1 the exit report reads them and says what it found.
HAKMEM_STATS=1 LD_PRELOAD=$HAKMEM_SO strace -f -o "$T/stats" -e trace=openat,open,access \
	perl -e 1 2>"$T/report" || fail "perl with HAKMEM_STATS=1"
grep -q hugepages-2048kB/nr_hugepages "$T/stats" || fail "the stats did not read the 2 MiB pool"
want=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages 2>/dev/null || echo 0)
grep -Eq "hugetlb 2M [0-9]+/$want 1G" "$T/report" ||
	fail "the stats do not report the 2 MiB pool ($want pages): $(grep hugetlb "$T/report")"
grep -q io_uring_disabled "$T/stats" || fail "the stats did not read kernel.io_uring_disabled"
# madvise is the default (io_uring saved no CPU); HAKMEM_PURGE=uring asks
# for the ring, which the stats report when the build and sysctl allow it.
grep -q "purge mode madvise" "$T/report" ||
	fail "the stats do not say purge mode madvise: $(grep 'purge mode' "$T/report")"
why="madvise (CONFIG_HK_IO_URING=n)"
grep -q 'define CONFIG_HK_IO_URING 1' "$HK_CONFIG_H" && why="madvise (default"
grep -qF "$why" "$T/report" || fail "the stats do not say why madvise: $(grep notes "$T/report")"
HAKMEM_PURGE=uring HAKMEM_STATS=1 LD_PRELOAD=$HAKMEM_SO perl -e 1 2>"$T/report" ||
	fail "perl with HAKMEM_PURGE=uring"
mode=madvise
if grep -q 'define CONFIG_HK_IO_URING 1' "$HK_CONFIG_H" &&
	[ "$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo 0)" -lt 2 ]; then
	mode=io_uring
fi
grep -q "purge mode $mode" "$T/report" ||
	fail "HAKMEM_PURGE=uring: the stats do not say purge mode $mode: $(grep 'purge mode' "$T/report")"
echo "startup: ok"
