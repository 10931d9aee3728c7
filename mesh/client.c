/* client.c: a ProtobufCService whose invoke sends each call over an nng REQ socket. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>

#include "client_internal.h"
#include "envelope.h"
#include "nng_errno.h"
#include "queue.h"
#include "tls.h"

enum { CALL_SENDING, CALL_RECEIVING };

/* With no instance connected for this long, the dialers are replaced: nng 1.5.2's dialer stops
 * redialing for good when a connection fails with NNG_ECLOSED during the SP handshake (an
 * instance killed between accept and handshake: EPIPE maps to NNG_ECLOSED). A live dialer
 * retries at least every 200 ms, so one second without a connection means it may be dead. */
#define CLIENT_REDIAL_AFTER_US 1000000

/* client_dialer: one dialed URL and the nng dialer currently serving it, with what pipe events
 * told of its connections (for mesh_client_instance_info). */
typedef struct client_dialer {
	char *url;
	nng_dialer dialer;
	int pipes;	  /* connections up */
	int ever_up;	  /* it had one */
	int64_t since_us; /* when pipes last went from or to 0 */
	uid_t uid;	  /* ipc://: who must serve it (or root); MESH_ANY_UID */
	int refused;	  /* a server of another user was refused (said once) */
} client_dialer;

/* client_call: one call in flight, reused from the client's pool; owns an nng context. */
typedef struct client_call {
	meshi_queue_item item; /* first: the queue hands it back */
	mesh_client *client;
	nng_ctx ctx;
	nng_aio *aio;
	struct client_call *next_free;
	atomic_int active;	/* invoked and not yet completed */
	atomic_int no_instance; /* cancelled because the last instance went away */
	/* mesh_client_cancel ended it for its caller: no closure runs, the rpc is not touched;
	 * written and read on the thread that drains the queue, and read by nng's thread (an
	 * abandoned call receives no reply) */
	atomic_int cancelled;
	/* the current call */
	unsigned method;
	ProtobufCClosure closure;
	void *closure_data; /* points at the caller's mesh_rpc */
	int64_t deadline_us;
	int state;
	mesh_status status;
	char message[MESH_MESSAGE_MAX];
	ProtobufCMessage *output; /* unpacked reply, freed after the closure */
} client_call;

struct mesh_client {
	ProtobufCService base; /* first: invoke gets the client back from it */
	nng_socket sock;
	char *caller;
	size_t caller_len;
	int64_t timeout_us;
	meshi_client_loop *loop; /* the event-loop transport, or NULL for nng */
	mesh_queue *queue;	 /* with nng: NULL for blocking calls */
	atomic_int instances;
	atomic_int inflight;
	atomic_int_fast64_t last_pipe_event_us; /* when an instance last came or went */
	pthread_mutex_t dial_lock;		/* guards the dialers and last_redial_us */
	pthread_mutex_t pipe_lock; /* also guards the dialers (taken inside dial_lock, never
				    * around an nng call): what pipe events update */
	client_dialer *dialers;
	size_t ndialers;
	int64_t last_redial_us;
	pthread_mutex_t lock; /* guards the pool */
	int closing;	      /* mesh_client_free has begun: pipe events leave the calls alone */
	client_call *free_calls;
	client_call **calls; /* every call object, for mesh_client_free */
	size_t ncalls, capcalls;
};

static void client_call_aio_done(void *arg);

/* client_dialer_note counts a connection of the dialer that made pipe coming (up 1) or going
 * (-1). A pipe of a dialer already replaced matches none. */
static void client_dialer_note(mesh_client *c, nng_pipe pipe, int up)
{
	nng_dialer dialer = nng_pipe_dialer(pipe);
	int64_t now = mesh_now_us();
	pthread_mutex_lock(&c->pipe_lock);
	for (size_t i = 0; i < c->ndialers; i++) {
		client_dialer *d = &c->dialers[i];
		if (nng_dialer_id(d->dialer) != nng_dialer_id(dialer) || nng_dialer_id(dialer) <= 0)
			continue;
		if (up > 0 || d->pipes > 0) {
			d->pipes += up;
			if (d->pipes == (up > 0 ? 1 : 0))
				d->since_us = now;
		}
		if (up > 0)
			d->ever_up = 1;
		break;
	}
	pthread_mutex_unlock(&c->pipe_lock);
}

