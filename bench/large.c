/*
 * bench/large.c — large blocks: ITERS times malloc a block of MIN..MAX MiB
 * (plus an odd tail, so sizes are not page multiples), write one byte in
 * every 4 KiB page (first touch: page faults, or hugepages, dominate), check
 * a sample, free. Keeps up to KEEP blocks live at once (FIFO), so reuse,
 * caching and unmapping all show. Result: blocks per second, touched GiB/s,
 * ns per 4 KiB page (first-touch cost: 4 KiB, THP or hugetlb backing), and
 * how much of the live blocks was backed by THP / hugetlb (sampled once, with
 * all KEEP blocks live, outside the timing). Self-check: each page's byte is
 * a function of block and page, checked for every page before the free.
 * Usage: large [ITERS=40] [MIN_MIB=1] [MAX_MIB=64] [KEEP=4]
 */
#include "bench.h"

#define PAGE 4096u

/* A "Key: N kB" line of a /proc file, in KiB; -1 when absent. */
static long proc_kb(const char *path, const char *key)
{
	char line[256];
	long v = -1;
	size_t n = strlen(key);
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, n) == 0 && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

int main(int argc, char **argv)
{
	uint64_t iters = bench_arg(argc, argv, 1, 40);
	size_t min = bench_arg(argc, argv, 2, 1), max = bench_arg(argc, argv, 3, 64);
	unsigned keep = (unsigned)bench_arg(argc, argv, 4, 4);
	uint32_t state = 31337;
	uint64_t bad = 0, sum = 0, touched = 0;

	if (min == 0 || max < min || keep == 0 || keep > 64) {
		fprintf(stderr, "large: need 0 < MIN <= MAX (MiB) and KEEP 1..64\n");
		return 2;
	}
	unsigned char *blk[64] = { 0 };
	size_t len[64] = { 0 };
	uint32_t tag[64] = { 0 };

	long hp_free0 = proc_kb("/proc/meminfo", "HugePages_Free"), thp_kb = -1, hugetlb_pages = -1;
	double sampled = 0;

	double t0 = bench_now();
	for (uint64_t i = 0; i < iters + keep; i++) {
		unsigned k = (unsigned)(i % keep);

		if (blk[k]) {
			for (size_t off = 0; off < len[k]; off += PAGE)
				bad += blk[k][off] != (unsigned char)(tag[k] + off / PAGE);
			sum += blk[k][0];
			b_free(blk[k]);
			blk[k] = NULL;
		}
		if (i >= iters)
			continue;
		uint32_t r = bench_xorshift32(&state);
		len[k] = ((min + r % (max - min + 1)) << 20) - (r >> 20) % 4000;
		tag[k] = r;
		blk[k] = bench_xmalloc(len[k]);
		for (size_t off = 0; off < len[k]; off += PAGE)
			blk[k][off] = (unsigned char)(tag[k] + off / PAGE);
		touched += len[k];
		if (i + 1 == iters) { /* every KEEP block live: how were they backed? */
			double s0 = bench_now();

			thp_kb = proc_kb("/proc/self/smaps_rollup", "AnonHugePages");
			hugetlb_pages = hp_free0 - proc_kb("/proc/meminfo", "HugePages_Free");
			sampled = bench_now() - s0;
		}
	}
	double secs = bench_now() - t0 - sampled;
	return bench_report("large", (double)iters, secs, bad == 0,
			    "min_mib=%zu max_mib=%zu keep=%u touched_gib_per_s=%.3f ns_per_page=%.1f "
			    "thp_kb=%ld hugetlb_pages_in_use=%ld checksum=%llu bad=%llu",
			    min, max, keep, secs > 0 ? touched / secs / (1 << 30) : 0.0,
			    touched ? secs * 1e9 / (double)(touched / PAGE) : 0.0, thp_kb, hugetlb_pages,
			    (unsigned long long)sum, (unsigned long long)bad);
}
