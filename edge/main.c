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

#include "access_log.h"
#include "check_http.h"
#include "manifest.h"
#include "routes.h"
#include "registry.h"
#include "resolve.h"
#include "sandbox.h"
#include "server.h"
#include "upstream.h"

#define EDGE_MAX_UPSTREAM_ARGS 64

/* edge_args: the command line. */
typedef struct edge_args {
	char host[256];
	int port;
	char admin_host[256];
	int admin_port; /* -1: no admin listener */
	const char *manifests;
	const char *run_dir;
	const char *targets_dir;		       /* instances from target files, or NULL */
	const char *upstreams[EDGE_MAX_UPSTREAM_ARGS]; /* NAME=URL[,URL...] */
	int nupstreams;
	long timeout_ms;
	long client_timeout_ms;
	const char *access_log;
	int use_nng; /* carry calls on nng's threads instead of the edge's loop */
	int resolve_interval_ms;
	const char *tls_cert, *tls_key, *tls_ca; /* argv's; NULL: the environment's */
	mesh_sandbox_mode sandbox;		 /* --sandbox, else $CLEAVE_SANDBOX, else auto */
} edge_args;

static edge_server *edge; /* kept until exit: see edge_server_free */

static void usage(FILE *out, const char *argv0)
{
	fprintf(
	    out,
	    "usage: %s [--listen ADDR:PORT | --port N] [--manifests DIR] [--run-dir DIR]\n"
	    "          [--upstream NAME=URL[,URL...]]... [--timeout-ms N] [--access-log WHERE]\n"
	    "          [--client-timeout-ms N]\n"
	    "          [--mesh-transport loop|nng] [--admin-port N | --admin-listen ADDR:PORT]\n"
	    "          [--resolve-interval-ms N]\n"
	    "          [--tls-cert FILE --tls-key FILE --tls-ca FILE] [--sandbox auto|on|off]\n"
	    "\n"
	    "The cleave edge: answers the forum's HTTP API by calling its services over the mesh.\n"
	    "\n"
	    "  --listen ADDR:PORT  where to accept HTTP (default 127.0.0.1:8080; [::1]:8080 for "
	    "IPv6)\n"
	    "  --port N            same as --listen 127.0.0.1:N\n"
	    "  --manifests DIR     where the services' DIR/<name>/manifest.yml are (default "
	    "%s/svc)\n"
	    "  --run-dir DIR       a service with no --upstream is reached at "
	    "ipc://DIR/<name>.sock\n"
	    "                      (default $CLEAVE_RUN_DIR, else /tmp/cleave)\n"
	    "  --targets-dir DIR   a service with a target file DIR/<name> (written by meshctl)\n"
	    "                      is reached at the instances it lists, followed as it changes\n"
	    "  --upstream NAME=URLS  the instances of service NAME, comma-separated nng "
	    "addresses;\n"
	    "                      a tcp:// or tls+tcp:// host that is a DNS name is dialed at\n"
	    "                      every address it has, and resolved again every interval\n"
	    "  --resolve-interval-ms N  that interval (default $CLEAVE_RESOLVE_INTERVAL_MS,\n"
	    "                      else 5000): new addresses are dialed, vanished ones drained\n"
	    "                      and closed\n"
	    "  --timeout-ms N      deadline of each call to a service (default 5000)\n"
	    "  --client-timeout-ms N  how long a client may take to send a request's headers\n"
	    "                      and body (HTTP/1), or stay idle (HTTP/2), before its\n"
	    "                      connection is closed (default 10000)\n"
	    "  --access-log WHERE  '-' for stdout (default), 'off', or a file to append to\n"
	    "  --mesh-transport T  'loop' (default): calls travel on the edge's own event loop;\n"
	    "                      'nng': on nng's threads (slower; kept for comparison).\n"
	    "                      $CLEAVE_MESH_TRANSPORT sets the default.\n"
	    "  --admin-port N      serve GET /metrics (Prometheus text format) on 127.0.0.1:N,\n"
	    "                      a listener apart from the API's (default: none; 0 picks a\n"
	    "                      free port). Requests are counted only when it is on.\n"
	    "  --admin-listen ADDR:PORT  same, on another address\n"
	    "  --check URL         alone: GET URL (e.g. http://127.0.0.1:8080/); exit 0 if it\n"
	    "                      answers 200 within 2 s, else 1 with the reason (health checks)\n"
	    "  --sandbox MODE      Landlock: once the manifests are read, the edge may read only\n"
	    "                      system paths and --targets-dir, and write no file. auto\n"
	    "                      (default): when the kernel supports it; on: fail without it;\n"
	    "                      off: not applied (flag wins over $CLEAVE_SANDBOX)\n"
	    "  --tls-cert FILE     the edge's certificate (CN edge), shown to services at\n"
	    "                      tls+tcp:// addresses (default $CLEAVE_TLS_CERT; meshctl\n"
	    "                      certs makes it)\n"
	    "  --tls-key FILE      its private key (default $CLEAVE_TLS_KEY)\n"
	    "  --tls-ca FILE       the CA bundle a service's certificate must be signed by; its\n"
	    "                      CN must be the service's name (default $CLEAVE_TLS_CA)\n"
	    "  --help              this text\n"
	    "\n"
	    "Environment (a flag wins over its variable):\n"
	    "  CLEAVE_UPSTREAM_<NAME>=URL[,URL...]  like --upstream name=URLS; NAME upper-cased\n"
	    "                      (CLEAVE_UPSTREAM_USERS=tcp://users:7000)\n"
	    "  CLEAVE_RESOLVE_INTERVAL_MS=N  like --resolve-interval-ms\n"
	    "  CLEAVE_MESH_TRANSPORT=loop|nng, CLEAVE_RUN_DIR: as above\n"
	    "\n"
	    "Stops on SIGINT or SIGTERM, after the calls in flight finish (at most 2 s).\n",
	    argv0, CLEAVE_SOURCE_DIR);
}

