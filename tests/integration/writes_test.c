/* writes_test.c: creates through the edge: validation and its bounds, cross-service checks,
 * idempotency keys, pages, and nothing stored when a create fails. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "fixture.h"
#include "harness.h"
#include "http.h"

static fixture_mesh mesh;
static int mesh_up;

static void mesh_setup(void)
{
	mesh_up = fixture_mesh_start(&mesh, NULL) == 0;
}

static void mesh_teardown(void)
{
	char report[8192];
	if (mesh_up && fixture_mesh_stop(&mesh, report, sizeof(report)) != 0)
		fprintf(stderr, "writes_test: unclean stop:\n%s", report);
	mesh_up = 0;
}

/* post_with sends body (NULL: none) as type to path with the header lines headers
 * (NULL-terminated, or NULL), over HTTP/2 (prior knowledge) if http2 is set. */
static void post_with(const char *path, const char *type, const char *body,
		      const char *const *headers, int http2, http_response *r)
{
	char url[512];
	http_options o = {.body = body != NULL ? body : "",
			  .content_type = type,
			  .headers = headers,
			  .http2 = http2};
	ck_assert_msg(mesh_up, "the mesh did not start");
	fixture_url(&mesh, path, url, sizeof(url));
	ck_assert_msg(http_request("POST", url, &o, r) == 0, "POST %s: %s", path, r->error);
}

/* post sends body (NULL: none) as type to path, with an Idempotency-Key if key is not NULL. */
static void post(const char *path, const char *type, const char *body, const char *key,
		 http_response *r)
{
	char key_line[300];
	const char *headers[] = {key_line, NULL};
	if (key != NULL)
		snprintf(key_line, sizeof(key_line), "Idempotency-Key: %s", key);
	post_with(path, type, body, key != NULL ? headers : NULL, 0, r);
}

static void get(const char *path, http_response *r)
{
	char url[512];
	ck_assert_msg(mesh_up, "the mesh did not start");
	fixture_url(&mesh, path, url, sizeof(url));
	ck_assert_msg(http_get(url, r) == 0, "GET %s: %s", path, r->error);
}

/* expect_post asserts a JSON POST answers status and that the body contains want. */
static void expect_post(const char *path, const char *body, long status, const char *want)
{
	http_response r;
	post(path, "application/json", body, NULL, &r);
	ck_assert_msg(r.status == status, "POST %s %s: status %ld, want %ld (%s)", path, body,
		      r.status, status, r.body);
	ck_assert_msg(strstr(r.body, want) != NULL, "POST %s %s: body %s lacks %s", path, body,
		      r.body, want);
	http_response_free(&r);
}

/* page_size returns how many items GET path (a list) answers on its one page, and copies the
 * page's Link rel="next" target to next ("" on the last page). */
static size_t page_size(const char *path, char *next, size_t nextlen)
{
	http_response r;
	json_t *list;
	char link[600];
	size_t n;
	get(path, &r);
	ck_assert_int_eq(r.status, 200);
	list = json_loads(r.body, 0, NULL);
	ck_assert_msg(json_is_array(list), "%s is not a list: %s", path, r.body);
	n = json_array_size(list);
	json_decref(list);
	next[0] = '\0';
	if (http_header(&r, "link", link, sizeof(link)) != NULL) {
		ck_assert_msg(nextlen >= 512 && sscanf(link, "<%511[^>]>; rel=\"next\"", next) == 1,
			      "Link: %s", link);
		ck_assert_uint_gt(n, 0);
	}
	http_response_free(&r);
	return n;
}

/* count_list returns how many items the list at path holds: its page and the pages its Links
 * lead to (a list answers at most 100 items without a limit). */
static size_t count_list(const char *path)
{
	char here[512], next[512];
	size_t n = 0;
	snprintf(here, sizeof(here), "%s", path);
	for (int pages = 0;; pages++) {
		ck_assert_msg(pages < 10000, "%s: no end to the pages", path);
		n += page_size(here, next, sizeof(next));
		if (next[0] == '\0')
			return n;
		snprintf(here, sizeof(here), "%s", next);
	}
}

