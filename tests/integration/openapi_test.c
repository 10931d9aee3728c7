/* openapi_test.c: the OpenAPI document against the real thing: docs/openapi.json is what
 * `meshctl openapi` writes (a drift test), meshctl openapi's command line, Redocly CLI's lint
 * (tests/openapi/check.mjs), the edge serving the same bytes (GET, HEAD, OPTIONS, 405), every
 * limit the manifests' fields: declare held by the running services at and past its bound, and a
 * client generated from the document (openapi-typescript, openapi-fetch, tsc) calling every route
 * with every service up, with posts hung (504) and with posts down (503). */
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <jansson.h>

#include "fixture.h"
#include "harness.h"
#include "http.h"

#define MESHCTL	      CLEAVE_BUILD_DIR "/meshctl"
#define COMMITTED     CLEAVE_SOURCE_DIR "/docs/openapi.json"
#define CHECK_MJS     CLEAVE_SOURCE_DIR "/tests/openapi/check.mjs"
#define JSON_TYPE     "application/json; charset=utf-8"
#define EDGE_DEADLINE 2000 /* the edge's --timeout-ms: a hung service's routes answer 504 */

static char dir[256];
static fixture_mesh mesh;
static int mesh_up;

static void dir_setup(void)
{
	ck_assert_int_eq(harness_tmpdir(dir, sizeof(dir)), 0);
}

static void dir_teardown(void)
{
	harness_rmtree(dir);
}

static void mesh_setup(void)
{
	static const char *const args[] = {"--timeout-ms", "2000", "--access-log", "off", NULL};
	dir_setup();
	mesh_up = fixture_mesh_start(&mesh, args) == 0;
}

static void mesh_teardown(void)
{
	char report[8192];
	if (mesh_up && fixture_mesh_stop(&mesh, report, sizeof(report)) != 0)
		harness_note_unclean("the mesh", report);
	mesh_up = 0;
	dir_teardown();
}

/* run runs argv (NULL-terminated) for up to timeout_ms and returns its exit status (128 if it
 * did not exit in time), its stdout and stderr in *out (malloc'd, the caller's) if out is not
 * NULL. */