/* client_fail_waiting_sends ends, with UNAVAILABLE, the calls in flight once the last instance
 * has gone: nng would keep a call still waiting for a connection queued until its deadline (a
 * 504 where the caller should learn at once that nothing serves it). */
static void client_fail_waiting_sends(mesh_client *c)
{
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; !c->closing && i < c->ncalls; i++) {
		client_call *call = c->calls[i];
		if (atomic_load(&call->active)) {
			atomic_store(&call->no_instance, 1);
			nng_aio_cancel(call->aio);
		}
	}
	pthread_mutex_unlock(&c->lock);
}

static void client_pipe_event(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	mesh_client *c = arg;
	atomic_store(&c->last_pipe_event_us, mesh_now_us());
	if (ev == NNG_PIPE_EV_ADD_POST) {
		atomic_fetch_add(&c->instances, 1);
		client_dialer_note(c, pipe, 1);
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		int n = atomic_load(&c->instances);
		while (n > 0 && !atomic_compare_exchange_weak(&c->instances, &n, n - 1))
			;
		client_dialer_note(c, pipe, -1);
		if (n <= 1)
			client_fail_waiting_sends(c);
	}
}

/* client_pipe_check, before a connection is used, closes one to an ipc:// server that runs as
 * neither the user its dialer expects nor root (said once per dialer); nng dials again later. */
static void client_pipe_check(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	mesh_client *c = arg;
	nng_dialer dialer = nng_pipe_dialer(pipe);
	uint64_t uid = 0;
	(void)ev;
	pthread_mutex_lock(&c->pipe_lock);
	for (size_t i = 0; i < c->ndialers; i++) {
		client_dialer *d = &c->dialers[i];
		if (nng_dialer_id(d->dialer) != nng_dialer_id(dialer) || nng_dialer_id(dialer) <= 0)
			continue;
		if (d->uid == MESH_ANY_UID ||
		    (nng_pipe_get_uint64(pipe, NNG_OPT_IPC_PEER_UID, &uid) == 0 &&
		     (uid == d->uid || uid == 0)))
			break;
		if (!d->refused)
			fprintf(stderr,
				"mesh: %s at %s: the server runs as uid %llu, not %u: not calling "
				"it (a socket someone else planted?)\n",
				c->base.descriptor->name, d->url, (unsigned long long)uid,
				(unsigned)d->uid);
		d->refused = 1;
		nng_pipe_close(pipe);
		break;
	}
	pthread_mutex_unlock(&c->pipe_lock);
}

/* client_dialer_tls gives a tls+tcp:// dialer the process's certificate; the server's must be
 * signed by the CA and name the service's package (mbed TLS checks the name against the
 * certificate's DNS names, or its CN). Returns 0 or an nng error number. */
static int client_dialer_tls(mesh_client *c, nng_dialer dialer)
{
	const char *package = c->base.descriptor->package;
	nng_tls_config *cfg;
	int rv = meshi_tls_nng_config(
	    &cfg, 0, package != NULL && strcmp(package, "mesh") != 0 ? package : NULL);
	if (rv != 0)
		return rv;
	rv = nng_dialer_set_ptr(dialer, NNG_OPT_TLS_CONFIG, cfg);
	nng_tls_config_free(cfg); /* the dialer holds its own reference */
	return rv;
}

/* client_dialer_start makes a dialer for d and starts it, the dialer known to pipe events
 * before it can connect; d->dialer is left invalid when that fails. Called with dial_lock
 * held. Returns 0 or an nng error number. */
static int client_dialer_start(mesh_client *c, client_dialer *d)
{
	nng_dialer dialer = NNG_DIALER_INITIALIZER;
	int rv = nng_dialer_create(&dialer, c->sock, d->url);
	if (rv == 0 && meshi_tls_url(d->url) && (rv = client_dialer_tls(c, dialer)) != 0)
		nng_dialer_close(dialer);
	pthread_mutex_lock(&c->pipe_lock);
	d->dialer = rv == 0 ? dialer : (nng_dialer)NNG_DIALER_INITIALIZER;
	d->pipes = 0;
	pthread_mutex_unlock(&c->pipe_lock);
	if (rv != 0)
		return rv;
	rv = nng_dialer_start(dialer, NNG_FLAG_NONBLOCK);
	if (rv != 0) {
		nng_dialer_close(dialer);
		pthread_mutex_lock(&c->pipe_lock);
		d->dialer = (nng_dialer)NNG_DIALER_INITIALIZER;
		pthread_mutex_unlock(&c->pipe_lock);
	}
	return rv;
}

