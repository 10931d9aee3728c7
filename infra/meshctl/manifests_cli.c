/* manifests_cli.c: the options and manifest loading shared by meshctl render and openapi. */
#include <getopt.h>
#include <stdbool.h>

#include "manifests_cli.h"

#define EXTRA_MAX 12 /* extra options a command may add */

int manifests_cli_options(int argc, char **argv, const char **out, const char **dir,
			  void (*usage)(FILE *), const struct option *extra,
			  int (*on_extra)(int opt, const char *arg, void *ctx), void *ctx)
{
	struct option longopts[EXTRA_MAX + 4];
	size_t n = 0;
	int opt;
	longopts[n++] = (struct option){"out", required_argument, NULL, 'o'};
	longopts[n++] = (struct option){"manifests", required_argument, NULL, 'm'};
	for (; extra != NULL && extra->name != NULL && n < EXTRA_MAX + 2; extra++)
		longopts[n++] = *extra;
	longopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
	longopts[n] = (struct option){NULL, 0, NULL, 0};
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt == 'o') {
			*out = optarg;
		} else if (opt == 'm') {
			*dir = optarg;
		} else if (opt == 'h') {
			usage(stdout);
			return 1;
		} else if (opt == '?' || on_extra == NULL) {
			usage(stderr);
			return 2;
		} else if (on_extra(opt, optarg, ctx) != 0) {
			return 2;
		}
	}
	return 0;
}

int manifests_cli_load(const char *cmd, const char *dir, manifest ***ms, size_t *n)
{
	char err[512];
	bool loaded = manifest_load_dir(dir, ms, n, err, sizeof(err)) == 0;
	if (loaded && manifest_check_calls(*ms, *n, err, sizeof(err)) == 0 &&
	    manifest_check_splits(*ms, *n, err, sizeof(err)) == 0)
		return 0;
	fprintf(stderr, "meshctl %s: %s\n", cmd, err);
	if (loaded)
		manifest_free_all(*ms, *n);
	return -1;
}
