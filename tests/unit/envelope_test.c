/* envelope_test.c: unit tests of libmesh's envelope: mesh.Call/mesh.Reply against protoc-c's own
 * codec. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "harness.h"
#include <nng/nng.h>

#include "envelope.h"
#include "mesh.pb-c.h"
#include "users.pb-c.h"

/* ---- helpers -------------------------------------------------------------------------------- */

/* str_eq says whether the len bytes at s are the C string want. */
static int str_eq(const char *s, size_t len, const char *want)
{
	return len == strlen(want) && (len == 0 || memcmp(s, want, len) == 0);
}

#define assert_str_n(s, len, want)                                                                 \
	ck_assert_msg(str_eq((s), (len), (want)), "'%.*s' is not '%s'", (int)(len),                \
		      (s) != NULL ? (const char *)(s) : "", (want))

/* trace_bytes, parent_bytes: the trace context of the last call_of made with a trace seed. */
static uint8_t trace_bytes[MESH_TRACE_ID_LEN];
static const uint8_t parent_bytes[MESH_SPAN_ID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};

/* call_of returns a call with the given fields and no payload; a trace seed not 0 gives it a
 * trace (trace_bytes, made from the seed; parent_bytes; flags 1). */
static meshi_envelope_call call_of(const char *service, const char *method, int64_t timeout_us,
				   uint64_t trace_seed, const char *caller)
{
	meshi_envelope_call c;
	memset(&c, 0, sizeof(c));
	if (trace_seed != 0) {
		for (int i = 0; i < 8; i++)
			trace_bytes[i] = (uint8_t)(trace_seed >> (56 - 8 * i));
		memset(trace_bytes + 8, 0x5a, 8);
		c.trace_id = trace_bytes;
		c.trace_id_len = MESH_TRACE_ID_LEN;
		c.parent_id = parent_bytes;
		c.parent_id_len = MESH_SPAN_ID_LEN;
		c.trace_flags = 1;
	}
	c.service = service;
	c.service_len = service != NULL ? strlen(service) : 0;
	c.method = method;
	c.method_len = method != NULL ? strlen(method) : 0;
	c.timeout_us = timeout_us;
	c.caller = caller;
	c.caller_len = caller != NULL ? strlen(caller) : 0;
	return c;
}

/* want_trace sets m's trace fields as call_of's with a trace seed not 0 (none for 0). */
static void want_trace(Mesh__Call *m, uint64_t trace_seed)
{
	if (trace_seed == 0)
		return;
	m->trace_id.data = trace_bytes;
	m->trace_id.len = MESH_TRACE_ID_LEN;
	m->parent_id.data = (uint8_t *)parent_bytes;
	m->parent_id.len = MESH_SPAN_ID_LEN;
	m->trace_flags = 1;
}

/* packed returns msg packed by protoc-c's code, malloc'd, with its length in *len. */
static uint8_t *packed(const ProtobufCMessage *msg, size_t *len)
{
	uint8_t *data;
	*len = protobuf_c_message_get_packed_size(msg);
	data = malloc(*len + 1);
	ck_assert_ptr_nonnull(data);
	ck_assert_uint_eq(protobuf_c_message_pack(msg, data), *len);
	return data;
}

/* ---- mesh.Call ------------------------------------------------------------------------------ */

