/* transcode_test.c: unit tests of the edge's transcoder: path parameters in, reply and error JSON
 * out. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "harness.h"

#include "pbjson.h"
#include "posts.pb-c.h"
#include "route.h"
#include "sample.pb-c.h"
#include "threads.pb-c.h"
#include "transcode.h"
#include "users.pb-c.h"

/* ---- helpers -------------------------------------------------------------------------------- */

/* rpc_route builds an RPC route of service's method rpc on template, its parameters filling the
 * request fields of the same name, and body (or NULL) as the reply field sent. */
static route *rpc_route(const ProtobufCServiceDescriptor *service, const char *rpc,
			const char *template, const char *body)
{
	const ProtobufCMethodDescriptor *method =
	    protobuf_c_service_descriptor_get_method_by_name(service, rpc);
	char err[256] = "";
	route *r = route_new();
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_nonnull(method);
	ck_assert_msg(route_template_parse(r, template, err, sizeof(err)) == 0, "%s", err);
	r->kind = ROUTE_RPC;
	r->method = ROUTE_GET;
	r->service = service;
	r->method_index = (unsigned)(method - service->methods);
	for (size_t i = 0; i < r->nsegments; i++) {
		if (!r->segments[i].is_param)
			continue;
		r->segments[i].field = protobuf_c_message_descriptor_get_field_by_name(
		    method->input, r->segments[i].text);
		ck_assert_msg(r->segments[i].field != NULL, "%s has no field %s",
			      method->input->name, r->segments[i].text);
	}
	if (body != NULL) {
		r->body_field =
		    protobuf_c_message_descriptor_get_field_by_name(method->output, body);
		ck_assert_ptr_nonnull(r->body_field);
	}
	return r;
}

/* parse splits path into p using scratch. */
static void parse(route_path *p, const char *path, char *scratch, size_t len)
{
	ck_assert_msg(route_path_parse(p, path, strlen(path), scratch, len) == 0, "'%s' rejected",
		      path);
}

/* params runs transcode_params of r on path into msg; returns its result, reason in err. */
static int params(const route *r, const char *path, ProtobufCMessage *msg, char *err, size_t errlen)
{
	char scratch[512];
	route_path p;
	parse(&p, path, scratch, sizeof(scratch));
	ck_assert_uint_eq(p.n, r->nsegments);
	err[0] = '\0';
	return transcode_params(r, &p, msg, err, errlen);
}

/* assert_reply asserts transcode_reply of r with reply writes exactly want. */
static void assert_reply(const route *r, const ProtobufCMessage *reply, const char *want)
{
	pbjson_buf buf;
	pbjson_buf_init(&buf);
	ck_assert_int_eq(transcode_reply(r, reply, &buf), 0);
	ck_assert_msg(buf.len == strlen(want) && memcmp(buf.data, want, buf.len) == 0,
		      "\n got  %.*s\n want %s", (int)buf.len, buf.data ? buf.data : "", want);
	pbjson_buf_fini(&buf);
}

/* assert_error asserts transcode_error of code and message writes exactly want. */
static void assert_error(const char *code, const char *message, const char *want)
{
	pbjson_buf buf;
	pbjson_buf_init(&buf);
	ck_assert_int_eq(transcode_error(&buf, code, message), 0);
	ck_assert_msg(buf.len == strlen(want) && memcmp(buf.data, want, buf.len) == 0,
		      "\n got  %.*s\n want %s", (int)buf.len, buf.data ? buf.data : "", want);
	pbjson_buf_fini(&buf);
}

static Posts__Post seed_post(int64_t id, int64_t thread, char *text, int64_t user)
{
	Posts__Post p = POSTS__POST__INIT;
	p.id = id;
	p.thread = thread;
	p.text = text;
	p.user = user;
	return p;
}

/* ---- transcode_params ----------------------------------------------------------------------- */

