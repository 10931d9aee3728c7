/* render_compose_postgres.c: meshctl render compose's compose.postgres.yml: merged over compose.yml
 * (-f compose.yml -f compose.postgres.yml), a PostgreSQL container holding a database and role per
 * service, and every service instance reading its store URL from its store file. */
#include <string.h>

#include "render.h"

#define DB_HOST	 RENDER_COMPOSE_DB
#define DB_DATA	 "/var/lib/postgresql/data"
#define STORE	 "${CLEAVE_STORE_DIR:-./store}"
#define SECRETS	 "/run/secrets"
#define DB_IMAGE RENDER_COMPOSE_DB /* the image of infra/images/Containerfile.postgres */

static void header(FILE *f, const render_ctx *c)
{
	fprintf(
	    f,
	    "# PostgreSQL for the services' stores, over compose.yml (the files are merged, this\n"
	    "# one last):\n"
	    "#   podman-compose -p cleave -f compose.yml -f compose.postgres.yml up -d\n"
	    "# (meshctl up --containers --store postgres does all of it.) The container %s,\n"
	    "# of the image %s%s:%s\n"
	    "# (Debian's postgresql on the same base as the others, made by infra/images/build:\n"
	    "# nothing is pulled), keeps every service's database on the volume %s-data.\n"
	    "# Each service has a database and a role of its own (no other role may connect to\n"
	    "# it), made or updated at every start of the database from the service's store\n"
	    "# file, which is also where its containers read their URL:\n"
	    "#   store/<name>.env: CLEAVE_STORE_URL=postgresql://<name>:PASSWORD@%s:%d/<name>\n"
	    "# one per service, next to this file ($CLEAVE_STORE_DIR names another directory),\n"
	    "# given to uid 10001 (the database's user reads it as a secret), mode 0600:\n"
	    "#   for s in",
	    DB_HOST, c->o->image_prefix, DB_IMAGE, c->o->tag, DB_HOST, DB_HOST, RENDER_STORE_PORT);
	for (size_t k = 0; k < c->n; k++)
		fprintf(f, " %s", c->ms[k]->name);
	fprintf(
	    f,
	    "; do\n"
	    "#     echo \"CLEAVE_STORE_URL=postgresql://$s:$(openssl rand -hex 16)@%s:%d/$s\" \\\n"
	    "#       >store/$s.env\n"
	    "#   done; chmod 0600 store/*.env; chown 10001:10001 store/*.env\n"
	    "# (meshctl up --containers --store postgres writes them so). Never commit them.\n"
	    "# A service that starts before its database answers exits, and is started again\n"
	    "# (restart: unless-stopped) until it does. Its calls to the database stay on the\n"
	    "# project's network, on this host, without TLS.\n",
	    DB_HOST, RENDER_STORE_PORT);
}

/* database writes the PostgreSQL container: non-root (10001), read-only root, its data on a
 * volume, every service's store file as a secret, checked with pg_isready. */
static void database(FILE *f, const render_ctx *c)
{
	fprintf(f,
		"  %s:\n"
		"    image: %s%s:%s\n"
		"    environment:  # whose store files it reads, in " SECRETS "/<name>.store\n"
		"      CLEAVE_STORES: '",
		DB_HOST, c->o->image_prefix, DB_IMAGE, c->o->tag);
	for (size_t k = 0; k < c->n; k++)
		fprintf(f, "%s%s", k > 0 ? " " : "", c->ms[k]->name);
	fprintf(f, "'\n    secrets: [");
	for (size_t k = 0; k < c->n; k++)
		fprintf(f, "%s%s.store", k > 0 ? ", " : "", c->ms[k]->name);
	fprintf(f,
		"]  # read-only, in " SECRETS "/\n"
		"    volumes:\n"
		"      - %s-data:" DB_DATA "\n"
		"    tmpfs: [/tmp]  # its unix socket, for psql in the container\n"
		"    healthcheck:  # accepting connections: only once every role and database is "
		"made\n"
		"      test: [CMD, pg_isready, -q, -h, 127.0.0.1, -p, '%d']\n"
		"      interval: 2s\n"
		"      timeout: 2s\n"
		"      retries: 3\n"
		"      start_period: 30s\n"
		"    stop_signal: SIGINT  # a fast shutdown: it does not wait for the services to "
		"leave\n"
		"    stop_grace_period: 30s\n"
		"    restart: unless-stopped\n"
		"    read_only: true\n"
		"    cap_drop: [ALL]\n"
		"    security_opt: [no-new-privileges]\n"
		"    networks: [cleave]\n",
		DB_HOST, RENDER_STORE_PORT);
}

/* instance writes what instance inst of manifest k gains: its store URL, and the database first. */
static void instance(FILE *f, const render_ctx *c, size_t k, int inst)
{
	char dns[128];
	render_dns(dns, sizeof(dns), c->ms[k]->name);
	fprintf(f,
		"  %s-%d:\n"
		"    env_file: ['" STORE "/%s.env']  # CLEAVE_STORE_URL\n"
		"    depends_on:\n"
		"      %s:\n"
		"        condition: service_healthy\n",
		dns, inst, c->ms[k]->name, DB_HOST);
}

int render_compose_postgres(const render_ctx *c, char *err, size_t errlen)
{
	FILE *f;
	for (size_t k = 0; k < c->n; k++) {
		char dns[128];
		render_dns(dns, sizeof(dns), c->ms[k]->name);
		if (strcmp(dns, DB_HOST) == 0) {
			snprintf(err, errlen,
				 "%s: compose: a service may not be called %s (the database's "
				 "container)",
				 c->ms[k]->file, DB_HOST);
			return -1;
		}
	}
	f = render_begin(c->out, "compose.postgres.yml");
	if (f == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	header(f, c);
	fprintf(f, "services:\n");
	database(f, c);
	for (size_t k = 0; k < c->n; k++)
		for (int i = 1; i <= c->ms[k]->count; i++)
			instance(f, c, k, i);
	fprintf(f, "volumes:\n  %s-data: {}\nsecrets:  # the store files (see the top)\n", DB_HOST);
	for (size_t k = 0; k < c->n; k++)
		fprintf(f, "  %s.store:\n    file: " STORE "/%s.env\n", c->ms[k]->name,
			c->ms[k]->name);
	return 0;
}
