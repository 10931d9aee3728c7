/* policy.c: call policy files, and identities from peer uids. */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy.h"

typedef struct policy_rule {
	char caller[MESHI_IDENTITY_MAX];
	char method[MESHI_IDENTITY_MAX];
	char why[128]; /* where the rule comes from, or "" */
} policy_rule;

struct mesh_policy {
	policy_rule *rules;
	size_t n;
	int audit; /* log and count would-be denials, do not enforce them */
};

int mesh_policy_new(mesh_policy **out)
{
	*out = calloc(1, sizeof(**out));
	return *out != NULL ? 0 : ENOMEM;
}

int mesh_policy_allow(mesh_policy *p, const char *caller, const char *method)
{
	return mesh_policy_allow_because(p, caller, method, NULL);
}

int mesh_policy_allow_because(mesh_policy *p, const char *caller, const char *method,
			      const char *why)
{
	policy_rule *grown;
	if (caller[0] == '\0' || method[0] == '\0' || strlen(caller) >= MESHI_IDENTITY_MAX ||
	    strlen(method) >= MESHI_IDENTITY_MAX)
		return EINVAL;
	grown = realloc(p->rules, (p->n + 1) * sizeof(*grown));
	if (grown == NULL)
		return ENOMEM;
	p->rules = grown;
	snprintf(p->rules[p->n].caller, MESHI_IDENTITY_MAX, "%s", caller);
	snprintf(p->rules[p->n].method, MESHI_IDENTITY_MAX, "%s", method);
	snprintf(p->rules[p->n].why, sizeof(p->rules[p->n].why), "%s", why != NULL ? why : "");
	p->n++;
	return 0;
}

int mesh_policy_load(const char *path, mesh_policy **out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	mesh_policy *p;
	char line[512];
	int lineno = 0, rv;
	if (f == NULL) {
		rv = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(rv));
		return rv;
	}
	if ((rv = mesh_policy_new(&p)) != 0) {
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return rv;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *hash = strchr(line, '#'), *caller, *method, *rest, *save = NULL, *why = NULL;
		lineno++;
		if (hash != NULL) {
			*hash = '\0';
			why = hash + 1 + strspn(hash + 1, " \t");
			why[strcspn(why, "\r\n")] = '\0';
		}
		caller = strtok_r(line, " \t\r\n", &save);
		if (caller == NULL)
			continue;
		method = strtok_r(NULL, " \t\r\n", &save);
		rest = strtok_r(NULL, " \t\r\n", &save);
		if (method == NULL || rest != NULL) {
			snprintf(err, errlen, "%s:%d: want 'CALLER METHOD'", path, lineno);
			rv = EINVAL;
			goto fail;
		}
		if ((rv = mesh_policy_allow_because(p, caller, method, why)) != 0) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno,
				 rv == ENOMEM ? "out of memory" : "a name over 63 bytes");
			goto fail;
		}
	}
	fclose(f);
	*out = p;
	return 0;
fail:
	fclose(f);
	mesh_policy_free(p);
	return rv;
}

/* policy_match returns the first rule of p letting caller call method, or NULL. */
static const policy_rule *policy_match(const mesh_policy *p, const char *caller, const char *method)
{
	for (size_t i = 0; p != NULL && i < p->n; i++)
		if ((strcmp(p->rules[i].caller, caller) == 0 ||
		     strcmp(p->rules[i].caller, "*") == 0) &&
		    (strcmp(p->rules[i].method, method) == 0 ||
		     strcmp(p->rules[i].method, "*") == 0))
			return &p->rules[i];
	return NULL;
}

int meshi_policy_allows(const mesh_policy *p, const char *caller, const char *method)
{
	return policy_match(p, caller, method) != NULL;
}

int mesh_policy_decide(const mesh_policy *p, const char *caller, const char *method, char *rule,
		       size_t rulelen)
{
	const policy_rule *r = policy_match(p, caller, method);
	char allowed[256];
	if (r != NULL) {
		snprintf(rule, rulelen, "%s %s%s%s", r->caller, r->method, r->why[0] ? " # " : "",
			 r->why);
		return 1;
	}
	meshi_policy_callers(p, method, allowed, sizeof(allowed));
	snprintf(rule, rulelen, "default deny; allowed callers: %s%s", allowed,
		 p == NULL ? ", the server has no policy" : "");
	return 0;
}

void mesh_policy_set_audit(mesh_policy *p, int audit)
{
	p->audit = audit != 0;
}

int mesh_policy_audits(const mesh_policy *p)
{
	return p != NULL && p->audit;
}

void meshi_policy_callers(const mesh_policy *p, const char *method, char *out, size_t outlen)
{
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; p != NULL && i < p->n && used < outlen; i++)
		if (strcmp(p->rules[i].method, method) == 0 ||
		    strcmp(p->rules[i].method, "*") == 0) {
			int n = snprintf(out + used, outlen - used, "%s%s", used ? ", " : "",
					 p->rules[i].caller);
			if (n > 0)
				used += (size_t)n;
		}
	if (out[0] == '\0')
		snprintf(out, outlen, "nobody");
}

void mesh_policy_free(mesh_policy *p)
{
	if (p == NULL)
		return;
	free(p->rules);
	free(p);
}

int meshi_uid_is_owner(uid_t uid)
{
	return uid == geteuid() || uid == 0;
}

int meshi_identity_of_uid(uid_t uid, char *out, size_t outlen)
{
	/* one lookup per thread and uid: a connection's calls come from one uid */
	static __thread uid_t cached_uid = (uid_t)-1;
	static __thread char cached[MESHI_IDENTITY_MAX];
	static uid_t own_uid = (uid_t)-1; /* a process's uid does not change under it here */
	struct passwd pw, *found = NULL;
	char buf[1024];
	out[0] = '\0';
	if (own_uid == (uid_t)-1)
		own_uid = getuid();
	if (uid == own_uid)
		return 0;
	if (uid == cached_uid) {
		snprintf(out, outlen, "%s", cached);
		return 1;
	}
	if (uid == 0) {
		snprintf(out, outlen, "root");
		return 1;
	}
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0 && found != NULL &&
	    strncmp(found->pw_name, "cleave-", 7) == 0 && found->pw_name[7] != '\0')
		snprintf(out, outlen, "%s", found->pw_name + 7);
	else
		snprintf(out, outlen, "uid:%ld", (long)uid);
	cached_uid = uid;
	snprintf(cached, sizeof(cached), "%s", out);
	return 1;
}
