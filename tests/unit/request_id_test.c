/* request_id_test.c: unit tests of the edge's request ids (checking a client's, making one) and
 * of the access-log line that carries them. */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "harness.h"

#include "access_log.h"
#include "mesh.h"
#include "request_id.h"
#include "traceparent.h"

START_TEST(test_request_id_valid_accepts_the_allowed_characters)
{
	char longest[REQUEST_ID_MAX + 1];
	ck_assert(request_id_valid("a", 1));
	ck_assert(request_id_valid("9f86d081884c7d65", 16));
	ck_assert(request_id_valid("AZaz09._:-", 10));
	ck_assert(request_id_valid("550e8400-e29b-41d4-a716-446655440000", 36));
	memset(longest, 'Z', sizeof(longest));
	ck_assert(request_id_valid(longest, REQUEST_ID_MAX));
	ck_assert_int_eq(REQUEST_ID_MAX, MESH_REQUEST_ID_MAX);
}
END_TEST

START_TEST(test_request_id_valid_refuses_the_rest)
{
	static const char *const bad[] = {
	    "with space", "semi;colon", "slash/", "plus+",  "equals=", "quote\"",    "tab\t",
	    "new\nline",  "bracket[",	"ü",	  "comma,", "star*",   "percent%25",
	};
	char longer[REQUEST_ID_MAX + 1];
	ck_assert(!request_id_valid("", 0));
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		ck_assert_msg(!request_id_valid(bad[i], strlen(bad[i])), "accepted '%s'", bad[i]);
	ck_assert(!request_id_valid("ab\0cd", 5)); /* a NUL inside */
	memset(longer, 'a', sizeof(longer));
	ck_assert(!request_id_valid(longer, REQUEST_ID_MAX + 1));
}
END_TEST

static int by_text(const void *a, const void *b)
{
	return strcmp(a, b);
}

START_TEST(test_request_id_make_is_16_hex_and_never_repeats)
{
	enum { N = 100000 };
	request_id_gen g;
	char(*ids)[REQUEST_ID_GEN_LEN + 1] = malloc(N * sizeof(*ids));
	ck_assert_ptr_nonnull(ids);
	request_id_gen_init(&g);
	for (int i = 0; i < N; i++) {
		request_id_make(&g, ids[i]);
		ck_assert_uint_eq(strlen(ids[i]), REQUEST_ID_GEN_LEN);
		ck_assert_uint_eq(strspn(ids[i], "0123456789abcdef"), REQUEST_ID_GEN_LEN);
		ck_assert(request_id_valid(ids[i], REQUEST_ID_GEN_LEN));
	}
	qsort(ids, N, sizeof(*ids), by_text);
	for (int i = 1; i < N; i++)
		ck_assert_str_ne(ids[i - 1], ids[i]);
	free(ids);
}
END_TEST

START_TEST(test_request_id_make_does_not_count_visibly)
{
	/* consecutive ids of one generator differ in many bits, and two generators (processes)
	 * start elsewhere */
	request_id_gen a, b;
	char x[REQUEST_ID_GEN_LEN + 1], y[REQUEST_ID_GEN_LEN + 1], z[REQUEST_ID_GEN_LEN + 1];
	int same = 0;
	request_id_gen_init(&a);
	request_id_gen_init(&b);
	request_id_make(&a, x);
	request_id_make(&a, y);
	request_id_make(&b, z);
	for (int i = 0; i < REQUEST_ID_GEN_LEN; i++)
		same += x[i] == y[i];
	ck_assert_int_lt(same, 8);
	ck_assert_str_ne(x, z);
	ck_assert(a.seed != b.seed);
}
END_TEST

