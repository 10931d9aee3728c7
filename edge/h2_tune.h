/* h2_tune.h: per-connection settings h2o 2.2 has no option for, set on its HTTP/2 connections. */
#ifndef CLEAVE_EDGE_H2_TUNE_H
#define CLEAVE_EDGE_H2_TUNE_H

#include <h2o.h>

/* h2_tune_no_response_index makes the HPACK encoder of req's HTTP/2 connection keep no dynamic
 * table (a no-op for HTTP/1 requests and once done). h2o 2.2 adds nearly every response field
 * to it, each in a block of its own, up to 32 per connection: with a new X-Request-Id in every
 * answer, about 3.5 KB per connection that never serves a second answer better. The fields
 * are then sent as literals; the client's decoder still indexes them (as it was told to), and
 * since the encoder never refers to its table, the two never disagree. */
void h2_tune_no_response_index(h2o_req_t *req);

#endif
