/* render_fargate.c: the task sizes AWS Fargate runs (its table of valid CPU and memory pairs),
 * and the smallest one that holds what a manifest asks for; for the copilot and ecs targets. */
#include "render.h"

/* fargate_size: one Fargate CPU size and the memory sizes (MiB) it allows: min to max in steps
 * of step, or for 256 the three listed. */
typedef struct fargate_size {
	int cpu;
	int min, max, step;
} fargate_size;

static const fargate_size fargate[] = {
    {256, 512, 2048, 0},	  {512, 1024, 4096, 1024},   {1024, 2048, 8192, 1024},
    {2048, 4096, 16384, 1024},	  {4096, 8192, 30720, 1024}, {8192, 16384, 61440, 4096},
    {16384, 32768, 122880, 8192},
};

void render_fargate_want(const manifest *m, int64_t *cpu_units, int64_t *mem_mib)
{
	*cpu_units = 0;
	*mem_mib = 0;
	if (m != NULL && m->cpu_millis > 0)
		*cpu_units = ((int64_t)m->cpu_millis * 1024 + 999) / 1000;
	if (m != NULL && m->memory_bytes > 0)
		*mem_mib = (m->memory_bytes + (1 << 20) - 1) >> 20;
}

int render_fargate_fit(int64_t cpu_units, int64_t mem_mib, int *cpu_out, int *mem_out)
{
	for (size_t i = 0; i < sizeof(fargate) / sizeof(fargate[0]); i++) {
		const fargate_size *s = &fargate[i];
		int64_t m;
		if (s->cpu < cpu_units || s->max < mem_mib)
			continue;
		if (s->step == 0) { /* 256: 512, 1024 or 2048 */
			m = mem_mib <= 512 ? 512 : mem_mib <= 1024 ? 1024 : 2048;
		} else {
			m = mem_mib <= s->min
				? s->min
				: s->min + (mem_mib - s->min + s->step - 1) / s->step * s->step;
		}
		*cpu_out = s->cpu;
		*mem_out = (int)m;
		return 0;
	}
	return -1;
}
