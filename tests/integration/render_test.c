/* render_test.c: meshctl render: the committed infra/deploy/ matches what the manifests render
 * (it fails with the diff and the command to regenerate), every rendered file is YAML, counts
 * become instances and replicas, calls: becomes exactly the NetworkPolicy's ingress and the ECS
 * security groups' rules, every pod, container and task is locked down and health-checked, and
 * the Kubernetes objects, the compose file and the ECS template pass the Kubernetes API's, the
 * Compose specification's and the CloudFormation specification's validators (tests/renders/). */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <yaml.h>

#include "harness.h"
#include "manifest.h"

#define MESHCTL CLEAVE_BUILD_DIR "/meshctl"

static const char *const targets[] = {"compose", "kubernetes", "copilot", "ecs"};
#define NTARGETS (sizeof(targets) / sizeof(targets[0]))
static char dir[256];

/* run_for runs argv (NULL-terminated) for up to timeout_ms and returns its exit status (128 if
 * it did not exit), its stdout and stderr in *out (malloc'd, the caller's) if out is not NULL. */
static int run_for(char **out, int timeout_ms, char *const argv[])
{
	static int seq;
	char log[512];
	pid_t pid;
	int status;
	snprintf(log, sizeof(log), "%s/run-%d.out", dir, seq++);
	pid = harness_spawn(argv, log);
	ck_assert_int_gt(pid, 0);
	status = harness_wait(pid, timeout_ms);
	if (status == -1)
		status = harness_stop(pid, SIGKILL, 1000);
	if (out != NULL) {
		*out = harness_read_file(log);
		if (*out == NULL)
			*out = strdup("");
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* run is run_for with 30 s, for meshctl and diff. */
static int run(char **out, char *const argv[])
{
	return run_for(out, 30000, argv);
}

/* render_store runs meshctl render target --out DIR/sub [--store store] [--manifests m]; returns
 * its exit status. */
static int render_store(const char *target, const char *sub, const char *manifests,
			const char *store, char **out)
{
	char outdir[512];
	char *argv[10] = {MESHCTL, "render", (char *)target, "--out",
			  outdir}; /* 5 + 2 + 2 + NULL */
	size_t i = 5;
	snprintf(outdir, sizeof(outdir), "%s/%s", dir, sub);
	if (store != NULL) {
		argv[i++] = "--store";
		argv[i++] = (char *)store;
	}
	if (manifests != NULL) {
		argv[i++] = "--manifests";
		argv[i++] = (char *)manifests;
	}
	argv[i] = NULL;
	return run(out, argv);
}

/* render runs meshctl render target --out DIR/sub [--manifests m]; returns its exit status. */
static int render(const char *target, const char *sub, const char *manifests, char **out)
{
	return render_store(target, sub, manifests, NULL, out);
}

/* yaml_docs: every document of one YAML file. */
typedef struct yaml_docs {
	yaml_document_t doc[32];
	int n;
} yaml_docs;

/* load parses every document of path into d; returns 0, or -1 with the parser's reason in why. */
static int load(const char *path, yaml_docs *d, char *why, size_t whylen)
{
	FILE *f = fopen(path, "r");
	yaml_parser_t p;
	int rc = 0;
	d->n = 0;
	if (f == NULL) {
		snprintf(why, whylen, "cannot open %s", path);
		return -1;
	}
	yaml_parser_initialize(&p);
	yaml_parser_set_input_file(&p, f);
	for (;;) {
		yaml_document_t doc;
		if (!yaml_parser_load(&p, &doc)) {
			snprintf(why, whylen, "%s:%zu: %s", path, p.problem_mark.line + 1,
				 p.problem ? p.problem : "?");
			rc = -1;
			break;
		}
		if (yaml_document_get_root_node(&doc) == NULL) {
			yaml_document_delete(&doc);
			break;
		}
		if (d->n == 32) {
			yaml_document_delete(&doc);
			snprintf(why, whylen, "%s: over 32 documents", path);
			rc = -1;
			break;
		}
		d->doc[d->n++] = doc;
	}
	yaml_parser_delete(&p);
	fclose(f);
	return rc;
}

static void unload(yaml_docs *d)
{
	for (int i = 0; i < d->n; i++)
		yaml_document_delete(&d->doc[i]);
	d->n = 0;
}

/* get follows a dotted path of mapping keys from node n ("spec.replicas"); NULL if absent. */
static yaml_node_t *get(yaml_document_t *doc, yaml_node_t *n, const char *path)
{
	char key[128];
	while (n != NULL && *path != '\0') {
		const char *dot = strchr(path, '.');
		size_t len = dot ? (size_t)(dot - path) : strlen(path);
		yaml_node_t *next = NULL;
		snprintf(key, sizeof(key), "%.*s", (int)len, path);
		if (n->type != YAML_MAPPING_NODE)
			return NULL;
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(doc, p->key);
			if (k->type == YAML_SCALAR_NODE &&
			    strcmp((char *)k->data.scalar.value, key) == 0)
				next = yaml_document_get_node(doc, p->value);
		}
		n = next;
		path += len + (dot ? 1 : 0);
	}
	return n;
}

/* str is the scalar at path under n, or "" if there is none. */
static const char *str(yaml_document_t *doc, yaml_node_t *n, const char *path)
{
	yaml_node_t *s = get(doc, n, path);
	return s != NULL && s->type == YAML_SCALAR_NODE ? (char *)s->data.scalar.value : "";
}

/* item is element i of the sequence n, or NULL. */
static yaml_node_t *item(yaml_document_t *doc, yaml_node_t *n, size_t i)
{
	if (n == NULL || n->type != YAML_SEQUENCE_NODE ||
	    n->data.sequence.items.start + i >= n->data.sequence.items.top)
		return NULL;
	return yaml_document_get_node(doc, n->data.sequence.items.start[i]);
}

/* find is the root of the document of kind in d, or NULL. */
static yaml_node_t *find(yaml_docs *d, const char *kind, yaml_document_t **doc)
{
	for (int i = 0; i < d->n; i++) {
		yaml_node_t *root = yaml_document_get_root_node(&d->doc[i]);
		if (strcmp(str(&d->doc[i], root, "kind"), kind) == 0) {
			*doc = &d->doc[i];
			return root;
		}
	}
	return NULL;
}

/* find_named is the root of the document of kind named name in d, or NULL. */
static yaml_node_t *find_named(yaml_docs *d, const char *kind, const char *name,
			       yaml_document_t **doc)
{
	for (int i = 0; i < d->n; i++) {
		yaml_node_t *root = yaml_document_get_root_node(&d->doc[i]);
		if (strcmp(str(&d->doc[i], root, "kind"), kind) == 0 &&
		    strcmp(str(&d->doc[i], root, "metadata.name"), name) == 0) {
			*doc = &d->doc[i];
			return root;
		}
	}
	return NULL;
}

/* key is the value of key (which may hold dots) in mapping m, or NULL. */
static yaml_node_t *key(yaml_document_t *doc, yaml_node_t *m, const char *k)
{
	if (m == NULL || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++)
		if (strcmp((char *)yaml_document_get_node(doc, p->key)->data.scalar.value, k) == 0)
			return yaml_document_get_node(doc, p->value);
	return NULL;
}

/* dns_of writes the DNS-label form of an identity ('_' -> '-'), as Kubernetes names it. */
static const char *dns_of(char *out, size_t outlen, const char *id)
{
	size_t i = 0;
	for (; id[i] != '\0' && i + 1 < outlen; i++)
		out[i] = id[i] == '_' ? '-' : id[i];
	out[i] = '\0';
	return out;
}

/* write_file writes text to path. */
static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* manifests makes DIR/<sub>/<name>/manifest.yml from the checkout's, users with count: 2 and
 * posts with cpu: 300 and memory: 700Mi, and returns the directory in out. */
static void manifests(char *out, size_t outlen, const char *sub)
{
	static const char *const names[] = {"posts", "threads", "users"};
	snprintf(out, outlen, "%s/%s", dir, sub);
	ck_assert_int_eq(mkdir(out, 0755), 0);
	for (size_t i = 0; i < 3; i++) {
		char src[512], dst[600], *text, *count;
		snprintf(src, sizeof(src), "%s/svc/%s/manifest.yml", CLEAVE_SOURCE_DIR, names[i]);
		text = harness_read_file(src);
		ck_assert_ptr_nonnull(text);
		snprintf(dst, sizeof(dst), "%s/%s", out, names[i]);
		ck_assert_int_eq(mkdir(dst, 0755), 0);
		snprintf(dst, sizeof(dst), "%s/%s/manifest.yml", out, names[i]);
		if (strcmp(names[i], "users") == 0) {
			count = strstr(text, "\ncount: 1");
			ck_assert_ptr_nonnull(count);
			count[8] = '2';
			write_file(dst, text);
		} else if (strcmp(names[i], "posts") == 0) {
			size_t len = strlen(text);
			char *more = malloc(len + 64);
			snprintf(more, len + 64, "%scpu: 300\nmemory: 700Mi\n", text);
			write_file(dst, more);
			free(more);
		} else {
			write_file(dst, text);
		}
		free(text);
	}
}

/* check_tree parses every file under path (recursively) as YAML and checks its header; counts
 * the files in *n. */
static void check_tree(const char *path, int *n)
{
	DIR *d = opendir(path);
	struct dirent *e;
	ck_assert_msg(d != NULL, "cannot open %s", path);
	while ((e = readdir(d)) != NULL) {
		char sub[1024], why[600];
		struct stat st;
		yaml_docs docs;
		char *text;
		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		ck_assert_int_eq(stat(sub, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			check_tree(sub, n);
			continue;
		}
		text = harness_read_file(sub);
		ck_assert_msg(strncmp(text,
				      "# generated by meshctl render from svc/*/manifest.yml; "
				      "do not edit\n",
				      66) == 0,
			      "%s: no header", sub);
		free(text);
		ck_assert_msg(load(sub, &docs, why, sizeof(why)) == 0, "%s", why);
		ck_assert_msg(docs.n > 0, "%s: no document", sub);
		for (int i = 0; i < docs.n; i++) {
			yaml_node_t *root = yaml_document_get_root_node(&docs.doc[i]);
			ck_assert_msg(root->type == YAML_MAPPING_NODE,
				      "%s: document %d is no mapping", sub, i);
			/* a Kubernetes object names its kind, version and name */
			if (strstr(sub, "/kubernetes/") != NULL)
				ck_assert_msg(*str(&docs.doc[i], root, "apiVersion") &&
						  *str(&docs.doc[i], root, "kind") &&
						  (*str(&docs.doc[i], root, "metadata.name") ||
						   strcmp(e->d_name, "kustomization.yaml") == 0),
					      "%s: document %d lacks apiVersion, kind or name", sub,
					      i);
		}
		unload(&docs);
		(*n)++;
	}
	closedir(d);
}

static void setup(void)
{
	ck_assert_int_eq(harness_tmpdir(dir, sizeof(dir)), 0);
}

static void teardown(void)
{
	if (dir[0] != '\0')
		harness_rmtree(dir);
	dir[0] = '\0';
}

/* Every target's render is committed in infra/deploy/<target>, and Kubernetes with PostgreSQL
 * stores (--store postgres) in infra/deploy/kubernetes-postgres. */
START_TEST(test_the_committed_deployments_match_the_manifests)
{
	for (size_t t = 0; t <= NTARGETS; t++) {
		const char *target = t < NTARGETS ? targets[t] : "kubernetes";
		const char *store = t < NTARGETS ? NULL : "postgres";
		const char *where = t < NTARGETS ? targets[t] : "kubernetes-postgres";
		char committed[512], fresh[512], *out = NULL;
		char *diff[] = {"/usr/bin/diff", "-ru", committed, fresh, NULL};
		int rc;
		snprintf(committed, sizeof(committed), "%s/infra/deploy/%s", CLEAVE_SOURCE_DIR,
			 where);
		snprintf(fresh, sizeof(fresh), "%s/%s", dir, where);
		ck_assert_int_eq(render_store(target, where, NULL, store, NULL), 0);
		rc = run(&out, diff);
		ck_assert_msg(rc == 0,
			      "infra/deploy/%s differs from what the manifests render:\n%s\n"
			      "Regenerate it with (in the checkout):\n"
			      "  rm -rf infra/deploy/%s && build/meshctl render %s%s --out "
			      "infra/deploy/%s\n",
			      where, out, where, target, store ? " --store postgres" : "", where);
		free(out);
	}
}
END_TEST

START_TEST(test_every_rendered_file_is_yaml_with_the_header)
{
	char m[512];
	manifests(m, sizeof(m), "manifests");
	for (size_t t = 0; t < NTARGETS; t++) {
		char sub[64], outdir[600];
		int n = 0;
		/* the checkout's manifests, then ones with more instances and resources */
		for (int with = 0; with < 2; with++) {
			snprintf(sub, sizeof(sub), "%s-%d", targets[t], with);
			ck_assert_int_eq(render(targets[t], sub, with ? m : NULL, NULL), 0);
			snprintf(outdir, sizeof(outdir), "%s/%s", dir, sub);
			n = 0;
			check_tree(outdir, &n);
			/* compose.yml, compose.postgres.yml; mesh/ (4 + kustomization),
			 * kustomization.yaml, cert-manager/ (kustomization, certificates); 4
			 * manifests; template.yml */
			ck_assert_int_eq(n, t == 0 ? 2 : t == 1 ? 8 : t == 2 ? 4 : 1);
		}
	}
	/* kubernetes --store postgres: the same and store/kustomization.yaml */
	for (int with = 0; with < 2; with++) {
		char sub[64], outdir[600];
		int n = 0;
		snprintf(sub, sizeof(sub), "kubernetes-postgres-%d", with);
		ck_assert_int_eq(render_store("kubernetes", sub, with ? m : NULL, "postgres", NULL),
				 0);
		snprintf(outdir, sizeof(outdir), "%s/%s", dir, sub);
		check_tree(outdir, &n);
		ck_assert_int_eq(n, 9);
	}
}
END_TEST

START_TEST(test_bad_input_is_a_usage_error)
{
	char *out = NULL;
	char *bad[] = {MESHCTL, "render", "nomad", NULL};
	char *none[] = {MESHCTL, "render", NULL};
	char *port[] = {MESHCTL, "render", "compose", "--port", "0", NULL};
	char *extra[] = {MESHCTL, "render", "compose", "kubernetes", NULL};
	char *help[] = {MESHCTL, "render", "--help", NULL};
	char *missing[] = {MESHCTL, "render", "compose", "--manifests", "/nonexistent", NULL};
	ck_assert_int_eq(run(&out, bad), 2);
	ck_assert_msg(strstr(out, "no target 'nomad'") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(run(NULL, none), 2);
	ck_assert_int_eq(run(NULL, port), 2);
	ck_assert_int_eq(run(NULL, extra), 2);
	ck_assert_int_eq(run(&out, help), 0);
	ck_assert_ptr_nonnull(strstr(out, "usage: meshctl render compose|kubernetes|ecs|copilot"));
	free(out);
	ck_assert_int_eq(run(&out, missing), 1);
	ck_assert_msg(strstr(out, "/nonexistent") != NULL, "%s", out);
	free(out);
	/* --store is sqlite or postgres, and postgres is kubernetes' alone: compose renders
	 * compose.postgres.yml anyway, the ECS template takes store URLs as parameters */
	ck_assert_int_eq(render_store("kubernetes", "s0", NULL, "mysql", &out), 2);
	ck_assert_msg(strstr(out, "'mysql'") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(render_store("compose", "s1", NULL, "postgres", &out), 2);
	ck_assert_msg(strstr(out, "compose.postgres.yml") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(render_store("ecs", "s2", NULL, "postgres", &out), 2);
	ck_assert_msg(strstr(out, "StoreSecretArn") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(render_store("copilot", "s3", NULL, "postgres", NULL), 2);
	ck_assert_int_eq(render_store("kubernetes", "s4", NULL, "sqlite", NULL), 0);
}
END_TEST

START_TEST(test_without_out_every_file_goes_to_stdout)
{
	char *out = NULL;
	char *argv[] = {MESHCTL,
			"render",
			"kubernetes",
			"--image-prefix",
			"registry.example/c-",
			"--tag",
			"v1",
			"--edge-count",
			"3",
			NULL};
	ck_assert_int_eq(run(&out, argv), 0);
	ck_assert_ptr_nonnull(
	    strstr(out, "# ==> mesh/edge.yaml <==\n# generated by meshctl render"));
	ck_assert_ptr_nonnull(strstr(out, "# ==> mesh/users.yaml <=="));
	ck_assert_ptr_nonnull(strstr(out, "image: registry.example/c-users:v1\n"));
	/* the edge's replicas, and only the edge's */
	ck_assert_ptr_nonnull(
	    strstr(out, "  name: edge\n  labels:\n    app.kubernetes.io/name: edge\n"
			"    app.kubernetes.io/part-of: cleave\nspec:\n  replicas: 3\n"));
	ck_assert_ptr_null(strstr(strstr(out, "replicas: 3") + 1, "replicas: 3"));
	/* in name order */
	ck_assert(strstr(out, "==> mesh/posts.yaml") < strstr(out, "==> mesh/threads.yaml"));
	free(out);
}
END_TEST

START_TEST(test_count_becomes_instances_and_replicas)
{
	char m[512], path[700], why[600], *out = NULL;
	yaml_docs d;
	yaml_document_t *doc;
	yaml_node_t *root, *services, *c;
	manifests(m, sizeof(m), "manifests");

	/* compose: users-1 and users-2, each called by the callers of users */
	ck_assert_int_eq(render("compose", "compose", m, NULL), 0);
	snprintf(path, sizeof(path), "%s/compose/compose.yml", dir);
	ck_assert_msg(load(path, &d, why, sizeof(why)) == 0, "%s", why);
	ck_assert_int_eq(d.n, 1);
	doc = &d.doc[0];
	root = yaml_document_get_root_node(doc);
	services = get(doc, root, "services");
	ck_assert_ptr_nonnull(get(doc, services, "users-1"));
	ck_assert_ptr_nonnull(get(doc, services, "users-2"));
	ck_assert_ptr_null(get(doc, services, "users-3"));
	ck_assert_ptr_nonnull(get(doc, services, "posts-1"));
	ck_assert_ptr_null(get(doc, services, "posts-2"));
	ck_assert_str_eq(str(doc, services, "threads-1.environment.CLEAVE_CALL_USERS"),
			 "tls+tcp://users-1:7000,tls+tcp://users-2:7000");
	ck_assert_str_eq(str(doc, services, "edge.environment.CLEAVE_UPSTREAM_USERS"),
			 "tls+tcp://users-1:7000,tls+tcp://users-2:7000");
	c = item(doc, get(doc, services, "users-2.volumes"), 0);
	ck_assert_str_eq((char *)c->data.scalar.value, "users-data:/var/lib/cleave");
	ck_assert_str_eq(str(doc, services, "posts-1.cpus"), "0.300");
	unload(&d);

	/* kubernetes: replicas: 2; posts' resources */
	ck_assert_int_eq(render("kubernetes", "kubernetes", m, NULL), 0);
	snprintf(path, sizeof(path), "%s/kubernetes/mesh/users.yaml", dir);
	ck_assert_msg(load(path, &d, why, sizeof(why)) == 0, "%s", why);
	root = find(&d, "Deployment", &doc);
	ck_assert_ptr_nonnull(root);
	ck_assert_str_eq(str(doc, root, "spec.replicas"), "2");
	unload(&d);
	snprintf(path, sizeof(path), "%s/kubernetes/mesh/posts.yaml", dir);
	ck_assert_msg(load(path, &d, why, sizeof(why)) == 0, "%s", why);
	root = find(&d, "Deployment", &doc);
	ck_assert_str_eq(str(doc, root, "spec.replicas"), "1");
	c = item(doc, get(doc, root, "spec.template.spec.containers"), 0);
	ck_assert_str_eq(str(doc, c, "resources.requests.cpu"), "300m");
	ck_assert_str_eq(str(doc, c, "resources.limits.memory"), "700Mi");
	ck_assert_str_eq(str(doc, c, "securityContext.readOnlyRootFilesystem"), "true");
	unload(&d);

	/* copilot: 300 millicores are 308 CPU units, so 512 with at least 1024 MiB; users stays
	 * one task (its store cannot span hosts) and says why */
	ck_assert_int_eq(render("copilot", "copilot", m, &out), 0);
	ck_assert_msg(strstr(out, "users: count 2 rendered as 1") != NULL, "%s", out);
	free(out);
	snprintf(path, sizeof(path), "%s/copilot/posts/manifest.yml", dir);
	ck_assert_msg(load(path, &d, why, sizeof(why)) == 0, "%s", why);
	root = yaml_document_get_root_node(&d.doc[0]);
	ck_assert_str_eq(str(&d.doc[0], root, "cpu"), "512");
	ck_assert_str_eq(str(&d.doc[0], root, "memory"), "1024");
	ck_assert_str_eq(str(&d.doc[0], root, "type"), "Backend Service");
	ck_assert_str_eq(str(&d.doc[0], root, "network.connect"), "true");
	ck_assert_str_eq(str(&d.doc[0], root, "image.healthcheck.interval"), "5s");
	unload(&d);

	/* ecs: posts the same Fargate size; users two tasks with a store URL, one without */
	ck_assert_int_eq(render("ecs", "ecs", m, NULL), 0);
	snprintf(path, sizeof(path), "%s/ecs/template.yml", dir);
	ck_assert_msg(load(path, &d, why, sizeof(why)) == 0, "%s", why);
	doc = &d.doc[0];
	root = get(doc, yaml_document_get_root_node(doc), "Resources");
	ck_assert_str_eq(str(doc, root, "PostsTaskDefinition.Properties.Cpu"), "512");
	ck_assert_str_eq(str(doc, root, "PostsTaskDefinition.Properties.Memory"), "1024");
	c = get(doc, root, "UsersService.Properties.DesiredCount.Fn::If");
	ck_assert_str_eq((char *)item(doc, c, 0)->data.scalar.value, "UsersStore");
	ck_assert_str_eq((char *)item(doc, c, 1)->data.scalar.value, "2");
	ck_assert_str_eq((char *)item(doc, c, 2)->data.scalar.value, "1");
	ck_assert_str_eq(str(doc, root, "ThreadsService.Properties.DesiredCount"), "1");
	unload(&d);
}
END_TEST

static int by_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* peers collects the app names of the pod selectors of rule list rules (ingress or egress,
 * whose peers are under key "from" or "to") into a sorted, comma-separated string. */
static void peers(yaml_document_t *doc, yaml_node_t *rules, const char *key, char *out,
		  size_t outlen)
{
	char names[16][64];
	int n = 0;
	yaml_node_t *rule;
	for (size_t r = 0; (rule = item(doc, rules, r)) != NULL; r++) {
		yaml_node_t *peer;
		for (size_t p = 0; (peer = item(doc, get(doc, rule, key), p)) != NULL; p++) {
			yaml_node_t *labels = get(doc, peer, "podSelector.matchLabels");
			yaml_node_t *app = NULL;
			/* the key holds dots: look it up by hand */
			for (yaml_node_pair_t *kv = labels ? labels->data.mapping.pairs.start
							   : NULL;
			     kv != NULL && kv < labels->data.mapping.pairs.top; kv++)
				if (strcmp((char *)yaml_document_get_node(doc, kv->key)
					       ->data.scalar.value,
					   "app.kubernetes.io/name") == 0)
					app = yaml_document_get_node(doc, kv->value);
			if (app != NULL && n < 16)
				snprintf(names[n++], 64, "%s", (char *)app->data.scalar.value);
		}
	}
	qsort(names, (size_t)n, sizeof(names[0]), by_name);
	out[0] = '\0';
	for (int i = 0; i < n; i++)
		snprintf(out + strlen(out), outlen - strlen(out), "%s%s", i ? "," : "", names[i]);
}

/* check_policies renders kubernetes from manifests m (NULL: the checkout's) and checks each
 * service's NetworkPolicy against the manifests: ingress from the edge (it has routes) and
 * exactly the services whose calls: name it, egress to exactly what its calls: name. */
static void check_policies(const char *m, const char *sub)
{
	char err[512], path[700], why[600];
	manifest **ms;
	size_t n;
	ck_assert_int_eq(render("kubernetes", sub, m, NULL), 0);
	ck_assert_msg(
	    manifest_load_dir(m ? m : CLEAVE_SOURCE_DIR "/svc", &ms, &n, err, sizeof(err)) == 0,
	    "%s", err);
	for (size_t k = 0; k < n; k++) {
		char want_in[256] = "", want_out[256] = "", got[256];
		yaml_docs d;
		yaml_document_t *doc;
		yaml_node_t *root;
		size_t len = strlen(ms[k]->name);
		if (ms[k]->nroutes > 0) /* "edge" sorts before these names */
			snprintf(want_in, sizeof(want_in), "edge");
		for (size_t i = 0; i < n; i++) { /* in name order, as the names sort */
			bool in = false, out = false;
			for (size_t c = 0; c < ms[i]->ncalls; c++)
				if (strncmp(ms[i]->calls[c], ms[k]->name, len) == 0 &&
				    ms[i]->calls[c][len] == '.')
					in = true;
			for (size_t c = 0; c < ms[k]->ncalls; c++)
				if (strncmp(ms[k]->calls[c], ms[i]->name, strlen(ms[i]->name)) ==
					0 &&
				    ms[k]->calls[c][strlen(ms[i]->name)] == '.')
					out = true;
			if (in)
				snprintf(want_in + strlen(want_in),
					 sizeof(want_in) - strlen(want_in), "%s%s",
					 want_in[0] ? "," : "", ms[i]->name);
			if (out)
				snprintf(want_out + strlen(want_out),
					 sizeof(want_out) - strlen(want_out), "%s%s",
					 want_out[0] ? "," : "", ms[i]->name);
		}
		snprintf(path, sizeof(path), "%s/%s/mesh/%s.yaml", dir, sub, ms[k]->name);
		ck_assert_msg(load(path, &d, why, sizeof(why)) == 0, "%s", why);
		root = find(&d, "NetworkPolicy", &doc);
		ck_assert_ptr_nonnull(root);
		peers(doc, get(doc, root, "spec.ingress"), "from", got, sizeof(got));
		ck_assert_msg(strcmp(got, want_in) == 0, "%s: ingress from %s, want %s",
			      ms[k]->name, got, want_in);
		peers(doc, get(doc, root, "spec.egress"), "to", got, sizeof(got));
		ck_assert_msg(strcmp(got, want_out) == 0, "%s: egress to %s, want %s", ms[k]->name,
			      got, want_out);
		/* and the Deployment is told where they are */
		root = find(&d, "Deployment", &doc);
		ck_assert_ptr_nonnull(root);
		unload(&d);
	}
	manifest_free_all(ms, n);
}

START_TEST(test_network_policies_follow_calls)
{
	char m[512], path[700];
	/* spelled out for the checkout: posts calls threads and users, threads calls users */
	static const char *const want[][2] = {
	    {"posts", "edge"}, {"threads", "edge,posts"}, {"users", "edge,posts,threads"}};
	check_policies(NULL, "k-checkout");
	for (size_t i = 0; i < 3; i++) {
		char why[600], got[256];
		yaml_docs d;
		yaml_document_t *doc;
		yaml_node_t *root;
		snprintf(path, sizeof(path), "%s/k-checkout/mesh/%s.yaml", dir, want[i][0]);
		ck_assert_msg(load(path, &d, why, sizeof(why)) == 0, "%s", why);
		root = find(&d, "NetworkPolicy", &doc);
		peers(doc, get(doc, root, "spec.ingress"), "from", got, sizeof(got));
		ck_assert_str_eq(got, want[i][1]);
		unload(&d);
	}
	/* threads no longer calling users: users' ingress loses threads */
	manifests(m, sizeof(m), "manifests");
	snprintf(path, sizeof(path), "%s/threads/manifest.yml", m);
	{
		char *text = harness_read_file(path), *calls = strstr(text, "calls: [users.Get]");
		ck_assert_ptr_nonnull(calls);
		memcpy(calls, "calls: [         ]", 18);
		write_file(path, text);
		free(text);
	}
	check_policies(m, "k-changed");
}
END_TEST

/* workload: the edge or one service, as its rendered files must run it. */
typedef struct workload {
	char name[64];	     /* "edge", "users": its identity, the CN of its certificate */
	char check[160];     /* its health check's words, joined by commas */
	long long prestop_s; /* what preStop sleeps: the manifest's deregistration_delay */
	int retries;	     /* compose's retries: the manifest's unhealthy_threshold */
	int count;	     /* the manifest's count (the edge: 1) */
	bool edge;
	char callees[256]; /* the variables naming what it calls, sorted, joined by commas:
			    * CLEAVE_CALL_USERS, or the edge's CLEAVE_UPSTREAM_POSTS... */
} workload;

/* add_callee appends the variable prefix<NAME> (name upper-cased) to w's callees. */
static void add_callee(workload *w, const char *prefix, const char *name)
{
	size_t len = strlen(w->callees);
	snprintf(w->callees + len, sizeof(w->callees) - len, "%s%s", len ? "," : "", prefix);
	for (char *p = w->callees + strlen(w->callees);
	     *name != '\0' && p + 1 < w->callees + sizeof(w->callees); p++, name++) {
		*p = (char)(*name >= 'a' && *name <= 'z' ? *name - 'a' + 'A'
			    : *name == '-'		 ? '_'
							 : *name);
		p[1] = '\0';
	}
}

/* workloads fills w (room entries) with the edge and the services of manifests m (NULL: the
 * checkout's); returns how many. */
static size_t workloads(const char *m, workload *w, size_t room)
{
	char err[512];
	manifest **ms;
	size_t n, k = 0;
	ck_assert_msg(
	    manifest_load_dir(m ? m : CLEAVE_SOURCE_DIR "/svc", &ms, &n, err, sizeof(err)) == 0,
	    "%s", err);
	ck_assert_uint_lt(n, room);
	w[k++] = (workload){.name = "edge",
			    .check = "edge,--check,http://127.0.0.1:8080/",
			    .prestop_s = 5,
			    .retries = 2,
			    .count = 1,
			    .edge = true};
	/* the edge calls what has routes or is a split's target (manifests are in name order, so
	 * the variables sort) */
	for (size_t j = 0; j < n; j++) {
		bool up = ms[j]->nroutes > 0;
		for (size_t i = 0; i < n; i++)
			for (size_t r = 0; r < ms[i]->nroutes; r++)
				up = up ||
				     (ms[i]->routes[r].split_service != NULL &&
				      strcmp(ms[i]->routes[r].split_service, ms[j]->name) == 0);
		if (up)
			add_callee(&w[0], "CLEAVE_UPSTREAM_", ms[j]->name);
	}
	for (size_t i = 0; i < n; i++, k++) {
		w[k].callees[0] = '\0';
		for (size_t j = 0; j < n; j++) {
			size_t len = strlen(ms[j]->name);
			bool calls = false;
			for (size_t c = 0; c < ms[i]->ncalls; c++)
				calls = calls || (strncmp(ms[i]->calls[c], ms[j]->name, len) == 0 &&
						  ms[i]->calls[c][len] == '.');
			if (calls)
				add_callee(&w[k], "CLEAVE_CALL_", ms[j]->name);
		}
		snprintf(w[k].name, sizeof(w[k].name), "%s", ms[i]->name);
		snprintf(w[k].check, sizeof(w[k].check), "svc-%s,--check,tls+tcp://127.0.0.1:7000",
			 ms[i]->name);
		w[k].prestop_s = (long long)(ms[i]->deregistration_delay_ms + 999) / 1000;
		w[k].retries = ms[i]->health.unhealthy_threshold;
		w[k].count = ms[i]->count;
		w[k].edge = false;
	}
	manifest_free_all(ms, n);
	return k;
}

/* expect fails unless the scalar at path under n is want, naming the file, the object (what)
 * and the property. */
static void expect(const char *file, const char *what, yaml_document_t *doc, yaml_node_t *n,
		   const char *path, const char *want)
{
	const char *got = str(doc, n, path);
	ck_assert_msg(strcmp(got, want) == 0, "%s: %s: %s is '%s', want '%s'", file, what, path,
		      got, want);
}

/* expect_list fails unless the sequence at path under n holds the scalars want (joined by
 * commas), naming the file, the object (what) and the property. */
static void expect_list(const char *file, const char *what, yaml_document_t *doc, yaml_node_t *n,
			const char *path, const char *want)
{
	char got[512] = "";
	yaml_node_t *e;
	for (size_t i = 0; (e = item(doc, get(doc, n, path), i)) != NULL; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? "," : "",
			 e->type == YAML_SCALAR_NODE ? (char *)e->data.scalar.value : "?");
	ck_assert_msg(strcmp(got, want) == 0, "%s: %s: %s is [%s], want [%s]", file, what, path,
		      got, want);
}

/* expect_none fails if there is anything at path under n. */
static void expect_none(const char *file, const char *what, yaml_document_t *doc, yaml_node_t *n,
			const char *path)
{
	ck_assert_msg(get(doc, n, path) == NULL, "%s: %s: %s is set, want none", file, what, path);
}

/* env: the environment one container is given: names and values (the document's). */
typedef struct env {
	const char *name[64], *value[64];
	size_t n;
} env;

/* env_add appends name=value (scalars of doc) to e. */
static void env_add(env *e, yaml_document_t *doc, yaml_node_t *name, yaml_node_t *value)
{
	ck_assert_uint_lt(e->n, 64);
	ck_assert(name != NULL && name->type == YAML_SCALAR_NODE);
	e->name[e->n] = (char *)name->data.scalar.value;
	e->value[e->n++] = value != NULL && value->type == YAML_SCALAR_NODE
			       ? (char *)value->data.scalar.value
			       : "";
	(void)doc;
}

/* env_of_mapping reads a mapping of variables (compose's environment:, Copilot's variables:
 * and secrets:) into e. */
static void env_of_mapping(env *e, yaml_document_t *doc, yaml_node_t *m)
{
	e->n = 0;
	if (m == NULL || m->type != YAML_MAPPING_NODE)
		return;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++)
		env_add(e, doc, yaml_document_get_node(doc, p->key),
			yaml_document_get_node(doc, p->value));
}

/* env_of_list reads a container's env: list of {name, value} into e. */
static void env_of_list(env *e, yaml_document_t *doc, yaml_node_t *list)
{
	yaml_node_t *v;
	e->n = 0;
	for (size_t i = 0; (v = item(doc, list, i)) != NULL; i++)
		env_add(e, doc, get(doc, v, "name"), get(doc, v, "value"));
}

/* env_get is the value of name in e, or NULL. */
static const char *env_get(const env *e, const char *name)
{
	for (size_t i = 0; i < e->n; i++)
		if (strcmp(e->name[i], name) == 0)
			return e->value[i];
	return NULL;
}

/* expect_env fails unless e gives name the value want. */
static void expect_env(const char *file, const char *what, const env *e, const char *name,
		       const char *want)
{
	const char *got = env_get(e, name);
	ck_assert_msg(got != NULL && strcmp(got, want) == 0, "%s: %s: %s is '%s', want '%s'", file,
		      what, name, got ? got : "(not set)", want);
}

static int by_string(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* check_mesh_env checks what the environment e of workload w must say, in every target: a
 * service listens on tls+tcp:// and derives its policy from the manifests its image carries;
 * the addresses it calls are exactly those of what it calls (w->callees), each tls+tcp://; and
 * nothing turns TLS or the policy off (no CLEAVE_INSECURE, no policy file, no plain address). */
static void check_mesh_env(const char *file, const char *what, const workload *w, const env *e)
{
	const char *callees[64];
	char got[512] = "";
	size_t n = 0;
	if (!w->edge) {
		expect_env(file, what, e, "CLEAVE_LISTEN", "tls+tcp://0.0.0.0:7000");
		expect_env(file, what, e, "CLEAVE_MANIFESTS", "/usr/local/share/cleave/svc");
	}
	for (size_t i = 0; i < e->n; i++) {
		ck_assert_msg(strcmp(e->name[i], "CLEAVE_INSECURE") != 0 &&
				  strstr(e->value[i], "insecure") == NULL,
			      "%s: %s: %s=%s turns the boundary off", file, what, e->name[i],
			      e->value[i]);
		ck_assert_msg(strcmp(e->name[i], "CLEAVE_POLICY") != 0, "%s: %s: a policy file",
			      file, what);
		if (strncmp(e->name[i], "CLEAVE_CALL_", 12) == 0 ||
		    strncmp(e->name[i], "CLEAVE_UPSTREAM_", 16) == 0) {
			char urls[512], *url, *save = NULL;
			callees[n++] = e->name[i];
			snprintf(urls, sizeof(urls), "%s", e->value[i]);
			for (url = strtok_r(urls, ",", &save); url != NULL;
			     url = strtok_r(NULL, ",", &save))
				ck_assert_msg(strncmp(url, "tls+tcp://", 10) == 0,
					      "%s: %s: %s calls %s, not over tls+tcp://", file,
					      what, e->name[i], url);
		}
	}
	qsort(callees, n, sizeof(callees[0]), by_string);
	for (size_t i = 0; i < n; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? "," : "",
			 callees[i]);
	ck_assert_msg(strcmp(got, w->callees) == 0, "%s: %s: calls [%s], want [%s]", file, what,
		      got, w->callees);
}

/* check_tls_files checks that e names the files of identity id's certificate, key and the CA,
 * under dir with the names cert, key and ca ("%s" in cert and key: the identity). */
static void check_tls_files(const char *file, const char *what, const env *e, const char *id,
			    const char *dir, const char *cert, const char *key, const char *ca)
{
	char want[256], name[96];
	snprintf(name, sizeof(name), cert, id);
	snprintf(want, sizeof(want), "%s/%s", dir, name);
	expect_env(file, what, e, "CLEAVE_TLS_CERT", want);
	snprintf(name, sizeof(name), key, id);
	snprintf(want, sizeof(want), "%s/%s", dir, name);
	expect_env(file, what, e, "CLEAVE_TLS_KEY", want);
	snprintf(want, sizeof(want), "%s/%s", dir, ca);
	expect_env(file, what, e, "CLEAVE_TLS_CA", want);
}

/* mounts says whether container c mounts a volume at path. */
static bool mounts(yaml_document_t *doc, yaml_node_t *c, const char *path)
{
	yaml_node_t *v;
	for (size_t i = 0; (v = item(doc, get(doc, c, "volumeMounts"), i)) != NULL; i++)
		if (strcmp(str(doc, v, "mountPath"), path) == 0)
			return true;
	return false;
}

/* check_pod_tls checks container c of workload w's pod: the mesh's environment, its identity's
 * files where the pod mounts its Secret, <identity>-tls, read-only. */
static void check_pod_tls(const char *file, const char *what, const workload *w,
			  yaml_document_t *doc, yaml_node_t *pod, yaml_node_t *c)
{
	char secret[96], dns[64];
	const char *volume = NULL;
	yaml_node_t *v;
	env e;
	env_of_list(&e, doc, get(doc, c, "env"));
	check_mesh_env(file, what, w, &e);
	check_tls_files(file, what, &e, w->name, "/etc/cleave/tls", "tls.crt", "tls.key", "ca.crt");
	for (size_t i = 0; (v = item(doc, get(doc, c, "volumeMounts"), i)) != NULL; i++)
		if (strcmp(str(doc, v, "mountPath"), "/etc/cleave/tls") == 0) {
			volume = str(doc, v, "name");
			expect(file, what, doc, v, "readOnly", "true");
		}
	ck_assert_msg(volume != NULL, "%s: %s: nothing mounted at /etc/cleave/tls", file, what);
	snprintf(secret, sizeof(secret), "%s-tls", dns_of(dns, sizeof(dns), w->name));
	for (size_t i = 0; (v = item(doc, get(doc, pod, "volumes"), i)) != NULL; i++)
		if (strcmp(str(doc, v, "name"), volume) == 0) {
			expect(file, what, doc, v, "secret.secretName", secret);
			volume = NULL;
		}
	ck_assert_msg(volume == NULL, "%s: %s: no volume %s", file, what, volume);
}

/* check_container checks container c of workload w's Deployment (pod: its pod spec): a locked
 * down security context, both probes running w's check, a preStop sleep that ends within the
 * grace period, and a volume at /tmp (the root is read-only). */
static void check_container(const char *file, const workload *w, yaml_document_t *doc,
			    yaml_node_t *pod, yaml_node_t *c)
{
	static const char *const probes[] = {"readinessProbe", "livenessProbe"};
	char what[160], key[64], want[32];
	long long grace = atoll(str(doc, pod, "terminationGracePeriodSeconds"));
	snprintf(what, sizeof(what), "Deployment %.63s, container %.63s", w->name,
		 str(doc, c, "name"));
	expect(file, what, doc, c, "securityContext.allowPrivilegeEscalation", "false");
	expect(file, what, doc, c, "securityContext.readOnlyRootFilesystem", "true");
	expect_list(file, what, doc, c, "securityContext.capabilities.drop", "ALL");
	expect_none(file, what, doc, c, "securityContext.capabilities.add");
	for (size_t p = 0; p < 2; p++) {
		if (w->edge) {
			snprintf(key, sizeof(key), "%s.httpGet.path", probes[p]);
			expect(file, what, doc, c, key, "/");
			snprintf(key, sizeof(key), "%s.httpGet.port", probes[p]);
			expect(file, what, doc, c, key, "8080");
		} else {
			snprintf(key, sizeof(key), "%s.exec.command", probes[p]);
			expect_list(file, what, doc, c, key, w->check);
		}
	}
	snprintf(want, sizeof(want), "%lld", w->prestop_s);
	expect(file, what, doc, c, "lifecycle.preStop.sleep.seconds", want);
	ck_assert_msg(w->prestop_s < grace,
		      "%s: %s: preStop sleeps %llds of a terminationGracePeriodSeconds of %lld",
		      file, what, w->prestop_s, grace);
	ck_assert_msg(mounts(doc, c, "/tmp"), "%s: %s: no volume at /tmp (the root is read-only)",
		      file, what);
	check_pod_tls(file, what, w, doc, pod, c);
}

/* check_secrets_made checks that both ways of running the render in DIR/sub make each identity
 * of w (n) its Secret, <identity>-tls: kustomization.yaml from meshctl certs' files,
 * cert-manager/ by a Certificate whose commonName is the identity, from the mesh's own CA. */
static void check_secrets_made(const char *sub, const workload *w, size_t n, bool pg)
{
	char path[700], why[600], want[300], secret[96], dns[64];
	yaml_docs d;
	yaml_document_t *doc;
	yaml_node_t *root, *g;
	snprintf(path, sizeof(path), "%s/%s/kustomization.yaml", dir, sub);
	ck_assert_msg(load(path, &d, why, sizeof(why)) == 0, "%s", why);
	doc = &d.doc[0];
	root = yaml_document_get_root_node(doc);
	expect_list("kustomization.yaml", "Kustomization", doc, root, "resources",
		    pg ? "mesh,store" : "mesh");
	for (size_t k = 0; k < n; k++) {
		bool found = false;
		snprintf(secret, sizeof(secret), "%s-tls", dns_of(dns, sizeof(dns), w[k].name));
		for (size_t i = 0; (g = item(doc, get(doc, root, "secretGenerator"), i)) != NULL;
		     i++) {
			if (strcmp(str(doc, g, "name"), secret) != 0)
				continue;
			found = true;
			expect("kustomization.yaml", secret, doc, g, "type", "kubernetes.io/tls");
			snprintf(want, sizeof(want),
				 "tls.crt=tls/%.63s.crt,tls.key=tls/%.63s.key,ca.crt=tls/ca.crt",
				 w[k].name, w[k].name);
			expect_list("kustomization.yaml", secret, doc, g, "files", want);
		}
		ck_assert_msg(found, "kustomization.yaml: no Secret %s for %s", secret, w[k].name);
	}
	ck_assert_ptr_null(item(doc, get(doc, root, "secretGenerator"), n)); /* and no more */
	unload(&d);
	snprintf(path, sizeof(path), "%s/%s/cert-manager/kustomization.yaml", dir, sub);
	ck_assert_msg(load(path, &d, why, sizeof(why)) == 0, "%s", why);
	expect_list("cert-manager/kustomization.yaml", "Kustomization", &d.doc[0],
		    yaml_document_get_root_node(&d.doc[0]), "resources",
		    pg ? "../mesh,../store,certificates.yaml" : "../mesh,certificates.yaml");
	unload(&d);
	snprintf(path, sizeof(path), "%s/%s/cert-manager/certificates.yaml", dir, sub);
	ck_assert_msg(load(path, &d, why, sizeof(why)) == 0, "%s", why);
	root = find_named(&d, "Issuer", "cleave-ca", &doc);
	ck_assert_msg(root != NULL, "cert-manager: no Issuer cleave-ca");
	expect("certificates.yaml", "Issuer cleave-ca", doc, root, "spec.ca.secretName",
	       "cleave-ca");
	for (size_t k = 0; k < n; k++) {
		char what[96];
		dns_of(dns, sizeof(dns), w[k].name);
		snprintf(secret, sizeof(secret), "%s-tls", dns);
		snprintf(what, sizeof(what), "Certificate %s", dns);
		root = find_named(&d, "Certificate", dns, &doc);
		ck_assert_msg(root != NULL, "cert-manager: no Certificate for %s", w[k].name);
		expect("certificates.yaml", what, doc, root, "spec.commonName", w[k].name);
		expect("certificates.yaml", what, doc, root, "spec.secretName", secret);
		expect("certificates.yaml", what, doc, root, "spec.issuerRef.name", "cleave-ca");
		expect_list("certificates.yaml", what, doc, root, "spec.usages",
			    "digital signature,server auth,client auth");
	}
	unload(&d);
}

/* check_store_secrets checks DIR/sub/store/kustomization.yaml (kubernetes --store postgres): a
 * Secret <name>-store per service of w (n), its key url from the file <name>.url, no more. */
static void check_store_secrets(const char *sub, const workload *w, size_t n)
{
	const char *file = "store/kustomization.yaml";
	char path[700], why[600], want[200], dns[64];
	size_t made = 0;
	yaml_docs d;
	yaml_document_t *doc;
	yaml_node_t *root, *g;
	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, file);
	ck_assert_msg(load(path, &d, why, sizeof(why)) == 0, "%s", why);
	doc = &d.doc[0];
	root = yaml_document_get_root_node(doc);
	expect_none(file, "Kustomization", doc, root, "resources");
	for (size_t k = 0; k < n; k++) {
		bool found = false;
		if (w[k].edge)
			continue;
		made++;
		snprintf(want, sizeof(want), "%s-store", dns_of(dns, sizeof(dns), w[k].name));
		for (size_t i = 0; (g = item(doc, get(doc, root, "secretGenerator"), i)) != NULL;
		     i++) {
			if (strcmp(str(doc, g, "name"), want) != 0)
				continue;
			found = true;
			expect(file, want, doc, g, "type", "Opaque");
			snprintf(want, sizeof(want), "url=%.63s.url", w[k].name);
			expect_list(file, w[k].name, doc, g, "files", want);
			break;
		}
		ck_assert_msg(found, "%s: no Secret %s-store for %s", file, dns, w[k].name);
	}
	ck_assert_ptr_null(item(doc, get(doc, root, "secretGenerator"), made)); /* no more */
	unload(&d);
}

/* check_store_objects checks where workload w's objects in d (its file of mesh/) keep its
 * data. SQLite (pg false): a service's replicas share a claim, <name>-data, mounted at
 * /var/lib/cleave, all on one node (podAffinity); no store URL, no egress to PostgreSQL.
 * PostgreSQL (pg true): no claim and no affinity; the replicas are the manifest's count, spread
 * over the nodes (topologySpreadConstraints by hostname, never left pending for it); the data
 * directory an emptyDir; CLEAVE_STORE_URL from the key url of the Secret <name>-store; the
 * NetworkPolicy lets it reach PostgreSQL's port. The edge has none of it either way. */
static void check_store_objects(const char *file, const workload *w, yaml_docs *d, bool pg)
{
	char what[96], want[96], dns[64];
	bool service = !w->edge, egress = false, data = false;
	size_t urls = 0;
	yaml_document_t *doc;
	yaml_node_t *root, *pod, *v, *c, *rule;
	dns_of(dns, sizeof(dns), w->name);
	snprintf(what, sizeof(what), "%.63s", w->name);
	root = find(d, "PersistentVolumeClaim", &doc);
	ck_assert_msg((root != NULL) == (service && !pg), "%s: %s: %s claim", file, what,
		      root != NULL ? "a" : "no");
	root = find(d, "Deployment", &doc);
	ck_assert_ptr_nonnull(root);
	pod = get(doc, root, "spec.template.spec");
	if (service) {
		snprintf(want, sizeof(want), "%d", w->count);
		expect(file, what, doc, root, "spec.replicas", want);
	}
	if (service && !pg)
		ck_assert_msg(get(doc, pod, "affinity.podAffinity") != NULL,
			      "%s: %s: its replicas are not kept on the claim's node", file, what);
	if (pg)
		expect_none(file, what, doc, pod, "affinity");
	if (service && pg) {
		v = item(doc, get(doc, pod, "topologySpreadConstraints"), 0);
		ck_assert_msg(v != NULL, "%s: %s: no topologySpreadConstraints", file, what);
		expect(file, what, doc, v, "topologyKey", "kubernetes.io/hostname");
		expect(file, what, doc, v, "maxSkew", "1");
		expect(file, what, doc, v, "whenUnsatisfiable", "ScheduleAnyway");
		v = key(doc, get(doc, v, "labelSelector.matchLabels"), "app.kubernetes.io/name");
		ck_assert_msg(v != NULL && strcmp((char *)v->data.scalar.value, dns) == 0,
			      "%s: %s: the spread does not select its own pods", file, what);
	}
	for (size_t i = 0; (v = item(doc, get(doc, pod, "volumes"), i)) != NULL; i++) {
		if (strcmp(str(doc, v, "name"), "data") != 0)
			continue;
		data = true;
		if (pg) {
			ck_assert_msg(get(doc, v, "emptyDir") != NULL,
				      "%s: %s: data not an emptyDir", file, what);
			expect_none(file, what, doc, v, "persistentVolumeClaim");
		} else {
			snprintf(want, sizeof(want), "%s-data", dns);
			expect(file, what, doc, v, "persistentVolumeClaim.claimName", want);
		}
	}
	ck_assert_msg(data == service, "%s: %s: %s data volume", file, what, data ? "a" : "no");
	for (size_t i = 0; (c = item(doc, get(doc, pod, "containers"), i)) != NULL; i++)
		for (size_t j = 0; (v = item(doc, get(doc, c, "env"), j)) != NULL; j++) {
			if (strcmp(str(doc, v, "name"), "CLEAVE_STORE_URL") != 0)
				continue;
			urls++;
			expect_none(file, what, doc, v, "value"); /* never in the object itself */
			snprintf(want, sizeof(want), "%s-store", dns);
			expect(file, what, doc, v, "valueFrom.secretKeyRef.name", want);
			expect(file, what, doc, v, "valueFrom.secretKeyRef.key", "url");
		}
	ck_assert_msg(urls == (service && pg ? 1u : 0u), "%s: %s: %zu store URLs", file, what,
		      urls);
	root = find(d, "NetworkPolicy", &doc);
	ck_assert_ptr_nonnull(root);
	for (size_t r = 0; (rule = item(doc, get(doc, root, "spec.egress"), r)) != NULL; r++)
		for (size_t i = 0; (v = item(doc, get(doc, rule, "ports"), i)) != NULL; i++)
			if (strcmp(str(doc, v, "port"), "5432") == 0) {
				egress = true;
				expect(file, what, doc, v, "protocol", "TCP");
			}
	ck_assert_msg(egress == (service && pg), "%s: %s: %s egress to PostgreSQL (5432)", file,
		      what, egress ? "an" : "no");
}

/* check_pods renders kubernetes from manifests m (NULL: the checkout's) into DIR/sub, with
 * PostgreSQL stores if pg, and checks every workload's Service (a service's headless, the
 * edge's a load balancer) and pods: run as uid and gid 10001, never root, with the runtime's
 * seccomp profile and no service account token, every container locked down (check_container),
 * its data where the store says (check_store_objects). */
static void check_pods(const char *m, const char *sub, bool pg)
{
	static const char *const pod_wants[][2] = {
	    {"spec.template.spec.securityContext.runAsNonRoot", "true"},
	    {"spec.template.spec.securityContext.runAsUser", "10001"},
	    {"spec.template.spec.securityContext.runAsGroup", "10001"},
	    {"spec.template.spec.securityContext.fsGroup", "10001"},
	    {"spec.template.spec.securityContext.seccompProfile.type", "RuntimeDefault"},
	    {"spec.template.spec.automountServiceAccountToken", "false"},
	};
	workload w[16];
	size_t n = workloads(m, w, 16);
	ck_assert_int_eq(render_store("kubernetes", sub, m, pg ? "postgres" : NULL, NULL), 0);
	for (size_t k = 0; k < n; k++) {
		char path[700], file[96], what[96], why[600];
		yaml_docs d;
		yaml_document_t *doc;
		yaml_node_t *root, *pod, *c;
		snprintf(file, sizeof(file), "%.63s.yaml", w[k].name);
		snprintf(path, sizeof(path), "%s/%s/mesh/%s", dir, sub, file);
		ck_assert_msg(load(path, &d, why, sizeof(why)) == 0, "%s", why);
		root = find(&d, "Service", &doc);
		ck_assert_msg(root != NULL, "%s: no Service", file);
		snprintf(what, sizeof(what), "Service %.63s", w[k].name);
		if (w[k].edge)
			expect(file, what, doc, root, "spec.type", "LoadBalancer");
		else
			expect(file, what, doc, root, "spec.clusterIP", "None");
		root = find(&d, "Deployment", &doc);
		ck_assert_msg(root != NULL, "%s: no Deployment", file);
		snprintf(what, sizeof(what), "Deployment %.63s", w[k].name);
		for (size_t i = 0; i < sizeof(pod_wants) / sizeof(pod_wants[0]); i++)
			expect(file, what, doc, root, pod_wants[i][0], pod_wants[i][1]);
		pod = get(doc, root, "spec.template.spec");
		ck_assert_msg(item(doc, get(doc, pod, "containers"), 0) != NULL,
			      "%s: %s: no container", file, what);
		for (size_t i = 0; (c = item(doc, get(doc, pod, "containers"), i)) != NULL; i++)
			check_container(file, &w[k], doc, pod, c);
		check_store_objects(file, &w[k], &d, pg);
		unload(&d);
	}
	check_secrets_made(sub, w, n, pg);
	if (pg)
		check_store_secrets(sub, w, n);
}

/* of_workload is the workload whose container compose service name is: "edge", or
 * "<service>-<instance>"; NULL if none. */
static const workload *of_workload(const workload *w, size_t n, const char *name)
{
	for (size_t k = 0; k < n; k++) {
		size_t len = strlen(w[k].name);
		if (w[k].edge ? strcmp(name, "edge") == 0
			      : strncmp(name, w[k].name, len) == 0 && name[len] == '-' &&
				    strspn(name + len + 1, "0123456789") == strlen(name + len + 1))
			return &w[k];
	}
	return NULL;
}

/* check_compose renders compose from manifests m (NULL: the checkout's) into DIR/sub and checks
 * every container: a read-only root, no capabilities, no privilege gain, no user: (the image's
 * USER 10001:10001 applies), the workload's health check. */
static void check_compose(const char *m, const char *sub)
{
	const char *file = "compose.yml";
	char path[700], why[600], want[200];
	workload w[16];
	bool seen[16] = {false};
	size_t n = workloads(m, w, 16);
	yaml_docs d;
	yaml_document_t *doc;
	yaml_node_t *services, *secrets;
	env e;
	ck_assert_int_eq(render("compose", sub, m, NULL), 0);
	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, file);
	ck_assert_msg(load(path, &d, why, sizeof(why)) == 0, "%s", why);
	doc = &d.doc[0];
	services = get(doc, yaml_document_get_root_node(doc), "services");
	ck_assert_msg(services != NULL && services->type == YAML_MAPPING_NODE, "%s: no services",
		      file);
	for (yaml_node_pair_t *p = services->data.mapping.pairs.start;
	     p < services->data.mapping.pairs.top; p++) {
		const char *name = (char *)yaml_document_get_node(doc, p->key)->data.scalar.value;
		yaml_node_t *svc = yaml_document_get_node(doc, p->value);
		const workload *wl = of_workload(w, n, name);
		char what[96];
		snprintf(what, sizeof(what), "service %s", name);
		ck_assert_msg(wl != NULL, "%s: %s: no such workload", file, what);
		seen[wl - w] = true;
		expect(file, what, doc, svc, "read_only", "true");
		expect_list(file, what, doc, svc, "cap_drop", "ALL");
		expect_none(file, what, doc, svc, "cap_add");
		expect_none(file, what, doc, svc, "privileged");
		expect_list(file, what, doc, svc, "security_opt", "no-new-privileges");
		expect_none(file, what, doc, svc, "user");
		snprintf(want, sizeof(want), "CMD,%s", wl->check);
		expect_list(file, what, doc, svc, "healthcheck.test", want);
		snprintf(want, sizeof(want), "%d", wl->retries);
		expect(file, what, doc, svc, "healthcheck.retries", want);
		/* mutual TLS as its identity, its secrets mounted; the policy of its manifests */
		env_of_mapping(&e, doc, get(doc, svc, "environment"));
		check_mesh_env(file, what, wl, &e);
		check_tls_files(file, what, &e, wl->name, "/run/secrets", "%s.crt", "%s.key",
				"ca.crt");
		snprintf(want, sizeof(want), "ca.crt,%s.crt,%s.key", wl->name, wl->name);
		expect_list(file, what, doc, svc, "secrets", want);
		expect_none(file, what, doc, svc, "command");
		expect_none(file, what, doc, svc, "entrypoint");
	}
	for (size_t k = 0; k < n; k++)
		ck_assert_msg(seen[k], "%s: no container runs %s", file, w[k].name);
	/* the secrets are the files of meshctl certs --dir tls: the CA's certificate and each
	 * identity's pair, nothing else (never ca.key) */
	secrets = get(doc, yaml_document_get_root_node(doc), "secrets");
	ck_assert_msg(secrets != NULL && secrets->type == YAML_MAPPING_NODE, "%s: no secrets",
		      file);
	ck_assert_int_eq(secrets->data.mapping.pairs.top - secrets->data.mapping.pairs.start,
			 (long)(2 * n + 1));
	ck_assert_str_eq(str(doc, key(doc, secrets, "ca.crt"), "file"),
			 "${CLEAVE_TLS_DIR:-./tls}/ca.crt");
	for (size_t k = 0; k < n; k++)
		for (int pem = 0; pem < 2; pem++) {
			char name[96];
			snprintf(name, sizeof(name), "%.63s.%s", w[k].name, pem ? "key" : "crt");
			snprintf(want, sizeof(want), "${CLEAVE_TLS_DIR:-./tls}/%s", name);
			ck_assert_msg(strcmp(str(doc, key(doc, secrets, name), "file"), want) == 0,
				      "%s: secret %s is not the file %s", file, name, want);
		}
	unload(&d);
}

/* check_compose_postgres checks DIR/sub/compose.postgres.yml (rendered by check_compose, from
 * manifests m): the database's container, postgres, of the image infra/images/build makes,
 * locked down like the others, not published, its data on a volume, health-checked, given each
 * service's store file as a secret; every instance of every service (the edge none) reads its
 * URL from its service's store file and starts once the database is healthy; nothing else. */
static void check_compose_postgres(const char *m, const char *sub)
{
	const char *file = "compose.postgres.yml", *what = "service postgres";
	char path[700], why[600], want[300], stores[256] = "", names[256] = "";
	workload w[16];
	size_t n = workloads(m, w, 16), instances = 0, want_instances = 0;
	yaml_docs d;
	yaml_document_t *doc;
	yaml_node_t *root, *services, *db, *secrets;
	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, file);
	ck_assert_msg(load(path, &d, why, sizeof(why)) == 0, "%s", why);
	ck_assert_int_eq(d.n, 1);
	doc = &d.doc[0];
	root = yaml_document_get_root_node(doc);
	services = get(doc, root, "services");
	for (size_t k = 0; k < n; k++)
		if (!w[k].edge) {
			snprintf(stores + strlen(stores), sizeof(stores) - strlen(stores),
				 "%s%.63s.store", stores[0] ? "," : "", w[k].name);
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%.63s",
				 names[0] ? " " : "", w[k].name);
			want_instances += (size_t)w[k].count;
		}
	db = key(doc, services, "postgres");
	ck_assert_msg(db != NULL, "%s: no service postgres", file);
	expect(file, what, doc, db, "image", "localhost/cleave-postgres:latest");
	expect(file, what, doc, db, "read_only", "true");
	expect_list(file, what, doc, db, "cap_drop", "ALL");
	expect_none(file, what, doc, db, "cap_add");
	expect_none(file, what, doc, db, "privileged");
	expect_none(file, what, doc, db, "ports"); /* the project's network only */
	expect_none(file, what, doc, db, "user");  /* the image's USER 10001:10001 */
	expect_list(file, what, doc, db, "security_opt", "no-new-privileges");
	expect_list(file, what, doc, db, "volumes", "postgres-data:/var/lib/postgresql/data");
	expect_list(file, what, doc, db, "healthcheck.test",
		    "CMD,pg_isready,-q,-h,127.0.0.1,-p,5432");
	expect_list(file, what, doc, db, "secrets", stores);
	expect(file, what, doc, db, "environment.CLEAVE_STORES", names);
	ck_assert_ptr_nonnull(key(doc, get(doc, root, "volumes"), "postgres-data"));
	secrets = get(doc, root, "secrets");
	for (yaml_node_pair_t *p = services->data.mapping.pairs.start;
	     p < services->data.mapping.pairs.top; p++) {
		const char *name = (char *)yaml_document_get_node(doc, p->key)->data.scalar.value;
		yaml_node_t *svc = yaml_document_get_node(doc, p->value);
		const workload *wl = of_workload(w, n, name);
		char at[96];
		if (strcmp(name, "postgres") == 0)
			continue;
		snprintf(at, sizeof(at), "service %s", name);
		ck_assert_msg(wl != NULL && !wl->edge, "%s: %s: not an instance of a service", file,
			      at);
		instances++;
		snprintf(want, sizeof(want), "${CLEAVE_STORE_DIR:-./store}/%.63s.env", wl->name);
		expect_list(file, at, doc, svc, "env_file", want);
		expect(file, at, doc, svc, "depends_on.postgres.condition", "service_healthy");
		expect_none(file, at, doc, svc, "image"); /* all else is compose.yml's */
		expect_none(file, at, doc, svc, "environment");
		snprintf(at, sizeof(at), "%.63s.store", wl->name);
		expect(file, at, doc, key(doc, secrets, at), "file", want);
	}
	ck_assert_uint_eq(instances, want_instances);
	unload(&d);
}
/* test_compose_serves_https_with_a_pair: meshctl render compose --https-cert/--https-key gives
 * the edge (only) the pair's directories read-only, CLEAVE_HTTPS_* naming the files inside, and a
 * health check over https; a pair in two directories is two mounts; the other targets, a
 * relative path and one option alone are usage errors. */
START_TEST(test_compose_serves_https_with_a_pair)
{
	static const struct {
		const char *cert, *key, *want_cert, *want_key, *mounts;
	} cases[] = {
	    {"/etc/cleave/https/fullchain.pem", "/etc/cleave/https/privkey.pem",
	     "/run/https/fullchain.pem", "/run/https/privkey.pem",
	     "/etc/cleave/https:/run/https:ro"},
	    {"/srv/certs/edge.crt", "/srv/keys/edge.key", "/run/https/cert/edge.crt",
	     "/run/https/key/edge.key",
	     "/srv/certs:/run/https/cert:ro,/srv/keys:/run/https/key:ro"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char outdir[512], path[600], why[600];
		char *argv[] = {MESHCTL,
				"render",
				"compose",
				"--out",
				outdir,
				"--https-cert",
				(char *)cases[i].cert,
				"--https-key",
				(char *)cases[i].key,
				NULL};
		yaml_docs d;
		yaml_document_t *doc;
		yaml_node_t *services, *edge;
		env e;
		snprintf(outdir, sizeof(outdir), "%s/https-%zu", dir, i);
		ck_assert_int_eq(run(NULL, argv), 0);
		snprintf(path, sizeof(path), "%s/compose.yml", outdir);
		ck_assert_msg(load(path, &d, why, sizeof(why)) == 0, "%s", why);
		doc = &d.doc[0];
		services = get(doc, yaml_document_get_root_node(doc), "services");
		edge = key(doc, services, "edge");
		ck_assert_ptr_nonnull(edge);
		env_of_mapping(&e, doc, get(doc, edge, "environment"));
		expect_env("compose.yml", "edge", &e, "CLEAVE_HTTPS_CERT", cases[i].want_cert);
		expect_env("compose.yml", "edge", &e, "CLEAVE_HTTPS_KEY", cases[i].want_key);
		/* the mesh identity is unchanged */
		expect_env("compose.yml", "edge", &e, "CLEAVE_TLS_CERT", "/run/secrets/edge.crt");
		expect_list("compose.yml", "edge", doc, edge, "volumes", cases[i].mounts);
		expect_list("compose.yml", "edge", doc, edge, "healthcheck.test",
			    "CMD,edge,--check,https://127.0.0.1:8080/");
		expect("compose.yml", "edge", doc, edge, "read_only", "true");
		for (yaml_node_pair_t *p = services->data.mapping.pairs.start;
		     p < services->data.mapping.pairs.top; p++) {
			yaml_node_t *svc = yaml_document_get_node(doc, p->value);
			const char *name =
			    (char *)yaml_document_get_node(doc, p->key)->data.scalar.value;
			if (strcmp(name, "edge") == 0)
				continue;
			env_of_mapping(&e, doc, get(doc, svc, "environment"));
			ck_assert_msg(env_get(&e, "CLEAVE_HTTPS_CERT") == NULL,
				      "compose.yml: %s has CLEAVE_HTTPS_CERT", name);
		}
		unload(&d);
	}
	{
		char *out = NULL;
		char *ecs[] = {MESHCTL,	   "render",	  "ecs",      "--https-cert",
			       "/a/c.pem", "--https-key", "/a/k.pem", NULL};
		char *rel[] = {MESHCTL, "render",      "compose",  "--https-cert",
			       "c.pem", "--https-key", "/a/k.pem", NULL};
		char *colon[] = {MESHCTL,      "render",      "compose",  "--https-cert",
				 "/a:b/c.pem", "--https-key", "/a/k.pem", NULL};
		char *alone[] = {MESHCTL, "render", "compose", "--https-cert", "/a/c.pem", NULL};
		ck_assert_int_eq(run(&out, ecs), 2);
		ck_assert_msg(strstr(out, "are for compose") != NULL, "%s", out);
		free(out);
		ck_assert_int_eq(run(NULL, rel), 2);
		ck_assert_int_eq(run(NULL, colon), 2);
		ck_assert_int_eq(run(&out, alone), 2);
		ck_assert_msg(strstr(out, "go together") != NULL, "%s", out);
		free(out);
	}
}
END_TEST

/* check_copilot renders copilot from manifests m (NULL: the checkout's) into DIR/sub and checks
 * every workload's manifest: a read-only root, the container's health check, the edge's load
 * balancer checking /, a service's data volume owned by uid and gid 10001. */
static void check_copilot(const char *m, const char *sub)
{
	workload w[16];
	size_t n = workloads(m, w, 16);
	ck_assert_int_eq(render("copilot", sub, m, NULL), 0);
	for (size_t k = 0; k < n; k++) {
		char path[700], file[96], what[96], why[600], want[200];
		yaml_docs d;
		yaml_document_t *doc;
		yaml_node_t *root;
		env e;
		snprintf(file, sizeof(file), "%.63s/manifest.yml", w[k].name);
		snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, file);
		ck_assert_msg(load(path, &d, why, sizeof(why)) == 0, "%s", why);
		doc = &d.doc[0];
		root = yaml_document_get_root_node(doc);
		snprintf(what, sizeof(what), "%.31s %.63s", str(doc, root, "type"), w[k].name);
		expect(file, what, doc, root, "storage.readonly_fs", "true");
		snprintf(want, sizeof(want), "CMD,%s", w[k].check);
		expect_list(file, what, doc, root, "image.healthcheck.command", want);
		/* mutual TLS: the PEM text of its identity's files from SSM, never in variables */
		env_of_mapping(&e, doc, get(doc, root, "variables"));
		check_mesh_env(file, what, &w[k], &e);
		for (size_t i = 0; i < e.n; i++)
			ck_assert_msg(strncmp(e.name[i], "CLEAVE_TLS_", 11) != 0,
				      "%s: %s: %s is a variable, not a secret", file, what,
				      e.name[i]);
		env_of_mapping(&e, doc, get(doc, root, "secrets"));
		ck_assert_uint_eq(e.n, 3);
		for (int i = 0; i < 3; i++) {
			static const char *const vars[] = {
			    "CLEAVE_TLS_CERT_PEM", "CLEAVE_TLS_KEY_PEM", "CLEAVE_TLS_CA_PEM"};
			char dns[64];
			snprintf(want, sizeof(want),
				 "/copilot/${COPILOT_APPLICATION_NAME}/${COPILOT_ENVIRONMENT_NAME}/"
				 "secrets/cleave-%s-%s",
				 i == 2 ? "ca" : dns_of(dns, sizeof(dns), w[k].name),
				 i == 1 ? "key" : "crt");
			expect_env(file, what, &e, vars[i], want);
		}
		if (w[k].edge) {
			expect(file, what, doc, root, "http.healthcheck.path", "/");
		} else {
			expect(file, what, doc, root, "storage.volumes.data.efs.uid", "10001");
			expect(file, what, doc, root, "storage.volumes.data.efs.gid", "10001");
		}
		unload(&d);
	}
}

/* ecs_id writes the prefix of an ECS render's logical ids for identity name: "users_v2" ->
 * "UsersV2". */
static const char *ecs_id(char *out, size_t outlen, const char *name)
{
	size_t i = 0;
	bool up = true;
	for (; *name != '\0' && i + 1 < outlen; name++) {
		if (!((*name >= 'a' && *name <= 'z') || (*name >= '0' && *name <= '9'))) {
			up = true;
			continue;
		}
		out[i++] = up && *name >= 'a' && *name <= 'z' ? (char)(*name - 'a' + 'A') : *name;
		up = false;
	}
	out[i] = '\0';
	return out;
}

/* fargate_pair says whether cpu and memory (MiB) are a task size Fargate runs (AWS's table of
 * valid CPU and memory values). */
static bool fargate_pair(long cpu, long mem)
{
	switch (cpu) {
	case 256:
		return mem == 512 || mem == 1024 || mem == 2048;
	case 512:
		return mem >= 1024 && mem <= 4096 && mem % 1024 == 0;
	case 1024:
		return mem >= 2048 && mem <= 8192 && mem % 1024 == 0;
	case 2048:
		return mem >= 4096 && mem <= 16384 && mem % 1024 == 0;
	case 4096:
		return mem >= 8192 && mem <= 30720 && mem % 1024 == 0;
	case 8192:
		return mem >= 16384 && mem <= 61440 && mem % 4096 == 0;
	case 16384:
		return mem >= 32768 && mem <= 122880 && mem % 8192 == 0;
	default:
		return false;
	}
}

/* has_callee says whether w's callees (variables joined by commas) hold var. */
static bool has_callee(const workload *w, const char *var)
{
	size_t len = strlen(var);
	for (const char *at = strstr(w->callees, var); at != NULL; at = strstr(at + 1, var))
		if ((at == w->callees || at[-1] == ',') && (at[len] == ',' || at[len] == '\0'))
			return true;
	return false;
}

/* callee_var writes the variable naming name among a caller's callees: prefix, then name upper
 * cased ('-' -> '_'), as add_callee does. */
static const char *callee_var(char *out, size_t outlen, const char *prefix, const char *name)
{
	workload tmp = {.callees = ""};
	add_callee(&tmp, prefix, name);
	snprintf(out, outlen, "%s", tmp.callees);
	return out;
}

/* ecs_value is a template value as text: a scalar, or the text of its Fn::Sub; "" otherwise. */
static const char *ecs_value(yaml_document_t *doc, yaml_node_t *v)
{
	if (v != NULL && v->type == YAML_SCALAR_NODE)
		return (char *)v->data.scalar.value;
	return str(doc, v, "Fn::Sub");
}

/* rules_of lists, sorted and joined by commas into out, the security groups named by the rules of
 * type (AWS::EC2::SecurityGroupIngress or ...Egress) of group sg: their key other (the source or
 * the destination), each on port; fails on a rule of sg that names no group or another port. */
static void rules_of(yaml_document_t *doc, yaml_node_t *resources, const char *type, const char *sg,
		     const char *other, const char *port, char *out, size_t outlen)
{
	const char *names[64];
	size_t n = 0;
	out[0] = '\0';
	for (yaml_node_pair_t *p = resources->data.mapping.pairs.start;
	     p < resources->data.mapping.pairs.top; p++) {
		const char *id = (char *)yaml_document_get_node(doc, p->key)->data.scalar.value;
		yaml_node_t *r = yaml_document_get_node(doc, p->value);
		char path[96];
		if (strcmp(str(doc, r, "Type"), type) != 0 ||
		    strcmp(str(doc, r, "Properties.GroupId.Ref"), sg) != 0)
			continue;
		snprintf(path, sizeof(path), "Properties.%s.Ref", other);
		ck_assert_msg(*str(doc, r, path) != '\0',
			      "template.yml: %s: a rule of %s from no group", id, sg);
		ck_assert_msg(get(doc, r, "Properties.CidrIp") == NULL, "template.yml: %s: a CIDR",
			      id);
		expect("template.yml", id, doc, r, "Properties.IpProtocol", "tcp");
		expect("template.yml", id, doc, r, "Properties.FromPort", port);
		expect("template.yml", id, doc, r, "Properties.ToPort", port);
		ck_assert_uint_lt(n, 64);
		names[n++] = str(doc, r, path);
	}
	qsort(names, n, sizeof(names[0]), by_string);
	for (size_t i = 0; i < n; i++)
		snprintf(out + strlen(out), outlen - strlen(out), "%s%s", i ? "," : "", names[i]);
}

/* check_ecs_reach checks who may reach workload w of ws (n) and whom it may reach, by security
 * group: in, exactly the edge's group when the edge sends it requests and the groups of the
 * services whose calls: name it (the edge: the load balancer's), on its port; out, exactly the
 * groups of what it calls on 7000, and by CIDR only HTTPS (the AWS APIs) and its store's port. */
static void check_ecs_reach(yaml_document_t *doc, yaml_node_t *resources, const workload *ws,
			    size_t n, const workload *w)
{
	char id[64], sg[96], var[256], want[512] = "", got[512], what[128];
	const char *from[16];
	size_t nfrom = 0;
	yaml_node_t *group, *e;
	ecs_id(id, sizeof(id), w->name);
	snprintf(sg, sizeof(sg), "%sSecurityGroup", id);
	snprintf(what, sizeof(what), "%.63s's security group", w->name);
	group = key(doc, resources, sg);
	ck_assert_msg(group != NULL, "template.yml: no %s", sg);
	expect("template.yml", what, doc, group, "Type", "AWS::EC2::SecurityGroup");
	expect_none("template.yml", what, doc, group, "Properties.SecurityGroupIngress");
	/* in */
	if (w->edge) {
		snprintf(want, sizeof(want), "LoadBalancerSecurityGroup");
	} else {
		static char names[16][96];
		for (size_t k = 0; k < n; k++) {
			callee_var(var, sizeof(var),
				   ws[k].edge ? "CLEAVE_UPSTREAM_" : "CLEAVE_CALL_", w->name);
			if (!has_callee(&ws[k], var))
				continue;
			ecs_id(names[nfrom], sizeof(names[nfrom]), ws[k].name);
			strcat(names[nfrom], "SecurityGroup");
			from[nfrom] = names[nfrom];
			nfrom++;
		}
		qsort(from, nfrom, sizeof(from[0]), by_string);
		for (size_t i = 0; i < nfrom; i++)
			snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s",
				 i ? "," : "", from[i]);
	}
	rules_of(doc, resources, "AWS::EC2::SecurityGroupIngress", sg, "SourceSecurityGroupId",
		 w->edge ? "8080" : "7000", got, sizeof(got));
	ck_assert_msg(strcmp(got, want) == 0, "template.yml: %s is reached from [%s], want [%s]",
		      w->name, got, want);
	/* out: to what it calls, by group; the rest only HTTPS and the store's port */
	want[0] = '\0';
	nfrom = 0;
	{
		static char names[16][96];
		for (size_t k = 0; k < n; k++) {
			if (ws[k].edge)
				continue;
			callee_var(var, sizeof(var), w->edge ? "CLEAVE_UPSTREAM_" : "CLEAVE_CALL_",
				   ws[k].name);
			if (!has_callee(w, var))
				continue;
			ecs_id(names[nfrom], sizeof(names[nfrom]), ws[k].name);
			strcat(names[nfrom], "SecurityGroup");
			from[nfrom] = names[nfrom];
			nfrom++;
		}
	}
	qsort(from, nfrom, sizeof(from[0]), by_string);
	for (size_t i = 0; i < nfrom; i++)
		snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s", i ? "," : "",
			 from[i]);
	rules_of(doc, resources, "AWS::EC2::SecurityGroupEgress", sg, "DestinationSecurityGroupId",
		 "7000", got, sizeof(got));
	ck_assert_msg(strcmp(got, want) == 0, "template.yml: %s reaches [%s], want [%s]", w->name,
		      got, want);
	for (size_t i = 0;
	     (e = item(doc, get(doc, group, "Properties.SecurityGroupEgress"), i)) != NULL; i++) {
		yaml_node_t *rule = get(doc, e, "Fn::If") ? item(doc, get(doc, e, "Fn::If"), 1) : e;
		ck_assert_msg(get(doc, rule, "DestinationSecurityGroupId") == NULL,
			      "template.yml: %s: a group in its own egress", what);
		if (strcmp(str(doc, rule, "FromPort"), "443") == 0)
			expect("template.yml", what, doc, rule, "ToPort", "443");
		else
			expect("template.yml", what, doc, rule, "FromPort.Ref", "StorePort");
	}
}

