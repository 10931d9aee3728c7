/* policy.h: the inside of a service's default-deny call policy (mesh_policy_load), and who a
 * caller is. */
#ifndef CLEAVE_MESH_POLICY_H
#define CLEAVE_MESH_POLICY_H

#include <stddef.h>
#include <sys/types.h>

#include "mesh.h"

#define MESHI_IDENTITY_MAX 64

/* meshi_policy_allows says whether caller may call method. */
int meshi_policy_allows(const mesh_policy *p, const char *caller, const char *method);

/* meshi_policy_callers writes into out the callers allowed method, comma-separated ("edge,
 * threads"), or "nobody". */
void meshi_policy_callers(const mesh_policy *p, const char *method, char *out, size_t outlen);

/* meshi_uid_is_owner says whether uid may use an owner-only server: it is this process's
 * effective uid, or root. */
int meshi_uid_is_owner(uid_t uid);

/* meshi_identity_of_uid names the service a peer process runs as, from its uid: the user
 * "cleave-<name>" is <name> ("cleave-users" is "users"), uid 0 is "root" (the operator), any
 * other uid is "uid:<n>". Returns 1 when that names the peer (its uid differs from this
 * process's), 0 when the peer runs as this process's own user and so proves nothing (out is
 * then empty: only its claim is known). */
int meshi_identity_of_uid(uid_t uid, char *out, size_t outlen);

#endif
