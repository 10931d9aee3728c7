/* render.c: meshctl render: deployments (compose, Kubernetes, Copilot, ECS) rendered from the same
 * svc/<name>/manifest.yml that meshctl up runs locally, plus the helpers the targets share. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "manifests_cli.h"
#include "paths.h"
#include "process.h"
#include "render.h"

FILE *render_begin(render_set *s, const char *path)
{
	render_file **grown = realloc(s->files, (s->n + 1) * sizeof(*grown));
	render_file *rf;
	if (grown == NULL)
		return NULL;
	s->files = grown;
	rf = calloc(1, sizeof(*rf));
	if (rf == NULL)
		return NULL;
	rf->path = strdup(path);
	rf->f = rf->path == NULL ? NULL : open_memstream(&rf->text, &rf->len);
	if (rf->f == NULL) {
		free(rf->path);
		free(rf);
		return NULL;
	}
	s->files[s->n++] = rf;
	fputs(RENDER_HEADER, rf->f);
	return rf->f;
}

int render_set_close(render_set *s)
{
	int rc = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (s->files[i]->f == NULL)
			continue;
		if (ferror(s->files[i]->f))
			rc = -1;
		if (fclose(s->files[i]->f) != 0)
			rc = -1;
		s->files[i]->f = NULL;
	}
	return rc;
}

void render_set_free(render_set *s)
{
	render_set_close(s);
	for (size_t i = 0; i < s->n; i++) {
		free(s->files[i]->path);
		free(s->files[i]->text);
		free(s->files[i]);
	}
	free(s->files);
	s->files = NULL;
	s->n = 0;
}

void render_dns(char *out, size_t outlen, const char *name)
{
	size_t i = 0;
	for (; name[i] != '\0' && i + 1 < outlen; i++)
		out[i] = name[i] == '_' ? '-' : name[i];
	out[i] = '\0';
}

void render_env_name(char *out, size_t outlen, const char *name)
{
	size_t i = 0;
	for (; name[i] != '\0' && i + 1 < outlen; i++)
		out[i] = name[i] == '-' ? '_' : (char)toupper((unsigned char)name[i]);
	out[i] = '\0';
}

void render_url(char *out, size_t outlen, const char *host)
{
	snprintf(out, outlen, "tls+tcp://%s:%d", host, RENDER_SVC_PORT);
}

void render_image(const render_ctx *c, char *out, size_t outlen, const char *what)
{
	char dns[128];
	render_dns(dns, sizeof(dns), what);
	snprintf(out, outlen, "%s%s:%s", c->o->image_prefix, dns, c->o->tag);
}

bool render_called_by(const render_ctx *c, size_t i, size_t j)
{
	const char *callee = c->ms[j]->name;
	size_t len = strlen(callee);
	for (size_t k = 0; k < c->ms[i]->ncalls; k++)
		if (strncmp(c->ms[i]->calls[k], callee, len) == 0 && c->ms[i]->calls[k][len] == '.')
			return true;
	return false;
}

void render_calls(const render_ctx *c, size_t k, bool *callee)
{
	for (size_t j = 0; j < c->n; j++)
		callee[j] = render_called_by(c, k, j);
}

bool render_upstream(const render_ctx *c, size_t j)
{
	if (c->ms[j]->nroutes > 0)
		return true;
	for (size_t i = 0; i < c->n; i++)
		for (size_t r = 0; r < c->ms[i]->nroutes; r++)
			if (c->ms[i]->routes[r].split_service != NULL &&
			    strcmp(c->ms[i]->routes[r].split_service, c->ms[j]->name) == 0)
				return true;
	return false;
}

void render_duration(char *out, size_t outlen, int64_t ms)
{
	if (ms % 1000 == 0)
		snprintf(out, outlen, "%llds", (long long)(ms / 1000));
	else
		snprintf(out, outlen, "%lldms", (long long)ms);
}

int64_t render_ceil_s(int64_t ms)
{
	return (ms + 999) / 1000;
}

void render_quote(FILE *f, const char *s)
{
	bool plain = s[0] != '\0' && s[0] != '-' && s[0] != '.';
	for (const char *p = s; plain && *p; p++)
		plain =
		    isalnum((unsigned char)*p) || *p == '.' || *p == '_' || *p == '/' || *p == '-';
	if (plain) {
		fputs(s, f);
		return;
	}
	fputc('\'', f);
	for (const char *p = s; *p; p++) {
		if (*p == '\'')
			fputc('\'', f);
		fputc(*p, f);
	}
	fputc('\'', f);
}

static void render_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: meshctl render compose|kubernetes|ecs|copilot [--out DIR] [--manifests DIR]\n"
	    "                      [--image-prefix PREFIX] [--tag TAG] [--port N]\n"
	    "                      [--edge-count N] [--store sqlite|postgres]\n"
	    "                      [--https-cert FILE --https-key FILE]\n"
	    "\n"
	    "Renders a deployment of the mesh from the manifests that meshctl up runs locally:\n"
	    "the same services, counts, health checks, calls and resources.\n"
	    "\n"
	    "  compose      compose.yml for podman-compose (or docker compose): one container\n"
	    "               per instance, one network, a volume per service, the edge\n"
	    "               published on the host; certificates as compose secrets.\n"
	    "               compose.postgres.yml, merged over it (-f compose.yml -f\n"
	    "               compose.postgres.yml): a PostgreSQL container with a database\n"
	    "               and role per service, each service's URL from store/<name>.env\n"
	    "  kubernetes   mesh/: per service a Deployment, a headless Service, a\n"
	    "               PersistentVolumeClaim and a NetworkPolicy; the edge's Deployment,\n"
	    "               Service and NetworkPolicy. kustomization.yaml: those and a TLS\n"
	    "               Secret per identity from meshctl certs' files; cert-manager/:\n"
	    "               those and cert-manager Certificates instead. With --store\n"
	    "               postgres: no claim, replicas spread over nodes, each service's\n"
	    "               store URL from a Secret (store/: from store/<name>.url)\n"
	    "  ecs          template.yml, a CloudFormation template for Amazon ECS on Fargate:\n"
	    "               per service a task definition, a service (its count), a Cloud Map\n"
	    "               name resolving to every task, a security group open only to what\n"
	    "               may call it, a log group and an execution role; the edge behind an\n"
	    "               Application Load Balancer; certificates from SSM Parameter Store,\n"
	    "               each service's optional store URL from Secrets Manager\n"
	    "  copilot      <name>/manifest.yml for AWS Copilot (no longer supported by AWS\n"
	    "               since 2026-06-12; prefer ecs): the edge a Load Balanced Web\n"
	    "               Service, each service a Backend Service on Service Connect;\n"
	    "               certificates from SSM Parameter Store (secrets:)\n"
	    "\n"
	    "Every target runs the mesh over mutual TLS (tls+tcp://, port 7000): each container\n"
	    "presents its own identity's certificate (edge, or its manifest's name; meshctl certs\n"
	    "makes them), and each service allows only the calls the manifests in its image\n"
	    "allow. The certificates are not in the output: each target says where it reads\n"
	    "them from.\n"
	    "\n"
	    "  --out DIR             write the files into DIR (made if missing; files there that\n"
	    "                        the render does not write are left alone) and list them;\n"
	    "                        without it every file goes to stdout, each after a\n"
	    "                        '# ==> PATH <==' line\n"
	    "  --manifests DIR       where <name>/manifest.yml are (default svc/ in the checkout)\n"
	    "  --image-prefix PREFIX images are PREFIX<name>:TAG (default localhost/cleave-; for\n"
	    "                        ecs the ImagePrefix parameter's default, none for "
	    "localhost/)\n"
	    "  --tag TAG             (default latest)\n"
	    "  --port N              compose: the host port the edge is published on (default\n"
	    "                        8080)\n"
	    "  --edge-count N        instances of the edge, 1 to 64 (default 1)\n"
	    "  --store KIND          kubernetes: where the services keep their data: sqlite\n"
	    "                        (default; on a claim, every replica on its node) or\n"
	    "                        postgres (a PostgreSQL database per service, its URL from\n"
	    "                        a Secret). compose renders both (compose.postgres.yml);\n"
	    "                        ecs takes a store URL per service as a parameter\n"
	    "  --https-cert FILE, --https-key FILE\n"
	    "                        compose: the edge serves HTTPS with this PEM certificate\n"
	    "                        chain and key (absolute paths on the host), their\n"
	    "                        directories mounted read-only into it so that a renewed\n"
	    "                        pair is loaded without a restart; its user (uid 10001)\n"
	    "                        must read both. ecs and copilot serve HTTPS at the load\n"
	    "                        balancer (ecs: the CertificateArn parameter); kubernetes\n"
	    "                        leaves it to an Ingress or load balancer in front\n"
	    "  --help                this text\n"
	    "\n"
	    "The output is deterministic (no timestamps, services in name order), so a\n"
	    "rendered copy can be committed and checked for drift.\n");
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

/* render_write writes the files of s under dir, making directories as needed, and lists them
 * when list is true. */
