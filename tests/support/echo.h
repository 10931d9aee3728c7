/* echo.h: sample.Echo, a test service for libmesh's suites. */
#ifndef CLEAVE_TEST_ECHO_H
#define CLEAVE_TEST_ECHO_H

#include <stdatomic.h>

#include "sample.pb-c.h"

/* echo_service answers Get with "echo:<label>:<caller>" (NOT_FOUND "no 404" for id 404), Slow
 * after sleeping id milliseconds, Fail with no status, and Spin after burning id milliseconds of
 * its thread's CPU time. */
extern Sample__Echo_Service echo_service;

/* echo_slow_started counts the Slow calls that started. */
extern atomic_int echo_slow_started;

#endif
