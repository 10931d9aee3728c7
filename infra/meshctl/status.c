/* status.c: meshctl status (instances, health, per-method cost) and meshctl scale. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "control.h"
#include "mesh.pb-c.h"
#include "meshctl.pb-c.h"
#include "pbjson.h"

#define STATUS_HEALTH_TIMEOUT_MS 1000

static void status_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: meshctl status [--json] [--state-dir DIR]\n"
	    "\n"
	    "Shows every instance of every service (pid, address, state, restarts, uptime) and,\n"
	    "per service and method, requests, errors, p50/p99 latency and CPU microseconds per\n"
	    "request, as each instance reports them through its Health method. States: starting,\n"
	    "healthy, unhealthy (out of rotation), draining (scale-in), restarting (crashed, in\n"
	    "backoff; 'crash loop' after 3 quick crashes in a row).\n"
	    "\n"
	    "  --json   an array with one object per instance instead of tables\n");
}

/* status_extra takes --json, setting the int ctx points at. */
static int status_extra(int opt, const char *arg, void *ctx)
{
	(void)arg;
	if (opt != 'j')
		return -1;
	*(int *)ctx = 1;
	return 0;
}

static void format_uptime(int64_t ms, char *out, size_t outlen)
{
	int64_t s = ms / 1000;
	if (ms == 0)
		snprintf(out, outlen, "-");
	else if (s < 60)
		snprintf(out, outlen, "%" PRId64 "s", s);
	else if (s < 3600)
		snprintf(out, outlen, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
	else
		snprintf(out, outlen, "%" PRId64 "h%02" PRId64 "m", s / 3600, (s / 60) % 60);
}

/* method_total: one service's method summed over its instances. */
typedef struct method_total {
	const char *service;
	const char *method;
	uint64_t calls, errors, p50, p99, cpu_us;
	uint64_t denied, would_deny; /* by the call policy; in audit mode */
	uint64_t cancelled;	     /* by their callers (mesh.Mesh/Cancel) */
} method_total;

/* print_json_wire prints an instance's connection bounds at work as a "wire" member. */
static void print_json_wire(const Mesh__WireStats *w)
{
	printf(", \"wire\": {\"connections\": %" PRIu64 ", \"accepted\": %" PRIu64
	       ", \"oversize_frames\": %" PRIu64 ", \"idle_closed\": %" PRIu64
	       ", \"stalled\": %" PRIu64 ", \"evicted\": %" PRIu64 ", \"refused\": %" PRIu64
	       ", \"accept_pauses\": %" PRIu64 ", \"reads_paused\": %" PRIu64
	       ", \"costly_requests\": %" PRIu64 "}",
	       w->connections, w->accepted, w->oversize_frames, w->idle_closed, w->stalled,
	       w->evicted, w->refused, w->accept_pauses, w->reads_paused, w->costly_requests);
}

static method_total *find_total(method_total *t, size_t *n, const char *service, const char *method)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(t[i].service, service) == 0 && strcmp(t[i].method, method) == 0)
			return &t[i];
	memset(&t[*n], 0, sizeof(t[*n]));
	t[*n].service = service;
	t[*n].method = method;
	return &t[(*n)++];
}

static void print_json_string(const char *s)
{
	pbjson_buf b;
	pbjson_buf_init(&b);
	pbjson_encode_string(&b, s, strlen(s));
	fwrite(b.data, 1, b.len, stdout);
	pbjson_buf_fini(&b);
}

