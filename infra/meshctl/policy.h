/* policy.h: the call policies meshctl derives from the manifests, one per service. */
#ifndef CLEAVE_MESHCTL_POLICY_H
#define CLEAVE_MESHCTL_POLICY_H

#include <stdio.h>

#include "manifest.h"

/* policy_write writes service ms[k]'s policy to f (manifest_policy's rules), one "CALLER METHOD"
 * rule a line with where it comes from. f and the manifests stay the caller's. */
void policy_write(FILE *f, manifest *const *ms, size_t n, size_t k);

#endif
