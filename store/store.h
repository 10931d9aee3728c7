/* store.h: a service's own data: a table whose rows are protobuf messages, in an embedded SQLite
 * database (WAL) or in a PostgreSQL database the service owns. */
#ifndef CLEAVE_STORE_H
#define CLEAVE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

typedef struct store store;

typedef enum store_result {
	STORE_OK = 0,
	STORE_NOT_FOUND, /* no such row, or no record of the idempotency key */
	STORE_EXISTS,	 /* a unique field already holds the value; err names the field */
	STORE_CONFLICT,	 /* the idempotency key was used before with another request */
	STORE_ERROR,	 /* the database failed; err says how */
	/* the database cannot be reached now (PostgreSQL down, restarting, out of reach): nothing
	 * was written, except when the connection was lost while a commit was on its way, whose
	 * outcome is then unknown (err says so); a create retried with its idempotency key is
	 * safe either way */
	STORE_UNAVAILABLE,
} store_result;

/* store_opts: what a store holds and where. */
typedef struct store_opts {
	/* where: NULL, "" or "sqlite:" for SQLite in dir; a PostgreSQL connection URI
	 * (postgres://... or postgresql://...) or libpq "key=value ..." string for PostgreSQL */
	const char *url;
	const char *dir; /* the service's data directory (SQLite), made with mode 0700 if missing */
	const char *name; /* the table (letters, digits, '_'), and SQLite's file DIR/NAME.db */
	/* the row type: its scalar fields are the columns, its int64 field "id" the key that the
	 * store assigns */
	const ProtobufCMessageDescriptor *row;
	const char *const *unique;  /* NULL-terminated fields whose values must be unique */
	const char *const *indexes; /* NULL-terminated int64 fields that lists filter by */
	const char *seed;	    /* JSON array of rows loaded on the first start only; or NULL */
	int sync_full; /* SQLite: fsync every commit (survives power loss); otherwise commits
			* survive any crash of the process, and fsync happens at checkpoints.
			* PostgreSQL: its own settings decide (synchronous_commit) */
} store_opts;

/* store_rows: one page of rows. */
typedef struct store_rows {
	ProtobufCMessage **items; /* the caller's, freed by store_rows_free */
	size_t n;
	int64_t next_after; /* the last id of this page when another page follows; 0 otherwise */
} store_rows;

/* store_key: an idempotency key and the request it came with. */
typedef struct store_key {
	const char *method;		 /* the method it applies to, "Create" */
	const char *key;		 /* as the client sent it */
	const ProtobufCMessage *request; /* a repeat must carry the same request */
} store_key;

/* store_open opens (creating and seeding on the first start) the store described by opts, whose
 * strings and arrays must outlive it. Several processes may open the same store at once, on one
 * host (SQLite) or several (PostgreSQL): the first seeds it, once. On success *out is the
 * caller's, to free with store_close. Returns STORE_OK, STORE_ERROR or STORE_UNAVAILABLE (err).
 *
 * Every other call works on the calling thread's own connection, made on its first use (and,
 * for PostgreSQL, made again once the database is back after a restart); any of them may
 * return STORE_UNAVAILABLE besides the results it names. */
store_result store_open(store **out, const store_opts *opts, char *err, size_t errlen);

/* store_get reads the row whose id is id into *row: a new message, the caller's, to free with
 * protobuf_c_message_free_unpacked(row, NULL). Returns STORE_OK, STORE_NOT_FOUND or
 * STORE_ERROR. */
store_result store_get(store *s, int64_t id, ProtobufCMessage **row, char *err, size_t errlen);

/* store_list reads rows in id order: those whose indexed field equals value (field NULL: all),
 * with ids above after, at most limit of them (0: no limit; a service's List never asks for
 * that, see svc_check_page). Fills *rows (free with store_rows_free). Returns STORE_OK or
 * STORE_ERROR. */
store_result store_list(store *s, const char *field, int64_t value, int64_t after, int32_t limit,
			store_rows *rows, char *err, size_t errlen);

/* store_rows_free frees the rows of a page. */
void store_rows_free(store_rows *rows);

/* store_insert adds row (its id is ignored: the store assigns the next one) and sets *created to
 * the stored row, the caller's. The row is committed before this returns. With a key, the key is
 * recorded in the same transaction; if it was recorded before with the same request, nothing is
 * added and *created is the row it made then (*replayed = 1). Returns STORE_OK, STORE_EXISTS,
 * STORE_CONFLICT or STORE_ERROR. */
store_result store_insert(store *s, const ProtobufCMessage *row, const store_key *key,
			  ProtobufCMessage **created, int *replayed, char *err, size_t errlen);

/* store_insert_item: one insert of store_insert_many. */
typedef struct store_insert_item {
	const ProtobufCMessage *row;	 /* in, borrowed: as store_insert's */
	const store_key *key;		 /* in, borrowed: NULL for none */
	store_result result;		 /* out: as store_insert's */
	ProtobufCMessage *created;	 /* out: the stored row, the caller's (free it) */
	int replayed;			 /* out */
	char err[256];			 /* out: the reason of a result other than STORE_OK */
	struct store_packed_key *packed; /* the store's, while it works */
} store_insert_item;

/* store_insert_many does store_insert for each of n items, committed together: SQLite makes one
 * transaction of them (one fsync; an item that fails, a clash or a conflicting key, leaves the
 * others), other backends insert each on its own. Each item's outcome is in the item. If the
 * commit fails, it returns STORE_ERROR (err) and no item was stored: every item's result is then
 * STORE_ERROR and its created NULL. Returns STORE_OK otherwise. */
store_result store_insert_many(store *s, store_insert_item *items, size_t n, char *err,
			       size_t errlen);

/* store_replay looks key up without writing: STORE_OK with *created set (the caller's) if it was
 * recorded with the same request, STORE_NOT_FOUND if it was not, STORE_CONFLICT if it was with
 * another request, STORE_ERROR. */
store_result store_replay(store *s, const store_key *key, ProtobufCMessage **created, char *err,
			  size_t errlen);

/* store_read_batch with on set makes the calling thread's reads (store_get, store_list,
 * store_count, store_replay) share one snapshot, taken at the first of them, until
 * store_read_batch(s, 0) ends it: for the calls a server read together, all sent before the batch
 * began, which see every write acknowledged before they were sent. The shared snapshot saves
 * each read its own locks (SQLite: a WAL read transaction's). A write by the thread ends the
 * snapshot first (the next read takes a new one), and a failed read ends it. Outside a batch,
 * and on a backend without snapshots to share (PostgreSQL), every read is its own. */
void store_read_batch(store *s, int on);

/* store_count returns how many rows the table holds, or -1 on error. */
int64_t store_count(store *s);

/* store_describe writes where the store is into out, without secrets: "sqlite DIR/NAME.db",
 * "postgres database D as user U on HOST:PORT". */
void store_describe(const store *s, char *out, size_t outlen);

/* store_url_kind says which backend url chooses: 0 SQLite, 1 PostgreSQL, -1 neither (a scheme
 * the store does not know). */
int store_url_kind(const char *url);

/* store_close closes the calling thread's connection and frees the store; other threads must
 * be done with it. */
void store_close(store *s);

#endif
