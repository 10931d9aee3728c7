/* tls_test.c: mutual TLS (tls+tcp://) played by an attacker: real services behind certificates
 * from meshctl certs; a caller's certificate is its identity, unknown callers get no answer,
 * a server must be the service called, and the edge serves the API over it. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "harness.h"
#include "http.h"
#include "mesh.h"
#include "mesh.pb-c.h"
#include "posts.pb-c.h"

#define BIN(name) CLEAVE_BUILD_DIR "/" name

enum { P_USERS, P_THREADS, P_POSTS, P_POSTS_PLAIN, P_IMPOSTOR, NPORTS };

static char dir[128], tls[256], other[256], base[128];
static int ports[NPORTS];
static char urls[NPORTS][64];
static pid_t pids[8];
static int npids;

/* ---- helpers -------------------------------------------------------------------------------- */

/* run runs argv and returns its exit status (128 if it did not exit), its output in *out
 * (malloc'd) if out is not NULL. */
static int run(char **out, char *const argv[])
{
	static int seq;
	char log[256];
	int status;
	pid_t pid;
	snprintf(log, sizeof(log), "%s/run-%d.out", dir, seq++);
	pid = harness_spawn(argv, log);
	status = pid > 0 ? harness_wait(pid, 20000) : -1;
	if (pid > 0 && status == -1)
		status = harness_stop(pid, SIGKILL, 1000);
	if (out != NULL)
		*out = harness_read_file(log);
	return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* file_in writes dir/name into out. */
static const char *file_in(char *out, size_t outlen, const char *d, const char *name)
{
	if (snprintf(out, outlen, "%s/%s", d, name) >= (int)outlen)
		out[0] = '\0'; /* too long: no such file */
	return out;
}

/* call_result: how one call made from a child process ended. */
typedef struct call_result {
	int status; /* a mesh_status, or -1 if the child could not call at all */
	char message[MESH_MESSAGE_MAX];
	size_t outlen;
	uint8_t out[16384]; /* the packed reply on MESH_OK */
} call_result;

typedef struct child_ctx {
	mesh_rpc rpc;
	int done;
	call_result *r;
} child_ctx;

static void child_closure(const ProtobufCMessage *msg, void *data)
{
	child_ctx *ctx = data;
	ctx->done = 1;
	ctx->r->status = ctx->rpc.status;
	snprintf(ctx->r->message, sizeof(ctx->r->message), "%s", ctx->rpc.message);
	if (msg != NULL && protobuf_c_message_get_packed_size(msg) <= sizeof(ctx->r->out))
		ctx->r->outlen = protobuf_c_message_pack(msg, ctx->r->out);
}

/* child_call is the child's side of call_from: the process's identity is cert (NULL: no TLS),
 * and one call goes through the event-loop client. */
static void child_call(call_result *r, const char *cert, const char *key, const char *ca,
		       const char *url, const ProtobufCServiceDescriptor *desc, const char *method,
		       const ProtobufCMessage *input, const char *as)
{
	const ProtobufCMethodDescriptor *md =
	    protobuf_c_service_descriptor_get_method_by_name(desc, method);
	child_ctx ctx = {.r = r};
	char err[512];
	mesh_epoll *e;
	mesh_client *c;
	mesh_client_opts o = {.caller = as, .timeout_ms = 3000};
	int64_t until;
	r->status = -1;
	if (cert != NULL && mesh_tls_configure(cert, key, ca, err, sizeof(err)) != 0) {
		snprintf(r->message, sizeof(r->message), "configure: %.200s", err);
		return;
	}
	if (mesh_epoll_new(&e) != 0)
		return;
	o.loop = mesh_epoll_loop(e);
	if (mesh_client_new(&c, desc, &o) != 0)
		return;
	if (mesh_client_dial(c, url) != 0) {
		snprintf(r->message, sizeof(r->message), "cannot dial %s", url);
		return;
	}
	/* a refused handshake never connects: wait a bounded time, then call anyway */
	until = mesh_now_us() + 2000000;
	while (mesh_client_instances(c) == 0 && mesh_now_us() < until)
		mesh_epoll_run(e, 20);
	ctx.rpc.deadline_us = mesh_now_us() + 3000000;
	mesh_client_service(c)->invoke(mesh_client_service(c), (unsigned)(md - desc->methods),
				       input, child_closure, &ctx);
	until = mesh_now_us() + 10000000;
	while (!ctx.done && mesh_now_us() < until)
		mesh_epoll_run(e, 20);
	/* the process exits now: the client and loop go with it */
}

/* call_from calls method of desc at url in a child process whose TLS identity is the files
 * cert/key/ca (NULL: none), claiming caller as. Fills r; returns 0, or -1 if the child failed. */
static int call_from(call_result *r, const char *cert, const char *key, const char *ca,
		     const char *url, const ProtobufCServiceDescriptor *desc, const char *method,
		     const ProtobufCMessage *input, const char *as)
{
	int fds[2], status;
	size_t got = 0;
	pid_t pid;
	memset(r, 0, sizeof(*r));
	r->status = -1;
	if (pipe(fds) != 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		call_result mine = {0};
		size_t sent = 0;
		close(fds[0]);
		child_call(&mine, cert, key, ca, url, desc, method, input, as);
		while (sent < sizeof(mine)) {
			ssize_t n = write(fds[1], (char *)&mine + sent, sizeof(mine) - sent);
			if (n <= 0)
				_exit(1);
			sent += (size_t)n;
		}
		_exit(0);
	}
	close(fds[1]);
	for (long long until = harness_now_ms() + 20000;
	     got < sizeof(*r) && harness_now_ms() < until;) {
		struct pollfd p = {.fd = fds[0], .events = POLLIN};
		ssize_t n;
		if (poll(&p, 1, 200) <= 0)
			continue;
		n = read(fds[0], (char *)r + got, sizeof(*r) - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fds[0]);
	status = harness_wait(pid, 5000);
	if (status == -1)
		harness_stop(pid, SIGKILL, 1000);
	return got == sizeof(*r) ? 0 : -1;
}

/* as_id calls with the certificate of name from directory d (tls or other), trusting the mesh's
 * CA. */
static int call_as_id(call_result *r, const char *d, const char *name, const char *url,
		      const ProtobufCServiceDescriptor *desc, const char *method,
		      const ProtobufCMessage *input, const char *as)
{
	char cert[300], key[300], ca[300], file[80];
	snprintf(file, sizeof(file), "%s.crt", name);
	file_in(cert, sizeof(cert), d, file);
	snprintf(file, sizeof(file), "%s.key", name);
	file_in(key, sizeof(key), d, file);
	file_in(ca, sizeof(ca), tls, "ca.crt");
	return call_from(r, cert, key, ca, url, desc, method, input, as);
}

static size_t count_posts(void)
{
	char url[300];
	long n;
	snprintf(url, sizeof(url), "%s/api/posts", base);
	n = http_get_array_length(url);
	ck_assert_msg(n >= 0, "GET %s did not answer 200 with an array", url);
	return (size_t)n;
}

/* impostor_ipc: where the impostor also listens, for its counters */
static char impostor_ipc[300];

/* operator_health_calls returns the calls the instance at ipc_url has answered (Health's count),
 * asked over ipc:// by this process (as root: the operator). */
static uint64_t operator_health_calls(const char *ipc_url)
{
	char *out = NULL, *at;
	char *argv[] = {BIN("meshctl"),	 "call", "mesh.Mesh.Health", "{}", "--address",
			(char *)ipc_url, NULL};
	uint64_t calls;
	ck_assert_int_eq(run(&out, argv), 0);
	at = strstr(out, "\"calls\":");
	ck_assert_msg(at != NULL, "Health said: %s", out);
	calls = strtoull(at + 8, NULL, 10);
	free(out);
	return calls;
}

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* start_service starts svc-<binary> on listen urls (NULL-terminated list in extra args). */
static pid_t start(char *const argv[], const char *name)
{
	char log[256];
	pid_t pid;
	snprintf(log, sizeof(log), "%s/%s.log", dir, name);
	pid = harness_spawn(argv, log);
	if (pid > 0 && npids < (int)(sizeof(pids) / sizeof(pids[0])))
		pids[npids++] = pid;
	return pid;
}

static int wait_for(const char *name, const char *needle, char *line, size_t linelen)
{
	char log[256];
	snprintf(log, sizeof(log), "%s/%s.log", dir, name);
	return harness_wait_for_line(log, needle, line, linelen, 15000);
}

/* ---- the mesh: users, threads, posts on tls+tcp:// with policies, and the edge ----------------
 */

static const char *const service_names[3] = {"users", "threads", "posts"};
static char call_u[96], call_t[96];

/* start_service starts service i (P_USERS, P_THREADS or P_POSTS) with its certificate, policy
 * and the others' addresses, its log in DIR/log_name.log. Returns its pid (kept in pids), or
 * -1. */
static pid_t start_service(int i, const char *log_name)
{
	char line[300], cert[300], key[300], ca[300], policy[300], data[300], file[64];
	char *argv[24];
	int argc = 0;
	file_in(ca, sizeof(ca), tls, "ca.crt");
	snprintf(file, sizeof(file), "%s.crt", service_names[i]);
	file_in(cert, sizeof(cert), tls, file);
	snprintf(file, sizeof(file), "%s.key", service_names[i]);
	file_in(key, sizeof(key), tls, file);
	snprintf(policy, sizeof(policy), "%s/%s.policy", dir, service_names[i]);
	snprintf(data, sizeof(data), "%s/%s", dir, service_names[i]);
	snprintf(line, sizeof(line), "%s/svc-%s", CLEAVE_BUILD_DIR, service_names[i]);
	argv[argc++] = line;
	argv[argc++] = "--listen";
	argv[argc++] = urls[i];
	if (i == P_POSTS) {
		argv[argc++] = "--listen";
		argv[argc++] = urls[P_POSTS_PLAIN];
	}
	argv[argc++] = "--data-dir";
	argv[argc++] = data;
	argv[argc++] = "--policy";
	argv[argc++] = policy;
	argv[argc++] = "--call";
	argv[argc++] = call_u;
	argv[argc++] = "--call";
	argv[argc++] = call_t;
	argv[argc++] = "--tls-cert";
	argv[argc++] = cert;
	argv[argc++] = "--tls-key";
	argv[argc++] = key;
	argv[argc++] = "--tls-ca";
	argv[argc++] = ca;
	argv[argc] = NULL;
	return start(argv, log_name);
}

static void mesh_setup(void)
{
	char line[512], ca[300], up[3][400], impostor_cert[300], impostor_key[300];
	char *certs[] = {BIN("meshctl"), "certs", "--dir", tls, NULL};
	char *certs_other[] = {BIN("meshctl"), "certs", "--dir", other, "edge", NULL};
	const char *const *names = service_names;
	curl_global_init_once();
	signal(SIGPIPE, SIG_IGN);
	if (harness_tmpdir(dir, sizeof(dir)) != 0)
		return;
	snprintf(tls, sizeof(tls), "%s/tls", dir);
	snprintf(other, sizeof(other), "%s/other-ca", dir);
	if (run(NULL, certs) != 0 || run(NULL, certs_other) != 0)
		return;
	for (int i = 0; i < NPORTS; i++) {
		ports[i] = harness_free_port();
		snprintf(urls[i], sizeof(urls[i]), "%s://127.0.0.1:%d",
			 i == P_POSTS_PLAIN ? "tcp" : "tls+tcp", ports[i]);
	}
	snprintf(line, sizeof(line), "%s/users.policy", dir);
	write_text(line, "edge List\nedge Get\nedge Create\nposts Get\nthreads Get\n");
	snprintf(line, sizeof(line), "%s/threads.policy", dir);
	write_text(line, "edge List\nedge Get\nedge Create\nposts Get\n");
	snprintf(line, sizeof(line), "%s/posts.policy", dir);
	write_text(line, "edge List\nedge Get\nedge ListByThread\nedge ListByUser\nedge Create\n");
	snprintf(call_u, sizeof(call_u), "users=%s", urls[P_USERS]);
	snprintf(call_t, sizeof(call_t), "threads=%s", urls[P_THREADS]);
	file_in(ca, sizeof(ca), tls, "ca.crt");
	for (int i = 0; i < 3; i++)
		if (start_service(i, service_names[i]) < 0)
			return;
	for (int i = 0; i < 3; i++)
		if (wait_for(names[i], "serving", line, sizeof(line)) != 0)
			return;
	/* an impostor: a posts server showing the users certificate */
	{
		char exe[256], data2[300];
		char *argv[] = {
		    exe,   "--listen",	 urls[P_IMPOSTOR], "--listen",	impostor_ipc, "--data-dir",
		    data2, "--tls-cert", impostor_cert,	   "--tls-key", impostor_key, "--tls-ca",
		    ca,	   "--call",	 call_u,	   "--call",	call_t,	      NULL};
		/* also on ipc://, where root (this test) is the operator and reads Health's
		 * counters on either transport (nng's TLS proves no caller) */
		snprintf(impostor_ipc, sizeof(impostor_ipc), "ipc://%s/impostor.sock", dir);
		snprintf(exe, sizeof(exe), "%s", BIN("svc-posts"));
		snprintf(data2, sizeof(data2), "%s/impostor", dir);
		file_in(impostor_cert, sizeof(impostor_cert), tls, "users.crt");
		file_in(impostor_key, sizeof(impostor_key), tls, "users.key");
		if (start(argv, "impostor") < 0 ||
		    wait_for("impostor", "serving", line, sizeof(line)) != 0)
			return;
	}
	/* the edge, calling the three over tls+tcp:// */
	{
		char edge_cert[300], edge_key[300], access[300];
		char *argv[] = {
		    BIN("edge"), "--port",     "0",	 "--access-log", access, "--upstream",
		    up[0],	 "--upstream", up[1],	 "--upstream",	 up[2],	 "--tls-cert",
		    edge_cert,	 "--tls-key",  edge_key, "--tls-ca",	 ca,	 NULL};
		char *at;
		for (int i = 0; i < 3; i++)
			snprintf(up[i], sizeof(up[i]), "%s=%s", names[i], urls[i]);
		file_in(edge_cert, sizeof(edge_cert), tls, "edge.crt");
		file_in(edge_key, sizeof(edge_key), tls, "edge.key");
		snprintf(access, sizeof(access), "%s/access.log", dir);
		if (start(argv, "edge") < 0 ||
		    wait_for("edge", "listening on http://", line, sizeof(line)) != 0 ||
		    (at = strrchr(line, ':')) == NULL)
			return;
		snprintf(base, sizeof(base), "http://127.0.0.1:%d", atoi(at + 1));
	}
	/* the edge connects on its own schedule */
	for (long long until = harness_now_ms() + 10000; harness_now_ms() < until;
	     harness_sleep_ms(20)) {
		char url[300];
		http_response r;
		int ok;
		snprintf(url, sizeof(url), "%s/api/posts/1", base);
		ok = http_get(url, &r) == 0 && r.status == 200;
		http_response_free(&r);
		if (ok)
			break;
	}
}

static void mesh_teardown(void)
{
	/* the edge first, then the services */
	for (int i = npids - 1; i >= 0; i--) {
		char what[64];
		snprintf(what, sizeof(what), "tls_test's process %d", (int)pids[i]);
		harness_stop_checked(pids[i], SIGTERM, 10000, what);
	}
	npids = 0;
	harness_rmtree(dir);
}

/* ---- tests ---------------------------------------------------------------------------------- */

/* read_cert returns the certificate in path, the caller's to free. */
static X509 *read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;
	ck_assert_ptr_nonnull(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	ck_assert_ptr_nonnull(x);
	return x;
}

static void assert_cn(X509 *x, const char *cn)
{
	char got[128];
	ck_assert_int_gt(
	    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, got, sizeof(got)),
	    0);
	ck_assert_str_eq(got, cn);
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_mode & 0777;
}

/* loop_only says, with the reason printed, that a test is skipped on the nng transport
 * (CLEAVE_MESH_TRANSPORT=nng): nng's TLS checks a peer's CA but cannot say which certificate it
 * showed, so under a policy every caller there is anonymous (README, "Mutual TLS across
 * hosts"), and the handshake timer is the loop server's. */
static int loop_only(const char *what)
{
	const char *t = getenv("CLEAVE_MESH_TRANSPORT");
	if (t == NULL || strcmp(t, "nng") != 0)
		return 0;
	harness_skip("tls_test: %s: the nng transport cannot prove a caller's certificate", what);
	return 1;
}

START_TEST(test_meshctl_certs_makes_a_ca_and_signed_certificates)
{
	char path[300], d[256], *out = NULL;
	const char *names[] = {"ca", "edge", "meshctl", "users", "threads", "posts"};
	char *again[] = {BIN("meshctl"), "certs", "--dir", d, "rot", NULL};
	char *bad[] = {BIN("meshctl"), "certs", "--dir", d, "../evil", NULL};
	char *help[] = {BIN("meshctl"), "certs", "--help", NULL};
	X509 *ca, *x, *y;
	char *ca_before, *ca_after;
	ck_assert_msg(base[0] != '\0', "the mesh did not start");
	ck_assert_int_eq(mode_of(tls) & 0077, 0);
	ca = read_cert(file_in(path, sizeof(path), tls, "ca.crt"));
	assert_cn(ca, "cleave-mesh-ca");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char file[64];
		snprintf(file, sizeof(file), "%s.key", names[i]);
		ck_assert_int_eq(mode_of(file_in(path, sizeof(path), tls, file)), 0600);
		snprintf(file, sizeof(file), "%s.crt", names[i]);
		ck_assert_int_eq(mode_of(file_in(path, sizeof(path), tls, file)), 0644);
		if (i == 0)
			continue;
		x = read_cert(path);
		assert_cn(x, names[i]);
		/* signed by the CA */
		ck_assert_int_eq(X509_verify(x, X509_get0_pubkey(ca)), 1);
		ck_assert_int_eq(X509_check_host(x, names[i], 0, 0, NULL), 1);
		X509_free(x);
	}
	/* the other CA's edge certificate is not signed by the mesh's */
	x = read_cert(file_in(path, sizeof(path), other, "edge.crt"));
	ck_assert_int_ne(X509_verify(x, X509_get0_pubkey(ca)), 1);
	X509_free(x);
	ERR_clear_error();

	/* a rotation: a new key and certificate under the same CA */
	snprintf(d, sizeof(d), "%s", tls);
	ca_before = harness_read_file(file_in(path, sizeof(path), tls, "ca.crt"));
	ck_assert_int_eq(run(NULL, again), 0);
	x = read_cert(file_in(path, sizeof(path), tls, "rot.crt"));
	ck_assert_int_eq(run(NULL, again), 0);
	y = read_cert(path);
	assert_cn(y, "rot");
	ck_assert_int_ne(EVP_PKEY_eq(X509_get0_pubkey(x), X509_get0_pubkey(y)), 1);
	ck_assert_int_eq(X509_verify(y, X509_get0_pubkey(ca)), 1);
	ca_after = harness_read_file(file_in(path, sizeof(path), tls, "ca.crt"));
	ck_assert_str_eq(ca_before, ca_after);
	X509_free(x);
	X509_free(y);
	X509_free(ca);
	free(ca_before);
	free(ca_after);
	/* a name that is no file name is refused; --help says what it does */
	ck_assert_int_eq(run(&out, bad), 2);
	ck_assert_ptr_nonnull(strstr(out, "is not a name"));
	free(out);
	ck_assert_int_eq(run(&out, help), 0);
	ck_assert_ptr_nonnull(strstr(out, "rotates"));
	free(out);
}
END_TEST

