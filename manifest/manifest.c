/* manifest.c: reads and checks svc/<name>/manifest.yml with libyaml, against the protobuf registry.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
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

/* scalar_dup copies a scalar node's text into *out; fails if node is not a non-empty scalar. */
static int scalar_dup(yaml_ctx *y, const yaml_node_t *node, const char *key, char **out)
{
	if (node->type != YAML_SCALAR_NODE || node->data.scalar.length == 0)
		return fail_at(y, node, "'%s' wants a non-empty string", key);
	if (*out != NULL)
		return fail_at(y, node, "'%s' is given twice", key);
	*out = strndup((const char *)node->data.scalar.value, node->data.scalar.length);
	if (*out == NULL)
		return fail_at(y, node, "out of memory");
	return 0;
}

static const char *key_text(const yaml_node_t *node)
{
	return node->type == YAML_SCALAR_NODE ? (const char *)node->data.scalar.value : "?";
}

/* read_query reads a route's query: a list of parameter names. */
static int read_query(yaml_ctx *y, yaml_node_t *node, manifest_route *r)
{
	size_t n;
	if (r->query != NULL)
		return fail_at(y, node, "'query' is given twice");
	if (node->type != YAML_SEQUENCE_NODE)
		return fail_at(y, node, "'query' wants a list of parameter names");
	n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
	r->query = calloc(n + 1, sizeof(*r->query));
	if (r->query == NULL)
		return fail_at(y, node, "out of memory");
	for (yaml_node_item_t *item = node->data.sequence.items.start;
	     item < node->data.sequence.items.top; item++) {
		if (scalar_dup(y, yaml_document_get_node(&y->doc, *item), "query",
			       &r->query[r->nquery]) != 0)
			return -1;
		r->nquery++;
	}
	return 0;
}

static int read_split(yaml_ctx *y, const yaml_node_t *k, yaml_node_t *node, manifest_route *r);
static int read_duration(yaml_ctx *y, const yaml_node_t *node, const char *key, int64_t min_ms,
			 int64_t max_ms, int64_t *out_ms);

static int read_route(yaml_ctx *y, yaml_node_t *node, manifest_route *r)
{
	r->line = (int)node->start_mark.line + 1;
	if (node->type != YAML_MAPPING_NODE)
		return fail_at(y, node, "each route is a mapping with method, path, rpc and body");
	for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
	     pair < node->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(&y->doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(&y->doc, pair->value);
		const char *key = key_text(k);
		char **slot = strcmp(key, "method") == 0     ? &r->method
			      : strcmp(key, "path") == 0     ? &r->path
			      : strcmp(key, "rpc") == 0	     ? &r->rpc
			      : strcmp(key, "body") == 0     ? &r->body
			      : strcmp(key, "status") == 0   ? &r->status
			      : strcmp(key, "location") == 0 ? &r->location
			      : strcmp(key, "next") == 0     ? &r->next
							     : NULL;
		if (strcmp(key, "query") == 0) {
			if (read_query(y, v, r) != 0)
				return -1;
			continue;
		}
		if (strcmp(key, "split") == 0) {
			if (read_split(y, k, v, r) != 0)
				return -1;
			continue;
		}
		if (strcmp(key, "timeout") == 0) {
			if (read_duration(y, v, key, 1, MANIFEST_ROUTE_TIMEOUT_MAX_MS,
					  &r->timeout_ms) != 0)
				return -1;
			continue;
		}
		if (slot == NULL)
			return fail_at(y, k,
				       "unknown route key '%s' (known: method, path, rpc, body, "
				       "status, location, query, next, split, timeout)",
				       key);
		if (scalar_dup(y, v, key, slot) != 0)
			return -1;
	}
	if (r->method == NULL || r->path == NULL || r->rpc == NULL)
		return fail_at(y, node, "a route needs method, path and rpc");
	return 0;
}

