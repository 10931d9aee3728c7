/* render_compose.c: meshctl render compose: a compose file (compose-spec, as podman-compose 1.0
 * and docker compose read it) running every manifest's instances and the edge on one host, over
 * mutual TLS with the certificates of meshctl certs as compose secrets. */
#include <stdlib.h>
#include <string.h>

#include "render.h"

#define SECRETS	  "/run/secrets"
#define HTTPS_DIR "/run/https" /* where the edge's container sees the HTTPS files' directories */

/* https_paths splits the host paths of the HTTPS certificate and key into their directories
 * (dir[0], dir[1]) and writes where the edge's container sees each file (in_box[0], [1]): both
 * in HTTPS_DIR when they share a directory, else HTTPS_DIR/cert and HTTPS_DIR/key. Returns how
 * many directories to mount (1 or 2). */
static int https_paths(const render_opts *o, char dir[2][512], char in_box[2][600])
{
	const char *files[] = {o->https_cert, o->https_key};
	int same;
	for (int i = 0; i < 2; i++) {
		size_t len = (size_t)(strrchr(files[i], '/') - files[i]);
		snprintf(dir[i], 512, "%.*s", (int)len, len == 0 ? "/" : files[i]);
	}
	same = strcmp(dir[0], dir[1]) == 0;
	for (int i = 0; i < 2; i++)
		snprintf(in_box[i], 600, HTTPS_DIR "%s%s", same ? "" : (i == 0 ? "/cert" : "/key"),
			 strrchr(files[i], '/'));
	return same ? 1 : 2;
}

/* reaches says whether manifest from calls to, directly or through others (seen: c->n bools). */
static bool reaches(const render_ctx *c, size_t from, size_t to, bool *seen)
{
	if (seen[from])
		return false;
	seen[from] = true;
	for (size_t j = 0; j < c->n; j++)
		if (render_called_by(c, from, j) && (j == to || reaches(c, j, to, seen)))
			return true;
	return false;
}

/* cyclic says whether a call from i to j closes a cycle (j reaches i), so that depends_on may
 * not follow it. */
static bool cyclic(const render_ctx *c, size_t i, size_t j)
{
	bool *seen = calloc(c->n, sizeof(*seen)), r;
	if (seen == NULL)
		return true;
	r = i == j || reaches(c, j, i, seen);
	free(seen);
	return r;
}

/* urls writes the tls+tcp:// URL of every instance of manifest j, comma-separated. */
static void urls(FILE *f, const render_ctx *c, size_t j)
{
	char dns[128], host[160], url[200];
	render_dns(dns, sizeof(dns), c->ms[j]->name);
	fputc('\'', f);
	for (int i = 1; i <= c->ms[j]->count; i++) {
		snprintf(host, sizeof(host), "%s-%d", dns, i);
		render_url(url, sizeof(url), host);
		fprintf(f, "%s%s", i > 1 ? "," : "", url);
	}
	fputc('\'', f);
}

/* tls_env writes the environment naming identity id's certificate, key and the CA, where its
 * secrets are mounted (compose mounts a secret at /run/secrets/<its name>). */
static void tls_env(FILE *f, const char *id)
{
	fprintf(f,
		"      CLEAVE_TLS_CERT: " SECRETS "/%s.crt\n"
		"      CLEAVE_TLS_KEY: " SECRETS "/%s.key\n"
		"      CLEAVE_TLS_CA: " SECRETS "/ca.crt\n",
		id, id);
}

/* tls_secrets writes the secrets a container of identity id mounts: its own and the CA. */
static void tls_secrets(FILE *f, const char *id)
{
	fprintf(f, "    secrets: [ca.crt, %s.crt, %s.key]  # read-only, in " SECRETS "/\n", id, id);
}

/* depends writes depends_on: every instance of the manifests deps (c->n bools) says. */
static void depends(FILE *f, const render_ctx *c, const bool *deps)
{
	bool any = false;
	for (size_t j = 0; j < c->n; j++) {
		char dns[128];
		if (!deps[j])
			continue;
		if (!any)
			fprintf(f, "    depends_on:\n");
		any = true;
		render_dns(dns, sizeof(dns), c->ms[j]->name);
		for (int i = 1; i <= c->ms[j]->count; i++)
			fprintf(f, "      %s-%d:\n        condition: service_healthy\n", dns, i);
	}
}

