/*
 * kvserver.c — a small multi-threaded key-value server on 127.0.0.1 that
 * embeds hakmem: every worker thread stores the values it receives in its
 * own arena (capacity-bounded, NUMA-placed) and builds replies in a scratch
 * arena reset between requests (kv_mem.h; or plain malloc, to compare).
 * Any thread may replace or delete any key, so blocks are freed across
 * threads and arenas. Invariant: an entry is reachable only under its
 * stripe lock, and freed only after it is unlinked.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kv_io.h"
#include "kv_mem.h"

/*
 * Protocol, one command per line ("\n" or "\r\n"):
 *   SET key nbytes / <nbytes of data> "\n"  -> STORED | ERROR out of memory
 *   GET key    -> VALUE nbytes / <data> "\n" | NOT_FOUND
 *   DEL key    -> DELETED | NOT_FOUND
 *   STATS      -> STAT name value ... END
 *   QUIT       -> closes the connection
 * Prints "PORT n" on stdout once listening; SIGTERM/SIGINT stop it cleanly
 * (workers joined, every heap destroyed).
 */

#define KV_STRIPES 256 /* lock stripes over the buckets */
#define KV_QUEUE 64    /* accepted connections waiting for a worker */

struct kv_entry {
	struct kv_entry *next;
	uint64_t hash;
	uint32_t klen, vlen;
	char data[]; /* key, then value */
};

struct kv_worker {
	pthread_t tid;
	int id;
	int fd; /* connection being served, -1 when idle (under queue lock) */
	struct kv_heap *heap;
};

static struct {
	struct kv_entry **buckets;
	size_t nbuckets; /* power of two */
	pthread_mutex_t stripe[KV_STRIPES];
	atomic_size_t keys, value_bytes;
	atomic_ullong requests, set_oom;
	size_t max_value;

	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	int queue[KV_QUEUE];
	int qhead, qlen;
	int stopping;
	int listen_fd;
	int nworkers;
	struct kv_worker *workers;
} kv;

static uint64_t hash_key(const char *k, size_t n)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)k[i]) * 1099511628211ull;
	return h;
}

static pthread_mutex_t *stripe_of(uint64_t h) { return &kv.stripe[h % KV_STRIPES]; }

/* Finds the link pointing at the key's entry (or at the NULL ending its
 * chain). Caller holds the key's stripe lock. */
static struct kv_entry **find_link(const char *key, size_t klen, uint64_t h)
{
	struct kv_entry **link = &kv.buckets[h & (kv.nbuckets - 1)];
	for (; *link; link = &(*link)->next)
		if ((*link)->hash == h && (*link)->klen == klen && !memcmp((*link)->data, key, klen))
			break;
	return link;
}

static int reply(int fd, const char *s) { return kv_write_all(fd, s, strlen(s)); }

static int cmd_set(struct kv_worker *w, struct kv_conn *c, const char *key, size_t klen,
		   const char *arg)
{
	char *end;
	unsigned long long n = strtoull(arg, &end, 10);
	if (end == arg || *end || n > kv.max_value)
		return reply(c->fd, "ERROR bad length\n") ? -1 : -2;
	struct kv_entry *e = kv_store_alloc(w->heap, sizeof(*e) + klen + n);
	if (!e) { /* the worker's budget is spent: drop the payload, keep the old value */
		atomic_fetch_add(&kv.set_oom, 1);
		if (kv_read_exact(c, NULL, n + 1))
			return -1;
		return reply(c->fd, "ERROR out of memory\n");
	}
	e->hash = hash_key(key, klen);
	e->klen = (uint32_t)klen;
	e->vlen = (uint32_t)n;
	memcpy(e->data, key, klen);
	char nl;
	if (kv_read_exact(c, e->data + klen, n) || kv_read_exact(c, &nl, 1) || nl != '\n') {
		kv_store_free(e);
		return -1;
	}
	/* Reading the payload may have moved the line `key` points into. */
	pthread_mutex_t *m = stripe_of(e->hash);
	pthread_mutex_lock(m);
	struct kv_entry **link = find_link(e->data, klen, e->hash), *old = *link;
	e->next = old ? old->next : NULL;
	*link = e;
	pthread_mutex_unlock(m);
	if (old) {
		atomic_fetch_sub(&kv.value_bytes, old->vlen);
		kv_store_free(old); /* possibly another worker's arena */
	} else {
		atomic_fetch_add(&kv.keys, 1);
	}
	atomic_fetch_add(&kv.value_bytes, n);
	return reply(c->fd, "STORED\n");
}

