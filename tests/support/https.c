/* https.c: HTTPS for tests: meshctl certs, an HTTPS edge beside a fixture's, raw TLS (OpenSSL). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "harness.h"
#include "https.h"

struct https_conn {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
};

int https_certs(const char *dir, const char *const *names)
{
	char exe[256], log[300];
	char *argv[16];
	int argc = 0, status;
	pid_t pid;
	snprintf(exe, sizeof(exe), "%s/meshctl", CLEAVE_BUILD_DIR);
	snprintf(log, sizeof(log), "%s.log", dir);
	argv[argc++] = exe;
	argv[argc++] = "certs";
	argv[argc++] = "--dir";
	argv[argc++] = (char *)dir;
	for (; *names != NULL && argc < 15; names++)
		argv[argc++] = (char *)*names;
	argv[argc] = NULL;
	if ((pid = harness_spawn(argv, log)) < 0)
		return -1;
	status = harness_wait(pid, 20000);
	if (status == -1)
		status = harness_stop(pid, SIGKILL, 1000);
	if (!harness_exited_cleanly(status)) {
		char *text = harness_read_file(log);
		fprintf(stderr, "https_certs: meshctl certs failed:\n%s\n",
			text != NULL ? text : "");
		free(text);
		return -1;
	}
	return 0;
}

int https_copy_atomic(const char *from, const char *to)
{
	char tmp[512];
	char *text = harness_read_file(from);
	FILE *f;
	int ok;
	if (text == NULL)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s.tmp", to);
	if ((f = fopen(tmp, "w")) == NULL) {
		free(text);
		return -1;
	}
	ok = fputs(text, f) >= 0;
	ok &= fclose(f) == 0;
	free(text);
	return ok && rename(tmp, to) == 0 ? 0 : -1;
}

int https_edge_start(https_edge *e, const char *run_dir, const char *cert, const char *key,
		     const char *log, const char *const *extra)
{
	char exe[256], line[512];
	char *argv[32];
	const char *at;
	int argc = 0;
	long long until = harness_now_ms() + 10000;
	memset(e, 0, sizeof(*e));
	snprintf(e->log, sizeof(e->log), "%s", log);
	snprintf(exe, sizeof(exe), "%s/edge", CLEAVE_BUILD_DIR);
	argv[argc++] = exe;
	argv[argc++] = "--port";
	argv[argc++] = "0";
	argv[argc++] = "--run-dir";
	argv[argc++] = (char *)run_dir;
	argv[argc++] = "--access-log";
	argv[argc++] = "off";
	argv[argc++] = "--https-cert";
	argv[argc++] = (char *)cert;
	argv[argc++] = "--https-key";
	argv[argc++] = (char *)key;
	for (; extra != NULL && *extra != NULL && argc < 31; extra++)
		argv[argc++] = (char *)*extra;
	argv[argc] = NULL;
	if ((e->pid = harness_spawn(argv, e->log)) < 0) {
		e->pid = 0;
		return -1;
	}
	while (harness_wait_for_line(e->log, "listening on https://", line, sizeof(line), 20) !=
	       0) {
		int status = harness_wait(e->pid, 0);
		if (status != -1 || harness_now_ms() > until) {
			char *text = harness_read_file(e->log);
			fprintf(stderr, "https_edge_start: no HTTPS edge (%s):\n%s\n",
				status != -1 ? "it exited" : "no line in 10 s",
				text != NULL ? text : "");
			free(text);
			if (status == -1)
				harness_stop(e->pid, SIGKILL, 1000);
			e->pid = 0;
			return -1;
		}
	}
	if ((at = strrchr(line, ':')) == NULL || (e->port = atoi(at + 1)) <= 0) {
		fprintf(stderr, "https_edge_start: no port in '%s'\n", line);
		harness_stop(e->pid, SIGKILL, 1000);
		e->pid = 0;
		return -1;
	}
	snprintf(e->base, sizeof(e->base), "https://edge:%d", e->port);
	snprintf(e->resolve, sizeof(e->resolve), "edge:%d:127.0.0.1", e->port);
	return 0;
}

int https_edge_stop(https_edge *e)
{
	int status;
	if (e->pid <= 0)
		return 1;
	status = harness_stop(e->pid, SIGTERM, 5000);
	e->pid = 0;
	return harness_exited_cleanly(status);
}

/* https_alpn_wire writes the comma-separated list csv in ALPN's wire format (each protocol
 * after its length byte) to out. Returns the length. */
static size_t https_alpn_wire(const char *csv, unsigned char *out, size_t outlen)
{
	size_t n = 0;
	while (*csv != '\0') {
		size_t len = strcspn(csv, ",");
		if (len > 0 && len < 256 && n + 1 + len <= outlen) {
			out[n++] = (unsigned char)len;
			memcpy(out + n, csv, len);
			n += len;
		}
		csv += len;
		if (*csv == ',')
			csv++;
	}
	return n;
}

