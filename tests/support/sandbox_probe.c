/* sandbox_probe.c: test-only program: restricts itself with rt_sandbox_apply (to a data dir, or
 * to exactly what a service or the edge gets), then tries the file operations it is given and
 * prints what the kernel answered, one line each; or runs a program as on a kernel without
 * Landlock. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/seccomp.h>

#include "sandbox.h"

/* probe_errname names the answers the tests expect. */
static const char *probe_errname(int err)
{
	switch (err) {
	case EACCES:
		return "EACCES";
	case EPERM:
		return "EPERM";
	case ENOENT:
		return "ENOENT";
	case EXDEV:
		return "EXDEV";
	default:
		return strerror(err);
	}
}

/* probe_sock binds a unix socket at path, as a service listening on ipc:// does. Returns 0 or
 * -1 with errno set. */
static int probe_sock(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), rv, err;
	if (fd < 0)
		return -1;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	rv = bind(fd, (struct sockaddr *)&a, sizeof(a));
	err = errno;
	close(fd);
	errno = err;
	return rv;
}

/* probe_op runs one OP:PATH: read (open for reading and read a byte), write (create or append
 * a line), mkdir, unlink, sock (bind a unix socket). Prints "OP PATH ok" or "OP PATH ERRNO". */
static void probe_op(const char *arg)
{
	const char *colon = strchr(arg, ':'), *path;
	char op[16], byte;
	int fd, rv = -1;
	if (colon == NULL || colon - arg >= (long)sizeof(op)) {
		printf("%s bad-op\n", arg);
		return;
	}
	snprintf(op, sizeof(op), "%.*s", (int)(colon - arg), arg);
	path = colon + 1;
	errno = 0;
	if (strcmp(op, "read") == 0) {
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
			rv = read(fd, &byte, 1) >= 0 ? 0 : -1;
			close(fd);
		}
	} else if (strcmp(op, "write") == 0) {
		if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) >= 0) {
			rv = write(fd, "probe\n", 6) == 6 ? 0 : -1;
			close(fd);
		}
	} else if (strcmp(op, "mkdir") == 0) {
		rv = mkdir(path, 0700);
	} else if (strcmp(op, "unlink") == 0) {
		rv = unlink(path);
	} else if (strcmp(op, "sock") == 0) {
		rv = probe_sock(path);
	} else {
		printf("%s bad-op\n", arg);
		return;
	}
	printf("%s %s %s\n", op, path, rv == 0 ? "ok" : probe_errname(errno));
}

/* probe_without_landlock runs argv as on a kernel without Landlock: a seccomp filter answers
 * ENOSYS to the three Landlock system calls (444-446 on every architecture). Returns only on
 * an error. */
static int probe_without_landlock(char **argv)
{
	struct sock_filter filter[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 444, 3, 0),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 445, 2, 0),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 446, 1, 0),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
	};
	struct sock_fprog prog = {.len = sizeof(filter) / sizeof(filter[0]), .filter = filter};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
		perror("sandbox-probe: seccomp");
		return 1;
	}
	execv(argv[0], argv);
	perror("sandbox-probe: exec");
	return 1;
}

int main(int argc, char **argv)
{
	rt_sandbox_spec spec = {0};
	rt_sandbox_paths paths;
	char msg[1024];
	int rv, first;
	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		fprintf(
		    argc < 2 ? stderr : stdout,
		    "usage: %s DATA_DIR [OP:PATH]...\n"
		    "Restricts itself with rt_sandbox_apply (mode on) to DATA_DIR, then runs\n"
		    "each OP (read, write, mkdir, unlink, sock) on PATH and prints 'OP PATH ok'\n"
		    "or 'OP PATH ERRNO'. The first line is 'applied: ...' or 'unsupported: ...'.\n"
		    "\n"
		    "       %s --service DATA_DIR RUN_DIR LISTEN_URL POLICY [OP:PATH]...\n"
		    "The same, restricted as a service is (rt_sandbox_service_spec; no seed).\n"
		    "\n"
		    "       %s --edge TARGETS_DIR [OP:PATH]...\n"
		    "The same, restricted as the edge is (rt_sandbox_edge_spec).\n"
		    "\n"
		    "       %s --without-landlock PROGRAM [ARG]...\n"
		    "Runs PROGRAM (a path) as on a kernel without Landlock (its system calls\n"
		    "answer ENOSYS).\n",
		    argv[0], argv[0], argv[0], argv[0]);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "--without-landlock") == 0) {
		if (argc < 3) {
			fprintf(stderr, "%s: --without-landlock wants a PROGRAM\n", argv[0]);
			return 2;
		}
		return probe_without_landlock(argv + 2);
	}
	if (strcmp(argv[1], "--service") == 0) {
		const char *listen[] = {argc > 4 ? argv[4] : ""};
		if (argc < 6) {
			fprintf(stderr, "%s: --service wants DATA_DIR RUN_DIR LISTEN_URL POLICY\n",
				argv[0]);
			return 2;
		}
		rt_sandbox_service_spec(&spec, &paths, argv[2], NULL, argv[5], argv[3], listen, 1);
		first = 6;
	} else if (strcmp(argv[1], "--edge") == 0) {
		if (argc < 3) {
			fprintf(stderr, "%s: --edge wants TARGETS_DIR\n", argv[0]);
			return 2;
		}
		rt_sandbox_edge_spec(&spec, &paths, argv[2], NULL, 0);
		first = 3;
	} else {
		spec.data_dir = argv[1];
		first = 2;
	}
	rv = rt_sandbox_apply(&spec, RT_SANDBOX_ON, msg, sizeof(msg));
	if (rv < 0) {
		printf("%s: %s\n", rt_landlock_abi() < 0 ? "unsupported" : "error", msg);
		return rt_landlock_abi() < 0 ? 0 : 1;
	}
	printf("applied: %s\n", msg);
	for (int i = first; i < argc; i++)
		probe_op(argv[i]);
	return 0;
}
