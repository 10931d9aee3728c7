/* manifests_cli.h: what the commands that work from the manifests (render, openapi) share: their
 * --out/--manifests/--help options and the loading and checking of the manifests. */
#ifndef CLEAVE_MESHCTL_MANIFESTS_CLI_H
#define CLEAVE_MESHCTL_MANIFESTS_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "manifest.h"

struct option;

/* manifests_cli_options parses --out (sets *out), --manifests (sets *dir) and --help, plus the
 * command's extra options: extra is a getopt_long table ended by a zeroed entry (at most 12
 * entries; NULL for none), and on_extra(opt, optarg, ctx) takes each of them, returning nonzero
 * after saying on stderr what is wrong with it. An unknown option prints usage to stderr. *out
 * and *dir, when set, point into argv; ctx is on_extra's. Returns 0 to go on, 1 after printing
 * --help to stdout, 2 on a usage error. */
int manifests_cli_options(int argc, char **argv, const char **out, const char **dir,
			  void (*usage)(FILE *), const struct option *extra,
			  int (*on_extra)(int opt, const char *arg, void *ctx), void *ctx);

/* manifests_cli_load reads the manifests in dir into *ms and *n (the caller's: free them with
 * manifest_free_all) and checks their calls: and split: entries against each other. Returns 0,
 * or -1 (nothing to free) after printing "meshctl cmd: " and the reason to stderr. */
int manifests_cli_load(const char *cmd, const char *dir, manifest ***ms, size_t *n);

#endif