/* hardening writes what every container gets: no root file system writes, no capabilities, no
 * privilege gain, restarts, the network. */
static void hardening(FILE *f)
{
	fprintf(f, "    restart: unless-stopped\n"
		   "    read_only: true\n"
		   "    cap_drop: [ALL]\n"
		   "    security_opt: [no-new-privileges]\n"
		   "    networks: [cleave]\n");
}

static void healthcheck(FILE *f, const char *bin, const char *url, const manifest_healthcheck *h)
{
	char d[32];
	fprintf(f,
		"    healthcheck:  # %d passes in a row to be healthy: compose has no such key\n",
		h->healthy_threshold);
	fprintf(f, "      test: [CMD, %s, --check, '%s']\n", bin, url);
	render_duration(d, sizeof(d), h->interval_ms);
	fprintf(f, "      interval: %s\n", d);
	render_duration(d, sizeof(d), h->timeout_ms);
	fprintf(f, "      timeout: %s\n", d);
	fprintf(f, "      retries: %d\n", h->unhealthy_threshold);
	render_duration(d, sizeof(d), h->grace_period_ms);
	fprintf(f, "      start_period: %s\n", d);
}

static void service(FILE *f, const render_ctx *c, size_t k, int inst, bool *deps)
{
	const manifest *m = c->ms[k];
	char dns[128], env[128], image[512], bin[160], d[32];
	render_dns(dns, sizeof(dns), m->name);
	render_image(c, image, sizeof(image), m->name);
	snprintf(bin, sizeof(bin), "svc-%s", m->name);
	fprintf(f, "  %s-%d:\n", dns, inst);
	fprintf(f, "    image: %s\n", image);
	fprintf(f, "    environment:\n");
	fprintf(f, "      CLEAVE_LISTEN: 'tls+tcp://0.0.0.0:%d'\n", RENDER_SVC_PORT);
	fprintf(f, "      CLEAVE_MANIFESTS: %s  # its call policy: what they allow\n",
		RENDER_MANIFESTS);
	tls_env(f, m->name);
	render_calls(c, k, deps);
	for (size_t j = 0; j < c->n; j++) {
		if (!deps[j])
			continue;
		render_env_name(env, sizeof(env), c->ms[j]->name);
		fprintf(f, "      CLEAVE_CALL_%s: ", env);
		urls(f, c, j);
		fputc('\n', f);
	}
	tls_secrets(f, m->name);
	fprintf(f, "    volumes:\n      - %s-data:%s\n", dns, RENDER_DATA_DIR);
	healthcheck(f, bin, "tls+tcp://127.0.0.1:7000", &m->health);
	render_duration(d, sizeof(d), m->deregistration_delay_ms + 10000);
	fprintf(f, "    stop_grace_period: %s  # deregistration_delay + 10s to drain\n", d);
	if (m->cpu_millis > 0)
		fprintf(f, "    cpus: %d.%03d\n", m->cpu_millis / 1000, m->cpu_millis % 1000);
	if (m->memory_bytes > 0)
		fprintf(f, "    mem_limit: %lldm\n",
			(long long)((m->memory_bytes + (1 << 20) - 1) >> 20));
	for (size_t j = 0; j < c->n; j++)
		if (deps[j] && cyclic(c, k, j))
			deps[j] = false; /* a cycle of calls: start in any order */
	depends(f, c, deps);
	hardening(f);
}

