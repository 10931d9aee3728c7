/* render_kubernetes.c: meshctl render kubernetes: per service a Deployment, a headless Service,
 * a PersistentVolumeClaim (SQLite) and a NetworkPolicy; the edge's Deployment, Service and
 * NetworkPolicy (mesh/); the kustomizations are render_kustomize.c's. */
#include <stdlib.h>
#include <string.h>

#include "render.h"

#define LABEL	"app.kubernetes.io/name"
#define TLS_DIR "/etc/cleave/tls" /* where a pod mounts its identity's Secret */

static void meta(FILE *f, const char *kind, const char *api, const char *name, const char *app)
{
	fprintf(f,
		"apiVersion: %s\n"
		"kind: %s\n"
		"metadata:\n"
		"  name: %s\n"
		"  labels:\n"
		"    " LABEL ": %s\n"
		"    app.kubernetes.io/part-of: cleave\n",
		api, kind, name, app);
}

/* selector writes "- podSelector: {matchLabels: app}" at indent. */
static void pod_selector(FILE *f, int indent, const char *app)
{
	fprintf(f, "%*s- podSelector:\n%*s    matchLabels:\n%*s      " LABEL ": %s\n", indent, "",
		indent, "", indent, "", app);
}

/* probe_exec writes an exec probe named kind with the manifest's timings. */
static void probe_exec(FILE *f, const char *kind, const char *bin, const manifest_healthcheck *h,
		       bool liveness)
{
	int64_t period = render_ceil_s(h->interval_ms), timeout = render_ceil_s(h->timeout_ms);
	fprintf(f, "          %s:\n", kind);
	fprintf(f,
		"            exec:  # with the pod's own certificate (CLEAVE_TLS_*)\n"
		"              command: [%s, --check, 'tls+tcp://127.0.0.1:%d']\n",
		bin, RENDER_SVC_PORT);
	if (liveness)
		fprintf(f, "            initialDelaySeconds: %lld  # grace_period\n",
			(long long)render_ceil_s(h->grace_period_ms));
	fprintf(f, "            periodSeconds: %lld\n            timeoutSeconds: %lld\n",
		(long long)(period < 1 ? 1 : period), (long long)(timeout < 1 ? 1 : timeout));
	if (liveness)
		fprintf(f,
			"            failureThreshold: %d  # restart only after 3x "
			"unhealthy_threshold\n",
			3 * h->unhealthy_threshold);
	else
		fprintf(f, "            successThreshold: %d\n            failureThreshold: %d\n",
			h->healthy_threshold, h->unhealthy_threshold);
}

/* pod_security writes the pod's security context: a fixed non-root user whose group owns the
 * volumes. */
static void pod_security(FILE *f)
{
	fprintf(f,
		"      automountServiceAccountToken: false\n"
		"      enableServiceLinks: false\n"
		"      securityContext:\n"
		"        runAsNonRoot: true\n"
		"        runAsUser: %d\n"
		"        runAsGroup: %d\n"
		"        fsGroup: %d\n"
		"        seccompProfile:\n"
		"          type: RuntimeDefault\n",
		RENDER_UID, RENDER_UID, RENDER_UID);
}

static void container_security(FILE *f)
{
	fprintf(f, "          securityContext:\n"
		   "            allowPrivilegeEscalation: false\n"
		   "            readOnlyRootFilesystem: true\n"
		   "            capabilities:\n"
		   "              drop: [ALL]\n");
}

/* egress writes the egress rules: DNS anywhere in the cluster, then port 7000 of the pods of
 * every manifest to[] says, and with store, PostgreSQL's port. */
static void egress(FILE *f, const render_ctx *c, const bool *to, bool store)
{
	bool any = false;
	fprintf(f, "  egress:\n"
		   "    - to:  # DNS: names are resolved every CLEAVE_RESOLVE_INTERVAL_MS\n"
		   "        - namespaceSelector: {}\n"
		   "          podSelector:\n"
		   "            matchLabels:\n"
		   "              k8s-app: kube-dns\n"
		   "      ports:\n"
		   "        - protocol: UDP\n"
		   "          port: 53\n"
		   "        - protocol: TCP\n"
		   "          port: 53\n");
	for (size_t j = 0; j < c->n; j++) {
		char dns[128];
		if (!to[j])
			continue;
		if (!any)
			fprintf(f, "    - to:\n");
		any = true;
		render_dns(dns, sizeof(dns), c->ms[j]->name);
		pod_selector(f, 8, dns);
	}
	if (any)
		fprintf(f, "      ports:\n        - protocol: TCP\n          port: %d\n",
			RENDER_SVC_PORT);
	if (store)
		fprintf(
		    f,
		    "    # its PostgreSQL store, wherever it is. Narrow it to the database with a\n"
		    "    # to: (an ipBlock of a managed database's addresses; a namespaceSelector\n"
		    "    # and podSelector of the database's pods, e.g. cnpg.io/cluster: NAME for\n"
		    "    # CloudNativePG), and change the port if the store URLs name another.\n"
		    "    - ports:\n        - protocol: TCP\n          port: %d\n",
		    RENDER_STORE_PORT);
}

