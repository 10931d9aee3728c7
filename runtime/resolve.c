/* resolve.c: DNS names in mesh URLs, dialed at every address and re-resolved (see resolve.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "resolve.h"

/* url_parts: a URL split at its scheme, host and port; pointers into the caller's buffer. */
typedef struct url_parts {
	char scheme[32]; /* "tcp", "tls+tcp" */
	char host[256];	 /* without brackets */
	char port[16];
	int tcp;    /* a tcp-family scheme */
	int family; /* AF_INET for ...tcp4, AF_INET6 for ...tcp6, else AF_UNSPEC */
} url_parts;

/* tcp_family says whether scheme is tcp, tcp4, tcp6, or one of them after a '+' (tls+tcp), and
 * which address family it allows. */
static int tcp_family(const char *scheme, int *family)
{
	const char *base = strrchr(scheme, '+');
	base = base != NULL ? base + 1 : scheme;
	*family = AF_UNSPEC;
	if (strcmp(base, "tcp") == 0)
		return 1;
	if (strcmp(base, "tcp4") == 0) {
		*family = AF_INET;
		return 1;
	}
	if (strcmp(base, "tcp6") == 0) {
		*family = AF_INET6;
		return 1;
	}
	return 0;
}

/* url_split fills p from url. Returns 0, or -1 with the reason in err: no scheme, or a
 * tcp-family URL that is not HOST:PORT. The port is not range-checked here. */
static int url_split(const char *url, url_parts *p, char *err, size_t errlen)
{
	const char *sep = strstr(url, "://"), *rest, *colon, *host;
	size_t schemelen, hostlen;
	memset(p, 0, sizeof(*p));
	if (sep == NULL || sep == url || sep[3] == '\0') {
		snprintf(err, errlen, "'%s' is not an address like tcp://HOST:PORT or ipc:///PATH",
			 url);
		return -1;
	}
	schemelen = (size_t)(sep - url);
	if (schemelen >= sizeof(p->scheme)) {
		snprintf(err, errlen, "'%s': unknown scheme", url);
		return -1;
	}
	memcpy(p->scheme, url, schemelen);
	p->tcp = tcp_family(p->scheme, &p->family);
	if (!p->tcp)
		return 0;
	rest = sep + 3;
	colon = strrchr(rest, ':');
	if (colon == NULL || strchr(colon, ']') != NULL) {
		snprintf(err, errlen, "'%s' has no port (want %s://HOST:PORT)", url, p->scheme);
		return -1;
	}
	host = rest;
	hostlen = (size_t)(colon - rest);
	if (hostlen > 0 && host[0] == '[') {
		if (hostlen < 2 || host[hostlen - 1] != ']') {
			snprintf(err, errlen, "'%s': an IPv6 host is written [ADDR]", url);
			return -1;
		}
		host++;
		hostlen -= 2;
	} else if (memchr(host, ']', hostlen) != NULL || memchr(host, '[', hostlen) != NULL) {
		snprintf(err, errlen, "'%s': an IPv6 host is written [ADDR]", url);
		return -1;
	}
	if (hostlen >= sizeof(p->host) || strlen(colon + 1) >= sizeof(p->port)) {
		snprintf(err, errlen, "'%s': host or port too long", url);
		return -1;
	}
	memcpy(p->host, host, hostlen);
	memcpy(p->port, colon + 1, strlen(colon + 1) + 1);
	return 0;
}

int rt_resolve_check_url(const char *url, int listen, char *err, size_t errlen)
{
	url_parts p;
	char *end;
	long port;
	if (url_split(url, &p, err, errlen) != 0)
		return -1;
	if (!p.tcp)
		return 0;
	errno = 0;
	port = strtol(p.port, &end, 10);
	if (errno != 0 || p.port[0] == '\0' || *end != '\0' || port < (listen ? 0 : 1) ||
	    port > 65535) {
		snprintf(err, errlen, "'%s': the port is a number from %d to 65535", url,
			 listen ? 0 : 1);
		return -1;
	}
	if (!listen && (p.host[0] == '\0' || strcmp(p.host, "*") == 0)) {
		snprintf(err, errlen, "'%s' names no host to connect to", url);
		return -1;
	}
	return 0;
}

int rt_resolve_check_list(const char *urls, int listen, char *err, size_t errlen)
{
	const char *start = urls;
	if (urls[0] == '\0') {
		snprintf(err, errlen, "an empty list of addresses");
		return -1;
	}
	for (;;) {
		const char *comma = strchr(start, ',');
		size_t len = comma != NULL ? (size_t)(comma - start) : strlen(start);
		char one[1024];
		if (len == 0) {
			snprintf(err, errlen, "'%s': an empty address in the list", urls);
			return -1;
		}
		if (len >= sizeof(one)) {
			snprintf(err, errlen, "an address over %zu bytes", sizeof(one) - 1);
			return -1;
		}
		memcpy(one, start, len);
		one[len] = '\0';
		if (rt_resolve_check_url(one, listen, err, errlen) != 0)
			return -1;
		if (comma == NULL)
			return 0;
		start = comma + 1;
	}
}