START_TEST(test_writes_create_user)
{
	http_response r, again;
	char location[128];
	post("/api/users", "application/json",
	     "{\"username\":\"bmo\",\"name\":\"BMO\",\"bio\":\"Living video game console\"}", NULL,
	     &r);
	ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
	ck_assert_str_eq(r.body, "{\"id\":5,\"username\":\"bmo\",\"name\":\"BMO\",\"bio\":\"Living "
				 "video game console\"}");
	ck_assert_ptr_nonnull(http_header(&r, "location", location, sizeof(location)));
	ck_assert_str_eq(location, "/api/users/5");
	get(location, &again);
	ck_assert_int_eq(again.status, 200);
	ck_assert_str_eq(again.body, r.body);
	http_response_free(&r);
	http_response_free(&again);
	/* bio is optional; a charset parameter on the type is fine */
	post("/api/users", "application/json; charset=utf-8",
	     "{\"username\":\"gunter\",\"name\":\"Gunter\"}", NULL, &r);
	ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
	ck_assert_str_eq(r.body,
			 "{\"id\":6,\"username\":\"gunter\",\"name\":\"Gunter\",\"bio\":\"\"}");
	http_response_free(&r);
}
END_TEST

START_TEST(test_writes_user_validation)
{
	char long_name[256], long_bio[1100], body[1400];
	memset(long_name, 'n', 101);
	long_name[101] = '\0';
	memset(long_bio, 'b', 1001);
	long_bio[1001] = '\0';
	expect_post("/api/users", "{\"name\":\"No Username\"}", 400, "username is required");
	expect_post("/api/users", "{\"username\":\"Bad Name\",\"name\":\"x\"}", 400,
		    "username must be 1 to 32 characters");
	expect_post("/api/users",
		    "{\"username\":\"abcdefghijklmnopqrstuvwxyz0123456\",\"name\":\"x\"}", 400,
		    "username must be 1 to 32 characters");
	expect_post("/api/users", "{\"username\":\"noname\"}", 400, "name is required");
	snprintf(body, sizeof(body), "{\"username\":\"longname\",\"name\":\"%s\"}", long_name);
	expect_post("/api/users", body, 400, "name must be 1 to 100 characters");
	snprintf(body, sizeof(body), "{\"username\":\"longbio\",\"name\":\"x\",\"bio\":\"%s\"}",
		 long_bio);
	expect_post("/api/users", body, 400, "bio must be 0 to 1000 characters");
	/* 100 characters of two bytes each are 100 characters */
	snprintf(body, sizeof(body), "{\"username\":\"wide\",\"name\":\"");
	for (int i = 0; i < 100; i++)
		strcat(body, "\xc3\xa9");
	strcat(body, "\"}");
	expect_post("/api/users", body, 201, "\"username\":\"wide\"");
	expect_post("/api/users", "{\"username\":\"x\",\"name\":\"x\",\"age\":3}", 400,
		    "unknown field 'age'");
	expect_post("/api/users", "{\"username\":5,\"name\":\"x\"}", 400, "field 'username'");
	expect_post("/api/users", "{\"username\":\"x\",\"name\":[\"x\"]}", 400, "field 'name'");
	expect_post("/api/users", "{\"username\":\"x\",", 400, "not valid JSON");
	expect_post("/api/users", "[1,2]", 400, "must be a JSON object");
	expect_post("/api/users", "", 400, "not valid JSON");
	expect_post("/api/users", "{\"username\":\"x\",\"username\":\"y\",\"name\":\"z\"}", 400,
		    "not valid JSON");
	expect_post("/api/users", "{\"username\":\"bad\xff\",\"name\":\"x\"}", 400,
		    "not valid JSON");
}
END_TEST

START_TEST(test_writes_duplicate_username_is_409)
{
	size_t before = count_list("/api/users");
	expect_post("/api/users", "{\"username\":\"finn\",\"name\":\"Another Finn\"}", 409,
		    "{\"code\":\"ALREADY_EXISTS\",\"message\":\"username 'finn' is taken\"}");
	ck_assert_uint_eq(count_list("/api/users"), before);
}
END_TEST