static int parse_port(const char *s, int *out)
{
	char *end;
	long n;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || n < 0 || n > 65535)
		return -1;
	*out = (int)n;
	return 0;
}

/* parse_listen splits ADDR:PORT (ADDR may be [v6]) into host (hostsize bytes) and *port. */
static int parse_listen(const char *s, char *host, size_t hostsize, int *port)
{
	const char *colon = strrchr(s, ':');
	size_t hostlen;
	if (colon == NULL || parse_port(colon + 1, port) != 0)
		return -1;
	hostlen = (size_t)(colon - s);
	if (hostlen >= 2 && s[0] == '[' && colon[-1] == ']') {
		s++;
		hostlen -= 2;
	}
	if (hostlen == 0 || hostlen >= hostsize)
		return -1;
	memcpy(host, s, hostlen);
	host[hostlen] = '\0';
	return 0;
}

/* parse_tls loads the TLS files (flags, else environment) and checks that every tls+tcp://
 * upstream has them. Returns -1 to go on, else an exit status. */
static int parse_tls(const edge_args *a)
{
	char err[512];
	if (mesh_tls_configure(a->tls_cert, a->tls_key, a->tls_ca, err, sizeof(err)) != 0) {
		fprintf(stderr, "edge: %s\n", err);
		return 2;
	}
	for (int i = 0; i < a->nupstreams; i++) {
		const char *tls = strstr(a->upstreams[i], "tls+tcp://");
		if (tls != NULL && mesh_tls_check_url(tls, err, sizeof(err)) != 0) {
			fprintf(stderr, "edge: --upstream %s\n", err);
			return 2;
		}
	}
	return -1;
}

