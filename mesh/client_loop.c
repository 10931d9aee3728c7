/* client_loop.c: mesh_client's event-loop transport: SP REQ over ipc://, tcp:// and tls+tcp:// on
 * the caller's loop, so a call costs no thread hand-off.
 *
 * On tls+tcp:// a connection is opened by a mutual TLS handshake (tls.h) on the loop: the
 * instance's certificate must be signed by the mesh CA and carry the CN of the service's
 * package; the greeting, and so any call, goes out only after that.
 *
 * Calls are framed into each connection's output as they are invoked and written once per turn
 * of the loop; replies are matched to calls by their SP request id. A lost connection ends its
 * calls with UNAVAILABLE and is never used to resend them.
 *
 * The instances form a target group, as behind a cloud load balancer: with health checks on,
 * each connected instance answers mesh.Mesh/Health every interval and is STARTING, HEALTHY or
 * UNHEALTHY by the results; new calls go to the least loaded HEALTHY instance, or, when none is,
 * to any connected one (fail open). A check is an ordinary call in a slot of its own, framed
 * behind the calls already queued, never counted as the caller's. Draining instances take no
 * new calls; undialed ones are closed once their calls are done and freed at the end of the
 * turn, so no callback up the stack still holds them.
 *
 * A peer can vanish without closing anything (its host's link goes down, it is frozen): no
 * RST, no error, its calls just wait for their deadlines. Health checks notice: it turns
 * UNHEALTHY after unhealthy_threshold failed checks, and when one more goes unanswered too (timed
 * out, rather than answered badly), the connection is taken for dead, as gRPC's keepalive does: it
 * is closed, its calls end with UNAVAILABLE (which a caller may retry elsewhere, as the edge does
 * for reads) and it is redialed. */
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
#include "list_internal.h"
#include "mesh.pb-c.h"
#include "sp.h"
#include "tls.h"

/* the most bytes one readable event takes from a plain socket: the input stays bounded by what
 * is being parsed (a reply of at most max_reply bytes) and this, however fast the peer writes */
#define CL_READ_BUDGET	((size_t)256 << 10)
#define CL_SLOT_BITS	20
#define CL_MAX_SLOTS	(1u << CL_SLOT_BITS)
#define CL_RETRY_MIN_MS 10
#define CL_RETRY_MAX_MS 200
/* a connection not made (or not greeted) within this is given up and tried again: a host that
 * vanished without a word (a link down) would otherwise hold a connect for minutes, and a
 * reconnect after it came back for the kernel's SYN backoff (up to a minute) */
#define CL_CONNECT_TIMEOUT_MS 2000

/* defaults of the zero fields of mesh_health_opts (interval_ms 0 turns checks off) */
#define CL_HEALTH_TIMEOUT_MAX_MS 5000 /* timeout_ms 0: the interval, at most this */
#define CL_HEALTHY_THRESHOLD	 2
#define CL_UNHEALTHY_THRESHOLD	 2

enum { UP_IDLE, UP_CONNECTING, UP_HANDSHAKE, UP_GREETING, UP_OPEN };

typedef struct upconn upconn;

/* loop_call: one call, in a slot whose index and generation make its SP request id. */
typedef struct loop_call {
	uint32_t id; /* 0 while the slot is free */
	uint32_t generation;
	int health; /* a health check: no caller, no closure, not in the caller's counts */
	unsigned method;
	/* NULL for a health check, and for a call cancelled after it was sent (a zombie): it keeps
	 * its slot, so no other call takes its request id, until its reply or deadline comes, and
	 * then ends without a word */
	ProtobufCClosure closure;
	void *closure_data; /* points at the caller's mesh_rpc; NULL for a zombie */
	int64_t deadline_us;
	upconn *conn; /* the connection it went out on, or NULL */
	mesh_status status;
	char message[MESH_MESSAGE_MAX];
	meshi_link link; /* in the deadline list, or the failed list */
	/* while its frame waits in conn's output, not one byte of it written (unsent is 1): where
	 * the frame starts in the connection's byte stream, its length, and its place among the
	 * connection's other unsent calls, in frame order; cancelling it takes the frame out */
	int unsent;
	uint64_t frame_at;
	size_t frame_len;
	meshi_link unsent_link;
} loop_call;

/* upconn: the connection to one instance. */
struct upconn {
	meshi_client_loop *cl;
	char *url;
	meshi_addr addr;
	int state;
	void *watch;	     /* the loop's handle on fd */
	int fd;		     /* owned by the loop while watched; -1 otherwise */
	meshi_tls_conn *tls; /* tls+tcp:// while connected (owned); NULL otherwise */
	char tls_error[256]; /* the last handshake failure reported, to report each once */
	uid_t uid;	     /* ipc://: the user who must serve it (or root); MESH_ANY_UID */
	char refused[160];   /* why its server is refused, closed once greetings are exchanged */
	meshi_bytes in;
	uint64_t skip; /* bytes of a reply over max_reply still to drop as they come */
	meshi_bytes out;
	uint64_t out_base;	/* bytes of the stream written so far: where out's first byte is */
	uint64_t pinned_end;	/* TLS: out's bytes before this were handed to a write that must be
				 * retried with them, so they cannot be taken out */
	meshi_list unsent;	/* calls whose frames are wholly unsent (loop_call.unsent_link) */
	int dirty;		/* has output to write this turn */
	meshi_slink dirty_link; /* on the client's dirty stack */
	int inflight;		/* the caller's calls on it (health checks are not counted) */
	mesh_timer *retry;
	int backoff_ms;
	/* the target group */
	int draining; /* no new calls */
	int removing; /* undialed: closed once inflight is 0 */
	int gone;     /* closed for good: freed at the end of the turn */
	int ever_open;
	mesh_instance_state health; /* while open: STARTING, HEALTHY or UNHEALTHY */
	mesh_instance_state reported;
	int64_t since_us; /* when it entered reported */
	int64_t open_us;  /* when the connection last came up */
	int passes, fails;
	int unanswered;	    /* checks in a row that got no reply at all */
	int64_t connect_us; /* when the connect under way began */
	loop_call *check;   /* the health check in flight, or NULL */
	int64_t check_started_us;
	mesh_timer *check_timer;
	uint64_t calls, errors;
};

