/* init.c: meshctl init NAME: scaffolds a new service (its proto, service.c, seed and manifest) that
 * the build and the edge pick up with no other change. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "init_templates.h"

#define INIT_NAME_MAX 31

extern char **environ;

/* init_names: NAME and everything the templates make of it. The C names follow protoc-c 1.x:
 * a package's C prefix is its ToCamel form, messages keep their name, and the macros and
 * descriptors use CamelToUpper and CamelToLower of each part. */
typedef struct init_names {
	char name[INIT_NAME_MAX + 1]; /* comments */
	char service[48];	      /* Comments */
	char what[48];		      /* comment: one record, in messages */
	char whats[48];		      /* comments */
	/* the messages: Comment, ListCommentsRequest, ... */
	char item[56], list_request[80], list_reply[80], get_request[80], create_request[80];
	/* their C names: Comments__Comment, COMMENTS__COMMENT, comments__comment ... */
	char c_item[256], c_service[256], c_list_request[256], c_list_reply[256];
	char c_get_request[256], c_create_request[256];
	char u_item[256], u_service[256], u_list_reply[256], l_item[256], l_service[256];
} init_names;

/* init_out: a growing text buffer. */
typedef struct init_out {
	char *data;
	size_t len, cap;
	int failed;
} init_out;

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: meshctl init NAME [--root DIR]\n"
	    "\n"
	    "Scaffolds the service NAME in a cleave checkout: after a rebuild, svc-NAME serves\n"
	    "List, Get and Create of records of one text, and the edge answers\n"
	    "GET /api/NAME, GET /api/NAME/{id} and POST /api/NAME with no other change.\n"
	    "\n"
	    "  NAME        1 to %d of a-z, 0-9 and _, starting with a letter (e.g. comments);\n"
	    "              not yet a service (no proto/NAME.proto, no svc/NAME/)\n"
	    "  --root DIR  the checkout to write into; default: the one meshctl was built\n"
	    "              from (%s), else the current directory if it\n"
	    "              has svc/ and proto/\n"
	    "  --help      this text\n"
	    "\n"
	    "Writes proto/NAME.proto, svc/NAME/service.c (formatted with clang-format when it is\n"
	    "installed), svc/NAME/seed.json and svc/NAME/manifest.yml, or nothing if any of\n"
	    "them fails. Exit status: 0 written, 1 NAME exists or a write failed, 2 usage.\n",
	    INIT_NAME_MAX, CLEAVE_SOURCE_DIR);
}

/* name_ok says whether name matches [a-z][a-z0-9_]{0,30}. */
static int name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n < 1 || n > INIT_NAME_MAX || !(name[0] >= 'a' && name[0] <= 'z'))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		      name[i] == '_'))
			return 0;
	return 1;
}

/* sql_words: the names the store cannot take as a table (it writes them into its SQL
 * unquoted): SQLite's keywords that fail there (SQLite 3.40), and its own tables. */
static const char *const sql_words[] = {
    "add",	 "all",	    "alter",	  "and",	 "as",	     "autoincrement",
    "between",	 "case",    "check",	  "collate",	 "commit",   "constraint",
    "create",	 "default", "deferrable", "delete",	 "distinct", "drop",
    "else",	 "escape",  "except",	  "exists",	 "foreign",  "from",
    "group",	 "having",  "if",	  "in",		 "index",    "insert",
    "intersect", "into",    "is",	  "isnull",	 "join",     "limit",
    "not",	 "nothing", "notnull",	  "null",	 "on",	     "or",
    "order",	 "primary", "references", "returning",	 "select",   "set",
    "table",	 "then",    "to",	  "transaction", "union",    "unique",
    "update",	 "using",   "values",	  "when",	 "where",    "idempotency",
    "meta",	 NULL,
};

/* name_reserved returns why name cannot name a service, or NULL if it can. */
static const char *name_reserved(const char *name)
{
	if (strncmp(name, "sqlite_", 7) == 0)
		return "SQLite reserves table names that start with sqlite_";
	for (const char *const *w = sql_words; *w != NULL; w++)
		if (strcmp(name, *w) == 0)
			return strcmp(name, "meta") == 0 || strcmp(name, "idempotency") == 0
				   ? "the store keeps a table of that name next to the service's"
				   : "it is an SQL keyword, and the store names its table after "
				     "the "
				     "service";
	return NULL;
}