static int run(char **out, int timeout_ms, char *const argv[])
{
	static int seq;
	char log[512];
	pid_t pid;
	int status;
	snprintf(log, sizeof(log), "%s/run-%d.out", dir, seq++);
	pid = harness_spawn(argv, log);
	ck_assert_int_gt(pid, 0);
	status = harness_wait(pid, timeout_ms);
	if (status == -1)
		status = harness_stop(pid, SIGKILL, 1000);
	if (out != NULL) {
		*out = harness_read_file(log);
		if (*out == NULL)
			*out = strdup("");
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* generate runs meshctl openapi with args (NULL-terminated, at most 6) and returns its exit
 * status and its output in *out. */
static int generate(char **out, const char *const *args)
{
	char *argv[10] = {MESHCTL, "openapi"};
	size_t n = 2;
	for (; args != NULL && *args != NULL && n < 8; args++)
		argv[n++] = (char *)*args;
	argv[n] = NULL;
	return run(out, 30000, argv);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_msg(f != NULL, "cannot write %s", path);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

/* copy_manifests copies svc/<name>/manifest.yml of every service into DIR/svc; returns the path
 * of that copy's users manifest in users (for a test to change). */
static void copy_manifests(char *svc, size_t svclen, char *users, size_t userslen)
{
	static const char *const names[] = {"posts", "threads", "users"};
	snprintf(svc, svclen, "%.280s/svc", dir);
	mkdir(svc, 0755);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char from[512], to[700], *text;
		snprintf(from, sizeof(from), CLEAVE_SOURCE_DIR "/svc/%s/manifest.yml", names[i]);
		snprintf(to, sizeof(to), "%.300s/%s", svc, names[i]);
		mkdir(to, 0755);
		snprintf(to, sizeof(to), "%.300s/%s/manifest.yml", svc, names[i]);
		text = harness_read_file(from);
		ck_assert_ptr_nonnull(text);
		write_file(to, text);
		free(text);
		if (strcmp(names[i], "users") == 0)
			snprintf(users, userslen, "%.600s", to);
	}
}

/* ---- the document and meshctl openapi -------------------------------------------------------- */

/* The committed docs/openapi.json is what the manifests give now; if not, the diff and how to
 * regenerate it. */
START_TEST(test_the_committed_document_matches_the_manifests)
{
	char *now = NULL, *committed = harness_read_file(COMMITTED), fresh[512], *diff = NULL;
	ck_assert_int_eq(generate(&now, NULL), 0);
	ck_assert_msg(committed != NULL,
		      "%s is missing: build/meshctl openapi --out docs/openapi.json", COMMITTED);
	if (strcmp(now, committed) != 0) {
		char *argv[] = {"/usr/bin/diff", "-u", COMMITTED, fresh, NULL};
		snprintf(fresh, sizeof(fresh), "%s/openapi.json", dir);
		write_file(fresh, now);
		run(&diff, 30000, argv);
		ck_abort_msg(
		    "docs/openapi.json is not what the manifests give; regenerate it with\n"
		    "  build/meshctl openapi --out docs/openapi.json\n%s",
		    diff);
	}
	free(now);
	free(committed);
	free(diff);
}
END_TEST

START_TEST(test_meshctl_openapi_command_line)
{
	char *out = NULL, *stdout_text = NULL, *file_text, file[512], svc[300], users[700],
	     want[800];
	const char *help[] = {"--help", NULL}, *bogus[] = {"--bogus", NULL};
	const char *extra[] = {"extra", NULL}, *to_file[] = {"--out", file, NULL};
	const char *nowhere[] = {"--out", "/nonexistent/dir/openapi.json", NULL};
	const char *from[] = {"--manifests", svc, NULL}, *none[] = {"--manifests", dir, NULL};
	ck_assert_int_eq(generate(&out, help), 0);
	ck_assert_ptr_nonnull(strstr(out, "usage: meshctl openapi [--out FILE] [--manifests DIR]"));
	free(out);
	ck_assert_int_eq(generate(&out, bogus), 2);
	free(out);
	ck_assert_int_eq(generate(&out, extra), 2);
	ck_assert_ptr_nonnull(strstr(out, "unexpected argument 'extra'"));
	free(out);

	/* --out writes what stdout gets, and nothing to stdout */
	snprintf(file, sizeof(file), "%s/doc.json", dir);
	ck_assert_int_eq(generate(&stdout_text, NULL), 0);
	ck_assert_int_eq(generate(&out, to_file), 0);
	ck_assert_str_eq(out, "");
	free(out);
	file_text = harness_read_file(file);
	ck_assert_ptr_nonnull(file_text);
	ck_assert_msg(strcmp(file_text, stdout_text) == 0, "--out and stdout differ");
	free(file_text);
	ck_assert_int_eq(generate(&out, nowhere), 1);
	ck_assert_ptr_nonnull(strstr(out, "meshctl openapi: cannot write /nonexistent/dir/"));
	free(out);

	/* the same manifests elsewhere: the same document (it names no directory) */
	copy_manifests(svc, sizeof(svc), users, sizeof(users));
	ck_assert_int_eq(generate(&out, from), 0);
	ck_assert_msg(strcmp(out, stdout_text) == 0,
		      "the manifests' directory changed the document");
	free(out);

	/* a rule on a field the request does not have: file:line */
	{
		char *text = harness_read_file(users), *cut = strstr(text, "\nroutes:");
		char *changed = malloc(strlen(text) + 256);
		ck_assert_ptr_nonnull(cut);
		*cut = '\0';
		sprintf(changed, "%s\n  Get:\n    nickname: {max_length: 3}\nroutes:%s", text,
			cut + 8);
		write_file(users, changed);
		free(text);
		free(changed);
	}
	ck_assert_int_eq(generate(&out, from), 1);
	snprintf(want, sizeof(want), "meshctl openapi: %s:", users);
	ck_assert_msg(strstr(out, want) != NULL &&
			  strstr(out, ": fields: Get.nickname: not a field "
				      "of the method's request") != NULL,
		      "%s", out);
	free(out);
	{ /* and the edge, which makes the document at start, does not start */
		char *argv[] = {CLEAVE_BUILD_DIR "/edge", "--manifests", svc, "--port", "0",
				"--access-log",		  "off",	 NULL};
		ck_assert_int_eq(run(&out, 30000, argv), 1);
		snprintf(want, sizeof(want), "edge: %s:", users);
		ck_assert_msg(strstr(out, want) != NULL &&
				  strstr(out, "fields: Get.nickname") != NULL,
			      "%s", out);
		free(out);
	}
	ck_assert_int_eq(generate(&out, none), 1);
	ck_assert_ptr_nonnull(strstr(out, "no */manifest.yml found"));
	free(out);
	free(stdout_text);
}
END_TEST

/* check_mjs runs node tests/openapi/check.mjs cmd doc: its exit status, and its output in *out.
 * Returns -1 after harness_skip where node, npm or the registry cannot be had. */
static int check_mjs(char **out, const char *cmd, const char *doc)
{
	char *argv[] = {"/usr/bin/env", "node", CHECK_MJS, (char *)cmd, (char *)doc, NULL};
	int rc = run(out, 240000, argv); /* npm ci the first time */
	if ((rc == 127 && strstr(*out, "env: ") != NULL) || rc == 77) {
		char *last = *out + strlen(*out);
		while (last > *out && last[-1] == '\n')
			*--last = '\0';
		while (last > *out && last[-1] != '\n')
			last--;
		printf("%s\n", *out); /* what npm said, if it ran */
		harness_skip("openapi tools: %s%s", last,
			     rc == 127 ? " (infra/deps.sh installs nodejs and npm)" : "");
		return -1;
	}
	return rc;
}

/* Redocly CLI lints the document clean with its recommended rules; a broken copy fails. */
START_TEST(test_the_document_passes_redocly_lint)
{
	char *out = NULL, broken[512];
	json_error_t e;
	json_t *doc;
	int rc = check_mjs(&out, "lint", COMMITTED);
	if (rc == -1) {
		free(out);
		return;
	}
	ck_assert_msg(rc == 0, "check.mjs lint exited %d:\n%s", rc, out);
	ck_assert_ptr_nonnull(strstr(out, "is valid OpenAPI"));
	free(out);
	/* the linter bites: a path parameter dropped */
	doc = json_load_file(COMMITTED, 0, &e);
	ck_assert_ptr_nonnull(doc);
	ck_assert_int_eq(
	    json_object_del(json_object_get(json_object_get(doc, "paths"), "/api/users/{id}"),
			    "parameters"),
	    0);
	snprintf(broken, sizeof(broken), "%s/broken.json", dir);
	ck_assert_int_eq(json_dump_file(doc, broken, JSON_INDENT(2)), 0);
	json_decref(doc);
	rc = check_mjs(&out, "lint", broken);
	ck_assert_msg(rc == 1 && strstr(out, "path-parameters-defined") != NULL,
		      "a document without {id}'s parameter: exit %d:\n%s", rc, out);
	free(out);
}
END_TEST

/* ---- the edge ----------------------------------------------------------------------------------
 */

/* request sends method to path on the edge (opts may be NULL) and fills r. */
static void request(const char *method, const char *path, const http_options *opts,
		    http_response *r)
{
	char url[8192];
	ck_assert_msg(mesh_up, "the mesh did not start");
	fixture_url(&mesh, path, url, sizeof(url));
	ck_assert_msg(http_request(method, url, opts, r) == 0, "%s %s: %s", method, path, r->error);
}

/* served returns the document the edge serves, parsed. */
static json_t *served(void)
{
	http_response r;
	json_error_t e;
	json_t *doc;
	request("GET", "/api/openapi.json", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	doc = json_loads(r.body, 0, &e);
	ck_assert_msg(doc != NULL, "not JSON: %s", e.text);
	http_response_free(&r);
	return doc;
}

START_TEST(test_the_edge_serves_the_document)
{
	char *want = NULL, value[256], length[32];
	http_response r;
	http_options h2 = {.http2 = 1};
	ck_assert_int_eq(generate(&want, NULL), 0);
	request("GET", "/api/openapi.json", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(http_header(&r, "content-type", value, sizeof(value)), JSON_TYPE);
	ck_assert_ptr_nonnull(http_header(&r, "x-request-id", value, sizeof(value)));
	ck_assert_msg(strcmp(r.body, want) == 0, "GET /api/openapi.json is not meshctl openapi's");
	ck_assert_ptr_nonnull(http_header(&r, "content-length", length, sizeof(length)));
	ck_assert_uint_eq(strtoul(length, NULL, 10), strlen(want));
	http_response_free(&r);
	/* HEAD: the same head, no body */
	request("HEAD", "/api/openapi.json", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.body_len, 0);
	ck_assert_uint_eq(
	    strtoul(http_header(&r, "content-length", value, sizeof(value)), NULL, 10),
	    strlen(want));
	ck_assert_str_eq(http_header(&r, "content-type", value, sizeof(value)), JSON_TYPE);
	http_response_free(&r);
	/* another method: 405 with Allow and the JSON error, as on every path */
	request("POST", "/api/openapi.json", NULL, &r);
	ck_assert_int_eq(r.status, 405);
	ck_assert_str_eq(http_header(&r, "allow", value, sizeof(value)), "GET, HEAD, OPTIONS");
	ck_assert_str_eq(http_header(&r, "content-type", value, sizeof(value)), JSON_TYPE);
	ck_assert_msg(strncmp(r.body, "{\"code\":\"METHOD_NOT_ALLOWED\",", 29) == 0, "%s", r.body);
	http_response_free(&r);
	request("OPTIONS", "/api/openapi.json", NULL, &r);
	ck_assert_int_eq(r.status, 204);
	ck_assert_str_eq(http_header(&r, "allow", value, sizeof(value)), "GET, HEAD, OPTIONS");
	http_response_free(&r);
	/* HTTP/2, and a trailing slash: the same bytes */
	request("GET", "/api/openapi.json/", &h2, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(r.version, 2);
	ck_assert_msg(strcmp(r.body, want) == 0, "over HTTP/2: not meshctl openapi's");
	http_response_free(&r);
	free(want);
}
END_TEST

/* concrete writes template with every {parameter} replaced by value into out. */
static void concrete(const char *template, const char *value, char *out, size_t outlen)
{
	size_t n = 0;
	for (const char *p = template; *p != '\0' && n + strlen(value) + 1 < outlen; p++) {
		if (*p == '{') {
			n += (size_t)snprintf(out + n, outlen - n, "%s", value);
			p = strchr(p, '}');
			if (p == NULL)
				break;
		} else {
			out[n++] = *p;
		}
	}
	out[n] = '\0';
}

/* Every path's OPTIONS answer and 405 carry the Allow the document gives it. */
START_TEST(test_every_path_allows_what_the_document_says)
{
	json_t *doc = served(), *item;
	const char *template;
	json_object_foreach(json_object_get(doc, "paths"), template, item)
	{
		json_t *allow = json_object_get(
		    json_object_get(
			json_object_get(
			    json_object_get(
				json_object_get(json_object_get(item, "options"), "responses"),
				"204"),
			    "headers"),
			"Allow"),
		    "example");
		char path[512], value[256];
		http_response r;
		ck_assert_msg(json_is_string(allow), "%s: no Allow in its OPTIONS", template);
		concrete(template, "1", path, sizeof(path));
		request("OPTIONS", path, NULL, &r);
		ck_assert_int_eq(r.status, 204);
		ck_assert_msg(http_header(&r, "allow", value, sizeof(value)) != NULL &&
				  strcmp(value, json_string_value(allow)) == 0,
			      "OPTIONS %s: Allow %s, the document's %s", path, value,
			      json_string_value(allow));
		http_response_free(&r);
		request("DELETE", path, NULL, &r);
		ck_assert_int_eq(r.status, 405);
		ck_assert_str_eq(http_header(&r, "allow", value, sizeof(value)),
				 json_string_value(allow));
		http_response_free(&r);
	}
	json_decref(doc);
}
END_TEST

/* ---- the declared limits, probed ------------------------------------------------------------- */

/* probe: one operation with a body, being probed. */
typedef struct probe {
	const char *path;
	long success;	/* its success status */
	json_t *schema; /* its body's schema (resolved) */
	json_t *doc;
	int checked;
} probe;

/* resolve follows a {"$ref": "#/components/schemas/NAME"}. */
static json_t *resolve(json_t *doc, json_t *schema)
{
	const char *ref = json_string_value(json_object_get(schema, "$ref"));
	if (ref == NULL || strncmp(ref, "#/components/schemas/", 21) != 0)
		return schema;
	return json_object_get(json_object_get(json_object_get(doc, "components"), "schemas"),
			       ref + 21);
}

static long integer_of(json_t *schema, const char *key, long otherwise)
{
	json_t *v = json_object_get(schema, key);
	return json_is_integer(v) ? (long)json_integer_value(v) : otherwise;
}

/* unique_text makes a string of n characters of [a-z0-9] no other call makes (when n is 6 or
 * more): a counter in base 36, padded with x. */
static void unique_text(char *out, size_t n)
{
	static unsigned long counter = 1296; /* four base-36 digits at least */
	char digits[32];
	size_t k = 0;
	unsigned long v = counter++ * 7919 + (unsigned long)getpid();
	for (; v > 0 && k < sizeof(digits); v /= 36)
		digits[k++] = "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36];
	for (size_t i = 0; i < n; i++)
		out[i] = i < k ? digits[i] : 'x';
	out[n] = '\0';
}

/* valid_body returns a body the schema accepts, fresh: every required field, strings unique,
 * integers their minimum (1 for a reference: the seed has record 1 of every kind). */
static json_t *valid_body(json_t *schema)
{
	json_t *body = json_object(), *name;
	size_t i;
	json_array_foreach(json_object_get(schema, "required"), i, name)
	{
		json_t *prop =
		    json_object_get(json_object_get(schema, "properties"), json_string_value(name));
		const char *type = json_string_value(json_object_get(prop, "type"));
		if (type != NULL && strcmp(type, "string") == 0) {
			long min = integer_of(prop, "minLength", 1),
			     max = integer_of(prop, "maxLength", 64);
			char text[64];
			unique_text(text, (size_t)(max < 8 ? max : min > 8 ? min : 8));
			json_object_set_new(body, json_string_value(name), json_string(text));
		} else {
			json_object_set_new(body, json_string_value(name),
					    json_integer(integer_of(prop, "minimum", 1)));
		}
	}
	return body;
}

/* send_body posts p's body with field set to value (taken; NULL: left out) and checks the
 * status: p's success, or 400 naming field. */
static void send_body(probe *p, const char *field, json_t *value, int accepted, const char *what)
{
	json_t *body = valid_body(p->schema);
	char *text;
	http_response r;
	http_options o = {.content_type = "application/json"};
	if (value != NULL)
		json_object_set_new(body, field, value);
	else
		json_object_del(body, field);
	text = json_dumps(body, JSON_COMPACT);
	o.body = text;
	request("POST", p->path, &o, &r);
	ck_assert_msg(r.status == (accepted ? p->success : 400),
		      "POST %s with %s %s (%s): %ld, want %ld: %s", p->path, field, what, text,
		      r.status, accepted ? p->success : 400L, r.body);
	if (!accepted)
		ck_assert_msg(strstr(r.body, field) != NULL,
			      "POST %s with %s %s: %s does not name it", p->path, field, what,
			      r.body);
	p->checked++;
	http_response_free(&r);
	free(text);
	json_decref(body);
}

/* string_of returns a fresh string of n characters ending with last (NULL: none). */
static json_t *string_of(size_t n, const char *last)
{
	char text[20000];
	if (n >= sizeof(text) - 8)
		n = sizeof(text) - 8;
	unique_text(text, n);
	if (last != NULL && n > 0) {
		text[n - 1] = '\0';
		strcat(text, last);
	}
	return json_string(text);
}

/* probe_string probes a string property: its lengths, at and past each bound, and its pattern
 * against characters in and out of it (POSIX ERE predicts what the service says). */
static void probe_string(probe *p, const char *field, json_t *prop)
{
	static const char *const tries[] = {"A", "-", " ", "_", "9", ".", "\xc3\xa9"};
	long min = integer_of(prop, "minLength", 0), max = integer_of(prop, "maxLength", -1);
	const char *pattern = json_string_value(json_object_get(prop, "pattern"));
	regex_t re;
	if (max >= 0) {
		send_body(p, field, string_of((size_t)max, NULL), 1, "at its maxLength");
		send_body(p, field, string_of((size_t)max + 1, NULL), 0, "over its maxLength");
	}
	if (min > 0) {
		send_body(p, field, string_of((size_t)min, NULL), 1, "at its minLength");
		send_body(p, field, string_of((size_t)min - 1, NULL), 0, "under its minLength");
	}
	if (pattern == NULL)
		return;
	ck_assert_msg(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) == 0,
		      "%s: pattern %s is no POSIX ERE: the probe cannot tell what it allows", field,
		      pattern);
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		size_t n = (size_t)(min > 4 ? min : 4);
		json_t *v = string_of(max >= 0 && n > (size_t)max ? (size_t)max : n, tries[i]);
		int ok = regexec(&re, json_string_value(v), 0, NULL, 0) == 0;
		char what[64];
		snprintf(what, sizeof(what), "ending with '%s' (%s the pattern)", tries[i],
			 ok ? "in" : "out of");
		send_body(p, field, v, ok, what);
	}
	regfree(&re);
}

/* probe_operation probes every property of one operation's body: required ones left out, the
 * bounds of strings and integers. */
static void probe_operation(probe *p)
{
	json_t *props = json_object_get(p->schema, "properties"), *prop, *name;
	const char *field;
	size_t i;
	send_body(p, "", NULL, 1, "(a valid body)");
	json_array_foreach(json_object_get(p->schema, "required"), i, name)
	    send_body(p, json_string_value(name), NULL, 0, "left out (required)");
	json_object_foreach(props, field, prop)
	{
		const char *type = json_string_value(json_object_get(prop, "type"));
		if (type != NULL && strcmp(type, "string") == 0) {
			probe_string(p, field, prop);
		} else if (type != NULL && strcmp(type, "integer") == 0 &&
			   json_object_get(prop, "minimum") != NULL) {
			long min = integer_of(prop, "minimum", 0);
			send_body(p, field, json_integer(min), 1, "at its minimum");
			send_body(p, field, json_integer(min - 1), 0, "under its minimum");
		}
	}
}

/* probe_query probes the query parameters of a GET with declared bounds: at and past each. */
static void probe_query(const char *template, json_t *params, int *checked)
{
	json_t *param;
	size_t i;
	json_array_foreach(params, i, param)
	{
		json_t *schema = json_object_get(param, "schema");
		const char *name = json_string_value(json_object_get(param, "name"));
		char path[512], url[700];
		long long bounds[2][2] = {{0, 0}, {0, 0}}; /* value, accepted */
		size_t n = 0;
		if (json_string_value(json_object_get(param, "in")) == NULL ||
		    strcmp(json_string_value(json_object_get(param, "in")), "query") != 0)
			continue;
		if (json_integer_value(json_object_get(schema, "maximum")) < INT32_MAX &&
		    json_object_get(schema, "maximum") != NULL) {
			long long max = json_integer_value(json_object_get(schema, "maximum"));
			bounds[n][0] = max;
			bounds[n++][1] = 1;
			bounds[n][0] = max + 1;
			bounds[n++][1] = 0;
		}
		concrete(template, "1", path, sizeof(path));
		for (size_t k = 0; k < n; k++) {
			http_response r;
			snprintf(url, sizeof(url), "%s?%s=%lld", path, name, bounds[k][0]);
			request("GET", url, NULL, &r);
			ck_assert_msg(r.status == (bounds[k][1] ? 200 : 400), "GET %s: %ld: %s",
				      url, r.status, r.body);
			(*checked)++;
			http_response_free(&r);
		}
		/* under the minimum the edge refuses the syntax (a minus sign) or the value */
		{
			http_response r;
			long long min = json_integer_value(json_object_get(schema, "minimum"));
			snprintf(url, sizeof(url), "%s?%s=%lld", path, name, min - 1);
			request("GET", url, NULL, &r);
			ck_assert_msg(r.status == 400, "GET %s: %ld: %s", url, r.status, r.body);
			(*checked)++;
			http_response_free(&r);
		}
	}
}

/* probe_key probes Idempotency-Key's length at and past its maxLength on path. */
static void probe_key(probe *p)
{
	json_t *key = json_object_get(
	    json_object_get(json_object_get(json_object_get(p->doc, "components"), "parameters"),
			    "Idempotency-Key"),
	    "schema");
	long max = integer_of(key, "maxLength", 0);
	for (int over = 0; over < 2; over++) {
		json_t *fresh = valid_body(p->schema);
		char header[512] = "Idempotency-Key: ", *body = json_dumps(fresh, JSON_COMPACT);
		const char *headers[] = {header, NULL};
		http_options o = {
		    .body = body, .content_type = "application/json", .headers = headers};
		http_response r;
		size_t at = strlen(header);
		ck_assert_int_lt(max, 400);
		unique_text(header + at, (size_t)(max + over));
		request("POST", p->path, &o, &r);
		ck_assert_msg(r.status == (over ? 400 : p->success),
			      "POST %s with a key of %ld: %ld", p->path, max + over, r.status);
		p->checked++;
		http_response_free(&r);
		free(body);
		json_decref(fresh);
	}
}

/* The services hold every limit the document (from the manifests' fields:) declares: at each
 * bound a request is accepted, past it refused with 400 naming the field. */
START_TEST(test_the_services_hold_the_declared_limits)
{
	json_t *doc = served(), *item;
	const char *template;
	int operations = 0, checked = 0;
	json_object_foreach(json_object_get(doc, "paths"), template, item)
	{
		json_t *post = json_object_get(item, "post"), *get = json_object_get(item, "get");
		if (get != NULL)
			probe_query(template, json_object_get(get, "parameters"), &checked);
		if (post != NULL && json_object_get(post, "requestBody") != NULL) {
			json_t *content = json_object_get(
			    json_object_get(json_object_get(post, "requestBody"), "content"),
			    "application/json");
			probe p = {.path = template, .doc = doc};
			const char *status;
			json_t *v;
			json_object_foreach(json_object_get(post, "responses"), status,
					    v) if (status[0] == '2' && p.success == 0) p.success =
			    strtol(status, NULL, 10);
			p.schema = resolve(doc, json_object_get(content, "schema"));
			ck_assert_ptr_nonnull(p.schema);
			probe_operation(&p);
			probe_key(&p);
			checked += p.checked;
			operations++;
		}
	}
	printf("openapi_test: %d requests probed the limits of %d creates and the lists' queries\n",
	       checked, operations);
	ck_assert_int_eq(operations, 3);
	json_decref(doc);
}
END_TEST

/* ---- a generated client ---------------------------------------------------------------------- */

/* client_phase runs the compiled client.ts (in built) for phase, against the mesh's edge and the
 * document in doc_file; fails (its output printed) unless it exits 0. */
static void client_phase(const char *built, const char *doc_file, const char *phase)
{
	char script[600], url[128], doc[600], *out = NULL;
	char *argv[] = {"/usr/bin/env", url, doc, "node", script, (char *)phase, NULL};
	int rc;
	snprintf(script, sizeof(script), "%s/out/client.js", built);
	snprintf(url, sizeof(url), "CLEAVE_TEST_EDGE_URL=%s", mesh.base);
	snprintf(doc, sizeof(doc), "CLEAVE_OPENAPI_DOC=%s", doc_file);
	rc = run(&out, 60000, argv);
	printf("%s", out);
	ck_assert_msg(rc == 0, "client.ts %s exited %d (its output is above)", phase, rc);
	free(out);
}

/* wait_ok polls GET path until it answers 200, for up to 15 s. */
static void wait_ok(const char *path)
{
	long long until = harness_now_ms() + 15000;
	for (;;) {
		http_response r;
		request("GET", path, NULL, &r);
		http_response_free(&r);
		if (r.status == 200)
			return;
		ck_assert_msg(harness_now_ms() < until, "GET %s did not answer 200 again in 15 s",
			      path);
		harness_sleep_ms(100);
	}
}

/* A client generated from the document the edge serves (openapi-typescript, openapi-fetch),
 * type-checked by tsc, calls every route: every service up; posts hung (SIGSTOP): its routes
 * 504 at the deadline; posts gone: 503 at once. */
START_TEST(test_a_generated_client_calls_every_route)
{
	char doc_file[512], *out = NULL, *built, *end;
	http_response r;
	pid_t posts;
	int rc, status;
	request("GET", "/api/openapi.json", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	snprintf(doc_file, sizeof(doc_file), "%s/served.json", dir);
	write_file(doc_file, r.body);
	http_response_free(&r);
	rc = check_mjs(&out, "build", doc_file);
	if (rc == -1) {
		free(out);
		return;
	}
	ck_assert_msg(rc == 0, "check.mjs build exited %d:\n%s", rc, out);
	built = strstr(out, "built: ");
	ck_assert_msg(built != NULL, "%s", out);
	built += 7;
	end = strchr(built, '\n');
	if (end != NULL)
		*end = '\0';
	client_phase(built, doc_file, "up");
	posts = fixture_pid(&mesh, "posts");
	if (posts <= 0 || fixture_external() != NULL) {
		printf("openapi_test: no posts process of its own (monolith or external mesh): "
		       "the client's 504 and 503 phases are not run\n");
	} else {
		ck_assert_int_eq(harness_freeze(posts), 0);
		client_phase(built, doc_file, "frozen");
		ck_assert_int_eq(harness_thaw(posts), 0);
		wait_ok("/api/posts/1");
		status = harness_stop(posts, SIGTERM, 5000);
		ck_assert_msg(harness_stopped_cleanly(status, SIGTERM),
			      "posts did not stop cleanly");
		fixture_forget(&mesh, "posts");
		client_phase(built, doc_file, "down");
		ck_assert_int_gt(fixture_service_start(&mesh, "posts"), 0);
		wait_ok("/api/posts/1");
	}
	harness_rmtree(built);
	free(out);
}
END_TEST

static Suite *openapi_suite(void)
{
	Suite *s = suite_create("openapi");
	TCase *tc = harness_tcase("document", 120);
	tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
	tcase_add_test(tc, test_the_committed_document_matches_the_manifests);
	tcase_add_test(tc, test_meshctl_openapi_command_line);
	suite_add_tcase(s, tc);
	tc = harness_tcase("validator", 250); /* npm ci the first time */
	tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
	tcase_add_test(tc, test_the_document_passes_redocly_lint);
	suite_add_tcase(s, tc);
	tc = harness_tcase("mesh", 280);
	tcase_add_unchecked_fixture(tc, mesh_setup, mesh_teardown);
	tcase_add_test(tc, test_the_edge_serves_the_document);
	tcase_add_test(tc, test_every_path_allows_what_the_document_says);
	tcase_add_test(tc, test_the_services_hold_the_declared_limits);
	tcase_add_test(tc, test_a_generated_client_calls_every_route);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	curl_global_init_once();
	return harness_run_suite(openapi_suite(), 1);
}
