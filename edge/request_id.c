/* request_id.c: request ids: checking a client's, making one. */
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "request_id.h"

void request_id_gen_init(request_id_gen *g)
{
	g->next = 0;
	if (getrandom(&g->seed, sizeof(g->seed), GRND_NONBLOCK) != (ssize_t)sizeof(g->seed)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		g->seed = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
			  ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)g;
	}
}

void request_id_make(request_id_gen *g, char out[REQUEST_ID_GEN_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	/* splitmix64's output function of seed + n * gamma: a bijection of n, so no id repeats
	 * within a process, and the ids do not show how many came before */
	uint64_t z = g->seed + ++g->next * 0x9e3779b97f4a7c15u;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	z ^= z >> 31;
	for (int i = REQUEST_ID_GEN_LEN - 1; i >= 0; i--, z >>= 4)
		out[i] = hex[z & 15];
	out[REQUEST_ID_GEN_LEN] = '\0';
}

/* id_chars: the bytes a request id may hold */
static const unsigned char id_chars[256] = {
    ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1, ['.'] = 1,
    ['_'] = 1,	       [':'] = 1,	  ['-'] = 1,
};

int request_id_valid(const char *s, size_t len)
{
	unsigned char ok = 1;
	if (len == 0 || len > REQUEST_ID_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		ok &= id_chars[(unsigned char)s[i]];
	return ok;
}
