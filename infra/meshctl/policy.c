/* policy.c: meshctl policy, and the per-service call policies meshctl up hands each service. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "paths.h"
#include "policy.h"

/* policy_line writes one rule as a policy file's line; ctx is the FILE. */
static void policy_line(const char *caller, const char *method, const char *why, void *ctx)
{
	fprintf(ctx, "%s %s\t# %s\n", caller, method, why);
}

void policy_write(FILE *f, manifest *const *ms, size_t n, size_t k)
{
	fprintf(f, "# %s (%s): who may call what; everything else is denied. Health is open.\n",
		ms[k]->name, ms[k]->service);
	manifest_policy(ms, n, k, policy_line, f);
}

static void policy_usage(FILE *out)
{
	fprintf(out,
		"usage: meshctl policy [--manifests DIR]\n"
		"\n"
		"Prints the effective call policy of every service, from the manifests: the\n"
		"callers each method allows (the edge: the methods its routes name; a service:\n"
		"what its calls: lists; meshctl: every method). A running mesh enforces these,\n"
		"default-deny, in each callee; Health is open to every caller.\n");
}

int cmd_policy(int argc, char **argv)
{
	static const struct option longopts[] = {{"manifests", required_argument, NULL, 'm'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	const char *dir = CLEAVE_SOURCE_DIR "/svc";
	manifest **ms;
	size_t n;
	char err[512];
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt == 'm') {
			dir = optarg;
		} else if (opt == 'h') {
			policy_usage(stdout);
			return 0;
		} else {
			policy_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "meshctl policy: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (manifest_load_dir(dir, &ms, &n, err, sizeof(err)) != 0 ||
	    manifest_check_calls(ms, n, err, sizeof(err)) != 0) {
		fprintf(stderr, "meshctl policy: %s\n", err);
		return 1;
	}
	for (size_t k = 0; k < n; k++) {
		policy_write(stdout, ms, n, k);
		fputc('\n', stdout);
	}
	manifest_free_all(ms, n);
	return 0;
}
