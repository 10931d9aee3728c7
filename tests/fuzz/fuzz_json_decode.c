/* fuzz_json_decode.c: fuzzes JSON bodies into request messages (transcode_body, pbjson_decode). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "manifest.h"
#include "mesh.pb-c.h"
#include "pbjson.h"
#include "registry.h"
#include "route.h"
#include "routes.h"
#include "sample.pb-c.h"
#include "transcode.h"

/* A target: a route with a body (decoded by transcode_body, as the edge does), or a message
 * type (json_loadb then pbjson_decode). */
typedef struct target {
	const route *route;
	const ProtobufCMessageDescriptor *desc;
} target;

#define MAX_TARGETS 64

static route_table table;
static target targets[MAX_TARGETS];
static size_t ntargets;

/* add_desc adds desc and every message type its fields hold. */
static void add_desc(const ProtobufCMessageDescriptor *desc)
{
	for (size_t i = 0; i < ntargets; i++)
		if (targets[i].route == NULL && targets[i].desc == desc)
			return;
	FUZZ_CHECK(ntargets < MAX_TARGETS, "too many targets");
	targets[ntargets++] = (target){.desc = desc};
	for (unsigned i = 0; i < desc->n_fields; i++)
		if (desc->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
			add_desc(desc->fields[i].descriptor);
}

/* The targets, in a fixed order (the first input byte picks one, modulo their number): the routes
 * with a body in manifest order (POST /api/posts, /api/threads, /api/users), then sample's
 * Everything and Inner, then every request message of every registered service, then every
 * other message type they use (pbjson_decode takes any; seed data files are replies). */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	manifest **ms;
	size_t n;
	char err[512];
	route_table_init(&table);
	FUZZ_CHECK(manifest_load_dir(CLEAVE_SOURCE_DIR "/svc", &ms, &n, err, sizeof(err)) == 0,
		   "%s", err);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(routes_add_manifest(&table, ms[i], err, sizeof(err)) == 0, "%s", err);
	manifest_free_all(ms, n);
	for (size_t i = 0; i < table.n; i++) {
		const route *r = table.routes[i];
		if (r->kind != ROUTE_RPC || !r->has_body)
			continue;
		FUZZ_CHECK(ntargets < MAX_TARGETS, "too many targets");
		targets[ntargets++] =
		    (target){.route = r, .desc = r->service->methods[r->method_index].input};
	}
	add_desc(&sample__everything__descriptor);
	add_desc(&sample__inner__descriptor);
	for (size_t i = 0; registry_services[i] != NULL; i++)
		for (unsigned m = 0; m < registry_services[i]->n_methods; m++)
			add_desc(registry_services[i]->methods[m].input);
	for (size_t i = 0; registry_services[i] != NULL; i++)
		for (unsigned m = 0; m < registry_services[i]->n_methods; m++)
			add_desc(registry_services[i]->methods[m].output);
	add_desc(&mesh__call__descriptor);
	add_desc(&mesh__reply__descriptor);
	return 0;
}

/* encode returns msg as JSON in a malloc'd, NUL-terminated string. */
static char *encode(const ProtobufCMessage *msg, size_t *len)
{
	pbjson_buf buf;
	char *s;
	pbjson_buf_init(&buf);
	FUZZ_CHECK(pbjson_encode_message(&buf, msg) == 0, "encode failed");
	s = malloc(buf.len + 1);
	FUZZ_CHECK(s != NULL, "out of memory");
	memcpy(s, buf.data, buf.len);
	s[buf.len] = '\0';
	*len = buf.len;
	pbjson_buf_fini(&buf);
	return s;
}

/* check_decoded checks a message the decoder made: it packs and unpacks as protobuf, and its
 * JSON decodes again to a message with the same JSON (the decoder accepts what the encoder
 * writes of anything the decoder made). */
static void check_decoded(const ProtobufCMessage *msg, const ProtobufCMessageDescriptor *desc)
{
	size_t size = protobuf_c_message_get_packed_size(msg), len1, len2;
	uint8_t *packed = malloc(size + 1);
	ProtobufCMessage *unpacked, *again;
	json_error_t jerr;
	json_t *root;
	char err[320], *json1, *json2;
	FUZZ_CHECK(msg->descriptor == desc, "a message of another type");
	FUZZ_CHECK(protobuf_c_message_check(msg), "protobuf_c_message_check fails");
	FUZZ_CHECK(packed != NULL, "out of memory");
	FUZZ_CHECK(protobuf_c_message_pack(msg, packed) == size, "packed size");
	unpacked = protobuf_c_message_unpack(desc, NULL, size, packed);
	FUZZ_CHECK(unpacked != NULL, "%s does not unpack what it packed", desc->name);
	protobuf_c_message_free_unpacked(unpacked, NULL);
	free(packed);

	json1 = encode(msg, &len1);
	root = json_loadb(json1, len1, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL && json_error_code(&jerr) == json_error_numeric_overflow) {
		/* Known: a float or double from 2^63 to 1e21 is written in digits, as JavaScript
		 * does ("34028236000000000000"), which jansson refuses as too big an integer. */
		free(json1);
		return;
	}
	FUZZ_CHECK(root != NULL, "encoded JSON does not parse: %s: %s", jerr.text, json1);
	again = pbjson_decode(desc, root, err, sizeof(err));
	json_decref(root);
	FUZZ_CHECK(again != NULL, "encoded JSON does not decode: %s: %s", err, json1);
	json2 = encode(again, &len2);
	FUZZ_CHECK(len1 == len2 && memcmp(json1, json2, len1) == 0, "%s\nbecame\n%s", json1, json2);
	protobuf_c_message_free_unpacked(again, NULL);
	free(json1);
	free(json2);
}

/* The input is one byte picking the target, then the body. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const target *t;
	const char *body;
	size_t len;
	ProtobufCMessage *msg;
	char err[320];
	if (size == 0)
		return 0;
	t = &targets[data[0] % ntargets];
	body = (const char *)data + 1;
	len = size - 1;
	err[0] = '\0';
	if (t->route != NULL) {
		msg = transcode_body(t->route, body, len, err, sizeof(err));
	} else {
		json_error_t jerr;
		json_t *root =
		    json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
		if (root == NULL)
			return 0;
		msg = pbjson_decode(t->desc, root, err, sizeof(err));
		FUZZ_CHECK(msg == NULL || json_is_object(root),
			   "a JSON value not an object accepted");
		json_decref(root);
	}
	if (msg == NULL) {
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0',
			   "failed without a reason");
		return 0;
	}
	check_decoded(msg, t->desc);
	protobuf_c_message_free_unpacked(msg, NULL);
	return 0;
}
