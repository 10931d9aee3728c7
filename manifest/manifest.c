/* manifest.c: reads and checks svc/<name>/manifest.yml with libyaml, against the protobuf registry.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yaml.h>

#include "manifest.h"
#include "registry.h"

/* yaml_ctx: the document being read, for error messages with a line. */
typedef struct yaml_ctx {
	yaml_document_t doc;
	const char *file;
	char *err;
	size_t errlen;
} yaml_ctx;

static int fail_at(yaml_ctx *y, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(yaml_ctx *y, const yaml_node_t *node, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(y->err, y->errlen, "%s:%lu: %s", y->file,
		 node != NULL ? (unsigned long)node->start_mark.line + 1 : 1UL, why);
	return -1;
}

/* scalar_dup copies a scalar node's text into *out (the caller's, to free); fails if node is not
 * a non-empty scalar. */
static int scalar_dup(yaml_ctx *y, const yaml_node_t *node, const char *key, char **out)
{
	if (node->type != YAML_SCALAR_NODE || node->data.scalar.length == 0)
		return fail_at(y, node, "'%s' wants a non-empty string", key);
	*out = strndup((const char *)node->data.scalar.value, node->data.scalar.length);
	if (*out == NULL)
		return fail_at(y, node, "out of memory");
	return 0;
}

static const char *key_text(const yaml_node_t *node)
{
	return node->type == YAML_SCALAR_NODE ? (const char *)node->data.scalar.value : "?";
}

/* line_of returns the 1-based line node starts on. */
static int line_of(const yaml_node_t *node)
{
	return (int)node->start_mark.line + 1;
}

/* alloc_items checks that node is a sequence (else fails with wants) and returns a zeroed array
 * of one more element of size than it has items, the caller's to free; NULL if it failed. */
static void *alloc_items(yaml_ctx *y, const yaml_node_t *node, const char *wants, size_t size)
{
	void *items;
	if (node->type != YAML_SEQUENCE_NODE) {
		fail_at(y, node, "%s", wants);
		return NULL;
	}
	items = calloc(
	    (size_t)(node->data.sequence.items.top - node->data.sequence.items.start) + 1, size);
	if (items == NULL)
		fail_at(y, node, "out of memory");
	return items;
}

/* describe writes what node holds for an error message: its text in quotes, or its kind. */
static const char *describe(const yaml_node_t *node, char *buf, size_t len)
{
	if (node->type == YAML_SCALAR_NODE)
		snprintf(buf, len, "'%.40s%s'", (const char *)node->data.scalar.value,
			 node->data.scalar.length > 40 ? "..." : "");
	else
		snprintf(buf, len, "%s", node->type == YAML_MAPPING_NODE ? "a mapping" : "a list");
	return buf;
}

/* leading_number reads the whole number text starts with into *out (INT64_MAX if it has more
 * than 18 digits) and returns how many digits it has. */
static size_t leading_number(const char *text, int64_t *out)
{
	size_t i = 0;
	*out = 0;
	for (; text[i] >= '0' && text[i] <= '9'; i++)
		*out = i < 18 ? *out * 10 + (text[i] - '0') : INT64_MAX;
	return i;
}

/* read_int reads a whole number from min to max into *out. */
static int read_int(yaml_ctx *y, const yaml_node_t *node, const char *key, int min, int max,
		    int *out)
{
	char got[64];
	int64_t v = 0;
	if (node->type != YAML_SCALAR_NODE || node->data.scalar.length == 0 ||
	    leading_number((const char *)node->data.scalar.value, &v) != node->data.scalar.length ||
	    v < min || v > max)
		return fail_at(y, node, "'%s' wants a whole number from %d to %d, not %s", key, min,
			       max, describe(node, got, sizeof(got)));
	*out = (int)v;
	return 0;
}

/* unit: a suffix of a duration or a size, and what one of it is worth. */
typedef struct unit {
	const char *suffix;
	int64_t worth;
} unit;

static const unit duration_units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
static const unit size_units[] = {{"Ki", INT64_C(1) << 10},
				  {"Mi", INT64_C(1) << 20},
				  {"Gi", INT64_C(1) << 30},
				  {"Ti", INT64_C(1) << 40}};

#define DURATION_MAX_MS (24 * INT64_C(3600000)) /* the longest duration any key takes */
#define DURATION_FORMS	"a whole number with ms, s, m or h, like 500ms, 5s or 2m"
#define SIZE_FORMS	"a whole number with Ki, Mi, Gi or Ti, like 512Mi or 1Gi"

/* read_amount reads a whole number followed by one of units' suffixes, as a multiple of the
 * smallest unit, into *out. It returns 0, 1 if the number has no unit, 2 if the text is not
 * such a number or 3 if the amount is over max. */
static int read_amount(const yaml_node_t *node, const unit *units, size_t nunits, int64_t max,
		       int64_t *out)
{
	const char *text;
	size_t digits;
	int64_t v;
	if (node->type != YAML_SCALAR_NODE)
		return 2;
	text = (const char *)node->data.scalar.value;
	if (strlen(text) != node->data.scalar.length)
		return 2;
	digits = leading_number(text, &v);
	if (digits == 0)
		return 2;
	if (text[digits] == '\0')
		return 1;
	for (size_t i = 0; i < nunits; i++) {
		if (strcmp(text + digits, units[i].suffix) != 0)
			continue;
		if (v > max / units[i].worth)
			return 3;
		*out = v * units[i].worth;
		return 0;
	}
	return 2;
}

/* format_ms writes ms as a duration: in hours if it is a whole number of them, else in seconds
 * if it is a whole number of them ("300s"), else in milliseconds. */
static const char *format_ms(int64_t ms, char *buf, size_t len)
{
	if (ms != 0 && ms % 3600000 == 0)
		snprintf(buf, len, "%" PRId64 "h", ms / 3600000);
	else if (ms != 0 && ms % 1000 == 0)
		snprintf(buf, len, "%" PRId64 "s", ms / 1000);
	else
		snprintf(buf, len, "%" PRId64 "ms", ms);
	return buf;
}

/* ---- keys of a mapping, read by a table ------------------------------------------------------
 * Each mapping of a manifest (the top level, a route, healthcheck:, a route's split:, a field's
 * rule) is a table of key_spec: a key, the reader of its value and where in the object being read
 * (a manifest, a route, a healthcheck or a field rule) the value goes. read_mapping matches the
 * keys against the table; a reader converts one value. */

typedef struct key_spec key_spec;

/* key_reader reads v, the value of spec's key k, into obj, the object the table describes (not
 * taken). Strings it copies are obj's, freed with the manifest. Returns 0 or -1 with y's err. */
typedef int (*key_reader)(yaml_ctx *y, const key_spec *spec, const yaml_node_t *k,
			  const yaml_node_t *v, void *obj);

/* key_spec: one key of a mapping, how its value is read and where it goes. */
struct key_spec {
	const char *key;
	key_reader read;  /* NULL: the value is only noted in read_mapping's given[] */
	size_t offset;	  /* where in obj the value goes (readers of one member of obj) */
	int64_t min, max; /* the range of a number or a duration */
};

/* COUNT: how many elements a static array has. */
#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

/* member returns where spec's value goes in obj. */
static void *member(void *obj, const key_spec *spec)
{
	return (char *)obj + spec->offset;
}

/* read_mapping reads every key of the mapping node with its reader from specs (nspecs of them)
 * into obj, and notes each key's value node in given[] (nspecs of them, NULL at first; the nodes
 * are the document's). A key not in specs fails "unknown WHAT 'key' (known: ...)", a key given
 * twice "'key' is given twice". The caller checks that node is a mapping. */
static int read_mapping(yaml_ctx *y, const yaml_node_t *node, const char *what,
			const key_spec *specs, size_t nspecs, void *obj, const yaml_node_t **given)
{
	for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
	     pair < node->data.mapping.pairs.top; pair++) {
		const yaml_node_t *k = yaml_document_get_node(&y->doc, pair->key);
		const yaml_node_t *v = yaml_document_get_node(&y->doc, pair->value);
		const char *key = key_text(k);
		size_t i = 0;
		while (i < nspecs && strcmp(key, specs[i].key) != 0)
			i++;
		if (i == nspecs) {
			char known[256];
			size_t used = 0;
			for (size_t j = 0; j < nspecs && used < sizeof(known); j++)
				used += (size_t)snprintf(known + used, sizeof(known) - used, "%s%s",
							 j == 0 ? "" : ", ", specs[j].key);
			return fail_at(y, k, "unknown %s '%s' (known: %s)", what, key, known);
		}
		if (given[i] != NULL)
			return fail_at(y, k, "'%s' is given twice", key);
		given[i] = v;
		if (specs[i].read != NULL && specs[i].read(y, &specs[i], k, v, obj) != 0)
			return -1;
	}
	return 0;
}

