/* check_http.c: `edge --check URL`: GET URL over a plain socket or TLS, exit 0 on 200 (health
 * checks). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "check_http.h"
#include "mesh.h"
#include "options.h"

/* check_url: a parsed http:// or https:// URL. */
typedef struct check_url {
	int tls; /* https:// */
	char host[256];
	char port[8];
	char path[1024];
} check_url;

static int64_t check_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* check_parse splits url into u; returns 0, or -1 with the reason in out. */
static int check_parse(const char *url, check_url *u, char *out, size_t outlen)
{
	const char *p = url, *end;
	size_t n;
	u->tls = strncmp(p, "https://", 8) == 0;
	if (!u->tls && strncmp(p, "http://", 7) != 0) {
		snprintf(out, outlen, "'%s' is not an http://HOST:PORT/PATH URL (nor https://)",
			 url);
		return -1;
	}
	p += u->tls ? 8 : 7;
	if (*p == '[') { /* [IPv6] */
		end = strchr(p, ']');
		if (end == NULL) {
			snprintf(out, outlen, "'%s': no ']' after the IPv6 address", url);
			return -1;
		}
		n = (size_t)(end - p - 1);
		p++;
		end++;
	} else {
		end = p + strcspn(p, ":/?#");
		n = (size_t)(end - p);
	}
	if (n == 0 || n >= sizeof(u->host)) {
		snprintf(out, outlen, "'%s': no host, or a host too long", url);
		return -1;
	}
	memcpy(u->host, p, n);
	u->host[n] = '\0';
	p = end;
	snprintf(u->port, sizeof(u->port), u->tls ? "443" : "80");
	if (*p == ':') {
		char *e;
		long port;
		errno = 0;
		port = strtol(p + 1, &e, 10);
		if (errno != 0 || e == p + 1 || port < 1 || port > 65535 ||
		    (*e != '\0' && *e != '/')) {
			snprintf(out, outlen, "'%s': the port is not a number from 1 to 65535",
				 url);
			return -1;
		}
		snprintf(u->port, sizeof(u->port), "%ld", port);
		p = e;
	}
	if (*p != '\0' && *p != '/') {
		snprintf(out, outlen, "'%s': a path starts with '/'", url);
		return -1;
	}
	if (strlen(p) >= sizeof(u->path)) {
		snprintf(out, outlen, "'%s': the path is too long", url);
		return -1;
	}
	for (const char *c = p; *c != '\0'; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f) {
			snprintf(out, outlen, "'%s': the path holds a space or control character",
				 url);
			return -1;
		}
	snprintf(u->path, sizeof(u->path), "%s", *p == '\0' ? "/" : p);
	return 0;
}

/* check_wait polls fd for events until deadline; returns 1 when ready, 0 on timeout, -1 on
 * error (errno). */
static int check_wait(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = events};
		int64_t left = deadline - check_now_ms();
		int rv;
		if (left <= 0)
			return 0;
		rv = poll(&pfd, 1, (int)left);
		if (rv < 0 && errno == EINTR)
			continue;
		return rv;
	}
}

/* check_connect connects to one of host's addresses before deadline; returns the socket
 * (non-blocking, the caller's to close) or -1 with the reason in out. */
static int check_connect(const check_url *u, int64_t deadline, char *out, size_t outlen)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
	int rv, fd = -1;
	if ((rv = getaddrinfo(u->host, u->port, &hints, &res)) != 0) {
		snprintf(out, outlen, "cannot resolve %s: %s", u->host, gai_strerror(rv));
		return -1;
	}
	snprintf(out, outlen, "%s has no address", u->host);
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		int err = 0;
		socklen_t len = sizeof(err);
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			snprintf(out, outlen, "socket: %s", strerror(errno));
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
			if (errno != EINPROGRESS)
				err = errno;
			else if ((rv = check_wait(fd, POLLOUT, deadline)) <= 0)
				err = rv == 0 ? ETIMEDOUT : errno;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
				err = errno;
		}
		if (err == 0)
			break;
		snprintf(out, outlen, "cannot connect to %s port %s: %s", u->host, u->port,
			 strerror(err));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* check_conn: one connection of a check: the socket, and its TLS session for https://. */
typedef struct check_conn {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
} check_conn;

static void check_close(check_conn *c)
{
	SSL_free(c->ssl);
	SSL_CTX_free(c->ctx);
	close(c->fd);
}

/* check_tls_wait waits as SSL's last result rv asks (want read or write); returns 1 to retry,
 * 0 on timeout or a failure. */
static int check_tls_wait(check_conn *c, int rv, int64_t deadline)
{
	int e = SSL_get_error(c->ssl, rv);
	if (e == SSL_ERROR_WANT_READ)
		return check_wait(c->fd, POLLIN, deadline) > 0;
	if (e == SSL_ERROR_WANT_WRITE)
		return check_wait(c->fd, POLLOUT, deadline) > 0;
	return 0;
}

/* check_tls_start makes the TLS handshake on c->fd before deadline. The server's certificate is
 * not verified: a health check asks whether this listener answers, not who it is (and the
 * container's own address is rarely a name in it). Returns 0, or -1 with the reason in out. */
