/* main.c: meshctl, the mesh's operator CLI: dispatches to one subcommand. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

typedef struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} subcommand;

static const subcommand subcommands[] = {
    {"up", cmd_up, "start every service at its manifest's count, then the edge"},
    {"down", cmd_down, "stop a detached mesh"},
    {"status", cmd_status, "instances, their health, and per-method cost"},
    {"scale", cmd_scale, "change a service's instance count while it serves"},
    {"logs", cmd_logs, "a service's log lines, tagged with their instance"},
    {"call", cmd_call, "call SERVICE.METHOD over the mesh with a JSON request"},
    {"init", cmd_init, "scaffold a new service"},
    {"policy", cmd_policy, "who may call what: the call policy the manifests give"},
    {"certs", cmd_certs, "a development CA and certificates for mutual TLS (tls+tcp://)"},
    {"render", cmd_render, "deployments (compose, kubernetes, copilot) from the manifests"},
    {"openapi", cmd_openapi, "the API's OpenAPI 3.1 document, from the manifests"},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: meshctl COMMAND [ARGS]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(out, "  %-8s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(out, "\n'meshctl COMMAND --help' describes one command.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (strcmp(argv[1], subcommands[i].name) == 0)
			return subcommands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "meshctl: no command '%s' (see meshctl --help)\n", argv[1]);
	return 2;
}
