/* bytes.h: a growable byte queue for stream I/O: append at the end, consume from the front. */
#ifndef CLEAVE_MESH_BYTES_H
#define CLEAVE_MESH_BYTES_H

#include <stddef.h>
#include <stdint.h>

typedef struct meshi_bytes {
	uint8_t *data;
	size_t start; /* first unconsumed byte */
	size_t len;   /* bytes from start */
	size_t cap;
} meshi_bytes;

/* meshi_bytes_reserve returns room for n more bytes at the end (moving or growing the buffer), or
 * NULL if memory ran out. Nothing counts until meshi_bytes_commit. */
uint8_t *meshi_bytes_reserve(meshi_bytes *b, size_t n);

/* meshi_bytes_commit counts n bytes written at meshi_bytes_reserve's pointer. */
void meshi_bytes_commit(meshi_bytes *b, size_t n);

/* meshi_bytes_append copies n bytes to the end. Returns 0 or -1 if memory ran out. */
int meshi_bytes_append(meshi_bytes *b, const void *data, size_t n);

/* meshi_bytes_head returns the first unconsumed byte. */
static inline uint8_t *meshi_bytes_head(const meshi_bytes *b)
{
	return b->data + b->start;
}

/* meshi_bytes_consume drops n bytes from the front. */
void meshi_bytes_consume(meshi_bytes *b, size_t n);

/* meshi_bytes_read_from appends what the non-blocking socket fd has to read. Returns 1 if it read
 * something, 0 if there was nothing to read, -1 when the peer closed (errno 0) or on an error
 * (errno set; ENOMEM if the buffer could not grow). */
int meshi_bytes_read_from(meshi_bytes *b, int fd);

/* meshi_bytes_read_max is meshi_bytes_read_from reading at most max bytes (max > 0): a
 * connection read in bounded bites. Returns as meshi_bytes_read_from does. */
int meshi_bytes_read_max(meshi_bytes *b, int fd, size_t max);

/* meshi_bytes_trim frees the buffer of an empty queue holding more than keep bytes of room, so a
 * burst does not leave an idle connection holding its peak. */
void meshi_bytes_trim(meshi_bytes *b, size_t keep);

/* meshi_bytes_write_to sends what b holds to the non-blocking socket fd, consuming what was sent.
 * Returns 0 when all is sent, 1 if the socket is full (the rest waits), -1 on an error
 * (errno set). */
int meshi_bytes_write_to(meshi_bytes *b, int fd);

/* meshi_bytes_fini frees the buffer. */
void meshi_bytes_fini(meshi_bytes *b);

#endif
