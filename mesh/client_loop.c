/* client_loop.c: mesh_client's event-loop transport: SP REQ over ipc:// and tcp:// on the caller's
 * loop, so a call costs no thread hand-off.
 *
 * Calls are framed into each connection's output as they are invoked and written once per turn
 * of the loop; replies are matched to calls by their SP request id. A lost connection ends its
 * calls with UNAVAILABLE and is never used to resend them. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "bytes.h"
#include "client_internal.h"
#include "envelope.h"
#include "sp.h"

#define CL_READ_CHUNK	65536
#define CL_MAX_FRAME	(256u << 20)
#define CL_SLOT_BITS	20
#define CL_MAX_SLOTS	(1u << CL_SLOT_BITS)
#define CL_RETRY_MIN_MS 10
#define CL_RETRY_MAX_MS 200

enum { UP_IDLE, UP_CONNECTING, UP_GREETING, UP_OPEN };

typedef struct upconn upconn;

/* loop_call: one call, in a slot whose index and generation make its SP request id. */
typedef struct loop_call {
	uint32_t id; /* 0 while the slot is free */
	uint32_t generation;
	unsigned method;
	ProtobufCClosure closure;
	void *closure_data; /* points at the caller's mesh_rpc */
	int64_t deadline_us;
	upconn *conn; /* the connection it went out on, or NULL */
	mesh_status status;
	char message[MESH_MESSAGE_MAX];
	struct loop_call *prev, *next; /* in the deadline list, or the failed list */
} loop_call;

/* upconn: the connection to one instance. */
struct upconn {
	client_loop *cl;
	char *url;
	addr addr;
	int state;
	void *watch; /* the loop's handle on fd */
	int fd;	     /* owned by the loop while watched; -1 otherwise */
	bytes in;
	bytes out;
	int dirty; /* has output to write this turn */
	upconn *next_dirty;
	int inflight;
	mesh_timer *retry;
	int backoff_ms;
};

struct client_loop {
	const ProtobufCServiceDescriptor *service;
	const char *caller;
	size_t caller_len;
	int64_t timeout_us;
	uint64_t next_trace;
	mesh_loop *loop;
	upconn **conns;
	size_t nconns;
	unsigned next_conn; /* where the least-loaded search starts, to rotate among equals */
	int instances;
	int inflight;
	loop_call **slots;
	size_t nslots;
	uint32_t *free_slots;
	size_t nfree;
	loop_call *deadline_head, *deadline_tail; /* in flight, soonest deadline first */
	loop_call *failed_head, *failed_tail;	  /* ended before sending, closure still to run */
	upconn *dirty;
	mesh_timer *turn;     /* after this turn's events: write, and run failed closures */
	mesh_timer *deadline; /* at the soonest deadline */
	int turn_armed;
	int64_t deadline_armed_us;
};

