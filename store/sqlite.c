/* sqlite.c: the embedded store backend: protobuf rows in SQLite (WAL), one connection per
 * thread. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "backend.h"

#define SQLITE_SQL_MAX 4096
#define SQLITE_BUSY_MS 10000

/* sqlite_conn: one thread's connection and its prepared statements. */
typedef struct sqlite_conn {
	sqlite3 *db;
	sqlite3_stmt *get;
	sqlite3_stmt *insert;
	sqlite3_stmt *idem_get;
	sqlite3_stmt *idem_put;
	sqlite3_stmt *list[1 + STORE_MAX_INDEXES]; /* [0]: all rows; [1 + i]: by index i */
	sqlite3_stmt *count;
	int batch;   /* reads share one snapshot (store_read_batch) */
	int reading; /* the batch's read transaction is open */
} sqlite_conn;

/* sqlite_store: the backend's state of one store. */
typedef struct sqlite_store {
	const store_schema *schema;
	int sync_full;
	const char *seed;
	char path[4096];
	pthread_key_t conn_key;
	char select_list[SQLITE_SQL_MAX / 4]; /* "id, username, name, bio" */
} sqlite_store;

static void conn_free(void *p)
{
	sqlite_conn *c = p;
	if (c == NULL)
		return;
	sqlite3_finalize(c->get);
	sqlite3_finalize(c->insert);
	sqlite3_finalize(c->idem_get);
	sqlite3_finalize(c->idem_put);
	for (size_t i = 0; i < 1 + STORE_MAX_INDEXES; i++)
		sqlite3_finalize(c->list[i]);
	sqlite3_finalize(c->count);
	sqlite3_close(c->db);
	free(c);
}

static const char *column_type(store_column_kind kind)
{
	switch (kind) {
	case STORE_COLUMN_TEXT:
		return "TEXT";
	case STORE_COLUMN_BLOB:
		return "BLOB";
	case STORE_COLUMN_FLOAT:
	case STORE_COLUMN_DOUBLE:
		return "REAL";
	default:
		return "INTEGER";
	}
}

/* sql_exec runs statements that return no rows. */
static int sql_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "%s (in: %.80s)", msg ? msg : sqlite3_errmsg(db), sql);
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int prepare(sqlite3 *db, sqlite3_stmt **st, const char *sql, char *err, size_t errlen)
{
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s (in: %.80s)", sqlite3_errmsg(db), sql);
		return -1;
	}
	return 0;
}

/* wal_on puts the database in WAL mode. A new file starts in rollback mode, and switching takes
 * it for a moment: when another process switches it at the same time, both hold a read lock and
 * want to write, and SQLite answers SQLITE_BUSY at once instead of calling the busy handler
 * (waiting would deadlock). So retry, up to SQLITE_BUSY_MS; the loser then finds it in WAL. */
static int wal_on(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	int rc = SQLITE_BUSY;
	for (int waited = 0; waited <= SQLITE_BUSY_MS; waited += 10) {
		sqlite3_stmt *st = NULL;
		rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			const char *mode = (const char *)sqlite3_column_text(st, 0);
			int wal = mode != NULL && sqlite3_stricmp(mode, "wal") == 0;
			if (!wal)
				snprintf(err, errlen, "%s: cannot use WAL (journal mode %s)", path,
					 mode ? mode : "?");
			sqlite3_finalize(st);
			return wal ? 0 : -1;
		}
		sqlite3_finalize(st);
		if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
			break;
		sqlite3_sleep(10);
	}
	snprintf(err, errlen, "%s: cannot use WAL: %s", path, sqlite3_errstr(rc));
	return -1;
}

