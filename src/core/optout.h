/*
 * optout.h - an organization's opt-out keywords (issue 14): the settings
 * (org settings "optout"), their validation, and matching an inbound text.
 *
 * A text matches a keyword when, with leading and trailing whitespace
 * (ASCII space, tab, CR, LF) removed, it equals the keyword ignoring case.
 * Case is folded for ASCII letters and for the Latin-1 letters of UTF-8
 * (U+00C0..U+00DE against U+00E0..U+00FE, without the multiplication and
 * division signs): "stop", " Stop\n" and "BAJA" match; "please stop" does
 * not. Pure: no store, no loop.
 */
#ifndef MSGD_OPTOUT_H
#define MSGD_OPTOUT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define OPTOUT_WORDS_MAX 16      /* keywords per list */
#define OPTOUT_WORD_MAX 32       /* bytes of one keyword */
#define OPTOUT_TEXT_MAX 1024     /* bytes of a confirmation text */

struct optout_settings {
	char out[OPTOUT_WORDS_MAX][OPTOUT_WORD_MAX + 1];  /* "keywords": opt out */
	size_t nout;
	char in[OPTOUT_WORDS_MAX][OPTOUT_WORD_MAX + 1];   /* "optin_keywords": opt in again */
	size_t nin;
	char confirm[OPTOUT_TEXT_MAX + 1];     /* "confirmation" sent on opt-out ("": none) */
	char in_confirm[OPTOUT_TEXT_MAX + 1];  /* "optin_confirmation" ("": none) */
};

/* STOP, UNSUBSCRIBE, BAJA; START; no confirmations. */
void optout_default(struct optout_settings *s);
/* Apply patch (an object with any of keywords, optin_keywords,
 * confirmation, optin_confirmation) to s: 0, or -1 with the field
 * ("settings.optout.<key>") and why, s unchanged. */
int optout_merge(struct optout_settings *s, const json_t *patch, char *field, size_t flen,
    char *err, size_t elen);
json_t *optout_json(const struct optout_settings *s);
/* 1: text is an opt-out keyword, -1: an opt-in keyword, 0: neither. *kw
 * (may be NULL): the keyword as configured. */
int optout_match(const struct optout_settings *s, const char *text, const char **kw);

#endif