/* check_ecs renders ecs from manifests m (NULL: the checkout's) into DIR/sub and checks, for the
 * edge and every service: a Fargate task of a valid size, non-root (10001), a read-only root, no
 * capabilities, its binary's health check, its logs to its own log group, the mesh's environment
 * (tls+tcp:// to exactly what it calls, by Cloud Map name), its own identity's certificate and
 * key and the CA from SSM; an ECS service of the manifest's count with no public IP, in its own
 * security group reached only as calls: says (check_ecs_reach); a service found through Cloud
 * Map, the edge in the load balancer's target group checked on /. And that nothing anywhere gets
 * a public IP. */
static void check_ecs(const char *m, const char *sub)
{
	const char *file = "template.yml";
	char path[700], why[600], *text;
	workload w[16];
	size_t n = workloads(m, w, 16), services = 0;
	yaml_docs d;
	yaml_document_t *doc;
	yaml_node_t *root, *resources;
	ck_assert_int_eq(render("ecs", sub, m, NULL), 0);
	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, file);
	text = harness_read_file(path);
	ck_assert_ptr_nonnull(text);
	ck_assert_msg(strstr(text, "ENABLED") == NULL, "%s: something is ENABLED", file);
	free(text);
	ck_assert_msg(load(path, &d, why, sizeof(why)) == 0, "%s", why);
	doc = &d.doc[0];
	root = yaml_document_get_root_node(doc);
	resources = get(doc, root, "Resources");
	ck_assert_msg(resources != NULL && resources->type == YAML_MAPPING_NODE, "%s: no Resources",
		      file);
	for (yaml_node_pair_t *p = resources->data.mapping.pairs.start;
	     p < resources->data.mapping.pairs.top; p++) {
		yaml_node_t *r = yaml_document_get_node(doc, p->value);
		const char *id = (char *)yaml_document_get_node(doc, p->key)->data.scalar.value;
		if (strcmp(str(doc, r, "Type"), "AWS::ECS::Service") != 0)
			continue;
		services++;
		expect(file, id, doc, r,
		       "Properties.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp",
		       "DISABLED");
		expect(file, id, doc, r, "Properties.LaunchType", "FARGATE");
	}
	ck_assert_uint_eq(services, n);
	for (size_t k = 0; k < n; k++) {
		char id[64], name[128], what[128], want[300];
		const char *secrets[3] = {"CLEAVE_TLS_CERT_PEM", "CLEAVE_TLS_KEY_PEM",
					  "CLEAVE_TLS_CA_PEM"};
		yaml_node_t *task, *c, *svc, *v;
		env e = {.n = 0};
		size_t nsecrets = 0;
		ecs_id(id, sizeof(id), w[k].name);
		snprintf(name, sizeof(name), "%sTaskDefinition", id);
		task = key(doc, resources, name);
		ck_assert_msg(task != NULL, "%s: no %s", file, name);
		snprintf(what, sizeof(what), "%s", name);
		expect(file, what, doc, task, "Type", "AWS::ECS::TaskDefinition");
		expect_list(file, what, doc, task, "Properties.RequiresCompatibilities", "FARGATE");
		expect(file, what, doc, task, "Properties.NetworkMode", "awsvpc");
		ck_assert_msg(fargate_pair(atol(str(doc, task, "Properties.Cpu")),
					   atol(str(doc, task, "Properties.Memory"))),
			      "%s: %s: cpu %s and memory %s are no Fargate size", file, what,
			      str(doc, task, "Properties.Cpu"),
			      str(doc, task, "Properties.Memory"));
		ck_assert_ptr_null(item(doc, get(doc, task, "Properties.ContainerDefinitions"), 1));
		c = item(doc, get(doc, task, "Properties.ContainerDefinitions"), 0);
		ck_assert_msg(c != NULL, "%s: %s: no container", file, what);
		snprintf(what, sizeof(what), "%.100s's container", name);
		expect(file, what, doc, c, "User", "10001:10001");
		expect(file, what, doc, c, "ReadonlyRootFilesystem", "true");
		expect_none(file, what, doc, c, "Privileged");
		expect_list(file, what, doc, c, "LinuxParameters.Capabilities.Drop", "ALL");
		expect_none(file, what, doc, c, "LinuxParameters.Capabilities.Add");
		snprintf(want, sizeof(want), "CMD,/usr/local/bin/%s", w[k].check);
		expect_list(file, what, doc, c, "HealthCheck.Command", want);
		snprintf(want, sizeof(want), "%d", w[k].retries);
		expect(file, what, doc, c, "HealthCheck.Retries", want);
		ck_assert_msg(atoi(str(doc, c, "HealthCheck.Interval")) >= 5 &&
				  atoi(str(doc, c, "HealthCheck.Timeout")) >= 2,
			      "%s: %s: check timings outside ECS's ranges", file, what);
		expect(file, what, doc, c, "LogConfiguration.LogDriver", "awslogs");
		snprintf(want, sizeof(want), "%sLogGroup", id);
		expect(file, what, doc, c, "LogConfiguration.Options.awslogs-group.Ref", want);
		expect(file, what, doc, key(doc, resources, want), "Type", "AWS::Logs::LogGroup");
		/* the mesh's environment: names by Cloud Map, tls+tcp:// */
		for (size_t i = 0; (v = item(doc, get(doc, c, "Environment"), i)) != NULL; i++) {
			ck_assert_uint_lt(e.n, 64);
			e.name[e.n] = str(doc, v, "Name");
			e.value[e.n++] = ecs_value(doc, get(doc, v, "Value"));
			ck_assert_msg(strncmp(e.name[e.n - 1], "CLEAVE_TLS_", 11) != 0,
				      "%s: %s: %s is a variable, not a secret", file, what,
				      e.name[e.n - 1]);
		}
		check_mesh_env(file, what, &w[k], &e);
		for (size_t i = 0; i < e.n; i++) {
			const char *at = strchr(e.value[i], '.');
			if (strncmp(e.name[i], "CLEAVE_CALL_", 12) != 0 &&
			    strncmp(e.name[i], "CLEAVE_UPSTREAM_", 16) != 0)
				continue;
			ck_assert_msg(at != NULL && strcmp(at, ".${ServiceDomain}:7000") == 0,
				      "%s: %s: %s is %s, not a name of the namespace", file, what,
				      e.name[i], e.value[i]);
		}
		/* its identity's certificate and key and the CA, from SSM; a store URL at most */
		for (size_t i = 0; (v = item(doc, get(doc, c, "Secrets"), i)) != NULL; i++) {
			if (get(doc, v, "Fn::If") != NULL) {
				yaml_node_t *s = item(doc, get(doc, v, "Fn::If"), 1);
				ck_assert_msg(!w[k].edge, "%s: %s: the edge has a store", file,
					      what);
				expect(file, what, doc, s, "Name", "CLEAVE_STORE_URL");
				snprintf(want, sizeof(want), "%sStoreSecretArn", id);
				expect(file, what, doc, s, "ValueFrom.Ref", want);
				continue;
			}
			ck_assert_uint_lt(nsecrets, 3);
			expect(file, what, doc, v, "Name", secrets[nsecrets]);
			if (nsecrets < 2)
				snprintf(want, sizeof(want), "${TlsParameterPath}/%.63s.%s",
					 w[k].name, nsecrets == 0 ? "crt" : "key");
			else
				snprintf(want, sizeof(want), "${TlsParameterPath}/ca.crt");
			ck_assert_msg(strlen(str(doc, v, "ValueFrom.Fn::Sub")) > strlen(want) &&
					  strcmp(str(doc, v, "ValueFrom.Fn::Sub") +
						     strlen(str(doc, v, "ValueFrom.Fn::Sub")) -
						     strlen(want),
						 want) == 0,
				      "%s: %s: %s is %s, want ...%s", file, what, secrets[nsecrets],
				      str(doc, v, "ValueFrom.Fn::Sub"), want);
			nsecrets++;
		}
		ck_assert_uint_eq(nsecrets, 3);
		/* the ECS service: its count, no public IP, its own group */
		snprintf(name, sizeof(name), "%sService", id);
		svc = key(doc, resources, name);
		ck_assert_msg(svc != NULL, "%s: no %s", file, name);
		snprintf(want, sizeof(want), "%sTaskDefinition", id);
		expect(file, name, doc, svc, "Properties.TaskDefinition.Ref", want);
		expect(file, name, doc, svc,
		       "Properties.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp",
		       "DISABLED");
		snprintf(want, sizeof(want), "%sSecurityGroup", id);
		v = item(doc,
			 get(doc, svc,
			     "Properties.NetworkConfiguration.AwsvpcConfiguration"
			     ".SecurityGroups"),
			 0);
		expect(file, name, doc, v, "Ref", want);
		if (w[k].edge) {
			expect(file, name, doc, svc, "Properties.DesiredCount", "1");
			v = item(doc, get(doc, svc, "Properties.LoadBalancers"), 0);
			expect(file, name, doc, v, "TargetGroupArn.Ref", "EdgeTargetGroup");
			expect(file, name, doc, v, "ContainerPort", "8080");
			v = key(doc, resources, "EdgeTargetGroup");
			expect(file, "EdgeTargetGroup", doc, v, "Properties.HealthCheckPath", "/");
			expect(file, "EdgeTargetGroup", doc, v, "Properties.TargetType", "ip");
			v = item(doc, get(doc, v, "Properties.TargetGroupAttributes"), 0);
			expect(file, "EdgeTargetGroup", doc, v, "Key",
			       "deregistration_delay.timeout_seconds");
		} else {
			if (w[k].count == 1) {
				expect(file, name, doc, svc, "Properties.DesiredCount", "1");
			} else {
				/* the count with a store URL; one task on SQLite */
				snprintf(want, sizeof(want), "%sStore,%d,1", id, w[k].count);
				expect_list(file, name, doc, svc, "Properties.DesiredCount.Fn::If",
					    want);
			}
			v = item(doc, get(doc, svc, "Properties.ServiceRegistries"), 0);
			snprintf(want, sizeof(want), "%sDiscovery,Arn", id);
			expect_list(file, name, doc, v, "RegistryArn.Fn::GetAtt", want);
			snprintf(want, sizeof(want), "%sDiscovery", id);
			v = key(doc, resources, want);
			expect(file, want, doc, v, "Type", "AWS::ServiceDiscovery::Service");
			expect(file, want, doc, v, "Properties.DnsConfig.RoutingPolicy",
			       "MULTIVALUE");
			expect(file, want, doc,
			       item(doc, get(doc, v, "Properties.DnsConfig.DnsRecords"), 0), "Type",
			       "A");
		}
		check_ecs_reach(doc, resources, w, n, &w[k]);
	}
	unload(&d);
}

