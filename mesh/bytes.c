/* bytes.c: the byte queue behind each connection's input and output. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bytes.h"

uint8_t *meshi_bytes_reserve(meshi_bytes *b, size_t n)
{
	if (b->cap - b->start - b->len >= n)
		return b->data + b->start + b->len;
	if (b->start > 0 && b->cap - b->len >= n) {
		memmove(b->data, b->data + b->start, b->len);
		b->start = 0;
		return b->data + b->len;
	}
	size_t cap = b->cap ? b->cap : 4096;
	while (cap - b->len < n)
		cap *= 2;
	uint8_t *data = malloc(cap);
	if (data == NULL)
		return NULL;
	if (b->len > 0)
		memcpy(data, b->data + b->start, b->len);
	free(b->data);
	b->data = data;
	b->start = 0;
	b->cap = cap;
	return b->data + b->len;
}

void meshi_bytes_commit(meshi_bytes *b, size_t n)
{
	b->len += n;
}

int meshi_bytes_append(meshi_bytes *b, const void *data, size_t n)
{
	uint8_t *p = meshi_bytes_reserve(b, n);
	if (p == NULL)
		return -1;
	memcpy(p, data, n);
	b->len += n;
	return 0;
}

void meshi_bytes_consume(meshi_bytes *b, size_t n)
{
	b->start += n;
	b->len -= n;
	if (b->len == 0)
		b->start = 0;
}

#define BYTES_READ_CHUNK 65536

int meshi_bytes_read_from(meshi_bytes *b, int fd)
{
	return meshi_bytes_read_max(b, fd, SIZE_MAX);
}

int meshi_bytes_read_max(meshi_bytes *b, int fd, size_t max)
{
	int got = 0;
	while (max > 0) {
		size_t want = max < BYTES_READ_CHUNK ? max : BYTES_READ_CHUNK;
		uint8_t *p = meshi_bytes_reserve(b, want);
		ssize_t n;
		if (p == NULL) {
			errno = ENOMEM;
			return -1;
		}
		n = recv(fd, p, want, 0);
		if (n > 0) {
			meshi_bytes_commit(b, (size_t)n);
			max -= (size_t)n;
			got = 1;
			if ((size_t)n < want)
				return 1; /* a short read: the socket is drained */
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return got;
		if (n == 0)
			errno = 0;
		return -1;
	}
	return got;
}

void meshi_bytes_trim(meshi_bytes *b, size_t keep)
{
	if (b->len == 0 && b->cap > keep)
		meshi_bytes_fini(b);
}

int meshi_bytes_write_to(meshi_bytes *b, int fd)
{
	while (b->len > 0) {
		ssize_t n = send(fd, meshi_bytes_head(b), b->len, MSG_NOSIGNAL);
		if (n > 0)
			meshi_bytes_consume(b, (size_t)n);
		else if (n < 0 && errno == EINTR)
			continue;
		else if (n < 0 && errno == EAGAIN)
			return 1;
		else
			return -1;
	}
	return 0;
}

void meshi_bytes_fini(meshi_bytes *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}
