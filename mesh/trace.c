/* trace.c: W3C trace context in libmesh: trace ids, span ids and their hex form. */
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#include "trace.h"

int mesh_trace_valid(const mesh_trace *t)
{
	static const uint8_t zero[MESH_TRACE_ID_LEN];
	return t != NULL && memcmp(t->trace_id, zero, sizeof(zero)) != 0;
}

char *mesh_trace_hex(const uint8_t *id, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[id[i] >> 4];
		out[2 * i + 1] = digits[id[i] & 15];
	}
	out[2 * len] = '\0';
	return out;
}

/* splitmix64's step: the state advances by a constant, the output mixes it. */
static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

void meshi_span_new(uint64_t *seed, uint8_t out[MESH_SPAN_ID_LEN])
{
	uint64_t v;
	if (*seed == 0 && getrandom(seed, sizeof(*seed), GRND_NONBLOCK) != sizeof(*seed))
		*seed = (uint64_t)mesh_now_us() ^ (uint64_t)(uintptr_t)seed;
	do
		v = splitmix64(seed);
	while (v == 0); /* an all-zero span id is no span (W3C) */
	for (int i = 0; i < MESH_SPAN_ID_LEN; i++)
		out[i] = (uint8_t)(v >> (56 - 8 * i));
}