/* to_camel is protoc-c's ToCamel: drops each _ and capitalises the letter after it, and the
 * first. */
static void to_camel(const char *in, char *out, size_t outlen)
{
	size_t n = 0;
	int upper = 1;
	for (; *in != '\0' && n + 1 < outlen; in++) {
		if (*in == '_') {
			upper = 1;
			continue;
		}
		out[n++] = upper ? (char)toupper((unsigned char)*in) : *in;
		upper = 0;
	}
	out[n] = '\0';
}

/* camel_to is protoc-c's CamelToUpper (upper) or CamelToLower: a _ before each capital that
 * follows a character that is not one, and every letter in one case. */
static void camel_to(const char *in, int upper, char *out, size_t outlen)
{
	size_t n = 0;
	int was_upper = 1;
	for (; *in != '\0' && n + 2 < outlen; in++) {
		int is_upper = isupper((unsigned char)*in) != 0;
		if (is_upper && !was_upper)
			out[n++] = '_';
		out[n++] =
		    upper ? (char)toupper((unsigned char)*in) : (char)tolower((unsigned char)*in);
		was_upper = is_upper;
	}
	out[n] = '\0';
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* singular writes the name of one record of service name, snake case: comments -> comment,
 * replies -> reply, boxes -> box; a name that does not read as a plural gets _item
 * (inbox -> inbox_item, status -> status_item). */
static void singular(const char *name, char *out, size_t outlen)
{
	size_t n = strlen(name);
	if (n > 3 && ends_with(name, "ies"))
		snprintf(out, outlen, "%.*sy", (int)(n - 3), name);
	else if (n > 4 && (ends_with(name, "sses") || ends_with(name, "ches") ||
			   ends_with(name, "shes") || ends_with(name, "zzes")))
		snprintf(out, outlen, "%.*s", (int)(n - 2), name);
	else if (n > 3 && ends_with(name, "xes"))
		snprintf(out, outlen, "%.*s", (int)(n - 2), name);
	else if (n > 1 && ends_with(name, "s") && !ends_with(name, "ss") &&
		 !ends_with(name, "us") && !ends_with(name, "is") && !ends_with(name, "_s"))
		snprintf(out, outlen, "%.*s", (int)(n - 1), name);
	else
		snprintf(out, outlen, "%s_item", name);
}

/* words writes snake as words: runs of _ become one space, none at either end. */
static void words(const char *snake, char *out, size_t outlen)
{
	size_t n = 0;
	for (; *snake != '\0' && n + 2 < outlen; snake++) {
		if (*snake != '_')
			out[n++] = *snake;
		else if (n > 0 && out[n - 1] != ' ' && snake[1] != '\0')
			out[n++] = ' ';
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}

/* c_name writes protoc-c's C type name of message msg in package pkg. */
static void c_name(const char *pkg, const char *msg, char *out, size_t outlen)
{
	char camel[64];
	to_camel(pkg, camel, sizeof(camel));
	snprintf(out, outlen, "%s__%s", camel, msg);
}

/* c_macro writes protoc-c's upper-case (upper) or lower-case name of msg in pkg. */
static void c_macro(const char *pkg, const char *msg, int upper, char *out, size_t outlen)
{
	char p[64], m[128];
	camel_to(pkg, upper, p, sizeof(p));
	camel_to(msg, upper, m, sizeof(m));
	snprintf(out, outlen, "%s__%s", p, m);
}

static void names_make(const char *name, init_names *n)
{
	char one[64];
	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s", name);
	to_camel(name, n->service, sizeof(n->service));
	singular(name, one, sizeof(one));
	to_camel(one, n->item, sizeof(n->item));
	if (strcmp(n->item, n->service) == 0) /* cannot happen with the rules above; be sure */
		snprintf(n->item, sizeof(n->item), "%sItem", n->service);
	words(one, n->what, sizeof(n->what));
	words(name, n->whats, sizeof(n->whats));
	snprintf(n->list_request, sizeof(n->list_request), "List%sRequest", n->service);
	snprintf(n->list_reply, sizeof(n->list_reply), "List%sReply", n->service);
	snprintf(n->get_request, sizeof(n->get_request), "Get%sRequest", n->item);
	snprintf(n->create_request, sizeof(n->create_request), "Create%sRequest", n->item);
	c_name(name, n->item, n->c_item, sizeof(n->c_item));
	snprintf(n->c_service, sizeof(n->c_service), "%s__%s_Service", n->service, n->service);
	c_name(name, n->list_request, n->c_list_request, sizeof(n->c_list_request));
	c_name(name, n->list_reply, n->c_list_reply, sizeof(n->c_list_reply));
	c_name(name, n->get_request, n->c_get_request, sizeof(n->c_get_request));
	c_name(name, n->create_request, n->c_create_request, sizeof(n->c_create_request));
	c_macro(name, n->item, 1, n->u_item, sizeof(n->u_item));
	c_macro(name, n->service, 1, n->u_service, sizeof(n->u_service));
	c_macro(name, n->list_reply, 1, n->u_list_reply, sizeof(n->u_list_reply));
	c_macro(name, n->item, 0, n->l_item, sizeof(n->l_item));
	c_macro(name, n->service, 0, n->l_service, sizeof(n->l_service));
}

static void out_put(init_out *o, const char *s, size_t len)
{
	if (o->failed)
		return;
	if (o->len + len + 1 > o->cap) {
		size_t cap = (o->len + len + 1) * 2;
		char *grown = realloc(o->data, cap);
		if (grown == NULL) {
			o->failed = 1;
			return;
		}
		o->data = grown;
		o->cap = cap;
	}
	memcpy(o->data + o->len, s, len);
	o->len += len;
	o->data[o->len] = '\0';
}

/* expand writes template into o with each @KEY@ replaced by its value in n. Returns 0, or -1
 * (out of memory). */
static int expand(const char *template, const init_names *n, init_out *o)
{
	const struct {
		const char *key;
		const char *value;
	} keys[] = {
	    {"NAME", n->name},
	    {"SERVICE", n->service},
	    {"ITEM", n->item},
	    {"WHAT", n->what},
	    {"WHATS", n->whats},
	    {"LIST_REQUEST", n->list_request},
	    {"LIST_REPLY", n->list_reply},
	    {"GET_REQUEST", n->get_request},
	    {"CREATE_REQUEST", n->create_request},
	    {"C_ITEM", n->c_item},
	    {"C_SERVICE", n->c_service},
	    {"C_LIST_REQUEST", n->c_list_request},
	    {"C_LIST_REPLY", n->c_list_reply},
	    {"C_GET_REQUEST", n->c_get_request},
	    {"C_CREATE_REQUEST", n->c_create_request},
	    {"U_ITEM", n->u_item},
	    {"U_SERVICE", n->u_service},
	    {"U_LIST_REPLY", n->u_list_reply},
	    {"L_ITEM", n->l_item},
	    {"L_SERVICE", n->l_service},
	};
	const char *p = template;
	memset(o, 0, sizeof(*o));
	while (*p != '\0') {
		const char *at = strchr(p, '@'), *end;
		size_t i, klen;
		if (at == NULL) {
			out_put(o, p, strlen(p));
			break;
		}
		out_put(o, p, (size_t)(at - p));
		end = strchr(at + 1, '@');
		klen = end != NULL ? (size_t)(end - at - 1) : 0;
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (end != NULL && strlen(keys[i].key) == klen &&
			    strncmp(keys[i].key, at + 1, klen) == 0)
				break;
		if (i < sizeof(keys) / sizeof(keys[0])) {
			out_put(o, keys[i].value, strlen(keys[i].value));
			p = end + 1;
		} else {
			out_put(o, "@", 1); /* not a placeholder */
			p = at + 1;
		}
	}
	if (o->data == NULL)
		out_put(o, "", 0);
	return o->failed ? -1 : 0;
}

static int is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* is_checkout says whether dir has svc/ and proto/. */
static int is_checkout(const char *dir)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/svc", dir);
	if (!is_dir(path))
		return 0;
	snprintf(path, sizeof(path), "%s/proto", dir);
	return is_dir(path);
}

/* write_new creates path (it must not exist) holding text. Returns 0, or -1 with err set. */
static int write_new(const char *path, const char *text, char *err, size_t errlen)
{
	size_t len = strlen(text), done = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "cannot write %s: %s", path,
				 n < 0 ? strerror(errno) : "short write");
			close(fd);
			unlink(path);
			return -1;
		}
		done += (size_t)n;
	}
	if (close(fd) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

/* format_c runs clang-format on path with the checkout's .clang-format, if both exist.
 * Returns 0 if it formatted the file, -1 if it could not (the file is unchanged then). */
static int format_c(const char *root, const char *path)
{
	char style[PATH_MAX];
	char *argv[] = {"clang-format", "-i", "--style=file", (char *)path, NULL};
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status, rv;
	snprintf(style, sizeof(style), "%s/.clang-format", root);
	if (access(style, R_OK) != 0 || posix_spawn_file_actions_init(&fa) != 0)
		return -1;
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	rv = posix_spawnp(&pid, "clang-format", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rv != 0)
		return -1;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* proto_clashes reports (and counts) the protos in root/dir that protoc-c would give the same C
 * names as package name: the same package (tests/proto: the test suites link both), or one
 * whose ToCamel form is name's (x_y and xy both make Xy__...). proto/NAME.proto itself is
 * reported by the caller. */
static int proto_clashes(const char *root, const char *dir, const char *name)
{
	char path[PATH_MAX], mine[64], theirs[64], base[NAME_MAX + 1];
	struct dirent *e;
	DIR *d;
	int n = 0;
	snprintf(path, sizeof(path), "%s/%s", root, dir);
	if ((d = opendir(path)) == NULL)
		return 0;
	to_camel(name, mine, sizeof(mine));
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len <= 6 || strcmp(e->d_name + len - 6, ".proto") != 0)
			continue;
		snprintf(base, sizeof(base), "%.*s", (int)(len - 6), e->d_name);
		to_camel(base, theirs, sizeof(theirs));
		if (strcmp(base, name) == 0 && strcmp(dir, "proto") == 0)
			continue;
		if (strcmp(base, name) == 0 || strcmp(mine, theirs) == 0) {
			fprintf(stderr,
				"meshctl init: %s/%s clashes with %s: protoc-c would name both "
				"packages' C types %s__...\n",
				dir, e->d_name, name, mine);
			n++;
		}
	}
	closedir(d);
	return n;
}

