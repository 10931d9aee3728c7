/* schema.c: JSON Schemas of protobuf messages, fields and parameters as the edge and pbjson read
 * and write them, and the rules of a manifest's fields: on a request's fields. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pbjson.h"
#include "schema.h"

#define NAME_MAX_LEN 256
#define REF_PREFIX   "#/components/schemas/"

int openapi_schemas_init(openapi_schemas *s)
{
	s->components = json_object();
	s->in_replies = json_object();
	s->failed = s->components == NULL || s->in_replies == NULL;
	return s->failed ? -1 : 0;
}

void openapi_schemas_fini(openapi_schemas *s)
{
	json_decref(s->components);
	json_decref(s->in_replies);
	s->components = s->in_replies = NULL;
}

/* set sets obj[key] to value, taking value; a NULL value or a failure marks s failed. */
static void set(openapi_schemas *s, json_t *obj, const char *key, json_t *value)
{
	if (value == NULL || json_object_set_new(obj, key, value) != 0) /* takes value anyway */
		s->failed = 1;
}

/* append appends value to array, taking value; a failure marks s failed. */
static void append(openapi_schemas *s, json_t *array, json_t *value)
{
	if (value == NULL || json_array_append_new(array, value) != 0) /* takes value anyway */
		s->failed = 1;
}

/* typed returns {"type": type} with "format": format unless format is NULL. */
static json_t *typed(openapi_schemas *s, const char *type, const char *format)
{
	json_t *o = json_object();
	set(s, o, "type", json_string(type));
	if (format != NULL)
		set(s, o, "format", json_string(format));
	return o;
}

static json_t *ref(const char *name)
{
	char text[NAME_MAX_LEN + sizeof(REF_PREFIX)];
	snprintf(text, sizeof(text), REF_PREFIX "%s", name);
	return json_pack("{s:s}", "$ref", text);
}

void openapi_schemas_note_reply(openapi_schemas *s, const ProtobufCMessageDescriptor *desc)
{
	if (json_object_get(s->in_replies, desc->name) != NULL)
		return;
	set(s, s->in_replies, desc->name, json_true());
	for (unsigned i = 0; i < desc->n_fields; i++)
		if (desc->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
			openapi_schemas_note_reply(s, desc->fields[i].descriptor);
}

/* component_name writes the name of desc's component for requests or replies into out. */
static void component_name(const openapi_schemas *s, const ProtobufCMessageDescriptor *desc,
			   int request, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s%s", desc->name,
		 request && json_object_get(s->in_replies, desc->name) != NULL ? ".Request" : "");
}

/* enum_ref returns a {"$ref"} to the schema of an enum: its value names, as pbjson writes them
 * (and reads them; it also reads their numbers). */
static json_t *enum_ref(openapi_schemas *s, const ProtobufCEnumDescriptor *desc)
{
	if (json_object_get(s->components, desc->name) == NULL) {
		json_t *schema = typed(s, "string", NULL), *names = json_array();
		for (unsigned i = 0; i < desc->n_values; i++)
			append(s, names, json_string(desc->values[i].name));
		set(s, schema, "enum", names);
		set(s, s->components, desc->name, schema);
	}
	return ref(desc->name);
}

static json_t *message_ref(openapi_schemas *s, const ProtobufCMessageDescriptor *desc, int request);

/* value_schema returns the schema of one value of field f (an element, if it is repeated). A
 * request's numbers are read as JSON numbers only; a reply writes a float's NaN and infinities
 * as proto3's strings. 64-bit integers are JSON numbers both ways (the contract). */
static json_t *value_schema(openapi_schemas *s, const ProtobufCFieldDescriptor *f, int request)
{
	json_t *o;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return typed(s, "integer", "int32");
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		o = typed(s, "integer", "int64");
		set(s, o, "minimum", json_integer(0));
		set(s, o, "maximum", json_integer(UINT32_MAX));
		return o;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return typed(s, "integer", "int64");
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		/* read up to 2^63-1 (an int64), written up to 2^64-1 */
		o = typed(s, "integer", request ? "int64" : NULL);
		set(s, o, "minimum", json_integer(0));
		return o;
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE: {
		const char *format = f->type == PROTOBUF_C_TYPE_FLOAT ? "float" : "double";
		if (request)
			return typed(s, "number", format);
		o = typed(s, "string", NULL);
		set(s, o, "enum", json_pack("[sss]", "NaN", "Infinity", "-Infinity"));
		return json_pack("{s:[oo]}", "oneOf", typed(s, "number", format), o);
	}
	case PROTOBUF_C_TYPE_BOOL:
		return typed(s, "boolean", NULL);
	case PROTOBUF_C_TYPE_STRING:
		return typed(s, "string", NULL);
	case PROTOBUF_C_TYPE_BYTES:
		o = typed(s, "string", NULL);
		set(s, o, "contentEncoding", json_string("base64"));
		return o;
	case PROTOBUF_C_TYPE_ENUM:
		return enum_ref(s, f->descriptor);
	case PROTOBUF_C_TYPE_MESSAGE:
		return message_ref(s, f->descriptor, request);
	}
	return NULL;
}

/* field_schema returns the schema of field f: an array of its values if it is repeated; a
 * message, or null for an unset one. */
static json_t *field_schema(openapi_schemas *s, const ProtobufCFieldDescriptor *f, int request)
{
	json_t *value = value_schema(s, f, request);
	if (value == NULL)
		return NULL;
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return json_pack("{s:s,s:o}", "type", "array", "items", value);
	if (f->type == PROTOBUF_C_TYPE_MESSAGE)
		return json_pack("{s:[o{s:s}]}", "anyOf", value, "type", "null");
	return value;
}

/* zero_const returns what "not" holds to refuse f's zero value (proto3 cannot tell it from
 * absent), or NULL where the zero value is no JSON constant. */
static json_t *zero_const(const ProtobufCFieldDescriptor *f)
{
	const ProtobufCEnumValue *zero;
	switch (f->type) {
	case PROTOBUF_C_TYPE_BOOL:
		return json_pack("{s:b}", "const", 0);
	case PROTOBUF_C_TYPE_ENUM:
		zero = protobuf_c_enum_descriptor_get_value(f->descriptor, 0);
		return zero != NULL ? json_pack("{s:s}", "const", zero->name) : NULL;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_MESSAGE:
		return NULL; /* minLength and no null say it */
	default:
		return json_pack("{s:i}", "const", 0);
	}
}

/* apply_rule narrows schema, field f's, by rule, and adds f's JSON name to required if the rule
 * requires it: given, and not its zero value. Returns the schema (a new one for a required
 * message, which is then no longer nullable). */
static json_t *apply_rule(openapi_schemas *s, json_t *schema, const ProtobufCFieldDescriptor *f,
			  const manifest_field *rule, const char *json_name, json_t *required)
{
	long min_length = rule->min_length;
	int zero_refused = 0;
	if (rule->required && f->type == PROTOBUF_C_TYPE_MESSAGE) {
		json_t *plain = json_incref(json_array_get(json_object_get(schema, "anyOf"), 0));
		json_decref(schema);
		schema =
		    plain != NULL ? json_deep_copy(plain) : NULL; /* a $ref, siblings to come */
		json_decref(plain);
	}
	if (schema == NULL)
		return NULL;
	if (rule->description != NULL)
		set(s, schema, "description", json_string(rule->description));
	if (rule->required &&
	    (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_BYTES))
		min_length = min_length < 1 ? 1 : min_length;
	if (min_length > 0)
		set(s, schema, "minLength", json_integer(min_length));
	if (rule->max_length >= 0)
		set(s, schema, "maxLength", json_integer(rule->max_length));
	if (rule->pattern != NULL)
		set(s, schema, "pattern", json_string(rule->pattern));
	if (rule->has_minimum) {
		set(s, schema, "minimum", json_integer(rule->minimum));
		zero_refused |= rule->minimum > 0;
	}
	if (rule->has_maximum) {
		set(s, schema, "maximum", json_integer(rule->maximum));
		zero_refused |= rule->maximum < 0;
	}
	if (rule->required) {
		json_t *zero = zero_refused ? NULL : zero_const(f);
		if (zero != NULL)
			set(s, schema, "not", zero);
		append(s, required, json_string(json_name));
	}
	return schema;
}

/* object_schema returns the schema of a message of type desc: its fields by JSON name, in
 * schema order. A reply writes every field (every one is required) but the members of a oneof
 * that is not set to them; a request may leave any out (m's rules of rpc say what it may not,
 * m NULL: none), and names no other (additionalProperties; it may give a field by its proto name
 * too), and the fields named in skip are not in it. */
static json_t *object_schema(openapi_schemas *s, const ProtobufCMessageDescriptor *desc,
			     int request, const manifest *m, const char *rpc,
			     const char *const *skip, size_t nskip)
{
	json_t *schema = typed(s, "object", NULL), *props = json_object(), *required = json_array();
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		const manifest_field *rule =
		    m != NULL ? manifest_field_find(m, rpc, f->name) : NULL;
		char json_name[NAME_MAX_LEN];
		json_t *fs;
		size_t k = 0;
		while (k < nskip && strcmp(skip[k], f->name) != 0)
			k++;
		if (k < nskip)
			continue;
		pbjson_json_name(f->name, json_name, sizeof(json_name));
		fs = field_schema(s, f, request);
		if (fs != NULL && rule != NULL)
			fs = apply_rule(s, fs, f, rule, json_name, required);
		set(s, props, json_name, fs);
		if (!request && !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			append(s, required, json_string(json_name));
	}
	set(s, schema, "properties", props);
	if (json_array_size(required) > 0)
		set(s, schema, "required", required);
	else
		json_decref(required);
	if (request)
		set(s, schema, "additionalProperties", json_false());
	return schema;
}

