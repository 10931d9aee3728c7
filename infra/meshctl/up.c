/* up.c: meshctl up (run the mesh, in the foreground or detached, or in containers) and meshctl
 * down. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "options.h"
#include "process.h"
#include "containers.h"
#include "control.h"
#include "meshctl.pb-c.h"
#include "supervisor.h"

#define UP_READY_TIMEOUT_MS 30000
#define DOWN_TIMEOUT_MS	    30000

static void up_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: meshctl up [--port N | --listen ADDR:PORT] [--detach] [--state-dir DIR]\n"
	    "                  [--manifests DIR] [--admin-port N] [--monolith] [--allow-root]\n"
	    "                  [--https-cert FILE --https-key FILE]\n"
	    "       meshctl up --containers [--port N] [--state-dir DIR] [--project NAME]\n"
	    "                  [--tag TAG] [--build] [--wait SECONDS] [--store sqlite|postgres]\n"
	    "                  [--https-cert FILE --https-key FILE]\n"
	    "\n"
	    "Starts every service of the manifests at its count, then the edge, and keeps them\n"
	    "so: a crashed instance is restarted with exponential backoff (100 ms doubling to\n"
	    "10 s); every instance is health-checked as its manifest says. In the foreground it\n"
	    "prints every log line tagged with its instance; Ctrl-C or SIGTERM stops the edge\n"
	    "first (it drains), then the services, and exits 0.\n"
	    "\n"
	    "  --port N            serve HTTP on 127.0.0.1:N (default 8080; 0 picks a free port)\n"
	    "  --listen ADDR:PORT  serve HTTP on another address\n"
	    "  --detach            run in the background; meshctl down stops it\n"
	    "  --state-dir DIR     data, sockets and logs (default $CLEAVE_STATE_DIR, else "
	    ".state/\n"
	    "                      in the checkout); one mesh per state directory\n"
	    "  --manifests DIR     where <name>/manifest.yml are (default svc/ in the checkout)\n"
	    "  --admin-port N      serve /metrics on 127.0.0.1:N\n"
	    "  --monolith          every service in one process (build/monolith), calling each\n"
	    "                      other in-process, behind the same edge: the forum before it\n"
	    "                      was cleaved, for comparison (no scaling; its log lines:\n"
	    "                      meshctl logs monolith)\n"
	    "  --allow-root        as root, run every process as root when the system users\n"
	    "                      (cleave-<name>) cannot be made or cannot reach the binaries;\n"
	    "                      without it that is an error. As root every process runs as\n"
	    "                      its own user: each service, the edge and the monolith\n"
	    "  --https-cert FILE   serve the API over HTTPS instead of HTTP (TLS 1.2 and 1.3,\n"
	    "                      ALPN h2 and http/1.1) with this PEM certificate chain (the\n"
	    "                      server's first); the edge loads it again when the files\n"
	    "                      change. Default $CLEAVE_HTTPS_CERT (the edge reads it)\n"
	    "  --https-key FILE    its unencrypted PEM key (default $CLEAVE_HTTPS_KEY). As root\n"
	    "                      the edge's user, cleave-edge, must be able to read both\n"
	    "  --help              this text\n"
	    "\n"
	    "With --containers (as root) it runs the forum in containers instead, with podman:\n"
	    "builds the images that are missing (infra/images/build), writes podman's\n"
	    "configuration for this machine (STATE/images/containers.conf, or in\n"
	    "$CLEAVE_IMAGES_STATE as infra/images/build reads it), makes the\n"
	    "certificates that are missing (meshctl certs into STATE/containers/tls, the\n"
	    "containers' keys given to their user, uid 10001), renders compose.yml into\n"
	    "STATE/containers/, runs podman-compose up -d under its project name, waits until\n"
	    "the edge and every service answer through it, prints where the API is and exits.\n"
	    "meshctl down --containers takes it down; the data stays in its volumes.\n"
	    "\n"
	    "  --containers        run the forum in containers (see above)\n"
	    "  --port N            publish the edge on host port N (default 8080; 0 picks a free\n"
	    "                      one)\n"
	    "  --project NAME      the podman-compose project, prefix of the containers, networks\n"
	    "                      and volumes (default cleave)\n"
	    "  --tag TAG           the images' tag (default latest)\n"
	    "  --build             run infra/images/build even when every image is there (after\n"
	    "                      changing the sources; it reuses what did not change)\n"
	    "  --wait SECONDS      how long to wait for the forum to answer (default 180)\n"
	    "  --store KIND        where the services keep their data: sqlite (default; each\n"
	    "                      service's volume) or postgres: a PostgreSQL container (the\n"
	    "                      image cleave-postgres) with a database and role per service\n"
	    "                      (compose.postgres.yml merged over compose.yml; each\n"
	    "                      service's URL, with a random password, in\n"
	    "                      STATE/containers/store/<name>.env); its data on a volume too\n"
	    "  --https-cert FILE, --https-key FILE\n"
	    "                      the edge serves HTTPS on --port: their directories are\n"
	    "                      mounted read-only into the edge's container (so a renewed\n"
	    "                      pair is loaded without a restart); its user, uid 10001,\n"
	    "                      must be able to read both\n");
}

/* up_wait_ready reads the supervisor's "ready URL" line; returns 0 and prints where the API is,
 * or -1 if it ended or timed out first. */
