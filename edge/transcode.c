/* transcode.c: path parameters into request fields by descriptor; replies and errors into JSON. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "transcode.h"

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

/* set_integer stores n in an integer field of msg. */
static void set_integer(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, uint64_t n)
{
	void *member = (char *)msg + f->offset;
	switch (f->type) {
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
			if (len == 0 || pbjson_utf8_length(value, len) < 0) {
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
		set_integer(msg, seg->field, n);
	}
	return 0;
}

/* query_decode percent-decodes (and turns '+' into ' ') len bytes of s into out (NUL-ended);
 * returns the decoded length, or -1 for a bad escape or too long a value. */
static long query_decode(const char *s, size_t len, char *out, size_t outlen)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (n + 1 >= outlen)
			return -1;
		if (c == '%') {
			int hi, lo;
			if (len - i < 3)
				return -1;
			hi = s[i + 1] >= '0' && s[i + 1] <= '9'	  ? s[i + 1] - '0'
			     : s[i + 1] >= 'a' && s[i + 1] <= 'f' ? s[i + 1] - 'a' + 10
			     : s[i + 1] >= 'A' && s[i + 1] <= 'F' ? s[i + 1] - 'A' + 10
								  : -1;
			lo = s[i + 2] >= '0' && s[i + 2] <= '9'	  ? s[i + 2] - '0'
			     : s[i + 2] >= 'a' && s[i + 2] <= 'f' ? s[i + 2] - 'a' + 10
			     : s[i + 2] >= 'A' && s[i + 2] <= 'F' ? s[i + 2] - 'A' + 10
								  : -1;
			if (hi < 0 || lo < 0)
				return -1;
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		out[n++] = c;
	}
	out[n] = '\0';
	return (long)n;
}

int transcode_query(const route *r, const char *query, size_t len, ProtobufCMessage *msg, char *err,
		    size_t errlen)
{
	unsigned seen = 0;
	const char *end = query + len;
	for (const char *p = query; p < end && r->nquery > 0;) {
		const char *amp = memchr(p, '&', (size_t)(end - p)), *eq;
		size_t plen = amp != NULL ? (size_t)(amp - p) : (size_t)(end - p);
		char name[64], value[64];
		long vlen;
		eq = memchr(p, '=', plen);
		if (query_decode(p, eq != NULL ? (size_t)(eq - p) : plen, name, sizeof(name)) >=
		    0) {
			for (size_t i = 0; i < r->nquery; i++) {
				const route_query *q = &r->query[i];
				uint64_t n = 0;
				if (strcmp(q->name, name) != 0)
					continue;
				if (seen & (1u << i)) {
					snprintf(err, errlen, "query parameter '%s' is given twice",
						 q->name);
					return -1;
				}
				seen |= 1u << i;
				vlen = eq != NULL
					   ? query_decode(eq + 1, plen - (size_t)(eq + 1 - p),
							  value, sizeof(value))
					   : -1;
				if (vlen == 0 || (vlen > 0 && strcmp(value, "0") == 0)) {
					set_integer(msg, q->field, 0);
					continue;
				}
				if (vlen < 0 ||
				    route_parse_id(value, (size_t)vlen, field_max(q->field->type),
						   &n) != 0) {
					snprintf(
					    err, errlen,
					    "query parameter '%s' must be decimal digits from 0 to "
					    "%llu",
					    q->name, (unsigned long long)field_max(q->field->type));
					return -1;
				}
				set_integer(msg, q->field, n);
			}
		}
		p += plen + 1;
	}
	return 0;
}

/* json_depth_over says whether v nests arrays and objects deeper than max levels (v itself at
 * depth 1 if it is one). Recursion stops at max + 1 levels. */
static int json_depth_over(json_t *v, int max)
{
	if (json_is_object(v)) {
		const char *key;
		json_t *child;
		if (max == 0)
			return 1;
		json_object_foreach(v, key, child)
		{
			if (json_depth_over(child, max - 1))
				return 1;
		}
	} else if (json_is_array(v)) {
		size_t i;
		json_t *child;
		if (max == 0)
			return 1;
		json_array_foreach(v, i, child)
		{
			if (json_depth_over(child, max - 1))
				return 1;
		}
	}
	return 0;
}

