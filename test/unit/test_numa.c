/*
 * test/unit/test_numa.c — numa/ on this machine (one node): every answer is
 * node 0, binding is a no-op, HAKMEM_NUMA=off turns it off, and the page
 * query works. The two-node behaviour is test/numa-qemu/ (make test-numa).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "numa/numa.h"

static int sys_nodes(void)
{
	return access("/sys/devices/system/node/node1", F_OK) == 0 ? 2 : 1;
}

Test(numa, single_node_answers_node_zero)
{
	if (sys_nodes() > 1)
		cr_skip_test("this machine has several nodes");
	hk_numa_init(NULL);
	cr_assert_eq(hk_numa_node_count(), 1);
	cr_assert_eq(hk_numa_mode(), HK_NUMA_OFF, "one node: nothing to do");
	cr_assert_eq(hk_numa_current_node(), 0);
	cr_assert_eq(hk_numa_node_of_cpu(1), 0);
	cr_assert_eq(hk_numa_process_policy(), 0);
	void *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	errno = 99;
	cr_assert_eq(hk_numa_bind(p, 1 << 20, 0), 0);
	cr_assert_eq(hk_numa_bind(p, 1 << 20, 5), 0, "a no-op on one node");
	cr_assert_eq(errno, 99);
	memset(p, 1, 1 << 20);
	cr_assert_eq(hk_numa_page_node((char *)p + 4096), 0);
	munmap(p, 1 << 20);
}

Test(numa, off_by_environment)
{
	hk_numa_init("off");
	cr_assert_eq(hk_numa_node_count(), 1);
	cr_assert_eq(hk_numa_mode(), HK_NUMA_OFF);
	cr_assert_eq(hk_numa_current_node(), 0);
}

Test(numa, untouched_page_has_no_node)
{
	if (!CONFIG_HK_NUMA)
		cr_skip_test("CONFIG_HK_NUMA=n answers 0 for every page");
	hk_numa_init(NULL);
	void *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_eq(hk_numa_page_node(p), -1);
	munmap(p, 1 << 20);
}
