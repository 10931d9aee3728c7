/* pending.c: subcommands not written yet. */
#include <stdio.h>

#include "commands.h"

static int pending(const char *name)
{
	fprintf(stderr, "meshctl %s: not implemented yet\n", name);
	return 1;
}

int cmd_up(int argc, char **argv)
{
	return pending("up");
}
int cmd_down(int argc, char **argv)
{
	return pending("down");
}
int cmd_status(int argc, char **argv)
{
	return pending("status");
}
int cmd_scale(int argc, char **argv)
{
	return pending("scale");
}
int cmd_logs(int argc, char **argv)
{
	return pending("logs");
}
int cmd_call(int argc, char **argv)
{
	return pending("call");
}