START_TEST(test_writes_media_type_and_size)
{
	http_response r;
	char *big = malloc(70 * 1024);
	post("/api/users", NULL, "{\"username\":\"a\",\"name\":\"b\"}", NULL, &r);
	ck_assert_int_eq(r.status, 415);
	ck_assert_ptr_nonnull(strstr(r.body, "\"code\":\"UNSUPPORTED_MEDIA_TYPE\""));
	http_response_free(&r);
	post("/api/users", "text/plain", "{\"username\":\"a\",\"name\":\"b\"}", NULL, &r);
	ck_assert_int_eq(r.status, 415);
	http_response_free(&r);
	post("/api/users", "application/jsonp", "{\"username\":\"a\",\"name\":\"b\"}", NULL, &r);
	ck_assert_int_eq(r.status, 415);
	http_response_free(&r);
	/* 64 KiB is the most a body may be: one byte more is read and refused, more than that is
	 * refused by h2o before it is read, with the same JSON 413 */
	for (size_t len = 64 * 1024; len <= 64 * 1024 + 1; len++) {
		memset(big, ' ', len);
		big[0] = '{';
		big[len - 1] = '}';
		big[len] = '\0';
		post("/api/users", "application/json", big, NULL, &r);
		if (len == 64 * 1024) {
			ck_assert_msg(r.status == 400 && strstr(r.body, "username") != NULL,
				      "64 KiB: %ld %s", r.status, r.body);
		} else {
			ck_assert_int_eq(r.status, 413);
			ck_assert_ptr_nonnull(strstr(r.body, "\"code\":\"PAYLOAD_TOO_LARGE\""));
		}
		http_response_free(&r);
	}
	memset(big, ' ', 70 * 1024 - 1);
	big[0] = '{';
	big[70 * 1024 - 2] = '}';
	big[70 * 1024 - 1] = '\0';
	post("/api/users", "application/json", big, NULL, &r);
	ck_assert_int_eq(r.status, 413);
	ck_assert_ptr_nonnull(strstr(r.body, "\"code\":\"PAYLOAD_TOO_LARGE\""));
	http_response_free(&r);
	free(big);
}
END_TEST

START_TEST(test_writes_thread_needs_an_existing_user)
{
	size_t before = count_list("/api/threads");
	http_response r;
	char location[128];
	expect_post("/api/threads", "{\"title\":\"Lost\",\"createdBy\":999}", 400,
		    "{\"code\":\"FAILED_PRECONDITION\",\"message\":\"user 999 does not exist\"}");
	expect_post("/api/threads", "{\"title\":\"No author\"}", 400, "createdBy is required");
	expect_post("/api/threads", "{\"createdBy\":1}", 400, "title is required");
	expect_post("/api/threads", "{\"title\":\"x\",\"createdBy\":-4}", 400,
		    "createdBy must be a positive id");
	expect_post("/api/threads", "{\"title\":\"x\",\"createdBy\":\"1\"}", 400,
		    "field 'createdBy'");
	ck_assert_uint_eq(count_list("/api/threads"), before);
	post("/api/threads", "application/json",
	     "{\"title\":\"Tree fort repairs\",\"createdBy\":2}", NULL, &r);
	ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
	ck_assert_str_eq(r.body, "{\"id\":4,\"title\":\"Tree fort repairs\",\"createdBy\":2}");
	ck_assert_ptr_nonnull(http_header(&r, "location", location, sizeof(location)));
	ck_assert_str_eq(location, "/api/threads/4");
	http_response_free(&r);
	/* the proto name is accepted too */
	expect_post("/api/threads", "{\"title\":\"Snail sightings\",\"created_by\":3}", 201,
		    "\"createdBy\":3");
}
END_TEST

START_TEST(test_writes_post_needs_existing_thread_and_user)
{
	size_t before = count_list("/api/posts");
	http_response r;
	expect_post("/api/posts", "{\"thread\":999,\"text\":\"x\",\"user\":1}", 400,
		    "{\"code\":\"FAILED_PRECONDITION\",\"message\":\"thread 999 does not exist\"}");
	expect_post("/api/posts", "{\"thread\":1,\"text\":\"x\",\"user\":999}", 400,
		    "{\"code\":\"FAILED_PRECONDITION\",\"message\":\"user 999 does not exist\"}");
	expect_post("/api/posts", "{\"thread\":1,\"user\":1}", 400, "text is required");
	expect_post("/api/posts", "{\"text\":\"x\",\"user\":1}", 400, "thread is required");
	ck_assert_uint_eq(count_list("/api/posts"), before);
	post("/api/posts", "application/json",
	     "{\"thread\":3,\"text\":\"Try the guitar shop in the candy kingdom\",\"user\":2}",
	     NULL, &r);
	ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
	ck_assert_str_eq(r.body, "{\"id\":7,\"thread\":3,\"text\":\"Try the guitar shop in the "
				 "candy kingdom\",\"user\":2}");
	http_response_free(&r);
	ck_assert_uint_eq(count_list("/api/posts"), before + 1);
	get("/api/posts/in-thread/3", &r);
	ck_assert_ptr_nonnull(strstr(r.body, "\"id\":7,"));
	http_response_free(&r);
	get("/api/posts/by-user/2", &r);
	ck_assert_ptr_nonnull(strstr(r.body, "\"id\":7,"));
	http_response_free(&r);
}
END_TEST

