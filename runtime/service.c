/* service.c: the main() every service executable shares: options, store, the services it
 * calls, serving until a stop signal. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "group.h"
#include "manifest.h"
#include "options.h"
#include "process.h"
#include "resolve.h"
#include "sandbox.h"
#include "service.h"

#define SERVICE_MAX_LISTEN  16
#define SERVICE_DEP_WAIT_MS 2000

struct rt_deps {
	const rt_dependency *calls[RT_SERVICE_MAX_CALLS];
	rt_group *groups[RT_SERVICE_MAX_CALLS];
	size_t n;
	mesh_loop *loop;    /* the clients' loop, or NULL: blocking clients */
	int64_t created_us; /* when it was made, for rt_deps_ready */
};

/* the policy's mode: as the manifest says (derived policies; enforce for a file), or forced */
enum { POLICY_MODE_MANIFEST, POLICY_MODE_ENFORCE, POLICY_MODE_AUDIT };

/* service_args: the command line. */
typedef struct service_args {
	const rt_service_def *def;
	const char *argv0;
	rt_opts shared; /* what the edge takes too */
	const char *listen[SERVICE_MAX_LISTEN];
	int nlisten;
	char *listen_env;      /* CLEAVE_LISTEN, cut at its commas into listen[] */
	const char *policy;    /* the call policy's file, or NULL: derived from the manifests */
	const char *manifests; /* where the manifests are */
	int policy_mode;       /* POLICY_MODE_*: what --policy-mode or CLEAVE_POLICY_MODE says */
	int insecure;	       /* may listen on other hosts without TLS */
	mesh_policy *rules;    /* the policy in force; owned */
	char data_dir[4096];
	const char *store_flag;	 /* --store URL, or NULL */
	char store_env_name[64]; /* the service's name as in CLEAVE_STORE_URL_<NAME> */
	/* where the data is, for messages: the data dir, or the store's URL without passwords */
	char store_where[4200];
	rt_service_env env;
	mesh_server_opts server;
	ProtobufCService *impl;		/* what def->open made, while it serves; borrowed */
	rt_sandbox_paths sandbox_paths; /* what the sandbox's spec points into */
} service_args;

mesh_client *rt_deps_client(const rt_deps *deps, const char *name)
{
	for (size_t i = 0; deps != NULL && i < deps->n; i++)
		if (strcmp(deps->calls[i]->name, name) == 0)
			return rt_group_client(deps->groups[i]);
	return NULL;
}

int rt_deps_new(rt_deps **out)
{
	return rt_deps_new_on(out, NULL);
}

int rt_deps_new_on(rt_deps **out, mesh_loop *loop)
{
	if ((*out = calloc(1, sizeof(**out))) == NULL)
		return ENOMEM;
	(*out)->loop = loop;
	(*out)->created_us = mesh_now_us();
	return 0;
}

int rt_deps_ready(const rt_deps *deps, int wait_ms)
{
	if (deps == NULL || mesh_now_us() - deps->created_us >= (int64_t)wait_ms * 1000)
		return 1;
	for (size_t i = 0; i < deps->n; i++)
		if (mesh_client_instances(rt_group_client(deps->groups[i])) == 0)
			return 0;
	return 1;
}

int rt_deps_inflight(const rt_deps *deps)
{
	int n = 0;
	for (size_t i = 0; deps != NULL && i < deps->n; i++)
		n += mesh_client_inflight(rt_group_client(deps->groups[i]));
	return n;
}