START_TEST(test_envelope_call_pack_round_trip)
{
	Users__GetUserRequest req = USERS__GET_USER_REQUEST__INIT;
	meshi_envelope_call c =
	    call_of("users.Users", "Get", 1500000, 0xdeadbeefcafef00dULL, "edge");
	nng_msg *msg = NULL;
	Mesh__Call *got;
	uint8_t *want_payload;
	size_t want_len;

	req.id = 42;
	c.request_id = "0123456789abcdef";
	c.request_id_len = 16;
	c.payload = (const uint8_t *)"ignored";
	c.payload_len = 7;
	ck_assert_int_eq(meshi_envelope_call_pack(&msg, &c, &req.base), 0);
	ck_assert_ptr_nonnull(msg);
	got = mesh__call__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got->service, "users.Users");
	ck_assert_str_eq(got->method, "Get");
	ck_assert_int_eq(got->timeout_us, 1500000);
	ck_assert_uint_eq(got->trace_id.len, MESH_TRACE_ID_LEN);
	ck_assert_mem_eq(got->trace_id.data, trace_bytes, MESH_TRACE_ID_LEN);
	ck_assert_uint_eq(got->parent_id.len, MESH_SPAN_ID_LEN);
	ck_assert_mem_eq(got->parent_id.data, parent_bytes, MESH_SPAN_ID_LEN);
	ck_assert_uint_eq(got->trace_flags, 1);
	ck_assert_str_eq(got->caller, "edge");
	ck_assert_str_eq(got->request_id, "0123456789abcdef");
	want_payload = packed(&req.base, &want_len);
	ck_assert_uint_eq(got->payload.len, want_len);
	ck_assert_mem_eq(got->payload.data, want_payload, want_len);
	{
		Users__GetUserRequest *inner =
		    users__get_user_request__unpack(NULL, got->payload.len, got->payload.data);
		ck_assert_ptr_nonnull(inner);
		ck_assert_int_eq(inner->id, 42);
		users__get_user_request__free_unpacked(inner, NULL);
	}
	free(want_payload);
	mesh__call__free_unpacked(got, NULL);
	nng_msg_free(msg);
}
END_TEST

START_TEST(test_envelope_call_pack_matches_protoc_bytes)
{
	/* For the same fields, the envelope writes exactly what protoc-c's packer writes. */
	static const int64_t timeouts[] = {0, 1, -1, 127, 128, INT64_MAX, INT64_MIN, -5000000};
	Users__User user = USERS__USER__INIT;
	user.id = 7;
	user.username = "finn";
	user.bio = "Adventurer";
	for (size_t i = 0; i < sizeof(timeouts) / sizeof(timeouts[0]); i++) {
		meshi_envelope_call c =
		    call_of("users.Users", "Get", timeouts[i], i * 1000003, "svc-posts");
		Mesh__Call want = MESH__CALL__INIT;
		uint8_t *want_bytes;
		size_t want_len;
		nng_msg *msg;
		want.service = "users.Users";
		want.method = "Get";
		want.timeout_us = timeouts[i];
		want_trace(&want, i * 1000003);
		want.caller = "svc-posts";
		if (i % 2 == 1) { /* the string fields after caller, too */
			c.idempotency_key = want.idempotency_key = "k-7f1c2a";
			c.idempotency_key_len = strlen(c.idempotency_key);
			c.request_id = want.request_id = "req.1:a-B_9";
			c.request_id_len = strlen(c.request_id);
		}
		want.payload.data = packed(&user.base, &want.payload.len);
		want_bytes = packed(&want.base, &want_len);
		ck_assert_int_eq(meshi_envelope_call_pack(&msg, &c, &user.base), 0);
		ck_assert_uint_eq(nng_msg_len(msg), want_len);
		ck_assert_mem_eq(nng_msg_body(msg), want_bytes, want_len);
		nng_msg_free(msg);
		free(want_bytes);
		free(want.payload.data);
	}
}
END_TEST

START_TEST(test_envelope_call_pack_negative_timeout)
{
	Users__GetUserRequest req = USERS__GET_USER_REQUEST__INIT;
	meshi_envelope_call c = call_of("users.Users", "Get", -250, 1, "edge");
	meshi_envelope_call back;
	nng_msg *msg;
	Mesh__Call *got;
	req.id = 1;
	ck_assert_int_eq(meshi_envelope_call_pack(&msg, &c, &req.base), 0);
	got = mesh__call__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(got->timeout_us, -250);
	mesh__call__free_unpacked(got, NULL);
	ck_assert_int_eq(meshi_envelope_call_read(&back, nng_msg_body(msg), nng_msg_len(msg)), 0);
	ck_assert_int_eq(back.timeout_us, -250);
	nng_msg_free(msg);

	c.timeout_us = INT64_MIN;
	ck_assert_int_eq(meshi_envelope_call_pack(&msg, &c, &req.base), 0);
	ck_assert_int_eq(meshi_envelope_call_read(&back, nng_msg_body(msg), nng_msg_len(msg)), 0);
	ck_assert_int_eq(back.timeout_us, INT64_MIN);
	nng_msg_free(msg);
}
END_TEST

