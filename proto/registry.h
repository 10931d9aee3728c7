/* registry.h: every protobuf service descriptor built into cleave, found by full name. */
#ifndef CLEAVE_REGISTRY_H
#define CLEAVE_REGISTRY_H

#include <protobuf-c/protobuf-c.h>

/* registry_services is the NULL-terminated list of every service in proto/, generated at build
 * time. */
extern const ProtobufCServiceDescriptor *const registry_services[];

/* registry_find_service returns the descriptor of the service named name ("users.Users"), or NULL.
 * The descriptor is static; the caller keeps ownership of name. */
const ProtobufCServiceDescriptor *registry_find_service(const char *name);

#endif