/* The value is copied into a scratch block under the lock, then sent. */
static int cmd_get(struct kv_worker *w, int fd, const char *key, size_t klen)
{
	uint64_t h = hash_key(key, klen);
	pthread_mutex_t *m = stripe_of(h);
	pthread_mutex_lock(m);
	struct kv_entry *e = *find_link(key, klen, h);
	char *out = NULL;
	int len = 0;
	if (e && (out = kv_scratch_alloc(w->heap, e->vlen + 32))) {
		len = sprintf(out, "VALUE %u\n", e->vlen);
		memcpy(out + len, e->data + e->klen, e->vlen);
		len += (int)e->vlen;
		out[len++] = '\n';
	}
	pthread_mutex_unlock(m);
	if (e && !out)
		return reply(fd, "ERROR out of memory\n");
	return e ? kv_write_all(fd, out, (size_t)len) : reply(fd, "NOT_FOUND\n");
}

static int cmd_del(int fd, const char *key, size_t klen)
{
	uint64_t h = hash_key(key, klen);
	pthread_mutex_t *m = stripe_of(h);
	pthread_mutex_lock(m);
	struct kv_entry **link = find_link(key, klen, h), *e = *link;
	if (e)
		*link = e->next;
	pthread_mutex_unlock(m);
	if (!e)
		return reply(fd, "NOT_FOUND\n");
	atomic_fetch_sub(&kv.keys, 1);
	atomic_fetch_sub(&kv.value_bytes, e->vlen);
	kv_store_free(e);
	return reply(fd, "DELETED\n");
}

static void statm_kb(size_t *rss_kb, size_t *hwm_kb)
{
	char line[128];
	FILE *f = fopen("/proc/self/status", "r");
	*rss_kb = *hwm_kb = 0;
	while (f && fgets(line, sizeof(line), f)) {
		sscanf(line, "VmRSS: %zu", rss_kb);
		sscanf(line, "VmHWM: %zu", hwm_kb);
	}
	if (f)
		fclose(f);
}

static size_t format_stats(char *buf, size_t len)
{
	size_t rss, hwm;
	statm_kb(&rss, &hwm);
	int n = snprintf(buf, len,
			 "STAT mode %s\nSTAT workers %d\nSTAT keys %zu\nSTAT value_bytes %zu\n"
			 "STAT requests %llu\nSTAT set_oom %llu\nSTAT rss_kb %zu\nSTAT hwm_kb %zu\n",
			 kv_mem_mode(), kv.nworkers, atomic_load(&kv.keys),
			 atomic_load(&kv.value_bytes), atomic_load(&kv.requests),
			 atomic_load(&kv.set_oom), rss, hwm);
	size_t used = n < 0 ? 0 : (size_t)n;
	for (int i = 0; i < kv.nworkers && used < len; i++)
		used += kv_heap_stats(kv.workers[i].heap, buf + used, len - used);
	return used;
}

static int cmd_stats(struct kv_worker *w, int fd)
{
	size_t cap = 512 + (size_t)kv.nworkers * 1024;
	char *out = kv_scratch_alloc(w->heap, cap);
	if (!out)
		return reply(fd, "ERROR out of memory\n");
	size_t n = format_stats(out, cap - 8);
	memcpy(out + n, "END\n", 4);
	return kv_write_all(fd, out, n + 4);
}

