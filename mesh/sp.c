/* sp.c: SP handshake and framing as nng writes them, so nng peers and ours interoperate. */
#include <stdint.h>
#include <string.h>

#include "sp.h"

void meshi_sp_put_u32(uint8_t *out, uint32_t v)
{
	out[0] = (uint8_t)(v >> 24);
	out[1] = (uint8_t)(v >> 16);
	out[2] = (uint8_t)(v >> 8);
	out[3] = (uint8_t)v;
}

uint32_t meshi_sp_get_u32(const uint8_t *in)
{
	return (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 | (uint32_t)in[2] << 8 | in[3];
}

void meshi_sp_handshake(uint8_t out[SP_HANDSHAKE_LEN], uint16_t proto)
{
	out[0] = 0;
	out[1] = 'S';
	out[2] = 'P';
	out[3] = 0;
	out[4] = (uint8_t)(proto >> 8);
	out[5] = (uint8_t)proto;
	out[6] = 0;
	out[7] = 0;
}

int meshi_sp_handshake_check(const uint8_t greeting[SP_HANDSHAKE_LEN], uint16_t want)
{
	uint8_t expect[SP_HANDSHAKE_LEN];
	meshi_sp_handshake(expect, want);
	return memcmp(greeting, expect, SP_HANDSHAKE_LEN) == 0 ? 0 : -1;
}

size_t meshi_sp_frame_header_len(meshi_sp_framing framing)
{
	return framing == SP_IPC ? 9 : 8;
}

size_t meshi_sp_frame_header(uint8_t *out, meshi_sp_framing framing, uint64_t len)
{
	size_t n = 0;
	if (framing == SP_IPC)
		out[n++] = 1;
	for (int shift = 56; shift >= 0; shift -= 8)
		out[n++] = (uint8_t)(len >> shift);
	return n;
}

int meshi_sp_frame_next(const uint8_t *data, size_t len, meshi_sp_framing framing, uint64_t max,
			const uint8_t **payload, size_t *payload_len, size_t *consumed)
{
	size_t head = meshi_sp_frame_header_len(framing);
	uint64_t size = 0;
	if (len < head)
		return 0;
	if (framing == SP_IPC && data[0] != 1)
		return -1;
	for (size_t i = head - 8; i < head; i++)
		size = size << 8 | data[i];
	if (size > max) {
		*payload_len = size > SIZE_MAX ? SIZE_MAX : (size_t)size;
		return -2;
	}
	if (len - head < size)
		return 0;
	*payload = data + head;
	*payload_len = (size_t)size;
	*consumed = head + (size_t)size;
	return 1;
}

int meshi_sp_rep_split(const uint8_t *payload, size_t len)
{
	for (int hop = 0; hop < SP_MAX_HOPS; hop++) {
		size_t at = (size_t)hop * 4;
		if (len < at + 4)
			return -1;
		if (payload[at] & 0x80)
			return (int)(at + 4);
	}
	return -1;
}
