/*
 * test/common/child.h — what tests ask of a process: run a function in a
 * forked child and collect its stderr and wait status (misuse tests expect
 * an abort with a message), and the resident set size from /proc.
 * Must not include hakmem headers or assert: unit and api tests share it.
 * Invariant: the child never returns into the test; it _exits.
 */
#ifndef HK_TEST_CHILD_H
#define HK_TEST_CHILD_H

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs fn(arg) in a child with stderr into `out` (NUL-terminated, at most
 * cap - 1 bytes). Returns the child's wait status, -1 if it could not run. */
static inline int child_stderr(void (*fn)(void *), void *arg, char *out, size_t cap)
{
	int fd[2], st = -1;
	out[0] = 0;
	if (pipe(fd))
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(fd[1], 2);
		close(fd[0]);
		fn(arg);
		_exit(0);
	}
	close(fd[1]);
	size_t len = 0;
	ssize_t r;
	while (len + 1 < cap && (r = read(fd[0], out + len, cap - 1 - len)) > 0)
		len += (size_t)r;
	out[len] = 0;
	close(fd[0]);
	return waitpid(pid, &st, 0) == pid ? st : -1;
}

/* Resident set size in KiB (/proc/self/statm), -1 if unreadable. */
static inline long rss_kib(void)
{
	long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return -1;
	int n = fscanf(f, "%ld %ld", &size, &res);
	fclose(f);
	return n == 2 ? res * (sysconf(_SC_PAGESIZE) / 1024) : -1;
}

#endif /* HK_TEST_CHILD_H */
