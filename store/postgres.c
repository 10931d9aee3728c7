/* postgres.c: the PostgreSQL store backend: tables from the descriptor, made and seeded once
 * under an advisory lock; a connection per serving thread (postgres_conn.c), made again after a
 * restart; rows in binary (postgres_rows.c); idempotent creates in one statement. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "postgres_conn.h"
#include "postgres_rows.h"

#define PG_SQL_MAX  8192
#define PG_RETRY_MS 250 /* after a failed connection, calls fail at once for this long */
#define PG_TRIES    5	/* times a statement is run when it must be run again */

/* the prepared statements of every connection */
enum {
	ST_GET,	       /* the row of an id */
	ST_INSERT,     /* a new row, returned */
	ST_INSERT_KEY, /* a new row and its key, the row returned; no row if the key was taken */
	ST_KEY_GET,    /* a key's request and id */
	ST_COUNT,
	ST_LIST, /* every row, a page; ST_LIST + 1 + i: the rows of index i */
	ST_N = ST_LIST + 1 + STORE_MAX_INDEXES,
};

/* pg_store: the backend's state of one store. */
typedef struct pg_store {
	const store_schema *schema;
	const char *url;
	const char *seed;
	pthread_key_t conn_key;
	char app_name[STORE_NAME_MAX + 16];
	char *sql[ST_N]; /* the statements' text, NULL for none */
	Oid types[ST_N][PGROWS_PARAMS_MAX];
	int ntypes[ST_N];
	char names[ST_N][8];		  /* their names on the server: "s0", "s1"... */
	char select_list[PG_SQL_MAX / 4]; /* "id", "username", ... */
} pg_store;

/* pg_run runs prepared statement st with p's parameters and waits for its answer, as
 * pgconn_wait. */
static PGresult *pg_run(const pg_store *s, pgconn *c, int st, const pgrows_params *p, char *err,
			size_t errlen)
{
	return pgconn_run(c, s->names[st], p->n, p->values, p->lengths, p->formats, err, errlen);
}

/* conn_prepare prepares the statements of s on c. Returns 0, or -1 with err (c is dropped if
 * its connection failed). */
static int conn_prepare(const pg_store *s, pgconn *c, char *err, size_t errlen)
{
	for (int st = 0; st < ST_N; st++)
		if (s->sql[st] != NULL && pgconn_prepare(c, s->names[st], s->sql[st], s->ntypes[st],
							 s->types[st], err, errlen) != 0)
			return -1;
	return 0;
}

/* conn_get returns the calling thread's connection, made (again) if it has none; NULL, with
 * err, when the database cannot be reached: then calls fail at once for PG_RETRY_MS before the
 * next attempt. */
static pgconn *conn_get(const pg_store *s, char *err, size_t errlen)
{
	pgconn *c = pthread_getspecific(s->conn_key);
	if (c == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
		pthread_setspecific(s->conn_key, c);
	}
	if (c->db != NULL && pgconn_stale(c))
		pgconn_drop(c);
	if (c->db != NULL)
		return c;
	if (pgconn_now_us() < c->retry_at_us) {
		snprintf(err, errlen, "%s", c->why);
		return NULL;
	}
	if (pgconn_open(c, s->url, s->app_name, c->why, sizeof(c->why)) != 0 ||
	    conn_prepare(s, c, c->why, sizeof(c->why)) != 0) {
		pgconn_drop(c);
		c->retry_at_us = pgconn_now_us() + (int64_t)PG_RETRY_MS * 1000;
		snprintf(err, errlen, "%s", c->why);
		return NULL;
	}
	return c;
}

/* ---- statements --------------------------------------------------------------------------- */

/* pg_add appends printf's output to the text being built in buf (size bytes, *n of them used):
 * *n ends at size or more when it did not fit. */
