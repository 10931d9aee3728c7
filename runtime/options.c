/* options.c: the options and environment the edge and the services share (see options.h). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mesh.h"
#include "options.h"
#include "resolve.h"

const char *rt_default_state_dir(void)
{
	const char *env = getenv("CLEAVE_STATE_DIR");
	return env != NULL && env[0] != '\0' ? env : CLEAVE_SOURCE_DIR "/.state";
}

const char *rt_default_run_dir(void)
{
	static char path[4096];
	const char *env = getenv("CLEAVE_RUN_DIR");
	if (env != NULL && env[0] != '\0')
		return env;
	snprintf(path, sizeof(path), "%s/run", rt_default_state_dir());
	return path;
}

int rt_opts_init(rt_opts *o, const char *prog, const char *call_flag, const char *call_env)
{
	const char *sandbox = getenv("CLEAVE_SANDBOX");
	memset(o, 0, sizeof(*o));
	o->prog = prog;
	o->call_flag = call_flag;
	o->call_env = call_env;
	o->run_dir = rt_default_run_dir();
	o->resolve_interval_ms = RT_RESOLVE_INTERVAL_DEFAULT_MS;
	if (sandbox != NULL && sandbox[0] != '\0' &&
	    rt_sandbox_parse_mode(sandbox, &o->sandbox) != 0) {
		fprintf(stderr, "%s: CLEAVE_SANDBOX is auto, on or off, not '%s'\n", prog, sandbox);
		return 2;
	}
	return 0;
}

/* opts_longopts writes into out (max entries) the program's own options own, then the shared
 * ones, then the zero entry. Returns 0, or -1 if max is too small. */
static int opts_longopts(const rt_opts *o, const rt_option *own, struct option *out, size_t max)
{
	const struct option shared[] = {
	    {o->call_flag, required_argument, NULL, RT_OPT_CALL},
	    {"run-dir", required_argument, NULL, RT_OPT_RUN_DIR},
	    {"resolve-interval-ms", required_argument, NULL, RT_OPT_RESOLVE_INTERVAL},
	    {"tls-cert", required_argument, NULL, RT_OPT_TLS_CERT},
	    {"tls-key", required_argument, NULL, RT_OPT_TLS_KEY},
	    {"tls-ca", required_argument, NULL, RT_OPT_TLS_CA},
	    {"sandbox", required_argument, NULL, RT_OPT_SANDBOX},
	    {"help", no_argument, NULL, RT_OPT_HELP},
	};
	size_t n = 0;
	for (; own[n].name != NULL; n++) {
		if (n + 1 >= max)
			return -1;
		out[n] = (struct option){own[n].name,
					 own[n].arg != NULL ? required_argument : no_argument, NULL,
					 own[n].val};
	}
	for (size_t i = 0; i < sizeof(shared) / sizeof(shared[0]); i++) {
		if (n + 1 >= max)
			return -1;
		out[n++] = shared[i];
	}
	out[n] = (struct option){NULL, 0, NULL, 0};
	return 0;
}

/* opts_parse takes one option getopt_long returned, with its argument: 1 if it was a shared
 * option (taken), 0 if it is not one, 2 after a message on stderr for a bad value. */
static int opts_parse(rt_opts *o, int opt, const char *arg)
{
	switch (opt) {
	case RT_OPT_CALL:
		if (strchr(arg, '=') == NULL || arg[0] == '=' || o->ncalls == RT_OPTS_MAX_CALLS) {
			fprintf(stderr, "%s: --%s wants NAME=URL[,URL...], not '%s'\n", o->prog,
				o->call_flag, arg);
			return 2;
		}
		o->calls[o->ncalls++] = arg;
		return 1;
	case RT_OPT_RUN_DIR:
		o->run_dir = arg;
		return 1;
	case RT_OPT_RESOLVE_INTERVAL:
		if (rt_resolve_interval_parse(arg, &o->resolve_interval_ms) != 0) {
			fprintf(stderr,
				"%s: --resolve-interval-ms wants milliseconds from %d to %d, not "
				"'%s'\n",
				o->prog, RT_RESOLVE_INTERVAL_MIN_MS, RT_RESOLVE_INTERVAL_MAX_MS,
				arg);
			return 2;
		}
		o->resolve_interval_given = 1;
		return 1;
	case RT_OPT_TLS_CERT:
		o->tls_cert = arg;
		return 1;
	case RT_OPT_TLS_KEY:
		o->tls_key = arg;
		return 1;
	case RT_OPT_TLS_CA:
		o->tls_ca = arg;
		return 1;
	case RT_OPT_SANDBOX:
		if (rt_sandbox_parse_mode(arg, &o->sandbox) != 0) {
			fprintf(stderr, "%s: --sandbox is auto, on or off, not '%s'\n", o->prog,
				arg);
			return 2;
		}
		return 1;
	default:
		return 0;
	}
}

