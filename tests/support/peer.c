/* peer.c: raw mesh peers written by hand, and Health from an event-loop client, for the wire's
 * suites. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "envelope.h"
#include "harness.h"
#include "peer.h"

int peer_ipc(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd, err;
	if (strlen(path) >= sizeof(a.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(a.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

int peer_tcp(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), err;
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    fcntl(fd, F_SETFL, O_NONBLOCK) != 0) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

int peer_send(int fd, const void *data, size_t len, int timeout_ms)
{
	const uint8_t *p = data;
	long long until = harness_now_ms() + timeout_ms;
	while (len > 0) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (harness_now_ms() >= until)
			return -1;
		poll(&pfd, 1, 50);
	}
	return 0;
}

int peer_greet(int fd)
{
	uint8_t greeting[SP_HANDSHAKE_LEN];
	meshi_sp_handshake(greeting, SP_PROTO_REQ);
	return peer_send(fd, greeting, sizeof(greeting), 2000);
}

size_t peer_call_frame(uint8_t *out, size_t cap, meshi_sp_framing framing, uint32_t id,
		       const char *service, const char *method, const uint8_t *payload,
		       size_t payload_len)
{
	Mesh__Call call = MESH__CALL__INIT;
	size_t body, head = meshi_sp_frame_header_len(framing);
	call.service = (char *)service;
	call.method = (char *)method;
	call.caller = "peer";
	call.timeout_us = 5000000;
	call.payload.data = (uint8_t *)payload;
	call.payload.len = payload_len;
	body = mesh__call__get_packed_size(&call);
	if (head + 4 + body > cap)
		return 0;
	meshi_sp_frame_header(out, framing, 4 + body);
	meshi_sp_put_u32(out + head, id | SP_REQUEST_ID_BIT);
	mesh__call__pack(&call, out + head + 4);
	return head + 4 + body;
}

size_t peer_health_frame(uint8_t *out, size_t cap, meshi_sp_framing framing, uint32_t id,
			 size_t pad)
{
	uint8_t *zeros = pad > 0 ? calloc(1, pad) : NULL;
	size_t n;
	if (pad > 0 && zeros == NULL)
		return 0;
	n = peer_call_frame(out, cap, framing, id, "mesh.Mesh", "Health", zeros, pad);
	free(zeros);
	return n;
}

int peer_closed(int fd, int timeout_ms)
{
	long long until = harness_now_ms() + timeout_ms;
	uint8_t buf[65536];
	while (harness_now_ms() < until) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE)))
			return 1;
	}
	return 0;
}

/* reader_take consumes the greeting and the whole replies r holds, up to want; returns how many
 * replies it took. */
static int reader_take(peer_reader *r, meshi_sp_framing framing, int want)
{
	size_t at = 0;
	int got = 0;
	if (!r->greeted && r->len >= SP_HANDSHAKE_LEN) {
		r->greeted = 1;
		at = SP_HANDSHAKE_LEN;
	}
	while (r->greeted && got < want) {
		const uint8_t *payload;
		size_t payload_len, consumed;
		meshi_envelope_reply reply;
		if (meshi_sp_frame_next(r->buf + at, r->len - at, framing, UINT32_MAX, &payload,
					&payload_len, &consumed) != 1)
			break;
		r->last = payload_len >= 4 && meshi_envelope_reply_read(&reply, payload + 4,
									payload_len - 4) == 0
			      ? reply.status
			      : MESH_UNKNOWN;
		at += consumed;
		got++;
	}
	if (at > 0) {
		memmove(r->buf, r->buf + at, r->len - at);
		r->len -= at;
	}
	return got;
}

int peer_read_replies(int fd, peer_reader *r, meshi_sp_framing framing, int want, int timeout_ms)
{
	long long until = harness_now_ms() + timeout_ms;
	int got = reader_take(r, framing, want);
	while (got < want && harness_now_ms() < until) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;
		if (r->cap - r->len < 65536) {
			size_t cap = r->cap == 0 ? 1 << 17 : r->cap * 2;
			uint8_t *grown = realloc(r->buf, cap);
			if (grown == NULL)
				return -1;
			r->buf = grown;
			r->cap = cap;
		}
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		n = recv(fd, r->buf + r->len, r->cap - r->len, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return -1;
		if (n > 0) {
			r->len += (size_t)n;
			got += reader_take(r, framing, want - got);
		}
	}
	return got;
}

void peer_reader_fini(peer_reader *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/* health_call: the closure_data of peer_health's call; the mesh_rpc comes first. */
typedef struct health_call {
	mesh_rpc rpc;
	int done;
	int has_wire;
	Mesh__WireStats wire;
} health_call;

static void on_health(const Mesh__HealthReply *reply, void *data)
{
	health_call *h = data;
	h->done = 1;
	if (reply != NULL && reply->wire != NULL) {
		h->has_wire = 1;
		h->wire = *reply->wire;
	}
}

int peer_health(const char *url, int timeout_ms, Mesh__WireStats *wire, char *why, size_t whylen)
{
	mesh_client_opts opts = {.caller = "meshctl", .timeout_ms = timeout_ms};
	Mesh__HealthRequest in = MESH__HEALTH_REQUEST__INIT;
	long long until = harness_now_ms() + timeout_ms;
	health_call h;
	mesh_epoll *ep;
	mesh_client *c;
	int ok = 0;
	memset(&h, 0, sizeof(h));
	if (mesh_epoll_new(&ep) != 0) {
		snprintf(why, whylen, "no epoll loop");
		return 0;
	}
	opts.loop = mesh_epoll_loop(ep);
	if (mesh_client_new(&c, &mesh__mesh__descriptor, &opts) != 0) {
		snprintf(why, whylen, "no client");
		mesh_epoll_free(ep);
		return 0;
	}
	if (mesh_client_dial(c, url) != 0) {
		snprintf(why, whylen, "cannot dial %s", url);
		goto out_free;
	}
	while (mesh_client_instances(c) == 0 && harness_now_ms() < until)
		mesh_epoll_run(ep, 10);
	if (mesh_client_instances(c) == 0) {
		snprintf(why, whylen, "no connection to %s within %d ms", url, timeout_ms);
		goto out_free;
	}
	h.rpc.deadline_us = mesh_now_us() + (until - harness_now_ms()) * 1000;
	mesh__mesh__health(mesh_client_service(c), &in, on_health, &h);
	while (!h.done)
		mesh_epoll_run(ep, 10);
	if (h.rpc.status != MESH_OK) {
		snprintf(why, whylen, "Health at %s: %s: %s", url, mesh_status_name(h.rpc.status),
			 h.rpc.message);
		goto out_free;
	}
	if (wire != NULL && !h.has_wire) {
		snprintf(why, whylen, "Health at %s gave no wire counters", url);
		goto out_free;
	}
	if (wire != NULL)
		*wire = h.wire;
	ok = 1;
out_free:
	mesh_client_free(c);
	mesh_epoll_free(ep);
	return ok;
}