/* init_file: one file to write, relative to the root. */
typedef struct init_file {
	const char *rel; /* proto/comments.proto */
	const char *template;
	const char *about; /* what it is, for the report */
	char path[PATH_MAX];
	init_out text;
} init_file;

int cmd_init(int argc, char **argv)
{
	const char *name = NULL, *root = NULL, *why;
	char svc_dir[PATH_MAX], proto_rel[64], service_rel[64], seed_rel[64], manifest_rel[64];
	char about_proto[256], about_service[256], about_manifest[256];
	char err[PATH_MAX + 256], here[PATH_MAX], there[PATH_MAX];
	init_names n;
	init_file files[4];
	struct stat st;
	int conflicts = 0, status = 1, formatted;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--root") == 0) {
			if (i + 1 == argc) {
				fprintf(stderr, "meshctl init: --root wants a directory\n");
				return 2;
			}
			root = argv[++i];
		} else if (strncmp(argv[i], "--root=", 7) == 0) {
			root = argv[i] + 7;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "meshctl init: unknown option '%s'\n\n", argv[i]);
			usage(stderr);
			return 2;
		} else if (name != NULL) {
			fprintf(stderr, "meshctl init: one NAME only, not '%s' and '%s'\n", name,
				argv[i]);
			return 2;
		} else {
			name = argv[i];
		}
	}
	if (name == NULL) {
		fprintf(stderr, "meshctl init: which service? give its NAME\n\n");
		usage(stderr);
		return 2;
	}
	if (!name_ok(name)) {
		fprintf(stderr,
			"meshctl init: '%s' cannot name a service: use 1 to %d of a-z, 0-9 and _, "
			"starting with a letter (e.g. comments)\n",
			name, INIT_NAME_MAX);
		return 2;
	}
	if ((why = name_reserved(name)) != NULL) {
		fprintf(stderr, "meshctl init: '%s' cannot name a service: %s\n", name, why);
		return 2;
	}
	if (root == NULL) {
		if (is_checkout(CLEAVE_SOURCE_DIR))
			root = CLEAVE_SOURCE_DIR;
		else if (is_checkout("."))
			root = ".";
		else {
			fprintf(stderr,
				"meshctl init: no checkout to write into: neither %s nor the "
				"current directory has svc/ and proto/ (give --root DIR)\n",
				CLEAVE_SOURCE_DIR);
			return 2;
		}
	} else if (!is_checkout(root)) {
		fprintf(
		    stderr,
		    "meshctl init: --root %s is not a cleave checkout (no svc/ and proto/ there)\n",
		    root);
		return 2;
	}

	names_make(name, &n);
	snprintf(proto_rel, sizeof(proto_rel), "proto/%s.proto", name);
	snprintf(service_rel, sizeof(service_rel), "svc/%s/service.c", name);
	snprintf(seed_rel, sizeof(seed_rel), "svc/%s/seed.json", name);
	snprintf(manifest_rel, sizeof(manifest_rel), "svc/%s/manifest.yml", name);
	snprintf(about_proto, sizeof(about_proto), "service %s.%s: List, Get, Create of %s", name,
		 n.service, n.item);
	snprintf(about_service, sizeof(about_service),
		 "svc-%s, its store and a check of text (1 to 1000 characters)", name);
	snprintf(about_manifest, sizeof(about_manifest),
		 "GET /api/%s, GET /api/%s/{id}, POST /api/%s", name, name, name);
	files[0] = (init_file){
	    .rel = service_rel, .template = init_service_template, .about = about_service};
	files[1] = (init_file){.rel = seed_rel,
			       .template = init_seed_template,
			       .about = "two examples, loaded on the first start"};
	files[2] = (init_file){
	    .rel = manifest_rel, .template = init_manifest_template, .about = about_manifest};
	files[3] =
	    (init_file){.rel = proto_rel, .template = init_proto_template, .about = about_proto};

	/* what exists already: nothing is written then */
	snprintf(svc_dir, sizeof(svc_dir), "%s/svc/%s", root, name);
	for (int i = 0; i < 4; i++)
		snprintf(files[i].path, sizeof(files[i].path), "%s/%s", root, files[i].rel);
	if (lstat(files[3].path, &st) == 0) {
		fprintf(stderr, "meshctl init: %s already exists in %s\n", proto_rel, root);
		conflicts++;
	}
	if (lstat(svc_dir, &st) == 0) {
		fprintf(stderr, "meshctl init: svc/%s/ already exists in %s\n", name, root);
		conflicts++;
	}
	conflicts += proto_clashes(root, "tests/proto", name);
	conflicts += proto_clashes(root, "proto", name);
	if (conflicts > 0) {
		fprintf(stderr, "meshctl init: nothing written; pick another name\n");
		return 1;
	}

	for (int i = 0; i < 4; i++)
		if (expand(files[i].template, &n, &files[i].text) != 0) {
			fprintf(stderr, "meshctl init: out of memory\n");
			goto out;
		}
	if (mkdir(svc_dir, 0755) != 0) {
		fprintf(stderr, "meshctl init: cannot create svc/%s/ in %s: %s\n", name, root,
			strerror(errno));
		goto out;
	}
	for (int i = 0; i < 4; i++) {
		if (write_new(files[i].path, files[i].text.data, err, sizeof(err)) != 0) {
			fprintf(stderr, "meshctl init: %s; removing what it wrote\n", err);
			for (int k = i - 1; k >= 0; k--)
				unlink(files[k].path);
			rmdir(svc_dir);
			goto out;
		}
	}
	formatted = format_c(root, files[0].path) == 0;
	status = 0;

	printf("meshctl init: wrote the %s service in %s:\n", name, root);
	for (int i = 0; i < 4; i++) {
		const init_file *f = &files[(i + 3) % 4]; /* the proto first */
		printf("  %-*s  %s\n", (int)strlen(manifest_rel), f->rel, f->about);
	}
	if (!formatted)
		printf("\nclang-format did not run: format %s before committing it.\n",
		       service_rel);
	printf("\nNext steps:\n");
	if (realpath(root, there) != NULL &&
	    (getcwd(here, sizeof(here)) == NULL || strcmp(here, there) != 0))
		printf("  cd %s\n", root);
	printf("  cmake --build build   rebuild: makes svc-%s; the edge learns %s.%s\n", name, name,
	       n.service);
	printf("  ./infra/up            then serves /api/%s\n", name);

out:
	for (int i = 0; i < 4; i++)
		free(files[i].text.data);
	return status;
}
