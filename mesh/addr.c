/* addr.c: parsing and resolving the urls the event-loop transports speak. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

static int addr_ipc(const char *path, meshi_addr *out)
{
	struct sockaddr_un *un = (struct sockaddr_un *)&out->ss;
	if (path[0] == '\0' || strlen(path) >= sizeof(un->sun_path))
		return EINVAL;
	un->sun_family = AF_UNIX;
	strcpy(un->sun_path, path);
	out->len = sizeof(*un);
	out->framing = SP_IPC;
	out->path = un->sun_path;
	return 0;
}

static int addr_tcp(const char *hostport, int passive, meshi_addr *out)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = passive ? AI_PASSIVE : 0};
	struct addrinfo *res;
	const char *colon = strrchr(hostport, ':');
	char host[256];
	size_t hostlen;
	int any;
	if (colon == NULL || colon[1] == '\0')
		return EINVAL;
	hostlen = (size_t)(colon - hostport);
	if (hostlen >= 2 && hostport[0] == '[' && colon[-1] == ']') {
		hostport++;
		hostlen -= 2;
	}
	if (hostlen >= sizeof(host))
		return EINVAL;
	memcpy(host, hostport, hostlen);
	host[hostlen] = '\0';
	any = hostlen == 0 || strcmp(host, "*") == 0;
	if (any && !passive)
		return EINVAL;
	if (getaddrinfo(any ? NULL : host, colon + 1, &hints, &res) != 0)
		return EINVAL;
	memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
	out->len = res->ai_addrlen;
	out->framing = SP_TCP;
	out->path = NULL;
	freeaddrinfo(res);
	return 0;
}

int meshi_addr_parse(const char *url, int passive, meshi_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (strncmp(url, "ipc://", 6) == 0)
		return addr_ipc(url + 6, out);
	if (strncmp(url, "unix://", 7) == 0)
		return addr_ipc(url + 7, out);
	if (strncmp(url, "tcp://", 6) == 0)
		return addr_tcp(url + 6, passive, out);
	if (strncmp(url, "tls+tcp://", 10) == 0) {
		out->tls = 1;
		return addr_tcp(url + 10, passive, out);
	}
	return EINVAL;
}
