/* certs.c: meshctl certs: a development CA and one certificate per identity, for tls+tcp://. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "commands.h"
#include "manifest.h"
#include "paths.h"
#include "process.h"

#define CERTS_NAME_MAX	 63
#define CERTS_CA_DAYS	 3650
#define CERTS_DAYS	 365
#define CERTS_MAX_NAMES	 64
#define CERTS_DAYS_LIMIT 36500

/* certs_opts: the command line's options. */
typedef struct certs_opts {
	const char *dir;
	long days;
} certs_opts;

static void certs_usage(FILE *out)
{
	fprintf(out,
		"usage: meshctl certs [--dir DIR] [--days N] [--state-dir DIR] [NAME...]\n"
		"\n"
		"Issues the certificates of mutual TLS (tls+tcp://) for development: makes a CA\n"
		"in DIR/ca.crt and DIR/ca.key if there is none yet, then for each NAME a new key\n"
		"DIR/NAME.key and a certificate DIR/NAME.crt with CN=NAME and DNS name NAME,\n"
		"signed by the CA. A certificate's CN is the identity its holder proves: a\n"
		"service's name, edge or meshctl. Without NAMEs: edge, meshctl and every service\n"
		"with a manifest in svc/. Running it again for a NAME rotates it (a new key and\n"
		"certificate; restart the holder to use them). Keys are written with mode 0600.\n"
		"\n"
		"  --dir DIR        where the files go (default <state dir>/tls)\n"
		"  --days N         how long each NAME's certificate is valid (default %d; a new\n"
		"                   CA is valid %d days)\n"
		"  --state-dir DIR  the mesh's state directory (default $CLEAVE_STATE_DIR, else\n"
		"                   .state/ in the checkout)\n"
		"  --help           this text\n"
		"\n"
		"  meshctl certs --dir /tmp/tls\n"
		"  svc-posts --listen tls+tcp://0.0.0.0:7000 --tls-cert /tmp/tls/posts.crt \\\n"
		"            --tls-key /tmp/tls/posts.key --tls-ca /tmp/tls/ca.crt\n",
		CERTS_DAYS, CERTS_CA_DAYS);
}

/* certs_extra takes --dir and --days into the certs_opts ctx points at. */
static int certs_extra(int opt, const char *arg, void *ctx)
{
	certs_opts *o = ctx;
	char *end;
	if (opt == 'd') {
		o->dir = arg;
		return 0;
	}
	if (opt == 'n') {
		errno = 0;
		o->days = strtol(arg, &end, 10);
		if (errno != 0 || end == arg || *end != '\0' || o->days < 1 ||
		    o->days > CERTS_DAYS_LIMIT) {
			fprintf(stderr, "meshctl certs: --days wants 1 to %d, not '%s'\n",
				CERTS_DAYS_LIMIT, arg);
			return -1;
		}
		return 0;
	}
	return -1;
}

/* certs_ssl_error prints what failed with OpenSSL's reason. */
static void certs_ssl_error(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "";
	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	fprintf(stderr, "meshctl certs: %s%s%s\n", what, e != 0 ? ": " : "", buf);
	ERR_clear_error();
}

/* certs_name_ok says whether name may be a CN and a file name: 1 to 63 of [a-z0-9._-], not
 * starting with '.' or '-'. */
static int certs_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > CERTS_NAME_MAX || name[0] == '.' || name[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return 0;
	}
	return 1;
}

/* certs_add_ext adds the extension nid with the openssl-config value to x, issued by issuer. */
static int certs_add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -1;
}

/* certs_issue makes a certificate for name's key, signed by ca_key as ca (both NULL: a
 * self-signed CA). Returns it, the caller's to free, or NULL. */
