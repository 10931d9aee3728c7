/* fuzz_route.c: fuzzes the edge's router: paths parsed, matched and made into requests. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "manifest.h"
#include "route.h"
#include "routes.h"
#include "transcode.h"

/* The edge's table, as the edge builds it (routes_build). */
static route_table table;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	manifest **ms;
	size_t n;
	char err[512];
	route_table_init(&table);
	FUZZ_CHECK(manifest_load_dir(CLEAVE_SOURCE_DIR "/svc", &ms, &n, err, sizeof(err)) == 0,
		   "%s", err);
	FUZZ_CHECK(routes_build(&table, ms, n, err, sizeof(err)) == 0, "%s", err);
	manifest_free_all(ms, n); /* the routes hold copies of what they need */
	return 0;
}

/* reference_id reads an id as route_parse_id's contract says: digits only, 1 to max. */
static int reference_id(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || __builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v))
			return -1;
	}
	if (v == 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

static uint64_t field_max(ProtobufCType type)
{
	switch (type) {
	case PROTOBUF_C_TYPE_INT32:
		return INT32_MAX;
	case PROTOBUF_C_TYPE_UINT32:
		return UINT32_MAX;
	case PROTOBUF_C_TYPE_UINT64:
		return UINT64_MAX;
	default:
		return INT64_MAX;
	}
}

static uint64_t field_value(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
	const void *member = (const char *)msg + f->offset;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
		return (uint64_t) * (const int32_t *)member;
	case PROTOBUF_C_TYPE_UINT32:
		return *(const uint32_t *)member;
	default:
		return *(const uint64_t *)member;
	}
}

/* check_reparse percent-encodes every decoded segment back into a path and checks that it
 * parses to the same segments. */
static void check_reparse(const route_path *path)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = 1;
	char *text, *w, *scratch;
	route_path again;
	for (size_t i = 0; i < path->n; i++)
		len += 1 + 3 * path->lengths[i];
	text = malloc(len);
	FUZZ_CHECK(text != NULL, "out of memory");
	w = text;
	for (size_t i = 0; i < path->n; i++) {
		*w++ = '/';
		for (size_t k = 0; k < path->lengths[i]; k++) {
			unsigned char c = (unsigned char)path->segments[i][k];
			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
			    c == '~') {
				*w++ = (char)c;
			} else {
				*w++ = '%';
				*w++ = hex[c >> 4];
				*w++ = hex[c & 15];
			}
		}
	}
	/* a last empty segment ("/a//") needs its slash back: one trailing slash is dropped */
	if (path->n == 0 || path->lengths[path->n - 1] == 0)
		*w++ = '/';
	scratch = malloc((size_t)(w - text) + ROUTE_MAX_SEGMENTS);
	FUZZ_CHECK(scratch != NULL, "out of memory");
	FUZZ_CHECK(route_path_parse(&again, text, (size_t)(w - text), scratch,
				    (size_t)(w - text) + ROUTE_MAX_SEGMENTS) == 0,
		   "'%.*s' does not parse", (int)(w - text), text);
	FUZZ_CHECK(again.n == path->n, "'%.*s': %zu segments, not %zu", (int)(w - text), text,
		   again.n, path->n);
	for (size_t i = 0; i < path->n; i++)
		FUZZ_CHECK(again.lengths[i] == path->lengths[i] &&
			       memcmp(again.segments[i], path->segments[i], path->lengths[i]) == 0,
			   "'%.*s': segment %zu differs", (int)(w - text), text, i);
	free(scratch);
	free(text);
}

/* check_request makes the matched RPC route's request from the path and query as the edge does
 * (edge_request_input without a body), and checks every path id against reference_id. */
