/* call.c: meshctl call SERVICE.METHOD 'JSON': one call over the mesh, reply printed as JSON. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "commands.h"
#include "control.h"
#include "manifest.h"
#include "pbjson.h"
#include "registry.h"
#include "targets.h"

/* call_opts: the command line's options. */
typedef struct call_opts {
	const char *address;
	const char *as;
	int timeout_ms;
	const char *tls_cert, *tls_key, *tls_ca;
} call_opts;

static void call_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: meshctl call SERVICE.METHOD ['JSON'] [--address URL] [--timeout-ms N]\n"
	    "                    [--as CALLER] [--state-dir DIR]\n"
	    "                    [--tls-cert FILE --tls-key FILE --tls-ca FILE]\n"
	    "\n"
	    "Calls METHOD of SERVICE over the mesh with the JSON request (default {}) and prints\n"
	    "the reply as JSON, or the status and message on failure (exit 1). SERVICE is a\n"
	    "manifest name (users) or a protobuf service (users.Users, mesh.Mesh); the call\n"
	    "goes to the running mesh's instances of it, or to --address. It claims to come\n"
	    "from --as (default meshctl); the callee checks the claim against the uid this runs\n"
	    "as, then its call policy (meshctl policy).\n"
	    "\n"
	    "A tls+tcp:// address needs a certificate signed by the mesh's CA (meshctl certs):\n"
	    "--tls-cert, --tls-key and --tls-ca, or CLEAVE_TLS_CERT, CLEAVE_TLS_KEY and\n"
	    "CLEAVE_TLS_CA. Its CN is then the identity the callee sees (give --as the same\n"
	    "name), and the callee's certificate must name SERVICE's package (users for\n"
	    "users.Users).\n"
	    "\n"
	    "  meshctl call users.Get '{\"id\": 1}'\n"
	    "  meshctl call posts.ListByThread '{\"thread\": 2, \"limit\": 5}'\n"
	    "  meshctl call mesh.Mesh.Health --address ipc:///path/users-1.sock\n"
	    "  meshctl call posts.Get '{\"id\": 1}' --address tls+tcp://10.0.0.5:7000 \\\n"
	    "      --tls-cert tls/meshctl.crt --tls-key tls/meshctl.key --tls-ca tls/ca.crt\n");
}

/* call_extra takes one of call's options into the call_opts ctx points at. */
static int call_extra(int opt, const char *arg, void *ctx)
{
	call_opts *o = ctx;
	char *end;
	if (opt == 'a') {
		o->address = arg;
		return 0;
	}
	if (opt == 'c') {
		o->as = arg;
		return 0;
	}
	if (opt == 'C' || opt == 'K' || opt == 'A') {
		*(opt == 'C' ? &o->tls_cert : opt == 'K' ? &o->tls_key : &o->tls_ca) = arg;
		return 0;
	}
	if (opt == 't') {
		o->timeout_ms = (int)strtol(arg, &end, 10);
		return end == arg || *end != '\0' || o->timeout_ms <= 0 ? -1 : 0;
	}
	return -1;
}

/* resolve splits target into a service descriptor, the manifest name it runs as (for target
 * files; NULL if none) and the method. Returns 0 or -1 with a reason printed. */
static int resolve(const char *target, const ProtobufCServiceDescriptor **desc, char *name,
		   size_t namelen, const char **method)
{
	const char *dot = strrchr(target, '.');
	char service[256];
	manifest **ms;
	size_t nms;
	char err[512];
	if (dot == NULL || dot == target || dot[1] == '\0' ||
	    (size_t)(dot - target) >= sizeof(service)) {
		fprintf(stderr, "meshctl call: want SERVICE.METHOD, not '%s'\n", target);
		return -1;
	}
	memcpy(service, target, (size_t)(dot - target));
	service[dot - target] = '\0';
	*method = dot + 1;
	name[0] = '\0';
	*desc = registry_find_service(service);
	if (manifest_load_dir(CLEAVE_SOURCE_DIR "/svc", &ms, &nms, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < nms; i++) {
			if (strcmp(ms[i]->name, service) == 0 ||
			    strcmp(ms[i]->service, service) == 0) {
				snprintf(name, namelen, "%s", ms[i]->name);
				if (*desc == NULL)
					*desc = registry_find_service(ms[i]->service);
			}
		}
		manifest_free_all(ms, nms);
	}
	if (*desc == NULL) {
		fprintf(stderr,
			"meshctl call: no service '%s' (a manifest name or a service in "
			"proto/)\n",
			service);
		return -1;
	}
	if (protobuf_c_service_descriptor_get_method_by_name(*desc, *method) == NULL) {
		fprintf(stderr, "meshctl call: %s has no method '%s'\n", (*desc)->name, *method);
		return -1;
	}
	return 0;
}

