/* store_test.c: unit tests of store, protobuf rows in SQLite (seeding, keys, pages, processes). */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <sqlite3.h>

#include "harness.h"
#include "posts.pb-c.h"
#include "store.h"
#include "users.pb-c.h"

/* ---- helpers -------------------------------------------------------------------------------- */

static char tmpdir[128];  /* fresh for every test, removed after it */
static char datadir[192]; /* tmpdir/data: the stores' directory, made by store_open */

static const char *const users_unique[] = {"username", NULL};
static const char *const posts_indexes[] = {"thread", "user", NULL};

/* made_dirs: the tests' directories, in memory shared with the runner process. A failing test's
 * process ends at once, without its checked teardown, so the runner removes them after each
 * test case too. */
#define MADE_DIRS_MAX 64
typedef struct made_dirs {
	size_t n;
	char path[MADE_DIRS_MAX][sizeof(tmpdir)];
} made_dirs;
static made_dirs *made;

static void tmpdir_setup(void)
{
	ck_assert_int_eq(harness_tmpdir(tmpdir, sizeof(tmpdir)), 0);
	snprintf(datadir, sizeof(datadir), "%s/data", tmpdir);
	if (made != NULL && made->n < MADE_DIRS_MAX)
		snprintf(made->path[made->n++], sizeof(made->path[0]), "%s", tmpdir);
}

static void tmpdir_teardown(void)
{
	harness_rmtree(tmpdir);
}

/* made_dirs_remove runs in the runner after each test case. */
static void made_dirs_remove(void)
{
	for (size_t i = 0; made != NULL && i < made->n; i++)
		harness_rmtree(made->path[i]);
	if (made != NULL)
		made->n = 0;
}