START_TEST(test_a_certificate_is_the_callers_identity)
{
	Posts__CreatePostRequest req = POSTS__CREATE_POST_REQUEST__INIT;
	Posts__GetPostRequest get = POSTS__GET_POST_REQUEST__INIT;
	call_result r;
	size_t before;
	char *out = NULL, cert[300], key[300], ca[300];
	char *nng_call[] = {BIN("meshctl"),
			    "call",
			    "posts.Create",
			    "{\"thread\":1,\"text\":\"forged by nng\",\"user\":1}",
			    "--address",
			    urls[P_POSTS],
			    "--as",
			    "edge",
			    "--tls-cert",
			    cert,
			    "--tls-key",
			    key,
			    "--tls-ca",
			    ca,
			    NULL};
	if (loop_only("identity by certificate"))
		return;
	ck_assert_msg(base[0] != '\0', "the mesh did not start");
	req.thread = 1;
	req.user = 1;
	req.text = "forged";
	before = count_posts();
	/* users' certificate, claiming users: the policy has no users -> Create */
	ck_assert_int_eq(call_as_id(&r, tls, "users", urls[P_POSTS], &posts__posts__descriptor,
				    "Create", &req.base, "users"),
			 0);
	ck_assert_msg(r.status == MESH_PERMISSION_DENIED, "%d %s", r.status, r.message);
	/* users' certificate, claiming edge: the claim is not the certificate */
	ck_assert_int_eq(call_as_id(&r, tls, "users", urls[P_POSTS], &posts__posts__descriptor,
				    "Create", &req.base, "edge"),
			 0);
	ck_assert_msg(r.status == MESH_PERMISSION_DENIED, "%d %s", r.status, r.message);
	ck_assert_ptr_nonnull(strstr(r.message, "certificate names 'users'"));
	/* nor a read */
	get.id = 1;
	ck_assert_int_eq(call_as_id(&r, tls, "users", urls[P_POSTS], &posts__posts__descriptor,
				    "Get", &get.base, "edge"),
			 0);
	ck_assert_msg(r.status == MESH_PERMISSION_DENIED, "%d %s", r.status, r.message);
	/* the same over nng's TLS (meshctl call): the certificate decides there too */
	file_in(cert, sizeof(cert), tls, "users.crt");
	file_in(key, sizeof(key), tls, "users.key");
	file_in(ca, sizeof(ca), tls, "ca.crt");
	ck_assert_int_eq(run(&out, nng_call), 1);
	ck_assert_msg(strstr(out, "PERMISSION_DENIED") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(count_posts(), before);
	/* the edge's certificate may */
	req.text = "allowed";
	ck_assert_int_eq(call_as_id(&r, tls, "edge", urls[P_POSTS], &posts__posts__descriptor,
				    "Create", &req.base, "edge"),
			 0);
	ck_assert_msg(r.status == MESH_OK, "%d %s", r.status, r.message);
	ck_assert_int_eq(count_posts(), before + 1);
}
END_TEST

START_TEST(test_a_plain_tcp_caller_is_anonymous_under_a_policy)
{
	Posts__CreatePostRequest req = POSTS__CREATE_POST_REQUEST__INIT;
	Mesh__HealthRequest health = MESH__HEALTH_REQUEST__INIT;
	call_result r;
	size_t before;
	if (loop_only("plain tcp callers"))
		return;
	ck_assert_msg(base[0] != '\0', "the mesh did not start");
	req.thread = 1;
	req.user = 1;
	req.text = "claimed";
	before = count_posts();
	ck_assert_int_eq(call_from(&r, NULL, NULL, NULL, urls[P_POSTS_PLAIN],
				   &posts__posts__descriptor, "Create", &req.base, "edge"),
			 0);
	ck_assert_msg(r.status == MESH_PERMISSION_DENIED, "%d %s", r.status, r.message);
	ck_assert_ptr_nonnull(strstr(r.message, "anonymous"));
	ck_assert_int_eq(count_posts(), before);
	/* Health stays open */
	ck_assert_int_eq(call_from(&r, NULL, NULL, NULL, urls[P_POSTS_PLAIN],
				   &mesh__mesh__descriptor, "Health", &health.base, "edge"),
			 0);
	ck_assert_msg(r.status == MESH_OK, "%d %s", r.status, r.message);
}
END_TEST

/* no_cert_answer connects to port with TLS but no certificate, sends the SP greeting and
 * returns how many bytes came back (0: none; the server must not answer). */
static int no_cert_answer(int port, const char *ca)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {.tv_sec = 5};
	static const unsigned char greeting[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0};
	unsigned char buf[64];
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;
	int fd = socket(AF_INET, SOCK_STREAM, 0), got = 0;
	ck_assert_int_ge(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	SSL_CTX_load_verify_locations(ctx, ca, NULL);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	/* TLS 1.3: the client's side may finish before the server checks it */
	if (SSL_connect(ssl) == 1 && SSL_write(ssl, greeting, sizeof(greeting)) > 0) {
		int n = SSL_read(ssl, buf, sizeof(buf));
		got = n > 0 ? n : 0;
	}
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	ERR_clear_error();
	return got;
}

START_TEST(test_an_unknown_caller_gets_no_answer)
{
	Posts__GetPostRequest get = POSTS__GET_POST_REQUEST__INIT;
	call_result r;
	char ca[300];
	if (loop_only("unknown callers"))
		return;
	ck_assert_msg(base[0] != '\0', "the mesh did not start");
	get.id = 1;
	file_in(ca, sizeof(ca), tls, "ca.crt");
	/* TLS without a certificate */
	ck_assert_int_eq(no_cert_answer(ports[P_POSTS], ca), 0);
	/* no TLS at all, at the TLS address */
	{
		char plain[64];
		snprintf(plain, sizeof(plain), "tcp://127.0.0.1:%d", ports[P_POSTS]);
		ck_assert_int_eq(call_from(&r, NULL, NULL, NULL, plain, &posts__posts__descriptor,
					   "Get", &get.base, "edge"),
				 0);
		ck_assert_msg(r.status == MESH_UNAVAILABLE || r.status == MESH_DEADLINE_EXCEEDED,
			      "%d %s", r.status, r.message);
	}
	/* a certificate named edge, from another CA */
	ck_assert_int_eq(call_as_id(&r, other, "edge", urls[P_POSTS], &posts__posts__descriptor,
				    "Get", &get.base, "edge"),
			 0);
	ck_assert_msg(r.status == MESH_UNAVAILABLE || r.status == MESH_DEADLINE_EXCEEDED, "%d %s",
		      r.status, r.message);
	/* the server is still up, and answers a good caller */
	ck_assert_int_eq(call_as_id(&r, tls, "edge", urls[P_POSTS], &posts__posts__descriptor,
				    "Get", &get.base, "edge"),
			 0);
	ck_assert_msg(r.status == MESH_OK, "%d %s", r.status, r.message);
}
END_TEST

START_TEST(test_a_server_must_be_the_service_called)
{
	Posts__GetPostRequest get = POSTS__GET_POST_REQUEST__INIT;
	call_result r;
	uint64_t before, after;
	char *out = NULL, cert[300], key[300], ca[300];
	char *nng_call[] = {BIN("meshctl"),   "call", "posts.Get", "{\"id\":1}", "--address",
			    urls[P_IMPOSTOR], "--as", "edge",	   "--tls-cert", cert,
			    "--tls-key",      key,    "--tls-ca",  ca,		 "--timeout-ms",
			    "1500",	      NULL};
	ck_assert_msg(base[0] != '\0', "the mesh did not start");
	get.id = 1;
	if (geteuid() != 0) {
		harness_skip("tls_test: reading the impostor's counters needs the operator (root)");
		return;
	}
	/* the impostor shows users' certificate, valid but not posts' */
	before = operator_health_calls(impostor_ipc);
	ck_assert_int_eq(call_as_id(&r, tls, "edge", urls[P_IMPOSTOR], &posts__posts__descriptor,
				    "Get", &get.base, "edge"),
			 0);
	ck_assert_msg(r.status == MESH_UNAVAILABLE, "%d %s", r.status, r.message);
	/* nng's client (meshctl call) refuses it too */
	file_in(cert, sizeof(cert), tls, "edge.crt");
	file_in(key, sizeof(key), tls, "edge.key");
	file_in(ca, sizeof(ca), tls, "ca.crt");
	ck_assert_int_eq(run(&out, nng_call), 1);
	free(out);
	/* no call reached it: only the first Health is counted */
	after = operator_health_calls(impostor_ipc);
	ck_assert_int_eq(after, before + 1);
}
END_TEST

START_TEST(test_the_edge_serves_the_api_over_tls)
{
	const char *paths[] = {"/api/users/1", "/api/threads/1", "/api/posts/1", "/api/posts"};
	char url[300];
	http_response r;
	const char *body = "{\"thread\":1,\"text\":\"through the edge\",\"user\":2}";
	http_options o = {.body = body, .content_type = "application/json"};
	if (loop_only("the edge under policies"))
		return;
	ck_assert_msg(base[0] != '\0', "the mesh did not start");
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		snprintf(url, sizeof(url), "%s%s", base, paths[i]);
		ck_assert_int_eq(http_get(url, &r), 0);
		ck_assert_msg(r.status == 200, "%s: %ld %s", paths[i], (long)r.status, r.body);
		http_response_free(&r);
	}
	/* a create: posts calls threads and users over tls+tcp:// (nng's TLS) with its own
	 * certificate, which their policies allow */
	snprintf(url, sizeof(url), "%s/api/posts", base);
	ck_assert_int_eq(http_request("POST", url, &o, &r), 0);
	ck_assert_msg(r.status == 201, "%ld %s", (long)r.status, r.body);
	http_response_free(&r);
	/* a thread of no one: users answers NOT_FOUND to posts, the edge 4xx */
	o.body = "{\"thread\":1,\"text\":\"ghost\",\"user\":999999}";
	ck_assert_int_eq(http_request("POST", url, &o, &r), 0);
	ck_assert_msg(r.status >= 400 && r.status < 500, "%ld %s", (long)r.status, r.body);
	http_response_free(&r);
}
END_TEST

