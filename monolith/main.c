/* main.c: the monolith: every service of svc/ in one process (meshctl up --monolith), the way
 * the forum ran before it was cleaved; the edge in front of it is the same. */
#include <stdio.h>

#include "mesh.h"
#include "shim.h"

#define MONOLITH_MAX 32

/* the generated list of every service's renamed main() (monolith_services.c) */
extern int (*const monolith_service_mains[])(int argc, char **argv);

static mesh_service_def defs[MONOLITH_MAX];
static size_t ndefs;

int monolith_add(const mesh_service_def *def)
{
	if (ndefs == MONOLITH_MAX)
		return 1;
	defs[ndefs++] = *def;
	return 0;
}

int main(int argc, char **argv)
{
	char *none[] = {argv[0], NULL};
	for (size_t i = 0; monolith_service_mains[i] != NULL; i++)
		if (monolith_service_mains[i](1, none) != 0) {
			fprintf(stderr, "monolith: too many services\n");
			return 1;
		}
	return mesh_monolith_main(argc, argv, defs, ndefs);
}