int rt_deps_connect(rt_deps *deps, const char *prog, const char *caller, const rt_dependency *calls,
		    const char *run_dir, int resolve_interval_ms,
		    const char *(*urls)(const char *name, void *ctx), void *ctx)
{
	for (const rt_dependency *d = calls; d != NULL && d->name != NULL; d++) {
		char targets[4200], fallback[4200], err[512];
		rt_group_opts go = {
		    .name = d->name,
		    .service = d->service,
		    .log_prefix = prog,
		    .client = {.caller = caller, .loop = deps->loop},
		    .urls = urls != NULL ? urls(d->name, ctx) : NULL,
		    .resolve_interval_ms = resolve_interval_ms,
		};
		if (deps->n == RT_SERVICE_MAX_CALLS) {
			fprintf(stderr, "%s: calls more than %d services\n", prog,
				RT_SERVICE_MAX_CALLS);
			return -1;
		}
		if (go.urls == NULL) {
			snprintf(targets, sizeof(targets), "%s/targets/%s", run_dir, d->name);
			snprintf(fallback, sizeof(fallback), "ipc://%s/%s.sock", run_dir, d->name);
			if (access(targets, R_OK) == 0)
				go.targets = targets;
			else
				go.urls = fallback;
		}
		if (rt_group_new(&deps->groups[deps->n], &go, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s: cannot call %s: %s\n", prog, d->name, err);
			return -1;
		}
		deps->calls[deps->n++] = d;
		if (deps->loop != NULL)
			continue; /* a loop thread's own clients: the blocking ones said where */
		if (go.targets != NULL)
			fprintf(stderr, "%s: calls %s at the instances in %s\n", prog, d->name,
				go.targets);
		else
			fprintf(stderr, "%s: calls %s at %s\n", prog, d->name, go.urls);
	}
	return 0;
}

void rt_deps_wait(const rt_deps *deps, const char *prog, int wait_ms)
{
	int64_t until = mesh_now_us() + (int64_t)wait_ms * 1000;
	for (;;) {
		size_t connected = 0;
		for (size_t i = 0; i < deps->n; i++)
			connected += mesh_client_instances(rt_group_client(deps->groups[i])) > 0;
		if (connected == deps->n)
			return;
		if (mesh_now_us() >= until)
			break;
		usleep(2000);
	}
	for (size_t i = 0; i < deps->n; i++)
		if (mesh_client_instances(rt_group_client(deps->groups[i])) == 0)
			fprintf(stderr, "%s: %s is not reachable yet; its calls fail until it is\n",
				prog, deps->calls[i]->name);
}

void rt_deps_free(rt_deps *deps)
{
	if (deps == NULL)
		return;
	for (size_t i = 0; i < deps->n; i++)
		rt_group_free(deps->groups[i]);
	free(deps);
}

/* service_options: a service's own options (the shared ones are options.h's). */
static const rt_option service_options[] = {
    {"listen", "URL", 'l',
     "address to serve on: ipc:///path/to.sock, tcp://HOST:PORT or tls+tcp://HOST:PORT (repeat "
     "for several addresses)"},
    {"data-dir", "DIR", 'd',
     "the service's own data (mode 0700; default $CLEAVE_STATE_DIR/<name>, else "
     ".state/<name> in the checkout, as under meshctl)"},
    {"store", "URL", 'S',
     "where the data is: postgres://USER:PASSWORD@HOST:PORT/DB (or postgresql://, or libpq's "
     "'key=value ...') for PostgreSQL, a database and role of this service's own; sqlite: or "
     "none for the embedded SQLite store in --data-dir (the default). Also "
     "CLEAVE_STORE_URL_<NAME>, then CLEAVE_STORE_URL"},
    {"seed", "FILE", 's', "JSON array of records loaded on the first start only"},
    {"sync", "MODE", 'y',
     "normal (default): a commit survives any crash of the process; full: it also survives "
     "power loss (fsync on every commit)"},
    {"policy", "FILE", 'P',
     "who may call what: only the callers FILE allows may call each method (lines 'CALLER "
     "METHOD'; Health is open, its detail only to callers allowed 'Health'). Without it the "
     "policy is derived from the manifests (--manifests): the edge calls what routes name, a "
     "service what its calls: lists, meshctl anything. Over tls+tcp:// a caller's CN is its "
     "proven identity; a plain tcp:// caller is 'anonymous'"},
    {"policy-mode", "MODE", 'O',
     "enforce: a call the policy does not allow is denied; audit: it is logged ('audit: would "
     "deny ...' with the rule), counted in Health (would_deny) and run. Default: the "
     "service's manifest's policy: key (enforce when it has none, or with --policy); also "
     "CLEAVE_POLICY_MODE"},
    {"manifests", "DIR", 'M',
     "where DIR/<name>/manifest.yml are, to derive the policy from (default "
     "$CLEAVE_MANIFESTS, else svc/ in the checkout)"},
    {"insecure", NULL, 'I',
     "trust what a plain tcp:// caller claims to be (without it such a caller is "
     "'anonymous'), and serve a tcp:// address other hosts can reach without TLS (refused "
     "otherwise); also CLEAVE_INSECURE=1. For networks trusted by other means only"},
    {"loops", "N", 'L', "event-loop threads serving ipc://, tcp:// and tls+tcp:// (default 1)"},
    {"workers", "N", 'w',
     "nng worker threads serving other addresses (inproc://, ws://), or every address when "
     "CLEAVE_MESH_TRANSPORT=nng (default 8)"},
    {"max-conns", "N", 'C',
     "connections each listener holds at once, 1 to 1000000 (default 1024); at the cap the "
     "one idle longest is closed for a newcomer, else accepting pauses"},
    {"max-frame", "BYTES", 'F',
     "the largest call accepted, 1024 to 1073741824 bytes (default 4194304); a larger one "
     "closes its connection"},
    {"idle-timeout-ms", "N", 'T',
     "a connection that completes no call within N ms of its accept, holds part of a call "
     "that long, or whose peer takes none of its replies that long, is closed; 100 to "
     "3600000 (default 10000)"},
    {NULL, NULL, 0, NULL},
};

/* service_usage prints --help; ctx is the service_args. */
static void service_usage(FILE *out, void *ctx)
{
	const service_args *a = ctx;
	const rt_service_def *def = a->def;
	fprintf(
	    out,
	    "usage: %s --listen URL [--listen URL]... [--data-dir DIR] [--store URL]\n"
	    "          [--seed FILE] [--sync normal|full] [--call NAME=URLS]... [--run-dir DIR]\n"
	    "          [--loops N] [--workers N] [--max-conns N] [--max-frame BYTES]\n"
	    "          [--idle-timeout-ms N] [--policy FILE] [--policy-mode enforce|audit]\n"
	    "          [--sandbox auto|on|off]\n"
	    "          [--resolve-interval-ms N]\n"
	    "          [--tls-cert FILE --tls-key FILE --tls-ca FILE]\n"
	    "\n"
	    "Serves the %s service (%s) over the cleave mesh until SIGINT or SIGTERM; its seed\n"
	    "without --seed is %s.\n"
	    "\n",
	    a->argv0, def->name, def->service->name, def->default_seed);
	rt_opts_usage(&a->shared, out, service_options, "a called service");
	fprintf(out,
		"  CLEAVE_LISTEN=URL[,URL...]  like --listen\n"
		"  CLEAVE_STORE_URL_%s=URL, else CLEAVE_STORE_URL=URL  like --store\n"
		"\n"
		"Under the sandbox, once the store is open, the process reaches only its data dir\n"
		"(read-write), the seed, the policy, the run dir's targets and system paths\n"
		"(read-only): files a PostgreSQL URL names (sslrootcert...) belong there too.\n",
		a->store_env_name);
}

/* service_parse_count reads a thread count of 1..1024; returns -1 if s is not one. */
static int service_parse_count(const char *s)
{
	char *end;
	long n;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || n < 1 || n > 1024)
		return -1;
	return (int)n;
}