static void pg_add(char *buf, size_t size, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void pg_add(char *buf, size_t size, size_t *n, const char *fmt, ...)
{
	va_list ap;
	if (*n >= size)
		return;
	va_start(ap, fmt);
	*n += (size_t)vsnprintf(buf + *n, size - *n, fmt, ap);
	va_end(ap);
}

/* pg_statement sets statement st's text (copied) and parameter types (ntypes of types). */
static int pg_statement(pg_store *s, int st, const char *sql, const Oid *types, int ntypes)
{
	if (strlen(sql) >= PG_SQL_MAX - 1 || (s->sql[st] = strdup(sql)) == NULL)
		return -1;
	if (ntypes > 0)
		memcpy(s->types[st], types, (size_t)ntypes * sizeof(*types));
	s->ntypes[st] = ntypes;
	snprintf(s->names[st], sizeof(s->names[st]), "s%d", st);
	return 0;
}

/* pg_statements writes the text of every statement of s. Returns 0, or -1 (too long, no
 * memory). */
static int pg_statements(pg_store *s)
{
	const store_schema *sc = s->schema;
	char sql[PG_SQL_MAX], cols[PG_SQL_MAX / 2] = "", params[PG_SQL_MAX / 4] = "";
	Oid types[PGROWS_PARAMS_MAX];
	size_t n = 0, c = 0, p = 0;
	int nc = (int)sc->ncolumns;
	pg_add(s->select_list, sizeof(s->select_list), &n, "\"id\"");
	for (size_t i = 0; i < sc->ncolumns; i++) {
		pg_add(s->select_list, sizeof(s->select_list), &n, ", \"%s\"",
		       sc->columns[i]->name);
		pg_add(cols, sizeof(cols), &c, "%s\"%s\"", i ? ", " : "", sc->columns[i]->name);
		pg_add(params, sizeof(params), &p, "%s$%zu", i ? ", " : "", i + 1);
		types[i] = pgrows_oid(sc->kinds[i]);
	}
	if (n >= sizeof(s->select_list) || c >= sizeof(cols) || p >= sizeof(params))
		return -1;
	n = 0;
	pg_add(sql, sizeof(sql), &n, "SELECT %s FROM \"%s\" WHERE \"id\" = $1", s->select_list,
	       sc->table);
	if (pg_statement(s, ST_GET, sql, (const Oid[]){PG_INT8}, 1) != 0)
		return -1;
	n = 0;
	pg_add(sql, sizeof(sql), &n, "INSERT INTO \"%s\" (%s) VALUES (%s) RETURNING %s", sc->table,
	       cols, params, s->select_list);
	if (pg_statement(s, ST_INSERT, sql, types, nc) != 0)
		return -1;
	/* one statement, so one transaction: the key is recorded with the row's id, taken from
	 * the identity's sequence, and the row inserted only if the key was not recorded yet. A
	 * second insert of the key waits for the first's transaction: then it does nothing if
	 * that committed, and goes on if it rolled back. */
	n = 0;
	pg_add(sql, sizeof(sql), &n,
	       "WITH k AS (INSERT INTO \"%s_idempotency\" (method, key, request, id) VALUES ($%d, "
	       "$%d, $%d, nextval(pg_get_serial_sequence('\"%s\"', 'id'))) ON CONFLICT DO NOTHING "
	       "RETURNING id) INSERT INTO \"%s\" (\"id\"%s%s) SELECT k.id%s%s FROM k RETURNING %s",
	       sc->table, nc + 1, nc + 2, nc + 3, sc->table, sc->table, nc > 0 ? ", " : "", cols,
	       nc > 0 ? ", " : "", params, s->select_list);
	types[nc] = PG_TEXT;
	types[nc + 1] = PG_TEXT;
	types[nc + 2] = PG_BYTEA;
	if (pg_statement(s, ST_INSERT_KEY, sql, types, nc + 3) != 0)
		return -1;
	n = 0;
	pg_add(sql, sizeof(sql), &n,
	       "SELECT request, id FROM \"%s_idempotency\" WHERE method = $1 AND key = $2",
	       sc->table);
	if (pg_statement(s, ST_KEY_GET, sql, (const Oid[]){PG_TEXT, PG_TEXT}, 2) != 0)
		return -1;
	n = 0;
	pg_add(sql, sizeof(sql), &n, "SELECT count(*) FROM \"%s\"", sc->table);
	if (pg_statement(s, ST_COUNT, sql, NULL, 0) != 0)
		return -1;
	/* LIMIT NULL is no limit */
	n = 0;
	pg_add(sql, sizeof(sql), &n,
	       "SELECT %s FROM \"%s\" WHERE \"id\" > $1 ORDER BY \"id\" LIMIT $2", s->select_list,
	       sc->table);
	if (pg_statement(s, ST_LIST, sql, (const Oid[]){PG_INT8, PG_INT8}, 2) != 0)
		return -1;
	for (size_t i = 0; i < sc->nindexes; i++) {
		n = 0;
		pg_add(sql, sizeof(sql), &n,
		       "SELECT %s FROM \"%s\" WHERE \"%s\" = $1 AND \"id\" > $2 ORDER BY \"id\" "
		       "LIMIT $3",
		       s->select_list, sc->table, sc->indexes[i]->name);
		if (pg_statement(s, ST_LIST + 1 + (int)i, sql,
				 (const Oid[]){PG_INT8, PG_INT8, PG_INT8}, 3) != 0)
			return -1;
	}
	return 0;
}

/* ---- opening: the tables, once seeded ----------------------------------------------------- */

/* pg_lock_key is the advisory lock under which a store's tables are made and seeded: FNV-1a of
 * "cleave.store." and the table's name. */
static int64_t pg_lock_key(const char *table)
{
	uint64_t h = 14695981039346656037ull;
	for (const char *p = "cleave.store."; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	for (const char *p = table; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return (int64_t)h;
}

/* open_exec runs sql in the transaction of the store's opening. Returns 0, or -1 with err. */
static store_result open_exec(pgconn *c, const char *sql, char *err, size_t errlen)
{
	PGresult *res = pgconn_sql(c, sql, err, errlen);
	store_result r = STORE_OK;
	char msg[256];
	if (res == NULL)
		return STORE_UNAVAILABLE;
	if (!pgres_ok(res)) {
		r = pgres_failed(res, msg, sizeof(msg));
		snprintf(err, errlen, "%s (in: %.80s)", msg, sql);
	}
	PQclear(res);
	return r;
}

/* seed_rows inserts the seed's rows with their ids, in the open transaction, and moves the ids
 * the store assigns past them. */
static store_result seed_rows(const pg_store *s, pgconn *c, char *err, size_t errlen)
{
	const store_schema *sc = s->schema;
	char sql[PG_SQL_MAX];
	size_t n = 0, nrows;
	Oid types[PGROWS_PARAMS_MAX] = {PG_INT8};
	ProtobufCMessage **rows;
	store_result r;
	PGresult *res;
	if (store_seed_load(sc, s->seed, &rows, &nrows, err, errlen) != 0)
		return STORE_ERROR;
	pg_add(sql, sizeof(sql), &n, "INSERT INTO \"%s\" (%s) VALUES ($1", sc->table,
	       s->select_list);
	for (size_t i = 0; i < sc->ncolumns; i++) {
		pg_add(sql, sizeof(sql), &n, ", $%zu", i + 2);
		types[i + 1] = pgrows_oid(sc->kinds[i]);
	}
	pg_add(sql, sizeof(sql), &n, ")");
	if (pgconn_prepare(c, "seed", sql, (int)sc->ncolumns + 1, types, err, errlen) != 0) {
		store_seed_free(rows, 0, nrows);
		return c->db != NULL ? STORE_ERROR : STORE_UNAVAILABLE;
	}
	r = STORE_OK;
	for (size_t i = 0; i < nrows && r == STORE_OK; i++) {
		pgrows_params p = {.n = 0};
		long long id = (long long)store_row_id(sc, rows[i]);
		pgrows_int8(&p, id);
		pgrows_row(&p, sc, rows[i]);
		if ((res = pgconn_run(c, "seed", p.n, p.values, p.lengths, p.formats, err,
				      errlen)) == NULL) {
			r = STORE_UNAVAILABLE;
			break;
		}
		if (!pgres_ok(res)) {
			char msg[256];
			const char *field = store_schema_unique_field(
			    sc, PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME));
			r = pgres_failed(res, msg, sizeof(msg));
			if (strcmp(pgres_sqlstate(res), "23505") == 0)
				snprintf(err, errlen,
					 "%s: element %zu (id %lld): its %s is not unique", s->seed,
					 i, id, field != NULL ? field : "a unique field");
			else
				snprintf(err, errlen, "%s: element %zu (id %lld): %s", s->seed, i,
					 id, msg);
		}
		PQclear(res);
	}
	store_seed_free(rows, 0, nrows);
	if (r != STORE_OK)
		return r;
	n = 0;
	pg_add(
	    sql, sizeof(sql), &n,
	    "DEALLOCATE seed; SELECT setval(pg_get_serial_sequence('\"%s\"', 'id'), max(\"id\")) "
	    "FROM \"%s\" HAVING max(\"id\") IS NOT NULL",
	    sc->table, sc->table);
	return open_exec(c, sql, err, errlen);
}

/* schema_create makes the tables and indexes if missing, and seeds them if the store was never
 * seeded, in one transaction under an advisory lock: instances starting together, on any host,
 * make and seed them once. */
static store_result schema_create(const pg_store *s, pgconn *c, char *err, size_t errlen)
{
	const store_schema *sc = s->schema;
	char sql[PG_SQL_MAX];
	size_t n = 0;
	store_result r;
	PGresult *res;
	int seeded;
	pg_add(sql, sizeof(sql), &n,
	       "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock(%lld); "
	       "CREATE TABLE IF NOT EXISTS \"%s\" (\"id\" bigint GENERATED BY DEFAULT AS IDENTITY "
	       "PRIMARY KEY",
	       (long long)pg_lock_key(sc->table), sc->table);
	for (size_t i = 0; i < sc->ncolumns; i++)
		pg_add(sql, sizeof(sql), &n, ", \"%s\" %s NOT NULL", sc->columns[i]->name,
		       pgrows_type(sc->kinds[i]));
	/* named as store_schema_unique_field reads them */
	for (size_t i = 0; i < sc->ncolumns; i++)
		if (sc->unique[i])
			pg_add(sql, sizeof(sql), &n, ", CONSTRAINT \"%s_%s_key\" UNIQUE (\"%s\")",
			       sc->table, sc->columns[i]->name, sc->columns[i]->name);
	/* the keys and the seeded mark are the store's own, named after it, so that stores
	 * that share a database (which each service should not) cannot mix them */
	pg_add(sql, sizeof(sql), &n,
	       "); CREATE TABLE IF NOT EXISTS \"%s_idempotency\" (method text NOT NULL, key text "
	       "NOT NULL, request bytea NOT NULL, id bigint NOT NULL, PRIMARY KEY (method, key)); "
	       "CREATE TABLE IF NOT EXISTS \"%s_meta\" (key text PRIMARY KEY, value text NOT "
	       "NULL);",
	       sc->table, sc->table);
	for (size_t i = 0; i < sc->nindexes; i++)
		pg_add(sql, sizeof(sql), &n,
		       " CREATE INDEX IF NOT EXISTS \"%s_%s\" ON \"%s\" (\"%s\", \"id\");",
		       sc->table, sc->indexes[i]->name, sc->table, sc->indexes[i]->name);
	if (n >= PG_SQL_MAX) {
		snprintf(err, errlen, "the schema of %s is too long", sc->table);
		return STORE_ERROR;
	}
	if ((r = open_exec(c, sql, err, errlen)) != STORE_OK)
		goto out_rollback;
	n = 0;
	pg_add(sql, sizeof(sql), &n, "SELECT 1 FROM \"%s_meta\" WHERE key = 'seeded'", sc->table);
	if ((res = pgconn_sql(c, sql, err, errlen)) == NULL)
		return STORE_UNAVAILABLE;
	seeded = pgres_ok(res) && PQntuples(res) > 0;
	r = pgres_ok(res) ? STORE_OK : pgres_failed(res, err, errlen);
	PQclear(res);
	if (r != STORE_OK)
		goto out_rollback;
	if (!seeded && s->seed != NULL && (r = seed_rows(s, c, err, errlen)) != STORE_OK)
		goto out_rollback;
	n = 0;
	pg_add(sql, sizeof(sql), &n, "INSERT INTO \"%s_meta\" (key, value) VALUES ('seeded', '1')",
	       sc->table);
	if (!seeded && (r = open_exec(c, sql, err, errlen)) != STORE_OK)
		goto out_rollback;
	return open_exec(c, "COMMIT", err, errlen);

out_rollback:
	pgconn_rollback(c);
	return r;
}

/* pg_where describes the store from its URL into where (wherelen bytes): its database, user and
 * host, no password. */
static void pg_where(const pg_store *s, char *where, size_t wherelen)
{
	char *msg = NULL;
	PQconninfoOption *opts = PQconninfoParse(s->url, &msg);
	const char *db = "", *user = "", *host = "", *port = "";
	for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++) {
		if (o->val == NULL)
			continue;
		if (strcmp(o->keyword, "dbname") == 0)
			db = o->val;
		else if (strcmp(o->keyword, "user") == 0)
			user = o->val;
		else if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
	}
	snprintf(where, wherelen, "postgres database %s as %s on %s%s%s", db[0] ? db : "(default)",
		 user[0] ? user : "(default)", host[0] ? host : "the default socket",
		 port[0] ? ":" : "", port);
	PQconninfoFree(opts);
	PQfreemem(msg);
}

static void pg_free(pg_store *s)
{
	for (int st = 0; st < ST_N; st++)
		free(s->sql[st]);
	free(s);
}

static store_result pg_open(void **impl, const store_schema *schema, const store_opts *opts,
			    char *where, size_t wherelen, char *err, size_t errlen)
{
	pg_store *s = calloc(1, sizeof(*s));
	pgconn *c;
	store_result r;
	char *msg = NULL;
	PQconninfoOption *parsed;
	if (s == NULL)
		return store_no_memory(err, errlen);
	s->schema = schema;
	s->url = opts->url;
	s->seed = opts->seed;
	snprintf(s->app_name, sizeof(s->app_name), "cleave-%s", schema->table);
	/* a malformed URL is an error, not the database being away */
	if ((parsed = PQconninfoParse(s->url, &msg)) == NULL) {
		snprintf(err, errlen, "the store URL does not parse: %s",
			 msg != NULL ? msg : "out of memory");
		PQfreemem(msg);
		pg_free(s);
		return STORE_ERROR;
	}
	PQconninfoFree(parsed);
	if (pg_statements(s) != 0) {
		snprintf(err, errlen, "the statements of %s are too long", schema->table);
		pg_free(s);
		return STORE_ERROR;
	}
	if (pthread_key_create(&s->conn_key, pgconn_free) != 0) {
		snprintf(err, errlen, "out of thread keys");
		pg_free(s);
		return STORE_ERROR;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		r = store_no_memory(err, errlen);
		goto out_key;
	}
	if (pgconn_open(c, s->url, s->app_name, err, errlen) != 0) {
		r = STORE_UNAVAILABLE;
		goto out_conn;
	}
	if ((r = schema_create(s, c, err, errlen)) != STORE_OK)
		goto out_conn;
	if (conn_prepare(s, c, err, errlen) != 0) {
		r = c->db != NULL ? STORE_ERROR : STORE_UNAVAILABLE;
		goto out_conn;
	}
	pthread_setspecific(s->conn_key, c);
	pg_where(s, where, wherelen);
	*impl = s;
	return STORE_OK;

out_conn:
	pgconn_free(c);
out_key:
	pthread_key_delete(s->conn_key);
	pg_free(s);
	return r;
}

/* ---- reading ------------------------------------------------------------------------------ */

/* pg_read runs the read statement st with p on the thread's connection: once more on a new
 * connection if the first was found closed (a read is safe to repeat). On STORE_OK *res is the
 * result (the caller's, PQclear). */
static store_result pg_read(const pg_store *s, int st, const pgrows_params *p, PGresult **res,
			    char *err, size_t errlen)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		pgconn *c = conn_get(s, err, errlen);
		store_result r;
		if (c == NULL)
			return STORE_UNAVAILABLE;
		if ((*res = pg_run(s, c, st, p, err, errlen)) == NULL) {
			if (c->timed_out)
				return STORE_UNAVAILABLE;
			continue;
		}
		if (pgres_ok(*res))
			return STORE_OK;
		r = pgres_failed(*res, err, errlen);
		PQclear(*res);
		*res = NULL;
		return r;
	}
	return STORE_UNAVAILABLE;
}

