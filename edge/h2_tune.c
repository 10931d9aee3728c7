/* h2_tune.c: per-connection settings h2o 2.2 has no option for, set on its HTTP/2 connections
 * through h2o's internal header (Debian's libh2o-evloop-dev 2.2.5 installs it). */
#include <h2o.h>
#include <h2o/http2.h>
#include <h2o/http2_internal.h>

#include "h2_tune.h"

/* The fields read here are h2o's internals: checked against 2.2 alone (Debian 12's 2.2.5). */
#if H2O_VERSION_MAJOR != 2 || H2O_VERSION_MINOR != 2
#error "edge/h2_tune.c reads h2o 2.2's HTTP/2 connection; check its fields against this h2o"
#endif

void h2_tune_no_response_index(h2o_req_t *req)
{
	h2o_http2_conn_t *conn;
	if (req->version < 0x200)
		return;
	conn = (h2o_http2_conn_t *)req->conn;
	/* an encoder may keep a smaller table than its peer allows without telling it (RFC 7541
	 * 4.2: the peer's size is a maximum); what it evicts now the peer keeps, unreferenced */
	conn->_output_header_table.hpack_capacity = 0;
}