static int check_tls_start(check_conn *c, const check_url *u, int64_t deadline, char *out,
			   size_t outlen)
{
	int rv;
	c->ctx = SSL_CTX_new(TLS_client_method());
	if (c->ctx == NULL || SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION) != 1 ||
	    (c->ssl = SSL_new(c->ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1 ||
	    SSL_set_tlsext_host_name(c->ssl, u->host) != 1) {
		snprintf(out, outlen, "cannot set up TLS");
		return -1;
	}
	SSL_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
	while ((rv = SSL_connect(c->ssl)) != 1)
		if (!check_tls_wait(c, rv, deadline)) {
			unsigned long e = ERR_get_error();
			char reason[160] = "timed out or closed";
			if (e != 0)
				ERR_error_string_n(e, reason, sizeof(reason));
			snprintf(out, outlen, "TLS handshake with %s port %s failed: %s", u->host,
				 u->port, reason);
			return -1;
		}
	return 0;
}

/* check_send writes len bytes of buf before deadline; returns 0 or -1 (errno, or ETIMEDOUT). */
static int check_send(check_conn *c, const char *buf, size_t len, int64_t deadline)
{
	size_t sent = 0;
	while (sent < len) {
		if (c->ssl != NULL) {
			int n = SSL_write(c->ssl, buf + sent, (int)(len - sent));
			if (n > 0)
				sent += (size_t)n;
			else if (!check_tls_wait(c, n, deadline)) {
				errno = ETIMEDOUT;
				return -1;
			}
			continue;
		}
		ssize_t n = send(c->fd, buf + sent, len - sent, MSG_NOSIGNAL);
		if (n > 0) {
			sent += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR) &&
		    check_wait(c->fd, POLLOUT, deadline) > 0)
			continue;
		if (n >= 0 || errno == EAGAIN)
			errno = ETIMEDOUT;
		return -1;
	}
	return 0;
}

/* check_recv reads up to len bytes before deadline; returns how many, 0 at the end of the
 * stream, or -1 (errno, or ETIMEDOUT). */
static ssize_t check_recv(check_conn *c, char *buf, size_t len, int64_t deadline)
{
	for (;;) {
		if (c->ssl != NULL) {
			int n = SSL_read(c->ssl, buf, (int)len);
			if (n > 0)
				return n;
			if (SSL_get_error(c->ssl, n) == SSL_ERROR_ZERO_RETURN)
				return 0;
			if (!check_tls_wait(c, n, deadline)) {
				errno = ETIMEDOUT;
				return -1;
			}
			continue;
		}
		ssize_t n = recv(c->fd, buf, len, 0);
		if (n >= 0)
			return n;
		if ((errno == EAGAIN || errno == EINTR) && check_wait(c->fd, POLLIN, deadline) > 0)
			continue;
		if (errno == EAGAIN)
			errno = ETIMEDOUT;
		return -1;
	}
}

int edge_check_get(const char *url, int timeout_ms, char *out, size_t outlen)
{
	int64_t deadline = check_now_ms() + timeout_ms;
	check_url u;
	check_conn c = {.fd = -1};
	char req[1400], resp[512];
	size_t reqlen, got = 0;
	int status;

	if (check_parse(url, &u, out, outlen) != 0)
		return -2;
	if ((c.fd = check_connect(&u, deadline, out, outlen)) < 0)
		return -1;
	if (u.tls && check_tls_start(&c, &u, deadline, out, outlen) != 0) {
		check_close(&c);
		return -1;
	}
	reqlen = (size_t)snprintf(req, sizeof(req),
				  "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: cleave-check\r\n\r\n",
				  u.path, u.host);
	if (check_send(&c, req, reqlen, deadline) != 0) {
		snprintf(out, outlen, "sending the request to %s: %s", url,
			 errno == ETIMEDOUT ? "timed out" : strerror(errno));
		check_close(&c);
		return -1;
	}
	/* the status line is all we need: read until its end, EOF, or the deadline */
	while (got < sizeof(resp) - 1 && memchr(resp, '\n', got) == NULL) {
		ssize_t n = check_recv(&c, resp + got, sizeof(resp) - 1 - got, deadline);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0)
			break;
		snprintf(out, outlen, "no answer from %s within %d ms%s%s", url, timeout_ms,
			 errno == ETIMEDOUT ? "" : ": ", errno == ETIMEDOUT ? "" : strerror(errno));
		check_close(&c);
		return -1;
	}
	check_close(&c);
	resp[got] = '\0';
	resp[strcspn(resp, "\r\n")] = '\0';
	if (got == 0) {
		snprintf(out, outlen, "%s closed the connection without an answer", url);
		return -1;
	}
	if (sscanf(resp, "HTTP/1.%*1[01] %3d", &status) != 1 || status < 100 || status > 599) {
		snprintf(out, outlen, "%s did not answer HTTP (first line: '%.80s')", url, resp);
		return -1;
	}
	snprintf(out, outlen, "%s answered '%.200s'", url, resp);
	return status;
}

int edge_check_main(int argc, char **argv)
{
	const char *url = rt_check_arg("edge", "http://127.0.0.1:8080/", argc, argv);
	char msg[1024];
	int status;
	if (url == NULL)
		return 2;
	status = edge_check_get(url, EDGE_CHECK_TIMEOUT_MS, msg, sizeof(msg));
	if (status == -2) {
		fprintf(stderr, "edge: --check: %s\n", msg);
		return 2;
	}
	if (status != 200) {
		fprintf(stderr, "edge: check failed: %s\n", msg);
		return 1;
	}
	printf("edge: %s\n", msg);
	return 0;
}
