/* targets.c: reading, writing and applying target files (see targets.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "targets.h"

int rt_targets_write(const char *path, const rt_target *targets, size_t n)
{
	char tmp[4096];
	FILE *f;
	int saved;
	if (snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid()) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((f = fopen(tmp, "w")) == NULL)
		return -1;
	fprintf(f, "# cleave targets: one instance per line, URL active|draining [uid=N]\n");
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%s %s", targets[i].url, targets[i].draining ? "draining" : "active");
		if (targets[i].has_uid)
			fprintf(f, " uid=%u", (unsigned)targets[i].uid);
		fputc('\n', f);
	}
	if (fflush(f) != 0 || ferror(f)) {
		saved = errno;
		fclose(f);
		unlink(tmp);
		errno = saved;
		return -1;
	}
	fclose(f);
	if (rename(tmp, path) != 0) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		return -1;
	}
	return 0;
}

/* parse_line reads "URL active|draining [uid=N]" into t. Returns 1 for a target, 0 for a blank
 * or comment line, -1 if malformed. */
static int parse_line(char *line, rt_target *t)
{
	char *url, *state, *uid, *rest, *save = NULL, *end;
	unsigned long n;
	url = strtok_r(line, " \t\r\n", &save);
	if (url == NULL || url[0] == '#')
		return 0;
	state = strtok_r(NULL, " \t\r\n", &save);
	uid = strtok_r(NULL, " \t\r\n", &save);
	rest = strtok_r(NULL, " \t\r\n", &save);
	if (strlen(url) >= sizeof(t->url) || rest != NULL)
		return -1;
	memset(t, 0, sizeof(*t));
	memcpy(t->url, url, strlen(url) + 1);
	if (state == NULL || strcmp(state, "active") == 0)
		t->draining = 0;
	else if (strcmp(state, "draining") == 0)
		t->draining = 1;
	else
		return -1;
	if (uid != NULL) {
		if (strncmp(uid, "uid=", 4) != 0 || uid[4] < '0' || uid[4] > '9')
			return -1;
		errno = 0;
		n = strtoul(uid + 4, &end, 10);
		if (errno != 0 || *end != '\0' || n >= (unsigned long)MESH_ANY_UID)
			return -1;
		t->has_uid = 1;
		t->uid = (uid_t)n;
	}
	return 1;
}

int rt_targets_read(const char *path, rt_target **out, size_t *n)
{
	FILE *f = fopen(path, "r");
	rt_target *items = NULL, t;
	size_t count = 0, cap = 0;
	char line[RT_TARGET_URL_MAX + 64];
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		int r = parse_line(line, &t);
		if (r == 0)
			continue;
		if (r < 0) {
			free(items);
			fclose(f);
			errno = EINVAL;
			return -1;
		}
		if (count == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			rt_target *grown = realloc(items, ncap * sizeof(*grown));
			if (grown == NULL) {
				free(items);
				fclose(f);
				errno = ENOMEM;
				return -1;
			}
			items = grown;
			cap = ncap;
		}
		items[count++] = t;
	}
	fclose(f);
	*out = items;
	*n = count;
	return 0;
}

int rt_targets_watch_init(rt_targets_watch *w, const char *path)
{
	memset(w, 0, sizeof(*w));
	w->path = strdup(path);
	return w->path != NULL ? 0 : -1;
}

static const rt_target *find_target(const rt_target *ts, size_t n, const char *url)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(ts[i].url, url) == 0)
			return &ts[i];
	return NULL;
}

void rt_targets_apply(const rt_target *was, size_t nwas, const rt_target *now, size_t n,
		      mesh_client *client)
{
	for (size_t i = 0; i < n; i++) {
		const rt_target *old = find_target(was, nwas, now[i].url);
		uid_t uid = now[i].has_uid ? now[i].uid : MESH_ANY_UID;
		if (old != NULL && (old->has_uid != now[i].has_uid || old->uid != now[i].uid)) {
			/* served by someone else now: the old connection goes, a new one is
			 * checked against the new user */
			mesh_client_undial(client, now[i].url);
			old = NULL;
		}
		/* new, or back in service after draining (a dial revives a draining instance):
		 * a reader may see draining and then active again without the removal between */
		if (old == NULL || (old->draining && !now[i].draining))
			mesh_client_dial_uid(client, now[i].url, uid);
		if (now[i].draining && (old == NULL || !old->draining))
			mesh_client_drain(client, now[i].url);
	}
	for (size_t i = 0; i < nwas; i++)
		if (find_target(now, n, was[i].url) == NULL)
			mesh_client_undial(client, was[i].url);
}

int rt_targets_sync(rt_targets_watch *w, mesh_client *client)
{
	struct stat st;
	rt_target *now;
	size_t n;
	if (stat(w->path, &st) != 0)
		return -1;
	if (w->seen && st.st_ino == w->ino && st.st_size == w->size &&
	    st.st_mtim.tv_sec == w->mtime.tv_sec && st.st_mtim.tv_nsec == w->mtime.tv_nsec)
		return 0;
	if (rt_targets_read(w->path, &now, &n) != 0)
		return -1;
	rt_targets_apply(w->applied, w->napplied, now, n, client);
	free(w->applied);
	w->applied = now;
	w->napplied = n;
	w->ino = st.st_ino;
	w->size = st.st_size;
	w->mtime = st.st_mtim;
	w->seen = 1;
	return 1;
}

void rt_targets_watch_fini(rt_targets_watch *w)
{
	free(w->path);
	free(w->applied);
	memset(w, 0, sizeof(*w));
}
