/* svc.h: what the forum's services share: an implementation that carries its store and the
 * clients of its callees, checks of inputs, store results as mesh statuses, idempotent creates,
 * and calls that check a referenced record exists. A store error (INTERNAL) is logged with
 * mesh_log, with the store operation that failed. */
#ifndef CLEAVE_SVC_H
#define CLEAVE_SVC_H

#include <stddef.h>
#include <stdint.h>

#include "mesh.h"
#include "service.h"
#include "store.h"

/* A List's page: limit 0 (unset) means SVC_PAGE_DEFAULT rows, and no page holds more than
 * SVC_PAGE_MAX, whoever calls (the edge or any other mesh caller). */
#define SVC_PAGE_DEFAULT 100
#define SVC_PAGE_MAX	 1000

/* svc_prepare: what a standard Create does with its request before its row is stored: checks
 * it, and fills what the row holds beyond the request's fields (which row has already). Returns
 * 0, or -1 after mesh_fail (the call then ends with that failure). service is the
 * implementation (svc_store, svc_deps); input and row are borrowed for the call. */
typedef int (*svc_prepare)(ProtobufCService *service, const ProtobufCMessage *input,
			   ProtobufCMessage *row, void *closure_data);

/* svc_check: a record of another service that a standard Create's request names and that must
 * exist: the request's int64 field (its id) is looked up with dependency's Get, whose request is
 * get_request (one int64 field, id). The checks of a Create are made after its prepare, all at
 * once when the call is served on an event-loop thread (its thread's own clients: the thread
 * serves other calls meanwhile), one after the other otherwise (the blocking clients); the first
 * failing in the spec's order answers, as svc_check_exists says. */
typedef struct svc_check {
	const char *field;	/* the Create request's field holding the id, "created_by" */
	const char *what;	/* the record's name in messages, "user" */
	const char *dependency; /* the service to ask, "users" */
	const ProtobufCMessageDescriptor *get_request;
} svc_check;

#define SVC_MAX_CHECKS 4

/* svc_spec: what a service is made of. */
typedef struct svc_spec {
	const ProtobufCServiceDescriptor *service; /* its protobuf service */
	/* the methods it writes itself: a protobuf-c service struct of service (its
	 * ..._BASE_INIT, then the methods; NULL ones are the store's), or NULL for none */
	const ProtobufCService *methods;
	svc_prepare prepare; /* what a standard Create does first, or NULL */
	/* the records a standard Create's request names that must exist, ending with a NULL
	 * field (at most SVC_MAX_CHECKS); NULL for none */
	const svc_check *checks;
	store_opts store; /* its store (dir, seed and sync come from the environment) */
} svc_spec;

/* svc_open is a service's rt_service_def open: it makes the implementation the runtime serves,
 * carrying the store opened with spec->store and env->deps (svc_store, svc_deps). A method the
 * service does not write is answered by the store, as its shape says (else svc_open fails,
 * naming it):
 * - Get: a request of one int64 id, a reply of the row: that row, or NOT_FOUND ("user 9 not
 *   found", named after the row's message);
 * - List: a request of int32 limit, int64 after and at most one int64 field the store indexes,
 *   a reply of the repeated rows and int64 next_after: a page of the rows whose field equals the
 *   request's (every row without one), at most limit of them (1 to SVC_PAGE_MAX; 0 is
 *   SVC_PAGE_DEFAULT), ids above after, and the next page's after (0 on the last);
 * - Create: a request of fields of the row, a reply of the row: the answer given before to the
 *   same idempotency key, else the request's fields as a new row, prepared by spec->prepare,
 *   whose stored form is the answer (ALREADY_EXISTS naming a unique field that clashes).
 * spec and env are borrowed. On success *out is the runtime's, to close with svc_close. Returns
 * 0, or -1 with the reason in err. */
int svc_open(const rt_service_env *env, const svc_spec *spec, ProtobufCService **out, char *err,
	     size_t errlen);

