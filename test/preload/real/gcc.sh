#!/usr/bin/env bash
# test/preload/real/gcc.sh — gcc compiling a sizeable generated C file (-O2, ~6k lines)
# under LD_PRELOAD=$HAKMEM_SO produces the identical object file; gcc, cc1 and as ran on
# hakmem (test/common/loaded.sh).
set -u
fail() { echo "FAIL: $*"; exit 1; }
. "$(dirname "$0")/../../common/loaded.sh"
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
# Many functions with switches, loops, structs and string tables: gcc's own
# allocator-heavy paths (GC, obstacks, hash tables).
{
	echo '#include <stdio.h>'
	echo '#include <stdlib.h>'
	echo '#include <string.h>'
	echo 'struct node { struct node *next; int key; char name[24]; };'
	for i in $(seq 1 400); do
		cat <<C
static const char *names_$i[] = { "a$i", "bb$i", "ccc$i", "dddd$i" };
int f_$i(int x, struct node *n) {
	int s = 0;
	for (int k = 0; k < x % 17; k++) {
		switch ((x + k) & 7) {
		case 0: s += k * $i; break;
		case 1: s ^= (int)strlen(names_$i[k & 3]); break;
		case 2: s -= n ? n->key : $i; break;
		case 3: if (n && n->next) s += n->next->key; break;
		default: s += (x << 2) / ($i + k + 1);
		}
	}
	return s + f_$(( i > 1 ? i - 1 : 1 ))_helper(x);
}
C
	done
} >"$d/big.c"
# Helpers defined first (the file above refers to them).
{
	for i in $(seq 1 400); do echo "static int f_${i}_helper(int x) { return x * $i % 1009; }"; done
	cat "$d/big.c"
	echo 'int main(void) { int s = 0; for (int i = 0; i < 100; i++) s += f_400(i, NULL); printf("%d\n", s); return 0; }'
} >"$d/prog.c"
lines=$(wc -l <"$d/prog.c")
gcc -O2 -c "$d/prog.c" -o "$d/want.o" -save-temps=obj || fail "gcc without preload failed"
# On a failure: the exit status and every line that is not a stats report
# (a compiler's or hakmem's message), whichever process of the three wrote it.
said() { grep -v -e '^hakmem stats' -e '^  ' "$d/stats" | head -n 20; }
LD_PRELOAD=$HAKMEM_SO HAKMEM_STATS=1 gcc -O2 -c "$d/prog.c" -o "$d/got.o" 2>"$d/stats" ||
	fail "gcc under preload failed (exit $?): $(said)"
hk_loaded "$d/stats" 3 "gcc -c (gcc, cc1, as)"
cmp -s "$d/want.o" "$d/got.o" || fail "gcc produced a different object under preload"
# as (binutils, built without frame pointers) with every block guarded: each
# sample walks the frame pointer chain from whatever as left in rbp (-16 once
# made the walk read outside its window and crash as, 8 runs in 8).
LD_PRELOAD=$HAKMEM_SO HAKMEM_STATS=1 HAKMEM_GUARD_RATE=1 as "$d/want.s" -o "$d/guarded.o" \
	2>"$d/stats" || fail "as with every block guarded failed (exit $?): $(said)"
hk_loaded "$d/stats" 1 "as with every block guarded"
if grep -q '^#define CONFIG_HK_SAMPLE 1' "$HK_CONFIG_H"; then
	grep -q '^  sampler: [1-9][0-9]* guarded blocks' "$d/stats" ||
		fail "as with every block guarded: no guarded block in its report"
fi
cmp -s "$d/want.o" "$d/guarded.o" || fail "as produced a different object with every block guarded"
LD_PRELOAD=$HAKMEM_SO HAKMEM_STATS=1 gcc "$d/got.o" -o "$d/prog" 2>"$d/stats" ||
	fail "gcc link under preload failed (exit $?): $(said)"
hk_loaded "$d/stats" 3 "gcc link (gcc, collect2, ld)"
[ "$("$d/prog")" = "$(LD_PRELOAD=$HAKMEM_SO HAKMEM_STATS=1 "$d/prog" 2>"$d/stats")" ] || fail "the compiled program differs"
hk_loaded "$d/stats" 1 "the compiled program"
echo "gcc: identical object for a $lines-line file"
