/* containers.h: meshctl up --containers and meshctl down --containers: the forum in containers,
 * from the compose render, with podman-compose. */
#ifndef CLEAVE_MESHCTL_CONTAINERS_H
#define CLEAVE_MESHCTL_CONTAINERS_H

/* containers_opts: what meshctl up's command line chose for the containers. Strings are argv's
 * (or literals). */
typedef struct containers_opts {
	const char *state;	/* --state-dir, or NULL for the default */
	const char *manifests;	/* where <name>/manifest.yml are */
	const char *project;	/* the podman-compose project name */
	const char *tag;	/* the images' tag */
	int port;		/* the host port of the edge; 0: a free one */
	int build;		/* run infra/images/build even when every image is there */
	int wait_s;		/* how long to wait for the forum to answer */
	int postgres;		/* the stores in PostgreSQL: compose.postgres.yml merged too */
	const char *https_cert; /* the edge serves HTTPS with this certificate chain and key */
	const char *https_key;	/* (absolute paths), or both NULL: HTTP */
} containers_opts;

/* containers_up brings the forum up in containers: builds the images that are missing
 * (infra/images/build), writes podman's configuration (infra/images/podman-env.sh), makes the
 * certificates that are missing (meshctl certs, the containers' keys given to uid 10001), renders
 * compose.yml (and compose.postgres.yml), runs podman-compose up under o->project (with
 * o->postgres, compose.postgres.yml merged over compose.yml, and the services' store files made
 * where missing: containers_store_files) and waits until the edge answers / and a GET route of
 * every routed service; then prints where the API is. Everything of it is in
 * <state>/containers/. Returns the exit status (0 up, 1 failed, 2 a usage error). */
int containers_up(const containers_opts *o);

/* containers_down takes down the containers that containers_up started from the state directory
 * state (NULL: the default): podman-compose down, and the networks it leaves. Their volumes (the
 * services' data) are kept unless volumes is nonzero. Returns the exit status. */
int containers_down(const char *state, int volumes);

#endif
