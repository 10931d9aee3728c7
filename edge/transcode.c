/* transcode.c: path parameters into request fields by descriptor; replies and errors into JSON. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "transcode.h"

/* utf8_valid says whether s (len bytes) is valid UTF-8 with no NUL. */
static int utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		uint32_t cp;
		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 2, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 3, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 4, cp = c & 0x07;
		else
			return 0;
		if (len - i < n)
			return 0;
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n;
	}
	return 1;
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

int transcode_params(const route *r, const route_path *path, ProtobufCMessage *msg, char *err,
		     size_t errlen)
{
	for (size_t i = 0; i < r->nsegments; i++) {
		const route_segment *seg = &r->segments[i];
		const char *value = path->segments[i];
		size_t len = path->lengths[i];
		void *member;
		uint64_t n;
		if (!seg->is_param)
			continue;
		member = (char *)msg + seg->field->offset;
		if (seg->field->type == PROTOBUF_C_TYPE_STRING) {
			if (len == 0 || !utf8_valid((const unsigned char *)value, len)) {
				snprintf(err, errlen, "{%s} must be non-empty UTF-8 text",
					 seg->text);
				return -1;
			}
			*(const char **)member = value;
			continue;
		}
		if (route_parse_id(value, len, field_max(seg->field->type), &n) != 0) {
			snprintf(err, errlen,
				 "{%s} must be decimal digits from 1 to %llu, not '%.*s'",
				 seg->text, (unsigned long long)field_max(seg->field->type),
				 len > 64 ? 64 : (int)len, value);
			return -1;
		}
		switch (seg->field->type) {
		case PROTOBUF_C_TYPE_INT32:
			*(int32_t *)member = (int32_t)n;
			break;
		case PROTOBUF_C_TYPE_UINT32:
			*(uint32_t *)member = (uint32_t)n;
			break;
		case PROTOBUF_C_TYPE_UINT64:
			*(uint64_t *)member = n;
			break;
		default:
			*(int64_t *)member = (int64_t)n;
			break;
		}
	}
	return 0;
}

int transcode_reply(const route *r, const ProtobufCMessage *reply, pbjson_buf *buf)
{
	if (r->body_field != NULL)
		return pbjson_encode_field(buf, reply, r->body_field);
	return pbjson_encode_message(buf, reply);
}

int transcode_error(pbjson_buf *buf, const char *code, const char *message)
{
	pbjson_buf_append(buf, "{\"code\":", 8);
	pbjson_encode_string(buf, code, strlen(code));
	pbjson_buf_append(buf, ",\"message\":", 11);
	pbjson_encode_string(buf, message, strlen(message));
	pbjson_buf_append(buf, "}", 1);
	return buf->failed ? -1 : 0;
}
