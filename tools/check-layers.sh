#!/usr/bin/env bash
# tools/check-layers.sh — enforces the layer rules of DESIGN §2.
#   1. includes go downward only: core → {hugepage → os, numa}; os/ and numa/
#      never include core/ or hugepage/; hugepage/ includes only os/.
#   2. memory system calls only in os/, libnuma only in numa/, io_uring only
#      in os/.
#   3. inside core/, only core/platform.c includes os/, hugepage/ or numa/.
#   4. include/hakmem.h includes nothing internal.
#   5. inside core/, files stand in the order below (lowest first): a file
#      includes only headers of files below it, and uses (calls, reads)
#      only hk_* functions and globals defined below it or in itself. A file
#      and its header count as one (x.c with x.h); a header without a .c
#      (types.h, lock.h, harden.h) has its own place.
# Prints each violation; exits 1 if any.
set -u
cd "$(dirname "$0")/.."

inc() { grep -nE "^#[[:space:]]*include[[:space:]]+\"$2" $1 2>/dev/null; }
src() { ls $1/*.c $1/*.h $1/*.cc 2>/dev/null; }

check() {
for f in $(src os) $(src numa); do
	inc "$f" '(core|hugepage)/' | while read -r l; do echo "layer rule 1: $f:$l"; done
done
for f in $(src numa); do
	inc "$f" 'os/' | while read -r l; do echo "layer rule 1: $f:$l (numa and os are siblings)"; done
done
for f in $(src hugepage); do
	inc "$f" '(core|numa)/' | while read -r l; do echo "layer rule 1: $f:$l"; done
done
for f in $(src core); do
	case $f in core/platform.c) continue ;; esac
	inc "$f" '(os|hugepage|numa)/' | while read -r l; do echo "layer rule 3: $f:$l (only core/platform.c talks to the layers below)"; done
done
grep -nE '^#[[:space:]]*include[[:space:]]+"' include/*.h | while read -r l; do echo "layer rule 4: $l"; done

# Rule 2: calls, not words in comments (comment lines are skipped).
calls() { # calls DIR-TO-EXCLUDE REGEX
	grep -nE "$2" $(src core) $(src hugepage) $(src numa) $(src os) 2>/dev/null |
		grep -v "^$1/" | grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/?\*|//)'
}
calls os '\b(mmap|munmap|mremap|mprotect|madvise)[[:space:]]*\(' | while read -r l; do echo "layer rule 2 (memory syscall outside os/): $l"; done
calls numa '\b(numa_[a-z_]+|mbind|move_pages|set_mempolicy|get_mempolicy)[[:space:]]*\(' | while read -r l; do echo "layer rule 2 (libnuma outside numa/): $l"; done
calls os '\bio_uring_[a-z_]+[[:space:]]*\(' | while read -r l; do echo "layer rule 2 (io_uring outside os/): $l"; done

core_order
}

# Rule 5. Moving a file means moving its name here: the order is the design.
CORE_ORDER="base types lock sizeclass platform stack region owner harden span slab tiny mid pool
	arena_table large purge arena_bump lane guard arena validate profile stats statlog sample
	init observe alloc arena_alloc preload preload_cxx"
core_order() {
	declare -A rank
	local i=0 m f r x name
	for m in $CORE_ORDER; do rank[$m]=$i; i=$((i + 1)); done
	mod() { local b=${1##*/}; echo "${b%.*}"; }
	# Code only: comments and string literals go.
	strip() { perl -0777 -pe 's{/\*.*?\*/}{}gs; s{//[^\n]*}{}g; s{"(?:[^"\\\n]|\\.)*"}{""}g' "$1"; }
	local files defs up
	files=$(ls core/*.c core/*.h core/*.cc)
	# Definitions at file scope: non-static functions and globals (their
	# name before the first parenthesis), static inline functions of headers.
	defs=$(for f in $files; do
		strip "$f" | perl -ne '
			if (/^(?!static\b)(?![A-Z_]*\s*static\b)[A-Za-z_][^(]*?\b(hk_[a-z0-9_]+)\s*\(/ && !/;\s*$/) { print "$1\n" }
			elsif (/^static inline\b[^(]*?\b(hk_[a-z0-9_]+)\s*\(/) { print "$1\n" }
			elsif (/^(?!static\b)(?!extern\b)(?!typedef\b)[A-Za-z_][^(]*?\b(hk_[a-z0-9_]+)\s*(\[[^]]*\])?\s*(=.*)?;\s*$/) { print "$1\n" }' |
			sed "s/^/$(mod "$f") /"
	done | sort -k2,2 -u)
	up=$(for f in $files; do
		m=$(mod "$f"); r=${rank[$m]:-}
		if [ -z "$r" ]; then echo "layer rule 5: $f is not in CORE_ORDER (tools/check-layers.sh)"; continue; fi
		grep -oE '^#[[:space:]]*include[[:space:]]+"core/[a-z_]+\.h"' "$f" | sed -E 's/.*core\/([a-z_]+)\.h"/\1/' |
			while read -r x; do
				[ "${rank[$x]:-999}" -le "$r" ] && continue
				echo "layer rule 5: $f includes core/$x.h, a file above it"
			done
		strip "$f" | sed -E 's/(struct|union|enum) hk_[a-z0-9_]+//g' | grep -oE '\bhk_[a-z0-9_]+\b' | sort -u |
			join -1 1 -2 2 - <(echo "$defs") | while read -r name x; do
				if [ "$x" != "$m" ] && [ "${rank[$x]:-999}" -gt "$r" ]; then
					echo "layer rule 5: $f uses $name of core/$x, a file above it"
				fi
			done
	done)
	grep . <<<"$up"
}
out=$(check)
[ -z "$out" ] && { echo "layer rules: ok"; exit 0; }
echo "$out"
exit 1