/* client_call_get takes a call object from the pool, making one if the pool is empty.
 * Returns NULL when out of memory or nng contexts. */
static client_call *client_call_get(mesh_client *c)
{
	client_call *call;
	pthread_mutex_lock(&c->lock);
	call = c->free_calls;
	if (call != NULL) {
		c->free_calls = call->next_free;
		pthread_mutex_unlock(&c->lock);
		return call;
	}
	if (c->ncalls == c->capcalls) {
		size_t cap = c->capcalls ? c->capcalls * 2 : 16;
		client_call **calls = realloc(c->calls, cap * sizeof(*calls));
		if (calls == NULL)
			goto out_unlock;
		c->calls = calls;
		c->capcalls = cap;
	}
	call = calloc(1, sizeof(*call));
	if (call == NULL)
		goto out_unlock;
	call->client = c;
	if (nng_ctx_open(&call->ctx, c->sock) != 0)
		goto out_free_call;
	if (nng_aio_alloc(&call->aio, c->queue != NULL ? client_call_aio_done : NULL, call) != 0)
		goto out_close_ctx;
	c->calls[c->ncalls++] = call;
	pthread_mutex_unlock(&c->lock);
	return call;

out_close_ctx:
	nng_ctx_close(call->ctx);
out_free_call:
	free(call);
	call = NULL;
out_unlock:
	pthread_mutex_unlock(&c->lock);
	return call;
}

static void client_call_put(client_call *call)
{
	mesh_client *c = call->client;
	pthread_mutex_lock(&c->lock);
	call->next_free = c->free_calls;
	c->free_calls = call;
	pthread_mutex_unlock(&c->lock);
}

/* client_call_complete runs the closure with the outcome, then recycles the call. */
static void client_call_complete(client_call *call)
{
	mesh_rpc *rpc = call->closure_data;
	mesh_client *c = call->client;
	atomic_store(&call->active, 0);
	if (atomic_load(&call->cancelled)) {
		/* its caller has gone: it left the in-flight count when cancelled */
		if (call->output != NULL) {
			protobuf_c_message_free_unpacked(call->output, NULL);
			call->output = NULL;
		}
		client_call_put(call);
		return;
	}
	meshi_rpc_forget(rpc);
	rpc->status = call->status;
	memcpy(rpc->message, call->message, sizeof(rpc->message));
	call->closure(call->output, call->closure_data);
	if (call->output != NULL) {
		protobuf_c_message_free_unpacked(call->output, NULL);
		call->output = NULL;
	}
	client_call_put(call);
	atomic_fetch_sub(&c->inflight, 1);
}

static void client_call_run_queued(meshi_queue_item *item)
{
	client_call_complete((client_call *)item);
}

/* client_early_run ends, from the queue, a call that failed with no call object. */
static void client_early_run(meshi_queue_item *item)
{
	meshi_rpc_early *early = (meshi_rpc_early *)item;
	mesh_client *c = early->owner;
	ProtobufCClosure closure = early->closure;
	mesh_rpc *rpc = meshi_rpc_of_early(early);
	atomic_fetch_sub(&c->inflight, 1);
	meshi_rpc_forget(rpc);
	closure(NULL, rpc);
}

/* client_fail_early hands a call that failed with no call object (its status set in rpc) to
 * the queue, so its closure runs from mesh_queue_drain, not inside invoke. */
static void client_fail_early(mesh_client *c, ProtobufCClosure closure, mesh_rpc *rpc)
{
	meshi_rpc_early *early = meshi_rpc_early_of(rpc);
	early->item.run = client_early_run;
	early->closure = closure;
	early->owner = c;
	atomic_fetch_add(&c->inflight, 1);
	meshi_queue_post(c->queue, &early->item);
}

