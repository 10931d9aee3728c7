/* init.c: meshctl init NAME: scaffolds a new service (placeholder until implemented). */
#include <stdio.h>

#include "commands.h"

int cmd_init(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "meshctl init: not implemented yet\n");
	return 1;
}
