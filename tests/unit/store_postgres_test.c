/* store_postgres_test.c: the store on a real PostgreSQL server: schema, seeding once, ids, keys,
 * pages, every column kind, processes racing, restarts, unreachable servers and roles. */
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "harness.h"
#include "pg.h"
#include "posts.pb-c.h"
#include "sample.pb-c.h"
#include "store.h"
#include "users.pb-c.h"

/* ---- the suite's server, and a database per test ----------------------------------------- */

static pg_server server; /* started by the runner, for every test */
static int server_up;
static char server_why[1200]; /* why it is not up */

static char tmpdir[128];  /* the test's own: seeds, SQLite's files */
static char datadir[192]; /* tmpdir/data */
static char dbname[32];	  /* the test's own database */
static char url[512];	  /* the superuser's URL of it */

static const char *const users_unique[] = {"username", NULL};
static const char *const posts_indexes[] = {"thread", "user", NULL};

/* leftovers: directories of servers a test started itself, in memory shared with the runner,
 * which removes them after each test case (a failing test's process ends at once). */
#define LEFTOVERS_MAX 16
typedef struct leftovers {
	size_t n;
	char dir[LEFTOVERS_MAX][128];
} leftovers;
static leftovers *left;

static void server_setup(void)
{
	char err[1024];
	if (pg_server_find(err, sizeof(err), server_why, sizeof(server_why)) != 0)
		return;
	if (pg_server_start(&server, NULL, 0, err, sizeof(err)) != 0) {
		snprintf(server_why, sizeof(server_why), "cannot start PostgreSQL: %s", err);
		fprintf(stderr, "store_postgres_test: %s\n", server_why);
		return;
	}
	server_up = 1;
}

static void server_teardown(void)
{
	for (size_t i = 0; left != NULL && i < left->n; i++)
		harness_rmtree(left->dir[i]);
	if (left != NULL)
		left->n = 0;
	if (server_up && pg_server_stop(&server, SIGINT, 10000) != 0)
		harness_note_unclean("PostgreSQL", "it needed more than a fast shutdown");
	if (server_up)
		pg_server_remove(&server);
	server_up = 0;
}

/* need_server says whether the suite's server runs; when PostgreSQL is not installed the test
 * is skipped, when it could not start the test fails. */
static int need_server(void)
{
	char bin[128], why[256];
	if (server_up)
		return 1;
	if (pg_server_find(bin, sizeof(bin), why, sizeof(why)) != 0) {
		harness_skip("store_postgres_test: %s", why);
		return 0;
	}
	ck_abort_msg("%s", server_why);
	return 0;
}

static void test_setup(void)
{
	char sql[96], err[512];
	ck_assert_int_eq(harness_tmpdir(tmpdir, sizeof(tmpdir)), 0);
	snprintf(datadir, sizeof(datadir), "%s/data", tmpdir);
	if (!server_up)
		return;
	snprintf(dbname, sizeof(dbname), "t%d", (int)getpid());
	snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\" TEMPLATE template0 ENCODING 'UTF8'",
		 dbname);
	ck_assert_msg(pg_server_exec(&server, "postgres", sql, err, sizeof(err)) == 0, "%s", err);
	pg_server_url(&server, dbname, "postgres", server.password, 0, url, sizeof(url));
}

static void test_teardown(void)
{
	harness_rmtree(tmpdir);
}

