/* http_status.c: mesh status to HTTP status, as gRPC's HTTP mapping; and reason phrases. */
#include "http_status.h"

int http_status_for(mesh_status status)
{
	switch (status) {
	case MESH_OK:
		return 200;
	case MESH_CANCELLED:
		return 499;
	case MESH_INVALID_ARGUMENT:
	case MESH_FAILED_PRECONDITION:
	case MESH_OUT_OF_RANGE:
		return 400;
	case MESH_UNAUTHENTICATED: /* not 401: it needs a WWW-Authenticate challenge (RFC 9110
				    * 15.5.2), and clients of the edge have no scheme to answer */
	case MESH_PERMISSION_DENIED:
		return 403;
	case MESH_NOT_FOUND:
		return 404;
	case MESH_ALREADY_EXISTS:
	case MESH_ABORTED:
		return 409;
	case MESH_RESOURCE_EXHAUSTED:
		return 429;
	case MESH_UNIMPLEMENTED:
		return 501;
	case MESH_UNAVAILABLE:
		return 503;
	case MESH_DEADLINE_EXCEEDED:
		return 504;
	case MESH_UNKNOWN:
	case MESH_INTERNAL:
	case MESH_DATA_LOSS:
	default:
		return 500;
	}
}

const char *http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 412:
		return "Precondition Failed";
	case 413:
		return "Payload Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 421:
		return "Misdirected Request";
	case 431:
		return "Request Header Fields Too Large";
	case 429:
		return "Too Many Requests";
	case 499:
		return "Client Closed Request";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Internal Server Error";
	}
}
