/*
 * kv_io.h — buffered line/byte I/O on a blocking socket, shared by the
 * key-value server and its load generator. Owns no memory: the caller
 * provides the kv_conn. Invariant: buf[pos..len) holds bytes read from fd
 * and not yet consumed.
 */
#ifndef KV_IO_H
#define KV_IO_H

#include <stddef.h>

#define KV_IOBUF 16384
#define KV_LINE_MAX 1024 /* longest command or reply line */
#define KV_KEY_MAX 250

struct kv_conn {
	int fd;
	size_t pos, len;
	char buf[KV_IOBUF];
};

void kv_conn_init(struct kv_conn *c, int fd);
/* Reads one line ending in "\n" (a "\r" before it is dropped) and returns it
 * NUL-terminated in place; NULL at end of input, on error, or when the line
 * exceeds KV_LINE_MAX. Valid until the next read on c. */
char *kv_read_line(struct kv_conn *c);
/* Reads exactly n bytes into dst (NULL dst: discards them). 0 or -1. */
int kv_read_exact(struct kv_conn *c, void *dst, size_t n);
/* Writes all of buf; 0 or -1. Never raises SIGPIPE. */
int kv_write_all(int fd, const void *buf, size_t n);

#endif /* KV_IO_H */
