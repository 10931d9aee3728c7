/* supervisor.h: a running mesh: keeps every service at its count, restarts crashes with backoff,
 * publishes target files, runs the edge, answers meshctl's control calls, stops by draining. */
#ifndef CLEAVE_MESHCTL_SUPERVISOR_H
#define CLEAVE_MESHCTL_SUPERVISOR_H

#include <stdio.h>

#include "paths.h"

/* supervisor_opts: how meshctl up runs the mesh. */
typedef struct supervisor_opts {
	const char *listen;	  /* the edge's HTTP address, "127.0.0.1:8080" */
	const char *manifests;	  /* directory of <name>/manifest.yml */
	const char *admin_listen; /* the edge's admin (metrics) address, or NULL */
	const char *https_cert;	  /* the edge serves HTTPS with this certificate chain and */
	const char *https_key;	  /* key (absolute paths; both NULL: cleartext HTTP) */
	int foreground;		  /* print every log line (access log included) on stdout */
	int monolith;		  /* every service in one process (build/monolith), once each */
	int allow_root;		  /* as root: without system users, run everything as root */
	int ready_fd;		  /* written "ready <edge url>\n" once serving, then closed; -1 */
} supervisor_opts;

/* supervisor_run runs the mesh until SIGINT, SIGTERM or a Down call, then stops it: the edge
 * first (it drains), then the services. paths and opts stay the caller's. Returns the exit
 * status: 0 after a clean stop; 1 if the mesh could not start, or a process it stopped did not
 * exit 0 (a drained instance, the edge, or a service at the end). */
int supervisor_run(const meshctl_paths *paths, const supervisor_opts *opts);

#endif
