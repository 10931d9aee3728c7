/* sp.h: the SP wire protocol nng speaks (REQ/REP v0 over ipc:// and tcp://), for event loops. */
#ifndef CLEAVE_MESH_SP_H
#define CLEAVE_MESH_SP_H

#include <stddef.h>
#include <stdint.h>

#define SP_PROTO_REQ	  0x30
#define SP_PROTO_REP	  0x31
#define SP_HANDSHAKE_LEN  8
#define SP_REQUEST_ID_BIT 0x80000000u
#define SP_MAX_HOPS	  8

/* meshi_sp_framing: how messages are delimited on a stream. */
typedef enum meshi_sp_framing {
	SP_IPC, /* 1 type byte (1) + 8-byte big-endian length + payload */
	SP_TCP, /* 8-byte big-endian length + payload */
} meshi_sp_framing;

/* meshi_sp_handshake writes the 8-byte greeting announcing protocol proto into out. */
void meshi_sp_handshake(uint8_t out[SP_HANDSHAKE_LEN], uint16_t proto);

/* meshi_sp_handshake_check says whether greeting (8 bytes from the peer) announces protocol want.
 * Returns 0 or -1. */
int meshi_sp_handshake_check(const uint8_t greeting[SP_HANDSHAKE_LEN], uint16_t want);

/* meshi_sp_frame_header_len returns the bytes before each payload with this framing. */
size_t meshi_sp_frame_header_len(meshi_sp_framing framing);

/* meshi_sp_frame_header writes the header of a payload of len bytes into out (9 bytes at most);
 * returns its length. */
size_t meshi_sp_frame_header(uint8_t *out, meshi_sp_framing framing, uint64_t len);

/* meshi_sp_frame_next finds the first whole frame in data (len bytes read from a stream). Returns 1
 * with *payload, *payload_len and *consumed (header + payload) set; 0 if more bytes are needed;
 * -1 if the stream is malformed; -2 if the header announces a payload larger than max (known as
 * soon as the header is in, before the payload is read), with *payload_len set to its size
 * (capped at SIZE_MAX). */
int meshi_sp_frame_next(const uint8_t *data, size_t len, meshi_sp_framing framing, uint64_t max,
			const uint8_t **payload, size_t *payload_len, size_t *consumed);

/* meshi_sp_rep_split splits a request payload received by REP into its backtrace (the 4-byte hops
 * up to and including the request id, which has the top bit set) and the body. Returns the
 * backtrace length, or -1 if there is no request id within SP_MAX_HOPS hops. */
int meshi_sp_rep_split(const uint8_t *payload, size_t len);

/* meshi_sp_put_u32 writes v big-endian. */
void meshi_sp_put_u32(uint8_t *out, uint32_t v);

/* meshi_sp_get_u32 reads a big-endian 32-bit value. */
uint32_t meshi_sp_get_u32(const uint8_t *in);

#endif
