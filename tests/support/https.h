/* https.h: HTTPS for tests: certificates, an edge serving HTTPS, raw TLS connections (OpenSSL). */
#ifndef CLEAVE_TEST_HTTPS_H
#define CLEAVE_TEST_HTTPS_H

#include <stddef.h>
#include <sys/types.h>

/* https_certs runs `meshctl certs --dir dir NAME...` for names (NULL-terminated): a CA
 * (dir/ca.crt) and, per name, dir/NAME.crt (CN=NAME, subjectAltName DNS:NAME, a random serial)
 * and dir/NAME.key. Returns 0, or -1 with the reason on stderr. */
int https_certs(const char *dir, const char *const *names);

/* https_copy_atomic copies the file at from to to by writing to.tmp and renaming it over to, as
 * a deployment replaces a certificate. Returns 0 or -1. */
int https_copy_atomic(const char *from, const char *to);

/* https_edge: an edge serving HTTPS, started by https_edge_start. */
typedef struct https_edge {
	pid_t pid;	  /* 0 when not running */
	int port;	  /* its HTTPS port on 127.0.0.1 */
	char log[256];	  /* its stdout and stderr */
	char base[64];	  /* "https://edge:PORT": the name its certificate is for (see resolve) */
	char resolve[64]; /* "edge:PORT:127.0.0.1", for http_options.resolve */
} https_edge;

/* https_edge_start starts build/edge on a free port of 127.0.0.1, with the services of the mesh
 * whose sockets are in run_dir (a fixture_mesh's dir), serving HTTPS with cert and key, its
 * output to log, extra (NULL-terminated, may be NULL) added to its options, and waits for its
 * "listening on https://" line. Every string is borrowed for the call. Returns 0, or -1 with
 * the reason on stderr (the process stopped again). */
int https_edge_start(https_edge *e, const char *run_dir, const char *cert, const char *key,
		     const char *log, const char *const *extra);

/* https_edge_stop stops e with SIGTERM and says whether it exited with status 0. */
int https_edge_stop(https_edge *e);

/* https_peer: what a TLS handshake settled. */
typedef struct https_peer {
	char cn[128];	  /* the server certificate's subject CN */
	char serial[80];  /* its serial number, hex */
	char alpn[32];	  /* the protocol ALPN selected, "" for none */
	char version[16]; /* "TLSv1.3" */
} https_peer;

typedef struct https_conn https_conn;

/* https_conn_open connects to 127.0.0.1:port and completes a TLS handshake with SNI sni (NULL:
 * none), offering the ALPN protocols of alpn (comma-separated, e.g. "h2,http/1.1"; NULL: no
 * ALPN), TLS up to max_version (0: any; TLS1_2_VERSION...), trusting any certificate (the tests
 * read what was served). Returns the connection, the caller's to close with https_conn_close,
 * or NULL with the reason in err. */
https_conn *https_conn_open(int port, const char *sni, const char *alpn, int max_version, char *err,
			    size_t errlen);

/* https_conn_peer fills *out with what c's handshake settled. */
void https_conn_peer(https_conn *c, https_peer *out);

/* https_conn_send sends len bytes on c. Returns 0 or -1. */
int https_conn_send(https_conn *c, const void *bytes, size_t len);

/* https_conn_read reads from c until what it read holds until (NULL: read on), the server
 * closes (then *closed is 1; closed may be NULL) or timeout_ms passes. Returns what it read,
 * malloc'd and NUL-terminated (never NULL), its length in *len (may be NULL). */
char *https_conn_read(https_conn *c, int timeout_ms, const char *until, size_t *len, int *closed);

/* https_conn_close closes c; NULL does nothing. */
void https_conn_close(https_conn *c);

/* https_handshake opens a connection as https_conn_open does, fills *out and closes it. Returns
 * 0, or -1 with the reason in err. */
int https_handshake(int port, const char *sni, const char *alpn, int max_version, https_peer *out,
		    char *err, size_t errlen);

/* https_raw sends bytes over a new TLS connection (ALPN alpn, as https_conn_open) and reads until
 * the server closes or timeout_ms passes. Returns the answer (malloc'd, NUL-terminated) and its
 * length in *len (may be NULL), or NULL if the handshake failed. */
char *https_raw(int port, const char *alpn, const void *bytes, size_t len, int timeout_ms,
		size_t *outlen);

#endif
