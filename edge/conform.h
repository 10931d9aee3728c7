/* conform.h: the RFC 9110 and RFC 9112 request checks that h2o 2.2 leaves to the edge. */
#ifndef CLEAVE_EDGE_CONFORM_H
#define CLEAVE_EDGE_CONFORM_H

#include <stddef.h>

/* conform_request: an HTTP/1.x request's head as it arrived, and what h2o made of its request
 * line. Every pointer is borrowed. */
typedef struct conform_request {
	const char *head; /* the bytes from the request line on; more (the body) may follow */
	size_t len;
	const char *method; /* the method and request-target h2o parsed, to find them in head */
	size_t method_len;
	const char *target;
	size_t target_len;
	int minor_version; /* 0: HTTP/1.0, 1: HTTP/1.1 */
} conform_request;

/* conform_form: the form of a request-target (RFC 9112 3.2). */
typedef enum conform_form {
	CONFORM_ORIGIN,	  /* "/path?query" */
	CONFORM_ABSOLUTE, /* "http://host/path?query" */
	CONFORM_ASTERISK, /* "*", for a server-wide OPTIONS */
	CONFORM_BAD,	  /* none of them, or an absolute form the edge refuses */
} conform_form;

/* conform_host_valid says whether value (len bytes) is a valid Host field value, uri-host
 * [":" port] (RFC 9110 7.2, RFC 3986 3.2.2), surrounding whitespace allowed; empty is valid. */
int conform_host_valid(const char *value, size_t len);

/* conform_head_check reads r's head line by line and refuses what RFC 9112 says a server must
 * answer with 400 but h2o 2.2 passes on: an HTTP/1.1 request without Host, more than one Host
 * line, an invalid Host (ignored for an absolute-form target, 3.2.2), Content-Length lines that
 * differ (6.3), Content-Length together with Transfer-Encoding or Transfer-Encoding in an
 * HTTP/1.0 request (6.1: the connection must close after the answer), obsolete line folding
 * (5.2). h2o has already parsed the head, so its syntax is not checked again. Returns 0 if the
 * head passes, 1 if r->head does not start with r's request line (nothing was checked), -1 with
 * the reason in why if it must be refused. */
int conform_head_check(const conform_request *r, char *why, size_t whylen);

/* conform_target reads a request-target (len bytes) of a request that came over TLS or not (tls).
 * For the absolute form it sets *path_at to where the path starts (len, or the offset of '?',
 * for an empty path, which means "/"), and checks it is an http or https URI with a valid,
 * non-empty host and no userinfo (RFC 9110 4.2.1, 4.2.4). Without tls an https URI is refused
 * with *status 421: a request for an https resource must be rejected unless it came over TLS
 * (RFC 9110 7.4); every other refusal is *status 400. On CONFORM_BAD why says why. */
conform_form conform_target(const char *target, size_t len, int tls, size_t *path_at, int *status,
			    char *why, size_t whylen);

/* conform_etag_list says what an If-Match or If-None-Match field value (len bytes) holds:
 * 0: nothing but empty list elements and whitespace, 1: "*", 2: a list of entity tags. */
int conform_etag_list(const char *value, size_t len);

#endif
