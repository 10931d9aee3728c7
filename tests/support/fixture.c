/* fixture.c: starts the real services and edge for integration suites, and stops them by pid. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "harness.h"
#include "http.h"

static const char *const fixture_services[] = {"users", "threads", "posts"};

static int fixture_slot(fixture_mesh *m, const char *name)
{
	for (int i = 0; i < m->n; i++)
		if (strcmp(m->names[i], name) == 0)
			return i;
	if (m->n == FIXTURE_MAX_PROCS)
		return -1;
	snprintf(m->names[m->n], sizeof(m->names[m->n]), "%s", name);
	m->pids[m->n] = -1;
	return m->n++;
}

pid_t fixture_pid(const fixture_mesh *m, const char *name)
{
	for (int i = 0; i < m->n; i++)
		if (strcmp(m->names[i], name) == 0)
			return m->pids[i];
	return -1;
}

void fixture_forget(fixture_mesh *m, const char *name)
{
	for (int i = 0; i < m->n; i++)
		if (strcmp(m->names[i], name) == 0)
			m->pids[i] = -1;
}

void fixture_url(const fixture_mesh *m, const char *path, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s%s", m->base, path);
}

void fixture_admin_url(const fixture_mesh *m, const char *path, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s%s", m->admin_base, path);
}

void fixture_log_path(const fixture_mesh *m, const char *name, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%s.log", m->dir, name);
}

const char *fixture_external(void)
{
	const char *v = getenv("CLEAVE_TEST_EDGE_URL");
	return v != NULL && *v != '\0' ? v : NULL;
}

int fixture_postgres(void)
{
	const char *v = getenv("CLEAVE_TEST_STORE");
	return v != NULL && strcmp(v, "postgres") == 0;
}

const fixture_store *fixture_store_of(const fixture_mesh *m, const char *name)
{
	for (int i = 0; i < m->nstores; i++)
		if (strcmp(m->stores[i].name, name) == 0)
			return &m->stores[i];
	return NULL;
}

/* fixture_store_url returns service name's --store URL, giving it a database and role on the
 * mesh's server the first time; NULL after a message on stderr. */
static const char *fixture_store_url(fixture_mesh *m, const char *name)
{
	const fixture_store *known = fixture_store_of(m, name);
	fixture_store *st;
	char err[512];
	if (known != NULL)
		return known->url;
	if (m->nstores == FIXTURE_MAX_PROCS)
		return NULL;
	st = &m->stores[m->nstores];
	snprintf(st->name, sizeof(st->name), "%s", name);
	if (pg_server_provision(&m->pg, name, 0, st->password, st->url, sizeof(st->url), err,
				sizeof(err)) != 0) {
		fprintf(stderr, "fixture: cannot give %s a database: %s\n", name, err);
		return NULL;
	}
	m->nstores++;
	return st->url;
}

/* fixture_pg_start starts the mesh's PostgreSQL server. Returns 0, or -1 after a message; ends
 * the process as skipped where PostgreSQL is not installed. */
static int fixture_pg_start(fixture_mesh *m)
{
	char err[1024];
	if (pg_server_find(m->pg.bin, sizeof(m->pg.bin), err, sizeof(err)) != 0) {
		printf("skipped: CLEAVE_TEST_STORE=postgres: %s\n", err);
		fflush(stdout);
		harness_rmtree(m->dir);
		exit(HARNESS_EXIT_SKIPPED);
	}
	if (pg_server_start(&m->pg, NULL, 0, err, sizeof(err)) != 0) {
		fprintf(stderr, "fixture: cannot start PostgreSQL: %s\n", err);
		return -1;
	}
	m->pg_up = 1;
	return 0;
}

int fixture_monolith(void)
{
	const char *v = getenv("CLEAVE_TEST_MONOLITH");
	return v != NULL && strcmp(v, "1") == 0;
}

