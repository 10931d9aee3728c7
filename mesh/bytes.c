/* bytes.c: the byte queue behind each connection's input and output. */
#include <stdlib.h>
#include <string.h>

#include "bytes.h"

uint8_t *bytes_reserve(bytes *b, size_t n)
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

void bytes_commit(bytes *b, size_t n)
{
	b->len += n;
}

int bytes_append(bytes *b, const void *data, size_t n)
{
	uint8_t *p = bytes_reserve(b, n);
	if (p == NULL)
		return -1;
	memcpy(p, data, n);
	b->len += n;
	return 0;
}

void bytes_consume(bytes *b, size_t n)
{
	b->start += n;
	b->len -= n;
	if (b->len == 0)
		b->start = 0;
}

void bytes_fini(bytes *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}
