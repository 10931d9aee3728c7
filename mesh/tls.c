/* tls.c: mutual TLS over OpenSSL for the loop transports: configuration, handshake, I/O. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "mesh.h"
#include "tls.h"

#define TLS_READ_CHUNK 65536
#define TLS_PATH_MAX   4096

/* The process's configuration: set once, before servers and clients are made, then only read. */
static SSL_CTX *tls_server_ctx, *tls_client_ctx;
/* the files' text, for nng (mbed TLS): read at configure time, as a sandbox (runtime/sandbox.h)
 * applied later may not let the process open them again */
static char *tls_cert_pem, *tls_key_pem, *tls_ca_pem;

struct meshi_tls_conn {
	SSL *ssl;
	int server;
	int want_write;
	char expect[TLS_NAME_MAX]; /* the server CN a client wants; "" for any */
	char peer[TLS_NAME_MAX];
	char error[256];
};

int meshi_tls_url(const char *url)
{
	return strncmp(url, "tls+tcp://", 10) == 0;
}

/* tls_err_text writes OpenSSL's first queued error (or what) into out, and clears the queue. */
static void tls_err_text(char *out, size_t outlen, const char *what)
{
	unsigned long e = ERR_get_error();
	if (e != 0) {
		char buf[200];
		ERR_error_string_n(e, buf, sizeof(buf));
		snprintf(out, outlen, "%s: %s", what, buf);
	} else {
		snprintf(out, outlen, "%s", what);
	}
	ERR_clear_error();
}

/* tls_pem: one of the three inputs of mesh_tls_configure: where it came from (a file, or the
 * variable that held it) and its PEM text (malloc'd). */
typedef struct tls_pem {
	const char *from;
	char *text;
} tls_pem;

/* tls_no_password is the password callback of every PEM read: nothing is ever prompted for, so
 * an encrypted key does not load. */
static int tls_no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

/* tls_use_chain makes the first certificate of pem the context's own and the rest its chain, as
 * SSL_CTX_use_certificate_chain_file does with a file. Returns 1 or 0. */
static int tls_use_chain(SSL_CTX *ctx, const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b != NULL ? PEM_read_bio_X509_AUX(b, NULL, tls_no_password, NULL) : NULL;
	int ok = x != NULL && SSL_CTX_use_certificate(ctx, x) == 1;
	X509_free(x);
	while (ok && (x = PEM_read_bio_X509(b, NULL, tls_no_password, NULL)) != NULL)
		if ((ok = SSL_CTX_add0_chain_cert(ctx, x)) != 1)
			X509_free(x); /* else the context's */
	BIO_free(b);
	if (ok)
		ERR_clear_error(); /* the end of the text */
	return ok;
}

/* tls_use_key makes the key in pem the context's own. Returns 1 or 0. */
static int tls_use_key(SSL_CTX *ctx, const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *key = b != NULL ? PEM_read_bio_PrivateKey(b, NULL, tls_no_password, NULL) : NULL;
	int ok = key != NULL && SSL_CTX_use_PrivateKey(ctx, key) == 1;
	EVP_PKEY_free(key);
	BIO_free(b);
	return ok;
}

/* tls_use_cas trusts every certificate of pem (at least one) for verifying peers and, on a
 * server, names them to clients as the CAs it accepts. Returns 1 or 0. */
static int tls_use_cas(SSL_CTX *ctx, int server, const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	X509 *x;
	int n = 0, ok = b != NULL;
	while (ok && (x = PEM_read_bio_X509(b, NULL, tls_no_password, NULL)) != NULL) {
		ok = X509_STORE_add_cert(store, x) == 1 &&
		     (!server || SSL_CTX_add_client_CA(ctx, x) == 1);
		X509_free(x);
		n++;
	}
	BIO_free(b);
	if (ok && n > 0)
		ERR_clear_error(); /* the end of the text */
	return ok && n > 0;
}