static void add_fixtures(TCase *tc)
{
	if (left == NULL) {
		void *p = mmap(NULL, sizeof(*left), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		left = p != MAP_FAILED ? p : NULL;
	}
	tcase_add_unchecked_fixture(tc, server_setup, server_teardown);
	tcase_add_checked_fixture(tc, test_setup, test_teardown);
}

/* ---- helpers ---------------------------------------------------------------------------- */

/* write_file writes text to tmpdir/name and its path to out. */
static void write_file(const char *name, const char *text, char *out, size_t outlen)
{
	FILE *f;
	snprintf(out, outlen, "%s/%s", tmpdir, name);
	f = fopen(out, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

/* write_users_seed writes a seed of n users, ids first .. first + n - 1, named seed<id>. */
static void write_users_seed(const char *name, int64_t first, int n, char *out, size_t outlen)
{
	char text[8192];
	size_t len = (size_t)snprintf(text, sizeof(text), "[");
	for (int i = 0; i < n; i++) {
		long long id = (long long)(first + i);
		len += (size_t)snprintf(text + len, sizeof(text) - len,
					"%s{\"id\": %lld, \"username\": \"seed%lld\", \"name\": "
					"\"Seed %lld\", \"bio\": \"bio of %lld\"}",
					i ? ",\n" : "", id, id, id, id);
		ck_assert_uint_lt(len, sizeof(text));
	}
	snprintf(text + len, sizeof(text) - len, "]\n");
	write_file(name, text, out, outlen);
}

static store_opts users_opts(const char *at, const char *seed)
{
	store_opts o = {.url = at, .dir = datadir, .name = "users"};
	o.row = &users__user__descriptor;
	o.unique = users_unique;
	o.seed = seed;
	return o;
}

static store *open_users(const char *at, const char *seed)
{
	store_opts o = users_opts(at, seed);
	store *s = NULL;
	char err[512] = "";
	store_result r = store_open(&s, &o, err, sizeof(err));
	ck_assert_msg(r == STORE_OK, "store_open: %d: %s", (int)r, err);
	return s;
}

static Users__User users_row(const char *username, const char *name, const char *bio)
{
	Users__User u = USERS__USER__INIT;
	u.username = (char *)username;
	u.name = (char *)name;
	u.bio = (char *)bio;
	return u;
}

/* insert_user inserts a user, with key_text as its Create key unless NULL; returns the result
 * and the stored id (0 if none) and whether it was replayed. */
static store_result insert_user(store *s, const char *username, const char *name,
				const char *key_text, int64_t *id, int *replayed, char *err,
				size_t errlen)
{
	Users__User u = users_row(username, name, "");
	Users__CreateUserRequest req = USERS__CREATE_USER_REQUEST__INIT;
	store_key key = {"Create", key_text, &req.base};
	ProtobufCMessage *created = NULL;
	int ignored;
	store_result r;
	req.username = (char *)username;
	req.name = (char *)name;
	r = store_insert(s, &u.base, key_text != NULL ? &key : NULL, &created,
			 replayed != NULL ? replayed : &ignored, err, errlen);
	*id = r == STORE_OK ? ((Users__User *)created)->id : 0;
	if (created != NULL) {
		ck_assert_str_eq(((Users__User *)created)->username, username);
		protobuf_c_message_free_unpacked(created, NULL);
	}
	return r;
}

static int64_t insert_ok(store *s, const char *username)
{
	char err[512] = "";
	int64_t id;
	store_result r = insert_user(s, username, "Name", NULL, &id, NULL, err, sizeof(err));
	ck_assert_msg(r == STORE_OK, "insert %s: %d: %s", username, (int)r, err);
	return id;
}

static void assert_user(store *s, int64_t id, const char *username)
{
	ProtobufCMessage *msg = NULL;
	char err[512] = "";
	store_result r = store_get(s, id, &msg, err, sizeof(err));
	ck_assert_msg(r == STORE_OK, "get %" PRId64 ": %d: %s", id, (int)r, err);
	ck_assert_int_eq(((Users__User *)msg)->id, id);
	ck_assert_str_eq(((Users__User *)msg)->username, username);
	protobuf_c_message_free_unpacked(msg, NULL);
}

static int wait_readable(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, timeout_ms) == 1;
}

/* ---- opening and seeding ------------------------------------------------------------------ */

START_TEST(test_store_postgres_seeds_once_and_ids_follow)
{
	char seed[256], other[256], where[512], err[512];
	store *s;
	if (!need_server())
		return;
	write_users_seed("users.json", 10, 3, seed, sizeof(seed));
	s = open_users(url, seed);
	ck_assert_int_eq(store_count(s), 3);
	assert_user(s, 10, "seed10");
	assert_user(s, 12, "seed12");
	/* ids go on after the seed's highest */
	ck_assert_int_eq(insert_ok(s, "after"), 13);
	store_describe(s, where, sizeof(where));
	ck_assert_msg(strstr(where, "postgres database") != NULL && strstr(where, dbname) != NULL,
		      "%s", where);
	ck_assert_msg(strstr(where, server.password) == NULL, "the password shows: %s", where);
	store_close(s);
	/* a second start does not seed again, whatever its seed */
	write_users_seed("other.json", 100, 5, other, sizeof(other));
	s = open_users(url, other);
	ck_assert_int_eq(store_count(s), 4);
	ck_assert_int_eq(insert_ok(s, "later"), 14);
	{
		ProtobufCMessage *msg = NULL;
		ck_assert_int_eq(store_get(s, 100, &msg, err, sizeof(err)), STORE_NOT_FOUND);
		ck_assert_ptr_null(msg);
	}
	store_close(s);
}
END_TEST

/* assert_seed_fails asserts opening with seed text fails holding needle, storing nothing. */
static void assert_seed_fails(const char *text, const char *needle)
{
	char bad[256], err[512] = "", count[32];
	store_opts o;
	store *s = NULL;
	write_file("bad.json", text, bad, sizeof(bad));
	o = users_opts(url, bad);
	ck_assert_int_eq(store_open(&s, &o, err, sizeof(err)), STORE_ERROR);
	ck_assert_msg(strstr(err, needle) != NULL, "'%s' does not hold '%s'", err, needle);
	/* the transaction made nothing: not even the table */
	ck_assert_int_eq(pg_server_query(&server, dbname, "postgres", server.password,
					 "SELECT count(*) FROM pg_tables WHERE tablename IN "
					 "('users', 'users_meta', 'users_idempotency')",
					 count, sizeof(count), err, sizeof(err)),
			 0);
	ck_assert_str_eq(count, "0");
}

START_TEST(test_store_postgres_seed_errors_store_nothing)
{
	char good[256];
	store *s;
	if (!need_server())
		return;
	assert_seed_fails("[{\"id\": 1, \"username\": \"same\", \"name\": \"A\"},\n"
			  " {\"id\": 2, \"username\": \"same\", \"name\": \"B\"}]",
			  "element 1 (id 2): its username is not unique");
	assert_seed_fails("[{\"id\": 1, \"username\": \"a\", \"name\": \"A\"},\n"
			  " {\"id\": 1, \"username\": \"b\", \"name\": \"B\"}]",
			  "its id is not unique");
	assert_seed_fails("[{\"id\": 0, \"username\": \"a\", \"name\": \"A\"}]", "not positive");
	assert_seed_fails("[{\"id\": 1, \"nmae\": \"typo\"}]", "nmae");
	write_users_seed("good.json", 1, 2, good, sizeof(good));
	s = open_users(url, good);
	ck_assert_int_eq(store_count(s), 2);
	store_close(s);
}
END_TEST

/* child_open opens the users store in a child: waits for go_fd, opens, reports the count. */
static int child_open(const char *seed, int up_fd, int go_fd)
{
	store_opts o = users_opts(url, seed);
	store *s = NULL;
	char err[512], go, line[32];
	int len;
	if (write(up_fd, "r", 1) != 1 || read(go_fd, &go, 1) != 1)
		return 3;
	if (store_open(&s, &o, err, sizeof(err)) != STORE_OK) {
		fprintf(stderr, "child store_open: %s\n", err);
		return 2;
	}
	len = snprintf(line, sizeof(line), "%lld\n", (long long)store_count(s));
	store_close(s);
	return write(up_fd, line, (size_t)len) == len ? 0 : 4;
}

#define OPENERS 6

START_TEST(test_store_postgres_processes_first_open_seed_once)
{
	char seed[256], ready;
	int up[2], go[2];
	pid_t pids[OPENERS];
	store *s;
	if (!need_server())
		return;
	write_users_seed("users.json", 1, 50, seed, sizeof(seed));
	ck_assert_int_eq(pipe(up), 0);
	ck_assert_int_eq(pipe(go), 0);
	for (int i = 0; i < OPENERS; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			close(up[0]);
			close(go[1]);
			_exit(child_open(seed, up[1], go[0]));
		}
	}
	close(up[1]);
	close(go[0]);
	for (int i = 0; i < OPENERS; i++) {
		ck_assert(wait_readable(up[0], 20000));
		ck_assert_int_eq(read(up[0], &ready, 1), 1);
	}
	/* every one opens the new database at once: one makes and seeds it, the others wait */
	for (int i = 0; i < OPENERS; i++)
		ck_assert_int_eq(write(go[1], "g", 1), 1);
	for (int i = 0; i < OPENERS; i++) {
		int status = harness_wait(pids[i], 30000);
		ck_assert_msg(harness_exited_cleanly(status), "opener %d: status %d", i, status);
	}
	close(up[0]);
	close(go[1]);
	s = open_users(url, seed);
	ck_assert_int_eq(store_count(s), 50);
	ck_assert_int_eq(insert_ok(s, "next"), 51);
	store_close(s);
}
END_TEST

START_TEST(test_store_postgres_bad_url_and_unreachable_server)
{
	char err[512] = "", closed[512];
	store_opts o;
	store *s = NULL;
	long long start;
	if (!need_server())
		return;
	o = users_opts("mysql://u:p@h/db", NULL);
	ck_assert_int_eq(store_open(&s, &o, err, sizeof(err)), STORE_ERROR);
	ck_assert_msg(strstr(err, "postgres://") != NULL, "%s", err);
	o = users_opts("postgresql://u:p@host:notaport/db?nonsense=1", NULL);
	ck_assert_int_eq(store_open(&s, &o, err, sizeof(err)), STORE_ERROR);
	ck_assert_msg(strstr(err, "does not parse") != NULL, "%s", err);
	/* nothing listens there: unavailable, at once */
	snprintf(closed, sizeof(closed), "postgresql://postgres:x@/db?host=%s&port=1", tmpdir);
	o = users_opts(closed, NULL);
	start = harness_now_ms();
	ck_assert_int_eq(store_open(&s, &o, err, sizeof(err)), STORE_UNAVAILABLE);
	ck_assert_int_lt(harness_now_ms() - start, 2000);
	ck_assert_msg(strstr(err, "cannot connect") != NULL, "%s", err);
	/* a wrong password is refused, and not shown */
	pg_server_url(&server, dbname, "postgres", "wrong-password", 0, closed, sizeof(closed));
	o = users_opts(closed, NULL);
	ck_assert_int_eq(store_open(&s, &o, err, sizeof(err)), STORE_UNAVAILABLE);
	ck_assert_msg(strstr(err, "password authentication failed") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "wrong-password") == NULL, "%s", err);
}
END_TEST