/* service_parse_long reads a number from min to max; returns -1 if s is not one. */
static long long service_parse_long(const char *s, long long min, long long max)
{
	char *end;
	long long n;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || n < min || n > max)
		return -1;
	return n;
}

/* service_listen_env cuts CLEAVE_LISTEN into a->listen when no --listen was given. Returns -1
 * to go on, else an exit status. */
static int service_listen_env(const rt_service_def *def, service_args *a)
{
	const char *env = getenv("CLEAVE_LISTEN");
	char err[512], *url, *save = NULL;
	if (a->nlisten > 0 || env == NULL)
		return -1;
	if (rt_resolve_check_list(env, 1, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: CLEAVE_LISTEN: %s\n", def->name, err);
		return 2;
	}
	if ((a->listen_env = strdup(env)) == NULL)
		return 1;
	for (url = strtok_r(a->listen_env, ",", &save); url != NULL;
	     url = strtok_r(NULL, ",", &save)) {
		if (a->nlisten == SERVICE_MAX_LISTEN) {
			fprintf(stderr, "%s: CLEAVE_LISTEN: at most %d addresses\n", def->name,
				SERVICE_MAX_LISTEN);
			return 2;
		}
		a->listen[a->nlisten++] = url;
	}
	return -1;
}

/* service_policy_mode reads "enforce" or "audit" into a POLICY_MODE_; -1 for anything else. */
static int service_policy_mode(const char *s)
{
	return strcmp(s, "enforce") == 0 ? POLICY_MODE_ENFORCE
	       : strcmp(s, "audit") == 0 ? POLICY_MODE_AUDIT
					 : -1;
}

/* service_option takes one of the service's own options into the service_args ctx points at.
 * Returns -1 to go on, else an exit status. */
static int service_option(int opt, const char *arg, void *ctx)
{
	service_args *a = ctx;
	const rt_service_def *def = a->def;
	int n;
	switch (opt) {
	case 'l':
		if (a->nlisten == SERVICE_MAX_LISTEN) {
			fprintf(stderr, "%s: at most %d --listen addresses\n", def->name,
				SERVICE_MAX_LISTEN);
			return 2;
		}
		a->listen[a->nlisten++] = arg;
		return -1;
	case 'd':
		snprintf(a->data_dir, sizeof(a->data_dir), "%s", arg);
		return -1;
	case 'S':
		a->store_flag = arg;
		return -1;
	case 's':
		a->env.seed = arg;
		return -1;
	case 'y':
		if (strcmp(arg, "normal") != 0 && strcmp(arg, "full") != 0) {
			fprintf(stderr, "%s: --sync is normal or full, not '%s'\n", def->name, arg);
			return 2;
		}
		a->env.sync_full = strcmp(arg, "full") == 0;
		return -1;
	case 'P':
		a->policy = arg;
		return -1;
	case 'M':
		a->manifests = arg;
		return -1;
	case 'O':
		if ((a->policy_mode = service_policy_mode(arg)) < 0) {
			fprintf(stderr, "%s: --policy-mode is enforce or audit, not '%s'\n",
				def->name, arg);
			return 2;
		}
		return -1;
	case 'I':
		a->insecure = 1;
		return -1;
	case 'L':
	case 'w':
		if ((n = service_parse_count(arg)) < 0) {
			fprintf(stderr, "%s: --%s wants a number from 1 to 1024, not '%s'\n",
				def->name, opt == 'w' ? "workers" : "loops", arg);
			return 2;
		}
		if (opt == 'w')
			a->server.workers = n;
		else
			a->server.loops = n;
		return -1;
	case 'C':
		if ((a->server.max_conns = (int)service_parse_long(arg, 1, 1000000)) < 0) {
			fprintf(stderr,
				"%s: --max-conns wants a number from 1 to 1000000, not '%s'\n",
				def->name, arg);
			return 2;
		}
		return -1;
	case 'F': {
		long long n = service_parse_long(arg, 1024, 1LL << 30);
		if (n < 0) {
			fprintf(stderr,
				"%s: --max-frame wants bytes from 1024 to 1073741824, not '%s'\n",
				def->name, arg);
			return 2;
		}
		a->server.max_frame = (size_t)n;
		return -1;
	}
	case 'T':
		if ((a->server.idle_timeout_ms = (int)service_parse_long(arg, 100, 3600000)) < 0) {
			fprintf(stderr,
				"%s: --idle-timeout-ms wants milliseconds from 100 to 3600000, not "
				"'%s'\n",
				def->name, arg);
			return 2;
		}
		return -1;
	default:
		return 2;
	}
}

/* service_parse parses the command line into a; returns -1 to go on, else an exit status. */
static int service_parse(int argc, char **argv, const rt_service_def *def, service_args *a)
{
	const rt_opts_args args = {
	    .own = service_options, .on_own = service_option, .usage = service_usage, .ctx = a};
	char err[512];
	int rv;
	a->def = def;
	a->argv0 = argv[0];
	for (size_t i = 0; def->name[i] != '\0' && i + 1 < sizeof(a->store_env_name); i++)
		a->store_env_name[i] = isalnum((unsigned char)def->name[i])
					   ? (char)toupper((unsigned char)def->name[i])
					   : '_';
	a->env.seed = def->default_seed;
	a->manifests = getenv("CLEAVE_MANIFESTS") != NULL ? getenv("CLEAVE_MANIFESTS")
							  : CLEAVE_SOURCE_DIR "/svc";
	a->insecure =
	    getenv("CLEAVE_INSECURE") != NULL && strcmp(getenv("CLEAVE_INSECURE"), "1") == 0;
	if (getenv("CLEAVE_POLICY_MODE") != NULL && getenv("CLEAVE_POLICY_MODE")[0] != '\0' &&
	    (a->policy_mode = service_policy_mode(getenv("CLEAVE_POLICY_MODE"))) < 0) {
		fprintf(stderr, "%s: CLEAVE_POLICY_MODE is enforce or audit, not '%s'\n", def->name,
			getenv("CLEAVE_POLICY_MODE"));
		return 2;
	}
	if ((rv = rt_opts_init(&a->shared, def->name, "call", "CLEAVE_CALL_")) != 0)
		return rv;
	a->shared.check_help =
	    "alone: call Health at URL (e.g. tcp://127.0.0.1:7000); exit 0 if it answers OK within "
	    "2 s, else 1 with the reason";
	if ((rv = rt_opts_parse_args(&a->shared, argc, argv, &args)) >= 0)
		return rv;
	if ((rv = service_listen_env(def, a)) >= 0)
		return rv;
	if (rt_opts_finish(&a->shared, a->listen, a->nlisten) != 0)
		return 2;
	/* a malformed variable for a service it calls stops it now, before any data is touched */
	for (const rt_dependency *d = def->calls; d != NULL && d->name != NULL; d++) {
		int bad;
		rt_opts_urls(&a->shared, d->name, &bad, err, sizeof(err));
		if (bad) {
			fprintf(stderr, "%s: %s\n", def->name, err);
			return 2;
		}
	}
	if (a->nlisten == 0) {
		fprintf(stderr,
			"%s: give at least one --listen URL, or CLEAVE_LISTEN (see --help)\n",
			def->name);
		return 2;
	}
	if (a->data_dir[0] == '\0')
		snprintf(a->data_dir, sizeof(a->data_dir), "%s/%s", rt_default_state_dir(),
			 def->name);
	a->env.data_dir = a->data_dir;
	a->env.store_url = rt_store_url(def->name, a->store_flag, 1);
	if (a->env.store_url != NULL && strcmp(a->env.store_url, "sqlite:") != 0)
		rt_url_redact(a->env.store_url, a->store_where, sizeof(a->store_where));
	else
		snprintf(a->store_where, sizeof(a->store_where), "%s", a->data_dir);
	return -1;
}

/* service_sandbox restricts this process with Landlock (sandbox.h) as --sandbox says and logs
 * what it did. It runs once the store is open (and the seed read) and before any thread starts:
 * Landlock before ABI 8 restricts only the calling thread and the threads it creates later, and
 * the first clients and listeners start nng's and the event loop's threads. So the listeners are
 * made under the sandbox: their socket directories are allowed for that. What the service reads
 * later is allowed read-only: the policy file (loaded below), <run dir>/targets (target files
 * re-read every 250 ms; not the whole run dir, which may hold data dirs), the seed, TLS files
 * named in the environment. Connecting to a pathname ipc:// socket is not a filesystem right
 * Landlock handles before ABI 9, which this code does not ask for, so dialing and redialing a
 * callee's socket keeps working. Returns 0 to go on, else -1 (the reason logged). */
static int service_sandbox(const rt_service_def *def, service_args *a)
{
	rt_sandbox_spec spec;
	char msg[1024];
	int rv;
	rt_sandbox_service_spec(&spec, &a->sandbox_paths, a->data_dir, a->env.seed, a->policy,
				a->shared.run_dir, a->listen, a->nlisten);
	rv = rt_sandbox_apply(&spec, a->shared.sandbox, msg, sizeof(msg));
	fprintf(stderr, "%s: %s\n", def->name, msg);
	return rv < 0 ? -1 : 0;
}

/* service_call_urls is rt_deps_connect's view of the command line: a dependency's --call or
 * CLEAVE_CALL_<NAME> (checked by service_parse). */
static const char *service_call_urls(const char *name, void *ctx)
{
	const service_args *a = ctx;
	char err[8];
	int bad;
	return rt_opts_urls(&a->shared, name, &bad, err, sizeof(err));
}

/* service_thread_start is the server's thread_start: a loop thread's own clients of the
 * services this one calls, on its loop (mesh_call_context), so that its calls to them are made
 * without blocking it. NULL (the blocking clients serve) for a service that calls none or if they
 * cannot be made. */
static void *service_thread_start(void *arg, mesh_loop *loop)
{
	service_args *a = arg;
	const rt_service_def *def = a->def;
	rt_deps *deps;
	if (def->calls == NULL || def->calls[0].name == NULL || rt_deps_new_on(&deps, loop) != 0)
		return NULL;
	if (rt_deps_connect(deps, def->name, def->name, def->calls, a->shared.run_dir,
			    a->shared.resolve_interval_ms, service_call_urls, a) != 0) {
		rt_deps_free(deps);
		return NULL;
	}
	return deps;
}

/* service_thread_ready is the server's thread_ready: the thread's clients are connected, or had
 * as long as the blocking ones had. */
static int service_thread_ready(void *arg, void *context)
{
	(void)arg;
	return rt_deps_ready(context, SERVICE_DEP_WAIT_MS);
}

/* service_thread_stop is the server's thread_stop: frees the thread's clients, unless a call is
 * still out on them after the drain (a callee that does not answer): the process is ending. */
static void service_thread_stop(void *arg, void *context)
{
	(void)arg;
	if (rt_deps_inflight(context) == 0)
		rt_deps_free(context);
}

/* service_batch is the server's batch hook: the service's read_batch. */
static void service_batch(void *arg, void *context, int begins)
{
	service_args *a = arg;
	(void)context;
	a->def->read_batch(a->impl, begins);
}

/* service_serve makes the server of impl, loads the policy, listens and serves until a stop
 * signal. Returns the exit status. */
static int service_serve(const rt_service_def *def, service_args *a, ProtobufCService *impl,
			 const sigset_t *stop)
{
	mesh_server *server = NULL;
	int rv, status = 1;
	a->server.name = def->name;
	a->server.insecure = a->insecure;
	a->server.thread_start = service_thread_start;
	a->server.thread_ready = service_thread_ready;
	a->server.thread_stop = service_thread_stop;
	a->server.batch = def->read_batch != NULL ? service_batch : NULL;
	a->impl = impl;
	a->server.thread_arg = a;
	if ((rv = mesh_server_new(&server, impl, &a->server)) != 0) {
		fprintf(stderr, "%s: cannot create the server: %s\n", def->name, strerror(rv));
		return 1;
	}
	mesh_server_set_policy(server, a->rules);
	for (int i = 0; i < a->nlisten; i++) {
		if ((rv = mesh_server_listen(server, a->listen[i])) != 0) {
			fprintf(stderr, "%s: cannot listen on %s: %s\n", def->name, a->listen[i],
				strerror(rv));
			goto out_free;
		}
	}
	if ((rv = mesh_server_start(server)) != 0) {
		fprintf(stderr, "%s: cannot start serving: %s\n", def->name, strerror(rv));
		goto out_free;
	}
	for (int i = 0; i < a->nlisten; i++)
		fprintf(stderr, "%s: serving %s on %s (%lld records in %s)\n", def->name,
			def->service->name, a->listen[i], (long long)def->count(impl),
			a->store_where);
	fprintf(stderr, "%s: %s, stopping\n", def->name, strsignal(rt_stop_signals_wait(stop)));
	/* once the server has stopped, every call is answered: only freeing is left, which nng
	 * can hang (rt_stop_deadline), as the edge's */
	mesh_server_stop(server);
	rt_stop_deadline(def->name, 2000);
	rt_stop_stage("freeing the server");
	status = 0;
out_free:
	mesh_server_free(server);
	return status;
}

/* policy_rule is manifest_policy's emit: one rule into the mesh_policy ctx points at. */
static void policy_rule(const char *caller, const char *method, const char *why, void *ctx)
{
	if (mesh_policy_allow_because(ctx, caller, method, why) != 0)
		fprintf(stderr, "cannot allow %s %s\n", caller, method);
}

int rt_service_policy(const char *manifests, const char *name, mesh_policy **out, char *err,
		      size_t errlen)
{
	manifest **ms = NULL;
	size_t n = 0, k;
	if (manifest_load_dir(manifests, &ms, &n, err, errlen) != 0 ||
	    manifest_check_calls(ms, n, err, errlen) != 0) {
		manifest_free_all(ms, n);
		return -1;
	}
	for (k = 0; k < n && strcmp(ms[k]->name, name) != 0; k++)
		;
	if (k == n) {
		snprintf(err, errlen, "%s has no manifest of %s", manifests, name);
	} else if (mesh_policy_new(out) != 0) {
		snprintf(err, errlen, "out of memory");
		k = n;
	} else {
		manifest_policy(ms, n, k, policy_rule, *out);
		mesh_policy_set_audit(*out, ms[k]->policy_audit);
	}
	manifest_free_all(ms, n);
	return k < n ? 0 : -1;
}

/* service_policy_set_mode applies --policy-mode (or CLEAVE_POLICY_MODE) to a->rules. */
static void service_policy_set_mode(const rt_service_def *def, service_args *a)
{
	(void)def;
	if (a->policy_mode != POLICY_MODE_MANIFEST)
		mesh_policy_set_audit(a->rules, a->policy_mode == POLICY_MODE_AUDIT);
}

/* service_policy_audit_note is what the policy's start line adds in audit mode. */
static const char *service_policy_audit_note(const service_args *a)
{
	return mesh_policy_audits(a->rules) ? " (AUDIT MODE: denials are logged and counted, not "
					      "enforced)"
					    : "";
}

/* service_policy loads the policy file, or derives the policy from the manifests, into
 * a->rules, and says which. Returns 0 or -1 after a message. */
static int service_policy(const rt_service_def *def, service_args *a)
{
	char err[512];
	if (a->policy != NULL) {
		if (mesh_policy_load(a->policy, &a->rules, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s: %s\n", def->name, err);
			return -1;
		}
		service_policy_set_mode(def, a);
		fprintf(stderr, "%s: calls are default-deny, allowed by %s%s\n", def->name,
			a->policy, service_policy_audit_note(a));
		return 0;
	}
	if (rt_service_policy(a->manifests, def->name, &a->rules, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: no call policy: %s (give --policy FILE or --manifests DIR)\n",
			def->name, err);
		return -1;
	}
	service_policy_set_mode(def, a);
	fprintf(stderr, "%s: calls are default-deny, allowed as the manifests in %s say%s\n",
		def->name, a->manifests, service_policy_audit_note(a));
	return 0;
}

/* service_exposed checks that every tcp:// address other hosts can reach is allowed to be
 * served without TLS (--insecure), and says so when it is. Returns 0 or -1 after a message. */
static int service_exposed(const rt_service_def *def, const service_args *a)
{
	if (a->insecure)
		fprintf(stderr, "%s: --insecure: a plain tcp:// caller is who it claims to be\n",
			def->name);
	for (int i = 0; i < a->nlisten; i++) {
		if (!rt_url_reachable_in_clear(a->listen[i]))
			continue;
		if (!a->insecure) {
			fprintf(stderr,
				"%s: --listen %s: other hosts could call it without TLS, as "
				"'anonymous'; listen on tls+tcp:// with --tls-cert, --tls-key and "
				"--tls-ca, or give --insecure to serve it anyway\n",
				def->name, a->listen[i]);
			return -1;
		}
		fprintf(stderr, "%s: --insecure: %s is served without TLS to other hosts\n",
			def->name, a->listen[i]);
	}
	return 0;
}

int rt_service_main(int argc, char **argv, const rt_service_def *def)
{
	service_args *a;
	ProtobufCService *impl = NULL;
	rt_deps *deps = NULL;
	char err[512];
	sigset_t stop;
	int rv, status = 1;

	if (rt_check_requested(argc, argv))
		return rt_check_main(def->name, argc, argv);
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		fprintf(stderr, "%s: out of memory\n", def->name);
		return 1;
	}
	if ((rv = service_parse(argc, argv, def, a)) >= 0) {
		status = rv;
		goto out_free_args;
	}
	if (service_exposed(def, a) != 0 || service_policy(def, a) != 0) {
		status = 2;
		goto out_free_args;
	}
	/* before any thread starts, so only sigwait sees them */
	rt_stop_signals_block(&stop);
	if ((rv = rt_mkdirs(a->data_dir, 0700)) != 0) {
		fprintf(stderr, "%s: cannot make %s: %s\n", def->name, a->data_dir, strerror(rv));
		goto out_free_args;
	}
	/* SQLite's temporary files (large sorts, statement journals) go to the data dir, the
	 * one place the sandbox lets it write; read when SQLite starts, so set before the store */
	if (a->shared.sandbox != RT_SANDBOX_OFF)
		setenv("SQLITE_TMPDIR", a->data_dir, 1);
	/* the deps are connected after the sandbox (their clients start threads); the service
	 * reads them through env.deps only from its first call on */
	if (rt_deps_new(&deps) != 0) {
		fprintf(stderr, "%s: out of memory\n", def->name);
		goto out_free_args;
	}
	a->env.deps = deps;
	if (def->open(&a->env, &impl, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: cannot open the store in %s: %s\n", def->name, a->store_where,
			err);
		goto out_free_deps;
	}
	if (service_sandbox(def, a) != 0 ||
	    rt_deps_connect(deps, def->name, def->name, def->calls, a->shared.run_dir,
			    a->shared.resolve_interval_ms, service_call_urls, a) != 0)
		goto out_close;
	rt_deps_wait(deps, def->name, SERVICE_DEP_WAIT_MS);
	status = service_serve(def, a, impl, &stop);
	rt_stop_stage("closing the store");
out_close:
	def->close(impl);
	rt_stop_stage("closing the clients");
out_free_deps:
	rt_deps_free(deps);
out_free_args:
	mesh_policy_free(a->rules);
	free(a->listen_env);
	free(a);
	return status;
}

int rt_check_main(const char *name, int argc, char **argv)
{
	const char *url = rt_check_arg(name, "tcp://127.0.0.1:7000", argc, argv);
	char msg[1024];
	if (url == NULL)
		return 2;
	/* a tls+tcp:// URL is checked with the certificate CLEAVE_TLS_* name, as the service's */
	if (mesh_tls_configure(NULL, NULL, NULL, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "%s: check failed: %s\n", name, msg);
		return 1;
	}
	if (mesh_check(url, RT_CHECK_TIMEOUT_MS, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "%s: check failed: %s\n", name, msg);
		return 1;
	}
	printf("%s: %s\n", name, msg);
	return 0;
}