static void call_set(loop_call *call, mesh_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void call_set(loop_call *call, mesh_status status, const char *fmt, ...)
{
	va_list ap;
	call->status = status;
	va_start(ap, fmt);
	vsnprintf(call->message, sizeof(call->message), fmt, ap);
	va_end(ap);
}

static void turn_arm(client_loop *cl)
{
	if (!cl->turn_armed) {
		cl->turn_armed = 1;
		cl->loop->ops->timer_arm(cl->loop, cl->turn, 0);
	}
}

/* slot_take returns a free call slot with a fresh id, or NULL. */
static loop_call *slot_take(client_loop *cl)
{
	loop_call *call;
	uint32_t index;
	if (cl->nfree > 0) {
		index = cl->free_slots[--cl->nfree];
		call = cl->slots[index];
	} else {
		loop_call **grown;
		uint32_t *grown_free;
		if (cl->nslots == CL_MAX_SLOTS)
			return NULL;
		grown = realloc(cl->slots, (cl->nslots + 1) * sizeof(*grown));
		if (grown == NULL)
			return NULL;
		cl->slots = grown;
		grown_free = realloc(cl->free_slots, (cl->nslots + 1) * sizeof(*grown_free));
		if (grown_free == NULL)
			return NULL;
		cl->free_slots = grown_free;
		call = calloc(1, sizeof(*call));
		if (call == NULL)
			return NULL;
		index = (uint32_t)cl->nslots;
		cl->slots[cl->nslots++] = call;
	}
	call->generation = (call->generation + 1) & 0x7ff;
	call->id = SP_REQUEST_ID_BIT | call->generation << CL_SLOT_BITS | index;
	return call;
}

static void slot_release(client_loop *cl, loop_call *call)
{
	cl->free_slots[cl->nfree++] = call->id & (CL_MAX_SLOTS - 1);
	call->id = 0;
}

/* slot_find returns the call in flight with this request id, or NULL (a late reply). */
static loop_call *slot_find(client_loop *cl, uint32_t id)
{
	uint32_t index = id & (CL_MAX_SLOTS - 1);
	if (index >= cl->nslots || cl->slots[index]->id != id)
		return NULL;
	return cl->slots[index];
}

static void list_remove(loop_call **head, loop_call **tail, loop_call *call)
{
	if (call->prev != NULL)
		call->prev->next = call->next;
	else
		*head = call->next;
	if (call->next != NULL)
		call->next->prev = call->prev;
	else
		*tail = call->prev;
	call->prev = call->next = NULL;
}

static void list_append(loop_call **head, loop_call **tail, loop_call *call)
{
	call->next = NULL;
	call->prev = *tail;
	if (*tail != NULL)
		(*tail)->next = call;
	else
		*head = call;
	*tail = call;
}

/* deadline_insert keeps the list ordered; calls mostly arrive in deadline order, so the walk
 * from the tail is short. */
static void deadline_insert(client_loop *cl, loop_call *call)
{
	loop_call *after = cl->deadline_tail;
	while (after != NULL && after->deadline_us > call->deadline_us)
		after = after->prev;
	call->prev = after;
	call->next = after != NULL ? after->next : cl->deadline_head;
	if (call->next != NULL)
		call->next->prev = call;
	else
		cl->deadline_tail = call;
	if (after != NULL)
		after->next = call;
	else
		cl->deadline_head = call;
}

static void deadline_arm(client_loop *cl)
{
	int64_t due, now;
	if (cl->deadline_head == NULL)
		return;
	due = cl->deadline_head->deadline_us;
	if (cl->deadline_armed_us != 0 && cl->deadline_armed_us <= due)
		return;
	now = mesh_now_us();
	cl->deadline_armed_us = due;
	cl->loop->ops->timer_arm(cl->loop, cl->deadline,
				 due > now ? (int)((due - now + 999) / 1000) : 0);
}

/* call_finish runs the closure with the outcome and frees the slot. reply is the reply
 * envelope, or NULL when the call failed without one. */
static void call_finish(client_loop *cl, loop_call *call, const uint8_t *reply, size_t len)
{
	const ProtobufCMethodDescriptor *method = &cl->service->methods[call->method];
	ProtobufCMessage *output = NULL;
	mesh_rpc *rpc = call->closure_data;
	if (reply != NULL) {
		envelope_reply r;
		if (envelope_reply_read(&r, reply, len) != 0) {
			call_set(call, MESH_INTERNAL, "%s.%s: malformed reply envelope",
				 cl->service->name, method->name);
		} else if (r.status != MESH_OK) {
			int n = r.message_len < MESH_MESSAGE_MAX ? (int)r.message_len
								 : MESH_MESSAGE_MAX - 1;
			call_set(call, r.status, "%.*s", n, r.message);
		} else {
			output = protobuf_c_message_unpack(method->output, NULL, r.payload_len,
							   r.payload);
			if (output == NULL)
				call_set(call, MESH_INTERNAL, "%s.%s: malformed reply payload",
					 cl->service->name, method->name);
			else
				call->status = MESH_OK;
		}
	}
	rpc->status = call->status;
	if (call->status == MESH_OK)
		rpc->message[0] = '\0';
	else
		memcpy(rpc->message, call->message, sizeof(rpc->message));
	if (call->conn != NULL)
		call->conn->inflight--;
	call->conn = NULL;
	slot_release(cl, call);
	cl->inflight--;
	call->closure(output, call->closure_data);
	if (output != NULL)
		protobuf_c_message_free_unpacked(output, NULL);
}

/* call_fail_later ends a call that was never sent; its closure runs after this turn, never
 * inside invoke. */
static void call_fail_later(client_loop *cl, loop_call *call)
{
	list_append(&cl->failed_head, &cl->failed_tail, call);
	turn_arm(cl);
}

static void upconn_connect(upconn *u);
static void upconn_on_io(void *arg, int events);

static void upconn_retry_later(upconn *u)
{
	client_loop *cl = u->cl;
	u->state = UP_IDLE;
	cl->loop->ops->timer_arm(cl->loop, u->retry, u->backoff_ms);
	u->backoff_ms = u->backoff_ms * 2 > CL_RETRY_MAX_MS ? CL_RETRY_MAX_MS : u->backoff_ms * 2;
}

/* upconn_fail drops the connection, ends the calls it carried with UNAVAILABLE (they are never
 * sent again), and schedules a reconnect. */
static void upconn_fail(upconn *u, const char *why)
{
	client_loop *cl = u->cl;
	if (u->state == UP_OPEN)
		cl->instances--;
	if (u->watch != NULL)
		cl->loop->ops->unwatch(cl->loop, u->watch);
	u->watch = NULL;
	u->fd = -1;
	u->in.start = u->in.len = 0;
	u->out.start = u->out.len = 0;
	upconn_retry_later(u);
	for (size_t i = 0; i < cl->nslots && u->inflight > 0; i++) {
		loop_call *call = cl->slots[i];
		if (call->id == 0 || call->conn != u)
			continue;
		list_remove(&cl->deadline_head, &cl->deadline_tail, call);
		call_set(call, MESH_UNAVAILABLE, "%s: connection to %s lost (%s)",
			 cl->service->name, u->url, why);
		call_finish(cl, call, NULL, 0);
	}
}

static void upconn_on_retry(void *arg)
{
	upconn_connect(arg);
}

static void upconn_connect(upconn *u)
{
	client_loop *cl = u->cl;
	int one = 1;
	int fd = socket(u->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		upconn_retry_later(u);
		return;
	}
	if (u->addr.framing == SP_TCP)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&u->addr.ss, u->addr.len) != 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		upconn_retry_later(u); /* not there yet (ENOENT, ECONNREFUSED): later */
		return;
	}
	u->watch = cl->loop->ops->watch(cl->loop, fd, upconn_on_io, u);
	if (u->watch == NULL) {
		upconn_retry_later(u);
		return;
	}
	u->fd = fd;
	u->state = UP_CONNECTING;
	cl->loop->ops->want_write(cl->loop, u->watch);
}

