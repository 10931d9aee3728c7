/* schema.c: a store's table from its row descriptor, its seed and its keys, for every backend. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbjson.h"
#include "schema.h"

/* schema_is_name says whether s is a name every backend takes as an identifier: a letter or '_',
 * then letters, digits and '_', shorter than STORE_NAME_MAX. */
static int schema_is_name(const char *s)
{
	size_t n = 0;
	if (s == NULL || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return 0;
	for (; s[n] != '\0'; n++)
		if (!(isalnum((unsigned char)s[n]) || s[n] == '_'))
			return 0;
	return n < STORE_NAME_MAX;
}

static store_column_kind schema_kind_of(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		return STORE_COLUMN_TEXT;
	case PROTOBUF_C_TYPE_BYTES:
		return STORE_COLUMN_BLOB;
	case PROTOBUF_C_TYPE_FLOAT:
		return STORE_COLUMN_FLOAT;
	case PROTOBUF_C_TYPE_DOUBLE:
		return STORE_COLUMN_DOUBLE;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return STORE_COLUMN_INT64;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return STORE_COLUMN_UINT32;
	case PROTOBUF_C_TYPE_BOOL:
		return STORE_COLUMN_BOOL;
	default:
		return STORE_COLUMN_INT32;
	}
}

static int schema_name_in(const char *name, const char *const *list)
{
	for (; list != NULL && *list != NULL; list++)
		if (strcmp(*list, name) == 0)
			return 1;
	return 0;
}

