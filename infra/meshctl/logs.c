/* logs.c: meshctl logs SERVICE [-f]: a service's log lines, each tagged with its instance. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "paths.h"

#define LOGS_POLL_MS 200

static volatile sig_atomic_t logs_stop;

static void logs_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: meshctl logs SERVICE [-f] [--state-dir DIR]\n"
	    "\n"
	    "Prints SERVICE's log lines (every instance's, each line tagged '<service>-<n>' and\n"
	    "stamped in UTC). SERVICE may also be 'edge' (its access log) or 'meshctl'.\n"
	    "\n"
	    "  -f, --follow   keep printing new lines until Ctrl-C\n");
}

/* logs_extra takes -f, setting the int ctx points at. */
static int logs_extra(int opt, const char *arg, void *ctx)
{
	(void)arg;
	if (opt != 'f')
		return -1;
	*(int *)ctx = 1;
	return 0;
}

static void logs_on_signal(int sig)
{
	(void)sig;
	logs_stop = 1;
}

int cmd_logs(int argc, char **argv)
{
	static const struct option extra[] = {{"follow", no_argument, NULL, 'f'},
					      {NULL, 0, NULL, 0}};
	const char *state = NULL, *name;
	meshctl_paths paths;
	char path[PATH_MAX], buf[65536];
	FILE *f;
	int r, follow = 0;
	r = state_dir_option(argc, argv, &state, logs_usage, "f", extra, logs_extra, &follow);
	if (r != 0)
		return r == 1 ? 0 : 2;
	if (optind + 1 != argc) {
		logs_usage(stderr);
		return 2;
	}
	name = argv[optind];
	if (strchr(name, '/') != NULL || name[0] == '.' || meshctl_paths_init(&paths, state) != 0) {
		fprintf(stderr, "meshctl logs: bad service name or state directory\n");
		return 2;
	}
	if (snprintf(path, sizeof(path), "%s/%s.log", paths.logs, name) >= (int)sizeof(path)) {
		fprintf(stderr, "meshctl logs: name too long\n");
		return 2;
	}
	f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "meshctl logs: no logs of '%s' in %s (%s)\n", name, paths.logs,
			strerror(errno));
		return 1;
	}
	signal(SIGINT, logs_on_signal);
	signal(SIGTERM, logs_on_signal);
	for (;;) {
		size_t got;
		while ((got = fread(buf, 1, sizeof(buf), f)) > 0)
			fwrite(buf, 1, got, stdout);
		fflush(stdout);
		if (!follow || logs_stop)
			break;
		clearerr(f);
		{
			struct timespec ts = {0, LOGS_POLL_MS * 1000000L};
			nanosleep(&ts, NULL);
		}
		if (logs_stop)
			break;
	}
	fclose(f);
	return 0;
}