START_TEST(test_envelope_call_pack_empty_fields)
{
	/* Zero values are not written (proto3): no input, an empty input, no strings. */
	Users__GetUserRequest empty = USERS__GET_USER_REQUEST__INIT; /* packs to 0 bytes */
	meshi_envelope_call c = call_of(NULL, NULL, 0, 0, NULL);
	meshi_envelope_call back;
	nng_msg *msg;
	Mesh__Call *got;

	ck_assert_int_eq(meshi_envelope_call_pack(&msg, &c, NULL), 0);
	ck_assert_uint_eq(nng_msg_len(msg), 0);
	ck_assert_int_eq(meshi_envelope_call_read(&back, nng_msg_body(msg), nng_msg_len(msg)), 0);
	ck_assert_uint_eq(back.service_len, 0);
	ck_assert_uint_eq(back.payload_len, 0);
	nng_msg_free(msg);

	c = call_of("users.Users", "List", 0, 0, "");
	ck_assert_int_eq(meshi_envelope_call_pack(&msg, &c, &empty.base), 0);
	got = mesh__call__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got->service, "users.Users");
	ck_assert_str_eq(got->method, "List");
	ck_assert_uint_eq(got->payload.len, 0);
	ck_assert_int_eq(got->timeout_us, 0);
	ck_assert_uint_eq(got->trace_id.len, 0);
	ck_assert_uint_eq(got->parent_id.len, 0);
	ck_assert_str_eq(got->caller, "");
	ck_assert_str_eq(got->request_id, "");
	mesh__call__free_unpacked(got, NULL);
	nng_msg_free(msg);

	/* an empty request id is not written either */
	c.request_id = "";
	ck_assert_int_eq(meshi_envelope_call_pack(&msg, &c, &empty.base), 0);
	ck_assert_int_eq(meshi_envelope_call_read(&back, nng_msg_body(msg), nng_msg_len(msg)), 0);
	ck_assert_ptr_null(back.request_id);
	ck_assert_uint_eq(back.request_id_len, 0);
	nng_msg_free(msg);
}
END_TEST

START_TEST(test_envelope_call_read_protoc_bytes)
{
	Users__GetUserRequest req = USERS__GET_USER_REQUEST__INIT;
	Mesh__Call call = MESH__CALL__INIT;
	meshi_envelope_call got;
	uint8_t *data;
	size_t len, payload_len;
	uint8_t *payload;

	req.id = 9223372036854775807LL;
	payload = packed(&req.base, &payload_len);
	call.service = "posts.Posts";
	call.method = "ListByThread";
	call.payload.data = payload;
	call.payload.len = payload_len;
	call.timeout_us = -1;
	memset(trace_bytes, 0xff, sizeof(trace_bytes));
	call.trace_id.data = trace_bytes;
	call.trace_id.len = MESH_TRACE_ID_LEN;
	call.trace_flags = 3;
	call.caller = "edge";
	call.idempotency_key = "key-1";
	call.request_id = "9f86d081884c7d65";
	data = packed(&call.base, &len);

	ck_assert_int_eq(meshi_envelope_call_read(&got, data, len), 0);
	assert_str_n(got.service, got.service_len, "posts.Posts");
	assert_str_n(got.method, got.method_len, "ListByThread");
	assert_str_n(got.caller, got.caller_len, "edge");
	assert_str_n(got.idempotency_key, got.idempotency_key_len, "key-1");
	assert_str_n(got.request_id, got.request_id_len, "9f86d081884c7d65");
	ck_assert(got.request_id >= (const char *)data &&
		  got.request_id + got.request_id_len <= (const char *)data + len);
	ck_assert_int_eq(got.timeout_us, -1);
	ck_assert_uint_eq(got.trace_id_len, MESH_TRACE_ID_LEN);
	ck_assert_mem_eq(got.trace_id, trace_bytes, MESH_TRACE_ID_LEN);
	ck_assert_ptr_null(got.parent_id);
	ck_assert_uint_eq(got.trace_flags, 3);
	ck_assert_uint_eq(got.payload_len, payload_len);
	ck_assert_mem_eq(got.payload, payload, payload_len);
	/* fields point into data */
	ck_assert(got.service >= (const char *)data && got.service < (const char *)data + len);
	ck_assert(got.payload >= data && got.payload + got.payload_len <= data + len);
	free(data);
	free(payload);
}
END_TEST