START_TEST(test_kubernetes_pods_are_locked_down)
{
	char m[512];
	manifests(m, sizeof(m), "manifests");
	check_pods(NULL, "k-checkout", false);
	check_pods(m, "k-changed", false); /* with resources: and replicas */
}
END_TEST

/* With PostgreSQL stores the pods are as locked down, and share nothing on a node: no claim,
 * no affinity, the replicas spread, each service's store URL from its Secret. */
START_TEST(test_kubernetes_with_postgres_spreads_replicas_and_reads_store_secrets)
{
	char m[512];
	manifests(m, sizeof(m), "manifests");
	check_pods(NULL, "kp-checkout", true);
	check_pods(m, "kp-changed", true); /* users: two replicas */
}
END_TEST

START_TEST(test_compose_containers_are_locked_down)
{
	char m[512];
	manifests(m, sizeof(m), "manifests");
	check_compose(NULL, "c-checkout");
	check_compose(m, "c-changed"); /* with cpus:, mem_limit: and two users */
	check_compose_postgres(NULL, "c-checkout");
	check_compose_postgres(m, "c-changed");
}
END_TEST

START_TEST(test_copilot_tasks_have_read_only_roots_and_checks)
{
	char m[512];
	manifests(m, sizeof(m), "manifests");
	check_copilot(NULL, "a-checkout");
	check_copilot(m, "a-changed");
}
END_TEST

