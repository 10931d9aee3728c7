/* encode.c: protobuf-c message to compact JSON, by descriptor. */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbjson.h"

#define JSON_NAME_MAX 128

void pbjson_buf_init(pbjson_buf *buf)
{
	memset(buf, 0, sizeof(*buf));
}

void pbjson_buf_reset(pbjson_buf *buf)
{
	buf->len = 0;
	buf->failed = 0;
}

void pbjson_buf_fini(pbjson_buf *buf)
{
	free(buf->data);
	pbjson_buf_init(buf);
}

/* buf_reserve makes room for n more bytes; returns NULL (and marks buf failed) if it cannot. */
static char *buf_reserve(pbjson_buf *buf, size_t n)
{
	if (buf->failed)
		return NULL;
	if (buf->cap - buf->len < n) {
		size_t cap = buf->cap ? buf->cap : 256;
		char *data;
		while (cap - buf->len < n)
			cap *= 2;
		data = realloc(buf->data, cap);
		if (data == NULL) {
			buf->failed = 1;
			return NULL;
		}
		buf->data = data;
		buf->cap = cap;
	}
	return buf->data + buf->len;
}

void pbjson_buf_append(pbjson_buf *buf, const char *data, size_t len)
{
	char *p = buf_reserve(buf, len);
	if (p == NULL)
		return;
	memcpy(p, data, len);
	buf->len += len;
}

static void buf_putc(pbjson_buf *buf, char c)
{
	char *p = buf_reserve(buf, 1);
	if (p == NULL)
		return;
	*p = c;
	buf->len++;
}

#define buf_lit(buf, s) pbjson_buf_append((buf), (s), sizeof(s) - 1)

static void put_u64(pbjson_buf *buf, uint64_t v)
{
	char tmp[24];
	char *p = tmp + sizeof(tmp);
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	pbjson_buf_append(buf, p, (size_t)(tmp + sizeof(tmp) - p));
}

static void put_i64(pbjson_buf *buf, int64_t v)
{
	if (v < 0) {
		buf_putc(buf, '-');
		put_u64(buf, (uint64_t)0 - (uint64_t)v);
	} else {
		put_u64(buf, (uint64_t)v);
	}
}

/* put_double writes v as JavaScript's Number::toString does (ECMA-262 6.1.6.1.20): the
 * shortest digits that read back to v (to a float for floats), positional notation while the
 * decimal exponent is within -7 < e < 21, otherwise d.ddde+x; NaN and the infinities as proto3's
 * strings. */
static void put_double(pbjson_buf *buf, double v, int digits_max)
{
	char tmp[40], digits[24], out[48];
	const char *s = tmp;
	char *p = out;
	int ndigits = 0, exp10, n;
	if (isnan(v)) {
		buf_lit(buf, "\"NaN\"");
		return;
	}
	if (isinf(v)) {
		if (v > 0)
			buf_lit(buf, "\"Infinity\"");
		else
			buf_lit(buf, "\"-Infinity\"");
		return;
	}
	if (v == 0) {
		buf_putc(buf, '0');
		return;
	}
	for (int d = 1; d <= digits_max; d++) {
		snprintf(tmp, sizeof(tmp), "%.*e", d - 1, v);
		if ((digits_max == 9 && (float)strtod(tmp, NULL) == (float)v) ||
		    (digits_max == 17 && strtod(tmp, NULL) == v))
			break;
	}
	/* tmp is "[-]d[.ddd]e[+-]xx": take its digits and exponent apart */
	if (*s == '-') {
		*p++ = '-';
		s++;
	}
	for (; *s != 'e'; s++)
		if (*s != '.')
			digits[ndigits++] = *s;
	exp10 = atoi(s + 1);
	while (ndigits > 1 && digits[ndigits - 1] == '0')
		ndigits--;
	n = exp10 + 1; /* where the decimal point goes, ECMA-262's n */
	if (ndigits <= n && n <= 21) {
		memcpy(p, digits, (size_t)ndigits);
		p += ndigits;
		for (int i = ndigits; i < n; i++)
			*p++ = '0';
	} else if (0 < n && n <= 21) {
		memcpy(p, digits, (size_t)n);
		p += n;
		*p++ = '.';
		memcpy(p, digits + n, (size_t)(ndigits - n));
		p += ndigits - n;
	} else if (-6 < n && n <= 0) {
		*p++ = '0';
		*p++ = '.';
		for (int i = n; i < 0; i++)
			*p++ = '0';
		memcpy(p, digits, (size_t)ndigits);
		p += ndigits;
	} else {
		*p++ = digits[0];
		if (ndigits > 1) {
			*p++ = '.';
			memcpy(p, digits + 1, (size_t)(ndigits - 1));
			p += ndigits - 1;
		}
		p += snprintf(p, sizeof(out) - (size_t)(p - out), "e%c%d", exp10 < 0 ? '-' : '+',
			      exp10 < 0 ? -exp10 : exp10);
	}
	pbjson_buf_append(buf, out, (size_t)(p - out));
}

