/* transcode.h: HTTP request parts to request protobufs, reply protobufs to JSON bodies. */
#ifndef CLEAVE_EDGE_TRANSCODE_H
#define CLEAVE_EDGE_TRANSCODE_H

#include <stddef.h>

#include "pbjson.h"
#include "route.h"

/* transcode_params fills msg, an initialised request of the route's method's input type, from
 * the path's parameters. String fields are left pointing into path's segments, which must
 * outlive msg's use. Returns 0, or -1 with a reason for a 400 answer in err. */
int transcode_params(const route *r, const route_path *path, ProtobufCMessage *msg, char *err,
		     size_t errlen);

/* transcode_query fills msg's fields named by the route's query parameters from query, the raw
 * query string (without '?', len bytes). Other parameters are ignored. Returns 0, or -1 with a
 * reason for a 400 answer in err. */
int transcode_query(const route *r, const char *query, size_t len, ProtobufCMessage *msg, char *err,
		    size_t errlen);

/* TRANSCODE_MAX_DEPTH: how deep a body may nest arrays and objects (the body's object is level
 * 1); deeper is a 400. */
#define TRANSCODE_MAX_DEPTH 32

/* transcode_body makes the route's request message from a JSON object body (len bytes). On
 * success returns it, the caller's, to free with protobuf_c_message_free_unpacked(msg, NULL);
 * otherwise NULL with a reason for a 400 answer in err (naming the field at fault). */
ProtobufCMessage *transcode_body(const route *r, const char *body, size_t len, char *err,
				 size_t errlen);

/* transcode_location appends the route's Location for a success answered with reply.
 * Returns 0, or -1 if memory ran out. */
int transcode_location(const route *r, const ProtobufCMessage *reply, pbjson_buf *buf);

/* transcode_next_link appends the Link header value pointing at the next page, when reply says
 * there is one: target (len bytes) is the request's path and query, repeated with the route's
 * next parameter set. Returns 1 if it appended a link, 0 if this is the last page. */
int transcode_next_link(const route *r, const ProtobufCMessage *reply, const char *target,
			size_t len, pbjson_buf *buf);

/* transcode_reply appends the JSON body answering r with reply: the reply object, or its body
 * field as a bare array. reply stays the caller's. Returns 0, or -1 if memory ran out. */
int transcode_reply(const route *r, const ProtobufCMessage *reply, pbjson_buf *buf);

/* transcode_error appends an error body {"code":code,"message":message}.
 * Returns 0, or -1 if memory ran out. */
int transcode_error(pbjson_buf *buf, const char *code, const char *message);

#endif
