/* main.c: the monolith: every service of svc/ in one process (meshctl up --monolith), the way
 * the forum ran before it was cleaved; the edge in front of it is the same.
 *
 * Each service opens its own store in <state dir>/<name> and serves on inproc://<name> for the
 * others (their calls to each other go there) and on --listen-pattern for the edge, each with
 * the call policy its manifest gives it, as its own process would have. It is not
 * sandboxed: every service shares one process, so no rule could keep one service's code from
 * another's data; the process would need every data dir read-write, which is the boundary it is
 * the comparison without. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mesh.h"
#include "options.h"
#include "process.h"
#include "service.h"

/* the generated list of every service's definition, ending with NULL (monolith_services.c) */
extern const rt_service_def *const monolith_services[];

#define MONOLITH_DEP_WAIT_MS 2000

/* monolith_service: one service of the process. */
typedef struct monolith_service {
	const rt_service_def *def;
	char data[4096];
	rt_service_env env;
	rt_deps *deps;
	ProtobufCService *impl; /* NULL until opened */
	mesh_policy *policy;	/* who may call it, from the manifests */
	mesh_server *server;
} monolith_service;

/* monolith_opts: the command line. */
typedef struct monolith_opts {
	const char *run_dir;
	const char *state;
	const char *manifests; /* where the policies come from */
	const char *pattern;   /* where each service listens for the edge, %s its name */
	char default_pattern[4200];
} monolith_opts;

static void monolith_usage(FILE *out, const char *argv0)
{
	fprintf(out,
		"usage: %s [--run-dir DIR] [--state-dir DIR] [--listen-pattern URL]\n"
		"          [--manifests DIR]\n"
		"\n"
		"Serves every service (",
		argv0);
	for (size_t i = 0; monolith_services[i] != NULL; i++)
		fprintf(out, "%s%s", i ? ", " : "", monolith_services[i]->name);
	fprintf(
	    out,
	    ")\nin this one process: they call each other over nng's inproc:// transport, and\n"
	    "each also listens where the edge reaches it. Stops on SIGINT or SIGTERM.\n"
	    "\n"
	    "  --run-dir DIR         default $CLEAVE_RUN_DIR, else <state dir>/run (made 0700\n"
	    "                        if missing, for the default --listen-pattern)\n"
	    "  --listen-pattern URL  where each service listens for the edge, %%s its name\n"
	    "                        (default ipc://<run dir>/%%s.sock)\n"
	    "  --state-dir DIR       each service's data in DIR/<name> (default\n"
	    "                        $CLEAVE_STATE_DIR, else .state in the checkout, as\n"
	    "                        meshctl's)\n"
	    "  --manifests DIR       the manifests each service's call policy comes from, as a\n"
	    "                        service's does (default $CLEAVE_MANIFESTS, else svc/ in the\n"
	    "                        checkout): the services call each other, and the edge\n"
	    "                        calls them, only as the manifests allow\n"
	    "  --help                this text\n"
	    "\n"
	    "A service keeps its data in PostgreSQL when CLEAVE_STORE_URL_<NAME> (NAME\n"
	    "upper-cased: CLEAVE_STORE_URL_USERS) names its database (see svc-<name> --help).\n");
}

/* monolith_listen_url expands pattern's single %s with name into out. Returns 0 or -1. */
static int monolith_listen_url(char *out, size_t outlen, const char *pattern, const char *name)
{
	const char *at = strstr(pattern, "%s");
	if (at == NULL || strstr(at + 2, "%") != NULL || strchr(pattern, '%') != at)
		return -1;
	return snprintf(out, outlen, "%.*s%s%s", (int)(at - pattern), pattern, name, at + 2) <
		       (int)outlen
		   ? 0
		   : -1;
}