START_TEST(test_writes_idempotency_key_replays)
{
	static const char body[] = "{\"thread\":1,\"text\":\"Only once\",\"user\":3}";
	size_t before = count_list("/api/posts");
	http_response first, again, other;
	char loc1[128], loc2[128], key[260];
	post("/api/posts", "application/json", body, "once-1", &first);
	ck_assert_msg(first.status == 201, "%ld %s", first.status, first.body);
	post("/api/posts", "application/json", body, "once-1", &again);
	ck_assert_int_eq(again.status, 201);
	ck_assert_str_eq(again.body, first.body);
	ck_assert_ptr_nonnull(http_header(&first, "location", loc1, sizeof(loc1)));
	ck_assert_ptr_nonnull(http_header(&again, "location", loc2, sizeof(loc2)));
	ck_assert_str_eq(loc1, loc2);
	ck_assert_uint_eq(count_list("/api/posts"), before + 1);
	post("/api/posts", "application/json", "{\"thread\":1,\"text\":\"Changed\",\"user\":3}",
	     "once-1", &other);
	ck_assert_int_eq(other.status, 409);
	ck_assert_ptr_nonnull(strstr(other.body, "\"code\":\"ABORTED\""));
	ck_assert_uint_eq(count_list("/api/posts"), before + 1);
	/* another key is another create; the same key on users is independent */
	http_response_free(&other);
	post("/api/posts", "application/json", body, "once-2", &other);
	ck_assert_int_eq(other.status, 201);
	ck_assert_str_ne(other.body, first.body);
	http_response_free(&other);
	post("/api/users", "application/json", "{\"username\":\"keyed\",\"name\":\"K\"}", "once-1",
	     &other);
	ck_assert_int_eq(other.status, 201);
	http_response_free(&other);
	/* a key that is too long, or not printable, is refused before anything runs */
	memset(key, 'k', 201);
	key[201] = '\0';
	post("/api/posts", "application/json", body, key, &other);
	ck_assert_int_eq(other.status, 400);
	http_response_free(&other);
	http_response_free(&first);
	http_response_free(&again);
}
END_TEST

/* walk_pages follows Link rel="next" from path, appending every id to ids; returns the pages. */
static int walk_pages(const char *path, long long *ids, size_t *n, size_t max)
{
	char next[512], link[600];
	int pages = 0;
	snprintf(next, sizeof(next), "%s", path);
	for (;;) {
		http_response r;
		json_t *list;
		size_t i;
		json_t *item;
		get(next, &r);
		ck_assert_msg(r.status == 200, "%s: %ld %s", next, r.status, r.body);
		list = json_loads(r.body, 0, NULL);
		ck_assert(json_is_array(list));
		json_array_foreach(list, i, item)
		{
			ck_assert(*n < max);
			ids[(*n)++] = json_integer_value(json_object_get(item, "id"));
		}
		json_decref(list);
		pages++;
		ck_assert(pages < 10000);
		if (http_header(&r, "link", link, sizeof(link)) == NULL) {
			http_response_free(&r);
			return pages;
		}
		ck_assert_msg(sscanf(link, "<%511[^>]>; rel=\"next\"", next) == 1, "Link: %s",
			      link);
		http_response_free(&r);
	}
}

typedef struct writer_args {
	char base[64];
	int created;
} writer_args;

/* writer creates posts while the pages are walked. */
static void *writer(void *arg)
{
	writer_args *w = arg;
	char url[128];
	snprintf(url, sizeof(url), "%s/api/posts", w->base);
	for (int i = 0; i < 40; i++) {
		http_options o = {.body = "{\"thread\":2,\"text\":\"during the walk\",\"user\":1}",
				  .content_type = "application/json"};
		http_response r;
		if (http_request("POST", url, &o, &r) == 0 && r.status == 201)
			w->created++;
		http_response_free(&r);
		harness_sleep_ms(2);
	}
	return NULL;
}