START_TEST(test_ecs_tasks_are_locked_down_and_reached_as_calls_say)
{
	char m[512];
	manifests(m, sizeof(m), "manifests");
	check_ecs(NULL, "e-checkout");
	check_ecs(m, "e-changed"); /* with cpu:, memory: and two users */
}
END_TEST

/* The Kubernetes objects (SQLite's and PostgreSQL's renders) against the API's schemas,
 * compose.yml and compose.postgres.yml (alone and merged) against the Compose specification's, the
 * ECS template against the CloudFormation resource specification: tests/renders/validate.mjs, which
 * installs its validators (npm ci) the first time. Skipped only where node or npm is missing or the
 * npm registry cannot be reached. */
START_TEST(test_renders_pass_their_validators)
{
	char m[512], k[2][600], kp[2][600], c[2][600], e[2][600], *out = NULL;
	char *argv[] = {
	    "/usr/bin/env", "node",	  CLEAVE_SOURCE_DIR "/tests/renders/validate.mjs",
	    "kubernetes",   k[0],	  "kubernetes",
	    k[1],	    "kubernetes", kp[0],
	    "kubernetes",   kp[1],	  "compose",
	    c[0],	    "compose",	  c[1],
	    "ecs",	    e[0],	  "ecs",
	    e[1],	    NULL};
	int rc;
	manifests(m, sizeof(m), "manifests");
	for (int with = 0; with < 2; with++) {
		char sub[32];
		snprintf(sub, sizeof(sub), "k-%d", with);
		ck_assert_int_eq(render("kubernetes", sub, with ? m : NULL, NULL), 0);
		snprintf(k[with], sizeof(k[with]), "%s/%s", dir, sub);
		snprintf(sub, sizeof(sub), "kp-%d", with);
		ck_assert_int_eq(render_store("kubernetes", sub, with ? m : NULL, "postgres", NULL),
				 0);
		snprintf(kp[with], sizeof(kp[with]), "%s/%s", dir, sub);
		snprintf(sub, sizeof(sub), "c-%d", with);
		snprintf(c[with], sizeof(c[with]), "%s/%s", dir, sub);
		if (with) {
			/* the changed manifests, the edge serving HTTPS */
			char *https[] = {MESHCTL,
					 "render",
					 "compose",
					 "--out",
					 c[with],
					 "--manifests",
					 m,
					 "--https-cert",
					 "/etc/cleave/https/fullchain.pem",
					 "--https-key",
					 "/etc/cleave/https/privkey.pem",
					 NULL};
			ck_assert_int_eq(run(NULL, https), 0);
		} else {
			ck_assert_int_eq(render("compose", sub, NULL, NULL), 0);
		}
		snprintf(sub, sizeof(sub), "e-%d", with);
		ck_assert_int_eq(render("ecs", sub, with ? m : NULL, NULL), 0);
		snprintf(e[with], sizeof(e[with]), "%s/%s", dir, sub);
	}
	rc = run_for(&out, 200000, argv);
	if ((rc == 127 && strstr(out, "env: ") != NULL) || rc == 77) {
		char *last = out + strlen(out);
		while (last > out && last[-1] == '\n')
			*--last = '\0';
		while (last > out && last[-1] != '\n')
			last--;
		printf("%s\n", out); /* what npm said, if it ran */
		harness_skip("render validators: %s%s", last,
			     rc == 127 ? " (infra/deps.sh installs nodejs and npm)" : "");
		free(out);
		return;
	}
	ck_assert_msg(rc == 0, "tests/renders/validate.mjs exited %d:\n%s", rc, out);
	free(out);
}
END_TEST

