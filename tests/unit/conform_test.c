/* conform_test.c: unit tests of the edge's RFC 9110 and RFC 9112 request checks (edge/conform.c).
 */
#include <string.h>

#include <check.h>

#include "harness.h"

#include "conform.h"

/* check_head runs conform_head_check on head, whose request line is "GET /x HTTP/1.<minor>" or
 * "GET <target> ...", and returns its result. */
static int check_head(const char *head, const char *target, int minor)
{
	conform_request r = {.head = head,
			     .len = strlen(head),
			     .method = "GET",
			     .method_len = 3,
			     .target = target,
			     .target_len = strlen(target),
			     .minor_version = minor};
	char why[128] = "";
	int rv = conform_head_check(&r, why, sizeof(why));
	ck_assert_msg(rv >= 0 || why[0] != '\0', "a refusal without a reason");
	return rv;
}

START_TEST(test_conform_host_values)
{
	static const char *const valid[] = {"",	     "x",	  "example.com",   "x:80",
					    "x:",    "127.0.0.1", "[::1]",	   "[::1]:8080",
					    " x \t", "a%41b",	  "a-b.c_d~e!$&'", "[v1.x:y]"};
	static const char *const invalid[] = {"a b",   "x/y", "u@x",  "x:8o", "[::1",
					      "[]",    "x%4", "x%zz", "x\"y", "[::1]x",
					      "x:1:2", "x?",  "x#"};
	for (size_t i = 0; i < sizeof(valid) / sizeof(*valid); i++)
		ck_assert_msg(conform_host_valid(valid[i], strlen(valid[i])), "'%s' refused",
			      valid[i]);
	for (size_t i = 0; i < sizeof(invalid) / sizeof(*invalid); i++)
		ck_assert_msg(!conform_host_valid(invalid[i], strlen(invalid[i])), "'%s' taken",
			      invalid[i]);
}
END_TEST

START_TEST(test_conform_head_host_lines)
{
	ck_assert_int_eq(check_head("GET /x HTTP/1.1\r\nHost: a\r\n\r\n", "/x", 1), 0);
	ck_assert_int_eq(check_head("GET /x HTTP/1.1\r\nX: 1\r\n\r\n", "/x", 1), -1);
	ck_assert_int_eq(check_head("GET /x HTTP/1.0\r\nX: 1\r\n\r\n", "/x", 0), 0);
	ck_assert_int_eq(check_head("GET /x HTTP/1.0\r\nHost: a\r\nHOST: a\r\n\r\n", "/x", 0), -1);
	ck_assert_int_eq(check_head("GET /x HTTP/1.1\r\nHost: a b\r\n\r\n", "/x", 1), -1);
	/* the Host of an absolute-form target is ignored, but it must be there once */
	ck_assert_int_eq(
	    check_head("GET http://a/x HTTP/1.1\r\nHost: a b\r\n\r\n", "http://a/x", 1), 0);
	ck_assert_int_eq(check_head("GET http://a/x HTTP/1.1\r\n\r\n", "http://a/x", 1), -1);
	/* bare LF line ends, and one empty line before the request line, as h2o takes them */
	ck_assert_int_eq(check_head("\r\nGET /x HTTP/1.1\nHost: a\n\n", "/x", 1), 0);
	ck_assert_int_eq(check_head("\nGET /x HTTP/1.1\nX: 1\n\n", "/x", 1), -1);
}
END_TEST

START_TEST(test_conform_head_framing)
{
	ck_assert_int_eq(
	    check_head(
		"GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n",
		"/x", 1),
	    0);
	ck_assert_int_eq(
	    check_head(
		"GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\ncontent-length: 3\r\n\r\n",
		"/x", 1),
	    -1);
	ck_assert_int_eq(check_head("GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
				    "Transfer-Encoding: chunked\r\n\r\n",
				    "/x", 1),
			 -1);
	ck_assert_int_eq(
	    check_head("GET /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", "/x", 1),
	    0);
	ck_assert_int_eq(
	    check_head("GET /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}", "/x", 0),
	    -1);
	ck_assert_int_eq(check_head("GET /x HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", "/x", 1),
			 -1);
	ck_assert_int_eq(check_head("GET /x HTTP/1.1\r\nHost: a\r\nX: 1\r\n\t2\r\n\r\n", "/x", 1),
			 -1);
	/* the body after the head is not read as fields */
	ck_assert_int_eq(check_head("GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\n"
				    "Host: b\r\n",
				    "/x", 1),
			 0);
}
END_TEST

START_TEST(test_conform_head_not_this_request)
{
	/* bytes that are not the request's own head are not judged */
	ck_assert_int_eq(check_head("GET /y HTTP/1.1\r\n\r\n", "/x", 1), 1);
	ck_assert_int_eq(check_head("POST /x HTTP/1.1\r\n\r\n", "/x", 1), 1);
	ck_assert_int_eq(check_head("GET /x HTTP/1.1\r\nHost: a\r\n", "/x", 1), 1);
	ck_assert_int_eq(check_head("", "/x", 1), 1);
}
END_TEST

