/* sv_output.c: the supervisor's output: children's lines tagged into log files, and its own. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "supervisor_internal.h"

void sv_log(supervisor *sv, const char *fmt, ...)
{
	va_list ap;
	(void)sv;
	fprintf(stderr, "meshctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void sv_output_line(sv_output *o, const char *line, size_t len)
{
	char stamp[64], head[160];
	struct timespec ts;
	struct tm tm;
	int n;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(head, sizeof(head), "%s.%03ldZ %s ", stamp, ts.tv_nsec / 1000000, o->tag);
	if (o->logfd >= 0) {
		/* one write per line, so lines of several instances never interleave */
		char whole[sizeof(o->buf) + sizeof(head) + 2];
		size_t w = (size_t)n;
		memcpy(whole, head, w);
		memcpy(whole + w, line, len);
		w += len;
		whole[w++] = '\n';
		if (write(o->logfd, whole, w) < 0) {
			/* a full disk must not stop the mesh */
		}
	}
	if (o->sv->opts->foreground) {
		fprintf(stdout, "%-10s| %.*s\n", o->tag, (int)len, line);
		fflush(stdout);
	}
	if (o == &o->sv->edge_out && o->sv->edge_url[0] == '\0') {
		/* "listening on http://..." or, with CLEAVE_HTTPS_CERT, "https://..." */
		const char *at = memmem(line, len, "listening on http", 17);
		if (at != NULL) {
			size_t skip = (size_t)(at - line) + 13, k = 0;
			while (skip + k < len && line[skip + k] != ' ' &&
			       k + 1 < sizeof(o->sv->edge_url))
				k++;
			memcpy(o->sv->edge_url, line + skip, k);
			o->sv->edge_url[k] = '\0';
		}
	}
}

void sv_output_close(supervisor *sv, sv_output *o)
{
	if (o->len > 0)
		sv_output_line(o, o->buf, o->len);
	o->len = 0;
	if (o->watch != NULL)
		mesh_epoll_loop(sv->ep)->ops->unwatch(mesh_epoll_loop(sv->ep), o->watch);
	o->watch = NULL;
	o->fd = -1;
}

static void sv_output_cb(void *arg, int events)
{
	sv_output *o = arg;
	supervisor *sv = o->sv;
	ssize_t got;
	(void)events;
	pthread_mutex_lock(&sv->lock);
	got = read(o->fd, o->buf + o->len, sizeof(o->buf) - o->len);
	if (got <= 0) {
		if (got == 0 || (errno != EAGAIN && errno != EINTR))
			sv_output_close(sv, o);
		pthread_mutex_unlock(&sv->lock);
		return;
	}
	o->len += (size_t)got;
	for (;;) {
		char *nl = memchr(o->buf, '\n', o->len);
		size_t line;
		if (nl == NULL) {
			if (o->len == sizeof(o->buf)) { /* a line longer than the buffer: cut it */
				sv_output_line(o, o->buf, o->len);
				o->len = 0;
			}
			break;
		}
		line = (size_t)(nl - o->buf);
		sv_output_line(o, o->buf, line);
		memmove(o->buf, nl + 1, o->len - line - 1);
		o->len -= line + 1;
	}
	pthread_mutex_unlock(&sv->lock);
}

int sv_output_open(supervisor *sv, sv_output *o, int fd, const char *tag, int logfd)
{
	mesh_loop *loop = mesh_epoll_loop(sv->ep);
	o->sv = sv;
	o->fd = fd;
	o->len = 0;
	o->logfd = logfd;
	snprintf(o->tag, sizeof(o->tag), "%s", tag);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	o->watch = loop->ops->watch(loop, fd, sv_output_cb, o);
	return o->watch != NULL ? 0 : -1;
}

int sv_output_open_log(supervisor *sv, const char *name)
{
	char path[PATH_MAX];
	int fd;
	if (snprintf(path, sizeof(path), "%s/%s.log", sv->paths->logs, name) >= (int)sizeof(path))
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		sv_log(sv, "cannot open %s: %s", path, strerror(errno));
	return fd;
}