/* monolith_parse reads the command line into o. Returns -1 to go on, else an exit status. */
static int monolith_parse(int argc, char **argv, monolith_opts *o)
{
	static const struct option longopts[] = {
	    {"run-dir", required_argument, NULL, 'r'},
	    {"state-dir", required_argument, NULL, 's'},
	    {"listen-pattern", required_argument, NULL, 'p'},
	    {"manifests", required_argument, NULL, 'm'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char probe[256];
	int opt;
	o->run_dir = rt_default_run_dir();
	o->state = rt_default_state_dir();
	o->manifests = getenv("CLEAVE_MANIFESTS") != NULL ? getenv("CLEAVE_MANIFESTS")
							  : CLEAVE_SOURCE_DIR "/svc";
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			o->run_dir = optarg;
			break;
		case 's':
			o->state = optarg;
			break;
		case 'p':
			o->pattern = optarg;
			break;
		case 'm':
			o->manifests = optarg;
			break;
		case 'h':
			monolith_usage(stdout, argv[0]);
			return 0;
		default:
			monolith_usage(stderr, argv[0]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "monolith: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}
	if (o->pattern == NULL) {
		snprintf(o->default_pattern, sizeof(o->default_pattern), "ipc://%s/%%s.sock",
			 o->run_dir);
		o->pattern = o->default_pattern;
		if (rt_mkdirs(o->run_dir, 0700) != 0) {
			fprintf(stderr, "monolith: cannot make %s: %s\n", o->run_dir,
				strerror(errno));
			return 1;
		}
	}
	if (monolith_listen_url(probe, sizeof(probe), o->pattern, "x") != 0) {
		fprintf(stderr, "monolith: --listen-pattern needs one %%s, not '%s'\n", o->pattern);
		return 2;
	}
	return -1;
}

/* monolith_open opens s's store, with an empty set of clients its calls fill later. Returns 0
 * or -1 after a message. */
static int monolith_open(monolith_service *s, const monolith_opts *o)
{
	const rt_service_def *def = s->def;
	char err[512];
	int rv;
	if (snprintf(s->data, sizeof(s->data), "%s/%s", o->state, def->name) >=
	    (int)sizeof(s->data)) {
		fprintf(stderr, "%s: the state directory's path is too long\n", def->name);
		return -1;
	}
	if (rt_deps_new(&s->deps) != 0) {
		fprintf(stderr, "%s: out of memory\n", def->name);
		return -1;
	}
	/* each service's own database when CLEAVE_STORE_URL_<NAME> names one: one URL for all
	 * would mix their tables */
	s->env = (rt_service_env){.store_url = rt_store_url(def->name, NULL, 0),
				  .data_dir = s->data,
				  .seed = def->default_seed,
				  .deps = s->deps};
	if ((rv = rt_mkdirs(s->data, 0700)) != 0) {
		fprintf(stderr, "%s: cannot make %s: %s\n", def->name, s->data, strerror(rv));
		return -1;
	}
	if (rt_service_policy(o->manifests, def->name, &s->policy, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: no call policy: %s (give --manifests DIR)\n", def->name, err);
		return -1;
	}
	if (def->open(&s->env, &s->impl, err, sizeof(err)) != 0) {
		s->impl = NULL;
		fprintf(stderr, "%s: cannot open the store in %s: %s\n", def->name, s->data, err);
		return -1;
	}
	return 0;
}

/* monolith_batch is the server's batch hook: the service's read_batch (mesh_server_opts.batch),
 * on the loop threads that serve the edge. */
static void monolith_batch(void *arg, void *context, int begins)
{
	monolith_service *s = arg;
	(void)context;
	s->def->read_batch(s->impl, begins);
}

/* monolith_serve serves s on inproc://<name> for the others and on the pattern for the edge.
 * Returns 0 or -1 after a message. */
static int monolith_serve(monolith_service *s, const monolith_opts *o)
{
	const rt_service_def *def = s->def;
	const mesh_server_opts opts = {
	    .name = def->name,
	    .batch = def->read_batch != NULL ? monolith_batch : NULL,
	    .thread_arg = s,
	};
	char inproc[256], url[4400];
	int rv;
	snprintf(inproc, sizeof(inproc), "inproc://%s", def->name);
	monolith_listen_url(url, sizeof(url), o->pattern, def->name);
	if ((rv = mesh_server_new(&s->server, s->impl, &opts)) != 0) {
		fprintf(stderr, "%s: cannot make its server: %s\n", def->name, strerror(rv));
		return -1;
	}
	mesh_server_set_policy(s->server, s->policy);
	if ((rv = mesh_server_listen(s->server, inproc)) != 0 ||
	    (rv = mesh_server_listen(s->server, url)) != 0 ||
	    (rv = mesh_server_start(s->server)) != 0) {
		fprintf(stderr, "%s: cannot serve on %s: %s\n", def->name, url, strerror(rv));
		return -1;
	}
	fprintf(stderr, "%s: serving %s on %s and %s (%lld records in %s)\n", def->name,
		def->service->name, inproc, url, (long long)def->count(s->impl), s->data);
	return 0;
}

/* monolith_inproc is rt_deps_connect's view of where a service is: in this process. */
static const char *monolith_inproc(const char *name, void *ctx)
{
	char *buf = ctx; /* 256 bytes */
	snprintf(buf, 256, "inproc://%s", name);
	return buf;
}

int main(int argc, char **argv)
{
	monolith_opts o = {0};
	monolith_service *svcs;
	sigset_t stop;
	size_t n = 0;
	char where[256];
	int rv, status = 1;

	if ((rv = monolith_parse(argc, argv, &o)) >= 0)
		return rv;
	while (monolith_services[n] != NULL)
		n++;
	if ((svcs = calloc(n > 0 ? n : 1, sizeof(*svcs))) == NULL) {
		fprintf(stderr, "monolith: out of memory\n");
		return 1;
	}
	rt_stop_signals_block(&stop);
	/* every store first, then every server, then the calls between them */
	for (size_t i = 0; i < n; i++) {
		svcs[i].def = monolith_services[i];
		if (monolith_open(&svcs[i], &o) != 0)
			goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (monolith_serve(&svcs[i], &o) != 0)
			goto out;
	for (size_t i = 0; i < n; i++) {
		if (rt_deps_connect(svcs[i].deps, svcs[i].def->name, svcs[i].def->name,
				    svcs[i].def->calls, o.run_dir, 0, monolith_inproc, where) != 0)
			goto out;
		rt_deps_wait(svcs[i].deps, svcs[i].def->name, MONOLITH_DEP_WAIT_MS);
	}
	fprintf(stderr, "monolith: %s, stopping\n", strsignal(rt_stop_signals_wait(&stop)));
	status = 0;
out:
	for (size_t i = 0; i < n; i++)
		mesh_server_free(svcs[i].server);
	for (size_t i = 0; i < n; i++) {
		if (svcs[i].impl != NULL)
			svcs[i].def->close(svcs[i].impl);
		rt_deps_free(svcs[i].deps);
		mesh_policy_free(svcs[i].policy);
	}
	free(svcs);
	return status;
}