/* utf8_sequence returns the length of the valid UTF-8 sequence at s (at most left bytes), or 0. */
static size_t utf8_sequence(const unsigned char *s, size_t left)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t cp;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (left < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* utf8_invalid_length returns how many bytes at s (left > 0, not a valid sequence) one U+FFFD
 * replaces: the maximal subpart of the ill-formed sequence (Unicode ch. 3, "U+FFFD
 * Substitution of Maximal Subparts"), as the WHATWG decoder that Node and browsers use does. */
static size_t utf8_invalid_length(const unsigned char *s, size_t left)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t n, i;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 1;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	for (i = 1; i < n && i < left; i++) {
		if (s[i] < lo || s[i] > hi)
			break;
		lo = 0x80;
		hi = 0xbf;
	}
	return i;
}

long pbjson_utf8_length(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	long count = 0;
	for (size_t i = 0; i < len; count++) {
		size_t n;
		if (s[i] == 0)
			return -1;
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((n = utf8_sequence(s + i, len - i)) == 0)
			return -1;
		i += n;
	}
	return count;
}

int pbjson_encode_string(pbjson_buf *buf, const char *str, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0;
	buf_putc(buf, '"');
	while (i < len) {
		unsigned char c = s[i];
		size_t n, skip = 1;
		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0x80 && (n = utf8_sequence(s + i, len - i)) != 0) {
			i += n;
			continue;
		}
		pbjson_buf_append(buf, str + run, i - run);
		switch (c) {
		case '"':
			buf_lit(buf, "\\\"");
			break;
		case '\\':
			buf_lit(buf, "\\\\");
			break;
		case '\b':
			buf_lit(buf, "\\b");
			break;
		case '\f':
			buf_lit(buf, "\\f");
			break;
		case '\n':
			buf_lit(buf, "\\n");
			break;
		case '\r':
			buf_lit(buf, "\\r");
			break;
		case '\t':
			buf_lit(buf, "\\t");
			break;
		default:
			if (c < 0x20) {
				char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
				pbjson_buf_append(buf, esc, sizeof(esc));
			} else {
				/* bytes that are not valid UTF-8 */
				buf_lit(buf, "\\ufffd");
				skip = utf8_invalid_length(s + i, len - i);
			}
			break;
		}
		i += skip;
		run = i;
	}
	pbjson_buf_append(buf, str + run, len - run);
	buf_putc(buf, '"');
	return buf->failed ? -1 : 0;
}

static void put_base64(pbjson_buf *buf, const uint8_t *data, size_t len)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *p = buf_reserve(buf, 2 + (len + 2) / 3 * 4);
	size_t i;
	if (p == NULL)
		return;
	*p++ = '"';
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
		*p++ = alphabet[v >> 18];
		*p++ = alphabet[(v >> 12) & 63];
		*p++ = alphabet[(v >> 6) & 63];
		*p++ = alphabet[v & 63];
	}
	if (i < len) {
		uint32_t v =
		    (uint32_t)data[i] << 16 | (i + 1 < len ? (uint32_t)data[i + 1] << 8 : 0);
		*p++ = alphabet[v >> 18];
		*p++ = alphabet[(v >> 12) & 63];
		*p++ = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
		*p++ = '=';
	}
	*p++ = '"';
	buf->len = (size_t)(p - buf->data);
}

