/* backend.c: what the store backends (sqlite.c, postgres.c) share: their common error answers,
 * the closing of a thread's connection, and integer columns as int64_t. */
#include <stdio.h>

#include "backend.h"

store_result store_no_memory(char *err, size_t errlen)
{
	snprintf(err, errlen, "out of memory");
	return STORE_ERROR;
}

store_result store_key_conflict(const store_packed_key *pk, char *err, size_t errlen)
{
	snprintf(err, errlen, "Idempotency-Key '%s' was used with another request", pk->key->key);
	return STORE_CONFLICT;
}

void store_conn_key_close(pthread_key_t key, void (*conn_free)(void *))
{
	conn_free(pthread_getspecific(key));
	pthread_setspecific(key, NULL);
	pthread_key_delete(key);
}

int64_t store_column_int(const store_schema *schema, const ProtobufCMessage *row, size_t i)
{
	const void *m = store_column_cptr(schema, row, i);
	switch (schema->kinds[i]) {
	case STORE_COLUMN_UINT32:
		return *(const uint32_t *)m;
	case STORE_COLUMN_BOOL:
		return *(const protobuf_c_boolean *)m ? 1 : 0;
	case STORE_COLUMN_INT32:
		return *(const int32_t *)m;
	default:
		return *(const int64_t *)m;
	}
}

void store_column_set_int(const store_schema *schema, ProtobufCMessage *row, size_t i, int64_t v)
{
	void *m = store_column_ptr(schema, row, i);
	switch (schema->kinds[i]) {
	case STORE_COLUMN_UINT32:
		*(uint32_t *)m = (uint32_t)v;
		break;
	case STORE_COLUMN_BOOL:
		*(protobuf_c_boolean *)m = v != 0;
		break;
	case STORE_COLUMN_INT32:
		*(int32_t *)m = (int32_t)v;
		break;
	default:
		*(int64_t *)m = v;
		break;
	}
}
