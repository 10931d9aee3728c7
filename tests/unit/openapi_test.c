/* openapi_test.c: unit tests of the OpenAPI document (openapi/): the JSON Schema of every field
 * kind in replies and requests, the rules of fields:, parameters, the forum's document, its
 * determinism, what it refuses, and the edge's route serving it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <check.h>
#include <jansson.h>

#include "harness.h"
#include "manifest.h"
#include "openapi.h"
#include "routes.h"
#include "sample.pb-c.h"
#include "schema.h"

static char tmpdir[128];

static void tmpdir_setup(void)
{
	ck_assert_int_eq(harness_tmpdir(tmpdir, sizeof(tmpdir)), 0);
}

static void tmpdir_teardown(void)
{
	harness_rmtree(tmpdir);
}

/* assert_json asserts value is the JSON text want (compared as JSON). */
static void assert_json(const json_t *value, const char *want, const char *what)
{
	json_error_t e;
	json_t *w = json_loads(want, JSON_DECODE_ANY, &e);
	char *got = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
	ck_assert_msg(w != NULL, "%s: bad expectation: %s", what, e.text);
	ck_assert_msg(json_equal(value, w), "%s:\n got  %s\n want %s", what, got, want);
	free(got);
	json_decref(w);
}

/* load writes text as tmpdir/<name>/manifest.yml and loads it. */
static manifest *load(const char *name, const char *text)
{
	char dir[256], path[320], err[512] = "";
	manifest *m = NULL;
	FILE *f;
	snprintf(dir, sizeof(dir), "%s/%s", tmpdir, name);
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/manifest.yml", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	ck_assert_msg(manifest_load(path, &m, err, sizeof(err)) == 0, "%s", err);
	return m;
}

/* forum loads svc/'s manifests. */
static manifest **forum(size_t *n)
{
	manifest **ms = NULL;
	char err[512] = "";
	ck_assert_msg(manifest_load_dir(CLEAVE_SOURCE_DIR "/svc", &ms, n, err, sizeof(err)) == 0,
		      "%s", err);
	return ms;
}