/* ---- rows, keys -------------------------------------------------------------------------- */

START_TEST(test_store_postgres_unique_clash_and_keys)
{
	char err[512] = "";
	int64_t id, id2;
	int replayed;
	ProtobufCMessage *msg = NULL;
	store *s;
	if (!need_server())
		return;
	s = open_users(url, NULL);
	ck_assert_int_eq(insert_ok(s, "finn"), 1);
	/* a unique value taken: STORE_EXISTS naming the field, with or without a key */
	ck_assert_int_eq(insert_user(s, "finn", "Again", NULL, &id, NULL, err, sizeof(err)),
			 STORE_EXISTS);
	ck_assert_str_eq(err, "username");
	ck_assert_int_eq(insert_user(s, "finn", "Again", "k-clash", &id, NULL, err, sizeof(err)),
			 STORE_EXISTS);
	ck_assert_str_eq(err, "username");
	/* and the key of a failed create is not kept */
	{
		Users__CreateUserRequest req = USERS__CREATE_USER_REQUEST__INIT;
		store_key key = {"Create", "k-clash", &req.base};
		req.username = "finn";
		req.name = "Again";
		ck_assert_int_eq(store_replay(s, &key, &msg, err, sizeof(err)), STORE_NOT_FOUND);
	}
	/* a key's first use stores; its repeat replays the same row */
	ck_assert_int_eq(insert_user(s, "jake", "Jake", "k1", &id, &replayed, err, sizeof(err)),
			 STORE_OK);
	ck_assert_int_eq(replayed, 0);
	ck_assert_int_eq(insert_user(s, "jake", "Jake", "k1", &id2, &replayed, err, sizeof(err)),
			 STORE_OK);
	ck_assert_int_eq(replayed, 1);
	ck_assert_int_eq(id2, id);
	/* another request under it: a conflict */
	ck_assert_int_eq(insert_user(s, "jake2", "Jake", "k1", &id2, NULL, err, sizeof(err)),
			 STORE_CONFLICT);
	ck_assert_msg(strstr(err, "k1") != NULL, "%s", err);
	/* replay looks up without writing */
	{
		Users__CreateUserRequest req = USERS__CREATE_USER_REQUEST__INIT;
		store_key key = {"Create", "k1", &req.base}, other = {"Update", "k1", &req.base};
		req.username = "jake";
		req.name = "Jake";
		ck_assert_int_eq(store_replay(s, &key, &msg, err, sizeof(err)), STORE_OK);
		ck_assert_int_eq(((Users__User *)msg)->id, id);
		protobuf_c_message_free_unpacked(msg, NULL);
		/* keys are per method */
		ck_assert_int_eq(store_replay(s, &other, &msg, err, sizeof(err)), STORE_NOT_FOUND);
		req.name = "Other";
		ck_assert_int_eq(store_replay(s, &key, &msg, err, sizeof(err)), STORE_CONFLICT);
	}
	ck_assert_int_eq(store_get(s, 999, &msg, err, sizeof(err)), STORE_NOT_FOUND);
	ck_assert_int_eq(store_count(s), 2);
	store_close(s);
}
END_TEST

