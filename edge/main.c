/* main.c: the edge executable: read manifests, connect to the services, serve HTTP. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <unistd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "access_log.h"
#include "check_http.h"
#include "https.h"
#include "manifest.h"
#include "options.h"
#include "process.h"
#include "registry.h"
#include "routes.h"
#include "server.h"
#include "upstream.h"

/* edge_args: the command line. */
typedef struct edge_args {
	char host[256];
	int port;
	char admin_host[256];
	int admin_port; /* -1: no admin listener */
	const char *manifests;
	const char *targets_dir; /* instances from target files, or NULL */
	long timeout_ms;
	long max_timeout_ms;
	long client_timeout_ms;
	long max_connections; /* 0: the default, EDGE_MAX_CONNECTIONS_DEFAULT */
	const char *access_log;
	/* the API listener's certificate chain and key (--https-cert, --https-key, else
	 * $CLEAVE_HTTPS_CERT, $CLEAVE_HTTPS_KEY); both NULL: cleartext HTTP */
	const char *https_cert, *https_key;
	int use_nng;	/* carry calls on nng's threads instead of the edge's loop */
	rt_opts shared; /* what the services take too: --upstream, --run-dir, TLS, sandbox... */
	const char *argv0;
} edge_args;

static edge_server *edge; /* kept until exit: see edge_server_free */

/* edge_options: the edge's own options (the shared ones are runtime/options.h's). */
static const rt_option edge_options[] = {
    {"listen", "ADDR:PORT", 'l',
     "where to accept HTTP (default 127.0.0.1:8080; [::1]:8080 for IPv6)"},
    {"port", "N", 'p', "same as --listen 127.0.0.1:N"},
    {"manifests", "DIR", 'm',
     "where the services' DIR/<name>/manifest.yml are (default: svc/ in the checkout)"},
    {"targets-dir", "DIR", 'T',
     "a service with a target file DIR/<name> (written by meshctl) is reached at the instances "
     "it lists, followed as it changes"},
    {"timeout-ms", "N", 't',
     "deadline of a request with no Request-Timeout, on a route with no timeout: in its "
     "manifest (default 5000)"},
    {"max-timeout-ms", "N", 'M',
     "the longest deadline a Request-Timeout or a route's timeout may give (default 60000); "
     "a longer one is cut to it"},
    {"client-timeout-ms", "N", 'C',
     "how long a client may take to send a request's headers and body (HTTP/1), or stay idle "
     "(HTTP/2), before its connection is closed (default 10000)"},
    {"access-log", "WHERE", 'a', "'-' for stdout (default), 'off', or a file to append to"},
    {"max-connections", "N", 'c',
     "connections the API's port holds open at most (default 4096, and never more than the "
     "file descriptor limit leaves room for); at the cap it stops accepting until one closes"},
    {"mesh-transport", "T", 'x',
     "'loop' (default): calls travel on the edge's own event loop; 'nng': on nng's threads "
     "(slower; kept for comparison). $CLEAVE_MESH_TRANSPORT sets the default."},
    {"admin-port", "N", 'P',
     "serve GET /metrics (Prometheus text format) on 127.0.0.1:N, a listener apart from the "
     "API's (default: none; 0 picks a free port). Requests are counted only when it is on."},
    {"admin-listen", "ADDR:PORT", 'L', "same, on another address (always cleartext HTTP)"},
    {"https-cert", "FILE", 'E',
     "serve the API over HTTPS (TLS 1.2 and 1.3, ALPN h2 and http/1.1) with this PEM "
     "certificate chain, the server's certificate first (default $CLEAVE_HTTPS_CERT); reloaded "
     "when it or the key changes, or on SIGHUP. Not the mesh identity of --tls-cert"},
    {"https-key", "FILE", 'K', "its unencrypted PEM private key (default $CLEAVE_HTTPS_KEY)"},
    {NULL, NULL, 0, NULL},
};

