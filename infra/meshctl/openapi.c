/* openapi.c: meshctl openapi: the OpenAPI 3.1 document of the API, from the manifests. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "manifests_cli.h"
#include "openapi.h"

static void openapi_usage(FILE *out)
{
	fprintf(out,
		"usage: meshctl openapi [--out FILE] [--manifests DIR]\n"
		"\n"
		"Writes the OpenAPI 3.1 document of the API the edge serves, generated from the\n"
		"manifests and the protobuf descriptors built into meshctl: every route with its\n"
		"path and query parameters, its request body (proto3 JSON names, 64-bit integers\n"
		"as JSON numbers) with the limits the manifests' fields: declare, its success\n"
		"status, Location and Link, and the JSON errors the edge answers. The edge\n"
		"serves the same document at GET " OPENAPI_PATH ".\n"
		"\n"
		"  --out FILE        write it to FILE (replaced whole) instead of stdout\n"
		"  --manifests DIR   where <name>/manifest.yml are (default svc/ in the checkout)\n"
		"  --help            this text\n"
		"\n"
		"The output is deterministic, so a copy can be committed and checked for drift\n"
		"(docs/openapi.json; integration/openapi_test).\n");
}

/* write_file writes len bytes of text to path through a temporary file renamed over it, so a
 * reader never sees half a document. Returns 0, or -1 with errno set. */
static int write_file(const char *path, const char *text, size_t len)
{
	char tmp[4096];
	FILE *f;
	int ok;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	f = fopen(tmp, "w");
	if (f == NULL)
		return -1;
	ok = fwrite(text, 1, len, f) == len;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		int saved = errno;
		unlink(tmp);
		errno = saved;
		return -1;
	}
	return 0;
}

int cmd_openapi(int argc, char **argv)
{
	const char *dir = CLEAVE_SOURCE_DIR "/svc", *out = NULL;
	manifest **ms;
	size_t n, len;
	char err[512], *text;
	int rc = manifests_cli_options(argc, argv, &out, &dir, openapi_usage, NULL, NULL, NULL);
	if (rc != 0)
		return rc == 1 ? 0 : 2;
	if (optind < argc) {
		fprintf(stderr, "meshctl openapi: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (manifests_cli_load("openapi", dir, &ms, &n) != 0)
		return 1;
	if (openapi_document(ms, n, &text, &len, err, sizeof(err)) != 0) {
		fprintf(stderr, "meshctl openapi: %s\n", err);
		manifest_free_all(ms, n);
		return 1;
	}
	if (out != NULL && write_file(out, text, len) != 0) {
		fprintf(stderr, "meshctl openapi: cannot write %s: %s\n", out, strerror(errno));
		rc = 1;
	} else if (out == NULL && (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0)) {
		fprintf(stderr, "meshctl openapi: cannot write to stdout: %s\n", strerror(errno));
		rc = 1;
	}
	free(text);
	manifest_free_all(ms, n);
	return rc;
}
