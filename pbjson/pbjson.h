/* pbjson.h: protobuf-c messages to JSON and back, driven by their descriptors.
 *
 * The mapping is proto3's JSON mapping with cleave's contract (DESIGN.md): fields in schema order,
 * lowerCamelCase names, every field written (zero values too, unset messages as null), 64-bit
 * integers as JSON numbers, enums by name, bytes as base64, strings escaped as JavaScript's
 * JSON.stringify escapes them (invalid UTF-8 becomes U+FFFD). */
#ifndef CLEAVE_PBJSON_H
#define CLEAVE_PBJSON_H

#include <stddef.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* pbjson_buf: a growing output buffer. After an allocation failure it stops growing, drops
 * further output and reports failure from the encode call. */
typedef struct pbjson_buf {
	char *data; /* not NUL-terminated */
	size_t len;
	size_t cap;
	int failed;
} pbjson_buf;

/* pbjson_buf_init makes buf empty; it owns no memory until something is written. */
void pbjson_buf_init(pbjson_buf *buf);

/* pbjson_buf_reset empties buf, keeping its memory for reuse. */
void pbjson_buf_reset(pbjson_buf *buf);

/* pbjson_buf_fini frees buf's memory. */
void pbjson_buf_fini(pbjson_buf *buf);

/* pbjson_buf_append appends len bytes of data. */
void pbjson_buf_append(pbjson_buf *buf, const char *data, size_t len);

/* pbjson_encode_message appends msg as a JSON object. msg stays the caller's.
 * Returns 0, or -1 if memory ran out. */
int pbjson_encode_message(pbjson_buf *buf, const ProtobufCMessage *msg);

/* pbjson_encode_field appends the value of one field of msg (an array for a repeated field).
 * field must be one of msg's descriptor's fields. Returns 0, or -1 if memory ran out. */
int pbjson_encode_field(pbjson_buf *buf, const ProtobufCMessage *msg,
			const ProtobufCFieldDescriptor *field);

/* pbjson_encode_string appends s (len bytes, any content) as a quoted, escaped JSON string.
 * Returns 0, or -1 if memory ran out. */
int pbjson_encode_string(pbjson_buf *buf, const char *s, size_t len);

/* pbjson_utf8_length returns how many characters (code points) the len bytes at s hold, or -1
 * if they are not valid UTF-8 or hold a NUL. */
long pbjson_utf8_length(const char *s, size_t len);

/* pbjson_json_name writes the lowerCamelCase JSON name of a proto field name ("created_by" gives
 * "createdBy") into out, truncated to outlen - 1 bytes and NUL-terminated. */
void pbjson_json_name(const char *proto_name, char *out, size_t outlen);

/* pbjson_member_size returns the bytes one value of a field of type takes in a protobuf-c
 * message (an element, for a repeated field). */
size_t pbjson_member_size(ProtobufCType type);

/* pbjson_decode builds a message of type desc from the JSON object obj, accepting each field by
 * its JSON name or its proto name. Fields absent from obj keep their zero value; an unknown
 * field, a value of the wrong type or out of range fails. On success returns the new message,
 * the caller's, to free with protobuf_c_message_free_unpacked(msg, NULL); on failure returns
 * NULL with a reason naming the field in err. obj stays the caller's. */
ProtobufCMessage *pbjson_decode(const ProtobufCMessageDescriptor *desc, const json_t *obj,
				char *err, size_t errlen);

/* pbjson_load_array reads the file at path, a JSON array of objects of type desc. On success
 * *out is a malloc'd array of *n messages, all the caller's (free each with
 * protobuf_c_message_free_unpacked, then the array with free). Returns 0, or -1 with a reason
 * (file, position or element index, and field) in err. */
int pbjson_load_array(const char *path, const ProtobufCMessageDescriptor *desc,
		      ProtobufCMessage ***out, size_t *n, char *err, size_t errlen);

#endif