void pbjson_json_name(const char *name, char *out, size_t outlen)
{
	size_t n = 0;
	int upper = 0;
	if (outlen == 0)
		return;
	for (; *name != '\0' && n + 1 < outlen; name++) {
		if (*name == '_') {
			upper = 1;
			continue;
		}
		out[n++] =
		    upper && *name >= 'a' && *name <= 'z' ? (char)(*name - 'a' + 'A') : *name;
		upper = 0;
	}
	out[n] = '\0';
}

static void put_message(pbjson_buf *buf, const ProtobufCMessage *msg);

/* put_value writes one value of field's type stored at member. */
static void put_value(pbjson_buf *buf, const ProtobufCFieldDescriptor *field, const void *member)
{
	switch (field->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		put_i64(buf, *(const int32_t *)member);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		put_u64(buf, *(const uint32_t *)member);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		put_i64(buf, *(const int64_t *)member);
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		put_u64(buf, *(const uint64_t *)member);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		put_double(buf, *(const float *)member, 9);
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		put_double(buf, *(const double *)member, 17);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		if (*(const protobuf_c_boolean *)member)
			buf_lit(buf, "true");
		else
			buf_lit(buf, "false");
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		int v = *(const int *)member;
		const ProtobufCEnumValue *ev =
		    protobuf_c_enum_descriptor_get_value(field->descriptor, v);
		if (ev != NULL)
			pbjson_encode_string(buf, ev->name, strlen(ev->name));
		else
			put_i64(buf, v);
		break;
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)member;
		if (s == NULL)
			s = "";
		pbjson_encode_string(buf, s, strlen(s));
		break;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = member;
		put_base64(buf, b->data, b->len);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)member;
		if (sub != NULL)
			put_message(buf, sub);
		else
			buf_lit(buf, "null");
		break;
	}
	}
}

static void put_field(pbjson_buf *buf, const ProtobufCMessage *msg,
		      const ProtobufCFieldDescriptor *field)
{
	const char *member = (const char *)msg + field->offset;
	if (field->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t count = *(const size_t *)((const char *)msg + field->quantifier_offset);
		const char *array = *(char *const *)member;
		size_t size = pbjson_member_size(field->type);
		buf_putc(buf, '[');
		for (size_t i = 0; i < count; i++) {
			if (i > 0)
				buf_putc(buf, ',');
			put_value(buf, field, array + i * size);
		}
		buf_putc(buf, ']');
		return;
	}
	put_value(buf, field, member);
}

/* field_is_written says whether field appears in the object: every field does, except the
 * members of a oneof that is set to another member (or to none). */
static int field_is_written(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *field)
{
	if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		uint32_t which = *(const uint32_t *)((const char *)msg + field->quantifier_offset);
		return which == field->id;
	}
	return 1;
}

static void put_message(pbjson_buf *buf, const ProtobufCMessage *msg)
{
	const ProtobufCMessageDescriptor *desc = msg->descriptor;
	int first = 1;
	buf_putc(buf, '{');
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *field = &desc->fields[i];
		char name[JSON_NAME_MAX];
		if (!field_is_written(msg, field))
			continue;
		if (!first)
			buf_putc(buf, ',');
		first = 0;
		pbjson_json_name(field->name, name, sizeof(name));
		pbjson_encode_string(buf, name, strlen(name));
		buf_putc(buf, ':');
		put_field(buf, msg, field);
	}
	buf_putc(buf, '}');
}

int pbjson_encode_message(pbjson_buf *buf, const ProtobufCMessage *msg)
{
	put_message(buf, msg);
	return buf->failed ? -1 : 0;
}

int pbjson_encode_field(pbjson_buf *buf, const ProtobufCMessage *msg,
			const ProtobufCFieldDescriptor *field)
{
	put_field(buf, msg, field);
	return buf->failed ? -1 : 0;
}

size_t pbjson_member_size(ProtobufCType type)
{
	switch (type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	default:
		return 4;
	}
}
