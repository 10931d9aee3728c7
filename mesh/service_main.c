/* service_main.c: the main() every service executable shares: options, store, the services it
 * calls, serving until a stop signal. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nng/nng.h>

#include "mesh.h"
#include "policy.h"
#include "sandbox.h"
#include "resolve.h"
#include "targets.h"

#define SERVICE_MAX_LISTEN	16
#define SERVICE_MAX_CALLS	16
#define SERVICE_DEP_WAIT_MS	2000
#define SERVICE_TARGETS_POLL_MS 250

/* service_dep: a connected dependency. */
typedef struct service_dep {
	const char *name;
	mesh_client *client;
	int follows_targets; /* its instances come from <run>/targets/<name> */
	mesh_targets_watch targets;
	mesh_resolve_watch *names; /* its URLs with a DNS name, re-resolved; owned */
	size_t nnames;
} service_dep;

static service_dep deps[SERVICE_MAX_CALLS];
static size_t ndeps;
static pthread_t targets_thread;
static int targets_thread_started;
static volatile sig_atomic_t targets_thread_stop;
static int resolve_interval_ms = MESH_RESOLVE_INTERVAL_DEFAULT_MS;

/* service_follow_targets re-reads the target files of the services this one calls, so
 * instances added or removed by meshctl scale are called without a restart, and re-resolves
 * the DNS names of their addresses every resolve interval. The clients are nng's (blocking),
 * which may be changed from any thread; resolving may block this thread, no other. */
static void *service_follow_targets(void *arg)
{
	int64_t next_resolve = mesh_now_us() + (int64_t)resolve_interval_ms * 1000;
	(void)arg;
	while (!targets_thread_stop) {
		struct timespec ts = {0, SERVICE_TARGETS_POLL_MS * 1000000L};
		int resolve = 0;
		nanosleep(&ts, NULL);
		if (mesh_now_us() >= next_resolve) {
			resolve = 1;
			next_resolve = mesh_now_us() + (int64_t)resolve_interval_ms * 1000;
		}
		for (size_t i = 0; i < ndeps; i++) {
			if (deps[i].follows_targets)
				mesh_targets_sync(&deps[i].targets, deps[i].client);
			for (size_t k = 0; k < deps[i].nnames; k++) {
				if (resolve)
					mesh_resolve_refresh(&deps[i].names[k]);
				mesh_resolve_sync(&deps[i].names[k], deps[i].client);
			}
		}
	}
	return NULL;
}

/* service_args: the command line. */
typedef struct service_args {
	const char *listen[SERVICE_MAX_LISTEN];
	int nlisten;
	const char *call[SERVICE_MAX_CALLS]; /* NAME=URL[,URL...] */
	int ncall;
	char *listen_env; /* CLEAVE_LISTEN, cut at its commas into listen[] */
	const char *run_dir;
	const char *policy; /* the default-deny call policy file, or NULL: every call allowed */
	const char *tls_cert, *tls_key, *tls_ca; /* argv's; NULL: the environment's */
	char data_dir[4096];
	mesh_sandbox_mode sandbox; /* --sandbox, else $CLEAVE_SANDBOX, else auto */
	mesh_service_env env;
	mesh_server_opts server;
} service_args;

mesh_client *mesh_service_client(const char *name)
{
	for (size_t i = 0; i < ndeps; i++)
		if (strcmp(deps[i].name, name) == 0)
			return deps[i].client;
	return NULL;
}