static void client_call_set(client_call *call, mesh_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void client_call_set(client_call *call, mesh_status status, const char *fmt, ...)
{
	va_list ap;
	call->status = status;
	va_start(ap, fmt);
	vsnprintf(call->message, sizeof(call->message), fmt, ap);
	va_end(ap);
}

/* client_call_finish delivers the outcome: at once for a blocking client, through the queue for
 * an asynchronous one (so a closure never runs inside invoke or on an nng thread). */
static void client_call_finish(client_call *call)
{
	if (call->client->queue == NULL) {
		client_call_complete(call);
		return;
	}
	call->item.run = client_call_run_queued;
	meshi_queue_post(call->client->queue, &call->item);
}

static nng_duration client_call_remaining_ms(const client_call *call)
{
	int64_t left = call->deadline_us - mesh_now_us();
	if (left <= 0)
		return 0;
	return (nng_duration)((left + 999) / 1000);
}

static void client_call_set_nng_error(client_call *call, int rv, const char *during)
{
	const char *service = call->client->base.descriptor->name;
	switch (rv) {
	case NNG_ETIMEDOUT:
		/* the hop that ran out, by method: a 504 says where the time went */
		client_call_set(call, MESH_DEADLINE_EXCEEDED, "%s.%s: deadline exceeded while %s",
				service, call->client->base.descriptor->methods[call->method].name,
				during);
		break;
	case NNG_ECLOSED:
	case NNG_ECANCELED:
		if (atomic_load(&call->no_instance))
			client_call_set(call, MESH_UNAVAILABLE,
					"%s: the last instance went away while %s", service,
					during);
		else
			client_call_set(call, MESH_CANCELLED, "%s: call cancelled while %s",
					service, during);
		break;
	default:
		client_call_set(call, MESH_UNAVAILABLE, "%s: %s while %s", service,
				nng_strerror(rv), during);
		break;
	}
}

/* client_call_read_reply turns the reply message into the call's outcome; frees msg. */
static void client_call_read_reply(client_call *call, nng_msg *msg)
{
	const ProtobufCMethodDescriptor *method =
	    &call->client->base.descriptor->methods[call->method];
	meshi_envelope_reply reply;
	if (meshi_envelope_reply_read(&reply, nng_msg_body(msg), nng_msg_len(msg)) != 0) {
		client_call_set(call, MESH_INTERNAL, "%s.%s: malformed reply envelope",
				call->client->base.descriptor->name, method->name);
	} else if (reply.status != MESH_OK) {
		int n = reply.message_len < MESH_MESSAGE_MAX ? (int)reply.message_len
							     : MESH_MESSAGE_MAX - 1;
		client_call_set(call, reply.status, "%.*s", n, reply.message);
	} else {
		call->output = protobuf_c_message_unpack(method->output, NULL, reply.payload_len,
							 reply.payload);
		if (call->output == NULL)
			client_call_set(call, MESH_INTERNAL, "%s.%s: malformed reply payload",
					call->client->base.descriptor->name, method->name);
		else
			client_call_set(call, MESH_OK, "%s", "");
	}
	nng_msg_free(msg);
}

/* client_call_step advances the call after its aio completed. Returns 1 when the call is over. */
static int client_call_step(client_call *call)
{
	int rv = nng_aio_result(call->aio);
	if (call->state == CALL_SENDING) {
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(call->aio));
			client_call_set_nng_error(call, rv, "sending");
			return 1;
		}
		if (atomic_load(&call->cancelled)) {
			client_call_set(call, MESH_CANCELLED, "cancelled by the caller");
			return 1; /* sent, but nobody waits for the reply: nng drops it */
		}
		call->state = CALL_RECEIVING;
		nng_aio_set_timeout(call->aio, client_call_remaining_ms(call));
		nng_ctx_recv(call->ctx, call->aio);
		return 0;
	}
	if (rv != 0) {
		client_call_set_nng_error(call, rv, "waiting for the reply");
		return 1;
	}
	client_call_read_reply(call, nng_aio_get_msg(call->aio));
	return 1;
}

static void client_call_aio_done(void *arg)
{
	client_call *call = arg;
	if (client_call_step(call))
		client_call_finish(call);
}