int store_schema_init(store_schema *schema, const store_opts *opts, char *err, size_t errlen)
{
	const ProtobufCMessageDescriptor *row = opts->row;
	memset(schema, 0, sizeof(*schema));
	schema->table = opts->name;
	schema->row = row;
	if (!schema_is_name(opts->name)) {
		snprintf(err, errlen,
			 "'%s' cannot name a store: letters, digits and '_', at most %d",
			 opts->name != NULL ? opts->name : "", STORE_NAME_MAX - 1);
		return -1;
	}
	schema->id = protobuf_c_message_descriptor_get_field_by_name(row, "id");
	if (schema->id == NULL || schema->id->type != PROTOBUF_C_TYPE_INT64 ||
	    schema->id->label == PROTOBUF_C_LABEL_REPEATED) {
		snprintf(err, errlen, "%s has no int64 field 'id'", row->name);
		return -1;
	}
	for (unsigned i = 0; i < row->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &row->fields[i];
		if (f == schema->id || f->label == PROTOBUF_C_LABEL_REPEATED ||
		    f->type == PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (schema->ncolumns == STORE_MAX_COLUMNS) {
			snprintf(err, errlen, "%s has more than %d columns", row->name,
				 STORE_MAX_COLUMNS);
			return -1;
		}
		if (!schema_is_name(f->name)) {
			snprintf(err, errlen,
				 "%s.%s: a column's name is letters, digits and '_', at most %d",
				 row->name, f->name, STORE_NAME_MAX - 1);
			return -1;
		}
		schema->columns[schema->ncolumns] = f;
		schema->kinds[schema->ncolumns] = schema_kind_of(f);
		schema->unique[schema->ncolumns] = schema_name_in(f->name, opts->unique);
		schema->ncolumns++;
	}
	for (const char *const *ix = opts->indexes; ix != NULL && *ix != NULL; ix++) {
		const ProtobufCFieldDescriptor *f =
		    protobuf_c_message_descriptor_get_field_by_name(row, *ix);
		if (f == NULL || f->type != PROTOBUF_C_TYPE_INT64 ||
		    f->label == PROTOBUF_C_LABEL_REPEATED || f == schema->id ||
		    schema->nindexes == STORE_MAX_INDEXES) {
			snprintf(err, errlen,
				 "cannot index %s by '%s': not an int64 field, or more "
				 "than %d indexes",
				 row->name, *ix, STORE_MAX_INDEXES);
			return -1;
		}
		schema->indexes[schema->nindexes++] = f;
	}
	for (const char *const *u = opts->unique; u != NULL && *u != NULL; u++) {
		const ProtobufCFieldDescriptor *f =
		    protobuf_c_message_descriptor_get_field_by_name(row, *u);
		if (f == NULL || f == schema->id || f->label == PROTOBUF_C_LABEL_REPEATED ||
		    f->type == PROTOBUF_C_TYPE_MESSAGE) {
			snprintf(err, errlen, "%s has no field '%s' to keep unique", row->name, *u);
			return -1;
		}
	}
	return 0;
}

int store_schema_index(const store_schema *schema, const char *field)
{
	for (size_t i = 0; i < schema->nindexes; i++)
		if (strcmp(schema->indexes[i]->name, field) == 0)
			return (int)i;
	return -1;
}

const char *store_schema_unique_field(const store_schema *schema, const char *constraint)
{
	size_t tlen = strlen(schema->table);
	if (constraint == NULL || strncmp(constraint, schema->table, tlen) != 0 ||
	    constraint[tlen] != '_')
		return NULL;
	constraint += tlen + 1;
	if (strcmp(constraint, "pkey") == 0)
		return "id";
	for (size_t i = 0; i < schema->ncolumns; i++) {
		size_t flen = strlen(schema->columns[i]->name);
		if (schema->unique[i] && strncmp(constraint, schema->columns[i]->name, flen) == 0 &&
		    strcmp(constraint + flen, "_key") == 0)
			return schema->columns[i]->name;
	}
	return NULL;
}

ProtobufCMessage *store_row_new(const store_schema *schema)
{
	ProtobufCMessage *row = malloc(schema->row->sizeof_message);
	if (row != NULL)
		schema->row->message_init(row);
	return row;
}

int64_t store_row_id(const store_schema *schema, const ProtobufCMessage *row)
{
	return *(const int64_t *)((const char *)row + schema->id->offset);
}

void store_row_set_id(const store_schema *schema, ProtobufCMessage *row, int64_t id)
{
	*(int64_t *)((char *)row + schema->id->offset) = id;
}

void *store_column_ptr(const store_schema *schema, ProtobufCMessage *row, size_t i)
{
	return (char *)row + schema->columns[i]->offset;
}

const void *store_column_cptr(const store_schema *schema, const ProtobufCMessage *row, size_t i)
{
	return (const char *)row + schema->columns[i]->offset;
}

void store_seed_free(ProtobufCMessage **rows, size_t from, size_t n)
{
	for (size_t i = from; i < n; i++)
		protobuf_c_message_free_unpacked(rows[i], NULL);
	free(rows);
}

int store_seed_load(const store_schema *schema, const char *path, ProtobufCMessage ***rows,
		    size_t *n, char *err, size_t errlen)
{
	if (pbjson_load_array(path, schema->row, rows, n, err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < *n; i++) {
		int64_t id = store_row_id(schema, (*rows)[i]);
		if (id <= 0) {
			snprintf(err, errlen, "%s: element %zu: id %lld is not positive", path, i,
				 (long long)id);
			store_seed_free(*rows, 0, *n);
			*rows = NULL;
			*n = 0;
			return -1;
		}
	}
	return 0;
}

int store_key_pack(const store_key *key, uint8_t **out, size_t *len)
{
	*len = protobuf_c_message_get_packed_size(key->request);
	*out = malloc(*len > 0 ? *len : 1);
	if (*out == NULL)
		return -1;
	protobuf_c_message_pack(key->request, *out);
	return 0;
}

int store_key_same(const void *stored, size_t stored_len, const uint8_t *packed, size_t packed_len)
{
	return stored_len == packed_len &&
	       (packed_len == 0 || memcmp(stored, packed, packed_len) == 0);
}

int store_rows_append(store_rows *rows, ProtobufCMessage *row)
{
	/* the array doubles from 16: its capacity is the next such size up from n */
	if (rows->n == 0 || (rows->n >= 16 && (rows->n & (rows->n - 1)) == 0)) {
		size_t cap = rows->n == 0 ? 16 : rows->n * 2;
		ProtobufCMessage **grown = realloc(rows->items, cap * sizeof(*grown));
		if (grown == NULL) {
			protobuf_c_message_free_unpacked(row, NULL);
			return -1;
		}
		rows->items = grown;
	}
	rows->items[rows->n++] = row;
	return 0;
}
