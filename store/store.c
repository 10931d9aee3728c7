/* store.c: protobuf rows in SQLite: columns from the descriptor, one connection per thread, WAL. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "pbjson.h"
#include "store.h"

#define STORE_MAX_COLUMNS 32
#define STORE_MAX_INDEXES 4
#define STORE_SQL_MAX	  4096
#define STORE_BUSY_MS	  10000

/* store_conn: one thread's connection and its prepared statements. */
typedef struct store_conn {
	sqlite3 *db;
	sqlite3_stmt *get;
	sqlite3_stmt *insert;
	sqlite3_stmt *idem_get;
	sqlite3_stmt *idem_put;
	sqlite3_stmt *list[1 + STORE_MAX_INDEXES]; /* [0]: all rows; [1 + i]: by index i */
	sqlite3_stmt *count;
} store_conn;

struct store {
	store_opts opts;
	char path[4096];
	const ProtobufCFieldDescriptor *id;
	const ProtobufCFieldDescriptor *columns[STORE_MAX_COLUMNS]; /* every column but id */
	size_t ncolumns;
	const ProtobufCFieldDescriptor *indexes[STORE_MAX_INDEXES];
	size_t nindexes;
	pthread_key_t conn_key;
	char select_list[STORE_SQL_MAX / 4]; /* "id, username, name, bio" */
};

static void conn_free(void *p)
{
	store_conn *c = p;
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

static int column_is_stored(const ProtobufCFieldDescriptor *f)
{
	return f->label != PROTOBUF_C_LABEL_REPEATED && f->type != PROTOBUF_C_TYPE_MESSAGE;
}

/* column_kind: how a field's value is kept in its message and in its column. */
typedef enum column_kind {
	COLUMN_TEXT,   /* string: char *, TEXT */
	COLUMN_BLOB,   /* bytes: ProtobufCBinaryData, BLOB */
	COLUMN_FLOAT,  /* float, REAL */
	COLUMN_DOUBLE, /* double, REAL */
	COLUMN_INT64,  /* every 64-bit integer, INTEGER */
	COLUMN_UINT32, /* uint32 and fixed32, INTEGER */
	COLUMN_BOOL,   /* protobuf_c_boolean, INTEGER 0 or 1 */
	COLUMN_INT32,  /* int32, sint32, sfixed32 and enums, INTEGER */
} column_kind;

static column_kind column_kind_of(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		return COLUMN_TEXT;
	case PROTOBUF_C_TYPE_BYTES:
		return COLUMN_BLOB;
	case PROTOBUF_C_TYPE_FLOAT:
		return COLUMN_FLOAT;
	case PROTOBUF_C_TYPE_DOUBLE:
		return COLUMN_DOUBLE;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return COLUMN_INT64;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return COLUMN_UINT32;
	case PROTOBUF_C_TYPE_BOOL:
		return COLUMN_BOOL;
	default:
		return COLUMN_INT32;
	}
}

static const char *column_type(const ProtobufCFieldDescriptor *f)
{
	switch (column_kind_of(f)) {
	case COLUMN_TEXT:
		return "TEXT";
	case COLUMN_BLOB:
		return "BLOB";
	case COLUMN_FLOAT:
	case COLUMN_DOUBLE:
		return "REAL";
	default:
		return "INTEGER";
	}
}

