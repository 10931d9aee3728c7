/* fuzz_envelope.c: fuzzes libmesh's hand-written envelope reader (mesh.Call, mesh.Reply). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "fuzz.h"
#include "mesh.pb-c.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

static int same_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* within says whether the len bytes at p lie inside data (size bytes). */
static int within(const void *p, size_t len, const uint8_t *data, size_t size)
{
	const uint8_t *q = p;
	return len == 0 || (q >= data && q <= data + size && len <= (size_t)(data + size - q));
}

/* append_payload writes a payload field (3, length-delimited) at p. The envelope writers take
 * the payload as a message to pack in place; the read payload is raw bytes, so it is written
 * here, after the other fields: a reader keeps the last of a repeated field, wherever it is. */
static uint8_t *append_payload(uint8_t *p, const uint8_t *payload, size_t len)
{
	uint64_t v = len;
	if (len == 0)
		return p;
	*p++ = 3 << 3 | 2;
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	memcpy(p, payload, len);
	return p + len;
}

/* str_agrees says whether protoc-c's string s is the reader's len bytes at p up to their first
 * NUL (protoc-c's strings are C strings). */
static int str_agrees(const char *s, const char *p, size_t len)
{
	size_t n = p != NULL ? strnlen(p, len) : 0;
	return strlen(s) == n && (n == 0 || memcmp(s, p, n) == 0);
}

/* protoc_agrees_call checks the reader against protoc-c's generated codec: what protobuf-c
 * unpacks, the reader reads the same. */
static void protoc_agrees_call(const meshi_envelope_call *c, const uint8_t *data, size_t size)
{
	Mesh__Call *m = mesh__call__unpack(NULL, size, data);
	if (m == NULL)
		return;
	FUZZ_CHECK(str_agrees(m->service, c->service, c->service_len) &&
		       str_agrees(m->method, c->method, c->method_len) &&
		       str_agrees(m->caller, c->caller, c->caller_len) &&
		       str_agrees(m->idempotency_key, c->idempotency_key, c->idempotency_key_len),
		   "a string differs from protoc-c's");
	FUZZ_CHECK(same_bytes(m->payload.data, m->payload.len, c->payload, c->payload_len),
		   "payload differs from protoc-c's");
	FUZZ_CHECK(m->timeout_us == c->timeout_us, "timeout %lld, protoc-c's %lld",
		   (long long)c->timeout_us, (long long)m->timeout_us);
	FUZZ_CHECK(
	    same_bytes(m->trace_id.data, m->trace_id.len, c->trace_id, c->trace_id_len) &&
		same_bytes(m->parent_id.data, m->parent_id.len, c->parent_id, c->parent_id_len) &&
		m->trace_flags == c->trace_flags,
	    "trace context differs from protoc-c's");
	mesh__call__free_unpacked(m, NULL);
}

static void check_call(const uint8_t *data, size_t size)
{
	meshi_envelope_call c, again;
	size_t payload_len, size_again, n;
	uint8_t *buf, *end;
	if (meshi_envelope_call_read(&c, data, size) != 0)
		return;
	FUZZ_CHECK(within(c.service, c.service_len, data, size) &&
		       within(c.method, c.method_len, data, size) &&
		       within(c.payload, c.payload_len, data, size) &&
		       within(c.caller, c.caller_len, data, size) &&
		       within(c.idempotency_key, c.idempotency_key_len, data, size),
		   "a field outside the input");
	protoc_agrees_call(&c, data, size);

	/* decode, encode, decode: the same fields */
	n = meshi_envelope_call_size(&c, NULL, &payload_len) + 1 + 10 + c.payload_len;
	buf = malloc(n);
	FUZZ_CHECK(buf != NULL, "out of memory");
	end = meshi_envelope_call_write(buf, &c, NULL, payload_len);
	FUZZ_CHECK(payload_len == 0 &&
		       (size_t)(end - buf) == meshi_envelope_call_size(&c, NULL, &size_again),
		   "meshi_envelope_call_write wrote %zu bytes, not its size", (size_t)(end - buf));
	end = append_payload(end, c.payload, c.payload_len);
	FUZZ_CHECK(meshi_envelope_call_read(&again, buf, (size_t)(end - buf)) == 0,
		   "its own envelope does not read");
	FUZZ_CHECK(
	    same_bytes(again.service, again.service_len, c.service, c.service_len) &&
		same_bytes(again.method, again.method_len, c.method, c.method_len) &&
		same_bytes(again.payload, again.payload_len, c.payload, c.payload_len) &&
		again.timeout_us == c.timeout_us && again.trace_flags == c.trace_flags &&
		same_bytes(again.trace_id, again.trace_id_len, c.trace_id, c.trace_id_len) &&
		same_bytes(again.parent_id, again.parent_id_len, c.parent_id, c.parent_id_len) &&
		same_bytes(again.caller, again.caller_len, c.caller, c.caller_len) &&
		same_bytes(again.idempotency_key, again.idempotency_key_len, c.idempotency_key,
			   c.idempotency_key_len),
	    "a call read, written and read again differs");
	free(buf);
}