START_TEST(test_envelope_call_read_empty)
{
	meshi_envelope_call got;
	memset(&got, 0xab, sizeof(got));
	ck_assert_int_eq(meshi_envelope_call_read(&got, (const uint8_t *)"", 0), 0);
	ck_assert_ptr_null(got.service);
	ck_assert_uint_eq(got.service_len, 0);
	ck_assert_ptr_null(got.method);
	ck_assert_ptr_null(got.payload);
	ck_assert_uint_eq(got.payload_len, 0);
	ck_assert_int_eq(got.timeout_us, 0);
	ck_assert_ptr_null(got.trace_id);
	ck_assert_uint_eq(got.trace_id_len, 0);
	ck_assert_uint_eq(got.trace_flags, 0);
	ck_assert_ptr_null(got.caller);
	ck_assert_ptr_null(got.idempotency_key);
	ck_assert_ptr_null(got.request_id);
	ck_assert_uint_eq(got.request_id_len, 0);
}
END_TEST

START_TEST(test_envelope_call_read_skips_unknown_fields)
{
	/* service "s", then unknown fields of every wire type, then method "m" */
	static const uint8_t data[] = {
	    0x0a, 0x01, 's',				 /* 1: "s" */
	    0x38, 0x96, 0x01,				 /* 7: varint 150 */
	    0x41, 1,	2,    3,    4,	  5,	6, 7, 8, /* 8 as fixed64: wrong wire type */
	    0x4d, 1,	2,    3,    4,			 /* 9: fixed32 */
	    0x9a, 0x06, 0x02, 'z',  'z',		 /* 99: bytes "zz" */
	    0x08, 0x05,				/* 1 as a varint: wrong wire type, skipped */
	    0x12, 0x01, 'm',			/* 2: "m" */
	    0xf8, 0xff, 0xff, 0xff, 0x0f, 0x01, /* field 2^29-1: varint 1 */
	};
	meshi_envelope_call got;
	ck_assert_int_eq(meshi_envelope_call_read(&got, data, sizeof(data)), 0);
	assert_str_n(got.service, got.service_len, "s");
	assert_str_n(got.method, got.method_len, "m");
	ck_assert_uint_eq(got.payload_len, 0);
	ck_assert_int_eq(got.timeout_us, 0);
	ck_assert_ptr_null(got.request_id);
}
END_TEST

START_TEST(test_envelope_call_read_last_value_wins)
{
	static const uint8_t data[] = {0x0a, 0x01, 'a', 0x20, 0x05, 0x0a, 0x01, 'b', 0x20, 0x07};
	meshi_envelope_call got;
	ck_assert_int_eq(meshi_envelope_call_read(&got, data, sizeof(data)), 0);
	assert_str_n(got.service, got.service_len, "b");
	ck_assert_int_eq(got.timeout_us, 7);
}
END_TEST

START_TEST(test_envelope_call_request_id_both_ways)
{
	/* request_id (field 8) alone, and after every other field: protoc-c reads what the
	 * envelope writes, and the envelope reads what protoc-c writes */
	char longest[129];
	meshi_envelope_call c = call_of("posts.Posts", "Create", 5000000, 77, "edge");
	meshi_envelope_call back;
	Mesh__Call want = MESH__CALL__INIT, *got;
	uint8_t *want_bytes;
	size_t want_len;
	nng_msg *msg;
	memset(longest, 'a', 128);
	longest[128] = '\0';
	c.request_id = longest;
	c.request_id_len = 128;
	ck_assert_int_eq(meshi_envelope_call_pack(&msg, &c, NULL), 0);
	got = mesh__call__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got->request_id, longest);
	ck_assert_str_eq(got->idempotency_key, "");
	mesh__call__free_unpacked(got, NULL);
	ck_assert_int_eq(meshi_envelope_call_read(&back, nng_msg_body(msg), nng_msg_len(msg)), 0);
	assert_str_n(back.request_id, back.request_id_len, longest);
	ck_assert_ptr_null(back.idempotency_key);
	want.service = "posts.Posts";
	want.method = "Create";
	want.timeout_us = 5000000;
	want_trace(&want, 77);
	want.caller = "edge";
	want.request_id = longest;
	want_bytes = packed(&want.base, &want_len);
	ck_assert_uint_eq(nng_msg_len(msg), want_len);
	ck_assert_mem_eq(nng_msg_body(msg), want_bytes, want_len);
	free(want_bytes);
	nng_msg_free(msg);
	{
		/* repeated: the last one wins, as protobuf says */
		static const uint8_t data[] = {0x42, 0x01, 'a', 0x42, 0x02, 'b', 'c'};
		ck_assert_int_eq(meshi_envelope_call_read(&back, data, sizeof(data)), 0);
		assert_str_n(back.request_id, back.request_id_len, "bc");
	}
}
END_TEST

