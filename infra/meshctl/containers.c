/* containers.c: meshctl up --containers and down --containers: the forum in containers with
 * podman-compose, from the compose render, its images, podman configuration and certificates. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "containers.h"
#include "containers_store.h"
#include "manifest.h"
#include "paths.h"
#include "process.h"
#include "render.h"

#define BUILD_TIMEOUT_S	  3600 /* infra/images/build: the first one makes the Debian bases */
#define COMPOSE_TIMEOUT_S 600
#define PODMAN_TIMEOUT_S  120
#define LABEL		  "label=io.podman.compose.project="

/* where: the files of one state directory's containers. */
typedef struct where {
	meshctl_paths paths;
	char dir[PATH_MAX];	/* <state>/containers: compose.yml, project, logs */
	char tls[PATH_MAX];	/* <state>/containers/tls: the certificates */
	char compose[PATH_MAX]; /* <state>/containers/compose.yml */
	char pg[PATH_MAX];	/* <state>/containers/compose.postgres.yml, merged over it */
	char store[PATH_MAX];	/* <state>/containers/store: <name>.env, each service's URL */
	char record[PATH_MAX];	/* <state>/containers/project: "NAME PORT STORE" up last started */
	char log[PATH_MAX];	/* <state>/containers/podman-compose.log */
	char images[PATH_MAX];	/* the images' state: podman's configuration, the builds' logs */
	char conf[PATH_MAX];	/* <images>/containers.conf */
} where;

#define FIT(buf, ...) (snprintf((buf), sizeof(buf), __VA_ARGS__) < (int)sizeof(buf))

/* where_init fills w for the state directory state (NULL: the default). The images' state
 * (podman's configuration, the image builds' logs and work) is $CLEAVE_IMAGES_STATE when set, as
 * for infra/images/build, else <state>/images. */
static int where_init(where *w, const char *state)
{
	const char *images = getenv("CLEAVE_IMAGES_STATE");
	bool ok = meshctl_paths_init(&w->paths, state) == 0 &&
		  FIT(w->dir, "%s/containers", w->paths.state) && FIT(w->tls, "%s/tls", w->dir) &&
		  FIT(w->compose, "%s/compose.yml", w->dir) &&
		  FIT(w->pg, "%s/compose.postgres.yml", w->dir) &&
		  FIT(w->store, "%s/store", w->dir) && FIT(w->record, "%s/project", w->dir) &&
		  FIT(w->log, "%s/podman-compose.log", w->dir);
	if (ok && images != NULL && images[0] != '\0')
		ok = FIT(w->images, "%s", images);
	else if (ok)
		ok = FIT(w->images, "%s/images", w->paths.state);
	return ok && FIT(w->conf, "%s/containers.conf", w->images) ? 0 : -1;
}

/* run runs argv (argv[0] looked up in PATH), its output appended to log (NULL: this process's),
 * for at most timeout_s seconds (then SIGTERM, SIGKILL 5 s later). Returns its exit status, or
 * -1 when it could not start, was killed or timed out. */
