/* table.h: a read-only in-memory table of protobuf messages, indexed by int64 fields. */
#ifndef CLEAVE_STORE_TABLE_H
#define CLEAVE_STORE_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

typedef struct table table;

/* table_load reads the JSON array at path (see pbjson_load_array) into a table of messages of
 * type desc whose primary key is the int64 field key_field. Keys must be positive and unique.
 * On success *out is the caller's, to free with table_free. Returns 0, or -1 with a reason in
 * err. */
int table_load(table **out, const char *path, const ProtobufCMessageDescriptor *desc,
	       const char *key_field, char *err, size_t errlen);

/* table_add_index builds an index on the int64 field named field, rows ordered by (field, key).
 * Returns the index number for table_range (0 for the first), or -1 with a reason in err. */
int table_add_index(table *t, const char *field, char *err, size_t errlen);

/* table_get returns the row whose key is key, or NULL; the row belongs to the table. */
const ProtobufCMessage *table_get(const table *t, int64_t key);

/* table_rows returns every row in key order and sets *n to their count. The array and the
 * rows belong to the table; the array may be handed to a reply's repeated field as is. */
ProtobufCMessage **table_rows(const table *t, size_t *n);

/* table_range returns the rows whose indexed field equals value, in key order, and sets *n to
 * their count (0 gives an empty range). The array and rows belong to the table. */
ProtobufCMessage **table_range(const table *t, int index, int64_t value, size_t *n);

/* table_count returns how many rows the table holds. */
size_t table_count(const table *t);

/* table_free frees the table and every row. */
void table_free(table *t);

#endif
