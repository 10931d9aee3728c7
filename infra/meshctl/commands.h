/* commands.h: meshctl's subcommands; each takes the arguments after its name and returns the
 * process exit status. */
#ifndef CLEAVE_MESHCTL_COMMANDS_H
#define CLEAVE_MESHCTL_COMMANDS_H

#include <stdio.h>

int cmd_up(int argc, char **argv);
int cmd_down(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_scale(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_call(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_certs(int argc, char **argv);
int cmd_render(int argc, char **argv);
int cmd_openapi(int argc, char **argv);

struct option;
/* state_dir_option parses --state-dir and --help, which every command but up and init takes,
 * plus the command's extra options: on_extra(opt, optarg, ctx) takes each, nonzero for a bad
 * one. Sets *state (argv's). Returns 0 to go on, 1 after printing --help, 2 on a usage
 * error. */
int state_dir_option(int argc, char **argv, const char **state, void (*usage)(FILE *),
		     const char *extra_short, const struct option *extra,
		     int (*on_extra)(int opt, const char *arg, void *ctx), void *ctx);

#endif
