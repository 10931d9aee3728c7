/* envelope.h: mesh.Call and mesh.Reply written straight into nng messages, and read in place. */
#ifndef CLEAVE_MESH_ENVELOPE_H
#define CLEAVE_MESH_ENVELOPE_H

#include <stdint.h>

#include <nng/nng.h>

#include "mesh.h"

/* meshi_envelope_call: the fields of a mesh.Call; strings point into someone else's memory. */
typedef struct meshi_envelope_call {
	const char *service;
	size_t service_len;
	const char *method;
	size_t method_len;
	const uint8_t *payload; /* packed request, when read */
	size_t payload_len;
	int64_t timeout_us;
	const char *caller;
	size_t caller_len;
	const char *idempotency_key;
	size_t idempotency_key_len;
	const char *request_id;
	size_t request_id_len;
	/* the W3C trace context: trace_id (MESH_TRACE_ID_LEN bytes) and parent_id
	 * (MESH_SPAN_ID_LEN bytes) point into someone else's memory; NULL, or another length when
	 * read, is none */
	const uint8_t *trace_id;
	size_t trace_id_len;
	const uint8_t *parent_id;
	size_t parent_id_len;
	uint32_t trace_flags;
} meshi_envelope_call;

/* meshi_envelope_call_trace points call's trace fields at t's (none if t is NULL or names no
 * trace); t must outlive call. */
void meshi_envelope_call_trace(meshi_envelope_call *call, const mesh_trace *t);

/* MESHI_CANCEL_SERVICE, MESHI_CANCEL_METHOD: what a Cancel names (mesh.proto, Mesh.Cancel). */
#define MESHI_CANCEL_SERVICE "mesh.Mesh"
#define MESHI_CANCEL_METHOD  "Cancel"

/* meshi_envelope_reply: the fields of a mesh.Reply; strings point into someone else's memory. */
typedef struct meshi_envelope_reply {
	mesh_status status;
	const char *message;
	size_t message_len;
	const uint8_t *payload;
	size_t payload_len;
} meshi_envelope_reply;

/* meshi_envelope_reply_size returns the packed size of a mesh.Reply with status, message (may be
 * NULL) and output (may be NULL), and sets *payload_len to output's packed size. */
size_t meshi_envelope_reply_size(mesh_status status, const char *message,
				 const ProtobufCMessage *output, size_t *payload_len);

/* meshi_envelope_reply_write writes that mesh.Reply at p, which has room for
 * meshi_envelope_reply_size bytes; payload_len is what meshi_envelope_reply_size set. Returns the
 * end of what it wrote. */
uint8_t *meshi_envelope_reply_write(uint8_t *p, mesh_status status, const char *message,
				    const ProtobufCMessage *output, size_t payload_len);

/* meshi_envelope_call_size returns the packed size of call with input as its payload, and sets
 * *payload_len to input's packed size. */
size_t meshi_envelope_call_size(const meshi_envelope_call *call, const ProtobufCMessage *input,
				size_t *payload_len);

/* meshi_envelope_call_write writes that mesh.Call at p, which has room for meshi_envelope_call_size
 * bytes. Returns the end of what it wrote. */
uint8_t *meshi_envelope_call_write(uint8_t *p, const meshi_envelope_call *call,
				   const ProtobufCMessage *input, size_t payload_len);

/* meshi_envelope_call_pack writes call as a mesh.Call whose payload is input, packed in place
 * (call's payload fields are ignored). On success *out is a new message, the caller's. Returns 0 or
 * an nng error number. */
int meshi_envelope_call_pack(nng_msg **out, const meshi_envelope_call *call,
			     const ProtobufCMessage *input);

/* meshi_envelope_reply_pack writes a mesh.Reply: status, message (may be NULL) and output (packed
 * in place; may be NULL). On success *out is a new message, the caller's. Returns 0 or an nng error
 * number. */
int meshi_envelope_reply_pack(nng_msg **out, mesh_status status, const char *message,
			      const ProtobufCMessage *output);

/* meshi_envelope_call_read parses a mesh.Call from data; the fields of *call point into data, which
 * stays the caller's. Returns 0, or -1 if data is not a well-formed mesh.Call. */
int meshi_envelope_call_read(meshi_envelope_call *call, const uint8_t *data, size_t len);

/* meshi_envelope_is_cancel says whether data (len bytes, a mesh.Call) names mesh.Mesh/Cancel, by
 * its first two fields alone, as meshi_envelope_call_write writes them: cheap enough to look at
 * every call waiting behind the one being served. */
int meshi_envelope_is_cancel(const uint8_t *data, size_t len);

/* meshi_envelope_cancel_size returns the packed size of a Cancel's mesh.Call, which
 * meshi_envelope_cancel_write writes at p (with room for it) and returns the end of. */
size_t meshi_envelope_cancel_size(void);
uint8_t *meshi_envelope_cancel_write(uint8_t *p);

/* meshi_envelope_reply_read parses a mesh.Reply from data; the fields of *reply point into data,
 * which stays the caller's. Returns 0, or -1 if data is not a well-formed mesh.Reply. */
int meshi_envelope_reply_read(meshi_envelope_reply *reply, const uint8_t *data, size_t len);

#endif
