/*
 * test/numa-qemu/guest.c — /init of a two-node qemu guest (run.sh boots it).
 *
 * Proves on a real two-node kernel what one node cannot show: numa/ finds
 * two nodes and the node of each CPU; memory bound by a thread pinned to a
 * node's CPU lives on that node (move_pages); HAKMEM_NUMA=interleave
 * spreads pages; a numactl-style process policy is not overridden; a
 * per-node hugetlb pool (node1/hugepages) gives the pages; the default heap
 * (hk_malloc, libhakmem.a) gives each thread blocks of its own node, and
 * frees across nodes go back to the right arena. Prints one
 * "HK-NUMA-TEST: PASS" or "HK-NUMA-TEST: FAIL" line, then powers off.
 * libnuma reads /sys in a constructor, so as PID 1 it first mounts /proc
 * and /sys, then re-executes itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <numaif.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hakmem.h"
#include "hugepage/hugepage.h"
#include "numa/numa.h"
#include "os/os.h"
#include "../common/hugetlb_pool.h"

#define MIB ((size_t)1 << 20)
#define NODE1_POOL "/sys/devices/system/node/node1/hugepages/hugepages-2048kB/"

static int failures;

#define CHECK(cond, ...) do { \
	if (!(cond)) { failures++; printf("  FAIL %s:%d: ", __FILE__, __LINE__); \
		printf(__VA_ARGS__); printf("\n"); } \
	else { printf("  ok   "); printf(__VA_ARGS__); printf("\n"); } \
	fflush(stdout); } while (0)

static void mount_and_reexec(char **argv)
{
	mkdir("/proc", 0555);
	mkdir("/sys", 0555);
	mkdir("/dev", 0755);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	if (fcntl(1, F_GETFD) < 0) { /* no console inherited: open it */
		int fd = open("/dev/console", O_RDWR);
		dup2(fd, 0), dup2(fd, 1), dup2(fd, 2);
	}
	char *envp[] = { "HK_GUEST_STAGE=2", NULL };
	execve("/init", argv, envp);
	printf("HK-NUMA-TEST: FAIL (re-exec: %s)\n", strerror(errno));
}

static void pin_to_cpu(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof set, &set);
	sched_yield();
}

/* Pages of [p, p+len) that live on `node`, out of those sampled (1 in 63:
 * an odd step, so interleaved pages of both nodes are seen). */
static int pages_on(char *p, size_t len, int node, int *sampled)
{
	int hits = 0;
	*sampled = 0;
	for (size_t off = 0; off < len; off += 63 * 4096, (*sampled)++)
		hits += hk_numa_page_node(p + off) == node;
	return hits;
}

struct job { int cpu, node_seen, on_node, sampled; };

/* A thread on `cpu` reserves, commits, binds to its node, touches. */
static void *local_alloc(void *arg)
{
	struct job *j = arg;
	pin_to_cpu(j->cpu);
	j->node_seen = hk_numa_current_node();
	void *p = NULL;
	hk_backing_t b;
	size_t len = 8 * MIB;
	if (hk_os_reserve(len, 2 * MIB, &p) || hk_hugepage_commit(p, len, HK_HUGEPAGE_NONE, 0, &b))
		return NULL;
	hk_numa_bind(p, len, j->node_seen);
	memset(p, 7, len);
	j->on_node = pages_on(p, len, j->node_seen, &j->sampled);
	hk_os_release(p, len);
	return NULL;
}

static void test_local_placement(void)
{
	for (int cpu = 0; cpu < 2; cpu++) {
		struct job j = { cpu, -1, 0, 0 };
		pthread_t t;
		pthread_create(&t, NULL, local_alloc, &j);
		pthread_join(t, NULL);
		CHECK(j.node_seen == cpu, "thread on cpu %d: current node %d", cpu, j.node_seen);
		CHECK(j.sampled > 0 && j.on_node == j.sampled,
		      "cpu %d: %d of %d sampled pages on node %d", cpu, j.on_node, j.sampled, cpu);
	}
}

