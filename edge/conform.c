/* conform.c: the RFC 9110 and RFC 9112 request checks that h2o 2.2 leaves to the edge. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "conform.h"

/* conform_alpha says whether c is an ASCII letter, whatever the locale. */
static int conform_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* conform_digit says whether c is an ASCII digit. */
static int conform_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* conform_hex says whether c is a hexadecimal digit. */
static int conform_hex(char c)
{
	return conform_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* conform_reg_name_char says whether c may stand for itself in a reg-name: unreserved or
 * sub-delims (RFC 3986 3.2.2). */
static int conform_reg_name_char(char c)
{
	return conform_alpha(c) || conform_digit(c) || (c != '\0' && strchr("-._~!$&'()*+,;=", c));
}

/* conform_ows skips optional whitespace (SP, HTAB) at both ends of s (*len bytes). */
static const char *conform_ows(const char *s, size_t *len)
{
	while (*len > 0 && (s[0] == ' ' || s[0] == '\t')) {
		s++;
		(*len)--;
	}
	while (*len > 0 && (s[*len - 1] == ' ' || s[*len - 1] == '\t'))
		(*len)--;
	return s;
}

/* conform_authority says whether s (len bytes) is host [":" port] with host an IP-literal or a
 * reg-name (an IPv4 address is one), and sets *host_len to the length of host. */
static int conform_authority(const char *s, size_t len, size_t *host_len)
{
	size_t i = 0;
	if (len > 0 && s[0] == '[') { /* IP-literal: IPv6address or IPvFuture */
		for (i = 1; i < len && s[i] != ']'; i++)
			if (!conform_reg_name_char(s[i]) && s[i] != ':')
				return 0;
		if (i == len || i == 1)
			return 0;
		i++;
	} else {
		while (i < len && s[i] != ':') {
			if (s[i] == '%') {
				if (i + 2 >= len || !conform_hex(s[i + 1]) ||
				    !conform_hex(s[i + 2]))
					return 0;
				i += 3;
				continue;
			}
			if (!conform_reg_name_char(s[i]))
				return 0;
			i++;
		}
	}
	*host_len = i;
	if (i < len && s[i++] != ':')
		return 0;
	for (; i < len; i++)
		if (!conform_digit(s[i]))
			return 0;
	return 1;
}

int conform_host_valid(const char *value, size_t len)
{
	size_t host_len;
	value = conform_ows(value, &len);
	return conform_authority(value, len, &host_len);
}

/* conform_name_is says whether the field name (len bytes) is name, ignoring case. */
static int conform_name_is(const char *s, size_t len, const char *name)
{
	return len == strlen(name) && strncasecmp(s, name, len) == 0;
}

/* conform_line finds the line that starts at *at in s (len bytes): it ends at LF, a CR before
 * the LF not counted (picohttpparser takes a bare LF too). Sets *line_len and moves *at past
 * the LF. Returns the line, or NULL if no LF follows. */
static const char *conform_line(const char *s, size_t len, size_t *at, size_t *line_len)
{
	const char *line = s + *at, *lf = memchr(line, '\n', len - *at);
	if (lf == NULL)
		return NULL;
	*line_len = (size_t)(lf - line);
	if (*line_len > 0 && line[*line_len - 1] == '\r')
		(*line_len)--;
	*at = (size_t)(lf - s) + 1;
	return line;
}

/* conform_head_fields: what conform_head_check counts in a head's field lines. */
typedef struct conform_head_fields {
	int hosts;
	const char *host; /* the first Host value, and its length */
	size_t host_len;
	const char *length; /* the first Content-Length value, and its length */
	size_t length_len;
	int lengths_differ;
	int transfer_encoding;
	int folded;
} conform_head_fields;

/* conform_field counts one field line (name ":" value) into f. */
static void conform_field(const char *line, size_t len, conform_head_fields *f)
{
	const char *colon = memchr(line, ':', len), *value;
	size_t name_len, value_len;
	if (colon == NULL)
		return; /* h2o refuses such a line before the edge sees it */
	name_len = (size_t)(colon - line);
	value_len = len - name_len - 1;
	value = conform_ows(colon + 1, &value_len);
	if (conform_name_is(line, name_len, "host")) {
		if (f->hosts++ == 0) {
			f->host = value;
			f->host_len = value_len;
		}
	} else if (conform_name_is(line, name_len, "content-length")) {
		if (f->length == NULL) {
			f->length = value;
			f->length_len = value_len;
		} else if (value_len != f->length_len || memcmp(value, f->length, value_len) != 0) {
			f->lengths_differ = 1;
		}
	} else if (conform_name_is(line, name_len, "transfer-encoding")) {
		f->transfer_encoding = 1;
	}
}

/* conform_head_scan reads the field lines of r's head into f. Returns 0, or 1 if r->head does
 * not start with r's request line or ends before the empty line. */
static int conform_head_scan(const conform_request *r, conform_head_fields *f)
{
	size_t at = 0, len;
	const char *line;
	if (r->len > 0 && r->head[0] == '\n')
		at = 1; /* one empty line before the request line is skipped, as h2o does */
	else if (r->len > 1 && r->head[0] == '\r' && r->head[1] == '\n')
		at = 2;
	line = conform_line(r->head, r->len, &at, &len);
	if (line == NULL || len < r->method_len + r->target_len + 2 ||
	    memcmp(line, r->method, r->method_len) != 0 || line[r->method_len] != ' ' ||
	    memcmp(line + r->method_len + 1, r->target, r->target_len) != 0 ||
	    line[r->method_len + 1 + r->target_len] != ' ')
		return 1;
	while ((line = conform_line(r->head, r->len, &at, &len)) != NULL) {
		if (len == 0)
			return 0;
		if (line[0] == ' ' || line[0] == '\t')
			f->folded = 1;
		else
			conform_field(line, len, f);
	}
	return 1;
}

int conform_head_check(const conform_request *r, char *why, size_t whylen)
{
	conform_head_fields f = {0};
	int absolute = r->target_len > 0 && r->target[0] != '/' && r->target[0] != '*';
	const char *bad = NULL;
	if (conform_head_scan(r, &f) != 0)
		return 1;
	if (f.folded)
		bad =
		    "obsolete line folding (a field line starting with whitespace) is not accepted";
	else if (f.hosts > 1)
		bad = "more than one Host header field";
	else if (f.hosts == 0 && r->minor_version >= 1)
		bad = "an HTTP/1.1 request needs a Host header field";
	else if (f.hosts == 1 && !absolute && !conform_host_valid(f.host, f.host_len))
		bad = "the Host header field is not a valid host[:port]";
	else if (f.lengths_differ)
		bad = "Content-Length header fields with different values";
	else if (f.transfer_encoding && f.length != NULL)
		bad = "Content-Length together with Transfer-Encoding";
	else if (f.transfer_encoding && r->minor_version == 0)
		bad = "Transfer-Encoding in an HTTP/1.0 request";
	if (bad == NULL)
		return 0;
	snprintf(why, whylen, "%s", bad);
	return -1;
}

conform_form conform_target(const char *target, size_t len, int tls, size_t *path_at, int *status,
			    char *why, size_t whylen)
{
	size_t scheme_len = 0, start, end, host_len;
	int https;
	*status = 400;
	if (len > 0 && target[0] == '/')
		return CONFORM_ORIGIN;
	if (len == 1 && target[0] == '*')
		return CONFORM_ASTERISK;
	if (len > 0 && conform_alpha(target[0]))
		while (scheme_len < len &&
		       (conform_alpha(target[scheme_len]) || conform_digit(target[scheme_len]) ||
			target[scheme_len] == '+' || target[scheme_len] == '-' ||
			target[scheme_len] == '.'))
			scheme_len++;
	if (scheme_len == 0 || scheme_len == len || target[scheme_len] != ':') {
		snprintf(why, whylen, "the request-target is not a path, an absolute URI or *");
		return CONFORM_BAD;
	}
	https = scheme_len == 5 && strncasecmp(target, "https", 5) == 0;
	if (!https && !(scheme_len == 4 && strncasecmp(target, "http", 4) == 0)) {
		snprintf(why, whylen, "only http URIs are served");
		return CONFORM_BAD;
	}
	start = scheme_len + 3;
	if (len < start || memcmp(target + scheme_len, "://", 3) != 0) {
		snprintf(why, whylen, "an http URI needs an authority (scheme://host)");
		return CONFORM_BAD;
	}
	for (end = start; end < len && target[end] != '/' && target[end] != '?'; end++)
		;
	if (memchr(target + start, '@', end - start) != NULL) {
		snprintf(why, whylen, "the request-target has userinfo (user@host)");
		return CONFORM_BAD;
	}
	if (!conform_authority(target + start, end - start, &host_len) || host_len == 0) {
		snprintf(why, whylen, "the request-target's host is empty or invalid");
		return CONFORM_BAD;
	}
	if (https && !tls) {
		*status = 421;
		snprintf(why, whylen, "https is not served here: this connection has no TLS");
		return CONFORM_BAD;
	}
	*path_at = end;
	return CONFORM_ABSOLUTE;
}

int conform_etag_list(const char *value, size_t len)
{
	int star = 0;
	while (len > 0) {
		const char *comma = memchr(value, ',', len);
		size_t n = comma != NULL ? (size_t)(comma - value) : len;
		size_t trimmed = n;
		const char *element = conform_ows(value, &trimmed);
		if (trimmed == 1 && element[0] == '*')
			star = 1;
		else if (trimmed > 0)
			return 2;
		value += n;
		len -= n;
		if (comma != NULL) {
			value++;
			len--;
		}
	}
	return star;
}
