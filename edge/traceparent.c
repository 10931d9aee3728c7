/* traceparent.c: W3C traceparent values and Request-Timeout values, read and written. */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "traceparent.h"

/* hex_value returns the value of a lowercase hex digit, or -1. */
static int hex_value(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* hex_read reads n bytes from 2n lowercase hex digits at s into out; returns 0, or -1 if one is
 * no such digit, or if every byte is zero. */
static int hex_read(const char *s, size_t n, uint8_t *out)
{
	uint8_t any = 0;
	for (size_t i = 0; i < n; i++) {
		int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
		any |= out[i];
	}
	return any != 0 ? 0 : -1;
}

int traceparent_parse(const char *s, size_t len, mesh_trace *out)
{
	uint8_t version, flags;
	memset(out, 0, sizeof(*out));
	if (len < TRACEPARENT_LEN || s[2] != '-' || s[35] != '-' || s[52] != '-')
		return -1;
	if (hex_value(s[0]) < 0 || hex_value(s[1]) < 0)
		return -1;
	version = (uint8_t)(hex_value(s[0]) << 4 | hex_value(s[1]));
	if (version == 0xff || (version == 0 && len != TRACEPARENT_LEN) ||
	    (len > TRACEPARENT_LEN && s[TRACEPARENT_LEN] != '-'))
		return -1;
	if (hex_read(s + 3, MESH_TRACE_ID_LEN, out->trace_id) != 0 ||
	    hex_read(s + 36, MESH_SPAN_ID_LEN, out->parent_id) != 0)
		goto out_invalid;
	if (hex_value(s[53]) < 0 || hex_value(s[54]) < 0)
		goto out_invalid;
	flags = (uint8_t)(hex_value(s[53]) << 4 | hex_value(s[54]));
	out->flags = flags & 1; /* sampled: the only flag version 00 defines */
	return 0;
out_invalid:
	memset(out, 0, sizeof(*out));
	return -1;
}

void traceparent_format(const mesh_trace *t, char out[TRACEPARENT_LEN + 1])
{
	/* by hand, not snprintf: it runs for every request */
	static const char digits[] = "0123456789abcdef";
	memcpy(out, "00-", 3);
	mesh_trace_hex(t->trace_id, MESH_TRACE_ID_LEN, out + 3);
	out[35] = '-';
	mesh_trace_hex(t->parent_id, MESH_SPAN_ID_LEN, out + 36);
	out[52] = '-';
	out[53] = digits[t->flags >> 4];
	out[54] = digits[t->flags & 15];
	out[55] = '\0';
}

void trace_gen_init(trace_gen *g)
{
	if (getrandom(&g->state, sizeof(g->state), GRND_NONBLOCK) != (ssize_t)sizeof(g->state)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		g->state = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
			   ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)g;
	}
}

/* trace_gen_next: splitmix64's next output. */
static uint64_t trace_gen_next(trace_gen *g)
{
	uint64_t z = (g->state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* put_u64 writes v big-endian at out. */
static void put_u64(uint8_t *out, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(v >> (56 - 8 * i));
}

void trace_gen_trace_id(trace_gen *g, uint8_t out[MESH_TRACE_ID_LEN])
{
	uint64_t hi, lo;
	do {
		hi = trace_gen_next(g);
		lo = trace_gen_next(g);
	} while (hi == 0 && lo == 0);
	put_u64(out, hi);
	put_u64(out + 8, lo);
}

void trace_gen_span_id(trace_gen *g, uint8_t out[MESH_SPAN_ID_LEN])
{
	uint64_t v;
	do
		v = trace_gen_next(g);
	while (v == 0);
	put_u64(out, v);
}

int request_timeout_parse(const char *s, size_t len, int64_t *ms, char *why, size_t whylen)
{
	const char *end = s + len, *p;
	int64_t whole = 0, frac = 0;
	int digits = 0, fdigits = 0, millis = 0;
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (p = s; p < end && *p >= '0' && *p <= '9'; p++, digits++)
		whole = whole * 10 + (*p - '0');
	if (digits == 0 || digits > 8)
		goto out_bad;
	if (p < end && *p == '.') {
		for (p++; p < end && *p >= '0' && *p <= '9'; p++, fdigits++)
			frac = frac * 10 + (*p - '0');
		if (fdigits == 0 || fdigits > 3)
			goto out_bad;
		while (fdigits++ < 3)
			frac *= 10;
	}
	if (end - p == 2 && p[0] == 'm' && p[1] == 's' && frac == 0 && s[digits] != '.')
		millis = 1;
	else if (!(p == end || (end - p == 1 && *p == 's')))
		goto out_bad;
	*ms = millis ? whole : whole * 1000 + frac;
	if (*ms < 1) {
		snprintf(why, whylen, "Request-Timeout must be at least 1ms, not '%.*s'",
			 (int)(end - s), s);
		return -1;
	}
	return 0;
out_bad:
	snprintf(why, whylen,
		 "Request-Timeout must be whole milliseconds ending in ms (250ms) or seconds with "
		 "up to 3 decimals (2, 1.5s), up to 8 digits, not '%.*s'",
		 (int)(end - s > 40 ? 40 : end - s), s);
	return -1;
}
