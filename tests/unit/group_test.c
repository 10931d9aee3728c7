/* group_test.c: runtime target groups (runtime/group.c): instances from a list of addresses or a
 * target file, followed as the file changes, on an event loop's timer and on the group's own
 * thread; health checks from the group's options; clear errors for addresses it cannot dial.
 *
 * Two Echo servers run in the test process; waits are bounded polls. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "echo.h"
#include "group.h"
#include "harness.h"
#include "mesh.h"
#include "sample.pb-c.h"
#include "targets.h"

#define WAIT_MS 5000

static char dir[128], url_a[256], url_b[256], targets[256];
static mesh_server *server_a, *server_b;

static void setup(void)
{
	ck_assert_int_eq(harness_tmpdir(dir, sizeof(dir)), 0);
	snprintf(url_a, sizeof(url_a), "ipc://%s/a.sock", dir);
	snprintf(url_b, sizeof(url_b), "ipc://%s/b.sock", dir);
	snprintf(targets, sizeof(targets), "%s/echo.targets", dir);
	ck_assert_int_eq(echo_server_new(&server_a, NULL), 0);
	ck_assert_int_eq(mesh_server_listen(server_a, url_a), 0);
	ck_assert_int_eq(mesh_server_start(server_a), 0);
	ck_assert_int_eq(echo_server_new(&server_b, NULL), 0);
	ck_assert_int_eq(mesh_server_listen(server_b, url_b), 0);
	ck_assert_int_eq(mesh_server_start(server_b), 0);
}

static void teardown(void)
{
	mesh_server_free(server_a);
	mesh_server_free(server_b);
	harness_rmtree(dir);
}

/* publish writes the target file: url_a and/or url_b, b draining when drain_b is set. */
static void publish(int a, int b, int drain_b)
{
	rt_target t[2];
	size_t n = 0;
	if (a)
		t[n++] = (rt_target){.draining = 0};
	if (a)
		snprintf(t[n - 1].url, sizeof(t[n - 1].url), "%s", url_a);
	if (b) {
		t[n++] = (rt_target){.draining = drain_b};
		snprintf(t[n - 1].url, sizeof(t[n - 1].url), "%s", url_b);
	}
	ck_assert_int_eq(rt_targets_write(targets, t, n), 0);
}

/* state_of returns the state of the instance dialed at url, or -1 if the client has none. */
static int state_of(const rt_group *g, const char *url)
{
	mesh_instance_info info[8];
	size_t n = mesh_client_instance_info(rt_group_client(g), info, 8);
	for (size_t i = 0; i < n && i < 8; i++)
		if (strcmp(info[i].url, url) == 0)
			return (int)info[i].state;
	return -1;
}

/* wait_state runs ep (when given) until url's instance is in state want (-1: gone). */
static int wait_state(mesh_epoll *ep, const rt_group *g, const char *url, int want)
{
	long long until = harness_now_ms() + WAIT_MS;
	while (state_of(g, url) != want && harness_now_ms() < until) {
		if (ep != NULL)
			mesh_epoll_run(ep, 20);
		else
			harness_sleep_ms(20);
	}
	return state_of(g, url) == want;
}

/* get calls Get through a blocking group's client; returns the status. */
static mesh_status get(rt_group *g)
{
	Sample__Inner req = SAMPLE__INNER__INIT;
	char message[MESH_MESSAGE_MAX];
	req.id = 7;
	req.label = "group";
	mesh_status st = mesh_client_call(rt_group_client(g), "Get", &req.base, NULL, NULL, message,
					  sizeof(message));
	if (st != MESH_OK)
		fprintf(stderr, "group_test: Get answered %s: %s\n", mesh_status_name(st), message);
	return st;
}