/* client_redial_if_stuck replaces every dialer when no instance has come or gone for
 * CLIENT_REDIAL_AFTER_US, at most once per that period. It never waits for another thread. */
static void client_redial_if_stuck(mesh_client *c, int64_t now)
{
	if (now - atomic_load(&c->last_pipe_event_us) < CLIENT_REDIAL_AFTER_US ||
	    pthread_mutex_trylock(&c->dial_lock) != 0)
		return;
	if (now - c->last_redial_us >= CLIENT_REDIAL_AFTER_US) {
		c->last_redial_us = now;
		for (size_t i = 0; i < c->ndialers; i++) {
			client_dialer *d = &c->dialers[i];
			nng_dialer_close(d->dialer);
			client_dialer_start(c, d);
		}
	}
	pthread_mutex_unlock(&c->dial_lock);
}

static void client_invoke(ProtobufCService *service, unsigned method_index,
			  const ProtobufCMessage *input, ProtobufCClosure closure,
			  void *closure_data)
{
	mesh_client *c = (mesh_client *)service;
	const ProtobufCMethodDescriptor *method = &service->descriptor->methods[method_index];
	mesh_rpc *rpc = closure_data;
	int64_t now = mesh_now_us();
	client_call *call;
	meshi_envelope_call env;
	nng_msg *msg;
	int rv;

	if (c->loop != NULL) {
		meshi_client_loop_invoke(c->loop, method_index, input, closure, closure_data);
		return;
	}
	call = client_call_get(c);
	if (call == NULL) {
		rpc->status = MESH_RESOURCE_EXHAUSTED;
		snprintf(rpc->message, sizeof(rpc->message), "%s: out of memory",
			 service->descriptor->name);
		if (c->queue == NULL)
			closure(NULL, closure_data); /* blocking: it ends before invoke returns */
		else
			client_fail_early(c, closure, rpc);
		return;
	}
	atomic_fetch_add(&c->inflight, 1);
	atomic_store(&call->cancelled, 0);
	meshi_rpc_hold(rpc, call);
	call->method = method_index;
	call->closure = closure;
	call->closure_data = closure_data;
	call->deadline_us = rpc->deadline_us != 0 ? rpc->deadline_us : now + c->timeout_us;
	call->output = NULL;
	call->state = CALL_SENDING;
	atomic_store(&call->no_instance, 0);
	atomic_store(&call->active, 1);

	if (call->deadline_us <= now) {
		client_call_set(call, MESH_DEADLINE_EXCEEDED,
				"%s.%s: deadline passed before sending", service->descriptor->name,
				method->name);
		goto out_finish;
	}
	if (atomic_load(&c->instances) == 0) {
		client_redial_if_stuck(c, now);
		client_call_set(call, MESH_UNAVAILABLE, "%s: no instance is connected",
				service->descriptor->name);
		goto out_finish;
	}
	env = (meshi_envelope_call){
	    .service = service->descriptor->name,
	    .service_len = strlen(service->descriptor->name),
	    .method = method->name,
	    .method_len = strlen(method->name),
	    .timeout_us = call->deadline_us - now,
	    .caller = c->caller,
	    .caller_len = c->caller_len,
	    .idempotency_key = rpc->idempotency_key,
	    .idempotency_key_len = rpc->idempotency_key ? strlen(rpc->idempotency_key) : 0,
	    .request_id = rpc->request_id,
	    .request_id_len = rpc->request_id ? strlen(rpc->request_id) : 0,
	};
	meshi_envelope_call_trace(&env, &rpc->trace);
	rv = meshi_envelope_call_pack(&msg, &env, input);
	if (rv != 0) {
		client_call_set(call, MESH_INTERNAL, "%s.%s: cannot pack the call: %s",
				service->descriptor->name, method->name, nng_strerror(rv));
		goto out_finish;
	}
	nng_aio_set_msg(call->aio, msg);
	nng_aio_set_timeout(call->aio, client_call_remaining_ms(call));
	nng_ctx_send(call->ctx, call->aio);
	if (c->queue != NULL)
		return; /* client_call_aio_done takes it from here */
	do
		nng_aio_wait(call->aio);
	while (!client_call_step(call));

out_finish:
	client_call_finish(call);
}

