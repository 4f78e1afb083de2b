#!/usr/bin/env bash
# test/preload/exports.sh — libhakmem.so exports every libc allocation name and every
# C++ operator new/delete form, and does not pull libstdc++ into C programs.
set -u
fail() { echo "FAIL: $*"; exit 1; }
syms=$(nm -D --defined-only "$HAKMEM_SO" | awk '{ print $3 }')
for s in malloc free calloc realloc reallocarray posix_memalign aligned_alloc memalign \
	valloc pvalloc malloc_usable_size free_sized malloc_trim mallinfo mallinfo2 malloc_stats \
	_Znwm _Znam _ZnwmRKSt9nothrow_t _ZnamRKSt9nothrow_t _ZnwmSt11align_val_t _ZnamSt11align_val_t \
	_ZnwmSt11align_val_tRKSt9nothrow_t _ZnamSt11align_val_tRKSt9nothrow_t \
	_ZdlPv _ZdaPv _ZdlPvRKSt9nothrow_t _ZdaPvRKSt9nothrow_t _ZdlPvm _ZdaPvm \
	_ZdlPvSt11align_val_t _ZdaPvSt11align_val_t _ZdlPvSt11align_val_tRKSt9nothrow_t \
	_ZdaPvSt11align_val_tRKSt9nothrow_t _ZdlPvmSt11align_val_t _ZdaPvmSt11align_val_t; do
	grep -qx "$s" <<<"$syms" || fail "libhakmem.so does not export $s"
done
# Only the API and the libc/C++ names are exported: no internal hk_<module>_ symbol.
extra=$(grep -E '^hk_[a-z]+_' <<<"$syms" | grep -vE '^hk_(arena_|stats_|profile_|free_sized|usable_size|posix_memalign|aligned_alloc)' || true)
[ -z "$extra" ] || fail "internal symbols exported: $extra"
ldd "$HAKMEM_SO" | grep -q 'libstdc++' && fail "libhakmem.so depends on libstdc++ (C programs would load it)"
echo "exports: ok"