int cmd_call(int argc, char **argv)
{
	static const struct option extra[] = {{"address", required_argument, NULL, 'a'},
					      {"timeout-ms", required_argument, NULL, 't'},
					      {"as", required_argument, NULL, 'c'},
					      {"tls-cert", required_argument, NULL, 'C'},
					      {"tls-key", required_argument, NULL, 'K'},
					      {"tls-ca", required_argument, NULL, 'A'},
					      {NULL, 0, NULL, 0}};
	const char *state = NULL, *method, *json = "{}";
	const ProtobufCServiceDescriptor *desc;
	const ProtobufCMethodDescriptor *md;
	meshctl_paths paths;
	char name[128], message[MESH_MESSAGE_MAX], err[512];
	json_t *root;
	json_error_t jerr;
	ProtobufCMessage *input, *output = NULL;
	mesh_client *c;
	mesh_client_opts co;
	mesh_status st;
	call_opts o = {.as = "meshctl", .timeout_ms = 5000};
	int r;
	r = state_dir_option(argc, argv, &state, call_usage, "", extra, call_extra, &o);
	if (r != 0)
		return r == 1 ? 0 : 2;
	if (optind >= argc || argc - optind > 2) {
		call_usage(stderr);
		return 2;
	}
	if (argc - optind == 2)
		json = argv[optind + 1];
	if (meshctl_paths_init(&paths, state) != 0 ||
	    resolve(argv[optind], &desc, name, sizeof(name), &method) != 0)
		return 2;
	if (mesh_tls_configure(o.tls_cert, o.tls_key, o.tls_ca, err, sizeof(err)) != 0 ||
	    (o.address != NULL && mesh_tls_check_url(o.address, err, sizeof(err)) != 0)) {
		fprintf(stderr, "meshctl call: %s\n", err);
		return 2;
	}
	md = protobuf_c_service_descriptor_get_method_by_name(desc, method);
	root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL || !json_is_object(root)) {
		fprintf(stderr, "meshctl call: the request must be a JSON object%s%s\n",
			root == NULL ? ": " : "", root == NULL ? jerr.text : "");
		json_decref(root);
		return 2;
	}
	input = pbjson_decode(md->input, root, err, sizeof(err));
	json_decref(root);
	if (input == NULL) {
		fprintf(stderr, "meshctl call: %s\n", err);
		return 2;
	}
	co = (mesh_client_opts){.caller = o.as, .timeout_ms = o.timeout_ms};
	if (mesh_client_new(&c, desc, &co) != 0) {
		protobuf_c_message_free_unpacked(input, NULL);
		return 1;
	}
	if (o.address != NULL) {
		mesh_client_dial(c, o.address);
	} else {
		char path[PATH_MAX + 160];
		rt_target *t = NULL;
		size_t n = 0;
		snprintf(path, sizeof(path), "%s/%s", paths.targets, name);
		if (name[0] == '\0' || rt_targets_read(path, &t, &n) != 0 || n == 0) {
			fprintf(stderr,
				"meshctl call: no running instance of %s in %s (--address URL "
				"calls one directly)\n",
				desc->name, paths.state);
			free(t);
			mesh_client_free(c);
			protobuf_c_message_free_unpacked(input, NULL);
			return 1;
		}
		for (size_t i = 0; i < n; i++)
			if (!t[i].draining)
				mesh_client_dial(c, t[i].url);
		free(t);
	}
	{
		int64_t until = mesh_now_us() + (int64_t)o.timeout_ms * 1000;
		while (mesh_client_instances(c) == 0 && mesh_now_us() < until)
			usleep(5000);
	}
	st = mesh_client_call(c, method, input, &output, NULL, message, sizeof(message));
	protobuf_c_message_free_unpacked(input, NULL);
	mesh_client_free(c);
	if (st != MESH_OK) {
		fprintf(stderr, "%s: %s\n", mesh_status_name(st), message);
		return 1;
	}
	{
		pbjson_buf b;
		json_t *pretty;
		pbjson_buf_init(&b);
		pbjson_encode_message(&b, output);
		pretty = json_loadb(b.data, b.len, 0, NULL);
		if (pretty != NULL) {
			char *text = json_dumps(pretty, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
			printf("%s\n", text);
			free(text);
			json_decref(pretty);
		} else {
			printf("%.*s\n", (int)b.len, b.data);
		}
		pbjson_buf_fini(&b);
	}
	protobuf_c_message_free_unpacked(output, NULL);
	return 0;
}