/* as_string reads a non-empty string into a char * member. */
static int as_string(yaml_ctx *y, const key_spec *s, const yaml_node_t *k, const yaml_node_t *v,
		     void *obj)
{
	(void)k;
	return scalar_dup(y, v, s->key, member(obj, s));
}

/* as_int reads a whole number from min to max into an int member. */
static int as_int(yaml_ctx *y, const key_spec *s, const yaml_node_t *k, const yaml_node_t *v,
		  void *obj)
{
	(void)k;
	return read_int(y, v, s->key, (int)s->min, (int)s->max, member(obj, s));
}

/* as_length reads a whole number from min to max into a long member. */
static int as_length(yaml_ctx *y, const key_spec *s, const yaml_node_t *k, const yaml_node_t *v,
		     void *obj)
{
	int length;
	(void)k;
	if (read_int(y, v, s->key, (int)s->min, (int)s->max, &length) != 0)
		return -1;
	*(long *)member(obj, s) = length;
	return 0;
}

/* as_duration reads a duration (500ms, 5s, 2m, 1h) from min to max ms into an int64_t member,
 * in ms. */
static int as_duration(yaml_ctx *y, const key_spec *s, const yaml_node_t *k, const yaml_node_t *v,
		       void *obj)
{
	char got[64], limit[32];
	int64_t ms = 0;
	(void)k;
	switch (read_amount(v, duration_units, COUNT(duration_units), s->max, &ms)) {
	case 1:
		return fail_at(y, v, "'%s' wants a unit: %s is not a duration (" DURATION_FORMS ")",
			       s->key, describe(v, got, sizeof(got)));
	case 2:
		return fail_at(y, v, "'%s' wants a duration, " DURATION_FORMS ", not %s", s->key,
			       describe(v, got, sizeof(got)));
	case 3:
		return fail_at(y, v, "'%s' is at most %s, not %s", s->key,
			       format_ms(s->max, limit, sizeof(limit)),
			       describe(v, got, sizeof(got)));
	}
	if (ms < s->min && s->min == 1)
		return fail_at(y, v, "'%s' must be more than 0, not %s", s->key,
			       describe(v, got, sizeof(got)));
	if (ms < s->min)
		return fail_at(y, v, "'%s' must be at least %s, not %s", s->key,
			       format_ms(s->min, limit, sizeof(limit)),
			       describe(v, got, sizeof(got)));
	*(int64_t *)member(obj, s) = ms;
	return 0;
}