/* scan_tree fails on any file under path (recursively) that has a plain tcp:// address, the
 * word insecure, or a policy mode: every rendered call is mutual TLS under an enforced policy
 * (the manifests' own policy: key decides audit mode), and nothing turns either off. */
static void scan_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	ck_assert_msg(d != NULL, "cannot open %s", path);
	while ((e = readdir(d)) != NULL) {
		char sub[1024];
		struct stat st;
		char *text, *at;
		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		ck_assert_int_eq(stat(sub, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			scan_tree(sub);
			continue;
		}
		text = harness_read_file(sub);
		ck_assert_ptr_nonnull(text);
		for (at = strstr(text, "tcp://"); at != NULL; at = strstr(at + 1, "tcp://"))
			ck_assert_msg(at - text >= 4 && strncmp(at - 4, "tls+", 4) == 0,
				      "%s: a plain address: %.40s", sub, at);
		for (at = text; *at != '\0'; at++)
			ck_assert_msg(strncasecmp(at, "insecure", 8) != 0 &&
					  strncasecmp(at, "policy_mode", 11) != 0 &&
					  strncasecmp(at, "policy-mode", 11) != 0,
				      "%s: %.60s", sub, at);
		free(text);
	}
	closedir(d);
}

START_TEST(test_no_render_has_a_plain_address_or_insecure)
{
	char m[512];
	manifests(m, sizeof(m), "manifests");
	for (size_t t = 0; t < NTARGETS; t++)
		for (int with = 0; with < 2; with++) {
			char sub[64], outdir[600];
			snprintf(sub, sizeof(sub), "scan-%s-%d", targets[t], with);
			ck_assert_int_eq(render(targets[t], sub, with ? m : NULL, NULL), 0);
			snprintf(outdir, sizeof(outdir), "%s/%s", dir, sub);
			scan_tree(outdir);
		}
}
END_TEST

