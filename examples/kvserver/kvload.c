/*
 * kvload.c — load generator and checker for kvserver: T client threads,
 * each sending a bounded number of SET/GET/DEL requests over its own
 * connection (reconnecting every R requests, so the server's workers free
 * each other's blocks), then reading back every key it owns. Values are
 * self-describing (a header naming key hash and version, then bytes derived
 * from both), so every value read is checked byte for byte; a thread's own
 * keys are also checked against its model of the store. Exit status 0 only
 * if every reply was as expected. Owns no server state; 127.0.0.1 only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kv_io.h"

#define KV_SHARED_KEYS 64 /* keys every thread writes: checked for integrity only */

static struct {
	int port, threads, keys, min_size, max_size, reconnect;
	long requests;
	unsigned seed;
	int show_stats;
} opt = { 0, 4, 2000, 16, 2048, 500, 20000, 1, 0 };

struct client {
	pthread_t tid;
	int id;
	struct kv_conn conn;
	uint64_t rng;
	uint32_t *version; /* per owned key; 0 = absent */
	uint32_t next_version;
	char *value;       /* scratch for building and reading values */
	long sets, gets, hits, dels, oom, verified, errors;
};

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static uint64_t hash_str(const char *k)
{
	uint64_t h = 1469598103934665603ull;
	for (; *k; k++)
		h = (h ^ (unsigned char)*k) * 1099511628211ull;
	return h;
}

/* The value stored for (key hash, version): its size and every byte follow
 * from the pair, so a reader can check a value without remembering it. */
static size_t make_value(char *out, uint64_t kh, uint32_t version)
{
	uint64_t s = (kh ^ ((uint64_t)version * 0x9e3779b97f4a7c15ull)) | 1;
	size_t span = (size_t)(opt.max_size - opt.min_size + 1);
	size_t n = (size_t)opt.min_size + (size_t)(xorshift(&s) % span);
	int h = snprintf(out, n + 1, "K%016llxV%08x:", (unsigned long long)kh, version);
	for (size_t i = (size_t)h < n ? (size_t)h : n; i < n; i++)
		out[i] = (char)('a' + xorshift(&s) % 26);
	return n;
}

static void fail(struct client *c, const char *what, const char *key)
{
	c->errors++;
	if (c->errors <= 5)
		fprintf(stderr, "kvload: thread %d: %s (key %s)\n", c->id, what, key);
}

static int connect_server(struct client *c)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("kvload: connect 127.0.0.1");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	kv_conn_init(&c->conn, fd);
	return 0;
}

static void disconnect_server(struct client *c)
{
	kv_write_all(c->conn.fd, "QUIT\n", 5);
	close(c->conn.fd);
}

static void key_name(char *out, int thread, int k)
{
	if (thread < 0)
		sprintf(out, "shared:%d", k);
	else
		sprintf(out, "t%d:k%d", thread, k);
}

/* SET; returns 1 stored, 0 refused for memory, -1 protocol error. */
static int do_set(struct client *c, const char *key, uint32_t version)
{
	char head[KV_LINE_MAX];
	size_t n = make_value(c->value, hash_str(key), version);
	int h = snprintf(head, sizeof(head), "SET %s %zu\n", key, n);
	c->value[n] = '\n';
	if (kv_write_all(c->conn.fd, head, (size_t)h) || kv_write_all(c->conn.fd, c->value, n + 1))
		return -1;
	c->sets++;
	char *line = kv_read_line(&c->conn);
	if (line && !strcmp(line, "STORED"))
		return 1;
	if (line && !strcmp(line, "ERROR out of memory")) {
		c->oom++;
		return 0;
	}
	return -1;
}

/* Sends "VERB key", counts it, returns the reply line (NULL: connection lost). */
static char *key_request(struct client *c, const char *verb, const char *key, long *count)
{
	char head[KV_LINE_MAX];
	int h = snprintf(head, sizeof(head), "%s %s\n", verb, key);
	if (kv_write_all(c->conn.fd, head, (size_t)h))
		return NULL;
	(*count)++;
	return kv_read_line(&c->conn);
}

/* GET and check: expect = 0 must be absent, a version must match exactly,
 * -1 accepts absence or any well-formed value of this key. */
static int do_get(struct client *c, const char *key, int64_t expect)
{
	char *line = key_request(c, "GET", key, &c->gets);
	unsigned long n;
	if (line && !strcmp(line, "NOT_FOUND")) {
		if (expect > 0)
			fail(c, "value missing", key);
		return 0;
	}
	if (!line || sscanf(line, "VALUE %lu", &n) != 1 || n > (unsigned long)opt.max_size ||
	    kv_read_exact(&c->conn, c->value, n + 1) || c->value[n] != '\n')
		return -1;
	c->hits++;
	unsigned long long kh;
	unsigned version;
	char *want = c->value + opt.max_size + 2;
	if (sscanf(c->value, "K%16llxV%8x:", &kh, &version) != 2 || kh != hash_str(key) ||
	    make_value(want, kh, version) != n || memcmp(want, c->value, n))
		fail(c, "value corrupted", key);
	else if (expect == 0 || (expect > 0 && version != (uint64_t)expect))
		fail(c, "stale or unexpected value", key);
	else
		c->verified++;
	return 0;
}

