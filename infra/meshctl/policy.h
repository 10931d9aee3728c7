/* policy.h: the call policies meshctl derives from the manifests, one per service. */
#ifndef CLEAVE_MESHCTL_POLICY_H
#define CLEAVE_MESHCTL_POLICY_H

#include <stdio.h>

#include "manifest.h"

/* policy_write writes service ms[k]'s policy to f, one "CALLER METHOD" rule a line: the edge
 * may call the methods routes name (its own routes, and other routes that split to it); each
 * manifest may call what its calls: lists; meshctl (the operator's tool) may call every method.
 * Health is open and needs no rule. */
void policy_write(FILE *f, manifest *const *ms, size_t n, size_t k);

#endif