struct meshi_client_loop {
	const ProtobufCServiceDescriptor *service;
	const char *caller;
	size_t caller_len;
	int64_t timeout_us;
	size_t max_reply;  /* the largest reply frame taken */
	size_t max_unsent; /* output a connection may hold before new calls go elsewhere */
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
	meshi_list deadlines; /* in flight, soonest deadline first (loop_call.link) */
	meshi_list failed;    /* ended before sending, closure still to run (loop_call.link) */
	meshi_queue_item *early_head, **early_tail; /* ended with no slot, closure still to run */
	meshi_stack dirty;    /* connections with output to write this turn (upconn.dirty_link) */
	mesh_timer *turn;     /* after this turn's events: write, and run failed closures */
	mesh_timer *deadline; /* at the soonest deadline */
	int turn_armed;
	int64_t deadline_armed_us;
	mesh_health_opts health; /* interval_ms 0: no checks */
	int ngone;		 /* connections waiting to be freed */
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

static void turn_arm(meshi_client_loop *cl)
{
	if (!cl->turn_armed) {
		cl->turn_armed = 1;
		cl->loop->ops->timer_arm(cl->loop, cl->turn, 0);
	}
}

static int health_on(const meshi_client_loop *cl)
{
	return cl->health.interval_ms > 0;
}

/* upconn_state is the instance's state as mesh_client_instance_info reports it. */
static mesh_instance_state upconn_state(const upconn *u)
{
	if (u->draining)
		return MESH_INSTANCE_DRAINING;
	if (u->state != UP_OPEN)
		return u->ever_open ? MESH_INSTANCE_DOWN : MESH_INSTANCE_STARTING;
	return u->health;
}

/* upconn_note records when the instance enters another state; called after every change. */
static void upconn_note(upconn *u)
{
	mesh_instance_state s = upconn_state(u);
	if (s != u->reported) {
		u->reported = s;
		u->since_us = mesh_now_us();
	}
}

/* slot_take returns a free call slot with a fresh id, or NULL. */
static loop_call *slot_take(meshi_client_loop *cl)
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

static void slot_release(meshi_client_loop *cl, loop_call *call)
{
	cl->free_slots[cl->nfree++] = call->id & (CL_MAX_SLOTS - 1);
	call->id = 0;
}

/* slot_find returns the call in flight with this request id, or NULL (a late reply). */
static loop_call *slot_find(meshi_client_loop *cl, uint32_t id)
{
	uint32_t index = id & (CL_MAX_SLOTS - 1);
	if (index >= cl->nslots || cl->slots[index]->id != id)
		return NULL;
	return cl->slots[index];
}

/* call_of returns the call whose link in the deadline or the failed list is at link (not NULL). */
static inline loop_call *call_of(meshi_link *link)
{
	return MESHI_CONTAINER(link, loop_call, link);
}

/* deadline_insert keeps the list ordered; calls mostly arrive in deadline order, so the walk
 * from the tail is short. */
static void deadline_insert(meshi_client_loop *cl, loop_call *call)
{
	meshi_link *after = cl->deadlines.tail;
	while (after != NULL && call_of(after)->deadline_us > call->deadline_us)
		after = after->prev;
	meshi_list_insert_after(&cl->deadlines, after, &call->link);
}

static void deadline_arm(meshi_client_loop *cl)
{
	int64_t due, now;
	if (cl->deadlines.head == NULL)
		return;
	due = call_of(cl->deadlines.head)->deadline_us;
	if (cl->deadline_armed_us != 0 && cl->deadline_armed_us <= due)
		return;
	now = mesh_now_us();
	cl->deadline_armed_us = due;
	cl->loop->ops->timer_arm(cl->loop, cl->deadline,
				 due > now ? (int)((due - now + 999) / 1000) : 0);
}

/* ---- the calls waiting in a connection's output ---------------------------------------------- */

/* unsent_of returns the call whose link among the unsent calls is at link (not NULL). */
static inline loop_call *unsent_of(meshi_link *link)
{
	return MESHI_CONTAINER(link, loop_call, unsent_link);
}

/* unsent_unlink takes call, whose frame is wholly unsent, off u's unsent calls. */
static void unsent_unlink(upconn *u, loop_call *call)
{
	meshi_list_unlink(&u->unsent, &call->unsent_link);
	call->unsent = 0;
}

/* unsent_append puts call, whose frame was just put last in u's output, last among its unsent
 * calls. */
static void unsent_append(upconn *u, loop_call *call)
{
	call->unsent = 1;
	meshi_list_append(&u->unsent, &call->unsent_link);
}

/* unsent_written drops from the unsent calls those of which a byte has now been written. */
static void unsent_written(upconn *u)
{
	while (u->unsent.head != NULL && unsent_of(u->unsent.head)->frame_at < u->out_base)
		unsent_unlink(u, unsent_of(u->unsent.head));
}

/* unsent_take_out removes the frame of call, which has not one byte written, from the
 * connection's output, so it is never sent, if no write still holds it (TLS); the frames after
 * it move up. Returns 1 if it did. */
static int unsent_take_out(upconn *u, loop_call *call)
{
	size_t off;
	uint8_t *at;
	if (!call->unsent || call->frame_at < u->pinned_end)
		return 0;
	off = (size_t)(call->frame_at - u->out_base);
	at = meshi_bytes_head(&u->out) + off;
	memmove(at, at + call->frame_len, u->out.len - off - call->frame_len);
	u->out.len -= call->frame_len;
	if (u->out.len == 0)
		u->out.start = 0;
	for (meshi_link *later = call->unsent_link.next; later != NULL; later = later->next)
		unsent_of(later)->frame_at -= call->frame_len;
	unsent_unlink(u, call);
	return 1;
}

/* frame_len_max returns the most bytes a call whose envelope takes size bytes may take framed:
 * the longest SP header and the request id. */
static size_t frame_len_max(size_t size)
{
	return 9 + 4 + size;
}

/* upconn_mark_dirty lists u for on_turn, which writes its output at the end of the turn: a frame
 * went into it. */
static void upconn_mark_dirty(upconn *u)
{
	meshi_client_loop *cl = u->cl;
	if (!u->dirty) {
		u->dirty = 1;
		meshi_stack_push(&cl->dirty, &u->dirty_link);
	}
	turn_arm(cl);
}

/* upconn_frame frames the call env (input as its payload, size bytes with the envelope,
 * payload_len of them the payload: meshi_envelope_call_size) with call's SP request id into the
 * connection's output, written at the end of the turn; a caller's call is noted as unsent.
 * Returns 0, or -1 if memory ran out. */
static int upconn_frame(upconn *u, loop_call *call, const meshi_envelope_call *env,
			const ProtobufCMessage *input, size_t size, size_t payload_len)
{
	size_t head = meshi_sp_frame_header_len(u->addr.framing);
	uint8_t *p = meshi_bytes_reserve(&u->out, head + 4 + size);
	if (p == NULL)
		return -1;
	meshi_sp_frame_header(p, u->addr.framing, 4 + size);
	meshi_sp_put_u32(p + head, call->id);
	meshi_envelope_call_write(p + head + 4, env, input, payload_len);
	if (!call->health) {
		call->frame_at = u->out_base + u->out.len;
		call->frame_len = head + 4 + size;
		unsent_append(u, call);
	}
	meshi_bytes_commit(&u->out, head + 4 + size);
	upconn_mark_dirty(u);
	return 0;
}

/* upconn_cancel_frame queues on u a mesh.Mesh/Cancel under id, the SP request id of a call already
 * (or partly) sent on u, which its caller gave up (mesh.proto: Mesh.Cancel). A cleave server
 * answers it nothing; it only frees the instance of work nobody waits for, so a Cancel that
 * cannot be queued (out of memory) is not sent. */
static void upconn_cancel_frame(upconn *u, uint32_t id)
{
	size_t head = meshi_sp_frame_header_len(u->addr.framing),
	       size = meshi_envelope_cancel_size();
	uint8_t *p = meshi_bytes_reserve(&u->out, head + 4 + size);
	if (p == NULL)
		return;
	meshi_sp_frame_header(p, u->addr.framing, 4 + size);
	meshi_sp_put_u32(p + head, id);
	meshi_envelope_cancel_write(p + head + 4);
	meshi_bytes_commit(&u->out, head + 4 + size);
	upconn_mark_dirty(u);
}

/* ---- health checks -------------------------------------------------------------------------- */

/* check_schedule arms the instance's next check, an interval after the last one started. */
static void check_schedule(upconn *u)
{
	meshi_client_loop *cl = u->cl;
	int64_t left = u->check_started_us + (int64_t)cl->health.interval_ms * 1000 - mesh_now_us();
	cl->loop->ops->timer_arm(cl->loop, u->check_timer,
				 left > 0 ? (int)((left + 999) / 1000) : 0);
}

/* check_start sends a Health call to the instance, unless it is not to be checked now or a
 * check is already in flight. */
static void check_start(upconn *u)
{
	meshi_client_loop *cl = u->cl;
	Mesh__HealthRequest req = MESH__HEALTH_REQUEST__INIT;
	const char *service = mesh__mesh__descriptor.name;
	meshi_envelope_call env;
	size_t size, payload_len;
	loop_call *call;
	int64_t now;
	if (!health_on(cl) || u->state != UP_OPEN || u->draining || u->check != NULL)
		return;
	now = mesh_now_us();
	u->check_started_us = now;
	call = slot_take(cl);
	if (call == NULL) {
		check_schedule(u); /* our shortage, not the instance's failure: try later */
		return;
	}
	call->health = 1;
	call->method = 0;
	call->closure = NULL;
	call->closure_data = NULL;
	call->deadline_us = now + (int64_t)cl->health.timeout_ms * 1000;
	env = (meshi_envelope_call){
	    .service = service,
	    .service_len = strlen(service),
	    .method = "Health",
	    .method_len = strlen("Health"),
	    .timeout_us = call->deadline_us - now,
	    .caller = cl->caller,
	    .caller_len = cl->caller_len,
	};
	size = meshi_envelope_call_size(&env, &req.base, &payload_len);
	if (upconn_frame(u, call, &env, &req.base, size, payload_len) != 0) {
		slot_release(cl, call);
		check_schedule(u);
		return;
	}
	call->conn = u;
	u->check = call;
	deadline_insert(cl, call);
	deadline_arm(cl);
}

static void on_check_timer(void *arg)
{
	upconn *u = arg;
	/* the loop may fire early */
	if (mesh_now_us() < u->check_started_us + (int64_t)u->cl->health.interval_ms * 1000) {
		check_schedule(u);
		return;
	}
	check_start(u);
}

/* check_cancel stops the instance's checks; a check in flight is forgotten (its reply, if one
 * comes, is dropped like any late reply). */
static void check_cancel(upconn *u)
{
	meshi_client_loop *cl = u->cl;
	loop_call *call = u->check;
	cl->loop->ops->timer_stop(cl->loop, u->check_timer);
	if (call == NULL)
		return;
	meshi_list_unlink(&cl->deadlines, &call->link);
	call->conn = NULL;
	slot_release(cl, call);
	u->check = NULL;
}

/* check_reply_ok says whether a Health reply envelope is a pass: status OK, from an instance of
 * the client's service. */
static int check_reply_ok(const meshi_client_loop *cl, const uint8_t *reply, size_t len)
{
	Mesh__HealthReply *health;
	meshi_envelope_reply r;
	int ok;
	if (meshi_envelope_reply_read(&r, reply, len) != 0 || r.status != MESH_OK)
		return 0;
	if (strcmp(cl->service->name, mesh__mesh__descriptor.name) == 0)
		return 1; /* a client of mesh.Mesh itself: any service will do */
	health = mesh__health_reply__unpack(NULL, r.payload_len, r.payload);
	if (health == NULL)
		return 0;
	ok = strcmp(health->service, cl->service->name) == 0;
	mesh__health_reply__free_unpacked(health, NULL);
	return ok;
}

static void upconn_fail(upconn *u, const char *why);

/* check_result moves the instance between STARTING, HEALTHY and UNHEALTHY by one check's
 * outcome (answered: a reply came, good or bad), and schedules the next check; or, when
 * unhealthy_threshold + 1 checks in a row went unanswered, drops the connection as dead. */
static void check_result(upconn *u, int ok, int answered)
{
	meshi_client_loop *cl = u->cl;
	if (!health_on(cl) || u->state != UP_OPEN || u->draining)
		return;
	if (answered)
		u->unanswered = 0;
	if (ok) {
		u->fails = 0;
		u->passes++;
		if (u->health == MESH_INSTANCE_STARTING ||
		    (u->health == MESH_INSTANCE_UNHEALTHY &&
		     u->passes >= cl->health.healthy_threshold))
			u->health = MESH_INSTANCE_HEALTHY;
	} else if (mesh_now_us() - u->open_us >= (int64_t)cl->health.grace_ms * 1000) {
		u->passes = 0;
		u->fails++;
		if (u->health != MESH_INSTANCE_UNHEALTHY &&
		    u->fails >= cl->health.unhealthy_threshold)
			u->health = MESH_INSTANCE_UNHEALTHY;
		if (!answered && ++u->unanswered > cl->health.unhealthy_threshold) {
			upconn_fail(u, "its health checks went unanswered");
			return;
		}
	}
	upconn_note(u);
	check_schedule(u);
}

/* check_finish ends a health check, already off the deadline list: reply is the reply
 * envelope, or NULL when it failed without one (its deadline passed). */
static void check_finish(meshi_client_loop *cl, loop_call *call, const uint8_t *reply, size_t len)
{
	upconn *u = call->conn;
	int ok = reply != NULL && check_reply_ok(cl, reply, len);
	call->conn = NULL;
	slot_release(cl, call);
	u->check = NULL;
	check_result(u, ok, reply != NULL);
}

/* ---- calls ---------------------------------------------------------------------------------- */

static void upconn_close(upconn *u);

/* call_finish runs the closure with the outcome and frees the slot. reply is the reply
 * envelope, or NULL when the call failed without one. */
static void call_finish(meshi_client_loop *cl, loop_call *call, const uint8_t *reply, size_t len)
{
	const ProtobufCMethodDescriptor *method = &cl->service->methods[call->method];
	ProtobufCMessage *output = NULL;
	mesh_rpc *rpc = call->closure_data;
	upconn *u = call->conn;
	if (call->health) {
		check_finish(cl, call, reply, len);
		return;
	}
	if (u != NULL && call->unsent)
		unsent_unlink(u, call);
	if (call->closure == NULL) {
		/* cancelled after it was sent: its reply, or its end, goes nowhere */
		u->inflight--;
		call->conn = NULL;
		slot_release(cl, call);
		if (u->removing && u->inflight == 0 && !u->gone)
			upconn_close(u);
		return;
	}
	if (reply != NULL) {
		meshi_envelope_reply r;
		if (meshi_envelope_reply_read(&r, reply, len) != 0) {
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
	if (u != NULL) {
		u->inflight--;
		u->calls++;
		if (call->status != MESH_OK)
			u->errors++;
	}
	call->conn = NULL;
	slot_release(cl, call);
	cl->inflight--;
	meshi_rpc_forget(rpc);
	if (u != NULL && u->removing && u->inflight == 0 && !u->gone)
		upconn_close(u); /* undialed, and its last call is done */
	call->closure(output, call->closure_data);
	if (output != NULL)
		protobuf_c_message_free_unpacked(output, NULL);
}

/* call_fail_later ends a call that was never sent; its closure runs after this turn, never
 * inside invoke. */
static void call_fail_later(meshi_client_loop *cl, loop_call *call)
{
	meshi_list_append(&cl->failed, &call->link);
	turn_arm(cl);
}

/* early_run ends an early failure whose turn came: its closure runs. */
static void early_run(meshi_queue_item *item)
{
	meshi_rpc_early *early = (meshi_rpc_early *)item;
	meshi_client_loop *cl = early->owner;
	mesh_rpc *rpc = meshi_rpc_of_early(early);
	ProtobufCClosure closure = early->closure;
	cl->inflight--;
	meshi_rpc_forget(rpc);
	closure(NULL, rpc);
}

/* call_fail_early ends a call that got no slot (its status set in rpc): kept in rpc's reserved
 * words, its closure runs after this turn, like call_fail_later's. */
static void call_fail_early(meshi_client_loop *cl, ProtobufCClosure closure, mesh_rpc *rpc)
{
	meshi_rpc_early *early = meshi_rpc_early_of(rpc);
	early->closure = closure;
	early->item.run = early_run; /* never NULL: marks the rpc's state as an early failure */
	early->item.next = NULL;
	early->owner = cl;
	*cl->early_tail = &early->item;
	cl->early_tail = &early->item.next;
	cl->inflight++;
	turn_arm(cl);
}

static void upconn_connect(upconn *u);
static void upconn_on_io(void *arg, int events);

static void upconn_retry_later(upconn *u)
{
	meshi_client_loop *cl = u->cl;
	u->state = UP_IDLE;
	cl->loop->ops->timer_arm(cl->loop, u->retry, u->backoff_ms);
	u->backoff_ms = u->backoff_ms * 2 > CL_RETRY_MAX_MS ? CL_RETRY_MAX_MS : u->backoff_ms * 2;
}

/* upconn_disconnect closes the connection's socket (and TLS) and cancels its health check; the
 * calls it carried are the caller's to end. */
static void upconn_disconnect(upconn *u)
{
	meshi_client_loop *cl = u->cl;
	if (u->state == UP_OPEN)
		cl->instances--;
	meshi_tls_conn_free(u->tls);
	u->tls = NULL;
	if (u->watch != NULL)
		cl->loop->ops->unwatch(cl->loop, u->watch);
	u->watch = NULL;
	u->fd = -1;
	check_cancel(u);
}

/* upconn_fail drops the connection, ends the calls it carried with UNAVAILABLE (they are never
 * sent again), and schedules a reconnect. */
static void upconn_fail(upconn *u, const char *why)
{
	meshi_client_loop *cl = u->cl;
	upconn_disconnect(u);
	u->in.start = u->in.len = 0;
	u->skip = 0;
	u->out.start = u->out.len = 0;
	u->out_base = u->pinned_end = 0;
	while (u->unsent.head != NULL) /* their calls end below */
		unsent_unlink(u, unsent_of(u->unsent.head));
	upconn_retry_later(u);
	upconn_note(u);
	for (size_t i = 0; i < cl->nslots && u->inflight > 0; i++) {
		loop_call *call = cl->slots[i];
		if (call->id == 0 || call->conn != u)
			continue;
		meshi_list_unlink(&cl->deadlines, &call->link);
		call_set(call, MESH_UNAVAILABLE, "%s: connection to %s lost (%s)",
			 cl->service->name, u->url, why);
		call_finish(cl, call, NULL, 0);
	}
}

/* upconn_on_retry reconnects an idle connection, or gives up a connect that has not been made
 * within CL_CONNECT_TIMEOUT_MS. */
static void upconn_on_retry(void *arg)
{
	upconn *u = arg;
	meshi_client_loop *cl = u->cl;
	int64_t left;
	if (u->state == UP_IDLE) {
		upconn_connect(u);
		return;
	}
	if (u->state == UP_OPEN)
		return;
	left = u->connect_us + CL_CONNECT_TIMEOUT_MS * 1000 - mesh_now_us();
	if (left > 0) { /* the loop may fire early */
		cl->loop->ops->timer_arm(cl->loop, u->retry, (int)((left + 999) / 1000));
		return;
	}
	upconn_fail(u, "not connected in time");
}

static void upconn_connect(upconn *u)
{
	meshi_client_loop *cl = u->cl;
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
	u->connect_us = mesh_now_us();
	cl->loop->ops->timer_arm(cl->loop, u->retry, CL_CONNECT_TIMEOUT_MS);
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
	size_t before = u->out.len;
	int rv = u->tls == NULL ? meshi_bytes_write_to(&u->out, u->fd)
				: meshi_tls_conn_write(u->tls, &u->out);
	if (rv < 0) {
		upconn_fail(u, strerror(errno));
		return -1;
	}
	u->out_base += before - u->out.len;
	/* TLS: a write that would block must be retried with the bytes it was given */
	u->pinned_end = u->tls != NULL && rv == 1 ? u->out_base + u->out.len : u->out_base;
	unsent_written(u);
	if (rv == 1)
		u->cl->loop->ops->want_write(u->cl->loop, u->watch);
	return 0;
}

/* upconn_report says on stderr why connecting to the instance failed (TLS, a server of the
 * wrong user): once per reason, not at every reconnect. */
static void upconn_report(upconn *u, const char *why)
{
	if (strcmp(u->tls_error, why) == 0)
		return;
	snprintf(u->tls_error, sizeof(u->tls_error), "%s", why);
	fprintf(stderr, "mesh: %s at %s: %s\n", u->cl->service->name, u->url, why);
}

/* upconn_skip_long_reply starts dropping the reply at the head of the input when its frame
 * announces more than max_reply bytes: its call (if still waiting) ends RESOURCE_EXHAUSTED
 * and the rest of the frame is dropped as it comes, never held. Returns 1 if it did, 0 if the
 * head is not yet whole enough to tell (or the call's closure tore the connection down: then
 * u is no longer open), -1 if the frame is malformed. */
static int upconn_skip_long_reply(upconn *u)
{
	meshi_client_loop *cl = u->cl;
	size_t head = meshi_sp_frame_header_len(u->addr.framing);
	const uint8_t *p = meshi_bytes_head(&u->in);
	uint64_t len = 0;
	loop_call *call;
	if (u->in.len < head)
		return 0;
	if (u->addr.framing == SP_IPC && p[0] != 1)
		return -1;
	for (size_t i = head - 8; i < head; i++)
		len = len << 8 | p[i];
	if (len <= cl->max_reply || len < 4)
		return -1;
	if (u->in.len < head + 4)
		return 0;
	call = slot_find(cl, meshi_sp_get_u32(p + head));
	fprintf(stderr, "mesh: %s at %s: dropped a reply of %llu bytes (max_reply_bytes %zu)\n",
		cl->service->name, u->url, (unsigned long long)len, cl->max_reply);
	meshi_bytes_consume(&u->in, head + 4);
	u->skip = len - 4;
	if (call != NULL && call->conn == u) {
		meshi_list_unlink(&cl->deadlines, &call->link);
		call_set(call, MESH_RESOURCE_EXHAUSTED,
			 "%s.%s: the reply of %llu bytes is over max_reply_bytes (%zu)",
			 cl->service->name, cl->service->methods[call->method].name,
			 (unsigned long long)len, cl->max_reply);
		call_finish(cl, call, NULL, 0);
		if (u->state != UP_OPEN)
			return 0;
	}
	return 1;
}

/* upconn_read takes in what the instance sent: its greeting, then replies. */
static void upconn_read(upconn *u)
{
	meshi_client_loop *cl = u->cl;
	const uint8_t *payload;
	size_t payload_len, consumed;
	/* a plain socket is read up to CL_READ_BUDGET bytes: the loop reports the rest as readable
	 * again */
	int rv = u->tls == NULL ? meshi_bytes_read_max(&u->in, u->fd, CL_READ_BUDGET)
				: meshi_tls_conn_read(u->tls, &u->in);
	if (rv < 0) {
		char why[300];
		snprintf(why, sizeof(why), "%s",
			 u->tls != NULL && errno == EPROTO ? meshi_tls_conn_error(u->tls)
			 : errno == 0			   ? "closed by the instance"
							   : strerror(errno));
		/* TLS 1.3: the instance checks this process's certificate after our side of the
		 * handshake is done, so its refusal arrives here */
		if (u->tls != NULL && u->state == UP_GREETING) {
			if (errno != EPROTO)
				snprintf(why, sizeof(why),
					 "closed by the instance right after the TLS handshake: "
					 "does it trust this process's certificate?");
			upconn_report(u, why);
		}
		upconn_fail(u, why);
		return;
	}
	if (u->state == UP_GREETING) {
		if (u->in.len < SP_HANDSHAKE_LEN)
			return;
		if (meshi_sp_handshake_check(meshi_bytes_head(&u->in), SP_PROTO_REP) != 0) {
			upconn_fail(u, "the peer does not speak REP");
			return;
		}
		meshi_bytes_consume(&u->in, SP_HANDSHAKE_LEN);
		if (u->refused[0] != '\0') {
			char why[sizeof(u->refused)];
			snprintf(why, sizeof(why), "%s", u->refused);
			upconn_fail(u, why);
			return;
		}
		u->state = UP_OPEN;
		u->tls_error[0] = '\0'; /* a later failure is news again */
		u->backoff_ms = CL_RETRY_MIN_MS;
		cl->instances++;
		u->ever_open = 1;
		u->open_us = mesh_now_us();
		u->passes = u->fails = u->unanswered = 0;
		cl->loop->ops->timer_stop(cl->loop, u->retry); /* the connect timeout */
		u->health = health_on(cl) ? MESH_INSTANCE_STARTING : MESH_INSTANCE_HEALTHY;
		upconn_note(u);
		check_start(u); /* at once: a fresh instance gets traffic within milliseconds */
	}
	for (;;) {
		loop_call *call;
		if (u->skip > 0) { /* the rest of a reply too long to take */
			size_t n = u->skip < u->in.len ? (size_t)u->skip : u->in.len;
			meshi_bytes_consume(&u->in, n);
			u->skip -= n;
			if (u->skip > 0)
				return;
		}
		rv = meshi_sp_frame_next(meshi_bytes_head(&u->in), u->in.len, u->addr.framing,
					 cl->max_reply, &payload, &payload_len, &consumed);
		if (rv == 0)
			return;
		if (rv < 0) {
			rv = upconn_skip_long_reply(u);
			if (rv < 0)
				upconn_fail(u, "malformed frame");
			if (rv <= 0)
				return;
			continue;
		}
		call = payload_len >= 4 ? slot_find(cl, meshi_sp_get_u32(payload)) : NULL;
		/* A reply for a call that already ended (its deadline passed) is dropped. */
		if (call != NULL && call->conn == u) {
			meshi_list_unlink(&cl->deadlines, &call->link);
			call_finish(cl, call, payload + 4, payload_len - 4);
			if (u->state != UP_OPEN)
				return; /* the closure tore the connection down */
		}
		meshi_bytes_consume(&u->in, consumed);
	}
}

/* upconn_greet queues the SP greeting: the connection (and TLS, if any) is up. Returns 0, or
 * -1 if the connection failed. */
static int upconn_greet(upconn *u)
{
	uint8_t greeting[SP_HANDSHAKE_LEN];
	meshi_sp_handshake(greeting, SP_PROTO_REQ);
	u->state = UP_GREETING;
	if (meshi_bytes_append(&u->out, greeting, sizeof(greeting)) != 0) {
		upconn_fail(u, "out of memory");
		return -1;
	}
	return 0;
}

/* upconn_handshake advances a tls+tcp:// connection's handshake. Returns 1 once the instance is
 * verified and the greeting queued, 0 while it waits for the socket, -1 if it failed. */
static int upconn_handshake(upconn *u)
{
	meshi_client_loop *cl = u->cl;
	char why[300];
	int rv = meshi_tls_conn_handshake(u->tls);
	if (rv == 0) {
		if (meshi_tls_conn_wants_write(u->tls))
			cl->loop->ops->want_write(cl->loop, u->watch);
		return 0;
	}
	if (rv < 0) {
		snprintf(why, sizeof(why), "%s", meshi_tls_conn_error(u->tls));
		upconn_report(u, why);
		upconn_fail(u, why);
		return -1;
	}
	return upconn_greet(u) == 0 ? 1 : -1;
}

/* upconn_check_peer checks, on ipc://, that the server just connected to runs as the user the
 * instance was dialed for (or root); if not, it says why once and marks the connection refused:
 * no call is ever sent on it, and it is closed (and tried again later) as soon as the greetings
 * are exchanged. Closing at once would be simpler, but an nng 1.5.2 listener whose peer leaves
 * in the middle of its SP negotiation stops accepting anyone (nng#1518, fixed in 1.6.0). */
static void upconn_check_peer(upconn *u)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	u->refused[0] = '\0';
	if (u->uid == MESH_ANY_UID || u->addr.path == NULL)
		return;
	if (getsockopt(u->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		snprintf(u->refused, sizeof(u->refused), "cannot tell who serves it (%s)",
			 strerror(errno));
	else if (cred.uid == u->uid || cred.uid == 0)
		return;
	else
		snprintf(u->refused, sizeof(u->refused),
			 "the server runs as uid %u, not %u: not calling it (a socket someone else "
			 "planted?)",
			 (unsigned)cred.uid, (unsigned)u->uid);
	upconn_report(u, u->refused);
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
		upconn_check_peer(u);
		if (u->addr.tls) {
			const char *package = u->cl->service->package;
			u->tls = meshi_tls_conn_new(
			    u->fd, 0,
			    package != NULL && strcmp(package, "mesh") != 0 ? package : NULL);
			if (u->tls == NULL) {
				upconn_fail(u, "cannot start TLS (is it configured?)");
				return;
			}
			u->state = UP_HANDSHAKE;
		} else if (upconn_greet(u) != 0) {
			return;
		}
	}
	if (u->state == UP_HANDSHAKE) {
		if (upconn_handshake(u) != 1)
			return;
		events |= MESH_IO_READ; /* the greeting may already wait inside TLS */
	}
	if ((events & MESH_IO_WRITE) || u->out.len > 0) {
		if (upconn_flush(u) != 0)
			return;
	}
	if (events & MESH_IO_READ)
		upconn_read(u);
}

/* upconn_close closes an undialed instance's connection for good; it is freed at the end of
 * the turn, since callers up the stack may still look at it. */
static void upconn_close(upconn *u)
{
	meshi_client_loop *cl = u->cl;
	upconn_disconnect(u);
	u->state = UP_IDLE;
	cl->loop->ops->timer_stop(cl->loop, u->retry);
	u->gone = 1;
	cl->ngone++;
	turn_arm(cl);
}

static void upconn_free(meshi_client_loop *cl, upconn *u)
{
	meshi_tls_conn_free(u->tls);
	if (u->watch != NULL)
		cl->loop->ops->unwatch(cl->loop, u->watch);
	cl->loop->ops->timer_free(cl->loop, u->retry);
	if (u->check_timer != NULL)
		cl->loop->ops->timer_free(cl->loop, u->check_timer);
	meshi_bytes_fini(&u->in);
	meshi_bytes_fini(&u->out);
	free(u->url);
	free(u);
}

/* reap frees the connections closed for good. */
static void reap(meshi_client_loop *cl)
{
	size_t kept = 0;
	for (size_t i = 0; i < cl->nconns; i++) {
		upconn *u = cl->conns[i];
		if (!u->gone) {
			cl->conns[kept++] = u;
			continue;
		}
		if (u->dirty)
			meshi_stack_remove(&cl->dirty, &u->dirty_link);
		upconn_free(cl, u);
	}
	cl->nconns = kept;
	cl->ngone = 0;
}

/* on_turn runs once the loop has handled this turn's events: it writes what calls framed,
 * frees the connections closed for good, then runs the closures of calls that ended before
 * being sent. */
static void on_turn(void *arg)
{
	meshi_client_loop *cl = arg;
	cl->turn_armed = 0;
	for (meshi_slink *dirty; (dirty = meshi_stack_pop(&cl->dirty)) != NULL;) {
		upconn *u = MESHI_CONTAINER(dirty, upconn, dirty_link);
		u->dirty = 0;
		if (u->state == UP_OPEN)
			upconn_flush(u);
	}
	if (cl->ngone > 0)
		reap(cl);
	while (cl->failed.head != NULL) {
		loop_call *call = call_of(cl->failed.head);
		meshi_list_unlink(&cl->failed, &call->link);
		call_finish(cl, call, NULL, 0);
	}
	while (cl->early_head != NULL) {
		meshi_queue_item *item = cl->early_head;
		cl->early_head = item->next;
		if (cl->early_head == NULL)
			cl->early_tail = &cl->early_head;
		item->run(item);
	}
}

/* upconn_try_flush writes what u's output holds now, on a plain socket, so that a Cancel goes out
 * before the caller of its call learns the call ended (and answers its own caller, who may let a
 * stopped instance run again at once); what cannot be written, or any error, is left to the
 * turn's flush (upconn_flush), which handles it. TLS connections wait for the turn. */
static void upconn_try_flush(upconn *u)
{
	size_t before = u->out.len;
	if (u->tls != NULL || u->out.len == 0)
		return;
	if (meshi_bytes_write_to(&u->out, u->fd) < 0)
		return;
	u->out_base += before - u->out.len;
	u->pinned_end = u->out_base;
	unsent_written(u);
}

/* on_deadline ends every call whose deadline has passed. */
static void on_deadline(void *arg)
{
	meshi_client_loop *cl = arg;
	int64_t now = mesh_now_us();
	cl->deadline_armed_us = 0;
	while (cl->deadlines.head != NULL && call_of(cl->deadlines.head)->deadline_us <= now) {
		loop_call *call = call_of(cl->deadlines.head);
		const char *method = cl->service->methods[call->method].name;
		upconn *u = call->conn;
		meshi_list_unlink(&cl->deadlines, &call->link);
		/* nobody waits for it any more: one not yet written is never sent, and the
		 * instance is told of one sent, so it skips it if it has not started it */
		if (!call->health && call->closure != NULL && u != NULL && u->state == UP_OPEN &&
		    !u->gone && !unsent_take_out(u, call)) {
			upconn_cancel_frame(u, call->id);
			upconn_try_flush(u);
		}
		call_set(call, MESH_DEADLINE_EXCEEDED,
			 "%s.%s: deadline exceeded while waiting for "
			 "the reply",
			 cl->service->name, method);
		call_finish(cl, call, NULL, 0);
	}
	deadline_arm(cl);
}

/* pick_conn returns the HEALTHY open connection with the fewest calls in flight; failing open
 * when none is, any open one that is not draining; or NULL. Without health checks every open
 * connection is HEALTHY. A connection whose output already holds bytes and would hold more
 * than max_unsent with need more is passed over (*full counts those). */
static upconn *pick_conn(meshi_client_loop *cl, size_t need, int *full)
{
	upconn *best = NULL, *fallback = NULL;
	*full = 0;
	for (size_t k = 0; k < cl->nconns; k++) {
		upconn *u = cl->conns[(cl->next_conn + k) % cl->nconns];
		if (u->state != UP_OPEN || u->draining)
			continue;
		if (u->out.len > 0 && u->out.len + need > cl->max_unsent) {
			(*full)++;
			continue;
		}
		if (u->health == MESH_INSTANCE_HEALTHY) {
			if (best == NULL || u->inflight < best->inflight)
				best = u;
		} else if (fallback == NULL || u->inflight < fallback->inflight) {
			fallback = u;
		}
	}
	if (best == NULL)
		best = fallback;
	if (best != NULL)
		cl->next_conn++;
	return best;
}

void meshi_client_loop_invoke(meshi_client_loop *cl, unsigned method_index,
			      const ProtobufCMessage *input, ProtobufCClosure closure,
			      void *closure_data)
{
	const ProtobufCMethodDescriptor *method = &cl->service->methods[method_index];
	mesh_rpc *rpc = closure_data;
	int64_t now = mesh_now_us();
	loop_call *call = slot_take(cl);
	meshi_envelope_call env;
	size_t size, payload_len;
	upconn *u;
	int full;

	if (call == NULL) {
		rpc->status = MESH_RESOURCE_EXHAUSTED;
		snprintf(rpc->message, sizeof(rpc->message), "%s: out of call slots or memory",
			 cl->service->name);
		call_fail_early(cl, closure, rpc);
		return;
	}
	cl->inflight++;
	call->health = 0;
	call->method = method_index;
	call->closure = closure;
	call->closure_data = closure_data;
	call->conn = NULL;
	call->unsent = 0;
	meshi_rpc_hold(rpc, call);
	call->deadline_us = rpc->deadline_us != 0 ? rpc->deadline_us : now + cl->timeout_us;
	if (call->deadline_us <= now) {
		call_set(call, MESH_DEADLINE_EXCEEDED, "%s.%s: deadline passed before sending",
			 cl->service->name, method->name);
		call_fail_later(cl, call);
		return;
	}
	env = (meshi_envelope_call){
	    .service = cl->service->name,
	    .service_len = strlen(cl->service->name),
	    .method = method->name,
	    .method_len = strlen(method->name),
	    .timeout_us = call->deadline_us - now,
	    .caller = cl->caller,
	    .caller_len = cl->caller_len,
	    .idempotency_key = rpc->idempotency_key,
	    .idempotency_key_len = rpc->idempotency_key ? strlen(rpc->idempotency_key) : 0,
	    .request_id = rpc->request_id,
	    .request_id_len = rpc->request_id ? strlen(rpc->request_id) : 0,
	};
	meshi_envelope_call_trace(&env, &rpc->trace);
	size = meshi_envelope_call_size(&env, input, &payload_len);
	u = pick_conn(cl, frame_len_max(size), &full);
	if (u == NULL && full > 0) {
		call_set(
		    call, MESH_UNAVAILABLE,
		    "%s: shed: %d instance%s %zu bytes of calls not yet taken (max_unsent_bytes)",
		    cl->service->name, full, full == 1 ? " holds over" : "s hold over each",
		    cl->max_unsent);
		call_fail_later(cl, call);
		return;
	}
	if (u == NULL) {
		call_set(call, MESH_UNAVAILABLE, "%s: no instance is connected", cl->service->name);
		call_fail_later(cl, call);
		return;
	}
	if (upconn_frame(u, call, &env, input, size, payload_len) != 0) {
		call_set(call, MESH_RESOURCE_EXHAUSTED, "%s: out of memory", cl->service->name);
		call_fail_later(cl, call);
		return;
	}
	call->conn = u;
	u->inflight++;
	deadline_insert(cl, call);
	deadline_arm(cl);
}

int meshi_client_loop_cancel(meshi_client_loop *cl, mesh_rpc *rpc)
{
	loop_call *call;
	upconn *u;
	if (meshi_rpc_is_early(rpc)) {
		meshi_queue_item *item = &meshi_rpc_early_of(rpc)->item;
		for (meshi_queue_item **p = &cl->early_head; *p != NULL; p = &(*p)->next) {
			if (*p != item)
				continue;
			*p = item->next;
			if (cl->early_tail == &item->next)
				cl->early_tail = p;
			cl->inflight--;
			meshi_rpc_forget(rpc);
			return 0;
		}
		return ENOENT;
	}
	call = meshi_rpc_held(rpc);
	if (call == NULL || call->id == 0 || call->health || call->closure == NULL ||
	    call->closure_data != rpc)
		return ENOENT;
	u = call->conn;
	meshi_rpc_forget(rpc);
	cl->inflight--;
	if (u == NULL) { /* ended before it was sent; its closure was still to run */
		meshi_list_unlink(&cl->failed, &call->link);
		slot_release(cl, call);
		return 0;
	}
	if (unsent_take_out(u, call)) { /* never sent: nothing will answer it */
		meshi_list_unlink(&cl->deadlines, &call->link);
		u->inflight--;
		call->conn = NULL;
		slot_release(cl, call);
		if (u->removing && u->inflight == 0 && !u->gone)
			upconn_close(u);
		return 0;
	}
	/* sent, or partly: it keeps its slot (and request id) until its reply or deadline; the
	 * instance is told, so it skips the call if it has not started it */
	call->closure = NULL;
	call->closure_data = NULL;
	if (u->state == UP_OPEN && !u->gone)
		upconn_cancel_frame(u, call->id);
	return 0;
}

int meshi_client_loop_new(meshi_client_loop **out, const ProtobufCServiceDescriptor *service,
			  const char *caller, int64_t timeout_us, size_t max_reply,
			  size_t max_unsent, mesh_loop *loop)
{
	meshi_client_loop *cl = calloc(1, sizeof(*cl));
	if (cl == NULL)
		return ENOMEM;
	cl->service = service;
	cl->caller = caller;
	cl->caller_len = strlen(caller);
	cl->timeout_us = timeout_us;
	cl->max_reply = max_reply;
	cl->max_unsent = max_unsent;
	cl->loop = loop;
	cl->early_tail = &cl->early_head;
	cl->turn = loop->ops->timer_new(loop, on_turn, cl);
	cl->deadline = loop->ops->timer_new(loop, on_deadline, cl);
	if (cl->turn == NULL || cl->deadline == NULL) {
		meshi_client_loop_free(cl);
		return ENOMEM;
	}
	*out = cl;
	return 0;
}

/* upconn_revive puts a draining instance back in service (a dial of its url). */
static void upconn_revive(upconn *u)
{
	u->draining = 0;
	u->removing = 0;
	if (u->state == UP_OPEN) {
		u->passes = u->fails = u->unanswered = 0;
		u->health = health_on(u->cl) ? MESH_INSTANCE_STARTING : MESH_INSTANCE_HEALTHY;
	}
	upconn_note(u);
	check_start(u);
}

int meshi_client_loop_dial(meshi_client_loop *cl, const char *url, uid_t uid)
{
	upconn *u, **grown;
	meshi_addr a;
	int err = meshi_addr_parse(url, 0, &a);
	if (err != 0)
		return err;
	if (a.tls && !mesh_tls_enabled())
		return ENOKEY;
	for (size_t i = 0; i < cl->nconns; i++) {
		u = cl->conns[i];
		if (!u->gone && u->draining && strcmp(u->url, url) == 0) {
			u->uid = uid;
			upconn_revive(u);
			return 0;
		}
	}
	u = calloc(1, sizeof(*u));
	grown = realloc(cl->conns, (cl->nconns + 1) * sizeof(*grown));
	if (grown != NULL)
		cl->conns = grown;
	if (u == NULL || grown == NULL || (u->url = strdup(url)) == NULL ||
	    (u->retry = cl->loop->ops->timer_new(cl->loop, upconn_on_retry, u)) == NULL ||
	    (u->check_timer = cl->loop->ops->timer_new(cl->loop, on_check_timer, u)) == NULL) {
		if (u != NULL) {
			if (u->retry != NULL)
				cl->loop->ops->timer_free(cl->loop, u->retry);
			free(u->url);
		}
		free(u);
		return ENOMEM;
	}
	u->cl = cl;
	u->fd = -1;
	u->uid = uid;
	u->addr = a;
	if (a.path != NULL) /* addr points into itself: fix the copy's pointer */
		u->addr.path = ((struct sockaddr_un *)&u->addr.ss)->sun_path;
	u->backoff_ms = CL_RETRY_MIN_MS;
	u->health = MESH_INSTANCE_STARTING;
	u->reported = MESH_INSTANCE_STARTING;
	u->since_us = mesh_now_us();
	cl->conns[cl->nconns++] = u;
	upconn_connect(u);
	return 0;
}

int meshi_client_loop_set_health(meshi_client_loop *cl, const mesh_health_opts *opts)
{
	mesh_health_opts h = opts != NULL ? *opts : (mesh_health_opts){0};
	int was_on = health_on(cl);
	if (h.interval_ms < 0 || h.timeout_ms < 0 || h.healthy_threshold < 0 ||
	    h.unhealthy_threshold < 0 || h.grace_ms < 0)
		return EINVAL;
	if (h.timeout_ms == 0)
		h.timeout_ms = h.interval_ms < CL_HEALTH_TIMEOUT_MAX_MS ? h.interval_ms
									: CL_HEALTH_TIMEOUT_MAX_MS;
	if (h.healthy_threshold == 0)
		h.healthy_threshold = CL_HEALTHY_THRESHOLD;
	if (h.unhealthy_threshold == 0)
		h.unhealthy_threshold = CL_UNHEALTHY_THRESHOLD;
	cl->health = h;
	for (size_t i = 0; i < cl->nconns; i++) {
		upconn *u = cl->conns[i];
		if (u->gone)
			continue;
		if (!health_on(cl)) {
			/* off: every connected instance is eligible again */
			check_cancel(u);
			u->health = MESH_INSTANCE_HEALTHY;
		} else if (!was_on) {
			/* on: connected instances keep their traffic while the checks begin */
			u->passes = u->fails = u->unanswered = 0;
			check_start(u);
		} else if (u->state == UP_OPEN && !u->draining && u->check == NULL) {
			check_schedule(u); /* the next check by the new interval */
		}
		upconn_note(u);
	}
	return 0;
}

int meshi_client_loop_drain(meshi_client_loop *cl, const char *url, int undial)
{
	int found = 0;
	for (size_t i = 0; i < cl->nconns; i++) {
		upconn *u = cl->conns[i];
		if (u->gone || strcmp(u->url, url) != 0)
			continue;
		found = 1;
		u->draining = 1;
		check_cancel(u);
		upconn_note(u);
		if (undial) {
			u->removing = 1;
			if (u->inflight == 0)
				upconn_close(u);
		}
	}
	return found ? 0 : ENOENT;
}

size_t meshi_client_loop_instance_info(const meshi_client_loop *cl, mesh_instance_info *out,
				       size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < cl->nconns; i++) {
		const upconn *u = cl->conns[i];
		if (u->gone)
			continue;
		if (n < max) {
			mesh_instance_info *info = &out[n];
			memset(info, 0, sizeof(*info));
			snprintf(info->url, sizeof(info->url), "%s", u->url);
			info->state = u->reported;
			info->inflight = u->inflight;
			info->calls = u->calls;
			info->errors = u->errors;
			info->since_us = u->since_us;
		}
		n++;
	}
	return n;
}

int meshi_client_loop_instances(const meshi_client_loop *cl)
{
	return cl->instances;
}

int meshi_client_loop_inflight(const meshi_client_loop *cl)
{
	return cl->inflight;
}

void meshi_client_loop_free(meshi_client_loop *cl)
{
	if (cl == NULL)
		return;
	for (size_t i = 0; i < cl->nconns; i++)
		upconn_free(cl, cl->conns[i]);
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
