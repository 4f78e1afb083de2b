#!/usr/bin/env bash
# test/kv/check-install.sh — set-up as a newcomer meets it (issue 12, bug 10):
#   a fresh build directory installs the build packages (DEPS_BUILD) before
#   python needs kconfiglib, not after ("No module named defconfig");
#   `make install PREFIX=dir` after a plain `make` installs a hakmem.pc for dir,
#   with which pkg-config builds a program against the shared and the static
#   library that runs on hakmem; `make uninstall` leaves nothing behind.
# Needs $HK_O, a built tree (make check-install sets it).
set -u
: "${HK_O:?HK_O is not set}"
cd "$(dirname "$0")/../.."
fail() { echo "FAIL: $*"; exit 1; }
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
# Our own make calls, not sub-makes of the one running this test.
unset MAKEFLAGS MFLAGS MAKELEVEL
mk() { make -s "$@" >"$t/make.log" 2>&1 || fail "make $*: $(tail -n 5 "$t/make.log")"; }

# A machine without kconfiglib: the python below refuses it until "deps" ran.
cat >"$t/python" <<EOF
#!/bin/sh
echo "python \$*" >>"$t/order"
[ -e "$t/installed" ] || { echo "No module named kconfiglib" >&2; exit 1; }
exec /usr/bin/python3 "\$@"
EOF
printf '#!/bin/sh\necho deps >>"%s/order"; touch "%s/installed"\n' "$t" "$t" >"$t/deps"
chmod +x "$t/python" "$t/deps"
mk O="$t/fresh" KPY="$t/python" DEPS_BUILD="$t/deps" "$t/fresh/include/hk_config.h"
[ -s "$t/fresh/.config" ] || fail "no .config in a fresh build directory"
first=$(grep -n -m1 '^python -m' "$t/order" | cut -d: -f1)
deps=$(grep -n -m1 '^deps$' "$t/order" | cut -d: -f1)
[ -n "$deps" ] && [ -n "$first" ] && [ "$deps" -lt "$first" ] ||
	fail "the first configuration ran kconfiglib before the packages: $(tr '\n' ';' <"$t/order")"
echo "fresh build directory: packages installed before kconfiglib is used"

# Install where pkg-config is told to look, after a plain make.
p=$t/prefix
mk O="$HK_O"
grep -qx 'prefix=/usr/local' "$HK_O/hakmem.pc" || fail "a plain make's hakmem.pc: $(head -n 1 "$HK_O/hakmem.pc")"
mk O="$HK_O" install PREFIX="$p"
grep -qx "prefix=$p" "$p/lib/pkgconfig/hakmem.pc" ||
	fail "installed hakmem.pc says $(head -n 1 "$p/lib/pkgconfig/hakmem.pc"), want prefix=$p"
for f in include/hakmem.h lib/libhakmem.so lib/libhakmem.a share/man/man3/hakmem.3; do
	[ -f "$p/$f" ] || fail "make install did not install $f"
done
export PKG_CONFIG_PATH=$p/lib/pkgconfig
cat >"$t/prog.c" <<'EOF'
#include <hakmem.h>
#include <stdio.h>
int main(void)
{
	void *p = hk_malloc(100);
	int ok = p && hk_arena_of(p) == hk_arena_default() && hk_usable_size(p) >= 100;
	hk_free(p);
	puts(ok ? "on hakmem" : "not on hakmem");
	return !ok;
}
EOF
# shellcheck disable=SC2046 # pkg-config's output is a list of words
gcc "$t/prog.c" -o "$t/prog" $(pkg-config --cflags --libs hakmem) || fail "build with pkg-config --cflags --libs"
out=$(LD_LIBRARY_PATH=$p/lib "$t/prog") || fail "shared program: $out"
# Static: the archive in place of -lhakmem, with Libs.private (liburing, libnuma...).
libs=$(pkg-config --static --libs hakmem | sed "s|-lhakmem|$p/lib/libhakmem.a|")
# shellcheck disable=SC2046,SC2086
gcc "$t/prog.c" -o "$t/prog-static" $(pkg-config --cflags hakmem) $libs ||
	fail "static build with pkg-config --static --libs: $libs"
out=$("$t/prog-static") || fail "static program: $out"
echo "installed under a temporary PREFIX: pkg-config builds and runs shared and static programs"

mk O="$HK_O" uninstall PREFIX="$p"
left=$(find "$p" -type f)
[ -z "$left" ] || fail "make uninstall left $left"
mk O="$HK_O"
grep -qx 'prefix=/usr/local' "$HK_O/hakmem.pc" || fail "the next plain make kept PREFIX=$p"
echo "uninstall: nothing left; a plain make is back to /usr/local"
