/* resolve_test.c: DNS names in mesh URLs (runtime/resolve.c): which URLs are names, checking
 * addresses, resolving to every address, applying a resolution to a loop client, re-resolving
 * on a thread, and the interval's parsing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "harness.h"
#include "mesh.h"
#include "resolve.h"
#include "sample.pb-c.h"

START_TEST(test_resolve_names_and_literals)
{
	ck_assert_int_eq(rt_resolve_is_name("tcp://users:7000"), 1);
	ck_assert_int_eq(rt_resolve_is_name("tls+tcp://users.internal:7000"), 1);
	ck_assert_int_eq(rt_resolve_is_name("tcp4://localhost:1"), 1);
	ck_assert_int_eq(rt_resolve_is_name("tcp://10.0.0.2:7000"), 0);
	ck_assert_int_eq(rt_resolve_is_name("tcp://[::1]:7000"), 0);
	ck_assert_int_eq(rt_resolve_is_name("tcp://[fe80::1]:7000"), 0);
	ck_assert_int_eq(rt_resolve_is_name("tcp://*:7000"), 0);
	ck_assert_int_eq(rt_resolve_is_name("tcp://:7000"), 0);
	ck_assert_int_eq(rt_resolve_is_name("ipc:///tmp/users.sock"), 0);
	ck_assert_int_eq(rt_resolve_is_name("inproc://users"), 0);
	ck_assert_int_eq(rt_resolve_is_name("ws://users:80/x"), 0);
	ck_assert_int_eq(rt_resolve_is_name("users:7000"), 0);
}
END_TEST

START_TEST(test_resolve_checks_addresses)
{
	char err[256];
	ck_assert_int_eq(rt_resolve_check_url("tcp://users:7000", 0, err, sizeof(err)), 0);
	ck_assert_int_eq(rt_resolve_check_url("tcp://[::1]:7000", 0, err, sizeof(err)), 0);
	ck_assert_int_eq(rt_resolve_check_url("ipc:///tmp/x.sock", 0, err, sizeof(err)), 0);
	ck_assert_int_eq(rt_resolve_check_url("tcp://0.0.0.0:7000", 1, err, sizeof(err)), 0);
	ck_assert_int_eq(rt_resolve_check_url("tcp://*:0", 1, err, sizeof(err)), 0);
	ck_assert_int_eq(rt_resolve_check_url("tcp://users", 0, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "no port"));
	ck_assert_int_eq(rt_resolve_check_url("tcp://users:0", 0, err, sizeof(err)), -1);
	ck_assert_int_eq(rt_resolve_check_url("tcp://users:70000", 0, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "1 to 65535"));
	ck_assert_int_eq(rt_resolve_check_url("tcp://users:7x", 0, err, sizeof(err)), -1);
	ck_assert_int_eq(rt_resolve_check_url("tcp://:7000", 0, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "no host"));
	ck_assert_int_eq(rt_resolve_check_url("tcp://[::1:7000", 0, err, sizeof(err)), -1);
	ck_assert_int_eq(rt_resolve_check_url("users:7000", 0, err, sizeof(err)), -1);
	ck_assert_int_eq(rt_resolve_check_url("tcp://", 0, err, sizeof(err)), -1);
	ck_assert_int_eq(rt_resolve_check_list("tcp://a:1,tcp://b:2", 0, err, sizeof(err)), 0);
	ck_assert_int_eq(rt_resolve_check_list("tcp://a:1,,tcp://b:2", 0, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "empty address"));
	ck_assert_int_eq(rt_resolve_check_list("tcp://a:1,", 0, err, sizeof(err)), -1);
	ck_assert_int_eq(rt_resolve_check_list("", 0, err, sizeof(err)), -1);
	ck_assert_int_eq(rt_resolve_check_list("tcp://a:1,tcp://b", 0, err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_resolve_localhost_keeps_scheme_and_port)
{
	rt_target *ts;
	size_t n;
	char err[256];
	int found = 0;
	ck_assert_int_eq(rt_resolve_url("tcp://localhost:7123", &ts, &n, err, sizeof(err)), 0);
	ck_assert_uint_ge(n, 1);
	for (size_t i = 0; i < n; i++) {
		found |= strcmp(ts[i].url, "tcp://127.0.0.1:7123") == 0;
		/* every address is a literal now, IPv6 bracketed, and listed once */
		ck_assert_int_eq(rt_resolve_is_name(ts[i].url), 0);
		ck_assert_int_eq(rt_resolve_check_url(ts[i].url, 0, err, sizeof(err)), 0);
		for (size_t k = 0; k < i; k++)
			ck_assert_str_ne(ts[i].url, ts[k].url);
	}
	ck_assert(found);
	free(ts);
	ck_assert_int_eq(rt_resolve_url("tls+tcp4://localhost:9", &ts, &n, err, sizeof(err)), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(ts[0].url, "tls+tcp4://127.0.0.1:9");
	free(ts);
	ck_assert_int_eq(
	    rt_resolve_url("tcp://no-such-host.invalid:7000", &ts, &n, err, sizeof(err)), -1);
	ck_assert_ptr_null(ts);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_nonnull(strstr(err, "no-such-host.invalid"));
}
END_TEST

/* listed says whether client lists an instance dialed at url. */
static int listed(const mesh_client *c, const char *url)
{
	mesh_instance_info info[8];
	size_t n = mesh_client_instance_info(c, info, 8);
	for (size_t i = 0; i < n && i < 8; i++)
		if (strcmp(info[i].url, url) == 0)
			return 1;
	return 0;
}

