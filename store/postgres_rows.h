/* postgres_rows.h: a store's rows in PostgreSQL's binary format: statement parameters from a
 * row's columns, rows from results, the column types. Internal to store/ (postgres.c). */
#ifndef CLEAVE_STORE_POSTGRES_ROWS_H
#define CLEAVE_STORE_POSTGRES_ROWS_H

#include <stdint.h>

#include <libpq-fe.h>

#include "schema.h"

#define PGROWS_PARAMS_MAX (STORE_MAX_COLUMNS + 4)

/* OIDs of the built-in types of the statements' parameters (PostgreSQL's pg_type.dat) */
enum {
	PG_BOOL = 16,
	PG_BYTEA = 17,
	PG_INT8 = 20,
	PG_INT4 = 23,
	PG_TEXT = 25,
	PG_FLOAT4 = 700,
	PG_FLOAT8 = 701,
};

/* pgrows_params: the parameters of one statement, in binary format. */
typedef struct pgrows_params {
	const char *values[PGROWS_PARAMS_MAX];
	int lengths[PGROWS_PARAMS_MAX];
	int formats[PGROWS_PARAMS_MAX];
	uint64_t scratch[PGROWS_PARAMS_MAX]; /* the big-endian numbers values point at */
	int n;
} pgrows_params;

/* pgrows_bytes adds a parameter of len bytes at data (NULL: none), which must outlive p's use;
 * pgrows_null adds NULL; pgrows_int8 and pgrows_int4 add a number, kept in p; pgrows_text adds
 * text (borrowed, NUL-terminated; NULL is ""). */
void pgrows_bytes(pgrows_params *p, const void *data, size_t len);
void pgrows_null(pgrows_params *p);
void pgrows_int8(pgrows_params *p, int64_t v);
void pgrows_int4(pgrows_params *p, uint32_t v);
void pgrows_text(pgrows_params *p, const char *text);

/* pgrows_row adds row's columns (borrowed: row must outlive p's use), in sc's order. */
void pgrows_row(pgrows_params *p, const store_schema *sc, const ProtobufCMessage *row);

/* pgrows_oid is the type of a column of kind as a parameter; pgrows_type its type in a table. */
Oid pgrows_oid(store_column_kind kind);
const char *pgrows_type(store_column_kind kind);

/* pgrows_int8_at reads a binary bigint at v; pgrows_int4_at a binary integer. */
int64_t pgrows_int8_at(const char *v);
uint32_t pgrows_int4_at(const char *v);

/* pgrows_read makes a message of result row r of res (binary: id, then sc's columns): a new
 * message, the caller's (protobuf_c_message_free_unpacked); or NULL with the reason in err. */
ProtobufCMessage *pgrows_read(const store_schema *sc, const PGresult *res, int r, char *err,
			      size_t errlen);

#endif
