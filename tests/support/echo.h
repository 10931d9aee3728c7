/* echo.h: sample.Echo, a test service for libmesh's suites. */
#ifndef CLEAVE_TEST_ECHO_H
#define CLEAVE_TEST_ECHO_H

#include <stdatomic.h>

#include "mesh.h"
#include "sample.pb-c.h"

/* echo_service answers Get with "echo:<label>:<caller>" (NOT_FOUND "no 404" for id 404), Slow
 * after sleeping id milliseconds, Fail with no status, and Spin after burning id milliseconds of
 * its thread's CPU time. Get's label may also ask for: "request-id": the reply's label is
 * "rid:<the call's request id>" ("rid:(none)"); "forward": "fwd:" and the label of a
 * "request-id" Get made through echo_forward with mesh_client_call on the call's behalf (or
 * "fwd:<STATUS>"); "log:TEXT": mesh_log(TEXT), then the usual answer; "defer:MS": the call is
 * deferred (mesh_call_defer) and answered "later:<caller>" from a timer due in MS ms on its
 * loop, or, where it cannot be (nng's workers), "now:<errno value>" at once. */
extern Sample__Echo_Service echo_service;

/* echo_server_new makes a server of echo_service (mesh_server_new; opts may be NULL) that lets
 * every caller call every method: a policy of "* *", the suites' own (a server without a policy
 * answers only Health). On success *out is the caller's, to free with mesh_server_free. Returns
 * 0 or an errno value. */
int echo_server_new(mesh_server **out, const mesh_server_opts *opts);

/* echo_open_policy returns that policy; it lives as long as the process. */
const mesh_policy *echo_open_policy(void);

/* echo_forward: the blocking client "forward" calls through; NULL: "forward" is a plain label */
extern mesh_client *echo_forward;

/* echo_slow_started counts the Slow calls that started. */
extern atomic_int echo_slow_started;

#endif
