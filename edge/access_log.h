/* access_log.h: one line per request: time, method, path, status, service, milliseconds, W3C
 * trace id, request id:
 *   2024-05-01T12:00:00.123Z GET /api/users/1 200 users 0.412ms
 *   trace=4bf92f3577b34da6a3ce929d0e0e4736 [9f86d081884c7d65]   (one line)
 */
#ifndef CLEAVE_EDGE_ACCESS_LOG_H
#define CLEAVE_EDGE_ACCESS_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct access_log {
	FILE *out;   /* NULL: logging is off */
	int owned;   /* out was opened here */
	int pending; /* lines written since the last flush */
} access_log;

/* access_log_open starts logging to where: "-" for stdout, "off" for nothing, else a file
 * appended to. Returns 0, or -1 with a reason in err. */
int access_log_open(access_log *log, const char *where, char *err, size_t errlen);

/* access_log_write logs one request. Bytes of method, path and request id that are not
 * printable are written as '?', so a request cannot forge log lines. trace is the 32 hex digits
 * of its trace id (the edge wrote them: they are not checked), or NULL: "trace=-". A request
 * without an id (request_id_len 0) is logged with "[-]". */
void access_log_write(access_log *log, const char *method, size_t method_len, const char *path,
		      size_t path_len, int status, const char *service, int64_t duration_us,
		      const char *trace, const char *request_id, size_t request_id_len);

/* access_log_flush pushes buffered lines out. */
void access_log_flush(access_log *log);

/* access_log_close flushes and closes the log. */
void access_log_close(access_log *log);

#endif
