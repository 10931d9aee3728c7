/* render_copilot.c: meshctl render copilot: <name>/manifest.yml for AWS Copilot: the edge as a
 * Load Balanced Web Service, each service as a Backend Service on Service Connect; every call
 * mutual TLS, each identity's certificate and key from SSM Parameter Store (secrets:). */
#include <stdlib.h>
#include <string.h>

#include "render.h"

/* fargate_size: one Fargate CPU size and the memory sizes (MiB) it allows: min to max in steps
 * of step, or for 256 the three listed. */
typedef struct fargate_size {
	int cpu;
	int min, max, step;
} fargate_size;

static const fargate_size fargate[] = {
    {256, 512, 2048, 0},	  {512, 1024, 4096, 1024},   {1024, 2048, 8192, 1024},
    {2048, 4096, 16384, 1024},	  {4096, 8192, 30720, 1024}, {8192, 16384, 61440, 4096},
    {16384, 32768, 122880, 8192},
};

/* fargate_fit picks the smallest valid Fargate size with at least cpu units and mem MiB.
 * Returns 0, or -1 if none is that large. */
static int fargate_fit(int64_t cpu, int64_t mem, int *cpu_out, int *mem_out)
{
	for (size_t i = 0; i < sizeof(fargate) / sizeof(fargate[0]); i++) {
		const fargate_size *s = &fargate[i];
		int64_t m;
		if (s->cpu < cpu || s->max < mem)
			continue;
		if (s->step == 0) { /* 256: 512, 1024 or 2048 */
			m = mem <= 512 ? 512 : mem <= 1024 ? 1024 : 2048;
		} else {
			m = mem <= s->min
				? s->min
				: s->min + (mem - s->min + s->step - 1) / s->step * s->step;
		}
		*cpu_out = s->cpu;
		*mem_out = (int)m;
		return 0;
	}
	return -1;
}

/* size writes cpu: and memory: for m (NULL: the edge, which has no manifest). */
static int size(FILE *f, const manifest *m, char *err, size_t errlen)
{
	int64_t want_cpu = 0, want_mem = 0;
	int cpu, mem;
	if (m != NULL && m->cpu_millis > 0)
		want_cpu = ((int64_t)m->cpu_millis * 1024 + 999) / 1000;
	if (m != NULL && m->memory_bytes > 0)
		want_mem = (m->memory_bytes + (1 << 20) - 1) >> 20;
	if (fargate_fit(want_cpu, want_mem, &cpu, &mem) != 0) {
		snprintf(err, errlen,
			 "%s: cpu: %d and memory: %lld MiB fit no Fargate task size (at most 16 "
			 "vCPU, 120 GiB)",
			 m->file, m->cpu_millis, (long long)want_mem);
		return -1;
	}
	if (m == NULL)
		fprintf(f, "cpu: %d\nmemory: %d\n", cpu, mem);
	else {
		if (want_cpu > 0)
			fprintf(f,
				"cpu: %d  # cpu: %d millicores = %lld CPU units, rounded up to a "
				"Fargate size\n",
				cpu, m->cpu_millis, (long long)want_cpu);
		else
			fprintf(f,
				"cpu: %d  # no cpu: in the manifest: the smallest Fargate size\n",
				cpu);
		if (want_mem > 0)
			fprintf(f,
				"memory: %d  # memory: %lld MiB, rounded up to one valid with "
				"cpu %d\n",
				mem, (long long)want_mem, cpu);
		else
			fprintf(
			    f,
			    "memory: %d  # no memory: in the manifest: the smallest with cpu %d\n",
			    mem, cpu);
	}
	return 0;
}

/* SSM: the parameter of a secret called NAME, where copilot secret init puts it: per application
 * and environment, filled in by Copilot. */
#define SSM "/copilot/${COPILOT_APPLICATION_NAME}/${COPILOT_ENVIRONMENT_NAME}/secrets/"

/* secrets writes secrets: the PEM text of identity id's certificate and key, and of the CA, from
 * the parameters cleave-<id>-crt, cleave-<id>-key and cleave-ca-crt. ECS hands each to the task
 * as a variable, which the binaries read (CLEAVE_TLS_*_PEM), so no file is written. */