static store_result pg_get_row(const pg_store *s, int64_t id, ProtobufCMessage **row, char *err,
			       size_t errlen)
{
	pgrows_params p = {.n = 0};
	PGresult *res;
	store_result r;
	pgrows_int8(&p, id);
	if ((r = pg_read(s, ST_GET, &p, &res, err, errlen)) != STORE_OK)
		return r;
	r = STORE_NOT_FOUND;
	if (PQntuples(res) > 0)
		r = (*row = pgrows_read(s->schema, res, 0, err, errlen)) != NULL ? STORE_OK
										 : STORE_ERROR;
	PQclear(res);
	return r;
}

static store_result pg_get(void *impl, int64_t id, ProtobufCMessage **row, char *err, size_t errlen)
{
	return pg_get_row(impl, id, row, err, errlen);
}

static store_result pg_list(void *impl, int index, int64_t value, int64_t after, int32_t limit,
			    store_rows *rows, char *err, size_t errlen)
{
	const pg_store *s = impl;
	pgrows_params p = {.n = 0};
	PGresult *res;
	store_result r;
	int n;
	if (index >= 0)
		pgrows_int8(&p, value);
	pgrows_int8(&p, after);
	/* one row more than asked tells whether another page follows */
	if (limit > 0)
		pgrows_int8(&p, (int64_t)limit + 1);
	else
		pgrows_null(&p);
	if ((r = pg_read(s, ST_LIST + 1 + index, &p, &res, err, errlen)) != STORE_OK)
		return r;
	n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		ProtobufCMessage *row;
		if (limit > 0 && rows->n == (size_t)limit) {
			rows->next_after = store_row_id(s->schema, rows->items[rows->n - 1]);
			break;
		}
		if ((row = pgrows_read(s->schema, res, i, err, errlen)) == NULL ||
		    store_rows_append(rows, row) != 0) {
			if (row != NULL)
				snprintf(err, errlen, "out of memory");
			store_rows_free(rows);
			PQclear(res);
			return STORE_ERROR;
		}
	}
	PQclear(res);
	return STORE_OK;
}