int cmd_status(int argc, char **argv)
{
	static const struct option extra[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
	const char *state = NULL;
	meshctl_paths paths;
	Meshctl__StatusRequest req = MESHCTL__STATUS_REQUEST__INIT;
	Mesh__HealthRequest hreq = MESH__HEALTH_REQUEST__INIT;
	Meshctl__StatusReply *st = NULL;
	Mesh__HealthReply **health;
	method_total *totals;
	size_t ntotals = 0, cap = 0;
	char message[MESH_MESSAGE_MAX];
	int r, json = 0;
	r = state_dir_option(argc, argv, &state, status_usage, "", extra, status_extra, &json);
	if (r != 0)
		return r == 1 ? 0 : 2;
	if (optind < argc) {
		fprintf(stderr, "meshctl status: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (meshctl_paths_init(&paths, state) != 0) {
		fprintf(stderr, "meshctl status: bad state directory\n");
		return 2;
	}
	if (control_call(&paths, "Status", &req.base, (ProtobufCMessage **)&st, message,
			 sizeof(message)) != MESH_OK) {
		fprintf(stderr, "meshctl status: %s\n", message);
		return 1;
	}
	health = calloc(st->n_instances + 1, sizeof(*health));
	for (size_t i = 0; i < st->n_instances; i++) {
		if (st->instances[i]->pid == 0)
			continue;
		if (instance_call(&mesh__mesh__descriptor, st->instances[i]->address, "Health",
				  &hreq.base, (ProtobufCMessage **)&health[i],
				  STATUS_HEALTH_TIMEOUT_MS, message, sizeof(message)) != MESH_OK)
			health[i] = NULL;
		if (health[i] != NULL)
			cap += health[i]->n_methods;
	}
	totals = calloc(cap + 1, sizeof(*totals));

	if (json) {
		printf("[");
		for (size_t i = 0; i < st->n_instances; i++) {
			const Meshctl__Instance *in = st->instances[i];
			const Mesh__HealthReply *h = health[i];
			printf("%s\n  {\"service\": ", i ? "," : "");
			print_json_string(in->service);
			printf(", \"instance\": \"%s-%d\", \"pid\": %" PRId64 ", \"address\": ",
			       in->service, in->index, in->pid);
			print_json_string(in->address);
			printf(", \"state\": \"%s\", \"restarts\": %d, \"uptime_ms\": %" PRId64
			       ", \"crash_loop\": %s, \"last_exit\": ",
			       in->state, in->restarts, in->uptime_ms,
			       in->crash_loop ? "true" : "false");
			print_json_string(in->last_exit);
			if (h != NULL) {
				printf(", \"calls\": %" PRIu64 ", \"errors\": %" PRIu64
				       ", \"cpu_us\": %" PRIu64 ", \"rss_bytes\": %" PRId64
				       ", \"methods\": [",
				       h->calls, h->errors, h->cpu_us, h->rss_bytes);
				for (size_t m = 0; m < h->n_methods; m++) {
					const Mesh__MethodStats *ms = h->methods[m];
					printf("%s{\"method\": ", m ? ", " : "");
					print_json_string(ms->method);
					printf(", \"requests\": %" PRIu64 ", \"errors\": %" PRIu64
					       ", \"p50_us\": %" PRIu64 ", \"p99_us\": %" PRIu64
					       ", \"cpu_us\": %" PRIu64 ", \"denied\": %" PRIu64
					       ", \"would_deny\": %" PRIu64
					       ", \"cancelled\": %" PRIu64 "}",
					       ms->calls, ms->errors, ms->latency_p50_us,
					       ms->latency_p99_us, ms->cpu_us, ms->denied,
					       ms->would_deny, ms->cancelled);
				}
				printf("]");
				if (h->wire != NULL)
					print_json_wire(h->wire);
			}
			printf("}");
		}
		printf("\n]\n");
		goto out;
	}

	printf("%-10s %-12s %-8s %-10s %-9s %-8s %s\n", "SERVICE", "INSTANCE", "PID", "STATE",
	       "RESTARTS", "UPTIME", "ADDRESS");
	for (size_t i = 0; i < st->n_instances; i++) {
		const Meshctl__Instance *in = st->instances[i];
		char name[64], up[32], pid[24];
		snprintf(name, sizeof(name), "%s-%d", in->service, in->index);
		snprintf(pid, sizeof(pid), "%" PRId64, in->pid);
		format_uptime(in->uptime_ms, up, sizeof(up));
		printf("%-10s %-12s %-8s %-10s %-9d %-8s %s%s%s%s\n", in->service, name,
		       in->pid ? pid : "-", in->state, in->restarts, up, in->address,
		       in->last_exit[0] ? "  (last: " : "", in->last_exit,
		       in->last_exit[0] ? (in->crash_loop ? ", crash loop)" : ")") : "");
	}
	for (size_t i = 0; i < st->n_instances; i++) {
		const Mesh__HealthReply *h = health[i];
		for (size_t m = 0; h != NULL && m < h->n_methods; m++) {
			const Mesh__MethodStats *ms = h->methods[m];
			method_total *t =
			    find_total(totals, &ntotals, st->instances[i]->service, ms->method);
			t->calls += ms->calls;
			t->errors += ms->errors;
			t->cpu_us += ms->cpu_us;
			t->denied += ms->denied;
			t->would_deny += ms->would_deny;
			t->cancelled += ms->cancelled;
			/* across instances: the worst instance's quantiles */
			if (ms->latency_p50_us > t->p50)
				t->p50 = ms->latency_p50_us;
			if (ms->latency_p99_us > t->p99)
				t->p99 = ms->latency_p99_us;
		}
	}
	printf("\n%-10s %-14s %10s %8s %9s %9s %12s  %s\n", "SERVICE", "METHOD", "REQUESTS",
	       "ERRORS", "P50", "P99", "CPU/REQUEST", "DENIED");
	for (size_t i = 0; i < ntotals; i++) {
		const method_total *t = &totals[i];
		char p50[24], p99[24], cpu[24], denied[64];
		snprintf(p50, sizeof(p50), "%" PRIu64 "us", t->p50);
		snprintf(p99, sizeof(p99), "%" PRIu64 "us", t->p99);
		if (t->calls > 0)
			snprintf(cpu, sizeof(cpu), "%.1fus", (double)t->cpu_us / (double)t->calls);
		else
			snprintf(cpu, sizeof(cpu), "-");
		/* denials are among the errors; would-be denials (audit mode) ran */
		if (t->would_deny > 0)
			snprintf(denied, sizeof(denied),
				 "%" PRIu64 " (audit: %" PRIu64 " would be)", t->denied,
				 t->would_deny);
		else
			snprintf(denied, sizeof(denied), "%" PRIu64, t->denied);
		printf("%-10s %-14s %10" PRIu64 " %8" PRIu64 " %9s %9s %12s  %s\n", t->service,
		       t->method, t->calls, t->errors, t->calls ? p50 : "-", t->calls ? p99 : "-",
		       cpu, denied);
	}
	{
		/* of the errors, calls their callers gave up: answered CANCELLED unrun */
		int header = 0;
		for (size_t i = 0; i < ntotals; i++) {
			if (totals[i].cancelled == 0)
				continue;
			printf("%s%s.%s %" PRIu64,
			       header ? ", " : "\ncancelled by their callers: ", totals[i].service,
			       totals[i].method, totals[i].cancelled);
			header = 1;
		}
		if (header)
			printf("\n");
	}
	{
		int header = 0;
		for (size_t i = 0; i < st->n_instances; i++) {
			const Mesh__WireStats *w = health[i] != NULL ? health[i]->wire : NULL;
			if (w == NULL || w->oversize_frames + w->idle_closed + w->stalled +
						 w->evicted + w->refused + w->accept_pauses +
						 w->reads_paused + w->costly_requests ==
					     0)
				continue;
			if (!header)
				printf("\nbounds at work (connections closed or held back):\n");
			header = 1;
			printf("%s-%d: %" PRIu64 " oversize, %" PRIu64 " idle, %" PRIu64
			       " stalled, %" PRIu64 " evicted, %" PRIu64 " refused, %" PRIu64
			       " accept pauses, %" PRIu64 " reads paused, %" PRIu64
			       " too costly to unpack\n",
			       st->instances[i]->service, st->instances[i]->index,
			       w->oversize_frames, w->idle_closed, w->stalled, w->evicted,
			       w->refused, w->accept_pauses, w->reads_paused, w->costly_requests);
		}
	}
	printf("\nedge: %s (pid %" PRId64 "); meshctl pid %" PRId64 "; state in %s\n",
	       st->edge_url[0] ? st->edge_url : "starting", st->edge_pid, st->pid, st->state_dir);
out:
	for (size_t i = 0; i < st->n_instances; i++)
		if (health[i] != NULL)
			protobuf_c_message_free_unpacked(&health[i]->base, NULL);
	free(health);
	free(totals);
	protobuf_c_message_free_unpacked(&st->base, NULL);
	return 0;
}

static void scale_usage(FILE *out)
{
	fprintf(out,
		"usage: meshctl scale SERVICE=N... [--state-dir DIR]\n"
		"\n"
		"Sets how many instances of SERVICE run, while it serves: new instances join\n"
		"the edge's target group once healthy; removed ones are drained first (no new\n"
		"calls), given their manifest's deregistration_delay to finish, then stopped.\n");
}

int cmd_scale(int argc, char **argv)
{
	const char *state = NULL;
	meshctl_paths paths;
	char message[MESH_MESSAGE_MAX];
	int r = state_dir_option(argc, argv, &state, scale_usage, "", NULL, NULL, NULL), failed = 0;
	if (r != 0)
		return r == 1 ? 0 : 2;
	if (optind >= argc) {
		scale_usage(stderr);
		return 2;
	}
	if (meshctl_paths_init(&paths, state) != 0) {
		fprintf(stderr, "meshctl scale: bad state directory\n");
		return 2;
	}
	for (int i = optind; i < argc; i++) {
		char name[128], *end;
		const char *eq = strchr(argv[i], '=');
		long n;
		if (eq == NULL || eq == argv[i] || (size_t)(eq - argv[i]) >= sizeof(name) ||
		    (n = strtol(eq + 1, &end, 10), end == eq + 1 || *end != '\0')) {
			fprintf(stderr, "meshctl scale: want SERVICE=N, not '%s'\n", argv[i]);
			return 2;
		}
		memcpy(name, argv[i], (size_t)(eq - argv[i]));
		name[eq - argv[i]] = '\0';
		{
			Meshctl__ScaleRequest req = MESHCTL__SCALE_REQUEST__INIT;
			Meshctl__ScaleReply *reply = NULL;
			req.service = name;
			req.count = (int32_t)n;
			if (control_call(&paths, "Scale", &req.base, (ProtobufCMessage **)&reply,
					 message, sizeof(message)) != MESH_OK) {
				fprintf(stderr, "meshctl scale %s: %s\n", name, message);
				failed = 1;
				continue;
			}
			printf("%s: %d -> %d\n", name, reply->previous, reply->count);
			protobuf_c_message_free_unpacked(&reply->base, NULL);
		}
	}
	return failed;
}
