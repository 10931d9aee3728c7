/* schema.h: JSON Schemas (2020-12, as OpenAPI 3.1 uses them) of protobuf messages as pbjson writes
 * and reads them: the contract's proto3 JSON mapping, with the rules a manifest's fields: declare.
 */
#ifndef CLEAVE_OPENAPI_SCHEMA_H
#define CLEAVE_OPENAPI_SCHEMA_H

#include <stddef.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "manifest.h"

/* openapi_schemas: the schemas of a document's components, collected as operations refer to
 * them. A message has one component for replies (every field written, so every field required),
 * named by its full name ("users.User"), and one for requests (only what fields: declares is
 * required), named the same unless the message is also a reply's, then with ".Request". */
typedef struct openapi_schemas {
	json_t *components; /* component name -> schema, in the order they were added */
	json_t *in_replies; /* full names of the messages reached from a reply, as keys */
	int failed;	    /* memory ran out: the components are incomplete */
} openapi_schemas;

/* openapi_schemas_init makes s empty. Returns 0, or -1 if memory ran out. */
int openapi_schemas_init(openapi_schemas *s);

/* openapi_schemas_fini frees what s holds. */
void openapi_schemas_fini(openapi_schemas *s);

/* openapi_schemas_note_reply records that desc, and every message its fields hold, are written
 * in replies; call it for every reply before asking for any schema, so names are settled. */
void openapi_schemas_note_reply(openapi_schemas *s, const ProtobufCMessageDescriptor *desc);

/* openapi_schema_reply returns a new {"$ref": ...} to desc's reply schema (the caller's, to
 * json_decref), adding it and what it refers to to s, or NULL if memory ran out. desc is static
 * (protoc-c's). */
json_t *openapi_schema_reply(openapi_schemas *s, const ProtobufCMessageDescriptor *desc);

/* openapi_schema_reply_field returns a new schema (the caller's) of field f of a reply, as it is
 * written (an array, for a repeated field), adding what it refers to to s; NULL if memory ran
 * out. f is static (protoc-c's). */
json_t *openapi_schema_reply_field(openapi_schemas *s, const ProtobufCFieldDescriptor *f);

/* openapi_schema_request returns a new {"$ref": ...} (the caller's) to the schema of desc, the
 * request of m's method rpc, as a JSON body: its fields but the nskip proto names of skip (those
 * the path and the query fill), with the rules m's fields: give rpc's. A body without every field
 * is a component of its own ("<name>.<rpc>Body"). Fails, returning NULL with a reason in err, when
 * another method's request of the same message made the component with other rules, or memory
 * runs out. m and skip stay the caller's. */
json_t *openapi_schema_request(openapi_schemas *s, const ProtobufCMessageDescriptor *desc,
			       const manifest *m, const char *rpc, const char *const *skip,
			       size_t nskip, char *err, size_t errlen);

/* openapi_schema_parameter returns a new schema (the caller's) of a path (in_path) or query
 * parameter filling the integer or string field f, as the edge reads one (a path's integer:
 * decimal digits from 1 to the type's largest; a query's: from 0; a path's string: non-empty),
 * narrowed by rule (NULL: none). NULL if memory ran out. */
json_t *openapi_schema_parameter(const ProtobufCFieldDescriptor *f, const manifest_field *rule,
				 int in_path);

#endif
