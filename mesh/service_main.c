/* service_main.c: the main() every service executable shares: options, store, the services it
 * calls, serving until a stop signal. */
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
} service_dep;

static service_dep deps[SERVICE_MAX_CALLS];
static size_t ndeps;
static pthread_t targets_thread;
static int targets_thread_started;
static volatile sig_atomic_t targets_thread_stop;

/* service_follow_targets re-reads the target files of the services this one calls, so
 * instances added or removed by meshctl scale are called without a restart. */
static void *service_follow_targets(void *arg)
{
	(void)arg;
	while (!targets_thread_stop) {
		struct timespec ts = {0, SERVICE_TARGETS_POLL_MS * 1000000L};
		nanosleep(&ts, NULL);
		for (size_t i = 0; i < ndeps; i++)
			if (deps[i].follows_targets)
				mesh_targets_sync(&deps[i].targets, deps[i].client);
	}
	return NULL;
}

/* service_args: the command line. */
typedef struct service_args {
	const char *listen[SERVICE_MAX_LISTEN];
	int nlisten;
	const char *call[SERVICE_MAX_CALLS]; /* NAME=URL[,URL...] */
	int ncall;
	const char *run_dir;
	char data_dir[4096];
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
	    "          [--workers N]\n"
	    "\n"
	    "Serves the %s service (%s) over the cleave mesh until SIGINT or SIGTERM.\n"
	    "\n"
	    "  --listen URL     address to serve on: ipc:///path/to.sock or tcp://HOST:PORT\n"
	    "                   (repeat for several addresses)\n"
	    "  --data-dir DIR   the service's own data (mode 0700; default\n"
	    "                   $CLEAVE_STATE_DIR/%s, else ~/.local/state/cleave/%s)\n"
	    "  --seed FILE      JSON array of records loaded on the first start only\n"
	    "                   (default: %s)\n"
	    "  --sync MODE      normal (default): a commit survives any crash of the process;\n"
	    "                   full: it also survives power loss (fsync on every commit)\n"
	    "  --call NAME=URLS where service NAME is (comma-separated instance addresses)\n"
	    "  --run-dir DIR    a called service without --call is at ipc://DIR/NAME.sock\n"
	    "                   (default $CLEAVE_RUN_DIR, else /tmp/cleave)\n"
	    "  --loops N        event-loop threads serving ipc:// and tcp:// (default 1)\n"
	    "  --workers N      nng worker threads serving other addresses, such as tls+tcp://,\n"
	    "                   or every address when CLEAVE_MESH_TRANSPORT=nng (default 8)\n"
	    "  --help           this text\n",
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

/* service_parse parses the command line into a; returns -1 to go on, else an exit status. */
static int service_parse(int argc, char **argv, const mesh_service_def *def, service_args *a)
{
	static const struct option longopts[] = {
	    {"listen", required_argument, NULL, 'l'}, {"data-dir", required_argument, NULL, 'd'},
	    {"seed", required_argument, NULL, 's'},   {"sync", required_argument, NULL, 'y'},
	    {"call", required_argument, NULL, 'c'},   {"run-dir", required_argument, NULL, 'r'},
	    {"loops", required_argument, NULL, 'L'},  {"workers", required_argument, NULL, 'w'},
	    {"help", no_argument, NULL, 'h'},	      {NULL, 0, NULL, 0},
	};
	int opt, n;
	a->env.seed = def->default_seed;
	a->run_dir = getenv("CLEAVE_RUN_DIR") ? getenv("CLEAVE_RUN_DIR") : "/tmp/cleave";
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
	if (a->nlisten == 0) {
		fprintf(stderr, "%s: give at least one --listen URL (see --help)\n", def->name);
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
	return -1;
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

/* service_connect makes a blocking client for every service def calls. */
static int service_connect(const mesh_service_def *def, const service_args *a)
{
	mesh_client_opts opts = {.caller = def->name};
	for (const mesh_dependency *d = def->calls; d != NULL && d->name != NULL; d++) {
		const char *urls = NULL;
		char fallback[4200], *list, *url, *save = NULL;
		size_t len = strlen(d->name);
		int rv;
		for (int i = 0; i < a->ncall; i++)
			if (strncmp(a->call[i], d->name, len) == 0 && a->call[i][len] == '=')
				urls = a->call[i] + len + 1;
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
			if ((rv = mesh_client_dial(deps[ndeps - 1].client, url)) != 0) {
				fprintf(stderr, "%s: cannot dial %s at %s: %s\n", def->name,
					d->name, url, nng_strerror(rv));
				free(list);
				return -1;
			}
		}
		free(list);
		fprintf(stderr, "%s: calls %s at %s\n", def->name, d->name, urls);
	}
	service_wait_for_deps(def);
	for (size_t i = 0; i < ndeps; i++)
		if (deps[i].follows_targets && !targets_thread_started)
			targets_thread_started = pthread_create(&targets_thread, NULL,
								service_follow_targets, NULL) == 0;
	return 0;
}

int mesh_service_main(int argc, char **argv, const mesh_service_def *def)
{
	service_args args = {0};
	mesh_server *server = NULL;
	char err[512];
	sigset_t stop_signals;
	int sig, rv, status = 1;

	if ((rv = service_parse(argc, argv, def, &args)) >= 0)
		return rv;
	/* Block the stop signals before any thread starts, so only sigwait sees them. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (mkdir_parents(args.data_dir) != 0) {
		fprintf(stderr, "%s: cannot make the parents of %s: %s\n", def->name, args.data_dir,
			strerror(errno));
		return 1;
	}
	if (def->open(&args.env, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: cannot open the store in %s: %s\n", def->name, args.data_dir,
			err);
		return 1;
	}
	if (service_connect(def, &args) != 0)
		goto out_close;
	args.server.name = def->name;
	if ((rv = mesh_server_new(&server, def->impl, &args.server)) != 0) {
		fprintf(stderr, "%s: cannot create the server: %s\n", def->name, nng_strerror(rv));
		goto out_close;
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
	if (targets_thread_started) {
		targets_thread_stop = 1;
		pthread_join(targets_thread, NULL);
		targets_thread_started = 0;
	}
	for (size_t i = 0; i < ndeps; i++) {
		mesh_client_free(deps[i].client);
		if (deps[i].follows_targets)
			mesh_targets_watch_fini(&deps[i].targets);
	}
	ndeps = 0;
	def->close();
	return status;
}