static void service_usage(FILE *out, const mesh_service_def *def, const char *argv0)
{
	fprintf(
	    out,
	    "usage: %s --listen URL [--listen URL]... [--data-dir DIR] [--seed FILE]\n"
	    "          [--sync normal|full] [--call NAME=URLS]... [--run-dir DIR] [--loops N]\n"
	    "          [--workers N] [--policy FILE] [--sandbox auto|on|off]\n"
	    "          [--resolve-interval-ms N]\n"
	    "          [--tls-cert FILE --tls-key FILE --tls-ca FILE]\n"
	    "\n"
	    "Serves the %s service (%s) over the cleave mesh until SIGINT or SIGTERM.\n"
	    "\n"
	    "  --listen URL     address to serve on: ipc:///path/to.sock, tcp://HOST:PORT or\n"
	    "                   tls+tcp://HOST:PORT (repeat for several addresses)\n"
	    "  --data-dir DIR   the service's own data (mode 0700; default\n"
	    "                   $CLEAVE_STATE_DIR/%s, else ~/.local/state/cleave/%s)\n"
	    "  --seed FILE      JSON array of records loaded on the first start only\n"
	    "                   (default: %s)\n"
	    "  --sync MODE      normal (default): a commit survives any crash of the process;\n"
	    "                   full: it also survives power loss (fsync on every commit)\n"
	    "  --call NAME=URLS where service NAME is (comma-separated instance addresses)\n"
	    "  --run-dir DIR    a called service without --call is at ipc://DIR/NAME.sock\n"
	    "                   (default $CLEAVE_RUN_DIR, else /tmp/cleave)\n"
	    "  --policy FILE    default-deny: only the callers FILE allows may call each method\n"
	    "                   (lines 'CALLER METHOD'; Health is open; meshctl writes it)\n"
	    "  --sandbox MODE   Landlock: once the store is open, the process reaches only its\n"
	    "                   data dir (read-write), the seed, policy, run dir's targets and\n"
	    "                   system paths (read-only); TCP is not limited.\n"
	    "                   auto (default): when the kernel supports it, else run\n"
	    "                   without; on: fail without it; off: not applied\n"
	    "                   (flag wins over $CLEAVE_SANDBOX, same values)\n"
	    "  --tls-cert FILE  this service's certificate (CN: its name), for tls+tcp:// in both\n"
	    "                   directions (default $CLEAVE_TLS_CERT; meshctl certs makes it)\n"
	    "  --tls-key FILE   its private key (default $CLEAVE_TLS_KEY)\n"
	    "  --tls-ca FILE    the CA bundle every peer's certificate must be signed by\n"
	    "                   (default $CLEAVE_TLS_CA); over tls+tcp:// a caller's CN is its\n"
	    "                   proven identity, and under --policy a plain tcp:// caller is\n"
	    "                   'anonymous'\n"
	    "  --loops N        event-loop threads serving ipc://, tcp:// and tls+tcp:// (default "
	    "1)\n"
	    "  --workers N      nng worker threads serving other addresses (inproc://, ws://),\n"
	    "                   or every address when CLEAVE_MESH_TRANSPORT=nng (default 8)\n"
	    "  --resolve-interval-ms N  how often a DNS name in a --call address is resolved\n"
	    "                   again (default $CLEAVE_RESOLVE_INTERVAL_MS, else 5000): a\n"
	    "                   tcp:// or tls+tcp:// host that is a name is dialed at every\n"
	    "                   address it has; new ones are dialed, vanished ones closed\n"
	    "  --check URL      alone: call Health at URL (e.g. tcp://127.0.0.1:7000); exit 0\n"
	    "                   if it answers OK within 2 s, else 1 with the reason\n"
	    "  --help           this text\n"
	    "\n"
	    "Environment (a flag wins over its variable):\n"
	    "  CLEAVE_LISTEN=URL[,URL...]       like --listen\n"
	    "  CLEAVE_CALL_<NAME>=URL[,URL...]  like --call name=URLS; NAME upper-cased\n"
	    "                                   (CLEAVE_CALL_USERS=tcp://users:7000)\n"
	    "  CLEAVE_RESOLVE_INTERVAL_MS=N     like --resolve-interval-ms\n",
	    argv0, def->name, def->impl->descriptor->name, def->name, def->name, def->default_seed);
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

/* mkdir_parents makes every directory above path (mode 0700 for new ones). */
static int mkdir_parents(const char *path)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return 0;
}

/* service_call_env returns CLEAVE_CALL_<NAME> for the service called name, or NULL; the
 * variable's name is left in var (128 bytes). */
static const char *service_call_env(const char *name, char var[128])
{
	size_t at = (size_t)snprintf(var, 128, "CLEAVE_CALL_");
	for (const char *p = name; *p != '\0' && at + 1 < 128; p++)
		var[at++] = isalnum((unsigned char)*p) ? (char)toupper((unsigned char)*p) : '_';
	var[at] = '\0';
	return getenv(var);
}

/* service_tls loads the TLS files (flags, else environment) and checks that every tls+tcp://
 * address has them. Returns -1 to go on, else an exit status. */