static void env_urls(FILE *f, const char *prefix, const char *name)
{
	char env[128], dns[128], url[200];
	render_env_name(env, sizeof(env), name);
	render_dns(dns, sizeof(dns), name);
	render_url(url, sizeof(url), dns);
	fprintf(f, "            - name: %s%s\n              value: '%s'\n", prefix, env, url);
}

/* env_value writes one environment variable of a container. */
static void env_value(FILE *f, const char *name, const char *value)
{
	fprintf(f, "            - name: %s\n              value: %s\n", name, value);
}

/* env_tls writes the variables naming the files of the identity's Secret, mounted at TLS_DIR
 * (a kubernetes.io/tls Secret: tls.crt, tls.key, and ca.crt). */
static void env_tls(FILE *f)
{
	env_value(f, "CLEAVE_TLS_CERT", TLS_DIR "/tls.crt");
	env_value(f, "CLEAVE_TLS_KEY", TLS_DIR "/tls.key");
	env_value(f, "CLEAVE_TLS_CA", TLS_DIR "/ca.crt");
}

/* tls_mount writes the read-only mount of the identity's Secret (in volumeMounts). */
static void tls_mount(FILE *f)
{
	fprintf(f, "            - name: tls  # its identity: certificate, key, the CA\n"
		   "              mountPath: " TLS_DIR "\n"
		   "              readOnly: true\n");
}

/* tls_volume writes the volume of identity id's Secret, <id>-tls (in volumes). */
static void tls_volume(FILE *f, const char *id)
{
	char dns[128];
	render_dns(dns, sizeof(dns), id);
	fprintf(
	    f,
	    "        - name: tls\n          secret:\n            secretName: %s-tls\n"
	    "            defaultMode: 288  # 0440: root and the pod's group (fsGroup) read it\n",
	    dns);
}

/* placement writes where the replicas of app go: with SQLite, onto the node of the first (its
 * volume's); with PostgreSQL, spread over the nodes. */
static void placement(FILE *f, const char *app, bool postgres)
{
	if (postgres)
		fprintf(f,
			"      topologySpreadConstraints:  # replicas over the nodes, as evenly as "
			"they allow\n"
			"        - maxSkew: 1\n"
			"          topologyKey: kubernetes.io/hostname\n"
			"          whenUnsatisfiable: ScheduleAnyway  # never left pending for it\n"
			"          labelSelector:\n"
			"            matchLabels:\n"
			"              " LABEL ": %s\n",
			app);
	else
		fprintf(f,
			"      affinity:  # every replica on the node of the volume\n"
			"        podAffinity:\n"
			"          requiredDuringSchedulingIgnoredDuringExecution:\n"
			"            - labelSelector:\n"
			"                matchLabels:\n"
			"                  " LABEL ": %s\n"
			"              topologyKey: kubernetes.io/hostname\n",
			app);
}

