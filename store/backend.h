/* backend.h: what a store backend (SQLite, PostgreSQL) gives store.c, which checks the arguments
 * and dispatches, and what the backends share (backend.c). Internal to store/. */
#ifndef CLEAVE_STORE_BACKEND_H
#define CLEAVE_STORE_BACKEND_H

#include <pthread.h>

#include "schema.h"

/* store_packed_key: an idempotency key with its request packed (store_key_pack). */
typedef struct store_packed_key {
	const store_key *key;
	const uint8_t *request;
	size_t request_len;
} store_packed_key;

/* store_backend: one backend's operations. Each takes the state its open made (impl); their
 * results and ownership are store.h's functions' of the same names. */
typedef struct store_backend {
	/* open opens (first start: creates and seeds, once) the store of schema as opts says;
	 * schema and opts are borrowed and outlive impl. On STORE_OK *impl is the backend's
	 * state, freed by close, and where (wherelen bytes, the caller's) says where the store
	 * is, as store_describe does. */
	store_result (*open)(void **impl, const store_schema *schema, const store_opts *opts,
			     char *where, size_t wherelen, char *err, size_t errlen);
	store_result (*get)(void *impl, int64_t id, ProtobufCMessage **row, char *err,
			    size_t errlen);
	/* list: index is a position in schema->indexes, or -1 for every row; rows is zeroed */
	store_result (*list)(void *impl, int index, int64_t value, int64_t after, int32_t limit,
			     store_rows *rows, char *err, size_t errlen);
	/* insert: key is NULL for none */
	store_result (*insert)(void *impl, const ProtobufCMessage *row, const store_packed_key *key,
			       ProtobufCMessage **created, int *replayed, char *err, size_t errlen);
	/* insert_many: store_insert_many's items, their keys packed (item->packed); NULL: the
	 * backend has none, and each item is inserted on its own. On a result other than STORE_OK
	 * nothing was committed, and the items' created rows are freed by the caller */
	store_result (*insert_many)(void *impl, store_insert_item *items, size_t n, char *err,
				    size_t errlen);
	store_result (*replay)(void *impl, const store_packed_key *key, ProtobufCMessage **created,
			       char *err, size_t errlen);
	int64_t (*count)(void *impl);
	/* read_batch: store_read_batch's; NULL: the backend's reads are each their own */
	void (*read_batch)(void *impl, int on);
	/* close closes the calling thread's connection and frees impl */
	void (*close)(void *impl);
} store_backend;

/* STORE_BACKEND_OPS(p) fills a store_backend with the operations of a backend that names them
 * p_open, p_get, p_list, p_insert, p_replay, p_count and p_close (insert_many, which a backend
 * may lack, is set on its own). */
#define STORE_BACKEND_OPS(p)                                                                       \
	.open = p##_open, .get = p##_get, .list = p##_list, .insert = p##_insert,                  \
	.replay = p##_replay, .count = p##_count, .close = p##_close

/* the backends: sqlite.c, postgres.c */
extern const store_backend store_sqlite_backend;
extern const store_backend store_postgres_backend;

/* ---- what the backends share (backend.c) ---- */

/* store_no_memory says "out of memory" in err and returns STORE_ERROR. */
store_result store_no_memory(char *err, size_t errlen);

/* store_key_conflict says in err that pk's key (borrowed) was recorded with another request, and
 * returns STORE_CONFLICT. */
store_result store_key_conflict(const store_packed_key *pk, char *err, size_t errlen);

/* store_conn_key_close frees the calling thread's connection kept under key (with conn_free, the
 * key's destructor), then deletes key: a backend's close. */
void store_conn_key_close(pthread_key_t key, void (*conn_free)(void *));

/* store_column_int returns the value of integer column i of row (kind STORE_COLUMN_INT64,
 * UINT32, BOOL or INT32) as an int64_t: a uint32 as its value, a bool as 1 or 0. */
int64_t store_column_int(const store_schema *schema, const ProtobufCMessage *row, size_t i);

/* store_column_set_int sets integer column i of row (as store_column_int) to v, converted to
 * the column's C type: a bool is true when v is not 0. */
void store_column_set_int(const store_schema *schema, ProtobufCMessage *row, size_t i, int64_t v);

#endif
