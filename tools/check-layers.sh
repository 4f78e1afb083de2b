#!/usr/bin/env bash
# tools/check-layers.sh — enforces the layer rules of DESIGN §2.
#   1. includes go downward only: core → {hugepage → os, numa}; os/ and numa/
#      never include core/ or hugepage/; hugepage/ includes only os/.
#   2. memory system calls only in os/, libnuma only in numa/, io_uring only
#      in os/.
#   3. inside core/, only core/platform.c includes os/, hugepage/ or numa/.
#   4. include/hakmem.h includes nothing internal.
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
}
out=$(check)
[ -z "$out" ] && { echo "layer rules: ok"; exit 0; }
echo "$out"
exit 1
