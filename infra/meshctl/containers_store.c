/* containers_store.c: meshctl up --containers --store postgres: each service's store file (its
 * PostgreSQL URL, with a random password), made once and kept. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "containers_store.h"
#include "process.h"
#include "render.h"

/* password writes 32 hex digits of the kernel's randomness into out (33 bytes). */
static int password(char *out)
{
	unsigned char raw[16];
	size_t got = 0;
	while (got < sizeof(raw)) {
		ssize_t r = getrandom(raw + got, sizeof(raw) - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

/* store_file makes path for the manifest name, unless it exists: written to a temporary file,
 * given to uid 10001, then renamed into place. */
static int store_file(const char *path, const char *name)
{
	char tmp[PATH_MAX + 8], secret[33], text[512];
	int fd, len;
	if (access(path, F_OK) == 0)
		return 0;
	if (password(secret) != 0) {
		fprintf(stderr, "meshctl: no randomness for %s's password: %s\n", name,
			strerror(errno));
		return -1;
	}
	len = snprintf(text, sizeof(text), "CLEAVE_STORE_URL=postgresql://%s:%s@%s:%d/%s\n", name,
		       secret, RENDER_COMPOSE_DB, RENDER_STORE_PORT, name);
	if (len < 0 || (size_t)len >= sizeof(text) ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -1;
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "meshctl: cannot make %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	if (write(fd, text, (size_t)len) != len || fchown(fd, RENDER_UID, RENDER_UID) != 0 ||
	    fsync(fd) != 0) {
		fprintf(stderr, "meshctl: cannot write %s: %s\n", tmp, strerror(errno));
		goto out_unlink;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		fd = -1;
		fprintf(stderr, "meshctl: cannot make %s: %s\n", path, strerror(errno));
		goto out_unlink;
	}
	return 0;
out_unlink:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}

int containers_store_files(const char *dir, manifest *const *ms, size_t n)
{
	if (rt_mkdirs(dir, 0700) != 0) {
		fprintf(stderr, "meshctl: cannot make %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (size_t k = 0; k < n; k++) {
		char path[PATH_MAX];
		if (snprintf(path, sizeof(path), "%s/%s.env", dir, ms[k]->name) >=
		    (int)sizeof(path)) {
			fprintf(stderr, "meshctl: %s: path too long\n", dir);
			return -1;
		}
		if (store_file(path, ms[k]->name) != 0)
			return -1;
		/* kept from before: still the database's user's alone */
		if (chown(path, RENDER_UID, RENDER_UID) != 0 || chmod(path, 0600) != 0) {
			fprintf(stderr, "meshctl: %s: %s\n", path, strerror(errno));
			return -1;
		}
	}
	return 0;
}