/* as_size reads a size in bytes (512Mi, 1Gi), more than 0, into an int64_t member. */
static int as_size(yaml_ctx *y, const key_spec *s, const yaml_node_t *k, const yaml_node_t *v,
		   void *obj)
{
	char got[64];
	int64_t bytes = 0;
	(void)k;
	switch (read_amount(v, size_units, COUNT(size_units), INT64_MAX, &bytes)) {
	case 1:
		return fail_at(y, v, "'%s' wants a unit: %s is not a size (" SIZE_FORMS ")", s->key,
			       describe(v, got, sizeof(got)));
	case 2:
		return fail_at(y, v, "'%s' wants a size, " SIZE_FORMS ", not %s", s->key,
			       describe(v, got, sizeof(got)));
	case 3:
		return fail_at(y, v, "'%s' %s is too large", s->key, describe(v, got, sizeof(got)));
	}
	if (bytes == 0)
		return fail_at(y, v, "'%s' must be more than 0", s->key);
	*(int64_t *)member(obj, s) = bytes;
	return 0;
}

/* as_int64 reads a whole number, maybe negative, into an int64_t member. */
static int as_int64(yaml_ctx *y, const key_spec *s, const yaml_node_t *k, const yaml_node_t *v,
		    void *obj)
{
	const char *text = (const char *)v->data.scalar.value;
	char got[64];
	int64_t n = 0;
	size_t sign = v->type == YAML_SCALAR_NODE && text[0] == '-';
	(void)k;
	if (v->type != YAML_SCALAR_NODE || v->data.scalar.length <= sign ||
	    v->data.scalar.length > sign + 18 ||
	    leading_number(text + sign, &n) != v->data.scalar.length - sign)
		return fail_at(y, v, "'%s' wants a whole number (at most 18 digits), not %s",
			       s->key, describe(v, got, sizeof(got)));
	*(int64_t *)member(obj, s) = sign ? -n : n;
	return 0;
}

/* as_bool reads true or false into an int member. */
static int as_bool(yaml_ctx *y, const key_spec *s, const yaml_node_t *k, const yaml_node_t *v,
		   void *obj)
{
	char got[64];
	const char *text = (const char *)v->data.scalar.value;
	(void)k;
	if (v->type != YAML_SCALAR_NODE ||
	    (strcmp(text, "true") != 0 && strcmp(text, "false") != 0))
		return fail_at(y, v, "'%s' wants true or false, not %s", s->key,
			       describe(v, got, sizeof(got)));
	*(int *)member(obj, s) = strcmp(text, "true") == 0;
	return 0;
}

/* ---- routes: --------------------------------------------------------------------------------- */

/* read_query reads a route's query: a list of parameter names, into the route obj. */
static int read_query(yaml_ctx *y, const key_spec *s, const yaml_node_t *k, const yaml_node_t *node,
		      void *obj)
{
	manifest_route *r = obj;
	(void)s, (void)k;
	r->query =
	    alloc_items(y, node, "'query' wants a list of parameter names", sizeof(*r->query));
	if (r->query == NULL)
		return -1;
	for (yaml_node_item_t *item = node->data.sequence.items.start;
	     item < node->data.sequence.items.top; item++) {
		if (scalar_dup(y, yaml_document_get_node(&y->doc, *item), "query",
			       &r->query[r->nquery]) != 0)
			return -1;
		r->nquery++;
	}
	return 0;
}

static int is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* split_keys: the keys of a route's split:, read after both are there. */
static const key_spec split_keys[] = {{"service", NULL, 0, 0, 0}, {"weight", NULL, 0, 0, 0}};

/* read_split reads a route's split: {service: NAME, weight: 0 to 100} into the route obj. */
static int read_split(yaml_ctx *y, const key_spec *s, const yaml_node_t *k, const yaml_node_t *node,
		      void *obj)
{
	manifest_route *r = obj;
	const yaml_node_t *given[COUNT(split_keys)] = {NULL};
	const yaml_node_t *service, *weight;
	(void)s, (void)k;
	r->split_line = line_of(node);
	if (node->type != YAML_MAPPING_NODE)
		return fail_at(y, node,
			       "'split' wants a mapping {service: NAME, weight: PERCENT}, like "
			       "{service: users_v2, weight: 10}");
	if (read_mapping(y, node, "split key", split_keys, COUNT(split_keys), r, given) != 0)
		return -1;
	service = given[0];
	weight = given[1];
	if (service == NULL || weight == NULL)
		return fail_at(y, node, "'split' needs service and weight");
	if (scalar_dup(y, service, "service", &r->split_service) != 0)
		return -1;
	r->split_line = line_of(service);
	for (const char *c = r->split_service; *c; c++)
		if (!is_name_char(*c))
			return fail_at(y, service,
				       "split: service '%.64s' is not a manifest name ([a-z0-9_-])",
				       r->split_service);
	return read_int(y, weight, "weight", 0, 100, &r->split_weight);
}

