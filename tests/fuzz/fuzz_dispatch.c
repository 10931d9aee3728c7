/* fuzz_dispatch.c: fuzzes a mesh server's read path: SP frames into meshi_dispatch_call. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "fuzz.h"
#include "registry.h"
#include "server_internal.h"
#include "sp.h"

/* As a server's default frame cap (mesh_server_opts.max_frame). */
#define MAX_FRAME MESH_SERVER_MAX_FRAME

/* fuzz_sink: the reply envelope, in a buffer of exactly the size reserved (so that ASan sees a
 * write past it). */
typedef struct fuzz_sink {
	meshi_dispatch_sink base;
	uint8_t *buf;
	size_t len;
	int reserved;
} fuzz_sink;

static uint8_t *sink_reserve(meshi_dispatch_sink *sink, size_t n)
{
	fuzz_sink *s = (fuzz_sink *)sink;
	FUZZ_CHECK(!s->reserved, "reserve called twice for one call");
	s->reserved = 1;
	s->buf = malloc(n > 0 ? n : 1);
	s->len = n;
	return s->buf;
}

/* The call being served, as the harness read it; NULL if it does not read. */
static const meshi_envelope_call *current;

/* invoke is every method of every service here: it checks what an implementation may read of
 * the call against the envelope, then fails when the request packs to an odd size, else answers
 * an empty reply. */
static void invoke(ProtobufCService *service, unsigned method_index, const ProtobufCMessage *input,
		   ProtobufCClosure closure, void *closure_data)
{
	const ProtobufCMethodDescriptor *m = &service->descriptor->methods[method_index];
	const char *caller = mesh_call_caller(closure_data);
	const char *key = mesh_call_idempotency_key(closure_data);
	ProtobufCMessage *out;
	size_t size;
	FUZZ_CHECK(method_index < service->descriptor->n_methods, "method %u", method_index);
	FUZZ_CHECK(input->descriptor == m->input, "%s: a request of type %s", m->name,
		   input->descriptor->name);
	FUZZ_CHECK(current != NULL, "a method ran for a call that does not read");
	/* the caller, cut at SERVER_CALLER_MAX - 1 bytes (it is only for messages and logs) */
	FUZZ_CHECK(
	    strlen(caller) < SERVER_CALLER_MAX &&
		strlen(caller) == strnlen(current->caller != NULL ? current->caller : "",
					  current->caller_len < SERVER_CALLER_MAX - 1
					      ? current->caller_len
					      : SERVER_CALLER_MAX - 1) &&
		memcmp(caller, current->caller != NULL ? current->caller : "", strlen(caller)) == 0,
	    "caller '%s'", caller);
	/* the key exactly as sent, or none */
	if (current->idempotency_key_len == 0)
		FUZZ_CHECK(key == NULL, "a key the call does not carry");
	else
		FUZZ_CHECK(key != NULL && strlen(key) == current->idempotency_key_len &&
			       memcmp(key, current->idempotency_key, strlen(key)) == 0,
			   "key '%s' is not the %zu bytes sent", key != NULL ? key : "(none)",
			   current->idempotency_key_len);
	FUZZ_CHECK(mesh_call_deadline(closure_data) >= 0, "a negative deadline");
	size = protobuf_c_message_get_packed_size(input);
	if (size % 2 == 1) {
		mesh_fail(closure_data, MESH_NOT_FOUND, "no %zu", size);
		closure(NULL, closure_data);
		return;
	}
	out = malloc(m->output->sizeof_message);
	FUZZ_CHECK(out != NULL, "out of memory");
	m->output->message_init(out);
	closure(out, closure_data);
	free(out);
}

/* One server of every registered service but mesh.Mesh (which every server answers itself),
 * never started: meshi_dispatch_call is what its transport threads call. */
#define MAX_SERVERS 16

typedef struct fuzz_server {
	ProtobufCService impl;
	mesh_server *server;
	meshi_server_call *call;
} fuzz_server;

static fuzz_server servers[MAX_SERVERS];
static size_t nservers;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static mesh_policy *open_policy;
	FUZZ_CHECK(mesh_policy_new(&open_policy) == 0 &&
		       mesh_policy_allow(open_policy, "*", "*") == 0,
		   "an open policy");
	for (size_t i = 0; registry_services[i] != NULL; i++) {
		fuzz_server *f;
		if (strcmp(registry_services[i]->name, "mesh.Mesh") == 0)
			continue;
		FUZZ_CHECK(nservers < MAX_SERVERS, "too many services");
		f = &servers[nservers++];
		f->impl.descriptor = registry_services[i];
		f->impl.invoke = invoke;
		FUZZ_CHECK(mesh_server_new(&f->server, &f->impl, NULL) == 0, "mesh_server_new");
		/* every method reachable (the policy's own checks run on every call still) */
		mesh_server_set_policy(f->server, open_policy);
		f->call = calloc(1, sizeof(*f->call));
		FUZZ_CHECK(f->call != NULL, "out of memory");
		f->call->shard = meshi_stats_shard_new(&f->server->stats);
		FUZZ_CHECK(f->call->shard != NULL, "out of memory");
	}
	return 0;
}

