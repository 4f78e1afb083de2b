# test/common/loaded.sh — sourced by the real-program tests (test/preload/real/): proves
# that a run under LD_PRELOAD=$HAKMEM_SO had hakmem in it. A wrong LD_PRELOAD is no
# error: ld.so prints a line and runs the program on glibc's malloc, and the output
# comparison passes. So such a run also sets HAKMEM_STATS=1 and keeps its stderr:
# libhakmem.so prints its exit report ("hakmem stats") once it served the process.
# The caller defines fail().

# hk_loaded FILE MIN WHAT: FILE holds at least MIN processes' reports, or the test fails.
hk_loaded() {
	local n
	n=$(grep -c '^hakmem stats$' "$1")
	[ "$n" -ge "$2" ] ||
		fail "$3: hakmem was not loaded ($n of at least $2 processes reported): $(grep -v '^  ' "$1" | head -n 3)"
}
