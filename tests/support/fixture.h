/* fixture.h: the whole mesh (users, threads, posts and the edge) started for a test suite. */
#ifndef CLEAVE_TEST_FIXTURE_H
#define CLEAVE_TEST_FIXTURE_H

#include <stddef.h>
#include <sys/types.h>

#include "pg.h"

#define FIXTURE_MAX_PROCS 8

/* fixture_store: where one service keeps its data when the mesh runs on PostgreSQL: a database
 * and role of its own, as fixture_postgres() asks. */
typedef struct fixture_store {
	char name[32];	   /* the service's name, its database's and its role's */
	char password[33]; /* its role's */
	char url[400];	   /* its --store URL, over the server's unix socket */
} fixture_store;

/* fixture_mesh: one running mesh in its own directory (sockets, logs). */
typedef struct fixture_mesh {
	char dir[128];
	char names[FIXTURE_MAX_PROCS][32];
	pid_t pids[FIXTURE_MAX_PROCS];
	int n;
	int port;      /* the edge's HTTP port */
	char base[64]; /* "http://127.0.0.1:PORT", or $CLEAVE_TEST_EDGE_URL */
	char host[48]; /* the edge's IPv4 address: "127.0.0.1", or the external URL's */
	/* the edge's admin port, when extra_edge_args gave --admin-port or --admin-listen; else 0
	 */
	int admin_port;
	char admin_base[64]; /* "http://127.0.0.1:ADMIN_PORT" as the edge printed it, or "" */
	/* with fixture_postgres(): the server, started first and stopped last, and each
	 * service's database */
	pg_server pg;
	int pg_up;
	fixture_store stores[FIXTURE_MAX_PROCS];
	int nstores;
} fixture_mesh;

/* fixture_extra: one more service started before the edge: another instance of a service binary
 * under a name of its own, as a second target group of the same protobuf service. */
typedef struct fixture_extra {
	const char *name;   /* "users_b": its socket ipc://DIR/users_b.sock, data directory, log */
	const char *binary; /* "users": it runs svc-users */
	const char *seed;   /* its --seed FILE, or NULL for the binary's own seed */
} fixture_extra;

/* fixture_seed: one of the three services seeded from a file of the test's own instead of
 * svc/<name>/seed.json. */
typedef struct fixture_seed {
	const char *name; /* "posts" */
	const char *path; /* its --seed FILE */
} fixture_seed;

/* fixture_opts: how fixture_mesh_start_with starts the mesh; zero for fixture_mesh_start's. */
typedef struct fixture_opts {
	const char *const *edge_args; /* more edge options, NULL-terminated, or NULL */
	const fixture_extra *extra;   /* nextra more services */
	size_t nextra;
	const fixture_seed *seeds; /* nseeds of the three services' seeds replaced */
	size_t nseeds;
} fixture_opts;

/* fixture_external returns $CLEAVE_TEST_EDGE_URL ("http://HOST:PORT", no trailing slash) when
 * set and not empty, else NULL: the suite then runs against a mesh started elsewhere (network
 * namespaces, containers), freshly seeded, and starts no process of its own. */
const char *fixture_external(void);

/* fixture_mesh_start starts the three services on ipc:// sockets in a fresh directory, then the
 * edge on a free port (extra_edge_args, NULL-terminated, may add options), and waits until a
 * route of every service answers 200. If extra_edge_args has --admin-port or --admin-listen, it
 * also reads the admin port from the edge's "admin on http://" line into admin_port and
 * admin_base. Returns 0, or -1 with the reason on stderr (everything started is stopped
 * again). With fixture_external(), it only waits until a route of every service answers 200
 * there, and fails if extra_edge_args asks for anything. */
int fixture_mesh_start(fixture_mesh *m, const char *const *extra_edge_args);

/* fixture_mesh_start_with is fixture_mesh_start with opts->edge_args, the three services seeded
 * as opts->seeds says (a mesh started elsewhere and the monolith cannot be: it fails), and the
 * opts->extra services started after the three: the edge is given --upstream
 * NAME=ipc://DIR/NAME.sock for each (so opts->edge_args must name a --manifests directory with
 * a manifest of each name). opts and what it points at are borrowed for the call. */
int fixture_mesh_start_with(fixture_mesh *m, const fixture_opts *opts);

/* fixture_postgres says whether CLEAVE_TEST_STORE=postgres asks for services that keep their
 * data in PostgreSQL: the fixture starts a server (tests/support/pg.h) in a directory of its own,
 * gives each service a database and role of its own and its --store URL, and stops the server
 * after the services. Where PostgreSQL is not installed, fixture_mesh_start_with ends the suite
 * as skipped (HARNESS_EXIT_SKIPPED), saying so. */
int fixture_postgres(void);

/* fixture_store_of returns where service name keeps its data under fixture_postgres(), or
 * NULL (SQLite, or no such service). It belongs to m. */
const fixture_store *fixture_store_of(const fixture_mesh *m, const char *name);

/* fixture_service_start starts (or restarts) service name ("users") on its socket.
 * Returns its pid, or -1. */
pid_t fixture_service_start(fixture_mesh *m, const char *name);

/* fixture_monolith says whether CLEAVE_TEST_MONOLITH=1 asks for the monolith: every service in
 * one process (build/monolith) behind the same edge, instead of a process per service. */
int fixture_monolith(void);

/* fixture_service_start_as starts (or restarts) svc-<binary> as service name on its socket,
 * seeded from seed (NULL: the binary's own seed). Returns its pid, or -1. */
pid_t fixture_service_start_as(fixture_mesh *m, const char *name, const char *binary,
			       const char *seed);

/* fixture_pid returns the pid of the process called name ("edge", "users"), or -1. */
pid_t fixture_pid(const fixture_mesh *m, const char *name);

/* fixture_forget marks name as gone (after a test killed and reaped it itself). */
void fixture_forget(fixture_mesh *m, const char *name);

/* fixture_url writes base + path into out. */
void fixture_url(const fixture_mesh *m, const char *path, char *out, size_t outlen);

/* fixture_admin_url writes admin_base + path into out. */
void fixture_admin_url(const fixture_mesh *m, const char *path, char *out, size_t outlen);

/* fixture_log_path writes the path of name's log file (stdout and stderr) into out. */
void fixture_log_path(const fixture_mesh *m, const char *name, char *out, size_t outlen);

/* fixture_mesh_stop sends SIGTERM to every process (the edge first), reaps them, stops the
 * PostgreSQL server if one was started (a fast shutdown) and removes the directories. Returns 0 if
 * every one exited with status 0; otherwise -1 with each bad exit and the tail of its log in
 * report. */
int fixture_mesh_stop(fixture_mesh *m, char *report, size_t reportlen);

#endif
