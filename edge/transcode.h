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

/* transcode_reply appends the JSON body answering r with reply: the reply object, or its body
 * field as a bare array. reply stays the caller's. Returns 0, or -1 if memory ran out. */
int transcode_reply(const route *r, const ProtobufCMessage *reply, pbjson_buf *buf);

/* transcode_error appends an error body {"code":code,"message":message}.
 * Returns 0, or -1 if memory ran out. */
int transcode_error(pbjson_buf *buf, const char *code, const char *message);

#endif
