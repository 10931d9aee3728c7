/* policy.c: meshctl policy, and the per-service call policies meshctl up hands each service. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "paths.h"
#include "policy.h"
#include "registry.h"

void policy_write(FILE *f, manifest *const *ms, size_t n, size_t k)
{
	const manifest *self = ms[k];
	const ProtobufCServiceDescriptor *desc = registry_find_service(self->service);
	size_t len = strlen(self->name);
	fprintf(f, "# %s (%s): who may call what; everything else is denied. Health is open.\n",
		self->name, self->service);
	for (size_t i = 0; i < self->nroutes; i++)
		fprintf(f, "edge %s\t# %s %s\n", self->routes[i].rpc, self->routes[i].method,
			self->routes[i].path);
	for (size_t c = 0; c < n; c++) {
		for (size_t i = 0; c != k && i < ms[c]->nroutes; i++)
			if (ms[c]->routes[i].split_service != NULL &&
			    strcmp(ms[c]->routes[i].split_service, self->name) == 0)
				fprintf(f, "edge %s\t# %s %s, split from %s\n",
					ms[c]->routes[i].rpc, ms[c]->routes[i].method,
					ms[c]->routes[i].path, ms[c]->name);
		for (size_t i = 0; i < ms[c]->ncalls; i++) {
			const char *call = ms[c]->calls[i];
			if (strncmp(call, self->name, len) == 0 && call[len] == '.')
				fprintf(f, "%s %s\t# calls: in %s\n", ms[c]->name, call + len + 1,
					ms[c]->file);
		}
	}
	for (size_t m = 0; desc != NULL && m < desc->n_methods; m++)
		fprintf(f, "meshctl %s\t# the operator's meshctl call\n", desc->methods[m].name);
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