/* A service derives its policy from the manifests in CLEAVE_MANIFESTS, which every render sets
 * to where the images carry them: each image must carry every manifest there (a service's
 * policy names its callers from the others' calls:), and default to it. */
START_TEST(test_every_image_carries_every_manifest)
{
	char err[512];
	manifest **ms;
	size_t n;
	ck_assert_msg(manifest_load_dir(CLEAVE_SOURCE_DIR "/svc", &ms, &n, err, sizeof(err)) == 0,
		      "%s", err);
	for (size_t k = 0; k <= n; k++) {
		const char *name = k == n ? "edge" : ms[k]->name;
		char path[512], *text;
		snprintf(path, sizeof(path), "%s/infra/images/Containerfile.%s", CLEAVE_SOURCE_DIR,
			 name);
		text = harness_read_file(path);
		ck_assert_msg(text != NULL, "no %s", path);
		/* the builder stage gathers every svc/<name>/manifest.yml into /out/manifests */
		ck_assert_msg(strstr(text, "for d in /src/svc/*/;") != NULL &&
				  strstr(text, "\"/out/manifests/$n/manifest.yml\"") != NULL,
			      "%s: the builder does not gather every manifest", path);
		ck_assert_msg(strstr(text, "COPY --from=builder /out/manifests "
					   "/usr/local/share/cleave/svc\n") != NULL,
			      "%s: the image lacks the manifests", path);
		if (k < n) {
			ck_assert_msg(
			    strstr(text, "CLEAVE_MANIFESTS=/usr/local/share/cleave/svc") != NULL,
			    "%s: no CLEAVE_MANIFESTS", path);
			ck_assert_msg(strstr(text, "CLEAVE_LISTEN=tls+tcp://0.0.0.0:7000") != NULL,
				      "%s: does not listen on tls+tcp://", path);
			ck_assert_msg(strstr(text, "\"--insecure\"") == NULL &&
					  strstr(text, "CLEAVE_INSECURE") == NULL,
				      "%s: serves without TLS (--insecure)", path);
		}
		free(text);
	}
	manifest_free_all(ms, n);
}
END_TEST