/* usage prints --help; ctx is the edge_args. */
static void usage(FILE *out, void *ctx)
{
	const edge_args *a = ctx;
	fprintf(
	    out,
	    "usage: %s [--listen ADDR:PORT | --port N] [--manifests DIR] [--run-dir DIR]\n"
	    "          [--upstream NAME=URL[,URL...]]... [--timeout-ms N] [--access-log WHERE]\n"
	    "          [--max-timeout-ms N] [--client-timeout-ms N] [--max-connections N]\n"
	    "          [--mesh-transport loop|nng] [--admin-port N | --admin-listen ADDR:PORT]\n"
	    "          [--resolve-interval-ms N] [--https-cert FILE --https-key FILE]\n"
	    "          [--tls-cert FILE --tls-key FILE --tls-ca FILE] [--sandbox auto|on|off]\n"
	    "\n"
	    "The cleave edge: answers the forum's HTTP API by calling its services over the "
	    "mesh.\n"
	    "\n",
	    a->argv0);
	rt_opts_usage(&a->shared, out, edge_options, "a service");
	fprintf(out,
		"  CLEAVE_MESH_TRANSPORT=loop|nng: as above\n"
		"  CLEAVE_HTTPS_CERT, CLEAVE_HTTPS_KEY: as --https-cert, --https-key (the API\n"
		"    listener's certificate for clients; CLEAVE_TLS_* are the mesh identity's)\n"
		"\n"
		"Under the sandbox, once the manifests are read, the edge may read only system "
		"paths,\n"
		"--targets-dir and the directories of the HTTPS certificate and key, and write no "
		"file.\n"
		"Stops on SIGINT or SIGTERM, after the calls in flight finish (at most 2 s). With\n"
		"HTTPS, SIGHUP loads the certificate and key again.\n");
}

/* parse_ms reads milliseconds from 1 to one hour for the option named name. */
static int parse_ms(const char *name, const char *s, long *out)
{
	char *end;
	errno = 0;
	*out = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || *out < 1 || *out > 3600000) {
		fprintf(stderr, "edge: --%s wants 1 to 3600000, not '%s'\n", name, s);
		return -1;
	}
	return 0;
}

/* parse_option takes one of the edge's own options into the edge_args ctx points at. Returns -1
 * to go on, else an exit status. */
static int parse_option(int opt, const char *arg, void *ctx)
{
	edge_args *a = ctx;
	switch (opt) {
	case 'l':
		if (rt_parse_host_port(arg, a->host, sizeof(a->host), &a->port) != 0) {
			fprintf(stderr, "edge: --listen wants ADDR:PORT, not '%s'\n", arg);
			return 2;
		}
		return -1;
	case 'p':
		if (rt_parse_port(arg, &a->port) != 0) {
			fprintf(stderr, "edge: --port wants 0 to 65535, not '%s'\n", arg);
			return 2;
		}
		return -1;
	case 'P':
		if (rt_parse_port(arg, &a->admin_port) != 0) {
			fprintf(stderr, "edge: --admin-port wants 0 to 65535, not '%s'\n", arg);
			return 2;
		}
		return -1;
	case 'L':
		if (rt_parse_host_port(arg, a->admin_host, sizeof(a->admin_host), &a->admin_port) !=
		    0) {
			fprintf(stderr, "edge: --admin-listen wants ADDR:PORT, not '%s'\n", arg);
			return 2;
		}
		return -1;
	case 'm':
		a->manifests = arg;
		return -1;
	case 'T':
		a->targets_dir = arg;
		return -1;
	case 't':
		return parse_ms("timeout-ms", arg, &a->timeout_ms) == 0 ? -1 : 2;
	case 'M':
		return parse_ms("max-timeout-ms", arg, &a->max_timeout_ms) == 0 ? -1 : 2;
	case 'C':
		return parse_ms("client-timeout-ms", arg, &a->client_timeout_ms) == 0 ? -1 : 2;
	case 'a':
		a->access_log = arg;
		return -1;
	case 'E':
		a->https_cert = arg;
		return -1;
	case 'K':
		a->https_key = arg;
		return -1;
	case 'c': {
		char *end;
		errno = 0;
		a->max_connections = strtol(arg, &end, 10);
		if (errno != 0 || *arg == '\0' || *end != '\0' || a->max_connections < 1 ||
		    a->max_connections > 1000000) {
			fprintf(stderr, "edge: --max-connections wants 1 to 1000000, not '%s'\n",
				arg);
			return 2;
		}
		return -1;
	}
	case 'x':
		if (strcmp(arg, "loop") != 0 && strcmp(arg, "nng") != 0) {
			fprintf(stderr, "edge: --mesh-transport is 'loop' or 'nng', not '%s'\n",
				arg);
			return 2;
		}
		a->use_nng = strcmp(arg, "nng") == 0;
		return -1;
	default:
		return 2;
	}
}

