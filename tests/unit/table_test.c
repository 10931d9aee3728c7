/* table_test.c: unit tests of the in-memory store: loading, key lookups, secondary index ranges,
 * errors. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "harness.h"
#include "posts.pb-c.h"
#include "table.h"

static char tmpdir[128];

static void tmpdir_setup(void)
{
	ck_assert_int_eq(harness_tmpdir(tmpdir, sizeof(tmpdir)), 0);
}

static void tmpdir_teardown(void)
{
	harness_rmtree(tmpdir);
}

/* write_json writes text to tmpdir/name and stores the path in out. */
static void write_json(const char *name, const char *text, char *out, size_t outlen)
{
	FILE *f;
	snprintf(out, outlen, "%s/%s", tmpdir, name);
	f = fopen(out, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

/* posts: deliberately out of id order; threads and users repeat. */
static const char posts_json[] =
    "[\n"
    "  {\"id\": 6, \"thread\": 3, \"text\": \"six\", \"user\": 1},\n"
    "  {\"id\": 2, \"thread\": 1, \"text\": \"two\", \"user\": 2},\n"
    "  {\"id\": 5, \"thread\": 2, \"text\": \"five\", \"user\": 1},\n"
    "  {\"id\": 1, \"thread\": 1, \"text\": \"one\", \"user\": 4},\n"
    "  {\"id\": 4, \"thread\": 2, \"text\": \"four\", \"user\": 2},\n"
    "  {\"id\": 3, \"thread\": 2, \"text\": \"three\", \"user\": 3},\n"
    "  {\"id\": 9, \"thread\": 9223372036854775807, \"text\": \"max\", \"user\": -5},\n"
    "  {\"id\": 7, \"thread\": -9223372036854775808, \"text\": \"min\", \"user\": 0}\n"
    "]\n";

/* load_posts loads text as a posts table keyed by id; fails the test if it does not load. */
static table *load_posts(const char *text)
{
	char path[256], err[512] = "";
	table *t = NULL;
	write_json("posts.json", text, path, sizeof(path));
	ck_assert_msg(table_load(&t, path, &posts__post__descriptor, "id", err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_ptr_nonnull(t);
	return t;
}

/* assert_load_fails asserts text does not load, with a reason holding needle. */
static void assert_load_fails(const char *text, const char *key, const char *needle)
{
	char path[256], err[512] = "";
	table *t = NULL;
	write_json("bad.json", text, path, sizeof(path));
	ck_assert_int_eq(table_load(&t, path, &posts__post__descriptor, key, err, sizeof(err)), -1);
	ck_assert_ptr_null(t);
	ck_assert_msg(strstr(err, needle) != NULL, "reason '%s' lacks '%s'", err, needle);
}

static int64_t post_id(const ProtobufCMessage *m)
{
	return ((const Posts__Post *)m)->id;
}

/* assert_ids asserts rows are exactly the posts with ids want (n of them), in that order. */
static void assert_ids(ProtobufCMessage **rows, size_t n, const int64_t *want, size_t nwant)
{
	ck_assert_uint_eq(n, nwant);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(post_id(rows[i]) == want[i], "row %zu is id %lld, want %lld", i,
			      (long long)post_id(rows[i]), (long long)want[i]);
}

/* assert_range asserts the range of value in index ix is exactly the posts with ids want. */
static void assert_range(const table *t, int ix, int64_t value, const int64_t *want, size_t nwant)
{
	size_t n = 12345;
	ProtobufCMessage **rows = table_range(t, ix, value, &n);
	assert_ids(rows, n, want, nwant);
}

START_TEST(test_table_load_and_get)
{
	table *t = load_posts(posts_json);
	const Posts__Post *p;
	ck_assert_uint_eq(table_count(t), 8);
	p = (const Posts__Post *)table_get(t, 1);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(p->id, 1);
	ck_assert_str_eq(p->text, "one");
	ck_assert_int_eq(p->user, 4);
	p = (const Posts__Post *)table_get(t, 6);
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p->text, "six");
	p = (const Posts__Post *)table_get(t, 9);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(p->thread, INT64_MAX);
	table_free(t);
}
END_TEST

START_TEST(test_table_get_misses)
{
	table *t = load_posts(posts_json);
	ck_assert_ptr_null(table_get(t, 8));
	ck_assert_ptr_null(table_get(t, 10));
	ck_assert_ptr_null(table_get(t, 0));
	ck_assert_ptr_null(table_get(t, -1));
	ck_assert_ptr_null(table_get(t, INT64_MAX));
	ck_assert_ptr_null(table_get(t, INT64_MIN));
	table_free(t);
}
END_TEST

START_TEST(test_table_rows_in_key_order)
{
	static const int64_t want[] = {1, 2, 3, 4, 5, 6, 7, 9};
	table *t = load_posts(posts_json);
	size_t n = 0;
	ProtobufCMessage **rows = table_rows(t, &n);
	assert_ids(rows, n, want, 8);
	table_free(t);
}
END_TEST

START_TEST(test_table_range_by_thread)
{
	static const int64_t thread1[] = {1, 2}, thread2[] = {3, 4, 5}, thread3[] = {6};
	static const int64_t max[] = {9}, min[] = {7};
	table *t = load_posts(posts_json);
	char err[256] = "";
	size_t n = 99;
	int ix = table_add_index(t, "thread", err, sizeof(err));
	ck_assert_msg(ix == 0, "%s", err);
	assert_range(t, ix, 1, thread1, 2);
	assert_range(t, ix, 2, thread2, 3);
	assert_range(t, ix, 3, thread3, 1);
	assert_range(t, ix, INT64_MAX, max, 1);
	assert_range(t, ix, INT64_MIN, min, 1);
	table_range(t, ix, 4, &n);
	ck_assert_uint_eq(n, 0);
	table_range(t, ix, 0, &n);
	ck_assert_uint_eq(n, 0);
	table_range(t, ix, INT64_MAX - 1, &n);
	ck_assert_uint_eq(n, 0);
	table_range(t, ix, INT64_MIN + 1, &n);
	ck_assert_uint_eq(n, 0);
	/* the key order is untouched by the index */
	{
		static const int64_t all[] = {1, 2, 3, 4, 5, 6, 7, 9};
		ProtobufCMessage **rows = table_rows(t, &n);
		assert_ids(rows, n, all, 8);
	}
	table_free(t);
}
END_TEST

START_TEST(test_table_range_by_user)
{
	static const int64_t user1[] = {5, 6}, user2[] = {2, 4}, user3[] = {3}, user4[] = {1};
	static const int64_t neg[] = {9}, zero[] = {7};
	table *t = load_posts(posts_json);
	char err[256] = "";
	size_t n = 0;
	int by_thread = table_add_index(t, "thread", err, sizeof(err));
	int by_user = table_add_index(t, "user", err, sizeof(err));
	ck_assert_int_eq(by_thread, 0);
	ck_assert_msg(by_user == 1, "%s", err);
	assert_range(t, by_user, 1, user1, 2);
	assert_range(t, by_user, 2, user2, 2);
	assert_range(t, by_user, 3, user3, 1);
	assert_range(t, by_user, 4, user4, 1);
	assert_range(t, by_user, -5, neg, 1);
	assert_range(t, by_user, 0, zero, 1);
	table_range(t, by_user, 5, &n);
	ck_assert_uint_eq(n, 0);
	table_range(t, by_user, INT64_MAX, &n);
	ck_assert_uint_eq(n, 0);
	/* the first index still answers */
	{
		static const int64_t thread2[] = {3, 4, 5};
		assert_range(t, by_thread, 2, thread2, 3);
	}
	table_free(t);
}
END_TEST

START_TEST(test_table_large_shuffled)
{
	/* 500 rows, ids 2, 4, ..., 1000 in a scrambled order, thread = id % 7 */
	size_t cap = 500 * 80 + 16, len = 0;
	char *text = malloc(cap);
	table *t;
	char err[256] = "";
	int ix;
	size_t n;
	ck_assert_ptr_nonnull(text);
	len += (size_t)snprintf(text + len, cap - len, "[");
	for (int i = 0; i < 500; i++) {
		int id = ((i * 337) % 500 + 1) * 2; /* 337 is coprime with 500 */
		len += (size_t)snprintf(text + len, cap - len,
					"%s{\"id\":%d,\"thread\":%d,\"text\":\"t%d\",\"user\":1}",
					i ? "," : "", id, id % 7, id);
	}
	snprintf(text + len, cap - len, "]");
	t = load_posts(text);
	free(text);
	ck_assert_uint_eq(table_count(t), 500);
	for (int64_t id = 1; id <= 1001; id++) {
		const ProtobufCMessage *m = table_get(t, id);
		if (id % 2 == 0) {
			ck_assert_msg(m != NULL && post_id(m) == id, "id %lld not found",
				      (long long)id);
		} else {
			ck_assert_msg(m == NULL, "id %lld found", (long long)id);
		}
	}
	ix = table_add_index(t, "thread", err, sizeof(err));
	ck_assert_msg(ix >= 0, "%s", err);
	for (int64_t th = 0; th < 7; th++) {
		ProtobufCMessage **rows = table_range(t, ix, th, &n);
		size_t want = 0;
		for (int id = 2; id <= 1000; id += 2)
			want += id % 7 == th;
		ck_assert_uint_eq(n, want);
		for (size_t i = 0; i < n; i++) {
			ck_assert_int_eq(((Posts__Post *)rows[i])->thread, th);
			if (i > 0)
				ck_assert_int_lt(post_id(rows[i - 1]), post_id(rows[i]));
		}
	}
	table_free(t);
}
END_TEST

START_TEST(test_table_empty)
{
	table *t = load_posts("[]");
	char err[256] = "";
	size_t n = 99;
	int ix;
	ck_assert_uint_eq(table_count(t), 0);
	ck_assert_ptr_null(table_get(t, 1));
	table_rows(t, &n);
	ck_assert_uint_eq(n, 0);
	ix = table_add_index(t, "user", err, sizeof(err));
	ck_assert_msg(ix == 0, "%s", err);
	n = 99;
	table_range(t, ix, 1, &n);
	ck_assert_uint_eq(n, 0);
	table_range(t, ix, INT64_MAX, &n);
	ck_assert_uint_eq(n, 0);
	table_free(t);
}
END_TEST

START_TEST(test_table_duplicate_ids)
{
	assert_load_fails("[{\"id\": 3}, {\"id\": 1}, {\"id\": 3}]", "id", "id 3 is not unique");
}
END_TEST

START_TEST(test_table_non_positive_ids)
{
	assert_load_fails("[{\"id\": 1}, {\"id\": 0}]", "id", "id 0 is not positive");
	assert_load_fails("[{\"text\": \"no id\"}]", "id", "id 0 is not positive");
	assert_load_fails("[{\"id\": 2}, {\"id\": -4}]", "id", "id -4 is not positive");
	assert_load_fails("[{\"id\": -9223372036854775808}]", "id",
			  "id -9223372036854775808 is not positive");
}
END_TEST

START_TEST(test_table_key_not_int64)
{
	assert_load_fails("[{\"id\": 1}]", "text", "has no int64 field 'text'");
	assert_load_fails("[{\"id\": 1}]", "nope", "has no int64 field 'nope'");
}
END_TEST

START_TEST(test_table_load_errors_pass_through)
{
	char path[256], err[512] = "";
	table *t = NULL;
	assert_load_fails("[{\"id\": 1, \"title\": \"x\"}]", "id", "title");
	assert_load_fails("{\"id\": 1}", "id", "array");
	assert_load_fails("[{\"id\": 1},\n{\"id\": ]", "id", ":2:");
	snprintf(path, sizeof(path), "%s/none.json", tmpdir);
	ck_assert_int_eq(table_load(&t, path, &posts__post__descriptor, "id", err, sizeof(err)),
			 -1);
	ck_assert_msg(strstr(err, path) != NULL, "%s", err);
}
END_TEST

START_TEST(test_table_index_errors)
{
	table *t = load_posts(posts_json);
	char err[256] = "";
	ck_assert_int_eq(table_add_index(t, "text", err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "has no int64 field 'text'") != NULL, "%s", err);
	err[0] = '\0';
	ck_assert_int_eq(table_add_index(t, "missing", err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "'missing'") != NULL, "%s", err);
	/* a failed index takes no slot */
	ck_assert_int_eq(table_add_index(t, "user", err, sizeof(err)), 0);
	table_free(t);
}
END_TEST

static Suite *table_suite(void)
{
	Suite *s = suite_create("table");
	TCase *tc = tcase_create("table");
	tcase_add_checked_fixture(tc, tmpdir_setup, tmpdir_teardown);
	tcase_add_test(tc, test_table_load_and_get);
	tcase_add_test(tc, test_table_get_misses);
	tcase_add_test(tc, test_table_rows_in_key_order);
	tcase_add_test(tc, test_table_range_by_thread);
	tcase_add_test(tc, test_table_range_by_user);
	tcase_add_test(tc, test_table_large_shuffled);
	tcase_add_test(tc, test_table_empty);
	tcase_add_test(tc, test_table_duplicate_ids);
	tcase_add_test(tc, test_table_non_positive_ids);
	tcase_add_test(tc, test_table_key_not_int64);
	tcase_add_test(tc, test_table_load_errors_pass_through);
	tcase_add_test(tc, test_table_index_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(table_suite(), 0);
}
