/* https.h: the edge's HTTPS: the TLS context of its API listener, reloaded as its files change. */
#ifndef CLEAVE_EDGE_HTTPS_H
#define CLEAVE_EDGE_HTTPS_H

#include <stddef.h>

#include <h2o.h>

typedef struct edge_https edge_https;

/* EDGE_HTTPS_POLL_MS: how often the certificate's and key's files are looked at (stat). A
 * change is loaded once both have stayed the same for one more look, so a pair replaced one
 * file after the other is read as a pair: a new certificate is served 1 to 2 looks after its
 * files last changed. */
#define EDGE_HTTPS_POLL_MS 1000

/* edge_https_new reads the PEM certificate chain at cert_path (the server's certificate first,
 * then its intermediates) and the PEM private key at key_path (unencrypted; one file may hold
 * both) into a TLS server context: TLS 1.2 and 1.3, forward-secret AEAD ciphers only, ALPN
 * offering h2 then http/1.1. The paths are copied. Returns 0 with *out the caller's, to free
 * with edge_https_free, or -1 with the reason in err (a file missing or unreadable, no
 * certificate or key in it, a key that is not the certificate's, a certificate not valid now). */
int edge_https_new(edge_https **out, const char *cert_path, const char *key_path, char *err,
		   size_t errlen);

/* edge_https_describe writes what h serves ("CN=edge, serial 5F..., valid until
 * 2027-01-01T00:00:00Z") to out. */
void edge_https_describe(const edge_https *h, char *out, size_t outlen);

/* edge_https_watch starts watching h's files on loop, every EDGE_HTTPS_POLL_MS, and SIGHUP
 * (which the caller must have blocked in every thread before any started): either loads the
 * files again. A pair that loads replaces the context for the connections accepted afterwards
 * (those open keep theirs); one that does not is refused with a line on stderr, and the context
 * in use kept. Returns 0, or -1 with the reason in err. loop is borrowed until edge_https_free. */
int edge_https_watch(edge_https *h, h2o_evloop_t *loop, char *err, size_t errlen);

/* edge_https_reload loads h's files again now, as SIGHUP does, and logs the outcome. Returns 0
 * if the new pair is in use, -1 if it was refused (the old one kept). */
int edge_https_reload(edge_https *h, const char *why);

/* edge_https_ctx returns the context to accept a connection with, adding a reference the caller
 * owns (SSL_CTX_free drops it): a connection keeps the context it was accepted with for its
 * life, whatever reloads come meanwhile. */
SSL_CTX *edge_https_ctx(edge_https *h);

/* edge_https_free stops watching and drops h's reference to its context (connections still
 * open hold their own). NULL does nothing. */
void edge_https_free(edge_https *h);

#endif