static int run(char *const argv[], const char *log, int timeout_s)
{
	int status;
	struct timespec tick = {0, 50 * 1000000};
	long waited_ms = 0;
	bool termed = false;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (log != NULL) {
			int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
			if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
				_exit(127);
		}
		execvp(argv[0], argv);
		fprintf(stderr, "meshctl: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return -1;
		nanosleep(&tick, NULL);
		waited_ms += 50;
		if (!termed && waited_ms > (long)timeout_s * 1000) {
			fprintf(stderr, "meshctl: %s did not end within %d s: stopping it\n",
				argv[0], timeout_s);
			kill(pid, SIGTERM);
			termed = true;
		} else if (termed && waited_ms > (long)timeout_s * 1000 + 5000) {
			kill(pid, SIGKILL);
		}
	}
	return !termed && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* capture runs argv as run does and puts its standard output (up to outlen - 1 bytes) in out.
 * Returns its exit status, or -1. */
static int capture(char *const argv[], char *out, size_t outlen)
{
	char path[] = "/tmp/meshctl-capture.XXXXXX";
	int fd = mkstemp(path), rc;
	ssize_t got;
	out[0] = '\0';
	if (fd < 0)
		return -1;
	unlink(path);
	{
		pid_t pid = fork();
		int status;
		if (pid < 0) {
			close(fd);
			return -1;
		}
		if (pid == 0) {
			int null = open("/dev/null", O_WRONLY);
			dup2(fd, 1);
			if (null >= 0)
				dup2(null, 2);
			execvp(argv[0], argv);
			_exit(127);
		}
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	}
	got = pread(fd, out, outlen - 1, 0);
	out[got > 0 ? got : 0] = '\0';
	close(fd);
	return rc;
}

/* on_path says whether the program name is in PATH. */
static bool on_path(const char *name)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];
	if (path == NULL)
		path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
	while (*path != '\0') {
		size_t len = strcspn(path, ":");
		if (len > 0 &&
		    snprintf(buf, sizeof(buf), "%.*s/%s", (int)len, path, name) <
			(int)sizeof(buf) &&
		    access(buf, X_OK) == 0)
			return true;
		path += len + (path[len] == ':');
	}
	return false;
}

/* ready_to_run checks what both commands need: root, podman and podman-compose. */
static int ready_to_run(const char *cmd)
{
	static const char *const tools[] = {"podman", "podman-compose", "runc"};
	if (geteuid() != 0) {
		fprintf(stderr,
			"meshctl %s --containers: run it as root (podman's storage and the image "
			"builds here need root)\n",
			cmd);
		return 1;
	}
	for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++)
		if (!on_path(tools[i])) {
			fprintf(
			    stderr,
			    "meshctl %s --containers: %s is not installed; infra/up --containers "
			    "installs what is missing (CLEAVE_CONTAINER_PACKAGES in "
			    "infra/deps.sh)\n",
			    cmd, tools[i]);
			return 1;
		}
	return 0;
}

/* podman_env writes podman's configuration for this machine (infra/images/podman-env.sh) into
 * <images>/containers.conf and points CONTAINERS_CONF at it, for every podman command
 * started from here on. */
static int podman_env(const where *w)
{
	char *argv[] = {"bash",
			"-c",
			". \"$1\" && cleave_podman_env \"$2\"",
			"meshctl",
			CLEAVE_SOURCE_DIR "/infra/images/podman-env.sh",
			(char *)w->images,
			NULL};
	if (run(argv, NULL, PODMAN_TIMEOUT_S) != 0 || access(w->conf, R_OK) != 0) {
		fprintf(stderr, "meshctl: could not write podman's configuration into %s\n",
			w->images);
		return -1;
	}
	return setenv("CONTAINERS_CONF", w->conf, 1);
}

/* images_missing says whether the image of the edge or of a manifest, or with postgres the
 * database's, is missing (tag tag). */
static bool images_missing(manifest *const *ms, size_t n, const char *tag, bool postgres)
{
	for (size_t k = 0; k <= n + (postgres ? 1 : 0); k++) {
		char dns[128], image[256], out[256];
		char *argv[] = {"podman", "image", "exists", image, NULL};
		render_dns(dns, sizeof(dns),
			   k == n  ? "edge"
			   : k > n ? RENDER_COMPOSE_DB
				   : ms[k]->name);
		snprintf(image, sizeof(image), "localhost/cleave-%s:%s", dns, tag);
		if (capture(argv, out, sizeof(out)) != 0)
			return true;
	}
	return false;
}

/* certificates makes, in w->tls, the CA and the certificate of every identity that has none (the
 * edge, each manifest, meshctl for calls by hand), and gives the containers' keys to their user
 * (uid 10001, as compose mounts the files as they are). */
