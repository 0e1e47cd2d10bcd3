/*
 * fuzz_params.c - the parsers behind query and path parameters and
 * cursors, each against a simple oracle:
 *   - parse_digits() (api_number(): ?limit, ?since, Last-Event-ID,
 *     ?conversation_id, stream params) at API_NUMBER_DIGITS_MAX digits and
 *     parse_i64() (path ids, message cursors), vs. strtoll on checked text;
 *   - store_parse_conv_cursor() (the conversations cursor "MS_ID");
 *   - parse_rfc3339() (scheduled_at) and fmt_rfc3339(): whatever parses
 *     formats as a NUL-terminated 20-byte time that parses to the same
 *     second.
 * The input is one parameter value (NUL-free); its first byte also picks
 * a time for the formatting round trip.
 */
#include <errno.h>
#include <stdbool.h>

#include "api/api.h"
#include "fuzz.h"
#include "store/store_int.h"
#include "util/util.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

/* The oracle: optional '-' (when signed), 1..max ASCII digits, in range. */
static int
oracle_number(const char *s, bool sign, size_t max, int64_t *out)
{
	const char *d = sign && *s == '-' ? s + 1 : s;
	size_t n = strlen(d);

	if (n == 0 || n > max || strspn(d, "0123456789") != n)
		return -1;
	errno = 0;
	long long v = strtoll(s, NULL, 10);
	if (errno == ERANGE)
		return -1;
	*out = v;
	return 0;
}

static void
check_time_round_trip(int64_t t)
{
	char out[21];
	int64_t back;

	memset(out, 'X', sizeof(out));
	fmt_rfc3339(t, out);
	FUZZ_CHECK(memchr(out, '\0', sizeof(out)) != NULL);
	FUZZ_CHECK(strlen(out) == 20);
	FUZZ_CHECK(parse_rfc3339(out, &back) == 0);
	/* Outside years 0000..9999: clamped. */
	FUZZ_CHECK(back == (t < RFC3339_MIN_S ? RFC3339_MIN_S : t > RFC3339_MAX_S ? RFC3339_MAX_S : t));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	int64_t a = 0, b = 0, c = 0;

	if (strlen(s) != size)
		goto out;
	int ra = parse_digits(s, API_NUMBER_DIGITS_MAX, &a);
	int rb = oracle_number(s, false, API_NUMBER_DIGITS_MAX, &b);
	FUZZ_CHECK(ra == rb);
	FUZZ_CHECK(ra != 0 || (a == b && a >= 0));

	ra = parse_i64(s, &a);
	rb = oracle_number(s, true, INT64_DIGITS_MAX, &b);
	/* parse_i64 reads the magnitude as digits: INT64_MIN is out of range. */
	if (rb == 0 && b == INT64_MIN)
		rb = -1;
	FUZZ_CHECK(ra == rb);
	FUZZ_CHECK(ra != 0 || a == b);

	const char *us = strchr(s, '_');
	ra = store_parse_conv_cursor(s, &a, &b);
	if (us == NULL) {
		FUZZ_CHECK(ra == -1);
	} else {
		char *first = fuzz_cstr(data, (size_t)(us - s));
		int64_t x, y;
		bool ok = parse_i64(first, &x) == 0 && parse_i64(us + 1, &y) == 0;
		FUZZ_CHECK((ra == 0) == ok);
		FUZZ_CHECK(!ok || (a == x && b == y));
		free(first);
	}

	if (parse_rfc3339(s, &c) == 0)
		check_time_round_trip(c);
	if (size >= 8) {
		int64_t t;
		memcpy(&t, data, sizeof(t));
		check_time_round_trip(t % (400LL * 366 * 86400 * 25));  /* about +-10,000 years */
	}
out:
	free(s);
	return 0;
}
