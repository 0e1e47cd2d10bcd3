/*
 * campaign_int.h - what src/campaign/'s files share (and the API's
 * validation, which builds a sample message the same way).
 */
#ifndef MSGD_CAMPAIGN_INT_H
#define MSGD_CAMPAIGN_INT_H

#include <stddef.h>

#include <jansson.h>

#include "campaign.h"

#define CAMPAIGN_ADDR_MAX 64   /* bytes of a recipient's address (the send API's cap) */

typedef int (*addr_normalize_fn)(const char *s, size_t len, char *out, size_t outlen);

/* The recipient item's "to", normalized (normalize NULL: as given) into
 * out: 0, or -1 when it is not an address. */
int campaign_address(const json_t *item, addr_normalize_fn normalize, char *out, size_t cap);
/* A recipient's message content from the campaign's content and its
 * variables: *type ("text" | "template") and *text (malloc'd; NULL for a
 * provider template), template parts added to parts; -1 when a variable
 * is missing (the recipient is skipped). */
int campaign_fill(const json_t *content, const json_t *vars, json_t *parts, char **type, char **text);
/* 1 when a provider template's mapping names its variables ({{first_name}})
 * rather than numbering them ({{1}}..{{n}}): some key is not all digits. */
int campaign_vars_named(const json_t *map);

#endif
