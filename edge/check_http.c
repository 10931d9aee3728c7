/* check_http.c: `edge --check URL`: GET URL over a plain socket, exit 0 on 200 (health checks). */
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

#include "check_http.h"
#include "mesh.h"
#include "options.h"

/* check_url: a parsed http:// URL. */
typedef struct check_url {
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
	if (strncmp(p, "http://", 7) != 0) {
		snprintf(out, outlen, "'%s' is not an http://HOST:PORT/PATH URL", url);
		return -1;
	}
	p += 7;
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
	snprintf(u->port, sizeof(u->port), "80");
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

int edge_check_get(const char *url, int timeout_ms, char *out, size_t outlen)
{
	int64_t deadline = check_now_ms() + timeout_ms;
	check_url u;
	char req[1400], resp[512];
	size_t reqlen, sent = 0, got = 0;
	int fd, status;

	if (check_parse(url, &u, out, outlen) != 0)
		return -2;
	if ((fd = check_connect(&u, deadline, out, outlen)) < 0)
		return -1;
	reqlen = (size_t)snprintf(req, sizeof(req),
				  "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: cleave-check\r\n\r\n",
				  u.path, u.host);
	while (sent < reqlen) {
		ssize_t n = send(fd, req + sent, reqlen - sent, MSG_NOSIGNAL);
		if (n > 0) {
			sent += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR) &&
		    check_wait(fd, POLLOUT, deadline) > 0)
			continue;
		snprintf(out, outlen, "sending the request to %s: %s", url,
			 n < 0 && errno != EAGAIN ? strerror(errno) : "timed out");
		close(fd);
		return -1;
	}
	/* the status line is all we need: read until its end, EOF, or the deadline */
	while (got < sizeof(resp) - 1 && memchr(resp, '\n', got) == NULL) {
		ssize_t n = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0)
			break;
		if ((errno == EAGAIN || errno == EINTR) && check_wait(fd, POLLIN, deadline) > 0)
			continue;
		snprintf(out, outlen, "no answer from %s within %d ms%s%s", url, timeout_ms,
			 errno == EAGAIN ? "" : ": ", errno == EAGAIN ? "" : strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
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