static int64_t pg_count(void *impl)
{
	pgrows_params p = {.n = 0};
	PGresult *res;
	char err[256];
	int64_t n = -1;
	if (pg_read(impl, ST_COUNT, &p, &res, err, sizeof(err)) != STORE_OK)
		return -1;
	if (PQntuples(res) == 1 && PQgetlength(res, 0, 0) == 8)
		n = pgrows_int8_at(PQgetvalue(res, 0, 0));
	PQclear(res);
	return n;
}

/* ---- writing ------------------------------------------------------------------------------ */

/* key_lookup reads key on c: 1 with *id if recorded with the same request, 0 if not recorded,
 * -2 if with another request; -1 on failure, with *r and err. */
static int key_lookup(const pg_store *s, pgconn *c, const store_packed_key *pk, int64_t *id,
		      store_result *r, char *err, size_t errlen)
{
	pgrows_params p = {.n = 0};
	PGresult *res;
	int found = 0;
	pgrows_text(&p, pk->key->method);
	pgrows_text(&p, pk->key->key);
	if ((res = pg_run(s, c, ST_KEY_GET, &p, err, errlen)) == NULL) {
		*r = STORE_UNAVAILABLE;
		return -1;
	}
	if (!pgres_ok(res)) {
		*r = pgres_failed(res, err, errlen);
		found = -1;
	} else if (PQntuples(res) > 0) {
		*id = PQgetlength(res, 0, 1) == 8 ? pgrows_int8_at(PQgetvalue(res, 0, 1)) : 0;
		found = store_key_same(PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0),
				       pk->request, pk->request_len)
			    ? 1
			    : -2;
	}
	PQclear(res);
	return found;
}

