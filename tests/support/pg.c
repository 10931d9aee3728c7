/* pg.c: a throwaway PostgreSQL server for tests: initdb, postgres as a non-root user, stopped by
 * pid. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "harness.h"
#include "pg.h"

#define PG_READY_MS 30000

int pg_server_find(char *bin, size_t binlen, char *why, size_t whylen)
{
	glob_t g;
	int found = -1;
	if (glob("/usr/lib/postgresql/*/bin/postgres", 0, NULL, &g) == 0) {
		/* the newest: the highest major version */
		long best = -1;
		for (size_t i = 0; i < g.gl_pathc; i++) {
			long major =
			    strtol(g.gl_pathv[i] + strlen("/usr/lib/postgresql/"), NULL, 10);
			char initdb[256];
			snprintf(initdb, sizeof(initdb), "%.*s/initdb",
				 (int)(strrchr(g.gl_pathv[i], '/') - g.gl_pathv[i]), g.gl_pathv[i]);
			if (major > best && access(g.gl_pathv[i], X_OK) == 0 &&
			    access(initdb, X_OK) == 0) {
				best = major;
				snprintf(bin, binlen, "%.*s",
					 (int)(strrchr(g.gl_pathv[i], '/') - g.gl_pathv[i]),
					 g.gl_pathv[i]);
				found = 0;
			}
		}
		globfree(&g);
	}
	if (found != 0)
		snprintf(why, whylen,
			 "no PostgreSQL server: /usr/lib/postgresql/*/bin/postgres and initdb are "
			 "missing (apt-get install postgresql, as infra/test does when root)");
	return found;
}

/* pg_random_hex fills out with 32 random hex digits. */
static void pg_random_hex(char out[33])
{
	unsigned char bytes[16];
	if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes))
		for (size_t i = 0; i < sizeof(bytes); i++)
			bytes[i] = (unsigned char)(rand() ^ (int)getpid());
	for (size_t i = 0; i < sizeof(bytes); i++)
		snprintf(out + 2 * i, 3, "%02x", bytes[i]);
}

/* pg_spawn starts argv (argv[0] a path) as pg's user, its output appended to log, dying with
 * this process (the postmaster shuts down at once on SIGQUIT, its backends with it). Returns its
 * pid, or -1. */