/* add_tmpdir_fixtures gives every test of tc its own directory, removed after it. */
static void add_tmpdir_fixtures(TCase *tc)
{
	if (made == NULL) {
		void *p = mmap(NULL, sizeof(*made), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		made = p != MAP_FAILED ? p : NULL;
	}
	tcase_add_checked_fixture(tc, tmpdir_setup, tmpdir_teardown);
	tcase_add_unchecked_fixture(tc, NULL, made_dirs_remove);
}

/* write_file writes text into a file in tmpdir (replacing it) and stores its path in out. */
static void write_file(const char *name, const char *text, char *out, size_t outlen)
{
	FILE *f;
	snprintf(out, outlen, "%s/%s", tmpdir, name);
	f = fopen(out, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

/* write_users_seed writes a seed of n users, ids first .. first + n - 1, named seed<id>. */
static void write_users_seed(const char *name, int64_t first, int n, char *out, size_t outlen)
{
	char text[8192];
	size_t len = 0;
	len += (size_t)snprintf(text + len, sizeof(text) - len, "[");
	for (int i = 0; i < n; i++) {
		long long id = (long long)(first + i);
		len +=
		    (size_t)snprintf(text + len, sizeof(text) - len,
				     "%s\n  {\"id\": %lld, \"username\": \"seed%lld\", \"name\": "
				     "\"Seed %lld\", \"bio\": \"bio of %lld\"}",
				     i ? "," : "", id, id, id, id);
		ck_assert_uint_lt(len, sizeof(text));
	}
	snprintf(text + len, sizeof(text) - len, "\n]\n");
	write_file(name, text, out, outlen);
}

static store_opts users_opts(const char *seed)
{
	store_opts o;
	memset(&o, 0, sizeof(o));
	o.dir = datadir;
	o.name = "users";
	o.row = &users__user__descriptor;
	o.unique = users_unique;
	o.seed = seed;
	return o;
}

static store_opts posts_opts(const char *seed)
{
	store_opts o;
	memset(&o, 0, sizeof(o));
	o.dir = datadir;
	o.name = "posts";
	o.row = &posts__post__descriptor;
	o.indexes = posts_indexes;
	o.seed = seed;
	return o;
}

/* open_store opens the store of opts (whose seed must outlive it), asserting success. */
static store *open_store(const store_opts *opts)
{
	store *s = NULL;
	char err[512] = "";
	store_result r = store_open(&s, opts, err, sizeof(err));
	ck_assert_msg(r == STORE_OK, "store_open: %d: %s", (int)r, err);
	ck_assert_ptr_nonnull(s);
	return s;
}

static store *open_users(const char *seed)
{
	store_opts o = users_opts(seed);
	return open_store(&o);
}

static store *open_posts(const char *seed)
{
	store_opts o = posts_opts(seed);
	return open_store(&o);
}

/* users_row makes a users.User whose strings point at the arguments. */
static Users__User users_row(const char *username, const char *name, const char *bio)
{
	Users__User u = USERS__USER__INIT;
	u.username = (char *)username;
	u.name = (char *)name;
	u.bio = (char *)bio;
	return u;
}

/* insert_user inserts a user (no key), asserts success and returns the stored id. */
static int64_t insert_user(store *s, const char *username, const char *name, const char *bio)
{
	Users__User u = users_row(username, name, bio);
	ProtobufCMessage *created = NULL;
	int replayed = -1;
	char err[512] = "";
	store_result r = store_insert(s, &u.base, NULL, &created, &replayed, err, sizeof(err));
	int64_t id;
	ck_assert_msg(r == STORE_OK, "store_insert %s: %d: %s", username, (int)r, err);
	ck_assert_ptr_nonnull(created);
	ck_assert_int_eq(replayed, 0);
	id = ((Users__User *)created)->id;
	ck_assert_str_eq(((Users__User *)created)->username, username);
	protobuf_c_message_free_unpacked(created, NULL);
	return id;
}

/* assert_user asserts the row of id holds exactly these values. */
static void assert_user(store *s, int64_t id, const char *username, const char *name,
			const char *bio)
{
	ProtobufCMessage *msg = NULL;
	char err[512] = "";
	store_result r = store_get(s, id, &msg, err, sizeof(err));
	Users__User *u;
	ck_assert_msg(r == STORE_OK, "store_get %" PRId64 ": %d: %s", id, (int)r, err);
	u = (Users__User *)msg;
	ck_assert_ptr_eq(msg->descriptor, &users__user__descriptor);
	ck_assert_int_eq(u->id, id);
	ck_assert_str_eq(u->username, username);
	ck_assert_str_eq(u->name, name);
	ck_assert_str_eq(u->bio, bio);
	protobuf_c_message_free_unpacked(msg, NULL);
}

/* list_ids lists one page and copies its ids to ids (at most cap), returning how many. */
static size_t list_ids(store *s, const char *field, int64_t value, int64_t after, int32_t limit,
		       int64_t *ids, size_t cap, int64_t *next_after)
{
	store_rows rows;
	char err[512] = "";
	store_result r = store_list(s, field, value, after, limit, &rows, err, sizeof(err));
	size_t n;
	ck_assert_msg(r == STORE_OK, "store_list %s: %d: %s", field ? field : "(all)", (int)r, err);
	ck_assert_uint_le(rows.n, cap);
	for (size_t i = 0; i < rows.n; i++)
		ids[i] = *(const int64_t *)((const char *)rows.items[i] +
					    protobuf_c_message_descriptor_get_field_by_name(
						rows.items[i]->descriptor, "id")
						->offset);
	n = rows.n;
	if (next_after != NULL)
		*next_after = rows.next_after;
	store_rows_free(&rows);
	return n;
}

/* table_rows counts the rows of table in the database file at path with SQLite itself: -1 when
 * the table does not exist. */
static long long table_rows(const char *path, const char *table)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char sql[256];
	long long n = -1;
	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db,
					    "SELECT count(*) FROM sqlite_master WHERE type = "
					    "'table' AND name = ?1",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	if (sqlite3_column_int(st, 0) == 1) {
		sqlite3_finalize(st);
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
		ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
		ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
		n = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* journal_mode returns the journal mode the database file at path is in ("wal"). */
static const char *journal_mode(const char *path)
{
	static char mode[32];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	snprintf(mode, sizeof(mode), "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return mode;
}

/* assert_seed_fails asserts that opening the users store with seed text fails with an error
 * holding needle, and that nothing was stored; then that a good seed opens and seeds it. */
static void assert_seed_fails(const char *text, const char *needle)
{
	char bad[256], good[256], dbpath[256], err[512] = "";
	store *s = NULL;
	store_opts o;
	long long left;
	write_file("bad.json", text, bad, sizeof(bad));
	o = users_opts(bad);
	ck_assert_int_eq(store_open(&s, &o, err, sizeof(err)), STORE_ERROR);
	ck_assert_msg(strstr(err, needle) != NULL, "seed %s: error '%s' does not hold '%s'", text,
		      err, needle);
	/* nothing stored: the table is missing or empty */
	snprintf(dbpath, sizeof(dbpath), "%s/users.db", datadir);
	left = table_rows(dbpath, "users");
	ck_assert_msg(left <= 0, "a failed seed left %lld rows", left);
	/* a later start with a good seed seeds it (ids 10 .. 12: no row of the bad seed remains) */
	write_users_seed("good.json", 10, 3, good, sizeof(good));
	s = open_users(good);
	ck_assert_int_eq(store_count(s), 3);
	assert_user(s, 10, "seed10", "Seed 10", "bio of 10");
	assert_user(s, 12, "seed12", "Seed 12", "bio of 12");
	{
		ProtobufCMessage *msg = NULL;
		ck_assert_int_eq(store_get(s, 1, &msg, err, sizeof(err)), STORE_NOT_FOUND);
	}
	store_close(s);
}

/* ---- open and seed -------------------------------------------------------------------------- */

START_TEST(test_store_open_creates_dir_0700_and_db_file)
{
	struct stat st;
	char dbpath[256];
	store *s;
	ck_assert_int_eq(stat(datadir, &st), -1);
	s = open_users(NULL);
	ck_assert_int_eq(stat(datadir, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_msg((st.st_mode & 07777) == 0700, "mode %o", (unsigned)(st.st_mode & 07777));
	snprintf(dbpath, sizeof(dbpath), "%s/users.db", datadir);
	ck_assert_int_eq(stat(dbpath, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_gt(st.st_size, 0);
	store_close(s);
	ck_assert_str_eq(journal_mode(dbpath), "wal");
	/* a second store keeps its own file in the same directory */
	s = open_posts(NULL);
	snprintf(dbpath, sizeof(dbpath), "%s/posts.db", datadir);
	ck_assert_int_eq(stat(dbpath, &st), 0);
	store_close(s);
}
END_TEST

START_TEST(test_store_open_seeds_on_first_open_only)
{
	char seed[256];
	store *s;
	write_users_seed("users.json", 1, 3, seed, sizeof(seed));
	s = open_users(seed);
	ck_assert_int_eq(store_count(s), 3);
	assert_user(s, 1, "seed1", "Seed 1", "bio of 1");
	assert_user(s, 3, "seed3", "Seed 3", "bio of 3");
	store_close(s);

	write_users_seed("users.json", 1, 5, seed, sizeof(seed));
	s = open_users(seed);
	ck_assert_int_eq(store_count(s), 3);
	{
		ProtobufCMessage *msg = NULL;
		char err[512] = "";
		ck_assert_int_eq(store_get(s, 4, &msg, err, sizeof(err)), STORE_NOT_FOUND);
		ck_assert_int_eq(store_get(s, 5, &msg, err, sizeof(err)), STORE_NOT_FOUND);
	}
	store_close(s);
}
END_TEST

START_TEST(test_store_open_without_seed_starts_empty)
{
	store *s = open_users(NULL);
	int64_t ids[4], next = -1;
	ck_assert_int_eq(store_count(s), 0);
	ck_assert_uint_eq(list_ids(s, NULL, 0, 0, 0, ids, 4, &next), 0);
	ck_assert_int_eq(next, 0);
	/* the first id is 1 */
	ck_assert_int_eq(insert_user(s, "first", "First", ""), 1);
	store_close(s);
}
END_TEST

START_TEST(test_store_seed_duplicate_id_fails)
{
	assert_seed_fails("[{\"id\": 1, \"username\": \"a\", \"name\": \"A\"},\n"
			  " {\"id\": 2, \"username\": \"b\", \"name\": \"B\"},\n"
			  " {\"id\": 2, \"username\": \"c\", \"name\": \"C\"}]",
			  "not unique");
}
END_TEST

START_TEST(test_store_seed_duplicate_unique_value_fails)
{
	assert_seed_fails("[{\"id\": 1, \"username\": \"same\", \"name\": \"A\"},\n"
			  " {\"id\": 2, \"username\": \"same\", \"name\": \"B\"}]",
			  "username is not unique");
}
END_TEST

START_TEST(test_store_seed_id_not_positive_fails)
{
	assert_seed_fails("[{\"id\": 1, \"username\": \"a\", \"name\": \"A\"},\n"
			  " {\"id\": 0, \"username\": \"b\", \"name\": \"B\"}]",
			  "not positive");
	harness_rmtree(datadir);
	assert_seed_fails("[{\"id\": 1, \"username\": \"a\", \"name\": \"A\"},\n"
			  " {\"id\": -4, \"username\": \"b\", \"name\": \"B\"}]",
			  "not positive");
	harness_rmtree(datadir);
	/* a missing id is 0 */
	assert_seed_fails("[{\"username\": \"a\", \"name\": \"A\"}]", "not positive");
}
END_TEST

START_TEST(test_store_seed_malformed_json_fails)
{
	char path[256], where[300];
	snprintf(path, sizeof(path), "%s/bad.json", tmpdir);
	snprintf(where, sizeof(where), "%s:3:", path); /* the file and the line */
	assert_seed_fails("[\n  {\"id\": 1, \"username\": \"a\"},\n  {\"id\": }\n]\n", where);
	harness_rmtree(datadir);
	assert_seed_fails("{\"id\": 1}", path); /* not an array */
}
END_TEST

START_TEST(test_store_seed_unknown_field_fails)
{
	assert_seed_fails("[{\"id\": 1, \"username\": \"a\", \"name\": \"A\"},\n"
			  " {\"id\": 2, \"username\": \"b\", \"nmae\": \"typo\"}]",
			  "nmae");
}
END_TEST

START_TEST(test_store_seed_missing_file_fails)
{
	char path[256], err[512] = "";
	store *s = NULL;
	store_opts o;
	snprintf(path, sizeof(path), "%s/none.json", tmpdir);
	o = users_opts(path);
	ck_assert_int_eq(store_open(&s, &o, err, sizeof(err)), STORE_ERROR);
	ck_assert_msg(strstr(err, path) != NULL, "%s", err);
}
END_TEST

/* ---- get ------------------------------------------------------------------------------------ */

START_TEST(test_store_get_hit_copies_every_field)
{
	char seed[256], err[512] = "";
	ProtobufCMessage *a = NULL, *b = NULL;
	Users__User *ua, *ub;
	store *s;
	write_users_seed("users.json", 1, 3, seed, sizeof(seed));
	s = open_users(seed);
	ck_assert_int_eq(store_get(s, 2, &a, err, sizeof(err)), STORE_OK);
	ck_assert_int_eq(store_get(s, 2, &b, err, sizeof(err)), STORE_OK);
	ua = (Users__User *)a;
	ub = (Users__User *)b;
	ck_assert_ptr_eq(a->descriptor, &users__user__descriptor);
	ck_assert_int_eq(ua->id, 2);
	ck_assert_str_eq(ua->username, "seed2");
	ck_assert_str_eq(ua->name, "Seed 2");
	ck_assert_str_eq(ua->bio, "bio of 2");
	/* each message owns its strings */
	ck_assert_ptr_ne(ua->username, ub->username);
	ua->username[0] = 'X';
	ck_assert_str_eq(ub->username, "seed2");
	store_close(s);
	/* and they outlive the store */
	ck_assert_str_eq(ub->name, "Seed 2");
	ck_assert_str_eq(ub->bio, "bio of 2");
	/* a message the store made round-trips through protobuf */
	{
		size_t len = protobuf_c_message_get_packed_size(b);
		uint8_t *buf = malloc(len ? len : 1);
		Users__User *back;
		ck_assert_ptr_nonnull(buf);
		protobuf_c_message_pack(b, buf);
		back = users__user__unpack(NULL, len, buf);
		ck_assert_ptr_nonnull(back);
		ck_assert_int_eq(back->id, 2);
		ck_assert_str_eq(back->username, "seed2");
		users__user__free_unpacked(back, NULL);
		free(buf);
	}
	protobuf_c_message_free_unpacked(a, NULL);
	protobuf_c_message_free_unpacked(b, NULL);
}
END_TEST

START_TEST(test_store_get_miss_is_not_found)
{
	char seed[256], err[512] = "";
	ProtobufCMessage *msg = NULL;
	store *s;
	write_users_seed("users.json", 1, 3, seed, sizeof(seed));
	s = open_users(seed);
	ck_assert_int_eq(store_get(s, 4, &msg, err, sizeof(err)), STORE_NOT_FOUND);
	ck_assert_int_eq(store_get(s, 0, &msg, err, sizeof(err)), STORE_NOT_FOUND);
	ck_assert_int_eq(store_get(s, -1, &msg, err, sizeof(err)), STORE_NOT_FOUND);
	ck_assert_int_eq(store_get(s, INT64_MAX, &msg, err, sizeof(err)), STORE_NOT_FOUND);
	/* a miss leaves the statement usable */
	assert_user(s, 3, "seed3", "Seed 3", "bio of 3");
	store_close(s);
}
END_TEST

/* A batch's reads share the snapshot of its first read: a row another instance (a second store
 * on the same files: another process's connection) commits meanwhile is seen only once the batch
 * ends, or once a write of the batch's own thread ends the snapshot. Outside a batch every read
 * is fresh. */
START_TEST(test_store_read_batch_shares_one_snapshot)
{
	char seed[256], err[512] = "";
	ProtobufCMessage *msg = NULL;
	store *a, *b;
	int64_t late, later, own;
	write_users_seed("users.json", 1, 3, seed, sizeof(seed));
	a = open_users(seed);
	b = open_users(seed);
	/* outside a batch: b's insert is seen at once */
	late = insert_user(b, "late", "Late", "");
	ck_assert_int_eq(store_count(a), 4);
	assert_user(a, late, "late", "Late", "");

	store_read_batch(a, 1);
	ck_assert_int_eq(store_count(a), 4); /* the snapshot is taken here */
	later = insert_user(b, "later", "Later", "");
	ck_assert_int_eq(store_count(a), 4);
	ck_assert_int_eq(store_get(a, later, &msg, err, sizeof(err)), STORE_NOT_FOUND);
	{
		int64_t ids[10];
		ck_assert_uint_eq(list_ids(a, NULL, 0, 0, 10, ids, 10, NULL), 4);
	}
	/* a write of the batch's thread ends the snapshot: it and the reads after it see all */
	own = insert_user(a, "own", "Own", "");
	ck_assert_int_eq(store_count(a), 6);
	assert_user(a, later, "later", "Later", "");
	insert_user(b, "last", "Last", "");
	ck_assert_int_eq(store_count(a), 6); /* a new snapshot, taken after "own" */
	store_read_batch(a, 0);
	ck_assert_int_eq(store_count(a), 7);
	assert_user(a, own, "own", "Own", "");
	/* a batch ended with no read leaves nothing open: b still writes */
	store_read_batch(a, 1);
	store_read_batch(a, 0);
	insert_user(b, "after", "After", "");
	ck_assert_int_eq(store_count(a), 8);
	store_close(a);
	store_close(b);
}
END_TEST

/* ---- insert --------------------------------------------------------------------------------- */

START_TEST(test_store_insert_assigns_ids_after_seed)
{
	char seed[256], err[512] = "";
	Users__User u = users_row("new", "New User", "hello");
	ProtobufCMessage *created = NULL;
	Users__User *c;
	int replayed = -1;
	store *s;
	write_users_seed("users.json", 1, 3, seed, sizeof(seed));
	s = open_users(seed);
	u.id = 77; /* ignored: the store assigns ids */
	ck_assert_int_eq(store_insert(s, &u.base, NULL, &created, &replayed, err, sizeof(err)),
			 STORE_OK);
	ck_assert_int_eq(replayed, 0);
	c = (Users__User *)created;
	ck_assert_ptr_eq(created->descriptor, &users__user__descriptor);
	ck_assert_int_eq(c->id, 4);
	ck_assert_str_eq(c->username, "new");
	ck_assert_str_eq(c->name, "New User");
	ck_assert_str_eq(c->bio, "hello");
	ck_assert_ptr_ne(c->username, u.username);
	protobuf_c_message_free_unpacked(created, NULL);
	ck_assert_int_eq(insert_user(s, "next", "Next", ""), 5);
	assert_user(s, 4, "new", "New User", "hello");
	assert_user(s, 5, "next", "Next", "");
	ck_assert_int_eq(store_count(s), 5);
	store_close(s);
}
END_TEST

START_TEST(test_store_insert_after_sparse_seed_uses_highest_id)
{
	char seed[256];
	store *s;
	write_file("users.json",
		   "[{\"id\": 40, \"username\": \"a\", \"name\": \"A\"},\n"
		   " {\"id\": 7, \"username\": \"b\", \"name\": \"B\"}]",
		   seed, sizeof(seed));
	s = open_users(seed);
	ck_assert_int_eq(insert_user(s, "c", "C", ""), 41);
	store_close(s);
}
END_TEST

START_TEST(test_store_insert_unique_clash_is_exists)
{
	char seed[256], err[512] = "";
	Users__User u = users_row("seed2", "Someone Else", "");
	ProtobufCMessage *created = NULL;
	int replayed = -1;
	int64_t ids[8];
	store *s;
	write_users_seed("users.json", 1, 3, seed, sizeof(seed));
	s = open_users(seed);
	ck_assert_int_eq(store_insert(s, &u.base, NULL, &created, &replayed, err, sizeof(err)),
			 STORE_EXISTS);
	ck_assert_msg(strstr(err, "username") != NULL, "%s", err);
	ck_assert_int_eq(store_count(s), 3);
	ck_assert_uint_eq(list_ids(s, NULL, 0, 0, 0, ids, 8, NULL), 3);
	assert_user(s, 2, "seed2", "Seed 2", "bio of 2");
	/* a clash on a row this store inserted, too; and the store goes on working */
	ck_assert_int_gt(insert_user(s, "fresh", "Fresh", ""), 3);
	u = users_row("fresh", "Again", "");
	err[0] = '\0';
	ck_assert_int_eq(store_insert(s, &u.base, NULL, &created, &replayed, err, sizeof(err)),
			 STORE_EXISTS);
	ck_assert_msg(strstr(err, "username") != NULL, "%s", err);
	ck_assert_int_eq(store_count(s), 4);
	/* non-unique fields may repeat */
	ck_assert_int_gt(insert_user(s, "other", "Fresh", "bio of 2"), 4);
	ck_assert_int_eq(store_count(s), 5);
	store_close(s);
}
END_TEST

/* ---- idempotency keys ----------------------------------------------------------------------- */

/* insert_keyed inserts username under key (method, key_text) with a CreateUserRequest made of
 * request_username; returns the result, the created id (0 if none) and replayed. */
static store_result insert_keyed(store *s, const char *method, const char *key_text,
				 const char *request_username, const char *username, int64_t *id,
				 int *replayed, char *err, size_t errlen)
{
	Users__CreateUserRequest req = USERS__CREATE_USER_REQUEST__INIT;
	Users__User u = users_row(username, "Keyed", "");
	store_key key = {method, key_text, &req.base};
	ProtobufCMessage *created = NULL;
	store_result r;
	req.username = (char *)request_username;
	req.name = (char *)"Keyed";
	*replayed = -1;
	r = store_insert(s, &u.base, &key, &created, replayed, err, errlen);
	*id = 0;
	if (r == STORE_OK) {
		ck_assert_ptr_nonnull(created);
		*id = ((Users__User *)created)->id;
		protobuf_c_message_free_unpacked(created, NULL);
	}
	return r;
}

/* replay_keyed looks the key up; returns the result and the replayed id (0 if none). */
static store_result replay_keyed(store *s, const char *method, const char *key_text,
				 const char *request_username, int64_t *id, char *err,
				 size_t errlen)
{
	Users__CreateUserRequest req = USERS__CREATE_USER_REQUEST__INIT;
	store_key key = {method, key_text, &req.base};
	ProtobufCMessage *created = NULL;
	store_result r;
	req.username = (char *)request_username;
	req.name = (char *)"Keyed";
	r = store_replay(s, &key, &created, err, errlen);
	*id = 0;
	if (r == STORE_OK) {
		ck_assert_ptr_nonnull(created);
		*id = ((Users__User *)created)->id;
		ck_assert_str_eq(((Users__User *)created)->name, "Keyed");
		protobuf_c_message_free_unpacked(created, NULL);
	}
	return r;
}

START_TEST(test_store_insert_key_first_use_stores)
{
	char seed[256], err[512] = "";
	int64_t id;
	int replayed;
	store *s;
	write_users_seed("users.json", 1, 3, seed, sizeof(seed));
	s = open_users(seed);
	ck_assert_int_eq(
	    insert_keyed(s, "Create", "k1", "alice", "alice", &id, &replayed, err, sizeof(err)),
	    STORE_OK);
	ck_assert_int_eq(replayed, 0);
	ck_assert_int_eq(id, 4);
	ck_assert_int_eq(store_count(s), 4);
	assert_user(s, 4, "alice", "Keyed", "");
	store_close(s);
}
END_TEST

START_TEST(test_store_insert_key_repeat_replays)
{
	char seed[256], err[512] = "";
	int64_t id, again;
	int replayed;
	store *s;
	write_users_seed("users.json", 1, 3, seed, sizeof(seed));
	s = open_users(seed);
	ck_assert_int_eq(
	    insert_keyed(s, "Create", "k1", "alice", "alice", &id, &replayed, err, sizeof(err)),
	    STORE_OK);
	ck_assert_int_eq(replayed, 0);
	ck_assert_int_eq(
	    insert_keyed(s, "Create", "k1", "alice", "alice", &again, &replayed, err, sizeof(err)),
	    STORE_OK);
	ck_assert_int_eq(replayed, 1);
	ck_assert_int_eq(again, id);
	ck_assert_int_eq(store_count(s), 4);
	/* a replay does not insert the row it is given, even if it differs from the request */
	ck_assert_int_eq(insert_keyed(s, "Create", "k1", "alice", "mallory", &again, &replayed, err,
				      sizeof(err)),
			 STORE_OK);
	ck_assert_int_eq(replayed, 1);
	ck_assert_int_eq(again, id);
	ck_assert_int_eq(store_count(s), 4);
	assert_user(s, id, "alice", "Keyed", "");
	store_close(s);

	/* the key outlives the process */
	s = open_users(seed);
	ck_assert_int_eq(
	    insert_keyed(s, "Create", "k1", "alice", "alice", &again, &replayed, err, sizeof(err)),
	    STORE_OK);
	ck_assert_int_eq(replayed, 1);
	ck_assert_int_eq(again, id);
	ck_assert_int_eq(store_count(s), 4);
	store_close(s);
}
END_TEST

/* store_insert_many: one transaction, each item's own outcome: new rows, a clash, a key used
 * twice in the batch (the second replays the first), a key used with another request, and a
 * key recorded before the batch. */
START_TEST(test_store_insert_many_each_item_its_outcome)
{
	char seed[256], err[512] = "";
	Users__CreateUserRequest req[6];
	Users__User rows[6];
	store_key keys[6];
	store_insert_item items[6];
	const char *names[6] = {"bob", "seed2", "carol", "carol", "dave", "erin"};
	const char *key_text[6] = {NULL, NULL, "kc", "kc", "kc", "k0"};
	const char *req_name[6] = {"bob", "seed2", "carol", "carol", "dave", "zed"};
	int64_t id0, ids[16];
	int replayed;
	store *s;
	write_users_seed("users.json", 1, 3, seed, sizeof(seed));
	s = open_users(seed);
	ck_assert_int_eq(
	    insert_keyed(s, "Create", "k0", "zed", "zed", &id0, &replayed, err, sizeof(err)),
	    STORE_OK);
	memset(items, 0, sizeof(items));
	for (int i = 0; i < 6; i++) {
		Users__CreateUserRequest r = USERS__CREATE_USER_REQUEST__INIT;
		req[i] = r;
		req[i].username = (char *)req_name[i];
		req[i].name = (char *)"Keyed";
		rows[i] = users_row(names[i], "Keyed", "");
		keys[i] = (store_key){"Create", key_text[i], &req[i].base};
		items[i].row = &rows[i].base;
		items[i].key = key_text[i] != NULL ? &keys[i] : NULL;
	}
	ck_assert_int_eq(store_insert_many(s, items, 6, err, sizeof(err)), STORE_OK);
	/* bob: new */
	ck_assert_int_eq(items[0].result, STORE_OK);
	ck_assert_int_eq(items[0].replayed, 0);
	ck_assert_str_eq(((Users__User *)items[0].created)->username, "bob");
	/* seed2: taken */
	ck_assert_int_eq(items[1].result, STORE_EXISTS);
	ck_assert_ptr_null(items[1].created);
	ck_assert_msg(strstr(items[1].err, "username") != NULL, "%s", items[1].err);
	/* carol twice under kc: one row, the second the first's replay */
	ck_assert_int_eq(items[2].result, STORE_OK);
	ck_assert_int_eq(items[2].replayed, 0);
	ck_assert_int_eq(items[3].result, STORE_OK);
	ck_assert_int_eq(items[3].replayed, 1);
	ck_assert_int_eq(((Users__User *)items[3].created)->id,
			 ((Users__User *)items[2].created)->id);
	/* kc with another request */
	ck_assert_int_eq(items[4].result, STORE_CONFLICT);
	ck_assert_ptr_null(items[4].created);
	/* k0, recorded before: its row, not erin */
	ck_assert_int_eq(items[5].result, STORE_OK);
	ck_assert_int_eq(items[5].replayed, 1);
	ck_assert_int_eq(((Users__User *)items[5].created)->id, id0);
	for (int i = 0; i < 6; i++)
		if (items[i].created != NULL)
			protobuf_c_message_free_unpacked(items[i].created, NULL);
	/* 3 seeded, zed, bob, carol */
	ck_assert_int_eq(store_count(s), 6);
	ck_assert_uint_eq(list_ids(s, NULL, 0, 0, 0, ids, 16, NULL), 6);
	store_close(s);

	/* committed: all of it outlives the process */
	s = open_users(seed);
	ck_assert_int_eq(store_count(s), 6);
	ck_assert_int_eq(
	    insert_keyed(s, "Create", "kc", "carol", "carol", &id0, &replayed, err, sizeof(err)),
	    STORE_OK);
	ck_assert_int_eq(replayed, 1);
	store_close(s);
}
END_TEST

START_TEST(test_store_insert_key_other_request_conflicts)
{
	char seed[256], err[512] = "";
	int64_t id, other;
	int replayed;
	store *s;
	write_users_seed("users.json", 1, 3, seed, sizeof(seed));
	s = open_users(seed);
	ck_assert_int_eq(
	    insert_keyed(s, "Create", "k1", "alice", "alice", &id, &replayed, err, sizeof(err)),
	    STORE_OK);
	err[0] = '\0';
	ck_assert_int_eq(
	    insert_keyed(s, "Create", "k1", "bob", "bob", &other, &replayed, err, sizeof(err)),
	    STORE_CONFLICT);
	ck_assert_int_eq(replayed, 0);
	ck_assert_msg(strstr(err, "k1") != NULL, "%s", err);
	ck_assert_int_eq(store_count(s), 4);
	/* bob was not added; the key still replays alice */
	ck_assert_int_eq(
	    insert_keyed(s, "Create", "k2", "bob", "bob", &other, &replayed, err, sizeof(err)),
	    STORE_OK);
	ck_assert_int_eq(replayed, 0);
	ck_assert_int_eq(
	    insert_keyed(s, "Create", "k1", "alice", "alice", &other, &replayed, err, sizeof(err)),
	    STORE_OK);
	ck_assert_int_eq(replayed, 1);
	ck_assert_int_eq(other, id);
	ck_assert_int_eq(store_count(s), 5);
	store_close(s);
}
END_TEST

START_TEST(test_store_insert_key_per_method)
{
	char seed[256], err[512] = "";
	int64_t a, b;
	int replayed;
	store *s;
	write_users_seed("users.json", 1, 3, seed, sizeof(seed));
	s = open_users(seed);
	ck_assert_int_eq(
	    insert_keyed(s, "Create", "k1", "alice", "alice", &a, &replayed, err, sizeof(err)),
	    STORE_OK);
	/* the same key and even the same request under another method is a new key */
	ck_assert_int_eq(
	    insert_keyed(s, "Import", "k1", "alice", "alice2", &b, &replayed, err, sizeof(err)),
	    STORE_OK);
	ck_assert_int_eq(replayed, 0);
	ck_assert_int_ne(a, b);
	ck_assert_int_eq(store_count(s), 5);
	/* and each replays its own row */
	ck_assert_int_eq(
	    insert_keyed(s, "Import", "k1", "alice", "alice2", &b, &replayed, err, sizeof(err)),
	    STORE_OK);
	ck_assert_int_eq(replayed, 1);
	assert_user(s, b, "alice2", "Keyed", "");
	ck_assert_int_eq(replay_keyed(s, "Create", "k1", "alice", &a, err, sizeof(err)), STORE_OK);
	assert_user(s, a, "alice", "Keyed", "");
	/* a different request under the other method does not conflict with this one */
	ck_assert_int_eq(
	    insert_keyed(s, "Delete", "k1", "bob", "bob", &b, &replayed, err, sizeof(err)),
	    STORE_OK);
	ck_assert_int_eq(replayed, 0);
	ck_assert_int_eq(store_count(s), 6);
	store_close(s);
}
END_TEST

START_TEST(test_store_replay_looks_up_without_writing)
{
	char seed[256], err[512] = "";
	int64_t id, got;
	int replayed;
	store *s;
	write_users_seed("users.json", 1, 3, seed, sizeof(seed));
	s = open_users(seed);
	ck_assert_int_eq(replay_keyed(s, "Create", "k1", "alice", &got, err, sizeof(err)),
			 STORE_NOT_FOUND);
	ck_assert_int_eq(store_count(s), 3);
	/* the lookup recorded nothing: the key's first insert is not a replay */
	ck_assert_int_eq(
	    insert_keyed(s, "Create", "k1", "alice", "alice", &id, &replayed, err, sizeof(err)),
	    STORE_OK);
	ck_assert_int_eq(replayed, 0);
	ck_assert_int_eq(replay_keyed(s, "Create", "k1", "alice", &got, err, sizeof(err)),
			 STORE_OK);
	ck_assert_int_eq(got, id);
	err[0] = '\0';
	ck_assert_int_eq(replay_keyed(s, "Create", "k1", "bob", &got, err, sizeof(err)),
			 STORE_CONFLICT);
	ck_assert_msg(strstr(err, "k1") != NULL, "%s", err);
	ck_assert_int_eq(replay_keyed(s, "Other", "k1", "alice", &got, err, sizeof(err)),
			 STORE_NOT_FOUND);
	ck_assert_int_eq(replay_keyed(s, "Create", "k2", "alice", &got, err, sizeof(err)),
			 STORE_NOT_FOUND);
	ck_assert_int_eq(store_count(s), 4);
	/* a conflicting lookup changed nothing: the key still replays alice */
	ck_assert_int_eq(
	    insert_keyed(s, "Create", "k1", "alice", "alice", &got, &replayed, err, sizeof(err)),
	    STORE_OK);
	ck_assert_int_eq(replayed, 1);
	ck_assert_int_eq(got, id);
	ck_assert_int_eq(store_count(s), 4);
	store_close(s);
}
END_TEST

START_TEST(test_store_insert_key_unique_clash_records_no_key)
{
	char seed[256], err[512] = "";
	int64_t id;
	int replayed;
	store *s;
	write_users_seed("users.json", 1, 3, seed, sizeof(seed));
	s = open_users(seed);
	ck_assert_int_eq(
	    insert_keyed(s, "Create", "k1", "seed1", "seed1", &id, &replayed, err, sizeof(err)),
	    STORE_EXISTS);
	ck_assert_int_eq(replay_keyed(s, "Create", "k1", "seed1", &id, err, sizeof(err)),
			 STORE_NOT_FOUND);
	ck_assert_int_eq(store_count(s), 3);
	store_close(s);
}
END_TEST

/* ---- list ----------------------------------------------------------------------------------- */

#define POSTS_MAX 32

/* posts_fixture: the posts every list test starts from, known by id, thread and user. */
typedef struct posts_fixture {
	store *s;
	char seed[256];
	size_t n;
	int64_t id[POSTS_MAX], thread[POSTS_MAX], user[POSTS_MAX]; /* in id order */
} posts_fixture;

/* posts_fixture_open seeds 3 posts out of id order (7, 2, 5) and inserts 9 more (8 .. 16):
 * threads 1 .. 3 (none in thread 4), users 10 and 20 (none of user 30). */
static void posts_fixture_open(posts_fixture *f)
{
	static const int64_t seed_id[] = {2, 5, 7}, seed_thread[] = {2, 1, 1},
			     seed_user[] = {20, 20, 10};
	char err[512];
	memset(f, 0, sizeof(*f));
	write_file("posts.json",
		   "[{\"id\": 7, \"thread\": 1, \"text\": \"seven\", \"user\": 10},\n"
		   " {\"id\": 2, \"thread\": 2, \"text\": \"two\", \"user\": 20},\n"
		   " {\"id\": 5, \"thread\": 1, \"text\": \"five\", \"user\": 20}]",
		   f->seed, sizeof(f->seed));
	f->s = open_posts(f->seed);
	for (size_t k = 0; k < 3; k++) {
		f->id[k] = seed_id[k];
		f->thread[k] = seed_thread[k];
		f->user[k] = seed_user[k];
	}
	f->n = 3;
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
		    store_insert(f->s, &p.base, NULL, &created, &replayed, err, sizeof(err)),
		    STORE_OK);
		f->id[f->n] = ((Posts__Post *)created)->id;
		ck_assert_int_eq(f->id[f->n], 8 + i);
		ck_assert_int_eq(((Posts__Post *)created)->thread, p.thread);
		ck_assert_int_eq(((Posts__Post *)created)->user, p.user);
		ck_assert_str_eq(((Posts__Post *)created)->text, text);
		f->thread[f->n] = p.thread;
		f->user[f->n] = p.user;
		f->n++;
		protobuf_c_message_free_unpacked(created, NULL);
	}
}

/* posts_expected fills ids with the fixture's ids matching field == value (field NULL: all),
 * above after, in id order; returns how many. */
static size_t posts_expected(const posts_fixture *f, const char *field, int64_t value,
			     int64_t after, int64_t *ids)
{
	size_t n = 0;
	for (size_t i = 0; i < f->n; i++) {
		if (f->id[i] <= after)
			continue;
		if (field != NULL && strcmp(field, "thread") == 0 && f->thread[i] != value)
			continue;
		if (field != NULL && strcmp(field, "user") == 0 && f->user[i] != value)
			continue;
		ids[n++] = f->id[i];
	}
	return n;
}

/* assert_ids asserts got[0 .. ngot) equals want[0 .. nwant). */
static void assert_ids(const char *what, const int64_t *got, size_t ngot, const int64_t *want,
		       size_t nwant)
{
	ck_assert_msg(ngot == nwant, "%s: %zu rows, want %zu", what, ngot, nwant);
	for (size_t i = 0; i < ngot; i++)
		ck_assert_msg(got[i] == want[i], "%s: row %zu has id %" PRId64 ", want %" PRId64,
			      what, i, got[i], want[i]);
}

/* assert_list asserts an unlimited list of field == value after after is what the fixture
 * holds. */
static void assert_list(posts_fixture *f, const char *field, int64_t value, int64_t after)
{
	int64_t got[POSTS_MAX], want[POSTS_MAX], next = -1;
	char what[96];
	size_t n = list_ids(f->s, field, value, after, 0, got, POSTS_MAX, &next);
	snprintf(what, sizeof(what), "%s = %" PRId64 " after %" PRId64, field ? field : "(all)",
		 value, after);
	assert_ids(what, got, n, want, posts_expected(f, field, value, after, want));
	ck_assert_int_eq(next, 0);
}

START_TEST(test_store_list_all_in_id_order)
{
	posts_fixture f;
	store_rows rows;
	char err[512] = "";
	int64_t want[] = {2, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	posts_fixture_open(&f);
	assert_list(&f, NULL, 0, 0);
	/* the value is ignored without a field */
	assert_list(&f, NULL, 3, 0);
	/* rows come back whole */
	ck_assert_int_eq(store_list(f.s, NULL, 0, 0, 0, &rows, err, sizeof(err)), STORE_OK);
	ck_assert_uint_eq(rows.n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < rows.n; i++) {
		Posts__Post *p = (Posts__Post *)rows.items[i];
		ck_assert_ptr_eq(rows.items[i]->descriptor, &posts__post__descriptor);
		ck_assert_int_eq(p->id, want[i]);
		ck_assert_int_eq(p->thread, f.thread[i]);
		ck_assert_int_eq(p->user, f.user[i]);
		ck_assert_ptr_nonnull(p->text);
	}
	ck_assert_str_eq(((Posts__Post *)rows.items[0])->text, "two");
	ck_assert_str_eq(((Posts__Post *)rows.items[2])->text, "seven");
	ck_assert_str_eq(((Posts__Post *)rows.items[3])->text, "post 0");
	ck_assert_int_eq(rows.next_after, 0);
	store_rows_free(&rows);
	ck_assert_ptr_null(rows.items);
	ck_assert_uint_eq(rows.n, 0);
	store_close(f.s);
}
END_TEST

START_TEST(test_store_list_by_thread_and_user)
{
	posts_fixture f;
	int64_t got[POSTS_MAX], next;
	static const int64_t thread1[] = {5, 7, 8, 11, 14}, user20[] = {2, 5, 9, 11, 13, 15},
			     thread3[] = {10, 13, 16};
	posts_fixture_open(&f);
	assert_list(&f, "thread", 1, 0);
	assert_list(&f, "thread", 2, 0);
	assert_list(&f, "thread", 3, 0);
	assert_list(&f, "user", 10, 0);
	assert_list(&f, "user", 20, 0);
	/* pinned, not only computed */
	assert_ids("thread 1", got, list_ids(f.s, "thread", 1, 0, 0, got, POSTS_MAX, &next),
		   thread1, 5);
	assert_ids("user 20", got, list_ids(f.s, "user", 20, 0, 0, got, POSTS_MAX, &next), user20,
		   6);
	assert_ids("thread 3", got, list_ids(f.s, "thread", 3, 0, 0, got, POSTS_MAX, &next),
		   thread3, 3);
	store_close(f.s);
}
END_TEST

START_TEST(test_store_list_after_skips_lower_ids)
{
	posts_fixture f;
	int64_t got[POSTS_MAX], next;
	posts_fixture_open(&f);
	for (int64_t after = 0; after <= 17; after++) {
		assert_list(&f, NULL, 0, after);
		assert_list(&f, "thread", 1, after);
		assert_list(&f, "user", 20, after);
	}
	ck_assert_uint_eq(list_ids(f.s, NULL, 0, 16, 0, got, POSTS_MAX, &next), 0);
	ck_assert_uint_eq(list_ids(f.s, NULL, 0, -5, 0, got, POSTS_MAX, &next), 12);
	store_close(f.s);
}
END_TEST

START_TEST(test_store_list_limit_pages_next_after)
{
	posts_fixture f;
	int64_t got[POSTS_MAX], next = -1;
	static const int64_t p1[] = {2, 5, 7}, p2[] = {8, 9, 10}, last[] = {14, 15, 16},
			     t1[] = {5, 7}, t1_last[] = {14};
	posts_fixture_open(&f);
	assert_ids("page 1", got, list_ids(f.s, NULL, 0, 0, 3, got, POSTS_MAX, &next), p1, 3);
	ck_assert_int_eq(next, 7);
	assert_ids("page 2", got, list_ids(f.s, NULL, 0, next, 3, got, POSTS_MAX, &next), p2, 3);
	ck_assert_int_eq(next, 10);
	/* a last page that is full: no more rows, so next_after is 0 */
	assert_ids("last page", got, list_ids(f.s, NULL, 0, 13, 3, got, POSTS_MAX, &next), last, 3);
	ck_assert_int_eq(next, 0);
	/* a short last page */
	ck_assert_uint_eq(list_ids(f.s, NULL, 0, 14, 3, got, POSTS_MAX, &next), 2);
	ck_assert_int_eq(next, 0);
	/* a limit as large as the table */
	ck_assert_uint_eq(list_ids(f.s, NULL, 0, 0, 12, got, POSTS_MAX, &next), 12);
	ck_assert_int_eq(next, 0);
	ck_assert_uint_eq(list_ids(f.s, NULL, 0, 0, 11, got, POSTS_MAX, &next), 11);
	ck_assert_int_eq(next, 15);
	/* pages of an index */
	assert_ids("thread 1 page", got, list_ids(f.s, "thread", 1, 0, 2, got, POSTS_MAX, &next),
		   t1, 2);
	ck_assert_int_eq(next, 7);
	assert_ids("thread 1 last", got, list_ids(f.s, "thread", 1, 11, 2, got, POSTS_MAX, &next),
		   t1_last, 1);
	ck_assert_int_eq(next, 0);
	/* limit 1 */
	ck_assert_uint_eq(list_ids(f.s, "user", 10, 0, 1, got, POSTS_MAX, &next), 1);
	ck_assert_int_eq(got[0], 7);
	ck_assert_int_eq(next, 7);
	store_close(f.s);
}
END_TEST

/* walk_pages lists field == value in pages of limit from after 0 and asserts it visits every
 * row the fixture holds exactly once, in id order, with a next_after naming each page's end. */
static void walk_pages(posts_fixture *f, const char *field, int64_t value, int32_t limit)
{
	int64_t seen[POSTS_MAX], want[POSTS_MAX], page[POSTS_MAX], after = 0, next;
	size_t nseen = 0, nwant = posts_expected(f, field, value, 0, want);
	char what[96];
	int pages = 0;
	snprintf(what, sizeof(what), "walk %s = %" PRId64 " by %d", field ? field : "(all)", value,
		 (int)limit);
	do {
		size_t n = list_ids(f->s, field, value, after, limit, page, POSTS_MAX, &next);
		ck_assert_msg(++pages <= POSTS_MAX + 1, "%s: too many pages", what);
		ck_assert_uint_le(n, (size_t)limit);
		if (next != 0) {
			ck_assert_msg(n == (size_t)limit, "%s: a short page with next_after", what);
			ck_assert_int_eq(next, page[n - 1]);
		}
		ck_assert_uint_le(nseen + n, POSTS_MAX);
		memcpy(seen + nseen, page, n * sizeof(page[0]));
		nseen += n;
		after = next;
	} while (after != 0);
	assert_ids(what, seen, nseen, want, nwant);
}

START_TEST(test_store_list_walk_pages_visits_every_row_once)
{
	posts_fixture f;
	posts_fixture_open(&f);
	walk_pages(&f, NULL, 0, 2); /* 12 rows: the last page is full */
	walk_pages(&f, "thread", 1, 2);
	walk_pages(&f, "user", 20, 2);
	walk_pages(&f, "thread", 3, 2);
	walk_pages(&f, "thread", 4, 2);
	for (int32_t limit = 1; limit <= 13; limit++) {
		walk_pages(&f, NULL, 0, limit);
		walk_pages(&f, "user", 10, limit);
	}
	store_close(f.s);
}
END_TEST

START_TEST(test_store_list_unknown_index_is_error)
{
	posts_fixture f;
	store_rows rows;
	char err[512] = "";
	posts_fixture_open(&f);
	ck_assert_int_eq(store_list(f.s, "bogus", 1, 0, 0, &rows, err, sizeof(err)), STORE_ERROR);
	ck_assert_msg(strstr(err, "bogus") != NULL, "%s", err);
	ck_assert_uint_eq(rows.n, 0);
	ck_assert_ptr_null(rows.items);
	/* fields of the row that are not indexes */
	ck_assert_int_eq(store_list(f.s, "text", 1, 0, 0, &rows, err, sizeof(err)), STORE_ERROR);
	ck_assert_int_eq(store_list(f.s, "id", 2, 0, 0, &rows, err, sizeof(err)), STORE_ERROR);
	/* the store still lists */
	assert_list(&f, "thread", 1, 0);
	store_close(f.s);
}
END_TEST

START_TEST(test_store_list_value_without_rows_is_empty)
{
	posts_fixture f;
	store_rows rows;
	char err[512] = "";
	posts_fixture_open(&f);
	ck_assert_int_eq(store_list(f.s, "thread", 4, 0, 0, &rows, err, sizeof(err)), STORE_OK);
	ck_assert_uint_eq(rows.n, 0);
	ck_assert_int_eq(rows.next_after, 0);
	store_rows_free(&rows);
	ck_assert_int_eq(store_list(f.s, "user", 30, 0, 5, &rows, err, sizeof(err)), STORE_OK);
	ck_assert_uint_eq(rows.n, 0);
	ck_assert_int_eq(rows.next_after, 0);
	store_rows_free(&rows);
	store_close(f.s);
}
END_TEST

START_TEST(test_store_list_empty_store)
{
	store *s = open_posts(NULL);
	int64_t got[4], next = -1;
	ck_assert_uint_eq(list_ids(s, NULL, 0, 0, 0, got, 4, &next), 0);
	ck_assert_int_eq(next, 0);
	ck_assert_uint_eq(list_ids(s, "thread", 1, 0, 2, got, 4, &next), 0);
	ck_assert_int_eq(next, 0);
	store_close(s);
}
END_TEST

/* ---- persistence and sharing ---------------------------------------------------------------- */

START_TEST(test_store_two_handles_share_rows)
{
	char seed[256];
	store *a, *b;
	int64_t x, y, ids[8];
	write_users_seed("users.json", 1, 3, seed, sizeof(seed));
	a = open_users(seed);
	b = open_users(seed);
	ck_assert_int_eq(store_count(b), 3); /* the second start did not seed again */
	x = insert_user(a, "via_a", "Via A", "a");
	assert_user(b, x, "via_a", "Via A", "a");
	y = insert_user(b, "via_b", "Via B", "b");
	ck_assert_int_gt(y, x);
	assert_user(a, y, "via_b", "Via B", "b");
	ck_assert_int_eq(store_count(a), 5);
	ck_assert_int_eq(store_count(b), 5);
	ck_assert_uint_eq(list_ids(a, NULL, 0, 3, 0, ids, 8, NULL), 2);
	ck_assert_int_eq(ids[0], x);
	ck_assert_int_eq(ids[1], y);
	/* uniqueness holds across handles */
	{
		Users__User u = users_row("via_a", "Clash", "");
		ProtobufCMessage *created = NULL;
		int replayed;
		char err[512] = "";
		ck_assert_int_eq(
		    store_insert(b, &u.base, NULL, &created, &replayed, err, sizeof(err)),
		    STORE_EXISTS);
	}
	/* one handle closing leaves the other working */
	store_close(a);
	ck_assert_int_gt(insert_user(b, "after_close", "After", ""), y);
	ck_assert_int_eq(store_count(b), 6);
	store_close(b);
}
END_TEST

START_TEST(test_store_rows_survive_reopen)
{
	char seed[256];
	store *s;
	int64_t x, y;
	write_users_seed("users.json", 1, 3, seed, sizeof(seed));
	s = open_users(seed);
	x = insert_user(s, "kept", "Kept", "still here");
	store_close(s);
	s = open_users(seed);
	ck_assert_int_eq(store_count(s), 4);
	assert_user(s, x, "kept", "Kept", "still here");
	assert_user(s, 1, "seed1", "Seed 1", "bio of 1");
	/* ids keep growing across starts */
	y = insert_user(s, "later", "Later", "");
	ck_assert_int_eq(y, x + 1);
	store_close(s);
	/* and with sync_full */
	{
		store_opts o = users_opts(seed);
		o.sync_full = 1;
		s = open_store(&o);
		ck_assert_int_eq(store_count(s), 5);
		assert_user(s, y, "later", "Later", "");
		store_close(s);
	}
}
END_TEST

#define WRITERS_EACH 200

/* child_writer runs in a forked child: opens the users store itself, says so on ready_fd, waits
 * for a byte on go_fd, inserts WRITERS_EACH users named prefix<i> and returns its exit status
 * (0, or the step that failed). */
static int child_writer(const char *seed, const char *prefix, int ready_fd, int go_fd)
{
	store_opts o = users_opts(seed);
	store *s = NULL;
	char err[512], go;
	if (store_open(&s, &o, err, sizeof(err)) != STORE_OK)
		return 2;
	if (write(ready_fd, "r", 1) != 1 || read(go_fd, &go, 1) != 1)
		return 3;
	for (int i = 0; i < WRITERS_EACH; i++) {
		char username[32], name[64];
		Users__User u;
		ProtobufCMessage *created = NULL;
		int replayed;
		snprintf(username, sizeof(username), "%s%d", prefix, i);
		snprintf(name, sizeof(name), "Writer %s", username);
		u = users_row(username, name, "");
		if (store_insert(s, &u.base, NULL, &created, &replayed, err, sizeof(err)) !=
		    STORE_OK) {
			fprintf(stderr, "child insert %s: %s\n", username, err);
			return 4;
		}
		protobuf_c_message_free_unpacked(created, NULL);
	}
	store_close(s);
	return 0;
}

/* wait_readable waits up to timeout_ms for fd to be readable; returns 1 if it is. */
static int wait_readable(int fd, int timeout_ms)
{
	struct pollfd p = {fd, POLLIN, 0};
	int r;
	do {
		r = poll(&p, 1, timeout_ms);
	} while (r < 0 && errno == EINTR);
	return r > 0;
}

START_TEST(test_store_two_processes_insert_concurrently)
{
	char seed[256], status_text[32], ready;
	int ready_pipe[2], go_pipe[2], status;
	static int64_t ids[3 + 2 * WRITERS_EACH + 1];
	static char seen[2][WRITERS_EACH];
	store_rows rows;
	char err[512] = "";
	store *s;
	pid_t pid;
	write_users_seed("users.json", 1, 3, seed, sizeof(seed));
	/* create and seed it first, then close: the child must not inherit an open connection */
	s = open_users(seed);
	store_close(s);

	ck_assert_int_eq(pipe(ready_pipe), 0);
	ck_assert_int_eq(pipe(go_pipe), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(ready_pipe[0]);
		close(go_pipe[1]);
		_exit(child_writer(seed, "child", ready_pipe[1], go_pipe[0]));
	}
	close(ready_pipe[1]);
	close(go_pipe[0]);
	s = open_users(seed);
	ck_assert_msg(wait_readable(ready_pipe[0], 20000), "the child did not open the store");
	ck_assert_int_eq(read(ready_pipe[0], &ready, 1), 1);
	ck_assert_int_eq(write(go_pipe[1], "g", 1), 1);
	for (int i = 0; i < WRITERS_EACH; i++) {
		char username[32], name[64];
		snprintf(username, sizeof(username), "parent%d", i);
		snprintf(name, sizeof(name), "Writer %s", username);
		ck_assert_int_gt(insert_user(s, username, name, ""), 3);
	}
	status = harness_wait(pid, 40000);
	if (status == -1)
		harness_stop(pid, SIGKILL, 1000);
	harness_describe_status(status, status_text, sizeof(status_text));
	ck_assert_msg(harness_exited_cleanly(status), "the child writer ended with %s",
		      status_text);
	close(ready_pipe[0]);
	close(go_pipe[1]);

	ck_assert_int_eq(store_count(s), 3 + 2 * WRITERS_EACH);
	ck_assert_int_eq(store_list(s, NULL, 0, 0, 0, &rows, err, sizeof(err)), STORE_OK);
	ck_assert_uint_eq(rows.n, 3 + 2 * WRITERS_EACH);
	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < rows.n; i++) {
		Users__User *u = (Users__User *)rows.items[i];
		int who = -1, k = -1;
		char name[64];
		ids[i] = u->id;
		if (i > 0)
			ck_assert_msg(ids[i] > ids[i - 1], "ids %" PRId64 " then %" PRId64,
				      ids[i - 1], ids[i]);
		if (i < 3)
			continue;
		ck_assert_int_gt(u->id, 3);
		if (sscanf(u->username, "parent%d", &k) == 1)
			who = 0;
		else if (sscanf(u->username, "child%d", &k) == 1)
			who = 1;
		ck_assert_msg(who >= 0 && k >= 0 && k < WRITERS_EACH, "row %" PRId64 ": %s", u->id,
			      u->username);
		ck_assert_msg(!seen[who][k], "%s stored twice", u->username);
		seen[who][k] = 1;
		snprintf(name, sizeof(name), "Writer %s", u->username);
		ck_assert_str_eq(u->name, name);
	}
	store_rows_free(&rows);
	/* the ids are dense: no id was handed out twice or lost */
	ck_assert_int_eq(ids[3 + 2 * WRITERS_EACH - 1], 3 + 2 * WRITERS_EACH);
	store_close(s);
}
END_TEST

/* racer_insert inserts race<i> under the key ("Create", "race<i>"), its request naming the
 * same user; returns the result and sets *id and *replayed. */
static store_result racer_insert(store *s, int i, int64_t *id, int *replayed)
{
	char username[32], err[512];
	Users__CreateUserRequest req = USERS__CREATE_USER_REQUEST__INIT;
	Users__User u;
	store_key key = {"Create", username, &req.base};
	ProtobufCMessage *created = NULL;
	store_result r;
	snprintf(username, sizeof(username), "race%d", i);
	req.username = username;
	req.name = (char *)"Racer";
	u = users_row(username, "Racer", "");
	*id = 0;
	*replayed = -1;
	r = store_insert(s, &u.base, &key, &created, replayed, err, sizeof(err));
	if (r == STORE_OK) {
		*id = ((Users__User *)created)->id;
		protobuf_c_message_free_unpacked(created, NULL);
	} else {
		fprintf(stderr, "racer insert %s: %d: %s\n", username, (int)r, err);
	}
	return r;
}

/* child_racer runs in a forked child: opens the users store, says so on fd, waits for a byte on
 * go_fd, makes the racers' inserts and writes "<i> <id> <replayed>\n" for each to fd. */
static int child_racer(const char *seed, int fd, int go_fd)
{
	store_opts o = users_opts(seed);
	store *s = NULL;
	char err[512], go;
	if (store_open(&s, &o, err, sizeof(err)) != STORE_OK)
		return 2;
	if (write(fd, "r", 1) != 1 || read(go_fd, &go, 1) != 1)
		return 3;
	for (int i = 0; i < WRITERS_EACH; i++) {
		int64_t id;
		int replayed, len;
		char line[64];
		if (racer_insert(s, i, &id, &replayed) != STORE_OK)
			return 4;
		len = snprintf(line, sizeof(line), "%d %lld %d\n", i, (long long)id, replayed);
		if (write(fd, line, (size_t)len) != len)
			return 5;
	}
	store_close(s);
	return 0;
}

START_TEST(test_store_two_processes_race_on_same_keys)
{
	char seed[256], status_text[32], ready, *text, *line;
	int up[2], go_pipe[2], status;
	static int64_t parent_id[WRITERS_EACH], child_id[WRITERS_EACH];
	static int parent_replayed[WRITERS_EACH], child_replayed[WRITERS_EACH];
	size_t have = 0, cap = 64 * WRITERS_EACH;
	int nlines = 0;
	store *s;
	pid_t pid;
	write_users_seed("users.json", 1, 3, seed, sizeof(seed));
	s = open_users(seed);
	store_close(s);

	ck_assert_int_eq(pipe(up), 0);
	ck_assert_int_eq(pipe(go_pipe), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(up[0]);
		close(go_pipe[1]);
		_exit(child_racer(seed, up[1], go_pipe[0]));
	}
	close(up[1]);
	close(go_pipe[0]);
	s = open_users(seed);
	ck_assert_msg(wait_readable(up[0], 20000), "the child did not open the store");
	ck_assert_int_eq(read(up[0], &ready, 1), 1);
	ck_assert_int_eq(write(go_pipe[1], "g", 1), 1);
	/* both insert the same users under the same keys, at the same time */
	for (int i = 0; i < WRITERS_EACH; i++)
		ck_assert_int_eq(racer_insert(s, i, &parent_id[i], &parent_replayed[i]), STORE_OK);
	status = harness_wait(pid, 40000);
	if (status == -1)
		harness_stop(pid, SIGKILL, 1000);
	harness_describe_status(status, status_text, sizeof(status_text));
	ck_assert_msg(harness_exited_cleanly(status), "the child racer ended with %s", status_text);
	close(go_pipe[1]);
	/* the child's results (well under a pipe's capacity), then end of file */
	text = malloc(cap + 1);
	ck_assert_ptr_nonnull(text);
	for (;;) {
		ssize_t r;
		ck_assert_msg(wait_readable(up[0], 5000), "no end of the child's results");
		r = read(up[0], text + have, cap - have);
		ck_assert_int_ge(r, 0);
		if (r == 0)
			break;
		have += (size_t)r;
		ck_assert_uint_lt(have, cap);
	}
	close(up[0]);
	text[have] = '\0';
	for (line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		int i, replayed;
		long long id;
		ck_assert_msg(sscanf(line, "%d %lld %d", &i, &id, &replayed) == 3, "'%s'", line);
		ck_assert_int_eq(i, nlines);
		child_id[i] = id;
		child_replayed[i] = replayed;
		nlines++;
	}
	free(text);
	ck_assert_int_eq(nlines, WRITERS_EACH);
	/* each user was made once: one of the two made it, the other got it replayed */
	for (int i = 0; i < WRITERS_EACH; i++) {
		char username[32];
		ck_assert_msg(parent_id[i] == child_id[i], "race%d: ids %" PRId64 " and %" PRId64,
			      i, parent_id[i], child_id[i]);
		ck_assert_msg(parent_replayed[i] + child_replayed[i] == 1,
			      "race%d: replayed %d and %d", i, parent_replayed[i],
			      child_replayed[i]);
		snprintf(username, sizeof(username), "race%d", i);
		assert_user(s, parent_id[i], username, "Racer", "");
	}
	ck_assert_int_eq(store_count(s), 3 + WRITERS_EACH);
	store_close(s);
}
END_TEST

#define OPEN_RACE_ROUNDS 100

START_TEST(test_store_two_processes_first_open_seed_once)
{
	char seed[256], status_text[32], ready, dir[256];
	int round;
	write_users_seed("users.json", 1, 3, seed, sizeof(seed));
	/* a fresh directory each round, the two opening it at the same moment */
	for (round = 0; round < OPEN_RACE_ROUNDS; round++) {
		int up[2], go_pipe[2], status;
		store_opts o;
		store *s = NULL;
		char err[512] = "";
		store_result r;
		pid_t pid;
		snprintf(dir, sizeof(dir), "%s/round%d", tmpdir, round);
		o = users_opts(seed);
		o.dir = dir;
		ck_assert_int_eq(pipe(up), 0);
		ck_assert_int_eq(pipe(go_pipe), 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			char go;
			int code = 0;
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			close(up[0]);
			close(go_pipe[1]);
			if (write(up[1], "r", 1) != 1 || read(go_pipe[0], &go, 1) != 1)
				_exit(3);
			if (store_open(&s, &o, err, sizeof(err)) != STORE_OK) {
				fprintf(stderr, "child store_open: %s\n", err);
				_exit(2);
			}
			if (store_count(s) != 3)
				code = 4;
			store_close(s);
			_exit(code);
		}
		close(up[1]);
		close(go_pipe[0]);
		ck_assert_msg(wait_readable(up[0], 20000), "the child did not start");
		ck_assert_int_eq(read(up[0], &ready, 1), 1);
		ck_assert_int_eq(write(go_pipe[1], "g", 1), 1);
		r = store_open(&s, &o, err, sizeof(err));
		status = harness_wait(pid, 30000);
		if (status == -1)
			harness_stop(pid, SIGKILL, 1000);
		close(up[0]);
		close(go_pipe[1]);
		ck_assert_msg(r == STORE_OK, "round %d: store_open: %s", round, err);
		harness_describe_status(status, status_text, sizeof(status_text));
		ck_assert_msg(harness_exited_cleanly(status), "round %d: the child ended with %s",
			      round, status_text);
		ck_assert_int_eq(store_count(s), 3);
		store_close(s);
	}
}
END_TEST

/* thread_insert runs in a thread: inserts a user through the store the test opened. */
static void *thread_insert(void *arg)
{
	store *s = arg;
	Users__User u = users_row("from_thread", "Thread", "");
	ProtobufCMessage *created = NULL;
	int replayed;
	char err[512];
	int64_t *id = malloc(sizeof(*id));
	if (id == NULL)
		return NULL;
	*id = 0;
	if (store_insert(s, &u.base, NULL, &created, &replayed, err, sizeof(err)) == STORE_OK) {
		*id = ((Users__User *)created)->id;
		protobuf_c_message_free_unpacked(created, NULL);
	}
	return id;
}

START_TEST(test_store_thread_uses_own_connection)
{
	char seed[256];
	pthread_t t;
	void *ret = NULL;
	int64_t id;
	store *s;
	write_users_seed("users.json", 1, 3, seed, sizeof(seed));
	s = open_users(seed);
	ck_assert_int_eq(pthread_create(&t, NULL, thread_insert, s), 0);
	ck_assert_int_eq(pthread_join(t, &ret), 0);
	ck_assert_ptr_nonnull(ret);
	id = *(int64_t *)ret;
	free(ret);
	ck_assert_int_eq(id, 4);
	/* the thread's connection was closed when it ended (AddressSanitizer checks); its row
	 * stays */
	assert_user(s, 4, "from_thread", "Thread", "");
	ck_assert_int_eq(store_count(s), 4);
	store_close(s);
}
END_TEST

#define CRASH_ACKS	   100
#define CRASH_MAX_INSERTS  100000
#define CRASH_MAX_ACKED	   32768
#define CRASH_DEADLINE_MS  30000
#define CRASH_CHILD_RUN_MS 60000

/* crash_bio fills bio with a long text made from seq, so each insert writes a few pages. */
static void crash_bio(int seq, char *bio, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++)
		bio[i] = (char)('a' + (seq + (int)i) % 26);
	bio[len - 1] = '\0';
}

/* crash_child runs in a forked child: opens the users store and inserts crash<seq> rows,
 * writing "<id> <seq>\n" to fd after each insert returned STORE_OK; stops after a bounded run.
 */
static int crash_child(const char *seed, int fd)
{
	store_opts o = users_opts(seed);
	store *s = NULL;
	char err[512];
	long long until = harness_now_ms() + CRASH_CHILD_RUN_MS;
	if (store_open(&s, &o, err, sizeof(err)) != STORE_OK)
		return 2;
	for (int seq = 0; seq < CRASH_MAX_INSERTS && harness_now_ms() < until; seq++) {
		char username[32], name[32], bio[3000], line[64];
		Users__User u;
		ProtobufCMessage *created = NULL;
		int replayed, len;
		snprintf(username, sizeof(username), "crash%d", seq);
		snprintf(name, sizeof(name), "Crash %d", seq);
		crash_bio(seq, bio, sizeof(bio));
		u = users_row(username, name, bio);
		if (store_insert(s, &u.base, NULL, &created, &replayed, err, sizeof(err)) !=
		    STORE_OK)
			return 3;
		len = snprintf(line, sizeof(line), "%lld %d\n",
			       (long long)((Users__User *)created)->id, seq);
		protobuf_c_message_free_unpacked(created, NULL);
		if (write(fd, line, (size_t)len) != len)
			return 4;
	}
	store_close(s);
	return 0;
}

START_TEST(test_store_crash_keeps_acknowledged_rows)
{
	char seed[256], dbpath[256], buf[8192], status_text[32], err[512] = "";
	static long long acked_id[CRASH_MAX_ACKED];
	static int acked_seq[CRASH_MAX_ACKED];
	size_t nacked = 0, have = 0;
	int fds[2], status, killed = 0, eof = 0;
	long long until;
	store_rows rows;
	size_t nrows;
	store *s;
	pid_t pid;
	write_users_seed("users.json", 1, 3, seed, sizeof(seed));
	s = open_users(seed);
	store_close(s);

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(fds[0]);
		_exit(crash_child(seed, fds[1]));
	}
	close(fds[1]);
	/* read acknowledgements; kill the child after CRASH_ACKS of them, then read what it had
	 * written before it died, up to end of file */
	until = harness_now_ms() + CRASH_DEADLINE_MS;
	while (!eof && harness_now_ms() < until) {
		ssize_t r;
		char *line, *nl;
		if (!wait_readable(fds[0], 100))
			continue;
		r = read(fds[0], buf + have, sizeof(buf) - 1 - have);
		if (r < 0 && errno == EINTR)
			continue;
		ck_assert_int_ge(r, 0);
		if (r == 0) {
			eof = 1;
			break;
		}
		have += (size_t)r;
		buf[have] = '\0';
		line = buf;
		while ((nl = strchr(line, '\n')) != NULL) {
			long long id;
			int seq;
			*nl = '\0';
			ck_assert_msg(sscanf(line, "%lld %d", &id, &seq) == 2, "bad line '%s'",
				      line);
			ck_assert_uint_lt(nacked, CRASH_MAX_ACKED);
			acked_id[nacked] = id;
			acked_seq[nacked] = seq;
			nacked++;
			line = nl + 1;
		}
		have = strlen(line);
		memmove(buf, line, have);
		if (!killed && nacked >= CRASH_ACKS) {
			ck_assert_int_eq(kill(pid, SIGKILL), 0);
			killed = 1;
		}
	}
	if (!killed)
		kill(pid, SIGKILL);
	status = harness_wait(pid, 10000);
	close(fds[0]);
	harness_describe_status(status, status_text, sizeof(status_text));
	ck_assert_msg(killed && eof, "only %zu acknowledgements in time", nacked);
	ck_assert_msg(status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		      "the child ended with %s, not by the kill", status_text);

	/* the database is sound */
	snprintf(dbpath, sizeof(dbpath), "%s/users.db", datadir);
	{
		sqlite3 *db = NULL;
		sqlite3_stmt *st = NULL;
		ck_assert_int_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE, NULL),
				 SQLITE_OK);
		ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
				 SQLITE_OK);
		ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
		ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	s = open_users(seed);
	/* every acknowledged row is there, whole */
	for (size_t i = 0; i < nacked; i++) {
		char username[32], name[32], bio[3000];
		ck_assert_int_eq(acked_seq[i], (int)i);
		ck_assert_int_eq(acked_id[i], 4 + (long long)i);
		snprintf(username, sizeof(username), "crash%d", acked_seq[i]);
		snprintf(name, sizeof(name), "Crash %d", acked_seq[i]);
		crash_bio(acked_seq[i], bio, sizeof(bio));
		assert_user(s, acked_id[i], username, name, bio);
	}
	/* every row present is whole; at most one was committed without its acknowledgement */
	ck_assert_int_eq(store_list(s, NULL, 0, 0, 0, &rows, err, sizeof(err)), STORE_OK);
	ck_assert_msg(rows.n >= 3 + nacked && rows.n <= 3 + nacked + 1,
		      "%zu rows after %zu acknowledged inserts", rows.n, nacked);
	ck_assert_int_eq(store_count(s), (int64_t)rows.n);
	for (size_t i = 0; i < rows.n; i++) {
		Users__User *u = (Users__User *)rows.items[i];
		ck_assert_int_eq(u->id, (int64_t)i + 1);
		ck_assert_msg(u->username[0] != '\0' && u->name[0] != '\0',
			      "row %" PRId64 " is not whole", u->id);
		if (i >= 3) {
			char name[32];
			snprintf(name, sizeof(name), "Crash %d", (int)i - 3);
			ck_assert_str_eq(u->name, name);
			ck_assert_uint_eq(strlen(u->bio), 2999);
		}
	}
	nrows = rows.n;
	store_rows_free(&rows);
	/* and the store goes on */
	ck_assert_int_eq(insert_user(s, "after_crash", "After", ""), (int64_t)nrows + 1);
	store_close(s);
}
END_TEST

/* ---- count ---------------------------------------------------------------------------------- */

START_TEST(test_store_count)
{
	char seed[256], err[512] = "";
	int64_t id;
	int replayed;
	store *s = open_users(NULL);
	ck_assert_int_eq(store_count(s), 0);
	insert_user(s, "one", "One", "");
	ck_assert_int_eq(store_count(s), 1);
	insert_user(s, "two", "Two", "");
	ck_assert_int_eq(store_count(s), 2);
	/* neither a clash nor a replay counts */
	{
		Users__User u = users_row("one", "Again", "");
		ProtobufCMessage *created = NULL;
		ck_assert_int_eq(
		    store_insert(s, &u.base, NULL, &created, &replayed, err, sizeof(err)),
		    STORE_EXISTS);
	}
	ck_assert_int_eq(
	    insert_keyed(s, "Create", "k", "three", "three", &id, &replayed, err, sizeof(err)),
	    STORE_OK);
	ck_assert_int_eq(
	    insert_keyed(s, "Create", "k", "three", "three", &id, &replayed, err, sizeof(err)),
	    STORE_OK);
	ck_assert_int_eq(replayed, 1);
	ck_assert_int_eq(store_count(s), 3);
	store_close(s);
	harness_rmtree(datadir);

	write_users_seed("users.json", 1, 7, seed, sizeof(seed));
	s = open_users(seed);
	ck_assert_int_eq(store_count(s), 7);
	store_close(s);
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *open = tcase_create("open");
	TCase *rw = tcase_create("get_insert");
	TCase *keys = tcase_create("keys");
	TCase *list = tcase_create("list");
	TCase *share = tcase_create("share");

	add_tmpdir_fixtures(open);
	tcase_add_test(open, test_store_open_creates_dir_0700_and_db_file);
	tcase_add_test(open, test_store_open_seeds_on_first_open_only);
	tcase_add_test(open, test_store_open_without_seed_starts_empty);
	tcase_add_test(open, test_store_seed_duplicate_id_fails);
	tcase_add_test(open, test_store_seed_duplicate_unique_value_fails);
	tcase_add_test(open, test_store_seed_id_not_positive_fails);
	tcase_add_test(open, test_store_seed_malformed_json_fails);
	tcase_add_test(open, test_store_seed_unknown_field_fails);
	tcase_add_test(open, test_store_seed_missing_file_fails);
	suite_add_tcase(s, open);

	add_tmpdir_fixtures(rw);
	tcase_add_test(rw, test_store_get_hit_copies_every_field);
	tcase_add_test(rw, test_store_get_miss_is_not_found);
	tcase_add_test(rw, test_store_insert_assigns_ids_after_seed);
	tcase_add_test(rw, test_store_insert_after_sparse_seed_uses_highest_id);
	tcase_add_test(rw, test_store_insert_unique_clash_is_exists);
	tcase_add_test(rw, test_store_count);
	tcase_add_test(rw, test_store_read_batch_shares_one_snapshot);
	suite_add_tcase(s, rw);

	add_tmpdir_fixtures(keys);
	tcase_add_test(keys, test_store_insert_key_first_use_stores);
	tcase_add_test(keys, test_store_insert_key_repeat_replays);
	tcase_add_test(keys, test_store_insert_many_each_item_its_outcome);
	tcase_add_test(keys, test_store_insert_key_other_request_conflicts);
	tcase_add_test(keys, test_store_insert_key_per_method);
	tcase_add_test(keys, test_store_replay_looks_up_without_writing);
	tcase_add_test(keys, test_store_insert_key_unique_clash_records_no_key);
	suite_add_tcase(s, keys);

	add_tmpdir_fixtures(list);
	tcase_add_test(list, test_store_list_all_in_id_order);
	tcase_add_test(list, test_store_list_by_thread_and_user);
	tcase_add_test(list, test_store_list_after_skips_lower_ids);
	tcase_add_test(list, test_store_list_limit_pages_next_after);
	tcase_add_test(list, test_store_list_walk_pages_visits_every_row_once);
	tcase_add_test(list, test_store_list_unknown_index_is_error);
	tcase_add_test(list, test_store_list_value_without_rows_is_empty);
	tcase_add_test(list, test_store_list_empty_store);
	suite_add_tcase(s, list);

	add_tmpdir_fixtures(share);
	tcase_set_timeout(share, 60);
	tcase_add_test(share, test_store_two_handles_share_rows);
	tcase_add_test(share, test_store_rows_survive_reopen);
	tcase_add_test(share, test_store_two_processes_insert_concurrently);
	tcase_add_test(share, test_store_two_processes_race_on_same_keys);
	tcase_add_test(share, test_store_two_processes_first_open_seed_once);
	tcase_add_test(share, test_store_thread_uses_own_connection);
	tcase_add_test(share, test_store_crash_keeps_acknowledged_rows);
	suite_add_tcase(s, share);
	return s;
}

int main(void)
{
	return harness_run_suite(store_suite(), 0);
}