START_TEST(test_writes_pages_walk_everything_while_writes_happen)
{
	long long start_ids[4096], walked[8192];
	size_t nstart = 0, nwalked = 0;
	http_response r;
	char link[256];
	writer_args w = {0};
	pthread_t t;
	int pages;
	/* the whole list before the walk */
	walk_pages("/api/posts", start_ids, &nstart, 4096);
	ck_assert_uint_ge(nstart, 6);
	snprintf(w.base, sizeof(w.base), "%s", mesh.base);
	ck_assert_int_eq(pthread_create(&t, NULL, writer, &w), 0);
	pages = walk_pages("/api/posts?limit=2", walked, &nwalked, 8192);
	pthread_join(t, NULL);
	ck_assert_int_gt(w.created, 0);
	ck_assert_int_ge(pages, (int)(nstart / 2));
	/* strictly increasing: no repeats, in id order */
	for (size_t i = 1; i < nwalked; i++)
		ck_assert_msg(walked[i] > walked[i - 1], "page walk repeats or reorders at %zu", i);
	/* nothing that existed before is skipped */
	for (size_t i = 0, k = 0; i < nstart; i++) {
		while (k < nwalked && walked[k] < start_ids[i])
			k++;
		ck_assert_msg(k < nwalked && walked[k] == start_ids[i], "id %lld was skipped",
			      start_ids[i]);
	}
	/* the last page has no Link; a filtered list pages too */
	get("/api/posts/in-thread/2?limit=1000", &r);
	ck_assert_ptr_null(http_header(&r, "link", link, sizeof(link)));
	http_response_free(&r);
	get("/api/posts/in-thread/2?limit=1", &r);
	ck_assert_ptr_nonnull(http_header(&r, "link", link, sizeof(link)));
	ck_assert_str_eq(link, "</api/posts/in-thread/2?limit=1&after=3>; rel=\"next\"");
	http_response_free(&r);
	get("/api/users?limit=2&after=1", &r);
	ck_assert_str_eq(r.body, "[{\"id\":2,\"username\":\"finn\",\"name\":\"Finn 'the Human' "
				 "Mertens\",\"bio\":\"Adventurer and hero, last human, defender of "
				 "good\"},{\"id\":3,\"username\":\"pb\",\"name\":\"Bonnibel "
				 "Bubblegum\",\"bio\":\"Scientist, bearer of candy power, ruler of "
				 "the candy kingdom\"}]");
	ck_assert_ptr_nonnull(http_header(&r, "link", link, sizeof(link)));
	ck_assert_str_eq(link, "</api/users?limit=2&after=3>; rel=\"next\"");
	http_response_free(&r);
	/* bad pages */
	get("/api/posts?limit=1001", &r);
	ck_assert_int_eq(r.status, 400);
	http_response_free(&r);
	get("/api/posts?after=abc", &r);
	ck_assert_int_eq(r.status, 400);
	http_response_free(&r);
	get("/api/posts?limit=-1", &r);
	ck_assert_int_eq(r.status, 400);
	http_response_free(&r);
	get("/api/posts?limit=1&limit=2", &r);
	ck_assert_int_eq(r.status, 400);
	http_response_free(&r);
}
END_TEST

/* text_field: a create with one text field of 1 to max characters; its body is before, the
 * field's value, then after. */
typedef struct text_field {
	const char *path;  /* the create's route, also its list: "/api/threads" */
	const char *field; /* "title" */
	const char *before, *after;
	long max;
} text_field;

/* repeat_chars returns n characters cycling through units (each one UTF-8 character of one to
 * four bytes), malloc'd. */
static char *repeat_chars(const char *const *units, size_t nunits, long n)
{
	size_t cap = 1, len = 0;
	char *s;
	for (long i = 0; i < n; i++)
		cap += strlen(units[(size_t)i % nunits]);
	s = malloc(cap);
	ck_assert_ptr_nonnull(s);
	for (long i = 0; i < n; i++) {
		size_t k = strlen(units[(size_t)i % nunits]);
		memcpy(s + len, units[(size_t)i % nunits], k);
		len += k;
	}
	s[len] = '\0';
	return s;
}

/* expect_string_field asserts the JSON object json has field with exactly the string value. */
static void expect_string_field(const char *json, const char *field, const char *value)
{
	json_t *o = json_loads(json, 0, NULL);
	const char *got = json_string_value(json_object_get(o, field));
	ck_assert_msg(got != NULL && strcmp(got, value) == 0,
		      "%s of %.200s is not the %zu bytes sent", field, json, strlen(value));
	json_decref(o);
}

