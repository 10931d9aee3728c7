/* stats.c: per-method counters of a server, sharded per transport thread, and the Health reply
 * made of them. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "stats.h"

const uint64_t mesh_latency_bounds_us[MESH_LATENCY_BUCKETS] = {
    50,	   100,	  250,	  500,	  1000,	  2500,	   5000,      10000,
    25000, 50000, 100000, 250000, 500000, 1000000, UINT64_MAX};

#define STATS_SHARD_ALIGN 64 /* a cache line: no two threads' counters share one */

/* stat_add adds v to a counter only the calling thread writes: no locked instruction. */
static inline void stat_add(_Atomic uint64_t *c, uint64_t v, memory_order order)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v, order);
}

void meshi_stats_init(meshi_stats *st, const ProtobufCServiceDescriptor *service)
{
	st->service = service;
	st->nslots = service->n_methods + 2;
	atomic_init(&st->shards, NULL);
}

void meshi_stats_fini(meshi_stats *st)
{
	meshi_stats_shard *sh = atomic_exchange(&st->shards, NULL);
	while (sh != NULL) {
		meshi_stats_shard *next = sh->next;
		free(sh);
		sh = next;
	}
}

meshi_stats_shard *meshi_stats_shard_new(meshi_stats *st)
{
	size_t size = sizeof(meshi_stats_shard) + st->nslots * sizeof(meshi_stats_slot);
	meshi_stats_shard *sh;
	size = (size + STATS_SHARD_ALIGN - 1) / STATS_SHARD_ALIGN * STATS_SHARD_ALIGN;
	sh = aligned_alloc(STATS_SHARD_ALIGN, size);
	if (sh == NULL)
		return NULL;
	memset(sh, 0, size);
	for (size_t i = 0; i < st->nslots; i++)
		sh->slots[i].unsampled_wall_ns =
		    STATS_CPU_SAMPLE_WALL_NS; /* the first is measured */
	sh->next = atomic_load(&st->shards);
	while (!atomic_compare_exchange_weak(&st->shards, &sh->next, sh)) {
	}
	return sh;
}

void meshi_stats_call_end(meshi_stats_shard *sh, const meshi_stats_call *c, int error)
{
	meshi_stats_slot *s = &sh->slots[c->slot];
	uint64_t ns = c->replied_ns > c->start_ns ? (uint64_t)(c->replied_ns - c->start_ns) : 0;
	size_t b = 0;
	while (b < MESH_LATENCY_BUCKETS - 1 && ns > mesh_latency_bounds_us[b] * 1000)
		b++;
	stat_add(&s->buckets[b], 1, memory_order_relaxed);
	if (ns > atomic_load_explicit(&s->max_ns, memory_order_relaxed))
		atomic_store_explicit(&s->max_ns, ns, memory_order_relaxed);
	if (c->invoked) {
		stat_add(&s->invoked, 1, memory_order_relaxed);
		if (c->sampled) {
			stat_add(&s->sampled_cpu_ns, (uint64_t)c->cpu_ns, memory_order_relaxed);
			/* release: a reader that sees this sample sees its call in invoked */
			stat_add(&s->sampled, 1, memory_order_release);
			s->unsampled_wall_ns = ns; /* counted from the start of the measured call */
		} else {
			s->unsampled_wall_ns += ns;
		}
	}
	if (c->policy == MESHI_STATS_DENIED)
		stat_add(&s->denied, 1, memory_order_relaxed);
	else if (c->policy == MESHI_STATS_WOULD_DENY)
		stat_add(&s->would_deny, 1, memory_order_relaxed);
	if (c->cancelled && error)
		stat_add(&s->cancelled, 1, memory_order_relaxed);
	/* release: a reader that sees this error sees its call in the buckets */
	if (error)
		stat_add(&s->errors, 1, memory_order_release);
}

/* stats_sum: one slot, summed over the shards. */
typedef struct stats_sum {
	uint64_t calls;
	uint64_t errors;
	uint64_t denied, would_deny, cancelled;
	uint64_t buckets[MESH_LATENCY_BUCKETS];
	uint64_t max_ns;
	double cpu_ns; /* estimated: each shard's samples scaled to its invoked calls */
} stats_sum;

