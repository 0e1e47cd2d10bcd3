/*
 * fuzz_json.c - json_parse_capped() on arbitrary bytes, and the generator
 * round trip: whatever parses, json_encode() writes, and that text parses
 * again to an equal tree.
 */
#include <jansson.h>

#include "fuzz.h"
#include "util/util.h"

#define DEPTH 64

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	json_t *a = NULL, *b = NULL;
	size_t len = 0;

	if (json_parse_capped((const char *)data, size, DEPTH, &a, err, sizeof(err)) != 0) {
		FUZZ_CHECK(a == NULL);
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
		return 0;
	}
	FUZZ_CHECK(a != NULL);
	char *text = json_encode(a, &len);
	FUZZ_CHECK(text != NULL);
	FUZZ_CHECK(strlen(text) == len);
	if (json_parse_capped(text, len, DEPTH, &b, err, sizeof(err)) != 0) {
		fprintf(stderr, "re-parse of \"%.200s\" failed: %s\n", text, err);
		abort();
	}
	FUZZ_CHECK(json_equal(a, b));
	/* Encoding is deterministic: the re-parsed tree writes the same text. */
	size_t len2 = 0;
	char *text2 = json_encode(b, &len2);
	FUZZ_CHECK(text2 != NULL && len2 == len && memcmp(text, text2, len) == 0);
	free(text2);
	free(text);
	json_decref(a);
	json_decref(b);
	return 0;
}