START_TEST(test_missing_or_wrong_files_stop_the_start_with_a_reason)
{
	char cert[300], key[300], ca[300], data[300], *out = NULL;
	char *no_files[] = {BIN("svc-posts"), "--listen", "tls+tcp://127.0.0.1:1",
			    "--data-dir",     data,	  NULL};
	char *mismatch[] = {BIN("svc-posts"),
			    "--listen",
			    "tls+tcp://127.0.0.1:1",
			    "--data-dir",
			    data,
			    "--tls-cert",
			    cert,
			    "--tls-key",
			    key,
			    "--tls-ca",
			    ca,
			    NULL};
	char *missing[] = {BIN("svc-posts"),
			   "--listen",
			   "tls+tcp://127.0.0.1:1",
			   "--data-dir",
			   data,
			   "--tls-cert",
			   "/nonexistent/posts.crt",
			   "--tls-key",
			   key,
			   "--tls-ca",
			   ca,
			   NULL};
	char *half[] = {BIN("svc-posts"),
			"--listen",
			"tcp://127.0.0.1:1",
			"--data-dir",
			data,
			"--tls-cert",
			cert,
			NULL};
	/* an address of no interface here (TEST-NET-1): binding fails, nothing is sent */
	char *unbindable[] = {BIN("svc-posts"), "--listen", "tls+tcp://192.0.2.1:1",
			      "--data-dir",	data,	    NULL};
	char *edge[] = {BIN("edge"), "--port", "0", "--upstream", "users=tls+tcp://127.0.0.1:1",
			NULL};
	ck_assert_msg(base[0] != '\0', "the mesh did not start");
	snprintf(data, sizeof(data), "%s/never", dir);
	file_in(cert, sizeof(cert), tls, "posts.crt");
	file_in(key, sizeof(key), tls, "users.key");
	file_in(ca, sizeof(ca), tls, "ca.crt");
	ck_assert_int_eq(run(&out, no_files), 2);
	ck_assert_msg(strstr(out, "needs a certificate") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(run(&out, mismatch), 2);
	ck_assert_msg(strstr(out, "does not match") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(run(&out, missing), 2);
	ck_assert_msg(strstr(out, "/nonexistent/posts.crt") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(run(&out, half), 2);
	ck_assert_msg(strstr(out, "needs all three") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(run(&out, edge), 2);
	ck_assert_msg(strstr(out, "needs a certificate") != NULL, "%s", out);
	free(out);
	/* the environment stands in for the flags (a right pair here: the start gets past TLS
	 * and fails on the address instead) */
	file_in(key, sizeof(key), tls, "posts.key");
	setenv("CLEAVE_TLS_CERT", cert, 1);
	setenv("CLEAVE_TLS_KEY", key, 1);
	setenv("CLEAVE_TLS_CA", ca, 1);
	ck_assert_int_eq(run(&out, unbindable), 1);
	unsetenv("CLEAVE_TLS_CERT");
	unsetenv("CLEAVE_TLS_KEY");
	unsetenv("CLEAVE_TLS_CA");
	ck_assert_msg(strstr(out, "cannot listen on tls+tcp://192.0.2.1:1") != NULL, "%s", out);
	free(out);
}
END_TEST

/* set_pem_env sets variable to the text of the file name in the mesh's tls directory. */
static void set_pem_env(const char *variable, const char *name)
{
	char path[300], *text;
	text = harness_read_file(file_in(path, sizeof(path), tls, name));
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(setenv(variable, text, 1), 0);
	free(text);
}

static void unset_pem_env(void)
{
	unsetenv("CLEAVE_TLS_CERT_PEM");
	unsetenv("CLEAVE_TLS_KEY_PEM");
	unsetenv("CLEAVE_TLS_CA_PEM");
}

START_TEST(test_pem_variables_stand_in_for_the_files)
{
	Mesh__HealthRequest health = MESH__HEALTH_REQUEST__INIT;
	call_result r;
	char url[64], data[300], policy[300], line[300], *out = NULL;
	char *serve[] = {BIN("svc-users"), "--listen", url, "--data-dir", data,
			 "--policy",	   policy,     NULL};
	char *check[] = {BIN("svc-users"), "--check", url, NULL};
	char *half[] = {BIN("svc-users"), "--listen", url, "--data-dir", data, NULL};
	ck_assert_msg(base[0] != '\0', "the mesh did not start");
	snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%d", harness_free_port());
	snprintf(data, sizeof(data), "%s/users-pem", dir);
	snprintf(policy, sizeof(policy), "%s/users.policy", dir);
	/* the text of the three files, as a secret store hands it out (Copilot's secrets:) */
	set_pem_env("CLEAVE_TLS_CERT_PEM", "users.crt");
	set_pem_env("CLEAVE_TLS_KEY_PEM", "users.key");
	set_pem_env("CLEAVE_TLS_CA_PEM", "ca.crt");
	ck_assert_int_gt(start(serve, "users-pem"), 0);
	ck_assert_int_eq(wait_for("users-pem", "serving", line, sizeof(line)), 0);
	/* the health check presents the same identity, from the same variables */
	ck_assert_msg(run(&out, check) == 0, "%s", out);
	free(out);
	/* the server shows the certificate of the variable, and verifies its callers against the
	 * CA of the variable: the edge's certificate answers, another CA's gets nothing */
	ck_assert_int_eq(call_as_id(&r, tls, "edge", url, &mesh__mesh__descriptor, "Health",
				    &health.base, "edge"),
			 0);
	ck_assert_msg(r.status == MESH_OK, "%d %s", r.status, r.message);
	ck_assert_int_eq(call_as_id(&r, other, "edge", url, &mesh__mesh__descriptor, "Health",
				    &health.base, "edge"),
			 0);
	ck_assert_msg(r.status != MESH_OK, "another CA's certificate was answered");
	/* a key that is not the certificate's, named by its variable */
	set_pem_env("CLEAVE_TLS_KEY_PEM", "posts.key");
	ck_assert_int_eq(run(&out, half), 2);
	ck_assert_msg(strstr(out, "CLEAVE_TLS_KEY_PEM does not match") != NULL, "%s", out);
	free(out);
	/* one of three is not TLS */
	unset_pem_env();
	set_pem_env("CLEAVE_TLS_CERT_PEM", "users.crt");
	ck_assert_int_eq(run(&out, half), 2);
	ck_assert_msg(strstr(out, "needs all three") != NULL, "%s", out);
	free(out);
	unset_pem_env();
}
END_TEST

/* silent_peer_closed connects to port, sends nothing and says whether the server closed the
 * connection within timeout_s (a bounded wait, not a measurement). */
static int silent_peer_closed(int port, int timeout_s)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {.tv_sec = timeout_s};
	char buf[64];
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	n = recv(fd, buf, sizeof(buf), 0);
	close(fd);
	return n == 0 || (n < 0 && errno == ECONNRESET);
}

START_TEST(test_a_silent_connection_is_closed)
{
	if (loop_only("the handshake timer"))
		return;
	ck_assert_msg(base[0] != '\0', "the mesh did not start");
	/* no ClientHello: the server closes it after its handshake time (10 s), having sent
	 * nothing */
	ck_assert(silent_peer_closed(ports[P_POSTS], 30));
}
END_TEST

/* peer_certificate connects to port over TLS as the edge (its certificate) and returns the
 * certificate the server showed (the caller's, to X509_free), or NULL. */
static X509 *peer_certificate(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	char ca[300], cert[300], key[300];
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	X509 *peer = NULL;
	SSL *ssl;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	SSL_CTX_load_verify_locations(ctx, file_in(ca, sizeof(ca), tls, "ca.crt"), NULL);
	SSL_CTX_use_certificate_file(ctx, file_in(cert, sizeof(cert), tls, "edge.crt"),
				     SSL_FILETYPE_PEM);
	SSL_CTX_use_PrivateKey_file(ctx, file_in(key, sizeof(key), tls, "edge.key"),
				    SSL_FILETYPE_PEM);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) == 1)
		peer = SSL_get1_peer_certificate(ssl);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	ERR_clear_error();
	return peer;
}

/* api_answers polls GET path on the edge for up to 10 s; says whether it answered 200, else
 * leaves the last answer in why. */
static int api_answers(const char *path, char *why, size_t whylen)
{
	char url[300];
	snprintf(url, sizeof(url), "%s%s", base, path);
	for (long long until = harness_now_ms() + 10000;; harness_sleep_ms(20)) {
		http_response r;
		int ok = http_get(url, &r) == 0 && r.status == 200;
		snprintf(why, whylen, "%ld %.200s", r.status, r.status ? r.body : r.error);
		http_response_free(&r);
		if (ok)
			return 1;
		if (harness_now_ms() > until)
			return 0;
	}
}

START_TEST(test_a_rotated_certificate_is_shown_after_a_restart)
{
	char crt[300], ca_path[300], line[512], why[300], *ca_before, *ca_after;
	char *rotate[] = {BIN("meshctl"), "certs", "--dir", tls, "posts", NULL};
	X509 *old, *now, *ca, *shown;
	const char *transport = getenv("CLEAVE_MESH_TRANSPORT");
	int through_edge = transport == NULL || strcmp(transport, "nng") != 0;
	ck_assert_msg(base[0] != '\0', "the mesh did not start");
	file_in(crt, sizeof(crt), tls, "posts.crt");
	file_in(ca_path, sizeof(ca_path), tls, "ca.crt");
	old = read_cert(crt);
	ca_before = harness_read_file(ca_path);
	/* running certs again for posts makes it a new key and certificate; the CA stays */
	ck_assert_int_eq(run(NULL, rotate), 0);
	now = read_cert(crt);
	ca_after = harness_read_file(ca_path);
	ck_assert_str_eq(ca_before, ca_after);
	ck_assert_msg(X509_cmp(old, now) != 0, "posts.crt did not change");
	ck_assert_int_ne(EVP_PKEY_eq(X509_get0_pubkey(old), X509_get0_pubkey(now)), 1);
	assert_cn(now, "posts");
	ca = read_cert(ca_path);
	ck_assert_int_eq(X509_verify(now, X509_get0_pubkey(ca)), 1);
	/* the running posts keeps what it loaded: the API answers, with the old one shown */
	/* (through the edge on the loop transport only: over nng's TLS, under a policy, the edge
	 * is anonymous) */
	ck_assert_msg(!through_edge || api_answers("/api/posts/1", why, sizeof(why)), "before: %s",
		      why);
	shown = peer_certificate(ports[P_POSTS]);
	ck_assert_msg(shown != NULL && X509_cmp(shown, old) == 0,
		      "posts shows another certificate");
	X509_free(shown);
	/* restarted, posts shows the new one, and the edge calls it again */
	/* the services were started first, in order: posts is pids[P_POSTS] */
	harness_stop_clean(pids[P_POSTS], SIGTERM, 10000, "posts", NULL);
	pids[P_POSTS] = 0;
	ck_assert_int_gt(start_service(P_POSTS, "posts-rotated"), 0);
	ck_assert_int_eq(wait_for("posts-rotated", "serving", line, sizeof(line)), 0);
	ck_assert_msg(!through_edge || api_answers("/api/posts/1", why, sizeof(why)), "after: %s",
		      why);
	shown = peer_certificate(ports[P_POSTS]);
	ck_assert_msg(shown != NULL && X509_cmp(shown, now) == 0,
		      "the restarted posts does not show its new certificate");
	X509_free(shown);
	X509_free(old);
	X509_free(now);
	X509_free(ca);
	free(ca_before);
	free(ca_after);
}
END_TEST

static Suite *tls_suite(void)
{
	Suite *s = suite_create("tls");
	TCase *tc = harness_tcase("tls", 180);
	tcase_add_unchecked_fixture(tc, mesh_setup, mesh_teardown);
	tcase_add_test(tc, test_meshctl_certs_makes_a_ca_and_signed_certificates);
	tcase_add_test(tc, test_a_certificate_is_the_callers_identity);
	tcase_add_test(tc, test_a_plain_tcp_caller_is_anonymous_under_a_policy);
	tcase_add_test(tc, test_an_unknown_caller_gets_no_answer);
	tcase_add_test(tc, test_a_server_must_be_the_service_called);
	tcase_add_test(tc, test_the_edge_serves_the_api_over_tls);
	tcase_add_test(tc, test_missing_or_wrong_files_stop_the_start_with_a_reason);
	tcase_add_test(tc, test_pem_variables_stand_in_for_the_files);
	tcase_add_test(tc, test_a_silent_connection_is_closed);
	tcase_add_test(tc, test_a_rotated_certificate_is_shown_after_a_restart);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(tls_suite(), 1);
}
