#!/usr/bin/env bash
# tools/hugepages.sh — reserve, show and release hugetlb pools for hakmem.
#
#   tools/hugepages.sh show                      pools per size (and per node)
#   tools/hugepages.sh reserve SIZE COUNT [NODE]  set the pool to COUNT pages
#   tools/hugepages.sh release SIZE [NODE]        set the pool to 0 pages
#
# SIZE is 2M or 1G. Without NODE the pool is the system-wide one (the kernel
# spreads it over the nodes); with NODE only that node's pool changes. Uses
# hugeadm (libhugetlbfs-bin) for system-wide pools when it is installed,
# /proc/sys/vm and /sys otherwise. Changing a pool needs root.
set -euo pipefail

sysfs=/sys/kernel/mm/hugepages
nodes=/sys/devices/system/node

usage() { sed -n '3,6p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "hugepages.sh: $*" >&2; exit 1; }

# 2M → 2048, 1G → 1048576 (the kernel's kB directory names).
size_kb() {
	case ${1^^} in
	2M | 2MB | 2048K | 2048KB) echo 2048 ;;
	1G | 1GB | 1024M | 1048576K | 1048576KB) echo 1048576 ;;
	*) die "size must be 2M or 1G, not '$1'" ;;
	esac
}

pool_dir() { # pool_dir KB [NODE]
	local d=$sysfs/hugepages-${1}kB
	[ -n "${2:-}" ] && d=$nodes/node$2/hugepages/hugepages-${1}kB
	if [ ! -d "$d" ]; then
		[ -n "${2:-}" ] && [ ! -d "$nodes/node$2" ] && die "no NUMA node $2 here"
		[ "$1" = 1048576 ] && die "no 1 GiB hugepages on this machine (the CPU lacks pdpe1gb or the kernel has no 1G pool)"
		die "no ${1} kB hugepage pool here ($d)"
	fi
	echo "$d"
}

need_root() {
	[ "$(id -u)" -eq 0 ] && return
	die "changing a hugetlb pool needs root. Run: sudo $0 $*"
}

show() {
	local node_count
	node_count=$(ls -d $nodes/node[0-9]* 2>/dev/null | wc -l)
	printf '%-8s %-6s %8s %8s %8s %8s\n' pool node total free reserved surplus
	for d in "$sysfs"/hugepages-*kB; do
		[ -d "$d" ] || continue
		local kb=${d##*hugepages-}; kb=${kb%kB}
		local name=$((kb / 1024))M; [ "$kb" -ge 1048576 ] && name=$((kb / 1048576))G
		printf '%-8s %-6s %8s %8s %8s %8s\n' "$name" all "$(cat $d/nr_hugepages)" \
			"$(cat $d/free_hugepages)" "$(cat $d/resv_hugepages)" "$(cat $d/surplus_hugepages)"
		[ "$node_count" -gt 1 ] || continue
		for n in "$nodes"/node[0-9]*; do
			local nd=$n/hugepages/hugepages-${kb}kB
			[ -d "$nd" ] || continue
			printf '%-8s %-6s %8s %8s %8s %8s\n' "$name" "${n##*node}" "$(cat $nd/nr_hugepages)" \
				"$(cat $nd/free_hugepages)" - "$(cat $nd/surplus_hugepages)"
		done
	done
	echo "transparent hugepages: $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo unavailable)"
}

# set_pool KB COUNT [NODE]: writes the pool size and reports what the kernel gave.
set_pool() {
	local kb=$1 count=$2 node=${3:-} d
	d=$(pool_dir "$kb" "$node") || exit 1
	[[ $count =~ ^[0-9]+$ ]] || die "COUNT must be a number, not '$count'"
	if [ -z "$node" ] && command -v hugeadm >/dev/null; then
		# hugeadm keeps min + overcommit ("max") constant when min shrinks,
		# which would leave surplus pages allowed: keep the overcommit as is.
		local over
		over=$(cat "$d/nr_overcommit_hugepages")
		hugeadm --pool-pages-min "${kb}K:$count" || die "hugeadm failed"
		echo "$over" >"$d/nr_overcommit_hugepages"
	elif [ -z "$node" ] && [ "$kb" = 2048 ] && [ -w /proc/sys/vm/nr_hugepages ]; then
		echo "$count" >/proc/sys/vm/nr_hugepages
	else
		echo "$count" >"$d/nr_hugepages"
	fi
	local got
	got=$(cat "$d/nr_hugepages")
	echo "${kb} kB pool${node:+ on node $node}: $got pages ($(cat "$d/free_hugepages") free)"
	[ "$got" -ge "$count" ] || echo "hugepages.sh: asked for $count, the kernel found $got (memory fragmented?)" >&2
}

[ $# -ge 1 ] || usage
case $1 in
show) show ;;
reserve)
	[ $# -ge 3 ] && [ $# -le 4 ] || usage
	kb=$(size_kb "$2")
	need_root "$@"
	set_pool "$kb" "$3" "${4:-}" ;;
release)
	[ $# -ge 2 ] && [ $# -le 3 ] || usage
	kb=$(size_kb "$2")
	need_root "$@"
	set_pool "$kb" 0 "${3:-}" ;;
-h | --help | help) usage ;;
*) usage ;;
esac