/* malformed: byte strings no reader may accept. */
static const struct {
	const char *what;
	const uint8_t data[16];
	size_t len;
} malformed[] = {
    {"truncated tag", {0x80}, 1},
    {"truncated varint value", {0x20, 0x80}, 2},
    {"truncated varint value, many bytes", {0x20, 0xff, 0xff, 0xff}, 4},
    {"varint longer than 10 bytes",
     {0x20, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01},
     12},
    {"length past the end", {0x0a, 0x05, 'a', 'b'}, 4},
    {"length past the end, huge", {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 'a'}, 7},
    {"truncated length", {0x0a, 0x80}, 2},
    {"length missing", {0x0a}, 1},
    {"start group (wire type 3)", {0x0b, 0x0c}, 2},
    {"end group (wire type 4)", {0x0c}, 1},
    {"wire type 6", {0x0e, 0x00}, 2},
    {"wire type 7", {0x0f, 0x00}, 2},
    {"zero field number", {0x00, 0x01}, 2},
    {"zero field number, length", {0x02, 0x00}, 2},
    {"truncated fixed64", {0x09, 1, 2, 3, 4, 5, 6, 7}, 8},
    {"truncated fixed32", {0x0d, 1, 2, 3}, 4},
    {"good field then garbage", {0x0a, 0x01, 's', 0x0b}, 4},
};

START_TEST(test_envelope_call_read_malformed)
{
	meshi_envelope_call got;
	ck_assert_msg(meshi_envelope_call_read(&got, malformed[_i].data, malformed[_i].len) == -1,
		      "call accepted: %s", malformed[_i].what);
}
END_TEST

START_TEST(test_envelope_reply_read_malformed)
{
	meshi_envelope_reply got;
	ck_assert_msg(meshi_envelope_reply_read(&got, malformed[_i].data, malformed[_i].len) == -1,
		      "reply accepted: %s", malformed[_i].what);
}
END_TEST

/* ---- mesh.Reply ----------------------------------------------------------------------------- */

START_TEST(test_envelope_reply_pack_round_trip)
{
	Users__User user = USERS__USER__INIT;
	nng_msg *msg;
	Mesh__Reply *got;
	uint8_t *want_payload;
	size_t want_len;
	user.id = 1;
	user.username = "marceline";
	user.name = "Marceline Abadeer";
	user.bio = "1000 year old vampire queen, musician";
	ck_assert_int_eq(meshi_envelope_reply_pack(&msg, MESH_OK, NULL, &user.base), 0);
	got = mesh__reply__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(got->status, MESH__STATUS__OK);
	ck_assert_str_eq(got->message, "");
	want_payload = packed(&user.base, &want_len);
	ck_assert_uint_eq(got->payload.len, want_len);
	ck_assert_mem_eq(got->payload.data, want_payload, want_len);
	free(want_payload);
	mesh__reply__free_unpacked(got, NULL);
	nng_msg_free(msg);

	ck_assert_int_eq(meshi_envelope_reply_pack(&msg, MESH_NOT_FOUND, "user 99 not found", NULL),
			 0);
	got = mesh__reply__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(got->status, MESH__STATUS__NOT_FOUND);
	ck_assert_str_eq(got->message, "user 99 not found");
	ck_assert_uint_eq(got->payload.len, 0);
	mesh__reply__free_unpacked(got, NULL);
	nng_msg_free(msg);
}
END_TEST