int rt_opts_parse_args(rt_opts *o, int argc, char **argv, const rt_opts_args *args)
{
	struct option longopts[48];
	int opt, rv;
	if (opts_longopts(o, args->own, longopts, sizeof(longopts) / sizeof(longopts[0])) != 0) {
		fprintf(stderr, "%s: too many options\n", o->prog);
		return 2;
	}
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt == RT_OPT_HELP) {
			args->usage(stdout, args->ctx);
			return 0;
		}
		if (opt == '?') {
			args->usage(stderr, args->ctx);
			return 2;
		}
		if ((rv = opts_parse(o, opt, optarg)) == 2)
			return 2;
		if (rv == 0 && (rv = args->on_own(opt, optarg, args->ctx)) >= 0)
			return rv;
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", o->prog,
			argv[optind]);
		return 2;
	}
	return -1;
}

int rt_opts_call_is(const rt_opts *o, int i, const char *name)
{
	size_t len = strlen(name);
	return strncmp(o->calls[i], name, len) == 0 && o->calls[i][len] == '=';
}

/* opts_call_env returns call_env<NAME> for the service called name, or NULL; the variable's
 * name is left in var (varlen bytes). */
static const char *opts_call_env(const rt_opts *o, const char *name, char *var, size_t varlen)
{
	size_t at = (size_t)snprintf(var, varlen, "%s", o->call_env);
	for (const char *p = name; *p != '\0' && at + 1 < varlen; p++)
		var[at++] = isalnum((unsigned char)*p) ? (char)toupper((unsigned char)*p) : '_';
	var[at] = '\0';
	return getenv(var);
}

