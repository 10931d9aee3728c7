/* envelope.c: protobuf wire format of mesh.Call and mesh.Reply, without intermediate copies. */
#include <string.h>

#include "envelope.h"

enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_LEN = 2, WIRE_FIXED32 = 5 };

static size_t varint_size(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *varint_put(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static int varint_get(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 70 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*out = v;
			return 0;
		}
	}
	return -1;
}

static size_t field_len_size(unsigned field, size_t len)
{
	return len == 0 ? 0 : varint_size(field << 3) + varint_size(len) + len;
}

static size_t field_varint_size(unsigned field, uint64_t v)
{
	return v == 0 ? 0 : varint_size(field << 3) + varint_size(v);
}

static uint8_t *field_len_put(uint8_t *p, unsigned field, const void *data, size_t len)
{
	if (len == 0)
		return p;
	p = varint_put(p, (field << 3) | WIRE_LEN);
	p = varint_put(p, len);
	memcpy(p, data, len);
	return p + len;
}

static uint8_t *field_varint_put(uint8_t *p, unsigned field, uint64_t v)
{
	if (v == 0)
		return p;
	p = varint_put(p, (field << 3) | WIRE_VARINT);
	return varint_put(p, v);
}

/* field_message_put writes msg as a length-delimited field of packed size len. */
static uint8_t *field_message_put(uint8_t *p, unsigned field, const ProtobufCMessage *msg,
				  size_t len)
{
	if (len == 0)
		return p;
	p = varint_put(p, (field << 3) | WIRE_LEN);
	p = varint_put(p, len);
	return p + protobuf_c_message_pack(msg, p);
}

size_t meshi_envelope_call_size(const meshi_envelope_call *call, const ProtobufCMessage *input,
				size_t *payload_len)
{
	*payload_len = input != NULL ? protobuf_c_message_get_packed_size(input) : 0;
	return field_len_size(1, call->service_len) + field_len_size(2, call->method_len) +
	       field_len_size(3, *payload_len) + field_varint_size(4, (uint64_t)call->timeout_us) +
	       field_len_size(6, call->caller_len) + field_len_size(7, call->idempotency_key_len) +
	       field_len_size(8, call->request_id_len) + field_len_size(9, call->trace_id_len) +
	       field_len_size(10, call->parent_id_len) + field_varint_size(11, call->trace_flags);
}

uint8_t *meshi_envelope_call_write(uint8_t *p, const meshi_envelope_call *call,
				   const ProtobufCMessage *input, size_t payload_len)
{
	p = field_len_put(p, 1, call->service, call->service_len);
	p = field_len_put(p, 2, call->method, call->method_len);
	p = field_message_put(p, 3, input, payload_len);
	p = field_varint_put(p, 4, (uint64_t)call->timeout_us);
	p = field_len_put(p, 6, call->caller, call->caller_len);
	p = field_len_put(p, 7, call->idempotency_key, call->idempotency_key_len);
	p = field_len_put(p, 8, call->request_id, call->request_id_len);
	p = field_len_put(p, 9, call->trace_id, call->trace_id_len);
	p = field_len_put(p, 10, call->parent_id, call->parent_id_len);
	return field_varint_put(p, 11, call->trace_flags);
}

void meshi_envelope_call_trace(meshi_envelope_call *call, const mesh_trace *t)
{
	if (t == NULL || !mesh_trace_valid(t)) {
		call->trace_id = call->parent_id = NULL;
		call->trace_id_len = call->parent_id_len = 0;
		call->trace_flags = 0;
		return;
	}
	call->trace_id = t->trace_id;
	call->trace_id_len = MESH_TRACE_ID_LEN;
	call->parent_id = t->parent_id;
	call->parent_id_len = MESH_SPAN_ID_LEN;
	call->trace_flags = t->flags;
}

size_t meshi_envelope_cancel_size(void)
{
	return field_len_size(1, sizeof(MESHI_CANCEL_SERVICE) - 1) +
	       field_len_size(2, sizeof(MESHI_CANCEL_METHOD) - 1);
}

uint8_t *meshi_envelope_cancel_write(uint8_t *p)
{
	p = field_len_put(p, 1, MESHI_CANCEL_SERVICE, sizeof(MESHI_CANCEL_SERVICE) - 1);
	return field_len_put(p, 2, MESHI_CANCEL_METHOD, sizeof(MESHI_CANCEL_METHOD) - 1);
}

int meshi_envelope_call_pack(nng_msg **out, const meshi_envelope_call *call,
			     const ProtobufCMessage *input)
{
	size_t payload_len, size = meshi_envelope_call_size(call, input, &payload_len);
	nng_msg *msg;
	int rv = nng_msg_alloc(&msg, size);
	if (rv != 0)
		return rv;
	meshi_envelope_call_write(nng_msg_body(msg), call, input, payload_len);
	*out = msg;
	return 0;
}

size_t meshi_envelope_reply_size(mesh_status status, const char *message,
				 const ProtobufCMessage *output, size_t *payload_len)
{
	*payload_len = output != NULL ? protobuf_c_message_get_packed_size(output) : 0;
	return field_varint_size(1, (uint64_t)status) +
	       field_len_size(2, message != NULL ? strlen(message) : 0) +
	       field_len_size(3, *payload_len);
}

