/* init_templates.h: the files meshctl init writes, with @KEY@ placeholders (see init.c). They
 * follow svc/users: its proto, service.c, seed and manifest, for records of one short text. */
#ifndef CLEAVE_MESHCTL_INIT_TEMPLATES_H
#define CLEAVE_MESHCTL_INIT_TEMPLATES_H

/* proto/NAME.proto */
static const char init_proto_template[] =
    "// @NAME@.proto: the @NAME@ service's messages and methods.\n"
    "syntax = \"proto3\";\n"
    "\n"
    "package @NAME@;\n"
    "\n"
    "message @ITEM@ {\n"
    "  int64 id = 1;\n"
    "  string text = 2;        // 1-1000 characters\n"
    "  int64 created_at = 3;   // when it was created, in seconds since 1970 (UTC)\n"
    "}\n"
    "\n"
    "// List pages: at most `limit` @WHATS@ after `after` (0: from the first).\n"
    "message @LIST_REQUEST@ {\n"
    "  int32 limit = 1;        // 1 to 1000; 0: the default page, 100\n"
    "  int64 after = 2;        // only ids above this\n"
    "}\n"
    "\n"
    "message @LIST_REPLY@ {\n"
    "  repeated @ITEM@ items = 1;\n"
    "  int64 next_after = 2;   // `after` of the next page; 0 when this is the last\n"
    "}\n"
    "\n"
    "message @CREATE_REQUEST@ {\n"
    "  string text = 1;        // 1-1000 characters\n"
    "}\n"
    "\n"
    "message @GET_REQUEST@ {\n"
    "  int64 id = 1;\n"
    "}\n"
    "\n"
    "service @SERVICE@ {\n"
    "  rpc List(@LIST_REQUEST@) returns (@LIST_REPLY@);\n"
    "  rpc Get(@GET_REQUEST@) returns (@ITEM@);\n"
    "  rpc Create(@CREATE_REQUEST@) returns (@ITEM@);\n"
    "}\n";

/* svc/NAME/service.c: formatted for short names; init.c runs clang-format on it when it can. */
static const char init_service_template[] =
    "/* service.c: the @NAME@ service: list, get and create @WHATS@, in its own SQLite store. */\n"
    "#include <time.h>\n"
    "\n"
    "#include \"mesh.h\"\n"
    "#include \"store.h\"\n"
    "#include \"svc.h\"\n"
    "#include \"@NAME@.pb-c.h\"\n"
    "\n"
    "/* prepare_@NAME@: what a new @WHAT@ must be (a text of 1 to 1000 characters), and its\n"
    " * creation time */\n"
    "static int prepare_@NAME@(ProtobufCService *service, const ProtobufCMessage *request,\n"
    "\t\t\t  ProtobufCMessage *row, void *closure_data)\n"
    "{\n"
    "\tconst @C_CREATE_REQUEST@ *input = (const @C_CREATE_REQUEST@ *)request;\n"
    "\t(void)service;\n"
    "\t((@C_ITEM@ *)row)->created_at = (int64_t)time(NULL);\n"
    "\treturn svc_check_text(closure_data, \"text\", input->text, 1, 1000);\n"
    "}\n"
    "\n"
    "/* @NAME@_def: the service, for its executable and the monolith; its List, Get and Create\n"
    " * are the store's (svc_open answers them from their shape) */\n"
    "SVC_DEFINE(@NAME@, &@L_SERVICE@__descriptor, NULL, prepare_@NAME@,\n"
    "\t   .row = &@L_ITEM@__descriptor);\n";

/* svc/NAME/seed.json */
static const char init_seed_template[] =
    "[\n"
    "  {\"id\": 1, \"text\": \"An example @WHAT@, from svc/@NAME@/seed.json\", \"created_at\": "
    "1735689600},\n"
    "  {\"id\": 2, \"text\": \"Another example @WHAT@\", \"created_at\": 1735693200}\n"
    "]\n";

/* svc/NAME/manifest.yml */
static const char init_manifest_template[] =
    "# svc/@NAME@/manifest.yml: what the @NAME@ service serves and the routes the edge sends "
    "it.\n"
    "name: @NAME@\n"
    "service: @NAME@.@SERVICE@\n"
    "fields:                  # what requests' fields must be, as service.c checks them\n"
    "  List:                  # (the OpenAPI document shows them; see svc/users/manifest.yml)\n"
    "    limit: {minimum: 0, maximum: 1000}\n"
    "  Create:\n"
    "    text: {required: true, min_length: 1, max_length: 1000}\n"
    "routes:\n"
    "  - method: GET\n"
    "    path: /api/@NAME@\n"
    "    rpc: List\n"
    "    body: items          # the reply's repeated field, sent as a bare JSON array\n"
    "    query: [limit, after]\n"
    "    next: next_after     # Link rel=\"next\" with after=<next_after> while pages remain\n"
    "  - method: GET\n"
    "    path: /api/@NAME@/{id}\n"
    "    rpc: Get\n"
    "  - method: POST\n"
    "    path: /api/@NAME@\n"
    "    rpc: Create          # the JSON body fills the request\n"
    "    status: 201\n"
    "    location: /api/@NAME@/{id}\n";

#endif