/* parse_args reads the command line into a; returns -1 to go on, else an exit status. */
static int parse_args(int argc, char **argv, edge_args *a)
{
	const rt_opts_args args = {
	    .own = edge_options, .on_own = parse_option, .usage = usage, .ctx = a};
	const char *transport = getenv("CLEAVE_MESH_TRANSPORT");
	int rv;
	a->argv0 = argv[0];
	snprintf(a->host, sizeof(a->host), "127.0.0.1");
	a->port = 8080;
	snprintf(a->admin_host, sizeof(a->admin_host), "127.0.0.1");
	a->admin_port = -1;
	a->manifests = CLEAVE_SOURCE_DIR "/svc";
	a->timeout_ms = 5000;
	a->max_timeout_ms = 60000;
	a->client_timeout_ms = 10000;
	a->access_log = "-";
	a->https_cert = getenv("CLEAVE_HTTPS_CERT");
	a->https_key = getenv("CLEAVE_HTTPS_KEY");
	a->use_nng = transport != NULL && strcmp(transport, "nng") == 0;
	if ((rv = rt_opts_init(&a->shared, "edge", "upstream", "CLEAVE_UPSTREAM_")) != 0)
		return rv;
	a->shared.check_help =
	    "alone: GET URL (e.g. http://127.0.0.1:8080/, or https://: over TLS, its certificate "
	    "not verified); exit 0 if it answers 200 within 2 s, else 1 with the reason (health "
	    "checks)";
	if ((rv = rt_opts_parse_args(&a->shared, argc, argv, &args)) >= 0)
		return rv;
	if (a->https_cert != NULL && a->https_cert[0] == '\0')
		a->https_cert = NULL;
	if (a->https_key != NULL && a->https_key[0] == '\0')
		a->https_key = NULL;
	if ((a->https_cert == NULL) != (a->https_key == NULL)) {
		fprintf(stderr,
			"edge: --https-cert and --https-key (or $CLEAVE_HTTPS_CERT and "
			"$CLEAVE_HTTPS_KEY) go together: %s is missing\n",
			a->https_cert == NULL ? "the certificate" : "the key");
		return 2;
	}
	return rt_opts_finish(&a->shared, NULL, 0) == 0 ? -1 : 2;
}

/* check_upstream_names fails when an --upstream names a service no manifest declares. */
static int check_upstream_names(const edge_args *a, manifest **ms, size_t nms, char *err,
				size_t errlen)
{
	for (int i = 0; i < a->shared.ncalls; i++) {
		int known = 0;
		for (size_t k = 0; k < nms; k++)
			known |= rt_opts_call_is(&a->shared, i, ms[k]->name);
		if (!known) {
			snprintf(err, errlen, "--upstream %s: no manifest names this service",
				 a->shared.calls[i]);
			return -1;
		}
	}
	return 0;
}

/* point_routes points the routes of service name at its group g, and the split routes that send
 * it a share of theirs; says how many of each in note. */
static void point_routes(route_table *routes, const char *name, upstream *g, char *note,
			 size_t notelen)
{
	size_t nroutes = 0, nsplits = 0;
	for (size_t k = 0; k < routes->n; k++) {
		route *r = routes->routes[k];
		if (r->kind == ROUTE_RPC && strcmp(r->service_name, name) == 0) {
			r->upstream = g;
			nroutes++;
		}
		if (r->split != NULL && strcmp(r->split->alt.service_name, name) == 0) {
			r->split->alt.upstream = g;
			nsplits++;
		}
	}
	if (nsplits > 0)
		snprintf(note, notelen, "%zu routes, a share of %zu split route%s", nroutes,
			 nsplits, nsplits == 1 ? "" : "s");
	else
		snprintf(note, notelen, "%zu routes", nroutes);
}

/* connect_upstreams makes a target group per manifest, checked as the manifest says, and
 * points its routes at it. */
