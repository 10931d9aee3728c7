/* document.c: the OpenAPI 3.1 document: the edge's own routes and every manifest's, their
 * parameters, bodies, headers and answers, and the components they share. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openapi.h"
#include "registry.h"
#include "schema.h"

#define JSON_MEDIA   "application/json"
#define TEXT_MEDIA   "text/plain"
#define MAX_PARAMS   16
#define PARAM_MAX    64
#define SCHEMAS_REF  "#/components/schemas/"
#define RESPONSE_REF "#/components/responses/"

/* doc: the document being made. */
typedef struct doc {
	openapi_schemas schemas;
	json_t *paths;	    /* template -> method (lower case) -> operation, unsorted */
	json_t *operations; /* operationIds given, as keys */
	json_t *tags;	    /* tag name -> description */
	char *err;
	size_t errlen;
} doc;

/* The edge's answers besides a route's own: name in components.responses, status, what it says,
 * and the header it carries besides X-Request-Id. */
typedef struct edge_answer {
	const char *name;
	const char *status;
	const char *description;
	const char *header; /* a components.headers name, or NULL */
} edge_answer;

static const edge_answer edge_answers[] = {
    {"BadRequest", "400",
     "INVALID_ARGUMENT: a malformed request head (RFC 9112), id, query parameter or body, or a "
     "field the service refuses (the message names it); FAILED_PRECONDITION: the body refers to "
     "a record that does not exist",
     NULL},
    {"NotFound", "404",
     "NOT_FOUND: no record has this id (the edge's own 404 for a path no route has has the same "
     "body)",
     NULL},
    {"Conflict", "409",
     "ALREADY_EXISTS: a field that must be unique is taken; ABORTED: the Idempotency-Key was "
     "used before with another body",
     NULL},
    {"PayloadTooLarge", "413",
     "PAYLOAD_TOO_LARGE: the body is over 64 KiB; no more of it is read (one announced so by "
     "Content-Length is answered before any is sent; over HTTP/2 the stream is refused)",
     NULL},
    {"UnsupportedMediaType", "415", "UNSUPPORTED_MEDIA_TYPE: the body is not application/json",
     NULL},
    {"TooManyRequests", "429", "RESOURCE_EXHAUSTED: the edge or the service is out of capacity",
     NULL},
    {"ServiceUnavailable", "503",
     "UNAVAILABLE: the service is down, has no healthy instance, or sheds load (then "
     "Retry-After may say when to try again); other routes are unaffected",
     "Retry-After"},
    {"GatewayTimeout", "504",
     "DEADLINE_EXCEEDED: the request's deadline (Request-Timeout, bounded by the route's "
     "timeout and the edge's maximum) passed; the message names the hop that ran out, the "
     "service the edge called or one it called in turn",
     NULL},
    {"Error", "default",
     "Any other error, with the same JSON body: 412 PRECONDITION_FAILED (If-Match, "
     "If-None-Match), 414 URI_TOO_LONG, 421 MISDIRECTED_REQUEST, 431 "
     "REQUEST_HEADER_FIELDS_TOO_LARGE, 500 INTERNAL, 501 UNIMPLEMENTED, a 400 for a request "
     "head RFC 9112 refuses; h2o itself answers a few malformed requests with plain text (see "
     "the README's Hostile input)",
     NULL},
};

/* The request headers every operation takes, components.parameters (never required): name,
 * what it does, its value's most characters (and at least 1; 0: no length declared), and a
 * pattern its value matches. */
static const struct edge_parameter {
	const char *name;
	const char *description;
	int max_length;
	const char *pattern;
} edge_parameters[] = {
    {"Idempotency-Key",
     "Applies a create at most once: the same key and body again give the first answer (same "
     "id, same Location); the same key with another body is 409 ABORTED. Kept with the data, "
     "across restarts and instances",
     200, "^[!-~]+$"},
    {"X-Request-Id",
     "The request's id, kept if well formed (else the edge makes one); it ends the access log "
     "line and travels with the mesh calls",
     128, "^[A-Za-z0-9._:-]+$"},
    {"traceparent",
     "A W3C trace context (https://www.w3.org/TR/trace-context/): the request continues its "
     "trace; without a valid one the edge starts a trace. Every mesh call carries it, and the "
     "access log and the services' log lines name the trace id",
     0, "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(-.*)?$"},
    {"Request-Timeout",
     "The request's deadline, which every hop of the mesh spends from: whole milliseconds "
     "ending in ms (250ms), or seconds with up to 3 decimals (2, 1.5s); at least 1 ms, cut to "
     "the route's timeout and to the edge's maximum (--max-timeout-ms). A malformed value is "
     "400; past the deadline, 504",
     0, "^[0-9]{1,8}(ms|(\\.[0-9]{1,3})?s?)$"},
};