/* count_in counts the occurrences of needle in text. */
static int count_in(const char *text, const char *needle)
{
	int n = 0;
	for (const char *at = strstr(text, needle); at != NULL; at = strstr(at + 1, needle))
		n++;
	return n;
}

/* Both ways of running the Kubernetes render build with kustomize (kubectl kustomize, offline):
 * from meshctl certs' files, a kubernetes.io/tls Secret per identity whose generated name every
 * pod mounts; with cert-manager, a Certificate per identity and the CA. Skipped without kubectl. */
START_TEST(test_kustomize_builds_the_secrets_both_ways)
{
	char out_dir[512], tls_dir[600], cm[600], built[700], *out = NULL;
	char *certs[] = {MESHCTL, "certs", "--dir", tls_dir, NULL};
	char *files[] = {"/usr/bin/env", "kubectl", "kustomize", out_dir, "--output", built, NULL};
	char *managed[] = {"/usr/bin/env", "kubectl", "kustomize", cm, "--output", built, NULL};
	yaml_docs d;
	char why[600];
	int rc, secrets = 0, certificates = 0;
	ck_assert_int_eq(render("kubernetes", "k", NULL, NULL), 0);
	snprintf(out_dir, sizeof(out_dir), "%s/k", dir);
	snprintf(tls_dir, sizeof(tls_dir), "%s/tls", out_dir);
	snprintf(cm, sizeof(cm), "%s/cert-manager", out_dir);
	snprintf(built, sizeof(built), "%s/built.yaml", dir);
	ck_assert_int_eq(run(NULL, certs), 0);
	rc = run(&out, files);
	if (rc == 127 && strstr(out, "env: ") != NULL) {
		harness_skip("kustomize: kubectl is not installed");
		free(out);
		return;
	}
	ck_assert_msg(rc == 0, "kubectl kustomize %s: %s", out_dir, out);
	free(out);
	ck_assert_msg(load(built, &d, why, sizeof(why)) == 0, "%s", why);
	for (int i = 0; i < d.n; i++) {
		yaml_document_t *doc = &d.doc[i];
		yaml_node_t *root = yaml_document_get_root_node(doc), *v;
		const char *kind = str(doc, root, "kind"), *name = str(doc, root, "metadata.name");
		if (strcmp(kind, "Secret") == 0) {
			secrets++;
			ck_assert_str_eq(str(doc, root, "type"), "kubernetes.io/tls");
			ck_assert_ptr_nonnull(key(doc, get(doc, root, "data"), "tls.crt"));
			ck_assert_ptr_nonnull(key(doc, get(doc, root, "data"), "tls.key"));
			ck_assert_ptr_nonnull(key(doc, get(doc, root, "data"), "ca.crt"));
		}
		if (strcmp(kind, "Deployment") != 0)
			continue;
		/* its pods mount the generated Secret of their own identity, <name>-tls-<hash> */
		for (size_t j = 0;
		     (v = item(doc, get(doc, root, "spec.template.spec.volumes"), j)) != NULL;
		     j++) {
			char want[128];
			if (strcmp(str(doc, v, "name"), "tls") != 0)
				continue;
			snprintf(want, sizeof(want), "%s-tls-", name);
			ck_assert_msg(
			    strncmp(str(doc, v, "secret.secretName"), want, strlen(want)) == 0,
			    "Deployment %s mounts %s", name, str(doc, v, "secret.secretName"));
		}
	}
	ck_assert_int_eq(secrets, 4); /* edge, posts, threads, users */
	unload(&d);
	rc = run(&out, managed);
	ck_assert_msg(rc == 0, "kubectl kustomize %s: %s", cm, out);
	free(out);
	out = harness_read_file(built);
	ck_assert_ptr_nonnull(out);
	certificates = count_in(out, "\nkind: Certificate\n");
	ck_assert_int_eq(certificates, 5); /* the CA, edge, posts, threads, users */
	ck_assert_int_eq(count_in(out, "\nkind: Secret\n"), 0);
	ck_assert_int_eq(count_in(out, "secretName: posts-tls\n"), 2); /* made, and mounted */
	free(out);
}
END_TEST

