/* render_kustomize.c: meshctl render kubernetes's kustomizations: the workloads (mesh/), one TLS
 * Secret per identity from meshctl certs' files (kustomization.yaml) or from cert-manager
 * (cert-manager/), and with PostgreSQL stores a Secret per service from its store URL (store/). */
#include <string.h>

#include "render.h"

/* identity is the name of the i-th identity that runs in the cluster: the edge, then every
 * service. */
static const char *identity(const render_ctx *c, size_t i)
{
	return i == 0 ? "edge" : c->ms[i - 1]->name;
}

/* kustomize_mesh writes mesh/kustomization.yaml: every workload, no Secret. */
static int kustomize_mesh(const render_ctx *c)
{
	FILE *f = render_begin(c->out, "mesh/kustomization.yaml");
	if (f == NULL)
		return -1;
	fprintf(f,
		"# The workloads, without their TLS Secrets: ../kustomization.yaml adds them from\n"
		"# meshctl certs' files, ../cert-manager/ has cert-manager issue them.\n"
		"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
		"  - edge.yaml\n");
	for (size_t k = 0; k < c->n; k++) {
		char dns[128];
		render_dns(dns, sizeof(dns), c->ms[k]->name);
		fprintf(f, "  - %s.yaml\n", dns);
	}
	return 0;
}

/* kustomize_files writes kustomization.yaml: the workloads and one Secret per identity made by
 * kustomize from the files of meshctl certs --dir tls. */
static int kustomize_files(const render_ctx *c)
{
	FILE *f = render_begin(c->out, "kustomization.yaml");
	if (f == NULL)
		return -1;
	fprintf(
	    f, "# kubectl apply -k DIR applies every object, into the current namespace. Every\n"
	       "# call in the mesh is mutual TLS: each pod mounts its identity's Secret,\n"
	       "# <name>-tls (a kubernetes.io/tls Secret: tls.crt, tls.key, ca.crt), made here\n"
	       "# from files this directory does not hold. Make them first:\n"
	       "#   meshctl certs --dir DIR/tls   # a CA, and NAME.crt, NAME.key per identity\n"
	       "# and never commit them (ca.key is used by nothing here: keep it elsewhere).\n"
	       "# Re-running meshctl certs NAME and applying again rotates NAME: its Secret gets\n"
	       "# a new name (kustomize's hash), so its pods are replaced and load the new files.\n"
	       "# With cert-manager instead: kubectl apply -k DIR/cert-manager.\n");
	if (c->o->store_postgres)
		fprintf(f, "# Each service's PostgreSQL store URL is a Secret too: see store/.\n");
	fprintf(f, "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
		   "  - mesh\n");
	if (c->o->store_postgres)
		fprintf(f, "  - store\n");
	fprintf(f, "generatorOptions:\n  labels:\n    app.kubernetes.io/part-of: cleave\n"
		   "secretGenerator:\n");
	for (size_t i = 0; i <= c->n; i++) {
		char dns[128];
		const char *id = identity(c, i);
		render_dns(dns, sizeof(dns), id);
		fprintf(f,
			"  - name: %s-tls\n    type: kubernetes.io/tls\n    files:\n"
			"      - tls.crt=tls/%s.crt\n      - tls.key=tls/%s.key\n"
			"      - ca.crt=tls/ca.crt\n",
			dns, id, id);
	}
	return 0;
}

/* cert_meta writes a cert-manager object's head. */
static void cert_meta(FILE *f, const char *kind, const char *name)
{
	fprintf(f,
		"apiVersion: cert-manager.io/v1\nkind: %s\nmetadata:\n  name: %s\n  labels:\n"
		"    app.kubernetes.io/part-of: cleave\n",
		kind, name);
}

/* cert_key writes a Certificate's private key: a new EC P-256 key each time it is issued, as
 * meshctl certs makes. */
static void cert_key(FILE *f)
{
	fprintf(f, "  privateKey:\n    algorithm: ECDSA\n    size: 256\n"
		   "    rotationPolicy: Always\n");
}

/* kustomize_cert_manager writes cert-manager/: the workloads, and a CA issuer that issues one
 * Certificate per identity, whose Secret has the name the pods mount. */
