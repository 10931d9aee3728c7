/* store_url_test.c: where a service's store is (--store, CLEAVE_STORE_URL_<NAME>,
 * CLEAVE_STORE_URL), which backend a URL picks, and URLs shown without their passwords. */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "harness.h"
#include "options.h"
#include "store.h"

static void assert_redacted(const char *url, const char *want)
{
	char out[256];
	rt_url_redact(url, out, sizeof(out));
	ck_assert_msg(strcmp(out, want) == 0, "%s: '%s', want '%s'", url, out, want);
}

START_TEST(test_store_url_redact_hides_passwords)
{
	assert_redacted("postgres://posts:s3cret@db:5432/posts",
			"postgres://posts:***@db:5432/posts");
	assert_redacted("postgresql://u:p%40ss@/posts?host=/tmp/x&port=5432",
			"postgresql://u:***@/posts?host=/tmp/x&port=5432");
	assert_redacted("postgresql:///posts?user=u&password=two&sslmode=require",
			"postgresql:///posts?user=u&password=***&sslmode=require");
	assert_redacted("host=db password=s3cret dbname=posts",
			"host=db password=*** dbname=posts");
	assert_redacted("host=db password = 'se cr\\'et' dbname=posts",
			"host=db password=*** dbname=posts");
	assert_redacted("password=first", "password=***");
	/* nothing to hide */
	assert_redacted("postgres://posts@db/posts", "postgres://posts@db/posts");
	assert_redacted("postgres://db/posts?passwordless=1", "postgres://db/posts?passwordless=1");
	assert_redacted("sqlite:", "sqlite:");
	{
		char small[12];
		rt_url_redact("postgres://u:secret@h/db", small, sizeof(small));
		ck_assert_uint_lt(strlen(small), sizeof(small));
		ck_assert_ptr_null(strstr(small, "secret"));
	}
}
END_TEST

START_TEST(test_store_url_flag_then_named_then_generic)
{
	unsetenv("CLEAVE_STORE_URL");
	unsetenv("CLEAVE_STORE_URL_POSTS");
	unsetenv("CLEAVE_STORE_URL_MY_SVC");
	ck_assert_ptr_null(rt_store_url("posts", NULL, 1));
	setenv("CLEAVE_STORE_URL", "postgres://all", 1);
	ck_assert_str_eq(rt_store_url("posts", NULL, 1), "postgres://all");
	/* a process of several services (the monolith) reads the named variables only */
	ck_assert_ptr_null(rt_store_url("posts", NULL, 0));
	setenv("CLEAVE_STORE_URL_POSTS", "postgres://posts", 1);
	ck_assert_str_eq(rt_store_url("posts", NULL, 1), "postgres://posts");
	ck_assert_str_eq(rt_store_url("posts", NULL, 0), "postgres://posts");
	ck_assert_str_eq(rt_store_url("posts", "postgres://flag", 1), "postgres://flag");
	setenv("CLEAVE_STORE_URL_MY_SVC", "postgres://my", 1);
	ck_assert_str_eq(rt_store_url("my-svc", NULL, 0), "postgres://my");
	/* empty is unset */
	setenv("CLEAVE_STORE_URL_POSTS", "", 1);
	ck_assert_str_eq(rt_store_url("posts", NULL, 1), "postgres://all");
}
END_TEST

START_TEST(test_store_url_kind)
{
	ck_assert_int_eq(store_url_kind(NULL), 0);
	ck_assert_int_eq(store_url_kind(""), 0);
	ck_assert_int_eq(store_url_kind("sqlite:"), 0);
	ck_assert_int_eq(store_url_kind("postgres://u@h/db"), 1);
	ck_assert_int_eq(store_url_kind("postgresql:///db?host=/run/postgresql"), 1);
	ck_assert_int_eq(store_url_kind("host=h dbname=d"), 1);
	ck_assert_int_eq(store_url_kind("mysql://u@h/db"), -1);
	ck_assert_int_eq(store_url_kind("sqlite:///tmp/x.db"), -1);
	ck_assert_int_eq(store_url_kind("/var/lib/x.db"), -1);
}
END_TEST

static Suite *store_url_suite(void)
{
	Suite *s = suite_create("store_url");
	TCase *tc = tcase_create("url");
	tcase_add_test(tc, test_store_url_redact_hides_passwords);
	tcase_add_test(tc, test_store_url_flag_then_named_then_generic);
	tcase_add_test(tc, test_store_url_kind);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(store_url_suite(), 0);
}