/* base64 writes the base64 of text (as a Secret's data holds it) into out. */
static void base64(char *out, size_t outlen, const char *text)
{
	static const char abc[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t len = strlen(text), o = 0;
	for (size_t i = 0; i < len && o + 5 < outlen; i += 3) {
		unsigned v = (unsigned char)text[i] << 16;
		v |= i + 1 < len ? (unsigned)(unsigned char)text[i + 1] << 8 : 0;
		v |= i + 2 < len ? (unsigned char)text[i + 2] : 0;
		out[o++] = abc[(v >> 18) & 63];
		out[o++] = abc[(v >> 12) & 63];
		out[o++] = i + 1 < len ? abc[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? abc[v & 63] : '=';
	}
	out[o] = '\0';
}

/* With PostgreSQL stores both ways build too (kubectl kustomize, offline): from the files
 * store/<name>.url, an Opaque Secret per service holding its URL under url, which the service's
 * pods (and only they) read as CLEAVE_STORE_URL by its generated name; no claim anywhere.
 * Skipped without kubectl. */
START_TEST(test_kustomize_builds_the_store_secrets)
{
	static const char *const names[] = {"posts", "threads", "users"};
	char out_dir[512], tls_dir[600], cm[600], built[700], path[700], *out = NULL;
	char *certs[] = {MESHCTL, "certs", "--dir", tls_dir, NULL};
	char *files[] = {"/usr/bin/env", "kubectl", "kustomize", out_dir, "--output", built, NULL};
	char *managed[] = {"/usr/bin/env", "kubectl", "kustomize", cm, "--output", built, NULL};
	char made[3][128] = {"", "", ""};
	int rc;
	ck_assert_int_eq(render_store("kubernetes", "kp", NULL, "postgres", NULL), 0);
	snprintf(out_dir, sizeof(out_dir), "%s/kp", dir);
	snprintf(tls_dir, sizeof(tls_dir), "%s/tls", out_dir);
	snprintf(cm, sizeof(cm), "%s/cert-manager", out_dir);
	snprintf(built, sizeof(built), "%s/built.yaml", dir);
	ck_assert_int_eq(run(NULL, certs), 0);
	for (size_t i = 0; i < 3; i++) {
		char url[256];
		snprintf(path, sizeof(path), "%s/store/%s.url", out_dir, names[i]);
		snprintf(url, sizeof(url), "postgresql://%s:pw-%zu@db.example:5432/%s", names[i], i,
			 names[i]);
		write_file(path, url);
	}
	for (int way = 0; way < 2; way++) {
		yaml_docs d;
		char why[600];
		int secrets = 0, deployments = 0;
		rc = run(&out, way == 0 ? files : managed);
		if (rc == 127 && strstr(out, "env: ") != NULL) {
			harness_skip("kustomize: kubectl is not installed");
			free(out);
			return;
		}
		ck_assert_msg(rc == 0, "kubectl kustomize %s: %s", way == 0 ? out_dir : cm, out);
		free(out);
		ck_assert_msg(load(built, &d, why, sizeof(why)) == 0, "%s", why);
		for (int i = 0; i < d.n; i++) {
			yaml_document_t *doc = &d.doc[i];
			yaml_node_t *root = yaml_document_get_root_node(doc), *c, *v;
			const char *kind = str(doc, root, "kind");
			const char *name = str(doc, root, "metadata.name");
			size_t urls = 0;
			ck_assert_msg(strcmp(kind, "PersistentVolumeClaim") != 0, "a claim: %s",
				      name);
			if (strcmp(kind, "Secret") == 0 &&
			    strcmp(str(doc, root, "type"), "Opaque") == 0)
				for (size_t k = 0; k < 3; k++) {
					char want[256], url[256];
					snprintf(want, sizeof(want), "%s-store-", names[k]);
					if (strncmp(name, want, strlen(want)) != 0)
						continue;
					secrets++;
					snprintf(made[k], sizeof(made[k]), "%s", name);
					snprintf(url, sizeof(url),
						 "postgresql://%s:pw-%zu@db.example:5432/%s",
						 names[k], k, names[k]);
					base64(want, sizeof(want), url);
					ck_assert_str_eq(str(doc, root, "data.url"), want);
				}
			if (strcmp(kind, "Deployment") != 0)
				continue;
			deployments++;
			for (size_t j = 0;
			     (c = item(doc, get(doc, root, "spec.template.spec.containers"), j)) !=
			     NULL;
			     j++)
				for (size_t e = 0; (v = item(doc, get(doc, c, "env"), e)) != NULL;
				     e++) {
					char want[128];
					if (strcmp(str(doc, v, "name"), "CLEAVE_STORE_URL") != 0)
						continue;
					urls++;
					snprintf(want, sizeof(want), "%s-store-", name);
					ck_assert_msg(
					    strncmp(str(doc, v, "valueFrom.secretKeyRef.name"),
						    want, strlen(want)) == 0,
					    "Deployment %s reads its store URL from %s", name,
					    str(doc, v, "valueFrom.secretKeyRef.name"));
					for (size_t k = 0; k < 3; k++)
						if (strcmp(name, names[k]) == 0)
							ck_assert_str_eq(
							    str(doc, v,
								"valueFrom.secretKeyRef.name"),
							    made[k]);
				}
			ck_assert_int_eq(urls, strcmp(name, "edge") == 0 ? 0 : 1);
		}
		ck_assert_int_eq(secrets, 3);
		ck_assert_int_eq(deployments, 4);
		unload(&d);
	}
}
END_TEST

/* fargate renders copilot with posts' cpu: and memory: set as given (memory NULL: none) and
 * returns meshctl's exit status, the rendered cpu and memory in cpu_out and mem_out. */
static int fargate(const char *m, const char *cpu, const char *memory, char *cpu_out, char *mem_out,
		   size_t outlen)
{
	static int seq;
	char path[700], sub[64], why[600], *text, *base, *cut;
	yaml_docs d;
	int rc;
	snprintf(path, sizeof(path), "%s/posts/manifest.yml", m);
	text = harness_read_file(CLEAVE_SOURCE_DIR "/svc/posts/manifest.yml");
	ck_assert_ptr_nonnull(text);
	base = malloc(strlen(text) + 128);
	cut = strstr(text, "\nroutes:");
	ck_assert_ptr_nonnull(cut);
	*cut = '\0';
	sprintf(base, "%s\ncpu: %s\n%s%s%s\nroutes:%s", text, cpu, memory ? "memory: " : "",
		memory ? memory : "", memory ? "\n" : "", cut + 8);
	write_file(path, base);
	free(base);
	free(text);
	snprintf(sub, sizeof(sub), "fargate-%d", seq++);
	rc = render("copilot", sub, m, NULL);
	if (rc != 0)
		return rc;
	snprintf(path, sizeof(path), "%s/%s/posts/manifest.yml", dir, sub);
	ck_assert_msg(load(path, &d, why, sizeof(why)) == 0, "%s", why);
	snprintf(cpu_out, outlen, "%s",
		 str(&d.doc[0], yaml_document_get_root_node(&d.doc[0]), "cpu"));
	snprintf(mem_out, outlen, "%s",
		 str(&d.doc[0], yaml_document_get_root_node(&d.doc[0]), "memory"));
	unload(&d);
	return 0;
}

START_TEST(test_copilot_sizes_round_up_to_fargate_sizes)
{
	/* cpu: millicores, memory: | CPU units, MiB: the smallest valid Fargate pair that fits */
	static const char *const cases[][4] = {
	    {"250", NULL, "256", "512"},	/* 256 units exactly */
	    {"251", NULL, "512", "1024"},	/* 258 units: the next size */
	    {"250", "1536Mi", "256", "2048"},	/* 256 allows 512, 1024 or 2048 */
	    {"1000", "3Gi", "1024", "3072"},	/* 1024 units: 2 to 8 GiB by 1 GiB */
	    {"1000", "2049Mi", "1024", "3072"}, /* rounded up to the next GiB */
	    {"4000", "31Gi", "8192", "32768"},	/* over 4096's 30 GiB: the next CPU size */
	    {"16000", NULL, "16384", "32768"},
	};
	char m[512], cpu[64], mem[64];
	manifests(m, sizeof(m), "manifests");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(fargate(m, cases[i][0], cases[i][1], cpu, mem, sizeof(cpu)), 0);
		ck_assert_msg(strcmp(cpu, cases[i][2]) == 0 && strcmp(mem, cases[i][3]) == 0,
			      "cpu: %s memory: %s gave %s/%s, want %s/%s", cases[i][0],
			      cases[i][1] ? cases[i][1] : "-", cpu, mem, cases[i][2], cases[i][3]);
	}
	/* 16001 millicores are 16386 units: more than any Fargate task has */
	ck_assert_int_eq(fargate(m, "16001", NULL, cpu, mem, sizeof(cpu)), 1);
}
END_TEST

static Suite *render_suite(void)
{
	Suite *s = suite_create("render");
	TCase *tc = harness_tcase("render", 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_the_committed_deployments_match_the_manifests);
	tcase_add_test(tc, test_every_rendered_file_is_yaml_with_the_header);
	tcase_add_test(tc, test_bad_input_is_a_usage_error);
	tcase_add_test(tc, test_without_out_every_file_goes_to_stdout);
	tcase_add_test(tc, test_count_becomes_instances_and_replicas);
	tcase_add_test(tc, test_network_policies_follow_calls);
	tcase_add_test(tc, test_copilot_sizes_round_up_to_fargate_sizes);
	suite_add_tcase(s, tc);
	tc = harness_tcase("properties", 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_kubernetes_pods_are_locked_down);
	tcase_add_test(tc, test_kubernetes_with_postgres_spreads_replicas_and_reads_store_secrets);
	tcase_add_test(tc, test_compose_containers_are_locked_down);
	tcase_add_test(tc, test_compose_serves_https_with_a_pair);
	tcase_add_test(tc, test_copilot_tasks_have_read_only_roots_and_checks);
	tcase_add_test(tc, test_ecs_tasks_are_locked_down_and_reached_as_calls_say);
	tcase_add_test(tc, test_no_render_has_a_plain_address_or_insecure);
	tcase_add_test(tc, test_every_image_carries_every_manifest);
	tcase_add_test(tc, test_kustomize_builds_the_secrets_both_ways);
	tcase_add_test(tc, test_kustomize_builds_the_store_secrets);
	suite_add_tcase(s, tc);
	tc = harness_tcase("validators", 240); /* npm ci the first time */
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_renders_pass_their_validators);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(render_suite(), 1);
}