int mesh_client_new(mesh_client **out, const ProtobufCServiceDescriptor *service,
		    const mesh_client_opts *opts)
{
	mesh_client_opts o = opts != NULL ? *opts : (mesh_client_opts){0};
	mesh_client *c = calloc(1, sizeof(*c));
	int rv = ENOMEM;
	if (c == NULL)
		return rv;
	c->base.descriptor = service;
	c->base.invoke = client_invoke;
	c->caller = strdup(o.caller != NULL ? o.caller : "anonymous");
	if (c->caller == NULL)
		goto out_free;
	c->caller_len = strlen(c->caller);
	c->timeout_us = (o.timeout_ms > 0 ? o.timeout_ms : 5000) * 1000;
	if (o.max_reply_bytes == 0)
		o.max_reply_bytes = MESH_MAX_REPLY_DEFAULT;
	if (o.max_unsent_bytes == 0)
		o.max_unsent_bytes = MESH_MAX_UNSENT_DEFAULT;
	c->queue = o.queue;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->dial_lock, NULL);
	pthread_mutex_init(&c->pipe_lock, NULL);
	atomic_init(&c->last_pipe_event_us, mesh_now_us());
	if (o.loop != NULL) {
		rv = meshi_client_loop_new(&c->loop, service, c->caller, c->timeout_us,
					   o.max_reply_bytes, o.max_unsent_bytes, o.loop);
		if (rv != 0)
			goto out_free;
		*out = c;
		return 0;
	}
	if ((rv = nng_req0_open(&c->sock)) != 0) {
		rv = meshi_errno_from_nng(rv);
		goto out_free;
	}
	/* The transport never resends: a lost connection ends the call, and retries are the
	 * caller's decision (a create must not run twice). */
	if ((rv = nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 10)) != 0 ||
	    (rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 200)) != 0 ||
	    (rv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, o.max_reply_bytes)) != 0 ||
	    (rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_PRE, client_pipe_check, c)) != 0 ||
	    (rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, client_pipe_event, c)) != 0 ||
	    (rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, client_pipe_event, c)) != 0) {
		rv = meshi_errno_from_nng(rv);
		goto out_close;
	}
	*out = c;
	return 0;

out_close:
	nng_close(c->sock);
out_free:
	pthread_mutex_destroy(&c->pipe_lock);
	pthread_mutex_destroy(&c->dial_lock);
	pthread_mutex_destroy(&c->lock);
	free(c->caller);
	free(c);
	return rv;
}

int mesh_client_dial(mesh_client *c, const char *url)
{
	return mesh_client_dial_uid(c, url, MESH_ANY_UID);
}

int mesh_client_dial_uid(mesh_client *c, const char *url, uid_t uid)
{
	client_dialer *dialers, *d;
	char *copy;
	int rv;
	if (c->loop != NULL) {
		rv = meshi_client_loop_dial(c->loop, url, uid);
		return rv == 0 || rv == ENOMEM ? rv : EINVAL;
	}
	if ((copy = strdup(url)) == NULL)
		return ENOMEM;
	pthread_mutex_lock(&c->dial_lock);
	pthread_mutex_lock(&c->pipe_lock);
	dialers = realloc(c->dialers, (c->ndialers + 1) * sizeof(*dialers));
	if (dialers == NULL) {
		pthread_mutex_unlock(&c->pipe_lock);
		pthread_mutex_unlock(&c->dial_lock);
		free(copy);
		return ENOMEM;
	}
	c->dialers = dialers;
	d = &dialers[c->ndialers++];
	*d = (client_dialer){.url = copy, .since_us = mesh_now_us(), .uid = uid};
	pthread_mutex_unlock(&c->pipe_lock);
	if ((rv = client_dialer_start(c, d)) != 0) {
		pthread_mutex_lock(&c->pipe_lock);
		c->ndialers--;
		pthread_mutex_unlock(&c->pipe_lock);
		free(copy);
	}
	pthread_mutex_unlock(&c->dial_lock);
	/* nng says NNG_EADDRINVAL or NNG_ENOTSUP for a url it cannot dial */
	return rv == 0 || rv == NNG_ENOMEM ? meshi_errno_from_nng(rv) : EINVAL;
}

ProtobufCService *mesh_client_service(mesh_client *c)
{
	return &c->base;
}