static int connect_upstreams(const edge_args *a, manifest **ms, size_t nms, route_table *routes,
			     upstream_set *ups, const mesh_client_opts *copts, char *err,
			     size_t errlen)
{
	if (check_upstream_names(a, ms, nms, err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < nms; i++) {
		char fallback[4200], targets[4200], note[96];
		rt_group_opts go = {
		    .name = ms[i]->name,
		    .service = registry_find_service(ms[i]->service),
		    .log_prefix = "edge",
		    .client = *copts,
		    .health = manifest_health_opts(ms[i]),
		    .resolve_interval_ms = a->shared.resolve_interval_ms,
		};
		int bad;
		upstream *g;
		go.urls = rt_opts_urls(&a->shared, ms[i]->name, &bad, err, errlen);
		if (bad)
			return -1;
		if (go.urls == NULL && a->targets_dir != NULL) {
			snprintf(targets, sizeof(targets), "%s/%s", a->targets_dir, ms[i]->name);
			if (access(targets, R_OK) == 0)
				go.targets = targets;
		}
		if (go.urls == NULL && go.targets == NULL) {
			snprintf(fallback, sizeof(fallback), "ipc://%s/%s.sock", a->shared.run_dir,
				 ms[i]->name);
			go.urls = fallback;
		}
		if ((g = upstream_set_add(ups, &go, ms[i]->max_inflight, err, errlen)) == NULL)
			return -1;
		point_routes(routes, ms[i]->name, g, note, sizeof(note));
		fprintf(stderr, "edge: %s (%s) at %s, %s, at most %d calls in flight\n",
			ms[i]->name, ms[i]->service, go.targets != NULL ? go.targets : go.urls,
			note, ms[i]->max_inflight);
	}
	return 0;
}

/* edge_sandbox restricts the edge with Landlock (runtime/sandbox.h) as --sandbox says, and logs
 * what it did. It runs once the manifests are read, the access log is open and the TLS files
 * are loaded, and before any thread starts (Landlock before ABI 8 restricts only the calling
 * thread and those it creates later). The edge writes no file by path afterwards (the access
 * log is an open descriptor), so nothing is writable; it reads only the target files, the
 * directories of the HTTPS certificate and key (reloaded, and replaced by renaming), the system
 * paths (DNS, /proc for /metrics) and nothing else: a compromised edge cannot reach any
 * service's data. Returns 0 to go on, else -1 with the reason in err. */
static int edge_sandbox(const edge_args *a, char *err, size_t errlen)
{
	static rt_sandbox_paths paths; /* large; used once */
	const char *https_files[] = {a->https_cert, a->https_key};
	rt_sandbox_spec spec;
	char msg[1024];
	rt_sandbox_edge_spec(&spec, &paths, a->targets_dir, https_files,
			     a->https_cert != NULL ? 2 : 0);
	if (rt_sandbox_apply(&spec, a->shared.sandbox, msg, sizeof(msg)) < 0) {
		snprintf(err, errlen, "%.400s", msg);
		return -1;
	}
	fprintf(stderr, "edge: %s\n", msg);
	return 0;
}

/* EDGE_FD_RESERVE: descriptors kept apart from client connections: the listeners, the
 * connections to every instance, the access log, the loop's own, DNS. */
#define EDGE_FD_RESERVE 128

/* connection_cap returns the connection cap: wanted (0: EDGE_MAX_CONNECTIONS_DEFAULT), after
 * raising the soft limit on open files toward the hard one to make room for it, and lowered to
 * what the limit leaves beside EDGE_FD_RESERVE (saying so). */
static int connection_cap(long wanted)
{
	struct rlimit lim;
	long cap = wanted > 0 ? wanted : EDGE_MAX_CONNECTIONS_DEFAULT;
	if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
		return (int)cap;
	if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < (rlim_t)(cap + EDGE_FD_RESERVE)) {
		struct rlimit raised = lim;
		raised.rlim_cur =
		    lim.rlim_max == RLIM_INFINITY || lim.rlim_max > (rlim_t)(cap + EDGE_FD_RESERVE)
			? (rlim_t)(cap + EDGE_FD_RESERVE)
			: lim.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
			lim = raised;
	}
	if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < (rlim_t)(cap + EDGE_FD_RESERVE)) {
		long room = (long)lim.rlim_cur - EDGE_FD_RESERVE;
		if (room < 1)
			room = 1;
		fprintf(
		    stderr,
		    "edge: --max-connections %ld lowered to %ld: the limit on open files is %ld\n",
		    cap, room, (long)lim.rlim_cur);
		cap = room;
	}
	return (int)cap;
}

/* host_brackets returns the brackets an IPv6 host is written in, in a URL. */
static const char *host_bracket(const char *host, int open)
{
	return strchr(host, ':') == NULL ? "" : open ? "[" : "]";
}

