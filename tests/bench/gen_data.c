/* gen_data.c: writes a large forum data set (users, threads, posts) that the services load as
 * seeds, deterministically, for the scale benchmark. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The last SMALL_THREADS threads get exactly SMALL_POSTS posts each, the size of the seed's
 * thread 2, so a lookup can be compared with the seed at the same answer size. */
#define SMALL_THREADS 100
#define SMALL_POSTS   3

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* rng returns the next xorshift64* value: the same sequence on every run. */
static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static const char *const words[] = {
    "candy", "kingdom", "guitar", "lich",    "party",	"tomorrow", "adventure", "sword",
    "tree",  "fort",	"music",  "vampire", "dog",	"human",    "princess",	 "mathematical",
    "ooo",   "science", "hero",	  "quest",   "dungeon", "bacon",    "pancakes",	 "ice",
};
#define NWORDS (sizeof(words) / sizeof(words[0]))

/* put_words writes n random words separated by spaces. */
static void put_words(FILE *f, int n)
{
	for (int i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? " " : "", words[rng() % NWORDS]);
}

static FILE *open_out(const char *dir, const char *name)
{
	char path[4096];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f == NULL) {
		fprintf(stderr, "gen-data: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return f;
}

static void close_out(FILE *f, const char *name)
{
	if (fclose(f) != 0) {
		fprintf(stderr, "gen-data: writing %s failed: %s\n", name, strerror(errno));
		exit(1);
	}
}

static long parse_count(const char *s, const char *what)
{
	char *end;
	long n;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < 1 || n > 100000000) {
		fprintf(stderr, "gen-data: %s wants 1 to 100000000, not '%s'\n", what, s);
		exit(2);
	}
	return n;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"users", required_argument, NULL, 'u'},
	    {"threads", required_argument, NULL, 't'},
	    {"posts", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	long users = 10000, threads = 10000, posts = 1000000;
	const char *dir;
	FILE *f;
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'u':
			users = parse_count(optarg, "--users");
			break;
		case 't':
			threads = parse_count(optarg, "--threads");
			break;
		case 'p':
			posts = parse_count(optarg, "--posts");
			break;
		case 'h':
			printf(
			    "usage: %s [--users N] [--threads N] [--posts N] DIR\n"
			    "\n"
			    "Writes DIR/users.json, DIR/threads.json and DIR/posts.json, seeds "
			    "the\n"
			    "services load with --seed (default 10000 users, 10000 threads, "
			    "1000000\n"
			    "posts). The same arguments give the same files. The last %d threads "
			    "get\n"
			    "exactly %d posts each; the other posts are spread evenly at random.\n",
			    argv[0], SMALL_THREADS, SMALL_POSTS);
			return 0;
		default:
			fprintf(stderr, "usage: %s [--users N] [--threads N] [--posts N] DIR\n",
				argv[0]);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "gen-data: give one output directory (see --help)\n");
		return 2;
	}
	dir = argv[optind];
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "gen-data: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	if (threads <= SMALL_THREADS || posts < (long)SMALL_THREADS * SMALL_POSTS) {
		fprintf(stderr, "gen-data: needs more than %d threads and at least %d posts\n",
			SMALL_THREADS, SMALL_THREADS * SMALL_POSTS);
		return 2;
	}

	f = open_out(dir, "users.json");
	fputs("[\n", f);
	for (long id = 1; id <= users; id++) {
		fprintf(f, "{\"id\":%ld,\"username\":\"user%ld\",\"name\":\"User %ld\",\"bio\":\"",
			id, id, id);
		put_words(f, 6);
		fprintf(f, "\"}%s\n", id < users ? "," : "");
	}
	fputs("]\n", f);
	close_out(f, "users.json");

	f = open_out(dir, "threads.json");
	fputs("[\n", f);
	for (long id = 1; id <= threads; id++) {
		fprintf(f, "{\"id\":%ld,\"title\":\"", id);
		put_words(f, 5);
		fprintf(f, "\",\"createdBy\":%" PRIu64 "}%s\n", 1 + rng() % (uint64_t)users,
			id < threads ? "," : "");
	}
	fputs("]\n", f);
	close_out(f, "threads.json");

	f = open_out(dir, "posts.json");
	fputs("[\n", f);
	for (long id = 1; id <= posts; id++) {
		long small = (long)SMALL_THREADS * SMALL_POSTS;
		uint64_t thread =
		    id <= small ? (uint64_t)(threads - SMALL_THREADS + 1 + (id - 1) / SMALL_POSTS)
				: 1 + rng() % (uint64_t)(threads - SMALL_THREADS);
		fprintf(f, "{\"id\":%ld,\"thread\":%" PRIu64 ",\"text\":\"", id, thread);
		put_words(f, 7);
		fprintf(f, "\",\"user\":%" PRIu64 "}%s\n", 1 + rng() % (uint64_t)users,
			id < posts ? "," : "");
		if (id % 200000 == 0)
			fprintf(stderr, "gen-data: %ld of %ld posts\n", id, posts);
	}
	fputs("]\n", f);
	close_out(f, "posts.json");
	fprintf(stderr,
		"gen-data: wrote %ld users, %ld threads, %ld posts to %s; threads %ld-%ld have %d "
		"posts each\n",
		users, threads, posts, dir, threads - SMALL_THREADS + 1, threads, SMALL_POSTS);
	return 0;
}
