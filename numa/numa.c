/*
 * numa/numa.c — node count, current node, binding, through the kernel's
 * NUMA system calls (get_mempolicy, mbind, move_pages).
 *
 * Owns every NUMA system call. The node count comes from the kernel (the
 * nodes this process may use) and the CPU → node table from /sys at init;
 * with one node, CONFIG_HK_NUMA=0 or HAKMEM_NUMA=off no other NUMA call is
 * made and every answer is node 0. The current CPU is read
 * from glibc's rseq area (0.3 ns) or sched_getcpu(). A numactl policy on
 * the process is never overridden. No libnuma: its constructor reads /proc
 * and /sys through stdio and mallocs, ~160 KB of resident set in every
 * process (pairs 16: 2224 -> 2064 KB peak), for three system calls.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "numa/numa.h"
#if CONFIG_HK_NUMA
#include <linux/mempolicy.h>
#include <sys/rseq.h>
#endif

#define CPU_MAX 1024

static int mode = HK_NUMA_OFF;
static int nodes = 1;
static int process_policy;              /* MPOL_* numactl gave us, 0 if none */
static unsigned char cpu_node[CPU_MAX]; /* filled at init, node per CPU */

/* Reads a small /sys file without stdio (stdio may allocate). */
static long read_sys(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	long n = -1;
	if (fd >= 0) {
		n = read(fd, buf, len - 1);
		close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

/* Calls fn(i, arg) for every i of a /sys list such as "0-3,8,10-11". */
static void for_each_in_list(const char *s, void (*fn)(int, int), int arg)
{
	while (*s >= '0' && *s <= '9') {
		int lo = 0, hi;
		while (*s >= '0' && *s <= '9')
			lo = lo * 10 + (*s++ - '0');
		hi = lo;
		if (*s == '-') {
			hi = 0;
			for (s++; *s >= '0' && *s <= '9'; s++)
				hi = hi * 10 + (*s - '0');
		}
		for (int i = lo; i <= hi && i < CPU_MAX; i++)
			fn(i, arg);
		if (*s == ',')
			s++;
	}
}

static void set_cpu_node(int cpu, int node) { cpu_node[cpu] = (unsigned char)node; }

#if CONFIG_HK_NUMA
/* The nodes this process may take memory from (its cpuset's; every node
 * with memory without one), highest + 1: one get_mempolicy, where reading
 * /sys/devices/system/node/online took three system calls (~6 us here) in
 * every process. A node outside the cpuset could not be bound to anyway.
 * A kernel without NUMA fails it (ENOSYS): one node. */
static int allowed_node_count(void)
{
	enum { BITS = 4096 }; /* the kernel takes any mask up to a page */
	unsigned long mask[BITS / 64] = { 0 };
	int pol;
	if (syscall(SYS_get_mempolicy, &pol, mask, (unsigned long)BITS, NULL,
		    (unsigned long)MPOL_F_MEMS_ALLOWED))
		return 1;
	for (int i = BITS / 64 - 1; i >= 0; i--)
		if (mask[i])
			return i * 64 + 64 - __builtin_clzl(mask[i]);
	return 1;
}
#endif

static void build_cpu_table(void)
{
	char path[64], buf[1024];
	memset(cpu_node, 0, sizeof cpu_node);
	for (int n = 0; n < nodes; n++) {
		/* "/sys/devices/system/node/node" + n + "/cpulist" */
		int len = (int)strlen(strcpy(path, "/sys/devices/system/node/node"));
		if (n >= 10)
			path[len++] = (char)('0' + n / 10);
		path[len++] = (char)('0' + n % 10);
		strcpy(path + len, "/cpulist");
		if (read_sys(path, buf, sizeof buf) > 0)
			for_each_in_list(buf, set_cpu_node, n);
	}
}

static int parse_mode(const char *env)
{
	if (env && !strcmp(env, "off"))
		return HK_NUMA_OFF;
	return env && !strcmp(env, "interleave") ? HK_NUMA_INTERLEAVE : HK_NUMA_LOCAL;
}

void hk_numa_init(const char *env)
{
	mode = HK_NUMA_OFF;
	nodes = 1;
	process_policy = 0;
	if (!CONFIG_HK_NUMA || parse_mode(env) == HK_NUMA_OFF)
		return;
	int saved = errno;
#if CONFIG_HK_NUMA
	int pol = 0, n = allowed_node_count();
	if (n > 1 && syscall(SYS_get_mempolicy, &pol, NULL, 0ul, NULL, 0ul) == 0) {
		nodes = n < CONFIG_HK_NUMA_MAX_NODES ? n : CONFIG_HK_NUMA_MAX_NODES;
		if (pol == MPOL_BIND || pol == MPOL_INTERLEAVE || pol == MPOL_PREFERRED)
			process_policy = pol;
	}
#endif
	errno = saved;
	if (nodes > 1) {
		mode = parse_mode(env);
		build_cpu_table();
	}
}

int hk_numa_mode(void)
{
	return mode;
}

int hk_numa_node_count(void)
{
	return nodes;
}

int hk_numa_process_policy(void)
{
	return process_policy;
}

int hk_numa_node_of_cpu(int cpu)
{
	if (nodes == 1 || cpu < 0 || cpu >= CPU_MAX)
		return 0;
	return cpu_node[cpu] % nodes;
}

/* The CPU we run on: glibc's registered rseq area when there is one. */
static int current_cpu(void)
{
#if CONFIG_HK_NUMA
	if (__rseq_size > 0) {
		const struct rseq *rs = (const struct rseq *)
			((char *)__builtin_thread_pointer() + __rseq_offset);
		int cpu = (int)__atomic_load_n(&rs->cpu_id, __ATOMIC_RELAXED);
		if (cpu >= 0)
			return cpu;
	}
#endif
	return sched_getcpu();
}

int hk_numa_current_node(void)
{
	if (nodes == 1)
		return 0;
	return hk_numa_node_of_cpu(current_cpu());
}

int hk_numa_bind(void *p, size_t len, int node)
{
	if (nodes == 1 || mode == HK_NUMA_OFF || process_policy)
		return 0;
	if (node < 0 || node >= nodes)
		return EINVAL;
#if CONFIG_HK_NUMA
	unsigned long mask[(CONFIG_HK_NUMA_MAX_NODES + 63) / 64] = { 0 };
	int policy = MPOL_BIND;
	if (mode == HK_NUMA_INTERLEAVE) {
		policy = MPOL_INTERLEAVE;
		for (int n = 0; n < nodes; n++)
			mask[n / 64] |= 1ul << (n % 64);
	} else {
		mask[node / 64] |= 1ul << (node % 64);
	}
	int saved = errno;
	long rc = syscall(SYS_mbind, p, len, (long)policy, mask,
			  (unsigned long)CONFIG_HK_NUMA_MAX_NODES + 1, 0u);
	int err = rc ? errno : 0;
	errno = saved;
	return err;
#else
	(void)p; (void)len;
	return 0;
#endif
}

int hk_numa_page_node(const void *p)
{
#if CONFIG_HK_NUMA
	void *pages[1] = { (void *)((uintptr_t)p & ~(uintptr_t)4095) };
	int status[1] = { -1 };
	int saved = errno;
	long rc = syscall(SYS_move_pages, 0, 1ul, pages, NULL, status, 0);
	errno = saved;
	return rc == 0 && status[0] >= 0 ? status[0] : -1;
#else
	(void)p;
	return 0;
#endif
}
