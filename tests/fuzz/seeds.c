/* seeds.c: writes the hand-made seed inputs of every fuzz target into CORPUS/<target>/seed-*.
 *
 *   cmake --build build --target fuzz_seeds && build/tests/fuzz/fuzz_seeds tests/fuzz/corpus
 *
 * The corpora were started from these, then grown by fuzzing and minimized (tests/fuzz/run
 * --merge); the seeds are not needed again unless a corpus is started over. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "mesh.pb-c.h"
#include "posts.pb-c.h"
#include "registry.h"
#include "sample.pb-c.h"
#include "sp.h"
#include "threads.pb-c.h"
#include "users.pb-c.h"

static const char *corpus;
static int nwritten;

static void put(const char *target, const char *name, const void *data, size_t len)
{
	char path[1024];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s/seed-%s", corpus, target, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "fuzz_seeds: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	nwritten++;
}

/* put_selected writes selector byte sel followed by len bytes of data. */
static void put_selected(const char *target, const char *name, uint8_t sel, const void *data,
			 size_t len)
{
	uint8_t *buf = malloc(len + 1);
	buf[0] = sel;
	memcpy(buf + 1, data, len);
	put(target, name, buf, len + 1);
	free(buf);
}

/* ---- route: "METHOD PATH" ----------------------------------------------------------------- */

static void route_seeds(void)
{
	static const char *const lines[] = {
	    "GET /",
	    "GET /api",
	    "GET /api/",
	    "GET /api/users",
	    "GET /api/users/1",
	    "GET /api/users/%31%32",
	    "GET /api/users/1/",
	    "GET /api/users/9223372036854775807",
	    "GET /api/users/9223372036854775808",
	    "GET /api/users/0",
	    "GET /api/users/-1",
	    "GET /api/users/%2F",
	    "GET /api/users/%zz",
	    "GET /api/users/%4",
	    "GET /api/users?limit=2&after=3",
	    "GET /api/users?limit=%31%30&after=+1&other=x",
	    "GET /api/users?after=1&after=2",
	    "GET /api/users?limit=99999999999999999999",
	    "GET /api/threads",
	    "GET /api/threads/3",
	    "GET /api/threads?limit=1",
	    "GET /api/posts",
	    "GET /api/posts/7",
	    "GET /api/posts/in-thread/2",
	    "GET /api/posts/in-thread/2?limit=10&after=4",
	    "GET /api/posts/by-user/4",
	    "GET /api/posts/by-user/abc",
	    "GET /api/posts/in%2Dthread/2",
	    "GET //api//users//",
	    "GET /api/nothing/here",
	    "GET /a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q",
	    "HEAD /api/threads/3",
	    "POST /api/posts",
	    "POST /api/users/1",
	    "OPTIONS /api/users",
	    "DELETE /api/users/1",
	    "BREW /api/users",
	    "/api/posts/7?x",
	    "api/users",
	};
	char name[16];
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		snprintf(name, sizeof(name), "%02zu", i);
		put("route", name, lines[i], strlen(lines[i]));
	}
}

/* ---- json_decode: selector byte, then a JSON body ----------------------------------------- */

/* The first targets of fuzz_json_decode.c: the routes with a body, in manifest order, then
 * sample's Everything and Inner. */
enum { SEL_POSTS, SEL_THREADS, SEL_USERS, SEL_EVERYTHING, SEL_INNER };