/* set_found makes w's last resolution the n urls, as a refresh that saw them would. */
static void set_found(rt_resolve_watch *w, const char *const *urls, size_t n)
{
	free(w->found);
	w->found = calloc(n, sizeof(*w->found));
	for (size_t i = 0; i < n; i++)
		snprintf(w->found[i].url, sizeof(w->found[i].url), "%s", urls[i]);
	w->nfound = n;
	w->generation++;
}

START_TEST(test_resolve_sync_dials_new_and_undials_vanished)
{
	static const char *const first[] = {"tcp://127.0.0.1:1", "tcp://127.0.0.2:1"};
	static const char *const second[] = {"tcp://127.0.0.2:1", "tcp://127.0.0.3:1"};
	rt_resolve_watch w;
	mesh_epoll *ep;
	mesh_client *c;
	mesh_client_opts o = {.caller = "test"};
	ck_assert_int_eq(mesh_epoll_new(&ep), 0);
	o.loop = mesh_epoll_loop(ep);
	ck_assert_int_eq(mesh_client_new(&c, &sample__echo__descriptor, &o), 0);
	ck_assert_int_eq(rt_resolve_watch_init(&w, "tcp://svc.invalid:1", "test: svc"), 0);
	/* nothing resolved yet: nothing to apply */
	ck_assert_int_eq(rt_resolve_sync(&w, c), 0);
	/* a name that does not resolve keeps what it had (nothing), and changes nothing */
	ck_assert_int_eq(rt_resolve_refresh(&w), -1);
	ck_assert_int_eq(rt_resolve_sync(&w, c), 0);
	set_found(&w, first, 2);
	ck_assert_int_eq(rt_resolve_sync(&w, c), 1);
	ck_assert(listed(c, first[0]) && listed(c, first[1]));
	ck_assert_int_eq(rt_resolve_sync(&w, c), 0); /* applied already */
	/* a failed refresh keeps the two addresses */
	ck_assert_int_eq(rt_resolve_refresh(&w), -1);
	ck_assert_uint_eq(w.nfound, 2);
	ck_assert_int_eq(rt_resolve_sync(&w, c), 0);
	set_found(&w, second, 2);
	ck_assert_int_eq(rt_resolve_sync(&w, c), 1);
	for (int i = 0; i < 10; i++)
		mesh_epoll_run(ep, 0); /* an undialed instance is freed at the end of a turn */
	ck_assert(!listed(c, first[0]));
	ck_assert(listed(c, second[0]) && listed(c, second[1]));
	ck_assert_uint_eq(mesh_client_instance_info(c, NULL, 0), 2);
	rt_resolve_watch_fini(&w);
	mesh_client_free(c);
	mesh_epoll_free(ep);
}
END_TEST

START_TEST(test_resolver_thread_refreshes)
{
	rt_resolve_watch w, *ws[1] = {&w};
	rt_resolver *r;
	long long start;
	ck_assert_int_eq(rt_resolve_watch_init(&w, "tcp://localhost:7124", "test: local"), 0);
	ck_assert_int_eq(rt_resolver_start(&r, ws, 1, 20), 0);
	start = harness_now_ms();
	for (;;) {
		uint64_t g;
		pthread_mutex_lock(&w.lock);
		g = w.generation;
		pthread_mutex_unlock(&w.lock);
		if (g > 0 || harness_now_ms() - start > 5000)
			break;
		harness_sleep_ms(5);
	}
	rt_resolver_stop(r);
	ck_assert_uint_eq(w.generation, 1); /* the same answer again is no change */
	ck_assert_uint_ge(w.nfound, 1);
	rt_resolver_stop(NULL);
	rt_resolve_watch_fini(&w);
}
END_TEST

START_TEST(test_resolve_interval)
{
	char err[256];
	int ms = 0;
	ck_assert_int_eq(rt_resolve_interval_parse("500", &ms), 0);
	ck_assert_int_eq(ms, 500);
	ck_assert_int_eq(rt_resolve_interval_parse("5", &ms), -1);
	ck_assert_int_eq(rt_resolve_interval_parse("abc", &ms), -1);
	ck_assert_int_eq(rt_resolve_interval_parse("", &ms), -1);
	ck_assert_int_eq(rt_resolve_interval_parse("100000000", &ms), -1);
	unsetenv("CLEAVE_RESOLVE_INTERVAL_MS");
	ck_assert_int_eq(rt_resolve_interval_env(err, sizeof(err)), RT_RESOLVE_INTERVAL_DEFAULT_MS);
	setenv("CLEAVE_RESOLVE_INTERVAL_MS", "750", 1);
	ck_assert_int_eq(rt_resolve_interval_env(err, sizeof(err)), 750);
	setenv("CLEAVE_RESOLVE_INTERVAL_MS", "soon", 1);
	ck_assert_int_eq(rt_resolve_interval_env(err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "CLEAVE_RESOLVE_INTERVAL_MS"));
	unsetenv("CLEAVE_RESOLVE_INTERVAL_MS");
}
END_TEST

static Suite *rt_resolve_suite(void)
{
	Suite *s = suite_create("resolve");
	TCase *tc = tcase_create("resolve");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_resolve_names_and_literals);
	tcase_add_test(tc, test_resolve_checks_addresses);
	tcase_add_test(tc, test_resolve_localhost_keeps_scheme_and_port);
	tcase_add_test(tc, test_resolve_sync_dials_new_and_undials_vanished);
	tcase_add_test(tc, test_resolver_thread_refreshes);
	tcase_add_test(tc, test_resolve_interval);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(rt_resolve_suite(), 0);
}