int main(int argc, char **argv)
{
	edge_args args = {0};
	manifest **ms = NULL;
	size_t nms = 0;
	route_table routes;
	upstream_set ups = {0};
	mesh_queue *queue = NULL;
	mesh_client_opts copts = {.caller = "edge"};
	edge_https *https = NULL;
	access_log log;
	edge_server_opts opts;
	sigset_t stop_signals;
	char err[512];
	int rv, port, admin_port, status = 1;

	if (rt_check_requested(argc, argv))
		return edge_check_main(argc, argv);
	if ((rv = parse_args(argc, argv, &args)) >= 0)
		return rv;
	/* Only the loop's signalfd may take SIGINT and SIGTERM: block them before any thread. */
	rt_stop_signals_block(&stop_signals);
	if (args.https_cert != NULL) {
		/* and SIGHUP, which reloads the certificate (without HTTPS it stops the edge) */
		sigset_t hup;
		sigemptyset(&hup);
		sigaddset(&hup, SIGHUP);
		pthread_sigmask(SIG_BLOCK, &hup, NULL);
	}

	route_table_init(&routes);
	if (access_log_open(&log, args.access_log, err, sizeof(err)) != 0)
		goto out_fail;
	if (manifest_load_dir(args.manifests, &ms, &nms, err, sizeof(err)) != 0 ||
	    routes_build(&routes, ms, nms, err, sizeof(err)) != 0)
		goto out_free_manifests;
	if (args.https_cert != NULL) {
		char about[256];
		if (edge_https_new(&https, args.https_cert, args.https_key, err, sizeof(err)) != 0)
			goto out_free_manifests;
		edge_https_describe(https, about, sizeof(about));
		fprintf(stderr,
			"edge: https: serving %s from %s (key %s), TLS 1.2 and 1.3, ALPN h2 and "
			"http/1.1; reloaded when the files change or on SIGHUP\n",
			about, args.https_cert, args.https_key);
	}
	if (edge_sandbox(&args, err, sizeof(err)) != 0)
		goto out_free_manifests;
	opts = (edge_server_opts){.routes = &routes,
				  .log = &log,
				  .upstreams = &ups,
				  .timeout_ms = args.timeout_ms < args.max_timeout_ms
						    ? args.timeout_ms
						    : args.max_timeout_ms,
				  .max_timeout_ms = args.max_timeout_ms,
				  .client_timeout_ms = args.client_timeout_ms,
				  .max_connections = connection_cap(args.max_connections),
				  .drain_ms = 2000,
				  .retry_reads = !args.use_nng,
				  .https = https};
	if (edge_server_new(&edge, &opts, err, sizeof(err)) != 0)
		goto out_free_server;
	copts.timeout_ms = args.timeout_ms;
	if (args.use_nng) {
		if ((rv = mesh_queue_new(&queue)) != 0) {
			snprintf(err, sizeof(err), "cannot make the reply queue: %s", strerror(rv));
			goto out_free_server;
		}
		if (edge_server_watch_queue(edge, queue, err, sizeof(err)) != 0)
			goto out_free_server;
		copts.queue = queue;
	} else {
		copts.loop = edge_server_mesh_loop(edge);
	}
	if (connect_upstreams(&args, ms, nms, &routes, &ups, &copts, err, sizeof(err)) != 0 ||
	    edge_server_listen(edge, args.host, args.port, &port, err, sizeof(err)) != 0 ||
	    (args.admin_port >= 0 &&
	     edge_server_listen_admin(edge, args.admin_host, args.admin_port, &admin_port, err,
				      sizeof(err)) != 0))
		goto out_free_upstreams;
	fprintf(stderr, "edge: listening on %s://%s%s%s:%d (mesh calls on %s)\n",
		https != NULL ? "https" : "http", host_bracket(args.host, 1), args.host,
		host_bracket(args.host, 0), port,
		args.use_nng ? "nng's threads" : "the edge's loop");
	if (args.admin_port >= 0)
		fprintf(stderr, "edge: admin on http://%s%s%s:%d\n",
			host_bracket(args.admin_host, 1), args.admin_host,
			host_bracket(args.admin_host, 0), admin_port);
	rv = edge_server_run(edge);
	fprintf(stderr, "edge: %s, stopped\n", strsignal(rv));
	status = 0;
	/* everything is answered: only freeing is left, which nng can hang (rt_stop_deadline) */
	rt_stop_deadline("edge", 2000);
	rt_stop_stage("closing the upstreams' clients");
	if (edge_server_inflight(edge) > 0) {
		fprintf(stderr, "edge: %d calls still in flight at exit\n",
			edge_server_inflight(edge));
		access_log_close(&log);
		return status; /* the clients must not be freed under their calls */
	}

out_free_upstreams:
	upstream_set_fini(&ups);
	rt_stop_stage("freeing the server");
out_free_server:
	edge_server_free(edge);
	mesh_queue_free(queue);
out_free_manifests:
	edge_https_free(https);
	manifest_free_all(ms, nms);
	route_table_fini(&routes);
	access_log_close(&log);
out_fail:
	if (status != 0)
		fprintf(stderr, "edge: %s\n", err);
	return status;
}
