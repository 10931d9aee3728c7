/* manifest.c: reads svc/<name>/manifest.yml with libyaml and turns its routes into edge routes. */
#include <dirent.h>
#include <errno.h>
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
		if (slot == NULL)
			return fail_at(y, k,
				       "unknown route key '%s' (known: method, path, rpc, body, "
				       "status, location, query, next)",
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

static int read_manifest(yaml_ctx *y, manifest *m)
{
	yaml_node_t *root = yaml_document_get_root_node(&y->doc), *name_node = NULL;
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
		} else {
			return fail_at(y, k, "unknown key '%s' (known: name, service, routes)",
				       key);
		}
	}
	if (m->name == NULL || m->service == NULL)
		return fail_at(y, root, "a manifest needs name and service");
	for (const char *c = m->name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' ||
		      *c == '_'))
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

/* param_field finds the request field a path parameter fills, and checks a path can carry it. */
static const ProtobufCFieldDescriptor *param_field(const ProtobufCMessageDescriptor *input,
						   const char *name, char *why, size_t whylen)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(input, name);
	if (f == NULL) {
		snprintf(why, whylen, "{%s} is not a field of %s", name, input->name);
		return NULL;
	}
	if (f->label == PROTOBUF_C_LABEL_REPEATED ||
	    (f->type != PROTOBUF_C_TYPE_INT64 && f->type != PROTOBUF_C_TYPE_UINT64 &&
	     f->type != PROTOBUF_C_TYPE_INT32 && f->type != PROTOBUF_C_TYPE_UINT32 &&
	     f->type != PROTOBUF_C_TYPE_STRING)) {
		snprintf(why, whylen,
			 "{%s}: a path parameter fills an int32, int64, uint32, uint64 or string "
			 "field",
			 name);
		return NULL;
	}
	return f;
}

static int is_integer_field(const ProtobufCFieldDescriptor *f)
{
	return f != NULL && f->label != PROTOBUF_C_LABEL_REPEATED &&
	       (f->type == PROTOBUF_C_TYPE_INT32 || f->type == PROTOBUF_C_TYPE_INT64 ||
		f->type == PROTOBUF_C_TYPE_UINT32 || f->type == PROTOBUF_C_TYPE_UINT64);
}

/* route_add_extras reads what a route says beyond method, path, rpc and body: its success
 * status, query parameters, paging and Location. */
static int route_add_extras(const manifest_route *mr, const ProtobufCMethodDescriptor *method,
			    route *r, char *why, size_t whylen)
{
	r->status = 200;
	if (mr->status != NULL) {
		char *end;
		long status = strtol(mr->status, &end, 10);
		if (*end != '\0' || status < 200 || status > 299) {
			snprintf(why, whylen, "status '%s' is not a success status (200 to 299)",
				 mr->status);
			return -1;
		}
		r->status = (int)status;
	}
	r->has_body = r->method == ROUTE_POST || r->method == ROUTE_PUT || r->method == ROUTE_PATCH;
	if (mr->nquery > ROUTE_MAX_QUERY) {
		snprintf(why, whylen, "at most %d query parameters", ROUTE_MAX_QUERY);
		return -1;
	}
	for (size_t i = 0; i < mr->nquery; i++) {
		const ProtobufCFieldDescriptor *f =
		    protobuf_c_message_descriptor_get_field_by_name(method->input, mr->query[i]);
		if (!is_integer_field(f)) {
			snprintf(why, whylen, "query parameter '%s' is not an integer field of %s",
				 mr->query[i], method->input->name);
			return -1;
		}
		for (size_t k = 0; k < r->nsegments; k++) {
			if (r->segments[k].is_param && r->segments[k].field == f) {
				snprintf(why, whylen, "'%s' is both in the path and the query",
					 mr->query[i]);
				return -1;
			}
		}
		r->query[r->nquery].field = f;
		if ((r->query[r->nquery].name = strdup(mr->query[i])) == NULL) {
			snprintf(why, whylen, "out of memory");
			return -1;
		}
		r->nquery++;
	}
	if (mr->next != NULL) {
		const ProtobufCFieldDescriptor *f =
		    protobuf_c_message_descriptor_get_field_by_name(method->output, mr->next);
		int known = 0;
		if (!is_integer_field(f) || strncmp(mr->next, "next_", 5) != 0) {
			snprintf(why, whylen,
				 "next '%s' is not an integer field of %s named next_<parameter>",
				 mr->next, method->output->name);
			return -1;
		}
		for (size_t i = 0; i < r->nquery; i++)
			known |= strcmp(r->query[i].name, mr->next + 5) == 0;
		if (!known) {
			snprintf(why, whylen,
				 "next '%s' sets query parameter '%s', which is not in "
				 "the route's query",
				 mr->next, mr->next + 5);
			return -1;
		}
		r->next_field = f;
		if ((r->next_param = strdup(mr->next + 5)) == NULL) {
			snprintf(why, whylen, "out of memory");
			return -1;
		}
	}
	if (mr->location != NULL) {
		if (route_template_split(mr->location, r->location, &r->nlocation, why, whylen) !=
		    0)
			return -1;
		for (size_t i = 0; i < r->nlocation; i++) {
			const ProtobufCFieldDescriptor *f;
			if (!r->location[i].is_param)
				continue;
			f = protobuf_c_message_descriptor_get_field_by_name(method->output,
									    r->location[i].text);
			if (!is_integer_field(f)) {
				snprintf(why, whylen, "location {%s} is not an integer field of %s",
					 r->location[i].text, method->output->name);
				return -1;
			}
			r->location[i].field = f;
		}
		r->has_location = 1;
	}
	return 0;
}