static X509 *certs_issue(const char *name, EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key, long days)
{
	X509 *x = X509_new();
	BIGNUM *serial = BN_new();
	X509_NAME *subject;
	char san[CERTS_NAME_MAX + 8];
	int is_ca = ca == NULL;
	if (x == NULL || serial == NULL || X509_set_version(x, 2) != 1 ||
	    BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
	    BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) == NULL ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -300) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) == NULL)
		goto fail;
	subject = X509_get_subject_name(x);
	if (X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, (const unsigned char *)name,
				       -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, is_ca ? subject : X509_get_subject_name(ca)) != 1 ||
	    X509_set_pubkey(x, key) != 1)
		goto fail;
	if (is_ca) {
		if (certs_add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") != 0 ||
		    certs_add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") != 0 ||
		    certs_add_ext(x, x, NID_subject_key_identifier, "hash") != 0)
			goto fail;
	} else {
		snprintf(san, sizeof(san), "DNS:%s", name);
		if (certs_add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
		    certs_add_ext(x, ca, NID_key_usage, "critical,digitalSignature") != 0 ||
		    certs_add_ext(x, ca, NID_ext_key_usage, "serverAuth,clientAuth") != 0 ||
		    certs_add_ext(x, ca, NID_subject_alt_name, san) != 0 ||
		    certs_add_ext(x, ca, NID_subject_key_identifier, "hash") != 0 ||
		    certs_add_ext(x, ca, NID_authority_key_identifier, "keyid") != 0)
			goto fail;
	}
	if (X509_sign(x, is_ca ? key : ca_key, EVP_sha256()) <= 0)
		goto fail;
	BN_free(serial);
	return x;
fail:
	BN_free(serial);
	X509_free(x);
	return NULL;
}

/* certs_write writes a PEM file at dir/file atomically (a temporary file renamed over it) with
 * mode: the key when key is not NULL, else the certificate. Returns 0 or -1 with a reason
 * printed. */
