/*
 * numa/numa.h — NUMA topology and placement, through the kernel's calls.
 *
 * Owns every get_mempolicy / mbind / move_pages call. With CONFIG_HK_NUMA=0
 * or on a single-node machine it makes none and every answer is node 0.
 * Must not allocate through malloc after init (it runs inside the allocator).
 */
#ifndef HK_NUMA_H
#define HK_NUMA_H

#include <stddef.h>

#include "hk_config.h"

enum hk_numa_mode { HK_NUMA_OFF = 0, HK_NUMA_LOCAL, HK_NUMA_INTERLEAVE };

/* Reads HAKMEM_NUMA (off|local|interleave, NULL = local) once; probes nodes. */
void hk_numa_init(const char *env);
int hk_numa_mode(void);
/* Nodes hakmem uses: 1 when NUMA is off, unavailable or single-node. */
int hk_numa_node_count(void);
/* Node of the CPU the caller runs on (cheap: rseq/getcpu + a table). */
int hk_numa_current_node(void);
/* Binds [p, p+len) to `node` before first touch (mbind, MPOL_BIND; with
 * HAKMEM_NUMA=interleave, MPOL_INTERLEAVE over every node whatever `node`).
 * Returns 0 or a positive errno (EINVAL for a node out of range); a no-op on
 * one node. Respects a process policy set by numactl: with
 * --membind/--interleave/--preferred it does not override.
 * Call it after the range is committed and before its first touch: a
 * hugetlb commit or a decommit maps the range anew, which drops its policy
 * (mprotect-based 4 KiB commits keep it). */
int hk_numa_bind(void *p, size_t len, int node);
/* For tests: the node a (touched) page lives on, or -1 (move_pages query;
 * the one call made even on a single node). */
int hk_numa_page_node(const void *p);
/* Node of a CPU from the table built at init (0 on one node). */
int hk_numa_node_of_cpu(int cpu);
/* The process-wide policy numactl set (MPOL_BIND, MPOL_INTERLEAVE,
 * MPOL_PREFERRED) that hk_numa_bind() respects by not binding, or 0. */
int hk_numa_process_policy(void);

#endif /* HK_NUMA_H */