static int upconn_fd_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		return errno;
	return err;
}

/* upconn_flush writes the connection's output. Returns 0, or -1 if the connection failed. */
static int upconn_flush(upconn *u)
{
	int rv = bytes_write_to(&u->out, u->fd);
	if (rv == 1)
		u->cl->loop->ops->want_write(u->cl->loop, u->watch);
	if (rv < 0) {
		upconn_fail(u, strerror(errno));
		return -1;
	}
	return 0;
}

/* upconn_read takes in what the instance sent: its greeting, then replies. */
static void upconn_read(upconn *u)
{
	client_loop *cl = u->cl;
	const uint8_t *payload;
	size_t payload_len, consumed;
	int rv;
	if (bytes_read_from(&u->in, u->fd) < 0) {
		upconn_fail(u, errno == 0 ? "closed by the instance" : strerror(errno));
		return;
	}
	if (u->state == UP_GREETING) {
		if (u->in.len < SP_HANDSHAKE_LEN)
			return;
		if (sp_handshake_check(bytes_head(&u->in), SP_PROTO_REP) != 0) {
			upconn_fail(u, "the peer does not speak REP");
			return;
		}
		bytes_consume(&u->in, SP_HANDSHAKE_LEN);
		u->state = UP_OPEN;
		u->backoff_ms = CL_RETRY_MIN_MS;
		cl->instances++;
	}
	while ((rv = sp_frame_next(bytes_head(&u->in), u->in.len, u->addr.framing, CL_MAX_FRAME,
				   &payload, &payload_len, &consumed)) == 1) {
		loop_call *call = payload_len >= 4 ? slot_find(cl, sp_get_u32(payload)) : NULL;
		/* A reply for a call that already ended (its deadline passed) is dropped. */
		if (call != NULL && call->conn == u) {
			list_remove(&cl->deadline_head, &cl->deadline_tail, call);
			call_finish(cl, call, payload + 4, payload_len - 4);
			if (u->state != UP_OPEN)
				return; /* the closure tore the connection down */
		}
		bytes_consume(&u->in, consumed);
	}
	if (rv < 0)
		upconn_fail(u, "malformed frame");
}

