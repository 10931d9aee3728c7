/* table.c: rows sorted by key, plus sorted secondary indexes; lookups are binary searches. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbjson.h"
#include "table.h"

#define TABLE_MAX_INDEXES 4

/* table_index: the rows ordered by (field, key). */
typedef struct table_index {
	size_t field_offset;
	ProtobufCMessage **rows;
} table_index;

struct table {
	const ProtobufCMessageDescriptor *desc;
	size_t key_offset;
	ProtobufCMessage **rows; /* ordered by key */
	size_t n;
	table_index indexes[TABLE_MAX_INDEXES];
	int nindexes;
};

/* sort_order: what rows are sorted by, for the comparator. */
typedef struct sort_order {
	size_t field_offset;
	size_t key_offset;
} sort_order;

static int64_t row_int64(const ProtobufCMessage *row, size_t offset)
{
	return *(const int64_t *)((const char *)row + offset);
}

static int compare_rows(const void *a, const void *b, void *arg)
{
	const sort_order *order = arg;
	const ProtobufCMessage *ra = *(ProtobufCMessage *const *)a;
	const ProtobufCMessage *rb = *(ProtobufCMessage *const *)b;
	int64_t fa = row_int64(ra, order->field_offset), fb = row_int64(rb, order->field_offset);
	int64_t ka, kb;
	if (fa != fb)
		return fa < fb ? -1 : 1;
	ka = row_int64(ra, order->key_offset);
	kb = row_int64(rb, order->key_offset);
	return ka < kb ? -1 : ka > kb;
}

/* lower_bound returns the first position in rows whose field at offset is >= value. */
static size_t lower_bound(ProtobufCMessage *const *rows, size_t n, size_t offset, int64_t value)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (row_int64(rows[mid], offset) < value)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* int64_field finds the int64 field called name in desc; NULL with a reason if there is none. */
static const ProtobufCFieldDescriptor *int64_field(const ProtobufCMessageDescriptor *desc,
						   const char *name, char *err, size_t errlen)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(desc, name);
	if (f == NULL || f->label == PROTOBUF_C_LABEL_REPEATED ||
	    (f->type != PROTOBUF_C_TYPE_INT64 && f->type != PROTOBUF_C_TYPE_SINT64 &&
	     f->type != PROTOBUF_C_TYPE_SFIXED64)) {
		snprintf(err, errlen, "%s has no int64 field '%s'", desc->name, name);
		return NULL;
	}
	return f;
}

int table_load(table **out, const char *path, const ProtobufCMessageDescriptor *desc,
	       const char *key_field, char *err, size_t errlen)
{
	const ProtobufCFieldDescriptor *key = int64_field(desc, key_field, err, errlen);
	table *t;
	if (key == NULL)
		return -1;
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	t->desc = desc;
	t->key_offset = key->offset;
	if (pbjson_load_array(path, desc, &t->rows, &t->n, err, errlen) != 0) {
		free(t);
		return -1;
	}
	qsort_r(t->rows, t->n, sizeof(*t->rows), compare_rows,
		&(sort_order){t->key_offset, t->key_offset});
	for (size_t i = 0; i < t->n; i++) {
		int64_t k = row_int64(t->rows[i], t->key_offset);
		if (k <= 0 || (i > 0 && k == row_int64(t->rows[i - 1], t->key_offset))) {
			snprintf(err, errlen, "%s: %s %" PRId64 " is %s", path, key_field, k,
				 k <= 0 ? "not positive" : "not unique");
			table_free(t);
			return -1;
		}
	}
	*out = t;
	return 0;
}

int table_add_index(table *t, const char *field, char *err, size_t errlen)
{
	const ProtobufCFieldDescriptor *f = int64_field(t->desc, field, err, errlen);
	table_index *index;
	if (f == NULL)
		return -1;
	if (t->nindexes == TABLE_MAX_INDEXES) {
		snprintf(err, errlen, "at most %d indexes", TABLE_MAX_INDEXES);
		return -1;
	}
	index = &t->indexes[t->nindexes];
	index->field_offset = f->offset;
	index->rows = malloc((t->n + 1) * sizeof(*index->rows));
	if (index->rows == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(index->rows, t->rows, t->n * sizeof(*t->rows));
	qsort_r(index->rows, t->n, sizeof(*index->rows), compare_rows,
		&(sort_order){f->offset, t->key_offset});
	return t->nindexes++;
}

const ProtobufCMessage *table_get(const table *t, int64_t key)
{
	size_t i = lower_bound(t->rows, t->n, t->key_offset, key);
	if (i < t->n && row_int64(t->rows[i], t->key_offset) == key)
		return t->rows[i];
	return NULL;
}

ProtobufCMessage **table_rows(const table *t, size_t *n)
{
	*n = t->n;
	return t->rows;
}

ProtobufCMessage **table_range(const table *t, int index, int64_t value, size_t *n)
{
	const table_index *ix = &t->indexes[index];
	size_t lo = lower_bound(ix->rows, t->n, ix->field_offset, value);
	size_t hi =
	    value == INT64_MAX ? t->n : lower_bound(ix->rows, t->n, ix->field_offset, value + 1);
	*n = hi - lo;
	return ix->rows + lo;
}

size_t table_count(const table *t)
{
	return t->n;
}

void table_free(table *t)
{
	if (t == NULL)
		return;
	for (int i = 0; i < t->nindexes; i++)
		free(t->indexes[i].rows);
	for (size_t i = 0; i < t->n; i++)
		protobuf_c_message_free_unpacked(t->rows[i], NULL);
	free(t->rows);
	free(t);
}
