/* check_http.h: `edge --check URL`: a minimal blocking HTTP/1.0 GET, for container health checks.
 */
#ifndef CLEAVE_EDGE_CHECK_HTTP_H
#define CLEAVE_EDGE_CHECK_HTTP_H

#include <stddef.h>

/* EDGE_CHECK_TIMEOUT_MS: how long `edge --check URL` waits for the whole answer's status line. */
#define EDGE_CHECK_TIMEOUT_MS 2000

/* edge_check_get does GET url (http://HOST[:PORT][/PATH]; HOST a name, an IPv4 address or an
 * [IPv6] one; https:// over TLS 1.2 or later, the server's certificate not verified: a check of
 * a listener's health, not of its identity) over HTTP/1.0 and reads the status line, all within
 * timeout_ms. Returns the HTTP
 * status (100..599) with a summary in out, -1 with the reason in out, or -2 if url is not such
 * a URL. url is borrowed; out is the caller's (outlen bytes). */
int edge_check_get(const char *url, int timeout_ms, char *out, size_t outlen);

/* edge_check_main is `edge --check URL` (or --check=URL), which the edge's main runs when
 * --check is on its command line: exits 0 if URL answers 200, else 1 with the reason on stderr;
 * 2 for a bad command line. argv is borrowed. */
int edge_check_main(int argc, char **argv);

#endif