static int up_wait_ready(int fd, const meshctl_paths *paths)
{
	char line[256];
	size_t len = 0;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int64_t until = mesh_now_us() + (int64_t)UP_READY_TIMEOUT_MS * 1000;
	while (len + 1 < sizeof(line)) {
		int left = (int)((until - mesh_now_us()) / 1000);
		ssize_t got;
		if (left <= 0 || poll(&p, 1, left) <= 0)
			break;
		got = read(fd, line + len, sizeof(line) - 1 - len);
		if (got <= 0)
			break;
		len += (size_t)got;
		line[len] = '\0';
		if (strchr(line, '\n') != NULL) {
			*strchr(line, '\n') = '\0';
			printf("meshctl: the mesh is up; the forum API is at %s/api\n"
			       "meshctl: meshctl status shows it, meshctl down stops it (state in "
			       "%s)\n",
			       strncmp(line, "ready ", 6) == 0 ? line + 6 : line, paths->state);
			return 0;
		}
	}
	fprintf(stderr, "meshctl up: the mesh did not come up; see %s/meshctl.log\n", paths->logs);
	return -1;
}

int cmd_up(int argc, char **argv)
{
	static const struct option longopts[] = {{"port", required_argument, NULL, 'p'},
						 {"listen", required_argument, NULL, 'l'},
						 {"detach", no_argument, NULL, 'd'},
						 {"state-dir", required_argument, NULL, 's'},
						 {"manifests", required_argument, NULL, 'm'},
						 {"admin-port", required_argument, NULL, 'a'},
						 {"monolith", no_argument, NULL, 'M'},
						 {"allow-root", no_argument, NULL, 'R'},
						 {"containers", no_argument, NULL, 'C'},
						 {"project", required_argument, NULL, 'P'},
						 {"tag", required_argument, NULL, 'T'},
						 {"build", no_argument, NULL, 'B'},
						 {"wait", required_argument, NULL, 'W'},
						 {"store", required_argument, NULL, 'S'},
						 {"https-cert", required_argument, NULL, 'E'},
						 {"https-key", required_argument, NULL, 'K'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	char listen[128] = "127.0.0.1:8080", admin[64], cert[PATH_MAX], key[PATH_MAX];
	const char *https_cert = NULL, *https_key = NULL;
	containers_opts co = {.project = "cleave", .tag = "latest", .port = 8080, .wait_s = 180};
	int containers = 0, only_local = 0, only_containers = 0;
	const char *state = NULL;
	supervisor_opts o = {.listen = listen,
			     .manifests = CLEAVE_SOURCE_DIR "/svc",
			     .foreground = 1,
			     .ready_fd = -1};
	meshctl_paths paths;
	int opt, detach = 0, port, pipefd[2];
	pid_t pid;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			if (rt_parse_port(optarg, &port) != 0) {
				fprintf(stderr, "meshctl up: --port wants 0 to 65535, not '%s'\n",
					optarg);
				return 2;
			}
			snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
			co.port = port;
			break;
		case 'C':
			containers = 1;
			break;
		case 'P':
			co.project = optarg;
			only_containers = 1;
			break;
		case 'T':
			if (optarg[0] == '\0' || strpbrk(optarg, " \t\n:/@'\"") != NULL) {
				fprintf(stderr, "meshctl up: --tag '%s' is not an image tag\n",
					optarg);
				return 2;
			}
			co.tag = optarg;
			only_containers = 1;
			break;
		case 'B':
			co.build = 1;
			only_containers = 1;
			break;
		case 'W': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (end == optarg || *end != '\0' || v < 1 || v > 3600) {
				fprintf(stderr,
					"meshctl up: --wait wants 1 to 3600 seconds, not "
					"'%s'\n",
					optarg);
				return 2;
			}
			co.wait_s = (int)v;
			only_containers = 1;
			break;
		}
		case 'S':
			if (strcmp(optarg, "sqlite") != 0 && strcmp(optarg, "postgres") != 0) {
				fprintf(stderr,
					"meshctl up: --store wants sqlite or postgres, not '%s'\n",
					optarg);
				return 2;
			}
			co.postgres = strcmp(optarg, "postgres") == 0;
			only_containers = 1;
			break;
		case 'l':
			if (strchr(optarg, ':') == NULL || strlen(optarg) >= sizeof(listen)) {
				fprintf(stderr, "meshctl up: --listen wants ADDR:PORT, not '%s'\n",
					optarg);
				return 2;
			}
			snprintf(listen, sizeof(listen), "%s", optarg);
			only_local = 1;
			break;
		case 'd':
			detach = 1;
			only_local = 1;
			break;
		case 'M':
			o.monolith = 1;
			only_local = 1;
			break;
		case 'R':
			o.allow_root = 1;
			only_local = 1;
			break;
		case 's':
			state = optarg;
			break;
		case 'm':
			o.manifests = optarg;
			break;
		case 'a':
			if (rt_parse_port(optarg, &port) != 0) {
				fprintf(stderr,
					"meshctl up: --admin-port wants 0 to 65535, not '%s'\n",
					optarg);
				return 2;
			}
			snprintf(admin, sizeof(admin), "127.0.0.1:%d", port);
			o.admin_listen = admin;
			only_local = 1;
			break;
		case 'E':
			https_cert = optarg;
			break;
		case 'K':
			https_key = optarg;
			break;
		case 'h':
			up_usage(stdout);
			return 0;
		default:
			up_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "meshctl up: unexpected argument '%s' (see --help)\n",
			argv[optind]);
		return 2;
	}
	if (containers && only_local) {
		fprintf(stderr,
			"meshctl up: --listen, --detach, --monolith, --admin-port and "
			"--allow-root are for the local mesh, not --containers (which always "
			"runs detached, the edge published on --port)\n");
		return 2;
	}
	if (!containers && only_containers) {
		fprintf(stderr,
			"meshctl up: --project, --tag, --build, --wait and --store go with "
			"--containers (locally, each service's store is CLEAVE_STORE_URL_<NAME>: "
			"README, Stores)\n");
		return 2;
	}
	if ((https_cert == NULL) != (https_key == NULL)) {
		fprintf(stderr, "meshctl up: --https-cert and --https-key go together\n");
		return 2;
	}
	if (https_cert != NULL) {
		/* absolute: the edge runs elsewhere (another directory, a container) */
		const char *files[] = {https_cert, https_key};
		char *abs[] = {cert, key};
		for (int i = 0; i < 2; i++) {
			FILE *f;
			if (files[i][0] == '\0' ||
			    meshctl_abs_path(abs[i], PATH_MAX, files[i]) != 0) {
				fprintf(stderr, "meshctl up: bad path '%s'\n", files[i]);
				return 2;
			}
			if ((f = fopen(abs[i], "r")) == NULL) {
				fprintf(stderr, "meshctl up: cannot read %s: %s\n", abs[i],
					strerror(errno));
				return 1;
			}
			fclose(f);
		}
		o.https_cert = co.https_cert = cert;
		o.https_key = co.https_key = key;
	}
	if (containers) {
		co.state = state;
		co.manifests = o.manifests;
		return containers_up(&co);
	}
	if (meshctl_paths_init(&paths, state) != 0) {
		fprintf(stderr, "meshctl up: the state directory's path is too long for sockets\n");
		return 2;
	}
	if (control_pid(&paths) != 0) {
		fprintf(stderr,
			"meshctl up: a mesh already runs from %s (pid %ld); meshctl down first\n",
			paths.state, control_pid(&paths));
		return 1;
	}
	if (!detach)
		return supervisor_run(&paths, &o);

	if (rt_mkdirs(paths.logs, 0700) != 0 || pipe(pipefd) != 0) {
		fprintf(stderr, "meshctl up: %s: %s\n", paths.logs, strerror(errno));
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		perror("meshctl up: fork");
		return 1;
	}
	if (pid == 0) {
		char log[PATH_MAX];
		int fd, devnull = open("/dev/null", O_RDONLY);
		close(pipefd[0]);
		setsid();
		fd = snprintf(log, sizeof(log), "%s/meshctl.log", paths.logs) < (int)sizeof(log)
			 ? open(log, O_WRONLY | O_CREAT | O_APPEND, 0600)
			 : -1;
		if (devnull >= 0)
			dup2(devnull, 0);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		o.foreground = 0;
		o.ready_fd = pipefd[1];
		fcntl(pipefd[1], F_SETFD, FD_CLOEXEC);
		_exit(supervisor_run(&paths, &o));
	}
	close(pipefd[1]);
	if (up_wait_ready(pipefd[0], &paths) != 0) {
		kill(pid, SIGTERM);
		close(pipefd[0]);
		return 1;
	}
	close(pipefd[0]);
	return 0;
}