/* conn_open opens a connection with the store's settings. */
static sqlite_conn *conn_open(const sqlite_store *s, char *err, size_t errlen)
{
	sqlite_conn *c = calloc(1, sizeof(*c));
	char sql[SQLITE_SQL_MAX];
	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (sqlite3_open_v2(s->path, &c->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", s->path,
			 c->db ? sqlite3_errmsg(c->db) : "cannot open");
		goto out_fail;
	}
	sqlite3_busy_timeout(c->db, SQLITE_BUSY_MS);
	if (wal_on(c->db, s->path, err, errlen) != 0)
		goto out_fail;
	snprintf(sql, sizeof(sql), "PRAGMA synchronous=%s;", s->sync_full ? "FULL" : "NORMAL");
	if (sql_exec(c->db, sql, err, errlen) != 0)
		goto out_fail;
	return c;

out_fail:
	conn_free(c);
	return NULL;
}

/* conn_prepare prepares the statements once the schema exists. */
static int conn_prepare(const sqlite_store *s, sqlite_conn *c, char *err, size_t errlen)
{
	const store_schema *sc = s->schema;
	char sql[SQLITE_SQL_MAX], cols[SQLITE_SQL_MAX] = "", params[SQLITE_SQL_MAX] = "";
	size_t n = 0, m = 0;
	for (size_t i = 0; i < sc->ncolumns; i++) {
		n += (size_t)snprintf(cols + n, sizeof(cols) - n, "%s%s", i ? ", " : "",
				      sc->columns[i]->name);
		m += (size_t)snprintf(params + m, sizeof(params) - m, "%s?%zu", i ? ", " : "",
				      i + 1);
	}
	snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE id = ?1", s->select_list, sc->table);
	if (prepare(c->db, &c->get, sql, err, errlen) != 0)
		return -1;
	snprintf(sql, sizeof(sql), "INSERT INTO %s (%s) VALUES (%s)", sc->table, cols, params);
	if (prepare(c->db, &c->insert, sql, err, errlen) != 0)
		return -1;
	if (prepare(c->db, &c->idem_get,
		    "SELECT request, id FROM idempotency WHERE method = ?1 AND key = ?2", err,
		    errlen) != 0 ||
	    prepare(c->db, &c->idem_put,
		    "INSERT INTO idempotency (method, key, request, id) VALUES (?1, ?2, ?3, ?4)",
		    err, errlen) != 0)
		return -1;
	snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE id > ?2 ORDER BY id LIMIT ?3",
		 s->select_list, sc->table);
	if (prepare(c->db, &c->list[0], sql, err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < sc->nindexes; i++) {
		snprintf(sql, sizeof(sql),
			 "SELECT %s FROM %s WHERE %s = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
			 s->select_list, sc->table, sc->indexes[i]->name);
		if (prepare(c->db, &c->list[1 + i], sql, err, errlen) != 0)
			return -1;
	}
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", sc->table);
	return prepare(c->db, &c->count, sql, err, errlen);
}

/* conn_get returns the calling thread's connection, opening it on first use. */
static sqlite_conn *conn_get(sqlite_store *s, char *err, size_t errlen)
{
	sqlite_conn *c = pthread_getspecific(s->conn_key);
	if (c != NULL)
		return c;
	c = conn_open(s, err, errlen);
	if (c == NULL)
		return NULL;
	if (conn_prepare(s, c, err, errlen) != 0) {
		conn_free(c);
		return NULL;
	}
	pthread_setspecific(s->conn_key, c);
	return c;
}

/* read_begin opens the batch's read transaction before a read, if c is in a batch and no
 * transaction is open (inside a write's, the read is the write's). The snapshot is taken at the
 * first SELECT. */
static void read_begin(sqlite_conn *c)
{
	if (c->batch && !c->reading && sqlite3_get_autocommit(c->db) &&
	    sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK)
		c->reading = 1;
}

/* read_end ends the batch's read transaction, if open: before a write, at the batch's end, and
 * after a failed read (the next read takes a fresh snapshot). */
