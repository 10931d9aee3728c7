/* shim.h: force-included when a service's svc/<name>/main.c is built into the monolith. Its
 * main() becomes cleave_service_main_<name>() (a -Dmain= definition), and its call of
 * mesh_service_main(argc, argv, &def) registers def instead of serving: the service's source
 * stays exactly what runs as its own process. */
#ifndef CLEAVE_MONOLITH_SHIM_H
#define CLEAVE_MONOLITH_SHIM_H

#include "mesh.h"

/* monolith_add copies *def (its pointers are to static data) into the monolith's list. */
int monolith_add(const mesh_service_def *def);

#define mesh_service_main(argc, argv, def) ((void)(argc), (void)(argv), monolith_add(def))

#endif
