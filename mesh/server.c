/* server.c: serves a protobuf-c service on nng REP sockets: workers loop RECV -> WORK -> SEND. */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "envelope.h"
#include "mesh.pb-c.h"

#define SERVER_CALLER_MAX 128
#define SERVER_NAME_MAX	  128

/* server_call: the call a worker is serving; its address is the closure_data implementations see.
 */
typedef struct server_call {
	mesh_server *server;
	int closed; /* the closure was called */
	int failed; /* mesh_fail was called */
	mesh_status status;
	char message[MESH_MESSAGE_MAX];
	char caller[SERVER_CALLER_MAX];
	int64_t deadline_us;
	nng_msg *reply; /* set by the closure */
} server_call;

/* server_worker: one call served at a time, on its own thread and nng context. */
typedef struct server_worker {
	mesh_server *server;
	nng_ctx ctx;
	nng_aio *aio;
	pthread_t thread;
	int running;
	server_call call;
} server_worker;

struct mesh_server {
	ProtobufCService *impl;
	nng_socket sock;
	nng_listener *listeners;
	size_t nlisteners;
	server_worker *workers;
	int nworkers;
	int started;
	atomic_int stopping;
	int64_t started_us;
	atomic_uint_fast64_t calls;
	atomic_uint_fast64_t errors;
};

void mesh_fail(void *closure_data, mesh_status status, const char *fmt, ...)
{
	server_call *call = closure_data;
	va_list ap;
	call->failed = 1;
	call->status = status;
	va_start(ap, fmt);
	vsnprintf(call->message, sizeof(call->message), fmt, ap);
	va_end(ap);
}

const char *mesh_call_caller(const void *closure_data)
{
	return ((const server_call *)closure_data)->caller;
}

int64_t mesh_call_deadline(const void *closure_data)
{
	return ((const server_call *)closure_data)->deadline_us;
}

static void server_closure(const ProtobufCMessage *output, void *closure_data)
{
	server_call *call = closure_data;
	if (call->closed)
		return; /* a second call of the closure is ignored */
	call->closed = 1;
	if (output != NULL) {
		call->status = MESH_OK;
		call->message[0] = '\0';
	} else if (!call->failed) {
		call->status = MESH_INTERNAL;
		snprintf(call->message, sizeof(call->message), "method failed without a status");
	}
	if (envelope_reply_pack(&call->reply, call->status, call->message, output) != 0)
		call->reply = NULL;
}

static void server_call_reset(server_call *call)
{
	call->closed = 0;
	call->failed = 0;
	call->status = MESH_OK;
	call->message[0] = '\0';
	call->caller[0] = '\0';
	call->deadline_us = 0;
	call->reply = NULL;
}