static void secrets(FILE *f, const char *id)
{
	char dns[128];
	render_dns(dns, sizeof(dns), id);
	fprintf(f,
		"\nsecrets:  # mutual TLS: %s's certificate and key, the CA (PEM, from SSM)\n"
		"  CLEAVE_TLS_CERT_PEM: " SSM "cleave-%s-crt\n"
		"  CLEAVE_TLS_KEY_PEM: " SSM "cleave-%s-key\n"
		"  CLEAVE_TLS_CA_PEM: " SSM "cleave-ca-crt\n",
		id, dns, dns);
}

/* clamp writes "key: D" for the duration ms held within the range ECS allows, saying so when
 * it had to move. */
static void clamp(FILE *f, const char *key, int64_t ms, int64_t lo, int64_t hi)
{
	int64_t v = ms < lo ? lo : ms > hi ? hi : ms;
	char d[32], was[32];
	render_duration(d, sizeof(d), v);
	fprintf(f, "    %s: %s", key, d);
	if (v != ms) {
		render_duration(was, sizeof(was), ms);
		fprintf(f, "  # the manifest's %s; ECS allows %llds to %llds", was,
			(long long)(lo / 1000), (long long)(hi / 1000));
	}
	fputc('\n', f);
}

/* container_check writes image.healthcheck: the container's own check, with ECS's ranges. */
static void container_check(FILE *f, const char *bin, const char *url,
			    const manifest_healthcheck *h)
{
	fprintf(f, "  healthcheck:\n    command: [CMD, %s, --check, '%s']\n", bin, url);
	clamp(f, "interval", h->interval_ms, 5000, 300000);
	clamp(f, "timeout", h->timeout_ms, 2000, 60000);
	fprintf(f, "    retries: %d\n", h->unhealthy_threshold);
	clamp(f, "start_period", h->grace_period_ms, 0, 300000);
}