/* open_posts opens a posts store with a sparse seed (ids 2, 5, 7) and 9 more rows: threads
 * 1 + i % 3, users 10 or 20. */
static store *open_posts(void)
{
	char seed[256], err[512] = "";
	store_opts o = {.url = url, .dir = datadir, .name = "posts"};
	store *s = NULL;
	o.row = &posts__post__descriptor;
	o.indexes = posts_indexes;
	write_file("posts.json",
		   "[{\"id\": 2, \"thread\": 1, \"text\": \"a\", \"user\": 10},"
		   " {\"id\": 5, \"thread\": 2, \"text\": \"b\", \"user\": 20},"
		   " {\"id\": 7, \"thread\": 1, \"text\": \"c\", \"user\": 20}]",
		   seed, sizeof(seed));
	o.seed = seed;
	ck_assert_int_eq(store_open(&s, &o, err, sizeof(err)), STORE_OK);
	for (int i = 0; i < 9; i++) {
		Posts__Post p = POSTS__POST__INIT;
		ProtobufCMessage *created = NULL;
		int replayed;
		char text[32];
		snprintf(text, sizeof(text), "post %d", i);
		p.thread = 1 + i % 3;
		p.user = i % 2 ? 20 : 10;
		p.text = text;
		ck_assert_int_eq(
		    store_insert(s, &p.base, NULL, &created, &replayed, err, sizeof(err)),
		    STORE_OK);
		ck_assert_int_eq(((Posts__Post *)created)->id, 8 + i);
		protobuf_c_message_free_unpacked(created, NULL);
	}
	return s;
}