int mesh_client_cancel(mesh_client *c, mesh_rpc *rpc)
{
	client_call *call;
	if (c->loop != NULL)
		return meshi_client_loop_cancel(c->loop, rpc);
	if (c->queue == NULL)
		return ENOTSUP;
	if (meshi_rpc_is_early(rpc)) {
		/* its closure waits in the queue: take it out before the caller frees rpc */
		if (meshi_queue_remove(c->queue, &meshi_rpc_early_of(rpc)->item) != 0)
			return ENOENT;
		atomic_fetch_sub(&c->inflight, 1);
		meshi_rpc_forget(rpc);
		return 0;
	}
	call = meshi_rpc_held(rpc);
	if (call == NULL || call->client != c || call->closure_data != rpc ||
	    !atomic_load(&call->active) || atomic_load(&call->cancelled))
		return ENOENT;
	atomic_store(&call->cancelled, 1);
	meshi_rpc_forget(rpc);
	atomic_fetch_sub(&c->inflight, 1);
	nng_aio_cancel(call->aio); /* its completion still comes, to the queue, and ends quietly */
	return 0;
}

int mesh_client_instances(const mesh_client *c)
{
	if (c->loop != NULL)
		return meshi_client_loop_instances(c->loop);
	return atomic_load(&((mesh_client *)c)->instances);
}

int mesh_client_inflight(const mesh_client *c)
{
	if (c->loop != NULL)
		return meshi_client_loop_inflight(c->loop);
	return atomic_load(&((mesh_client *)c)->inflight);
}

const char *mesh_instance_state_name(mesh_instance_state s)
{
	switch (s) {
	case MESH_INSTANCE_STARTING:
		return "starting";
	case MESH_INSTANCE_HEALTHY:
		return "healthy";
	case MESH_INSTANCE_UNHEALTHY:
		return "unhealthy";
	case MESH_INSTANCE_DRAINING:
		return "draining";
	case MESH_INSTANCE_DOWN:
		return "down";
	}
	return "unknown";
}

int mesh_client_set_health(mesh_client *c, const mesh_health_opts *opts)
{
	if (c->loop == NULL)
		return ENOTSUP;
	return meshi_client_loop_set_health(c->loop, opts) == 0 ? 0 : EINVAL;
}

int mesh_client_drain(mesh_client *c, const char *url)
{
	if (c->loop == NULL)
		return ENOTSUP;
	return meshi_client_loop_drain(c->loop, url, 0) == 0 ? 0 : ENOENT;
}

int mesh_client_undial(mesh_client *c, const char *url)
{
	int found = 0;
	if (c->loop != NULL)
		return meshi_client_loop_drain(c->loop, url, 1) == 0 ? 0 : ENOENT;
	/* nng cannot drain one connection: the dialer and its connections close now */
	pthread_mutex_lock(&c->dial_lock);
	for (size_t i = c->ndialers; i-- > 0;) {
		nng_dialer dialer;
		char *was;
		if (strcmp(c->dialers[i].url, url) != 0)
			continue;
		pthread_mutex_lock(&c->pipe_lock);
		dialer = c->dialers[i].dialer;
		was = c->dialers[i].url;
		memmove(&c->dialers[i], &c->dialers[i + 1],
			(c->ndialers - i - 1) * sizeof(*c->dialers));
		c->ndialers--;
		pthread_mutex_unlock(&c->pipe_lock);
		/* outside pipe_lock: closing runs the pipe events, which take it */
		if (nng_dialer_id(dialer) > 0)
			nng_dialer_close(dialer);
		free(was);
		found = 1;
	}
	pthread_mutex_unlock(&c->dial_lock);
	return found ? 0 : ENOENT;
}

size_t mesh_client_instance_info(const mesh_client *c, mesh_instance_info *out, size_t max)
{
	mesh_client *mc = (mesh_client *)c; /* the locks change, not the client */
	size_t n;
	if (c->loop != NULL)
		return meshi_client_loop_instance_info(c->loop, out, max);
	pthread_mutex_lock(&mc->pipe_lock);
	n = mc->ndialers;
	for (size_t i = 0; i < n && i < max; i++) {
		const client_dialer *d = &mc->dialers[i];
		memset(&out[i], 0, sizeof(out[i]));
		snprintf(out[i].url, sizeof(out[i].url), "%s", d->url);
		out[i].state = d->pipes > 0 ? MESH_INSTANCE_HEALTHY
			       : d->ever_up ? MESH_INSTANCE_DOWN
					    : MESH_INSTANCE_STARTING;
		out[i].since_us = d->since_us;
	}
	pthread_mutex_unlock(&mc->pipe_lock);
	return n;
}