START_TEST(test_transcode_params_fills_int64)
{
	route *r = rpc_route(&posts__posts__descriptor, "Get", "/api/posts/{id}", NULL);
	Posts__GetPostRequest req = POSTS__GET_POST_REQUEST__INIT;
	char err[256];
	ck_assert_msg(params(r, "/api/posts/5", &req.base, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(req.id, 5);
	ck_assert_msg(params(r, "/api/posts/%31%32", &req.base, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(req.id, 12);
	ck_assert_msg(params(r, "/api/posts/007", &req.base, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(req.id, 7);
	ck_assert_msg(params(r, "/api/posts/9223372036854775807", &req.base, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_int_eq(req.id, INT64_MAX);
	route_free(r);
}
END_TEST

START_TEST(test_transcode_params_fills_the_named_field)
{
	route *r = rpc_route(&posts__posts__descriptor, "ListByThread",
			     "/api/posts/in-thread/{thread}", "posts");
	Posts__ListByThreadRequest req = POSTS__LIST_BY_THREAD_REQUEST__INIT;
	Posts__ListByUserRequest ureq = POSTS__LIST_BY_USER_REQUEST__INIT;
	char err[256];
	ck_assert_msg(params(r, "/api/posts/in-thread/3", &req.base, err, sizeof(err)) == 0, "%s",
		      err);
	ck_assert_int_eq(req.thread, 3);
	route_free(r);

	r = rpc_route(&posts__posts__descriptor, "ListByUser", "/api/posts/by-user/{user}",
		      "posts");
	ck_assert_msg(params(r, "/api/posts/by-user/42/", &ureq.base, err, sizeof(err)) == 0, "%s",
		      err);
	ck_assert_int_eq(ureq.user, 42);
	route_free(r);
}
END_TEST

START_TEST(test_transcode_params_rejects_bad_ids)
{
	static const char *const bad[] = {"abc", "0",  "1abc", "-1",   "1.9",
					  "0x2", "+3", "%202", "2%20", "9223372036854775808",
					  "%00"};
	static const char *const shown[] = {
	    "'abc'", "'0'",  "'1abc'", "'-1'", "'1.9'",
	    "'0x2'", "'+3'", "' 2'",   "'2 '", "'9223372036854775808'",
	    NULL};
	route *r = rpc_route(&posts__posts__descriptor, "Get", "/api/posts/{id}", NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		Posts__GetPostRequest req = POSTS__GET_POST_REQUEST__INIT;
		char path[128], err[256];
		snprintf(path, sizeof(path), "/api/posts/%s", bad[i]);
		ck_assert_msg(params(r, path, &req.base, err, sizeof(err)) == -1, "'%s' accepted",
			      bad[i]);
		ck_assert_msg(strstr(err, "{id}") != NULL, "'%s': reason '%s' lacks {id}", bad[i],
			      err);
		ck_assert_msg(shown[i] == NULL || strstr(err, shown[i]) != NULL,
			      "'%s': reason '%s' lacks %s", bad[i], err, shown[i]);
		ck_assert_int_eq(req.id, 0);
	}
	route_free(r);
}
END_TEST

START_TEST(test_transcode_params_rejects_naming_the_parameter)
{
	route *r = rpc_route(&posts__posts__descriptor, "ListByThread",
			     "/api/posts/in-thread/{thread}", "posts");
	Posts__ListByThreadRequest req = POSTS__LIST_BY_THREAD_REQUEST__INIT;
	char err[256];
	ck_assert_int_eq(params(r, "/api/posts/in-thread/x1", &req.base, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "{thread}") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "'x1'") != NULL, "%s", err);
	route_free(r);
}
END_TEST

START_TEST(test_transcode_params_long_value_is_cut_in_message)
{
	route *r = rpc_route(&posts__posts__descriptor, "Get", "/api/posts/{id}", NULL);
	Posts__GetPostRequest req = POSTS__GET_POST_REQUEST__INIT;
	char path[400], err[512];
	strcpy(path, "/api/posts/");
	memset(path + strlen(path), 'a', 300);
	path[11 + 300] = '\0';
	ck_assert_int_eq(params(r, path, &req.base, err, sizeof(err)), -1);
	ck_assert_msg(strlen(err) < 200, "reason is %zu bytes: %s", strlen(err), err);
	route_free(r);
}
END_TEST

START_TEST(test_transcode_params_integer_widths)
{
	/* a route whose parameters fill fields of other integer types */
	char err[256] = "";
	route *r = route_new();
	Sample__Everything e = SAMPLE__EVERYTHING__INIT;
	ck_assert_int_eq(route_template_parse(r, "/w/{i32}/{u32}/{u64}", err, sizeof(err)), 0);
	r->kind = ROUTE_RPC;
	r->method = ROUTE_GET;
	for (size_t i = 1; i < 4; i++)
		r->segments[i].field = protobuf_c_message_descriptor_get_field_by_name(
		    &sample__everything__descriptor, r->segments[i].text);
	ck_assert_msg(params(r, "/w/2147483647/4294967295/18446744073709551615", &e.base, err,
			     sizeof(err)) == 0,
		      "%s", err);
	ck_assert_int_eq(e.i32, INT32_MAX);
	ck_assert_uint_eq(e.u32, UINT32_MAX);
	ck_assert_uint_eq(e.u64, UINT64_MAX);
	ck_assert_int_eq(params(r, "/w/2147483648/1/1", &e.base, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "{i32}") != NULL, "%s", err);
	ck_assert_int_eq(params(r, "/w/1/4294967296/1", &e.base, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "{u32}") != NULL, "%s", err);
	ck_assert_int_eq(params(r, "/w/1/1/18446744073709551616", &e.base, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "{u64}") != NULL, "%s", err);
	route_free(r);
}
END_TEST

START_TEST(test_transcode_params_string)
{
	route *r = rpc_route(&sample__echo__descriptor, "Get", "/echo/{label}", NULL);
	Sample__Inner in = SAMPLE__INNER__INIT;
	char scratch[128], err[256] = "";
	route_path p;
	parse(&p, "/echo/caf%C3%A9%20%E4%B8%AD", scratch, sizeof(scratch));
	ck_assert_msg(transcode_params(r, &p, &in.base, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(in.label, "caf\xc3\xa9 \xe4\xb8\xad");
	ck_assert_ptr_eq(in.label, p.segments[1]); /* points into the path's scratch */
	ck_assert_int_eq(in.id, 0);
	route_free(r);
}
END_TEST

START_TEST(test_transcode_params_string_rejects_invalid_utf8)
{
	static const char *const bad[] = {
	    "/echo/%C3",	  "/echo/a%FF",	 "/echo/%C0%AF", "/echo/%ED%A0%80",
	    "/echo/%F5%80%80%80", "/echo/a%00b", "/echo/%E4%B8", "/echo/%80",
	};
	route *r = rpc_route(&sample__echo__descriptor, "Get", "/echo/{label}", NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		Sample__Inner in = SAMPLE__INNER__INIT;
		char err[256];
		ck_assert_msg(params(r, bad[i], &in.base, err, sizeof(err)) == -1, "'%s' accepted",
			      bad[i]);
		ck_assert_msg(strstr(err, "{label}") != NULL, "%s: %s", bad[i], err);
		ck_assert_str_eq(in.label, ""); /* untouched */
	}
	route_free(r);
}
END_TEST

START_TEST(test_transcode_params_string_rejects_empty)
{
	route *r = rpc_route(&sample__echo__descriptor, "Get", "/echo/{label}", NULL);
	Sample__Inner in = SAMPLE__INNER__INIT;
	char err[256];
	ck_assert_int_eq(params(r, "/echo//", &in.base, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "{label}") != NULL, "%s", err);
	route_free(r);
}
END_TEST

/* ---- transcode_reply ------------------------------------------------------------------------ */

START_TEST(test_transcode_reply_post_seed_bytes)
{
	route *r = rpc_route(&posts__posts__descriptor, "Get", "/api/posts/{id}", NULL);
	Posts__Post p = seed_post(1, 1, "Has anyone checked on the lich recently?", 4);
	assert_reply(r, &p.base,
		     "{\"id\":1,\"thread\":1,\"text\":\"Has anyone checked on the lich "
		     "recently?\",\"user\":4}");
	route_free(r);
}
END_TEST

START_TEST(test_transcode_reply_user_and_thread_seed_bytes)
{
	route *r = rpc_route(&users__users__descriptor, "Get", "/api/users/{id}", NULL);
	Users__User u = USERS__USER__INIT;
	Threads__Thread t = THREADS__THREAD__INIT;
	u.id = 1;
	u.username = "marceline";
	u.name = "Marceline Abadeer";
	u.bio = "1000 year old vampire queen, musician";
	assert_reply(r, &u.base,
		     "{\"id\":1,\"username\":\"marceline\",\"name\":\"Marceline Abadeer\","
		     "\"bio\":\"1000 year old vampire queen, musician\"}");
	route_free(r);

	r = rpc_route(&threads__threads__descriptor, "Get", "/api/threads/{id}", NULL);
	t.id = 1;
	t.title = "What's up with the Lich?";
	t.created_by = 4;
	assert_reply(r, &t.base,
		     "{\"id\":1,\"title\":\"What's up with the Lich?\",\"createdBy\":4}");
	route_free(r);
}
END_TEST

START_TEST(test_transcode_reply_body_field_bare_array)
{
	route *r = rpc_route(&posts__posts__descriptor, "ListByUser", "/api/posts/by-user/{user}",
			     "posts");
	Posts__Post a = seed_post(4, 2, "Mathematical!", 2);
	Posts__Post b = seed_post(2, 1, "I'll stop by and see how he's doing tomorrow!", 2);
	Posts__Post *list[] = {&b, &a};
	Posts__ListPostsReply reply = POSTS__LIST_POSTS_REPLY__INIT;
	reply.n_posts = 2;
	reply.posts = list;
	assert_reply(r, &reply.base,
		     "[{\"id\":2,\"thread\":1,\"text\":\"I'll stop by and see how he's doing "
		     "tomorrow!\",\"user\":2},{\"id\":4,\"thread\":2,\"text\":\"Mathematical!\","
		     "\"user\":2}]");
	route_free(r);
}
END_TEST

START_TEST(test_transcode_reply_empty_list)
{
	route *r = rpc_route(&posts__posts__descriptor, "ListByThread",
			     "/api/posts/in-thread/{thread}", "posts");
	Posts__ListPostsReply reply = POSTS__LIST_POSTS_REPLY__INIT;
	assert_reply(r, &reply.base, "[]");
	route_free(r);

	/* the same reply without a body field is the whole object */
	r = rpc_route(&posts__posts__descriptor, "List", "/api/posts", NULL);
	assert_reply(r, &reply.base, "{\"posts\":[],\"nextAfter\":0}");
	route_free(r);
}
END_TEST

/* ---- transcode_error ------------------------------------------------------------------------ */

START_TEST(test_transcode_error_body)
{
	assert_error("NOT_FOUND", "user 99 not found",
		     "{\"code\":\"NOT_FOUND\",\"message\":\"user 99 not found\"}");
	assert_error("METHOD_NOT_ALLOWED", "",
		     "{\"code\":\"METHOD_NOT_ALLOWED\",\"message\":\"\"}");
}
END_TEST

START_TEST(test_transcode_error_escapes_message)
{
	assert_error("INVALID_ARGUMENT", "{id} must be digits, not '\"x\"'",
		     "{\"code\":\"INVALID_ARGUMENT\",\"message\":\"{id} must be digits, not "
		     "'\\\"x\\\"'\"}");
	assert_error("INTERNAL", "a\\b\nc\td\x01",
		     "{\"code\":\"INTERNAL\",\"message\":\"a\\\\b\\nc\\td\\u0001\"}");
	assert_error("INTERNAL", "bad \xff byte",
		     "{\"code\":\"INTERNAL\",\"message\":\"bad \\ufffd byte\"}");
}
END_TEST

START_TEST(test_transcode_error_appends)
{
	pbjson_buf buf;
	pbjson_buf_init(&buf);
	pbjson_buf_append(&buf, "x", 1);
	ck_assert_int_eq(transcode_error(&buf, "OK", "m"), 0);
	ck_assert_uint_eq(buf.len, strlen("x{\"code\":\"OK\",\"message\":\"m\"}"));
	ck_assert_mem_eq(buf.data, "x{\"code\":\"OK\",\"message\":\"m\"}", buf.len);
	pbjson_buf_fini(&buf);
}
END_TEST

static Suite *transcode_suite(void)
{
	Suite *s = suite_create("transcode");
	TCase *par = tcase_create("params");
	TCase *rep = tcase_create("reply");
	TCase *errs = tcase_create("error");

	tcase_add_test(par, test_transcode_params_fills_int64);
	tcase_add_test(par, test_transcode_params_fills_the_named_field);
	tcase_add_test(par, test_transcode_params_rejects_bad_ids);
	tcase_add_test(par, test_transcode_params_rejects_naming_the_parameter);
	tcase_add_test(par, test_transcode_params_long_value_is_cut_in_message);
	tcase_add_test(par, test_transcode_params_integer_widths);
	tcase_add_test(par, test_transcode_params_string);
	tcase_add_test(par, test_transcode_params_string_rejects_invalid_utf8);
	tcase_add_test(par, test_transcode_params_string_rejects_empty);
	suite_add_tcase(s, par);

	tcase_add_test(rep, test_transcode_reply_post_seed_bytes);
	tcase_add_test(rep, test_transcode_reply_user_and_thread_seed_bytes);
	tcase_add_test(rep, test_transcode_reply_body_field_bare_array);
	tcase_add_test(rep, test_transcode_reply_empty_list);
	suite_add_tcase(s, rep);

	tcase_add_test(errs, test_transcode_error_body);
	tcase_add_test(errs, test_transcode_error_escapes_message);
	tcase_add_test(errs, test_transcode_error_appends);
	suite_add_tcase(s, errs);
	return s;
}

int main(void)
{
	return harness_run_suite(transcode_suite(), 0);
}