static store_result pg_replay(void *impl, const store_packed_key *pk, ProtobufCMessage **created,
			      char *err, size_t errlen)
{
	const pg_store *s = impl;
	store_result r = STORE_UNAVAILABLE;
	for (int attempt = 0; attempt < 2; attempt++) {
		pgconn *c = conn_get(s, err, errlen);
		int64_t id = 0;
		int found;
		if (c == NULL)
			return STORE_UNAVAILABLE;
		found = key_lookup(s, c, pk, &id, &r, err, errlen);
		if (found == -1 && r == STORE_UNAVAILABLE && !c->timed_out && c->db == NULL)
			continue; /* found closed: a read, so once more on a new connection */
		if (found == -1)
			return r;
		if (found == 0)
			return STORE_NOT_FOUND;
		if (found == -2)
			return store_key_conflict(pk, err, errlen);
		r = pg_get_row(s, id, created, err, errlen);
		return r == STORE_NOT_FOUND ? STORE_ERROR : r;
	}
	return r;
}

/* insert_failed is the result of an insert that failed with res: a unique value taken
 * (STORE_EXISTS, err naming the field), or the failure. */
static store_result insert_failed(const pg_store *s, const PGresult *res, char *err, size_t errlen)
{
	if (strcmp(pgres_sqlstate(res), "23505") == 0) {
		const char *field = store_schema_unique_field(
		    s->schema, PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME));
		snprintf(err, errlen, "%s", field != NULL ? field : "a unique field");
		return STORE_EXISTS;
	}
	return pgres_failed(res, err, errlen);
}