static void upconn_on_io(void *arg, int events)
{
	upconn *u = arg;
	if (u->state == UP_IDLE || u->watch == NULL)
		return;
	if (u->state == UP_CONNECTING) {
		if (!(events & MESH_IO_WRITE))
			return;
		if (upconn_fd_error(u->fd) != 0) {
			u->cl->loop->ops->unwatch(u->cl->loop, u->watch);
			u->watch = NULL;
			u->fd = -1;
			upconn_retry_later(u);
			return;
		}
		{
			uint8_t greeting[SP_HANDSHAKE_LEN];
			sp_handshake(greeting, SP_PROTO_REQ);
			u->state = UP_GREETING;
			if (bytes_append(&u->out, greeting, sizeof(greeting)) != 0) {
				upconn_fail(u, "out of memory");
				return;
			}
		}
	}
	if ((events & MESH_IO_WRITE) || u->out.len > 0) {
		if (upconn_flush(u) != 0)
			return;
	}
	if (events & MESH_IO_READ)
		upconn_read(u);
}

/* on_turn runs once the loop has handled this turn's events: it writes what calls framed, then
 * runs the closures of calls that ended before being sent. */
static void on_turn(void *arg)
{
	client_loop *cl = arg;
	cl->turn_armed = 0;
	while (cl->dirty != NULL) {
		upconn *u = cl->dirty;
		cl->dirty = u->next_dirty;
		u->dirty = 0;
		if (u->state == UP_OPEN)
			upconn_flush(u);
	}
	while (cl->failed_head != NULL) {
		loop_call *call = cl->failed_head;
		list_remove(&cl->failed_head, &cl->failed_tail, call);
		call_finish(cl, call, NULL, 0);
	}
}

/* on_deadline ends every call whose deadline has passed. */
static void on_deadline(void *arg)
{
	client_loop *cl = arg;
	int64_t now = mesh_now_us();
	cl->deadline_armed_us = 0;
	while (cl->deadline_head != NULL && cl->deadline_head->deadline_us <= now) {
		loop_call *call = cl->deadline_head;
		const char *method = cl->service->methods[call->method].name;
		list_remove(&cl->deadline_head, &cl->deadline_tail, call);
		call_set(call, MESH_DEADLINE_EXCEEDED,
			 "%s.%s: deadline exceeded while waiting for "
			 "the reply",
			 cl->service->name, method);
		call_finish(cl, call, NULL, 0);
	}
	deadline_arm(cl);
}

/* pick_conn returns the open connection with the fewest calls in flight, or NULL. */
static upconn *pick_conn(client_loop *cl)
{
	upconn *best = NULL;
	for (size_t k = 0; k < cl->nconns; k++) {
		upconn *u = cl->conns[(cl->next_conn + k) % cl->nconns];
		if (u->state == UP_OPEN && (best == NULL || u->inflight < best->inflight))
			best = u;
	}
	if (best != NULL)
		cl->next_conn++;
	return best;
}

void client_loop_invoke(client_loop *cl, unsigned method_index, const ProtobufCMessage *input,
			ProtobufCClosure closure, void *closure_data)
{
	const ProtobufCMethodDescriptor *method = &cl->service->methods[method_index];
	mesh_rpc *rpc = closure_data;
	int64_t now = mesh_now_us();
	loop_call *call = slot_take(cl);
	envelope_call env;
	size_t head, size, payload_len;
	upconn *u;
	uint8_t *p;

	if (call == NULL) {
		rpc->status = MESH_RESOURCE_EXHAUSTED;
		snprintf(rpc->message, sizeof(rpc->message), "%s: out of call slots or memory",
			 cl->service->name);
		closure(NULL, closure_data);
		return;
	}
	cl->inflight++;
	call->method = method_index;
	call->closure = closure;
	call->closure_data = closure_data;
	call->conn = NULL;
	call->deadline_us = rpc->deadline_us != 0 ? rpc->deadline_us : now + cl->timeout_us;
	if (call->deadline_us <= now) {
		call_set(call, MESH_DEADLINE_EXCEEDED, "%s.%s: deadline passed before sending",
			 cl->service->name, method->name);
		call_fail_later(cl, call);
		return;
	}
	u = pick_conn(cl);
	if (u == NULL) {
		call_set(call, MESH_UNAVAILABLE, "%s: no instance is connected", cl->service->name);
		call_fail_later(cl, call);
		return;
	}
	env = (envelope_call){
	    .service = cl->service->name,
	    .service_len = strlen(cl->service->name),
	    .method = method->name,
	    .method_len = strlen(method->name),
	    .timeout_us = call->deadline_us - now,
	    .trace_id = rpc->trace_id != 0 ? rpc->trace_id : cl->next_trace++,
	    .caller = cl->caller,
	    .caller_len = cl->caller_len,
	    .idempotency_key = rpc->idempotency_key,
	    .idempotency_key_len = rpc->idempotency_key ? strlen(rpc->idempotency_key) : 0,
	};
	size = envelope_call_size(&env, input, &payload_len);
	head = sp_frame_header_len(u->addr.framing);
	p = bytes_reserve(&u->out, head + 4 + size);
	if (p == NULL) {
		call_set(call, MESH_RESOURCE_EXHAUSTED, "%s: out of memory", cl->service->name);
		call_fail_later(cl, call);
		return;
	}
	sp_frame_header(p, u->addr.framing, 4 + size);
	sp_put_u32(p + head, call->id);
	envelope_call_write(p + head + 4, &env, input, payload_len);
	bytes_commit(&u->out, head + 4 + size);
	call->conn = u;
	u->inflight++;
	deadline_insert(cl, call);
	deadline_arm(cl);
	if (!u->dirty) {
		u->dirty = 1;
		u->next_dirty = cl->dirty;
		cl->dirty = u;
	}
	turn_arm(cl);
}

