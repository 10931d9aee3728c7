/* resolve.h: DNS names in mesh URLs: every address a name resolves to is dialed as an instance
 * of its own, and the name is re-resolved every interval.
 *
 * A tcp-family URL (tcp://, tcp4://, tcp6://, tls+tcp://...) whose host is a DNS name, not an IP
 * literal, stands for every address the name has: tcp://users:7000 resolving to 10.0.0.2 and
 * 10.0.0.3 is dialed as tcp://10.0.0.2:7000 and tcp://10.0.0.3:7000, so calls spread over every
 * instance instead of pinning to the one a single connection reached. Re-resolving adds the new
 * addresses and undials (drains, then closes) the vanished ones. The scheme is kept as given.
 *
 * Resolving blocks (getaddrinfo): rt_resolve_refresh runs on a thread that may block (a
 * rt_resolver's, or a service's follower thread), never on an event loop's; rt_resolve_sync
 * only applies what the last refresh found and does not block, so it runs where the client's
 * calls are made (a loop client's loop thread). */
#ifndef CLEAVE_RUNTIME_RESOLVE_H
#define CLEAVE_RUNTIME_RESOLVE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "mesh.h"
#include "targets.h"

#define RT_RESOLVE_INTERVAL_DEFAULT_MS 5000
#define RT_RESOLVE_INTERVAL_MIN_MS     10
#define RT_RESOLVE_INTERVAL_MAX_MS     86400000

/* rt_resolve_check_url says whether url is a mesh address the transports can take: SCHEME://
 * followed by something, and for a tcp-family scheme HOST:PORT with a port from 1 to 65535 (or 0
 * when listen is set) and a host (or, when listen is set, "*" or none). Returns 0, or -1 with the
 * reason in err. */
int rt_resolve_check_url(const char *url, int listen, char *err, size_t errlen);

/* rt_resolve_check_list checks every URL of a comma-separated list (none empty) like
 * rt_resolve_check_url. Returns 0, or -1 with the reason in err. */
int rt_resolve_check_list(const char *urls, int listen, char *err, size_t errlen);

/* rt_url_reachable_in_clear says whether url is a plain tcp:// address (no TLS) other hosts
 * can reach: every interface ("*" or no host), a name, or an address not on the loopback
 * (127.0.0.0/8, ::1, localhost). */
int rt_url_reachable_in_clear(const char *url);

/* rt_resolve_is_name says whether url is a tcp-family URL whose host is a DNS name (1), or
 * anything else, dialed as it is: an IP literal, ipc://, a malformed URL (0). */
int rt_resolve_is_name(const char *url);

/* rt_resolve_url resolves the name in url to every address (IPv4 and IPv6, deduplicated, in
 * a stable order): on success *out is a malloc'd array of *n targets, the caller's to free, each
 * SCHEME://IP:PORT (IPv6 as [IP]) with url's scheme and port. Blocks. Returns 0, or -1 with the
 * reason in err (*out is then NULL and *n 0). */
int rt_resolve_url(const char *url, rt_target **out, size_t *n, char *err, size_t errlen);

/* rt_resolve_interval_parse reads a re-resolve interval in milliseconds (MIN to MAX above).
 * Returns 0 and sets *ms, or -1. */
int rt_resolve_interval_parse(const char *s, int *ms);

/* rt_resolve_interval_env returns CLEAVE_RESOLVE_INTERVAL_MS, the default when unset, or -1
 * with the reason in err when it is malformed. */
int rt_resolve_interval_env(char *err, size_t errlen);

/* rt_resolve_watch: one name-bearing URL of a client, what resolving it last found, and what
 * was last applied to the client. */
typedef struct rt_resolve_watch {
	char *url;   /* as given, "tcp://users:7000"; owned */
	char *label; /* the log lines' prefix, "edge: users"; owned */
	pthread_mutex_t lock;
	/* guarded by lock: the last successful resolution */
	rt_target *found; /* owned */
	size_t nfound;
	uint64_t generation; /* bumped when found changes */
	int failing;	     /* the last refresh failed (logged once per change) */
	char last_error[256];
	/* the client's side, touched by rt_resolve_sync only */
	rt_target *applied; /* owned */
	size_t napplied;
	uint64_t applied_generation;
} rt_resolve_watch;

/* rt_resolve_watch_init starts watching url under label (both copied); nothing is resolved
 * yet. Returns 0 or -1 (out of memory). */
int rt_resolve_watch_init(rt_resolve_watch *w, const char *url, const char *label);

/* rt_resolve_refresh resolves w's name now (blocking) and keeps the result when it differs
 * from the last one, logging the change ("edge: users: tcp://users:7000 now 10.0.0.2,
 * 10.0.0.3"). A failure keeps the previous addresses and is logged once until the result
 * changes. Any thread. Returns 1 if the addresses changed, 0 if not, -1 if resolving failed. */
int rt_resolve_refresh(rt_resolve_watch *w);

/* rt_resolve_sync brings client in line with the last refresh, if it changed since the last
 * sync: new addresses dialed, vanished ones undialed. Does not block; called where client's
 * calls are made. Returns 1 if the client changed, else 0. */
int rt_resolve_sync(rt_resolve_watch *w, mesh_client *client);

/* rt_resolve_watch_fini frees what w holds. */
void rt_resolve_watch_fini(rt_resolve_watch *w);

/* rt_resolver: a thread refreshing watches every interval. */
typedef struct rt_resolver rt_resolver;

/* rt_resolver_start starts a thread that refreshes each of watches[0..n) every interval_ms.
 * The watches are borrowed and must outlive the resolver (stop it first); the array is copied.
 * On success *out is the caller's, to stop with rt_resolver_stop. Returns 0 or an errno
 * value. */
int rt_resolver_start(rt_resolver **out, rt_resolve_watch *const *watches, size_t n,
		      int interval_ms);

/* rt_resolver_stop stops the thread (waiting for a refresh under way) and frees r. NULL is
 * allowed. */
void rt_resolver_stop(rt_resolver *r);

#endif
