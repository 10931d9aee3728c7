/* schema.h: a store's table as its row descriptor says (columns, kinds, unique fields, indexes),
 * its seed and its idempotency keys' requests, shared by every backend. Internal to store/. */
#ifndef CLEAVE_STORE_SCHEMA_H
#define CLEAVE_STORE_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define STORE_MAX_COLUMNS 32
#define STORE_MAX_INDEXES 4
#define STORE_NAME_MAX	  48 /* table and field names, so that derived names stay short */

/* store_column_kind: how a field's value is kept in its message, and so in its column. */
typedef enum store_column_kind {
	STORE_COLUMN_TEXT,   /* string: char * */
	STORE_COLUMN_BLOB,   /* bytes: ProtobufCBinaryData */
	STORE_COLUMN_FLOAT,  /* float */
	STORE_COLUMN_DOUBLE, /* double */
	STORE_COLUMN_INT64,  /* every 64-bit integer, unsigned ones by their bits */
	STORE_COLUMN_UINT32, /* uint32 and fixed32 */
	STORE_COLUMN_BOOL,   /* protobuf_c_boolean */
	STORE_COLUMN_INT32,  /* int32, sint32, sfixed32 and enums */
} store_column_kind;

/* store_schema: the table of one store. Its descriptors are the row type's (static). */
typedef struct store_schema {
	const char *table; /* the store's name: the table, and SQLite's file NAME.db */
	const ProtobufCMessageDescriptor *row;
	const ProtobufCFieldDescriptor *id; /* the int64 key the store assigns */
	/* every stored field but id, in the descriptor's order: the columns */
	const ProtobufCFieldDescriptor *columns[STORE_MAX_COLUMNS];
	store_column_kind kinds[STORE_MAX_COLUMNS];
	int unique[STORE_MAX_COLUMNS]; /* 1 where the column's values must be unique */
	size_t ncolumns;
	/* the int64 fields lists filter by (store_opts.indexes) */
	const ProtobufCFieldDescriptor *indexes[STORE_MAX_INDEXES];
	size_t nindexes;
} store_schema;

/* store_schema_init fills schema from opts (borrowed; its strings must outlive schema): the row
 * type needs an int64 "id", at most STORE_MAX_COLUMNS scalar fields (repeated and message
 * fields are not stored), names of letters, digits and '_', unique fields it has and indexes on
 * its int64 fields. Returns 0, or -1 with the reason in err. */
int store_schema_init(store_schema *schema, const store_opts *opts, char *err, size_t errlen);

/* store_schema_index returns the position in schema->indexes of field, or -1. */
int store_schema_index(const store_schema *schema, const char *field);

/* store_schema_unique_field returns the name of the unique column a constraint name is about:
 * "<table>_<field>_key" (the name backends give the constraint of a unique column), "id" for
 * "<table>_pkey"; NULL if it is neither. */
const char *store_schema_unique_field(const store_schema *schema, const char *constraint);

/* store_row_new returns a new initialised message of the row type (the caller's, to free with
 * protobuf_c_message_free_unpacked), or NULL without memory. */
ProtobufCMessage *store_row_new(const store_schema *schema);

/* store_row_id returns row's id; store_row_set_id sets it. */
int64_t store_row_id(const store_schema *schema, const ProtobufCMessage *row);
void store_row_set_id(const store_schema *schema, ProtobufCMessage *row, int64_t id);

/* store_column_ptr returns where column i of row is kept (its kind says its C type). */
void *store_column_ptr(const store_schema *schema, ProtobufCMessage *row, size_t i);
const void *store_column_cptr(const store_schema *schema, const ProtobufCMessage *row, size_t i);

/* store_seed_load reads the seed file path (a JSON array of rows) into *rows (the caller's, free
 * with store_seed_free) and *n, checking that every id is positive. Returns 0, or -1 with the
 * reason in err (naming the file, and the element when one is wrong). */
int store_seed_load(const store_schema *schema, const char *path, ProtobufCMessage ***rows,
		    size_t *n, char *err, size_t errlen);

/* store_seed_free frees rows[from .. n) and the array. */
void store_seed_free(ProtobufCMessage **rows, size_t from, size_t n);

/* store_key_pack packs key->request, which an idempotency key is recorded with; *out is the
 * caller's, to free. Returns 0, or -1 without memory. */
int store_key_pack(const store_key *key, uint8_t **out, size_t *len);

/* store_key_same says whether a recorded request (stored, stored_len) is the packed one. */
int store_key_same(const void *stored, size_t stored_len, const uint8_t *packed, size_t packed_len);

/* store_rows_append adds row (which becomes the page's) to rows. Returns 0, or -1 without memory
 * (row is then freed). */
int store_rows_append(store_rows *rows, ProtobufCMessage *row);

#endif