int client_loop_new(client_loop **out, const ProtobufCServiceDescriptor *service,
		    const char *caller, int64_t timeout_us, mesh_loop *loop)
{
	client_loop *cl = calloc(1, sizeof(*cl));
	if (cl == NULL)
		return ENOMEM;
	cl->service = service;
	cl->caller = caller;
	cl->caller_len = strlen(caller);
	cl->timeout_us = timeout_us;
	cl->loop = loop;
	cl->next_trace = (uint64_t)mesh_now_us() << 8;
	cl->turn = loop->ops->timer_new(loop, on_turn, cl);
	cl->deadline = loop->ops->timer_new(loop, on_deadline, cl);
	if (cl->turn == NULL || cl->deadline == NULL) {
		client_loop_free(cl);
		return ENOMEM;
	}
	*out = cl;
	return 0;
}

int client_loop_dial(client_loop *cl, const char *url)
{
	upconn *u, **grown;
	addr a;
	int err = addr_parse(url, 0, &a);
	if (err != 0)
		return err;
	u = calloc(1, sizeof(*u));
	grown = realloc(cl->conns, (cl->nconns + 1) * sizeof(*grown));
	if (grown != NULL)
		cl->conns = grown;
	if (u == NULL || grown == NULL || (u->url = strdup(url)) == NULL ||
	    (u->retry = cl->loop->ops->timer_new(cl->loop, upconn_on_retry, u)) == NULL) {
		if (u != NULL)
			free(u->url);
		free(u);
		return ENOMEM;
	}
	u->cl = cl;
	u->fd = -1;
	u->addr = a;
	if (a.path != NULL) /* addr points into itself: fix the copy's pointer */
		u->addr.path = ((struct sockaddr_un *)&u->addr.ss)->sun_path;
	u->backoff_ms = CL_RETRY_MIN_MS;
	cl->conns[cl->nconns++] = u;
	upconn_connect(u);
	return 0;
}

int client_loop_instances(const client_loop *cl)
{
	return cl->instances;
}

int client_loop_inflight(const client_loop *cl)
{
	return cl->inflight;
}

void client_loop_free(client_loop *cl)
{
	if (cl == NULL)
		return;
	for (size_t i = 0; i < cl->nconns; i++) {
		upconn *u = cl->conns[i];
		if (u->watch != NULL)
			cl->loop->ops->unwatch(cl->loop, u->watch);
		cl->loop->ops->timer_free(cl->loop, u->retry);
		bytes_fini(&u->in);
		bytes_fini(&u->out);
		free(u->url);
		free(u);
	}
	for (size_t i = 0; i < cl->nslots; i++)
		free(cl->slots[i]);
	if (cl->turn != NULL)
		cl->loop->ops->timer_free(cl->loop, cl->turn);
	if (cl->deadline != NULL)
		cl->loop->ops->timer_free(cl->loop, cl->deadline);
	free(cl->conns);
	free(cl->slots);
	free(cl->free_slots);
	free(cl);
}