static void stats_sum_slot(meshi_stats *st, size_t slot, stats_sum *out)
{
	memset(out, 0, sizeof(*out));
	for (meshi_stats_shard *sh = atomic_load_explicit(&st->shards, memory_order_acquire);
	     sh != NULL; sh = sh->next) {
		meshi_stats_slot *s = &sh->slots[slot];
		/* errors and sampled first: what they count is then in the buckets and invoked */
		uint64_t errors = atomic_load_explicit(&s->errors, memory_order_acquire);
		uint64_t sampled = atomic_load_explicit(&s->sampled, memory_order_acquire);
		uint64_t cpu = atomic_load_explicit(&s->sampled_cpu_ns, memory_order_relaxed);
		uint64_t invoked = atomic_load_explicit(&s->invoked, memory_order_relaxed);
		uint64_t max = atomic_load_explicit(&s->max_ns, memory_order_relaxed);
		out->errors += errors;
		out->denied += atomic_load_explicit(&s->denied, memory_order_relaxed);
		out->would_deny += atomic_load_explicit(&s->would_deny, memory_order_relaxed);
		out->cancelled += atomic_load_explicit(&s->cancelled, memory_order_relaxed);
		for (size_t b = 0; b < MESH_LATENCY_BUCKETS; b++) {
			uint64_t n = atomic_load_explicit(&s->buckets[b], memory_order_relaxed);
			out->buckets[b] += n;
			out->calls += n;
		}
		if (max > out->max_ns)
			out->max_ns = max;
		if (sampled > 0)
			out->cpu_ns += (double)cpu * (double)invoked / (double)sampled;
	}
}

/* stats_quantile_us returns the upper bound of the bucket holding the pct-th percentile; in the
 * +Inf bucket, the largest latency seen. 0 without calls. */
static uint64_t stats_quantile_us(const stats_sum *s, unsigned pct)
{
	uint64_t rank = (s->calls * pct + 99) / 100, seen = 0;
	if (s->calls == 0)
		return 0;
	if (rank == 0)
		rank = 1;
	for (size_t b = 0; b < MESH_LATENCY_BUCKETS - 1; b++) {
		seen += s->buckets[b];
		if (seen >= rank)
			return mesh_latency_bounds_us[b];
	}
	{
		uint64_t max_us = (s->max_ns + 999) / 1000;
		uint64_t last = mesh_latency_bounds_us[MESH_LATENCY_BUCKETS - 2];
		return max_us > last ? max_us : last;
	}
}

/* stats_rss_bytes reads the resident set size from /proc/self/statm; -1 if it cannot. */
static int64_t stats_rss_bytes(void)
{
	char buf[128];
	long long size, resident;
	ssize_t n;
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if (sscanf(buf, "%lld %lld", &size, &resident) != 2)
		return -1;
	return (int64_t)resident * sysconf(_SC_PAGESIZE);
}

int meshi_stats_health(meshi_stats *st, Mesh__HealthReply *reply)
{
	size_t listed = st->nslots - 1; /* "other" is in the totals only */
	size_t n = 0;
	Mesh__MethodStats **list;
	Mesh__MethodStats *entries;
	uint64_t *buckets;
	struct rusage ru;
	void *block = calloc(listed, sizeof(*list) + sizeof(*entries) +
					 MESH_LATENCY_BUCKETS * sizeof(*buckets));
	if (block == NULL)
		return -1;
	list = block;
	entries = (Mesh__MethodStats *)(list + listed);
	buckets = (uint64_t *)(entries + listed);
	reply->calls = 0;
	reply->errors = 0;
	for (size_t slot = 0; slot < st->nslots; slot++) {
		stats_sum sum;
		Mesh__MethodStats *m;
		stats_sum_slot(st, slot, &sum);
		reply->calls += sum.calls;
		reply->errors += sum.errors;
		if (slot == meshi_stats_other_slot(st) ||
		    (sum.calls == 0 && slot != meshi_stats_health_slot(st)))
			continue;
		m = &entries[n];
		mesh__method_stats__init(m);
		m->method = slot == meshi_stats_health_slot(st)
				? "Health"
				: (char *)st->service->methods[slot].name;
		m->calls = sum.calls;
		m->errors = sum.errors;
		m->denied = sum.denied;
		m->would_deny = sum.would_deny;
		m->cancelled = sum.cancelled;
		m->latency_p50_us = stats_quantile_us(&sum, 50);
		m->latency_p99_us = stats_quantile_us(&sum, 99);
		m->cpu_us = (uint64_t)(sum.cpu_ns / 1000 + 0.5);
		m->n_latency_buckets = MESH_LATENCY_BUCKETS;
		m->latency_buckets = &buckets[n * MESH_LATENCY_BUCKETS];
		memcpy(m->latency_buckets, sum.buckets, sizeof(sum.buckets));
		list[n++] = m;
	}
	reply->n_methods = n;
	reply->methods = list;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		reply->cpu_us = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
				(uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
	reply->rss_bytes = stats_rss_bytes();
	return 0;
}

void meshi_stats_health_free(Mesh__HealthReply *reply)
{
	free(reply->methods); /* one block: the list, the entries and their buckets */
	reply->methods = NULL;
	reply->n_methods = 0;
}
