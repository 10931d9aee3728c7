/* fuzz_json_encode.c: fuzzes pbjson_encode_message on whatever protobuf-c unpacks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "mesh.pb-c.h"
#include "pbjson.h"
#include "registry.h"
#include "sample.pb-c.h"

#define MAX_TARGETS 64

static const ProtobufCMessageDescriptor *targets[MAX_TARGETS];
static size_t ntargets;

/* add adds desc and every message type its fields hold. */
static void add(const ProtobufCMessageDescriptor *desc)
{
	for (size_t i = 0; i < ntargets; i++)
		if (targets[i] == desc)
			return;
	FUZZ_CHECK(ntargets < MAX_TARGETS, "too many targets");
	targets[ntargets++] = desc;
	for (unsigned i = 0; i < desc->n_fields; i++)
		if (desc->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
			add(desc->fields[i].descriptor);
}

/* The targets, in a fixed order (the first input byte picks one, modulo their number): sample's
 * Everything and Inner, mesh's Call and Reply, then for every registered service each method's
 * request and reply, and the messages inside them. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	add(&sample__everything__descriptor);
	add(&sample__inner__descriptor);
	add(&mesh__call__descriptor);
	add(&mesh__reply__descriptor);
	for (size_t i = 0; registry_services[i] != NULL; i++) {
		for (unsigned m = 0; m < registry_services[i]->n_methods; m++) {
			add(registry_services[i]->methods[m].input);
			add(registry_services[i]->methods[m].output);
		}
	}
	return 0;
}

/* field_is_written says whether the encoder writes field: all but the members of a oneof other
 * than the one set. */
static int field_is_written(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *field)
{
	if (!(field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
		return 1;
	return *(const uint32_t *)((const char *)msg + field->quantifier_offset) == field->id;
}

/* parse parses len bytes of JSON (any value; integers as reals, since uint64 values may be past
 * what jansson reads as integers), aborting if they are not valid JSON. */
static json_t *parse(const char *text, size_t len, const char *what)
{
	json_error_t jerr;
	json_t *v = json_loadb(
	    text, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | JSON_REJECT_DUPLICATES, &jerr);
	FUZZ_CHECK(v != NULL, "%s is not valid JSON: %s (column %d): %.*s", what, jerr.text,
		   jerr.column, (int)len, text);
	return v;
}

/* check_fields checks obj, msg's encoding: one key per written field, in schema order, with the
 * field's JSON name, holding what pbjson_encode_field writes for it. */
static void check_fields(const ProtobufCMessage *msg, json_t *obj)
{
	const ProtobufCMessageDescriptor *desc = msg->descriptor;
	void *it = json_object_iter(obj);
	pbjson_buf buf;
	size_t written = 0;
	pbjson_buf_init(&buf);
	FUZZ_CHECK(json_is_object(obj), "%s: not an object", desc->name);
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *field = &desc->fields[i];
		char name[128];
		json_t *value;
		if (!field_is_written(msg, field))
			continue;
		written++;
		pbjson_json_name(field->name, name, sizeof(name));
		FUZZ_CHECK(it != NULL && strcmp(json_object_iter_key(it), name) == 0,
			   "%s: key '%s' is not field %s", desc->name,
			   it != NULL ? json_object_iter_key(it) : "(none)", name);
		pbjson_buf_reset(&buf);
		FUZZ_CHECK(pbjson_encode_field(&buf, msg, field) == 0, "encode_field failed");
		value = parse(buf.data, buf.len, "a field's encoding");
		FUZZ_CHECK(json_equal(value, json_object_iter_value(it)),
			   "%s.%s alone is not what the object holds", desc->name, name);
		json_decref(value);
		it = json_object_iter_next(obj, it);
	}
	FUZZ_CHECK(json_object_size(obj) == written, "%s: %zu keys for %zu fields", desc->name,
		   json_object_size(obj), written);
	pbjson_buf_fini(&buf);
}

/* check_fixpoint: when the JSON decodes again (it need not: uint64 values past 2^63, NaN, enum
 * numbers without a name), the message it gives encodes to the same JSON value. (Not the same
 * text: bytes that are not UTF-8 are written as the escape \ufffd, a real U+FFFD as itself.) */
static void check_fixpoint(const ProtobufCMessageDescriptor *desc, const pbjson_buf *json)
{
	json_error_t jerr;
	json_t *root = json_loadb(json->data, json->len, JSON_REJECT_DUPLICATES, &jerr), *root2;
	ProtobufCMessage *again;
	pbjson_buf buf;
	char err[320];
	if (root == NULL)
		return; /* an integer past jansson's json_int_t */
	again = pbjson_decode(desc, root, err, sizeof(err));
	if (again == NULL) {
		json_decref(root);
		return;
	}
	pbjson_buf_init(&buf);
	FUZZ_CHECK(pbjson_encode_message(&buf, again) == 0, "encode failed");
	root2 = json_loadb(buf.data, buf.len, JSON_REJECT_DUPLICATES, &jerr);
	FUZZ_CHECK(root2 != NULL && json_equal(root, root2),
		   "%.*s\ndecoded and encoded again is\n%.*s", (int)json->len, json->data,
		   (int)buf.len, buf.data);
	json_decref(root2);
	json_decref(root);
	pbjson_buf_fini(&buf);
	protobuf_c_message_free_unpacked(again, NULL);
}

/* The input is one byte picking the message type, then the packed message. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const ProtobufCMessageDescriptor *desc;
	ProtobufCMessage *msg;
	pbjson_buf buf;
	json_t *root;
	if (size == 0)
		return 0;
	desc = targets[data[0] % ntargets];
	msg = protobuf_c_message_unpack(desc, NULL, size - 1, data + 1);
	if (msg == NULL)
		return 0;
	pbjson_buf_init(&buf);
	FUZZ_CHECK(pbjson_encode_message(&buf, msg) == 0, "encode failed");
	root = parse(buf.data, buf.len, "the message's encoding");
	check_fields(msg, root);
	json_decref(root);
	check_fixpoint(desc, &buf);
	pbjson_buf_fini(&buf);
	protobuf_c_message_free_unpacked(msg, NULL);
	return 0;
}