static void down_usage(FILE *out)
{
	fprintf(out,
		"usage: meshctl down [--state-dir DIR]\n"
		"       meshctl down --containers [--volumes] [--state-dir DIR]\n"
		"\n"
		"Stops the detached mesh running from the state directory: the edge first (it\n"
		"drains), then every service; waits until all have exited.\n"
		"\n"
		"  --containers  take down instead the containers meshctl up --containers started\n"
		"                from the state directory (as root): podman-compose down, and the\n"
		"                networks it leaves; their volumes, the services' data, are kept\n"
		"                for the next meshctl up --containers\n"
		"  --volumes     with --containers: remove the volumes too (the data is lost)\n"
		"  --state-dir DIR  (default $CLEAVE_STATE_DIR, else .state/ in the checkout)\n"
		"  --help        this text\n");
}

/* down_flags: what meshctl down's extra options chose. */
typedef struct down_flags {
	int containers, volumes;
} down_flags;

static int down_extra(int opt, const char *arg, void *ctx)
{
	down_flags *d = ctx;
	(void)arg;
	if (opt == 'C')
		d->containers = 1;
	else if (opt == 'V')
		d->volumes = 1;
	else
		return -1;
	return 0;
}

/* state_dir_option parses the --state-dir/--help options every other command shares.
 * Returns 0 to go on, 1 after --help, 2 on a usage error. */
