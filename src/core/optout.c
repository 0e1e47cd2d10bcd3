/*
 * optout.c - opt-out keywords: settings and matching (optout.h).
 */
#include "optout.h"

#include <stdio.h>
#include <string.h>

#include "../util/util.h"

static const char *const default_out[] = { "STOP", "UNSUBSCRIBE", "BAJA" };
static const char *const default_in[] = { "START" };

void
optout_default(struct optout_settings *s)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < ARRAY_LEN(default_out); i++)
		snprintf(s->out[s->nout++], OPTOUT_WORD_MAX + 1, "%s", default_out[i]);
	for (size_t i = 0; i < ARRAY_LEN(default_in); i++)
		snprintf(s->in[s->nin++], OPTOUT_WORD_MAX + 1, "%s", default_in[i]);
}

static bool
space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The text without surrounding whitespace: *start, and its length. */
static size_t
trim(const char *s, const char **start)
{
	size_t n = strlen(s);

	while (n > 0 && space(*s)) {
		s++;
		n--;
	}
	while (n > 0 && space(s[n - 1]))
		n--;
	*start = s;
	return n;
}

/* a and b (n bytes each) equal ignoring ASCII and Latin-1 case. */
static bool
same_fold(const unsigned char *a, const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char x = a[i], y = b[i];
		if (x >= 'a' && x <= 'z')
			x -= 32;
		if (y >= 'a' && y <= 'z')
			y -= 32;
		/* A continuation byte after 0xC3 (U+00C0..U+00FF): small letters
		 * U+00E0..U+00FE (not U+00F7, the division sign) fold by 0x20. */
		if (i > 0 && a[i - 1] == 0xC3 && b[i - 1] == 0xC3) {
			if (x >= 0xA0 && x <= 0xBE && x != 0xB7)
				x -= 0x20;
			if (y >= 0xA0 && y <= 0xBE && y != 0xB7)
				y -= 0x20;
		}
		if (x != y)
			return false;
	}
	return true;
}

static const char *
find(char list[][OPTOUT_WORD_MAX + 1], size_t n, const char *t, size_t tn)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(list[i]) == tn && same_fold((const unsigned char *)list[i],
		    (const unsigned char *)t, tn))
			return list[i];
	return NULL;
}

int
optout_match(const struct optout_settings *s, const char *text, const char **kw)
{
	const char *t, *k;
	size_t n;

	if (kw)
		*kw = NULL;
	if (text == NULL)
		return 0;
	n = trim(text, &t);
	if (n == 0 || n > OPTOUT_WORD_MAX)
		return 0;
	struct optout_settings *m = (struct optout_settings *)s;
	if ((k = find(m->out, m->nout, t, n)) != NULL) {
		if (kw)
			*kw = k;
		return 1;
	}
	if ((k = find(m->in, m->nin, t, n)) != NULL) {
		if (kw)
			*kw = k;
		return -1;
	}
	return 0;
}

/* A keyword list into list (*n words): 0, or -1 with why. */
static int
words(const json_t *v, char list[][OPTOUT_WORD_MAX + 1], size_t *n, char *err, size_t elen)
{
	size_t i;
	json_t *w;

	if (!json_is_array(v) || json_array_size(v) > OPTOUT_WORDS_MAX) {
		snprintf(err, elen, "must be an array of at most %d keywords", OPTOUT_WORDS_MAX);
		return -1;
	}
	*n = 0;
	json_array_foreach(v, i, w) {
		const char *s = json_string_value(w), *t;
		size_t len = s ? trim(s, &t) : 0;
		bool ctl = false;
		for (size_t j = 0; s && j < json_string_length(w); j++)
			ctl |= (unsigned char)s[j] < 0x20;
		if (s == NULL || len == 0 || len != json_string_length(w) || len > OPTOUT_WORD_MAX || ctl) {
			snprintf(err, elen, "keyword %zu must be a non-empty string of at most %d bytes, "
			    "without surrounding spaces or control characters", i + 1, OPTOUT_WORD_MAX);
			return -1;
		}
		snprintf(list[(*n)++], OPTOUT_WORD_MAX + 1, "%s", s);
	}
	return 0;
}

static int
text(const json_t *v, char *out, char *err, size_t elen)
{
	if (json_is_null(v)) {
		out[0] = '\0';
		return 0;
	}
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > OPTOUT_TEXT_MAX ||
	    memchr(json_string_value(v), '\0', json_string_length(v))) {
		snprintf(err, elen, "must be null or a non-empty text of at most %d bytes", OPTOUT_TEXT_MAX);
		return -1;
	}
	snprintf(out, OPTOUT_TEXT_MAX + 1, "%s", json_string_value(v));
	return 0;
}

int
optout_merge(struct optout_settings *s, const json_t *patch, char *field, size_t flen,
    char *err, size_t elen)
{
	struct optout_settings n;          /* ~3 KiB: applied to s only when all is valid */
	const char *key;
	json_t *v;
	char why[160];
	int r = 0;

	if (!json_is_object(patch)) {
		snprintf(field, flen, "settings.optout");
		snprintf(err, elen, "'optout' must be an object");
		return -1;
	}
	n = *s;
	json_object_foreach((json_t *)patch, key, v) {
		snprintf(field, flen, "settings.optout.%.32s", key);
		if (strcmp(key, "keywords") == 0)
			r = words(v, n.out, &n.nout, why, sizeof(why));
		else if (strcmp(key, "optin_keywords") == 0)
			r = words(v, n.in, &n.nin, why, sizeof(why));
		else if (strcmp(key, "confirmation") == 0)
			r = text(v, n.confirm, why, sizeof(why));
		else if (strcmp(key, "optin_confirmation") == 0)
			r = text(v, n.in_confirm, why, sizeof(why));
		else {
			snprintf(why, sizeof(why), "is not a setting (keywords, optin_keywords, "
			    "confirmation, optin_confirmation)");
			r = -1;
		}
		if (r != 0) {
			snprintf(err, elen, "'optout.%.32s' %s", key, why);
			return -1;
		}
	}
	/* A word in both lists would be ambiguous. */
	for (size_t i = 0; i < n.nin; i++)
		if (find(n.out, n.nout, n.in[i], strlen(n.in[i]))) {
			snprintf(field, flen, "settings.optout.optin_keywords");
			snprintf(err, elen, "'%s' is both an opt-out and an opt-in keyword", n.in[i]);
			return -1;
		}
	*s = n;
	return 0;
}

json_t *
optout_json(const struct optout_settings *s)
{
	json_t *out = json_array(), *in = json_array();

	for (size_t i = 0; i < s->nout; i++)
		json_array_append_new(out, json_string(s->out[i]));
	for (size_t i = 0; i < s->nin; i++)
		json_array_append_new(in, json_string(s->in[i]));
	return json_pack("{s:o,s:o,s:o,s:o}", "keywords", out, "optin_keywords", in,
	    "confirmation", s->confirm[0] ? json_string(s->confirm) : json_null(),
	    "optin_confirmation", s->in_confirm[0] ? json_string(s->in_confirm) : json_null());
}