/* SVC_DEFINE defines svc_##_def, the rt_service_def of the service called svc_ (svc/<svc_>/,
 * seeded from svc/<svc_>/seed.json), whose methods are all the store's: service is its protobuf
 * service's descriptor, calls the services it calls (an rt_dependency array, or NULL), prepare
 * what a Create does first (or NULL), and the rest the store's options as designated
 * initializers (.row = ..., .unique = ...). */
#define SVC_DEFINE(svc_, service_, calls_, prepare_, ...)                                          \
	SVC_DEFINE_CHECKED(svc_, service_, calls_, prepare_, NULL, __VA_ARGS__)

/* SVC_DEFINE_CHECKED is SVC_DEFINE for a service whose Create checks records of others exist
 * (checks_: an svc_check array, see svc_check). */
#define SVC_DEFINE_CHECKED(svc_, service_, calls_, prepare_, checks_, ...)                         \
	static int svc_##_open(const rt_service_env *env, ProtobufCService **impl, char *err,      \
			       size_t errlen)                                                      \
	{                                                                                          \
		static const svc_spec spec = {.service = (service_),                               \
					      .prepare = (prepare_),                               \
					      .checks = (checks_),                                 \
					      .store = {.name = #svc_, __VA_ARGS__}};              \
		return svc_open(env, &spec, impl, err, errlen);                                    \
	}                                                                                          \
	const rt_service_def svc_##_def = {                                                        \
	    .name = #svc_,                                                                         \
	    .service = (service_),                                                                 \
	    .default_seed = CLEAVE_SOURCE_DIR "/svc/" #svc_ "/seed.json",                          \
	    .calls = (calls_),                                                                     \
	    .open = svc_##_open,                                                                   \
	    .count = svc_count,                                                                    \
	    .read_batch = svc_read_batch,                                                          \
	    .close = svc_close,                                                                    \
	}

/* svc_store returns the store of an implementation svc_open made; it belongs to it. */
store *svc_store(const void *service);

/* svc_deps returns the clients of the services an implementation svc_open made calls. */
const rt_deps *svc_deps(const void *service);

/* svc_count is a service's rt_service_def count: the rows its store holds. */
int64_t svc_count(ProtobufCService *impl);

/* svc_read_batch is a service's rt_service_def read_batch: store_read_batch on its store. */
void svc_read_batch(ProtobufCService *impl, int on);

/* svc_close is a service's rt_service_def close: closes the store and frees impl. */
void svc_close(ProtobufCService *impl);

/* svc_check_page fails the call (INVALID_ARGUMENT) unless *limit is 0 (unset) or 1 to
 * SVC_PAGE_MAX and after is not negative. On success it sets *limit (the caller's) to the page's
 * size, SVC_PAGE_DEFAULT for 0. Returns 0 if the page is valid, -1 if it failed. */
int svc_check_page(void *closure_data, int32_t *limit, int64_t after);

/* svc_check_text fails the call (INVALID_ARGUMENT, naming field) unless text is valid UTF-8 of
 * min to max characters. Returns 0 or -1. */
int svc_check_text(void *closure_data, const char *field, const char *text, long min, long max);

/* svc_check_id fails the call (INVALID_ARGUMENT, naming field) unless id is positive. */
int svc_check_id(void *closure_data, const char *field, int64_t id);

/* svc_check_exists calls Get(id) on dependency (a short name, "users", one of deps) on behalf of
 * the call being served (the call's deadline and request id go with it): a missing record fails the
 * call with FAILED_PRECONDITION ("user 9 does not exist", what being "user"); the dependency's own
 * failure (UNAVAILABLE, DEADLINE_EXCEEDED...) fails it with that status. Either way the failed
 * check is logged (mesh_log) with the dependency's answer. request is an initialised Get request
 * whose id field is set. Returns 0 if the record exists, -1 if the call failed. */
int svc_check_exists(void *closure_data, const rt_deps *deps, const char *dependency,
		     const char *what, int64_t id, const ProtobufCMessage *request);

#endif