static int do_del(struct client *c, const char *key, int expect_present)
{
	char *line = key_request(c, "DEL", key, &c->dels);
	if (!line || (strcmp(line, "DELETED") && strcmp(line, "NOT_FOUND")))
		return -1;
	if (expect_present >= 0 && expect_present != !strcmp(line, "DELETED"))
		fail(c, "DEL disagrees with the model", key);
	return 0;
}

/* One random request: 45 % SET, 45 % GET, 10 % DEL; 1 in 16 on a shared key. */
static int one_request(struct client *c)
{
	char key[64];
	uint64_t r = xorshift(&c->rng);
	int shared = (r >> 8) % 16 == 0;
	int k = (int)((r >> 16) % (uint64_t)(shared ? KV_SHARED_KEYS : opt.keys));
	int op = (int)(r % 100);
	key_name(key, shared ? -1 : c->id, k);
	if (op < 45) {
		uint32_t v = ++c->next_version;
		int rc = do_set(c, key, v);
		if (rc == 1 && !shared)
			c->version[k] = v;
		return rc < 0 ? -1 : 0;
	}
	if (op < 90)
		return do_get(c, key, shared ? -1 : (int64_t)c->version[k]);
	int rc = do_del(c, key, shared ? -1 : c->version[k] != 0);
	if (!shared)
		c->version[k] = 0;
	return rc;
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	char key[64];
	if (connect_server(c))
		goto broken;
	for (long i = 0; i < opt.requests; i++) {
		if (opt.reconnect && i > 0 && i % opt.reconnect == 0) {
			disconnect_server(c);
			if (connect_server(c))
				goto broken;
		}
		if (one_request(c))
			goto broken;
	}
	for (int k = 0; k < opt.keys; k++) { /* read back everything this thread owns */
		key_name(key, c->id, k);
		if (do_get(c, key, c->version[k]))
			goto broken;
	}
	disconnect_server(c);
	return NULL;
broken:
	fail(c, "connection or protocol error", "-");
	return NULL;
}

static void server_stats(void)
{
	struct client c = { .id = -1 };
	if (connect_server(&c) || kv_write_all(c.conn.fd, "STATS\n", 6))
		return;
	char *line;
	while ((line = kv_read_line(&c.conn)) && strcmp(line, "END"))
		printf("server: %s\n", line);
	disconnect_server(&c);
}

static void usage(void)
{
	fprintf(stderr, "usage: kvload -p port [-t threads] [-n requests per thread] [-k keys per thread]\n"
			"              [-s min:max value bytes] [-r reconnect every N (0 never)] [-x seed] [-v]\n");
	exit(2);
}

static void parse(int argc, char **argv)
{
	int o;
	while ((o = getopt(argc, argv, "p:t:n:k:s:r:x:v")) != -1) {
		switch (o) {
		case 'p': opt.port = atoi(optarg); break;
		case 't': opt.threads = atoi(optarg); break;
		case 'n': opt.requests = atol(optarg); break;
		case 'k': opt.keys = atoi(optarg); break;
		case 's':
			if (sscanf(optarg, "%d:%d", &opt.min_size, &opt.max_size) != 2)
				usage();
			break;
		case 'r': opt.reconnect = atoi(optarg); break;
		case 'x': opt.seed = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'v': opt.show_stats = 1; break;
		default: usage();
		}
	}
	/* A value must hold its 27-byte header to be checkable. */
	if (opt.port <= 0 || opt.threads < 1 || opt.keys < 1 || opt.requests < 0 ||
	    opt.min_size < 32 || opt.max_size < opt.min_size || opt.max_size > (1 << 20))
		usage();
}

int main(int argc, char **argv)
{
	opt.min_size = 32;
	parse(argc, argv);
	struct client *cl = calloc((size_t)opt.threads, sizeof(*cl));
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < opt.threads; i++) {
		cl[i].id = i;
		cl[i].rng = ((uint64_t)opt.seed << 32) ^ (0x9e3779b97f4a7c15ull * (uint64_t)(i + 1));
		cl[i].version = calloc((size_t)opt.keys, sizeof(uint32_t));
		cl[i].value = malloc(2 * (size_t)opt.max_size + 4);
		if (!cl[i].version || !cl[i].value) {
			perror("kvload");
			return 1;
		}
		pthread_create(&cl[i].tid, NULL, client_main, &cl[i]);
	}
	long req = 0, verified = 0, errors = 0, oom = 0, hits = 0;
	for (int i = 0; i < opt.threads; i++) {
		pthread_join(cl[i].tid, NULL);
		req += cl[i].sets + cl[i].gets + cl[i].dels;
		verified += cl[i].verified;
		errors += cl[i].errors;
		oom += cl[i].oom;
		hits += cl[i].hits;
		free(cl[i].version);
		free(cl[i].value);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (opt.show_stats)
		server_stats();
	printf("kvload: %ld requests in %.3f s: %.0f req/s; %ld values read, %ld verified, "
	       "%ld SETs refused for memory, %ld errors\n",
	       req, s, (double)req / s, hits, verified, oom, errors);
	free(cl);
	return errors ? 1 : 0;
}