/* host_is_literal says whether host is an IPv4 or IPv6 address written out. */
static int host_is_literal(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;
	return inet_pton(AF_INET, host, &a4) == 1 || inet_pton(AF_INET6, host, &a6) == 1;
}

int rt_url_reachable_in_clear(const char *url)
{
	url_parts p;
	char err[8];
	struct in_addr v4;
	if (url_split(url, &p, err, sizeof(err)) != 0 || !p.tcp || strchr(p.scheme, '+') != NULL)
		return 0; /* not plain TCP: ipc://, inproc://, tls+tcp:// */
	if (strcmp(p.host, "localhost") == 0 || strcmp(p.host, "::1") == 0)
		return 0;
	if (inet_pton(AF_INET, p.host, &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127)
		return 0;
	return 1; /* every interface ("*", none), a name, or another address */
}

int rt_resolve_is_name(const char *url)
{
	url_parts p;
	char err[8];
	if (url_split(url, &p, err, sizeof(err)) != 0 || !p.tcp)
		return 0;
	return p.host[0] != '\0' && strcmp(p.host, "*") != 0 && !host_is_literal(p.host);
}

static int target_cmp(const void *a, const void *b)
{
	return strcmp(((const rt_target *)a)->url, ((const rt_target *)b)->url);
}

int rt_resolve_url(const char *url, rt_target **out, size_t *n, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	rt_target *items = NULL;
	size_t count = 0, cap = 0;
	url_parts p;
	int rv;
	*out = NULL;
	*n = 0;
	if (url_split(url, &p, err, errlen) != 0)
		return -1;
	if (!p.tcp || p.host[0] == '\0') {
		snprintf(err, errlen, "'%s' has no host name to resolve", url);
		return -1;
	}
	hints.ai_family = p.family;
	if ((rv = getaddrinfo(p.host, p.port, &hints, &res)) != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", p.host,
			 rv == EAI_SYSTEM ? strerror(errno) : gai_strerror(rv));
		return -1;
	}
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		char ip[INET6_ADDRSTRLEN];
		rt_target t = {0};
		const void *a;
		int dup = 0;
		if (ai->ai_family == AF_INET)
			a = &((const struct sockaddr_in *)ai->ai_addr)->sin_addr;
		else if (ai->ai_family == AF_INET6)
			a = &((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
		else
			continue;
		if (inet_ntop(ai->ai_family, a, ip, sizeof(ip)) == NULL)
			continue;
		if (snprintf(t.url, sizeof(t.url),
			     ai->ai_family == AF_INET6 ? "%s://[%s]:%s" : "%s://%s:%s", p.scheme,
			     ip, p.port) >= (int)sizeof(t.url))
			continue;
		for (size_t i = 0; i < count && !dup; i++)
			dup = strcmp(items[i].url, t.url) == 0;
		if (dup)
			continue;
		if (count == cap) {
			size_t ncap = cap ? cap * 2 : 4;
			rt_target *grown = realloc(items, ncap * sizeof(*grown));
			if (grown == NULL) {
				free(items);
				freeaddrinfo(res);
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			items = grown;
			cap = ncap;
		}
		items[count++] = t;
	}
	freeaddrinfo(res);
	if (count == 0) {
		free(items);
		snprintf(err, errlen, "%s has no address", p.host);
		return -1;
	}
	qsort(items, count, sizeof(*items), target_cmp);
	*out = items;
	*n = count;
	return 0;
}

int rt_resolve_interval_parse(const char *s, int *ms)
{
	char *end;
	long v;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < RT_RESOLVE_INTERVAL_MIN_MS ||
	    v > RT_RESOLVE_INTERVAL_MAX_MS)
		return -1;
	*ms = (int)v;
	return 0;
}

int rt_resolve_interval_env(char *err, size_t errlen)
{
	const char *s = getenv("CLEAVE_RESOLVE_INTERVAL_MS");
	int ms;
	if (s == NULL)
		return RT_RESOLVE_INTERVAL_DEFAULT_MS;
	if (rt_resolve_interval_parse(s, &ms) != 0) {
		snprintf(err, errlen,
			 "CLEAVE_RESOLVE_INTERVAL_MS wants milliseconds from %d to %d, "
			 "not '%s'",
			 RT_RESOLVE_INTERVAL_MIN_MS, RT_RESOLVE_INTERVAL_MAX_MS, s);
		return -1;
	}
	return ms;
}

int rt_resolve_watch_init(rt_resolve_watch *w, const char *url, const char *label)
{
	memset(w, 0, sizeof(*w));
	w->url = strdup(url);
	w->label = strdup(label);
	if (w->url == NULL || w->label == NULL) {
		free(w->url);
		free(w->label);
		return -1;
	}
	pthread_mutex_init(&w->lock, NULL);
	return 0;
}

/* same_targets says whether a[0..na) and b[0..nb), both sorted, list the same urls. */
static int same_targets(const rt_target *a, size_t na, const rt_target *b, size_t nb)
{
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i].url, b[i].url) != 0)
			return 0;
	return 1;
}