static int render_write(const render_set *s, const char *dir, bool list)
{
	for (size_t i = 0; i < s->n; i++) {
		char path[4096], *slash;
		bool ok;
		FILE *f;
		if (snprintf(path, sizeof(path), "%s/%s", dir, s->files[i]->path) >=
		    (int)sizeof(path)) {
			fprintf(stderr, "meshctl render: %s/%s: path too long\n", dir,
				s->files[i]->path);
			return -1;
		}
		slash = strrchr(path, '/');
		*slash = '\0';
		if (rt_mkdirs(path, 0755) != 0) {
			fprintf(stderr, "meshctl render: cannot make %s: %s\n", path,
				strerror(errno));
			return -1;
		}
		*slash = '/';
		f = fopen(path, "w");
		ok = f != NULL &&
		     fwrite(s->files[i]->text, 1, s->files[i]->len, f) == s->files[i]->len;
		if (f != NULL && fclose(f) != 0)
			ok = false;
		if (!ok) {
			fprintf(stderr, "meshctl render: cannot write %s: %s\n", path,
				strerror(errno));
			return -1;
		}
		if (list)
			printf("%s\n", path);
	}
	return 0;
}

static int file_cmp(const void *a, const void *b)
{
	return strcmp((*(render_file *const *)a)->path, (*(render_file *const *)b)->path);
}