static void read_end(sqlite_conn *c)
{
	if (!c->reading)
		return;
	c->reading = 0;
	/* a read transaction commits nothing; should COMMIT fail, ROLLBACK still ends it, so
	 * that no later write finds a transaction open */
	if (!sqlite3_get_autocommit(c->db) &&
	    sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

/* bind_row binds row's columns to st's parameters first, first + 1, ... */
static void bind_row(const store_schema *sc, sqlite3_stmt *st, const ProtobufCMessage *row,
		     int first)
{
	for (size_t i = 0; i < sc->ncolumns; i++) {
		const void *m = store_column_cptr(sc, row, i);
		int p = first + (int)i;
		switch (sc->kinds[i]) {
		case STORE_COLUMN_TEXT: {
			const char *text = *(char *const *)m;
			sqlite3_bind_text(st, p, text ? text : "", -1, SQLITE_STATIC);
			break;
		}
		case STORE_COLUMN_BLOB: {
			const ProtobufCBinaryData *b = m;
			sqlite3_bind_blob(st, p, b->data ? (const void *)b->data : "", (int)b->len,
					  SQLITE_STATIC);
			break;
		}
		case STORE_COLUMN_FLOAT:
			sqlite3_bind_double(st, p, *(const float *)m);
			break;
		case STORE_COLUMN_DOUBLE:
			sqlite3_bind_double(st, p, *(const double *)m);
			break;
		default: /* the integers, and a bool as 1 or 0 */
			sqlite3_bind_int64(st, p, store_column_int(sc, row, i));
			break;
		}
	}
}

/* read_row makes a message from the current result row of st (id, then the columns). */
static ProtobufCMessage *read_row(const store_schema *sc, sqlite3_stmt *st)
{
	ProtobufCMessage *row = store_row_new(sc);
	if (row == NULL)
		return NULL;
	store_row_set_id(sc, row, sqlite3_column_int64(st, 0));
	for (size_t i = 0; i < sc->ncolumns; i++) {
		void *m = store_column_ptr(sc, row, i);
		int col = (int)i + 1;
		switch (sc->kinds[i]) {
		case STORE_COLUMN_TEXT: {
			int len = sqlite3_column_bytes(st, col);
			const unsigned char *text = sqlite3_column_text(st, col);
			char *copy = malloc((size_t)len + 1);
			if (copy == NULL) {
				protobuf_c_message_free_unpacked(row, NULL);
				return NULL;
			}
			memcpy(copy, text ? (const char *)text : "", (size_t)len);
			copy[len] = '\0';
			*(char **)m = copy;
			break;
		}
		case STORE_COLUMN_BLOB: {
			ProtobufCBinaryData *b = m;
			int len = sqlite3_column_bytes(st, col);
			b->data = malloc(len > 0 ? (size_t)len : 1);
			if (b->data == NULL) {
				protobuf_c_message_free_unpacked(row, NULL);
				return NULL;
			}
			if (len > 0)
				memcpy(b->data, sqlite3_column_blob(st, col), (size_t)len);
			b->len = (size_t)len;
			break;
		}
		case STORE_COLUMN_FLOAT:
			*(float *)m = (float)sqlite3_column_double(st, col);
			break;
		case STORE_COLUMN_DOUBLE:
			*(double *)m = sqlite3_column_double(st, col);
			break;
		default: /* the integers, and a bool as 1 or 0 */
			store_column_set_int(sc, row, i, sqlite3_column_int64(st, col));
			break;
		}
	}
	return row;
}

/* unique_field names the column a UNIQUE constraint failure is about. */
static const char *unique_field(sqlite3 *db)
{
	const char *msg = sqlite3_errmsg(db), *dot = strrchr(msg, '.');
	return dot != NULL ? dot + 1 : "a unique field";
}

/* is_unique_failure says whether the last error is a duplicate key or unique value. */
static int is_unique_failure(sqlite3 *db)
{
	int code = sqlite3_extended_errcode(db);
	return code == SQLITE_CONSTRAINT_UNIQUE || code == SQLITE_CONSTRAINT_PRIMARYKEY;
}

/* seed_rows inserts the seed's rows with their ids, in the open transaction. Returns 0 or -1. */
static int seed_rows(const sqlite_store *s, sqlite_conn *c, char *err, size_t errlen)
{
	const store_schema *sc = s->schema;
	char sql[SQLITE_SQL_MAX], cols[SQLITE_SQL_MAX] = "id", params[SQLITE_SQL_MAX] = "?1";
	size_t cn = 2, pn = 2, nrows;
	ProtobufCMessage **rows;
	sqlite3_stmt *st = NULL;
	if (store_seed_load(sc, s->seed, &rows, &nrows, err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < sc->ncolumns; i++) {
		cn += (size_t)snprintf(cols + cn, sizeof(cols) - cn, ", %s", sc->columns[i]->name);
		pn += (size_t)snprintf(params + pn, sizeof(params) - pn, ", ?%zu", i + 2);
	}
	snprintf(sql, sizeof(sql), "INSERT INTO %s (%s) VALUES (%s)", sc->table, cols, params);
	if (prepare(c->db, &st, sql, err, errlen) != 0) {
		store_seed_free(rows, 0, nrows);
		return -1;
	}
	for (size_t i = 0; i < nrows; i++) {
		long long id = (long long)store_row_id(sc, rows[i]);
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, id);
		bind_row(sc, st, rows[i], 2);
		if (sqlite3_step(st) != SQLITE_DONE) {
			if (is_unique_failure(c->db))
				snprintf(err, errlen,
					 "%s: element %zu (id %lld): its %s is not unique", s->seed,
					 i, id, unique_field(c->db));
			else
				snprintf(err, errlen, "%s: element %zu (id %lld): %s", s->seed, i,
					 id, sqlite3_errmsg(c->db));
			store_seed_free(rows, i, nrows);
			sqlite3_finalize(st);
			return -1;
		}
		protobuf_c_message_free_unpacked(rows[i], NULL);
	}
	free(rows);
	sqlite3_finalize(st);
	return 0;
}

/* schema_create makes the tables, and seeds them if this store was never seeded. It runs in
 * one immediate transaction, so processes starting together seed once. */
static int schema_create(const sqlite_store *s, sqlite_conn *c, char *err, size_t errlen)
{
	const store_schema *sc = s->schema;
	char sql[SQLITE_SQL_MAX];
	size_t n;
	sqlite3_stmt *st = NULL;
	int seeded;
	if (sql_exec(c->db, "BEGIN IMMEDIATE", err, errlen) != 0)
		return -1;
	n = (size_t)snprintf(sql, sizeof(sql),
			     "CREATE TABLE IF NOT EXISTS %s (id INTEGER PRIMARY KEY AUTOINCREMENT",
			     sc->table);
	for (size_t i = 0; i < sc->ncolumns; i++)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, ", %s %s NOT NULL%s",
				      sc->columns[i]->name, column_type(sc->kinds[i]),
				      sc->unique[i] ? " UNIQUE" : "");
	snprintf(sql + n, sizeof(sql) - n,
		 "); CREATE TABLE IF NOT EXISTS idempotency (method TEXT NOT NULL, key TEXT NOT "
		 "NULL, request BLOB NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (method, key)); "
		 "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);");
	if (sql_exec(c->db, sql, err, errlen) != 0)
		goto out_rollback;
	for (size_t i = 0; i < sc->nindexes; i++) {
		snprintf(sql, sizeof(sql), "CREATE INDEX IF NOT EXISTS %s_%s ON %s (%s, id)",
			 sc->table, sc->indexes[i]->name, sc->table, sc->indexes[i]->name);
		if (sql_exec(c->db, sql, err, errlen) != 0)
			goto out_rollback;
	}
	if (prepare(c->db, &st, "SELECT 1 FROM meta WHERE key = 'seeded'", err, errlen) != 0)
		goto out_rollback;
	seeded = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	if (!seeded && s->seed != NULL && seed_rows(s, c, err, errlen) != 0)
		goto out_rollback;
	if (!seeded && sql_exec(c->db, "INSERT INTO meta (key, value) VALUES ('seeded', '1')", err,
				errlen) != 0)
		goto out_rollback;
	return sql_exec(c->db, "COMMIT", err, errlen);

out_rollback:
	sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* memstatus_off stops SQLite counting its allocations: the count takes a process-wide mutex
 * on every malloc and free (~7% of a Get), and nothing here reads it. It must come before
 * SQLite initializes; if it already has, the setting is kept and nothing else changes. */
static void memstatus_off(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static store_result sqlite_open(void **impl, const store_schema *schema, const store_opts *opts,
				char *where, size_t wherelen, char *err, size_t errlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	sqlite_store *s = calloc(1, sizeof(*s));
	sqlite_conn *c;
	size_t n;
	if (s == NULL)
		return store_no_memory(err, errlen);
	pthread_once(&once, memstatus_off);
	s->schema = schema;
	s->sync_full = opts->sync_full;
	s->seed = opts->seed;
	n = (size_t)snprintf(s->select_list, sizeof(s->select_list), "id");
	for (size_t i = 0; i < schema->ncolumns; i++)
		n += (size_t)snprintf(s->select_list + n, sizeof(s->select_list) - n, ", %s",
				      schema->columns[i]->name);
	if (opts->dir == NULL) {
		snprintf(err, errlen, "no data directory for the SQLite store %s", schema->table);
		goto out_free;
	}
	if (mkdir(opts->dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", opts->dir, strerror(errno));
		goto out_free;
	}
	chmod(opts->dir, 0700);
	snprintf(s->path, sizeof(s->path), "%s/%s.db", opts->dir, schema->table);
	if (pthread_key_create(&s->conn_key, conn_free) != 0) {
		snprintf(err, errlen, "out of thread keys");
		goto out_free;
	}
	c = conn_open(s, err, errlen);
	if (c == NULL)
		goto out_key;
	if (schema_create(s, c, err, errlen) != 0 || conn_prepare(s, c, err, errlen) != 0) {
		conn_free(c);
		goto out_key;
	}
	pthread_setspecific(s->conn_key, c);
	snprintf(where, wherelen, "sqlite %s", s->path);
	*impl = s;
	return STORE_OK;

out_key:
	pthread_key_delete(s->conn_key);
out_free:
	free(s);
	return STORE_ERROR;
}

static store_result sqlite_get(void *impl, int64_t id, ProtobufCMessage **row, char *err,
			       size_t errlen)
{
	sqlite_store *s = impl;
	sqlite_conn *c = conn_get(s, err, errlen);
	store_result r = STORE_NOT_FOUND;
	int rc;
	if (c == NULL)
		return STORE_ERROR;
	read_begin(c);
	sqlite3_bind_int64(c->get, 1, id);
	rc = sqlite3_step(c->get);
	if (rc == SQLITE_ROW) {
		*row = read_row(s->schema, c->get);
		r = *row != NULL ? STORE_OK : STORE_ERROR;
		if (*row == NULL)
			snprintf(err, errlen, "out of memory");
	} else if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
		r = STORE_ERROR;
	}
	sqlite3_reset(c->get);
	if (r == STORE_ERROR)
		read_end(c);
	return r;
}

static store_result sqlite_list(void *impl, int index, int64_t value, int64_t after, int32_t limit,
				store_rows *rows, char *err, size_t errlen)
{
	sqlite_store *s = impl;
	sqlite_conn *c = conn_get(s, err, errlen);
	sqlite3_stmt *st;
	int rc;
	if (c == NULL)
		return STORE_ERROR;
	read_begin(c);
	st = c->list[1 + index];
	if (index >= 0)
		sqlite3_bind_int64(st, 1, value);
	sqlite3_bind_int64(st, 2, after);
	/* one row more than asked tells whether another page follows */
	sqlite3_bind_int64(st, 3, limit > 0 ? (int64_t)limit + 1 : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ProtobufCMessage *row;
		if (limit > 0 && rows->n == (size_t)limit) {
			rows->next_after = store_row_id(s->schema, rows->items[rows->n - 1]);
			rc = SQLITE_DONE;
			break;
		}
		row = read_row(s->schema, st);
		if (row == NULL || store_rows_append(rows, row) != 0)
			goto out_oom;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
		store_rows_free(rows);
		read_end(c);
		return STORE_ERROR;
	}
	return STORE_OK;

out_oom:
	sqlite3_reset(st);
	store_rows_free(rows);
	return store_no_memory(err, errlen);
}

/* idem_lookup finds key pk (borrowed): STORE_OK with *id if it was recorded with the same
 * request, STORE_NOT_FOUND if it was not recorded; STORE_CONFLICT (recorded with another request)
 * or STORE_ERROR (the lookup failed), err saying which. */
static store_result idem_lookup(sqlite_conn *c, const store_packed_key *pk, int64_t *id, char *err,
				size_t errlen)
{
	store_result r = STORE_NOT_FOUND;
	int rc;
	sqlite3_bind_text(c->idem_get, 1, pk->key->method, -1, SQLITE_STATIC);
	sqlite3_bind_text(c->idem_get, 2, pk->key->key, -1, SQLITE_STATIC);
	rc = sqlite3_step(c->idem_get);
	if (rc == SQLITE_ROW) {
		const void *req = sqlite3_column_blob(c->idem_get, 0);
		size_t len = (size_t)sqlite3_column_bytes(c->idem_get, 0);
		*id = sqlite3_column_int64(c->idem_get, 1);
		r = store_key_same(req, len, pk->request, pk->request_len)
			? STORE_OK
			: store_key_conflict(pk, err, errlen);
	} else if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
		r = STORE_ERROR;
	}
	sqlite3_reset(c->idem_get);
	return r;
}

static store_result sqlite_replay(void *impl, const store_packed_key *pk,
				  ProtobufCMessage **created, char *err, size_t errlen)
{
	sqlite_store *s = impl;
	sqlite_conn *c = conn_get(s, err, errlen);
	int64_t id = 0;
	store_result r;
	if (c != NULL)
		read_begin(c);
	r = c != NULL ? idem_lookup(c, pk, &id, err, errlen) : STORE_ERROR;
	if (r != STORE_OK)
		return r; /* not recorded, recorded with another request, or failed */
	return sqlite_get(s, id, created, err, errlen) == STORE_OK ? STORE_OK : STORE_ERROR;
}

/* insert_one adds row (and records pk with it) in the open transaction: STORE_OK with *id, or
 * with *replayed = 1 and the id recorded with the key; else what failed, and nothing of the
 * insert must be kept (the caller rolls back). */
static store_result insert_one(sqlite_store *s, sqlite_conn *c, const ProtobufCMessage *row,
			       const store_packed_key *pk, int64_t *id, int *replayed, char *err,
			       size_t errlen)
{
	int rc;
	if (pk != NULL) {
		store_result r = idem_lookup(c, pk, id, err, errlen);
		if (r == STORE_OK)
			*replayed = 1; /* recorded before: *id is its row */
		if (r != STORE_NOT_FOUND)
			return r;
	}
	bind_row(s->schema, c->insert, row, 1);
	rc = sqlite3_step(c->insert);
	sqlite3_reset(c->insert);
	if (rc != SQLITE_DONE) {
		if (is_unique_failure(c->db)) {
			snprintf(err, errlen, "%s", unique_field(c->db));
			return STORE_EXISTS;
		}
		snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
		return STORE_ERROR;
	}
	*id = sqlite3_last_insert_rowid(c->db);
	if (pk != NULL) {
		sqlite3_bind_text(c->idem_put, 1, pk->key->method, -1, SQLITE_STATIC);
		sqlite3_bind_text(c->idem_put, 2, pk->key->key, -1, SQLITE_STATIC);
		sqlite3_bind_blob(c->idem_put, 3,
				  pk->request_len > 0 ? (const void *)pk->request : "",
				  (int)pk->request_len, SQLITE_STATIC);
		sqlite3_bind_int64(c->idem_put, 4, *id);
		rc = sqlite3_step(c->idem_put);
		sqlite3_reset(c->idem_put);
		if (rc != SQLITE_DONE) {
			snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
			return STORE_ERROR;
		}
	}
	return STORE_OK;
}

static store_result sqlite_insert(void *impl, const ProtobufCMessage *row,
				  const store_packed_key *pk, ProtobufCMessage **created,
				  int *replayed, char *err, size_t errlen)
{
	sqlite_store *s = impl;
	sqlite_conn *c = conn_get(s, err, errlen);
	int64_t id = 0;
	store_result r;
	if (c == NULL)
		return STORE_ERROR;
	/* IMMEDIATE: take the write lock first, so the key check and the insert are atomic
	 * against every other writer, in this process or another. */
	read_end(c);
	if (sql_exec(c->db, "BEGIN IMMEDIATE", err, errlen) != 0)
		return STORE_ERROR;
	r = insert_one(s, c, row, pk, &id, replayed, err, errlen);
	if (r != STORE_OK || *replayed) {
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		if (r != STORE_OK)
			return r;
	} else if (sql_exec(c->db, "COMMIT", err, errlen) != 0) {
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		return STORE_ERROR;
	}
	return sqlite_get(s, id, created, err, errlen) == STORE_OK ? STORE_OK : STORE_ERROR;
}

/* sqlite_insert_many is insert for n items in one transaction, each in a savepoint of its own
 * (one that fails leaves the others), committed once: one fsync for all of them. */
static store_result sqlite_insert_many(void *impl, store_insert_item *items, size_t n, char *err,
				       size_t errlen)
{
	sqlite_store *s = impl;
	sqlite_conn *c = conn_get(s, err, errlen);
	if (c == NULL)
		return STORE_ERROR;
	read_end(c);
	if (sql_exec(c->db, "BEGIN IMMEDIATE", err, errlen) != 0)
		return STORE_ERROR;
	for (size_t i = 0; i < n; i++) {
		store_insert_item *it = &items[i];
		int64_t id = 0;
		if (sql_exec(c->db, "SAVEPOINT one", it->err, sizeof(it->err)) != 0) {
			it->result = STORE_ERROR;
			continue;
		}
		it->result = insert_one(s, c, it->row, it->packed, &id, &it->replayed, it->err,
					sizeof(it->err));
		if (it->result != STORE_OK)
			sqlite3_exec(c->db, "ROLLBACK TO one", NULL, NULL, NULL);
		sqlite3_exec(c->db, "RELEASE one", NULL, NULL, NULL);
		/* read inside the transaction: its own writes are visible */
		if (it->result == STORE_OK &&
		    sqlite_get(s, id, &it->created, it->err, sizeof(it->err)) != STORE_OK)
			it->result = STORE_ERROR;
	}
	if (sql_exec(c->db, "COMMIT", err, errlen) != 0) {
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		return STORE_ERROR;
	}
	return STORE_OK;
}

static int64_t sqlite_count(void *impl)
{
	sqlite_store *s = impl;
	char err[256];
	sqlite_conn *c = conn_get(s, err, sizeof(err));
	int64_t n = -1;
	if (c == NULL)
		return -1;
	read_begin(c);
	if (sqlite3_step(c->count) == SQLITE_ROW)
		n = sqlite3_column_int64(c->count, 0);
	sqlite3_reset(c->count);
	if (n < 0)
		read_end(c);
	return n;
}

static void sqlite_read_batch(void *impl, int on)
{
	char err[256];
	sqlite_conn *c = conn_get(impl, err, sizeof(err));
	if (c == NULL)
		return;
	c->batch = on;
	if (!on)
		read_end(c);
}

static void sqlite_close(void *impl)
{
	sqlite_store *s = impl;
	store_conn_key_close(s->conn_key, conn_free);
	free(s);
}

const store_backend store_sqlite_backend = {
    STORE_BACKEND_OPS(sqlite),
    .insert_many = sqlite_insert_many,
    .read_batch = sqlite_read_batch,
};
