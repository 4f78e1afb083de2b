#!/usr/bin/env bash
# test/kconfig/test-kconfig.sh — the non-interactive Kconfig path:
#   defconfig → olddefconfig → savedefconfig round trip is stable;
#   every configs/* file loads with no warning (no unknown or unset symbol);
#   an out-of-range value is refused (reset to the default);
#   switching a backend off removes its symbols from the library (nm).
set -eu
cd "$(dirname "$0")/../.."
O=build/test/kconfig
rm -rf "$O"; mkdir -p "$O"
K="/usr/bin/python3 -m"
fail() { echo "FAIL: $*"; exit 1; }

# Round trip: savedefconfig of a defconfig'ed tree reproduces the same .config.
for cfg in configs/*defconfig; do
	out=$(KCONFIG_CONFIG=$O/.config $K defconfig --kconfig Kconfig "$cfg" 2>&1)
	grep -qi warning <<<"$out" && fail "$cfg: $out"
	KCONFIG_CONFIG=$O/.config $K olddefconfig Kconfig >/dev/null
	cp $O/.config $O/full
	KCONFIG_CONFIG=$O/.config $K savedefconfig --kconfig Kconfig --out $O/min >/dev/null
	KCONFIG_CONFIG=$O/.config $K defconfig --kconfig Kconfig $O/min >/dev/null
	diff <(grep -v '^#' $O/full | sort) <(grep -v '^#' $O/.config | sort) ||
		fail "$cfg: savedefconfig round trip changed the configuration"
done
echo "round trip: ok"

# Out of range: Kconfig refuses it and keeps the default.
printf 'CONFIG_HK_TINY_MAX=64\nCONFIG_HK_PURGE_DELAY_MS=999999\n' >$O/bad
out=$(KCONFIG_CONFIG=$O/.config $K defconfig --kconfig Kconfig $O/bad 2>&1 || true)
grep -q 'CONFIG_HK_TINY_MAX=2048' $O/.config || fail "out-of-range HK_TINY_MAX accepted"
grep -q 'CONFIG_HK_PURGE_DELAY_MS=100' $O/.config || fail "out-of-range HK_PURGE_DELAY_MS accepted"
grep -qi 'range\|ignored\|invalid' <<<"$out" || fail "no message for an out-of-range value: $out"
echo "range check: ok"

# A dependency: HK_TINY_MAX disappears with HK_TINY.
printf '# CONFIG_HK_TINY is not set\nCONFIG_HK_TINY_MAX=1500\n' >$O/dep
KCONFIG_CONFIG=$O/.config $K defconfig --kconfig Kconfig $O/dep >/dev/null 2>&1
grep -q 'CONFIG_HK_TINY_MAX' $O/.config && fail "HK_TINY_MAX kept without HK_TINY"
echo "dependencies: ok"

# The generated header defines every symbol, as 0/1 or a number.
/usr/bin/python3 tools/genconfig.py Kconfig $O/.config $O/hk_config.h
grep -q '^#define CONFIG_HK_TINY 0$' $O/hk_config.h || fail "disabled bool not defined as 0"
grep -q '^#define CONFIG_HK_MID 1$' $O/hk_config.h || fail "enabled bool not defined as 1"
echo "header: ok"

# Pruning: symbols of a backend that is off are not in the library. The
# backend files name their functions hk_<backend>_*.
prune() { # prune SYMBOL-PREFIX SOURCE-FILE CONFIG-LINE
	local src=$2
	set -- "$1" "$3"
	local d=$O/prune-$1
	mkdir -p $d
	KCONFIG_CONFIG=$d/.config $K defconfig --kconfig Kconfig configs/defconfig >/dev/null
	make -s O=$d >/dev/null
	nm $d/libhakmem.so | grep -q " [tT] $1" ||
		{ [ -f "$src" ] && fail "no $1* symbols in libhakmem.so although $src is built"
		  echo "note: $src does not exist yet"; return 0; }
	echo "$2" >>$d/.config
	KCONFIG_CONFIG=$d/.config $K olddefconfig Kconfig >/dev/null 2>&1
	make -s O=$d >/dev/null
	nm $d/libhakmem.so | grep " [tT] $1" && fail "$2: $1 symbols still in libhakmem.so"
	echo "prune $1: ok"
}
prune hk_tiny_ core/tiny.c '# CONFIG_HK_TINY is not set'
prune hk_mid_ core/mid.c '# CONFIG_HK_MID is not set'
prune hk_pool_ core/pool.c '# CONFIG_HK_POOL is not set'
prune hk_os_uring_ os/purge_uring.c '# CONFIG_HK_IO_URING is not set'