/* expect_text posts f's body with value as its field and asserts status: a 201's answer and the
 * record read back at its Location hold value whole; any other status's answer holds want.
 * Returns 1 if it created a record, else 0. */
static int expect_text(const text_field *f, const char *value, long status, const char *want)
{
	http_response r, again;
	char location[128];
	char *body;
	ck_assert_int_ge(asprintf(&body, "%s%s%s", f->before, value, f->after), 0);
	post(f->path, "application/json", body, NULL, &r);
	ck_assert_msg(r.status == status, "POST %s with a %s of %zu bytes: %ld, want %ld (%.200s)",
		      f->path, f->field, strlen(value), r.status, status, r.body);
	if (status == 201) {
		expect_string_field(r.body, f->field, value);
		ck_assert_ptr_nonnull(http_header(&r, "location", location, sizeof(location)));
		get(location, &again);
		ck_assert_int_eq(again.status, 200);
		expect_string_field(again.body, f->field, value);
		http_response_free(&again);
	} else {
		ck_assert_msg(strstr(r.body, want) != NULL, "POST %s: %s lacks %s", f->path, r.body,
			      want);
	}
	http_response_free(&r);
	free(body);
	return status == 201;
}

/* check_text_limits checks that f's field counts characters, not bytes: empty is refused, one
 * character and max characters (of one byte, of one to four bytes, of four bytes) are stored and
 * read back whole, max + 1 of each kind is refused, and nothing refused is stored. */