START_TEST(test_group_follows_its_target_file_on_a_loop)
{
	mesh_epoll *ep;
	rt_group *g;
	char err[256];
	rt_group_opts o = {
	    .name = "echo", .service = &sample__echo__descriptor, .targets = targets};
	ck_assert_int_eq(mesh_epoll_new(&ep), 0);
	o.client.loop = mesh_epoll_loop(ep);
	publish(1, 0, 0);
	ck_assert_msg(rt_group_new(&g, &o, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(rt_group_name(g), "echo");
	ck_assert(wait_state(ep, g, url_a, MESH_INSTANCE_HEALTHY));
	ck_assert_int_eq(state_of(g, url_b), -1);
	/* an instance added to the file is dialed, one marked draining drained, one gone closed */
	publish(1, 1, 0);
	ck_assert(wait_state(ep, g, url_b, MESH_INSTANCE_HEALTHY));
	publish(1, 1, 1);
	ck_assert(wait_state(ep, g, url_b, MESH_INSTANCE_DRAINING));
	publish(0, 1, 1);
	ck_assert(wait_state(ep, g, url_a, -1));
	ck_assert_int_eq(state_of(g, url_b), MESH_INSTANCE_DRAINING);
	/* draining, then active again (a scale down and up again read without the removal
	 * between): back in service */
	publish(0, 1, 0);
	ck_assert(wait_state(ep, g, url_b, MESH_INSTANCE_HEALTHY));
	rt_group_free(g);
	mesh_epoll_free(ep);
}
END_TEST

START_TEST(test_group_follows_its_target_file_on_its_thread)
{
	rt_group *g;
	char err[256];
	rt_group_opts o = {
	    .name = "echo", .service = &sample__echo__descriptor, .targets = targets};
	publish(0, 1, 0);
	ck_assert_msg(rt_group_new(&g, &o, err, sizeof(err)) == 0, "%s", err);
	ck_assert(wait_state(NULL, g, url_b, MESH_INSTANCE_HEALTHY));
	ck_assert_int_eq(get(g), MESH_OK);
	publish(1, 1, 0);
	ck_assert(wait_state(NULL, g, url_a, MESH_INSTANCE_HEALTHY));
	/* a blocking client cannot drain one connection: a vanished instance is closed */
	publish(1, 0, 0);
	ck_assert(wait_state(NULL, g, url_b, -1));
	/* its dialer is gone at once; its connection closes on nng's thread a moment later */
	for (long long until = harness_now_ms() + WAIT_MS;
	     mesh_client_instances(rt_group_client(g)) != 1 && harness_now_ms() < until;)
		harness_sleep_ms(20);
	ck_assert_int_eq(mesh_client_instances(rt_group_client(g)), 1);
	ck_assert_int_eq(get(g), MESH_OK);
	rt_group_free(g);
}
END_TEST

START_TEST(test_group_dials_its_addresses_and_checks_them)
{
	mesh_epoll *ep;
	rt_group *g;
	char urls[600], err[256];
	rt_group_opts o = {.name = "echo",
			   .service = &sample__echo__descriptor,
			   .urls = urls,
			   .health = {.interval_ms = 100, .timeout_ms = 2000}};
	snprintf(urls, sizeof(urls), "%s,%s", url_a, url_b);
	ck_assert_int_eq(mesh_epoll_new(&ep), 0);
	o.client.loop = mesh_epoll_loop(ep);
	ck_assert_msg(rt_group_new(&g, &o, err, sizeof(err)) == 0, "%s", err);
	/* checked: STARTING until a Health answer makes them HEALTHY */
	ck_assert(wait_state(ep, g, url_a, MESH_INSTANCE_HEALTHY));
	ck_assert(wait_state(ep, g, url_b, MESH_INSTANCE_HEALTHY));
	rt_group_free(g);
	mesh_epoll_free(ep);
}
END_TEST

START_TEST(test_group_refuses_what_it_cannot_dial)
{
	mesh_epoll *ep;
	rt_group *g = NULL;
	char err[256] = "";
	rt_group_opts o = {
	    .name = "echo", .service = &sample__echo__descriptor, .urls = "bogus://somewhere"};
	/* a blocking client (nng) and a loop client alike */
	ck_assert_int_eq(rt_group_new(&g, &o, err, sizeof(err)), EINVAL);
	ck_assert_msg(strstr(err, "cannot dial 'bogus://somewhere'") != NULL, "said: %s", err);
	ck_assert_int_eq(mesh_epoll_new(&ep), 0);
	o.client.loop = mesh_epoll_loop(ep);
	err[0] = '\0';
	ck_assert_int_eq(rt_group_new(&g, &o, err, sizeof(err)), EINVAL);
	ck_assert_msg(strstr(err, "echo: cannot dial 'bogus://somewhere'") != NULL, "said: %s",
		      err);
	mesh_epoll_free(ep);
}
END_TEST

/* test_targets_file_carries_who_serves: the uid each line may name survives a write and a read;
 * a line with a malformed uid, or anything after it, makes the file malformed. */
START_TEST(test_targets_file_carries_who_serves)
{
	rt_target t[2] = {{.has_uid = 1, .uid = 4242}, {.draining = 1}}, *got = NULL;
	size_t n = 0;
	static const char *const bad[] = {"ipc:///x.sock active uid=",
					  "ipc:///x.sock active uid=-1",
					  "ipc:///x.sock active uid=12x",
					  "ipc:///x.sock active user=12",
					  "ipc:///x.sock active uid=99999999999",
					  "ipc:///x.sock active uid=1 more"};
	snprintf(t[0].url, sizeof(t[0].url), "%s", url_a);
	snprintf(t[1].url, sizeof(t[1].url), "%s", url_b);
	ck_assert_int_eq(rt_targets_write(targets, t, 2), 0);
	ck_assert_int_eq(rt_targets_read(targets, &got, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(got[0].url, url_a);
	ck_assert_int_eq(got[0].has_uid, 1);
	ck_assert_uint_eq(got[0].uid, 4242);
	ck_assert_int_eq(got[0].draining, 0);
	ck_assert_int_eq(got[1].has_uid, 0);
	ck_assert_int_eq(got[1].draining, 1);
	free(got);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		FILE *f = fopen(targets, "w");
		ck_assert_ptr_nonnull(f);
		fprintf(f, "%s\n", bad[i]);
		fclose(f);
		got = NULL;
		ck_assert_msg(rt_targets_read(targets, &got, &n) == -1 && errno == EINVAL,
			      "'%s' was read", bad[i]);
		free(got);
	}
}
END_TEST

static Suite *group_suite(void)
{
	Suite *s = suite_create("group");
	TCase *tc = tcase_create("group");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_group_follows_its_target_file_on_a_loop);
	tcase_add_test(tc, test_group_follows_its_target_file_on_its_thread);
	tcase_add_test(tc, test_group_dials_its_addresses_and_checks_them);
	tcase_add_test(tc, test_group_refuses_what_it_cannot_dial);
	tcase_add_test(tc, test_targets_file_carries_who_serves);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(group_suite(), 0);
}