static const char *const method_order[] = {"get",     "put",  "post",  "delete",
					   "options", "head", "patch", "trace"};

/* fail writes a reason into d->err and returns -1. */
static int fail(doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(doc *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->err, d->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* set sets obj[key] to value, taking value; a NULL value or a failure marks the document
 * failed. */
static void set(doc *d, json_t *obj, const char *key, json_t *value)
{
	if (value == NULL || json_object_set_new(obj, key, value) != 0) /* takes value anyway */
		d->schemas.failed = 1;
}

static void append(doc *d, json_t *array, json_t *value)
{
	if (value == NULL || json_array_append_new(array, value) != 0) /* takes value anyway */
		d->schemas.failed = 1;
}

static json_t *ref_to(const char *prefix, const char *name)
{
	char text[256];
	snprintf(text, sizeof(text), "%s%s", prefix, name);
	return json_pack("{s:s}", "$ref", text);
}

/* text_printf returns a new JSON string made as printf makes it. */
static json_t *text_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static json_t *text_printf(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return json_string(buf);
}

/* string_schema returns the schema of a string: with minLength 1 and maxLength max_length if
 * max_length is not 0, and with pattern if it is not NULL. */
static json_t *string_schema(doc *d, int max_length, const char *pattern)
{
	json_t *schema = json_pack("{s:s}", "type", "string");
	if (max_length != 0) {
		set(d, schema, "minLength", json_integer(1));
		set(d, schema, "maxLength", json_integer(max_length));
	}
	if (pattern != NULL)
		set(d, schema, "pattern", json_string(pattern));
	return schema;
}

/* response_header returns a header of an answer: its description and schema (both taken) and
 * whether every answer has it. */
static json_t *response_header(json_t *description, int required, json_t *schema)
{
	return json_pack("{s:o,s:b,s:o}", "description", description, "required", required,
			 "schema", schema);
}

/* add_operation puts op at path and method; a second operation there is an error. */
static int add_operation(doc *d, const char *path, const char *method, json_t *op,
			 const char *where)
{
	json_t *item = json_object_get(d->paths, path);
	if (item == NULL) {
		item = json_object();
		set(d, d->paths, path, item);
	}
	if (json_object_get(item, method) != NULL) {
		json_decref(op);
		return fail(d, "%s: a route for %s %s is declared twice", where, method, path);
	}
	set(d, item, method, op);
	return 0;
}

/* operation_id gives an operation a unique id, "users.List" (a second route of the same
 * method: "users.List.2"). */
static json_t *operation_id(doc *d, const char *service, const char *rpc)
{
	char id[256];
	snprintf(id, sizeof(id), "%s.%s", service, rpc);
	for (int n = 2; json_object_get(d->operations, id) != NULL; n++)
		snprintf(id, sizeof(id), "%s.%s.%d", service, rpc, n);
	set(d, d->operations, id, json_true());
	return json_string(id);
}

/* response returns a success answer's object: description, X-Request-Id, and content of
 * media with schema (NULL: no content). */
static json_t *response(doc *d, json_t *description, const char *media, json_t *schema)
{
	json_t *r = json_object(), *headers = json_object();
	set(d, r, "description", description);
	set(d, headers, "X-Request-Id", ref_to("#/components/headers/", "X-Request-Id"));
	set(d, headers, "traceparent", ref_to("#/components/headers/", "traceparent"));
	set(d, r, "headers", headers);
	if (schema != NULL)
		set(d, r, "content", json_pack("{s:{s:o}}", media, "schema", schema));
	return r;
}

/* common_parameters returns the parameters every operation takes (X-Request-Id, traceparent). */
static json_t *common_parameters(doc *d)
{
	json_t *params = json_array();
	append(d, params, ref_to("#/components/parameters/", "X-Request-Id"));
	append(d, params, ref_to("#/components/parameters/", "traceparent"));
	return params;
}

/* add_edge_routes adds the routes the edge answers itself. */
static void add_edge_routes(doc *d)
{
	static const struct {
		const char *path, *id, *summary, *answer;
	} texts[] = {
	    {"/", "ready", "Whether the edge is up", "Ready to receive requests"},
	    {"/api", "apiReady", "Whether the API is up (also /api/)",
	     "API ready to receive requests"},
	};
	json_t *op, *responses;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		op = json_object();
		responses = json_object();
		set(d, op, "tags", json_pack("[s]", "edge"));
		set(d, op, "summary", json_string(texts[i].summary));
		set(d, op, "operationId", operation_id(d, "edge", texts[i].id));
		set(d, op, "parameters", common_parameters(d));
		set(d, responses, "200",
		    response(
			d,
			text_printf("The text \"%s\" (text/plain; charset=utf-8)", texts[i].answer),
			TEXT_MEDIA,
			json_pack("{s:s,s:s}", "type", "string", "const", texts[i].answer)));
		set(d, responses, "400", ref_to(RESPONSE_REF, "BadRequest"));
		set(d, responses, "default", ref_to(RESPONSE_REF, "Error"));
		set(d, op, "responses", responses);
		add_operation(d, texts[i].path, "get", op, "edge");
	}
	op = json_object();
	responses = json_object();
	set(d, op, "tags", json_pack("[s]", "edge"));
	set(d, op, "summary", json_string("This document"));
	set(d, op, "description",
	    json_string("The OpenAPI 3.1 document of this API, as `meshctl openapi` writes it from "
			"the manifests the edge loaded (made once, at its start)."));
	set(d, op, "operationId", operation_id(d, "edge", "openapi"));
	set(d, op, "parameters", common_parameters(d));
	set(d, responses, "200",
	    response(d, json_string("The document (application/json)"), JSON_MEDIA,
		     json_pack("{s:s}", "type", "object")));
	set(d, responses, "400", ref_to(RESPONSE_REF, "BadRequest"));
	set(d, responses, "default", ref_to(RESPONSE_REF, "Error"));
	set(d, op, "responses", responses);
	add_operation(d, OPENAPI_PATH, "get", op, "edge");
	set(d, d->tags, "edge", json_string("Answered by the edge itself, no service called"));
}

/* path_params finds the {name}s of template (at most max, each under PARAM_MAX bytes) into
 * names; returns how many, or -1 if the template is malformed. */
static int path_params(const char *template, char names[][PARAM_MAX], int max)
{
	int n = 0;
	for (const char *p = template; (p = strchr(p, '{')) != NULL;) {
		const char *end = strchr(p, '}');
		if (end == NULL || end == p + 1 || end - p - 1 >= PARAM_MAX || n == max)
			return -1;
		snprintf(names[n++], PARAM_MAX, "%.*s", (int)(end - p - 1), p + 1);
		p = end + 1;
	}
	return n;
}

static int is_integer(const ProtobufCFieldDescriptor *f)
{
	return f->type == PROTOBUF_C_TYPE_INT32 || f->type == PROTOBUF_C_TYPE_INT64 ||
	       f->type == PROTOBUF_C_TYPE_UINT32 || f->type == PROTOBUF_C_TYPE_UINT64;
}

/* parameter returns the parameter object of field f, in the path or the query. */
static json_t *parameter(doc *d, const manifest *m, const char *rpc, const char *name,
			 const ProtobufCFieldDescriptor *f, int in_path)
{
	const manifest_field *rule = manifest_field_find(m, rpc, f->name);
	json_t *p = json_object();
	set(d, p, "name", json_string(name));
	set(d, p, "in", json_string(in_path ? "path" : "query"));
	if (rule != NULL && rule->description != NULL)
		set(d, p, "description", json_string(rule->description));
	set(d, p, "required", json_boolean(in_path || (rule != NULL && rule->required)));
	set(d, p, "schema", openapi_schema_parameter(f, rule, in_path));
	return p;
}

/* set_path_parameters gives the path item of path its path parameters, params (taken), which
 * every operation on it shares: the routes of one template must fill them alike. */
static int set_path_parameters(doc *d, const char *path, json_t *params, const char *where)
{
	json_t *item = json_object_get(d->paths, path), *had;
	if (json_array_size(params) == 0) {
		json_decref(params);
		return 0;
	}
	if (item == NULL) {
		item = json_object();
		set(d, d->paths, path, item);
	}
	had = json_object_get(item, "parameters");
	if (had != NULL && !json_equal(had, params)) {
		json_decref(params);
		return fail(d,
			    "%s: %s's parameters differ from another route's of the same path "
			    "(their fields' types or rules)",
			    where, path);
	}
	set(d, item, "parameters", params);
	return 0;
}

/* route_where writes "file:line" of a route. */
static void route_where(const manifest *m, const manifest_route *mr, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s:%d", m->file, mr->line);
}

/* success_response returns the answer of a route's success: its reply (or the reply's body
 * field as an array), Location on a create, Link on a page. */
static json_t *success_response(doc *d, const manifest_route *mr,
				const ProtobufCMethodDescriptor *method, const char *status)
{
	const ProtobufCFieldDescriptor *body =
	    mr->body != NULL
		? protobuf_c_message_descriptor_get_field_by_name(method->output, mr->body)
		: NULL;
	json_t *schema, *r, *headers;
	char what[512];
	if (body != NULL) {
		schema = openapi_schema_reply_field(&d->schemas, body);
		snprintf(what, sizeof(what), "The reply's %s, a JSON array%s", body->name,
			 mr->next != NULL ? ", in id order: one page" : "");
	} else {
		schema = openapi_schema_reply(&d->schemas, method->output);
		snprintf(what, sizeof(what), "%s",
			 strcmp(status, "201") == 0 ? "The new record" : "The record");
	}
	r = response(d, json_string(what), JSON_MEDIA, schema);
	headers = json_object_get(r, "headers");
	if (mr->location != NULL)
		set(d, headers, "Location",
		    response_header(
			text_printf("Where the new record is: %s", mr->location), 1,
			json_pack("{s:s,s:s}", "type", "string", "format", "uri-reference")));
	if (mr->next != NULL)
		set(d, headers, "Link",
		    response_header(text_printf("While more remain: the next page, `<PATH?QUERY>; "
						"rel=\"next\"`, the request's path and query with "
						"%s set to the reply's %s",
						mr->next + 5, mr->next),
				    0, string_schema(d, 0, NULL)));
	return r;
}

/* describe_route writes what a route does, for its operation's description. */
static void describe_route(char *out, size_t outlen, const ProtobufCServiceDescriptor *service,
			   const manifest_route *mr, int nparams, int has_body)
{
	const char *from = nparams > 0 && mr->nquery > 0 ? "the path's and the query's parameters"
			   : nparams > 0		 ? "the path's parameters"
			   : mr->nquery > 0		 ? "the query's parameters"
							 : NULL;
	size_t n =
	    (size_t)snprintf(out, outlen, "Calls %s/%s over the mesh", service->name, mr->rpc);
	if (has_body && n < outlen)
		n += (size_t)snprintf(out + n, outlen - n, "; the JSON body fills its request%s%s",
				      from != NULL ? ", and " : "", from != NULL ? from : "");
	else if (from != NULL && n < outlen)
		n += (size_t)snprintf(out + n, outlen - n, ", its request filled from %s", from);
	if (mr->next != NULL && n < outlen)
		n += (size_t)snprintf(out + n, outlen - n,
				      "; it answers a page: while more remain, `Link` points at "
				      "the next (`%s` set to the reply's `%s`)",
				      mr->next + 5, mr->next);
	if (has_body && n < outlen)
		n += (size_t)snprintf(out + n, outlen - n,
				      "; an `Idempotency-Key` applies it at most once (the same "
				      "key and body again: the first answer)");
	if (mr->timeout_ms > 0 && n < outlen)
		n += (size_t)snprintf(out + n, outlen - n,
				      "; its deadline is at most %lld ms (the route's timeout)",
				      (long long)mr->timeout_ms);
	if (n < outlen)
		snprintf(out + n, outlen - n, ".");
}

/* add_route adds the operation of one route of m, served by method of service. */
static int add_route(doc *d, const manifest *m, const manifest_route *mr,
		     const ProtobufCServiceDescriptor *service)
{
	const ProtobufCMethodDescriptor *method =
	    protobuf_c_service_descriptor_get_method_by_name(service, mr->rpc);
	char where[4200], names[MAX_PARAMS][PARAM_MAX], lower[16], description[1024];
	const char *skip[MAX_PARAMS + 8], *status = mr->status != NULL ? mr->status : "200";
	json_t *op, *params, *path_level, *responses;
	size_t nskip = 0;
	int nparams, has_body;
	route_where(m, mr, where, sizeof(where));
	if (method == NULL)
		return fail(d, "%s: %s has no method '%s'", where, service->name, mr->rpc);
	if (strlen(mr->method) >= sizeof(lower))
		return fail(d, "%s: method '%s' is not GET, POST, PUT, PATCH or DELETE", where,
			    mr->method);
	for (size_t i = 0; i <= strlen(mr->method); i++)
		lower[i] = (char)tolower((unsigned char)mr->method[i]);
	if (strcmp(lower, "get") != 0 && strcmp(lower, "post") != 0 && strcmp(lower, "put") != 0 &&
	    strcmp(lower, "patch") != 0 && strcmp(lower, "delete") != 0)
		return fail(d, "%s: method '%s' is not GET, POST, PUT, PATCH or DELETE", where,
			    mr->method);
	if (strlen(status) != 3 || status[0] != '2' || !isdigit((unsigned char)status[1]) ||
	    !isdigit((unsigned char)status[2]))
		return fail(d, "%s: status '%s' is not a success status (200 to 299)", where,
			    status);
	if (mr->next != NULL && strncmp(mr->next, "next_", 5) != 0)
		return fail(d, "%s: next '%s' is not named next_<parameter>", where, mr->next);
	if (mr->body != NULL) {
		const ProtobufCFieldDescriptor *f =
		    protobuf_c_message_descriptor_get_field_by_name(method->output, mr->body);
		if (f == NULL || f->label != PROTOBUF_C_LABEL_REPEATED)
			return fail(d, "%s: body '%s' is not a repeated field of %s", where,
				    mr->body, method->output->name);
	}
	has_body =
	    strcmp(lower, "post") == 0 || strcmp(lower, "put") == 0 || strcmp(lower, "patch") == 0;
	nparams = path_params(mr->path, names, MAX_PARAMS);
	if (nparams < 0)
		return fail(d, "%s: path '%s' is not a template of /segments and {parameters}",
			    where, mr->path);

	op = json_object();
	params = json_array();
	path_level = json_array();
	set(d, op, "tags", json_pack("[s]", m->name));
	set(d, op, "summary", text_printf("%s/%s", service->name, mr->rpc));
	for (int i = 0; i < nparams; i++) {
		const ProtobufCFieldDescriptor *f =
		    protobuf_c_message_descriptor_get_field_by_name(method->input, names[i]);
		if (f == NULL || f->label == PROTOBUF_C_LABEL_REPEATED ||
		    (!is_integer(f) && f->type != PROTOBUF_C_TYPE_STRING)) {
			json_decref(op);
			json_decref(params);
			json_decref(path_level);
			return fail(d, "%s: {%s} is not an integer or string field of %s", where,
				    names[i], method->input->name);
		}
		skip[nskip++] = f->name;
		append(d, path_level, parameter(d, m, mr->rpc, names[i], f, 1));
	}
	if (set_path_parameters(d, mr->path, path_level, where) != 0) {
		json_decref(op);
		json_decref(params);
		return -1;
	}
	for (size_t i = 0; i < mr->nquery && nskip < sizeof(skip) / sizeof(skip[0]); i++) {
		const ProtobufCFieldDescriptor *f =
		    protobuf_c_message_descriptor_get_field_by_name(method->input, mr->query[i]);
		if (f == NULL || f->label == PROTOBUF_C_LABEL_REPEATED || !is_integer(f)) {
			json_decref(op);
			json_decref(params);
			return fail(d, "%s: query parameter '%s' is not an integer field of %s",
				    where, mr->query[i], method->input->name);
		}
		skip[nskip++] = f->name;
		append(d, params, parameter(d, m, mr->rpc, mr->query[i], f, 0));
	}
	append(d, params, ref_to("#/components/parameters/", "X-Request-Id"));
	append(d, params, ref_to("#/components/parameters/", "traceparent"));
	append(d, params, ref_to("#/components/parameters/", "Request-Timeout"));
	if (has_body)
		append(d, params, ref_to("#/components/parameters/", "Idempotency-Key"));
	describe_route(description, sizeof(description), service, mr, nparams, has_body);
	set(d, op, "description", json_string(description));
	set(d, op, "operationId", operation_id(d, m->name, mr->rpc));
	set(d, op, "parameters", params);
	if (has_body) {
		json_t *schema = openapi_schema_request(&d->schemas, method->input, m, mr->rpc,
							skip, nskip, d->err, d->errlen);
		if (schema == NULL) {
			json_decref(op);
			return -1;
		}
		set(d, op, "requestBody",
		    json_pack("{s:b,s:{s:{s:o}}}", "required", 1, "content", JSON_MEDIA, "schema",
			      schema));
	}
	responses = json_object();
	set(d, responses, status, success_response(d, mr, method, status));
	set(d, responses, "400", ref_to(RESPONSE_REF, "BadRequest"));
	if (nparams > 0 && mr->body == NULL) /* a record named by the path */
		set(d, responses, "404", ref_to(RESPONSE_REF, "NotFound"));
	if (has_body) {
		set(d, responses, "409", ref_to(RESPONSE_REF, "Conflict"));
		set(d, responses, "413", ref_to(RESPONSE_REF, "PayloadTooLarge"));
		set(d, responses, "415", ref_to(RESPONSE_REF, "UnsupportedMediaType"));
	}
	set(d, responses, "429", ref_to(RESPONSE_REF, "TooManyRequests"));
	set(d, responses, "503", ref_to(RESPONSE_REF, "ServiceUnavailable"));
	set(d, responses, "504", ref_to(RESPONSE_REF, "GatewayTimeout"));
	set(d, responses, "default", ref_to(RESPONSE_REF, "Error"));
	set(d, op, "responses", responses);
	return add_operation(d, mr->path, lower, op, where);
}

/* add_manifest adds every route of m, and its tag. */
static int add_manifest(doc *d, const manifest *m)
{
	const ProtobufCServiceDescriptor *service = registry_find_service(m->service);
	if (service == NULL)
		return fail(d, "%s:%d: no service '%s' in proto/", m->file, m->service_line,
			    m->service);
	if (manifest_check_fields(m, d->err, d->errlen) != 0)
		return -1;
	for (size_t i = 0; i < m->nroutes; i++)
		if (add_route(d, m, &m->routes[i], service) != 0)
			return -1;
	if (m->nroutes > 0)
		set(d, d->tags, m->name, text_printf("The %s service (%s)", m->name, m->service));
	return 0;
}

static int compare_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* sorted returns a copy of obj whose keys are in byte order (its values shared). */
static json_t *sorted(doc *d, json_t *obj)
{
	size_t n = json_object_size(obj), i = 0;
	const char **keys = calloc(n + 1, sizeof(*keys));
	json_t *out = json_object(), *value;
	const char *key;
	if (keys == NULL || out == NULL) {
		free(keys);
		json_decref(out);
		d->schemas.failed = 1;
		return NULL;
	}
	json_object_foreach(obj, key, value) keys[i++] = key;
	qsort(keys, n, sizeof(*keys), compare_keys);
	for (i = 0; i < n; i++)
		set(d, out, keys[i], json_incref(json_object_get(obj, keys[i])));
	free(keys);
	return out;
}

/* add_options adds to each path the OPTIONS the edge answers: 204 with Allow, the path's methods
 * in the edge's order (HEAD with GET, OPTIONS last). Its operation is tagged as the path's
 * first one. */
static void add_options(doc *d)
{
	static const char *const allow_order[] = {"get", "head", "post", "put", "patch", "delete"};
	const char *path;
	json_t *item;
	json_object_foreach(d->paths, path, item)
	{
		char allow[128] = "", id[256];
		json_t *op = json_object(), *responses = json_object(), *tag = NULL, *r,
		       *allow_header;
		size_t n = 0;
		for (size_t i = 0; i < sizeof(allow_order) / sizeof(allow_order[0]); i++) {
			json_t *own = json_object_get(item, i == 1 ? "get" : allow_order[i]);
			if (own == NULL)
				continue;
			if (tag == NULL)
				tag = json_array_get(json_object_get(own, "tags"), 0);
			for (size_t k = 0; k < strlen(allow_order[i]) && n + 3 < sizeof(allow); k++)
				allow[n++] = (char)toupper((unsigned char)allow_order[i][k]);
			n += (size_t)snprintf(allow + n, sizeof(allow) - n, ", ");
		}
		snprintf(allow + n, sizeof(allow) - n, "OPTIONS");
		n = (size_t)snprintf(id, sizeof(id), "options");
		for (const char *c = path; *c != '\0' && n + 1 < sizeof(id); c++)
			if (*c == '/' || *c == '-' || *c == '.')
				id[n++] = '_';
			else if (*c != '{' && *c != '}')
				id[n++] = *c;
		id[n] = '\0';
		set(d, op, "tags", json_pack("[O]", tag));
		set(d, op, "summary", text_printf("The methods of %s", path));
		set(d, op, "description",
		    text_printf("Any other method is 405 METHOD_NOT_ALLOWED, with the same "
				"Allow: %s.",
				allow));
		set(d, op, "operationId", operation_id(d, json_string_value(tag), id));
		set(d, op, "parameters", common_parameters(d));
		r = response(d, json_string("The path's methods, in Allow"), NULL, NULL);
		allow_header = response_header(json_string("The methods of the path, as in a 405"),
					       1, string_schema(d, 0, NULL));
		set(d, allow_header, "example", json_string(allow));
		set(d, json_object_get(r, "headers"), "Allow", allow_header);
		set(d, responses, "204", r);
		set(d, responses, "400", ref_to(RESPONSE_REF, "BadRequest"));
		set(d, responses, "default", ref_to(RESPONSE_REF, "Error"));
		set(d, op, "responses", responses);
		set(d, item, "options", op);
	}
}

/* sorted_paths returns the paths in byte order, each path's methods in OpenAPI's order. */
static json_t *sorted_paths(doc *d)
{
	json_t *by_name = sorted(d, d->paths), *out = json_object(), *item;
	const char *path;
	json_object_foreach(by_name, path, item)
	{
		json_t *ordered = json_object(), *params = json_object_get(item, "parameters");
		if (params != NULL)
			set(d, ordered, "parameters", json_incref(params));
		for (size_t i = 0; i < sizeof(method_order) / sizeof(method_order[0]); i++) {
			json_t *op = json_object_get(item, method_order[i]);
			if (op != NULL)
				set(d, ordered, method_order[i], json_incref(op));
		}
		set(d, out, path, ordered);
	}
	json_decref(by_name);
	return out;
}

/* components returns components: schemas (with Error), responses, parameters, headers. */
static json_t *components(doc *d)
{
	json_t *c = json_object(), *responses = json_object(), *headers = json_object();
	json_t *parameters = json_object();
	json_t *error = json_pack(
	    "{s:s,s:s,s:[ss],s:{s:{s:s,s:s},s:{s:s,s:s}}}", "type", "object", "description",
	    "Every error the edge or a service answers, the edge's own 404 and 405 included",
	    "required", "code", "message", "properties", "code", "type", "string", "description",
	    "The mesh status (INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, UNAVAILABLE, "
	    "DEADLINE_EXCEEDED, ...) or the edge's own (METHOD_NOT_ALLOWED, "
	    "UNSUPPORTED_MEDIA_TYPE, PAYLOAD_TOO_LARGE, ...)",
	    "message", "type", "string", "description",
	    "What went wrong, naming the field at fault");
	if (json_object_get(d->schemas.components, "Error") != NULL) {
		json_decref(error);
		json_decref(c);
		json_decref(responses);
		json_decref(headers);
		json_decref(parameters);
		fail(d, "a protobuf message is called Error, the name of the error schema");
		return NULL;
	}
	set(d, d->schemas.components, "Error", error);
	set(d, c, "schemas", sorted(d, d->schemas.components));
	for (size_t i = 0; i < sizeof(edge_answers) / sizeof(edge_answers[0]); i++) {
		const edge_answer *a = &edge_answers[i];
		json_t *r = json_object(), *h = json_object();
		set(d, r, "description",
		    strcmp(a->status, "default") == 0
			? json_string(a->description)
			: text_printf("%s: %s", a->status, a->description));
		set(d, h, "X-Request-Id", ref_to("#/components/headers/", "X-Request-Id"));
		set(d, h, "traceparent", ref_to("#/components/headers/", "traceparent"));
		if (a->header != NULL)
			set(d, h, a->header, ref_to("#/components/headers/", a->header));
		set(d, r, "headers", h);
		set(d, r, "content",
		    json_pack("{s:{s:o}}", JSON_MEDIA, "schema", ref_to(SCHEMAS_REF, "Error")));
		set(d, responses, a->name, r);
	}
	set(d, c, "responses", sorted(d, responses));
	json_decref(responses);
	for (size_t i = 0; i < sizeof(edge_parameters) / sizeof(edge_parameters[0]); i++) {
		const struct edge_parameter *p = &edge_parameters[i];
		set(d, parameters, p->name,
		    json_pack("{s:s,s:s,s:s,s:b,s:o}", "name", p->name, "in", "header",
			      "description", p->description, "required", 0, "schema",
			      string_schema(d, p->max_length, p->pattern)));
	}
	set(d, c, "parameters", parameters);
	set(d, headers, "traceparent",
	    response_header(json_string("The request's trace (the one its traceparent named, else "
					"one the edge started) and the edge's span of it"),
			    1, string_schema(d, 0, "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")));
	set(d, headers, "Retry-After",
	    json_pack("{s:s,s:{s:s,s:i}}", "description",
		      "Seconds to wait before trying again, when the edge sheds load", "schema",
		      "type", "integer", "minimum", 0));
	set(d, headers, "X-Request-Id",
	    response_header(
		json_string("The request's X-Request-Id if it was well formed, else one "
			    "the edge made (16 lowercase hex digits)"),
		1, string_schema(d, 0, NULL)));
	set(d, c, "headers", headers);
	return c;
}

/* info returns the document's info. */
static json_t *info(void)
{
	return json_pack(
	    "{s:s,s:s,s:s}", "title", "cleave forum API", "version", "1.0.0", "description",
	    "The forum API the edge serves, generated from svc/*/manifest.yml and the protobuf "
	    "descriptors of proto/ by `meshctl openapi` (the edge serves the same document at GET "
	    "/api/openapi.json); do not edit it.\n\n"
	    "Bodies are JSON in the proto3 JSON mapping: fields by their lowerCamelCase JSON name "
	    "(a request may also give a field by its proto name, `created_by`), every field "
	    "written "
	    "in answers, zero values too, enums by name, bytes as base64. Unlike the standard "
	    "mapping, 64-bit integers are JSON numbers, not strings (JavaScript reads them exactly "
	    "up to 2^53). A request's body is one JSON object; an unknown field, a wrong type or a "
	    "duplicate key is 400. Limits on fields are those the services check, as their "
	    "manifests declare them (fields:).\n\n"
	    "Every answer carries X-Request-Id and a W3C traceparent (the request's trace, or a "
	    "new one). A Request-Timeout header sets the request's deadline, which every hop of "
	    "the mesh spends from. HEAD answers like GET without the body. OPTIONS on "
	    "a path listed here is 204 with Allow, its methods; another method is 405 "
	    "METHOD_NOT_ALLOWED with the same Allow, and a path not listed is 404 NOT_FOUND, both "
	    "with the Error body. Paths are case-sensitive and a trailing slash is ignored; "
	    "the query string is ignored unless the route lists query parameters. Every error is "
	    "application/json (the Error schema).");
}

int openapi_document(manifest *const *ms, size_t n, char **out, size_t *len, char *err,
		     size_t errlen)
{
	doc d = {.err = err, .errlen = errlen};
	json_t *root = NULL, *tags, *tag_names;
	const char *key;
	json_t *value;
	int rv = -1;
	err[0] = '\0';
	d.paths = json_object();
	d.operations = json_object();
	d.tags = json_object();
	if (openapi_schemas_init(&d.schemas) != 0 || d.paths == NULL || d.operations == NULL ||
	    d.tags == NULL)
		goto out_free;
	/* every reply first, so that a request's component knows whether it needs a name of
	 * its own */
	for (size_t i = 0; i < n; i++) {
		const ProtobufCServiceDescriptor *service = registry_find_service(ms[i]->service);
		for (size_t r = 0; service != NULL && r < ms[i]->nroutes; r++) {
			const ProtobufCMethodDescriptor *method =
			    protobuf_c_service_descriptor_get_method_by_name(service,
									     ms[i]->routes[r].rpc);
			if (method != NULL)
				openapi_schemas_note_reply(&d.schemas, method->output);
		}
	}
	add_edge_routes(&d);
	for (size_t i = 0; i < n; i++)
		if (add_manifest(&d, ms[i]) != 0)
			goto out_free;
	add_options(&d);
	root = json_object();
	set(&d, root, "openapi", json_string("3.1.0"));
	set(&d, root, "info", info());
	set(&d, root, "servers",
	    json_pack("[{s:s,s:s}]", "url", "/", "description", "the edge serving this document"));
	set(&d, root, "security", json_array()); /* no authentication: the edge has none */
	tags = json_array();
	tag_names = sorted(&d, d.tags);
	json_object_foreach(tag_names, key, value)
	    append(&d, tags, json_pack("{s:s,s:O}", "name", key, "description", value));
	json_decref(tag_names);
	set(&d, root, "tags", tags);
	set(&d, root, "paths", sorted_paths(&d));
	set(&d, root, "components", components(&d));
	if (err[0] != '\0')
		goto out_free;
	if (!d.schemas.failed) {
		char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		size_t tlen = text != NULL ? strlen(text) : 0;
		char *grown = text != NULL ? realloc(text, tlen + 2) : NULL;
		if (grown != NULL) {
			grown[tlen] = '\n';
			grown[tlen + 1] = '\0';
			*out = grown;
			*len = tlen + 1;
			rv = 0;
		} else {
			free(text);
		}
	}
	if (rv != 0)
		snprintf(err, errlen, "out of memory");
out_free:
	json_decref(root);
	json_decref(d.paths);
	json_decref(d.operations);
	json_decref(d.tags);
	openapi_schemas_fini(&d.schemas);
	return rv;
}