static int certificates(const where *w, manifest *const *ms, size_t n)
{
	char self[PATH_MAX], ca[PATH_MAX + 16], *argv[8 + 64];
	size_t argc = 0;
	bool all;
	if (meshctl_bin_path(self, sizeof(self), "meshctl") != 0 || n + 2 > 64)
		return -1;
	snprintf(ca, sizeof(ca), "%s/ca.crt", w->tls);
	all = access(ca, R_OK) != 0;
	argv[argc++] = self;
	argv[argc++] = "certs";
	argv[argc++] = "--dir";
	argv[argc++] = (char *)w->tls;
	for (size_t k = 0; k <= n + 1; k++) {
		const char *id = k == n ? "edge" : k == n + 1 ? "meshctl" : ms[k]->name;
		char crt[PATH_MAX + 80], key[PATH_MAX + 80];
		snprintf(crt, sizeof(crt), "%s/%s.crt", w->tls, id);
		snprintf(key, sizeof(key), "%s/%s.key", w->tls, id);
		if (all || access(crt, R_OK) != 0 || access(key, R_OK) != 0)
			argv[argc++] = (char *)id;
	}
	argv[argc] = NULL;
	if (argc > 4) {
		printf("meshctl: certificates for %s into %s (meshctl certs)\n",
		       all ? "a new CA and every identity" : "the identities without one", w->tls);
		fflush(stdout);
		if (run(argv, NULL, PODMAN_TIMEOUT_S) != 0)
			return -1;
	}
	for (size_t k = 0; k <= n; k++) {
		char key[PATH_MAX + 80];
		snprintf(key, sizeof(key), "%s/%s.key", w->tls, k == n ? "edge" : ms[k]->name);
		if (chown(key, RENDER_UID, RENDER_UID) != 0) {
			fprintf(stderr, "meshctl: chown %s: %s\n", key, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* free_port is a TCP port nothing listens on now, from the kernel. */
static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* answers says whether GET url answers 200 (edge --check, the binary next to meshctl). */
static bool answers(const char *url)
{
	char edge[PATH_MAX];
	char *argv[] = {edge, "--check", (char *)url, NULL};
	if (meshctl_bin_path(edge, sizeof(edge), "edge") != 0)
		return false;
	return run(argv, "/dev/null", 10) == 0;
}

/* wait_ready waits up to wait_s for the edge to answer / and, for each manifest the edge routes
 * to, its first GET route without a parameter (so that every service answers through it).
 * Returns 0, or -1 naming what did not answer. */
static int wait_ready(manifest *const *ms, size_t n, const char *scheme, int port, int wait_s)
{
	char urls[65][300];
	size_t nurls = 0;
	time_t until = time(NULL) + wait_s;
	snprintf(urls[nurls++], sizeof(urls[0]), "%s://127.0.0.1:%d/", scheme, port);
	for (size_t k = 0; k < n && nurls < 65; k++)
		for (size_t r = 0; r < ms[k]->nroutes; r++)
			if (strcmp(ms[k]->routes[r].method, "GET") == 0 &&
			    strchr(ms[k]->routes[r].path, '{') == NULL) {
				snprintf(urls[nurls++], sizeof(urls[0]), "%s://127.0.0.1:%d%s",
					 scheme, port, ms[k]->routes[r].path);
				break;
			}
	for (size_t i = 0; i < nurls; i++) {
		struct timespec second = {1, 0};
		while (!answers(urls[i])) {
			if (time(NULL) >= until) {
				fprintf(stderr, "meshctl up: %s did not answer within %d s\n",
					urls[i], wait_s);
				return -1;
			}
			nanosleep(&second, NULL);
		}
	}
	return 0;
}

/* record_read reads the project and port of what is up from w->record, and in *postgres whether
 * its stores are PostgreSQL (a record without the store: SQLite). Returns 0 or -1. */
static int record_read(const where *w, char *project, size_t len, int *port, bool *postgres)
{
	FILE *f = fopen(w->record, "r");
	char fmt[32], store[16] = "";
	int got;
	if (f == NULL)
		return -1;
	snprintf(fmt, sizeof(fmt), "%%%zus %%d %%15s", len - 1);
	got = fscanf(f, fmt, project, port, store);
	fclose(f);
	*postgres = got == 3 && strcmp(store, "postgres") == 0;
	return got >= 2 ? 0 : -1;
}

/* project_running says whether a container of project exists. */
static bool project_running(const char *project)
{
	char filter[200], out[256];
	char *argv[] = {"podman", "ps", "-a", "-q", "--filter", filter, NULL};
	snprintf(filter, sizeof(filter), LABEL "%s", project);
	return capture(argv, out, sizeof(out)) == 0 && out[0] != '\0';
}

/* compose_env sets what the compose files read when podman-compose runs them: where the
 * certificates and the store files are, the edge's host port. */
static void compose_env(const where *w, int port)
{
	char p[16];
	snprintf(p, sizeof(p), "%d", port);
	setenv("CLEAVE_TLS_DIR", w->tls, 1);
	setenv("CLEAVE_STORE_DIR", w->store, 1);
	setenv("CLEAVE_EDGE_PORT", p, 1);
}

/* compose_argv fills argv (10 slots) with podman-compose -p project -f compose.yml [-f
 * compose.postgres.yml] and then cmd, arg (NULL ends early). */
static void compose_argv(char **argv, const where *w, const char *project, bool postgres,
			 const char *cmd, const char *arg)
{
	size_t i = 0;
	argv[i++] = "podman-compose";
	argv[i++] = "-p";
	argv[i++] = (char *)project;
	argv[i++] = "-f";
	argv[i++] = (char *)w->compose;
	if (postgres) {
		argv[i++] = "-f";
		argv[i++] = (char *)w->pg;
	}
	argv[i++] = (char *)cmd;
	argv[i++] = (char *)arg;
	argv[i] = NULL;
}

/* valid_project says whether name may be a podman-compose project (its containers' prefix). */
static bool valid_project(const char *name)
{
	size_t len = strlen(name);
	return len > 0 && len <= 48 &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") == len && name[0] != '-' &&
	       name[0] != '_';
}

int containers_up(const containers_opts *o)
{
	where w;
	manifest **ms = NULL;
	size_t n = 0;
	char err[512], project[64];
	int port = o->port, rc = 1, old_port;
	bool old_postgres;
	render_opts ro = {.image_prefix = "localhost/cleave-",
			  .tag = o->tag,
			  .edge_count = 1,
			  .https_cert = o->https_cert,
			  .https_key = o->https_key};
	const char *scheme = o->https_cert != NULL ? "https" : "http";
	FILE *f;
	if (!valid_project(o->project)) {
		fprintf(stderr,
			"meshctl up: --project '%s' wants 1 to 48 of [a-z0-9_-], not starting "
			"with - or _\n",
			o->project);
		return 2;
	}
	if (where_init(&w, o->state) != 0) {
		fprintf(stderr, "meshctl up: the state directory's path is too long\n");
		return 2;
	}
	if (ready_to_run("up") != 0)
		return 1;
	/* the edge's container reads them as its user, through their directories mounted as they
	 * are (compose cannot mount a single file so that a replaced file is seen) */
	for (int i = 0; o->https_cert != NULL && i < 2; i++) {
		const char *file = i == 0 ? o->https_cert : o->https_key;
		int e = meshctl_readable_as(file, RENDER_UID, RENDER_UID);
		if (strpbrk(file, "'\"$:\n\\") != NULL) {
			fprintf(stderr,
				"meshctl up: %s: a path with quotes, '$', ':' or '\\' cannot be "
				"mounted by compose\n",
				file);
			return 2;
		}
		if (e != 0) {
			fprintf(
			    stderr,
			    "meshctl up: the edge's container runs as uid %d, which cannot read "
			    "%s (%s): give it read access (chown %d FILE, or chgrp and chmod "
			    "g+r), and o+x to the directories above it\n",
			    RENDER_UID, file, strerror(e), RENDER_UID);
			return 1;
		}
	}
	if (manifest_load_dir(o->manifests, &ms, &n, err, sizeof(err)) != 0) {
		fprintf(stderr, "meshctl up: %s\n", err);
		return 1;
	}
	/* the state directory as meshctl up makes it (0711: its services' users pass through),
	 * what is the containers' inside it 0700; the images' folder (by default the checkout's
	 * .state/images, whose parents rt_mkdirs makes with its mode) 0711, so that a .state it
	 * makes first still lets the local mesh's users through */
	if (rt_mkdirs(w.paths.state, 0711) != 0 || rt_mkdirs(w.dir, 0700) != 0 ||
	    rt_mkdirs(w.images, 0711) != 0) {
		fprintf(stderr, "meshctl up: cannot make %s: %s\n", w.dir, strerror(errno));
		goto out;
	}
	if (podman_env(&w) != 0)
		goto out;
	if (record_read(&w, project, sizeof(project), &old_port, &old_postgres) == 0 &&
	    project_running(project)) {
		fprintf(stderr,
			"meshctl up: the forum already runs in containers from %s (project %s, "
			"http://127.0.0.1:%d/api); meshctl down --containers first\n",
			w.paths.state, project, old_port);
		goto out;
	}
	if (project_running(o->project)) {
		fprintf(stderr,
			"meshctl up: containers of project %s exist already (another state "
			"directory's?); take them down first, or choose another --project\n",
			o->project);
		goto out;
	}
	if (o->build || images_missing(ms, n, o->tag, o->postgres)) {
		char tag[160];
		char *argv[] = {CLEAVE_SOURCE_DIR "/infra/images/build", "--tag", tag, NULL};
		snprintf(tag, sizeof(tag), "%s", o->tag);
		printf("meshctl: building the images (infra/images/build --tag %s; the first build "
		       "makes the Debian bases and takes minutes)\n",
		       o->tag);
		fflush(stdout);
		setenv("CLEAVE_IMAGES_STATE", w.images, 1);
		if (run(argv, NULL, BUILD_TIMEOUT_S) != 0) {
			fprintf(stderr, "meshctl up: the images could not be built (see above)\n");
			goto out;
		}
	}
	if (certificates(&w, ms, n) != 0) {
		fprintf(stderr, "meshctl up: the certificates could not be made in %s\n", w.tls);
		goto out;
	}
	if (o->postgres && containers_store_files(w.store, ms, n) != 0) {
		fprintf(stderr, "meshctl up: the store files could not be made in %s\n", w.store);
		goto out;
	}
	if (port == 0 && (port = free_port()) <= 0) {
		fprintf(stderr, "meshctl up: no free port found\n");
		goto out;
	}
	ro.port = port;
	if (render_run("compose", o->manifests, &ro, w.dir, false) != 0)
		goto out;
	f = fopen(w.record, "w");
	if (f == NULL ||
	    fprintf(f, "%s %d %s\n", o->project, port, o->postgres ? "postgres" : "sqlite") < 0 ||
	    fclose(f) != 0) {
		fprintf(stderr, "meshctl up: cannot write %s\n", w.record);
		goto out;
	}
	compose_env(&w, port);
	printf("meshctl: starting the containers (podman-compose -p %s up -d%s; its log: %s)\n",
	       o->project,
	       o->postgres ? ", with compose.postgres.yml: a PostgreSQL database per service" : "",
	       w.log);
	fflush(stdout);
	{
		char *argv[10];
		compose_argv(argv, &w, o->project, o->postgres, "up", "-d");
		if (run(argv, w.log, COMPOSE_TIMEOUT_S) != 0) {
			fprintf(stderr,
				"meshctl up: podman-compose up failed; see %s. meshctl down "
				"--containers removes what it started\n",
				w.log);
			goto out;
		}
	}
	if (wait_ready(ms, n, scheme, port, o->wait_s) != 0) {
		fprintf(
		    stderr,
		    "meshctl up: the containers run (project %s) but the forum does not answer; "
		    "look with CONTAINERS_CONF=%s podman ps -a and podman logs NAME; meshctl down "
		    "--containers takes them down\n",
		    o->project, w.conf);
		goto out;
	}
	printf("meshctl: the forum runs in containers (project %s); the API is at "
	       "%s://127.0.0.1:%d/api\n"
	       "meshctl: meshctl down --containers stops it (its data stays in its volumes; "
	       "--volumes removes them too)\n"
	       "meshctl: podman by hand: CONTAINERS_CONF=%s podman ps\n",
	       o->project, scheme, port, w.conf);
	if (o->postgres)
		printf("meshctl: the stores are PostgreSQL databases in the container %s "
		       "(their URLs in %s/); psql: CONTAINERS_CONF=%s podman exec -it "
		       "%s_%s_1 psql -h /tmp -d NAME\n",
		       RENDER_COMPOSE_DB, w.store, w.conf, o->project, RENDER_COMPOSE_DB);
	rc = 0;
out:
	manifest_free_all(ms, n);
	return rc;
}

/* names lists (one a line, into out) what podman's list command argv prints. */
static void names(char *const argv[], char *out, size_t outlen)
{
	if (capture(argv, out, outlen) != 0)
		out[0] = '\0';
}

int containers_down(const char *state, int volumes)
{
	where w;
	char project[64], filter[200], out[8192], *save = NULL;
	int port, rc = 0;
	bool postgres;
	if (where_init(&w, state) != 0) {
		fprintf(stderr, "meshctl down: bad state directory\n");
		return 2;
	}
	if (ready_to_run("down") != 0)
		return 1;
	if (record_read(&w, project, sizeof(project), &port, &postgres) != 0) {
		fprintf(stderr,
			"meshctl down: no containers were started from %s (meshctl up "
			"--containers starts them)\n",
			w.paths.state);
		return 1;
	}
	if (podman_env(&w) != 0)
		return 1;
	compose_env(&w, port);
	snprintf(filter, sizeof(filter), LABEL "%s", project);
	{
		char *argv[10];
		compose_argv(argv, &w, project, postgres, "down", volumes ? "-v" : NULL);
		if (run(argv, w.log, COMPOSE_TIMEOUT_S) != 0)
			fprintf(stderr,
				"meshctl down: podman-compose down failed (see %s); "
				"removing what is left by hand\n",
				w.log);
	}
	/* what podman-compose 1.0 leaves: containers it did not know, its networks */
	{
		char *ps[] = {"podman", "ps", "-a", "-q", "--filter", filter, NULL};
		names(ps, out, sizeof(out));
		for (char *id = strtok_r(out, "\n", &save); id != NULL;
		     id = strtok_r(NULL, "\n", &save)) {
			char *rm[] = {"podman", "rm", "-f", "-t", "5", id, NULL};
			run(rm, "/dev/null", PODMAN_TIMEOUT_S);
		}
	}
	{
		char *ls[] = {"podman", "network", "ls", "--format", "{{.Name}}", NULL};
		size_t len = strlen(project);
		names(ls, out, sizeof(out));
		for (char *net = strtok_r(out, "\n", &save); net != NULL;
		     net = strtok_r(NULL, "\n", &save)) {
			char *rm[] = {"podman", "network", "rm", "-f", net, NULL};
			if (strncmp(net, project, len) == 0 &&
			    (net[len] == '_' || net[len] == '\0'))
				run(rm, "/dev/null", PODMAN_TIMEOUT_S);
		}
	}
	if (volumes) {
		char *ls[] = {"podman", "volume", "ls", "-q", "--filter", filter, NULL};
		names(ls, out, sizeof(out));
		for (char *v = strtok_r(out, "\n", &save); v != NULL;
		     v = strtok_r(NULL, "\n", &save)) {
			char *rm[] = {"podman", "volume", "rm", "-f", v, NULL};
			run(rm, "/dev/null", PODMAN_TIMEOUT_S);
		}
	}
	if (project_running(project)) {
		fprintf(stderr, "meshctl down: containers of project %s are still there\n",
			project);
		return 1;
	}
	{
		char *ls[] = {"podman", "volume", "ls", "-q", "--filter", filter, NULL};
		names(ls, out, sizeof(out));
		for (char *p = out; (p = strchr(p, '\n')) != NULL;)
			*p = ' ';
	}
	if (volumes && out[0] != '\0') {
		fprintf(stderr, "meshctl down: volumes left: %s\n", out);
		rc = 1;
	}
	printf("meshctl: the forum's containers (project %s) are down", project);
	if (out[0] != '\0')
		printf("; its data stays in the volumes %s(meshctl down --containers --volumes "
		       "removes them)\n",
		       out);
	else
		printf("\n");
	return rc;
}
