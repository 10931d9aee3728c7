/* addr.h: mesh urls (ipc://PATH, unix://PATH, tcp://HOST:PORT, tls+tcp://HOST:PORT) as socket
 * addresses. */
#ifndef CLEAVE_MESH_ADDR_H
#define CLEAVE_MESH_ADDR_H

#include <sys/socket.h>
#include <sys/un.h>

#include "sp.h"

/* addr: where to connect or listen. */
typedef struct meshi_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	meshi_sp_framing
	    framing;	  /* SP_IPC for ipc:// and unix://, SP_TCP for tcp:// and tls+tcp:// */
	int tls;	  /* tls+tcp://: the stream is TLS (tls.h) */
	const char *path; /* the socket file for ipc, inside ss */
} meshi_addr;

/* meshi_addr_parse resolves url. For a listener (passive), a tcp host of "*" or nothing means every
 * address. Returns 0, or EINVAL if url is not one of these forms or does not resolve. */
int meshi_addr_parse(const char *url, int passive, meshi_addr *out);

#endif
