/* http.c: blocking HTTP requests for tests (libcurl), and raw bytes over a TCP socket. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "harness.h"
#include "http.h"

/* growing: a byte buffer libcurl appends to. */
typedef struct growing {
	char *data;
	size_t len;
} growing;

static size_t append(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	growing *g = userdata;
	size_t n = size * nmemb;
	char *grown = realloc(g->data, g->len + n + 1);
	if (grown == NULL)
		return 0;
	memcpy(grown + g->len, ptr, n);
	g->len += n;
	grown[g->len] = '\0';
	g->data = grown;
	return n;
}

/* append_header keeps only the last response's header block (after redirects or 100s). */
static size_t append_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	growing *g = userdata;
	if (size * nmemb >= 5 && strncmp(ptr, "HTTP/", 5) == 0)
		g->len = 0;
	return append(ptr, size, nmemb, userdata);
}

void curl_global_init_once(void)
{
	static int done;
	if (!done)
		curl_global_init(CURL_GLOBAL_DEFAULT);
	done = 1;
}

/* http_tls_options sets what o says of TLS on curl, for an https:// URL: the CA bundle, the
 * address to resolve the host to (*resolve keeps the list, to free after the transfer) and the
 * HTTP version ALPN asks for. */
static void http_tls_options(CURL *curl, const http_options *o, struct curl_slist **resolve)
{
	if (o->ca_file != NULL)
		curl_easy_setopt(curl, CURLOPT_CAINFO, o->ca_file);
	if (o->resolve != NULL) {
		*resolve = curl_slist_append(*resolve, o->resolve);
		curl_easy_setopt(curl, CURLOPT_RESOLVE, *resolve);
	}
	curl_easy_setopt(curl, CURLOPT_HTTP_VERSION,
			 o->http2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1);
}

int http_request(const char *method, const char *url, const http_options *opts, http_response *out)
{
	http_options o = opts != NULL ? *opts : (http_options){0};
	growing body = {0}, headers = {0};
	struct curl_slist *list = NULL, *list_resolve = NULL;
	char type_line[256];
	CURLcode rc;
	CURL *curl = curl_easy_init();
	memset(out, 0, sizeof(*out));
	if (curl == NULL) {
		snprintf(out->error, sizeof(out->error), "curl_easy_init failed");
		return -1;
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, o.timeout_ms > 0 ? o.timeout_ms : 5000L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, append_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &headers);
	curl_easy_setopt(curl, CURLOPT_PROXY, "");
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	if (o.body != NULL) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, o.body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(o.body));
		if (o.content_type != NULL) {
			snprintf(type_line, sizeof(type_line), "Content-Type: %s", o.content_type);
			list = curl_slist_append(list, type_line);
		}
	}
	for (const char *const *h = o.headers; h != NULL && *h != NULL; h++)
		list = curl_slist_append(list, *h);
	if (list != NULL)
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
	if (strncmp(url, "https://", 8) == 0)
		http_tls_options(curl, &o, &list_resolve);
	else
		curl_easy_setopt(curl, CURLOPT_HTTP_VERSION,
				 o.http2 ? CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
					 : CURL_HTTP_VERSION_1_1);
	rc = curl_easy_perform(curl);
	if (rc == CURLE_OK) {
		long version = 0;
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
		curl_easy_getinfo(curl, CURLINFO_HTTP_VERSION, &version);
		curl_easy_getinfo(curl, CURLINFO_TOTAL_TIME, &out->seconds);
		out->version = version == CURL_HTTP_VERSION_2_0 ? 2 : 11;
	} else {
		snprintf(out->error, sizeof(out->error), "%s", curl_easy_strerror(rc));
	}
	out->body = body.data != NULL ? body.data : strdup("");
	out->body_len = body.len;
	out->headers = headers.data != NULL ? headers.data : strdup("");
	curl_slist_free_all(list);
	curl_easy_cleanup(curl);
	curl_slist_free_all(list_resolve);
	return rc == CURLE_OK ? 0 : -1;
}

int http_get(const char *url, http_response *out)
{
	return http_request("GET", url, NULL, out);
}