static void json_decode_seeds(void)
{
	static const struct {
		uint8_t sel;
		const char *body;
	} bodies[] = {
	    {SEL_USERS,
	     "{\"username\":\"bmo\",\"name\":\"BMO\",\"bio\":\"Living video game console\"}"},
	    {SEL_USERS, "{\"username\":\"gunter\",\"name\":\"Gunter\"}"},
	    {SEL_USERS, "{\"name\":\"No Username\"}"},
	    {SEL_USERS, "{\"username\":\"x\",\"name\":\"x\",\"age\":3}"},
	    {SEL_USERS, "{\"username\":5,\"name\":\"x\"}"},
	    {SEL_USERS, "{\"username\":\"x\",\"name\":[\"x\"]}"},
	    {SEL_USERS, "{\"username\":\"x\",\"username\":\"y\",\"name\":\"z\"}"},
	    {SEL_USERS, "{\"username\":\"bad\xff\",\"name\":\"x\"}"},
	    {SEL_USERS, "{\"username\":\"caf\\u00e9\",\"name\":\"\\ud83d\\ude00\\n\"}"},
	    {SEL_USERS, "[1,2]"},
	    {SEL_USERS, "{\"username\":\"a\",\"name\":\"b\""},
	    {SEL_THREADS, "{\"title\":\"Lost\",\"createdBy\":999}"},
	    {SEL_THREADS, "{\"title\":\"x\",\"createdBy\":-4}"},
	    {SEL_THREADS, "{\"title\":\"x\",\"createdBy\":\"1\"}"},
	    {SEL_THREADS, "{\"title\":\"Snail sightings\",\"created_by\":3}"},
	    {SEL_THREADS, "{\"title\":\"x\",\"createdBy\":1e3}"},
	    {SEL_THREADS, "{\"title\":\"x\",\"createdBy\":9223372036854775807}"},
	    {SEL_THREADS, "{\"title\":\"x\",\"createdBy\":1.5}"},
	    {SEL_POSTS, "{\"thread\":2,\"text\":\"Count me in!\",\"user\":4}"},
	    {SEL_POSTS, "{\"thread\":1,\"user\":1}"},
	    {SEL_POSTS, "{\"thread\":null,\"text\":\"x\",\"user\":1}"},
	    {SEL_POSTS, " \t{ \"thread\" : 3 , \"text\" : \"\" , \"user\" : 2 } \n"},
	    {SEL_EVERYTHING,
	     "{\"i32\":-42,\"i64\":-9223372036854775808,\"u32\":4294967295,"
	     "\"u64\":9223372036854775807,\"s32\":-2147483648,\"s64\":9223372036854775807,"
	     "\"f32\":7,\"f64\":8,\"sf32\":-9,\"sf64\":-10,\"flt\":1.5,\"dbl\":0.1,\"flag\":true,"
	     "\"text\":\"hi\",\"blob\":\"AAEC\",\"color\":\"GREEN\","
	     "\"inner\":{\"id\":5,\"label\":\"in\"},\"numbers\":[1,-2,3],\"words\":[\"a\",\"b\"],"
	     "\"inners\":[{\"id\":1,\"label\":\"x\"},{\"id\":2,\"label\":\"\"}],\"choiceNumber\":7,"
	     "\"snakeCaseName\":\"snake\"}"},
	    {SEL_EVERYTHING, "{\"choice_text\":\"t\",\"snake_case_name\":\"s\",\"color\":2}"},
	    {SEL_EVERYTHING, "{\"choiceText\":\"t\",\"choiceNumber\":1}"},
	    {SEL_EVERYTHING, "{\"blob\":\"-_8=\",\"flt\":3.4028235e38,\"dbl\":-1e-300}"},
	    {SEL_EVERYTHING, "{\"inner\":null,\"inners\":[null]}"},
	    {SEL_EVERYTHING, "{\"inners\":[{\"id\":1},{\"label\":\"y\",\"id\":2}],\"words\":[]}"},
	    {SEL_EVERYTHING, "{\"color\":\"BLUE\",\"flag\":1}"},
	    {SEL_INNER, "{\"id\":1,\"label\":\"x\"}"},
	    {SEL_INNER, "{}"},
	};
	char name[16];
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		snprintf(name, sizeof(name), "%02zu", i);
		put_selected("json_decode", name, bodies[i].sel, bodies[i].body,
			     strlen(bodies[i].body));
	}
}

/* ---- json_encode: selector byte, then a packed message ------------------------------------ */

/* The targets of fuzz_json_encode.c, built the same way: keep the two in step. */
static const ProtobufCMessageDescriptor *encode_targets[64];
static size_t nencode_targets;

