/* fuzz.h: what every fuzz target in tests/fuzz defines, and the check that makes a broken
 * invariant a crash libFuzzer reports. */
#ifndef CLEAVE_FUZZ_H
#define CLEAVE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* LLVMFuzzerInitialize runs once before the first input (libFuzzer, or replay.c). */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* LLVMFuzzerTestOneInput runs one input; it returns 0, and crashes (abort) on a bug. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* FUZZ_CHECK aborts with the condition and a printf-style reason when cond is false. */
#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);   \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif
