/* decode.c: JSON (parsed by jansson) to protobuf-c message, by descriptor. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbjson.h"

#define JSON_NAME_MAX 128

/* field_for_key finds the field named key by JSON name or proto name. */
static const ProtobufCFieldDescriptor *field_for_key(const ProtobufCMessageDescriptor *desc,
						     const char *key)
{
	for (unsigned i = 0; i < desc->n_fields; i++) {
		char json_name[JSON_NAME_MAX];
		pbjson_json_name(desc->fields[i].name, json_name, sizeof(json_name));
		if (strcmp(key, json_name) == 0 || strcmp(key, desc->fields[i].name) == 0)
			return &desc->fields[i];
	}
	return NULL;
}

/* decode_int reads a JSON number with an integral value within [min, max]. */
static int decode_int(const json_t *v, json_int_t min, json_int_t max, json_int_t *out)
{
	json_int_t n;
	if (json_is_integer(v)) {
		n = json_integer_value(v);
	} else if (json_is_real(v)) {
		double d = json_real_value(v);
		if (d != floor(d) || d < -9.2e18 || d > 9.2e18)
			return -1;
		n = (json_int_t)d;
	} else {
		return -1;
	}
	if (n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

static int decode_message_into(const ProtobufCMessageDescriptor *desc, const json_t *obj,
			       ProtobufCMessage *msg, const char *path, char *err, size_t errlen);

/* base64_value returns the value of a base64 digit, standard or URL-safe alphabet, or -1. */
static int base64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/* decode_value stores v, of field's type, at member. path names the value in errors. */
static int decode_value(const ProtobufCFieldDescriptor *field, const json_t *v, void *member,
			const char *path, char *err, size_t errlen)
{
	json_int_t n;
	switch (field->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		if (decode_int(v, INT32_MIN, INT32_MAX, &n) != 0)
			goto out_type;
		*(int32_t *)member = (int32_t)n;
		return 0;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if (decode_int(v, 0, UINT32_MAX, &n) != 0)
			goto out_type;
		*(uint32_t *)member = (uint32_t)n;
		return 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if (decode_int(v, INT64_MIN, INT64_MAX, &n) != 0)
			goto out_type;
		*(int64_t *)member = (int64_t)n;
		return 0;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		if (decode_int(v, 0, INT64_MAX, &n) != 0)
			goto out_type;
		*(uint64_t *)member = (uint64_t)n;
		return 0;
	case PROTOBUF_C_TYPE_FLOAT:
		/* past FLT_MAX and half its last digit (2^103), a number rounds to infinity */
		if (!json_is_number(v) || fabs(json_number_value(v)) >= (double)FLT_MAX + 0x1p103)
			goto out_type;
		*(float *)member = (float)json_number_value(v);
		return 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		if (!json_is_number(v))
			goto out_type;
		*(double *)member = json_number_value(v);
		return 0;
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(v))
			goto out_type;
		*(protobuf_c_boolean *)member = json_is_true(v);
		return 0;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *ev = NULL;
		if (json_is_string(v))
			ev = protobuf_c_enum_descriptor_get_value_by_name(field->descriptor,
									  json_string_value(v));
		else if (json_is_integer(v) && json_integer_value(v) >= INT32_MIN &&
			 json_integer_value(v) <= INT32_MAX)
			ev = protobuf_c_enum_descriptor_get_value(field->descriptor,
								  (int)json_integer_value(v));
		if (ev == NULL)
			goto out_type;
		*(int *)member = ev->value;
		return 0;
	}
	case PROTOBUF_C_TYPE_STRING: {
		char *s;
		if (!json_is_string(v))
			goto out_type;
		s = malloc(json_string_length(v) + 1);
		if (s == NULL)
			goto out_oom;
		memcpy(s, json_string_value(v), json_string_length(v) + 1);
		*(char **)member = s;
		return 0;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *b = member;
		const char *s;
		size_t len, n = 0;
		uint32_t acc = 0;
		int bits = 0;
		uint8_t *data;
		if (!json_is_string(v))
			goto out_type;
		s = json_string_value(v);
		len = json_string_length(v);
		for (int pad = 0; pad < 2 && len > 0 && s[len - 1] == '='; pad++)
			len--;
		if (len % 4 == 1)
			goto out_base64;
		data = malloc(len * 3 / 4 + 1);
		if (data == NULL)
			goto out_oom;
		for (size_t i = 0; i < len; i++) {
			int d = base64_value((unsigned char)s[i]);
			if (d < 0) {
				free(data);
				goto out_base64;
			}
			acc = (acc << 6 | (uint32_t)d) & 0xffffff;
			bits += 6;
			if (bits >= 8) {
				bits -= 8;
				data[n++] = (uint8_t)(acc >> bits);
			}
		}
		b->data = data;
		b->len = n;
		return 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessageDescriptor *sub_desc = field->descriptor;
		ProtobufCMessage *sub;
		if (json_is_null(v))
			return 0;
		if (!json_is_object(v))
			goto out_type;
		sub = malloc(sub_desc->sizeof_message);
		if (sub == NULL)
			goto out_oom;
		sub_desc->message_init(sub);
		*(ProtobufCMessage **)member = sub; /* freed with the parent on failure */
		return decode_message_into(sub_desc, v, sub, path, err, errlen);
	}
	}
out_type:
	snprintf(err, errlen, "field '%s': wrong type or out of range", path);
	return -1;
out_oom:
	snprintf(err, errlen, "field '%s': out of memory", path);
	return -1;
out_base64:
	snprintf(err, errlen, "field '%s': not base64", path);
	return -1;
}

static int decode_repeated(const ProtobufCFieldDescriptor *field, const json_t *v,
			   ProtobufCMessage *msg, const char *path, char *err, size_t errlen)
{
	size_t count = json_array_size(v), size = pbjson_member_size(field->type);
	size_t *n = (size_t *)((char *)msg + field->quantifier_offset);
	char **array = (char **)((char *)msg + field->offset);
	if (!json_is_array(v)) {
		snprintf(err, errlen, "field '%s': expected an array", path);
		return -1;
	}
	if (count == 0)
		return 0;
	*array = calloc(count, size);
	if (*array == NULL) {
		snprintf(err, errlen, "field '%s': out of memory", path);
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		char item_path[256];
		snprintf(item_path, sizeof(item_path), "%.200s[%zu]", path, i);
		if (json_is_null(json_array_get(v, i))) {
			snprintf(err, errlen, "field '%s': null in a list", item_path);
			return -1;
		}
		/* Count each element as it is stored, so a failure frees exactly what was made. */
		*n = i + 1;
		if (decode_value(field, json_array_get(v, i), *array + i * size, item_path, err,
				 errlen) != 0)
			return -1;
	}
	return 0;
}

static int decode_message_into(const ProtobufCMessageDescriptor *desc, const json_t *obj,
			       ProtobufCMessage *msg, const char *path, char *err, size_t errlen)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key, v)
	{
		const ProtobufCFieldDescriptor *field = field_for_key(desc, key);
		char field_path[256];
		void *member;
		snprintf(field_path, sizeof(field_path), "%.120s%s%.120s", path, *path ? "." : "",
			 key);
		if (field == NULL) {
			snprintf(err, errlen, "unknown field '%s'", field_path);
			return -1;
		}
		/* a field under its JSON name and its proto name: the second would overwrite (and
		 * leak) the first */
		if (strcmp(key, field->name) != 0 && json_object_get(obj, field->name) != NULL) {
			snprintf(err, errlen, "field '%s' is given twice (also as '%s')",
				 field_path, field->name);
			return -1;
		}
		if (field->label == PROTOBUF_C_LABEL_REPEATED) {
			if (decode_repeated(field, v, msg, field_path, err, errlen) != 0)
				return -1;
			continue;
		}
		member = (char *)msg + field->offset;
		if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			/* the members share storage: only one of them may be given */
			uint32_t set = *(uint32_t *)((char *)msg + field->quantifier_offset);
			if (set != 0 && set != field->id) {
				snprintf(err, errlen,
					 "field '%s': another member of its oneof is set",
					 field_path);
				return -1;
			}
		}
		if (field->type == PROTOBUF_C_TYPE_STRING && json_is_string(v)) {
			/* replace the default (static) string only once decoding succeeds */
			char *old = *(char **)member;
			if (decode_value(field, v, member, field_path, err, errlen) != 0)
				return -1;
			if (old != NULL && old != (const char *)field->default_value)
				free(old);
		} else if (decode_value(field, v, member, field_path, err, errlen) != 0) {
			return -1;
		}
		if (field->label == PROTOBUF_C_LABEL_OPTIONAL && field->quantifier_offset != 0 &&
		    field->type != PROTOBUF_C_TYPE_STRING && field->type != PROTOBUF_C_TYPE_MESSAGE)
			*(protobuf_c_boolean *)((char *)msg + field->quantifier_offset) = 1;
		if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
			*(uint32_t *)((char *)msg + field->quantifier_offset) = field->id;
	}
	return 0;
}

