/* backend.h: what a store backend (SQLite, PostgreSQL) gives store.c, which checks the arguments
 * and dispatches. Internal to store/. */
#ifndef CLEAVE_STORE_BACKEND_H
#define CLEAVE_STORE_BACKEND_H

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
	 * state, freed by close. */
	store_result (*open)(void **impl, const store_schema *schema, const store_opts *opts,
			     char *err, size_t errlen);
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
	void (*describe)(const void *impl, char *out, size_t outlen);
	/* close closes the calling thread's connection and frees impl */
	void (*close)(void *impl);
} store_backend;

/* the backends: sqlite.c, postgres.c */
extern const store_backend store_sqlite_backend;
extern const store_backend store_postgres_backend;

#endif