/* route_keys: the keys of one route. */
static const key_spec route_keys[] = {
    {"method", as_string, offsetof(manifest_route, method), 0, 0},
    {"path", as_string, offsetof(manifest_route, path), 0, 0},
    {"rpc", as_string, offsetof(manifest_route, rpc), 0, 0},
    {"body", as_string, offsetof(manifest_route, body), 0, 0},
    {"status", as_string, offsetof(manifest_route, status), 0, 0},
    {"location", as_string, offsetof(manifest_route, location), 0, 0},
    {"query", read_query, 0, 0, 0},
    {"next", as_string, offsetof(manifest_route, next), 0, 0},
    {"split", read_split, 0, 0, 0},
    {"timeout", as_duration, offsetof(manifest_route, timeout_ms), 1,
     MANIFEST_ROUTE_TIMEOUT_MAX_MS},
};

static int read_route(yaml_ctx *y, const yaml_node_t *node, manifest_route *r)
{
	const yaml_node_t *given[COUNT(route_keys)] = {NULL};
	r->line = line_of(node);
	if (node->type != YAML_MAPPING_NODE)
		return fail_at(y, node, "each route is a mapping with method, path, rpc and body");
	if (read_mapping(y, node, "route key", route_keys, COUNT(route_keys), r, given) != 0)
		return -1;
	if (r->method == NULL || r->path == NULL || r->rpc == NULL)
		return fail_at(y, node, "a route needs method, path and rpc");
	return 0;
}

/* read_routes reads routes: a list of routes, into the manifest obj. */
static int read_routes(yaml_ctx *y, const key_spec *s, const yaml_node_t *k,
		       const yaml_node_t *node, void *obj)
{
	manifest *m = obj;
	(void)s, (void)k;
	m->routes = alloc_items(y, node, "'routes' wants a list of routes", sizeof(*m->routes));
	if (m->routes == NULL)
		return -1;
	for (yaml_node_item_t *item = node->data.sequence.items.start;
	     item < node->data.sequence.items.top; item++) {
		m->nroutes++;
		if (read_route(y, yaml_document_get_node(&y->doc, *item),
			       &m->routes[m->nroutes - 1]) != 0)
			return -1;
	}
	return 0;
}

/* ---- healthcheck: ---------------------------------------------------------------------------- */

enum { HEALTH_INTERVAL, HEALTH_TIMEOUT };

/* health_keys: the keys of healthcheck:, those the enum names first. */
static const key_spec health_keys[] = {
    [HEALTH_INTERVAL] = {"interval", as_duration, offsetof(manifest_healthcheck, interval_ms), 1,
			 DURATION_MAX_MS},
    [HEALTH_TIMEOUT] = {"timeout", as_duration, offsetof(manifest_healthcheck, timeout_ms), 1,
			DURATION_MAX_MS},
    {"healthy_threshold", as_int, offsetof(manifest_healthcheck, healthy_threshold), 1, 10},
    {"unhealthy_threshold", as_int, offsetof(manifest_healthcheck, unhealthy_threshold), 1, 10},
    {"grace_period", as_duration, offsetof(manifest_healthcheck, grace_period_ms), 0,
     DURATION_MAX_MS},
};

/* read_healthcheck reads the healthcheck: mapping into the manifest obj's health; k is its key. */
static int read_healthcheck(yaml_ctx *y, const key_spec *s, const yaml_node_t *k,
			    const yaml_node_t *node, void *obj)
{
	manifest_healthcheck *h = &((manifest *)obj)->health;
	const yaml_node_t *given[COUNT(health_keys)] = {NULL}, *interval, *timeout;
	char timeout_text[32], interval_text[32];
	(void)s;
	h->line = line_of(k);
	if (node->type != YAML_MAPPING_NODE)
		return fail_at(y, node,
			       "'healthcheck' wants a mapping with interval, timeout, "
			       "healthy_threshold, unhealthy_threshold and grace_period");
	if (read_mapping(y, node, "healthcheck key", health_keys, COUNT(health_keys), h, given) !=
	    0)
		return -1;
	interval = given[HEALTH_INTERVAL];
	timeout = given[HEALTH_TIMEOUT];
	if (h->timeout_ms >= h->interval_ms)
		return fail_at(y, timeout != NULL ? timeout : interval,
			       "'timeout' (%s%s) must be less than 'interval' (%s%s)",
			       format_ms(h->timeout_ms, timeout_text, sizeof(timeout_text)),
			       timeout != NULL ? "" : ", the default",
			       format_ms(h->interval_ms, interval_text, sizeof(interval_text)),
			       interval != NULL ? "" : ", the default");
	return 0;
}

/* ---- calls: ---------------------------------------------------------------------------------- */

/* is_call shapes a calls: entry: a manifest name, one dot and a protobuf method name. */
static int is_call(const char *call)
{
	const char *dot = strchr(call, '.'), *c;
	if (dot == NULL || dot == call || strchr(dot + 1, '.') != NULL)
		return 0;
	for (c = call; c < dot; c++)
		if (!is_name_char(*c))
			return 0;
	if (!((dot[1] >= 'A' && dot[1] <= 'Z') || (dot[1] >= 'a' && dot[1] <= 'z') ||
	      dot[1] == '_'))
		return 0;
	for (c = dot + 1; *c; c++)
		if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
		      (*c >= '0' && *c <= '9') || *c == '_'))
			return 0;
	return 1;
}

