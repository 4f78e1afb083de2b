#!/usr/bin/env bash
# test/kv/check-exports.sh — what an embedder links against: libhakmem.a
# defines no global symbol but hk_* (so internal names cannot clash with
# the program's), and libhakmem.so exports only hk_*, the libc allocation
# names and the C++ operators new/delete. Needs $HK_O (run-tests sets it).
set -u
: "${HK_O:?HK_O is not set}"
bad=0
a=$(nm -g --defined-only "$HK_O/libhakmem.a" 2>/dev/null | awk 'NF == 3 {print $3}' | grep -v '^hk_')
if [ -n "$a" ]; then
	echo "libhakmem.a exports non-hk_ symbols:"; echo "$a" | head -n 20; bad=1
fi
libc='malloc|free|calloc|realloc|reallocarray|posix_memalign|aligned_alloc|memalign|valloc|pvalloc'
libc+='|malloc_usable_size|free_sized|free_aligned_sized|malloc_trim|mallinfo|mallinfo2|malloc_stats'
so=$(nm -D --defined-only "$HK_O/libhakmem.so" 2>/dev/null | awk 'NF == 3 {print $3}' |
	grep -vE "^(hk_.*|($libc)|_Zn[wa].*|_Zd[la].*|_init|_fini)$")
if [ -n "$so" ]; then
	echo "libhakmem.so exports more than hk_*, the libc names and new/delete:"; echo "$so" | head -n 20; bad=1
fi
exit $bad