static pid_t pg_spawn(const pg_server *pg, char *const argv[], const char *log)
{
	pid_t parent = getpid(), pid = fork();
	sigset_t none;
	int fd;
	if (pid != 0)
		return pid;
	if (geteuid() == 0 &&
	    (setgroups(0, NULL) != 0 || setgid(pg->gid) != 0 || setuid(pg->uid) != 0))
		_exit(126);
	/* after the change of user, which clears it */
	prctl(PR_SET_PDEATHSIG, SIGQUIT);
	if (getppid() != parent)
		_exit(127);
	if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600)) >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0) {
		dup2(fd, 0);
		close(fd);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (chdir(pg->dir) != 0)
		_exit(127);
	execv(argv[0], argv);
	fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* pg_log_tail copies the end of the server's log into err after prefix. */
static void pg_log_tail(const pg_server *pg, const char *prefix, char *err, size_t errlen)
{
	char path[192];
	char *text;
	size_t len;
	snprintf(path, sizeof(path), "%s/postgres.log", pg->dir);
	text = harness_read_file(path);
	len = text != NULL ? strlen(text) : 0;
	snprintf(err, errlen, "%s; %s ends: %s", prefix, path,
		 text == NULL ? "(nothing)" : text + (len > 600 ? len - 600 : 0));
	free(text);
}

/* pg_conninfo writes the superuser's connection to db over the socket. */
static void pg_conninfo(const pg_server *pg, const char *db, char *out, size_t outlen)
{
	snprintf(out, outlen, "host=%s port=%d dbname=%s user=postgres password=%s", pg->dir,
		 pg->port, db, pg->password);
}

/* pg_run_postgres starts the postmaster on pg's directory and waits until it answers. */
static int pg_run_postgres(pg_server *pg, char *err, size_t errlen)
{
	char exe[192], data[192], log[192], port[16], listen[96], sockets[160], conn[256];
	char *argv[] = {exe, "-D", data, "-p", port, "-c", listen, "-c", sockets,
			/* tests need no durability against power loss, only against crashes of
			 * processes (the server's included): the kernel keeps what was written */
			"-c", "fsync=off", "-c", "shared_buffers=16MB", "-c", "max_connections=120",
			"-c", "log_min_messages=warning", "-c", "log_line_prefix=%m [%p] ", NULL};
	long long until;
	snprintf(exe, sizeof(exe), "%s/postgres", pg->bin);
	snprintf(data, sizeof(data), "%s/data", pg->dir);
	snprintf(log, sizeof(log), "%s/postgres.log", pg->dir);
	snprintf(port, sizeof(port), "%d", pg->port);
	snprintf(listen, sizeof(listen), "listen_addresses=%s", pg->host);
	snprintf(sockets, sizeof(sockets), "unix_socket_directories=%s", pg->dir);
	pg_conninfo(pg, "postgres", conn, sizeof(conn));
	if ((pg->pid = pg_spawn(pg, argv, log)) < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		pg->pid = 0;
		return -1;
	}
	until = harness_now_ms() + PG_READY_MS;
	while (PQping(conn) != PQPING_OK) {
		int status;
		if (waitpid(pg->pid, &status, WNOHANG) == pg->pid) {
			pg->pid = 0;
			pg_log_tail(pg, "postgres exited at start", err, errlen);
			return -1;
		}
		if (harness_now_ms() >= until) {
			pg_server_stop(pg, SIGQUIT, 5000);
			pg_log_tail(pg, "postgres did not answer within 30 s", err, errlen);
			return -1;
		}
		harness_sleep_ms(20);
	}
	return 0;
}

/* pg_write_file writes text to path, owned by pg's user, mode 0600. */
static int pg_write_file(const pg_server *pg, const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fputs(text, f);
	if (fclose(f) != 0 || chmod(path, 0600) != 0)
		return -1;
	if (geteuid() == 0 && chown(path, pg->uid, pg->gid) != 0)
		return -1;
	return 0;
}

int pg_server_start(pg_server *pg, const char *host, int port, char *err, size_t errlen)
{
	char exe[192], data[192], pwfile[192], log[192], hba[224], why[256];
	char *argv[] = {exe,
			"-D",
			data,
			"-U",
			"postgres",
			"--pwfile",
			pwfile,
			"-A",
			"scram-sha-256",
			"-E",
			"UTF8",
			"--no-sync",
			"--locale=C.UTF-8",
			NULL};
	struct passwd *nobody;
	int status;
	pid_t pid;
	memset(pg, 0, sizeof(*pg));
	if (pg_server_find(pg->bin, sizeof(pg->bin), why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s", why);
		return -1;
	}
	pg->uid = geteuid();
	pg->gid = getegid();
	if (pg->uid == 0) {
		/* PostgreSQL refuses to run as root */
		if ((nobody = getpwnam("nobody")) == NULL) {
			snprintf(err, errlen, "no user 'nobody' to run PostgreSQL as");
			return -1;
		}
		pg->uid = nobody->pw_uid;
		pg->gid = nobody->pw_gid;
	}
	if (harness_tmpdir(pg->dir, sizeof(pg->dir)) != 0) {
		snprintf(err, errlen, "mkdtemp: %s", strerror(errno));
		return -1;
	}
	if (geteuid() == 0 && chown(pg->dir, pg->uid, pg->gid) != 0) {
		snprintf(err, errlen, "chown %s: %s", pg->dir, strerror(errno));
		goto out_remove;
	}
	snprintf(pg->host, sizeof(pg->host), "%s", host != NULL ? host : "");
	pg->port = port > 0 ? port : host != NULL ? harness_free_port() : 5432;
	pg_random_hex(pg->password);
	snprintf(exe, sizeof(exe), "%s/initdb", pg->bin);
	snprintf(data, sizeof(data), "%s/data", pg->dir);
	snprintf(pwfile, sizeof(pwfile), "%s/pwfile", pg->dir);
	snprintf(log, sizeof(log), "%s/postgres.log", pg->dir);
	if (pg_write_file(pg, pwfile, pg->password) != 0) {
		snprintf(err, errlen, "%s: %s", pwfile, strerror(errno));
		goto out_remove;
	}
	if ((pid = pg_spawn(pg, argv, log)) < 0 || (status = harness_wait(pid, 60000)) == -1 ||
	    !harness_exited_cleanly(status)) {
		if (pid > 0)
			harness_stop(pid, SIGKILL, 1000);
		pg_log_tail(pg, "initdb failed", err, errlen);
		goto out_remove;
	}
	unlink(pwfile);
	/* a password for every connection, on the socket and over TCP from anywhere */
	snprintf(hba, sizeof(hba), "%s/pg_hba.conf", data);
	if (pg_write_file(pg, hba,
			  "local all all scram-sha-256\n"
			  "host all all 0.0.0.0/0 scram-sha-256\n"
			  "host all all ::/0 scram-sha-256\n") != 0) {
		snprintf(err, errlen, "%s: %s", hba, strerror(errno));
		goto out_remove;
	}
	if (pg_run_postgres(pg, err, errlen) != 0)
		goto out_remove;
	return 0;

out_remove:
	harness_rmtree(pg->dir);
	pg->dir[0] = '\0';
	return -1;
}

int pg_server_stop(pg_server *pg, int sig, int timeout_ms)
{
	int status, clean = 1;
	if (pg->pid <= 0)
		return -1;
	kill(pg->pid, sig);
	status = harness_wait(pg->pid, timeout_ms);
	if (status == -1 && sig != SIGQUIT && sig != SIGKILL) {
		/* immediate shutdown: the postmaster ends its children and waits for them */
		clean = 0;
		kill(pg->pid, SIGQUIT);
		status = harness_wait(pg->pid, 10000);
	}
	if (status == -1) {
		clean = 0;
		status = harness_stop(pg->pid, SIGKILL, 1000);
	}
	pg->pid = 0;
	return clean ? 0 : -1;
}

int pg_server_restart(pg_server *pg, char *err, size_t errlen)
{
	if (pg->pid > 0) {
		snprintf(err, errlen, "the server is running");
		return -1;
	}
	return pg_run_postgres(pg, err, errlen);
}

void pg_server_remove(pg_server *pg)
{
	if (pg->pid > 0)
		pg_server_stop(pg, SIGINT, 10000);
	if (pg->dir[0] != '\0')
		harness_rmtree(pg->dir);
	pg->dir[0] = '\0';
}

void pg_server_url(const pg_server *pg, const char *db, const char *user, const char *password,
		   int tcp, char *out, size_t outlen)
{
	if (tcp)
		snprintf(out, outlen, "postgresql://%s:%s@%s:%d/%s", user, password, pg->host,
			 pg->port, db);
	else
		snprintf(out, outlen, "postgresql://%s:%s@/%s?host=%s&port=%d", user, password, db,
			 pg->dir, pg->port);
}

/* pg_connect connects to db as user, or returns NULL with the reason in err. */
static PGconn *pg_connect(const pg_server *pg, const char *db, const char *user,
			  const char *password, char *err, size_t errlen)
{
	const char *const keys[] = {"host", "port", "dbname", "user", "password", NULL};
	char port[16];
	const char *const values[] = {pg->dir, port, db, user, password, NULL};
	PGconn *c;
	snprintf(port, sizeof(port), "%d", pg->port);
	c = PQconnectdbParams(keys, values, 0);
	if (c == NULL || PQstatus(c) != CONNECTION_OK) {
		snprintf(err, errlen, "%s", c != NULL ? PQerrorMessage(c) : "out of memory");
		PQfinish(c);
		return NULL;
	}
	return c;
}

int pg_server_query(const pg_server *pg, const char *db, const char *user, const char *password,
		    const char *sql, char *out, size_t outlen, char *err, size_t errlen)
{
	PGconn *c = pg_connect(pg, db, user, password, err, errlen);
	PGresult *res;
	int rv = 0;
	if (out != NULL && outlen > 0)
		out[0] = '\0';
	if (c == NULL)
		return -1;
	res = PQexec(c, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "%s", PQerrorMessage(c));
		rv = -1;
	} else if (out != NULL && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0) {
		snprintf(out, outlen, "%s", PQgetvalue(res, 0, 0));
	}
	PQclear(res);
	PQfinish(c);
	return rv;
}

int pg_server_exec(const pg_server *pg, const char *db, const char *sql, char *err, size_t errlen)
{
	return pg_server_query(pg, db, "postgres", pg->password, sql, NULL, 0, err, errlen);
}

int pg_server_provision(const pg_server *pg, const char *name, int tcp, char *password, char *url,
			size_t urllen, char *err, size_t errlen)
{
	char sql[512];
	pg_random_hex(password);
	snprintf(sql, sizeof(sql), "CREATE ROLE \"%s\" LOGIN PASSWORD '%s'", name, password);
	if (pg_server_exec(pg, "postgres", sql, err, errlen) != 0)
		return -1;
	snprintf(sql, sizeof(sql),
		 "CREATE DATABASE \"%s\" OWNER \"%s\" TEMPLATE template0 ENCODING 'UTF8'", name,
		 name);
	if (pg_server_exec(pg, "postgres", sql, err, errlen) != 0)
		return -1;
	/* its owner alone may connect: not PUBLIC, so no other service's role */
	snprintf(sql, sizeof(sql), "REVOKE ALL ON DATABASE \"%s\" FROM PUBLIC", name);
	if (pg_server_exec(pg, "postgres", sql, err, errlen) != 0)
		return -1;
	pg_server_url(pg, name, name, password, tcp, url, urllen);
	return 0;
}