void mesh_client_free(mesh_client *c)
{
	if (c == NULL)
		return;
	if (c->loop != NULL) {
		meshi_client_loop_free(c->loop);
		pthread_mutex_destroy(&c->pipe_lock);
		pthread_mutex_destroy(&c->dial_lock);
		pthread_mutex_destroy(&c->lock);
		free(c->caller);
		free(c);
		return;
	}
	/* nng_close below still reports the pipes it removes */
	pthread_mutex_lock(&c->lock);
	c->closing = 1;
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; i < c->ncalls; i++) {
		nng_aio_stop(c->calls[i]->aio);
		nng_ctx_close(c->calls[i]->ctx);
		nng_aio_free(c->calls[i]->aio);
		free(c->calls[i]);
	}
	nng_close(c->sock);
	for (size_t i = 0; i < c->ndialers; i++)
		free(c->dialers[i].url);
	free(c->dialers);
	pthread_mutex_destroy(&c->pipe_lock);
	pthread_mutex_destroy(&c->dial_lock);
	pthread_mutex_destroy(&c->lock);
	free(c->calls);
	free(c->caller);
	free(c);
}

/* call_copy: the closure_data of mesh_client_call; keeps a copy of the reply. */
typedef struct call_copy {
	mesh_rpc rpc;
	ProtobufCMessage *output;
} call_copy;

static void call_copy_closure(const ProtobufCMessage *reply, void *closure_data)
{
	call_copy *cc = closure_data;
	size_t len;
	uint8_t *buf;
	if (reply == NULL)
		return;
	/* the reply is the transport's: keep a copy */
	len = protobuf_c_message_get_packed_size(reply);
	buf = malloc(len > 0 ? len : 1);
	if (buf != NULL) {
		protobuf_c_message_pack(reply, buf);
		cc->output = protobuf_c_message_unpack(reply->descriptor, NULL, len, buf);
		free(buf);
	}
	if (cc->output == NULL) {
		cc->rpc.status = MESH_INTERNAL;
		snprintf(cc->rpc.message, sizeof(cc->rpc.message), "out of memory");
	}
}

mesh_status mesh_client_call(mesh_client *c, const char *method, const ProtobufCMessage *input,
			     ProtobufCMessage **output, const void *parent, char *message,
			     size_t message_len)
{
	const ProtobufCMethodDescriptor *m =
	    protobuf_c_service_descriptor_get_method_by_name(c->base.descriptor, method);
	call_copy cc = {0};
	if (m == NULL || c->loop != NULL || c->queue != NULL) {
		snprintf(message, message_len, "%s: %s", c->base.descriptor->name,
			 m == NULL ? "no such method" : "not a blocking client");
		return m == NULL ? MESH_UNIMPLEMENTED : MESH_INTERNAL;
	}
	if (parent != NULL && mesh_call_cancelled(parent)) {
		snprintf(message, message_len, "%s.%s: not sent: the call it serves was cancelled",
			 c->base.descriptor->name, method);
		return MESH_CANCELLED;
	}
	if (parent != NULL) {
		cc.rpc.deadline_us = mesh_call_child_deadline(parent);
		cc.rpc.request_id = mesh_call_request_id(parent);
		mesh_call_trace(parent, &cc.rpc.trace);
	}
	c->base.invoke(&c->base, (unsigned)(m - c->base.descriptor->methods), input,
		       call_copy_closure, &cc);
	if (cc.rpc.status == MESH_OK && output != NULL)
		*output = cc.output;
	else if (cc.output != NULL)
		protobuf_c_message_free_unpacked(cc.output, NULL);
	if (cc.rpc.status != MESH_OK)
		snprintf(message, message_len, "%s", cc.rpc.message);
	return cc.rpc.status;
}