/* insert_plain inserts row on its own (one statement, its own transaction). */
static store_result insert_plain(const pg_store *s, const ProtobufCMessage *row,
				 ProtobufCMessage **created, char *err, size_t errlen)
{
	pgrows_params p = {.n = 0};
	pgrows_row(&p, s->schema, row);
	for (int attempt = 0; attempt < PG_TRIES; attempt++) {
		pgconn *c = conn_get(s, err, errlen);
		PGresult *res;
		store_result r = STORE_OK;
		if (c == NULL)
			return STORE_UNAVAILABLE;
		if ((res = pg_run(s, c, ST_INSERT, &p, err, errlen)) == NULL) {
			/* sent, and no answer: it may have been committed */
			size_t len = strlen(err);
			snprintf(err + len, errlen - len, "; the create's outcome is unknown");
			return STORE_UNAVAILABLE;
		}
		if (!pgres_ok(res) && pgres_again(res)) {
			PQclear(res);
			continue;
		}
		if (!pgres_ok(res))
			r = insert_failed(s, res, err, errlen);
		else if (PQntuples(res) != 1)
			snprintf(err, errlen, "the insert returned no row"), r = STORE_ERROR;
		else if ((*created = pgrows_read(s->schema, res, 0, err, errlen)) == NULL)
			r = STORE_ERROR;
		PQclear(res);
		return r;
	}
	snprintf(err, errlen, "the insert conflicted with others %d times", PG_TRIES);
	return STORE_UNAVAILABLE;
}