/* log_addresses writes "LABEL: URL now A, B" with each target's host. */
static void log_addresses(const rt_resolve_watch *w, const rt_target *ts, size_t n)
{
	char line[2048];
	size_t used = (size_t)snprintf(line, sizeof(line), "%s: %s now ", w->label, w->url);
	for (size_t i = 0; i < n && used < sizeof(line); i++) {
		const char *host = strstr(ts[i].url, "://");
		const char *colon = strrchr(ts[i].url, ':');
		host = host != NULL ? host + 3 : ts[i].url;
		if (*host == '[')
			host++, colon--;
		used += (size_t)snprintf(line + used, sizeof(line) - used, "%s%.*s", i ? ", " : "",
					 (int)(colon - host), host);
	}
	fprintf(stderr, "%s\n", line);
}

int rt_resolve_refresh(rt_resolve_watch *w)
{
	rt_target *found;
	size_t n;
	char err[256];
	int rv = rt_resolve_url(w->url, &found, &n, err, sizeof(err));
	pthread_mutex_lock(&w->lock);
	if (rv != 0) {
		if (!w->failing || strcmp(err, w->last_error) != 0)
			fprintf(stderr, "%s: %s: %s; keeping %zu address%s\n", w->label, w->url,
				err, w->nfound, w->nfound == 1 ? "" : "es");
		w->failing = 1;
		snprintf(w->last_error, sizeof(w->last_error), "%s", err);
		pthread_mutex_unlock(&w->lock);
		return -1;
	}
	w->failing = 0;
	w->last_error[0] = '\0';
	if (w->generation > 0 && same_targets(found, n, w->found, w->nfound)) {
		pthread_mutex_unlock(&w->lock);
		free(found);
		return 0;
	}
	log_addresses(w, found, n);
	free(w->found);
	w->found = found;
	w->nfound = n;
	w->generation++;
	pthread_mutex_unlock(&w->lock);
	return 1;
}

int rt_resolve_sync(rt_resolve_watch *w, mesh_client *client)
{
	rt_target *now;
	size_t n;
	pthread_mutex_lock(&w->lock);
	if (w->generation == w->applied_generation) {
		pthread_mutex_unlock(&w->lock);
		return 0;
	}
	n = w->nfound;
	now = malloc(n * sizeof(*now));
	if (now == NULL) {
		pthread_mutex_unlock(&w->lock);
		return 0; /* tried again at the next sync */
	}
	memcpy(now, w->found, n * sizeof(*now));
	w->applied_generation = w->generation;
	pthread_mutex_unlock(&w->lock);
	rt_targets_apply(w->applied, w->napplied, now, n, client);
	free(w->applied);
	w->applied = now;
	w->napplied = n;
	return 1;
}

void rt_resolve_watch_fini(rt_resolve_watch *w)
{
	if (w->url == NULL)
		return;
	pthread_mutex_destroy(&w->lock);
	free(w->url);
	free(w->label);
	free(w->found);
	free(w->applied);
	memset(w, 0, sizeof(*w));
}

struct rt_resolver {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int stop;
	int interval_ms;
	rt_resolve_watch **watches; /* borrowed each; the array is owned */
	size_t n;
};

static void *resolver_run(void *arg)
{
	rt_resolver *r = arg;
	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += r->interval_ms / 1000;
		until.tv_nsec += (long)(r->interval_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!r->stop && pthread_cond_timedwait(&r->wake, &r->lock, &until) != ETIMEDOUT)
			;
		if (r->stop)
			break;
		pthread_mutex_unlock(&r->lock);
		for (size_t i = 0; i < r->n; i++)
			rt_resolve_refresh(r->watches[i]);
		pthread_mutex_lock(&r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int rt_resolver_start(rt_resolver **out, rt_resolve_watch *const *watches, size_t n,
		      int interval_ms)
{
	rt_resolver *r = calloc(1, sizeof(*r));
	pthread_condattr_t attr;
	int rv;
	if (r == NULL || (n > 0 && (r->watches = malloc(n * sizeof(*r->watches))) == NULL)) {
		free(r);
		return ENOMEM;
	}
	if (n > 0)
		memcpy(r->watches, watches, n * sizeof(*r->watches));
	r->n = n;
	r->interval_ms = interval_ms;
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&r->wake, &attr);
	pthread_condattr_destroy(&attr);
	if ((rv = pthread_create(&r->thread, NULL, resolver_run, r)) != 0) {
		pthread_cond_destroy(&r->wake);
		pthread_mutex_destroy(&r->lock);
		free(r->watches);
		free(r);
		return rv;
	}
	*out = r;
	return 0;
}

void rt_resolver_stop(rt_resolver *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = 1;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->lock);
	free(r->watches);
	free(r);
}
