/* status.c: names of mesh status codes, and the monotonic clock deadlines use. */
#include <time.h>

#include "mesh.h"
#include "mesh.pb-c.h"

_Static_assert((int)MESH_OK == (int)MESH__STATUS__OK, "mesh_status follows mesh.proto");
_Static_assert((int)MESH_NOT_FOUND == (int)MESH__STATUS__NOT_FOUND,
	       "mesh_status follows mesh.proto");
_Static_assert((int)MESH_UNAVAILABLE == (int)MESH__STATUS__UNAVAILABLE,
	       "mesh_status follows mesh.proto");
_Static_assert((int)MESH_UNAUTHENTICATED == (int)MESH__STATUS__UNAUTHENTICATED,
	       "mesh_status follows mesh.proto");

const char *mesh_status_name(mesh_status status)
{
	const ProtobufCEnumValue *v =
	    protobuf_c_enum_descriptor_get_value(&mesh__status__descriptor, (int)status);
	return v != NULL ? v->name : "UNKNOWN";
}

int64_t mesh_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