static int kustomize_cert_manager(const render_ctx *c)
{
	FILE *f = render_begin(c->out, "cert-manager/kustomization.yaml");
	if (f == NULL)
		return -1;
	fprintf(f,
		"# kubectl apply -k DIR/cert-manager: the workloads, their TLS Secrets issued by\n"
		"# cert-manager (installed in the cluster) from a CA of the namespace's own.\n"
		"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
		"  - ../mesh\n%s  - certificates.yaml\n",
		c->o->store_postgres ? "  - ../store  # the store URLs' Secrets\n" : "");
	f = render_begin(c->out, "cert-manager/certificates.yaml");
	if (f == NULL)
		return -1;
	fprintf(
	    f, "# The identities of the mesh from cert-manager: a self-signed CA (cleave-ca, its\n"
	       "# key in the Secret cleave-ca of this namespace, like meshctl certs' ca.key), and\n"
	       "# one Certificate per identity with commonName = the identity, issued by it into\n"
	       "# the Secret <name>-tls the pods mount (tls.crt, tls.key, and ca.crt: the CA).\n"
	       "# Renewed certificates are read when a pod starts: restart the identity's\n"
	       "# Deployment after a renewal (kubectl rollout restart deployment/NAME), well\n"
	       "# within renewBefore.\n");
	cert_meta(f, "Issuer", "cleave-selfsigned");
	fprintf(f, "spec:\n  selfSigned: {}\n---\n");
	cert_meta(f, "Certificate", "cleave-ca");
	fprintf(f, "spec:\n  isCA: true\n  commonName: cleave-mesh-ca\n  secretName: cleave-ca\n"
		   "  duration: 87600h  # 10 years\n");
	cert_key(f);
	fprintf(f, "  issuerRef:\n    name: cleave-selfsigned\n    kind: Issuer\n"
		   "    group: cert-manager.io\n---\n");
	cert_meta(f, "Issuer", "cleave-ca");
	fprintf(f, "spec:\n  ca:\n    secretName: cleave-ca\n");
	for (size_t i = 0; i <= c->n; i++) {
		char dns[128];
		const char *id = identity(c, i);
		render_dns(dns, sizeof(dns), id);
		fprintf(f, "---\n# %s's identity: the CN its peers see\n", id);
		cert_meta(f, "Certificate", dns);
		fprintf(f,
			"spec:\n  secretName: %s-tls\n  commonName: %s\n  dnsNames: [%s]\n"
			"  duration: 8760h  # 365 days, as meshctl certs\n  renewBefore: 720h\n"
			"  usages: [digital signature, server auth, client auth]\n",
			dns, id, id);
		cert_key(f);
		fprintf(f, "  issuerRef:\n    name: cleave-ca\n    kind: Issuer\n"
			   "    group: cert-manager.io\n");
	}
	return 0;
}

/* kustomize_store writes store/kustomization.yaml: a Secret per service, <name>-store, whose key
 * url is the service's PostgreSQL URL, made by kustomize from store/<name>.url. */
static int kustomize_store(const render_ctx *c)
{
	FILE *f = render_begin(c->out, "store/kustomization.yaml");
	if (f == NULL)
		return -1;
	fprintf(
	    f,
	    "# Each service's PostgreSQL store: a Secret <name>-store whose key url its pods read\n"
	    "# as CLEAVE_STORE_URL, made here from a file this directory does not hold,\n"
	    "# store/<name>.url: the URL alone, without a newline, for a database and role of\n"
	    "# the service's own (README, Stores):\n"
	    "#   printf '%%s' 'postgresql://posts:PASSWORD@db.example:%d/posts?sslmode=require' "
	    "\\\n"
	    "#     >store/posts.url\n"
	    "# (sslmode=verify-full also checks the server's name: it wants the server's CA in\n"
	    "# the pods, under /etc, e.g. a ConfigMap mounted there, named by sslrootcert=.)\n"
	    "# Never commit them. Changing one and applying again rolls the service's pods\n"
	    "# onto it (kustomize's hash in the Secret's name).\n"
	    "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
	    "generatorOptions:\n  labels:\n    app.kubernetes.io/part-of: cleave\n"
	    "secretGenerator:\n",
	    RENDER_STORE_PORT);
	for (size_t k = 0; k < c->n; k++) {
		char dns[128];
		render_dns(dns, sizeof(dns), c->ms[k]->name);
		fprintf(f, "  - name: %s-store\n    type: Opaque\n    files:\n      - url=%s.url\n",
			dns, c->ms[k]->name);
	}
	return 0;
}

int render_kustomizations(const render_ctx *c)
{
	if (kustomize_mesh(c) != 0 || kustomize_files(c) != 0 || kustomize_cert_manager(c) != 0)
		return -1;
	if (c->o->store_postgres && kustomize_store(c) != 0)
		return -1;
	return 0;
}