pid_t fixture_service_start_as(fixture_mesh *m, const char *name, const char *binary,
			       const char *seed)
{
	char exe[512], url[256], log[256], data[256];
	int slot = fixture_slot(m, name), argc = 7;
	const char *store = NULL;
	if (slot < 0)
		return -1;
	if (m->pg_up && (store = fixture_store_url(m, name)) == NULL)
		return -1;
	snprintf(exe, sizeof(exe), "%s/svc-%s", CLEAVE_BUILD_DIR, binary);
	snprintf(url, sizeof(url), "ipc://%s/%s.sock", m->dir, name);
	snprintf(data, sizeof(data), "%s/data/%s", m->dir, name);
	fixture_log_path(m, name, log, sizeof(log));
	/* the data directory outlives restarts: a restarted service finds its data again */
	char *argv[12] = {exe, "--listen", url, "--data-dir", data, "--run-dir", m->dir, NULL};
	if (seed != NULL) {
		argv[argc++] = "--seed";
		argv[argc++] = (char *)seed;
	}
	if (store != NULL) {
		argv[argc++] = "--store";
		argv[argc++] = (char *)store;
	}
	argv[argc] = NULL;
	m->pids[slot] = harness_spawn(argv, log);
	return m->pids[slot];
}

pid_t fixture_service_start(fixture_mesh *m, const char *name)
{
	return fixture_service_start_as(m, name, name, NULL);
}

/* fixture_wait_ready waits until path answers 200 through the edge. */
static int fixture_wait_ready(const fixture_mesh *m, const char *path, int timeout_ms)
{
	long long until = harness_now_ms() + timeout_ms;
	char url[256];
	fixture_url(m, path, url, sizeof(url));
	do {
		http_response r;
		int ok = http_get(url, &r) == 0 && r.status == 200;
		http_response_free(&r);
		if (ok)
			return 0;
		harness_sleep_ms(20);
	} while (harness_now_ms() < until);
	return -1;
}

int fixture_mesh_start(fixture_mesh *m, const char *const *extra_edge_args)
{
	fixture_opts opts = {.edge_args = extra_edge_args};
	return fixture_mesh_start_with(m, &opts);
}

#define FIXTURE_MAX_EXTRA 4

/* fixture_seed_of returns the seed file opts gives service name, or NULL for its own. */
static const char *fixture_seed_of(const fixture_opts *opts, const char *name)
{
	for (size_t i = 0; i < opts->nseeds; i++)
		if (strcmp(opts->seeds[i].name, name) == 0)
			return opts->seeds[i].path;
	return NULL;
}

