/*
 * test/common/hugetlb_pool.h — how a test resizes a hugetlb pool and gives
 * it back: a count file (/proc/sys/vm/nr_hugepages, a node's sysfs
 * nr_hugepages, nr_overcommit_hugepages) is flock'ed while a test uses it,
 * changed only by root, and its first value is written back at the end.
 * Must not include hakmem headers or assert: unit, api, qemu-guest and bench
 * programs share it. Invariant: after hugetlb_pool_end() the file holds the
 * value it had before the first hugetlb_pool_set(), whatever the test did.
 */
#ifndef HK_TEST_HUGETLB_POOL_H
#define HK_TEST_HUGETLB_POOL_H

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define HUGETLB_NR_PATH "/proc/sys/vm/nr_hugepages"
#define HUGETLB_OVER_PATH "/proc/sys/vm/nr_overcommit_hugepages"

struct hugetlb_pool {
	const char *path; /* the count file */
	long saved;       /* its value before the first change; -1: unchanged */
	int lock_fd;      /* holds the flock; -1: not locked */
};

/* The first number in a file, or -1. */
static inline long hugetlb_read_long(const char *path)
{
	long v = -1;
	FILE *f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static inline int hugetlb_write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	int ok = fprintf(f, "%ld\n", v) > 0;
	return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* A "Key: N" line of /proc/meminfo (HugePages_Free, AnonHugePages...), or -1. */
static inline long hugetlb_meminfo(const char *key)
{
	char line[256];
	long v = -1;
	size_t n = strlen(key);
	FILE *f = fopen("/proc/meminfo", "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':')
			sscanf(line + n + 1, "%ld", &v);
	if (f)
		fclose(f);
	return v;
}

/* Takes the file's lock: every test process that resizes or counts the pool
 * (Criterion runs tests in parallel processes, other worktrees run theirs)
 * takes turns, else one saves the size another set and restores that. The
 * lock is on the count file itself, so nothing is left behind and flock(1)
 * users agree. Blocks until the lock is free; a file that cannot be opened
 * is not an error (set then fails). */
static inline void hugetlb_pool_begin(struct hugetlb_pool *p, const char *path)
{
	p->path = path;
	p->saved = -1;
	p->lock_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (p->lock_fd >= 0)
		flock(p->lock_fd, LOCK_EX);
}

/* Sets the count (root only); the first call remembers the old value. */
static inline int hugetlb_pool_set(struct hugetlb_pool *p, long pages)
{
	if (geteuid() != 0)
		return -1;
	if (p->saved < 0)
		p->saved = hugetlb_read_long(p->path);
	if (p->saved < 0)
		return -1;
	return hugetlb_write_long(p->path, pages);
}

/* Writes the remembered value back (a no-op when nothing changed). */
static inline int hugetlb_pool_restore(struct hugetlb_pool *p)
{
	int err = 0;
	if (p->saved >= 0 && (err = hugetlb_write_long(p->path, p->saved)) != 0)
		fprintf(stderr, "hugetlb_pool: could not restore %s to %ld\n", p->path, p->saved);
	p->saved = -1;
	return err;
}

/* Restores, then drops the lock: call it on every way out of the test. */
static inline int hugetlb_pool_end(struct hugetlb_pool *p)
{
	int err = hugetlb_pool_restore(p);
	if (p->lock_fd >= 0)
		close(p->lock_fd); /* releases the flock */
	p->lock_fd = -1;
	return err;
}

#endif /* HK_TEST_HUGETLB_POOL_H */
