/* http.h: a small blocking HTTP client for tests, over libcurl. */
#ifndef CLEAVE_TEST_HTTP_H
#define CLEAVE_TEST_HTTP_H

#include <stddef.h>

#include <jansson.h>

/* http_response: what came back. */
typedef struct http_response {
	long status; /* 0 if the request failed at the transport */
	char *body;  /* NUL-terminated, malloc'd */
	size_t body_len;
	char *headers;	 /* the raw header block of the final response, malloc'd */
	long version;	 /* 11 or 2 */
	double seconds;	 /* total time */
	char error[256]; /* libcurl's reason when status is 0 */
} http_response;

/* http_options: zero for the defaults. */
typedef struct http_options {
	const char *body;	    /* request body, or NULL */
	const char *content_type;   /* with body */
	int http2;		    /* use HTTP/2 with prior knowledge */
	long timeout_ms;	    /* default 5000 */
	const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL */
	/* https:// URLs: the CA bundle the server's certificate must chain to (NULL: the
	 * system's), and "HOST:PORT:ADDRESS" to reach HOST at ADDRESS (curl --resolve), so a
	 * certificate for HOST is checked while connecting to 127.0.0.1; over https http2 asks
	 * for HTTP/2 by ALPN (h2, else http/1.1), not by prior knowledge, and without http2 ALPN
	 * offers http/1.1 alone */
	const char *ca_file;
	const char *resolve;
} http_options;

/* curl_global_init_once initialises libcurl; call it before starting threads that make
 * requests. */
void curl_global_init_once(void);

/* http_request sends method to url. Fills *out (free with http_response_free).
 * Returns 0 if a response arrived, -1 otherwise (out->error says why). */
int http_request(const char *method, const char *url, const http_options *opts, http_response *out);

/* http_get is http_request("GET", url, NULL, out). */
int http_get(const char *url, http_response *out);

/* http_raw sends bytes as they are to 127.0.0.1:port and reads the answer until the server
 * closes or timeout_ms passes. Returns the answer (malloc'd, NUL-terminated), or NULL. */
char *http_raw(int port, const char *bytes, size_t len, int timeout_ms);

/* http_get_list GETs the list at url and every page its Link rel="next" leads to, and returns
 * the items of every page, in order, in one JSON array (the caller's, to json_decref); NULL if a
 * request failed, a status was not 200, a body was not an array or a Link did not parse. */
json_t *http_get_list(const char *url);

/* http_get_array_length returns how many items the list at url holds over all its pages
 * (http_get_list), or -1 if http_get_list failed. */
long http_get_array_length(const char *url);

/* http_raw_at is http_raw to ipv4:port (dotted quad, borrowed). */
char *http_raw_at(const char *ipv4, int port, const char *bytes, size_t len, int timeout_ms);

/* http_raw_connect connects to ipv4:port (dotted quad, borrowed) for a raw exchange in steps.
 * Returns the socket (the caller's to close), or -1. */
int http_raw_connect(const char *ipv4, int port);

/* http_raw_send sends len bytes on fd as they are, as many as the server takes before it
 * closes. */
void http_raw_send(int fd, const char *bytes, size_t len);

/* http_raw_read reads from fd until what it read holds until (NULL: read on), the server closes
 * (then *closed is 1; closed may be NULL) or timeout_ms passes. Returns what it read, malloc'd
 * and NUL-terminated (never NULL), and its length in *len (len may be NULL; the bytes may hold
 * NULs). */
char *http_raw_read(int fd, int timeout_ms, const char *until, size_t *len, int *closed);

/* http_header returns the value of header name (case-insensitive) in r, copied to out, or NULL
 * if it is absent. */
const char *http_header(const http_response *r, const char *name, char *out, size_t outlen);

/* http_response_free frees what r holds. */
void http_response_free(http_response *r);

#endif
