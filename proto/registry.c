/* registry.c: lookup over the generated list of service descriptors. */
#include <string.h>

#include "registry.h"

const ProtobufCServiceDescriptor *registry_find_service(const char *name)
{
	for (const ProtobufCServiceDescriptor *const *d = registry_services; *d != NULL; d++)
		if (strcmp((*d)->name, name) == 0)
			return *d;
	return NULL;
}