#define CALLS_WANTS "'calls' wants a list of service.method, like [users.Get]"

/* read_calls reads calls: a list of service.method the service may call, into the manifest
 * obj. */
static int read_calls(yaml_ctx *y, const key_spec *s, const yaml_node_t *k, const yaml_node_t *node,
		      void *obj)
{
	manifest *m = obj;
	(void)s, (void)k;
	if ((m->calls = alloc_items(y, node, CALLS_WANTS, sizeof(*m->calls))) == NULL ||
	    (m->calls_line = alloc_items(y, node, CALLS_WANTS, sizeof(*m->calls_line))) == NULL)
		return -1;
	for (yaml_node_item_t *item = node->data.sequence.items.start;
	     item < node->data.sequence.items.top; item++) {
		yaml_node_t *v = yaml_document_get_node(&y->doc, *item);
		const char *call;
		if (scalar_dup(y, v, "calls", &m->calls[m->ncalls]) != 0)
			return -1;
		call = m->calls[m->ncalls];
		m->calls_line[m->ncalls++] = line_of(v);
		if (!is_call(call))
			return fail_at(y, v,
				       "calls: '%.64s' is not service.method (a manifest name, one "
				       "dot, a method of its service), like users.Get",
				       call);
		for (size_t i = 0; i + 1 < m->ncalls; i++)
			if (strcmp(m->calls[i], call) == 0)
				return fail_at(y, v, "calls: '%.64s' is listed twice", call);
	}
	return 0;
}

/* ---- fields: --------------------------------------------------------------------------------- */

#define FIELD_KEYS "required, min_length, max_length, pattern, minimum, maximum, description"

enum { RULE_MINIMUM = 4, RULE_MAXIMUM = 5 };

/* rule_keys: the keys of one field's rule, FIELD_KEYS. */
static const key_spec rule_keys[] = {
    {"required", as_bool, offsetof(manifest_field, required), 0, 0},
    {"min_length", as_length, offsetof(manifest_field, min_length), 0, 1 << 30},
    {"max_length", as_length, offsetof(manifest_field, max_length), 0, 1 << 30},
    {"pattern", as_string, offsetof(manifest_field, pattern), 0, 0},
    [RULE_MINIMUM] = {"minimum", as_int64, offsetof(manifest_field, minimum), 0, 0},
    [RULE_MAXIMUM] = {"maximum", as_int64, offsetof(manifest_field, maximum), 0, 0},
    {"description", as_string, offsetof(manifest_field, description), 0, 0},
};

/* read_field_rule reads one field's rule, {required: true, max_length: 32, ...}, into f. */
static int read_field_rule(yaml_ctx *y, const yaml_node_t *node, manifest_field *f)
{
	const yaml_node_t *given[COUNT(rule_keys)] = {NULL};
	f->min_length = f->max_length = -1;
	if (node->type != YAML_MAPPING_NODE)
		return fail_at(y, node,
			       "fields: %s.%s wants a mapping of " FIELD_KEYS
			       ", like {required: true, max_length: 100}",
			       f->rpc, f->field);
	if (read_mapping(y, node, "field rule", rule_keys, COUNT(rule_keys), f, given) != 0)
		return -1;
	f->has_minimum = given[RULE_MINIMUM] != NULL;
	f->has_maximum = given[RULE_MAXIMUM] != NULL;
	if (f->min_length >= 0 && f->max_length >= 0 && f->min_length > f->max_length)
		return fail_at(y, node, "fields: %s.%s: min_length %ld is over max_length %ld",
			       f->rpc, f->field, f->min_length, f->max_length);
	if (f->has_minimum && f->has_maximum && f->minimum > f->maximum)
		return fail_at(y, node,
			       "fields: %s.%s: minimum %" PRId64 " is over maximum %" PRId64,
			       f->rpc, f->field, f->minimum, f->maximum);
	return 0;
}

/* read_fields reads fields: a mapping of rpc to a mapping of field to its rule, into the
 * manifest obj. */
static int read_fields(yaml_ctx *y, const key_spec *s, const yaml_node_t *k,
		       const yaml_node_t *node, void *obj)
{
	manifest *m = obj;
	size_t n = 0;
	(void)s, (void)k;
	if (node->type != YAML_MAPPING_NODE)
		return fail_at(y, node,
			       "'fields' wants a mapping of rpc to its request's fields, like "
			       "{Create: {name: {required: true, max_length: 100}}}");
	for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
	     pair < node->data.mapping.pairs.top; pair++) {
		yaml_node_t *v = yaml_document_get_node(&y->doc, pair->value);
		if (v->type != YAML_MAPPING_NODE)
			return fail_at(
			    y, v,
			    "fields: %s wants a mapping of its request's fields to their "
			    "rules",
			    key_text(yaml_document_get_node(&y->doc, pair->key)));
		n += (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
	}
	m->fields = calloc(n + 1, sizeof(*m->fields));
	if (m->fields == NULL)
		return fail_at(y, node, "out of memory");
	for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
	     pair < node->data.mapping.pairs.top; pair++) {
		yaml_node_t *rk = yaml_document_get_node(&y->doc, pair->key);
		yaml_node_t *rv = yaml_document_get_node(&y->doc, pair->value);
		for (yaml_node_pair_t *fp = rv->data.mapping.pairs.start;
		     fp < rv->data.mapping.pairs.top; fp++) {
			yaml_node_t *fk = yaml_document_get_node(&y->doc, fp->key);
			manifest_field *f = &m->fields[m->nfields++];
			f->line = line_of(fk);
			if (scalar_dup(y, rk, "fields", &f->rpc) != 0 ||
			    scalar_dup(y, fk, "fields", &f->field) != 0)
				return -1;
			if (manifest_field_find(m, f->rpc, f->field) != f)
				return fail_at(y, fk, "fields: %s.%s is given twice", f->rpc,
					       f->field);
			if (read_field_rule(y, yaml_document_get_node(&y->doc, fp->value), f) != 0)
				return -1;
		}
	}
	return 0;
}

/* ---- the manifest ---------------------------------------------------------------------------- */

/* read_policy reads policy: enforce or audit into the manifest obj. */
static int read_policy(yaml_ctx *y, const key_spec *s, const yaml_node_t *k, const yaml_node_t *v,
		       void *obj)
{
	const char *mode = v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : "";
	(void)s, (void)k;
	if (strcmp(mode, "audit") != 0 && strcmp(mode, "enforce") != 0)
		return fail_at(y, v, "policy is enforce or audit, not '%s'", mode);
	((manifest *)obj)->policy_audit = strcmp(mode, "audit") == 0;
	return 0;
}

enum { MANIFEST_NAME, MANIFEST_SERVICE };

/* manifest_keys: the keys of a manifest. */
static const key_spec manifest_keys[] = {
    [MANIFEST_NAME] = {"name", as_string, offsetof(manifest, name), 0, 0},
    [MANIFEST_SERVICE] = {"service", as_string, offsetof(manifest, service), 0, 0},
    {"routes", read_routes, 0, 0, 0},
    {"count", as_int, offsetof(manifest, count), 1, 64},
    {"healthcheck", read_healthcheck, 0, 0, 0},
    {"deregistration_delay", as_duration, offsetof(manifest, deregistration_delay_ms), 0, 300000},
    {"max_inflight", as_int, offsetof(manifest, max_inflight), 1, MANIFEST_MAX_INFLIGHT_MAX},
    {"calls", read_calls, 0, 0, 0},
    {"cpu", as_int, offsetof(manifest, cpu_millis), 1, 64000},
    {"memory", as_size, offsetof(manifest, memory_bytes), 0, 0},
    {"policy", read_policy, 0, 0, 0},
    {"fields", read_fields, 0, 0, 0},
};

static int read_manifest(yaml_ctx *y, manifest *m)
{
	yaml_node_t *root = yaml_document_get_root_node(&y->doc);
	const yaml_node_t *given[COUNT(manifest_keys)] = {NULL}, *name_node;
	m->count = 1;
	m->max_inflight = MANIFEST_MAX_INFLIGHT_DEFAULT;
	m->health = (manifest_healthcheck){.interval_ms = 5000,
					   .timeout_ms = 2000,
					   .healthy_threshold = 2,
					   .unhealthy_threshold = 2};
	m->deregistration_delay_ms = 5000;
	if (root == NULL || root->type != YAML_MAPPING_NODE)
		return fail_at(y, root, "a manifest is a mapping with name, service and routes");
	if (read_mapping(y, root, "key", manifest_keys, COUNT(manifest_keys), m, given) != 0)
		return -1;
	if (m->name == NULL || m->service == NULL)
		return fail_at(y, root, "a manifest needs name and service");
	m->service_line = line_of(given[MANIFEST_SERVICE]);
	name_node = given[MANIFEST_NAME];
	for (const char *c = m->name; *c; c++)
		if (!is_name_char(*c))
			return fail_at(y, name_node, "name '%s' may hold only [a-z0-9_-]", m->name);
	return 0;
}

int manifest_load(const char *path, manifest **out, char *err, size_t errlen)
{
	yaml_ctx y = {.file = path, .err = err, .errlen = errlen};
	yaml_parser_t parser;
	manifest *m;
	FILE *f = fopen(path, "rb");
	int rv = -1;
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL || (m->file = strdup(path)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out_close;
	}
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &y.doc)) {
		snprintf(err, errlen, "%s:%lu: %s", path,
			 (unsigned long)parser.problem_mark.line + 1,
			 parser.problem ? parser.problem : "malformed YAML");
		goto out_parser;
	}
	rv = read_manifest(&y, m);
	yaml_document_delete(&y.doc);
out_parser:
	yaml_parser_delete(&parser);
out_close:
	fclose(f);
	if (rv == 0)
		*out = m;
	else
		manifest_free(m);
	return rv;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int manifest_load_dir(const char *dir, manifest ***out, size_t *n, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t nnames = 0;
	manifest **ms = NULL;
	size_t count = 0;
	int rv = -1;
	if (d == NULL) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		char path[4096];
		struct stat st;
		char **grown;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/manifest.yml", dir, e->d_name);
		if (stat(path, &st) != 0)
			continue;
		grown = realloc(names, (nnames + 1) * sizeof(*names));
		if (grown == NULL || (grown[nnames] = strdup(path)) == NULL) {
			names = grown != NULL ? grown : names;
			snprintf(err, errlen, "out of memory");
			goto out_free;
		}
		names = grown;
		nnames++;
	}
	if (nnames == 0) {
		snprintf(err, errlen, "%s: no */manifest.yml found", dir);
		goto out_free;
	}
	qsort(names, nnames, sizeof(*names), compare_names);
	ms = calloc(nnames, sizeof(*ms));
	if (ms == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out_free;
	}
	for (; count < nnames; count++)
		if (manifest_load(names[count], &ms[count], err, errlen) != 0)
			goto out_free;
	for (size_t i = 0; i < count; i++) {
		for (size_t j = 0; j < i; j++) {
			if (strcmp(ms[i]->name, ms[j]->name) == 0) {
				snprintf(err, errlen, "%s: name '%s' is taken by %s", ms[i]->file,
					 ms[i]->name, ms[j]->file);
				goto out_free;
			}
		}
	}
	*out = ms;
	*n = count;
	ms = NULL;
	rv = 0;
out_free:
	if (ms != NULL)
		manifest_free_all(ms, count);
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rv;
}

int manifest_check_calls(manifest *const *ms, size_t n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t c = 0; c < ms[i]->ncalls; c++) {
			const char *call = ms[i]->calls[c], *dot = strchr(call, '.');
			const manifest *callee = NULL;
			const ProtobufCServiceDescriptor *service;
			if (dot == NULL || !is_call(call)) {
				snprintf(err, errlen, "%s:%d: calls: '%s' is not service.method",
					 ms[i]->file, ms[i]->calls_line[c], call);
				return -1;
			}
			for (size_t k = 0; k < n && callee == NULL; k++)
				if (strlen(ms[k]->name) == (size_t)(dot - call) &&
				    strncmp(ms[k]->name, call, (size_t)(dot - call)) == 0)
					callee = ms[k];
			if (callee == NULL) {
				snprintf(err, errlen, "%s:%d: calls: no service '%.*s'",
					 ms[i]->file, ms[i]->calls_line[c], (int)(dot - call),
					 call);
				return -1;
			}
			service = registry_find_service(callee->service);
			if (service == NULL) {
				snprintf(err, errlen,
					 "%s:%d: calls: %s serves '%s', which is not in proto/",
					 ms[i]->file, ms[i]->calls_line[c], callee->name,
					 callee->service);
				return -1;
			}
			if (protobuf_c_service_descriptor_get_method_by_name(service, dot + 1) ==
			    NULL) {
				snprintf(err, errlen, "%s:%d: calls: %s has no method '%s'",
					 ms[i]->file, ms[i]->calls_line[c], callee->name, dot + 1);
				return -1;
			}
		}
	}
	return 0;
}

int manifest_check_splits(manifest *const *ms, size_t n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		const ProtobufCServiceDescriptor *own = registry_find_service(ms[i]->service);
		for (size_t k = 0; k < ms[i]->nroutes; k++) {
			const manifest_route *mr = &ms[i]->routes[k];
			const manifest *other = NULL;
			const ProtobufCServiceDescriptor *theirs;
			const ProtobufCMethodDescriptor *mine, *same;
			if (mr->split_service == NULL)
				continue;
			for (size_t j = 0; j < n && other == NULL; j++)
				if (strcmp(ms[j]->name, mr->split_service) == 0)
					other = ms[j];
			if (other == NULL) {
				snprintf(err, errlen,
					 "%s:%d: split: no manifest named '%s' is loaded (a split "
					 "goes to another service's manifest)",
					 ms[i]->file, mr->split_line, mr->split_service);
				return -1;
			}
			if (other == ms[i]) {
				snprintf(err, errlen,
					 "%s:%d: split: '%s' is the route's own service; a split "
					 "names another one",
					 ms[i]->file, mr->split_line, mr->split_service);
				return -1;
			}
			mine = own != NULL
				   ? protobuf_c_service_descriptor_get_method_by_name(own, mr->rpc)
				   : NULL;
			if (mine == NULL) {
				snprintf(err, errlen, "%s:%d: split: %s has no method '%s'",
					 ms[i]->file, mr->split_line, ms[i]->service, mr->rpc);
				return -1;
			}
			theirs = registry_find_service(other->service);
			if (theirs == NULL) {
				snprintf(err, errlen,
					 "%s:%d: split: %s serves '%s', which is not in proto/",
					 ms[i]->file, mr->split_line, other->name, other->service);
				return -1;
			}
			same = protobuf_c_service_descriptor_get_method_by_name(theirs, mr->rpc);
			if (same == NULL) {
				snprintf(err, errlen, "%s:%d: split: %s (%s) has no method '%s'",
					 ms[i]->file, mr->split_line, other->name, other->service,
					 mr->rpc);
				return -1;
			}
			if (same->input != mine->input || same->output != mine->output) {
				snprintf(
				    err, errlen,
				    "%s:%d: split: %s's %s takes %s and returns %s, not %s and "
				    "%s like %s's",
				    ms[i]->file, mr->split_line, other->name, mr->rpc,
				    same->input->name, same->output->name, mine->input->name,
				    mine->output->name, ms[i]->name);
				return -1;
			}
		}
	}
	return 0;
}