static void encode_add(const ProtobufCMessageDescriptor *desc)
{
	for (size_t i = 0; i < nencode_targets; i++)
		if (encode_targets[i] == desc)
			return;
	encode_targets[nencode_targets++] = desc;
	for (unsigned i = 0; i < desc->n_fields; i++)
		if (desc->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
			encode_add(desc->fields[i].descriptor);
}

static uint8_t encode_selector(const ProtobufCMessageDescriptor *desc)
{
	if (nencode_targets == 0) {
		encode_add(&sample__everything__descriptor);
		encode_add(&sample__inner__descriptor);
		encode_add(&mesh__call__descriptor);
		encode_add(&mesh__reply__descriptor);
		for (size_t i = 0; registry_services[i] != NULL; i++) {
			for (unsigned m = 0; m < registry_services[i]->n_methods; m++) {
				encode_add(registry_services[i]->methods[m].input);
				encode_add(registry_services[i]->methods[m].output);
			}
		}
	}
	for (size_t i = 0; i < nencode_targets; i++)
		if (encode_targets[i] == desc)
			return (uint8_t)i;
	fprintf(stderr, "fuzz_seeds: %s is no target of fuzz_json_encode\n", desc->name);
	exit(1);
}

static void put_packed(const char *target, const char *name, const ProtobufCMessage *msg,
		       int with_selector)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(len + 1);
	protobuf_c_message_pack(msg, buf);
	if (with_selector)
		put_selected(target, name, encode_selector(msg->descriptor), buf, len);
	else
		put(target, name, buf, len);
	free(buf);
}