ProtobufCMessage *transcode_body(const route *r, const char *body, size_t len, char *err,
				 size_t errlen)
{
	const ProtobufCMessageDescriptor *input = r->service->methods[r->method_index].input;
	json_error_t jerr;
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	ProtobufCMessage *msg;
	if (root == NULL) {
		snprintf(err, errlen, "the body is not valid JSON: %s (line %d, column %d)",
			 jerr.text, jerr.line, jerr.column);
		return NULL;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "the body must be a JSON object");
		json_decref(root);
		return NULL;
	}
	if (json_depth_over(root, TRANSCODE_MAX_DEPTH)) {
		snprintf(err, errlen, "the body nests arrays and objects deeper than %d levels",
			 TRANSCODE_MAX_DEPTH);
		json_decref(root);
		return NULL;
	}
	msg = pbjson_decode(input, root, err, errlen);
	json_decref(root);
	return msg;
}

/* put_integer appends the integer field f of msg in decimal. */
static void put_integer(pbjson_buf *buf, const ProtobufCMessage *msg,
			const ProtobufCFieldDescriptor *f)
{
	char tmp[32];
	const void *member = (const char *)msg + f->offset;
	int n;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
		n = snprintf(tmp, sizeof(tmp), "%d", *(const int32_t *)member);
		break;
	case PROTOBUF_C_TYPE_UINT32:
		n = snprintf(tmp, sizeof(tmp), "%u", *(const uint32_t *)member);
		break;
	case PROTOBUF_C_TYPE_UINT64:
		n = snprintf(tmp, sizeof(tmp), "%llu",
			     (unsigned long long)*(const uint64_t *)member);
		break;
	default:
		n = snprintf(tmp, sizeof(tmp), "%lld", (long long)*(const int64_t *)member);
		break;
	}
	pbjson_buf_append(buf, tmp, (size_t)n);
}

int transcode_location(const route *r, const ProtobufCMessage *reply, pbjson_buf *buf)
{
	for (size_t i = 0; i < r->nlocation; i++) {
		pbjson_buf_append(buf, "/", 1);
		if (r->location[i].is_param)
			put_integer(buf, reply, r->location[i].field);
		else
			pbjson_buf_append(buf, r->location[i].text, strlen(r->location[i].text));
	}
	if (r->nlocation == 0)
		pbjson_buf_append(buf, "/", 1);
	return buf->failed ? -1 : 0;
}

int transcode_next_link(const route *r, const ProtobufCMessage *reply, const char *target,
			size_t len, pbjson_buf *buf)
{
	const char *q = memchr(target, '?', len), *end = target + len;
	size_t plen = strlen(r->next_param);
	int first = 1;
	if (r->next_field == NULL ||
	    *(const int64_t *)((const char *)reply + r->next_field->offset) == 0)
		return 0;
	pbjson_buf_append(buf, "<", 1);
	pbjson_buf_append(buf, target, q != NULL ? (size_t)(q - target) : len);
	pbjson_buf_append(buf, "?", 1);
	/* the request's own parameters, but the cursor */
	for (const char *p = q != NULL ? q + 1 : end; p < end;) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		size_t n = amp != NULL ? (size_t)(amp - p) : (size_t)(end - p);
		int is_cursor = n >= plen && strncmp(p, r->next_param, plen) == 0 &&
				(n == plen || p[plen] == '=');
		if (n > 0 && !is_cursor) {
			if (!first)
				pbjson_buf_append(buf, "&", 1);
			pbjson_buf_append(buf, p, n);
			first = 0;
		}
		p += n + 1;
	}
	if (!first)
		pbjson_buf_append(buf, "&", 1);
	pbjson_buf_append(buf, r->next_param, plen);
	pbjson_buf_append(buf, "=", 1);
	put_integer(buf, reply, r->next_field);
	pbjson_buf_append(buf, ">; rel=\"next\"", 13);
	return buf->failed ? -1 : 1;
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
