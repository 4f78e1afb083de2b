/*
 * test/api/test_arena_numa.c — an arena bound to a NUMA node gets its pages
 * from that node, as the kernel reports them (move_pages and get_mempolicy
 * through raw system calls: this test links nothing but hakmem); a node
 * that does not exist is refused with EINVAL.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/syscall.h>

#include "arena_test.h"

#define MPOL_F_NODE_ (1 << 0) /* <numaif.h> values, without the header */
#define MPOL_F_ADDR_ (1 << 1)

/* The node holding the page at p (touched), or -errno. */
static int node_of_page(void *p)
{
	void *pages[1] = { p };
	int status[1] = { -1 };
	if (syscall(SYS_move_pages, 0, 1UL, pages, NULL, status, 0) != 0)
		return -errno;
	return status[0];
}

static int mempolicy_node(void *p)
{
	int node = -1;
	if (syscall(SYS_get_mempolicy, &node, NULL, 0UL, p, (unsigned long)(MPOL_F_NODE_ | MPOL_F_ADDR_)))
		return -errno;
	return node;
}

static void check_node(void *p, size_t n, int node)
{
	for (size_t off = 0; off < n; off += 64 * 1024) {
		char *page = (char *)((uintptr_t)((char *)p + off) & ~(uintptr_t)4095);
		int got = node_of_page(page);
		cr_assert_eq(got, node, "move_pages: page %p of a node-%d arena is on node %d", page, node, got);
		got = mempolicy_node(page);
		cr_assert_eq(got, node, "get_mempolicy: page %p of a node-%d arena is on node %d", page, node, got);
	}
}

static void bound_arena_gets_node_pages(int node)
{
	if (access("/sys/devices/system/node/node0", F_OK) != 0)
		cr_skip_test("no NUMA information in /sys");
	hk_arena_config_t cfg = { .numa_node = node, .name = "node" };
	hk_arena_t *a = hk_arena_create(&cfg);
	cr_assert_not_null(a, "hk_arena_create(node %d): errno %d", node, errno);
	int want = node == HK_NODE_LOCAL ? 0 : node; /* one-node machines: local is 0 */
	static const size_t sizes[] = { 64, 2000, 100000, 3 * MIB };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i] < 4096 ? 256 * 1024 : sizes[i];
		char *p = hk_arena_malloc(a, n);
		cr_assert_not_null(p);
		memset(p, 1, n);
		check_node(p, n, want);
		hk_free(p);
	}
	/* Many small blocks: a whole chunk's worth. */
	void *blocks[2048];
	for (int i = 0; i < 2048; i++) {
		blocks[i] = hk_arena_malloc(a, 1024);
		cr_assert_not_null(blocks[i]);
		memset(blocks[i], 2, 1024);
	}
	for (int i = 0; i < 2048; i += 97)
		check_node(blocks[i], 1024, want);
	for (int i = 0; i < 2048; i++)
		hk_free(blocks[i]);
	cr_assert_eq(arena_stats(a).numa_node, node);
	hk_arena_destroy(a);
}

Test(arena_numa, node0_arena_gets_node0_pages) { bound_arena_gets_node_pages(0); }

Test(arena_numa, local_arena_gets_local_pages)
{
	if (access("/sys/devices/system/node/node1", F_OK) == 0)
		cr_skip_test("several nodes: the local node depends on where this thread runs");
	bound_arena_gets_node_pages(HK_NODE_LOCAL);
}

Test(arena_numa, missing_node_is_refused)
{
	hk_arena_config_t cfg = { .numa_node = 1000, .name = "nowhere" };
	errno = 0;
	hk_arena_t *a = hk_arena_create(&cfg);
	cr_assert_null(a, "an arena on node 1000");
	cr_assert_eq(errno, EINVAL, "errno %d", errno);
	cfg.numa_node = -2;
	cr_assert_null(hk_arena_create(&cfg), "node -2 is neither a node nor HK_NODE_LOCAL");
}