/* Small (Tiny, MID), POOL and large blocks of the default heap. */
#define HEAP_SMALL 512
struct heap_job { int cpu, node_seen; char *small[HEAP_SMALL], *pool, *large; };

static void *heap_alloc(void *arg)
{
	struct heap_job *j = arg;
	pin_to_cpu(j->cpu);
	j->node_seen = hk_numa_current_node();
	for (int i = 0; i < HEAP_SMALL; i++)
		if ((j->small[i] = hk_malloc(i % 2 ? 4096 : 24 * 1024)))
			memset(j->small[i], i, i % 2 ? 4096 : 24 * 1024);
	if ((j->pool = hk_malloc(768 * 1024)))
		memset(j->pool, 1, 768 * 1024);
	if ((j->large = hk_malloc(40 * MIB)))
		memset(j->large, 2, 40 * MIB);
	return NULL;
}

static int block_on(const char *p, size_t len, int node)
{
	int sampled;
	return p && pages_on((char *)p, len, node, &sampled) == sampled;
}

static void test_default_heap_local(void)
{
	struct heap_job *job[2];
	for (int cpu = 0; cpu < 2; cpu++) {
		pthread_t t;
		job[cpu] = calloc(1, sizeof *job[cpu]);
		job[cpu]->cpu = cpu;
		pthread_create(&t, NULL, heap_alloc, job[cpu]);
		pthread_join(t, NULL);
	}
	for (int cpu = 0; cpu < 2; cpu++) {
		struct heap_job *j = job[cpu];
		int small_ok = 0;
		for (int i = 0; i < HEAP_SMALL; i++)
			small_ok += block_on(j->small[i], i % 2 ? 4096 : 24 * 1024, cpu);
		CHECK(small_ok == HEAP_SMALL, "default heap, thread on node %d: %d of %d small blocks on it",
		      cpu, small_ok, HEAP_SMALL);
		CHECK(block_on(j->pool, 768 * 1024, cpu) && block_on(j->large, 40 * MIB, cpu),
		      "default heap, thread on node %d: POOL and large blocks on it", cpu);
		CHECK(hk_arena_of(j->small[0]) == hk_arena_default() &&
		      hk_arena_of(j->pool) == hk_arena_default(),
		      "node %d's blocks belong to the default arena", cpu);
	}
	/* This thread frees both nodes' blocks: its bins mix them, and its
	 * flushes must give each block back to its own node's arena. */
	hk_arena_stats_t before, after;
	hk_arena_stats(hk_arena_default(), &before);
	int intact = 1;
	for (int cpu = 0; cpu < 2; cpu++) {
		for (int i = 0; i < HEAP_SMALL; i++) {
			intact &= job[cpu]->small[i][0] == (char)i;
			hk_free(job[cpu]->small[i]);
		}
		hk_free(job[cpu]->pool);
		hk_free(job[cpu]->large);
		free(job[cpu]);
	}
	hk_trim(0);
	hk_arena_stats(hk_arena_default(), &after);
	CHECK(intact && after.live_bytes + 2 * 41 * MIB < before.live_bytes,
	      "cross-node frees: contents intact, live bytes %zu -> %zu", before.live_bytes,
	      after.live_bytes);
}

