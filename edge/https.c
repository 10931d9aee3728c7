/* https.c: the TLS context of the edge's API listener (OpenSSL), and its reload without restart. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <h2o.h>
#include <h2o/socket/evloop.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "https.h"

/* HTTPS_FILE_MAX: the most bytes of a certificate chain or key file read. */
#define HTTPS_FILE_MAX (1024 * 1024)

/* TLS 1.2's suites: ECDHE key exchange and AEAD ciphers only, the ones HTTP/2 allows (RFC 7540
 * 9.2.2); TLS 1.3 has OpenSSL's defaults, all of them AEAD. */
#define HTTPS_CIPHERS_TLS12                                                                        \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                               \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                               \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* https_alpn: what ALPN offers, in the server's order of preference; h2o's handshake hands a
 * connection that picked h2 to HTTP/2, any other (or none) to HTTP/1.1. */
static const h2o_iovec_t https_alpn[] = {{H2O_STRLIT("h2")}, {H2O_STRLIT("http/1.1")}, {NULL, 0}};

/* https_stamp: what stat says of one file; a change in any field is a change of the file. */
typedef struct https_stamp {
	int err; /* errno of the stat, or 0 */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
} https_stamp;

struct edge_https {
	char *cert_path, *key_path;
	SSL_CTX *ctx;	      /* in use; this reference is h's */
	char about[256];      /* edge_https_describe of ctx */
	https_stamp seen[2];  /* cert, key at the last look */
	https_stamp tried[2]; /* what was last loaded, or refused */
	h2o_evloop_t *loop;
	h2o_timeout_t poll_timeout;
	h2o_timeout_entry_t poll_entry;
	h2o_socket_t *hup_sock; /* the SIGHUP signalfd; NULL until watched */
};

/* https_stamp_of fills *st with what stat says of path. */
static void https_stamp_of(const char *path, https_stamp *st)
{
	struct stat sb;
	memset(st, 0, sizeof(*st));
	if (stat(path, &sb) != 0) {
		st->err = errno;
		return;
	}
	st->dev = sb.st_dev;
	st->ino = sb.st_ino;
	st->size = sb.st_size;
	st->mtime = sb.st_mtim;
	st->ctime = sb.st_ctim;
}

static int https_stamp_same(const https_stamp *a, const https_stamp *b)
{
	return a->err == b->err && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* https_ssl_error writes what (a phrase) and OpenSSL's last error to err, and clears OpenSSL's
 * error queue. */
static void https_ssl_error(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
	snprintf(err, errlen, "%s%s%s", what, reason != NULL ? ": " : "",
		 reason != NULL ? reason : "");
	ERR_clear_error();
}

/* https_read_file reads the regular file at path (at most HTTPS_FILE_MAX bytes) into a new
 * buffer: *out is the caller's, to wipe and free. Returns 0, or -1 with the reason in err. */
static int https_read_file(const char *path, const char *what, char **out, size_t *len, char *err,
			   size_t errlen)
{
	struct stat sb;
	size_t got = 0;
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "cannot read the %s %s: %s", what, path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > HTTPS_FILE_MAX) {
		snprintf(err, errlen, "the %s %s is not a regular file of at most %d bytes", what,
			 path, HTTPS_FILE_MAX);
		close(fd);
		return -1;
	}
	if ((buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return -1;
	}
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "cannot read the %s %s: %s", what, path,
				 n < 0 ? strerror(errno) : "it shrank while read");
			close(fd);
			OPENSSL_cleanse(buf, got);
			free(buf);
			return -1;
		}
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

/* https_no_passphrase is OpenSSL's passphrase callback: there is none to give (OpenSSL's own
 * would prompt on the terminal), so an encrypted key does not load. */
static int https_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

/* https_time writes t as an ISO 8601 UTC time to out. */
static void https_time(const ASN1_TIME *t, char *out, size_t outlen)
{
	struct tm tm;
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1 ||
	    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outlen, "?");
}

/* https_about writes the subject's CN, serial and end of validity of x to out. */
static void https_about(X509 *x, char *out, size_t outlen)
{
	X509_NAME *subject = X509_get_subject_name(x);
	int at = subject != NULL ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1) : -1;
	ASN1_STRING *cn =
	    at >= 0 ? X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at)) : NULL;
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *serial = bn != NULL ? BN_bn2hex(bn) : NULL;
	char until[32];
	https_time(X509_get0_notAfter(x), until, sizeof(until));
	snprintf(out, outlen, "CN=%.*s, serial %s, valid until %s",
		 cn != NULL ? (int)(ASN1_STRING_length(cn) > 64 ? 64 : ASN1_STRING_length(cn)) : 1,
		 cn != NULL ? (const char *)ASN1_STRING_get0_data(cn) : "?",
		 serial != NULL ? serial : "?", until);
	OPENSSL_free(serial);
	BN_free(bn);
}