/* document makes the document of the n manifests ms, parsed; its text in *text if not NULL. */
static json_t *document(manifest *const *ms, size_t n, char **text)
{
	char err[512] = "", *out = NULL;
	size_t len = 0;
	json_error_t e;
	json_t *doc;
	ck_assert_msg(openapi_document(ms, n, &out, &len, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(strlen(out), len);
	ck_assert_int_eq(out[len - 1], '\n');
	doc = json_loads(out, 0, &e);
	ck_assert_msg(doc != NULL, "not JSON: %s", e.text);
	if (text != NULL)
		*text = out;
	else
		free(out);
	return doc;
}

static json_t *at(json_t *v, const char *a, const char *b, const char *c)
{
	v = json_object_get(v, a);
	if (b != NULL)
		v = json_object_get(v, b);
	if (c != NULL)
		v = json_object_get(v, c);
	return v;
}

START_TEST(test_openapi_reply_schema_of_every_kind)
{
	openapi_schemas s;
	json_t *r, *everything;
	ck_assert_int_eq(openapi_schemas_init(&s), 0);
	openapi_schemas_note_reply(&s, &sample__everything__descriptor);
	r = openapi_schema_reply(&s, &sample__everything__descriptor);
	assert_json(r, "{\"$ref\":\"#/components/schemas/sample.Everything\"}", "ref");
	json_decref(r);
	everything = json_object_get(s.components, "sample.Everything");
	/* every field by JSON name in schema order, every one required but a oneof's members */
	assert_json(
	    everything,
	    "{\"type\":\"object\",\"properties\":{"
	    "\"i32\":{\"type\":\"integer\",\"format\":\"int32\"},"
	    "\"i64\":{\"type\":\"integer\",\"format\":\"int64\"},"
	    "\"u32\":{\"type\":\"integer\",\"format\":\"int64\",\"minimum\":0,"
	    "\"maximum\":4294967295},"
	    "\"u64\":{\"type\":\"integer\",\"minimum\":0},"
	    "\"s32\":{\"type\":\"integer\",\"format\":\"int32\"},"
	    "\"s64\":{\"type\":\"integer\",\"format\":\"int64\"},"
	    "\"f32\":{\"type\":\"integer\",\"format\":\"int64\",\"minimum\":0,"
	    "\"maximum\":4294967295},"
	    "\"f64\":{\"type\":\"integer\",\"minimum\":0},"
	    "\"sf32\":{\"type\":\"integer\",\"format\":\"int32\"},"
	    "\"sf64\":{\"type\":\"integer\",\"format\":\"int64\"},"
	    "\"flt\":{\"oneOf\":[{\"type\":\"number\",\"format\":\"float\"},"
	    "{\"type\":\"string\",\"enum\":[\"NaN\",\"Infinity\",\"-Infinity\"]}]},"
	    "\"dbl\":{\"oneOf\":[{\"type\":\"number\",\"format\":\"double\"},"
	    "{\"type\":\"string\",\"enum\":[\"NaN\",\"Infinity\",\"-Infinity\"]}]},"
	    "\"flag\":{\"type\":\"boolean\"},"
	    "\"text\":{\"type\":\"string\"},"
	    "\"blob\":{\"type\":\"string\",\"contentEncoding\":\"base64\"},"
	    "\"color\":{\"$ref\":\"#/components/schemas/sample.Color\"},"
	    "\"inner\":{\"anyOf\":[{\"$ref\":\"#/components/schemas/sample.Inner\"},"
	    "{\"type\":\"null\"}]},"
	    "\"numbers\":{\"type\":\"array\",\"items\":{\"type\":\"integer\",\"format\":\"int64\"}}"
	    ","
	    "\"words\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
	    "\"inners\":{\"type\":\"array\",\"items\":"
	    "{\"$ref\":\"#/components/schemas/sample.Inner\"}},"
	    "\"choiceText\":{\"type\":\"string\"},"
	    "\"choiceNumber\":{\"type\":\"integer\",\"format\":\"int64\"},"
	    "\"snakeCaseName\":{\"type\":\"string\"}},"
	    "\"required\":[\"i32\",\"i64\",\"u32\",\"u64\",\"s32\",\"s64\",\"f32\",\"f64\","
	    "\"sf32\","
	    "\"sf64\",\"flt\",\"dbl\",\"flag\",\"text\",\"blob\",\"color\",\"inner\",\"numbers\","
	    "\"words\",\"inners\",\"snakeCaseName\"]}",
	    "sample.Everything");
	assert_json(json_object_get(s.components, "sample.Color"),
		    "{\"type\":\"string\",\"enum\":[\"COLOR_UNSPECIFIED\",\"RED\",\"GREEN\"]}",
		    "sample.Color");
	assert_json(json_object_get(s.components, "sample.Inner"),
		    "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\",\"format\":"
		    "\"int64\"},\"label\":{\"type\":\"string\"}},\"required\":[\"id\",\"label\"]}",
		    "sample.Inner");
	ck_assert_uint_eq(json_object_size(s.components), 3);
	ck_assert_int_eq(s.failed, 0);
	openapi_schemas_fini(&s);
}
END_TEST

START_TEST(test_openapi_request_schema_with_rules)
{
	manifest *m =
	    load("sample", "name: sample\n"
			   "service: sample.Echo\n"
			   "fields:\n"
			   "  Get:\n"
			   "    text: {required: true, max_length: 5, pattern: '^[a-z]*$',\n"
			   "           description: some letters}\n"
			   "    i64: {required: true}\n"
			   "    u32: {minimum: 1, maximum: 9}\n"
			   "    color: {required: true}\n"
			   "    inner: {required: true}\n"
			   "    flag: {required: true}\n"
			   "    blob: {required: true, max_length: 8}\n"
			   "    s64: {required: true, minimum: 1}\n");
	manifest *other = load("other", "name: other\nservice: sample.Echo\nfields:\n  Get:\n"
					"    text: {max_length: 6}\n");
	static const char *const skip[] = {"i32", "nothing"};
	openapi_schemas s;
	json_t *r, *e, *props;
	char err[512] = "";
	ck_assert_int_eq(openapi_schemas_init(&s), 0);
	openapi_schemas_note_reply(&s, &sample__everything__descriptor);
	r = openapi_schema_request(&s, &sample__everything__descriptor, m, "Get", skip, 2, err,
				   sizeof(err));
	ck_assert_msg(r != NULL, "%s", err);
	/* a reply's message too, and the path fills i32: a body component of its own */
	assert_json(r, "{\"$ref\":\"#/components/schemas/sample.Everything.Request.GetBody\"}",
		    "ref");
	json_decref(r);
	e = json_object_get(s.components, "sample.Everything.Request.GetBody");
	props = json_object_get(e, "properties");
	ck_assert_ptr_null(json_object_get(props, "i32"));
	assert_json(json_object_get(e, "additionalProperties"), "false", "additionalProperties");
	assert_json(json_object_get(e, "required"),
		    "[\"i64\",\"s64\",\"flag\",\"text\",\"blob\",\"color\",\"inner\"]", "required");
	assert_json(json_object_get(props, "text"),
		    "{\"type\":\"string\",\"description\":\"some letters\",\"minLength\":1,"
		    "\"maxLength\":5,\"pattern\":\"^[a-z]*$\"}",
		    "text");
	assert_json(json_object_get(props, "i64"),
		    "{\"type\":\"integer\",\"format\":\"int64\",\"not\":{\"const\":0}}", "i64");
	assert_json(json_object_get(props, "s64"),
		    "{\"type\":\"integer\",\"format\":\"int64\",\"minimum\":1}", "s64");
	assert_json(json_object_get(props, "u32"),
		    "{\"type\":\"integer\",\"format\":\"int64\",\"minimum\":1,\"maximum\":9}",
		    "u32");
	assert_json(json_object_get(props, "u64"),
		    "{\"type\":\"integer\",\"format\":\"int64\",\"minimum\":0}", "u64");
	assert_json(json_object_get(props, "flt"), "{\"type\":\"number\",\"format\":\"float\"}",
		    "flt");
	assert_json(json_object_get(props, "color"),
		    "{\"$ref\":\"#/components/schemas/sample.Color\",\"not\":{\"const\":"
		    "\"COLOR_UNSPECIFIED\"}}",
		    "color");
	assert_json(json_object_get(props, "inner"),
		    "{\"$ref\":\"#/components/schemas/sample.Inner.Request\"}", "inner");
	assert_json(json_object_get(props, "flag"),
		    "{\"type\":\"boolean\",\"not\":{\"const\":false}}", "flag");
	assert_json(json_object_get(props, "blob"),
		    "{\"type\":\"string\",\"contentEncoding\":\"base64\",\"minLength\":1,"
		    "\"maxLength\":8}",
		    "blob");
	assert_json(json_object_get(props, "inners"),
		    "{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/"
		    "sample.Inner.Request\"}}",
		    "inners");
	assert_json(json_object_get(s.components, "sample.Inner.Request"),
		    "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\",\"format\":"
		    "\"int64\"},\"label\":{\"type\":\"string\"}},\"additionalProperties\":false}",
		    "sample.Inner.Request");
	/* the same request again with the same rules: the same component */
	r = openapi_schema_request(&s, &sample__everything__descriptor, m, "Get", skip, 2, err,
				   sizeof(err));
	ck_assert_msg(r != NULL, "%s", err);
	json_decref(r);
	/* another manifest's rules for the same message: refused */
	r = openapi_schema_request(&s, &sample__everything__descriptor, other, "Get", skip, 1, err,
				   sizeof(err));
	ck_assert_ptr_null(r);
	ck_assert_msg(strstr(err, "Get's request sample.Everything is also another method's, with "
				  "other fields: rules") != NULL,
		      "%s", err);
	ck_assert_ptr_nonnull(strstr(err, other->file));
	openapi_schemas_fini(&s);
	manifest_free(m);
	manifest_free(other);
}
END_TEST

START_TEST(test_openapi_parameters)
{
	const ProtobufCMessageDescriptor *d = &sample__everything__descriptor;
	manifest *m = load("p", "name: p\nservice: sample.Echo\nfields:\n  Get:\n"
				"    i32: {minimum: -3, maximum: 1000}\n"
				"    text: {min_length: 2, max_length: 9, pattern: '^[0-9]+$'}\n"
				"    u64: {maximum: 12}\n");
	json_t *p;
	p = openapi_schema_parameter(protobuf_c_message_descriptor_get_field_by_name(d, "i64"),
				     NULL, 1);
	assert_json(p,
		    "{\"type\":\"integer\",\"format\":\"int64\",\"minimum\":1,"
		    "\"maximum\":9223372036854775807}",
		    "a path's int64");
	json_decref(p);
	/* a query parameter starts at 0; the rule narrows the maximum, not the minimum below 0 */
	p = openapi_schema_parameter(protobuf_c_message_descriptor_get_field_by_name(d, "i32"),
				     manifest_field_find(m, "Get", "i32"), 0);
	assert_json(p, "{\"type\":\"integer\",\"format\":\"int32\",\"minimum\":0,\"maximum\":1000}",
		    "a query's int32");
	json_decref(p);
	p = openapi_schema_parameter(protobuf_c_message_descriptor_get_field_by_name(d, "u32"),
				     NULL, 0);
	assert_json(p,
		    "{\"type\":\"integer\",\"format\":\"int64\",\"minimum\":0,"
		    "\"maximum\":4294967295}",
		    "a query's uint32");
	json_decref(p);
	p = openapi_schema_parameter(protobuf_c_message_descriptor_get_field_by_name(d, "u64"),
				     NULL, 1);
	assert_json(p, "{\"type\":\"integer\",\"minimum\":1}", "a path's uint64");
	json_decref(p);
	p = openapi_schema_parameter(protobuf_c_message_descriptor_get_field_by_name(d, "u64"),
				     manifest_field_find(m, "Get", "u64"), 1);
	assert_json(p, "{\"type\":\"integer\",\"minimum\":1,\"maximum\":12}",
		    "a path's uint64 with a maximum");
	json_decref(p);
	p = openapi_schema_parameter(protobuf_c_message_descriptor_get_field_by_name(d, "text"),
				     manifest_field_find(m, "Get", "text"), 1);
	assert_json(
	    p, "{\"type\":\"string\",\"minLength\":2,\"maxLength\":9,\"pattern\":\"^[0-9]+$\"}",
	    "a path's string");
	json_decref(p);
	manifest_free(m);
}
END_TEST

/* allow_of returns the Allow the document's paths p give path's OPTIONS answer. */
static const char *allow_of(json_t *p, const char *path)
{
	json_t *headers = at(at(p, path, "options", "responses"), "204", "headers", "Allow");
	return json_string_value(json_object_get(headers, "example"));
}

START_TEST(test_openapi_document_of_the_forum)
{
	static const char *const paths[] = {"/",
					    "/api",
					    "/api/openapi.json",
					    "/api/posts",
					    "/api/posts/by-user/{user}",
					    "/api/posts/in-thread/{thread}",
					    "/api/posts/{id}",
					    "/api/threads",
					    "/api/threads/{id}",
					    "/api/users",
					    "/api/users/{id}"};
	size_t n, i = 0;
	manifest **ms = forum(&n);
	json_t *doc = document(ms, n, NULL), *p, *op, *item;
	const char *key;
	ck_assert_str_eq(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
	assert_json(json_object_get(doc, "security"), "[]", "security");
	json_object_foreach(json_object_get(doc, "paths"), key, item)
	{
		ck_assert_uint_lt(i, sizeof(paths) / sizeof(paths[0]));
		ck_assert_str_eq(key, paths[i++]); /* in byte order */
		/* every path answers OPTIONS, with its Allow */
		ck_assert_ptr_nonnull(json_object_get(item, "options"));
	}
	ck_assert_uint_eq(i, sizeof(paths) / sizeof(paths[0]));
	p = json_object_get(doc, "paths");

	/* a list: query parameters with the manifest's rules, an array of rows, Link */
	op = at(p, "/api/users", "get", NULL);
	ck_assert_str_eq(json_string_value(json_object_get(op, "operationId")), "users.List");
	assert_json(json_array_get(json_object_get(op, "parameters"), 0),
		    "{\"name\":\"limit\",\"in\":\"query\",\"description\":\"at most this many "
		    "users\",\"required\":false,\"schema\":{\"type\":\"integer\",\"format\":"
		    "\"int32\",\"minimum\":0,\"maximum\":1000}}",
		    "limit");
	assert_json(at(op, "responses", "200", "content"),
		    "{\"application/json\":{\"schema\":{\"type\":\"array\",\"items\":{\"$ref\":"
		    "\"#/components/schemas/users.User\"}}}}",
		    "a list's body");
	ck_assert_ptr_nonnull(at(at(op, "responses", "200", "headers"), "Link", NULL, NULL));
	ck_assert_ptr_null(at(op, "responses", "404", NULL));
	ck_assert_ptr_nonnull(at(op, "responses", "503", NULL));
	ck_assert_ptr_nonnull(at(op, "responses", "504", NULL));

	/* a record by id: the path's parameter on the path, 404 */
	item = json_object_get(p, "/api/users/{id}");
	assert_json(json_object_get(item, "parameters"),
		    "[{\"name\":\"id\",\"in\":\"path\",\"required\":true,\"schema\":{\"type\":"
		    "\"integer\",\"format\":\"int64\",\"minimum\":1,\"maximum\":"
		    "9223372036854775807}}]",
		    "{id}");
	assert_json(at(item, "get", "responses", "404"),
		    "{\"$ref\":\"#/components/responses/NotFound\"}", "404");
	/* a filter by the path answers [] for no match: no 404 */
	ck_assert_ptr_null(
	    at(at(p, "/api/posts/in-thread/{thread}", "get", "responses"), "404", NULL, NULL));

	/* a create: the body with the rules, 201 with Location, the errors of a body */
	op = at(p, "/api/threads", "post", NULL);
	assert_json(at(op, "requestBody", NULL, NULL),
		    "{\"required\":true,\"content\":{\"application/json\":{\"schema\":{\"$ref\":"
		    "\"#/components/schemas/threads.CreateThreadRequest\"}}}}",
		    "a create's body");
	assert_json(at(at(op, "responses", "201", "headers"), "Location", NULL, NULL),
		    "{\"description\":\"Where the new record is: /api/threads/{id}\",\"required\":"
		    "true,\"schema\":{\"type\":\"string\",\"format\":\"uri-reference\"}}",
		    "Location");
	for (const char *const *s = (const char *const[]){"400", "409", "413", "415", "429", "503",
							  "504", "default", NULL};
	     *s != NULL; s++)
		ck_assert_msg(at(op, "responses", *s, NULL) != NULL, "POST /api/threads: no %s",
			      *s);
	assert_json(at(doc, "components", "schemas", "threads.CreateThreadRequest"),
		    "{\"type\":\"object\",\"properties\":{\"title\":{\"type\":\"string\","
		    "\"minLength\":1,\"maxLength\":200},\"createdBy\":{\"type\":\"integer\","
		    "\"format\":\"int64\",\"description\":\"the id of an existing user\","
		    "\"minimum\":1}},\"required\":[\"title\",\"createdBy\"],"
		    "\"additionalProperties\":false}",
		    "threads.CreateThreadRequest");
	assert_json(at(p, "/api/threads", "post", "parameters"),
		    "[{\"$ref\":\"#/components/parameters/X-Request-Id\"},"
		    "{\"$ref\":\"#/components/parameters/traceparent\"},"
		    "{\"$ref\":\"#/components/parameters/Request-Timeout\"},"
		    "{\"$ref\":\"#/components/parameters/Idempotency-Key\"}]",
		    "a create's headers");
	/* every answer carries traceparent */
	ck_assert_ptr_nonnull(at(at(op, "responses", "201", "headers"), "traceparent", NULL, NULL));
	ck_assert_ptr_nonnull(at(at(doc, "components", "responses", "GatewayTimeout"), "headers",
				 "traceparent", NULL));
	ck_assert_ptr_nonnull(at(doc, "components", "parameters", "Request-Timeout"));

	/* the edge's own: text, and this document; the Allow of every path */
	assert_json(at(at(p, "/", "get", "responses"), "200", "content", NULL),
		    "{\"text/plain\":{\"schema\":{\"type\":\"string\",\"const\":\"Ready to receive "
		    "requests\"}}}",
		    "GET /");
	ck_assert_ptr_nonnull(at(at(p, "/api/openapi.json", "get", "responses"), "200", "content",
				 "application/json"));
	ck_assert_str_eq(allow_of(p, "/api/users"), "GET, HEAD, POST, OPTIONS");
	ck_assert_str_eq(allow_of(p, "/api/posts/{id}"), "GET, HEAD, OPTIONS");

	/* the components: the error schema and the edge's answers */
	ck_assert_ptr_nonnull(at(doc, "components", "schemas", "Error"));
	for (const char *const *s =
		 (const char *const[]){"BadRequest", "NotFound", "Conflict", "PayloadTooLarge",
				       "UnsupportedMediaType", "TooManyRequests",
				       "ServiceUnavailable", "GatewayTimeout", "Error", NULL};
	     *s != NULL; s++)
		ck_assert_msg(at(doc, "components", "responses", *s) != NULL, "no response %s", *s);
	ck_assert_ptr_nonnull(at(at(doc, "components", "responses", "ServiceUnavailable"),
				 "headers", "Retry-After", NULL));
	json_decref(doc);
	manifest_free_all(ms, n);
}
END_TEST

START_TEST(test_openapi_document_is_deterministic)
{
	size_t n;
	manifest **ms = forum(&n), *reversed[8];
	char *a, *b;
	json_decref(document(ms, n, &a));
	for (size_t i = 0; i < n; i++)
		reversed[i] = ms[n - 1 - i];
	json_decref(document(reversed, n, &b));
	ck_assert_msg(strcmp(a, b) == 0, "the order of the manifests changed the document");
	free(a);
	free(b);
	manifest_free_all(ms, n);
}
END_TEST

/* assert_refused asserts the document of the manifests ms is refused, saying reason. */
static void assert_refused(manifest *const *ms, size_t n, const char *reason)
{
	char err[512] = "", *out = NULL;
	size_t len;
	ck_assert_int_eq(openapi_document(ms, n, &out, &len, err, sizeof(err)), -1);
	ck_assert_ptr_null(out);
	ck_assert_msg(strstr(err, reason) != NULL, "'%s' does not say '%s'", err, reason);
}

START_TEST(test_openapi_document_refuses)
{
	manifest *ms[2];
	char want[512];
	ms[0] = load("a", "name: a\nservice: users.Users\nfields:\n  Create:\n"
			  "    nickname: {max_length: 3}\nroutes: []\n");
	snprintf(want, sizeof(want), "%s:5: fields: Create.nickname: not a field", ms[0]->file);
	assert_refused(ms, 1, want);
	manifest_free(ms[0]);

	/* two services with the same request, and other rules for it */
	ms[0] = load("a", "name: a\nservice: users.Users\nfields:\n  Create:\n"
			  "    name: {max_length: 3}\nroutes:\n"
			  "  - {method: POST, path: /api/a, rpc: Create}\n");
	ms[1] = load("b", "name: b\nservice: users.Users\nroutes:\n"
			  "  - {method: POST, path: /api/b, rpc: Create}\n");
	assert_refused(ms, 2, "Create's request users.CreateUserRequest is also another method's");
	manifest_free(ms[0]);
	manifest_free(ms[1]);

	ms[0] = load("a", "name: a\nservice: users.Users\nroutes:\n"
			  "  - {method: GET, path: /api/a, rpc: Nope}\n");
	snprintf(want, sizeof(want), "%s:4: users.Users has no method 'Nope'", ms[0]->file);
	assert_refused(ms, 1, want);
	manifest_free(ms[0]);

	ms[0] = load("a", "name: a\nservice: users.Users\nroutes:\n"
			  "  - {method: GET, path: '/api/a/{nickname}', rpc: Get}\n");
	assert_refused(ms, 1,
		       "{nickname} is not an integer or string field of users.GetUserRequest");
	manifest_free(ms[0]);

	ms[0] = load("a", "name: a\nservice: users.Users\nroutes:\n"
			  "  - {method: GET, path: /api/a, rpc: Get}\n"
			  "  - {method: GET, path: /api/a, rpc: List}\n");
	assert_refused(ms, 1, "a route for get /api/a is declared twice");
	manifest_free(ms[0]);

	ms[0] = load("a", "name: a\nservice: users.Users\nroutes:\n"
			  "  - {method: GET, path: /api/a, rpc: Get, status: 404}\n");
	assert_refused(ms, 1, "status '404' is not a success status");
	manifest_free(ms[0]);

	ms[0] = load("a", "name: a\nservice: users.Users\nroutes:\n"
			  "  - {method: GET, path: /api/a, rpc: List, body: next_after}\n");
	assert_refused(ms, 1, "body 'next_after' is not a repeated field of users.ListUsersReply");
	manifest_free(ms[0]);

	ms[0] =
	    load("a", "name: a\nservice: users.Users\nroutes:\n"
		      "  - {method: GET, path: /api/a, rpc: List, query: [after], next: after}\n");
	assert_refused(ms, 1, "next 'after' is not named next_<parameter>");
	manifest_free(ms[0]);
}
END_TEST

/* The edge's route: GET OPENAPI_PATH answers the document of the manifests it was built from. */
START_TEST(test_openapi_routes_serve_the_document)
{
	size_t n;
	manifest **ms = forum(&n);
	char err[512] = "", scratch[64], *text = NULL;
	route_table t;
	route_path path;
	const route *r = NULL;
	unsigned allow = 0;
	route_table_init(&t);
	ck_assert_msg(routes_build(&t, ms, n, err, sizeof(err)) == 0, "%s", err);
	json_decref(document(ms, n, &text));
	ck_assert_int_eq(
	    route_path_parse(&path, OPENAPI_PATH, strlen(OPENAPI_PATH), scratch, sizeof(scratch)),
	    0);
	ck_assert_int_eq(route_table_match(&t, &path, ROUTE_GET, &r, &allow), ROUTE_MATCH_FOUND);
	ck_assert_int_eq(r->kind, ROUTE_TEXT);
	ck_assert_str_eq(r->content_type, "application/json; charset=utf-8");
	ck_assert_str_eq(r->text, text);
	ck_assert_uint_eq(allow, ROUTE_GET | ROUTE_HEAD | ROUTE_OPTIONS);
	/* the edge's own texts are what the document says they are */
	for (const char *const *p = (const char *const[]){"/", "/api", NULL}; *p != NULL; p++) {
		json_t *doc = document(ms, n, NULL), *answer;
		ck_assert_int_eq(route_path_parse(&path, *p, strlen(*p), scratch, sizeof(scratch)),
				 0);
		ck_assert_int_eq(route_table_match(&t, &path, ROUTE_GET, &r, &allow),
				 ROUTE_MATCH_FOUND);
		answer = at(at(at(json_object_get(doc, "paths"), *p, "get", "responses"), "200",
			       "content", "text/plain"),
			    "schema", "const", NULL);
		ck_assert_str_eq(json_string_value(answer), r->text);
		json_decref(doc);
	}
	free(text);
	route_table_fini(&t);
	manifest_free_all(ms, n);
}
END_TEST

static Suite *openapi_suite(void)
{
	Suite *s = suite_create("openapi");
	TCase *tc = tcase_create("schema");
	tcase_add_checked_fixture(tc, tmpdir_setup, tmpdir_teardown);
	tcase_add_test(tc, test_openapi_reply_schema_of_every_kind);
	tcase_add_test(tc, test_openapi_request_schema_with_rules);
	tcase_add_test(tc, test_openapi_parameters);
	suite_add_tcase(s, tc);
	tc = tcase_create("document");
	tcase_add_checked_fixture(tc, tmpdir_setup, tmpdir_teardown);
	tcase_add_test(tc, test_openapi_document_of_the_forum);
	tcase_add_test(tc, test_openapi_document_is_deterministic);
	tcase_add_test(tc, test_openapi_document_refuses);
	tcase_add_test(tc, test_openapi_routes_serve_the_document);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(openapi_suite(), 0);
}