ProtobufCMessage *pbjson_decode(const ProtobufCMessageDescriptor *desc, const json_t *obj,
				char *err, size_t errlen)
{
	ProtobufCMessage *msg;
	if (!json_is_object(obj)) {
		snprintf(err, errlen, "expected a JSON object");
		return NULL;
	}
	msg = malloc(desc->sizeof_message);
	if (msg == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	desc->message_init(msg);
	if (decode_message_into(desc, obj, msg, "", err, errlen) != 0) {
		protobuf_c_message_free_unpacked(msg, NULL);
		return NULL;
	}
	return msg;
}

/* skip_space returns the first byte at or after p that is not JSON whitespace. */
static const char *skip_space(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* line_of returns the 1-based line of p in text. */
static int line_of(const char *text, const char *p)
{
	int line = 1;
	for (const char *c = text; c < p; c++)
		line += *c == '\n';
	return line;
}

/* read_file reads path whole; the caller frees *out. Returns 0 or an errno value. */
static int read_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	size_t n = 0, cap = 0, got;
	if (f == NULL)
		return errno;
	do {
		if (cap - n < 65536) {
			char *grown = realloc(data, cap ? cap * 2 : 1 << 20);
			if (grown == NULL) {
				free(data);
				fclose(f);
				return ENOMEM;
			}
			data = grown;
			cap = cap ? cap * 2 : 1 << 20;
		}
		got = fread(data + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	if (ferror(f)) {
		int err = errno ? errno : EIO;
		free(data);
		fclose(f);
		return err;
	}
	fclose(f);
	*out = data;
	*len = n;
	return 0;
}

int pbjson_load_array(const char *path, const ProtobufCMessageDescriptor *desc,
		      ProtobufCMessage ***out, size_t *n, char *err, size_t errlen)
{
	ProtobufCMessage **msgs = NULL;
	size_t count = 0, cap = 0, len = 0;
	const char *p, *end;
	char *text = NULL;
	int rv = read_file(path, &text, &len);
	if (rv != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(rv));
		return -1;
	}
	/* One element at a time: a large file never sits in memory as one JSON tree. */
	end = text + len;
	p = skip_space(text, end);
	if (p == end || *p != '[') {
		snprintf(err, errlen, "%s:%d: expected a JSON array of %s objects", path,
			 line_of(text, p), desc->name);
		goto out_fail;
	}
	p = skip_space(p + 1, end);
	if (p < end && *p == ']')
		p++;
	else {
		for (;;) {
			json_error_t jerr;
			json_t *v;
			char why[256];
			if (count == cap) {
				ProtobufCMessage **grown;
				cap = cap ? cap * 2 : 64;
				grown = realloc(msgs, cap * sizeof(*msgs));
				if (grown == NULL) {
					snprintf(err, errlen, "%s: out of memory", path);
					goto out_fail;
				}
				msgs = grown;
			}
			v = json_loadb(p, (size_t)(end - p),
				       JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY |
					   JSON_REJECT_DUPLICATES,
				       &jerr);
			if (v == NULL) {
				snprintf(err, errlen, "%s:%d:%d: %s", path,
					 line_of(text, p) + jerr.line - 1, jerr.column, jerr.text);
				goto out_fail;
			}
			msgs[count] = pbjson_decode(desc, v, why, sizeof(why));
			json_decref(v);
			if (msgs[count] == NULL) {
				snprintf(err, errlen, "%s:%d: element %zu: %s", path,
					 line_of(text, p), count, why);
				goto out_fail;
			}
			count++;
			p = skip_space(p + jerr.position, end);
			if (p < end && *p == ',') {
				p = skip_space(p + 1, end);
				continue;
			}
			if (p < end && *p == ']') {
				p++;
				break;
			}
			snprintf(err, errlen, "%s:%d: expected ',' or ']' after element %zu", path,
				 line_of(text, p), count - 1);
			goto out_fail;
		}
	}
	if (skip_space(p, end) != end) {
		snprintf(err, errlen, "%s:%d: unexpected text after the array", path,
			 line_of(text, skip_space(p, end)));
		goto out_fail;
	}
	free(text);
	*out = msgs != NULL ? msgs : calloc(1, sizeof(*msgs));
	*n = count;
	return *out != NULL ? 0 : -1;

out_fail:
	for (size_t i = 0; i < count; i++)
		protobuf_c_message_free_unpacked(msgs[i], NULL);
	free(msgs);
	free(text);
	return -1;
}