int state_dir_option(int argc, char **argv, const char **state, void (*usage)(FILE *),
		     const char *extra_short, const struct option *extra,
		     int (*on_extra)(int opt, const char *arg, void *ctx), void *ctx)
{
	struct option longopts[16];
	size_t n = 0;
	int opt;
	longopts[n++] = (struct option){"state-dir", required_argument, NULL, 's'};
	longopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
	for (; extra != NULL && extra->name != NULL && n < 15; extra++)
		longopts[n++] = *extra;
	longopts[n] = (struct option){NULL, 0, NULL, 0};
	optind = 1;
	while ((opt = getopt_long(argc, argv, extra_short, longopts, NULL)) != -1) {
		if (opt == 's') {
			*state = optarg;
		} else if (opt == 'h') {
			usage(stdout);
			return 1;
		} else if (on_extra == NULL || opt == '?' || on_extra(opt, optarg, ctx) != 0) {
			usage(stderr);
			return 2;
		}
	}
	return 0;
}

int cmd_down(int argc, char **argv)
{
	const char *state = NULL;
	meshctl_paths paths;
	Meshctl__DownRequest req = MESHCTL__DOWN_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	char message[MESH_MESSAGE_MAX];
	long pid;
	int64_t until;
	static const struct option extra[] = {{"containers", no_argument, NULL, 'C'},
					      {"volumes", no_argument, NULL, 'V'},
					      {NULL, 0, NULL, 0}};
	down_flags flags = {0};
	int r = state_dir_option(argc, argv, &state, down_usage, "", extra, down_extra, &flags);
	if (r != 0)
		return r == 1 ? 0 : 2;
	if (optind < argc) {
		fprintf(stderr, "meshctl down: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (flags.volumes && !flags.containers) {
		fprintf(stderr, "meshctl down: --volumes goes with --containers\n");
		return 2;
	}
	if (flags.containers)
		return containers_down(state, flags.volumes);
	if (meshctl_paths_init(&paths, state) != 0) {
		fprintf(stderr, "meshctl down: bad state directory\n");
		return 2;
	}
	pid = control_pid(&paths);
	if (control_call(&paths, "Down", &req.base, &reply, message, sizeof(message)) != MESH_OK) {
		fprintf(stderr, "meshctl down: %s\n", message);
		return 1;
	}
	protobuf_c_message_free_unpacked(reply, NULL);
	/* the supervisor removes its pid file last (its parent may not have reaped it yet) */
	until = mesh_now_us() + (int64_t)DOWN_TIMEOUT_MS * 1000;
	while (control_pid(&paths) == pid && mesh_now_us() < until) {
		struct timespec ts = {0, 20 * 1000000};
		nanosleep(&ts, NULL);
	}
	if (control_pid(&paths) == pid) {
		fprintf(stderr, "meshctl down: the mesh (pid %ld) is still stopping\n", pid);
		return 1;
	}
	printf("meshctl: the mesh from %s is down\n", paths.state);
	return 0;
}
