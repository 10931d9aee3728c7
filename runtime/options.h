/* options.h: the options and environment the edge and the services share, parsed once: where
 * the services they call are (NAME=URLS lists, from a flag or CLEAVE_<KIND>_<NAME>), the run
 * directory, how often DNS names are resolved again, the TLS files and the sandbox; and the
 * `--check URL` command line both take.
 *
 * A program lists its own options (rt_option: name, argument, help) and gives them, with what
 * to do with each, to rt_opts_parse_args, which takes the shared ones (and --help) itself; it
 * then calls rt_opts_finish once the command line is read. --help's option lines are made from
 * the same lists (rt_opts_usage), so they cannot drift. A flag wins over its environment
 * variable. */
#ifndef CLEAVE_RUNTIME_OPTIONS_H
#define CLEAVE_RUNTIME_OPTIONS_H

#include <getopt.h>
#include <stdio.h>

#include "sandbox.h"

#define RT_OPTS_MAX_CALLS 64

/* getopt_long values of the shared options; a program's own stay below RT_OPT_FIRST */
enum {
	RT_OPT_FIRST = 0x1000,
	RT_OPT_CALL = RT_OPT_FIRST,
	RT_OPT_RUN_DIR,
	RT_OPT_RESOLVE_INTERVAL,
	RT_OPT_TLS_CERT,
	RT_OPT_TLS_KEY,
	RT_OPT_TLS_CA,
	RT_OPT_SANDBOX,
	RT_OPT_HELP,
};

/* rt_opts: the shared options of one command line. Strings point into argv or the environment,
 * which outlive it. */
typedef struct rt_opts {
	const char *prog;      /* "edge", "posts": the start of every message */
	const char *call_flag; /* the NAME=URLS flag, "call" or "upstream" */
	const char *call_env;  /* its variables' prefix, "CLEAVE_CALL_" or "CLEAVE_UPSTREAM_" */
	const char *calls[RT_OPTS_MAX_CALLS]; /* each NAME=URL[,URL...] given */
	int ncalls;
	const char *run_dir;	 /* --run-dir, else rt_default_run_dir() */
	int resolve_interval_ms; /* --resolve-interval-ms, else $CLEAVE_RESOLVE_INTERVAL_MS */
	int resolve_interval_given;
	const char *tls_cert, *tls_key, *tls_ca; /* flags; NULL: the environment's */
	rt_sandbox_mode sandbox;		 /* --sandbox, else $CLEAVE_SANDBOX, else auto */
	const char *check_help; /* --help's text for --check URL (rt_check_arg), or NULL */
} rt_opts;

/* rt_default_state_dir is where a mesh keeps its state when nothing says: $CLEAVE_STATE_DIR,
 * else the checkout's .state (meshctl's default too). The string is static (or the
 * environment's). */
const char *rt_default_state_dir(void);

/* rt_default_run_dir is where a mesh's sockets and target files are when nothing says:
 * $CLEAVE_RUN_DIR, else <rt_default_state_dir()>/run, the directory meshctl uses: never a shared
 * world-writable place such as /tmp, where another user could plant sockets first. The string
 * is static (or the environment's). */
const char *rt_default_run_dir(void);

/* rt_opts_init fills o with the defaults and what the environment says, for program prog whose
 * NAME=URLS flag is --call_flag with variables call_env<NAME>. The strings are borrowed and must
 * outlive o. Returns 0, or 2 (the exit status of a usage error) after a message on stderr. */
int rt_opts_init(rt_opts *o, const char *prog, const char *call_flag, const char *call_env);

/* rt_option: one option of a program: its name, what its argument is called (NULL: it takes
 * none), the value rt_opts_args.on_own gets for it (below RT_OPT_FIRST) and its --help text,
 * wrapped by rt_opts_usage. A list ends with a zero entry. */
typedef struct rt_option {
	const char *name;
	const char *arg;
	int val;
	const char *help;
} rt_option;

/* rt_opts_args: a program's own part of its command line. */
typedef struct rt_opts_args {
	const rt_option *own; /* its own options */
	/* on_own takes one of them with its argument (argv's): -1 to go on, else the exit status
	 * after a message on stderr */
	int (*on_own)(int opt, const char *arg, void *ctx);
	void (*usage)(FILE *out, void *ctx); /* prints its --help */
	void *ctx;			     /* given back to both */
} rt_opts_args;

/* rt_opts_parse_args reads argv (getopt_long): the shared options into o, --help by printing
 * usage on stdout, the program's own through args->on_own. Returns -1 to go on, 0 after --help,
 * 2 (the exit status of a usage error) after a message on stderr: an unknown option, a bad
 * value, or an argument that is not an option. argv and args stay the caller's. */
int rt_opts_parse_args(rt_opts *o, int argc, char **argv, const rt_opts_args *args);

/* rt_opts_finish checks what the command line left to the environment and what needs every
 * option together: the re-resolve interval's variable, every NAME=URLS list (flags now;
 * variables when rt_opts_urls reads them), and TLS: the files are loaded (mesh_tls_configure)
 * and every tls+tcp:// address among the lists and listen[0..nlisten) (borrowed) must have
 * them. Returns 0, or 2 after a message on stderr. */
int rt_opts_finish(rt_opts *o, const char *const *listen, int nlisten);

/* rt_opts_urls returns the addresses of service name: those of its --call_flag NAME=URLS, else
 * of its variable call_env<NAME> (upper-cased; other characters than letters and digits
 * become '_'), else NULL. A malformed variable returns NULL with *bad set and the reason in err.
 * The result points into argv or the environment. */
const char *rt_opts_urls(const rt_opts *o, const char *name, int *bad, char *err, size_t errlen);

/* rt_opts_call_name says whether calls[i] is for service name. */
int rt_opts_call_is(const rt_opts *o, int i, const char *name);

/* rt_opts_usage prints the option lines of --help: own's (borrowed), the shared ones, --help,
 * then the shared environment variables; what names the callees (callee_text: "a called
 * service", "a service") is the program's. */
void rt_opts_usage(const rt_opts *o, FILE *out, const rt_option *own, const char *callee_text);

/* rt_store_url returns where the service called name keeps its data: flag (its --store) when
 * given, else $CLEAVE_STORE_URL_<NAME> (NAME upper-cased, other characters than letters and
 * digits '_'), else $CLEAVE_STORE_URL when generic is set (a process of one service); NULL when
 * none is set: the embedded store in its data directory. The result is flag or points into the
 * environment. */
const char *rt_store_url(const char *name, const char *flag, int generic);

/* rt_url_redact copies url to out (outlen bytes) with every password in it replaced by "***":
 * a URI's user:password@, and password=... in its query or in libpq's key=value form. */
void rt_url_redact(const char *url, char *out, size_t outlen);

/* rt_parse_port reads a TCP port, 0 to 65535, into *out. Returns 0, or -1 for anything else. */
int rt_parse_port(const char *s, int *out);

/* rt_parse_host_port splits ADDR:PORT (ADDR may be [v6]) into host (hostsize bytes) and *port.
 * Returns 0, or -1 if s is not one. */
int rt_parse_host_port(const char *s, char *host, size_t hostsize, int *port);

/* rt_check_requested says whether the command line asks for --check (--check URL or
 * --check=URL anywhere). */
int rt_check_requested(int argc, char **argv);

/* rt_check_arg returns the URL of a `--check URL` (or --check=URL) command line, which may carry
 * no other option; otherwise it prints why to stderr, naming prog and showing example, and
 * returns NULL. The result points into argv. */
const char *rt_check_arg(const char *prog, const char *example, int argc, char **argv);

#endif