int render_compose(const render_ctx *c, char *err, size_t errlen)
{
	FILE *f = render_begin(c->out, "compose.yml");
	bool *deps = calloc(c->n, sizeof(*deps));
	char image[512], env[128];
	if (f == NULL || deps == NULL) {
		free(deps);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	fprintf(
	    f,
	    "# Every instance of a service is its own container, <name>-<i>, with its own\n"
	    "# network name; callers list every instance of what they call (podman-compose 1.0\n"
	    "# gives a container no other alias). The instances of a service share one volume,\n"
	    "# as they share their data directory under meshctl up.\n"
	    "#\n"
	    "# Every call is mutual TLS (tls+tcp://): each container proves its identity (edge,\n"
	    "# or its service's name) with its own certificate, mounted as a compose secret, and\n"
	    "# each service allows only what the manifests its image carries say (default deny).\n"
	    "# The secrets are files this file does not hold. Make them first, next to it:\n"
	    "#   meshctl certs --dir tls       # a CA, and NAME.crt, NAME.key per identity\n"
	    "#   chown 10001:10001 tls/*.key   # mode 0600: the containers' user reads its key\n"
	    "#                                 # (rootless podman: podman unshare chown ...)\n"
	    "# ($CLEAVE_TLS_DIR names another directory.) Never commit them; ca.key stays out\n"
	    "# of every container. Then start it with\n"
	    "#   podman-compose -p cleave -f compose.yml up -d\n"
	    "# (the health checks run through /bin/sh -c in podman-compose 1.0). The edge is\n"
	    "# published on host port $CLEAVE_EDGE_PORT, else %d.\n"
	    "#\n"
	    "# Each service keeps its data in SQLite on its volume; with compose.postgres.yml\n"
	    "# merged over this file (-f compose.yml -f compose.postgres.yml), in a database of\n"
	    "# its own in a PostgreSQL container instead.\n"
	    "name: cleave\n"
	    "services:\n",
	    c->o->port);
	render_image(c, image, sizeof(image), "edge");
	fprintf(f, "  edge:\n    image: %s\n", image);
	fprintf(f, "    environment:\n");
	tls_env(f, "edge");
	if (c->o->https_cert != NULL) {
		char dir[2][512], in_box[2][600];
		https_paths(c->o, dir, in_box);
		fprintf(f,
			"      # HTTPS for clients (--https-cert/--https-key), the pair loaded\n"
			"      # again when the files change or on SIGHUP\n"
			"      CLEAVE_HTTPS_CERT: %s\n"
			"      CLEAVE_HTTPS_KEY: %s\n",
			in_box[0], in_box[1]);
	}
	for (size_t j = 0; j < c->n; j++) {
		deps[j] = render_upstream(c, j);
		if (!deps[j])
			continue;
		render_env_name(env, sizeof(env), c->ms[j]->name);
		fprintf(f, "      CLEAVE_UPSTREAM_%s: ", env);
		urls(f, c, j);
		fputc('\n', f);
	}
	tls_secrets(f, "edge");
	if (c->o->https_cert != NULL) {
		char dir[2][512], in_box[2][600];
		int ndirs = https_paths(c->o, dir, in_box);
		fprintf(f, "    volumes:  # their directories, read-only: uid 10001 must read the "
			   "files\n");
		for (int i = 0; i < ndirs; i++)
			fprintf(f, "      - '%s:" HTTPS_DIR "%s:ro'\n", dir[i],
				ndirs == 1 ? "" : (i == 0 ? "/cert" : "/key"));
	}
	/* the host port: $CLEAVE_EDGE_PORT when set (compose substitutes it), else --port */
	fprintf(f, "    ports: ['${CLEAVE_EDGE_PORT:-%d}:%d']\n", c->o->port, RENDER_EDGE_PORT);
	{
		manifest_healthcheck h = {.interval_ms = 5000,
					  .timeout_ms = 2000,
					  .healthy_threshold = 2,
					  .unhealthy_threshold = 2,
					  .grace_period_ms = 0};
		healthcheck(f, "edge",
			    c->o->https_cert != NULL ? "https://127.0.0.1:8080/"
						     : "http://127.0.0.1:8080/",
			    &h);
	}
	fprintf(f, "    stop_grace_period: 15s\n");
	depends(f, c, deps);
	hardening(f);
	for (size_t k = 0; k < c->n; k++)
		for (int i = 1; i <= c->ms[k]->count; i++)
			service(f, c, k, i, deps);
	fprintf(f, "networks:\n  cleave: {}\nvolumes:\n");
	for (size_t k = 0; k < c->n; k++) {
		char dns[128];
		render_dns(dns, sizeof(dns), c->ms[k]->name);
		fprintf(f, "  %s-data: {}\n", dns);
	}
	fprintf(f, "secrets:  # from meshctl certs --dir tls (see the top)\n"
		   "  ca.crt:\n    file: ${CLEAVE_TLS_DIR:-./tls}/ca.crt\n");
	for (size_t k = 0; k <= c->n; k++) {
		const char *id = k == 0 ? "edge" : c->ms[k - 1]->name;
		fprintf(f,
			"  %s.crt:\n    file: ${CLEAVE_TLS_DIR:-./tls}/%s.crt\n"
			"  %s.key:\n    file: ${CLEAVE_TLS_DIR:-./tls}/%s.key\n",
			id, id, id, id);
	}
	free(deps);
	return render_compose_postgres(c, err, errlen);
}