static void check_text_limits(const text_field *f)
{
	static const char *const ascii[] = {"a"};
	/* a, e acute (2 bytes), the euro sign (3), an emoji (4) */
	static const char *const mixed[] = {"a", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
	static const char *const *const kinds[] = {ascii, mixed, mixed + 3};
	static const size_t nunits[] = {1, 4, 1};
	size_t before = count_list(f->path), created = 0;
	char want[128];
	snprintf(want, sizeof(want), "\"%s is required\"", f->field);
	created += expect_text(f, "", 400, want);
	created += expect_text(f, "x", 201, NULL);
	created += expect_text(f, "\xf0\x9f\x98\x80", 201, NULL);
	snprintf(want, sizeof(want), "\"%s must be 1 to %ld characters, not %ld\"", f->field,
		 f->max, f->max + 1);
	for (size_t k = 0; k < sizeof(kinds) / sizeof(*kinds); k++) {
		char *s = repeat_chars(kinds[k], nunits[k], f->max);
		created += expect_text(f, s, 201, NULL);
		free(s);
		s = repeat_chars(kinds[k], nunits[k], f->max + 1);
		created += expect_text(f, s, 400, want);
		free(s);
	}
	ck_assert_uint_eq(created, 5);
	ck_assert_uint_eq(count_list(f->path), before + created);
}

START_TEST(test_writes_thread_title_is_1_to_200_characters)
{
	static const text_field f = {"/api/threads", "title", "{\"title\":\"",
				     "\",\"createdBy\":1}", 200};
	check_text_limits(&f);
}
END_TEST

START_TEST(test_writes_post_text_is_1_to_10000_characters)
{
	static const text_field f = {"/api/posts", "text", "{\"thread\":1,\"text\":\"",
				     "\",\"user\":1}", 10000};
	check_text_limits(&f);
}
END_TEST

/* expect_bad_key asserts that a new post with the header line key_line (what names it) is 400:
 * with want in the edge's JSON answer over HTTP/1.1 and HTTP/2, or, when want is NULL, h2o's own
 * plain-text 400 over HTTP/1.1 (h2o refuses control bytes other than tab in a header value
 * before the edge sees them; over HTTP/2, h2o 2.2 may reset the stream instead of answering). */
static void expect_bad_key(const char *what, const char *key_line, const char *want)
{
	static const char body[] = "{\"thread\":1,\"text\":\"a bad key\",\"user\":1}";
	const char *headers[] = {key_line, NULL};
	for (int http2 = 0; http2 <= (want != NULL); http2++) {
		http_response r;
		post_with("/api/posts", "application/json", body, headers, http2, &r);
		ck_assert_msg(r.status == 400, "a key with %s over %s: %ld %s", what,
			      http2 ? "HTTP/2" : "HTTP/1.1", r.status, r.body);
		ck_assert_msg(want == NULL || strstr(r.body, want) != NULL,
			      "a key with %s over %s: %s lacks %s", what,
			      http2 ? "HTTP/2" : "HTTP/1.1", r.body, want);
		http_response_free(&r);
	}
}

START_TEST(test_writes_idempotency_key_is_1_to_200_printable_ascii)
{
	static const char body[] = "{\"thread\":1,\"text\":\"keyed at the bounds\",\"user\":1}";
	static const char printable[] = "\"Idempotency-Key must be printable ASCII\"";
	size_t before = count_list("/api/posts");
	http_response first, again, r;
	char key[201];
	/* 200 characters, with every printable one from '!' to '~' among them: accepted, replayed
	 * by the same key, and kept whole (one differing only in its last character is another) */
	for (int i = 0; i < 200; i++)
		key[i] = (char)('!' + i % 94);
	key[200] = '\0';
	post("/api/posts", "application/json", body, key, &first);
	ck_assert_msg(first.status == 201, "a key of 200 characters: %ld %s", first.status,
		      first.body);
	post("/api/posts", "application/json", body, key, &again);
	ck_assert_int_eq(again.status, 201);
	ck_assert_str_eq(again.body, first.body);
	key[199] = key[199] == 'x' ? 'y' : 'x';
	post("/api/posts", "application/json", body, key, &r);
	ck_assert_int_eq(r.status, 201);
	ck_assert_str_ne(r.body, first.body);
	http_response_free(&r);
	post("/api/posts", "application/json", body, "1", &r);
	ck_assert_msg(r.status == 201, "a key of 1 character: %ld %s", r.status, r.body);
	http_response_free(&r);
	ck_assert_uint_eq(count_list("/api/posts"), before + 3);
	/* refused before anything runs */
	expect_bad_key("no characters", "Idempotency-Key;",
		       "\"Idempotency-Key must be 1 to 200 characters\"");
	expect_bad_key("a space", "Idempotency-Key: a b", printable);
	expect_bad_key("a tab", "Idempotency-Key: a\tb", printable);
	expect_bad_key("UTF-8 (e acute)", "Idempotency-Key: caf\xc3\xa9", printable);
	expect_bad_key("the byte 0x80", "Idempotency-Key: k\x80", printable);
	expect_bad_key("the byte 0xff", "Idempotency-Key: \xffk", printable);
	expect_bad_key("the byte 0x01", "Idempotency-Key: a\x01z", NULL);
	expect_bad_key("the byte 0x1f", "Idempotency-Key: a\x1fz", NULL);
	expect_bad_key("DEL", "Idempotency-Key: a\x7fz", NULL);
	ck_assert_uint_eq(count_list("/api/posts"), before + 3);
	http_response_free(&first);
	http_response_free(&again);
}
END_TEST

START_TEST(test_writes_limit_0_is_the_default_page)
{
	static const char *const lists[] = {"/api/users", "/api/threads", "/api/posts",
					    "/api/posts/in-thread/2", "/api/posts/by-user/2"};
	for (size_t i = 0; i < sizeof(lists) / sizeof(*lists); i++) {
		char path[128], link[256], next[512], plain_next[512];
		http_response r, plain;
		size_t n, all = count_list(lists[i]);
		/* the lowest N is a page of one */
		snprintf(path, sizeof(path), "%s?limit=1", lists[i]);
		ck_assert_uint_eq(page_size(path, next, sizeof(next)), 1);
		ck_assert_msg(next[0] != '\0', "%s: no Link", path);
		/* README, Pages: limit=0 is the default page of 100, as without parameters */
		snprintf(path, sizeof(path), "%s?limit=0", lists[i]);
		n = page_size(path, next, sizeof(next));
		ck_assert_uint_eq(n, all < 100 ? all : 100);
		ck_assert_uint_eq(page_size(lists[i], plain_next, sizeof(plain_next)), n);
		ck_assert_msg((next[0] != '\0') == (all > 100), "%s: Link %s with %zu items", path,
			      next, all);
		ck_assert_msg((plain_next[0] != '\0') == (all > 100), "%s: Link %s with %zu items",
			      lists[i], plain_next, all);
		get(path, &r);
		get(lists[i], &plain);
		ck_assert_str_eq(r.body, plain.body);
		ck_assert_int_eq(http_header(&r, "link", link, sizeof(link)) != NULL,
				 http_header(&plain, "link", link, sizeof(link)) != NULL);
		http_response_free(&r);
		http_response_free(&plain);
	}
}
END_TEST

START_TEST(test_writes_users_down_thread_create_is_503_and_stores_nothing)
{
	pid_t users = fixture_pid(&mesh, "users");
	size_t before;
	http_response r;
	if (fixture_external() != NULL) {
		harness_skip("writes_test: stopping users needs a mesh of this test's own, not "
			     "CLEAVE_TEST_EDGE_URL's");
		return;
	}
	if (fixture_monolith()) {
		harness_skip("writes_test: one service down needs a process per service, which "
			     "the monolith has not");
		return;
	}
	before = count_list("/api/threads");
	ck_assert_int_gt(users, 0);
	ck_assert_int_eq(kill(users, SIGKILL), 0);
	ck_assert(harness_wait(users, 2000) != -1);
	fixture_forget(&mesh, "users");
	post("/api/threads", "application/json",
	     "{\"title\":\"While users is down\",\"createdBy\":1}", NULL, &r);
	ck_assert_msg(r.status == 503, "%ld %s", r.status, r.body);
	ck_assert_ptr_nonnull(strstr(r.body, "\"code\":\"UNAVAILABLE\""));
	http_response_free(&r);
	post("/api/posts", "application/json", "{\"thread\":1,\"text\":\"x\",\"user\":1}", NULL,
	     &r);
	ck_assert_int_eq(r.status, 503);
	http_response_free(&r);
	ck_assert_uint_eq(count_list("/api/threads"), before);
	/* back up, with everything it had written */
	ck_assert_int_gt(fixture_service_start(&mesh, "users"), 0);
	for (int i = 0; i < 300; i++) {
		get("/api/users/5", &r);
		long status = r.status;
		http_response_free(&r);
		if (status == 200)
			break;
		harness_sleep_ms(10);
	}
	get("/api/users/5", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"username\":\"bmo\""));
	http_response_free(&r);
	/* threads reconnects to users on its own (within its 200 ms backoff); the key makes the
	 * retries safe */
	for (int i = 0; i < 300; i++) {
		post("/api/threads", "application/json",
		     "{\"title\":\"After users came back\",\"createdBy\":1}", "after-restart", &r);
		if (r.status == 201)
			break;
		ck_assert_msg(r.status == 503, "%ld %s", r.status, r.body);
		http_response_free(&r);
		harness_sleep_ms(10);
	}
	ck_assert_int_eq(r.status, 201);
	ck_assert_ptr_nonnull(strstr(r.body, "\"title\":\"After users came back\""));
	http_response_free(&r);
	ck_assert_uint_eq(count_list("/api/threads"), before + 1);
}
END_TEST

