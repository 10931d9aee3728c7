/* supervisor_internal.h: the supervisor's shared state, and what its files call in each other. */
#ifndef CLEAVE_MESHCTL_SUPERVISOR_INTERNAL_H
#define CLEAVE_MESHCTL_SUPERVISOR_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "group.h"
#include "manifest.h"
#include "mesh.h"
#include "process.h"
#include "meshctl.pb-c.h"
#include "supervisor.h"
#include "targets.h"

#define SV_MAX_INSTANCES 64
#define SV_SLOTS	 (2 * SV_MAX_INSTANCES) /* active plus draining */
#define SV_CRASH_LOOP	 3			/* crashes in a row reported as a crash loop */
#define SV_STABLE_US	 10000000LL /* up this long: the next crash starts a new series */

struct supervisor;

/* sv_output: a child's stdout+stderr, split into lines, tagged, logged. */
typedef struct sv_output {
	struct supervisor *sv;
	int fd;	     /* the read end of the pipe; the loop's once watched */
	void *watch; /* NULL once closed */
	char tag[64];
	int logfd; /* borrowed: the service's log file */
	char buf[8192];
	size_t len;
} sv_output;

/* sv_instance: one process slot of a service. */
typedef struct sv_instance {
	struct sv_service *svc;
	int index;
	char url[RT_TARGET_URL_MAX];
	pid_t pid; /* 0 while not running */
	sv_output out;
	int64_t started_us;
	int restarts;
	int crashes_in_row;
	int64_t restart_at_us; /* while pid is 0: when to start it again */
	char last_exit[32];
	int draining;
	int64_t drain_until_us; /* while draining: when to stop it */
	int64_t kill_at_us;	/* after SIGTERM: when to SIGKILL; 0 before */
	mesh_instance_state health;
} sv_instance;

/* sv_identity: the system user a process runs as, when meshctl runs as root. */
typedef struct sv_identity {
	int valid;
	char user[64]; /* "cleave-users" */
	uid_t uid;
	gid_t gid;
} sv_identity;

/* sv_service: one manifest's instances and its target group. */
typedef struct sv_service {
	const manifest *m;
	const ProtobufCServiceDescriptor *desc;
	int desired;
	sv_instance *inst[SV_SLOTS];
	size_t n;
	rt_group *group; /* health-checked target group over every instance; owned */
	int logfd;
	char targets_path[PATH_MAX];
	int targets_dirty;
	char policy_path[PATH_MAX]; /* who may call it: <run>/policy/<name> */
	sv_identity as;		    /* its user, when meshctl runs as root */
	char sock_dir[PATH_MAX];    /* where its instances' sockets are */
} sv_service;

/* sv_control: the control service as mesh_server_new takes it (service first: each handler gets
 * a pointer to it), with the supervisor its handlers act on. */
typedef struct sv_control {
	Meshctl__Control_Service service;
	struct supervisor *sv;
} sv_control;

enum { SV_RUNNING, SV_STOPPING_EDGE, SV_STOPPING_SERVICES, SV_DONE };

/* supervisor: one running mesh, on supervisor_run's stack. */
typedef struct supervisor {
	const meshctl_paths *paths;
	const supervisor_opts *opts;
	manifest **ms;
	size_t nms;
	sv_service *svcs;
	size_t nsvcs;
	mesh_epoll *ep;
	int sigfd;
	int wakefd;
	void *sigwatch, *wakewatch; /* the loop's handles of sigfd and wakefd */
	sv_control control_impl;    /* what control serves; set before it starts */
	mesh_server *control;
	mesh_policy *control_policy; /* "* *": the socket itself admits only its owner */
	pthread_mutex_t lock;	     /* the state below, shared with the control server's threads */
	int phase;
	int64_t phase_deadline_us;
	int stop_requested;
	/* the edge */
	pid_t edge_pid;
	sv_output edge_out;
	int edge_logfd;
	char edge_listen[128];
	char edge_url[160];
	int edge_crashes;
	int64_t edge_started_us;
	int64_t edge_restart_at_us;
	int ready_sent;
	int64_t started_us;
	int unclean_stops; /* processes told to stop that did not exit 0 */
	int as_users;	   /* root: each process runs as its own system user */
	sv_identity edge_as;
	sv_identity mono_as; /* with --monolith, as root: cleave-monolith */
	/* with --monolith: the one process every instance record points at */
	pid_t mono_pid;
	sv_output mono_out;
	int mono_logfd;
	int64_t mono_started_us;
} supervisor;

/* Every function below borrows the supervisor and the records of it that it is passed (services,
 * instances, outputs: the supervisor's); each says what else it takes, or gives, for good. */