static void check_reply(const uint8_t *data, size_t size)
{
	meshi_envelope_reply r, again;
	Mesh__Reply *m;
	size_t payload_len, size_again, n, message_len;
	uint8_t *buf, *end;
	char *message;
	if (meshi_envelope_reply_read(&r, data, size) != 0)
		return;
	FUZZ_CHECK(r.status >= MESH_OK && r.status <= MESH_UNAUTHENTICATED, "status %d",
		   (int)r.status);
	FUZZ_CHECK(within(r.message, r.message_len, data, size) &&
		       within(r.payload, r.payload_len, data, size),
		   "a field outside the input");
	if ((m = mesh__reply__unpack(NULL, size, data)) != NULL) {
		/* The reader makes any number past the enum UNKNOWN, where protoc-c keeps the low
		 * 32 bits of the varint. */
		if (r.status != MESH_UNKNOWN)
			FUZZ_CHECK((int)m->status == (int)r.status, "status %d, protoc-c's %d",
				   (int)r.status, (int)m->status);
		FUZZ_CHECK(str_agrees(m->message, r.message, r.message_len),
			   "message differs from protoc-c's");
		FUZZ_CHECK(same_bytes(m->payload.data, m->payload.len, r.payload, r.payload_len),
			   "payload differs from protoc-c's");
		mesh__reply__free_unpacked(m, NULL);
	}

	/* decode, encode, decode. The writer takes the message as a C string: up to a NUL. */
	message = malloc(r.message_len + 1);
	FUZZ_CHECK(message != NULL, "out of memory");
	if (r.message_len > 0)
		memcpy(message, r.message, r.message_len);
	message[r.message_len] = '\0';
	message_len = strlen(message);
	n = meshi_envelope_reply_size(r.status, message, NULL, &payload_len) + 1 + 10 +
	    r.payload_len;
	buf = malloc(n);
	FUZZ_CHECK(buf != NULL, "out of memory");
	end = meshi_envelope_reply_write(buf, r.status, message, NULL, payload_len);
	FUZZ_CHECK((size_t)(end - buf) ==
		       meshi_envelope_reply_size(r.status, message, NULL, &size_again),
		   "meshi_envelope_reply_write wrote %zu bytes, not its size", (size_t)(end - buf));
	end = append_payload(end, r.payload, r.payload_len);
	FUZZ_CHECK(meshi_envelope_reply_read(&again, buf, (size_t)(end - buf)) == 0,
		   "its own envelope does not read");
	FUZZ_CHECK(again.status == r.status &&
		       same_bytes(again.message, again.message_len, message, message_len) &&
		       same_bytes(again.payload, again.payload_len, r.payload, r.payload_len),
		   "a reply read, written and read again differs");
	free(message);
	free(buf);
}

/* The input is read both as a mesh.Call and as a mesh.Reply. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_call(data, size);
	check_reply(data, size);
	return 0;
}