/* https_use_chain puts the PEM chain (the server's certificate, then its intermediates) of
 * path, len bytes at pem, into ctx, and describes the certificate in about. Returns 0, or -1
 * with the reason in err. */
static int https_use_chain(SSL_CTX *ctx, const char *path, const char *pem, size_t len, char *about,
			   size_t aboutlen, char *err, size_t errlen)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509 *leaf, *x;
	char what[200];
	int rv = -1;
	if (bio == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((leaf = PEM_read_bio_X509_AUX(bio, NULL, https_no_passphrase, NULL)) == NULL) {
		snprintf(what, sizeof(what), "the certificate %.120s holds no PEM certificate",
			 path);
		https_ssl_error(err, errlen, what);
		goto out_free_bio;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(leaf)) <= 0 ||
	    X509_cmp_current_time(X509_get0_notBefore(leaf)) >= 0) {
		char from[32], until[32];
		https_time(X509_get0_notBefore(leaf), from, sizeof(from));
		https_time(X509_get0_notAfter(leaf), until, sizeof(until));
		snprintf(err, errlen, "the certificate %s is not valid now (from %s until %s)",
			 path, from, until);
		goto out_free_leaf;
	}
	if (SSL_CTX_use_certificate(ctx, leaf) != 1) {
		https_ssl_error(err, errlen, "the certificate is refused");
		goto out_free_leaf;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, https_no_passphrase, NULL)) != NULL) {
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			X509_free(x);
			https_ssl_error(err, errlen, "an intermediate certificate is refused");
			goto out_free_leaf;
		}
	}
	/* the chain ends where no more PEM certificates start; anything else is a bad one */
	if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE) {
		https_ssl_error(err, errlen, "an intermediate certificate does not parse");
		goto out_free_leaf;
	}
	ERR_clear_error();
	https_about(leaf, about, aboutlen);
	rv = 0;
out_free_leaf:
	X509_free(leaf);
out_free_bio:
	BIO_free(bio);
	return rv;
}

/* https_use_key puts the PEM private key of path, len bytes at pem, into ctx, which holds its
 * certificate already. Returns 0, or -1 with the reason in err. */
static int https_use_key(SSL_CTX *ctx, const char *path, const char *pem, size_t len, char *err,
			 size_t errlen)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *key;
	char what[200];
	int rv = -1;
	if (bio == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((key = PEM_read_bio_PrivateKey(bio, NULL, https_no_passphrase, NULL)) == NULL) {
		snprintf(what, sizeof(what), "the key %.80s holds no unencrypted PEM private key",
			 path);
		https_ssl_error(err, errlen, what);
		goto out_free_bio;
	}
	if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(what, sizeof(what), "the key %.80s is not the certificate's", path);
		https_ssl_error(err, errlen, what);
		goto out_free_key;
	}
	rv = 0;
out_free_key:
	EVP_PKEY_free(key);
out_free_bio:
	BIO_free(bio);
	return rv;
}

/* https_ctx_load makes a server context from the files at cert_path and key_path and describes
 * its certificate in about. Returns it (one reference, the caller's), or NULL with the reason
 * in err. */
static SSL_CTX *https_ctx_load(const char *cert_path, const char *key_path, char *about,
			       size_t aboutlen, char *err, size_t errlen)
{
	char *cert = NULL, *key = NULL;
	size_t cert_len = 0, key_len = 0;
	SSL_CTX *ctx;
	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		https_ssl_error(err, errlen, "cannot make a TLS context");
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, HTTPS_CIPHERS_TLS12) != 1) {
		https_ssl_error(err, errlen, "cannot set the TLS versions and ciphers");
		goto out_free_ctx;
	}
	/* the server picks the cipher; no compression (CRIME), no renegotiation (h2o 2.2 closes a
	 * connection that tries); idle connections give their buffers back */
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
				     SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_default_passwd_cb(ctx, https_no_passphrase);
	if (https_read_file(cert_path, "certificate", &cert, &cert_len, err, errlen) != 0 ||
	    https_read_file(key_path, "key", &key, &key_len, err, errlen) != 0 ||
	    https_use_chain(ctx, cert_path, cert, cert_len, about, aboutlen, err, errlen) != 0 ||
	    https_use_key(ctx, key_path, key, key_len, err, errlen) != 0)
		goto out_free_ctx;
	h2o_ssl_register_alpn_protocols(ctx, https_alpn);
	free(cert);
	OPENSSL_cleanse(key, key_len);
	free(key);
	return ctx;

out_free_ctx:
	free(cert);
	if (key != NULL)
		OPENSSL_cleanse(key, key_len);
	free(key);
	SSL_CTX_free(ctx);
	return NULL;
}