/* list_ids lists a page into ids (at most 32); returns how many, and its next_after. */
static size_t list_ids(store *s, const char *field, int64_t value, int64_t after, int32_t limit,
		       int64_t *ids, int64_t *next)
{
	store_rows rows;
	char err[512] = "";
	store_result r = store_list(s, field, value, after, limit, &rows, err, sizeof(err));
	size_t n;
	ck_assert_msg(r == STORE_OK, "list: %d: %s", (int)r, err);
	ck_assert_uint_le(rows.n, 32);
	for (size_t i = 0; i < rows.n; i++)
		ids[i] = ((Posts__Post *)rows.items[i])->id;
	n = rows.n;
	*next = rows.next_after;
	store_rows_free(&rows);
	return n;
}

static void assert_page(store *s, const char *field, int64_t value, int64_t after, int32_t limit,
			const char *want, int64_t want_next)
{
	int64_t ids[32], next;
	size_t n = list_ids(s, field, value, after, limit, ids, &next);
	char got[256] = "";
	size_t at = 0;
	for (size_t i = 0; i < n; i++)
		at += (size_t)snprintf(got + at, sizeof(got) - at, "%s%" PRId64, i ? " " : "",
				       ids[i]);
	ck_assert_msg(strcmp(got, want) == 0, "%s = %" PRId64 " after %" PRId64 " limit %d: [%s]",
		      field ? field : "(all)", value, after, limit, got);
	ck_assert_int_eq(next, want_next);
}

START_TEST(test_store_postgres_pages)
{
	store *s;
	store_rows rows;
	char err[512] = "";
	int64_t after = 0, seen = 0;
	if (!need_server())
		return;
	s = open_posts();
	assert_page(s, NULL, 0, 0, 0, "2 5 7 8 9 10 11 12 13 14 15 16", 0);
	assert_page(s, "thread", 1, 0, 0, "2 7 8 11 14", 0);
	assert_page(s, "user", 20, 0, 0, "5 7 9 11 13 15", 0);
	assert_page(s, "thread", 1, 7, 0, "8 11 14", 0);
	assert_page(s, "thread", 9, 0, 0, "", 0);
	assert_page(s, NULL, 0, 0, 5, "2 5 7 8 9", 9);
	assert_page(s, NULL, 0, 9, 5, "10 11 12 13 14", 14);
	assert_page(s, NULL, 0, 14, 5, "15 16", 0);
	assert_page(s, "user", 10, 0, 3, "2 8 10", 10);
	assert_page(s, "user", 10, 10, 3, "12 14 16", 0);
	/* walking pages of 2 visits every row once, in order */
	do {
		int64_t ids[32], next;
		size_t n = list_ids(s, NULL, 0, after, 2, ids, &next);
		for (size_t i = 0; i < n; i++) {
			ck_assert_int_gt(ids[i], after);
			seen++;
		}
		after = next;
	} while (after != 0);
	ck_assert_int_eq(seen, 12);
	ck_assert_int_eq(store_list(s, "text", 1, 0, 0, &rows, err, sizeof(err)), STORE_ERROR);
	ck_assert_msg(strstr(err, "not indexed") != NULL, "%s", err);
	store_close(s);
}
END_TEST

/* every_kind fills a sample.Row with extreme values of every column kind. */
static void every_kind(Sample__Row *r, uint8_t *blob, size_t bloblen)
{
	sample__row__init(r);
	r->i32 = INT32_MIN;
	r->i64 = INT64_MIN;
	r->u32 = UINT32_MAX;
	r->u64 = UINT64_MAX;
	r->s32 = -7;
	r->f32 = 4000000000u;
	r->sf64 = INT64_MAX;
	r->flt = -1.5e-38f;
	r->dbl = 1.0 / 3.0;
	r->flag = 1;
	r->text = "Ünïcødé ✓ 'quoted' \"and\" \\back";
	for (size_t i = 0; i < bloblen; i++)
		blob[i] = (uint8_t)(i * 37);
	r->blob.data = blob;
	r->blob.len = bloblen;
	r->color = SAMPLE__COLOR__GREEN;
}

/* assert_every_kind stores a row of every kind in the store at where ("" or a URL) and reads it
 * back, bit for bit. */
static void assert_every_kind(const char *where)
{
	store_opts o = {.url = where, .dir = datadir, .name = "rows"};
	uint8_t blob[300];
	Sample__Row in, *back;
	ProtobufCMessage *created = NULL, *got = NULL;
	char err[512] = "";
	int replayed;
	store *s = NULL;
	o.row = &sample__row__descriptor;
	every_kind(&in, blob, sizeof(blob));
	ck_assert_msg(store_open(&s, &o, err, sizeof(err)) == STORE_OK, "%s: %s", where, err);
	ck_assert_int_eq(store_insert(s, &in.base, NULL, &created, &replayed, err, sizeof(err)),
			 STORE_OK);
	ck_assert_int_eq(store_get(s, ((Sample__Row *)created)->id, &got, err, sizeof(err)),
			 STORE_OK);
	for (int pass = 0; pass < 2; pass++) {
		back = (Sample__Row *)(pass == 0 ? created : got);
		ck_assert_int_eq(back->id, 1);
		ck_assert_int_eq(back->i32, in.i32);
		ck_assert_int_eq(back->i64, in.i64);
		ck_assert_uint_eq(back->u32, in.u32);
		ck_assert_uint_eq(back->u64, in.u64);
		ck_assert_int_eq(back->s32, in.s32);
		ck_assert_uint_eq(back->f32, in.f32);
		ck_assert_int_eq(back->sf64, in.sf64);
		ck_assert(back->flt == in.flt);
		ck_assert(back->dbl == in.dbl);
		ck_assert_int_eq(back->flag, 1);
		ck_assert_str_eq(back->text, in.text);
		ck_assert_uint_eq(back->blob.len, sizeof(blob));
		ck_assert_mem_eq(back->blob.data, blob, sizeof(blob));
		ck_assert_int_eq(back->color, SAMPLE__COLOR__GREEN);
	}
	protobuf_c_message_free_unpacked(created, NULL);
	protobuf_c_message_free_unpacked(got, NULL);
	store_close(s);
}

