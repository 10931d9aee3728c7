/* route.c: path templates, request path splitting and percent-decoding, matching, id syntax. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

static const struct {
	unsigned bit;
	const char *name;
} route_methods[] = {
    {ROUTE_GET, "GET"},		{ROUTE_HEAD, "HEAD"},	{ROUTE_POST, "POST"},
    {ROUTE_PUT, "PUT"},		{ROUTE_PATCH, "PATCH"}, {ROUTE_DELETE, "DELETE"},
    {ROUTE_OPTIONS, "OPTIONS"},
};

unsigned route_method_bit(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(route_methods) / sizeof(route_methods[0]); i++)
		if (strlen(route_methods[i].name) == len &&
		    memcmp(route_methods[i].name, name, len) == 0)
			return route_methods[i].bit;
	return 0;
}

const char *route_method_name(unsigned bit)
{
	for (size_t i = 0; i < sizeof(route_methods) / sizeof(route_methods[0]); i++)
		if (route_methods[i].bit == bit)
			return route_methods[i].name;
	return "?";
}

void route_allow_string(unsigned allow, char *out, size_t outlen)
{
	size_t n = 0;
	if (outlen == 0)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(route_methods) / sizeof(route_methods[0]); i++) {
		if (!(allow & route_methods[i].bit))
			continue;
		int w = snprintf(out + n, outlen - n, "%s%s", n ? ", " : "", route_methods[i].name);
		if (w < 0 || (size_t)w >= outlen - n)
			return;
		n += (size_t)w;
	}
}

static int param_name_ok(const char *s, size_t len)
{
	if (len == 0 || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return 0;
	for (size_t i = 1; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

int route_template_split(const char *template, route_segment *segments, size_t *n, char *err,
			 size_t errlen)
{
	const char *p = template;
	*n = 0;
	if (*p != '/') {
		snprintf(err, errlen, "path '%s' must start with '/'", template);
		return -1;
	}
	if (strcmp(template, "/") == 0)
		return 0; /* the root: no segments */
	while (*p == '/' && p[1] != '\0') {
		const char *start = ++p, *end = strchr(start, '/');
		size_t len = end != NULL ? (size_t)(end - start) : strlen(start);
		route_segment *seg;
		if (len == 0) {
			snprintf(err, errlen, "path '%s' has an empty segment", template);
			return -1;
		}
		if (*n == ROUTE_MAX_SEGMENTS) {
			snprintf(err, errlen, "path '%s' has more than %d segments", template,
				 ROUTE_MAX_SEGMENTS);
			return -1;
		}
		seg = &segments[*n];
		if (start[0] == '{') {
			if (start[len - 1] != '}' || !param_name_ok(start + 1, len - 2)) {
				snprintf(
				    err, errlen,
				    "path '%s': a parameter is a whole segment '{name}' with a "
				    "name of [a-z0-9_]",
				    template);
				return -1;
			}
			seg->is_param = 1;
			seg->text = strndup(start + 1, len - 2);
			for (size_t i = 0; seg->text != NULL && i < *n; i++) {
				if (segments[i].is_param &&
				    strcmp(segments[i].text, seg->text) == 0) {
					snprintf(err, errlen, "path '%s' names {%s} twice",
						 template, seg->text);
					free(seg->text);
					seg->text = NULL;
					return -1;
				}
			}
		} else {
			if (memchr(start, '{', len) != NULL || memchr(start, '}', len) != NULL ||
			    memchr(start, '%', len) != NULL || memchr(start, '?', len) != NULL) {
				snprintf(err, errlen,
					 "path '%s': literal segments may not hold '{', '}', '%%' "
					 "or '?'",
					 template);
				return -1;
			}
			seg->text = strndup(start, len);
		}
		if (seg->text == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		(*n)++;
		p = start + len;
	}
	if (*p != '\0') {
		snprintf(err, errlen, "path '%s' must not end with '/'", template);
		return -1;
	}
	return 0;
}