/* One request; 0 to go on, -1 to close the connection. */
static int serve_one(struct kv_worker *w, struct kv_conn *c)
{
	char *line = kv_read_line(c);
	if (!line)
		return -1;
	atomic_fetch_add(&kv.requests, 1);
	char *save, *cmd = strtok_r(line, " ", &save);
	char *key = strtok_r(NULL, " ", &save), *arg = strtok_r(NULL, " ", &save);
	size_t klen = key ? strlen(key) : 0;
	int rc;
	if (!cmd || (key && klen > KV_KEY_MAX))
		rc = reply(c->fd, "ERROR bad command\n");
	else if (!strcmp(cmd, "SET") && key && arg)
		rc = cmd_set(w, c, key, klen, arg);
	else if (!strcmp(cmd, "GET") && key)
		rc = cmd_get(w, c->fd, key, klen);
	else if (!strcmp(cmd, "DEL") && key)
		rc = cmd_del(c->fd, key, klen);
	else if (!strcmp(cmd, "STATS"))
		rc = cmd_stats(w, c->fd);
	else if (!strcmp(cmd, "QUIT"))
		rc = -1;
	else
		rc = reply(c->fd, "ERROR bad command\n");
	kv_scratch_reset(w->heap); /* what this request built is dead now */
	return rc == -2 ? -1 : rc;
}

static int next_connection(struct kv_worker *w)
{
	pthread_mutex_lock(&kv.qlock);
	while (!kv.stopping && kv.qlen == 0)
		pthread_cond_wait(&kv.qcond, &kv.qlock);
	int fd = -1;
	if (!kv.stopping) {
		fd = kv.queue[kv.qhead];
		kv.qhead = (kv.qhead + 1) % KV_QUEUE;
		kv.qlen--;
		pthread_cond_broadcast(&kv.qcond); /* room for the acceptor */
	}
	w->fd = fd;
	pthread_mutex_unlock(&kv.qlock);
	return fd;
}

static void *worker_main(void *arg)
{
	struct kv_worker *w = arg;
	struct kv_conn conn; /* 16 KiB on the worker's stack */
	int fd;
	while ((fd = next_connection(w)) >= 0) {
		kv_conn_init(&conn, fd);
		while (serve_one(w, &conn) == 0)
			;
		pthread_mutex_lock(&kv.qlock);
		w->fd = -1;
		pthread_mutex_unlock(&kv.qlock);
		close(fd);
	}
	return NULL;
}

static void *acceptor_main(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(kv.listen_fd, NULL, NULL);
		if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		pthread_mutex_lock(&kv.qlock);
		while (!kv.stopping && kv.qlen == KV_QUEUE)
			pthread_cond_wait(&kv.qcond, &kv.qlock);
		if (kv.stopping || fd < 0) {
			pthread_mutex_unlock(&kv.qlock);
			if (fd >= 0)
				close(fd);
			return NULL;
		}
		kv.queue[(kv.qhead + kv.qlen++) % KV_QUEUE] = fd;
		pthread_cond_signal(&kv.qcond);
		pthread_mutex_unlock(&kv.qlock);
	}
}

static int listen_loopback(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t salen = sizeof(sa);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 128) ||
	    getsockname(fd, (struct sockaddr *)&sa, &salen)) {
		perror("kvserver: listen on 127.0.0.1");
		exit(1);
	}
	printf("PORT %d\n", ntohs(sa.sin_port));
	fflush(stdout);
	return fd;
}