static void json_encode_seeds(void)
{
	Sample__Everything e = SAMPLE__EVERYTHING__INIT;
	Sample__Inner inner = SAMPLE__INNER__INIT, in1 = SAMPLE__INNER__INIT,
		      in2 = SAMPLE__INNER__INIT;
	Sample__Inner *inners[] = {&in1, &in2};
	int64_t numbers[] = {1, -2, 3};
	char *words[] = {"a", "b\"\\\n\x01\xe2\x82\xac", "\xff\xfe"};
	uint8_t blob[] = {0, 1, 2, 0xff};
	Users__User u1 = USERS__USER__INIT, u2 = USERS__USER__INIT;
	Users__User *users[] = {&u1, &u2};
	Users__ListUsersReply list = USERS__LIST_USERS_REPLY__INIT;
	Threads__Thread thread = THREADS__THREAD__INIT;
	Posts__Post post = POSTS__POST__INIT;
	Mesh__Reply reply = MESH__REPLY__INIT;
	Mesh__Call call = MESH__CALL__INIT;
	Mesh__HealthReply health = MESH__HEALTH_REPLY__INIT;
	Mesh__MethodStats ms = MESH__METHOD_STATS__INIT;
	Mesh__MethodStats *mss[] = {&ms};
	uint64_t buckets[MESH_LATENCY_BUCKETS] = {3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

	e.i32 = -42;
	e.i64 = INT64_MIN;
	e.u32 = UINT32_MAX;
	e.u64 = UINT64_MAX;
	e.s32 = INT32_MIN;
	e.s64 = INT64_MAX;
	e.f32 = 7;
	e.f64 = 8;
	e.sf32 = -9;
	e.sf64 = -10;
	e.flt = 1.5f;
	e.dbl = 0.1;
	e.flag = 1;
	e.text = "hi \xf0\x9f\x98\x80";
	e.blob.data = blob;
	e.blob.len = sizeof(blob);
	e.color = SAMPLE__COLOR__GREEN;
	inner.id = 5;
	inner.label = "in";
	e.inner = &inner;
	e.n_numbers = 3;
	e.numbers = numbers;
	e.n_words = 3;
	e.words = words;
	in1.id = 1;
	in1.label = "x";
	in2.id = 2;
	e.n_inners = 2;
	e.inners = inners;
	e.choice_case = SAMPLE__EVERYTHING__CHOICE_CHOICE_NUMBER;
	e.choice_number = 7;
	e.snake_case_name = "snake";
	put_packed("json_encode", "everything", &e.base, 1);
	e.choice_case = SAMPLE__EVERYTHING__CHOICE_CHOICE_TEXT;
	e.choice_text = "chosen";
	e.flt = 3.4028235e38f;
	e.dbl = 5e-324;
	e.color = (Sample__Color)7;
	put_packed("json_encode", "everything-text", &e.base, 1);
	put_packed("json_encode", "inner", &inner.base, 1);

	u1.id = 1;
	u1.username = "marceline";
	u1.name = "Marceline Abadeer";
	u1.bio = "1000 year old vampire queen, musician";
	u2.id = 2;
	u2.username = "finn";
	u2.name = "Finn";
	list.n_users = 2;
	list.users = users;
	list.next_after = 2;
	put_packed("json_encode", "user", &u1.base, 1);
	put_packed("json_encode", "users", &list.base, 1);
	thread.id = 4;
	thread.title = "Tree fort repairs";
	thread.created_by = 2;
	put_packed("json_encode", "thread", &thread.base, 1);
	post.id = 7;
	post.thread = 2;
	post.text = "Count me in!";
	post.user = 4;
	put_packed("json_encode", "post", &post.base, 1);

	reply.status = MESH__STATUS__NOT_FOUND;
	reply.message = "user 99 not found";
	put_packed("json_encode", "reply", &reply.base, 1);
	call.service = "users.Users";
	call.method = "Get";
	call.timeout_us = 5000000;
	call.trace_id = 0xdeadbeefcafef00dULL;
	call.caller = "edge";
	call.idempotency_key = "7f1c2a";
	put_packed("json_encode", "call", &call.base, 1);

	ms.method = "Get";
	ms.calls = 5;
	ms.errors = 1;
	ms.n_latency_buckets = MESH_LATENCY_BUCKETS;
	ms.latency_buckets = buckets;
	health.service = "users.Users";
	health.pid = 1234;
	health.n_methods = 1;
	health.methods = mss;
	put_packed("json_encode", "health", &health.base, 1);
}

/* ---- envelope: packed mesh.Call or mesh.Reply; dispatch: ipc frames of calls --------------- */

/* frame appends an ipc frame of a request with request id id to buf at *len. */
static void frame(uint8_t *buf, size_t *len, uint32_t id, const uint8_t *call, size_t call_len)
{
	size_t n = meshi_sp_frame_header(buf + *len, SP_IPC, 4 + call_len);
	meshi_sp_put_u32(buf + *len + n, id | SP_REQUEST_ID_BIT);
	memcpy(buf + *len + n + 4, call, call_len);
	*len += n + 4 + call_len;
}

static void put_call_key(const char *name, const char *service, const char *method,
			 const ProtobufCMessage *input, int64_t timeout_us, const char *key,
			 size_t key_len)
{
	meshi_envelope_call c = {.service = service,
				 .service_len = strlen(service),
				 .method = method,
				 .method_len = strlen(method),
				 .timeout_us = timeout_us,
				 .trace_id = 0x1234,
				 .caller = "edge",
				 .caller_len = 4,
				 .idempotency_key = key,
				 .idempotency_key_len = key_len};
	size_t payload_len, size = meshi_envelope_call_size(&c, input, &payload_len), flen = 0;
	uint8_t *buf = malloc(size), *frames = malloc(2 * (size + 13));
	char name2[64];
	meshi_envelope_call_write(buf, &c, input, payload_len);
	put("envelope", name, buf, size);
	frame(frames, &flen, 1, buf, size);
	put("dispatch", name, frames, flen);
	frame(frames, &flen, 2, buf, size); /* two calls on one connection */
	snprintf(name2, sizeof(name2), "%s-2", name);
	put("dispatch", name2, frames, flen);
	free(buf);
	free(frames);
}

static void put_call(const char *name, const char *service, const char *method,
		     const ProtobufCMessage *input, int64_t timeout_us, const char *key)
{
	put_call_key(name, service, method, input, timeout_us, key, key != NULL ? strlen(key) : 0);
}

static void put_reply(const char *name, mesh_status status, const char *message,
		      const ProtobufCMessage *output)
{
	size_t payload_len, size = meshi_envelope_reply_size(status, message, output, &payload_len);
	uint8_t *buf = malloc(size > 0 ? size : 1);
	meshi_envelope_reply_write(buf, status, message, output, payload_len);
	put("envelope", name, buf, size);
	free(buf);
}

static void envelope_seeds(void)
{
	Users__GetUserRequest get = USERS__GET_USER_REQUEST__INIT;
	Users__CreateUserRequest create = USERS__CREATE_USER_REQUEST__INIT;
	Users__ListUsersRequest list = USERS__LIST_USERS_REQUEST__INIT;
	Posts__CreatePostRequest post = POSTS__CREATE_POST_REQUEST__INIT;
	Posts__ListByThreadRequest by_thread = POSTS__LIST_BY_THREAD_REQUEST__INIT;
	Threads__CreateThreadRequest thread = THREADS__CREATE_THREAD_REQUEST__INIT;
	Mesh__HealthRequest health = MESH__HEALTH_REQUEST__INIT;
	Users__User user = USERS__USER__INIT;
	/* a call behind a backtrace of two hops: a device's hop, then the request id */
	static const uint8_t two_hops_call[] = {0x0a, 0x0b, 'u', 's', 'e',  'r',  's', '.', 'U',
						's',  'e',  'r', 's', 0x12, 0x03, 'G', 'e', 't'};
	uint8_t two_hops[9 + 8 + sizeof(two_hops_call)];
	size_t n = meshi_sp_frame_header(two_hops, SP_IPC, 8 + sizeof(two_hops_call));
	meshi_sp_put_u32(two_hops + n, 7);
	meshi_sp_put_u32(two_hops + n + 4, 1 | SP_REQUEST_ID_BIT);
	memcpy(two_hops + n + 8, two_hops_call, sizeof(two_hops_call));
	get.id = 1;
	put_call("call-get", "users.Users", "Get", &get.base, 5000000, NULL);
	get.id = 404;
	put_call("call-get-past", "users.Users", "Get", &get.base, -1, NULL);
	/* the deadline of this one overflowed in dispatch_run (fixed) */
	put_call("call-get-timeout-max", "users.Users", "Get", &get.base, INT64_MAX, NULL);
	create.username = "bmo";
	create.name = "BMO";
	create.bio = "Living video game console";
	put_call("call-create", "users.Users", "Create", &create.base, 5000000, "7f1c2a");
	list.limit = 2;
	list.after = 3;
	put_call("call-list", "users.Users", "List", &list.base, 0, NULL);
	post.thread = 2;
	post.text = "Count me in!";
	post.user = 4;
	put_call("call-post", "posts.Posts", "Create", &post.base, 250000, "k");
	/* this key reached the method as "a" (fixed: refused) */
	put_call_key("call-post-key-nul", "posts.Posts", "Create", &post.base, 250000, "a\0b", 3);
	by_thread.thread = 2;
	by_thread.limit = 10;
	put_call("call-by-thread", "posts.Posts", "ListByThread", &by_thread.base, 1000, NULL);
	thread.title = "Tree fort repairs";
	thread.created_by = 2;
	put_call("call-thread", "threads.Threads", "Create", &thread.base, 5000000, NULL);
	put_call("call-health", "mesh.Mesh", "Health", &health.base, 1000000, NULL);
	put_call("call-status", "meshctl.Control", "Status", &health.base, 1000000, NULL);
	put_call("call-unknown-method", "users.Users", "Delete", &get.base, 1000000, NULL);
	put_call("call-unknown-service", "nope.Nope", "Get", &get.base, 1000000, NULL);
	put("dispatch", "two-hops", two_hops, sizeof(two_hops));

	user.id = 1;
	user.username = "marceline";
	user.name = "Marceline Abadeer";
	put_reply("reply-ok", MESH_OK, NULL, &user.base);
	put_reply("reply-not-found", MESH_NOT_FOUND, "user 99 not found", NULL);
	put_reply("reply-unavailable", MESH_UNAVAILABLE, "no instance", NULL);
	put_reply("empty", MESH_OK, NULL, NULL);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_seeds CORPUS_DIR\n");
		return 2;
	}
	corpus = argv[1];
	route_seeds();
	json_decode_seeds();
	json_encode_seeds();
	envelope_seeds();
	printf("fuzz_seeds: %d seeds written under %s\n", nwritten, corpus);
	return 0;
}
