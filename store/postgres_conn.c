/* postgres_conn.c: one libpq connection used with bounded waits, its loss told from a
 * statement's failure, and what a failure means. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "postgres_conn.h"

int64_t pgconn_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* quiet is libpq's notice receiver: notices ("relation already exists, skipping") are not
 * errors, and the service's log is not theirs. */
static void quiet(void *arg, const PGresult *res)
{
	(void)arg;
	(void)res;
}

/* pgconn_message copies libpq's last message about db to out after prefix, on one line. */
static void pgconn_message(PGconn *db, const char *prefix, char *out, size_t outlen)
{
	const char *msg = db != NULL ? PQerrorMessage(db) : "out of memory";
	size_t n = (size_t)snprintf(out, outlen, "%s", prefix);
	for (; *msg != '\0' && n + 1 < outlen; msg++) {
		char ch = (unsigned char)*msg < 0x20 ? ' ' : *msg;
		if (ch != ' ' || (n > 0 && out[n - 1] != ' '))
			out[n++] = ch;
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	if (n < outlen)
		out[n] = '\0';
}

void pgconn_drop(pgconn *c)
{
	if (c->db != NULL)
		PQfinish(c->db);
	c->db = NULL;
}

void pgconn_free(void *p)
{
	pgconn *c = p;
	if (c == NULL)
		return;
	pgconn_drop(c);
	free(c);
}

/* pgconn_wait waits, up to PGCONN_WAIT_MS, for the answer to what was sent on c: every result of
 * it. Returns the first failed result, else the last one (the caller's, to PQclear); or NULL when
 * the connection failed or the answer did not come in time: the connection is then dropped and
 * err says why (c->timed_out says which). */
PGresult *pgconn_wait(pgconn *c, char *err, size_t errlen)
{
	int64_t deadline = pgconn_now_us() + (int64_t)PGCONN_WAIT_MS * 1000;
	PGresult *res = NULL, *r;
	c->timed_out = 0;
	for (;;) {
		int flush = PQflush(c->db), n, left;
		struct pollfd pfd;
		if (flush < 0)
			goto out_broken;
		if (flush == 0 && !PQisBusy(c->db)) {
			if ((r = PQgetResult(c->db)) == NULL)
				break;
			if (res != NULL && PQresultStatus(res) == PGRES_FATAL_ERROR) {
				PQclear(r);
			} else {
				PQclear(res);
				res = r;
			}
			continue;
		}
		left = (int)((deadline - pgconn_now_us()) / 1000);
		if (left <= 0) {
			c->timed_out = 1;
			snprintf(err, errlen, "the database did not answer within %d ms",
				 PGCONN_WAIT_MS);
			PQclear(res);
			pgconn_drop(c);
			return NULL;
		}
		pfd = (struct pollfd){.fd = PQsocket(c->db), .events = POLLIN};
		if (flush == 1)
			pfd.events |= POLLOUT;
		n = poll(&pfd, 1, left);
		if (n < 0 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			PQclear(res);
			pgconn_drop(c);
			return NULL;
		}
		if (n > 0 && (pfd.revents & (POLLIN | POLLERR | POLLHUP)) != 0 &&
		    PQconsumeInput(c->db) == 0)
			goto out_broken;
	}
	if (PQstatus(c->db) != CONNECTION_BAD)
		return res;
out_broken:
	if (res != NULL && PQresultStatus(res) == PGRES_FATAL_ERROR)
		snprintf(err, errlen, "lost the database connection: %s",
			 PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) != NULL
			     ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
			     : "closed");
	else
		pgconn_message(c->db, "lost the database connection: ", err, errlen);
	PQclear(res);
	pgconn_drop(c);
	return NULL;
}

/* pgconn_sql sends sql (no parameters, text results: several statements may be given) and waits
 * for its answer, as pgconn_wait. */
PGresult *pgconn_sql(pgconn *c, const char *sql, char *err, size_t errlen)
{
	if (!PQsendQuery(c->db, sql)) {
		pgconn_message(c->db, "lost the database connection: ", err, errlen);
		pgconn_drop(c);
		return NULL;
	}
	return pgconn_wait(c, err, errlen);
}

/* pgconn_rollback ends c's transaction: ROLLBACK, on a connection that is still there. */
void pgconn_rollback(pgconn *c)
{
	char ignored[8];
	PGresult *res;
	if (c->db != NULL && (res = pgconn_sql(c, "ROLLBACK", ignored, sizeof(ignored))) != NULL)
		PQclear(res);
}

/* pgres_ok says whether res is a success (its status one of a command's or a query's). */
int pgres_ok(const PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);
	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/* pgres_sqlstate returns res's SQLSTATE, "" if none. */
const char *pgres_sqlstate(const PGresult *res)
{
	const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	return code != NULL ? code : "";
}

