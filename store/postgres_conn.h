/* postgres_conn.h: one libpq connection used with bounded waits (to connect, for each
 * statement's answer), its loss told from a statement's failure, and what a failure means.
 * Internal to store/ (postgres.c). */
#ifndef CLEAVE_STORE_POSTGRES_CONN_H
#define CLEAVE_STORE_POSTGRES_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "store.h"

#define PGCONN_CONNECT_MS 5000 /* the longest a new connection may take */
#define PGCONN_WAIT_MS	  5000 /* the longest a statement's answer may take */

/* pgconn: one thread's connection, or why it has none. */
typedef struct pgconn {
	PGconn *db;	     /* NULL while there is none */
	int64_t retry_at_us; /* after a failed attempt, no new one before this */
	char why[256];	     /* why the last attempt failed */
	int timed_out;	     /* the last statement had no answer in time */
} pgconn;

/* pgconn_now_us is the monotonic clock, in microseconds. */
int64_t pgconn_now_us(void);

/* pgconn_open connects c (which has no connection) to url (a URI or libpq's key=value; borrowed)
 * within PGCONN_CONNECT_MS, as application app_name unless url names one; the connection is
 * then non-blocking and its notices dropped. Returns 0, or -1 with the reason in err. */
int pgconn_open(pgconn *c, const char *url, const char *app_name, char *err, size_t errlen);

/* pgconn_stale says whether c's idle connection may have been closed by the server (a restart,
 * an administrator ending it): an idle connection has nothing to read but such news, so
 * anything to read means a new connection, before anything is sent that could then be lost. */
int pgconn_stale(pgconn *c);

/* pgconn_drop closes c's connection, if any; pgconn_free drops and frees a pgconn (a thread
 * key's destructor). */
void pgconn_drop(pgconn *c);
void pgconn_free(void *c);

/* pgconn_wait waits, up to PGCONN_WAIT_MS, for the answer to what was sent on c: every result
 * of it. Returns the first failed result, else the last one (the caller's, to PQclear); or NULL
 * when the connection failed or the answer did not come in time: the connection is then
 * dropped and err says why (c->timed_out says which). */
PGresult *pgconn_wait(pgconn *c, char *err, size_t errlen);

/* pgconn_sql sends sql (no parameters, text results; several statements may be given) and waits
 * for its answer, as pgconn_wait. */
PGresult *pgconn_sql(pgconn *c, const char *sql, char *err, size_t errlen);

/* pgconn_run runs prepared statement name with n parameters (values, lengths and formats, as
 * PQsendQueryPrepared takes them; borrowed) and waits for its answer (binary), as pgconn_wait.
 */
PGresult *pgconn_run(pgconn *c, const char *name, int n, const char *const *values,
		     const int *lengths, const int *formats, char *err, size_t errlen);

/* pgconn_prepare prepares sql as statement name with ntypes parameter types. Returns 0, or -1
 * with err (c is dropped if its connection failed). */
int pgconn_prepare(pgconn *c, const char *name, const char *sql, int ntypes, const Oid *types,
		   char *err, size_t errlen);

/* pgconn_rollback ends c's transaction with ROLLBACK, on a connection that is still there. */
void pgconn_rollback(pgconn *c);

/* pgres_ok says whether res is a success (a command's or a query's). */
int pgres_ok(const PGresult *res);

/* pgres_sqlstate returns res's SQLSTATE, "" if none. */
const char *pgres_sqlstate(const PGresult *res);

/* pgres_message copies res's message to out, on one line. */
void pgres_message(const PGresult *res, char *out, size_t outlen);

/* pgres_again says whether a failed statement's transaction may succeed when run again:
 * serialization failures and deadlocks (40001, 40P01). */
int pgres_again(const PGresult *res);

/* pgres_failed is the result of a failed statement res: STORE_UNAVAILABLE when it failed for
 * the database's state (its connection, a shutdown, no room for a connection, read-only),
 * else STORE_ERROR; err gets its message. */
store_result pgres_failed(const PGresult *res, char *err, size_t errlen);

#endif