https_conn *https_conn_open(int port, const char *sni, const char *alpn, int max_version, char *err,
			    size_t errlen)
{
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {.tv_sec = 3};
	https_conn *c = calloc(1, sizeof(*c));
	unsigned char wire[128];
	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		snprintf(err, errlen, "connect: %s", strerror(errno));
		goto fail;
	}
	/* every read and write of the handshake gives up after 3 s */
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if ((c->ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		goto fail_ssl;
	if (max_version != 0) {
		/* a server that refuses old versions is what is tested: let the client offer them
		 */
		SSL_CTX_set_security_level(c->ctx, 0);
		SSL_CTX_set_min_proto_version(c->ctx, 0);
		SSL_CTX_set_max_proto_version(c->ctx, max_version);
	}
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
	if ((c->ssl = SSL_new(c->ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1)
		goto fail_ssl;
	if (sni != NULL)
		SSL_set_tlsext_host_name(c->ssl, sni);
	if (alpn != NULL) {
		size_t n = https_alpn_wire(alpn, wire, sizeof(wire));
		SSL_set_alpn_protos(c->ssl, wire, (unsigned)n);
	}
	if (SSL_connect(c->ssl) != 1)
		goto fail_ssl;
	return c;

fail_ssl : {
	unsigned long e = ERR_peek_last_error();
	snprintf(err, errlen, "TLS handshake: %s",
		 e != 0 && ERR_reason_error_string(e) != NULL ? ERR_reason_error_string(e)
							      : "failed (connection closed)");
	ERR_clear_error();
}
fail:
	https_conn_close(c);
	return NULL;
}

void https_conn_peer(https_conn *c, https_peer *out)
{
	X509 *x = SSL_get1_peer_certificate(c->ssl);
	const unsigned char *proto = NULL;
	unsigned proto_len = 0;
	memset(out, 0, sizeof(*out));
	if (x != NULL) {
		BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
		char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
		X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out->cn,
					  sizeof(out->cn));
		snprintf(out->serial, sizeof(out->serial), "%s", hex != NULL ? hex : "");
		OPENSSL_free(hex);
		BN_free(bn);
		X509_free(x);
	}
	SSL_get0_alpn_selected(c->ssl, &proto, &proto_len);
	snprintf(out->alpn, sizeof(out->alpn), "%.*s", (int)proto_len,
		 proto != NULL ? (const char *)proto : "");
	snprintf(out->version, sizeof(out->version), "%s", SSL_get_version(c->ssl));
}

int https_conn_send(https_conn *c, const void *bytes, size_t len)
{
	size_t sent = 0;
	while (sent < len) {
		int n = SSL_write(c->ssl, (const char *)bytes + sent, (int)(len - sent));
		if (n <= 0)
			return -1;
		sent += (size_t)n;
	}
	return 0;
}

char *https_conn_read(https_conn *c, int timeout_ms, const char *until, size_t *len, int *closed)
{
	long long end = harness_now_ms() + timeout_ms;
	char *data = malloc(1);
	size_t got = 0;
	if (closed != NULL)
		*closed = 0;
	while (data != NULL && (until == NULL || memmem(data, got, until, strlen(until)) == NULL)) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		long long left = end - harness_now_ms();
		char chunk[4096], *grown;
		int n;
		if (left <= 0 || (SSL_pending(c->ssl) == 0 && poll(&p, 1, (int)left) <= 0))
			break;
		n = SSL_read(c->ssl, chunk, sizeof(chunk));
		if (n <= 0) {
			int e = SSL_get_error(c->ssl, n);
			if (e == SSL_ERROR_WANT_READ)
				continue;
			if (closed != NULL)
				*closed = 1;
			ERR_clear_error();
			break;
		}
		if ((grown = realloc(data, got + (size_t)n + 1)) == NULL)
			break;
		data = grown;
		memcpy(data + got, chunk, (size_t)n);
		got += (size_t)n;
	}
	if (data == NULL)
		data = strdup("");
	data[got] = '\0';
	if (len != NULL)
		*len = got;
	return data;
}

void https_conn_close(https_conn *c)
{
	if (c == NULL)
		return;
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

int https_handshake(int port, const char *sni, const char *alpn, int max_version, https_peer *out,
		    char *err, size_t errlen)
{
	https_conn *c = https_conn_open(port, sni, alpn, max_version, err, errlen);
	if (c == NULL)
		return -1;
	https_conn_peer(c, out);
	https_conn_close(c);
	return 0;
}

char *https_raw(int port, const char *alpn, const void *bytes, size_t len, int timeout_ms,
		size_t *outlen)
{
	char err[256];
	https_conn *c = https_conn_open(port, "edge", alpn, 0, err, sizeof(err));
	char *answer;
	if (c == NULL)
		return NULL;
	if (https_conn_send(c, bytes, len) != 0) {
		https_conn_close(c);
		return NULL;
	}
	answer = https_conn_read(c, timeout_ms, NULL, outlen, NULL);
	https_conn_close(c);
	return answer;
}