int render_run(const char *target, const char *manifests, const render_opts *o, const char *out_dir,
	       bool list)
{
	int (*run)(const render_ctx *, char *, size_t);
	render_set set = {0};
	manifest **ms;
	size_t n;
	char err[512];
	int rc;
	if ((o->https_cert != NULL || o->https_key != NULL) && strcmp(target, "compose") != 0) {
		fprintf(stderr,
			"meshctl render: --https-cert and --https-key are for compose: %s serves "
			"HTTPS at what is in front of the edge (see --help)\n",
			target);
		return 2;
	}
	if (strcmp(target, "compose") == 0)
		run = render_compose;
	else if (strcmp(target, "kubernetes") == 0)
		run = render_kubernetes;
	else if (strcmp(target, "copilot") == 0)
		run = render_copilot;
	else if (strcmp(target, "ecs") == 0)
		run = render_ecs;
	else {
		fprintf(stderr,
			"meshctl render: no target '%s' (compose, kubernetes, ecs or copilot; see "
			"meshctl render --help)\n",
			target);
		return 2;
	}
	if (o->store_postgres && run != render_kubernetes) {
		fprintf(stderr, "meshctl render: --store postgres is for kubernetes: %s\n",
			run == render_compose
			    ? "compose renders compose.postgres.yml beside compose.yml, to merge "
			      "over it (-f compose.yml -f compose.postgres.yml)"
			: run == render_ecs ? "the ecs template takes each service's store URL as "
					      "its <Name>StoreSecretArn parameter"
					    : "copilot renders SQLite stores only");
		return 2;
	}
	if (manifests_cli_load("render", manifests, &ms, &n) != 0)
		return 1;
	if (n == 0) {
		fprintf(stderr, "meshctl render: no <name>/manifest.yml in %s\n", manifests);
		manifest_free_all(ms, n);
		return 1;
	}
	/* a container's identity is its manifest's name; its callers pin the package it serves */
	for (size_t k = 0; k < n; k++) {
		const char *dot = strrchr(ms[k]->service, '.');
		size_t len = dot != NULL ? (size_t)(dot - ms[k]->service) : 0;
		if (len != strlen(ms[k]->name) || strncmp(ms[k]->service, ms[k]->name, len) != 0)
			fprintf(stderr,
				"meshctl render: warning: %s serves %s, so its callers want a "
				"certificate with CN %.*s, and %s's identity is %s: give it that "
				"certificate by hand\n",
				ms[k]->name, ms[k]->service, (int)len, ms[k]->service, ms[k]->name,
				ms[k]->name);
	}
	{
		render_ctx c = {.ms = ms, .n = n, .o = o, .out = &set};
		err[0] = '\0';
		rc = run(&c, err, sizeof(err));
	}
	if (rc == 0 && render_set_close(&set) != 0) {
		snprintf(err, sizeof(err), "out of memory");
		rc = -1;
	}
	if (rc != 0) {
		fprintf(stderr, "meshctl render: %s\n", err);
		render_set_free(&set);
		manifest_free_all(ms, n);
		return 1;
	}
	qsort(set.files, set.n, sizeof(*set.files), file_cmp);
	if (out_dir != NULL) {
		rc = render_write(&set, out_dir, list) == 0 ? 0 : 1;
	} else {
		for (size_t i = 0; i < set.n; i++) {
			printf("# ==> %s <==\n", set.files[i]->path);
			fwrite(set.files[i]->text, 1, set.files[i]->len, stdout);
		}
		rc = 0;
	}
	render_set_free(&set);
	manifest_free_all(ms, n);
	return rc;
}