START_TEST(test_store_postgres_every_column_kind_round_trips)
{
	if (!need_server())
		return;
	assert_every_kind(url); /* PostgreSQL */
	assert_every_kind("");	/* and SQLite alike */
}
END_TEST

/* ---- processes and threads -------------------------------------------------------------- */

#define RACERS	  4
#define RACE_KEYS 40
#define RACE_LINE 48

/* child_racer makes every racer's create under its key (race<i>), as its own process, once told
 * to go, and writes "<i> <id> <replayed>\n" for each to up_fd. */
static int child_racer(int up_fd, int go_fd)
{
	store_opts o = users_opts(url, NULL);
	store *s = NULL;
	char err[512], go;
	if (store_open(&s, &o, err, sizeof(err)) != STORE_OK) {
		fprintf(stderr, "racer: %s\n", err);
		return 2;
	}
	if (write(up_fd, "r", 1) != 1 || read(go_fd, &go, 1) != 1)
		return 3;
	for (int i = 0; i < RACE_KEYS; i++) {
		char username[32], line[RACE_LINE];
		int64_t id;
		int replayed, len;
		store_result r;
		snprintf(username, sizeof(username), "race%d", i);
		r = insert_user(s, username, "Racer", username, &id, &replayed, err, sizeof(err));
		if (r != STORE_OK) {
			fprintf(stderr, "racer %s: %d: %s\n", username, (int)r, err);
			return 4;
		}
		len = snprintf(line, sizeof(line), "%d %lld %d\n", i, (long long)id, replayed);
		if (write(up_fd, line, (size_t)len) != len)
			return 5;
	}
	store_close(s);
	return 0;
}

START_TEST(test_store_postgres_processes_race_on_same_keys)
{
	int up[2], go[2], made[RACE_KEYS] = {0};
	int64_t ids[RACE_KEYS] = {0};
	pid_t pids[RACERS];
	char err[512], sql[128], ready, *text;
	size_t have = 0, cap = RACERS * RACE_KEYS * RACE_LINE + RACERS;
	store *s;
	if (!need_server())
		return;
	/* serializable by default: the store's own transactions say otherwise, and a plain insert
	 * that fails to serialize is run again */
	snprintf(sql, sizeof(sql),
		 "ALTER DATABASE \"%s\" SET default_transaction_isolation = 'serializable'",
		 dbname);
	ck_assert_msg(pg_server_exec(&server, "postgres", sql, err, sizeof(err)) == 0, "%s", err);
	s = open_users(url, NULL);
	ck_assert_int_eq(pipe(up), 0);
	ck_assert_int_eq(pipe(go), 0);
	for (int k = 0; k < RACERS; k++) {
		pids[k] = fork();
		ck_assert_int_ge(pids[k], 0);
		if (pids[k] == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			close(up[0]);
			close(go[1]);
			_exit(child_racer(up[1], go[0]));
		}
	}
	close(up[1]);
	close(go[0]);
	for (int k = 0; k < RACERS; k++) {
		ck_assert(wait_readable(up[0], 20000));
		ck_assert_int_eq(read(up[0], &ready, 1), 1);
	}
	for (int k = 0; k < RACERS; k++)
		ck_assert_int_eq(write(go[1], "g", 1), 1);
	text = malloc(cap + 1);
	ck_assert_ptr_nonnull(text);
	for (;;) {
		ssize_t r;
		ck_assert_msg(wait_readable(up[0], 30000), "the racers went quiet");
		r = read(up[0], text + have, cap - have);
		ck_assert_int_ge(r, 0);
		if (r == 0)
			break;
		have += (size_t)r;
		ck_assert_uint_le(have, cap);
	}
	text[have] = '\0';
	for (int k = 0; k < RACERS; k++) {
		int status = harness_wait(pids[k], 10000);
		ck_assert_msg(harness_exited_cleanly(status), "racer %d: status %d", k, status);
	}
	for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		int i, replayed;
		long long id;
		ck_assert_int_eq(sscanf(line, "%d %lld %d", &i, &id, &replayed), 3);
		ck_assert(i >= 0 && i < RACE_KEYS);
		/* every racer got the same row for a key */
		ck_assert_msg(ids[i] == 0 || ids[i] == id, "race%d: ids %lld and %lld", i,
			      (long long)ids[i], id);
		ids[i] = id;
		made[i] += !replayed;
	}
	free(text);
	close(up[0]);
	close(go[1]);
	/* made once each: one racer made it, the others had it replayed */
	for (int i = 0; i < RACE_KEYS; i++) {
		char username[32];
		ck_assert_msg(made[i] == 1, "race%d was made %d times", i, made[i]);
		snprintf(username, sizeof(username), "race%d", i);
		assert_user(s, ids[i], username);
	}
	ck_assert_int_eq(store_count(s), RACE_KEYS);
	store_close(s);
}
END_TEST

