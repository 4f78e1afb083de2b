/*
 * test/preload/progs/leaker.c — the heap profiler's test program
 * (test/preload/profile.sh). leak_kib_blocks() leaks 64 MiB in 1 KiB blocks;
 * churn() allocates and frees other sizes (they must not show as live);
 * keep_small() keeps 4 MiB of 100-byte blocks live. argv[1]: "fork" also
 * forks a child that allocates and exits; "threads" leaks from 4 threads.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile sink;

__attribute__((noinline)) void leak_kib_blocks(size_t bytes)
{
	for (size_t i = 0; i < bytes / 1024; i++) {
		char *p = malloc(1024);
		p[0] = 1;
		sink = p;
	}
}

__attribute__((noinline)) void churn(int rounds)
{
	void *slot[256] = { 0 };
	unsigned seed = 7;
	for (int i = 0; i < rounds; i++) {
		seed = seed * 1103515245u + 12345u;
		unsigned k = (seed >> 8) & 255;
		free(slot[k]);
		slot[k] = malloc((seed >> 4) % 20000 + 1);
	}
	for (int k = 0; k < 256; k++)
		free(slot[k]);
}

__attribute__((noinline)) void keep_small(size_t bytes)
{
	for (size_t i = 0; i < bytes / 100; i++)
		sink = malloc(100);
}

static void *leak_thread(void *arg)
{
	leak_kib_blocks((size_t)arg);
	churn(100000);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	if (!strcmp(mode, "threads")) {
		pthread_t t[4];
		for (int i = 0; i < 4; i++)
			pthread_create(&t[i], NULL, leak_thread, (void *)(size_t)(16 << 20));
		for (int i = 0; i < 4; i++)
			pthread_join(t[i], NULL);
	} else {
		leak_kib_blocks(64 << 20);
		churn(1000000);
	}
	keep_small(4 << 20);
	if (!strcmp(mode, "fork")) {
		pid_t pid = fork();
		if (pid == 0) {
			keep_small(1 << 20);
			exit(0);
		}
		int st;
		waitpid(pid, &st, 0);
	}
	printf("done\n");
	return 0;
}