static int add_route(const manifest *m, const manifest_route *mr,
		     const ProtobufCServiceDescriptor *service, route_table *t, char *err,
		     size_t errlen)
{
	const ProtobufCMethodDescriptor *method =
	    protobuf_c_service_descriptor_get_method_by_name(service, mr->rpc);
	char why[256], source[4200];
	route *r = route_new();
	snprintf(source, sizeof(source), "%s:%d", m->file, mr->line);
	if (r == NULL) {
		snprintf(why, sizeof(why), "out of memory");
		goto out_fail;
	}
	r->kind = ROUTE_RPC;
	r->service = service;
	r->source = strdup(source);
	r->service_name = strdup(m->name);
	r->method = route_method_bit(mr->method, strlen(mr->method));
	if (r->source == NULL || r->service_name == NULL) {
		snprintf(why, sizeof(why), "out of memory");
		goto out_fail;
	}
	if (r->method == 0 || r->method == ROUTE_HEAD || r->method == ROUTE_OPTIONS) {
		snprintf(why, sizeof(why),
			 "method '%s' is not one of GET, POST, PUT, PATCH, DELETE (HEAD and "
			 "OPTIONS are answered by the edge)",
			 mr->method);
		goto out_fail;
	}
	if (method == NULL) {
		snprintf(why, sizeof(why), "%s has no method '%s'", service->name, mr->rpc);
		goto out_fail;
	}
	r->method_index = (unsigned)(method - service->methods);
	if (route_template_parse(r, mr->path, why, sizeof(why)) != 0)
		goto out_fail;
	for (size_t i = 0; i < r->nsegments; i++) {
		if (!r->segments[i].is_param)
			continue;
		r->segments[i].field =
		    param_field(method->input, r->segments[i].text, why, sizeof(why));
		if (r->segments[i].field == NULL)
			goto out_fail;
	}
	if (mr->body != NULL) {
		r->body_field =
		    protobuf_c_message_descriptor_get_field_by_name(method->output, mr->body);
		if (r->body_field == NULL || r->body_field->label != PROTOBUF_C_LABEL_REPEATED) {
			snprintf(why, sizeof(why), "body '%s' is not a repeated field of %s",
				 mr->body, method->output->name);
			goto out_fail;
		}
	}
	if (route_add_extras(mr, method, r, why, sizeof(why)) != 0 ||
	    route_table_add(t, r, why, sizeof(why)) != 0)
		goto out_fail;
	return 0;

out_fail:
	snprintf(err, errlen, "%s: %s", source, why);
	route_free(r);
	return -1;
}

int manifest_add_routes(const manifest *m, route_table *t, char *err, size_t errlen)
{
	const ProtobufCServiceDescriptor *service = registry_find_service(m->service);
	if (service == NULL) {
		snprintf(err, errlen, "%s:%d: no service '%s' in proto/ (is it built?)", m->file,
			 m->service_line, m->service);
		return -1;
	}
	for (size_t i = 0; i < m->nroutes; i++)
		if (add_route(m, &m->routes[i], service, t, err, errlen) != 0)
			return -1;
	return 0;
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
		for (size_t q = 0; q < m->routes[i].nquery; q++)
			free(m->routes[i].query[q]);
		free(m->routes[i].query);
	}
	free(m->routes);
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