/* pgres_message copies res's message to out, on one line. */
void pgres_message(const PGresult *res, char *out, size_t outlen)
{
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	snprintf(out, outlen, "%s", msg != NULL ? msg : PQresStatus(PQresultStatus(res)));
}

/* pgres_again says whether a failed statement's transaction may succeed when run again:
 * serialization failures and deadlocks. */
int pgres_again(const PGresult *res)
{
	const char *code = pgres_sqlstate(res);
	return strcmp(code, "40001") == 0 || strcmp(code, "40P01") == 0;
}

/* pgres_unavailable says whether a failed statement failed for the database's state rather than
 * for what it asked: its connection, a shutdown, no room for a connection, read-only. */
static int pgres_unavailable(const PGresult *res)
{
	const char *code = pgres_sqlstate(res);
	return strncmp(code, "08", 2) == 0 || strncmp(code, "57P", 3) == 0 ||
	       strcmp(code, "53300") == 0 || strcmp(code, "25006") == 0;
}

/* pgres_failed is the result of a failed statement res (not NULL), with err set. */
store_result pgres_failed(const PGresult *res, char *err, size_t errlen)
{
	pgres_message(res, err, errlen);
	return pgres_unavailable(res) ? STORE_UNAVAILABLE : STORE_ERROR;
}

/* pgconn_stale says whether c's idle connection may have been closed by the server (a restart, an
 * administrator ending it): an idle connection has nothing to read but such news, so anything
 * to read means a new connection, before anything is sent that could then be lost. */
int pgconn_stale(pgconn *c)
{
	struct pollfd pfd = {.fd = PQsocket(c->db), .events = POLLIN};
	return PQstatus(c->db) == CONNECTION_BAD || PQtransactionStatus(c->db) != PQTRANS_IDLE ||
	       poll(&pfd, 1, 0) != 0;
}

/* pgconn_run runs prepared statement name with n parameters (binary, results binary) and waits
 * for its answer, as pgconn_wait. */
PGresult *pgconn_run(pgconn *c, const char *name, int n, const char *const *values,
		     const int *lengths, const int *formats, char *err, size_t errlen)
{
	if (!PQsendQueryPrepared(c->db, name, n, values, lengths, formats, 1)) {
		pgconn_message(c->db, "lost the database connection: ", err, errlen);
		pgconn_drop(c);
		return NULL;
	}
	return pgconn_wait(c, err, errlen);
}

int pgconn_prepare(pgconn *c, const char *name, const char *sql, int ntypes, const Oid *types,
		   char *err, size_t errlen)
{
	PGresult *res;
	int ok;
	if (!PQsendPrepare(c->db, name, sql, ntypes, types)) {
		pgconn_message(c->db, "lost the database connection: ", err, errlen);
		pgconn_drop(c);
		return -1;
	}
	if ((res = pgconn_wait(c, err, errlen)) == NULL)
		return -1;
	ok = pgres_ok(res);
	if (!ok) {
		char msg[256];
		pgres_message(res, msg, sizeof(msg));
		snprintf(err, errlen, "%s (in: %.80s)", msg, sql);
	}
	PQclear(res);
	return ok ? 0 : -1;
}

int pgconn_open(pgconn *c, const char *url, const char *app_name, char *err, size_t errlen)
{
	/* later keywords win: the URL's settings over the defaults before it, UTF-8 over both */
	const char *const keys[] = {"fallback_application_name", "dbname", "client_encoding", NULL};
	const char *const values[] = {app_name, url, "UTF8", NULL};
	int64_t deadline = pgconn_now_us() + (int64_t)PGCONN_CONNECT_MS * 1000;
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	c->db = PQconnectStartParams(keys, values, 1);
	if (c->db == NULL || PQstatus(c->db) == CONNECTION_BAD) {
		pgconn_message(c->db, "cannot connect to the database: ", err, errlen);
		pgconn_drop(c);
		return -1;
	}
	while (st != PGRES_POLLING_OK) {
		struct pollfd pfd = {.fd = PQsocket(c->db)};
		int left = (int)((deadline - pgconn_now_us()) / 1000), n;
		if (st == PGRES_POLLING_FAILED) {
			pgconn_message(c->db, "cannot connect to the database: ", err, errlen);
			pgconn_drop(c);
			return -1;
		}
		if (left <= 0) {
			snprintf(err, errlen, "cannot connect to the database within %d ms",
				 PGCONN_CONNECT_MS);
			pgconn_drop(c);
			return -1;
		}
		pfd.events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
		n = poll(&pfd, 1, left);
		if (n < 0 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			pgconn_drop(c);
			return -1;
		}
		if (n > 0)
			st = PQconnectPoll(c->db);
	}
	PQsetNoticeReceiver(c->db, quiet, NULL);
	if (PQsetnonblocking(c->db, 1) != 0) {
		pgconn_message(c->db, "", err, errlen);
		pgconn_drop(c);
		return -1;
	}
	return 0;
}
