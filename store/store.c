/* store.c: the store's interface: checks the arguments and hands each call to the backend the
 * store's URL chose (sqlite.c, postgres.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

struct store {
	store_schema schema;
	const store_backend *backend;
	void *impl;	       /* the backend's */
	char where[4096 + 64]; /* store_describe's answer, from the backend's open */
};

int store_url_kind(const char *url)
{
	if (url == NULL || url[0] == '\0' || strcmp(url, "sqlite:") == 0)
		return 0;
	if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
		return 1;
	/* libpq's keyword form: "host=... dbname=..." */
	if (strchr(url, '=') != NULL && strstr(url, "://") == NULL)
		return 1;
	return -1;
}

store_result store_open(store **out, const store_opts *opts, char *err, size_t errlen)
{
	store *s = calloc(1, sizeof(*s));
	store_result r;
	int kind = store_url_kind(opts->url);
	err[0] = '\0';
	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return STORE_ERROR;
	}
	if (kind < 0) {
		snprintf(err, errlen,
			 "a store URL is postgres://..., postgresql://..., libpq's 'key=value ...' "
			 "or sqlite:, not '%.40s...'",
			 opts->url);
		free(s);
		return STORE_ERROR;
	}
	if (store_schema_init(&s->schema, opts, err, errlen) != 0) {
		free(s);
		return STORE_ERROR;
	}
	s->backend = kind == 1 ? &store_postgres_backend : &store_sqlite_backend;
	r = s->backend->open(&s->impl, &s->schema, opts, s->where, sizeof(s->where), err, errlen);
	if (r != STORE_OK) {
		free(s);
		return r;
	}
	*out = s;
	return STORE_OK;
}

store_result store_get(store *s, int64_t id, ProtobufCMessage **row, char *err, size_t errlen)
{
	*row = NULL;
	return s->backend->get(s->impl, id, row, err, errlen);
}

store_result store_list(store *s, const char *field, int64_t value, int64_t after, int32_t limit,
			store_rows *rows, char *err, size_t errlen)
{
	int index = -1;
	memset(rows, 0, sizeof(*rows));
	if (field != NULL && (index = store_schema_index(&s->schema, field)) < 0) {
		snprintf(err, errlen, "%s is not indexed by '%s'", s->schema.table, field);
		return STORE_ERROR;
	}
	return s->backend->list(s->impl, index, value, after, limit, rows, err, errlen);
}

void store_rows_free(store_rows *rows)
{
	for (size_t i = 0; i < rows->n; i++)
		protobuf_c_message_free_unpacked(rows->items[i], NULL);
	free(rows->items);
	memset(rows, 0, sizeof(*rows));
}

store_result store_replay(store *s, const store_key *key, ProtobufCMessage **created, char *err,
			  size_t errlen)
{
	store_packed_key pk = {.key = key};
	uint8_t *request;
	store_result r;
	*created = NULL;
	if (store_key_pack(key, &request, &pk.request_len) != 0) {
		snprintf(err, errlen, "out of memory");
		return STORE_ERROR;
	}
	pk.request = request;
	r = s->backend->replay(s->impl, &pk, created, err, errlen);
	free(request);
	return r;
}

store_result store_insert(store *s, const ProtobufCMessage *row, const store_key *key,
			  ProtobufCMessage **created, int *replayed, char *err, size_t errlen)
{
	store_packed_key pk = {.key = key};
	uint8_t *request = NULL;
	store_result r;
	*created = NULL;
	*replayed = 0;
	if (key != NULL) {
		if (store_key_pack(key, &request, &pk.request_len) != 0) {
			snprintf(err, errlen, "out of memory");
			return STORE_ERROR;
		}
		pk.request = request;
	}
	r = s->backend->insert(s->impl, row, key != NULL ? &pk : NULL, created, replayed, err,
			       errlen);
	free(request);
	return r;
}

store_result store_insert_many(store *s, store_insert_item *items, size_t n, char *err,
			       size_t errlen)
{
	store_packed_key *pks = calloc(n > 0 ? n : 1, sizeof(*pks));
	uint8_t **requests = calloc(n > 0 ? n : 1, sizeof(*requests));
	store_result r = STORE_OK;
	if (pks == NULL || requests == NULL) {
		snprintf(err, errlen, "out of memory");
		r = STORE_ERROR;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		items[i].created = NULL;
		items[i].replayed = 0;
		items[i].result = STORE_ERROR;
		items[i].err[0] = '\0';
		items[i].packed = NULL;
		if (items[i].key == NULL)
			continue;
		pks[i].key = items[i].key;
		if (store_key_pack(items[i].key, &requests[i], &pks[i].request_len) != 0) {
			snprintf(err, errlen, "out of memory");
			r = STORE_ERROR;
			goto out;
		}
		pks[i].request = requests[i];
		items[i].packed = &pks[i];
	}
	if (s->backend->insert_many == NULL) {
		for (size_t i = 0; i < n; i++)
			items[i].result = s->backend->insert(s->impl, items[i].row, items[i].packed,
							     &items[i].created, &items[i].replayed,
							     items[i].err, sizeof(items[i].err));
		goto out;
	}
	r = s->backend->insert_many(s->impl, items, n, err, errlen);
out:
	if (r != STORE_OK) {
		for (size_t i = 0; i < n; i++) {
			if (items[i].created != NULL)
				protobuf_c_message_free_unpacked(items[i].created, NULL);
			items[i].created = NULL;
			items[i].result = STORE_ERROR;
			snprintf(items[i].err, sizeof(items[i].err), "%s", err);
		}
	}
	for (size_t i = 0; requests != NULL && i < n; i++)
		free(requests[i]);
	for (size_t i = 0; i < n; i++)
		items[i].packed = NULL;
	free(requests);
	free(pks);
	return r;
}

void store_read_batch(store *s, int on)
{
	if (s->backend->read_batch != NULL)
		s->backend->read_batch(s->impl, on);
}

int64_t store_count(store *s)
{
	return s->backend->count(s->impl);
}

void store_describe(const store *s, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s", s->where);
}

void store_close(store *s)
{
	if (s == NULL)
		return;
	s->backend->close(s->impl);
	free(s);
}
