/* service.h: a service process: what a service is to the runtime (rt_service_def), the clients
 * of the services it calls (rt_deps), and the main() every svc-<name> runs. */
#ifndef CLEAVE_RUNTIME_SERVICE_H
#define CLEAVE_RUNTIME_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "mesh.h"

#define RT_SERVICE_MAX_CALLS 16

/* RT_CHECK_TIMEOUT_MS: how long `--check URL` waits for the Health answer. */
#define RT_CHECK_TIMEOUT_MS 2000

/* rt_dependency: a service a service calls, by its short name ("users"). */
typedef struct rt_dependency {
	const char *name;
	const ProtobufCServiceDescriptor *service;
} rt_dependency;

/* rt_deps: a blocking client of each service a service calls, made by the runtime. */
typedef struct rt_deps rt_deps;

/* rt_deps_client returns the client of dependency name, or NULL if the service does not call
 * name. It belongs to deps. A blocking client's (rt_deps_new) calls may be made from any thread
 * (mesh_client_call); an asynchronous one's (rt_deps_new_on) from its loop's thread alone. */
mesh_client *rt_deps_client(const rt_deps *deps, const char *name);

/* rt_service_env: where a service keeps its data, and how it reaches the others. */
typedef struct rt_service_env {
	/* where its store is: a PostgreSQL URL (store.h's store_opts.url), or NULL for the
	 * embedded SQLite store in data_dir */
	const char *store_url;
	const char *data_dir; /* the service's own directory (made with mode 0700) */
	const char *seed;     /* seed file, loaded on the first start only */
	int sync_full;	      /* --sync full: fsync every commit */
	/* the blocking clients of the services it calls: connected once the store is open, kept
	 * until the service is closed. Borrowed. A call served on an event-loop thread also finds
	 * that thread's asynchronous clients in mesh_call_context (an rt_deps; NULL if none). */
	const rt_deps *deps;
} rt_service_env;

/* rt_service_def: what a service executable is. Its callbacks take the implementation open
 * made, so a service keeps its state (its store, its deps) there and in no global. */
typedef struct rt_service_def {
	const char *name;			   /* short name, as in svc/<name>/ ("users") */
	const ProtobufCServiceDescriptor *service; /* what it serves ("users.Users") */
	const char *default_seed;		   /* seed file used without --seed */
	/* calls lists the services it calls, ending with {NULL, NULL}; NULL for none */
	const rt_dependency *calls;
	/* open opens (first start: creates and seeds) the service's store and makes its
	 * implementation, a protobuf-c service of def->service whose methods the server calls:
	 * on success *impl is the service's until close(*impl). env is borrowed for the call;
	 * env->deps lives until close. Returns 0, or -1 with the reason in err. */
	int (*open)(const rt_service_env *env, ProtobufCService **impl, char *err, size_t errlen);
	/* count returns how many records the store holds, for the start-up line */
	int64_t (*count)(ProtobufCService *impl);
	/* read_batch, if set, is told when a loop thread begins (on 1) and ends (on 0) serving the
	 * calls it read together (mesh_server_opts.batch), whose reads may share a snapshot */
	void (*read_batch)(ProtobufCService *impl, int on);
	/* close closes the store and frees impl, once no call is being served */
	void (*close)(ProtobufCService *impl);
} rt_service_def;

/* rt_service_main is a service's whole main(): it parses the command line (--listen URL...,
 * --data-dir DIR, --store URL, --seed FILE, --sync, --call NAME=URLS, --run-dir, --loops,
 * --workers, the server's bounds (--max-conns, --max-frame, --idle-timeout-ms),
 * --policy or --manifests, --insecure, --sandbox, TLS, --check, --help), opens the store, connects
 * to the services it calls, serves until SIGINT or SIGTERM, and returns the process's exit status.
 * def and argv stay the caller's. */
int rt_service_main(int argc, char **argv, const rt_service_def *def);

/* rt_service_policy derives the call policy of the service called name from the manifests in
 * manifests (DIR/<name>/manifest.yml; manifest_policy's rules). On success *out is the caller's,
 * to free with mesh_policy_free. Returns 0, or -1 with the reason in err (the manifests cannot
 * be read, or none is name's). */
int rt_service_policy(const char *manifests, const char *name, mesh_policy **out, char *err,
		      size_t errlen);

/* rt_check_main is `svc-<name> --check URL` (or --check=URL), which rt_service_main runs when
 * --check is on its command line: exits 0 if URL answers Health OK within
 * RT_CHECK_TIMEOUT_MS, else 1 with the reason on stderr; 2 for a bad command line (--check
 * takes no other option). name (the service's short name) and argv are borrowed. */
int rt_check_main(const char *name, int argc, char **argv);

/* rt_deps_new makes an empty set of clients, to hand to a service's open before they are
 * connected. On success *out is the caller's, to free with rt_deps_free. Returns 0 or ENOMEM. */
int rt_deps_new(rt_deps **out);

/* rt_deps_new_on is rt_deps_new for clients on loop (mesh_client_opts.loop): asynchronous
 * clients, whose functions are loop's thread's; rt_deps_connect then logs nothing. */
int rt_deps_new_on(rt_deps **out, mesh_loop *loop);

/* rt_deps_ready says whether every client of deps has a connected instance, or wait_ms passed
 * since deps was made (NULL: ready). */
int rt_deps_ready(const rt_deps *deps, int wait_ms);

/* rt_deps_inflight returns how many calls are out on deps' clients (NULL: 0). */
int rt_deps_inflight(const rt_deps *deps);

/* rt_deps_connect adds to deps a client of each service of calls (ending with {NULL, NULL};
 * borrowed, it must outlive deps), claiming caller (copied). urls(name, ctx) says where each
 * one is; NULL for its fallback: <run_dir>/targets/<name> if that target file exists, else
 * ipc://<run_dir>/<name>.sock. DNS names are resolved again every resolve_interval_ms (0: the
 * default). Logs where each is called, as prog. Returns 0, or -1 after a message on stderr
 * (the clients made so far stay in deps). */
int rt_deps_connect(rt_deps *deps, const char *prog, const char *caller, const rt_dependency *calls,
		    const char *run_dir, int resolve_interval_ms,
		    const char *(*urls)(const char *name, void *ctx), void *ctx);

/* rt_deps_wait gives the clients up to wait_ms to connect, so that the first calls after start-up
 * do not fail for a connection still being made; names those still unreachable on stderr, as
 * prog. A service that is down stays down: its calls fail fast once this is over. */
void rt_deps_wait(const rt_deps *deps, const char *prog, int wait_ms);

/* rt_deps_free frees every client; no call through them may be in flight. NULL is allowed. */
void rt_deps_free(rt_deps *deps);

#endif