static int parse_args(int argc, char **argv, edge_args *a)
{
	static const struct option longopts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"port", required_argument, NULL, 'p'},
	    {"manifests", required_argument, NULL, 'm'},
	    {"run-dir", required_argument, NULL, 'r'},
	    {"targets-dir", required_argument, NULL, 'T'},
	    {"upstream", required_argument, NULL, 'u'},
	    {"timeout-ms", required_argument, NULL, 't'},
	    {"client-timeout-ms", required_argument, NULL, 'C'},
	    {"access-log", required_argument, NULL, 'a'},
	    {"mesh-transport", required_argument, NULL, 'x'},
	    {"admin-port", required_argument, NULL, 'P'},
	    {"admin-listen", required_argument, NULL, 'L'},
	    {"resolve-interval-ms", required_argument, NULL, 'R'},
	    {"tls-cert", required_argument, NULL, 1001},
	    {"tls-key", required_argument, NULL, 1002},
	    {"tls-ca", required_argument, NULL, 1003},
	    {"sandbox", required_argument, NULL, 1004},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int opt, interval_flag = 0;
	char *end, err[512];
	snprintf(a->host, sizeof(a->host), "127.0.0.1");
	a->port = 8080;
	snprintf(a->admin_host, sizeof(a->admin_host), "127.0.0.1");
	a->admin_port = -1;
	if (getenv("CLEAVE_SANDBOX") != NULL && getenv("CLEAVE_SANDBOX")[0] != '\0' &&
	    mesh_sandbox_parse_mode(getenv("CLEAVE_SANDBOX"), &a->sandbox) != 0) {
		fprintf(stderr, "edge: CLEAVE_SANDBOX is auto, on or off, not '%s'\n",
			getenv("CLEAVE_SANDBOX"));
		return 2;
	}
	a->manifests = CLEAVE_SOURCE_DIR "/svc";
	a->run_dir = getenv("CLEAVE_RUN_DIR") ? getenv("CLEAVE_RUN_DIR") : "/tmp/cleave";
	a->timeout_ms = 5000;
	a->client_timeout_ms = 10000;
	a->access_log = "-";
	a->use_nng = getenv("CLEAVE_MESH_TRANSPORT") != NULL &&
		     strcmp(getenv("CLEAVE_MESH_TRANSPORT"), "nng") == 0;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			if (parse_listen(optarg, a->host, sizeof(a->host), &a->port) != 0) {
				fprintf(stderr, "edge: --listen wants ADDR:PORT, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'p':
			if (parse_port(optarg, &a->port) != 0) {
				fprintf(stderr, "edge: --port wants 0 to 65535, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'P':
			if (parse_port(optarg, &a->admin_port) != 0) {
				fprintf(stderr, "edge: --admin-port wants 0 to 65535, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'L':
			if (parse_listen(optarg, a->admin_host, sizeof(a->admin_host),
					 &a->admin_port) != 0) {
				fprintf(stderr, "edge: --admin-listen wants ADDR:PORT, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'm':
			a->manifests = optarg;
			break;
		case 'r':
			a->run_dir = optarg;
			break;
		case 'T':
			a->targets_dir = optarg;
			break;
		case 'u':
			if (strchr(optarg, '=') == NULL || optarg[0] == '=' ||
			    a->nupstreams == EDGE_MAX_UPSTREAM_ARGS) {
				fprintf(stderr,
					"edge: --upstream wants NAME=URL[,URL...], not '%s'\n",
					optarg);
				return 2;
			}
			a->upstreams[a->nupstreams++] = optarg;
			break;
		case 't':
			errno = 0;
			a->timeout_ms = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || a->timeout_ms < 1 ||
			    a->timeout_ms > 3600000) {
				fprintf(stderr, "edge: --timeout-ms wants 1 to 3600000, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'C':
			errno = 0;
			a->client_timeout_ms = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || a->client_timeout_ms < 1 ||
			    a->client_timeout_ms > 3600000) {
				fprintf(stderr,
					"edge: --client-timeout-ms wants 1 to 3600000, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'a':
			a->access_log = optarg;
			break;
		case 1004:
			if (mesh_sandbox_parse_mode(optarg, &a->sandbox) != 0) {
				fprintf(stderr, "edge: --sandbox is auto, on or off, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'R':
			if (mesh_resolve_interval_parse(optarg, &a->resolve_interval_ms) != 0) {
				fprintf(stderr,
					"edge: --resolve-interval-ms wants milliseconds from %d to "
					"%d, not '%s'\n",
					MESH_RESOLVE_INTERVAL_MIN_MS, MESH_RESOLVE_INTERVAL_MAX_MS,
					optarg);
				return 2;
			}
			interval_flag = 1;
			break;
		case 'x':
			if (strcmp(optarg, "loop") != 0 && strcmp(optarg, "nng") != 0) {
				fprintf(stderr,
					"edge: --mesh-transport is 'loop' or 'nng', not '%s'\n",
					optarg);
				return 2;
			}
			a->use_nng = strcmp(optarg, "nng") == 0;
			break;
		case 1001:
			a->tls_cert = optarg;
			break;
		case 1002:
			a->tls_key = optarg;
			break;
		case 1003:
			a->tls_ca = optarg;
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 0;
		default:
			usage(stderr, argv[0]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "edge: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}
	if (!interval_flag &&
	    (a->resolve_interval_ms = mesh_resolve_interval_env(err, sizeof(err))) < 0) {
		fprintf(stderr, "edge: %s\n", err);
		return 2;
	}
	for (int i = 0; i < a->nupstreams; i++) {
		if (mesh_resolve_check_list(strchr(a->upstreams[i], '=') + 1, 0, err,
					    sizeof(err)) != 0) {
			fprintf(stderr, "edge: --upstream %s: %s\n", a->upstreams[i], err);
			return 2;
		}
	}
	return parse_tls(a);
}

/* upstream_env returns CLEAVE_UPSTREAM_<NAME> for the service called name, or NULL; the
 * variable's name is left in var (varlen bytes). */
static const char *upstream_env(const char *name, char *var, size_t varlen)
{
	size_t at = (size_t)snprintf(var, varlen, "CLEAVE_UPSTREAM_");
	for (const char *p = name; *p != '\0' && at + 1 < varlen; p++)
		var[at++] = isalnum((unsigned char)*p) ? (char)toupper((unsigned char)*p) : '_';
	var[at] = '\0';
	return getenv(var);
}

/* upstream_urls returns the --upstream addresses given for name, else those of
 * CLEAVE_UPSTREAM_<NAME>, or NULL. A malformed variable sets err and returns NULL with
 * *bad set. */
static const char *upstream_urls(const edge_args *a, const char *name, int *bad, char *err,
				 size_t errlen)
{
	size_t len = strlen(name);
	char var[160], why[256];
	const char *env;
	*bad = 0;
	for (int i = 0; i < a->nupstreams; i++)
		if (strncmp(a->upstreams[i], name, len) == 0 && a->upstreams[i][len] == '=')
			return a->upstreams[i] + len + 1;
	if ((env = upstream_env(name, var, sizeof(var))) == NULL)
		return NULL;
	if (mesh_resolve_check_list(env, 0, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: %s", var, why);
		*bad = 1;
		return NULL;
	}
	return env;
}

/* connect_upstreams makes a target group per manifest and points its routes at it, and the
 * split routes that send it a share of theirs. */
static int connect_upstreams(const edge_args *a, manifest **ms, size_t nms, route_table *routes,
			     upstream_set *ups, const mesh_client_opts *copts, char *err,
			     size_t errlen)
{
	for (int i = 0; i < a->nupstreams; i++) {
		const char *eq = strchr(a->upstreams[i], '=');
		size_t len = (size_t)(eq - a->upstreams[i]);
		int known = 0;
		for (size_t k = 0; k < nms; k++)
			known |= strlen(ms[k]->name) == len &&
				 strncmp(ms[k]->name, a->upstreams[i], len) == 0;
		if (!known) {
			snprintf(err, errlen, "--upstream %s: no manifest names this service",
				 a->upstreams[i]);
			return -1;
		}
	}
	for (size_t i = 0; i < nms; i++) {
		int bad;
		const char *urls = upstream_urls(a, ms[i]->name, &bad, err, errlen);
		char fallback[4200], targets[4200] = "", split_note[64] = "";
		size_t nroutes = 0, nsplits = 0;
		upstream *u;
		mesh_health_opts health = manifest_health_opts(ms[i]);
		if (bad)
			return -1;
		if (urls == NULL && a->targets_dir != NULL) {
			snprintf(targets, sizeof(targets), "%s/%s", a->targets_dir, ms[i]->name);
			if (access(targets, R_OK) == 0)
				urls = "";
			else
				targets[0] = '\0';
		}
		if (urls == NULL) {
			snprintf(fallback, sizeof(fallback), "ipc://%s/%s.sock", a->run_dir,
				 ms[i]->name);
			urls = fallback;
		}
		u = upstream_set_add(ups, ms[i]->name, registry_find_service(ms[i]->service), urls,
				     copts, err, errlen);
		if (u == NULL)
			return -1;
		if (targets[0] != '\0' && upstream_follow_targets(u, targets) != 0) {
			snprintf(err, errlen, "%s: out of memory", ms[i]->name);
			return -1;
		}
		/* the loop transport keeps a target group: checked, drained, failing open */
		mesh_client_set_health(u->client, &health);
		for (size_t k = 0; k < routes->n; k++) {
			route *r = routes->routes[k];
			if (r->kind == ROUTE_RPC && strcmp(r->service_name, ms[i]->name) == 0) {
				r->upstream = u;
				nroutes++;
			}
			if (r->split != NULL &&
			    strcmp(r->split->alt.service_name, ms[i]->name) == 0) {
				r->split->alt.upstream = u;
				nsplits++;
			}
		}
		if (nsplits > 0)
			snprintf(split_note, sizeof(split_note), ", a share of %zu split route%s",
				 nsplits, nsplits == 1 ? "" : "s");
		fprintf(stderr, "edge: %s (%s) at %s, %zu routes%s\n", ms[i]->name, ms[i]->service,
			targets[0] != '\0' ? targets : urls, nroutes, split_note);
	}
	return 0;
}

/* edge_sandbox restricts the edge with Landlock (mesh/sandbox.h) as --sandbox says, and logs
 * what it did. It runs once the manifests are read, the access log is open and the TLS files
 * are loaded, and before any thread starts (Landlock before ABI 8 restricts only the calling
 * thread and those it creates later). The edge writes no file by path afterwards (the access
 * log is an open descriptor), so nothing is writable; it reads only the target files, the
 * system paths (DNS, /proc for /metrics) and nothing else: a compromised edge cannot reach any
 * service's data. Returns 0 to go on, else -1 with the reason in err. */
static int edge_sandbox(const edge_args *a, char *err, size_t errlen)
{
	mesh_sandbox_spec spec = {.data_dir = NULL};
	char msg[1024];
	if (a->targets_dir != NULL)
		spec.read_only[spec.nread_only++] = a->targets_dir;
	if (mesh_sandbox_apply(&spec, a->sandbox, msg, sizeof(msg)) < 0) {
		snprintf(err, errlen, "%.400s", msg);
		return -1;
	}
	fprintf(stderr, "edge: %s\n", msg);
	return 0;
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
	access_log log;
	edge_server_opts opts;
	sigset_t stop_signals;
	char err[512];
	int rv, port, admin_port, status = 1;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--check") == 0 || strncmp(argv[i], "--check=", 8) == 0)
			return edge_check_main(argc, argv);
	if ((rv = parse_args(argc, argv, &args)) >= 0)
		return rv;
	/* Only the loop's signalfd may take SIGINT and SIGTERM: block them before any thread. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	route_table_init(&routes);
	if (access_log_open(&log, args.access_log, err, sizeof(err)) != 0)
		goto out_fail;
	if (manifest_load_dir(args.manifests, &ms, &nms, err, sizeof(err)) != 0 ||
	    routes_build(&routes, ms, nms, err, sizeof(err)) != 0)
		goto out_free_manifests;
	if (edge_sandbox(&args, err, sizeof(err)) != 0)
		goto out_free_manifests;
	opts = (edge_server_opts){.routes = &routes,
				  .log = &log,
				  .upstreams = &ups,
				  .timeout_ms = args.timeout_ms,
				  .client_timeout_ms = args.client_timeout_ms,
				  .drain_ms = 2000,
				  .retry_reads = !args.use_nng};
	if (edge_server_new(&edge, &opts, err, sizeof(err)) != 0)
		goto out_free_server;
	copts.timeout_ms = args.timeout_ms;
	ups.resolve_interval_ms = args.resolve_interval_ms;
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
	    upstream_set_watch_targets(&ups, edge_server_mesh_loop(edge)) != 0 ||
	    edge_server_listen(edge, args.host, args.port, &port, err, sizeof(err)) != 0 ||
	    (args.admin_port >= 0 &&
	     edge_server_listen_admin(edge, args.admin_host, args.admin_port, &admin_port, err,
				      sizeof(err)) != 0))
		goto out_free_upstreams;
	fprintf(stderr, "edge: listening on http://%s%s%s:%d (mesh calls on %s)\n",
		strchr(args.host, ':') ? "[" : "", args.host, strchr(args.host, ':') ? "]" : "",
		port, args.use_nng ? "nng's threads" : "the edge's loop");
	if (args.admin_port >= 0)
		fprintf(stderr, "edge: admin on http://%s%s%s:%d\n",
			strchr(args.admin_host, ':') ? "[" : "", args.admin_host,
			strchr(args.admin_host, ':') ? "]" : "", admin_port);
	rv = edge_server_run(edge);
	fprintf(stderr, "edge: %s, stopped\n", strsignal(rv));
	status = 0;
	if (edge_server_inflight(edge) > 0) {
		fprintf(stderr, "edge: %d calls still in flight at exit\n",
			edge_server_inflight(edge));
		access_log_close(&log);
		return status; /* the clients must not be freed under their calls */
	}

out_free_upstreams:
	upstream_set_fini(&ups);
out_free_server:
	edge_server_free(edge);
	mesh_queue_free(queue);
out_free_manifests:
	manifest_free_all(ms, nms);
	route_table_fini(&routes);
	access_log_close(&log);
out_fail:
	if (status != 0)
		fprintf(stderr, "edge: %s\n", err);
	return status;
}