static void check_request(const route *r, const route_path *path, const char *query,
			  size_t query_len)
{
	const ProtobufCMessageDescriptor *desc = r->service->methods[r->method_index].input;
	ProtobufCMessage *msg = malloc(desc->sizeof_message);
	char err[320];
	uint8_t *packed;
	size_t size;
	int params_ok, all_ids_ok = 1;
	FUZZ_CHECK(msg != NULL, "out of memory");
	desc->message_init(msg);
	params_ok = transcode_params(r, path, msg, err, sizeof(err)) == 0;
	for (size_t i = 0; i < r->nsegments; i++) {
		const route_segment *seg = &r->segments[i];
		uint64_t want = 0;
		if (!seg->is_param)
			continue;
		if (seg->field->type == PROTOBUF_C_TYPE_STRING) {
			all_ids_ok = -1; /* not an id: no reference for it */
			break;
		}
		if (reference_id(path->segments[i], path->lengths[i], field_max(seg->field->type),
				 &want) != 0) {
			all_ids_ok = 0; /* transcode_params stops at the first bad one */
			break;
		}
		if (params_ok)
			FUZZ_CHECK(field_value(msg, seg->field) == want, "{%s} '%.*s' read wrong",
				   seg->text, (int)path->lengths[i], path->segments[i]);
	}
	if (all_ids_ok >= 0)
		FUZZ_CHECK(params_ok == all_ids_ok, "transcode_params says %s: %s",
			   params_ok ? "ok" : "bad", params_ok ? "" : err);
	if (params_ok && r->nquery > 0 && query != NULL)
		transcode_query(r, query, query_len, msg, err, sizeof(err));
	/* whatever was filled in packs as a well-formed request */
	size = protobuf_c_message_get_packed_size(msg);
	packed = malloc(size + 1);
	FUZZ_CHECK(packed != NULL, "out of memory");
	FUZZ_CHECK(protobuf_c_message_pack(msg, packed) == size, "packed size");
	free(packed);
	free(msg); /* strings, if any, point into the path's scratch */
}

/* The input is "METHOD PATH" (a request line without the version), or a bare PATH for GET. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *sp = memchr(text, ' ', size), *path = text, *q;
	size_t len = size, scratch_len;
	unsigned method = ROUTE_GET, allow = 0;
	const route *r = NULL;
	route_path parsed;
	char *scratch, allow_text[64];
	route_match_result res;

	if (sp != NULL) {
		method = route_method_bit(text, (size_t)(sp - text));
		path = sp + 1;
		len = size - (size_t)(path - text);
	}
	scratch_len = len + ROUTE_MAX_SEGMENTS;
	scratch = malloc(scratch_len);
	FUZZ_CHECK(scratch != NULL, "out of memory");
	if (route_path_parse(&parsed, path, len, scratch, scratch_len) != 0) {
		free(scratch);
		return 0;
	}
	FUZZ_CHECK(parsed.n <= ROUTE_MAX_SEGMENTS, "%zu segments", parsed.n);
	for (size_t i = 0; i < parsed.n; i++) {
		FUZZ_CHECK(parsed.segments[i] >= scratch &&
			       parsed.segments[i] + parsed.lengths[i] < scratch + scratch_len,
			   "segment %zu outside the scratch buffer", i);
		FUZZ_CHECK(parsed.segments[i][parsed.lengths[i]] == '\0',
			   "segment %zu not NUL-terminated", i);
	}
	check_reparse(&parsed);

	res = route_table_match(&table, &parsed, method, &r, &allow);
	route_allow_string(allow, allow_text, sizeof(allow_text));
	FUZZ_CHECK(memchr(allow_text, '\0', sizeof(allow_text)) != NULL, "Allow not terminated");
	switch (res) {
	case ROUTE_MATCH_FOUND:
		FUZZ_CHECK(r != NULL && r->nsegments == parsed.n, "a route of another length");
		FUZZ_CHECK(method != 0 && (allow & method) && (allow & ROUTE_OPTIONS),
			   "method %u found, allow %u", method, allow);
		if (r->kind == ROUTE_RPC) {
			q = memchr(path, '?', len);
			check_request(r, &parsed, q != NULL ? q + 1 : NULL,
				      q != NULL ? len - (size_t)(q + 1 - path) : 0);
		}
		break;
	case ROUTE_MATCH_NO_METHOD:
		FUZZ_CHECK((allow & ROUTE_OPTIONS) && !(allow & method & ~ROUTE_OPTIONS),
			   "method %u, allow %u", method, allow);
		break;
	case ROUTE_MATCH_NO_PATH:
		FUZZ_CHECK(allow == 0, "allow %u for no path", allow);
		break;
	}
	free(scratch);
	return 0;
}