static void test_hugetlb_node_pool(void)
{
	struct hugetlb_pool pool;
	hugetlb_pool_begin(&pool, NODE1_POOL "nr_hugepages");
	hugetlb_pool_set(&pool, 4);
	long free0 = hugetlb_read_long(NODE1_POOL "free_hugepages");
	CHECK(free0 == 4, "node1 hugetlb pool reserved: %ld free", free0);
	hk_os_refresh_hugetlb();
	pin_to_cpu(1);
	void *p = NULL;
	hk_backing_t b = HK_BACKING_NONE;
	hk_os_reserve(4 * MIB, 2 * MIB, &p);
	int err = hk_hugepage_commit(p, 4 * MIB, HK_HUGEPAGE_2M, 0, &b);
	/* After the commit: a hugetlb commit maps anew, dropping older policy. */
	hk_numa_bind(p, 4 * MIB, 1);
	memset(p, 9, 4 * MIB);
	CHECK(!err && b == HK_BACKING_2M, "2 MiB hugetlb commit: %s (%s)", hk_backing_name(b),
	      hk_hugepage_notes());
	long free1 = hugetlb_read_long(NODE1_POOL "free_hugepages");
	CHECK(free1 == free0 - 2, "node1 pool: %ld -> %ld free pages", free0, free1);
	CHECK(hk_numa_page_node(p) == 1 && hk_numa_page_node((char *)p + 2 * MIB) == 1,
	      "hugepages on node %d and %d", hk_numa_page_node(p),
	      hk_numa_page_node((char *)p + 2 * MIB));
	hk_hugepage_decommit(p, 4 * MIB, b);
	CHECK(hugetlb_read_long(NODE1_POOL "free_hugepages") == free0, "pages back in node1's pool");
	hk_os_release(p, 4 * MIB);
	CHECK(hugetlb_pool_end(&pool) == 0, "node1 pool restored");
}

static void test_interleave(void)
{
	hk_numa_init("interleave");
	CHECK(hk_numa_mode() == HK_NUMA_INTERLEAVE, "HAKMEM_NUMA=interleave");
	void *p = NULL;
	hk_backing_t b;
	hk_os_reserve(8 * MIB, 2 * MIB, &p);
	hk_hugepage_commit(p, 8 * MIB, HK_HUGEPAGE_NONE, 0, &b);
	hk_numa_bind(p, 8 * MIB, 0);
	memset(p, 1, 8 * MIB);
	int s0, s1, n0 = pages_on(p, 8 * MIB, 0, &s0), n1 = pages_on(p, 8 * MIB, 1, &s1);
	CHECK(n0 > 0 && n1 > 0 && n0 + n1 == s0, "interleaved: %d on node 0, %d on node 1", n0, n1);
	hk_os_release(p, 8 * MIB);
}

/* numactl --membind=0 sets the process policy before exec: simulate it. */
static void test_numactl_policy_respected(void)
{
	unsigned long node0 = 1;
	set_mempolicy(MPOL_BIND, &node0, 8);
	hk_numa_init(NULL);
	CHECK(hk_numa_process_policy() == MPOL_BIND, "process policy seen: %d", hk_numa_process_policy());
	struct job j = { 1, -1, 0, 0 };
	pthread_t t;
	pthread_create(&t, NULL, local_alloc, &j); /* on node 1, binds to 1... */
	pthread_join(t, NULL);
	CHECK(j.node_seen == 1 && j.on_node == 0, "...but --membind=0 wins: %d of %d pages on node 1",
	      j.on_node, j.sampled);
	set_mempolicy(MPOL_DEFAULT, NULL, 0);
}

int main(int argc, char **argv)
{
	(void)argc;
	if (getpid() == 1 && !getenv("HK_GUEST_STAGE")) {
		mount_and_reexec(argv);
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("hakmem two-node guest test\n");
	hk_os_init(NULL);
	hk_hugepage_init(NULL);
	hk_numa_init(NULL);
	CHECK(hk_numa_node_count() == 2, "nodes: %d", hk_numa_node_count());
	CHECK(hk_numa_node_of_cpu(0) == 0 && hk_numa_node_of_cpu(1) == 1, "cpu 0 on node %d, cpu 1 on node %d",
	      hk_numa_node_of_cpu(0), hk_numa_node_of_cpu(1));
	if (hk_numa_node_count() == 2) {
		test_local_placement();
		test_default_heap_local();
		test_hugetlb_node_pool();
		test_numactl_policy_respected();
		test_interleave();
		hk_numa_init("off");
		CHECK(hk_numa_node_count() == 1 && hk_numa_current_node() == 0,
		      "HAKMEM_NUMA=off: one node, node 0");
	}
	printf("HK-NUMA-TEST: %s (%d failed)\n", failures ? "FAIL" : "PASS", failures);
	fflush(stdout);
	sync();
	if (getpid() == 1)
		reboot(RB_POWER_OFF);
	return failures != 0;
}
