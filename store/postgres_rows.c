/* postgres_rows.c: a store's rows in PostgreSQL's binary format: parameters from a row's columns,
 * rows from results. */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "postgres_rows.h"

void pgrows_bytes(pgrows_params *p, const void *data, size_t len)
{
	p->values[p->n] = data != NULL ? data : "";
	p->lengths[p->n] = (int)len;
	p->formats[p->n] = 1;
	p->n++;
}

void pgrows_null(pgrows_params *p)
{
	p->values[p->n] = NULL;
	p->lengths[p->n] = 0;
	p->formats[p->n] = 1;
	p->n++;
}

void pgrows_int8(pgrows_params *p, int64_t v)
{
	p->scratch[p->n] = htobe64((uint64_t)v);
	pgrows_bytes(p, &p->scratch[p->n], 8);
}

void pgrows_int4(pgrows_params *p, uint32_t v)
{
	uint32_t be = htobe32(v);
	memcpy(&p->scratch[p->n], &be, 4);
	pgrows_bytes(p, &p->scratch[p->n], 4);
}

void pgrows_text(pgrows_params *p, const char *text)
{
	pgrows_bytes(p, text, text != NULL ? strlen(text) : 0);
}

/* pgrows_row adds row's columns, as their kinds say. */
void pgrows_row(pgrows_params *p, const store_schema *sc, const ProtobufCMessage *row)
{
	for (size_t i = 0; i < sc->ncolumns; i++) {
		const void *m = store_column_cptr(sc, row, i);
		switch (sc->kinds[i]) {
		case STORE_COLUMN_TEXT:
			pgrows_text(p, *(char *const *)m);
			break;
		case STORE_COLUMN_BLOB: {
			const ProtobufCBinaryData *b = m;
			pgrows_bytes(p, b->data, b->len);
			break;
		}
		case STORE_COLUMN_FLOAT: {
			uint32_t bits;
			memcpy(&bits, m, 4);
			pgrows_int4(p, bits);
			break;
		}
		case STORE_COLUMN_DOUBLE: {
			uint64_t bits;
			memcpy(&bits, m, 8);
			pgrows_int8(p, (int64_t)bits);
			break;
		}
		case STORE_COLUMN_INT64:
			pgrows_int8(p, *(const int64_t *)m);
			break;
		case STORE_COLUMN_UINT32:
			pgrows_int8(p, (int64_t) * (const uint32_t *)m);
			break;
		case STORE_COLUMN_BOOL: {
			static const char t = 1, f = 0;
			pgrows_bytes(p, *(const protobuf_c_boolean *)m ? &t : &f, 1);
			break;
		}
		case STORE_COLUMN_INT32:
			pgrows_int4(p, (uint32_t) * (const int32_t *)m);
			break;
		}
	}
}

Oid pgrows_oid(store_column_kind kind)
{
	switch (kind) {
	case STORE_COLUMN_TEXT:
		return PG_TEXT;
	case STORE_COLUMN_BLOB:
		return PG_BYTEA;
	case STORE_COLUMN_FLOAT:
		return PG_FLOAT4;
	case STORE_COLUMN_DOUBLE:
		return PG_FLOAT8;
	case STORE_COLUMN_INT64:
	case STORE_COLUMN_UINT32:
		return PG_INT8;
	case STORE_COLUMN_BOOL:
		return PG_BOOL;
	default:
		return PG_INT4;
	}
}

const char *pgrows_type(store_column_kind kind)
{
	switch (kind) {
	case STORE_COLUMN_TEXT:
		return "text";
	case STORE_COLUMN_BLOB:
		return "bytea";
	case STORE_COLUMN_FLOAT:
		return "real";
	case STORE_COLUMN_DOUBLE:
		return "double precision";
	case STORE_COLUMN_INT64:
	case STORE_COLUMN_UINT32:
		return "bigint";
	case STORE_COLUMN_BOOL:
		return "boolean";
	default:
		return "integer";
	}
}

/* pgrows_int8_at reads a binary bigint. */
int64_t pgrows_int8_at(const char *v)
{
	uint64_t be;
	memcpy(&be, v, 8);
	return (int64_t)be64toh(be);
}

uint32_t pgrows_int4_at(const char *v)
{
	uint32_t be;
	memcpy(&be, v, 4);
	return be32toh(be);
}

/* pgrows_read makes a message of result row r of res (id, then the columns), or NULL with the
 * reason in err. */
ProtobufCMessage *pgrows_read(const store_schema *sc, const PGresult *res, int r, char *err,
			      size_t errlen)
{
	ProtobufCMessage *row;
	if ((size_t)PQnfields(res) != sc->ncolumns + 1 || PQgetlength(res, r, 0) != 8) {
		snprintf(err, errlen, "table %s does not have the row's columns", sc->table);
		return NULL;
	}
	if ((row = store_row_new(sc)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	store_row_set_id(sc, row, pgrows_int8_at(PQgetvalue(res, r, 0)));
	for (size_t i = 0; i < sc->ncolumns; i++) {
		void *m = store_column_ptr(sc, row, i);
		const char *v = PQgetvalue(res, r, (int)i + 1);
		size_t len = (size_t)PQgetlength(res, r, (int)i + 1);
		size_t want = 0;
		switch (sc->kinds[i]) {
		case STORE_COLUMN_TEXT:
		case STORE_COLUMN_BLOB:
			break;
		case STORE_COLUMN_BOOL:
			want = 1;
			break;
		case STORE_COLUMN_FLOAT:
		case STORE_COLUMN_INT32:
			want = 4;
			break;
		default:
			want = 8;
			break;
		}
		if (PQgetisnull(res, r, (int)i + 1) || (want != 0 && len != want)) {
			snprintf(err, errlen, "%s.%s does not hold a %s", sc->table,
				 sc->columns[i]->name, pgrows_type(sc->kinds[i]));
			protobuf_c_message_free_unpacked(row, NULL);
			return NULL;
		}
		switch (sc->kinds[i]) {
		case STORE_COLUMN_TEXT:
		case STORE_COLUMN_BLOB: {
			char *copy = malloc(len + 1);
			if (copy == NULL) {
				snprintf(err, errlen, "out of memory");
				protobuf_c_message_free_unpacked(row, NULL);
				return NULL;
			}
			memcpy(copy, v, len);
			copy[len] = '\0';
			if (sc->kinds[i] == STORE_COLUMN_TEXT) {
				*(char **)m = copy;
			} else {
				((ProtobufCBinaryData *)m)->data = (uint8_t *)copy;
				((ProtobufCBinaryData *)m)->len = len;
			}
			break;
		}
		case STORE_COLUMN_FLOAT: {
			uint32_t bits = pgrows_int4_at(v);
			memcpy(m, &bits, 4);
			break;
		}
		case STORE_COLUMN_DOUBLE: {
			uint64_t bits = (uint64_t)pgrows_int8_at(v);
			memcpy(m, &bits, 8);
			break;
		}
		case STORE_COLUMN_BOOL:
			store_column_set_int(sc, row, i, v[0]);
			break;
		case STORE_COLUMN_INT32:
			store_column_set_int(sc, row, i, (int32_t)pgrows_int4_at(v));
			break;
		default: /* bigint: int64 and uint32 */
			store_column_set_int(sc, row, i, pgrows_int8_at(v));
			break;
		}
	}
	return row;
}