/* int_option sets *out to arg, a number from 1 to hi. Returns 0, or -1 after saying on stderr
 * that --name's arg is not one. */
static int int_option(const char *name, const char *arg, int hi, int *out)
{
	if (parse_int(arg, 1, hi, out) == 0)
		return 0;
	fprintf(stderr, "meshctl render: --%s: '%s' is not 1 to %d\n", name, arg, hi);
	return -1;
}

/* render_option takes one of render's own options (opt, its argument arg) into ctx, the
 * render_opts being filled; arg is argv's and stays referenced. Returns 0, or -1 after saying on
 * stderr why arg is bad. */
static int render_option(int opt, const char *arg, void *ctx)
{
	render_opts *o = ctx;
	if (opt == 'p')
		return int_option("port", arg, 65535, &o->port);
	if (opt == 'e')
		return int_option("edge-count", arg, 64, &o->edge_count);
	if (opt == 's') {
		if (strcmp(arg, "sqlite") != 0 && strcmp(arg, "postgres") != 0) {
			fprintf(stderr, "meshctl render: --store: '%s' is not sqlite or postgres\n",
				arg);
			return -1;
		}
		o->store_postgres = strcmp(arg, "postgres") == 0;
	} else if (opt == 'i') {
		o->image_prefix = arg;
	} else if (opt == 't') {
		o->tag = arg;
	} else if (opt == 'E') {
		o->https_cert = arg;
	} else if (opt == 'K') {
		o->https_key = arg;
	}
	return 0;
}

int cmd_render(int argc, char **argv)
{
	static const struct option extra[] = {{"image-prefix", required_argument, NULL, 'i'},
					      {"tag", required_argument, NULL, 't'},
					      {"port", required_argument, NULL, 'p'},
					      {"edge-count", required_argument, NULL, 'e'},
					      {"store", required_argument, NULL, 's'},
					      {"https-cert", required_argument, NULL, 'E'},
					      {"https-key", required_argument, NULL, 'K'},
					      {NULL, 0, NULL, 0}};
	render_opts o = {.image_prefix = "localhost/cleave-",
			 .tag = "latest",
			 .port = RENDER_EDGE_PORT,
			 .edge_count = 1};
	const char *dir = CLEAVE_SOURCE_DIR "/svc", *out = NULL, *target;
	int r =
	    manifests_cli_options(argc, argv, &out, &dir, render_usage, extra, render_option, &o);
	if (r != 0)
		return r == 1 ? 0 : 2;
	if (optind >= argc) {
		fprintf(stderr,
			"meshctl render: which target? compose, kubernetes, ecs or copilot\n");
		render_usage(stderr);
		return 2;
	}
	target = argv[optind];
	if (optind + 1 < argc) {
		fprintf(stderr, "meshctl render: unexpected argument '%s'\n", argv[optind + 1]);
		return 2;
	}
	if (o.tag[0] == '\0' || strpbrk(o.tag, " \t\n:/@") != NULL) {
		fprintf(stderr, "meshctl render: --tag '%s' is not an image tag\n", o.tag);
		return 2;
	}
	if ((o.https_cert == NULL) != (o.https_key == NULL)) {
		fprintf(stderr, "meshctl render: --https-cert and --https-key go together\n");
		return 2;
	}
	for (int i = 0; o.https_cert != NULL && i < 2; i++) {
		const char *file = i == 0 ? o.https_cert : o.https_key;
		if (file[0] != '/' || strpbrk(file, "'\"$:\n\\") != NULL ||
		    strrchr(file, '/')[1] == '\0') {
			fprintf(stderr,
				"meshctl render: --https-%s '%s' is not an absolute path of a file "
				"without quotes, '$', ':' or '\\' (a compose volume names it)\n",
				i == 0 ? "cert" : "key", file);
			return 2;
		}
	}
	if (strpbrk(o.image_prefix, " \t\n'\"") != NULL) {
		fprintf(stderr, "meshctl render: --image-prefix '%s' has blanks or quotes\n",
			o.image_prefix);
		return 2;
	}
	return render_run(target, dir, &o, out, true);
}
