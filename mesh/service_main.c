/* service_main.c: the main() every service executable shares: options, seed, serve, stop on signal.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include "mesh.h"

#define SERVICE_MAX_LISTEN 16

static void service_usage(FILE *out, const mesh_service_def *def, const char *argv0)
{
	fprintf(out,
		"usage: %s --listen URL [--listen URL]... [--seed FILE] [--loops N] [--workers N]\n"
		"\n"
		"Serves the %s service (%s) over the cleave mesh until SIGINT or SIGTERM.\n"
		"\n"
		"  --listen URL   nng address to serve on: ipc:///path/to.sock or "
		"tcp://127.0.0.1:PORT\n"
		"                 (repeat for several addresses)\n"
		"  --seed FILE    JSON array of records to load at start (default: %s)\n"
		"  --loops N      event-loop threads serving ipc:// and tcp:// (default 1)\n"
		"  --workers N    nng worker threads serving other addresses, such as tls+tcp://,\n"
		"                 or every address when CLEAVE_MESH_TRANSPORT=nng (default 8)\n"
		"  --help         this text\n",
		argv0, def->name, def->impl->descriptor->name, def->default_seed);
}

/* service_parse_count reads a thread count of 1..1024; returns -1 if s is not one. */
static int service_parse_count(const char *s)
{
	char *end;
	long n;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || n < 1 || n > 1024)
		return -1;
	return (int)n;
}

int mesh_service_main(int argc, char **argv, const mesh_service_def *def)
{
	static const struct option longopts[] = {
	    {"listen", required_argument, NULL, 'l'},  {"seed", required_argument, NULL, 's'},
	    {"workers", required_argument, NULL, 'w'}, {"loops", required_argument, NULL, 'L'},
	    {"help", no_argument, NULL, 'h'},	       {NULL, 0, NULL, 0},
	};
	const char *listen[SERVICE_MAX_LISTEN];
	int nlisten = 0;
	const char *seed = def->default_seed;
	mesh_server_opts opts = {0};
	mesh_server *server;
	char err[256];
	sigset_t stop_signals;
	int opt, sig, rv, status = 1;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			if (nlisten == SERVICE_MAX_LISTEN) {
				fprintf(stderr, "%s: at most %d --listen addresses\n", def->name,
					SERVICE_MAX_LISTEN);
				return 2;
			}
			listen[nlisten++] = optarg;
			break;
		case 's':
			seed = optarg;
			break;
		case 'w':
		case 'L': {
			int n = service_parse_count(optarg);
			if (n < 0) {
				fprintf(stderr,
					"%s: --%s wants a number from 1 to 1024, not '%s'\n",
					def->name, opt == 'w' ? "workers" : "loops", optarg);
				return 2;
			}
			if (opt == 'w')
				opts.workers = n;
			else
				opts.loops = n;
			break;
		}
		case 'h':
			service_usage(stdout, def, argv[0]);
			return 0;
		default:
			service_usage(stderr, def, argv[0]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", def->name, argv[optind]);
		service_usage(stderr, def, argv[0]);
		return 2;
	}
	if (nlisten == 0) {
		fprintf(stderr, "%s: give at least one --listen URL (see --help)\n", def->name);
		return 2;
	}

	/* Block the stop signals before nng starts its threads, so only sigwait sees them. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

	if (def->load(seed, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: cannot load seed %s: %s\n", def->name, seed, err);
		return 1;
	}
	if ((rv = mesh_server_new(&server, def->impl, &opts)) != 0) {
		fprintf(stderr, "%s: cannot create the server: %s\n", def->name, nng_strerror(rv));
		goto out_unload;
	}
	for (int i = 0; i < nlisten; i++) {
		if ((rv = mesh_server_listen(server, listen[i])) != 0) {
			fprintf(stderr, "%s: cannot listen on %s: %s\n", def->name, listen[i],
				nng_strerror(rv));
			goto out_free_server;
		}
	}
	if ((rv = mesh_server_start(server)) != 0) {
		fprintf(stderr, "%s: cannot start workers: %s\n", def->name, nng_strerror(rv));
		goto out_free_server;
	}
	for (int i = 0; i < nlisten; i++)
		fprintf(stderr, "%s: serving %s on %s (%zu records from %s)\n", def->name,
			def->impl->descriptor->name, listen[i], def->count(), seed);

	while (sigwait(&stop_signals, &sig) != 0)
		;
	fprintf(stderr, "%s: %s, stopping\n", def->name, strsignal(sig));
	status = 0;

out_free_server:
	mesh_server_free(server);
out_unload:
	if (def->unload != NULL)
		def->unload();
	return status;
}