static int name_in(const char *name, const char *const *list)
{
	for (; list != NULL && *list != NULL; list++)
		if (strcmp(*list, name) == 0)
			return 1;
	return 0;
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
 * (waiting would deadlock). So retry, up to STORE_BUSY_MS; the loser then finds it in WAL. */
static int wal_on(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	int rc = SQLITE_BUSY;
	for (int waited = 0; waited <= STORE_BUSY_MS; waited += 10) {
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

/* conn_open opens a connection with the store's settings and prepares its statements. */
static store_conn *conn_open(const store *s, char *err, size_t errlen)
{
	store_conn *c = calloc(1, sizeof(*c));
	char sql[STORE_SQL_MAX];
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
	sqlite3_busy_timeout(c->db, STORE_BUSY_MS);
	if (wal_on(c->db, s->path, err, errlen) != 0)
		goto out_fail;
	snprintf(sql, sizeof(sql), "PRAGMA synchronous=%s;", s->opts.sync_full ? "FULL" : "NORMAL");
	if (sql_exec(c->db, sql, err, errlen) != 0)
		goto out_fail;
	return c;

out_fail:
	conn_free(c);
	return NULL;
}

/* conn_prepare prepares the statements once the schema exists. */
static int conn_prepare(const store *s, store_conn *c, char *err, size_t errlen)
{
	char sql[STORE_SQL_MAX], cols[STORE_SQL_MAX] = "", params[STORE_SQL_MAX] = "";
	size_t n = 0, m = 0;
	for (size_t i = 0; i < s->ncolumns; i++) {
		n += (size_t)snprintf(cols + n, sizeof(cols) - n, "%s%s", i ? ", " : "",
				      s->columns[i]->name);
		m += (size_t)snprintf(params + m, sizeof(params) - m, "%s?%zu", i ? ", " : "",
				      i + 1);
	}
	snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE id = ?1", s->select_list, s->opts.name);
	if (prepare(c->db, &c->get, sql, err, errlen) != 0)
		return -1;
	snprintf(sql, sizeof(sql), "INSERT INTO %s (%s) VALUES (%s)", s->opts.name, cols, params);
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
		 s->select_list, s->opts.name);
	if (prepare(c->db, &c->list[0], sql, err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < s->nindexes; i++) {
		snprintf(sql, sizeof(sql),
			 "SELECT %s FROM %s WHERE %s = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
			 s->select_list, s->opts.name, s->indexes[i]->name);
		if (prepare(c->db, &c->list[1 + i], sql, err, errlen) != 0)
			return -1;
	}
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", s->opts.name);
	return prepare(c->db, &c->count, sql, err, errlen);
}

/* conn_get returns the calling thread's connection, opening it on first use. */
static store_conn *conn_get(store *s, char *err, size_t errlen)
{
	store_conn *c = pthread_getspecific(s->conn_key);
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

/* bind_row binds row's columns to st's parameters first, first + 1, ... */
static void bind_row(const store *s, sqlite3_stmt *st, const ProtobufCMessage *row, int first)
{
	for (size_t i = 0; i < s->ncolumns; i++) {
		const ProtobufCFieldDescriptor *f = s->columns[i];
		const void *m = (const char *)row + f->offset;
		int p = first + (int)i;
		switch (column_kind_of(f)) {
		case COLUMN_TEXT: {
			const char *text = *(char *const *)m;
			sqlite3_bind_text(st, p, text ? text : "", -1, SQLITE_STATIC);
			break;
		}
		case COLUMN_BLOB: {
			const ProtobufCBinaryData *b = m;
			sqlite3_bind_blob(st, p, b->data ? (const void *)b->data : "", (int)b->len,
					  SQLITE_STATIC);
			break;
		}
		case COLUMN_FLOAT:
			sqlite3_bind_double(st, p, *(const float *)m);
			break;
		case COLUMN_DOUBLE:
			sqlite3_bind_double(st, p, *(const double *)m);
			break;
		case COLUMN_INT64:
			sqlite3_bind_int64(st, p, *(const int64_t *)m);
			break;
		case COLUMN_UINT32:
			sqlite3_bind_int64(st, p, *(const uint32_t *)m);
			break;
		case COLUMN_BOOL:
			sqlite3_bind_int(st, p, *(const protobuf_c_boolean *)m ? 1 : 0);
			break;
		case COLUMN_INT32:
			sqlite3_bind_int(st, p, *(const int32_t *)m);
			break;
		}
	}
}

/* read_row makes a message from the current result row of st (id, then the columns). */
static ProtobufCMessage *read_row(const store *s, sqlite3_stmt *st)
{
	const ProtobufCMessageDescriptor *d = s->opts.row;
	ProtobufCMessage *row = malloc(d->sizeof_message);
	if (row == NULL)
		return NULL;
	d->message_init(row);
	*(int64_t *)((char *)row + s->id->offset) = sqlite3_column_int64(st, 0);
	for (size_t i = 0; i < s->ncolumns; i++) {
		const ProtobufCFieldDescriptor *f = s->columns[i];
		void *m = (char *)row + f->offset;
		int col = (int)i + 1;
		switch (column_kind_of(f)) {
		case COLUMN_TEXT: {
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
		case COLUMN_BLOB: {
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
		case COLUMN_FLOAT:
			*(float *)m = (float)sqlite3_column_double(st, col);
			break;
		case COLUMN_DOUBLE:
			*(double *)m = sqlite3_column_double(st, col);
			break;
		case COLUMN_INT64:
			*(int64_t *)m = sqlite3_column_int64(st, col);
			break;
		case COLUMN_UINT32:
			*(uint32_t *)m = (uint32_t)sqlite3_column_int64(st, col);
			break;
		case COLUMN_BOOL:
			*(protobuf_c_boolean *)m = sqlite3_column_int(st, col) != 0;
			break;
		case COLUMN_INT32:
			*(int32_t *)m = sqlite3_column_int(st, col);
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

/* schema_create makes the tables, and seeds them if this store was never seeded. It runs in
 * one immediate transaction, so processes starting together seed once. */
static int schema_create(store *s, store_conn *c, char *err, size_t errlen)
{
	char sql[STORE_SQL_MAX];
	size_t n;
	sqlite3_stmt *st = NULL;
	int seeded;
	if (sql_exec(c->db, "BEGIN IMMEDIATE", err, errlen) != 0)
		return -1;
	n = (size_t)snprintf(sql, sizeof(sql),
			     "CREATE TABLE IF NOT EXISTS %s (id INTEGER PRIMARY KEY AUTOINCREMENT",
			     s->opts.name);
	for (size_t i = 0; i < s->ncolumns; i++)
		n +=
		    (size_t)snprintf(sql + n, sizeof(sql) - n, ", %s %s NOT NULL%s",
				     s->columns[i]->name, column_type(s->columns[i]),
				     name_in(s->columns[i]->name, s->opts.unique) ? " UNIQUE" : "");
	snprintf(sql + n, sizeof(sql) - n,
		 "); CREATE TABLE IF NOT EXISTS idempotency (method TEXT NOT NULL, key TEXT NOT "
		 "NULL, request BLOB NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (method, key)); "
		 "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);");
	if (sql_exec(c->db, sql, err, errlen) != 0)
		goto out_rollback;
	for (size_t i = 0; i < s->nindexes; i++) {
		snprintf(sql, sizeof(sql), "CREATE INDEX IF NOT EXISTS %s_%s ON %s (%s, id)",
			 s->opts.name, s->indexes[i]->name, s->opts.name, s->indexes[i]->name);
		if (sql_exec(c->db, sql, err, errlen) != 0)
			goto out_rollback;
	}
	if (prepare(c->db, &st, "SELECT 1 FROM meta WHERE key = 'seeded'", err, errlen) != 0)
		goto out_rollback;
	seeded = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	st = NULL;
	if (!seeded && s->opts.seed != NULL) {
		ProtobufCMessage **rows;
		size_t nrows;
		char cols[STORE_SQL_MAX] = "id", params[STORE_SQL_MAX] = "?1";
		size_t cn = 2, pn = 2;
		if (pbjson_load_array(s->opts.seed, s->opts.row, &rows, &nrows, err, errlen) != 0)
			goto out_rollback;
		for (size_t i = 0; i < s->ncolumns; i++) {
			cn += (size_t)snprintf(cols + cn, sizeof(cols) - cn, ", %s",
					       s->columns[i]->name);
			pn += (size_t)snprintf(params + pn, sizeof(params) - pn, ", ?%zu", i + 2);
		}
		snprintf(sql, sizeof(sql), "INSERT INTO %s (%s) VALUES (%s)", s->opts.name, cols,
			 params);
		if (prepare(c->db, &st, sql, err, errlen) != 0) {
			for (size_t i = 0; i < nrows; i++)
				protobuf_c_message_free_unpacked(rows[i], NULL);
			free(rows);
			goto out_rollback;
		}
		for (size_t i = 0; i < nrows; i++) {
			int64_t id = *(int64_t *)((char *)rows[i] + s->id->offset);
			int ok = id > 0;
			if (!ok) {
				snprintf(err, errlen, "%s: element %zu: id %lld is not positive",
					 s->opts.seed, i, (long long)id);
			} else {
				sqlite3_reset(st);
				sqlite3_bind_int64(st, 1, id);
				bind_row(s, st, rows[i], 2);
				ok = sqlite3_step(st) == SQLITE_DONE;
				if (!ok && is_unique_failure(c->db))
					snprintf(err, errlen,
						 "%s: element %zu (id %lld): its %s is not unique",
						 s->opts.seed, i, (long long)id,
						 unique_field(c->db));
				else if (!ok)
					snprintf(err, errlen, "%s: element %zu (id %lld): %s",
						 s->opts.seed, i, (long long)id,
						 sqlite3_errmsg(c->db));
			}
			if (!ok) {
				for (size_t k = i; k < nrows; k++)
					protobuf_c_message_free_unpacked(rows[k], NULL);
				free(rows);
				sqlite3_finalize(st);
				goto out_rollback;
			}
			protobuf_c_message_free_unpacked(rows[i], NULL);
		}
		free(rows);
		sqlite3_finalize(st);
	}
	if (!seeded && sql_exec(c->db, "INSERT INTO meta (key, value) VALUES ('seeded', '1')", err,
				errlen) != 0)
		goto out_rollback;
	return sql_exec(c->db, "COMMIT", err, errlen);

out_rollback:
	sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

store_result store_open(store **out, const store_opts *opts, char *err, size_t errlen)
{
	store *s = calloc(1, sizeof(*s));
	store_conn *c;
	size_t n;
	err[0] = '\0';
	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return STORE_ERROR;
	}
	s->opts = *opts;
	s->id = protobuf_c_message_descriptor_get_field_by_name(opts->row, "id");
	if (s->id == NULL || s->id->type != PROTOBUF_C_TYPE_INT64) {
		snprintf(err, errlen, "%s has no int64 field 'id'", opts->row->name);
		goto out_free;
	}
	n = (size_t)snprintf(s->select_list, sizeof(s->select_list), "id");
	for (unsigned i = 0; i < opts->row->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &opts->row->fields[i];
		if (f == s->id || !column_is_stored(f))
			continue;
		if (s->ncolumns == STORE_MAX_COLUMNS) {
			snprintf(err, errlen, "%s has more than %d columns", opts->row->name,
				 STORE_MAX_COLUMNS);
			goto out_free;
		}
		s->columns[s->ncolumns++] = f;
		n += (size_t)snprintf(s->select_list + n, sizeof(s->select_list) - n, ", %s",
				      f->name);
	}
	for (const char *const *ix = opts->indexes; ix != NULL && *ix != NULL; ix++) {
		const ProtobufCFieldDescriptor *f =
		    protobuf_c_message_descriptor_get_field_by_name(opts->row, *ix);
		if (f == NULL || f->type != PROTOBUF_C_TYPE_INT64 ||
		    s->nindexes == STORE_MAX_INDEXES) {
			snprintf(err, errlen,
				 "cannot index %s by '%s': not an int64 field, or more "
				 "than %d indexes",
				 opts->row->name, *ix, STORE_MAX_INDEXES);
			goto out_free;
		}
		s->indexes[s->nindexes++] = f;
	}
	for (const char *const *u = opts->unique; u != NULL && *u != NULL; u++) {
		if (protobuf_c_message_descriptor_get_field_by_name(opts->row, *u) == NULL) {
			snprintf(err, errlen, "%s has no field '%s' to keep unique",
				 opts->row->name, *u);
			goto out_free;
		}
	}
	if (mkdir(opts->dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", opts->dir, strerror(errno));
		goto out_free;
	}
	chmod(opts->dir, 0700);
	snprintf(s->path, sizeof(s->path), "%s/%s.db", opts->dir, opts->name);
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
	*out = s;
	return STORE_OK;

out_key:
	pthread_key_delete(s->conn_key);
out_free:
	free(s);
	return STORE_ERROR;
}

store_result store_get(store *s, int64_t id, ProtobufCMessage **row, char *err, size_t errlen)
{
	store_conn *c = conn_get(s, err, errlen);
	store_result r = STORE_NOT_FOUND;
	int rc;
	if (c == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(c->get, 1, id);
	rc = sqlite3_step(c->get);
	if (rc == SQLITE_ROW) {
		*row = read_row(s, c->get);
		r = *row != NULL ? STORE_OK : STORE_ERROR;
		if (*row == NULL)
			snprintf(err, errlen, "out of memory");
	} else if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
		r = STORE_ERROR;
	}
	sqlite3_reset(c->get);
	return r;
}

store_result store_list(store *s, const char *field, int64_t value, int64_t after, int32_t limit,
			store_rows *rows, char *err, size_t errlen)
{
	store_conn *c = conn_get(s, err, errlen);
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int rc;
	memset(rows, 0, sizeof(*rows));
	if (c == NULL)
		return STORE_ERROR;
	if (field == NULL) {
		st = c->list[0];
	} else {
		for (size_t i = 0; i < s->nindexes; i++)
			if (strcmp(s->indexes[i]->name, field) == 0)
				st = c->list[1 + i];
		if (st == NULL) {
			snprintf(err, errlen, "%s is not indexed by '%s'", s->opts.name, field);
			return STORE_ERROR;
		}
		sqlite3_bind_int64(st, 1, value);
	}
	sqlite3_bind_int64(st, 2, after);
	/* one row more than asked tells whether another page follows */
	sqlite3_bind_int64(st, 3, limit > 0 ? (int64_t)limit + 1 : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ProtobufCMessage *row;
		if (limit > 0 && rows->n == (size_t)limit) {
			rows->next_after =
			    *(int64_t *)((char *)rows->items[rows->n - 1] + s->id->offset);
			rc = SQLITE_DONE;
			break;
		}
		if (rows->n == cap) {
			ProtobufCMessage **grown;
			cap = cap ? cap * 2 : 16;
			grown = realloc(rows->items, cap * sizeof(*grown));
			if (grown == NULL)
				goto out_oom;
			rows->items = grown;
		}
		row = read_row(s, st);
		if (row == NULL)
			goto out_oom;
		rows->items[rows->n++] = row;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
		store_rows_free(rows);
		return STORE_ERROR;
	}
	return STORE_OK;

out_oom:
	sqlite3_reset(st);
	store_rows_free(rows);
	snprintf(err, errlen, "out of memory");
	return STORE_ERROR;
}

void store_rows_free(store_rows *rows)
{
	for (size_t i = 0; i < rows->n; i++)
		protobuf_c_message_free_unpacked(rows->items[i], NULL);
	free(rows->items);
	memset(rows, 0, sizeof(*rows));
}

/* key_pack packs the key's request; the caller frees *out. Returns 0 or -1. */
static int key_pack(const store_key *key, uint8_t **out, size_t *len)
{
	*len = protobuf_c_message_get_packed_size(key->request);
	*out = malloc(*len > 0 ? *len : 1);
	if (*out == NULL)
		return -1;
	protobuf_c_message_pack(key->request, *out);
	return 0;
}

/* idem_lookup finds key: 1 and *id if recorded with the same request, 0 if not recorded, -2 if
 * recorded with another request, -1 on error. */
static int idem_lookup(store_conn *c, const store_key *key, int64_t *id, char *err, size_t errlen)
{
	int rc, found = 0;
	uint8_t *request;
	size_t request_len;
	if (key_pack(key, &request, &request_len) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sqlite3_bind_text(c->idem_get, 1, key->method, -1, SQLITE_STATIC);
	sqlite3_bind_text(c->idem_get, 2, key->key, -1, SQLITE_STATIC);
	rc = sqlite3_step(c->idem_get);
	if (rc == SQLITE_ROW) {
		const void *req = sqlite3_column_blob(c->idem_get, 0);
		size_t len = (size_t)sqlite3_column_bytes(c->idem_get, 0);
		int same = len == request_len && (len == 0 || memcmp(req, request, len) == 0);
		*id = sqlite3_column_int64(c->idem_get, 1);
		found = same ? 1 : -2;
	} else if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
		found = -1;
	}
	sqlite3_reset(c->idem_get);
	free(request);
	return found;
}

store_result store_replay(store *s, const store_key *key, ProtobufCMessage **created, char *err,
			  size_t errlen)
{
	store_conn *c = conn_get(s, err, errlen);
	int64_t id = 0;
	int found;
	if (c == NULL)
		return STORE_ERROR;
	found = idem_lookup(c, key, &id, err, errlen);
	if (found == 0)
		return STORE_NOT_FOUND;
	if (found == -2) {
		snprintf(err, errlen, "Idempotency-Key '%s' was used with another request",
			 key->key);
		return STORE_CONFLICT;
	}
	if (found < 0)
		return STORE_ERROR;
	return store_get(s, id, created, err, errlen) == STORE_OK ? STORE_OK : STORE_ERROR;
}

store_result store_insert(store *s, const ProtobufCMessage *row, const store_key *key,
			  ProtobufCMessage **created, int *replayed, char *err, size_t errlen)
{
	store_conn *c = conn_get(s, err, errlen);
	int64_t id = 0;
	int rc;
	*replayed = 0;
	if (c == NULL)
		return STORE_ERROR;
	/* IMMEDIATE: take the write lock first, so the key check and the insert are atomic
	 * against every other writer, in this process or another. */
	if (sql_exec(c->db, "BEGIN IMMEDIATE", err, errlen) != 0)
		return STORE_ERROR;
	if (key != NULL) {
		int found = idem_lookup(c, key, &id, err, errlen);
		if (found != 0) {
			sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
			if (found == -2) {
				snprintf(err, errlen,
					 "Idempotency-Key '%s' was used with another request",
					 key->key);
				return STORE_CONFLICT;
			}
			if (found < 0)
				return STORE_ERROR;
			*replayed = 1;
			return store_get(s, id, created, err, errlen) == STORE_OK ? STORE_OK
										  : STORE_ERROR;
		}
	}
	bind_row(s, c->insert, row, 1);
	rc = sqlite3_step(c->insert);
	sqlite3_reset(c->insert);
	if (rc != SQLITE_DONE) {
		store_result r = STORE_ERROR;
		if (is_unique_failure(c->db)) {
			snprintf(err, errlen, "%s", unique_field(c->db));
			r = STORE_EXISTS;
		} else {
			snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
		}
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		return r;
	}
	id = sqlite3_last_insert_rowid(c->db);
	if (key != NULL) {
		uint8_t *request;
		size_t request_len;
		if (key_pack(key, &request, &request_len) != 0) {
			snprintf(err, errlen, "out of memory");
			sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
			return STORE_ERROR;
		}
		sqlite3_bind_text(c->idem_put, 1, key->method, -1, SQLITE_STATIC);
		sqlite3_bind_text(c->idem_put, 2, key->key, -1, SQLITE_STATIC);
		sqlite3_bind_blob(c->idem_put, 3, request, (int)request_len, SQLITE_STATIC);
		sqlite3_bind_int64(c->idem_put, 4, id);
		rc = sqlite3_step(c->idem_put);
		sqlite3_reset(c->idem_put);
		free(request);
		if (rc != SQLITE_DONE) {
			snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
			sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
			return STORE_ERROR;
		}
	}
	if (sql_exec(c->db, "COMMIT", err, errlen) != 0) {
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		return STORE_ERROR;
	}
	return store_get(s, id, created, err, errlen) == STORE_OK ? STORE_OK : STORE_ERROR;
}

int64_t store_count(store *s)
{
	char err[256];
	store_conn *c = conn_get(s, err, sizeof(err));
	int64_t n = -1;
	if (c == NULL)
		return -1;
	if (sqlite3_step(c->count) == SQLITE_ROW)
		n = sqlite3_column_int64(c->count, 0);
	sqlite3_reset(c->count);
	return n;
}

void store_close(store *s)
{
	if (s == NULL)
		return;
	conn_free(pthread_getspecific(s->conn_key));
	pthread_setspecific(s->conn_key, NULL);
	pthread_key_delete(s->conn_key);
	free(s);
}
