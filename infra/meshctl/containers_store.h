/* containers_store.h: meshctl up --containers --store postgres: each service's store file, its
 * PostgreSQL URL in the compose render's database container. */
#ifndef CLEAVE_MESHCTL_CONTAINERS_STORE_H
#define CLEAVE_MESHCTL_CONTAINERS_STORE_H

#include <stddef.h>

#include "manifest.h"

/* containers_store_files makes in dir (made 0700 if missing) the store file of every manifest
 * that has none, <name>.env: CLEAVE_STORE_URL=postgresql://<name>:PASSWORD@postgres:5432/<name>,
 * a new random password (128 bits, hex) each. Existing files are kept: the database's roles
 * keep their passwords across ups. Every file is made mode 0600 and given to uid 10001, whom
 * the database's container runs as (it reads them as secrets; podman reads them as env_file).
 * Returns 0, or -1 having said why on stderr. */
int containers_store_files(const char *dir, manifest *const *ms, size_t n);

#endif