/* ---- supervisor.c: the run loop ------------------------------------------------------------- */

/* sv_wake makes the loop run its periodic work at once (from any thread). */
void sv_wake(supervisor *sv);

/* ---- sv_output.c: what the supervisor prints and logs --------------------------------------- */

/* sv_log prints a line of meshctl's own on stderr. fmt is printf's. */
void sv_log(supervisor *sv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* sv_output_open starts reading fd (taken: the loop closes it with sv_output_close) into lines
 * tagged tag, each written to logfd (borrowed; -1 for none) and, in the foreground, to stdout.
 * Returns 0, or -1 with fd still the caller's. */
int sv_output_open(supervisor *sv, sv_output *o, int fd, const char *tag, int logfd);

/* sv_output_close logs what is left of a last line and stops reading (closing the pipe). */
void sv_output_close(supervisor *sv, sv_output *o);

/* sv_output_open_log opens (appending) the log file <logs>/<name>.log. Returns the descriptor,
 * the caller's to close, or -1. */
int sv_output_open_log(supervisor *sv, const char *name);

/* ---- sv_process.c: starting and stopping processes ------------------------------------------ */

/* sv_process_start_instance starts in's process (with --monolith: the monolith, if it is not
 * running, which every instance record then points at). Returns 0 or -1. */
int sv_process_start_instance(supervisor *sv, sv_instance *in);

/* sv_process_start_edge starts the edge. Returns 0 or -1. */
int sv_process_start_edge(supervisor *sv);

/* sv_process_stop asks pid to stop: SIGTERM when *kill_at_us is 0, SIGKILL once it is past. */
void sv_process_stop(pid_t pid, int64_t *kill_at_us, int64_t now);

/* sv_process_backoff counts a crash at now of a process started at started_us into
 * *crashes_in_row (one up after a stable run starts a new series). Returns how long to wait before
 * restarting it, in microseconds. */
int64_t sv_process_backoff(int *crashes_in_row, int64_t started_us, int64_t now);

/* sv_process_describe_exit writes a wait status into out: "exit 1", "signal 9". */
void sv_process_describe_exit(int status, char *out, size_t outlen);

/* ---- sv_service.c: each service's instances, target group and target file ------------------- */

/* sv_service_init sets up s for manifest k: its log, policy, socket directory, user (as root) and
 * target group. Returns 0, or -1 after logging why. */
int sv_service_init(supervisor *sv, sv_service *s, size_t k);

/* sv_service_add_instance adds an instance slot at the lowest free index, not started, and
 * dials it. Returns the slot (s's), or NULL when there is no room. */
sv_instance *sv_service_add_instance(sv_service *s);

/* sv_service_remove_instance forgets s's instance i (which must not be running) and frees it. */
void sv_service_remove_instance(supervisor *sv, sv_service *s, size_t i);

/* sv_service_active_count returns s's instances that are not draining. */
int sv_service_active_count(const sv_service *s);

/* sv_service_publish_targets rewrites s's target file if its instances changed. */
void sv_service_publish_targets(supervisor *sv, sv_service *s);

/* sv_service_snapshot_health copies each instance's state from s's target group. */
void sv_service_snapshot_health(sv_service *s);

/* sv_service_free removes s's instances, files and socket directory and frees its group. */
void sv_service_free(supervisor *sv, sv_service *s);

/* ---- sv_control.c: the control service ------------------------------------------------------ */

/* sv_control_start serves meshctl.Control on the control socket, into sv->control. Returns 0, or
 * -1 after logging why. */
int sv_control_start(supervisor *sv);

/* ---- sv_identity.c: system users, ownership, call policies ---------------------------------- */

/* sv_identity_prepare decides whether the processes run as their own users: always as root,
 * unless they cannot (unreachable binaries, no useradd) and --allow-root says to run as root
 * then. It makes the edge's (and the monolith's) user and opens the state directories to the
 * users. Returns 0, or -1 after logging why the mesh cannot start. */
int sv_identity_prepare(supervisor *sv);

/* sv_identity_assign, as root, finds or makes s's system user cleave-<name> (with --monolith:
 * the monolith's) into s->as and gives it s's data directory (0700) and socket directory.
 * Returns 0, or -1 after logging why. */
int sv_identity_assign(supervisor *sv, sv_service *s);

/* sv_identity_write_policy writes manifest k's call policy to path (replaced atomically).
 * Returns 0, or -1 after logging why. */
int sv_identity_write_policy(supervisor *sv, size_t k, const char *path);

#endif