static int service(const render_ctx *c, size_t k, bool *to)
{
	const manifest *m = c->ms[k];
	char dns[128], path[160], image[512], bin[160], claim[160];
	bool any = false;
	FILE *f;
	render_dns(dns, sizeof(dns), m->name);
	snprintf(path, sizeof(path), "mesh/%s.yaml", dns);
	render_image(c, image, sizeof(image), m->name);
	snprintf(bin, sizeof(bin), "svc-%s", m->name);
	f = render_begin(c->out, path);
	if (f == NULL)
		return -1;
	fprintf(f, "# %s (%s): its data, its DNS name, its pods, who may reach them.\n", m->name,
		m->service);
	if (c->o->store_postgres) {
		fprintf(
		    f,
		    "#\n# The data: a PostgreSQL store, a database and role of its own, whose URL "
		    "the pods\n# read from the Secret %s-store (key url; ../store/ makes it from "
		    "store/%s.url).\n# The replicas share nothing on disk: they run on any node, "
		    "spread over the nodes\n# (topologySpreadConstraints), and the data directory "
		    "is an emptyDir that\n# holds nothing lasting.\n",
		    dns, m->name);
	} else {
		fprintf(
		    f,
		    "#\n# The data: a SQLite store in WAL mode, which every replica shares (as the "
		    "instances\n# of meshctl up share their data directory). WAL needs its "
		    "processes on one host,\n# so the replicas are scheduled onto the node of the "
		    "first (podAffinity) and share\n# one ReadWriteOnce claim; durable across "
		    "restarts and rescheduling. (emptyDir\n# would lose the data with the pod, and "
		    "a "
		    "StatefulSet would give each replica\n# its own diverging copy. Replicas on "
		    "any "
		    "node: a PostgreSQL store, meshctl\n# render kubernetes --store postgres.)\n");
		snprintf(claim, sizeof(claim), "%s-data", dns);
		meta(f, "PersistentVolumeClaim", "v1", claim, dns);
		fprintf(f, "spec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n"
			   "      storage: 1Gi\n---\n");
	}
	/* its DNS name: a headless Service resolves to every ready pod's address; callers dial
	 * each and balance over them themselves */
	fprintf(f, "# %s resolves to every ready pod; callers dial each address.\n", dns);
	meta(f, "Service", "v1", dns, dns);
	fprintf(f,
		"spec:\n  clusterIP: None\n  selector:\n    " LABEL ": %s\n  ports:\n"
		"    - name: mesh\n      protocol: TCP\n      port: %d\n      targetPort: %d\n",
		dns, RENDER_SVC_PORT, RENDER_SVC_PORT);
	fprintf(f, "---\n");
	meta(f, "Deployment", "apps/v1", dns, dns);
	fprintf(f,
		"spec:\n  replicas: %d\n  selector:\n    matchLabels:\n      " LABEL ": %s\n"
		"  template:\n    metadata:\n      labels:\n        " LABEL ": %s\n"
		"        app.kubernetes.io/part-of: cleave\n    spec:\n",
		m->count, dns, dns);
	fprintf(f, "      terminationGracePeriodSeconds: %lld  # deregistration_delay + 30s\n",
		(long long)render_ceil_s(m->deregistration_delay_ms) + 30);
	pod_security(f);
	placement(f, dns, c->o->store_postgres);
	fprintf(f, "      containers:\n        - name: %s\n          image: %s\n", dns, image);
	fprintf(f, "          ports:\n            - name: mesh\n              containerPort: %d\n",
		RENDER_SVC_PORT);
	fprintf(f, "          env:\n");
	env_value(f, "CLEAVE_LISTEN", "'tls+tcp://0.0.0.0:7000'");
	env_value(f, "CLEAVE_MANIFESTS", RENDER_MANIFESTS "  # its policy: what they allow");
	if (c->o->store_postgres)
		fprintf(f,
			"            - name: CLEAVE_STORE_URL  # its PostgreSQL database\n"
			"              valueFrom:\n"
			"                secretKeyRef:\n"
			"                  name: %s-store\n"
			"                  key: url\n",
			dns);
	env_tls(f);
	render_calls(c, k, to);
	for (size_t j = 0; j < c->n; j++)
		if (to[j])
			env_urls(f, "CLEAVE_CALL_", c->ms[j]->name);
	probe_exec(f, "readinessProbe", bin, &m->health, false);
	probe_exec(f, "livenessProbe", bin, &m->health, true);
	fprintf(f,
		"          lifecycle:  # out of the Service's addresses first; callers re-resolve\n"
		"            preStop:  # (sleep: Kubernetes 1.30 or later)\n"
		"              sleep:\n"
		"                seconds: %lld  # deregistration_delay\n",
		(long long)render_ceil_s(m->deregistration_delay_ms));
	if (m->cpu_millis > 0 || m->memory_bytes > 0) {
		char res[128] = "";
		size_t len = 0;
		if (m->cpu_millis > 0)
			len += (size_t)snprintf(res + len, sizeof(res) - len, "cpu: %dm",
						m->cpu_millis);
		if (m->memory_bytes > 0)
			snprintf(res + len, sizeof(res) - len, "%smemory: %lldMi", len ? ", " : "",
				 (long long)((m->memory_bytes + (1 << 20) - 1) >> 20));
		fprintf(f,
			"          resources:  # cpu: and memory: of the manifest\n"
			"            requests: {%s}\n            limits: {%s}\n",
			res, res);
	} else {
		fprintf(f,
			"          # no cpu: or memory: in the manifest: no requests or limits\n");
	}
	container_security(f);
	fprintf(f,
		"          volumeMounts:\n            - name: data\n              mountPath: %s\n"
		"            - name: tmp\n              mountPath: /tmp\n",
		RENDER_DATA_DIR);
	tls_mount(f);
	if (c->o->store_postgres)
		fprintf(f, "      volumes:\n        - name: data  # the data is in PostgreSQL\n"
			   "          emptyDir: {}\n");
	else
		fprintf(f,
			"      volumes:\n        - name: data\n          persistentVolumeClaim:\n"
			"            claimName: %s-data\n",
			dns);
	fprintf(f, "        - name: tmp\n          emptyDir: {}\n");
	tls_volume(f, m->name);
	/* who may reach it: the edge if it routes here, and the services whose calls: name it */
	fprintf(f,
		"---\n# Only the edge (for its routes) and what calls: names it reach %s; it "
		"reaches only\n# DNS and what its own calls: name.\n",
		dns);
	meta(f, "NetworkPolicy", "networking.k8s.io/v1", dns, dns);
	fprintf(f,
		"spec:\n  podSelector:\n    matchLabels:\n      " LABEL ": %s\n"
		"  policyTypes: [Ingress, Egress]\n",
		dns);
	if (render_upstream(c, k)) {
		fprintf(f, "  ingress:\n    - from:\n");
		pod_selector(f, 8, "edge");
		any = true;
	}
	for (size_t i = 0; i < c->n; i++) {
		char from[128];
		if (!render_called_by(c, i, k))
			continue;
		if (!any)
			fprintf(f, "  ingress:\n    - from:\n");
		any = true;
		render_dns(from, sizeof(from), c->ms[i]->name);
		pod_selector(f, 8, from);
	}
	if (any)
		fprintf(f, "      ports:\n        - protocol: TCP\n          port: %d\n",
			RENDER_SVC_PORT);
	else
		fprintf(f, "  ingress: []\n");
	egress(f, c, to, c->o->store_postgres);
	return 0;
}

