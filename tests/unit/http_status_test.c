/* http_status_test.c: unit tests of the mesh status -> HTTP status table, status names, reasons. */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "harness.h"

#include "http_status.h"
#include "mesh.h"
#include "mesh.pb-c.h"

/* table: gRPC's HTTP mapping, one row per mesh status, with its name; but UNAUTHENTICATED is 403,
 * not 401, which needs a WWW-Authenticate challenge the edge does not have (RFC 9110 15.5.2). */
static const struct {
	mesh_status status;
	const char *name;
	int http;
} table[] = {
    {MESH_OK, "OK", 200},
    {MESH_CANCELLED, "CANCELLED", 499},
    {MESH_UNKNOWN, "UNKNOWN", 500},
    {MESH_INVALID_ARGUMENT, "INVALID_ARGUMENT", 400},
    {MESH_DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED", 504},
    {MESH_NOT_FOUND, "NOT_FOUND", 404},
    {MESH_ALREADY_EXISTS, "ALREADY_EXISTS", 409},
    {MESH_PERMISSION_DENIED, "PERMISSION_DENIED", 403},
    {MESH_RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED", 429},
    {MESH_FAILED_PRECONDITION, "FAILED_PRECONDITION", 400},
    {MESH_ABORTED, "ABORTED", 409},
    {MESH_OUT_OF_RANGE, "OUT_OF_RANGE", 400},
    {MESH_UNIMPLEMENTED, "UNIMPLEMENTED", 501},
    {MESH_INTERNAL, "INTERNAL", 500},
    {MESH_UNAVAILABLE, "UNAVAILABLE", 503},
    {MESH_DATA_LOSS, "DATA_LOSS", 500},
    {MESH_UNAUTHENTICATED, "UNAUTHENTICATED", 403},
};

#define NROWS (int)(sizeof(table) / sizeof(table[0]))

START_TEST(test_http_status_table_is_complete)
{
	/* one row per status, in number order, 0 to 16 */
	ck_assert_int_eq(NROWS, 17);
	for (int i = 0; i < NROWS; i++)
		ck_assert_int_eq(table[i].status, i);
	ck_assert_int_eq(MESH_UNAUTHENTICATED, 16);
}
END_TEST

START_TEST(test_http_status_for_each_status)
{
	ck_assert_msg(http_status_for(table[_i].status) == table[_i].http, "%s gives %d, want %d",
		      table[_i].name, http_status_for(table[_i].status), table[_i].http);
}
END_TEST

START_TEST(test_http_status_name_of_each_status)
{
	ck_assert_str_eq(mesh_status_name(table[_i].status), table[_i].name);
}
END_TEST

START_TEST(test_http_status_names_follow_mesh_proto)
{
	/* the names are mesh.proto's own */
	for (int i = 0; i < NROWS; i++) {
		const ProtobufCEnumValue *v =
		    protobuf_c_enum_descriptor_get_value(&mesh__status__descriptor, i);
		ck_assert_ptr_nonnull(v);
		ck_assert_str_eq(mesh_status_name((mesh_status)i), v->name);
	}
}
END_TEST

START_TEST(test_http_status_out_of_range)
{
	ck_assert_str_eq(mesh_status_name((mesh_status)17), "UNKNOWN");
	ck_assert_str_eq(mesh_status_name((mesh_status)-1), "UNKNOWN");
	ck_assert_str_eq(mesh_status_name((mesh_status)1000), "UNKNOWN");
	ck_assert_int_eq(http_status_for((mesh_status)17), 500);
	ck_assert_int_eq(http_status_for((mesh_status)-1), 500);
}
END_TEST

START_TEST(test_http_status_reason_phrases)
{
	static const struct {
		int status;
		const char *reason;
	} reasons[] = {
	    {200, "OK"},
	    {201, "Created"},
	    {204, "No Content"},
	    {304, "Not Modified"},
	    {400, "Bad Request"},
	    {401, "Unauthorized"},
	    {403, "Forbidden"},
	    {404, "Not Found"},
	    {405, "Method Not Allowed"},
	    {409, "Conflict"},
	    {412, "Precondition Failed"},
	    {413, "Payload Too Large"},
	    {415, "Unsupported Media Type"},
	    {421, "Misdirected Request"},
	    {429, "Too Many Requests"},
	    {499, "Client Closed Request"},
	    {500, "Internal Server Error"},
	    {501, "Not Implemented"},
	    {503, "Service Unavailable"},
	    {504, "Gateway Timeout"},
	};
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		ck_assert_str_eq(http_reason(reasons[i].status), reasons[i].reason);
}
END_TEST

START_TEST(test_http_status_reason_for_every_mapped_status)
{
	/* every status the table produces has a reason of its own */
	for (int i = 0; i < NROWS; i++) {
		int http = http_status_for(table[i].status);
		const char *reason = http_reason(http);
		ck_assert_ptr_nonnull(reason);
		ck_assert_msg(http == 500 || strcmp(reason, "Internal Server Error") != 0,
			      "%d has no reason phrase", http);
	}
}
END_TEST

static Suite *http_status_suite(void)
{
	Suite *s = suite_create("http_status");
	TCase *tc = tcase_create("mapping");
	tcase_add_test(tc, test_http_status_table_is_complete);
	tcase_add_loop_test(tc, test_http_status_for_each_status, 0, NROWS);
	tcase_add_loop_test(tc, test_http_status_name_of_each_status, 0, NROWS);
	tcase_add_test(tc, test_http_status_names_follow_mesh_proto);
	tcase_add_test(tc, test_http_status_out_of_range);
	tcase_add_test(tc, test_http_status_reason_phrases);
	tcase_add_test(tc, test_http_status_reason_for_every_mapped_status);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(http_status_suite(), 0);
}