START_TEST(test_writes_everything_stops_cleanly)
{
	char report[8192];
	ck_assert(mesh_up);
	mesh_up = 0;
	ck_assert_msg(fixture_mesh_stop(&mesh, report, sizeof(report)) == 0, "%s", report);
}
END_TEST

static Suite *writes_suite(void)
{
	Suite *s = suite_create("writes");
	TCase *tc = harness_tcase("writes", 120);
	tcase_add_unchecked_fixture(tc, mesh_setup, mesh_teardown);
	tcase_add_test(tc, test_writes_create_user);
	tcase_add_test(tc, test_writes_user_validation);
	tcase_add_test(tc, test_writes_duplicate_username_is_409);
	tcase_add_test(tc, test_writes_media_type_and_size);
	tcase_add_test(tc, test_writes_thread_needs_an_existing_user);
	tcase_add_test(tc, test_writes_post_needs_existing_thread_and_user);
	tcase_add_test(tc, test_writes_idempotency_key_replays);
	tcase_add_test(tc, test_writes_pages_walk_everything_while_writes_happen);
	tcase_add_test(tc, test_writes_thread_title_is_1_to_200_characters);
	tcase_add_test(tc, test_writes_post_text_is_1_to_10000_characters);
	tcase_add_test(tc, test_writes_idempotency_key_is_1_to_200_printable_ascii);
	tcase_add_test(tc, test_writes_limit_0_is_the_default_page);
	tcase_add_test(tc, test_writes_users_down_thread_create_is_503_and_stores_nothing);
	tcase_add_test(tc, test_writes_everything_stops_cleanly); /* last: it stops the mesh */
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	curl_global_init_once();
	return harness_run_suite(writes_suite(), 1);
}