static int service_tls(const mesh_service_def *def, const service_args *a)
{
	char err[512];
	if (mesh_tls_configure(a->tls_cert, a->tls_key, a->tls_ca, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", def->name, err);
		return 2;
	}
	for (int i = 0; i < a->nlisten; i++) {
		if (mesh_tls_check_url(a->listen[i], err, sizeof(err)) != 0) {
			fprintf(stderr, "%s: --listen %s\n", def->name, err);
			return 2;
		}
	}
	for (int i = 0; i < a->ncall; i++) {
		const char *tls = strstr(a->call[i], "tls+tcp://");
		if (tls != NULL && mesh_tls_check_url(tls, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s: --call %s\n", def->name, err);
			return 2;
		}
	}
	return -1;
}

/* service_parse parses the command line into a; returns -1 to go on, else an exit status. */
static int service_parse(int argc, char **argv, const mesh_service_def *def, service_args *a)
{
	static const struct option longopts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"data-dir", required_argument, NULL, 'd'},
	    {"seed", required_argument, NULL, 's'},
	    {"sync", required_argument, NULL, 'y'},
	    {"call", required_argument, NULL, 'c'},
	    {"run-dir", required_argument, NULL, 'r'},
	    {"loops", required_argument, NULL, 'L'},
	    {"workers", required_argument, NULL, 'w'},
	    {"policy", required_argument, NULL, 'P'},
	    {"sandbox", required_argument, NULL, 'S'},
	    {"resolve-interval-ms", required_argument, NULL, 'R'},
	    {"tls-cert", required_argument, NULL, 'C'},
	    {"tls-key", required_argument, NULL, 'K'},
	    {"tls-ca", required_argument, NULL, 'A'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char err[512];
	int opt, n, interval_flag = 0;
	a->env.seed = def->default_seed;
	a->run_dir = getenv("CLEAVE_RUN_DIR") ? getenv("CLEAVE_RUN_DIR") : "/tmp/cleave";
	if (getenv("CLEAVE_SANDBOX") != NULL && getenv("CLEAVE_SANDBOX")[0] != '\0' &&
	    mesh_sandbox_parse_mode(getenv("CLEAVE_SANDBOX"), &a->sandbox) != 0) {
		fprintf(stderr, "%s: CLEAVE_SANDBOX is auto, on or off, not '%s'\n", def->name,
			getenv("CLEAVE_SANDBOX"));
		return 2;
	}
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			if (a->nlisten == SERVICE_MAX_LISTEN) {
				fprintf(stderr, "%s: at most %d --listen addresses\n", def->name,
					SERVICE_MAX_LISTEN);
				return 2;
			}
			a->listen[a->nlisten++] = optarg;
			break;
		case 'd':
			snprintf(a->data_dir, sizeof(a->data_dir), "%s", optarg);
			break;
		case 's':
			a->env.seed = optarg;
			break;
		case 'y':
			if (strcmp(optarg, "normal") != 0 && strcmp(optarg, "full") != 0) {
				fprintf(stderr, "%s: --sync is normal or full, not '%s'\n",
					def->name, optarg);
				return 2;
			}
			a->env.sync_full = strcmp(optarg, "full") == 0;
			break;
		case 'c':
			if (strchr(optarg, '=') == NULL || optarg[0] == '=' ||
			    a->ncall == SERVICE_MAX_CALLS) {
				fprintf(stderr, "%s: --call wants NAME=URL[,URL...], not '%s'\n",
					def->name, optarg);
				return 2;
			}
			a->call[a->ncall++] = optarg;
			break;
		case 'r':
			a->run_dir = optarg;
			break;
		case 'P':
			a->policy = optarg;
			break;
		case 'C':
			a->tls_cert = optarg;
			break;
		case 'K':
			a->tls_key = optarg;
			break;
		case 'A':
			a->tls_ca = optarg;
			break;
		case 'S':
			if (mesh_sandbox_parse_mode(optarg, &a->sandbox) != 0) {
				fprintf(stderr, "%s: --sandbox is auto, on or off, not '%s'\n",
					def->name, optarg);
				return 2;
			}
			break;
		case 'R':
			if (mesh_resolve_interval_parse(optarg, &resolve_interval_ms) != 0) {
				fprintf(stderr,
					"%s: --resolve-interval-ms wants milliseconds from %d to "
					"%d, not '%s'\n",
					def->name, MESH_RESOLVE_INTERVAL_MIN_MS,
					MESH_RESOLVE_INTERVAL_MAX_MS, optarg);
				return 2;
			}
			interval_flag = 1;
			break;
		case 'L':
		case 'w':
			if ((n = service_parse_count(optarg)) < 0) {
				fprintf(stderr,
					"%s: --%s wants a number from 1 to 1024, not '%s'\n",
					def->name, opt == 'w' ? "workers" : "loops", optarg);
				return 2;
			}
			if (opt == 'w')
				a->server.workers = n;
			else
				a->server.loops = n;
			break;
		case 'h':
			service_usage(stdout, def, argv[0]);
			return 0;
		default:
			service_usage(stderr, def, argv[0]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", def->name,
			argv[optind]);
		return 2;
	}
	if (!interval_flag && (n = mesh_resolve_interval_env(err, sizeof(err))) < 0) {
		fprintf(stderr, "%s: %s\n", def->name, err);
		return 2;
	} else if (!interval_flag) {
		resolve_interval_ms = n;
	}
	if (a->nlisten == 0 && getenv("CLEAVE_LISTEN") != NULL) {
		char *url, *save = NULL;
		if (mesh_resolve_check_list(getenv("CLEAVE_LISTEN"), 1, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s: CLEAVE_LISTEN: %s\n", def->name, err);
			return 2;
		}
		if ((a->listen_env = strdup(getenv("CLEAVE_LISTEN"))) == NULL)
			return 1;
		for (url = strtok_r(a->listen_env, ",", &save); url != NULL;
		     url = strtok_r(NULL, ",", &save)) {
			if (a->nlisten == SERVICE_MAX_LISTEN) {
				fprintf(stderr, "%s: CLEAVE_LISTEN: at most %d addresses\n",
					def->name, SERVICE_MAX_LISTEN);
				return 2;
			}
			a->listen[a->nlisten++] = url;
		}
	}
	for (int i = 0; i < a->ncall; i++) {
		if (mesh_resolve_check_list(strchr(a->call[i], '=') + 1, 0, err, sizeof(err)) !=
		    0) {
			fprintf(stderr, "%s: --call %s: %s\n", def->name, a->call[i], err);
			return 2;
		}
	}
	for (const mesh_dependency *d = def->calls; d != NULL && d->name != NULL; d++) {
		char var[128];
		const char *urls = service_call_env(d->name, var);
		size_t len = strlen(d->name);
		int flag = 0;
		for (int i = 0; i < a->ncall; i++)
			flag |= strncmp(a->call[i], d->name, len) == 0 && a->call[i][len] == '=';
		if (!flag && urls != NULL &&
		    mesh_resolve_check_list(urls, 0, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s: %s: %s\n", def->name, var, err);
			return 2;
		}
	}
	if (a->nlisten == 0) {
		fprintf(stderr,
			"%s: give at least one --listen URL, or CLEAVE_LISTEN (see --help)\n",
			def->name);
		return 2;
	}
	if (a->data_dir[0] == '\0') {
		const char *state = getenv("CLEAVE_STATE_DIR"), *home = getenv("HOME");
		if (state != NULL)
			snprintf(a->data_dir, sizeof(a->data_dir), "%s/%s", state, def->name);
		else
			snprintf(a->data_dir, sizeof(a->data_dir), "%s/.local/state/cleave/%s",
				 home ? home : "/tmp", def->name);
	}
	a->env.data_dir = a->data_dir;
	return service_tls(def, a);
}

/* service_wait_for_deps gives the services this one calls a moment to connect, so the first
 * calls after start-up do not fail for a connection still being made; a service that is down
 * stays down, and its calls fail fast once this is over. */
static void service_wait_for_deps(const mesh_service_def *def)
{
	int64_t until = mesh_now_us() + SERVICE_DEP_WAIT_MS * 1000;
	for (;;) {
		size_t connected = 0;
		for (size_t i = 0; i < ndeps; i++)
			connected += mesh_client_instances(deps[i].client) > 0;
		if (connected == ndeps)
			return;
		if (mesh_now_us() >= until)
			break;
		usleep(2000);
	}
	for (size_t i = 0; i < ndeps; i++)
		if (mesh_client_instances(deps[i].client) == 0)
			fprintf(stderr, "%s: %s is not reachable yet; its calls fail until it is\n",
				def->name, deps[i].name);
}

/* service_dial dials url for dep: a URL whose host is a DNS name is resolved now, each address
 * dialed, and re-resolved by the follower thread. Returns 0, or -1 after a message. */
static int service_dial(const mesh_service_def *def, service_dep *dep, const char *url)
{
	char label[256];
	mesh_resolve_watch *grown;
	int rv;
	if (!mesh_resolve_is_name(url)) {
		if ((rv = mesh_client_dial(dep->client, url)) != 0) {
			fprintf(stderr, "%s: cannot dial %s at %s: %s\n", def->name, dep->name, url,
				nng_strerror(rv));
			return -1;
		}
		return 0;
	}
	grown = realloc(dep->names, (dep->nnames + 1) * sizeof(*grown));
	if (grown == NULL)
		return -1;
	dep->names = grown;
	snprintf(label, sizeof(label), "%s: %s", def->name, dep->name);
	if (mesh_resolve_watch_init(&dep->names[dep->nnames], url, label) != 0)
		return -1;
	dep->nnames++;
	mesh_resolve_refresh(&dep->names[dep->nnames - 1]);
	mesh_resolve_sync(&dep->names[dep->nnames - 1], dep->client);
	return 0;
}

/* service_connect makes a blocking client for every service def calls. */
static int service_connect(const mesh_service_def *def, const service_args *a)
{
	mesh_client_opts opts = {.caller = def->name};
	for (const mesh_dependency *d = def->calls; d != NULL && d->name != NULL; d++) {
		const char *urls = NULL;
		char fallback[4200], err[512], var[128], *list, *url, *save = NULL;
		size_t len = strlen(d->name);
		int rv;
		for (int i = 0; i < a->ncall; i++)
			if (strncmp(a->call[i], d->name, len) == 0 && a->call[i][len] == '=')
				urls = a->call[i] + len + 1;
		if (urls == NULL && (urls = service_call_env(d->name, var)) != NULL &&
		    mesh_resolve_check_list(urls, 0, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s: %s: %s\n", def->name, var, err);
			return -1;
		}
		if (ndeps == SERVICE_MAX_CALLS ||
		    (rv = mesh_client_new(&deps[ndeps].client, d->service, &opts)) != 0) {
			fprintf(stderr, "%s: cannot make a client of %s\n", def->name, d->name);
			return -1;
		}
		deps[ndeps++].name = d->name;
		if (urls == NULL) {
			service_dep *dep = &deps[ndeps - 1];
			snprintf(fallback, sizeof(fallback), "%s/targets/%s", a->run_dir, d->name);
			if (access(fallback, R_OK) == 0 &&
			    mesh_targets_watch_init(&dep->targets, fallback) == 0) {
				dep->follows_targets = 1;
				mesh_targets_sync(&dep->targets, dep->client);
				fprintf(stderr, "%s: calls %s at the instances in %s\n", def->name,
					d->name, fallback);
				continue;
			}
			snprintf(fallback, sizeof(fallback), "ipc://%s/%s.sock", a->run_dir,
				 d->name);
			urls = fallback;
		}
		list = strdup(urls);
		for (url = list ? strtok_r(list, ",", &save) : NULL; url != NULL;
		     url = strtok_r(NULL, ",", &save)) {
			if (service_dial(def, &deps[ndeps - 1], url) != 0) {
				free(list);
				return -1;
			}
		}
		free(list);
		fprintf(stderr, "%s: calls %s at %s\n", def->name, d->name, urls);
	}
	service_wait_for_deps(def);
	for (size_t i = 0; i < ndeps; i++)
		if ((deps[i].follows_targets || deps[i].nnames > 0) && !targets_thread_started)
			targets_thread_started = pthread_create(&targets_thread, NULL,
								service_follow_targets, NULL) == 0;
	return 0;
}

/* service_sandbox restricts this process with Landlock (mesh/sandbox.h) as --sandbox says and
 * logs what it did. It runs once the store is open (and the seed read) and before any thread
 * starts: Landlock before ABI 8 restricts only the calling thread and the threads it creates
 * later, and the first clients and listeners start nng's and the event loop's threads. So the
 * listeners are made under the sandbox: their socket directories are allowed for that. What
 * the service reads later is allowed read-only: the policy file (loaded below), <run dir>/targets
 * (target files re-read every 250 ms; not the whole run dir, which may hold data dirs), the seed,
 * TLS files named in the environment. Connecting to a pathname ipc:// socket is not a filesystem
 * right Landlock handles before ABI 9, which this code does not ask for, so dialing and redialing a
 * callee's socket keeps working. Returns 0 to go on, else -1 (the reason logged). */
static int service_sandbox(const mesh_service_def *def, const service_args *a)
{
	static char sock_dirs[SERVICE_MAX_LISTEN][4096], targets[4200];
	static const char *const tls_env[] = {"CLEAVE_TLS_CERT", "CLEAVE_TLS_KEY", "CLEAVE_TLS_CA"};
	mesh_sandbox_spec spec = {.data_dir = a->data_dir};
	char msg[1024];
	int rv;
	snprintf(targets, sizeof(targets), "%s/targets", a->run_dir);
	spec.read_only[spec.nread_only++] = targets;
	if (a->env.seed != NULL)
		spec.read_only[spec.nread_only++] = a->env.seed;
	if (a->policy != NULL)
		spec.read_only[spec.nread_only++] = a->policy;
	for (size_t i = 0; i < sizeof(tls_env) / sizeof(tls_env[0]); i++)
		if (getenv(tls_env[i]) != NULL && getenv(tls_env[i])[0] != '\0')
			spec.read_only[spec.nread_only++] = getenv(tls_env[i]);
	for (int i = 0; i < a->nlisten && spec.nsocket_dirs < MESH_SANDBOX_MAX_PATHS; i++) {
		char *slash;
		if (strncmp(a->listen[i], "ipc://", 6) != 0)
			continue;
		snprintf(sock_dirs[i], sizeof(sock_dirs[i]), "%s", a->listen[i] + 6);
		if ((slash = strrchr(sock_dirs[i], '/')) == NULL)
			snprintf(sock_dirs[i], sizeof(sock_dirs[i]), ".");
		else if (slash == sock_dirs[i])
			slash[1] = '\0';
		else
			*slash = '\0';
		spec.socket_dirs[spec.nsocket_dirs++] = sock_dirs[i];
	}
	rv = mesh_sandbox_apply(&spec, a->sandbox, msg, sizeof(msg));
	fprintf(stderr, "%s: %s\n", def->name, msg);
	return rv < 0 ? -1 : 0;
}

int mesh_service_main(int argc, char **argv, const mesh_service_def *def)
{
	service_args args = {0};
	mesh_server *server = NULL;
	mesh_policy *policy = NULL;
	char err[512];
	sigset_t stop_signals;
	int sig, rv, status = 1;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--check") == 0 || strncmp(argv[i], "--check=", 8) == 0)
			return mesh_check_main(def->name, argc, argv);
	if ((rv = service_parse(argc, argv, def, &args)) >= 0) {
		free(args.listen_env);
		return rv;
	}
	/* Block the stop signals before any thread starts, so only sigwait sees them. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (mkdir_parents(args.data_dir) != 0) {
		fprintf(stderr, "%s: cannot make the parents of %s: %s\n", def->name, args.data_dir,
			strerror(errno));
		free(args.listen_env);
		return 1;
	}
	/* SQLite's temporary files (large sorts, statement journals) go to the data dir, the
	 * one place the sandbox lets it write; read when SQLite starts, so set before the store */
	if (args.sandbox != MESH_SANDBOX_OFF)
		setenv("SQLITE_TMPDIR", args.data_dir, 1);
	if (def->open(&args.env, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: cannot open the store in %s: %s\n", def->name, args.data_dir,
			err);
		free(args.listen_env);
		return 1;
	}
	if (service_sandbox(def, &args) != 0)
		goto out_close;
	if (service_connect(def, &args) != 0)
		goto out_close;
	args.server.name = def->name;
	if ((rv = mesh_server_new(&server, def->impl, &args.server)) != 0) {
		fprintf(stderr, "%s: cannot create the server: %s\n", def->name, nng_strerror(rv));
		goto out_close;
	}
	if (args.policy != NULL) {
		if (mesh_policy_load(args.policy, &policy, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s: %s\n", def->name, err);
			goto out_close;
		}
		mesh_server_set_policy(server, policy);
		fprintf(stderr, "%s: calls are default-deny, allowed by %s\n", def->name,
			args.policy);
	}
	for (int i = 0; i < args.nlisten; i++) {
		if ((rv = mesh_server_listen(server, args.listen[i])) != 0) {
			fprintf(stderr, "%s: cannot listen on %s: %s\n", def->name, args.listen[i],
				nng_strerror(rv));
			goto out_close;
		}
	}
	if ((rv = mesh_server_start(server)) != 0) {
		fprintf(stderr, "%s: cannot start serving: %s\n", def->name, nng_strerror(rv));
		goto out_close;
	}
	for (int i = 0; i < args.nlisten; i++)
		fprintf(stderr, "%s: serving %s on %s (%lld records in %s)\n", def->name,
			def->impl->descriptor->name, args.listen[i], (long long)def->count(),
			args.data_dir);

	while (sigwait(&stop_signals, &sig) != 0)
		;
	fprintf(stderr, "%s: %s, stopping\n", def->name, strsignal(sig));
	status = 0;

out_close:
	mesh_server_free(server);
	mesh_policy_free(policy);
	if (targets_thread_started) {
		targets_thread_stop = 1;
		pthread_join(targets_thread, NULL);
		targets_thread_started = 0;
	}
	for (size_t i = 0; i < ndeps; i++) {
		mesh_client_free(deps[i].client);
		if (deps[i].follows_targets)
			mesh_targets_watch_fini(&deps[i].targets);
		for (size_t k = 0; k < deps[i].nnames; k++)
			mesh_resolve_watch_fini(&deps[i].names[k]);
		free(deps[i].names);
		deps[i].names = NULL;
		deps[i].nnames = 0;
	}
	ndeps = 0;
	free(args.listen_env);
	def->close();
	return status;
}

/* ---- every service in one process ----------------------------------------------------------- */

#define MONOLITH_MAX 32

/* monolith_usage prints the monolith's --help. */
static void monolith_usage(FILE *out, const mesh_service_def *defs, size_t n, const char *argv0)
{
	fprintf(out,
		"usage: %s [--run-dir DIR] [--state-dir DIR] [--listen-pattern URL]\n"
		"\n"
		"Serves every service (",
		argv0);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%s%s", i ? ", " : "", defs[i].name);
	fprintf(out,
		")\nin this one process: they call each other over nng's inproc:// transport, and\n"
		"each also listens where the edge reaches it. Stops on SIGINT or SIGTERM.\n"
		"\n"
		"  --run-dir DIR         default $CLEAVE_RUN_DIR, else /tmp/cleave\n"
		"  --listen-pattern URL  where each service listens for the edge, %%s its name\n"
		"                        (default ipc://<run dir>/%%s.sock)\n"
		"  --state-dir DIR       each service's data in DIR/<name> (default\n"
		"                        $CLEAVE_STATE_DIR, else ~/.local/state/cleave)\n"
		"  --help                this text\n");
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

/* The monolith is not sandboxed: every service shares one process, so no rule could keep one
 * service's code from another's data; the process would need every data dir read-write, which
 * is the boundary it is the comparison without. */
int mesh_monolith_main(int argc, char **argv, const mesh_service_def *defs, size_t n)
{
	static const struct option longopts[] = {
	    {"run-dir", required_argument, NULL, 'r'},
	    {"state-dir", required_argument, NULL, 's'},
	    {"listen-pattern", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *run_dir = getenv("CLEAVE_RUN_DIR") ? getenv("CLEAVE_RUN_DIR") : "/tmp/cleave";
	const char *state = getenv("CLEAVE_STATE_DIR"), *pattern = NULL;
	char default_state[4096], default_pattern[4200], err[512];
	mesh_server *servers[MONOLITH_MAX] = {0};
	mesh_service_env env[MONOLITH_MAX];
	char data[MONOLITH_MAX][4096];
	sigset_t stop_signals;
	size_t opened = 0;
	int opt, sig, rv, status = 1;

	if (n > MONOLITH_MAX) {
		fprintf(stderr, "monolith: at most %d services\n", MONOLITH_MAX);
		return 1;
	}
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			run_dir = optarg;
			break;
		case 's':
			state = optarg;
			break;
		case 'p':
			pattern = optarg;
			break;
		case 'h':
			monolith_usage(stdout, defs, n, argv[0]);
			return 0;
		default:
			monolith_usage(stderr, defs, n, argv[0]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "monolith: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}
	if (state == NULL) {
		const char *home = getenv("HOME");
		snprintf(default_state, sizeof(default_state), "%s/.local/state/cleave",
			 home ? home : "/tmp");
		state = default_state;
	}
	if (pattern == NULL) {
		snprintf(default_pattern, sizeof(default_pattern), "ipc://%s/%%s.sock", run_dir);
		pattern = default_pattern;
	}
	if (monolith_listen_url(err, sizeof(err), pattern, "x") != 0) {
		fprintf(stderr, "monolith: --listen-pattern needs one %%s, not '%s'\n", pattern);
		return 2;
	}
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* every store first */
	for (; opened < n; opened++) {
		const mesh_service_def *def = &defs[opened];
		if (snprintf(data[opened], sizeof(data[opened]), "%s/%s", state, def->name) >=
		    (int)sizeof(data[opened])) {
			fprintf(stderr, "%s: the state directory's path is too long\n", def->name);
			goto out;
		}
		env[opened] =
		    (mesh_service_env){.data_dir = data[opened], .seed = def->default_seed};
		if (mkdir_parents(data[opened]) != 0 ||
		    def->open(&env[opened], err, sizeof(err)) != 0) {
			fprintf(stderr, "%s: cannot open the store in %s: %s\n", def->name,
				data[opened], err);
			goto out;
		}
	}
	/* then every server, on inproc:// for the others and the pattern for the edge */
	for (size_t i = 0; i < n; i++) {
		char inproc[256], url[4400];
		snprintf(inproc, sizeof(inproc), "inproc://%s", defs[i].name);
		monolith_listen_url(url, sizeof(url), pattern, defs[i].name);
		if ((rv = mesh_server_new(&servers[i], defs[i].impl, NULL)) != 0 ||
		    (rv = mesh_server_listen(servers[i], inproc)) != 0 ||
		    (rv = mesh_server_listen(servers[i], url)) != 0 ||
		    (rv = mesh_server_start(servers[i])) != 0) {
			fprintf(stderr, "%s: cannot serve on %s: %s\n", defs[i].name, url,
				nng_strerror(rv));
			goto out;
		}
		fprintf(stderr, "%s: serving %s on %s and %s (%lld records in %s)\n", defs[i].name,
			defs[i].impl->descriptor->name, inproc, url, (long long)defs[i].count(),
			data[i]);
	}
	/* then the calls between them: one client per called service, shared by its callers */
	for (size_t i = 0; i < n; i++) {
		for (const mesh_dependency *d = defs[i].calls; d != NULL && d->name != NULL; d++) {
			mesh_client_opts o = {.caller = "monolith"};
			char inproc[256];
			if (mesh_service_client(d->name) != NULL)
				continue;
			snprintf(inproc, sizeof(inproc), "inproc://%s", d->name);
			if (ndeps == SERVICE_MAX_CALLS ||
			    mesh_client_new(&deps[ndeps].client, d->service, &o) != 0) {
				fprintf(stderr, "%s: cannot make a client of %s\n", defs[i].name,
					d->name);
				goto out;
			}
			deps[ndeps++].name = d->name;
			mesh_client_dial(deps[ndeps - 1].client, inproc);
		}
		service_wait_for_deps(&defs[i]);
	}

	while (sigwait(&stop_signals, &sig) != 0)
		;
	fprintf(stderr, "monolith: %s, stopping\n", strsignal(sig));
	status = 0;
out:
	for (size_t i = 0; i < n; i++)
		mesh_server_free(servers[i]);
	for (size_t i = 0; i < ndeps; i++)
		mesh_client_free(deps[i].client);
	ndeps = 0;
	for (size_t i = 0; i < opened; i++)
		defs[i].close();
	return status;
}