START_TEST(test_envelope_reply_pack_matches_protoc_bytes)
{
	Users__User user = USERS__USER__INIT;
	user.id = 3;
	user.username = "pb";
	for (int s = MESH_OK; s <= MESH_UNAUTHENTICATED; s++) {
		Mesh__Reply want = MESH__REPLY__INIT;
		const char *message = s == MESH_OK ? NULL : mesh_status_name((mesh_status)s);
		uint8_t *want_bytes;
		size_t want_len;
		nng_msg *msg;
		want.status = (Mesh__Status)s;
		want.message = message != NULL ? (char *)message : "";
		if (s == MESH_OK)
			want.payload.data = packed(&user.base, &want.payload.len);
		want_bytes = packed(&want.base, &want_len);
		ck_assert_int_eq(meshi_envelope_reply_pack(&msg, (mesh_status)s, message,
							   s == MESH_OK ? &user.base : NULL),
				 0);
		ck_assert_msg(nng_msg_len(msg) == want_len, "status %d: %zu bytes, want %zu", s,
			      nng_msg_len(msg), want_len);
		ck_assert_mem_eq(nng_msg_body(msg), want_bytes, want_len);
		nng_msg_free(msg);
		free(want_bytes);
		free(want.payload.data);
	}
}
END_TEST

START_TEST(test_envelope_reply_read_protoc_bytes)
{
	Users__User user = USERS__USER__INIT;
	Mesh__Reply reply = MESH__REPLY__INIT;
	meshi_envelope_reply got;
	uint8_t *data, *payload;
	size_t len, payload_len;
	user.id = 4;
	user.username = "jake";
	payload = packed(&user.base, &payload_len);
	reply.status = MESH__STATUS__ALREADY_EXISTS;
	reply.message = "exists";
	reply.payload.data = payload;
	reply.payload.len = payload_len;
	data = packed(&reply.base, &len);
	ck_assert_int_eq(meshi_envelope_reply_read(&got, data, len), 0);
	ck_assert_int_eq(got.status, MESH_ALREADY_EXISTS);
	assert_str_n(got.message, got.message_len, "exists");
	ck_assert_uint_eq(got.payload_len, payload_len);
	ck_assert_mem_eq(got.payload, payload, payload_len);
	ck_assert(got.payload >= data && got.payload + got.payload_len <= data + len);
	free(data);
	free(payload);
}
END_TEST

START_TEST(test_envelope_reply_status_values)
{
	for (int s = MESH_OK; s <= MESH_UNAUTHENTICATED; s++) {
		meshi_envelope_reply got;
		nng_msg *msg;
		ck_assert_int_eq(meshi_envelope_reply_pack(&msg, (mesh_status)s, "m", NULL), 0);
		ck_assert_int_eq(
		    meshi_envelope_reply_read(&got, nng_msg_body(msg), nng_msg_len(msg)), 0);
		ck_assert_int_eq(got.status, s);
		assert_str_n(got.message, got.message_len, "m");
		nng_msg_free(msg);
	}
	/* a status this build does not know reads as UNKNOWN */
	{
		static const uint8_t s17[] = {0x08, 17};
		static const uint8_t big[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0x0f};
		static const uint8_t neg[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
					      0xff, 0xff, 0xff, 0xff, 0x01};
		meshi_envelope_reply got;
		ck_assert_int_eq(meshi_envelope_reply_read(&got, s17, sizeof(s17)), 0);
		ck_assert_int_eq(got.status, MESH_UNKNOWN);
		ck_assert_int_eq(meshi_envelope_reply_read(&got, big, sizeof(big)), 0);
		ck_assert_int_eq(got.status, MESH_UNKNOWN);
		ck_assert_int_eq(meshi_envelope_reply_read(&got, neg, sizeof(neg)), 0);
		ck_assert_int_eq(got.status, MESH_UNKNOWN);
	}
}
END_TEST

START_TEST(test_envelope_reply_empty_message)
{
	meshi_envelope_reply got;
	nng_msg *msg;
	ck_assert_int_eq(meshi_envelope_reply_pack(&msg, MESH_OK, NULL, NULL), 0);
	ck_assert_uint_eq(nng_msg_len(msg), 0);
	memset(&got, 0xab, sizeof(got));
	ck_assert_int_eq(meshi_envelope_reply_read(&got, nng_msg_body(msg), nng_msg_len(msg)), 0);
	ck_assert_int_eq(got.status, MESH_OK);
	ck_assert_ptr_null(got.message);
	ck_assert_uint_eq(got.message_len, 0);
	ck_assert_ptr_null(got.payload);
	ck_assert_uint_eq(got.payload_len, 0);
	nng_msg_free(msg);

	/* an empty message string and an output that packs to nothing write nothing either */
	{
		Users__User empty = USERS__USER__INIT;
		ck_assert_int_eq(meshi_envelope_reply_pack(&msg, MESH_OK, "", &empty.base), 0);
		ck_assert_uint_eq(nng_msg_len(msg), 0);
		nng_msg_free(msg);
	}
}
END_TEST