typedef struct thread_job {
	store *s;
	int index;
	int ok;
} thread_job;

static void *thread_insert(void *arg)
{
	thread_job *job = arg;
	char username[32], err[512];
	int64_t id;
	job->ok = 1;
	for (int i = 0; i < 30; i++) {
		snprintf(username, sizeof(username), "t%d_%d", job->index, i);
		if (insert_user(job->s, username, "T", NULL, &id, NULL, err, sizeof(err)) !=
		    STORE_OK)
			job->ok = 0;
	}
	return NULL;
}

START_TEST(test_store_postgres_threads_use_their_own_connections)
{
	pthread_t t[4];
	thread_job jobs[4];
	store *s;
	if (!need_server())
		return;
	s = open_users(url, NULL);
	for (int i = 0; i < 4; i++) {
		jobs[i] = (thread_job){.s = s, .index = i};
		ck_assert_int_eq(pthread_create(&t[i], NULL, thread_insert, &jobs[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ck_assert(jobs[i].ok);
	}
	ck_assert_int_eq(store_count(s), 120);
	store_close(s);
}
END_TEST

/* ---- restarts: a server of the test's own ----------------------------------------------- */

START_TEST(test_store_postgres_restart_unavailable_then_back)
{
	pg_server own;
	char err[1024] = "", own_url[512];
	int64_t id, before;
	ProtobufCMessage *msg = NULL;
	long long start;
	store *s;
	if (!need_server())
		return;
	ck_assert_msg(pg_server_start(&own, NULL, 0, err, sizeof(err)) == 0, "%s", err);
	if (left != NULL && left->n < LEFTOVERS_MAX)
		snprintf(left->dir[left->n++], sizeof(left->dir[0]), "%s", own.dir);
	pg_server_url(&own, "postgres", "postgres", own.password, 0, own_url, sizeof(own_url));
	s = open_users(own_url, NULL);
	before = insert_ok(s, "before");

	/* a fast shutdown: every call is unavailable, at once, and writes nothing */
	ck_assert_int_eq(pg_server_stop(&own, SIGINT, 10000), 0);
	start = harness_now_ms();
	ck_assert_int_eq(store_get(s, before, &msg, err, sizeof(err)), STORE_UNAVAILABLE);
	ck_assert_int_eq(insert_user(s, "during", "D", NULL, &id, NULL, err, sizeof(err)),
			 STORE_UNAVAILABLE);
	ck_assert_msg(strstr(err, "connect") != NULL, "%s", err);
	ck_assert_int_eq(insert_user(s, "during_key", "D", "k-down", &id, NULL, err, sizeof(err)),
			 STORE_UNAVAILABLE);
	ck_assert_int_eq(store_count(s), -1);
	ck_assert_int_lt(harness_now_ms() - start, 2000);

	/* back: the same handle reconnects; what failed was not stored */
	ck_assert_msg(pg_server_restart(&own, err, sizeof(err)) == 0, "%s", err);
	harness_sleep_ms(300); /* past the pause after a failed connection */
	assert_user(s, before, "before");
	id = insert_ok(s, "after");
	ck_assert_int_gt(id, before);
	ck_assert_int_eq(store_count(s), 2);

	/* a crash (immediate shutdown) keeps what was acknowledged */
	for (int i = 0; i < 20; i++) {
		char name[32];
		snprintf(name, sizeof(name), "acked%d", i);
		insert_ok(s, name);
	}
	ck_assert_int_eq(pg_server_stop(&own, SIGQUIT, 10000), 0);
	ck_assert_msg(pg_server_restart(&own, err, sizeof(err)) == 0, "%s", err);
	harness_sleep_ms(300);
	ck_assert_int_eq(store_count(s), 22);
	assert_user(s, id, "after");
	store_close(s);
	pg_server_remove(&own);
}
END_TEST

/* ---- roles ------------------------------------------------------------------------------- */

START_TEST(test_store_postgres_roles_reach_their_own_database_only)
{
	char users_pw[33], posts_pw[33], users_url[512], posts_url[512], err[512], out[64];
	store *s;
	if (!need_server())
		return;
	ck_assert_msg(pg_server_provision(&server, "users_r", 0, users_pw, users_url,
					  sizeof(users_url), err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_msg(pg_server_provision(&server, "posts_r", 0, posts_pw, posts_url,
					  sizeof(posts_url), err, sizeof(err)) == 0,
		      "%s", err);
	s = open_users(users_url, NULL);
	insert_ok(s, "secret");
	store_close(s);
	/* its own role reads its rows */
	ck_assert_msg(pg_server_query(&server, "users_r", "users_r", users_pw,
				      "SELECT username FROM users", out, sizeof(out), err,
				      sizeof(err)) == 0,
		      "%s", err);
	ck_assert_str_eq(out, "secret");
	/* another service's role cannot even connect to its database */
	ck_assert_int_ne(pg_server_query(&server, "users_r", "posts_r", posts_pw,
					 "SELECT username FROM users", out, sizeof(out), err,
					 sizeof(err)),
			 0);
	ck_assert_msg(strstr(err, "permission denied for database") != NULL, "%s", err);
	/* and from its own database there is no such table */
	ck_assert_int_ne(pg_server_query(&server, "posts_r", "posts_r", posts_pw,
					 "SELECT username FROM users", out, sizeof(out), err,
					 sizeof(err)),
			 0);
	/* a store opened with the wrong role's URL fails to open */
	{
		char wrong[512];
		store_opts o;
		pg_server_url(&server, "users_r", "posts_r", posts_pw, 0, wrong, sizeof(wrong));
		o = users_opts(wrong, NULL);
		s = NULL;
		ck_assert_int_ne(store_open(&s, &o, err, sizeof(err)), STORE_OK);
		ck_assert_msg(strstr(err, "permission denied") != NULL, "%s", err);
	}
}
END_TEST

START_TEST(test_store_postgres_schema_per_service_in_one_database)
{
	const char *const roles[] = {"users_s", "posts_s"};
	char pw[2][33], url_of[2][512], err[512], out[64], sql[256];
	store *s;
	if (!need_server())
		return;
	/* one database, a schema per service that its role owns: "$user" comes first in the
	 * default search_path, so each role's tables land in its own schema */
	for (int i = 0; i < 2; i++) {
		snprintf(pw[i], sizeof(pw[i]), "pw-%d-%d", i, (int)getpid());
		snprintf(sql, sizeof(sql), "CREATE ROLE \"%s\" LOGIN PASSWORD '%s'", roles[i],
			 pw[i]);
		ck_assert_msg(pg_server_exec(&server, dbname, sql, err, sizeof(err)) == 0, "%s",
			      err);
		snprintf(sql, sizeof(sql), "CREATE SCHEMA \"%s\" AUTHORIZATION \"%s\"", roles[i],
			 roles[i]);
		ck_assert_msg(pg_server_exec(&server, dbname, sql, err, sizeof(err)) == 0, "%s",
			      err);
		pg_server_url(&server, dbname, roles[i], pw[i], 0, url_of[i], sizeof(url_of[i]));
	}
	s = open_users(url_of[0], NULL);
	insert_ok(s, "schema-secret");
	store_close(s);
	ck_assert_int_eq(pg_server_query(&server, dbname, "postgres", server.password,
					 "SELECT count(*) FROM users_s.users", out, sizeof(out),
					 err, sizeof(err)),
			 0);
	ck_assert_str_eq(out, "1");
	/* the other role connects to the same database, and cannot read them */
	ck_assert_int_ne(pg_server_query(&server, dbname, roles[1], pw[1],
					 "SELECT username FROM users_s.users", out, sizeof(out),
					 err, sizeof(err)),
			 0);
	ck_assert_msg(strstr(err, "permission denied for schema") != NULL, "%s", err);
	/* its own store of the same name is a table of its own schema */
	s = open_users(url_of[1], NULL);
	ck_assert_int_eq(store_count(s), 0);
	store_close(s);
}
END_TEST

static Suite *store_postgres_suite(void)
{
	Suite *s = suite_create("store_postgres");
	TCase *tc = tcase_create("postgres");
	tcase_set_timeout(tc, 60);
	add_fixtures(tc);
	tcase_add_test(tc, test_store_postgres_seeds_once_and_ids_follow);
	tcase_add_test(tc, test_store_postgres_seed_errors_store_nothing);
	tcase_add_test(tc, test_store_postgres_processes_first_open_seed_once);
	tcase_add_test(tc, test_store_postgres_bad_url_and_unreachable_server);
	tcase_add_test(tc, test_store_postgres_unique_clash_and_keys);
	tcase_add_test(tc, test_store_postgres_pages);
	tcase_add_test(tc, test_store_postgres_every_column_kind_round_trips);
	tcase_add_test(tc, test_store_postgres_processes_race_on_same_keys);
	tcase_add_test(tc, test_store_postgres_threads_use_their_own_connections);
	tcase_add_test(tc, test_store_postgres_restart_unavailable_then_back);
	tcase_add_test(tc, test_store_postgres_roles_reach_their_own_database_only);
	tcase_add_test(tc, test_store_postgres_schema_per_service_in_one_database);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(store_postgres_suite(), 0);
}