int route_template_parse(route *r, const char *template, char *err, size_t errlen)
{
	r->path = strdup(template);
	if (r->path == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return route_template_split(template, r->segments, &r->nsegments, err, errlen);
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int route_path_parse(route_path *out, const char *path, size_t len, char *scratch,
		     size_t scratch_len)
{
	const char *end = path + len, *q = memchr(path, '?', len);
	char *w = scratch;
	if (q != NULL)
		end = q;
	out->n = 0;
	if (path == end || path[0] != '/' || scratch_len < len + ROUTE_MAX_SEGMENTS)
		return -1;
	if (end - path > 1 && end[-1] == '/')
		end--; /* a trailing slash is ignored */
	for (const char *p = path + 1; p <= end && end - path > 1;) {
		const char *seg_end = memchr(p, '/', (size_t)(end - p));
		if (seg_end == NULL)
			seg_end = end;
		if (out->n == ROUTE_MAX_SEGMENTS)
			return -1;
		out->segments[out->n] = w;
		for (const char *c = p; c < seg_end; c++) {
			if (*c == '%') {
				int hi, lo;
				if (seg_end - c < 3 || (hi = hex_value(c[1])) < 0 ||
				    (lo = hex_value(c[2])) < 0)
					return -1;
				*w++ = (char)(hi << 4 | lo);
				c += 2;
			} else {
				*w++ = *c;
			}
		}
		out->lengths[out->n] = (size_t)(w - out->segments[out->n]);
		*w++ = '\0';
		out->n++;
		p = seg_end + 1;
	}
	return 0;
}

int route_parse_id(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';
		if (d > 9 || v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v == 0)
		return -1;
	*out = v;
	return 0;
}

void route_table_init(route_table *t)
{
	memset(t, 0, sizeof(*t));
}

route *route_new(void)
{
	return calloc(1, sizeof(route));
}

void route_free(route *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nsegments; i++)
		free(r->segments[i].text);
	for (size_t i = 0; i < r->nlocation; i++)
		free(r->location[i].text);
	for (size_t i = 0; i < r->nquery; i++)
		free(r->query[i].name);
	free(r->next_param);
	free(r->path);
	free(r->source);
	free(r->text);
	free(r->service_name);
	if (r->split != NULL)
		free(r->split->alt.service_name);
	free(r->split);
	free(r);
}

int route_set_split(route *r, const char *service, unsigned weight, char *err, size_t errlen)
{
	if (weight > 100) {
		snprintf(err, errlen, "split weight %u is over 100", weight);
		return -1;
	}
	if (r->split == NULL && (r->split = calloc(1, sizeof(*r->split))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	free(r->split->alt.service_name);
	r->split->weight = weight;
	if ((r->split->alt.service_name = strdup(service)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* same_shape says whether two templates match the same paths. */
static int same_shape(const route *a, const route *b)
{
	if (a->nsegments != b->nsegments)
		return 0;
	for (size_t i = 0; i < a->nsegments; i++) {
		if (a->segments[i].is_param != b->segments[i].is_param)
			return 0;
		if (!a->segments[i].is_param && strcmp(a->segments[i].text, b->segments[i].text))
			return 0;
	}
	return 1;
}

int route_table_add(route_table *t, route *r, char *err, size_t errlen)
{
	for (size_t i = 0; i < t->n; i++) {
		if (t->routes[i]->method == r->method && same_shape(t->routes[i], r)) {
			snprintf(err, errlen, "route %s %s is declared twice (%s and %s)",
				 route_method_name(r->method), r->path,
				 t->routes[i]->source ? t->routes[i]->source : "edge",
				 r->source ? r->source : "edge");
			return -1;
		}
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		route **routes = realloc(t->routes, cap * sizeof(*routes));
		if (routes == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		t->routes = routes;
		t->cap = cap;
	}
	r->id = t->nids++;
	if (r->split != NULL) {
		route_split *split = r->split;
		char *service_name = split->alt.service_name;
		split->alt = *r; /* shares r's templates and strings; frees none of them */
		split->alt.service_name = service_name;
		split->alt.upstream = NULL;
		split->alt.split = NULL;
		split->alt.id = t->nids++;
	}
	t->routes[t->n++] = r;
	return 0;
}

static int template_matches(const route *r, const route_path *path)
{
	if (r->nsegments != path->n)
		return 0;
	for (size_t i = 0; i < r->nsegments; i++) {
		if (r->segments[i].is_param)
			continue;
		if (strlen(r->segments[i].text) != path->lengths[i] ||
		    memcmp(r->segments[i].text, path->segments[i], path->lengths[i]) != 0)
			return 0;
	}
	return 1;
}

/* more_specific says whether a beats b: at the first segment where they differ in kind, a
 * has a literal and b a parameter. */
static int more_specific(const route *a, const route *b)
{
	for (size_t i = 0; i < a->nsegments && i < b->nsegments; i++)
		if (a->segments[i].is_param != b->segments[i].is_param)
			return !a->segments[i].is_param;
	return 0;
}

static unsigned accepted_methods(unsigned method)
{
	return method == ROUTE_GET ? ROUTE_GET | ROUTE_HEAD : method;
}

unsigned route_table_methods(const route_table *t)
{
	unsigned methods = ROUTE_OPTIONS;
	for (size_t i = 0; i < t->n; i++)
		methods |= accepted_methods(t->routes[i]->method);
	return methods;
}

route_match_result route_table_match(const route_table *t, const route_path *path, unsigned method,
				     const route **found, unsigned *allow)
{
	const route *best = NULL;
	unsigned methods = 0;
	for (size_t i = 0; i < t->n; i++) {
		const route *r = t->routes[i];
		if (!template_matches(r, path))
			continue;
		methods |= accepted_methods(r->method);
		if ((accepted_methods(r->method) & method) &&
		    (best == NULL || more_specific(r, best)))
			best = r;
	}
	*allow = methods ? methods | ROUTE_OPTIONS : 0;
	if (best != NULL) {
		*found = best;
		return ROUTE_MATCH_FOUND;
	}
	return methods ? ROUTE_MATCH_NO_METHOD : ROUTE_MATCH_NO_PATH;
}

void route_table_fini(route_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		route_free(t->routes[i]);
	free(t->routes);
	route_table_init(t);
}