/* server_call_fail ends the call with status, before or instead of running the method. */
static void server_call_fail(server_call *call, mesh_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void server_call_fail(server_call *call, mesh_status status, const char *fmt, ...)
{
	va_list ap;
	call->failed = 1;
	call->status = status;
	va_start(ap, fmt);
	vsnprintf(call->message, sizeof(call->message), fmt, ap);
	va_end(ap);
	server_closure(NULL, call);
}

static void server_answer_health(server_call *call)
{
	mesh_server *s = call->server;
	Mesh__HealthReply reply = MESH__HEALTH_REPLY__INIT;
	reply.service = (char *)s->impl->descriptor->name;
	reply.pid = getpid();
	reply.uptime_ms = (mesh_now_us() - s->started_us) / 1000;
	reply.calls = atomic_load(&s->calls);
	reply.errors = atomic_load(&s->errors);
	server_closure(&reply.base, call);
}

/* server_call_run serves one request: decode the envelope, check it, run the method. */
static void server_call_run(server_call *call, const uint8_t *data, size_t len)
{
	mesh_server *s = call->server;
	const ProtobufCServiceDescriptor *desc = s->impl->descriptor;
	const ProtobufCMethodDescriptor *method;
	ProtobufCMessage *input;
	char method_name[SERVER_NAME_MAX];
	envelope_call env;

	if (envelope_call_read(&env, data, len) != 0) {
		server_call_fail(call, MESH_INVALID_ARGUMENT, "malformed call envelope");
		return;
	}
	snprintf(call->caller, sizeof(call->caller), "%.*s", (int)env.caller_len, env.caller);
	if (env.timeout_us < 0) {
		server_call_fail(call, MESH_DEADLINE_EXCEEDED,
				 "%.*s.%.*s: deadline passed before the call started",
				 (int)env.service_len, env.service, (int)env.method_len,
				 env.method);
		return;
	}
	call->deadline_us = env.timeout_us > 0 ? mesh_now_us() + env.timeout_us : 0;
	if (env.service_len == strlen("mesh.Mesh") && memcmp(env.service, "mesh.Mesh", 9) == 0 &&
	    env.method_len == strlen("Health") && memcmp(env.method, "Health", 6) == 0) {
		server_answer_health(call);
		return;
	}
	if (env.service_len != strlen(desc->name) ||
	    memcmp(env.service, desc->name, env.service_len) != 0) {
		server_call_fail(call, MESH_UNIMPLEMENTED, "this instance serves %s, not %.*s",
				 desc->name, (int)env.service_len, env.service);
		return;
	}
	snprintf(method_name, sizeof(method_name), "%.*s", (int)env.method_len, env.method);
	method = protobuf_c_service_descriptor_get_method_by_name(desc, method_name);
	if (method == NULL) {
		server_call_fail(call, MESH_UNIMPLEMENTED, "%s has no method %s", desc->name,
				 method_name);
		return;
	}
	input = protobuf_c_message_unpack(method->input, NULL, env.payload_len, env.payload);
	if (input == NULL) {
		server_call_fail(call, MESH_INVALID_ARGUMENT, "%s.%s: malformed request payload",
				 desc->name, method_name);
		return;
	}
	s->impl->invoke(s->impl, (unsigned)(method - desc->methods), input, server_closure, call);
	protobuf_c_message_free_unpacked(input, NULL);
	if (!call->closed)
		server_call_fail(call, MESH_INTERNAL, "%s.%s returned without answering",
				 desc->name, method_name);
}

static void *server_worker_main(void *arg)
{
	server_worker *w = arg;
	mesh_server *s = w->server;
	while (!atomic_load(&s->stopping)) {
		nng_msg *msg;
		int rv;
		nng_ctx_recv(w->ctx, w->aio);
		nng_aio_wait(w->aio);
		rv = nng_aio_result(w->aio);
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			break;
		if (rv != 0)
			continue;
		msg = nng_aio_get_msg(w->aio);
		server_call_reset(&w->call);
		server_call_run(&w->call, nng_msg_body(msg), nng_msg_len(msg));
		nng_msg_free(msg);
		atomic_fetch_add(&s->calls, 1);
		if (w->call.status != MESH_OK)
			atomic_fetch_add(&s->errors, 1);
		if (w->call.reply == NULL)
			continue; /* out of memory: the caller's deadline answers for us */
		nng_aio_set_msg(w->aio, w->call.reply);
		nng_ctx_send(w->ctx, w->aio);
		nng_aio_wait(w->aio);
		if (nng_aio_result(w->aio) != 0)
			nng_msg_free(w->call.reply);
	}
	return NULL;
}

int mesh_server_new(mesh_server **out, ProtobufCService *impl, const mesh_server_opts *opts)
{
	mesh_server_opts o = opts != NULL ? *opts : (mesh_server_opts){0};
	mesh_server *s = calloc(1, sizeof(*s));
	int rv = NNG_ENOMEM;
	if (s == NULL)
		return rv;
	s->impl = impl;
	s->nworkers = o.workers > 0 ? o.workers : 8;
	s->workers = calloc((size_t)s->nworkers, sizeof(*s->workers));
	if (s->workers == NULL)
		goto out_free;
	if ((rv = nng_rep0_open(&s->sock)) != 0)
		goto out_free;
	for (int i = 0; i < s->nworkers; i++) {
		server_worker *w = &s->workers[i];
		w->server = s;
		w->call.server = s;
		if ((rv = nng_ctx_open(&w->ctx, s->sock)) != 0 ||
		    (rv = nng_aio_alloc(&w->aio, NULL, NULL)) != 0)
			goto out_close;
	}
	s->started_us = mesh_now_us();
	*out = s;
	return 0;

out_close:
	for (int i = 0; i < s->nworkers; i++) {
		if (s->workers[i].aio != NULL)
			nng_aio_free(s->workers[i].aio);
		if (nng_ctx_id(s->workers[i].ctx) > 0)
			nng_ctx_close(s->workers[i].ctx);
	}
	nng_close(s->sock);
out_free:
	free(s->workers);
	free(s);
	return rv;
}

int mesh_server_listen(mesh_server *s, const char *url)
{
	nng_listener *grown = realloc(s->listeners, (s->nlisteners + 1) * sizeof(*grown));
	int rv;
	if (grown == NULL)
		return NNG_ENOMEM;
	s->listeners = grown;
	rv = nng_listen(s->sock, url, &s->listeners[s->nlisteners], 0);
	if (rv == 0)
		s->nlisteners++;
	return rv;
}

int mesh_server_start(mesh_server *s)
{
	for (int i = 0; i < s->nworkers; i++) {
		server_worker *w = &s->workers[i];
		if (pthread_create(&w->thread, NULL, server_worker_main, w) != 0) {
			mesh_server_stop(s);
			return NNG_ENOMEM;
		}
		w->running = 1;
	}
	s->started = 1;
	return 0;
}

void mesh_server_stop(mesh_server *s)
{
	if (atomic_exchange(&s->stopping, 1))
		return;
	for (size_t i = 0; i < s->nlisteners; i++)
		nng_listener_close(s->listeners[i]);
	for (int i = 0; i < s->nworkers; i++)
		nng_ctx_close(s->workers[i].ctx);
	for (int i = 0; i < s->nworkers; i++)
		if (s->workers[i].running)
			pthread_join(s->workers[i].thread, NULL);
}

void mesh_server_free(mesh_server *s)
{
	if (s == NULL)
		return;
	mesh_server_stop(s);
	for (int i = 0; i < s->nworkers; i++)
		nng_aio_free(s->workers[i].aio);
	nng_close(s->sock);
	free(s->listeners);
	free(s->workers);
	free(s);
}
