/*
 * numa/numa.c — node count, current node, binding, through libnuma.
 *
 * Owns every libnuma call. With CONFIG_HK_NUMA=0, HAKMEM_NUMA=off or one
 * node, nothing here calls libnuma after init and every answer is node 0.
 */
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "numa/numa.h"
#if CONFIG_HK_NUMA
#include <numa.h>
#include <numaif.h>
#endif

static int mode = HK_NUMA_OFF;
static int nodes = 1;

void hk_numa_init(const char *env)
{
	mode = HK_NUMA_OFF;
	nodes = 1;
	if (!CONFIG_HK_NUMA || (env && !strcmp(env, "off")))
		return;
#if CONFIG_HK_NUMA
	int saved = errno;
	if (numa_available() >= 0) {
		nodes = numa_max_node() + 1;
		if (nodes > CONFIG_HK_NUMA_MAX_NODES)
			nodes = CONFIG_HK_NUMA_MAX_NODES;
	}
	errno = saved;
#endif
	if (nodes > 1)
		mode = env && !strcmp(env, "interleave") ? HK_NUMA_INTERLEAVE : HK_NUMA_LOCAL;
}

int hk_numa_mode(void)
{
	return mode;
}

int hk_numa_node_count(void)
{
	return nodes;
}

int hk_numa_current_node(void)
{
	if (nodes == 1)
		return 0;
#if CONFIG_HK_NUMA
	int cpu = sched_getcpu();
	int node = cpu >= 0 ? numa_node_of_cpu(cpu) : 0;
	return node >= 0 ? node % nodes : 0;
#else
	return 0;
#endif
}

int hk_numa_bind(void *p, size_t len, int node)
{
	if (nodes == 1 || mode == HK_NUMA_OFF)
		return 0;
#if CONFIG_HK_NUMA
	unsigned long mask[(CONFIG_HK_NUMA_MAX_NODES + 63) / 64] = { 0 };
	mask[node / 64] |= 1ul << (node % 64);
	int saved = errno;
	int rc = mbind(p, len, MPOL_BIND, mask, CONFIG_HK_NUMA_MAX_NODES + 1, 0);
	int err = rc ? errno : 0;
	errno = saved;
	return err;
#else
	(void)p; (void)len; (void)node;
	return 0;
#endif
}

int hk_numa_page_node(const void *p)
{
#if CONFIG_HK_NUMA
	void *pages[1] = { (void *)p };
	int status[1] = { -1 };
	int saved = errno;
	int rc = move_pages(0, 1, pages, NULL, status, 0);
	errno = saved;
	return rc == 0 ? status[0] : -1;
#else
	(void)p;
	return 0;
#endif
}