static int edge(const render_ctx *c, char *err, size_t errlen)
{
	static const manifest_healthcheck h = {.interval_ms = 5000,
					       .timeout_ms = 2000,
					       .healthy_threshold = 2,
					       .unhealthy_threshold = 2};
	char image[512], env[128], dns[128], url[200];
	FILE *f = render_begin(c->out, "edge/manifest.yml");
	if (f == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	render_image(c, image, sizeof(image), "edge");
	fprintf(f,
		"# The edge: the HTTP API behind a public Application Load Balancer. It calls the\n"
		"# services over mutual TLS as the identity edge. Its certificate, key and the CA\n"
		"# are SecureString parameters (secrets: below), from meshctl certs --dir tls:\n"
		"#   aws ssm put-parameter --type SecureString --name "
		"/copilot/APP/ENV/secrets/NAME \\\n"
		"#     --value file://tls/FILE --tags Key=copilot-application,Value=APP \\\n"
		"#     Key=copilot-environment,Value=ENV\n"
		"# for each NAME: cleave-ca-crt (ca.crt), and per identity (edge and every\n"
		"# service) cleave-ID-crt (ID.crt) and cleave-ID-key (ID.key). ca.key stays out.\n"
		"name: edge\ntype: Load Balanced Web Service\n\n");
	fprintf(f,
		"http:\n  path: '/'\n  healthcheck:  # the load balancer's check\n"
		"    path: '/'\n    port: %d\n    success_codes: '200'\n"
		"    healthy_threshold: 2\n    unhealthy_threshold: 2\n    interval: 10s\n"
		"    timeout: 5s  # less than interval, as the load balancer needs\n"
		"    grace_period: 10s\n  deregistration_delay: 5s\n\n",
		RENDER_EDGE_PORT);
	fprintf(f,
		"image:\n  location: %s  # a registry ECS pulls from: --image-prefix\n"
		"  port: %d\n",
		image, RENDER_EDGE_PORT);
	container_check(f, "edge", "http://127.0.0.1:8080/", &h);
	fputc('\n', f);
	if (size(f, NULL, err, errlen) != 0)
		return -1;
	fprintf(f, "count: %d\n\n", c->o->edge_count);
	fprintf(f, "network:\n  connect: true  # a Service Connect client: resolves the services' "
		   "names\n\n");
	fprintf(f, "variables:\n");
	for (size_t j = 0; j < c->n; j++) {
		if (!render_upstream(c, j))
			continue;
		render_env_name(env, sizeof(env), c->ms[j]->name);
		render_dns(dns, sizeof(dns), c->ms[j]->name);
		render_url(url, sizeof(url), dns);
		fprintf(f, "  CLEAVE_UPSTREAM_%s: '%s'\n", env, url);
	}
	secrets(f, "edge");
	fprintf(f, "\nstorage:\n  readonly_fs: true\n");
	return 0;
}

static int service(const render_ctx *c, size_t k, char *err, size_t errlen)
{
	const manifest *m = c->ms[k];
	char image[512], env[128], dns[128], path[200], bin[160];
	FILE *f;
	render_dns(dns, sizeof(dns), m->name);
	snprintf(path, sizeof(path), "%s/manifest.yml", dns);
	snprintf(bin, sizeof(bin), "svc-%s", m->name);
	render_image(c, image, sizeof(image), m->name);
	f = render_begin(c->out, path);
	if (f == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	fprintf(f,
		"# %s (%s): a Backend Service, reached as %s:%d through Service Connect,\n"
		"# over mutual TLS as the identity %s (its secrets: see edge/manifest.yml); it\n"
		"# allows only the calls the manifests in its image allow.\n"
		"name: %s\ntype: Backend Service\n\n",
		m->name, m->service, dns, RENDER_SVC_PORT, m->name, dns);
	fprintf(f,
		"image:\n  location: %s  # a registry ECS pulls from: --image-prefix\n"
		"  port: %d\n",
		image, RENDER_SVC_PORT);
	container_check(f, bin, "tls+tcp://127.0.0.1:7000", &m->health);
	fputc('\n', f);
	if (size(f, m, err, errlen) != 0)
		return -1;
	if (m->count > 1) {
		fprintf(
		    f,
		    "# The manifest's count is %d, but the store (SQLite in WAL mode) needs every\n"
		    "# process sharing it on one host, and each Fargate task is its own host:\n"
		    "# one task.\n",
		    m->count);
		fprintf(stderr,
			"meshctl render: copilot: %s: count %d rendered as 1 (its store cannot be "
			"shared across Fargate tasks)\n",
			m->name, m->count);
	}
	fprintf(f, "count: 1\n");
	fprintf(f, "deployment:  # stop the old task before the new one opens the store\n"
		   "  rolling: recreate\n\n");
	fprintf(f, "network:\n  connect: true  # Service Connect: reachable as %s:%d\n\n", dns,
		RENDER_SVC_PORT);
	fprintf(f, "variables:\n  CLEAVE_LISTEN: 'tls+tcp://0.0.0.0:%d'\n", RENDER_SVC_PORT);
	fprintf(f, "  CLEAVE_MANIFESTS: %s  # its call policy: what they allow\n",
		RENDER_MANIFESTS);
	for (size_t j = 0; j < c->n; j++) {
		char to[128], url[200];
		if (!render_called_by(c, k, j))
			continue;
		render_env_name(env, sizeof(env), c->ms[j]->name);
		render_dns(to, sizeof(to), c->ms[j]->name);
		render_url(url, sizeof(url), to);
		fprintf(f, "  CLEAVE_CALL_%s: '%s'\n", env, url);
	}
	secrets(f, m->name);
	fprintf(f,
		"\nstorage:\n  readonly_fs: true\n  volumes:\n    data:  # a managed EFS file "
		"system, kept across tasks\n      path: %s\n      read_only: false\n      efs:\n"
		"        uid: %d\n        gid: %d\n",
		RENDER_DATA_DIR, RENDER_UID, RENDER_UID);
	return 0;
}

int render_copilot(const render_ctx *c, char *err, size_t errlen)
{
	if (edge(c, err, errlen) != 0)
		return -1;
	for (size_t k = 0; k < c->n; k++)
		if (service(c, k, err, errlen) != 0)
			return -1;
	return 0;
}
