/*
 * kv_io.c — buffered socket I/O for the key-value server and client (see
 * kv_io.h). Blocking sockets only; EINTR is retried. Allocates nothing.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kv_io.h"

void kv_conn_init(struct kv_conn *c, int fd)
{
	c->fd = fd;
	c->pos = c->len = 0;
}

static ssize_t fill(struct kv_conn *c)
{
	if (c->pos > 0) { /* keep the unread tail at the front */
		memmove(c->buf, c->buf + c->pos, c->len - c->pos);
		c->len -= c->pos;
		c->pos = 0;
	}
	ssize_t n;
	do
		n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		c->len += (size_t)n;
	return n;
}

char *kv_read_line(struct kv_conn *c)
{
	size_t scanned = 0;
	for (;;) {
		char *start = c->buf + c->pos;
		char *nl = memchr(start + scanned, '\n', c->len - c->pos - scanned);
		if (nl) {
			c->pos += (size_t)(nl - start) + 1;
			if (nl > start && nl[-1] == '\r')
				nl--;
			*nl = '\0';
			return start;
		}
		scanned = c->len - c->pos;
		if (scanned > KV_LINE_MAX || fill(c) <= 0)
			return NULL;
	}
}

int kv_read_exact(struct kv_conn *c, void *dst, size_t n)
{
	char *out = dst;
	while (n > 0) {
		if (c->pos == c->len && fill(c) <= 0)
			return -1;
		size_t take = c->len - c->pos < n ? c->len - c->pos : n;
		if (out) {
			memcpy(out, c->buf + c->pos, take);
			out += take;
		}
		c->pos += take;
		n -= take;
	}
	return 0;
}

int kv_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}