/* Wakes everything up, joins it, frees every entry and heap. */
static void shut_down(pthread_t acceptor)
{
	pthread_mutex_lock(&kv.qlock);
	kv.stopping = 1;
	shutdown(kv.listen_fd, SHUT_RDWR); /* wakes accept() */
	for (int i = 0; i < kv.nworkers; i++)
		if (kv.workers[i].fd >= 0)
			shutdown(kv.workers[i].fd, SHUT_RDWR);
	for (; kv.qlen > 0; kv.qlen--, kv.qhead = (kv.qhead + 1) % KV_QUEUE)
		close(kv.queue[kv.qhead]);
	pthread_cond_broadcast(&kv.qcond);
	pthread_mutex_unlock(&kv.qlock);
	pthread_join(acceptor, NULL);
	for (int i = 0; i < kv.nworkers; i++)
		pthread_join(kv.workers[i].tid, NULL);
	static char buf[65536];
	size_t n = format_stats(buf, sizeof(buf));
	fprintf(stderr, "kvserver: stopping\n%.*s", (int)n, buf);
	for (size_t b = 0; b < kv.nbuckets; b++)
		for (struct kv_entry *e = kv.buckets[b], *next; e; e = next) {
			next = e->next;
			kv_store_free(e);
		}
	for (int i = 0; i < kv.nworkers; i++)
		kv_heap_delete(kv.workers[i].heap);
	kv_table_free(kv.buckets);
	kv_table_free(kv.workers);
	close(kv.listen_fd);
}

static void usage(void)
{
	fprintf(stderr, "usage: kvserver [-p port (0: any)] [-w workers] [-c MiB per worker]\n"
			"                [-H hugepage policy 0-4] [-n numa node] [-b buckets] [-m max value]\n"
			"                [-R scratch bytes between resets (0: every request; default 256K)]\n");
	exit(2);
}

static void parse_args(int argc, char **argv, int *port, struct kv_mem_opts *mo)
{
	int opt;
	while ((opt = getopt(argc, argv, "p:w:c:H:n:b:m:R:")) != -1) {
		switch (opt) {
		case 'p': *port = atoi(optarg); break;
		case 'w': kv.nworkers = atoi(optarg); break;
		case 'c': mo->capacity = strtoull(optarg, NULL, 0) << 20; break;
		case 'H': mo->hugepages = atoi(optarg); break;
		case 'n': mo->numa_node = atoi(optarg); break;
		case 'b': kv.nbuckets = strtoull(optarg, NULL, 0); break;
		case 'm': kv.max_value = strtoull(optarg, NULL, 0); break;
		case 'R': mo->scratch_batch = strtoull(optarg, NULL, 0); break;
		default: usage();
		}
	}
	if (kv.nworkers < 1 || kv.nbuckets == 0 || (kv.nbuckets & (kv.nbuckets - 1)))
		usage();
}

static void make_tables(const struct kv_mem_opts *mo)
{
	for (int i = 0; i < KV_STRIPES; i++)
		pthread_mutex_init(&kv.stripe[i], NULL);
	pthread_mutex_init(&kv.qlock, NULL);
	pthread_cond_init(&kv.qcond, NULL);
	kv.buckets = kv_table_calloc(kv.nbuckets, sizeof(*kv.buckets));
	kv.workers = kv_table_calloc((size_t)kv.nworkers, sizeof(*kv.workers));
	if (!kv.buckets || !kv.workers) {
		perror("kvserver: tables");
		exit(1);
	}
	for (int i = 0; i < kv.nworkers; i++) {
		struct kv_worker *w = &kv.workers[i];
		w->id = i;
		w->fd = -1;
		if (!(w->heap = kv_heap_new(i, mo))) {
			perror("kvserver: worker heap");
			exit(1);
		}
	}
}

int main(int argc, char **argv)
{
	int port = 0, sig;
	struct kv_mem_opts mo = { .capacity = 0, .hugepages = 0, .numa_node = -1,
				  .scratch_batch = 256 << 10 };
	kv.nworkers = 4;
	kv.nbuckets = 1 << 16;
	kv.max_value = 1 << 20;
	parse_args(argc, argv, &port, &mo);
	/* Signals are taken by sigwait in main; the other threads inherit the mask. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	make_tables(&mo);
	kv.listen_fd = listen_loopback(port);
	pthread_t acceptor;
	for (int i = 0; i < kv.nworkers; i++)
		pthread_create(&kv.workers[i].tid, NULL, worker_main, &kv.workers[i]);
	pthread_create(&acceptor, NULL, acceptor_main, NULL);
	sigwait(&sigs, &sig);
	shut_down(acceptor);
	return 0;
}
