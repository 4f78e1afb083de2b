/*
 * test/preload/progs/threads.c — threads, fork and exit paths through the libc names.
 *
 * Owns: under LD_PRELOAD, cross-thread frees with content checks, blocks outliving
 * their thread, malloc in TSD destructors and atexit handlers, fork of a busy
 * multithreaded process with malloc/free/pthread_create in the child, and
 * libc-internal allocations in threads (strdup, stdio). Prints "threads: ok".
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define N 4
#define PER 20000

static char *slots[N][PER];
static _Atomic int bad, stop;
static pthread_key_t key;

static size_t size_of(int t, int i) { return (size_t)((t * 7919 + i * 104729) % 3000) + 1; }

static void *make(void *arg)
{
	int t = (int)(intptr_t)arg;
	for (int i = 0; i < PER; i++) {
		size_t n = size_of(t, i);
		slots[t][i] = malloc(n);
		memset(slots[t][i], (t * 31 + i) & 0xff, n);
	}
	pthread_setspecific(key, strdup("tsd value"));
	return NULL;
}

/* Thread t frees what thread (t + 1) % N made, after that thread exited. */
static void *take(void *arg)
{
	int t = ((int)(intptr_t)arg + 1) % N;
	for (int i = 0; i < PER; i++) {
		size_t n = size_of(t, i);
		unsigned char *p = (unsigned char *)slots[t][i];
		if (p[0] != ((t * 31 + i) & 0xff) || p[n - 1] != ((t * 31 + i) & 0xff))
			atomic_fetch_add(&bad, 1);
		free(p);
	}
	return NULL;
}

static void dtor(void *v)
{
	char *copy = malloc(strlen(v) + 100); /* malloc while the thread is torn down */
	sprintf(copy, "%s freed", (char *)v);
	free(v);
	free(copy);
}

static void *churn(void *arg)
{
	(void)arg;
	unsigned r = 1;
	void *s[32] = { 0 };
	while (!atomic_load(&stop)) {
		r = r * 1103515245 + 12345;
		int i = (r >> 16) % 32;
		free(s[i]);
		s[i] = (r & 1) ? malloc((r >> 8) % 5000 + 1) : NULL;
	}
	for (int i = 0; i < 32; i++)
		free(s[i]);
	return NULL;
}

static void *child_thread(void *arg)
{
	char *s = strdup("child");
	free(s);
	return arg;
}

static int fork_rounds(void)
{
	pthread_t c[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&c[i], NULL, churn, NULL);
	int fails = 0;
	for (int round = 0; round < 20; round++) {
		char *inherited = strdup("inherited block");
		pid_t pid = fork();
		if (pid == 0) {
			alarm(20);
			if (strcmp(inherited, "inherited block"))
				_exit(2);
			free(inherited);
			void *v[500];
			for (int i = 0; i < 500; i++)
				v[i] = malloc((size_t)i * 37 + 1);
			for (int i = 0; i < 500; i++)
				free(v[i]);
			pthread_t t;
			if (pthread_create(&t, NULL, child_thread, NULL))
				_exit(3);
			pthread_join(t, NULL);
			FILE *f = tmpfile(); /* stdio allocates too */
			fprintf(f, "%d\n", round);
			fclose(f);
			_exit(0);
		}
		int st;
		waitpid(pid, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			fprintf(stderr, "threads: fork round %d: child status %#x\n", round, st);
			fails++;
		}
		free(inherited);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(c[i], NULL);
	return fails;
}

static void at_exit(void)
{
	char *p = malloc(1000);
	memset(p, 1, 1000);
	free(p);
}

int main(void)
{
	pthread_t t[N];
	pthread_key_create(&key, dtor);
	atexit(at_exit);
	for (int i = 0; i < N; i++)
		pthread_create(&t[i], NULL, make, (void *)(intptr_t)i);
	for (int i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < N; i++)
		pthread_create(&t[i], NULL, take, (void *)(intptr_t)i);
	for (int i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	if (atomic_load(&bad)) {
		fprintf(stderr, "threads: %d blocks corrupted across threads\n", atomic_load(&bad));
		return 1;
	}
	if (fork_rounds())
		return 1;
	puts("threads: ok");
	return 0;
}
