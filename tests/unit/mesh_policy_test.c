/* mesh_policy_test.c: the call policy as a server applies it: which rule decides and why, rules'
 * reasons from a policy file, denials counted, and audit mode logging and counting what it would
 * deny while running the call. One Echo server in the test process; callers claim who they are
 * (one uid: the claim is the identity). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "echo.h"
#include "harness.h"
#include "mesh.h"
#include "mesh.pb-c.h"
#include "sample.pb-c.h"

static char dir[128], url[256];

static void setup(void)
{
	ck_assert_int_eq(harness_tmpdir(dir, sizeof(dir)), 0);
	snprintf(url, sizeof(url), "ipc://%s/echo.sock", dir);
}

static void teardown(void)
{
	harness_rmtree(dir);
}

/* write_policy writes text to DIR/policy and returns its path (static). */
static const char *write_policy(const char *text)
{
	static char path[300];
	FILE *f;
	snprintf(path, sizeof(path), "%s/policy", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

START_TEST(test_policy_decide_names_the_rule)
{
	mesh_policy *p;
	char err[256], rule[256];
	ck_assert_int_eq(mesh_policy_load(write_policy("# who may call echo\n"
						       "edge Get   # GET /api/echo\n"
						       "friend *\n"
						       "* Slow # anyone may wait\n"),
					  &p, err, sizeof(err)),
			 0);
	ck_assert_int_eq(mesh_policy_decide(p, "edge", "Get", rule, sizeof(rule)), 1);
	ck_assert_str_eq(rule, "edge Get # GET /api/echo");
	ck_assert_int_eq(mesh_policy_decide(p, "friend", "Fail", rule, sizeof(rule)), 1);
	ck_assert_str_eq(rule, "friend *");
	ck_assert_int_eq(mesh_policy_decide(p, "anonymous", "Slow", rule, sizeof(rule)), 1);
	ck_assert_str_eq(rule, "* Slow # anyone may wait");
	ck_assert_int_eq(mesh_policy_decide(p, "edge", "Fail", rule, sizeof(rule)), 0);
	ck_assert_str_eq(rule, "default deny; allowed callers: friend");
	ck_assert_int_eq(mesh_policy_decide(p, "stranger", "Get", rule, sizeof(rule)), 0);
	ck_assert_str_eq(rule, "default deny; allowed callers: edge, friend");
	ck_assert_int_eq(mesh_policy_audits(p), 0);
	mesh_policy_set_audit(p, 1);
	ck_assert_int_eq(mesh_policy_audits(p), 1);
	/* audit mode changes what a server does, not what the policy decides */
	ck_assert_int_eq(mesh_policy_decide(p, "stranger", "Get", rule, sizeof(rule)), 0);
	mesh_policy_free(p);
	ck_assert_int_eq(mesh_policy_decide(NULL, "edge", "Get", rule, sizeof(rule)), 0);
	ck_assert_str_eq(rule, "default deny; allowed callers: nobody, the server has no policy");
}
END_TEST

/* served_by runs an Echo server under policy (its log lines into DIR/log), calls Get as caller
 * and then Health as "operator" (allowed Health by the policy), and returns Get's status; the
 * Get method's counters are copied to denied and would_deny, Health's audit flag to audit. */
static mesh_status served_by(const mesh_policy *policy, const char *caller, uint64_t *denied,
			     uint64_t *would_deny, int *audit)
{
	mesh_server *server;
	mesh_client *client, *health;
	mesh_client_opts as_caller = {.caller = caller}, as_operator = {.caller = "operator"};
	Sample__Inner in = SAMPLE__INNER__INIT;
	Mesh__HealthRequest hin = MESH__HEALTH_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	char msg[256];
	mesh_status status;
	ck_assert_int_eq(mesh_server_new(&server, &echo_service.base, NULL), 0);
	mesh_server_set_policy(server, policy);
	ck_assert_int_eq(mesh_server_listen(server, url), 0);
	ck_assert_int_eq(mesh_server_start(server), 0);
	ck_assert_int_eq(mesh_client_new(&client, &sample__echo__descriptor, &as_caller), 0);
	ck_assert_int_eq(mesh_client_new(&health, &mesh__mesh__descriptor, &as_operator), 0);
	ck_assert_int_eq(mesh_client_dial(client, url), 0);
	ck_assert_int_eq(mesh_client_dial(health, url), 0);
	for (long long until = harness_now_ms() + 5000;
	     (mesh_client_instances(client) == 0 || mesh_client_instances(health) == 0) &&
	     harness_now_ms() < until;)
		harness_sleep_ms(2);
	in.label = "hello";
	status = mesh_client_call(client, "Get", &in.base, &out, NULL, msg, sizeof(msg));
	if (out != NULL)
		protobuf_c_message_free_unpacked(out, NULL);
	out = NULL;
	ck_assert_int_eq(
	    mesh_client_call(health, "Health", &hin.base, &out, NULL, msg, sizeof(msg)), MESH_OK);
	*denied = *would_deny = 0;
	{
		Mesh__HealthReply *r = (Mesh__HealthReply *)out;
		*audit = r->policy_audit;
		for (size_t i = 0; i < r->n_methods; i++)
			if (strcmp(r->methods[i]->method, "Get") == 0) {
				*denied = r->methods[i]->denied;
				*would_deny = r->methods[i]->would_deny;
			}
	}
	protobuf_c_message_free_unpacked(out, NULL);
	mesh_client_free(health);
	mesh_client_free(client);
	mesh_server_free(server);
	return status;
}

START_TEST(test_server_denies_and_counts_in_enforce_mode)
{
	mesh_policy *p;
	uint64_t denied, would;
	int audit;
	ck_assert_int_eq(mesh_policy_new(&p), 0);
	ck_assert_int_eq(mesh_policy_allow_because(p, "friend", "Get", "a test"), 0);
	ck_assert_int_eq(mesh_policy_allow(p, "operator", "Health"), 0);
	ck_assert_int_eq(served_by(p, "stranger", &denied, &would, &audit), MESH_PERMISSION_DENIED);
	ck_assert_uint_eq(denied, 1);
	ck_assert_uint_eq(would, 0);
	ck_assert_int_eq(audit, 0);
	ck_assert_int_eq(served_by(p, "friend", &denied, &would, &audit), MESH_OK);
	ck_assert_uint_eq(denied, 0);
	mesh_policy_free(p);
}
END_TEST

START_TEST(test_server_in_audit_mode_runs_and_counts_what_it_would_deny)
{
	mesh_policy *p;
	uint64_t denied, would;
	int audit;
	ck_assert_int_eq(mesh_policy_new(&p), 0);
	ck_assert_int_eq(mesh_policy_allow(p, "friend", "Get"), 0);
	ck_assert_int_eq(mesh_policy_allow(p, "operator", "Health"), 0);
	mesh_policy_set_audit(p, 1);
	ck_assert_int_eq(served_by(p, "stranger", &denied, &would, &audit), MESH_OK);
	ck_assert_uint_eq(denied, 0);
	ck_assert_uint_eq(would, 1);
	ck_assert_int_eq(audit, 1);
	/* an allowed call is no would-be denial */
	ck_assert_int_eq(served_by(p, "friend", &denied, &would, &audit), MESH_OK);
	ck_assert_uint_eq(would, 0);
	mesh_policy_free(p);
}
END_TEST

static Suite *policy_suite(void)
{
	Suite *s = suite_create("mesh_policy");
	TCase *tc = harness_tcase("policy", 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_policy_decide_names_the_rule);
	tcase_add_test(tc, test_server_denies_and_counts_in_enforce_mode);
	tcase_add_test(tc, test_server_in_audit_mode_runs_and_counts_what_it_would_deny);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(policy_suite(), 0);
}