/* message_ref returns a {"$ref"} to desc's component for requests or replies (without rules),
 * adding it first if it is not there. A placeholder holds its name while it is made, so a
 * message that holds itself refers to it. */
static json_t *message_ref(openapi_schemas *s, const ProtobufCMessageDescriptor *desc, int request)
{
	char name[NAME_MAX_LEN];
	component_name(s, desc, request, name, sizeof(name));
	if (json_object_get(s->components, name) == NULL) {
		set(s, s->components, name, json_null());
		set(s, s->components, name, object_schema(s, desc, request, NULL, NULL, NULL, 0));
	}
	return ref(name);
}

json_t *openapi_schema_reply(openapi_schemas *s, const ProtobufCMessageDescriptor *desc)
{
	json_t *r = message_ref(s, desc, 0);
	return s->failed ? (json_decref(r), NULL) : r;
}

json_t *openapi_schema_reply_field(openapi_schemas *s, const ProtobufCFieldDescriptor *f)
{
	json_t *schema = field_schema(s, f, 0);
	return s->failed ? (json_decref(schema), NULL) : schema;
}

json_t *openapi_schema_request(openapi_schemas *s, const ProtobufCMessageDescriptor *desc,
			       const manifest *m, const char *rpc, const char *const *skip,
			       size_t nskip, char *err, size_t errlen)
{
	char name[NAME_MAX_LEN], base[NAME_MAX_LEN];
	json_t *schema, *existing;
	size_t skipped = 0;
	for (size_t k = 0; k < nskip; k++)
		skipped += protobuf_c_message_descriptor_get_field_by_name(desc, skip[k]) != NULL;
	component_name(s, desc, 1, base, sizeof(base));
	if (skipped > 0)
		snprintf(name, sizeof(name), "%.200s.%.40sBody", base, rpc);
	else
		snprintf(name, sizeof(name), "%s", base);
	schema = object_schema(s, desc, 1, m, rpc, skip, nskip);
	existing = json_object_get(s->components, name);
	if (s->failed || schema == NULL) {
		json_decref(schema);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (existing != NULL && !json_equal(existing, schema)) {
		json_decref(schema);
		snprintf(err, errlen,
			 "%s: %s's request %s is also another method's, with other fields: rules "
			 "(give both the same)",
			 m->file, rpc, desc->name);
		return NULL;
	}
	if (existing == NULL)
		set(s, s->components, name, schema);
	else
		json_decref(schema);
	return ref(name);
}

json_t *openapi_schema_parameter(const ProtobufCFieldDescriptor *f, const manifest_field *rule,
				 int in_path)
{
	openapi_schemas none = {0};
	json_t *schema;
	int64_t min = in_path ? 1 : 0, max = INT64_MAX;
	int bounded = 1;
	if (f->type == PROTOBUF_C_TYPE_STRING) {
		schema = typed(&none, "string", NULL);
		set(&none, schema, "minLength", json_integer(1));
		if (rule != NULL && rule->min_length > 1)
			set(&none, schema, "minLength", json_integer(rule->min_length));
		if (rule != NULL && rule->max_length >= 0)
			set(&none, schema, "maxLength", json_integer(rule->max_length));
		if (rule != NULL && rule->pattern != NULL)
			set(&none, schema, "pattern", json_string(rule->pattern));
		return none.failed ? (json_decref(schema), NULL) : schema;
	}
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
		schema = typed(&none, "integer", "int32");
		max = INT32_MAX;
		break;
	case PROTOBUF_C_TYPE_UINT32:
		schema = typed(&none, "integer", "int64");
		max = UINT32_MAX;
		break;
	case PROTOBUF_C_TYPE_UINT64:
		schema =
		    typed(&none, "integer", NULL); /* up to 2^64-1: beyond a JSON integer here */
		bounded = 0;
		break;
	default:
		schema = typed(&none, "integer", "int64");
		break;
	}
	if (rule != NULL && rule->has_minimum && rule->minimum > min)
		min = rule->minimum;
	if (rule != NULL && rule->has_maximum && (!bounded || rule->maximum < max)) {
		max = rule->maximum;
		bounded = 1;
	}
	set(&none, schema, "minimum", json_integer(min));
	if (bounded)
		set(&none, schema, "maximum", json_integer(max));
	return none.failed ? (json_decref(schema), NULL) : schema;
}
