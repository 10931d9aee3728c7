/* routes.c: the edge's route table, built from the manifests: its own text routes, then each
 * manifest's routes checked against the protobuf registry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openapi.h"
#include "registry.h"
#include "routes.h"

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
	r->timeout_ms = mr->timeout_ms;
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
	    (mr->split_service != NULL &&
	     route_set_split(r, mr->split_service, (unsigned)mr->split_weight, why, sizeof(why)) !=
		 0) ||
	    route_table_add(t, r, why, sizeof(why)) != 0)
		goto out_fail;
	return 0;

out_fail:
	snprintf(err, errlen, "%s: %s", source, why);
	route_free(r);
	return -1;
}

int routes_add_manifest(route_table *t, const manifest *m, char *err, size_t errlen)
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

/* routes_add_text adds a GET route the edge answers itself with text (taken; NULL: it was out of
 * memory), of content_type (static; NULL: text/plain). */
static int routes_add_text(route_table *t, const char *path, char *text, const char *content_type,
			   char *err, size_t errlen)
{
	route *r = text != NULL ? route_new() : NULL;
	if (r == NULL) {
		snprintf(err, errlen, "out of memory");
		free(text);
		return -1;
	}
	*r = (route){.kind = ROUTE_TEXT,
		     .method = ROUTE_GET,
		     .text = text, /* the route's from here, freed with it */
		     .content_type = content_type};
	if (route_template_parse(r, path, err, errlen) != 0 ||
	    route_table_add(t, r, err, errlen) != 0) {
		route_free(r);
		return -1;
	}
	return 0;
}

int routes_build(route_table *t, manifest *const *ms, size_t n, char *err, size_t errlen)
{
	char *document;
	size_t len;
	if (routes_add_text(t, "/", strdup("Ready to receive requests"), NULL, err, errlen) != 0 ||
	    routes_add_text(t, "/api", strdup("API ready to receive requests"), NULL, err,
			    errlen) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (routes_add_manifest(t, ms[i], err, errlen) != 0)
			return -1;
	if (manifest_check_calls(ms, n, err, errlen) != 0 ||
	    manifest_check_splits(ms, n, err, errlen) != 0 ||
	    openapi_document(ms, n, &document, &len, err, errlen) != 0)
		return -1;
	return routes_add_text(t, OPENAPI_PATH, document, "application/json; charset=utf-8", err,
			       errlen);
}