START_TEST(test_envelope_reply_null_output)
{
	static const uint8_t want[] = {0x08, 0x0e, 0x12, 0x04, 'd', 'o', 'w', 'n'};
	meshi_envelope_reply got;
	nng_msg *msg;
	ck_assert_int_eq(meshi_envelope_reply_pack(&msg, MESH_UNAVAILABLE, "down", NULL), 0);
	ck_assert_uint_eq(nng_msg_len(msg), sizeof(want));
	ck_assert_mem_eq(nng_msg_body(msg), want, sizeof(want));
	ck_assert_int_eq(meshi_envelope_reply_read(&got, nng_msg_body(msg), nng_msg_len(msg)), 0);
	ck_assert_int_eq(got.status, MESH_UNAVAILABLE);
	assert_str_n(got.message, got.message_len, "down");
	ck_assert_ptr_null(got.payload);
	ck_assert_uint_eq(got.payload_len, 0);
	nng_msg_free(msg);
}
END_TEST

START_TEST(test_envelope_reply_read_skips_unknown_fields)
{
	static const uint8_t data[] = {
	    0x08, 0x05,		       /* status NOT_FOUND */
	    0x20, 0x01,		       /* 4: varint */
	    0x2a, 0x03, 'x', 'y', 'z', /* 5: bytes */
	    0x35, 0,	0,   0,	  0,   /* 6: fixed32 */
	    0x12, 0x02, 'n', 'f',      /* message "nf" */
	};
	meshi_envelope_reply got;
	ck_assert_int_eq(meshi_envelope_reply_read(&got, data, sizeof(data)), 0);
	ck_assert_int_eq(got.status, MESH_NOT_FOUND);
	assert_str_n(got.message, got.message_len, "nf");
	ck_assert_ptr_null(got.payload);
}
END_TEST

static Suite *envelope_suite(void)
{
	Suite *s = suite_create("envelope");
	TCase *call = tcase_create("call");
	TCase *reply = tcase_create("reply");
	TCase *bad = tcase_create("malformed");
	int nbad = (int)(sizeof(malformed) / sizeof(malformed[0]));

	tcase_add_test(call, test_envelope_call_pack_round_trip);
	tcase_add_test(call, test_envelope_call_pack_matches_protoc_bytes);
	tcase_add_test(call, test_envelope_call_pack_negative_timeout);
	tcase_add_test(call, test_envelope_call_pack_empty_fields);
	tcase_add_test(call, test_envelope_call_read_protoc_bytes);
	tcase_add_test(call, test_envelope_call_read_empty);
	tcase_add_test(call, test_envelope_call_read_skips_unknown_fields);
	tcase_add_test(call, test_envelope_call_read_last_value_wins);
	tcase_add_test(call, test_envelope_call_request_id_both_ways);
	suite_add_tcase(s, call);

	tcase_add_test(reply, test_envelope_reply_pack_round_trip);
	tcase_add_test(reply, test_envelope_reply_pack_matches_protoc_bytes);
	tcase_add_test(reply, test_envelope_reply_read_protoc_bytes);
	tcase_add_test(reply, test_envelope_reply_status_values);
	tcase_add_test(reply, test_envelope_reply_empty_message);
	tcase_add_test(reply, test_envelope_reply_null_output);
	tcase_add_test(reply, test_envelope_reply_read_skips_unknown_fields);
	suite_add_tcase(s, reply);

	tcase_add_loop_test(bad, test_envelope_call_read_malformed, 0, nbad);
	tcase_add_loop_test(bad, test_envelope_reply_read_malformed, 0, nbad);
	suite_add_tcase(s, bad);
	return s;
}

int main(void)
{
	return harness_run_suite(envelope_suite(), 0);
}
