/* policy.h: a service's default-deny call policy, and who a caller is. */
#ifndef CLEAVE_MESH_POLICY_H
#define CLEAVE_MESH_POLICY_H

#include <stddef.h>
#include <sys/types.h>

#define MESH_IDENTITY_MAX 64

/* mesh_policy: the callers allowed each method of one service. A policy file has one rule per
 * line, "CALLER METHOD" ("edge Get", "threads Get"), '#' starting a comment. Health is open to
 * every caller and needs no rule. */
typedef struct mesh_policy mesh_policy;

/* mesh_policy_load reads the policy file at path. On success *out is the caller's, to free with
 * mesh_policy_free. Returns 0, or -1 with "path:line: reason" in err. */
int mesh_policy_load(const char *path, mesh_policy **out, char *err, size_t errlen);

/* mesh_policy_allows says whether caller may call method. */
int mesh_policy_allows(const mesh_policy *p, const char *caller, const char *method);

/* mesh_policy_callers writes into out the callers allowed method, comma-separated ("edge,
 * threads"), or "nobody". */
void mesh_policy_callers(const mesh_policy *p, const char *method, char *out, size_t outlen);

void mesh_policy_free(mesh_policy *p);

/* mesh_identity_of_uid names the service a peer process runs as, from its uid: the user
 * "cleave-<name>" is <name> ("cleave-users" is "users"), uid 0 is "root" (the operator), any
 * other uid is "uid:<n>". Returns 1 when that names the peer (its uid differs from this
 * process's), 0 when the peer runs as this process's own user and so proves nothing (out is
 * then empty: only its claim is known). */
int mesh_identity_of_uid(uid_t uid, char *out, size_t outlen);

#endif