int fixture_mesh_start_with(fixture_mesh *m, const fixture_opts *opts)
{
	char exe[512], log[256], line[512], access[256], report[4096];
	char upstreams[FIXTURE_MAX_EXTRA][320];
	char *argv[32];
	int argc = 0, slot, want_admin = 0;
	const char *at;
	memset(m, 0, sizeof(*m));
	if (fixture_external() != NULL) {
		/* a mesh started elsewhere: nothing to start, nothing to stop */
		if (opts->nextra > 0 || opts->nseeds > 0 ||
		    (opts->edge_args != NULL && opts->edge_args[0] != NULL)) {
			fprintf(stderr, "fixture: CLEAVE_TEST_EDGE_URL cannot take edge options, "
					"seeds or extra services\n");
			return -1;
		}
		const char *url = fixture_external(), *host = url + strlen("http://");
		size_t hostlen = strcspn(host, ":/");
		if (strncmp(url, "http://", 7) != 0 || strlen(url) >= sizeof(m->base) ||
		    hostlen >= sizeof(m->host) || host[hostlen] != ':' ||
		    (m->port = atoi(host + hostlen + 1)) <= 0) {
			fprintf(stderr,
				"fixture: CLEAVE_TEST_EDGE_URL=%s is not http://IPV4:PORT "
				"(at most 63 bytes)\n",
				url);
			return -1;
		}
		snprintf(m->base, sizeof(m->base), "%s", url);
		snprintf(m->host, sizeof(m->host), "%.*s", (int)hostlen, host);
		if (fixture_wait_ready(m, "/api/users/1", 30000) != 0 ||
		    fixture_wait_ready(m, "/api/threads/1", 30000) != 0 ||
		    fixture_wait_ready(m, "/api/posts/1", 30000) != 0) {
			fprintf(stderr, "fixture: %s did not answer every service's route\n",
				m->base);
			return -1;
		}
		return 0;
	}
	if (opts->nextra > FIXTURE_MAX_EXTRA) {
		fprintf(stderr, "fixture: at most %d extra services\n", FIXTURE_MAX_EXTRA);
		return -1;
	}
	if (opts->nseeds > 0 && fixture_monolith()) {
		fprintf(stderr, "fixture: the monolith loads its services' own seeds only\n");
		return -1;
	}
	if (harness_tmpdir(m->dir, sizeof(m->dir)) != 0) {
		perror("fixture: mkdtemp");
		return -1;
	}
	if (fixture_postgres() && fixture_pg_start(m) != 0)
		goto out_fail;
	if (fixture_monolith() && m->pg_up) {
		/* the monolith finds each service's database in CLEAVE_STORE_URL_<NAME> */
		for (size_t i = 0; i < sizeof(fixture_services) / sizeof(*fixture_services); i++) {
			const char *store = fixture_store_url(m, fixture_services[i]);
			char var[64];
			size_t k = (size_t)snprintf(var, sizeof(var), "CLEAVE_STORE_URL_");
			for (const char *p = fixture_services[i]; *p != '\0'; p++)
				var[k++] = (char)(*p - 'a' + 'A');
			var[k] = '\0';
			if (store == NULL || setenv(var, store, 1) != 0)
				goto out_fail;
		}
	}
	if (fixture_monolith()) {
		/* CLEAVE_TEST_MONOLITH=1: every service in one process, at the same addresses */
		char data[300];
		char *mono[] = {exe, "--run-dir", m->dir, "--state-dir", data, NULL};
		snprintf(exe, sizeof(exe), "%s/monolith", CLEAVE_BUILD_DIR);
		snprintf(data, sizeof(data), "%s/data", m->dir);
		fixture_log_path(m, "monolith", log, sizeof(log));
		if ((slot = fixture_slot(m, "monolith")) < 0 ||
		    (m->pids[slot] = harness_spawn(mono, log)) < 0)
			goto out_fail;
	} else {
		for (size_t i = 0; i < sizeof(fixture_services) / sizeof(*fixture_services); i++)
			if (fixture_service_start_as(m, fixture_services[i], fixture_services[i],
						     fixture_seed_of(opts, fixture_services[i])) <
			    0)
				goto out_fail;
	}
	for (size_t i = 0; i < opts->nextra; i++)
		if (fixture_service_start_as(m, opts->extra[i].name, opts->extra[i].binary,
					     opts->extra[i].seed) < 0)
			goto out_fail;
	snprintf(exe, sizeof(exe), "%s/edge", CLEAVE_BUILD_DIR);
	snprintf(access, sizeof(access), "%s/access.log", m->dir);
	argv[argc++] = exe;
	argv[argc++] = "--port";
	argv[argc++] = "0";
	argv[argc++] = "--run-dir";
	argv[argc++] = m->dir;
	argv[argc++] = "--access-log";
	argv[argc++] = access;
	for (size_t i = 0; i < opts->nextra; i++) {
		snprintf(upstreams[i], sizeof(upstreams[i]), "%s=ipc://%s/%s.sock",
			 opts->extra[i].name, m->dir, opts->extra[i].name);
		argv[argc++] = "--upstream";
		argv[argc++] = upstreams[i];
	}
	for (const char *const *a = opts->edge_args; a != NULL && *a != NULL && argc < 30; a++) {
		want_admin |= strcmp(*a, "--admin-port") == 0 || strcmp(*a, "--admin-listen") == 0;
		argv[argc++] = (char *)*a;
	}
	argv[argc] = NULL;
	fixture_log_path(m, "edge", log, sizeof(log));
	if ((slot = fixture_slot(m, "edge")) < 0 || (m->pids[slot] = harness_spawn(argv, log)) < 0)
		goto out_fail;
	if (harness_wait_for_line(log, "listening on http://", line, sizeof(line), 10000) != 0 ||
	    (at = strrchr(line, ':')) == NULL || (m->port = atoi(at + 1)) <= 0) {
		fprintf(stderr, "fixture: the edge did not report its port (see %s)\n", log);
		goto out_fail;
	}
	snprintf(m->base, sizeof(m->base), "http://127.0.0.1:%d", m->port);
	snprintf(m->host, sizeof(m->host), "127.0.0.1");
	if (want_admin) {
		if (harness_wait_for_line(log, "admin on http://", line, sizeof(line), 10000) !=
			0 ||
		    (at = strrchr(line, ':')) == NULL || (m->admin_port = atoi(at + 1)) <= 0) {
			fprintf(stderr,
				"fixture: the edge did not report its admin port (see %s)\n", log);
			goto out_fail;
		}
		/* the line ends with the URL: "edge: admin on http://127.0.0.1:PORT" */
		snprintf(m->admin_base, sizeof(m->admin_base), "%s", strstr(line, "http://"));
	}
	if (fixture_wait_ready(m, "/api/users/1", 10000) != 0 ||
	    fixture_wait_ready(m, "/api/threads/1", 10000) != 0 ||
	    fixture_wait_ready(m, "/api/posts/1", 10000) != 0) {
		fprintf(stderr, "fixture: the mesh did not become ready in %s\n", m->dir);
		goto out_fail;
	}
	return 0;

out_fail:
	fixture_mesh_stop(m, report, sizeof(report));
	fprintf(stderr, "%s", report);
	return -1;
}

