/* address.c - phone numbers as contact addresses (see address.h). */
#include "address.h"

#include <string.h>

#include "../util/util.h"

int
phone_normalize(const char *s, size_t len, char *out, size_t outlen)
{
	char d[PHONE_DIGITS_MAX + 1];
	size_t n = 0;

	if (s == NULL || outlen <= PHONE_DIGITS_MAX || len > PHONE_INPUT_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c >= '0' && c <= '9') {
			if (n == PHONE_DIGITS_MAX)
				return -1;
			d[n++] = c;
		} else if (c == '+' && i == 0) {
			continue;
		} else if (c != ' ' && c != '-' && c != '.' && c != '(' && c != ')') {
			return -1;
		}
	}
	if (n < PHONE_DIGITS_MIN)
		return -1;
	memcpy(out, d, n);
	out[n] = '\0';
	return 0;
}

char *
phone_normalize_or_dup(const char *s)
{
	char d[PHONE_DIGITS_MAX + 1];

	if (s != NULL && phone_normalize(s, strlen(s), d, sizeof(d)) == 0)
		return xstrdup(d);
	return xstrdup_or_null(s);
}
