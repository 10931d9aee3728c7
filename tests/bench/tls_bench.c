/* tls_bench.c: what mutual TLS costs a small call: sample.Echo/Get over tcp:// and tls+tcp:// on
 * loopback, one loop server and one loop client in this process, sequential and pipelined.
 *
 * usage: build/tests/tls-bench [--calls N] [--rounds R]   (see --help) */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "echo.h"
#include "harness.h"
#include "mesh.h"
#include "sample.pb-c.h"

#define BENCH_INFLIGHT 64

extern char **environ;

static mesh_epoll *ep;
static int done, failed;

static void on_reply(const Sample__Inner *reply, void *data)
{
	(void)data;
	done++;
	if (reply == NULL)
		failed++;
}

/* measure makes n calls through c with at most inflight in flight; returns the seconds taken,
 * or -1 if a call failed or the loop stalled. */
static double measure(mesh_client *c, int n, int inflight)
{
	static mesh_rpc rpcs[BENCH_INFLIGHT];
	Sample__Inner in = SAMPLE__INNER__INIT;
	int64_t start = mesh_now_us(), until = start + 120000000;
	int sent = 0;
	in.id = 1;
	in.label = "bench";
	done = failed = 0;
	while (done < n && mesh_now_us() < until) {
		while (sent < n && sent - done < inflight) {
			mesh_rpc *rpc = &rpcs[sent % BENCH_INFLIGHT];
			memset(rpc, 0, sizeof(*rpc));
			sample__echo__get(mesh_client_service(c), &in, on_reply, rpc);
			sent++;
		}
		mesh_epoll_run(ep, 10);
	}
	if (done < n || failed > 0)
		return -1;
	return (double)(mesh_now_us() - start) / 1e6;
}

static mesh_client *client_of(const char *url)
{
	mesh_client_opts o = {.caller = "bench", .loop = mesh_epoll_loop(ep)};
	mesh_client *c;
	long long until = harness_now_ms() + 5000;
	if (mesh_client_new(&c, &sample__echo__descriptor, &o) != 0 ||
	    mesh_client_dial(c, url) != 0)
		return NULL;
	while (mesh_client_instances(c) == 0 && harness_now_ms() < until)
		mesh_epoll_run(ep, 10);
	return mesh_client_instances(c) > 0 ? c : NULL;
}

int main(int argc, char **argv)
{
	int calls = 20000, rounds = 3, rv = 1;
	char dir[128], cert[256], key[256], ca[256], err[512], urls[2][64];
	char *certs[] = {CLEAVE_BUILD_DIR "/meshctl", "certs", "--dir", dir, "sample", NULL};
	const char *names[2] = {"tcp://    ", "tls+tcp://"};
	double seq[2] = {0}, pipe_[2] = {0};
	mesh_server *server = NULL;
	mesh_client *clients[2] = {NULL, NULL};
	pid_t pid;
	int status;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--calls") == 0 && i + 1 < argc) {
			calls = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
			rounds = atoi(argv[++i]);
		} else {
			printf(
			    "usage: %s [--calls N] [--rounds R]\n\n"
			    "Measures sample.Echo/Get over tcp:// and tls+tcp:// on loopback (a "
			    "loop server\nand a loop client in this process; certificates from "
			    "meshctl certs in a\ntemporary directory): N sequential calls and 10 N "
			    "calls %d in flight, per\ntransport, R rounds alternated. Prints "
			    "calls/s, us per call and the ratios.\n",
			    argv[0], BENCH_INFLIGHT);
			return strcmp(argv[i], "--help") == 0 ? 0 : 2;
		}
	}
	if (calls < 1 || rounds < 1 || harness_tmpdir(dir, sizeof(dir)) != 0)
		return 2;
	if (posix_spawn(&pid, certs[0], NULL, NULL, certs, environ) != 0 ||
	    waitpid(pid, &status, 0) != pid || !harness_exited_cleanly(status)) {
		fprintf(stderr, "tls-bench: meshctl certs failed\n");
		goto out;
	}
	snprintf(cert, sizeof(cert), "%s/sample.crt", dir);
	snprintf(key, sizeof(key), "%s/sample.key", dir);
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	if (mesh_tls_configure(cert, key, ca, err, sizeof(err)) != 0) {
		fprintf(stderr, "tls-bench: %s\n", err);
		goto out;
	}
	snprintf(urls[0], sizeof(urls[0]), "tcp://127.0.0.1:%d", harness_free_port());
	snprintf(urls[1], sizeof(urls[1]), "tls+tcp://127.0.0.1:%d", harness_free_port());
	if (echo_server_new(&server, NULL) != 0 || mesh_server_listen(server, urls[0]) != 0 ||
	    mesh_server_listen(server, urls[1]) != 0 || mesh_server_start(server) != 0 ||
	    mesh_epoll_new(&ep) != 0) {
		fprintf(stderr, "tls-bench: cannot serve\n");
		goto out;
	}
	for (int t = 0; t < 2; t++) {
		if ((clients[t] = client_of(urls[t])) == NULL) {
			fprintf(stderr, "tls-bench: cannot connect to %s\n", urls[t]);
			goto out;
		}
		measure(clients[t], calls / 10 + 1, BENCH_INFLIGHT); /* warm up */
	}
	for (int r = 0; r < rounds; r++) {
		for (int t = 0; t < 2; t++) {
			double s = measure(clients[t], calls, 1), p;
			p = measure(clients[t], calls * 10, BENCH_INFLIGHT);
			if (s < 0 || p < 0) {
				fprintf(stderr, "tls-bench: calls failed on %s\n", urls[t]);
				goto out;
			}
			seq[t] += s;
			pipe_[t] += p;
		}
	}
	printf("%d sequential and %d pipelined calls x %d rounds, loopback, 1 server loop thread\n",
	       calls, calls * 10, rounds);
	for (int t = 0; t < 2; t++)
		printf("%s sequential: %8.0f calls/s (%6.1f us/call)   %d in flight: %8.0f "
		       "calls/s\n",
		       names[t], calls * rounds / seq[t], seq[t] * 1e6 / (calls * rounds),
		       BENCH_INFLIGHT, calls * 10.0 * rounds / pipe_[t]);
	printf("tls+tcp / tcp: sequential %.2f, %d in flight %.2f (calls/s ratio)\n",
	       seq[0] / seq[1], BENCH_INFLIGHT, pipe_[0] / pipe_[1]);
	rv = 0;
out:
	for (int t = 0; t < 2; t++)
		if (clients[t] != NULL)
			mesh_client_free(clients[t]);
	if (ep != NULL)
		mesh_epoll_free(ep);
	mesh_server_free(server);
	harness_rmtree(dir);
	return rv;
}