/* insert_keyed runs a create with a key: the row and its key in one statement, or the row the
 * key was recorded with before. A lost connection is answered again on a new one: the key
 * makes that safe, whatever the first attempt did. */
static store_result insert_keyed(const pg_store *s, const ProtobufCMessage *row,
				 const store_packed_key *pk, ProtobufCMessage **created,
				 int *replayed, char *err, size_t errlen)
{
	pgrows_params p = {.n = 0};
	int lost = 0; /* a statement was sent, and its connection lost */
	pgrows_row(&p, s->schema, row);
	pgrows_text(&p, pk->key->method);
	pgrows_text(&p, pk->key->key);
	pgrows_bytes(&p, pk->request, pk->request_len);
	for (int attempt = 0; attempt < PG_TRIES; attempt++) {
		pgconn *c = conn_get(s, err, errlen);
		store_result r = STORE_OK;
		int64_t id = 0;
		PGresult *res;
		int found;
		if (c == NULL)
			goto out_unavailable;
		if ((res = pg_run(s, c, ST_INSERT_KEY, &p, err, errlen)) == NULL) {
			lost = 1;
			if (c->timed_out)
				goto out_unavailable;
			continue;
		}
		if (!pgres_ok(res)) {
			int again = pgres_again(res);
			r = insert_failed(s, res, err, errlen);
			PQclear(res);
			if (again)
				continue;
			return r;
		}
		if (PQntuples(res) == 1) {
			*created = pgrows_read(s->schema, res, 0, err, errlen);
			PQclear(res);
			return *created != NULL ? STORE_OK : STORE_ERROR;
		}
		PQclear(res);
		/* the key was recorded, by a transaction committed since: its answer */
		found = key_lookup(s, c, pk, &id, &r, err, errlen);
		if (found == -1 && r == STORE_UNAVAILABLE && !c->timed_out)
			continue;
		if (found == -1)
			return r;
		if (found == 0)
			continue; /* gone again: insert it anew */
		if (found == -2)
			return store_key_conflict(pk, err, errlen);
		*replayed = 1;
		r = pg_get_row(s, id, created, err, errlen);
		return r == STORE_NOT_FOUND ? STORE_ERROR : r;
	}
	if (!lost) {
		size_t len = strlen(err);
		snprintf(err + len, errlen - len, " (tried %d times)", PG_TRIES);
		return STORE_UNAVAILABLE;
	}
out_unavailable:
	if (lost) {
		size_t len = strlen(err);
		snprintf(err + len, errlen - len,
			 "; the create's outcome is unknown: retry it with the same key");
	}
	return STORE_UNAVAILABLE;
}

static store_result pg_insert(void *impl, const ProtobufCMessage *row, const store_packed_key *pk,
			      ProtobufCMessage **created, int *replayed, char *err, size_t errlen)
{
	const pg_store *s = impl;
	if (pk == NULL)
		return insert_plain(s, row, created, err, errlen);
	return insert_keyed(s, row, pk, created, replayed, err, errlen);
}

static void pg_close(void *impl)
{
	pg_store *s = impl;
	store_conn_key_close(s->conn_key, pgconn_free);
	pg_free(s);
}

/* no insert_many: each item is inserted on its own */
const store_backend store_postgres_backend = {STORE_BACKEND_OPS(pg)};
