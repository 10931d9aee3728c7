/* stats.h: what each method of a server costs: calls, errors, latency and CPU time, counted per
 * transport thread with no lock and no atomic read-modify-write, and summed for Health.
 *
 * Every transport thread owns a shard: one slot per method of the service, one for Health and
 * one for calls that name no method of the service. Only the owner writes a shard (relaxed
 * atomic loads and stores: plain moves on x86-64); Health reads every shard. */
#ifndef CLEAVE_MESH_STATS_H
#define CLEAVE_MESH_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mesh.h"
#include "mesh.pb-c.h"

/* STATS_CPU_SAMPLE_WALL_NS: CPU time is measured on a sample of the calls. Reading
 * CLOCK_THREAD_CPUTIME_ID is a system call (~0.2 us, twice per measured call, where the rest of
 * the counting costs ~0.05 us), too dear for methods that take a microsecond. A slot measures a
 * call when the method's calls since its last measured one began (that one included) took at
 * least this much wall time: so the call after any slower call, the first call, and about one in
 * (this / latency) of faster ones. The clock then costs at most ~2% of the method's time. The
 * samples are scaled to all calls that reached the implementation. */
#define STATS_CPU_SAMPLE_WALL_NS 20000

/* what the policy did to a call, for meshi_stats_call.policy */
#define MESHI_STATS_DENIED     1
#define MESHI_STATS_WOULD_DENY 2

/* meshi_stats_slot: one method's counters in one shard. */
typedef struct meshi_stats_slot {
	_Atomic uint64_t buckets[MESH_LATENCY_BUCKETS]; /* calls by latency: their sum is calls */
	_Atomic uint64_t errors;			/* calls answered with a status not OK */
	_Atomic uint64_t denied;			/* of those, calls the policy denied */
	_Atomic uint64_t would_deny;	 /* calls an audit-mode policy would have denied */
	_Atomic uint64_t cancelled;	 /* of the errors, calls their caller cancelled */
	_Atomic uint64_t max_ns;	 /* the largest latency seen */
	_Atomic uint64_t invoked;	 /* calls that reached the implementation */
	_Atomic uint64_t sampled;	 /* of those, calls whose CPU was measured */
	_Atomic uint64_t sampled_cpu_ns; /* their thread CPU time */
	uint64_t unsampled_wall_ns; /* owner only: wall time of the calls since the last measured
				     * one began, that one included */
} meshi_stats_slot;

/* meshi_stats_shard: the slots of one transport thread. */
typedef struct meshi_stats_shard {
	struct meshi_stats_shard *next;
	meshi_stats_slot slots[];
} meshi_stats_shard;

/* stats: the counters of one server. */
typedef struct meshi_stats {
	const ProtobufCServiceDescriptor *service;
	size_t nslots; /* service->n_methods, then Health, then "other" */
	_Atomic(meshi_stats_shard *)
	    shards; /* pushed by meshi_stats_shard_new, freed by meshi_stats_fini */
} meshi_stats;

/* meshi_stats_call: what is measured of the call being served. */
typedef struct meshi_stats_call {
	size_t slot;	    /* where the call counts: a method, Health, or other */
	int64_t start_ns;   /* the server started handling the call (CLOCK_MONOTONIC) */
	int64_t replied_ns; /* the reply envelope was packed */
	int invoked;	    /* the implementation ran */
	int policy;	    /* MESHI_STATS_DENIED or MESHI_STATS_WOULD_DENY, else 0 */
	int cancelled;	    /* its caller cancelled it */
	int sampled;	    /* and its thread CPU time was measured */
	int64_t cpu_ns;	    /* thread CPU time at its start, then spent in it */
} meshi_stats_call;

/* meshi_stats_init prepares st for the methods of service; there is nothing to free until a shard
 * is made. */
void meshi_stats_init(meshi_stats *st, const ProtobufCServiceDescriptor *service);

/* meshi_stats_fini frees every shard; no thread may be using one. */
void meshi_stats_fini(meshi_stats *st);

/* meshi_stats_shard_new makes a shard for one transport thread, counted by Health from then on.
 * Returns NULL if memory ran out. */
meshi_stats_shard *meshi_stats_shard_new(meshi_stats *st);

/* meshi_stats_health_slot and meshi_stats_other_slot: the slots of Health and of calls naming no
 * method. */
static inline size_t meshi_stats_health_slot(const meshi_stats *st)
{
	return st->nslots - 2;
}

static inline size_t meshi_stats_other_slot(const meshi_stats *st)
{
	return st->nslots - 1;
}

static inline int64_t meshi_stats_clock_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* meshi_stats_call_start begins measuring a call, counted under "other" until its slot is set. */
static inline void meshi_stats_call_start(const meshi_stats *st, meshi_stats_call *c)
{
	c->slot = meshi_stats_other_slot(st);
	c->start_ns = meshi_stats_clock_ns(CLOCK_MONOTONIC);
	c->replied_ns = c->start_ns;
	c->invoked = 0;
	c->policy = 0;
	c->cancelled = 0;
	c->sampled = 0;
	c->cpu_ns = 0;
}

/* meshi_stats_impl_begin and meshi_stats_impl_end bracket the implementation (the method, or
 * Health). */
static inline void meshi_stats_impl_begin(meshi_stats_shard *sh, meshi_stats_call *c)
{
	c->invoked = 1;
	if (sh->slots[c->slot].unsampled_wall_ns >= STATS_CPU_SAMPLE_WALL_NS) {
		c->sampled = 1;
		c->cpu_ns = meshi_stats_clock_ns(CLOCK_THREAD_CPUTIME_ID);
	}
}

static inline void meshi_stats_impl_end(meshi_stats_call *c)
{
	if (c->sampled)
		c->cpu_ns = meshi_stats_clock_ns(CLOCK_THREAD_CPUTIME_ID) - c->cpu_ns;
}

/* meshi_stats_call_replied notes that the reply envelope is packed. */
static inline void meshi_stats_call_replied(meshi_stats_call *c)
{
	c->replied_ns = meshi_stats_clock_ns(CLOCK_MONOTONIC);
}

/* meshi_stats_call_end counts the call in the shard of the thread that served it. */
void meshi_stats_call_end(meshi_stats_shard *sh, const meshi_stats_call *c, int error);

/* meshi_stats_health fills reply's calls, errors, methods, cpu_us and rss_bytes. Returns 0, or -1
 * if memory ran out. What it allocates is freed by meshi_stats_health_free. */
int meshi_stats_health(meshi_stats *st, Mesh__HealthReply *reply);

void meshi_stats_health_free(Mesh__HealthReply *reply);

#endif