/* serve dispatches one call envelope (len bytes) to f and checks the reply written. */
static void serve(fuzz_server *f, const uint8_t *data, size_t len)
{
	const ProtobufCServiceDescriptor *desc = f->impl.descriptor;
	fuzz_sink sink = {.base.reserve = sink_reserve};
	meshi_envelope_call env;
	meshi_envelope_reply reply;
	int readable = meshi_envelope_call_read(&env, data, len) == 0, rv;
	current = readable ? &env : NULL;
	rv = meshi_dispatch_call(f->server, f->call, &sink.base, data, len);
	current = NULL;
	if (readable && env.service_len == sizeof(MESHI_CANCEL_SERVICE) - 1 &&
	    memcmp(env.service, MESHI_CANCEL_SERVICE, env.service_len) == 0 &&
	    env.method_len == sizeof(MESHI_CANCEL_METHOD) - 1 &&
	    memcmp(env.method, MESHI_CANCEL_METHOD, env.method_len) == 0) {
		/* a mesh.Mesh/Cancel is answered nothing (the call it names is the transport's) */
		FUZZ_CHECK(!sink.reserved && rv != 0 && !f->call->written, "a Cancel was answered");
		return;
	}
	FUZZ_CHECK(sink.reserved && sink.buf != NULL, "no reply reserved");
	FUZZ_CHECK(rv == 0 && f->call->written, "no reply written");
	FUZZ_CHECK(meshi_envelope_reply_read(&reply, sink.buf, sink.len) == 0,
		   "the reply does not read");
	FUZZ_CHECK(reply.status == f->call->status, "reply status %d, call status %d",
		   (int)reply.status, (int)f->call->status);
	if (!readable) {
		FUZZ_CHECK(reply.status == MESH_INVALID_ARGUMENT, "a malformed call answered %d",
			   (int)reply.status);
	} else if (reply.status == MESH_OK) {
		/* only a method of the service, or Health, answers OK */
		const ProtobufCMessageDescriptor *out = &mesh__health_reply__descriptor;
		ProtobufCMessage *msg;
		char name[128];
		if (env.service_len == strlen(desc->name) &&
		    memcmp(env.service, desc->name, env.service_len) == 0) {
			const ProtobufCMethodDescriptor *m;
			FUZZ_CHECK(env.method_len < sizeof(name), "an OK call of a long method");
			memcpy(name, env.method, env.method_len);
			name[env.method_len] = '\0';
			m = protobuf_c_service_descriptor_get_method_by_name(desc, name);
			FUZZ_CHECK(m != NULL, "OK from %s for method '%s'", desc->name, name);
			out = m->output;
		}
		FUZZ_CHECK(reply.message_len == 0, "an OK reply with a message");
		msg = protobuf_c_message_unpack(out, NULL, reply.payload_len, reply.payload);
		FUZZ_CHECK(msg != NULL, "the reply payload is not a %s", out->name);
		protobuf_c_message_free_unpacked(msg, NULL);
	} else {
		FUZZ_CHECK(reply.message_len > 0 && reply.payload_len == 0,
			   "a failed reply without a message, or with a payload");
	}
	free(sink.buf);
}

/* The input is what a client sends on an ipc:// connection after the handshake: frames of one
 * type byte (1), an 8-byte big-endian length and a payload: the backtrace (request id), then a
 * mesh.Call. Each frame is served as server_loop.c's conn_serve does, by every server. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *payload;
	size_t left = size, payload_len, consumed;
	int rv;
	while ((rv = meshi_sp_frame_next(p, left, SP_IPC, MAX_FRAME, &payload, &payload_len,
					 &consumed)) == 1) {
		int backtrace = meshi_sp_rep_split(payload, payload_len);
		FUZZ_CHECK(consumed <= left && payload >= p &&
			       payload_len <= left - (size_t)(payload - p),
			   "a frame past the input");
		if (backtrace >= 0) {
			FUZZ_CHECK((size_t)backtrace <= payload_len && backtrace % 4 == 0,
				   "backtrace %d of %zu bytes", backtrace, payload_len);
			for (size_t i = 0; i < nservers; i++)
				serve(&servers[i], payload + backtrace,
				      payload_len - (size_t)backtrace);
		}
		p += consumed;
		left -= consumed;
	}
	return 0;
}