/* log_lines writes the lines of fn into a fresh access log and returns its text (malloc'd). */
static char *log_lines(void (*fn)(access_log *))
{
	char dir[128], path[256], err[256];
	access_log log;
	char *text;
	ck_assert_int_eq(harness_tmpdir(dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/access.log", dir);
	ck_assert_int_eq(access_log_open(&log, path, err, sizeof(err)), 0);
	fn(&log);
	access_log_close(&log);
	text = harness_read_file(path);
	harness_rmtree(dir);
	ck_assert_ptr_nonnull(text);
	return text;
}

static void write_three(access_log *log)
{
	access_log_write(log, "GET", 3, "/api/users/1", 12, 200, "users", 412,
			 "4bf92f3577b34da6a3ce929d0e0e4736", "9f86d081884c7d65", 16);
	access_log_write(log, "POST", 4, "/api/posts", 10, 400, "posts", 1500, NULL, "a\nb", 3);
	access_log_write(log, "GET", 3, "/", 1, 200, "edge", 5, NULL, NULL, 0);
}

START_TEST(test_access_log_line_ends_with_the_request_id)
{
	char *text = log_lines(write_three);
	regex_t re;
	ck_assert_int_eq(
	    regcomp(&re,
		    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
		    "GET /api/users/1 200 users 0\\.412ms trace=4bf92f3577b34da6a3ce929d0e0e4736 "
		    "\\[9f86d081884c7d65\\]\n"
		    "[0-9T:.Z-]{24} POST /api/posts 400 posts 1\\.500ms trace=- \\[a\\?b\\]\n"
		    "[0-9T:.Z-]{24} GET / 200 edge 0\\.005ms trace=- \\[-\\]\n$",
		    REG_EXTENDED),
	    0);
	ck_assert_msg(regexec(&re, text, 0, NULL, 0) == 0, "unexpected log:\n%s", text);
	regfree(&re);
	free(text);
}
END_TEST

START_TEST(test_traceparent_parse_and_format)
{
	static const char *const bad[] = {
	    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
	    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
	    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
	    "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
	    "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0z",
	    "00 4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	    "",
	};
	static const char good[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
	char out[TRACEPARENT_LEN + 1];
	mesh_trace t;
	ck_assert_int_eq(traceparent_parse(good, strlen(good), &t), 0);
	ck_assert_uint_eq(t.trace_id[0], 0x4b);
	ck_assert_uint_eq(t.trace_id[15], 0x36);
	ck_assert_uint_eq(t.parent_id[7], 0xb7);
	ck_assert_uint_eq(t.flags, 1);
	traceparent_format(&t, out);
	ck_assert_str_eq(out, good);
	/* a later version: its first fields; flags other than sampled are not passed on */
	ck_assert_int_eq(
	    traceparent_parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-fe-more", 60,
			      &t),
	    0);
	traceparent_format(&t, out);
	ck_assert_str_eq(out, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		ck_assert_msg(traceparent_parse(bad[i], strlen(bad[i]), &t) == -1, "took '%s'",
			      bad[i]);
}
END_TEST

START_TEST(test_trace_gen_ids_differ_and_are_never_zero)
{
	trace_gen g;
	uint8_t a[MESH_TRACE_ID_LEN], b[MESH_TRACE_ID_LEN], s[MESH_SPAN_ID_LEN];
	static const uint8_t zero[MESH_TRACE_ID_LEN];
	trace_gen_init(&g);
	trace_gen_trace_id(&g, a);
	trace_gen_trace_id(&g, b);
	trace_gen_span_id(&g, s);
	ck_assert(memcmp(a, b, sizeof(a)) != 0);
	ck_assert(memcmp(a, zero, sizeof(a)) != 0 && memcmp(s, zero, sizeof(s)) != 0);
}
END_TEST

START_TEST(test_request_timeout_parse)
{
	static const struct {
		const char *text;
		int64_t ms;
	} good[] = {{"2", 2000},     {"250ms", 250},
		    {"1.5s", 1500},  {"0.25", 250},
		    {" 3s\t", 3000}, {"0.001", 1},
		    {"1ms", 1},	     {"99999999ms", 99999999},
		    {"12.3", 12300}, {"99999999", 99999999000}};
	static const char *const bad[] = {"",	    "abc",	 "0",	  "0ms", "0.0", "0.0004",
					  "1.2345", "-1",	 "1.5ms", "+1",	 "2 s", "1e3",
					  "5m",	    "123456789", ".5",	  "5.",	 "1s1", "ms"};
	char why[256];
	int64_t ms;
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		ck_assert_msg(request_timeout_parse(good[i].text, strlen(good[i].text), &ms, why,
						    sizeof(why)) == 0,
			      "'%s': %s", good[i].text, why);
		ck_assert_msg(ms == good[i].ms, "'%s': %lld", good[i].text, (long long)ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		ck_assert_msg(
		    request_timeout_parse(bad[i], strlen(bad[i]), &ms, why, sizeof(why)) == -1,
		    "took '%s'", bad[i]);
		ck_assert_msg(strncmp(why, "Request-Timeout must be", 23) == 0, "%s", why);
	}
}
END_TEST

static Suite *request_id_suite(void)
{
	Suite *s = suite_create("request_id");
	TCase *tc = tcase_create("request_id");
	tcase_add_test(tc, test_request_id_valid_accepts_the_allowed_characters);
	tcase_add_test(tc, test_traceparent_parse_and_format);
	tcase_add_test(tc, test_trace_gen_ids_differ_and_are_never_zero);
	tcase_add_test(tc, test_request_timeout_parse);
	tcase_add_test(tc, test_request_id_valid_refuses_the_rest);
	tcase_add_test(tc, test_request_id_make_is_16_hex_and_never_repeats);
	tcase_add_test(tc, test_request_id_make_does_not_count_visibly);
	tcase_add_test(tc, test_access_log_line_ends_with_the_request_id);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(request_id_suite(), 0);
}