static int certs_write(const char *dir, const char *file, mode_t mode, EVP_PKEY *key, X509 *cert)
{
	char path[PATH_MAX], tmp[PATH_MAX + 16];
	FILE *f;
	int fd, ok;
	if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path)) {
		fprintf(stderr, "meshctl certs: the path of %s is too long\n", file);
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0 || fchmod(fd, mode) != 0 || (f = fdopen(fd, "w")) == NULL) {
		fprintf(stderr, "meshctl certs: cannot write %s: %s\n", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		return -1;
	}
	ok = key != NULL ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
			 : PEM_write_X509(f, cert);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		ok = 0;
	if (fclose(f) != 0)
		ok = 0;
	if (ok != 1 || rename(tmp, path) != 0) {
		fprintf(stderr, "meshctl certs: cannot write %s: %s\n", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* certs_load_ca reads dir's CA, or makes one if it has none. Returns 0 or -1. */
static int certs_load_ca(const char *dir, X509 **ca, EVP_PKEY **ca_key)
{
	char crt[PATH_MAX], key[PATH_MAX];
	int has_crt, has_key;
	FILE *f;
	if (snprintf(crt, sizeof(crt), "%s/ca.crt", dir) >= (int)sizeof(crt) ||
	    snprintf(key, sizeof(key), "%s/ca.key", dir) >= (int)sizeof(key)) {
		fprintf(stderr, "meshctl certs: the directory's path is too long\n");
		return -1;
	}
	has_crt = access(crt, F_OK) == 0;
	has_key = access(key, F_OK) == 0;
	if (has_crt != has_key) {
		fprintf(stderr,
			"meshctl certs: %s exists without %s: remove it to make a new CA, or put "
			"its partner back\n",
			has_crt ? crt : key, has_crt ? key : crt);
		return -1;
	}
	if (!has_crt) {
		*ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		*ca = *ca_key != NULL
			  ? certs_issue("cleave-mesh-ca", *ca_key, NULL, NULL, CERTS_CA_DAYS)
			  : NULL;
		if (*ca == NULL) {
			certs_ssl_error("cannot make the CA");
			return -1;
		}
		if (certs_write(dir, "ca.key", 0600, *ca_key, NULL) != 0 ||
		    certs_write(dir, "ca.crt", 0644, NULL, *ca) != 0)
			return -1;
		printf("made a CA (CN=cleave-mesh-ca, valid %d days): %s\n", CERTS_CA_DAYS, crt);
		return 0;
	}
	if ((f = fopen(crt, "r")) == NULL || (*ca = PEM_read_X509(f, NULL, NULL, NULL)) == NULL) {
		if (f != NULL)
			fclose(f);
		fprintf(stderr, "meshctl certs: cannot read the CA certificate %s\n", crt);
		return -1;
	}
	fclose(f);
	if ((f = fopen(key, "r")) == NULL ||
	    (*ca_key = PEM_read_PrivateKey(f, NULL, NULL, NULL)) == NULL) {
		if (f != NULL)
			fclose(f);
		fprintf(stderr, "meshctl certs: cannot read the CA key %s%s%s\n", key,
			errno != 0 ? ": " : "", errno != 0 ? strerror(errno) : "");
		return -1;
	}
	fclose(f);
	if (X509_check_private_key(*ca, *ca_key) != 1) {
		fprintf(stderr, "meshctl certs: %s does not match %s\n", key, crt);
		return -1;
	}
	ERR_clear_error();
	printf("using the CA in %s\n", crt);
	return 0;
}

/* certs_one issues name's key and certificate. Returns 0 or -1. */
static int certs_one(const char *dir, const char *name, X509 *ca, EVP_PKEY *ca_key, long days)
{
	char file[CERTS_NAME_MAX + 8];
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *cert = key != NULL ? certs_issue(name, key, ca, ca_key, days) : NULL;
	int rv = -1;
	if (cert == NULL) {
		certs_ssl_error("cannot issue a certificate");
		goto out;
	}
	/* the key first: a certificate never names a key that is not there yet */
	snprintf(file, sizeof(file), "%s.key", name);
	if (certs_write(dir, file, 0600, key, NULL) != 0)
		goto out;
	snprintf(file, sizeof(file), "%s.crt", name);
	if (certs_write(dir, file, 0644, NULL, cert) != 0)
		goto out;
	printf("issued %s (CN=%s, DNS:%s, valid %ld days): %s/%s.crt, %s/%s.key\n", name, name,
	       name, days, dir, name, dir, name);
	rv = 0;
out:
	X509_free(cert);
	EVP_PKEY_free(key);
	return rv;
}

int cmd_certs(int argc, char **argv)
{
	static const struct option extra[] = {{"dir", required_argument, NULL, 'd'},
					      {"days", required_argument, NULL, 'n'},
					      {NULL, 0, NULL, 0}};
	const char *state = NULL, *names[CERTS_MAX_NAMES];
	char dir[PATH_MAX], err[512];
	size_t nnames = 0, nms = 0;
	manifest **ms = NULL;
	meshctl_paths paths;
	X509 *ca = NULL;
	EVP_PKEY *ca_key = NULL;
	int r, status = 1;
	certs_opts o = {.dir = NULL, .days = CERTS_DAYS};
	r = state_dir_option(argc, argv, &state, certs_usage, "", extra, certs_extra, &o);
	if (r != 0)
		return r == 1 ? 0 : 2;
	for (int i = optind; i < argc; i++) {
		if (!certs_name_ok(argv[i])) {
			fprintf(stderr,
				"meshctl certs: '%s' is not a name (1 to %d of a-z 0-9 . _ -, not "
				"starting with . or -)\n",
				argv[i], CERTS_NAME_MAX);
			return 2;
		}
		if (strcmp(argv[i], "ca") == 0) {
			fprintf(stderr, "meshctl certs: 'ca' is the CA's own file name\n");
			return 2;
		}
		if (nnames == CERTS_MAX_NAMES) {
			fprintf(stderr, "meshctl certs: at most %d names\n", CERTS_MAX_NAMES);
			return 2;
		}
		names[nnames++] = argv[i];
	}
	if (o.dir != NULL) {
		snprintf(dir, sizeof(dir), "%s", o.dir);
	} else {
		if (meshctl_paths_init(&paths, state) != 0) {
			fprintf(stderr, "meshctl certs: bad state directory\n");
			return 2;
		}
		if (snprintf(dir, sizeof(dir), "%s/tls", paths.state) >= (int)sizeof(dir)) {
			fprintf(stderr, "meshctl certs: the state directory's path is too long\n");
			return 2;
		}
	}
	if (nnames == 0) {
		names[nnames++] = "edge";
		names[nnames++] = "meshctl";
		if (manifest_load_dir(CLEAVE_SOURCE_DIR "/svc", &ms, &nms, err, sizeof(err)) != 0) {
			fprintf(stderr, "meshctl certs: %s (name the services instead)\n", err);
			return 1;
		}
		for (size_t i = 0; i < nms && nnames < CERTS_MAX_NAMES; i++)
			names[nnames++] = ms[i]->name;
	}
	if (rt_mkdirs(dir, 0700) != 0) {
		fprintf(stderr, "meshctl certs: cannot make %s: %s\n", dir, strerror(errno));
		goto out;
	}
	if (certs_load_ca(dir, &ca, &ca_key) != 0)
		goto out;
	status = 0;
	for (size_t i = 0; i < nnames; i++)
		if (certs_one(dir, names[i], ca, ca_key, o.days) != 0)
			status = 1;
out:
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	if (ms != NULL)
		manifest_free_all(ms, nms);
	return status;
}