/* append_tail appends the last lines of path to report. */
static void append_tail(char *report, size_t reportlen, const char *path)
{
	char *text = harness_read_file(path);
	size_t len = text != NULL ? strlen(text) : 0, used = strlen(report);
	const char *tail = len > 1500 ? text + len - 1500 : text;
	if (text != NULL && used < reportlen)
		snprintf(report + used, reportlen - used, "--- %s ---\n%s\n", path, tail);
	free(text);
}

int fixture_mesh_stop(fixture_mesh *m, char *report, size_t reportlen)
{
	int bad = 0;
	report[0] = '\0';
	/* the edge first, so no request finds a service gone */
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < m->n; i++) {
			int is_edge = strcmp(m->names[i], "edge") == 0, status;
			char how[64], log[256];
			size_t used;
			if (m->pids[i] <= 0 || is_edge != (pass == 0))
				continue;
			status = harness_stop(m->pids[i], SIGTERM, 5000);
			m->pids[i] = -1;
			if (harness_exited_cleanly(status))
				continue;
			bad = 1;
			harness_describe_status(status, how, sizeof(how));
			used = strlen(report);
			snprintf(report + used, reportlen - used, "%s: %s\n", m->names[i], how);
			fixture_log_path(m, m->names[i], log, sizeof(log));
			append_tail(report, reportlen, log);
		}
	}
	if (m->pg_up) {
		/* after the services: a fast shutdown, which a server in order takes */
		if (pg_server_stop(&m->pg, SIGINT, 10000) != 0) {
			size_t used = strlen(report);
			bad = 1;
			snprintf(report + used, reportlen - used,
				 "postgres: needed more than a fast shutdown\n");
		}
		pg_server_remove(&m->pg);
		m->pg_up = 0;
	}
	if (bad)
		harness_note_unclean("the mesh", report);
	if (m->dir[0] != '\0')
		harness_rmtree(m->dir);
	return bad ? -1 : 0;
}
