/* apikey.c - making an API key's secret, prefix and hash (authz.h). */
#include "authz.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "../util/util.h"

void
authz_key_make(struct authz_new_key *k)
{
	unsigned char raw[AUTHZ_KEY_SECRET_BYTES];
	size_t pre = strlen(AUTHZ_KEY_PREFIX);

	randombytes_buf(raw, sizeof(raw));
	memcpy(k->secret, AUTHZ_KEY_PREFIX, pre);
	hex_encode(raw, sizeof(raw), k->secret + pre);  /* NUL-terminates */
	sodium_memzero(raw, sizeof(raw));
	snprintf(k->prefix, sizeof(k->prefix), "%.*s", AUTHZ_KEY_SHOWN_CHARS, k->secret);
	sha256(k->secret, strlen(k->secret), k->hash);
}

void
authz_key_wipe(struct authz_new_key *k)
{
	sodium_memzero(k->secret, sizeof(k->secret));
}

bool
authz_key_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	return n > 0 && n <= AUTHZ_KEY_NAME_MAX && utf8_valid(name, n);
}

json_t *
authz_scopes_json(uint32_t scopes)
{
	json_t *a = json_array();

	for (uint32_t b = 1; b < (1u << SCOPE_COUNT); b <<= 1)
		if (scopes & b)
			json_array_append_new(a, json_string(authz_scope_name(b)));
	return a;
}

json_t *
authz_key_listed(const json_t *row)
{
	return json_pack("{s:O, s:O, s:O, s:O, s:o, s:o, s:o}",
	    "id", json_object_get(row, "id"), "name", json_object_get(row, "name"),
	    "scopes", json_object_get(row, "scopes"), "prefix", json_object_get(row, "prefix"),
	    "created_at", json_time_or_null(json_integer_value(json_object_get(row, "created_at"))),
	    "expires_at", json_time_or_null(json_integer_value(json_object_get(row, "expires_at"))),
	    "last_used_at", json_time_or_null(json_integer_value(json_object_get(row, "last_used_at"))));
}
