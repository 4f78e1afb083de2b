/*
 * luahost.c — a Lua 5.4 host embedding hakmem: N scripts run by T threads,
 * each script in its own lua_State whose memory is one hakmem arena (see
 * lua_mem.c); the arena's capacity is the script's memory limit, so a
 * runaway script ends with Lua's own "not enough memory" error and the host
 * goes on with the next. Prints one line per script (its result or error)
 * and a summary; exits 1 if a script failed other than by its memory limit
 * or an arena still counted live bytes after its state was gone.
 *
 *   luahost [-t threads] [-n scripts] [-a libc|arena|reuse|drop] [-m KiB]
 *           [-s scale] [-q] [-b] script.lua...
 * Script i is script (i mod count) of the list, run with globals JOB = i and
 * SCALE; it returns its result. -b adds the RESULT line of bench/ (CPU time,
 * peak RSS). -a libc: Lua's default allocator, no limit (-m is refused).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lua_mem.h"

struct script {
	const char *name;
	char *text;
	size_t len;
};

struct host {
	enum lh_mode mode;
	size_t limit;
	long jobs, scale;
	int quiet;
	struct script *scripts;
	int nscripts;
	atomic_long next;     /* the next job to take */
	atomic_long ok, memerr, failed, leaked;
};

struct job {
	struct host *host;
	long id;
	const struct script *script;
};

static void die(const char *msg)
{
	fprintf(stderr, "luahost: %s\n", msg);
	exit(2);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) ||
	    !(buf = malloc((size_t)n + 1)) || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "luahost: cannot read %s: %s\n", path, strerror(errno));
		exit(2);
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Inside the state's protected call, so that no allocation (library tables
 * included) can fail outside it: libraries, inputs, the script, its result
 * as a string. A sandbox's libraries only: no io, os or package. */
static int job_main(lua_State *L)
{
	static const luaL_Reg libs[] = {
		{ LUA_GNAME, luaopen_base },       { LUA_TABLIBNAME, luaopen_table },
		{ LUA_STRLIBNAME, luaopen_string }, { LUA_MATHLIBNAME, luaopen_math },
		{ LUA_UTF8LIBNAME, luaopen_utf8 },
	};
	const struct job *job = lua_touserdata(L, 1);

	for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
		luaL_requiref(L, libs[i].name, libs[i].func, 1);
		lua_pop(L, 1);
	}
	lua_pushinteger(L, job->id);
	lua_setglobal(L, "JOB");
	lua_pushinteger(L, job->host->scale);
	lua_setglobal(L, "SCALE");
	if (luaL_loadbufferx(L, job->script->text, job->script->len, job->script->name, "t"))
		return lua_error(L);
	lua_call(L, 0, 1);
	luaL_tolstring(L, -1, NULL);
	return 1;
}

static void run_job(struct lh_heap *heap, struct job *job)
{
	struct host *h = job->host;
	const char *what = "error";
	int status = LUA_ERRMEM;
	lua_State *L = lh_state_open(heap);

	if (L) {
		lua_pushcfunction(L, job_main);
		lua_pushlightuserdata(L, job);
		status = lua_pcall(L, 1, 1, 0);
	}
	if (status == LUA_OK)
		what = "ok";
	else if (status == LUA_ERRMEM)
		what = "memory limit";
	if (!h->quiet)
		printf("job %ld %s: %s: %s\n", job->id, job->script->name, what,
		       L ? lua_tostring(L, -1) : "no memory for a state");
	atomic_fetch_add(status == LUA_OK ? &h->ok : status == LUA_ERRMEM ? &h->memerr : &h->failed, 1);
	size_t live = L ? lh_state_close(heap, L) : 0;
	if (live) {
		printf("job %ld %s: arena still counts %zu live bytes after the state\n", job->id,
		       job->script->name, live);
		atomic_fetch_add(&h->leaked, 1);
	}
}

static void *worker(void *arg)
{
	struct host *h = arg;
	static atomic_int ids;
	int id = atomic_fetch_add(&ids, 1);
	struct lh_heap *heap = lh_heap_new(h->mode, h->limit, id);

	if (!heap) {
		perror("luahost: worker heap");
		atomic_fetch_add(&h->failed, 1);
		return NULL;
	}
	for (long i; (i = atomic_fetch_add(&h->next, 1)) < h->jobs;) {
		struct job job = { h, i, &h->scripts[i % h->nscripts] };
		run_job(heap, &job);
	}
	lh_heap_delete(heap);
	return NULL;
}

static long peak_rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

static enum lh_mode parse_mode(const char *s)
{
	static const char *const names[] = { "libc", "arena", "reuse", "drop" };

	for (int i = 0; i < 4; i++)
		if (!strcmp(s, names[i]))
			return (enum lh_mode)i;
	die("-a takes libc, arena, reuse or drop");
	return LH_LIBC;
}

int main(int argc, char **argv)
{
	struct host h = { .mode = LH_ARENA, .jobs = 16, .scale = 1 };
	int threads = 4, bench = 0, opt;
	const char *mode = "arena";

	while ((opt = getopt(argc, argv, "t:n:a:m:s:qb")) != -1) {
		switch (opt) {
		case 't': threads = atoi(optarg); break;
		case 'n': h.jobs = atol(optarg); break;
		case 'a': h.mode = parse_mode(mode = optarg); break;
		case 'm': h.limit = strtoull(optarg, NULL, 0) << 10; break;
		case 's': h.scale = atol(optarg); break;
		case 'q': h.quiet = 1; break;
		case 'b': bench = 1; break;
		default: die("usage: luahost [-t T] [-n N] [-a libc|arena|reuse|drop] [-m KiB] "
			     "[-s scale] [-q] [-b] script.lua...");
		}
	}
	if (optind >= argc || threads < 1 || threads > 256 || h.jobs < 0)
		die("needs scripts, 1..256 threads and a job count");
	if (h.mode == LH_LIBC && h.limit)
		die("-a libc has no memory limit (-m needs an arena)");
	h.nscripts = argc - optind;
	h.scripts = calloc((size_t)h.nscripts, sizeof(*h.scripts));
	if (!h.scripts)
		die("out of memory");
	for (int i = 0; i < h.nscripts; i++) {
		const char *path = argv[optind + i], *base = strrchr(path, '/');
		h.scripts[i].name = base ? base + 1 : path;
		h.scripts[i].text = read_file(path, &h.scripts[i].len);
	}

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_t tid[256];
	for (int i = 0; i < threads; i++)
		if (pthread_create(&tid[i], NULL, worker, &h))
			die("cannot start a thread");
	for (int i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);

	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		     (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
	long failed = atomic_load(&h.failed), leaked = atomic_load(&h.leaked);
	printf("luahost: %ld scripts, %ld ok, %ld memory limit, %ld failed, %ld leaked; "
	       "%s, %d threads, %.3f s\n", h.jobs, atomic_load(&h.ok), atomic_load(&h.memerr),
	       failed, leaked, mode, threads, secs);
	if (bench)
		printf("RESULT bench=luahost ops=%ld secs=%.6f ops_per_s=%.1f check=%s maxrss_kb=%ld "
		       "linked=no cpu_secs=%.3f mode=%s memerr=%ld\n", h.jobs, secs,
		       secs > 0 ? (double)h.jobs / secs : 0.0, failed || leaked ? "FAIL" : "ok",
		       peak_rss_kb(), cpu, mode, atomic_load(&h.memerr));
	for (int i = 0; i < h.nscripts; i++)
		free(h.scripts[i].text);
	free(h.scripts);
	return failed || leaked ? 1 : 0;
}