uint8_t *meshi_envelope_reply_write(uint8_t *p, mesh_status status, const char *message,
				    const ProtobufCMessage *output, size_t payload_len)
{
	p = field_varint_put(p, 1, (uint64_t)status);
	p = field_len_put(p, 2, message, message != NULL ? strlen(message) : 0);
	return field_message_put(p, 3, output, payload_len);
}

int meshi_envelope_reply_pack(nng_msg **out, mesh_status status, const char *message,
			      const ProtobufCMessage *output)
{
	size_t payload_len, size = meshi_envelope_reply_size(status, message, output, &payload_len);
	nng_msg *msg;
	int rv = nng_msg_alloc(&msg, size);
	if (rv != 0)
		return rv;
	meshi_envelope_reply_write(nng_msg_body(msg), status, message, output, payload_len);
	*out = msg;
	return 0;
}

/* wire_field: one field read from a message. */
typedef struct wire_field {
	unsigned number;
	unsigned type;
	uint64_t varint;
	const uint8_t *data;
	size_t len;
} wire_field;

/* wire_next reads the field at *p, moving *p past it. Returns 1, 0 at the end, -1 if malformed. */
static int wire_next(const uint8_t **p, const uint8_t *end, wire_field *f)
{
	uint64_t tag;
	if (*p == end)
		return 0;
	if (varint_get(p, end, &tag) != 0 || (tag >> 3) == 0 || (tag >> 3) > UINT32_MAX)
		return -1;
	f->number = (unsigned)(tag >> 3);
	f->type = (unsigned)(tag & 7);
	switch (f->type) {
	case WIRE_VARINT:
		return varint_get(p, end, &f->varint) == 0 ? 1 : -1;
	case WIRE_FIXED64:
	case WIRE_FIXED32: {
		size_t n = f->type == WIRE_FIXED64 ? 8 : 4;
		if ((size_t)(end - *p) < n)
			return -1;
		*p += n;
		return 1;
	}
	case WIRE_LEN: {
		uint64_t len;
		if (varint_get(p, end, &len) != 0 || len > (uint64_t)(end - *p))
			return -1;
		f->data = *p;
		f->len = (size_t)len;
		*p += len;
		return 1;
	}
	default:
		return -1;
	}
}

int meshi_envelope_call_read(meshi_envelope_call *call, const uint8_t *data, size_t len)
{
	const uint8_t *p = data, *end = data + len;
	wire_field f;
	int rv;
	memset(call, 0, sizeof(*call));
	while ((rv = wire_next(&p, end, &f)) == 1) {
		if (f.type == WIRE_LEN && f.number == 1) {
			call->service = (const char *)f.data;
			call->service_len = f.len;
		} else if (f.type == WIRE_LEN && f.number == 2) {
			call->method = (const char *)f.data;
			call->method_len = f.len;
		} else if (f.type == WIRE_LEN && f.number == 3) {
			call->payload = f.data;
			call->payload_len = f.len;
		} else if (f.type == WIRE_VARINT && f.number == 4) {
			call->timeout_us = (int64_t)f.varint;
		} else if (f.type == WIRE_LEN && f.number == 6) {
			call->caller = (const char *)f.data;
			call->caller_len = f.len;
		} else if (f.type == WIRE_LEN && f.number == 7) {
			call->idempotency_key = (const char *)f.data;
			call->idempotency_key_len = f.len;
		} else if (f.type == WIRE_LEN && f.number == 8) {
			call->request_id = (const char *)f.data;
			call->request_id_len = f.len;
		} else if (f.type == WIRE_LEN && f.number == 9) {
			call->trace_id = f.data;
			call->trace_id_len = f.len;
		} else if (f.type == WIRE_LEN && f.number == 10) {
			call->parent_id = f.data;
			call->parent_id_len = f.len;
		} else if (f.type == WIRE_VARINT && f.number == 11) {
			call->trace_flags = (uint32_t)f.varint;
		}
	}
	return rv;
}

int meshi_envelope_is_cancel(const uint8_t *data, size_t len)
{
	static const uint8_t prefix[] =
	    "\x0a\x09" MESHI_CANCEL_SERVICE "\x12\x06" MESHI_CANCEL_METHOD;
	_Static_assert(sizeof(MESHI_CANCEL_SERVICE) - 1 == 9 &&
			   sizeof(MESHI_CANCEL_METHOD) - 1 == 6,
		       "the prefix's lengths are the names'");
	return len >= sizeof(prefix) - 1 && memcmp(data, prefix, sizeof(prefix) - 1) == 0;
}

int meshi_envelope_reply_read(meshi_envelope_reply *reply, const uint8_t *data, size_t len)
{
	const uint8_t *p = data, *end = data + len;
	wire_field f;
	int rv;
	memset(reply, 0, sizeof(*reply));
	while ((rv = wire_next(&p, end, &f)) == 1) {
		if (f.type == WIRE_VARINT && f.number == 1) {
			reply->status =
			    f.varint <= MESH_UNAUTHENTICATED ? (mesh_status)f.varint : MESH_UNKNOWN;
		} else if (f.type == WIRE_LEN && f.number == 2) {
			reply->message = (const char *)f.data;
			reply->message_len = f.len;
		} else if (f.type == WIRE_LEN && f.number == 3) {
			reply->payload = f.data;
			reply->payload_len = f.len;
		}
	}
	return rv;
}
