/*
 * fuzz.h - what the libFuzzer harnesses share (tests/fuzz/fuzz_*.c): each
 * defines LLVMFuzzerTestOneInput and checks its oracle with FUZZ_CHECK,
 * which aborts (libFuzzer then saves the input as a crash).
 */
#ifndef MSGD_FUZZ_H
#define MSGD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "%s:%d: oracle violated: %s\n", __FILE__, __LINE__, #cond); \
			abort(); \
		} \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* data[0..size) as a malloc'd NUL-terminated string (may hold NULs). */
static inline char *
fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#endif