static int read_routes(yaml_ctx *y, yaml_node_t *node, manifest *m)
{
	size_t n;
	if (node->type != YAML_SEQUENCE_NODE)
		return fail_at(y, node, "'routes' wants a list of routes");
	n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
	m->routes = calloc(n + 1, sizeof(*m->routes));
	if (m->routes == NULL)
		return fail_at(y, node, "out of memory");
	for (yaml_node_item_t *item = node->data.sequence.items.start;
	     item < node->data.sequence.items.top; item++) {
		m->nroutes++;
		if (read_route(y, yaml_document_get_node(&y->doc, *item),
			       &m->routes[m->nroutes - 1]) != 0)
			return -1;
	}
	return 0;
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

/* once fails if the key k was already seen in its mapping, and notes that it was. */
static int once(yaml_ctx *y, const yaml_node_t *k, int *seen)
{
	if (*seen)
		return fail_at(y, k, "'%s' is given twice", key_text(k));
	*seen = 1;
	return 0;
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

/* read_duration reads a duration (500ms, 5s, 2m, 1h) from min_ms to max_ms into *out_ms. */
static int read_duration(yaml_ctx *y, const yaml_node_t *node, const char *key, int64_t min_ms,
			 int64_t max_ms, int64_t *out_ms)
{
	char got[64], limit[32];
	int64_t ms = 0;
	switch (read_amount(node, duration_units,
			    sizeof(duration_units) / sizeof(duration_units[0]), max_ms, &ms)) {
	case 1:
		return fail_at(y, node,
			       "'%s' wants a unit: %s is not a duration (" DURATION_FORMS ")", key,
			       describe(node, got, sizeof(got)));
	case 2:
		return fail_at(y, node, "'%s' wants a duration, " DURATION_FORMS ", not %s", key,
			       describe(node, got, sizeof(got)));
	case 3:
		return fail_at(y, node, "'%s' is at most %s, not %s", key,
			       format_ms(max_ms, limit, sizeof(limit)),
			       describe(node, got, sizeof(got)));
	}
	if (ms < min_ms && min_ms == 1)
		return fail_at(y, node, "'%s' must be more than 0, not %s", key,
			       describe(node, got, sizeof(got)));
	if (ms < min_ms)
		return fail_at(y, node, "'%s' must be at least %s, not %s", key,
			       format_ms(min_ms, limit, sizeof(limit)),
			       describe(node, got, sizeof(got)));
	*out_ms = ms;
	return 0;
}

/* read_size reads a size in bytes (512Mi, 1Gi) into *out, more than 0. */
static int read_size(yaml_ctx *y, const yaml_node_t *node, const char *key, int64_t *out)
{
	char got[64];
	int64_t bytes = 0;
	switch (read_amount(node, size_units, sizeof(size_units) / sizeof(size_units[0]), INT64_MAX,
			    &bytes)) {
	case 1:
		return fail_at(y, node, "'%s' wants a unit: %s is not a size (" SIZE_FORMS ")", key,
			       describe(node, got, sizeof(got)));
	case 2:
		return fail_at(y, node, "'%s' wants a size, " SIZE_FORMS ", not %s", key,
			       describe(node, got, sizeof(got)));
	case 3:
		return fail_at(y, node, "'%s' %s is too large", key,
			       describe(node, got, sizeof(got)));
	}
	if (bytes == 0)
		return fail_at(y, node, "'%s' must be more than 0", key);
	*out = bytes;
	return 0;
}

/* read_healthcheck reads the healthcheck: mapping; line is the key's. */
static int read_healthcheck(yaml_ctx *y, yaml_node_t *node, int line, manifest_healthcheck *h)
{
	static const char *const keys[] = {"interval", "timeout", "healthy_threshold",
					   "unhealthy_threshold", "grace_period"};
	yaml_node_t *given[sizeof(keys) / sizeof(keys[0])] = {NULL};
	char timeout[32], interval[32];
	h->line = line;
	if (node->type != YAML_MAPPING_NODE)
		return fail_at(y, node,
			       "'healthcheck' wants a mapping with interval, timeout, "
			       "healthy_threshold, unhealthy_threshold and grace_period");
	for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
	     pair < node->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(&y->doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(&y->doc, pair->value);
		const char *key = key_text(k);
		size_t i = 0;
		int rv;
		while (i < sizeof(keys) / sizeof(keys[0]) && strcmp(key, keys[i]) != 0)
			i++;
		if (i == sizeof(keys) / sizeof(keys[0]))
			return fail_at(y, k,
				       "unknown healthcheck key '%s' (known: interval, timeout, "
				       "healthy_threshold, unhealthy_threshold, grace_period)",
				       key);
		if (given[i] != NULL)
			return fail_at(y, k, "'%s' is given twice", key);
		given[i] = v;
		rv = i == 0   ? read_duration(y, v, key, 1, DURATION_MAX_MS, &h->interval_ms)
		     : i == 1 ? read_duration(y, v, key, 1, DURATION_MAX_MS, &h->timeout_ms)
		     : i == 2 ? read_int(y, v, key, 1, 10, &h->healthy_threshold)
		     : i == 3 ? read_int(y, v, key, 1, 10, &h->unhealthy_threshold)
			      : read_duration(y, v, key, 0, DURATION_MAX_MS, &h->grace_period_ms);
		if (rv != 0)
			return -1;
	}
	if (h->timeout_ms >= h->interval_ms)
		return fail_at(y, given[1] != NULL ? given[1] : given[0],
			       "'timeout' (%s%s) must be less than 'interval' (%s%s)",
			       format_ms(h->timeout_ms, timeout, sizeof(timeout)),
			       given[1] != NULL ? "" : ", the default",
			       format_ms(h->interval_ms, interval, sizeof(interval)),
			       given[0] != NULL ? "" : ", the default");
	return 0;
}

static int is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

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

/* read_calls reads calls: a list of service.method the service may call. */
static int read_calls(yaml_ctx *y, yaml_node_t *node, manifest *m)
{
	size_t n;
	if (node->type != YAML_SEQUENCE_NODE)
		return fail_at(y, node, "'calls' wants a list of service.method, like [users.Get]");
	n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
	m->calls = calloc(n + 1, sizeof(*m->calls));
	m->calls_line = calloc(n + 1, sizeof(*m->calls_line));
	if (m->calls == NULL || m->calls_line == NULL)
		return fail_at(y, node, "out of memory");
	for (yaml_node_item_t *item = node->data.sequence.items.start;
	     item < node->data.sequence.items.top; item++) {
		yaml_node_t *v = yaml_document_get_node(&y->doc, *item);
		const char *call;
		if (scalar_dup(y, v, "calls", &m->calls[m->ncalls]) != 0)
			return -1;
		call = m->calls[m->ncalls];
		m->calls_line[m->ncalls++] = (int)v->start_mark.line + 1;
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

/* read_split reads a route's split: {service: NAME, weight: 0 to 100}; k is the key. */
static int read_split(yaml_ctx *y, const yaml_node_t *k, yaml_node_t *node, manifest_route *r)
{
	yaml_node_t *service = NULL, *weight = NULL;
	if (r->split_line != 0)
		return fail_at(y, k, "'split' is given twice");
	r->split_line = (int)node->start_mark.line + 1;
	if (node->type != YAML_MAPPING_NODE)
		return fail_at(y, node,
			       "'split' wants a mapping {service: NAME, weight: PERCENT}, like "
			       "{service: users_v2, weight: 10}");
	for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
	     pair < node->data.mapping.pairs.top; pair++) {
		yaml_node_t *sk = yaml_document_get_node(&y->doc, pair->key);
		yaml_node_t *sv = yaml_document_get_node(&y->doc, pair->value);
		const char *key = key_text(sk);
		yaml_node_t **slot = strcmp(key, "service") == 0  ? &service
				     : strcmp(key, "weight") == 0 ? &weight
								  : NULL;
		if (slot == NULL)
			return fail_at(y, sk, "unknown split key '%s' (known: service, weight)",
				       key);
		if (*slot != NULL)
			return fail_at(y, sk, "'%s' is given twice", key);
		*slot = sv;
	}
	if (service == NULL || weight == NULL)
		return fail_at(y, node, "'split' needs service and weight");
	if (scalar_dup(y, service, "service", &r->split_service) != 0)
		return -1;
	r->split_line = (int)service->start_mark.line + 1;
	for (const char *c = r->split_service; *c; c++)
		if (!is_name_char(*c))
			return fail_at(y, service,
				       "split: service '%.64s' is not a manifest name ([a-z0-9_-])",
				       r->split_service);
	return read_int(y, weight, "weight", 0, 100, &r->split_weight);
}

/* read_int64 reads a whole number, maybe negative, into *out. */
static int read_int64(yaml_ctx *y, const yaml_node_t *node, const char *key, int64_t *out)
{
	const char *text = (const char *)node->data.scalar.value;
	char got[64];
	int64_t v = 0;
	size_t sign = node->type == YAML_SCALAR_NODE && text[0] == '-';
	if (node->type != YAML_SCALAR_NODE || node->data.scalar.length <= sign ||
	    node->data.scalar.length > sign + 18 ||
	    leading_number(text + sign, &v) != node->data.scalar.length - sign)
		return fail_at(y, node, "'%s' wants a whole number (at most 18 digits), not %s",
			       key, describe(node, got, sizeof(got)));
	*out = sign ? -v : v;
	return 0;
}

/* read_bool reads true or false into *out. */
static int read_bool(yaml_ctx *y, const yaml_node_t *node, const char *key, int *out)
{
	char got[64];
	const char *text = (const char *)node->data.scalar.value;
	if (node->type != YAML_SCALAR_NODE ||
	    (strcmp(text, "true") != 0 && strcmp(text, "false") != 0))
		return fail_at(y, node, "'%s' wants true or false, not %s", key,
			       describe(node, got, sizeof(got)));
	*out = strcmp(text, "true") == 0;
	return 0;
}

#define FIELD_KEYS "required, min_length, max_length, pattern, minimum, maximum, description"

/* read_field_rule reads one field's rule, {required: true, max_length: 32, ...}, into f. */
static int read_field_rule(yaml_ctx *y, yaml_node_t *node, manifest_field *f)
{
	static const char *const keys[] = {"required", "min_length", "max_length", "pattern",
					   "minimum",  "maximum",    "description"};
	int seen[sizeof(keys) / sizeof(keys[0])] = {0}, length;
	f->min_length = f->max_length = -1;
	if (node->type != YAML_MAPPING_NODE)
		return fail_at(y, node,
			       "fields: %s.%s wants a mapping of " FIELD_KEYS
			       ", like {required: true, max_length: 100}",
			       f->rpc, f->field);
	for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
	     pair < node->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(&y->doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(&y->doc, pair->value);
		const char *key = key_text(k);
		size_t i = 0;
		int rv;
		while (i < sizeof(keys) / sizeof(keys[0]) && strcmp(key, keys[i]) != 0)
			i++;
		if (i == sizeof(keys) / sizeof(keys[0]))
			return fail_at(y, k, "unknown field rule '%s' (known: " FIELD_KEYS ")",
				       key);
		if (once(y, k, &seen[i]) != 0)
			return -1;
		switch (i) {
		case 0:
			rv = read_bool(y, v, key, &f->required);
			break;
		case 1:
		case 2:
			rv = read_int(y, v, key, 0, 1 << 30, &length);
			*(i == 1 ? &f->min_length : &f->max_length) = length;
			break;
		case 3:
			rv = scalar_dup(y, v, key, &f->pattern);
			break;
		case 4:
			f->has_minimum = 1;
			rv = read_int64(y, v, key, &f->minimum);
			break;
		case 5:
			f->has_maximum = 1;
			rv = read_int64(y, v, key, &f->maximum);
			break;
		default:
			rv = scalar_dup(y, v, key, &f->description);
			break;
		}
		if (rv != 0)
			return -1;
	}
	if (f->min_length >= 0 && f->max_length >= 0 && f->min_length > f->max_length)
		return fail_at(y, node, "fields: %s.%s: min_length %ld is over max_length %ld",
			       f->rpc, f->field, f->min_length, f->max_length);
	if (f->has_minimum && f->has_maximum && f->minimum > f->maximum)
		return fail_at(y, node,
			       "fields: %s.%s: minimum %" PRId64 " is over maximum %" PRId64,
			       f->rpc, f->field, f->minimum, f->maximum);
	return 0;
}

/* read_fields reads fields: a mapping of rpc to a mapping of field to its rule. */
static int read_fields(yaml_ctx *y, yaml_node_t *node, manifest *m)
{
	size_t n = 0;
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
			f->line = (int)fk->start_mark.line + 1;
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

static int read_manifest(yaml_ctx *y, manifest *m)
{
	yaml_node_t *root = yaml_document_get_root_node(&y->doc), *name_node = NULL;
	int seen_count = 0, seen_health = 0, seen_delay = 0, seen_cpu = 0, seen_memory = 0,
	    seen_policy = 0, seen_inflight = 0;
	m->count = 1;
	m->max_inflight = MANIFEST_MAX_INFLIGHT_DEFAULT;
	m->health = (manifest_healthcheck){.interval_ms = 5000,
					   .timeout_ms = 2000,
					   .healthy_threshold = 2,
					   .unhealthy_threshold = 2};
	m->deregistration_delay_ms = 5000;
	if (root == NULL || root->type != YAML_MAPPING_NODE)
		return fail_at(y, root, "a manifest is a mapping with name, service and routes");
	for (yaml_node_pair_t *pair = root->data.mapping.pairs.start;
	     pair < root->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(&y->doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(&y->doc, pair->value);
		const char *key = key_text(k);
		if (strcmp(key, "name") == 0) {
			name_node = v;
			if (scalar_dup(y, v, key, &m->name) != 0)
				return -1;
		} else if (strcmp(key, "service") == 0) {
			m->service_line = (int)v->start_mark.line + 1;
			if (scalar_dup(y, v, key, &m->service) != 0)
				return -1;
		} else if (strcmp(key, "routes") == 0) {
			if (m->routes != NULL)
				return fail_at(y, k, "'routes' is given twice");
			if (read_routes(y, v, m) != 0)
				return -1;
		} else if (strcmp(key, "count") == 0) {
			if (once(y, k, &seen_count) != 0 ||
			    read_int(y, v, key, 1, 64, &m->count) != 0)
				return -1;
		} else if (strcmp(key, "healthcheck") == 0) {
			if (once(y, k, &seen_health) != 0 ||
			    read_healthcheck(y, v, (int)k->start_mark.line + 1, &m->health) != 0)
				return -1;
		} else if (strcmp(key, "deregistration_delay") == 0) {
			if (once(y, k, &seen_delay) != 0 ||
			    read_duration(y, v, key, 0, 300000, &m->deregistration_delay_ms) != 0)
				return -1;
		} else if (strcmp(key, "calls") == 0) {
			if (m->calls != NULL)
				return fail_at(y, k, "'calls' is given twice");
			if (read_calls(y, v, m) != 0)
				return -1;
		} else if (strcmp(key, "max_inflight") == 0) {
			if (once(y, k, &seen_inflight) != 0 ||
			    read_int(y, v, key, 1, MANIFEST_MAX_INFLIGHT_MAX, &m->max_inflight) !=
				0)
				return -1;
		} else if (strcmp(key, "cpu") == 0) {
			if (once(y, k, &seen_cpu) != 0 ||
			    read_int(y, v, key, 1, 64000, &m->cpu_millis) != 0)
				return -1;
		} else if (strcmp(key, "policy") == 0) {
			const char *mode =
			    v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : "";
			if (once(y, k, &seen_policy) != 0)
				return -1;
			if (strcmp(mode, "audit") != 0 && strcmp(mode, "enforce") != 0)
				return fail_at(y, v, "policy is enforce or audit, not '%s'", mode);
			m->policy_audit = strcmp(mode, "audit") == 0;
		} else if (strcmp(key, "memory") == 0) {
			if (once(y, k, &seen_memory) != 0 ||
			    read_size(y, v, key, &m->memory_bytes) != 0)
				return -1;
		} else if (strcmp(key, "fields") == 0) {
			if (m->fields != NULL)
				return fail_at(y, k, "'fields' is given twice");
			if (read_fields(y, v, m) != 0)
				return -1;
		} else {
			return fail_at(
			    y, k,
			    "unknown key '%s' (known: name, service, routes, count, "
			    "healthcheck, deregistration_delay, max_inflight, calls, cpu, "
			    "memory, policy, fields)",
			    key);
		}
	}
	if (m->name == NULL || m->service == NULL)
		return fail_at(y, root, "a manifest needs name and service");
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
