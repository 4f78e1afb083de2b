/*
 * bench/numa.c — local vs remote access to malloc'd memory: the main thread
 * mallocs and first-touches a BUF_MIB buffer and a CHASE_MIB pointer-chase
 * ring (run it under `numactl --cpunodebind=A --membind=A` to place them on
 * node A), then one thread pinned to each node's CPUs measures read
 * bandwidth (summing the buffer) and latency (chasing a random cyclic
 * permutation of cache lines). On a one-node machine it runs, reports only
 * local numbers and says so. The node of the memory is read back with
 * get_mempolicy(MPOL_F_NODE|MPOL_F_ADDR) (a raw syscall: no libnuma here).
 * Self-check: the sum is compared with the one computed while filling; the
 * chase must return to its start after exactly one lap.
 * Usage: numa [BUF_MIB=64] [CHASE_MIB=32] [PASSES=4]
 */
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "bench.h"

#define LINE 64
#define MAX_NODES 64

struct probe {
	const uint64_t *buf;
	size_t words;
	unsigned passes;
	void **chase;
	size_t lines;
	cpu_set_t cpus;
	double gbps, lat_ns;
	uint64_t sum, laps_bad;
};

static int read_list(const char *path, int *out, int max)
{
	char s[1024];
	int n = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return 0;
	if (!fgets(s, sizeof(s), f))
		s[0] = 0;
	fclose(f);
	for (char *p = s; *p && *p != '\n';) {
		char *e;
		long a = strtol(p, &e, 10), b = a;

		if (e == p)
			break;
		if (*e == '-')
			b = strtol(e + 1, &e, 10);
		for (long i = a; i <= b && n < max; i++)
			out[n++] = (int)i;
		p = *e == ',' ? e + 1 : e;
	}
	return n;
}

static void *run_probe(void *arg)
{
	struct probe *pr = arg;
	uint64_t sum = 0;

	sched_setaffinity(0, sizeof(pr->cpus), &pr->cpus);
	double t0 = bench_now();
	for (unsigned p = 0; p < pr->passes; p++) {
		for (size_t i = 0; i < pr->words; i++)
			sum += pr->buf[i];
		__asm__ volatile("" : : : "memory"); /* each pass really reads */
	}
	double t1 = bench_now();
	pr->gbps = (double)pr->words * 8 * pr->passes / (t1 - t0) / 1e9;
	pr->sum = sum / pr->passes;

	void **p = pr->chase;
	size_t steps = pr->lines * 2;
	t0 = bench_now();
	for (size_t i = 0; i < steps; i++)
		p = *p;
	t1 = bench_now();
	pr->lat_ns = (t1 - t0) * 1e9 / (double)steps;
	pr->laps_bad = p != pr->chase;
	return NULL;
}

static int node_of(const void *addr)
{
	int node = -1;

	/* MPOL_F_NODE | MPOL_F_ADDR = 1 | 2 */
	if (syscall(SYS_get_mempolicy, &node, NULL, 0UL, addr, 3UL) != 0)
		return -1;
	return node;
}

/* One cycle over all lines of the ring, in random order (Sattolo's shuffle). */
static int build_chase(void **chase, size_t lines)
{
	const size_t stride = LINE / sizeof(void *);
	uint32_t *order = malloc(lines * sizeof(*order)), state = 2024;

	if (!order)
		return -1;
	for (size_t i = 0; i < lines; i++)
		order[i] = (uint32_t)i;
	for (size_t i = lines - 1; i > 0; i--) {
		size_t j = bench_xorshift32(&state) % i;
		uint32_t t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (size_t i = 0; i < lines; i++)
		chase[order[i] * stride] = &chase[order[(i + 1) % lines] * stride];
	free(order);
	return 0;
}

/* Runs the probe on a thread pinned to NODE's CPUs; 0, 1 for a memory-only node. */
static int probe_node(int node, struct probe *pr)
{
	char path[128];
	int cpus[1024], nc;
	pthread_t tid;

	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpulist", node);
	nc = read_list(path, cpus, 1024);
	if (nc == 0)
		return 1;
	CPU_ZERO(&pr->cpus);
	for (int c = 0; c < nc; c++)
		CPU_SET(cpus[c], &pr->cpus);
	if (pthread_create(&tid, NULL, run_probe, pr))
		exit(3);
	pthread_join(tid, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	size_t buf_mib = bench_arg(argc, argv, 1, 64), chase_mib = bench_arg(argc, argv, 2, 32);
	unsigned passes = (unsigned)bench_arg(argc, argv, 3, 4);
	int nodes[MAX_NODES], nn = read_list("/sys/devices/system/node/online", nodes, MAX_NODES);
	uint64_t want = 0, bad = 0;

	if (buf_mib == 0 || chase_mib == 0 || passes == 0) {
		fprintf(stderr, "numa: sizes and PASSES must be > 0\n");
		return 2;
	}
	if (nn == 0) {
		nodes[0] = 0;
		nn = 1;
	}
	size_t words = buf_mib << 17, lines = (chase_mib << 20) / LINE;
	uint64_t *buf = bench_xmalloc(words * 8);
	void **chase = bench_xmalloc(lines * LINE);
	for (size_t i = 0; i < words; i++)
		want += buf[i] = i * 0x9e3779b97f4a7c15ull >> 40;
	if (build_chase(chase, lines))
		return 3;
	int mem_node = node_of(buf), cur_cpu = sched_getcpu();
	char out[1024] = "", remote[96] = "remote_gbps=NA remote_lat_ns=NA";
	size_t off = 0;
	double local_gbps = 0, local_lat = 0, remote_gbps = 0;

	for (int k = 0; k < nn; k++) {
		struct probe pr = { .buf = buf, .words = words, .passes = passes, .chase = chase,
				    .lines = lines };

		if (probe_node(nodes[k], &pr))
			continue;
		bad += (pr.sum != want) + pr.laps_bad;
		if (nodes[k] == (mem_node < 0 ? 0 : mem_node)) {
			local_gbps = pr.gbps;
			local_lat = pr.lat_ns;
		} else if (remote_gbps == 0 || pr.gbps < remote_gbps) { /* the farthest node */
			remote_gbps = pr.gbps;
			snprintf(remote, sizeof(remote), "remote_gbps=%.2f remote_lat_ns=%.1f", pr.gbps, pr.lat_ns);
		}
		off += (size_t)snprintf(out + off, sizeof(out) - off, " node%d_gbps=%.2f node%d_lat_ns=%.1f",
					nodes[k], pr.gbps, nodes[k], pr.lat_ns);
		if (off >= sizeof(out))
			off = sizeof(out) - 1;
	}
	if (nn == 1)
		fprintf(stderr, "numa: one NUMA node on this machine: local numbers only\n");
	b_free(buf);
	b_free(chase);
	double bytes = (double)words * 8 * passes;
	return bench_report("numa", bytes, local_gbps > 0 ? bytes / (local_gbps * 1e9) : 0, bad == 0,
			    "nodes=%d single_node=%d mem_node=%d start_cpu=%d local_gbps=%.2f local_lat_ns=%.1f %s%s",
			    nn, nn == 1, mem_node, cur_cpu, local_gbps, local_lat, remote, out);
}
