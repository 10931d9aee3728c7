/* nng_errno.h: nng's error numbers as the errno values libmesh's API returns. */
#ifndef CLEAVE_MESH_NNG_ERRNO_H
#define CLEAVE_MESH_NNG_ERRNO_H

/* meshi_errno_from_nng returns the errno value closest to nng error number rv (0 for 0): the
 * system error itself for NNG_ESYSERR, EIO for one with no counterpart. */
int meshi_errno_from_nng(int rv);

#endif