/* tls_ctx_new makes a context that presents cert/key and verifies its peer against ca. */
static SSL_CTX *tls_ctx_new(int server, const tls_pem *cert, const tls_pem *key, const tls_pem *ca,
			    char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	char what[2 * TLS_PATH_MAX + 64];
	if (ctx == NULL) {
		tls_err_text(err, errlen, "cannot make a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* the peer is verified in both directions, always; a server also requires a certificate */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
			   NULL);
	/* the buffer of a retried write may have moved (meshi_bytes_reserve), and writes may be
	 * partial
	 */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* no session tickets: nothing is written after the handshake but the stream itself */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	if (server)
		SSL_CTX_set_num_tickets(ctx, 0);
	snprintf(what, sizeof(what), "certificate %s", cert->from);
	if (tls_use_chain(ctx, cert->text) != 1)
		goto fail;
	snprintf(what, sizeof(what), "key %s", key->from);
	if (tls_use_key(ctx, key->text) != 1) {
		if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
			snprintf(what, sizeof(what), "key %s does not match certificate %s",
				 key->from, cert->from);
		goto fail;
	}
	snprintf(what, sizeof(what), "key %s does not match certificate %s", key->from, cert->from);
	if (SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	snprintf(what, sizeof(what), "CA bundle %s", ca->from);
	if (tls_use_cas(ctx, server, ca->text) != 1)
		goto fail;
	ERR_clear_error();
	return ctx;
fail:
	tls_err_text(err, errlen, what);
	SSL_CTX_free(ctx);
	return NULL;
}

/* tls_pick returns flag if given, else the environment variable env, else NULL. */
static const char *tls_pick(const char *flag, const char *env)
{
	const char *v = flag != NULL ? flag : getenv(env);
	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* tls_read_file returns the text of the file at path (malloc'd, the caller's), or NULL with a
 * reason in err. */
static char *tls_read_file(const char *path, char *err, size_t errlen)
{
	FILE *f;
	char *text = NULL;
	long len;
	errno = 0;
	f = fopen(path, "r");
	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || len > (1 << 20) ||
	    fseek(f, 0, SEEK_SET) != 0 || (text = malloc((size_t)len + 1)) == NULL ||
	    fread(text, 1, (size_t)len, f) != (size_t)len) {
		snprintf(err, errlen, "cannot read %s: %s", path,
			 errno != 0 ? strerror(errno) : "too large");
		free(text);
		if (f != NULL)
			fclose(f);
		return NULL;
	}
	fclose(f);
	text[len] = '\0';
	return text;
}

/* tls_pem_get fills p from the file flag names, else the file the variable env names, else the
 * text of the variable env_pem (for platforms whose secret stores hand out variables, not
 * files); p->text stays NULL when none is given. Returns 0, or EINVAL with a reason in err. */
static int tls_pem_get(tls_pem *p, const char *flag, const char *env, const char *env_pem,
		       char *err, size_t errlen)
{
	const char *path = tls_pick(flag, env), *text = tls_pick(NULL, env_pem);
	p->from = path != NULL ? path : env_pem;
	p->text = NULL;
	if (path != NULL && strlen(path) >= TLS_PATH_MAX) {
		snprintf(err, errlen, "a TLS file's path is too long");
		return EINVAL;
	}
	if (path != NULL)
		p->text = tls_read_file(path, err, errlen);
	else if (text != NULL && (p->text = strdup(text)) == NULL)
		snprintf(err, errlen, "out of memory");
	return (path != NULL || text != NULL) && p->text == NULL ? EINVAL : 0;
}

/* tls_pem_free frees p's text, wiping it first (it may be a key). */
static void tls_pem_free(tls_pem *p)
{
	if (p->text != NULL)
		OPENSSL_cleanse(p->text, strlen(p->text));
	free(p->text);
	p->text = NULL;
}

int mesh_tls_configure(const char *cert, const char *key, const char *ca, char *err, size_t errlen)
{
	SSL_CTX *server = NULL, *client = NULL;
	tls_pem pc, pk, pa;
	int rv = EINVAL;
	pk.text = pa.text = NULL;
	if (tls_pem_get(&pc, cert, "CLEAVE_TLS_CERT", "CLEAVE_TLS_CERT_PEM", err, errlen) != 0 ||
	    tls_pem_get(&pk, key, "CLEAVE_TLS_KEY", "CLEAVE_TLS_KEY_PEM", err, errlen) != 0 ||
	    tls_pem_get(&pa, ca, "CLEAVE_TLS_CA", "CLEAVE_TLS_CA_PEM", err, errlen) != 0)
		goto out_free_pems;
	if (pc.text == NULL && pk.text == NULL && pa.text == NULL) {
		rv = 0;
		goto out_free_pems;
	}
	if (pc.text == NULL || pk.text == NULL || pa.text == NULL) {
		snprintf(
		    err, errlen,
		    "TLS needs all three of --tls-cert, --tls-key and --tls-ca (or "
		    "CLEAVE_TLS_CERT, CLEAVE_TLS_KEY, CLEAVE_TLS_CA, or their text in "
		    "CLEAVE_TLS_CERT_PEM, CLEAVE_TLS_KEY_PEM, CLEAVE_TLS_CA_PEM); %s is missing",
		    pc.text == NULL   ? "the certificate"
		    : pk.text == NULL ? "the key"
				      : "the CA");
		goto out_free_pems;
	}
	if ((server = tls_ctx_new(1, &pc, &pk, &pa, err, errlen)) == NULL ||
	    (client = tls_ctx_new(0, &pc, &pk, &pa, err, errlen)) == NULL) {
		SSL_CTX_free(server);
		goto out_free_pems;
	}
	SSL_CTX_free(tls_server_ctx);
	SSL_CTX_free(tls_client_ctx);
	free(tls_cert_pem);
	if (tls_key_pem != NULL)
		OPENSSL_cleanse(tls_key_pem, strlen(tls_key_pem));
	free(tls_key_pem);
	free(tls_ca_pem);
	tls_server_ctx = server;
	tls_client_ctx = client;
	/* kept for nng (mbed TLS), which is configured from the text */
	tls_cert_pem = pc.text;
	tls_key_pem = pk.text;
	tls_ca_pem = pa.text;
	return 0;
out_free_pems:
	tls_pem_free(&pc);
	tls_pem_free(&pk);
	tls_pem_free(&pa);
	return rv;
}

int mesh_tls_enabled(void)
{
	return tls_server_ctx != NULL;
}

int meshi_tls_nng_config(nng_tls_config **out, int server, const char *name)
{
	nng_tls_config *cfg;
	int rv;
	if (!mesh_tls_enabled())
		return NNG_EINVAL;
	if ((rv = nng_tls_config_alloc(&cfg, server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT)) !=
	    0)
		return rv;
	if ((rv = nng_tls_config_version(cfg, NNG_TLS_1_2, NNG_TLS_1_3)) != 0 ||
	    (rv = nng_tls_config_own_cert(cfg, tls_cert_pem, tls_key_pem, NULL)) != 0 ||
	    (rv = nng_tls_config_ca_chain(cfg, tls_ca_pem, NULL)) != 0 ||
	    (rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED)) != 0 ||
	    (name != NULL && (rv = nng_tls_config_server_name(cfg, name)) != 0)) {
		nng_tls_config_free(cfg);
		return rv;
	}
	*out = cfg;
	return 0;
}

int mesh_tls_check_url(const char *url, char *err, size_t errlen)
{
	if (!meshi_tls_url(url) || mesh_tls_enabled())
		return 0;
	snprintf(err, errlen,
		 "%s needs a certificate: give --tls-cert, --tls-key and --tls-ca (or set "
		 "CLEAVE_TLS_CERT, CLEAVE_TLS_KEY, CLEAVE_TLS_CA; meshctl certs makes them)",
		 url);
	return ENOKEY;
}

meshi_tls_conn *meshi_tls_conn_new(int fd, int server, const char *expect)
{
	meshi_tls_conn *t;
	SSL_CTX *ctx = server ? tls_server_ctx : tls_client_ctx;
	if (ctx == NULL || (t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->server = server;
	if (expect != NULL)
		snprintf(t->expect, sizeof(t->expect), "%s", expect);
	t->ssl = SSL_new(ctx);
	if (t->ssl == NULL || SSL_set_fd(t->ssl, fd) != 1) {
		SSL_free(t->ssl);
		free(t);
		ERR_clear_error();
		return NULL;
	}
	if (server) {
		SSL_set_accept_state(t->ssl);
	} else {
		SSL_set_connect_state(t->ssl);
		if (t->expect[0] != '\0')
			SSL_set_tlsext_host_name(t->ssl, t->expect);
	}
	return t;
}

/* tls_peer_cn reads the verified peer certificate's CN into t->peer. Returns 0 or -1. */
static int tls_peer_cn(meshi_tls_conn *t)
{
	X509 *cert = SSL_get1_peer_certificate(t->ssl);
	X509_NAME *subject;
	int n;
	if (cert == NULL) {
		snprintf(t->error, sizeof(t->error), "the peer showed no certificate");
		return -1;
	}
	if (SSL_get_verify_result(t->ssl) != X509_V_OK) {
		snprintf(t->error, sizeof(t->error), "the peer's certificate is not verified: %s",
			 X509_verify_cert_error_string(SSL_get_verify_result(t->ssl)));
		X509_free(cert);
		return -1;
	}
	subject = X509_get_subject_name(cert);
	n = X509_NAME_get_text_by_NID(subject, NID_commonName, t->peer, sizeof(t->peer));
	X509_free(cert);
	if (n <= 0 || (size_t)n >= sizeof(t->peer) || strlen(t->peer) != (size_t)n) {
		t->peer[0] = '\0';
		snprintf(t->error, sizeof(t->error),
			 "the peer's certificate has no usable CN (1 to %d bytes)",
			 TLS_NAME_MAX - 1);
		return -1;
	}
	return 0;
}

/* tls_failed records why an SSL call that returned rv failed. Returns 0 when it only waits for
 * the socket, -1 otherwise. */
static int tls_failed(meshi_tls_conn *t, int rv, const char *what)
{
	int e = SSL_get_error(t->ssl, rv);
	t->want_write = e == SSL_ERROR_WANT_WRITE;
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
		snprintf(t->error, sizeof(t->error), "%s: %s", what,
			 errno != 0 ? strerror(errno) : "the peer closed the connection");
	else if (e == SSL_ERROR_ZERO_RETURN)
		snprintf(t->error, sizeof(t->error), "%s: the peer closed TLS", what);
	else if (e == SSL_ERROR_SSL && SSL_get_verify_result(t->ssl) != X509_V_OK) {
		snprintf(t->error, sizeof(t->error), "%s: the peer's certificate: %s", what,
			 X509_verify_cert_error_string(SSL_get_verify_result(t->ssl)));
		ERR_clear_error();
	} else
		tls_err_text(t->error, sizeof(t->error), what);
	return -1;
}

int meshi_tls_conn_handshake(meshi_tls_conn *t)
{
	int rv;
	ERR_clear_error();
	errno = 0;
	rv = SSL_do_handshake(t->ssl);
	if (rv != 1)
		return tls_failed(t, rv, "TLS handshake") == 0 ? 0 : -1;
	t->want_write = 0;
	if (tls_peer_cn(t) != 0)
		return -1;
	if (!t->server && t->expect[0] != '\0' && strcmp(t->peer, t->expect) != 0) {
		snprintf(t->error, sizeof(t->error),
			 "the server's certificate names '%s', not the service '%s'", t->peer,
			 t->expect);
		return -1;
	}
	return 1;
}

int meshi_tls_conn_wants_write(const meshi_tls_conn *t)
{
	return t->want_write;
}

const char *meshi_tls_conn_error(const meshi_tls_conn *t)
{
	return t->error;
}

const char *meshi_tls_conn_peer(const meshi_tls_conn *t)
{
	return t->peer;
}

int meshi_tls_conn_read(meshi_tls_conn *t, meshi_bytes *b)
{
	int got = 0;
	for (;;) {
		uint8_t *p = meshi_bytes_reserve(b, TLS_READ_CHUNK);
		int n;
		if (p == NULL) {
			errno = ENOMEM;
			return -1;
		}
		ERR_clear_error();
		errno = 0;
		n = SSL_read(t->ssl, p, TLS_READ_CHUNK);
		if (n > 0) {
			meshi_bytes_commit(b, (size_t)n);
			got = 1;
			continue; /* until OpenSSL wants the socket: nothing stays buffered inside
				   */
		}
		if (tls_failed(t, n, "TLS read") == 0)
			return got;
		if (SSL_get_error(t->ssl, n) == SSL_ERROR_ZERO_RETURN)
			errno = 0; /* the peer closed */
		else if (SSL_get_error(t->ssl, n) != SSL_ERROR_SYSCALL)
			errno = EPROTO; /* SYSCALL keeps its errno; 0 is an end of file */
		return -1;
	}
}

int meshi_tls_conn_write(meshi_tls_conn *t, meshi_bytes *b)
{
	while (b->len > 0) {
		int n;
		ERR_clear_error();
		errno = 0;
		n = SSL_write(t->ssl, meshi_bytes_head(b),
			      b->len > INT32_MAX ? INT32_MAX : (int)b->len);
		if (n > 0) {
			meshi_bytes_consume(b, (size_t)n);
			continue;
		}
		if (tls_failed(t, n, "TLS write") == 0)
			return 1;
		if (errno == 0)
			errno = EPROTO;
		return -1;
	}
	return 0;
}

void meshi_tls_conn_free(meshi_tls_conn *t)
{
	if (t == NULL)
		return;
	SSL_free(t->ssl);
	free(t);
}
