#!/usr/bin/env bash
# test/numa-qemu/run.sh — boots a two-node qemu guest (software emulation)
# whose /init is the static test program $HK_NUMA_GUEST (guest.c), and
# passes when the guest prints "HK-NUMA-TEST: PASS". Exit 77 (skip) with a
# reason when qemu, a kernel or cpio is missing. The run is bounded by
# `timeout` ($HK_NUMA_TIMEOUT seconds, 240 by default).
set -u
guest=${HK_NUMA_GUEST:?path of the static guest program}
qemu=$(command -v qemu-system-x86_64) || { echo "skip: qemu-system-x86_64 missing (tools/deps.sh)"; exit 77; }
command -v cpio >/dev/null || { echo "skip: cpio missing"; exit 77; }
kernel=${HK_NUMA_KERNEL:-$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)}
[ -r "$kernel" ] || { echo "skip: no readable /boot/vmlinuz-* (linux-image-amd64)"; exit 77; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root/proc" "$work/root/sys" "$work/root/dev"
cp "$guest" "$work/root/init"
(cd "$work/root" && find . | cpio -o -H newc --quiet) >"$work/initramfs.cpio"

accel=tcg
log=$work/console.log
echo "booting $kernel under qemu ($accel), two NUMA nodes"
start=$(date +%s)
timeout --foreground -k 5 "${HK_NUMA_TIMEOUT:-240}" "$qemu" \
	-machine q35 -accel $accel -smp 2 -m 1G \
	-object memory-backend-ram,id=m0,size=512M \
	-object memory-backend-ram,id=m1,size=512M \
	-numa node,nodeid=0,cpus=0,memdev=m0 \
	-numa node,nodeid=1,cpus=1,memdev=m1 \
	-kernel "$kernel" -initrd "$work/initramfs.cpio" \
	-append "console=ttyS0 panic=-1 quiet loglevel=3" \
	-nographic -no-reboot -monitor none -serial stdio </dev/null >"$log" 2>&1
rc=$?
echo "guest ran $(( $(date +%s) - start )) s (qemu exit $rc)"
sed -n '/hakmem two-node guest test/,/HK-NUMA-TEST/p' "$log" | tr -d '\r'
if grep -q 'HK-NUMA-TEST: PASS' "$log"; then
	exit 0
fi
echo "---- console (last 40 lines)"
tail -n 40 "$log" | tr -d '\r'
[ $rc -eq 124 ] && echo "timed out"
exit 1
