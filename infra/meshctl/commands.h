/* commands.h: meshctl's subcommands; each takes the arguments after its name and returns the
 * process exit status. */
#ifndef CLEAVE_MESHCTL_COMMANDS_H
#define CLEAVE_MESHCTL_COMMANDS_H

int cmd_up(int argc, char **argv);
int cmd_down(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_scale(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_call(int argc, char **argv);
int cmd_init(int argc, char **argv);

#endif
