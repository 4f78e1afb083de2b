#!/usr/bin/env bash
# test/preload/real/cpython.sh — a part of CPython's own regression suite (Debian's
# libpython3.11-testsuite) passes under LD_PRELOAD=$HAKMEM_SO: other people's tests of
# dicts, strings, pickles, ctypes, mmap, gc, weak references, threads and fork, which
# provoke MemoryError and overflows on purpose. Then the pass_fds tests of test_subprocess
# under HAKMEM_PROFILE: they list the child's descriptors, where the profiler's
# unwinder (libunwind) had left a pipe of its own. The modules are ones that pass
# without preload here and time nothing (regrtest runs without the network resource).
# 50 s on this 2-core VM (34 s of CPU).
set -u
. "$(dirname "$0")/../../common/loaded.sh"
PY=/usr/bin/python3
[ -x $PY ] || { echo "no /usr/bin/python3"; exit 77; }
$PY -c 'import test.libregrtest' 2>/dev/null ||
	{ echo "CPython's test suite is not installed (libpython3.11-testsuite; tools/deps.sh installs it)"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
cd "$d" || fail "no temporary directory"

# A wrong LD_PRELOAD would run the suite on glibc's malloc and pass (test/common/loaded.sh);
# the suite itself runs without HAKMEM_STATS (its exit report would be in the stderr that
# tests of subprocesses compare).
LD_PRELOAD=$HAKMEM_SO HAKMEM_STATS=1 $PY -c 'import test.libregrtest' 2>"$d/stats" ||
	fail "python3 under preload failed to import the test suite"
hk_loaded "$d/stats" 1 python3

modules=(test_dict test_list test_set test_tuple test_bytes test_unicode test_re test_json
	 test_pickle test_struct test_array test_deque test_sort test_long test_memoryview
	 test_itertools test_collections test_weakref test_gc test_mmap test_zlib test_lzma
	 test_decimal test_ctypes test_tracemalloc test_buffer test_descr test_xml_etree_c
	 test_finalization test_threading_local test_thread test_fork1)
LD_PRELOAD=$HAKMEM_SO $PY -m test -j2 --timeout 300 "${modules[@]}" >"$d/log" 2>&1 ||
	fail "CPython's tests under preload: $(grep -E 'failed|crashed|Timeout' "$d/log" | head -n 20)"
grep -q '^All [0-9]* tests OK' "$d/log" || fail "not every test ran: $(tail -n 15 "$d/log")"
echo "${#modules[@]} modules of CPython's test suite passed under preload"

HAKMEM_PROFILE=$d/prof HAKMEM_PROFILE_RATE=64k LD_PRELOAD=$HAKMEM_SO \
	$PY -m test test_subprocess -m 'test_pass_fds*' >"$d/log" 2>&1 ||
	fail "test_subprocess pass_fds under HAKMEM_PROFILE: $(grep -E -A12 'failed|crashed' "$d/log" | head -n 30)"
ls "$d"/prof.*.heap >/dev/null 2>&1 || fail "test_subprocess under HAKMEM_PROFILE wrote no profile"
echo "test_subprocess pass_fds passed under HAKMEM_PROFILE"