static int edge(const render_ctx *c, bool *to)
{
	char image[512];
	FILE *f = render_begin(c->out, "mesh/edge.yaml");
	if (f == NULL)
		return -1;
	render_image(c, image, sizeof(image), "edge");
	fprintf(f, "# The edge: the HTTP API on port 80 of a LoadBalancer Service, its pods, what "
		   "they reach.\n");
	meta(f, "Service", "v1", "edge", "edge");
	fprintf(f,
		"spec:\n  type: LoadBalancer\n  selector:\n    " LABEL ": edge\n  ports:\n"
		"    - name: http\n      protocol: TCP\n      port: 80\n      targetPort: %d\n",
		RENDER_EDGE_PORT);
	fprintf(f, "---\n");
	meta(f, "Deployment", "apps/v1", "edge", "edge");
	fprintf(f,
		"spec:\n  replicas: %d\n  selector:\n    matchLabels:\n      " LABEL ": edge\n"
		"  template:\n    metadata:\n      labels:\n        " LABEL ": edge\n"
		"        app.kubernetes.io/part-of: cleave\n    spec:\n"
		"      terminationGracePeriodSeconds: 30\n",
		c->o->edge_count);
	pod_security(f);
	fprintf(f,
		"      containers:\n        - name: edge\n          image: %s\n"
		"          ports:\n            - name: http\n              containerPort: %d\n",
		image, RENDER_EDGE_PORT);
	fprintf(f, "          env:\n");
	env_tls(f);
	for (size_t j = 0; j < c->n; j++) {
		to[j] = render_upstream(c, j);
		if (to[j])
			env_urls(f, "CLEAVE_UPSTREAM_", c->ms[j]->name);
	}
	fprintf(
	    f,
	    "          readinessProbe:\n            httpGet:\n              path: /\n"
	    "              port: %d\n            periodSeconds: 5\n            timeoutSeconds: 2\n"
	    "            failureThreshold: 2\n"
	    "          livenessProbe:\n            httpGet:\n              path: /\n"
	    "              port: %d\n            periodSeconds: 5\n            timeoutSeconds: 2\n"
	    "            failureThreshold: 6\n"
	    "          lifecycle:\n            preStop:\n              sleep:\n"
	    "                seconds: 5  # out of the load balancer first\n",
	    RENDER_EDGE_PORT, RENDER_EDGE_PORT);
	container_security(f);
	fprintf(
	    f, "          volumeMounts:\n            - name: tmp\n              mountPath: /tmp\n");
	tls_mount(f);
	fprintf(f, "      volumes:\n        - name: tmp\n          emptyDir: {}\n");
	tls_volume(f, "edge");
	fprintf(f, "---\n# Anyone may reach the edge's HTTP port; it reaches DNS and the services "
		   "it routes to.\n");
	meta(f, "NetworkPolicy", "networking.k8s.io/v1", "edge", "edge");
	fprintf(f,
		"spec:\n  podSelector:\n    matchLabels:\n      " LABEL ": edge\n"
		"  policyTypes: [Ingress, Egress]\n  ingress:\n    - ports:\n"
		"        - protocol: TCP\n          port: %d\n",
		RENDER_EDGE_PORT);
	egress(f, c, to, false);
	return 0;
}

int render_kubernetes(const render_ctx *c, char *err, size_t errlen)
{
	bool *to = calloc(c->n, sizeof(*to));
	if (to == NULL || edge(c, to) != 0)
		goto oom;
	for (size_t k = 0; k < c->n; k++)
		if (service(c, k, to) != 0)
			goto oom;
	if (render_kustomizations(c) != 0)
		goto oom;
	free(to);
	return 0;
oom:
	free(to);
	snprintf(err, errlen, "out of memory");
	return -1;
}