const char *rt_opts_urls(const rt_opts *o, const char *name, int *bad, char *err, size_t errlen)
{
	char var[160], why[256];
	const char *env;
	*bad = 0;
	for (int i = 0; i < o->ncalls; i++)
		if (rt_opts_call_is(o, i, name))
			return strchr(o->calls[i], '=') + 1;
	if ((env = opts_call_env(o, name, var, sizeof(var))) == NULL)
		return NULL;
	if (rt_resolve_check_list(env, 0, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: %s", var, why);
		*bad = 1;
		return NULL;
	}
	return env;
}

/* opts_tls loads the TLS files (flags, else environment) and checks that every tls+tcp://
 * address has them. Returns 0, or 2 after a message. */
static int opts_tls(const rt_opts *o, const char *const *listen, int nlisten)
{
	char err[512];
	if (mesh_tls_configure(o->tls_cert, o->tls_key, o->tls_ca, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", o->prog, err);
		return 2;
	}
	for (int i = 0; i < nlisten; i++) {
		if (mesh_tls_check_url(listen[i], err, sizeof(err)) != 0) {
			fprintf(stderr, "%s: --listen %s\n", o->prog, err);
			return 2;
		}
	}
	for (int i = 0; i < o->ncalls; i++) {
		const char *tls = strstr(o->calls[i], "tls+tcp://");
		if (tls != NULL && mesh_tls_check_url(tls, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s: --%s %s\n", o->prog, o->call_flag, err);
			return 2;
		}
	}
	return 0;
}

int rt_opts_finish(rt_opts *o, const char *const *listen, int nlisten)
{
	char err[512];
	if (!o->resolve_interval_given) {
		int ms = rt_resolve_interval_env(err, sizeof(err));
		if (ms < 0) {
			fprintf(stderr, "%s: %s\n", o->prog, err);
			return 2;
		}
		o->resolve_interval_ms = ms;
	}
	for (int i = 0; i < o->ncalls; i++) {
		if (rt_resolve_check_list(strchr(o->calls[i], '=') + 1, 0, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s: --%s %s: %s\n", o->prog, o->call_flag, o->calls[i],
				err);
			return 2;
		}
	}
	return opts_tls(o, listen, nlisten);
}

#define USAGE_HELP_COLUMN 22 /* where an option's help text starts */
#define USAGE_WIDTH	  92 /* where lines are wrapped */

/* usage_option prints one option's --help line: --name ARG, then help from USAGE_HELP_COLUMN
 * (two spaces after a longer name), wrapped at USAGE_WIDTH. */
static void usage_option(FILE *out, const char *name, const char *arg, const char *help)
{
	int col = fprintf(out, "  --%s%s%s", name, arg != NULL ? " " : "", arg != NULL ? arg : "");
	col += fprintf(out, "%*s", col < USAGE_HELP_COLUMN ? USAGE_HELP_COLUMN - col : 2, "");
	for (const char *p = help; *p != '\0';) {
		int word = (int)strcspn(p, " ");
		if (col > USAGE_HELP_COLUMN && col + 1 + word > USAGE_WIDTH)
			col = fprintf(out, "\n%*s", USAGE_HELP_COLUMN, "") - 1;
		else if (col > USAGE_HELP_COLUMN && p != help)
			col += fprintf(out, " ");
		col += fprintf(out, "%.*s", word, p);
		for (p += word; *p == ' '; p++)
			;
	}
	fputc('\n', out);
}

void rt_opts_usage(const rt_opts *o, FILE *out, const rt_option *own, const char *callee_text)
{
	char call_help[256], run_help[256];
	snprintf(
	    call_help, sizeof(call_help),
	    "where service NAME is: comma-separated instance addresses; a tcp:// or "
	    "tls+tcp:// host that is a DNS name is dialed at every address it has, and resolved "
	    "again every --resolve-interval-ms");
	snprintf(run_help, sizeof(run_help),
		 "%s with no --%s is reached at ipc://DIR/<name>.sock (default $CLEAVE_RUN_DIR, "
		 "else $CLEAVE_STATE_DIR/run, else the checkout's .state/run, as under meshctl)",
		 callee_text, o->call_flag);
	for (; own != NULL && own->name != NULL; own++)
		usage_option(out, own->name, own->arg, own->help);
	usage_option(out, o->call_flag, "NAME=URLS", call_help);
	usage_option(out, "run-dir", "DIR", run_help);
	usage_option(out, "resolve-interval-ms", "N",
		     "how often DNS names are resolved again (default "
		     "$CLEAVE_RESOLVE_INTERVAL_MS, else 5000): new addresses are dialed, vanished "
		     "ones drained and closed");
	usage_option(out, "tls-cert", "FILE",
		     "this process's certificate (CN: its name), for tls+tcp:// in both "
		     "directions (default $CLEAVE_TLS_CERT; meshctl certs makes it)");
	usage_option(out, "tls-key", "FILE", "its private key (default $CLEAVE_TLS_KEY)");
	usage_option(out, "tls-ca", "FILE",
		     "the CA bundle every peer's certificate must be signed by (default "
		     "$CLEAVE_TLS_CA); a service's CN must be its name. Where a platform hands "
		     "secrets out as variables, CLEAVE_TLS_CERT_PEM, CLEAVE_TLS_KEY_PEM and "
		     "CLEAVE_TLS_CA_PEM may hold the PEM text itself (a file wins)");
	usage_option(out, "sandbox", "MODE",
		     "Landlock: once started, the process reaches only the files it needs (see "
		     "below); TCP is not limited. auto (default): when the kernel supports it; on: "
		     "fail without it; off: not applied (flag wins over $CLEAVE_SANDBOX, same "
		     "values)");
	if (o->check_help != NULL)
		usage_option(out, "check", "URL", o->check_help);
	usage_option(out, "help", NULL, "this text");
	fprintf(out,
		"\n"
		"Environment (a flag wins over its variable):\n"
		"  %s<NAME>=URL[,URL...]  like --%s name=URLS; NAME upper-cased\n"
		"                      (%sUSERS=tcp://users:7000)\n"
		"  CLEAVE_RESOLVE_INTERVAL_MS=N, CLEAVE_RUN_DIR, CLEAVE_SANDBOX,\n"
		"  CLEAVE_TLS_CERT, CLEAVE_TLS_KEY, CLEAVE_TLS_CA: as above\n",
		o->call_env, o->call_flag, o->call_env);
}

const char *rt_store_url(const char *name, const char *flag, int generic)
{
	char var[160];
	size_t at = (size_t)snprintf(var, sizeof(var), "CLEAVE_STORE_URL_");
	const char *env;
	if (flag != NULL)
		return flag;
	for (const char *p = name; *p != '\0' && at + 1 < sizeof(var); p++)
		var[at++] = isalnum((unsigned char)*p) ? (char)toupper((unsigned char)*p) : '_';
	var[at] = '\0';
	if ((env = getenv(var)) != NULL && env[0] != '\0')
		return env;
	if (generic && (env = getenv("CLEAVE_STORE_URL")) != NULL && env[0] != '\0')
		return env;
	return NULL;
}

/* redact_value replaces the value that starts at v (quoted with ' or up to a space, '&' or the
 * end) with "***" in out, whose first n bytes are copied; returns where the value ends. */
static const char *redact_value(const char *v, char *out, size_t outlen, size_t *n)
{
	const char *end = v;
	if (*end == '\'') {
		for (end++; *end != '\0' && *end != '\''; end++)
			if (*end == '\\' && end[1] != '\0')
				end++;
		if (*end == '\'')
			end++;
	} else {
		end += strcspn(end, " &");
	}
	if (*n < outlen)
		*n += (size_t)snprintf(out + *n, outlen - *n, "***");
	return end;
}

void rt_url_redact(const char *url, char *out, size_t outlen)
{
	const char *p = url, *scheme = strstr(url, "://");
	size_t n = 0;
	if (outlen == 0)
		return;
	out[0] = '\0';
	if (scheme != NULL) {
		const char *auth = scheme + 3, *end = auth + strcspn(auth, "/?"), *at = NULL;
		for (const char *q = auth; q < end; q++)
			if (*q == '@')
				at = q;
		if (at != NULL) {
			const char *colon = memchr(auth, ':', (size_t)(at - auth));
			if (colon != NULL) {
				n += (size_t)snprintf(out, outlen, "%.*s:***", (int)(colon - url),
						      url);
				p = at;
			}
		}
	}
	while (*p != '\0' && n + 1 < outlen) {
		if (strncmp(p, "password", 8) == 0 && (p == url || strchr(" ?&", p[-1]) != NULL)) {
			const char *v = p + 8;
			while (*v == ' ')
				v++;
			if (*v == '=') {
				for (v++; *v == ' '; v++)
					;
				n += (size_t)snprintf(out + n, outlen - n, "password=");
				if (n >= outlen)
					break;
				p = redact_value(v, out, outlen, &n);
				continue;
			}
		}
		out[n++] = *p++;
		out[n] = '\0';
	}
	if (n >= outlen)
		out[outlen - 1] = '\0';
}

int rt_parse_port(const char *s, int *out)
{
	char *end;
	long n;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || n < 0 || n > 65535)
		return -1;
	*out = (int)n;
	return 0;
}

int rt_parse_host_port(const char *s, char *host, size_t hostsize, int *port)
{
	const char *colon = strrchr(s, ':');
	size_t hostlen;
	if (colon == NULL || rt_parse_port(colon + 1, port) != 0)
		return -1;
	hostlen = (size_t)(colon - s);
	if (hostlen >= 2 && s[0] == '[' && colon[-1] == ']') {
		s++;
		hostlen -= 2;
	}
	if (hostlen == 0 || hostlen >= hostsize)
		return -1;
	memcpy(host, s, hostlen);
	host[hostlen] = '\0';
	return 0;
}

int rt_check_requested(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--check") == 0 || strncmp(argv[i], "--check=", 8) == 0)
			return 1;
	return 0;
}

const char *rt_check_arg(const char *prog, const char *example, int argc, char **argv)
{
	const char *url = NULL;
	if (argc == 3 && strcmp(argv[1], "--check") == 0)
		url = argv[2];
	else if (argc == 2 && strncmp(argv[1], "--check=", 8) == 0)
		url = argv[1] + 8;
	if (url == NULL || url[0] == '\0') {
		fprintf(stderr, "%s: --check wants one URL and no other option: %s --check %s\n",
			prog, argv[0], example);
		return NULL;
	}
	return url;
}