const manifest_field *manifest_field_find(const manifest *m, const char *rpc, const char *field)
{
	for (size_t i = 0; i < m->nfields; i++)
		if (m->fields[i].rpc != NULL && m->fields[i].field != NULL &&
		    strcmp(m->fields[i].rpc, rpc) == 0 && strcmp(m->fields[i].field, field) == 0)
			return &m->fields[i];
	return NULL;
}

static int is_integer_type(ProtobufCType type)
{
	switch (type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return 1;
	default:
		return 0;
	}
}

int manifest_check_fields(const manifest *m, char *err, size_t errlen)
{
	const ProtobufCServiceDescriptor *service = registry_find_service(m->service);
	for (size_t i = 0; i < m->nfields; i++) {
		const manifest_field *f = &m->fields[i];
		const ProtobufCMethodDescriptor *method =
		    service != NULL
			? protobuf_c_service_descriptor_get_method_by_name(service, f->rpc)
			: NULL;
		const ProtobufCFieldDescriptor *fd =
		    method != NULL
			? protobuf_c_message_descriptor_get_field_by_name(method->input, f->field)
			: NULL;
		const char *why = NULL;
		if (service == NULL)
			why = "the manifest's service is not in proto/";
		else if (method == NULL)
			why = "no such method";
		else if (fd == NULL)
			why = "not a field of the method's request";
		else if (fd->label == PROTOBUF_C_LABEL_REPEATED)
			why = "a repeated field takes no rule";
		else if ((f->min_length >= 0 || f->max_length >= 0 || f->pattern != NULL) &&
			 fd->type != PROTOBUF_C_TYPE_STRING)
			why = "min_length, max_length and pattern are for a string field";
		else if ((f->has_minimum || f->has_maximum) && !is_integer_type(fd->type))
			why = "minimum and maximum are for an integer field";
		if (why != NULL) {
			snprintf(err, errlen, "%s:%d: fields: %s.%s: %s%s%s%s", m->file, f->line,
				 f->rpc, f->field, why, method != NULL ? " (" : "",
				 method != NULL ? method->input->name : "",
				 method != NULL ? ")" : "");
			return -1;
		}
	}
	return 0;
}

mesh_health_opts manifest_health_opts(const manifest *m)
{
	return (mesh_health_opts){
	    .interval_ms = (int)m->health.interval_ms,
	    .timeout_ms = (int)m->health.timeout_ms,
	    .healthy_threshold = m->health.healthy_threshold,
	    .unhealthy_threshold = m->health.unhealthy_threshold,
	    .grace_ms = (int)m->health.grace_period_ms,
	};
}

void manifest_policy(manifest *const *ms, size_t n, size_t k, manifest_rule_fn emit, void *ctx)
{
	const manifest *self = ms[k];
	const ProtobufCServiceDescriptor *desc = registry_find_service(self->service);
	size_t len = strlen(self->name);
	char why[4400];
	for (size_t i = 0; i < self->nroutes; i++) {
		snprintf(why, sizeof(why), "%s %s", self->routes[i].method, self->routes[i].path);
		emit("edge", self->routes[i].rpc, why, ctx);
	}
	emit("edge", "Health", "its health checks and status", ctx);
	for (size_t c = 0; c < n; c++) {
		for (size_t i = 0; c != k && i < ms[c]->nroutes; i++) {
			if (ms[c]->routes[i].split_service == NULL ||
			    strcmp(ms[c]->routes[i].split_service, self->name) != 0)
				continue;
			snprintf(why, sizeof(why), "%s %s, split from %s", ms[c]->routes[i].method,
				 ms[c]->routes[i].path, ms[c]->name);
			emit("edge", ms[c]->routes[i].rpc, why, ctx);
		}
		for (size_t i = 0; i < ms[c]->ncalls; i++) {
			const char *call = ms[c]->calls[i];
			if (strncmp(call, self->name, len) != 0 || call[len] != '.')
				continue;
			snprintf(why, sizeof(why), "calls: in %s", ms[c]->file);
			emit(ms[c]->name, call + len + 1, why, ctx);
		}
	}
	for (size_t m = 0; desc != NULL && m < desc->n_methods; m++)
		emit("meshctl", desc->methods[m].name, "the operator's meshctl call", ctx);
	emit("meshctl", "Health", "meshctl status", ctx);
}

void manifest_free(manifest *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nroutes; i++) {
		free(m->routes[i].method);
		free(m->routes[i].path);
		free(m->routes[i].rpc);
		free(m->routes[i].body);
		free(m->routes[i].status);
		free(m->routes[i].location);
		free(m->routes[i].next);
		free(m->routes[i].split_service);
		for (size_t q = 0; q < m->routes[i].nquery; q++)
			free(m->routes[i].query[q]);
		free(m->routes[i].query);
	}
	free(m->routes);
	for (size_t i = 0; i < m->ncalls; i++)
		free(m->calls[i]);
	free(m->calls);
	free(m->calls_line);
	for (size_t i = 0; i < m->nfields; i++) {
		free(m->fields[i].rpc);
		free(m->fields[i].field);
		free(m->fields[i].description);
		free(m->fields[i].pattern);
	}
	free(m->fields);
	free(m->file);
	free(m->name);
	free(m->service);
	free(m);
}

void manifest_free_all(manifest **ms, size_t n)
{
	for (size_t i = 0; i < n; i++)
		manifest_free(ms[i]);
	free(ms);
}
