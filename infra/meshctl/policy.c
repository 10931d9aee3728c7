/* policy.c: meshctl policy, and the per-service call policies meshctl up hands each service. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "paths.h"
#include "policy.h"
#include "registry.h"

/* policy_line writes one rule as a policy file's line; ctx is the FILE. */
static void policy_line(const char *caller, const char *method, const char *why, void *ctx)
{
	fprintf(ctx, "%s %s\t# %s\n", caller, method, why);
}

void policy_write(FILE *f, manifest *const *ms, size_t n, size_t k)
{
	fprintf(f, "# %s (%s): who may call what; everything else is %s. Health is open.\n",
		ms[k]->name, ms[k]->service,
		ms[k]->policy_audit ? "logged as a would-be denial (policy: audit), and run"
				    : "denied");
	manifest_policy(ms, n, k, policy_line, f);
}

static void policy_usage(FILE *out)
{
	fprintf(out,
		"usage: meshctl policy [--manifests DIR]\n"
		"       meshctl policy test CALLER SERVICE.METHOD [--manifests DIR]\n"
		"\n"
		"Prints the effective call policy of every service, from the manifests: the\n"
		"callers each method allows (the edge: the methods its routes name; a service:\n"
		"what its calls: lists; meshctl: every method). A running mesh enforces these,\n"
		"default-deny, in each callee (a manifest with policy: audit logs and counts what\n"
		"it would deny instead); Health is open to every caller.\n"
		"\n"
		"policy test says whether CALLER (an identity: edge, meshctl, a service's name,\n"
		"root, anonymous) may call SERVICE.METHOD (posts.Create, or posts.Posts.Create),\n"
		"and which rule decides: exit 0 if allowed, 1 if denied (also in audit mode,\n"
		"where the call would run but be logged), 2 for bad usage.\n");
}

/* policy_rule_into is manifest_policy's emit: one rule, with its reason, into the mesh_policy
 * ctx points at. */
static void policy_rule_into(const char *caller, const char *method, const char *why, void *ctx)
{
	if (mesh_policy_allow_because(ctx, caller, method, why) != 0)
		fprintf(stderr, "meshctl policy: cannot hold the rule '%s %s'\n", caller, method);
}

/* policy_test decides caller calling target ("posts.Create") under the manifests ms[0..n).
 * Returns the exit status. */
static int policy_test(manifest *const *ms, size_t n, const char *caller, const char *target)
{
	const char *dot = strrchr(target, '.'), *method;
	const ProtobufCServiceDescriptor *desc;
	char service[256], rule[384];
	mesh_policy *p = NULL;
	size_t k;
	int allowed;
	if (dot == NULL || dot == target || dot[1] == '\0' ||
	    (size_t)(dot - target) >= sizeof(service)) {
		fprintf(stderr, "meshctl policy test: want SERVICE.METHOD, not '%s'\n", target);
		return 2;
	}
	snprintf(service, sizeof(service), "%.*s", (int)(dot - target), target);
	method = dot + 1;
	for (k = 0; k < n; k++)
		if (strcmp(ms[k]->name, service) == 0 || strcmp(ms[k]->service, service) == 0)
			break;
	if (k == n) {
		fprintf(stderr, "meshctl policy test: no manifest serves '%s'\n", service);
		return 2;
	}
	desc = registry_find_service(ms[k]->service);
	if (strcmp(method, "Health") != 0 &&
	    (desc == NULL ||
	     protobuf_c_service_descriptor_get_method_by_name(desc, method) == NULL)) {
		fprintf(stderr, "meshctl policy test: %s has no method '%s'\n", ms[k]->service,
			method);
		return 2;
	}
	if (strcmp(caller, "root") == 0) {
		printf("allow: root may call %s.%s (rule: root is the operator, on ipc://)\n",
		       ms[k]->service, method);
		return 0;
	}
	if (mesh_policy_new(&p) != 0) {
		fprintf(stderr, "meshctl policy test: out of memory\n");
		return 1;
	}
	manifest_policy(ms, n, k, policy_rule_into, p);
	allowed = mesh_policy_decide(p, caller, method, rule, sizeof(rule));
	mesh_policy_free(p);
	if (strcmp(method, "Health") == 0) {
		printf("allow: %s may call %s.Health (rule: Health is open to every caller); its "
		       "detail: %s (rule: %s)\n",
		       caller, ms[k]->service, allowed ? "yes" : "no, only its status", rule);
		return 0;
	}
	if (allowed)
		printf("allow: %s may call %s.%s (rule: %s)\n", caller, ms[k]->service, method,
		       rule);
	else if (ms[k]->policy_audit)
		printf("deny, in audit mode (logged and counted, but run): %s may not call %s.%s "
		       "(rule: %s)\n",
		       caller, ms[k]->service, method, rule);
	else
		printf("deny: %s may not call %s.%s (rule: %s)\n", caller, ms[k]->service, method,
		       rule);
	return allowed ? 0 : 1;
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
	int opt, rv = 0;
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
	if (optind < argc && strcmp(argv[optind], "test") != 0) {
		fprintf(stderr, "meshctl policy: unexpected argument '%s' (see --help)\n",
			argv[optind]);
		return 2;
	}
	if (optind < argc && argc - optind != 3) {
		fprintf(stderr, "meshctl policy test: want CALLER SERVICE.METHOD (see --help)\n");
		return 2;
	}
	if (manifest_load_dir(dir, &ms, &n, err, sizeof(err)) != 0 ||
	    manifest_check_calls(ms, n, err, sizeof(err)) != 0) {
		fprintf(stderr, "meshctl policy: %s\n", err);
		return 1;
	}
	if (optind < argc) {
		rv = policy_test(ms, n, argv[optind + 1], argv[optind + 2]);
	} else {
		for (size_t k = 0; k < n; k++) {
			policy_write(stdout, ms, n, k);
			fputc('\n', stdout);
		}
	}
	manifest_free_all(ms, n);
	return rv;
}