const char *http_header(const http_response *r, const char *name, char *out, size_t outlen)
{
	size_t n = strlen(name);
	for (const char *line = r->headers; line != NULL && *line != '\0';) {
		const char *end = strstr(line, "\r\n");
		if (end == NULL)
			end = line + strlen(line);
		if ((size_t)(end - line) > n && strncasecmp(line, name, n) == 0 && line[n] == ':') {
			const char *v = line + n + 1;
			while (*v == ' ')
				v++;
			snprintf(out, outlen, "%.*s", (int)(end - v), v);
			return out;
		}
		line = *end != '\0' ? end + 2 : end;
	}
	return NULL;
}

/* http_origin_length returns how many bytes of url are its scheme and authority
 * ("http://127.0.0.1:8080"), where a path from a Link goes. */
static size_t http_origin_length(const char *url)
{
	const char *host = strstr(url, "://");
	host = host != NULL ? host + 3 : url;
	return (size_t)(host - url) + strcspn(host, "/?");
}

json_t *http_get_list(const char *url)
{
	json_t *all = json_array();
	char here[2048], link[1024], next[1024];
	size_t origin = http_origin_length(url);
	if (strlen(url) >= sizeof(here)) {
		json_decref(all);
		return NULL;
	}
	memcpy(here, url, strlen(url) + 1);
	for (int pages = 0; all != NULL && pages < 100000; pages++) {
		http_response r;
		json_t *body = NULL;
		int ok = http_get(here, &r) == 0 && r.status == 200 &&
			 (body = json_loads(r.body, 0, NULL)) != NULL && json_is_array(body) &&
			 json_array_extend(all, body) == 0;
		const char *has_next = ok ? http_header(&r, "link", link, sizeof(link)) : NULL;
		json_decref(body);
		http_response_free(&r);
		if (!ok)
			break;
		if (has_next == NULL)
			return all;
		/* Link: <PATH>; rel="next", PATH on the same origin */
		if (sscanf(link, "<%1000[^>]>; rel=\"next\"", next) != 1 || next[0] != '/')
			break;
		if (origin + strlen(next) >= sizeof(here))
			break;
		memcpy(here, url, origin);
		memcpy(here + origin, next, strlen(next) + 1);
	}
	json_decref(all);
	return NULL;
}

long http_get_array_length(const char *url)
{
	json_t *all = http_get_list(url);
	long n = all != NULL ? (long)json_array_size(all) : -1;
	json_decref(all);
	return n;
}

char *http_raw(int port, const char *bytes, size_t len, int timeout_ms)
{
	return http_raw_at("127.0.0.1", port, bytes, len, timeout_ms);
}

int http_raw_connect(const char *ipv4, int port)
{
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd;
	if (inet_pton(AF_INET, ipv4, &addr.sin_addr) != 1)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

void http_raw_send(int fd, const char *bytes, size_t len)
{
	for (size_t sent = 0; sent < len;) {
		ssize_t w = send(fd, bytes + sent, len - sent, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		sent += (size_t)w;
	}
}

char *http_raw_read(int fd, int timeout_ms, const char *until, size_t *len, int *closed)
{
	growing answer = {0};
	long long end = harness_now_ms() + timeout_ms;
	if (closed != NULL)
		*closed = 0;
	while (until == NULL || answer.data == NULL ||
	       memmem(answer.data, answer.len, until, strlen(until)) == NULL) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		long long left = end - harness_now_ms();
		char chunk[4096];
		ssize_t n;
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		n = recv(fd, chunk, sizeof(chunk), 0);
		if (n <= 0) {
			if (closed != NULL)
				*closed = 1;
			break;
		}
		append(chunk, 1, (size_t)n, &answer);
	}
	if (len != NULL)
		*len = answer.len;
	return answer.data != NULL ? answer.data : strdup("");
}

char *http_raw_at(const char *ipv4, int port, const char *bytes, size_t len, int timeout_ms)
{
	int fd = http_raw_connect(ipv4, port);
	char *answer;
	if (fd < 0)
		return NULL;
	http_raw_send(fd, bytes, len);
	answer = http_raw_read(fd, timeout_ms, NULL, NULL, NULL);
	close(fd);
	return answer;
}

void http_response_free(http_response *r)
{
	free(r->body);
	free(r->headers);
	r->body = r->headers = NULL;
}
