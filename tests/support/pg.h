/* pg.h: a real PostgreSQL server (Debian's packages) for tests: made by initdb in a fresh
 * directory, run as a non-root user on a unix socket there (and a TCP address if asked), a
 * database and role per service, stopped by pid. */
#ifndef CLEAVE_TEST_PG_H
#define CLEAVE_TEST_PG_H

#include <stddef.h>
#include <sys/types.h>

/* pg_server: one server and its directory (data/, the socket, postgres.log). */
typedef struct pg_server {
	char dir[128];	   /* fresh under /tmp, owned by the user the server runs as */
	char bin[128];	   /* where initdb and postgres are */
	char host[64];	   /* its TCP address, "" for the unix socket alone */
	int port;	   /* its TCP port and the socket's name (.s.PGSQL.PORT) */
	pid_t pid;	   /* the postmaster, a child of this process; 0 while stopped */
	uid_t uid;	   /* whom it runs as: nobody when the test runs as root */
	gid_t gid;	   /* that user's group */
	char password[33]; /* the superuser's (postgres) */
} pg_server;

/* pg_server_find says whether PostgreSQL's server programs are installed: 0 with their
 * directory in bin (the newest /usr/lib/postgresql/N/bin), or -1 with why not (what to install)
 * in why. */
int pg_server_find(char *bin, size_t binlen, char *why, size_t whylen);

/* pg_server_start makes a new server with initdb and starts it: on its unix socket, and on
 * host:port over TCP when host is given (an IPv4 address of this host; NULL: the socket alone);
 * port 0 picks a free one. Every connection needs a password (scram-sha-256). Waits until it
 * answers. Returns 0, or -1 with the reason in err (what was made is removed). */
int pg_server_start(pg_server *pg, const char *host, int port, char *err, size_t errlen);

/* pg_server_stop stops the server with sig (SIGINT: fast shutdown, SIGQUIT: immediate, as a
 * crash; SIGKILL...), escalating to SIGQUIT then SIGKILL after timeout_ms, and reaps it; its
 * directory stays for a restart. Returns 0 if it stopped on sig itself, -1 if it needed more
 * or was not running. */
int pg_server_stop(pg_server *pg, int sig, int timeout_ms);

/* pg_server_restart starts the stopped server again on its directory and waits until it
 * answers. Returns 0, or -1 with the reason in err. */
int pg_server_restart(pg_server *pg, char *err, size_t errlen);

/* pg_server_remove stops the server if it runs (fast shutdown) and removes its directory. */
void pg_server_remove(pg_server *pg);

/* pg_server_url writes the URL of database db as user with password over the unix socket
 * (postgresql://USER:PASSWORD@/DB?host=DIR&port=PORT), or over TCP when tcp is set
 * (postgresql://USER:PASSWORD@HOST:PORT/DB). */
void pg_server_url(const pg_server *pg, const char *db, const char *user, const char *password,
		   int tcp, char *out, size_t outlen);

/* pg_server_exec runs sql (one statement, or several without CREATE DATABASE) in database db as
 * the superuser. Returns 0, or -1 with the server's message in err. */
int pg_server_exec(const pg_server *pg, const char *db, const char *sql, char *err, size_t errlen);

/* pg_server_query runs sql in database db as user with password and copies the first column
 * of its first row to out ("" when no row). Returns 0, or -1 with the reason (connecting or
 * the query) in err. */
int pg_server_query(const pg_server *pg, const char *db, const char *user, const char *password,
		    const char *sql, char *out, size_t outlen, char *err, size_t errlen);

/* pg_server_provision gives service name what a service gets in production: a role name with
 * a new random password (copied to password, 33 bytes), and a database name it owns that no
 * other role may connect to. url (urllen bytes) gets its URL over the socket, or over TCP when
 * tcp is set. Returns 0, or -1 with the reason in err. */
int pg_server_provision(const pg_server *pg, const char *name, int tcp, char *password, char *url,
			size_t urllen, char *err, size_t errlen);

#endif
