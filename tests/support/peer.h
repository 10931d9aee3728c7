/* peer.h: raw mesh peers for the wire's suites: sockets written and read by hand (the SP
 * greeting, framed calls), to play callers no client library would be; and a Health call from an
 * event-loop client, another caller that checks the server still serves. */
#ifndef CLEAVE_TEST_PEER_H
#define CLEAVE_TEST_PEER_H

#include <stddef.h>
#include <stdint.h>

#include "mesh.h"
#include "mesh.pb-c.h"
#include "sp.h"

/* peer_ipc connects to the unix socket at path. Returns a non-blocking socket (the caller's to
 * close), or -1 with errno set when it does not connect at once (EAGAIN: the backlog is full). */
int peer_ipc(const char *path);

/* peer_tcp connects to 127.0.0.1:port (waiting for it), then makes the socket non-blocking.
 * Returns it (the caller's to close), or -1 with errno set. */
int peer_tcp(int port);

/* peer_send writes len bytes of data to the non-blocking socket fd, waiting up to timeout_ms for
 * room. Returns 0, or -1 if the connection failed or stayed full. data stays the caller's. */
int peer_send(int fd, const void *data, size_t len, int timeout_ms);

/* peer_greet sends a REQ socket's SP greeting. Returns 0 or -1. */
int peer_greet(int fd);

/* peer_call_frame writes into out (cap bytes) one framed mesh.Call of service's method, with SP
 * request id id and payload (payload_len bytes, may be NULL). Returns its length, or 0 if it does
 * not fit. Everything given stays the caller's. */
size_t peer_call_frame(uint8_t *out, size_t cap, meshi_sp_framing framing, uint32_t id,
		       const char *service, const char *method, const uint8_t *payload,
		       size_t payload_len);

/* peer_health_frame is peer_call_frame of mesh.Mesh/Health with a payload of pad zero bytes
 * (Health does not read it). */
size_t peer_health_frame(uint8_t *out, size_t cap, meshi_sp_framing framing, uint32_t id,
			 size_t pad);

/* peer_closed waits up to timeout_ms for the server to close fd, reading (and dropping) what it
 * sends meanwhile. Returns 1 if it closed. */
int peer_closed(int fd, int timeout_ms);

/* peer_reader: what a peer read of the server's stream: its greeting, then reply frames. */
typedef struct peer_reader {
	uint8_t *buf; /* owned; peer_reader_fini frees it */
	size_t len, cap;
	int greeted;
	mesh_status last; /* the status of the last reply read */
} peer_reader;

/* peer_read_replies reads fd until want more whole replies arrived (their status in r->last),
 * for up to timeout_ms. Returns how many arrived, or -1 if the connection closed first. */
int peer_read_replies(int fd, peer_reader *r, meshi_sp_framing framing, int want, int timeout_ms);

/* peer_reader_fini frees what r holds. */
void peer_reader_fini(peer_reader *r);

/* peer_health calls mesh.Mesh/Health at url from an event-loop client claiming to be "meshctl"
 * (the operator as root on ipc://, or as the claim of a process of the same user), within
 * timeout_ms: another caller than the peers, and not one on nng's threads, whose REQ side can
 * wedge when servers close its connections (README). Returns 1 with the server's wire counters
 * in *wire (when not NULL and Health gave them), or 0 with the reason in why. */
int peer_health(const char *url, int timeout_ms, Mesh__WireStats *wire, char *why, size_t whylen);

#endif
