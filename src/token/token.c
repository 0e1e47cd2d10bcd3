/*
 * token.c - HS256 access tokens: what token.h promises, with libjwt 1.10
 * for signing and the signature check, libsodium for strict base64url and
 * randomness, jansson for the header and claims.
 */
#include "token.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>
#include <sodium.h>

#include "../log/log.h"
#include "../util/util.h"

#define TOKEN_ALG_NAME "HS256"
#define TOKEN_SIG_B64 43  /* 32 bytes of HMAC-SHA256 in unpadded base64url */

/* libjwt 1.10 takes integer claims as long. */
_Static_assert(sizeof(long) >= sizeof(int64_t), "libjwt integer claims need a 64-bit long");

struct part {
	const char *p;
	size_t n;
};

static bool
b64url_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '-' || c == '_';
}

/* Three parts of the base64url alphabet joined by '.': 0 / -1. */
static int
split(const char *s, size_t len, struct part parts[3])
{
	size_t k = 0, start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.') {
			if (!b64url_char((unsigned char)s[i]))
				return -1;
			continue;
		}
		if (k == 3)
			return -1;
		parts[k].p = s + start;
		parts[k].n = i - start;
		k++;
		start = i + 1;
	}
	return k == 3 ? 0 : -1;
}

/* Strict unpadded base64url into a JSON object (duplicate keys refused). */
static json_t *
decode_object(const struct part *part)
{
	unsigned char bin[TOKEN_MAX];
	size_t len = 0;
	json_error_t err;
	json_t *v;

	if (part->n == 0 ||
	    sodium_base642bin(bin, sizeof(bin), part->p, part->n, NULL, &len, NULL,
		sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return NULL;
	v = json_loadb((const char *)bin, len, JSON_REJECT_DUPLICATES, &err);
	if (v != NULL && !json_is_object(v)) {
		json_decref(v);
		v = NULL;
	}
	return v;
}

/* Text: min..max bytes of UTF-8 without control characters (C0, DEL, C1). */
static bool
text_ok(const char *s, size_t n, size_t min, size_t max)
{
	const unsigned char *u = (const unsigned char *)s;

	if (n < min || n > max || !utf8_valid(s, n))
		return false;
	for (size_t i = 0; i < n; i++)
		if (u[i] < 0x20 || u[i] == 0x7f || (u[i] == 0xc2 && i + 1 < n && u[i + 1] < 0xa0))
			return false;
	return true;
}

/* A NUL-terminated field of a struct (size bytes) as text of min..size-1 bytes. */
static bool
field_ok(const char *s, size_t size, size_t min)
{
	size_t n = strnlen(s, size);

	return n < size && text_ok(s, n, min, size - 1);
}

static bool
kid_ok(const char *s, size_t size)
{
	size_t n = strnlen(s, size);

	if (n == 0 || n >= size || n > TOKEN_KID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!b64url_char((unsigned char)s[i]) && s[i] != '.')
			return false;
	return true;
}

static bool
role_ok(enum token_kind kind, const char *s)
{
	size_t n = strnlen(s, TOKEN_ROLE_MAX + 1);

	if (n > TOKEN_ROLE_MAX)
		return false;
	if (kind == TOKEN_KIND_KEY)
		return n == 0;
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 'a' || s[i] > 'z')
			return false;
	return true;
}

static bool
jti_ok(const char *s)
{
	size_t n = strnlen(s, TOKEN_JTI_HEX + 1);

	return n == TOKEN_JTI_HEX && strspn(s, "0123456789abcdef") == n;
}

static bool
time_ok(int64_t t)
{
	return t >= 0 && t <= TOKEN_TIME_MAX;
}

/* The first invalid claim's name, or NULL when all are valid. */
static const char *
claims_invalid(const struct token_claims *c)
{
	if (!field_ok(c->iss, sizeof(c->iss), 1))
		return "iss";
	if (!field_ok(c->aud, sizeof(c->aud), 1))
		return "aud";
	if (!field_ok(c->sub, sizeof(c->sub), 1))
		return "sub";
	if (!field_ok(c->org, sizeof(c->org), 1))
		return "org";
	if (c->org_id < 1)
		return "org_id";
	if (c->kind != TOKEN_KIND_USER && c->kind != TOKEN_KIND_KEY)
		return "kind";
	if (!role_ok(c->kind, c->role))
		return "role";
	if (!time_ok(c->iat) || c->iat > c->exp)
		return "iat";
	if (!time_ok(c->nbf) || c->nbf >= c->exp || c->exp - c->nbf > TOKEN_TTL_MAX_S)
		return "nbf";
	if (!time_ok(c->exp))
		return "exp";
	if (!jti_ok(c->jti))
		return "jti";
	return NULL;
}

const char *
token_kind_name(enum token_kind kind)
{
	return kind == TOKEN_KIND_KEY ? "key" : "user";
}

int
token_kind_parse(const char *s, enum token_kind *out)
{
	if (strcmp(s, "user") == 0)
		*out = TOKEN_KIND_USER;
	else if (strcmp(s, "key") == 0)
		*out = TOKEN_KIND_KEY;
	else
		return -1;
	return 0;
}

void
token_key_new(struct token_key *k)
{
	unsigned char id[4];

	if (sodium_init() < 0)
		abort();
	memset(k, 0, sizeof(*k));
	randombytes_buf(k->secret, sizeof(k->secret));
	randombytes_buf(id, sizeof(id));
	k->kid[0] = 'k';
	hex_encode(id, sizeof(id), k->kid + 1);
}

static int
sign_fail(const char *why)
{
	log_warn("token not signed", "reason", why);
	return -1;
}

int
token_sign(const struct token_key *key, struct token_claims *c, int64_t now, int64_t ttl_s,
    char *out, size_t cap)
{
	unsigned char rnd[TOKEN_JTI_HEX / 2];
	const char *bad;
	jwt_t *j = NULL;
	char *s = NULL;
	int rc = -1;

	if (cap > 0)
		out[0] = '\0';
	if (!kid_ok(key->kid, sizeof(key->kid)))
		return sign_fail("kid");
	if (ttl_s < 1 || ttl_s > TOKEN_TTL_MAX_S || now < 0 || now > TOKEN_TIME_MAX - ttl_s)
		return sign_fail("time");
	if (sodium_init() < 0)
		abort();
	randombytes_buf(rnd, sizeof(rnd));
	hex_encode(rnd, sizeof(rnd), c->jti);
	c->iat = c->nbf = now;
	c->exp = now + ttl_s;
	if ((bad = claims_invalid(c)) != NULL)
		return sign_fail(bad);

	if (jwt_new(&j) != 0)
		abort();
	if (jwt_add_header(j, "kid", key->kid) != 0 ||
	    jwt_add_grant(j, "iss", c->iss) != 0 ||
	    jwt_add_grant(j, "aud", c->aud) != 0 ||
	    jwt_add_grant(j, "sub", c->sub) != 0 ||
	    jwt_add_grant(j, "org", c->org) != 0 ||
	    jwt_add_grant_int(j, "org_id", (long)c->org_id) != 0 ||
	    jwt_add_grant(j, "kind", token_kind_name(c->kind)) != 0 ||
	    jwt_add_grant(j, "role", c->role) != 0 ||
	    jwt_add_grant_int(j, "scopes", (long)c->scopes) != 0 ||
	    jwt_add_grant_bool(j, "platform_admin", c->platform_admin) != 0 ||
	    jwt_add_grant_int(j, "iat", (long)c->iat) != 0 ||
	    jwt_add_grant_int(j, "nbf", (long)c->nbf) != 0 ||
	    jwt_add_grant_int(j, "exp", (long)c->exp) != 0 ||
	    jwt_add_grant(j, "jti", c->jti) != 0 ||
	    jwt_set_alg(j, JWT_ALG_HS256, key->secret, (int)sizeof(key->secret)) != 0) {
		sign_fail("libjwt");
		goto out;
	}
	if ((s = jwt_encode_str(j)) == NULL) {
		sign_fail("libjwt");
		goto out;
	}
	size_t n = strlen(s);
	if (n > TOKEN_MAX || n >= cap) {
		sign_fail("too long");
		goto out;
	}
	memcpy(out, s, n + 1);
	rc = 0;
out:
	if (s != NULL) {
		sodium_memzero(s, strlen(s));
		free(s);
	}
	jwt_free(j);  /* wipes its copy of the key */
	return rc;
}

/* The header: exactly HS256, typ absent or "JWT", no crit, a valid kid. */
static enum token_error
check_header(const struct part *head, char kid[TOKEN_KID_MAX + 1])
{
	json_t *h = decode_object(head);
	json_t *alg, *typ, *k;
	enum token_error e = TOKEN_MALFORMED;

	if (h == NULL)
		return TOKEN_MALFORMED;
	alg = json_object_get(h, "alg");
	if (!json_is_string(alg))
		goto out;
	if (strcmp(json_string_value(alg), TOKEN_ALG_NAME) != 0) {
		e = TOKEN_ALG;
		goto out;
	}
	typ = json_object_get(h, "typ");
	if (typ != NULL && (!json_is_string(typ) || strcmp(json_string_value(typ), "JWT") != 0))
		goto out;
	if (json_object_get(h, "crit") != NULL)
		goto out;
	k = json_object_get(h, "kid");
	if (!json_is_string(k) || json_string_length(k) > TOKEN_KID_MAX ||
	    !kid_ok(json_string_value(k), TOKEN_KID_MAX + 1))
		goto out;
	memcpy(kid, json_string_value(k), json_string_length(k) + 1);
	e = TOKEN_OK;
out:
	json_decref(h);
	return e;
}

static int
get_text(json_t *o, const char *name, char *out, size_t size)
{
	json_t *v = json_object_get(o, name);

	if (!json_is_string(v) || json_string_length(v) >= size)
		return -1;
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	/* jansson refuses \u0000 by default: the length is the C string's. */
	return strlen(out) == json_string_length(v) ? 0 : -1;
}

static int
get_int(json_t *o, const char *name, int64_t *out)
{
	json_t *v = json_object_get(o, name);

	if (!json_is_integer(v))
		return -1;
	*out = json_integer_value(v);
	return 0;
}

/* The claims object into c (types and caps here, values by claims_invalid). */
static int
parse_claims(json_t *o, struct token_claims *c)
{
	char kind[8];
	int64_t scopes;
	json_t *padm = json_object_get(o, "platform_admin");

	if (get_text(o, "iss", c->iss, sizeof(c->iss)) != 0 ||
	    get_text(o, "aud", c->aud, sizeof(c->aud)) != 0 ||
	    get_text(o, "sub", c->sub, sizeof(c->sub)) != 0 ||
	    get_text(o, "org", c->org, sizeof(c->org)) != 0 ||
	    get_int(o, "org_id", &c->org_id) != 0 ||
	    get_text(o, "kind", kind, sizeof(kind)) != 0 ||
	    token_kind_parse(kind, &c->kind) != 0 ||
	    get_text(o, "role", c->role, sizeof(c->role)) != 0 ||
	    get_int(o, "scopes", &scopes) != 0 || scopes < 0 || scopes > UINT32_MAX ||
	    !json_is_boolean(padm) ||
	    get_int(o, "iat", &c->iat) != 0 ||
	    get_int(o, "nbf", &c->nbf) != 0 ||
	    get_int(o, "exp", &c->exp) != 0 ||
	    get_text(o, "jti", c->jti, sizeof(c->jti)) != 0)
		return -1;
	c->scopes = (uint32_t)scopes;
	c->platform_admin = json_is_true(padm);
	return claims_invalid(c) == NULL ? 0 : -1;
}

static const struct token_key *
find_key(const struct token_key *keys, size_t n, const char *kid)
{
	for (size_t i = 0; i < n; i++)
		if (strncmp(keys[i].kid, kid, sizeof(keys[i].kid)) == 0)
			return &keys[i];
	return NULL;
}

enum token_error
token_verify(const struct token_key *keys, size_t n, const char *jwt, int64_t now,
    const char *iss, const char *aud, struct token_claims *out)
{
	struct part parts[3];
	char kid[TOKEN_KID_MAX + 1];
	const struct token_key *key;
	json_t *payload = NULL;
	jwt_t *j = NULL;
	enum token_error e;
	size_t len = strnlen(jwt, TOKEN_MAX + 1);

	memset(out, 0, sizeof(*out));
	if (len > TOKEN_MAX)
		return TOKEN_TOO_LONG;
	if (split(jwt, len, parts) != 0)
		return TOKEN_MALFORMED;
	if ((e = check_header(&parts[0], kid)) != TOKEN_OK)
		return e;
	if ((payload = decode_object(&parts[1])) == NULL)
		return TOKEN_MALFORMED;
	e = TOKEN_UNKNOWN_KID;
	if ((key = find_key(keys, n, kid)) == NULL)
		goto out;

	/* libjwt recomputes the HMAC over header.payload and compares its
	 * base64url with the token's in constant time (jwt_strcmp). */
	e = TOKEN_SIGNATURE;
	if (parts[2].n != TOKEN_SIG_B64 ||
	    jwt_decode(&j, jwt, key->secret, (int)sizeof(key->secret)) != 0)
		goto out;
	if (jwt_get_alg(j) != JWT_ALG_HS256) {
		e = TOKEN_ALG;
		goto out;
	}

	e = TOKEN_MALFORMED;
	if (parse_claims(payload, out) != 0)
		goto out;
	e = TOKEN_ISSUER;
	if (iss == NULL || strcmp(out->iss, iss) != 0)
		goto out;
	e = TOKEN_AUDIENCE;
	if (aud == NULL || strcmp(out->aud, aud) != 0)
		goto out;
	if (now < 0)
		now = 0;
	if (now > TOKEN_TIME_MAX)
		now = TOKEN_TIME_MAX;
	e = TOKEN_EXPIRED;
	if (out->exp < now - TOKEN_SKEW_S)
		goto out;
	e = TOKEN_NOT_YET_VALID;
	if (out->nbf > now + TOKEN_SKEW_S)
		goto out;
	e = TOKEN_OK;
out:
	if (j != NULL)
		jwt_free(j);
	json_decref(payload);
	if (e != TOKEN_OK)
		memset(out, 0, sizeof(*out));
	return e;
}

const char *
token_error_message(enum token_error e)
{
	switch (e) {
	case TOKEN_OK: return "valid token";
	case TOKEN_MALFORMED: return "malformed access token";
	case TOKEN_ALG: return "access token algorithm not accepted (HS256 only)";
	case TOKEN_UNKNOWN_KID: return "access token signed with an unknown key";
	case TOKEN_SIGNATURE: return "access token signature does not match";
	case TOKEN_EXPIRED: return "access token expired";
	case TOKEN_NOT_YET_VALID: return "access token not valid yet";
	case TOKEN_ISSUER: return "access token from another issuer";
	case TOKEN_AUDIENCE: return "access token for another audience";
	case TOKEN_TOO_LONG: return "access token too long";
	}
	return "invalid access token";
}

bool
token_looks_like_jwt(const char *s)
{
	struct part parts[3];
	size_t len = strnlen(s, TOKEN_MAX + 1);

	return len <= TOKEN_MAX && strncmp(s, "eyJ", 3) == 0 && split(s, len, parts) == 0 &&
	    parts[0].n > 0 && parts[1].n > 0;
}