/* expect_target_over asserts conform_target's form of target, over TLS or not, and for
 * CONFORM_ABSOLUTE where the path starts, for CONFORM_BAD the status. */
static void expect_target_over(int tls, const char *target, conform_form form, size_t path_at,
			       int status)
{
	size_t at = 0;
	int st = 0;
	char why[128] = "";
	conform_form got = conform_target(target, strlen(target), tls, &at, &st, why, sizeof(why));
	ck_assert_msg(got == form, "%s: form %d, want %d (%s)", target, got, form, why);
	if (form == CONFORM_ABSOLUTE)
		ck_assert_uint_eq(at, path_at);
	if (form == CONFORM_BAD) {
		ck_assert_int_eq(st, status);
		ck_assert(why[0] != '\0');
	}
}

/* expect_target is expect_target_over for a request over cleartext. */
static void expect_target(const char *target, conform_form form, size_t path_at, int status)
{
	expect_target_over(0, target, form, path_at, status);
}

START_TEST(test_conform_targets)
{
	expect_target("/", CONFORM_ORIGIN, 0, 0);
	expect_target("/api/users?limit=1", CONFORM_ORIGIN, 0, 0);
	expect_target("*", CONFORM_ASTERISK, 0, 0);
	expect_target("http://a/api", CONFORM_ABSOLUTE, 8, 0);
	expect_target("HTTP://a:80/api?x", CONFORM_ABSOLUTE, 11, 0);
	expect_target("http://a", CONFORM_ABSOLUTE, 8, 0);
	expect_target("http://a?x=1", CONFORM_ABSOLUTE, 8, 0);
	expect_target("http://[::1]:8/", CONFORM_ABSOLUTE, 14, 0);
	expect_target("https://a/api", CONFORM_BAD, 0, 421);
	expect_target("http:///api", CONFORM_BAD, 0, 400);
	expect_target("http://:80/api", CONFORM_BAD, 0, 400);
	expect_target("http://u@a/api", CONFORM_BAD, 0, 400);
	expect_target("http:/a/api", CONFORM_BAD, 0, 400);
	expect_target("http:", CONFORM_BAD, 0, 400);
	expect_target("ftp://a/api", CONFORM_BAD, 0, 400);
	expect_target("api/users", CONFORM_BAD, 0, 400);
	expect_target("a:443", CONFORM_BAD, 0, 400);
	expect_target("**", CONFORM_BAD, 0, 400);
	expect_target("", CONFORM_BAD, 0, 400);
}
END_TEST

START_TEST(test_conform_targets_over_tls)
{
	/* RFC 9110 7.4: over TLS an https resource is served; the rest is judged as without */
	expect_target_over(1, "https://a/api", CONFORM_ABSOLUTE, 9, 0);
	expect_target_over(1, "HTTPS://a:443/api?x", CONFORM_ABSOLUTE, 13, 0);
	expect_target_over(1, "https://a", CONFORM_ABSOLUTE, 9, 0);
	expect_target_over(1, "http://a/api", CONFORM_ABSOLUTE, 8, 0);
	expect_target_over(1, "/api", CONFORM_ORIGIN, 0, 0);
	expect_target_over(1, "https:///api", CONFORM_BAD, 0, 400);
	expect_target_over(1, "https://u@a/api", CONFORM_BAD, 0, 400);
	expect_target_over(1, "ftp://a/api", CONFORM_BAD, 0, 400);
}
END_TEST

START_TEST(test_conform_etag_lists)
{
	ck_assert_int_eq(conform_etag_list("", 0), 0);
	ck_assert_int_eq(conform_etag_list(" , ,", 4), 0);
	ck_assert_int_eq(conform_etag_list("*", 1), 1);
	ck_assert_int_eq(conform_etag_list(" , * ,", 6), 1);
	ck_assert_int_eq(conform_etag_list("\"a\"", 3), 2);
	ck_assert_int_eq(conform_etag_list("W/\"a\", \"b\"", 10), 2);
	ck_assert_int_eq(conform_etag_list("\"*\"", 3), 2);
	ck_assert_int_eq(conform_etag_list("*, \"a\"", 6), 2);
}
END_TEST

/* conform_suite lists the tests. */
static Suite *conform_suite(void)
{
	Suite *s = suite_create("conform");
	TCase *tc = tcase_create("checks");
	tcase_add_test(tc, test_conform_host_values);
	tcase_add_test(tc, test_conform_head_host_lines);
	tcase_add_test(tc, test_conform_head_framing);
	tcase_add_test(tc, test_conform_head_not_this_request);
	tcase_add_test(tc, test_conform_targets);
	tcase_add_test(tc, test_conform_targets_over_tls);
	tcase_add_test(tc, test_conform_etag_lists);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(conform_suite(), 0);
}
