/* service_entry.c: the main() of a service executable, compiled once per service with
 * CLEAVE_SERVICE_DEF naming the rt_service_def its svc/<name>/service.c defines. */
#include "service.h"

#ifndef CLEAVE_SERVICE_DEF
#error "CLEAVE_SERVICE_DEF names the service's rt_service_def (the build defines it)"
#endif

extern const rt_service_def CLEAVE_SERVICE_DEF;

int main(int argc, char **argv)
{
	return rt_service_main(argc, argv, &CLEAVE_SERVICE_DEF);
}