int edge_https_new(edge_https **out, const char *cert_path, const char *key_path, char *err,
		   size_t errlen)
{
	edge_https *h = calloc(1, sizeof(*h));
	if (h == NULL || (h->cert_path = strdup(cert_path)) == NULL ||
	    (h->key_path = strdup(key_path)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out_free;
	}
	/* the stamps first: a change while the files are read is seen at the next look */
	https_stamp_of(h->cert_path, &h->seen[0]);
	https_stamp_of(h->key_path, &h->seen[1]);
	memcpy(h->tried, h->seen, sizeof(h->tried));
	h->ctx = https_ctx_load(h->cert_path, h->key_path, h->about, sizeof(h->about), err, errlen);
	if (h->ctx == NULL)
		goto out_free;
	*out = h;
	return 0;
out_free:
	if (h != NULL) {
		free(h->cert_path);
		free(h->key_path);
	}
	free(h);
	return -1;
}

void edge_https_describe(const edge_https *h, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s", h->about);
}

int edge_https_reload(edge_https *h, const char *why)
{
	char about[sizeof(h->about)], err[512];
	SSL_CTX *ctx;
	https_stamp_of(h->cert_path, &h->tried[0]);
	https_stamp_of(h->key_path, &h->tried[1]);
	ctx = https_ctx_load(h->cert_path, h->key_path, about, sizeof(about), err, sizeof(err));
	if (ctx == NULL) {
		fprintf(stderr,
			"edge: https: %s: the new certificate and key are refused, the ones in use "
			"kept (%s): %s\n",
			why, h->about, err);
		return -1;
	}
	SSL_CTX_free(h->ctx); /* the connections accepted with it hold their own references */
	h->ctx = ctx;
	snprintf(h->about, sizeof(h->about), "%s", about);
	fprintf(stderr, "edge: https: %s: now serving %s\n", why, h->about);
	return 0;
}

/* https_on_poll looks at the files; a change that has lasted since the last look is loaded. */
static void https_on_poll(h2o_timeout_entry_t *entry)
{
	edge_https *h = (edge_https *)((char *)entry - offsetof(edge_https, poll_entry));
	https_stamp now[2];
	https_stamp_of(h->cert_path, &now[0]);
	https_stamp_of(h->key_path, &now[1]);
	if (https_stamp_same(&now[0], &h->seen[0]) && https_stamp_same(&now[1], &h->seen[1]) &&
	    (!https_stamp_same(&now[0], &h->tried[0]) || !https_stamp_same(&now[1], &h->tried[1])))
		edge_https_reload(h, "the files changed");
	memcpy(h->seen, now, sizeof(h->seen));
	h2o_timeout_link(h->loop, &h->poll_timeout, &h->poll_entry);
}

/* https_on_sighup reloads at once, changed or not. */
static void https_on_sighup(h2o_socket_t *sock, const char *err)
{
	edge_https *h = sock->data;
	struct signalfd_siginfo info;
	int got = 0;
	while (read(h2o_socket_get_fd(sock), &info, sizeof(info)) == sizeof(info))
		got = 1;
	if (got)
		edge_https_reload(h, "SIGHUP");
}

int edge_https_watch(edge_https *h, h2o_evloop_t *loop, char *err, size_t errlen)
{
	sigset_t hup;
	int fd;
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	if ((fd = signalfd(-1, &hup, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		snprintf(err, errlen, "cannot watch SIGHUP: %s", strerror(errno));
		return -1;
	}
	h->loop = loop;
	h->hup_sock = h2o_evloop_socket_create(loop, fd, H2O_SOCKET_FLAG_DONT_READ);
	h->hup_sock->data = h;
	h2o_socket_read_start(h->hup_sock, https_on_sighup);
	h2o_timeout_init(loop, &h->poll_timeout, EDGE_HTTPS_POLL_MS);
	h->poll_entry.cb = https_on_poll;
	h2o_timeout_link(loop, &h->poll_timeout, &h->poll_entry);
	return 0;
}

SSL_CTX *edge_https_ctx(edge_https *h)
{
	SSL_CTX_up_ref(h->ctx);
	return h->ctx;
}

void edge_https_free(edge_https *h)
{
	if (h == NULL)
		return;
	if (h->loop != NULL) {
		if (h2o_timeout_is_linked(&h->poll_entry))
			h2o_timeout_unlink(&h->poll_entry);
		h2o_timeout_dispose(h->loop, &h->poll_timeout);
		h2o_socket_read_stop(h->hup_sock);
		h2o_socket_close(h->hup_sock); /* closes the signalfd */
	}
	SSL_CTX_free(h->ctx);
	free(h->cert_path);
	free(h->key_path);
	free(h);
}
