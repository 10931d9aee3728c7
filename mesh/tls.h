/* tls.h: mutual TLS for the loop transports (tls+tcp://): the process's certificate, and one
 * connection's non-blocking handshake and I/O over OpenSSL. */
#ifndef CLEAVE_MESH_TLS_H
#define CLEAVE_MESH_TLS_H

#include <stddef.h>

#include "bytes.h"

/* TLS_NAME_MAX: the longest certificate CN (an identity) a connection accepts, NUL included. */
#define TLS_NAME_MAX 64

/* meshi_tls_url says whether url is a tls+tcp:// url. */
int meshi_tls_url(const char *url);

/* meshi_tls_nng_config makes an nng TLS configuration of the process's certificate that requires
 * the peer's to be signed by the CA: for a server (server 1) or a client, which with name not
 * NULL also requires the server's certificate to name it (a DNS name, else the CN). On success
 * *out is the caller's, to free with nng_tls_config_free once a listener or dialer holds it.
 * Returns 0 or an nng error number (NNG_EINVAL: TLS is not configured). */
struct nng_tls_config;
int meshi_tls_nng_config(struct nng_tls_config **out, int server, const char *name);

/* meshi_tls_conn: TLS on one connected socket; it does not own the socket. */
typedef struct meshi_tls_conn meshi_tls_conn;

/* meshi_tls_conn_new starts TLS on the non-blocking socket fd with the process's configuration
 * (mesh_tls_configure): as the server (server 1: a client certificate signed by the CA is
 * required) or the client (the server's certificate must be signed by the CA and, when expect
 * is not NULL, carry the CN expect; expect is copied). Returns the connection, the caller's
 * to free with meshi_tls_conn_free, or NULL (TLS is not configured, or memory ran out). */
meshi_tls_conn *meshi_tls_conn_new(int fd, int server, const char *expect);

/* meshi_tls_conn_handshake advances the handshake. Returns 1 when it is done (the peer is
 * verified), 0 when it waits for the socket (meshi_tls_conn_wants_write says for which direction),
 * -1 when it failed (meshi_tls_conn_error says why). */
int meshi_tls_conn_handshake(meshi_tls_conn *t);

/* meshi_tls_conn_wants_write says whether the last operation waits for the socket to be writable
 * (else readable). */
int meshi_tls_conn_wants_write(const meshi_tls_conn *t);

/* meshi_tls_conn_error returns why the handshake or I/O failed; the connection's string. */
const char *meshi_tls_conn_error(const meshi_tls_conn *t);

/* meshi_tls_conn_peer returns the verified peer certificate's CN once the handshake is done; the
 * connection's string. */
const char *meshi_tls_conn_peer(const meshi_tls_conn *t);

/* meshi_tls_conn_read is meshi_bytes_read_from over TLS: it appends the plaintext that arrived.
 * Returns 1 if it read something, 0 if nothing, -1 when the peer closed (errno 0) or on an error.
 */
int meshi_tls_conn_read(meshi_tls_conn *t, meshi_bytes *b);

/* meshi_tls_conn_read_max is meshi_tls_conn_read appending at most max bytes (max > 0). It may
 * then leave plaintext inside OpenSSL that no event will announce: *more is set to 1 when it
 * stopped at max, so the caller reads again soon. Returns as meshi_tls_conn_read. */
int meshi_tls_conn_read_max(meshi_tls_conn *t, meshi_bytes *b, size_t max, int *more);

/* meshi_tls_conn_write is meshi_bytes_write_to over TLS. Returns 0 when all is sent, 1 if the
 * socket is full, -1 on an error. */
int meshi_tls_conn_write(meshi_tls_conn *t, meshi_bytes *b);

/* meshi_tls_conn_free frees the TLS state; the socket stays open (its owner closes it). */
void meshi_tls_conn_free(meshi_tls_conn *t);

#endif
