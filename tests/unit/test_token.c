/*
 * test_token.c - access tokens (src/token/): the round trip, every
 * algorithm but HS256 refused (none, HS384, HS512, RS256, a lower-case
 * "hs256"), wrong and unknown keys, key rotation, exp/nbf with the clock
 * skew, iss/aud, tampering, caps, and claims of the wrong type or missing
 * in tokens that carry a valid signature (made with libjwt directly).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <jwt.h>
#include <sodium.h>

#include "log/log.h"
#include "token/token.h"

#define T0 1760000000LL  /* a fixed "now" */
#define ISS "msgd-test"
#define AUD "msgd-api"

static struct token_key key1 = { .kid = "k1", .secret = "0123456789abcdef0123456789abcdef" };
static struct token_key key2 = { .kid = "k2", .secret = "fedcba9876543210fedcba9876543210" };

static struct token_claims
user_claims(void)
{
	struct token_claims c = {
		.iss = ISS, .aud = AUD, .sub = "ana", .org = "acme", .org_id = 7,
		.kind = TOKEN_KIND_USER, .role = "admin", .scopes = 0x15, .platform_admin = false,
	};
	return c;
}

static void
sign_ok(const struct token_key *k, struct token_claims *c, int64_t now, char out[TOKEN_MAX + 1])
{
	assert_int_equal(token_sign(k, c, now, TOKEN_TTL_S, out, TOKEN_MAX + 1), 0);
}

static enum token_error
verify(const struct token_key *keys, size_t n, const char *jwt, int64_t now)
{
	struct token_claims out;

	return token_verify(keys, n, jwt, now, ISS, AUD, &out);
}

static void
b64url(const void *bin, size_t n, char *out, size_t cap)
{
	sodium_bin2base64(out, cap, bin, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* header.payload.sig from JSON texts, the signature given as base64url. */
static char *
hand_token(const char *header, const char *payload, const char *sig)
{
	char h[TOKEN_MAX], p[TOKEN_MAX];
	char *t = malloc(3 * TOKEN_MAX);

	b64url(header, strlen(header), h, sizeof(h));
	b64url(payload, strlen(payload), p, sizeof(p));
	snprintf(t, 3 * TOKEN_MAX, "%s.%s.%s", h, p, sig);
	return t;
}

/* The claims token_sign() writes, as a JSON object to change. */
static json_t *
claims_object(int64_t now)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:I, s:b, s:I, s:I, s:I, s:s}",
	    "iss", ISS, "aud", AUD, "sub", "ana", "org", "acme", "org_id", (json_int_t)7,
	    "kind", "user", "role", "admin", "scopes", (json_int_t)3, "platform_admin", 0,
	    "iat", (json_int_t)now, "nbf", (json_int_t)now, "exp", (json_int_t)(now + TOKEN_TTL_S),
	    "jti", "00112233445566778899aabbccddeeff");
}

/* The same claims as JSON text (free it). */
static char *
claims_text(int64_t now)
{
	json_t *o = claims_object(now);
	char *s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	return s;
}

/* A token over claims, signed by libjwt itself with alg and the key (kid). */
static char *
libjwt_token(jwt_alg_t alg, const struct token_key *k, json_t *claims)
{
	jwt_t *j;
	char *grants = json_dumps(claims, JSON_COMPACT);
	char *t;

	assert_int_equal(jwt_new(&j), 0);
	assert_int_equal(jwt_add_grants_json(j, grants), 0);
	assert_int_equal(jwt_add_header(j, "kid", k->kid), 0);
	assert_int_equal(jwt_set_alg(j, alg, alg == JWT_ALG_NONE ? NULL : k->secret,
	    alg == JWT_ALG_NONE ? 0 : (int)sizeof(k->secret)), 0);
	t = jwt_encode_str(j);
	assert_non_null(t);
	jwt_free(j);
	free(grants);
	json_decref(claims);
	return t;
}

static void
test_round_trip(void **state)
{
	struct token_claims c = user_claims(), out;
	char t[TOKEN_MAX + 1];

	sign_ok(&key1, &c, T0, t);
	assert_true(token_looks_like_jwt(t));
	assert_int_equal(c.iat, T0);
	assert_int_equal(c.nbf, T0);
	assert_int_equal(c.exp, T0 + TOKEN_TTL_S);
	assert_int_equal(strlen(c.jti), TOKEN_JTI_HEX);
	assert_int_equal(token_verify(&key1, 1, t, T0, ISS, AUD, &out), TOKEN_OK);
	assert_string_equal(out.iss, ISS);
	assert_string_equal(out.aud, AUD);
	assert_string_equal(out.sub, "ana");
	assert_string_equal(out.org, "acme");
	assert_int_equal(out.org_id, 7);
	assert_int_equal(out.kind, TOKEN_KIND_USER);
	assert_string_equal(out.role, "admin");
	assert_int_equal(out.scopes, 0x15);
	assert_false(out.platform_admin);
	assert_int_equal(out.iat, T0);
	assert_int_equal(out.nbf, T0);
	assert_int_equal(out.exp, T0 + TOKEN_TTL_S);
	assert_string_equal(out.jti, c.jti);

	/* The header libjwt wrote: HS256, JWT, our kid. */
	unsigned char h[256];
	size_t hl;
	assert_int_equal(sodium_base642bin(h, sizeof(h) - 1, t, (size_t)(strchr(t, '.') - t), NULL,
	    &hl, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING), 0);
	h[hl] = '\0';
	json_t *hj = json_loads((char *)h, 0, NULL);
	assert_non_null(hj);
	assert_string_equal(json_string_value(json_object_get(hj, "alg")), "HS256");
	assert_string_equal(json_string_value(json_object_get(hj, "typ")), "JWT");
	assert_string_equal(json_string_value(json_object_get(hj, "kid")), "k1");
	json_decref(hj);

	/* Each token gets its own jti; a platform admin's flag survives. */
	struct token_claims c2 = user_claims();
	char t2[TOKEN_MAX + 1];
	c2.platform_admin = true;
	c2.scopes = UINT32_MAX;
	sign_ok(&key1, &c2, T0, t2);
	assert_string_not_equal(c.jti, c2.jti);
	assert_int_equal(token_verify(&key1, 1, t2, T0, ISS, AUD, &out), TOKEN_OK);
	assert_true(out.platform_admin);
	assert_int_equal(out.scopes, UINT32_MAX);
}

static void
test_alg_none(void **state)
{
	char *payload = claims_text(T0);
	const char *headers[] = {
		"{\"alg\":\"none\"}",
		"{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"k1\"}",
		"{\"alg\":\"None\",\"typ\":\"JWT\",\"kid\":\"k1\"}",
		"{\"alg\":\"\",\"typ\":\"JWT\",\"kid\":\"k1\"}",
	};

	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		char *t = hand_token(headers[i], payload, "");
		assert_int_equal(verify(&key1, 1, t, T0), TOKEN_ALG);
		free(t);
	}
	/* libjwt's own unsigned token, with our kid. */
	char *t = libjwt_token(JWT_ALG_NONE, &key1, claims_object(T0));
	assert_int_equal(verify(&key1, 1, t, T0), TOKEN_ALG);
	free(t);
	/* libjwt 1.10 itself: alg none is refused when a key is given,
	 * accepted when none is (so this module always gives one). */
	jwt_t *j = NULL;
	t = hand_token(headers[0], payload, "");
	assert_int_not_equal(jwt_decode(&j, t, key1.secret, sizeof(key1.secret)), 0);
	assert_int_equal(jwt_decode(&j, t, NULL, 0), 0);
	jwt_free(j);
	free(t);
	free(payload);
}

static void
test_other_algs(void **state)
{
	/* HS384 / HS512 with our own secret and kid: libjwt 1.10 verifies these
	 * with the key under the header's algorithm (algorithm confusion). */
	jwt_alg_t algs[] = { JWT_ALG_HS384, JWT_ALG_HS512 };
	for (size_t i = 0; i < 2; i++) {
		char *t = libjwt_token(algs[i], &key1, claims_object(T0));
		jwt_t *j = NULL;
		assert_int_equal(jwt_decode(&j, t, key1.secret, sizeof(key1.secret)), 0);
		jwt_free(j);
		assert_int_equal(verify(&key1, 1, t, T0), TOKEN_ALG);
		free(t);
	}

	char *payload = claims_text(T0);
	const char *headers[] = {
		"{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}",
		"{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"k1\"}",
		"{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"k1\"}",
		/* libjwt 1.10 reads algorithm names case-insensitively */
		"{\"alg\":\"hs256\",\"typ\":\"JWT\",\"kid\":\"k1\"}",
	};
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		char *t = hand_token(headers[i], payload, "c2lnbmF0dXJlLWJ5dGVzLXRoYXQtZG8tbm90LW1hdHRlcg");
		assert_int_equal(verify(&key1, 1, t, T0), TOKEN_ALG);
		free(t);
	}
	/* alg of the wrong type, or missing: malformed. */
	char *t = hand_token("{\"alg\":1,\"kid\":\"k1\"}", payload, "x");
	assert_int_equal(verify(&key1, 1, t, T0), TOKEN_MALFORMED);
	free(t);
	t = hand_token("{\"kid\":\"k1\"}", payload, "x");
	assert_int_equal(verify(&key1, 1, t, T0), TOKEN_MALFORMED);
	free(t);
	free(payload);
}

static void
test_keys(void **state)
{
	struct token_claims c = user_claims();
	char t[TOKEN_MAX + 1];
	struct token_key other = key1;

	sign_ok(&key1, &c, T0, t);
	other.secret[0] ^= 1;  /* same kid, another secret */
	assert_int_equal(verify(&other, 1, t, T0), TOKEN_SIGNATURE);
	assert_int_equal(verify(&key2, 1, t, T0), TOKEN_UNKNOWN_KID);
	assert_int_equal(verify(NULL, 0, t, T0), TOKEN_UNKNOWN_KID);

	/* Rotation: k2 is added for signing, k1 stays to verify. */
	struct token_key ring[2] = { key2, key1 };
	char t2[TOKEN_MAX + 1];
	sign_ok(&key2, &c, T0, t2);
	assert_int_equal(verify(ring, 2, t, T0), TOKEN_OK);
	assert_int_equal(verify(ring, 2, t2, T0), TOKEN_OK);
	/* k1 removed: its tokens are refused at once. */
	assert_int_equal(verify(ring, 1, t, T0), TOKEN_UNKNOWN_KID);
	assert_int_equal(verify(ring, 1, t2, T0), TOKEN_OK);
}

static void
test_times(void **state)
{
	struct token_claims c = user_claims();
	char t[TOKEN_MAX + 1];
	int64_t exp = T0 + TOKEN_TTL_S;

	sign_ok(&key1, &c, T0, t);
	assert_int_equal(verify(&key1, 1, t, exp), TOKEN_OK);
	assert_int_equal(verify(&key1, 1, t, exp + TOKEN_SKEW_S), TOKEN_OK);
	assert_int_equal(verify(&key1, 1, t, exp + TOKEN_SKEW_S + 1), TOKEN_EXPIRED);
	assert_int_equal(verify(&key1, 1, t, exp + 86400), TOKEN_EXPIRED);
	assert_int_equal(verify(&key1, 1, t, T0 - TOKEN_SKEW_S), TOKEN_OK);
	assert_int_equal(verify(&key1, 1, t, T0 - TOKEN_SKEW_S - 1), TOKEN_NOT_YET_VALID);
	assert_int_equal(verify(&key1, 1, t, INT64_MIN), TOKEN_NOT_YET_VALID);
	assert_int_equal(verify(&key1, 1, t, INT64_MAX), TOKEN_EXPIRED);

	/* An nbf in the future in a validly signed token. */
	json_t *o = claims_object(T0);
	json_object_set_new(o, "nbf", json_integer(T0 + 300));
	char *f = libjwt_token(JWT_ALG_HS256, &key1, o);
	assert_int_equal(verify(&key1, 1, f, T0), TOKEN_NOT_YET_VALID);
	assert_int_equal(verify(&key1, 1, f, T0 + 300 - TOKEN_SKEW_S), TOKEN_OK);
	free(f);

	/* The sign-side caps on the lifetime. */
	assert_int_equal(token_sign(&key1, &c, T0, 0, t, sizeof(t)), -1);
	assert_int_equal(token_sign(&key1, &c, T0, TOKEN_TTL_MAX_S + 1, t, sizeof(t)), -1);
	assert_int_equal(token_sign(&key1, &c, -1, TOKEN_TTL_S, t, sizeof(t)), -1);
	assert_int_equal(token_sign(&key1, &c, TOKEN_TIME_MAX, TOKEN_TTL_S, t, sizeof(t)), -1);
}

static void
test_iss_aud(void **state)
{
	struct token_claims c = user_claims(), out;
	char t[TOKEN_MAX + 1];

	sign_ok(&key1, &c, T0, t);
	assert_int_equal(token_verify(&key1, 1, t, T0, "other", AUD, &out), TOKEN_ISSUER);
	assert_string_equal(out.sub, "");  /* zeroed on failure */
	assert_int_equal(token_verify(&key1, 1, t, T0, ISS, "other", &out), TOKEN_AUDIENCE);
	assert_int_equal(token_verify(&key1, 1, t, T0, ISS "x", AUD, &out), TOKEN_ISSUER);
	assert_int_equal(token_verify(&key1, 1, t, T0, ISS, AUD "x", &out), TOKEN_AUDIENCE);
	assert_int_equal(token_verify(&key1, 1, t, T0, NULL, AUD, &out), TOKEN_ISSUER);

	/* An audience as an array (RFC 7519 allows it; we never make one). */
	json_t *o = claims_object(T0);
	json_object_set_new(o, "aud", json_pack("[s]", AUD));
	char *a = libjwt_token(JWT_ALG_HS256, &key1, o);
	assert_int_equal(verify(&key1, 1, a, T0), TOKEN_MALFORMED);
	free(a);
}

static void
test_org_and_key_kind(void **state)
{
	struct token_claims a = user_claims(), out;
	char t[TOKEN_MAX + 1];

	a.kind = TOKEN_KIND_KEY;
	a.role[0] = '\0';
	snprintf(a.sub, sizeof(a.sub), "%d", 42);
	snprintf(a.org, sizeof(a.org), "org-A");
	a.org_id = 11;
	sign_ok(&key1, &a, T0, t);
	assert_int_equal(token_verify(&key1, 1, t, T0, ISS, AUD, &out), TOKEN_OK);
	assert_string_equal(out.org, "org-A");
	assert_int_equal(out.org_id, 11);
	assert_int_equal(out.kind, TOKEN_KIND_KEY);
	assert_string_equal(out.role, "");
	assert_string_equal(out.sub, "42");
	/* The caller compares: a token for org A is not one for org B. */
	assert_string_not_equal(out.org, "org-B");
}

/* Replace the payload of t by payload (JSON text), keeping header and signature. */
static char *
with_payload(const char *t, const char *payload)
{
	const char *d1 = strchr(t, '.'), *d2 = strrchr(t, '.');
	char p[TOKEN_MAX];
	char *n = malloc(3 * TOKEN_MAX);

	b64url(payload, strlen(payload), p, sizeof(p));
	snprintf(n, 3 * TOKEN_MAX, "%.*s.%s%s", (int)(d1 - t), t, p, d2);
	return n;
}

static void
test_tampered(void **state)
{
	struct token_claims c = user_claims();
	char t[TOKEN_MAX + 1];

	sign_ok(&key1, &c, T0, t);
	/* A claim flipped: another org, a higher role, admin, no expiry soon. */
	json_t *o = claims_object(T0);
	json_object_set_new(o, "jti", json_string(c.jti));
	json_object_set_new(o, "role", json_string("owner"));
	json_object_set_new(o, "platform_admin", json_true());
	char *payload = json_dumps(o, JSON_COMPACT);
	char *n = with_payload(t, payload);
	assert_int_equal(verify(&key1, 1, n, T0), TOKEN_SIGNATURE);
	free(n);
	free(payload);
	json_decref(o);

	/* One character of the signature changed, or cut, or lengthened. */
	char m[TOKEN_MAX + 2];
	size_t len = strlen(t);
	memcpy(m, t, len + 1);
	m[len - 5] = m[len - 5] == 'A' ? 'B' : 'A';
	assert_int_equal(verify(&key1, 1, m, T0), TOKEN_SIGNATURE);
	memcpy(m, t, len + 1);
	m[len - 1] = '\0';
	assert_int_equal(verify(&key1, 1, m, T0), TOKEN_SIGNATURE);
	memcpy(m, t, len + 1);
	m[len] = 'A';
	m[len + 1] = '\0';
	assert_int_equal(verify(&key1, 1, m, T0), TOKEN_SIGNATURE);
	/* The header changed (kid kept): the signature covers it. */
	char *h = hand_token("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\",\"x\":1}", "{}", "");
	char hdr[TOKEN_MAX];
	snprintf(hdr, sizeof(hdr), "%.*s%s", (int)(strchr(h, '.') - h), h, strchr(t, '.'));
	assert_int_equal(verify(&key1, 1, hdr, T0), TOKEN_SIGNATURE);
	free(h);
}

static void
test_caps_and_garbage(void **state)
{
	char *big = malloc(TOKEN_MAX + 2);

	memset(big, 'a', TOKEN_MAX + 1);
	big[TOKEN_MAX + 1] = '\0';
	assert_int_equal(verify(&key1, 1, big, T0), TOKEN_TOO_LONG);
	assert_false(token_looks_like_jwt(big));
	/* A signed-looking token padded past the cap with an unknown claim. */
	json_t *o = claims_object(T0);
	json_object_set_new(o, "pad", json_string(big + 1000));
	char *t = libjwt_token(JWT_ALG_HS256, &key1, o);
	assert_true(strlen(t) > TOKEN_MAX);
	assert_int_equal(verify(&key1, 1, t, T0), TOKEN_TOO_LONG);
	free(t);
	free(big);

	const char *bad[] = {
		"", "abc", "a.b", "a.b.c.d", "..", "...", ".eyJ.x", "eyJ..x", "!!.ab.cd",
		"eyJhbGciOiJIUzI1NiJ9.e30.a b", "eyJhbGciOiJIUzI1NiJ9=.e30.abc",
		"bm90IGpzb24.e30.abc",               /* header "not json" */
		"WzFd.e30.abc",                      /* header [1] */
		"eyJhbGciOiJIUzI1NiJ9.e30.abc",      /* no kid */
		"eyJhbGciOiJIUzI1NiJ9.e30.abc\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(verify(&key1, 1, bad[i], T0), TOKEN_MALFORMED);

	/* Non-canonical base64url (trailing bits set) in the header. */
	char *h = hand_token("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}", "{}", "x");
	char *dot = strchr(h, '.');
	char last = dot[-1];
	dot[-1] = (char)(last == 'Q' ? 'R' : last + 1);
	assert_int_equal(verify(&key1, 1, h, T0), TOKEN_MALFORMED);
	free(h);

	/* kid too long, or with characters outside the set; a crit header. */
	char *p = claims_text(T0);
	const char *headers[] = {
		"{\"alg\":\"HS256\",\"kid\":\"k123456789012345678901234567890123\"}",
		"{\"alg\":\"HS256\",\"kid\":\"k 1\"}",
		"{\"alg\":\"HS256\",\"kid\":\"\"}",
		"{\"alg\":\"HS256\",\"kid\":\"k1\",\"crit\":[\"exp\"]}",
		"{\"alg\":\"HS256\",\"typ\":\"jwt+x\",\"kid\":\"k1\"}",
		"{\"alg\":\"HS256\",\"kid\":\"k1\",\"kid\":\"k2\"}",
	};
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		t = hand_token(headers[i], p, "abc");
		assert_int_equal(verify(&key1, 1, t, T0), TOKEN_MALFORMED);
		free(t);
	}
	free(p);
	/* A payload that is not a JSON object. */
	t = hand_token("{\"alg\":\"HS256\",\"kid\":\"k1\"}", "[1,2]", "abc");
	assert_int_equal(verify(&key1, 1, t, T0), TOKEN_MALFORMED);
	free(t);
}

/* A validly signed token whose claims are changed by set (or key removed). */
static enum token_error
signed_with(const char *name, json_t *value)
{
	json_t *o = claims_object(T0);

	if (value == NULL)
		json_object_del(o, name);
	else
		json_object_set_new(o, name, value);
	char *t = libjwt_token(JWT_ALG_HS256, &key1, o);
	enum token_error e = verify(&key1, 1, t, T0);
	free(t);
	return e;
}

static void
test_claim_types(void **state)
{
	assert_int_equal(signed_with("unknown_extra", json_string("ignored")), TOKEN_OK);
	assert_int_equal(signed_with("org_id", json_string("7")), TOKEN_MALFORMED);
	assert_int_equal(signed_with("org_id", json_real(7.0)), TOKEN_MALFORMED);
	assert_int_equal(signed_with("org_id", json_integer(0)), TOKEN_MALFORMED);
	assert_int_equal(signed_with("sub", json_integer(5)), TOKEN_MALFORMED);
	assert_int_equal(signed_with("sub", json_string("")), TOKEN_MALFORMED);
	assert_int_equal(signed_with("sub", json_string("a\x01")), TOKEN_MALFORMED);
	assert_int_equal(signed_with("sub", json_string("a\x7f")), TOKEN_MALFORMED);
	assert_int_equal(signed_with("sub", json_string("a\xc2\x85")), TOKEN_MALFORMED);  /* NEL */
	assert_int_equal(signed_with("sub", json_string("ñandú")), TOKEN_OK);
	char long_sub[TOKEN_SUBJECT_MAX + 2];
	memset(long_sub, 's', sizeof(long_sub) - 1);
	long_sub[sizeof(long_sub) - 1] = '\0';
	assert_int_equal(signed_with("sub", json_string(long_sub)), TOKEN_MALFORMED);
	long_sub[TOKEN_SUBJECT_MAX] = '\0';
	assert_int_equal(signed_with("sub", json_string(long_sub)), TOKEN_OK);
	assert_int_equal(signed_with("org", json_null()), TOKEN_MALFORMED);
	assert_int_equal(signed_with("kind", json_string("admin")), TOKEN_MALFORMED);
	assert_int_equal(signed_with("role", json_string("")), TOKEN_MALFORMED);
	assert_int_equal(signed_with("role", json_string("Owner")), TOKEN_MALFORMED);
	assert_int_equal(signed_with("scopes", json_integer(-1)), TOKEN_MALFORMED);
	assert_int_equal(signed_with("scopes", json_integer(1LL << 32)), TOKEN_MALFORMED);
	assert_int_equal(signed_with("platform_admin", json_integer(1)), TOKEN_MALFORMED);
	assert_int_equal(signed_with("exp", json_string("1760000900")), TOKEN_MALFORMED);
	assert_int_equal(signed_with("exp", json_integer(T0 + TOKEN_TTL_MAX_S + 1)), TOKEN_MALFORMED);
	assert_int_equal(signed_with("exp", json_integer(T0)), TOKEN_MALFORMED);
	assert_int_equal(signed_with("iat", json_integer(-5)), TOKEN_MALFORMED);
	assert_int_equal(signed_with("jti", json_string("xyz")), TOKEN_MALFORMED);
	const char *required[] = { "iss", "aud", "sub", "org", "org_id", "kind", "role", "scopes",
		"platform_admin", "iat", "nbf", "exp", "jti" };
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		assert_int_equal(signed_with(required[i], NULL), TOKEN_MALFORMED);
}

static void
test_sign_refuses(void **state)
{
	char t[TOKEN_MAX + 1];
	struct token_claims c;
	struct token_key badkid = key1;

	c = user_claims();
	c.sub[0] = '\0';
	assert_int_equal(token_sign(&key1, &c, T0, TOKEN_TTL_S, t, sizeof(t)), -1);
	assert_string_equal(t, "");
	c = user_claims();
	snprintf(c.role, sizeof(c.role), "Admin");
	assert_int_equal(token_sign(&key1, &c, T0, TOKEN_TTL_S, t, sizeof(t)), -1);
	c = user_claims();
	c.kind = TOKEN_KIND_KEY;  /* keys have no role */
	assert_int_equal(token_sign(&key1, &c, T0, TOKEN_TTL_S, t, sizeof(t)), -1);
	c = user_claims();
	c.org[0] = '\n';
	assert_int_equal(token_sign(&key1, &c, T0, TOKEN_TTL_S, t, sizeof(t)), -1);
	c = user_claims();
	memset(c.iss, 'i', sizeof(c.iss));  /* not terminated */
	assert_int_equal(token_sign(&key1, &c, T0, TOKEN_TTL_S, t, sizeof(t)), -1);
	c = user_claims();
	assert_int_equal(token_sign(&key1, &c, T0, TOKEN_TTL_S, t, 64), -1);  /* no room */
	snprintf(badkid.kid, sizeof(badkid.kid), "k/1");
	assert_int_equal(token_sign(&badkid, &c, T0, TOKEN_TTL_S, t, sizeof(t)), -1);
}

static void
test_looks_like_and_keys(void **state)
{
	struct token_claims c = user_claims();
	char t[TOKEN_MAX + 1];
	struct token_key a, b;

	sign_ok(&key1, &c, T0, t);
	assert_true(token_looks_like_jwt(t));
	assert_false(token_looks_like_jwt("msgd_3q2kF9xY0aB7cD1eF4gH6iJ8kL0mN2pQ"));
	assert_false(token_looks_like_jwt(
	    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"));
	assert_false(token_looks_like_jwt(""));
	assert_false(token_looks_like_jwt("eyJ.x"));
	assert_false(token_looks_like_jwt("eyJ..x"));
	assert_true(token_looks_like_jwt("eyJhbGciOiJub25lIn0.e30."));

	token_key_new(&a);
	token_key_new(&b);
	assert_int_equal(strlen(a.kid), 9);
	assert_int_equal(a.kid[0], 'k');
	assert_int_equal(strspn(a.kid + 1, "0123456789abcdef"), 8);
	assert_memory_not_equal(a.secret, b.secret, sizeof(a.secret));
	sign_ok(&a, &c, T0, t);
	struct token_key ring[2] = { b, a };
	assert_int_equal(verify(ring, 2, t, T0), TOKEN_OK);

	for (int e = TOKEN_OK; e <= TOKEN_TOO_LONG; e++)
		assert_true(strlen(token_error_message((enum token_error)e)) > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_alg_none),
		cmocka_unit_test(test_other_algs),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_iss_aud),
		cmocka_unit_test(test_org_and_key_kind),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_caps_and_garbage),
		cmocka_unit_test(test_claim_types),
		cmocka_unit_test(test_sign_refuses),
		cmocka_unit_test(test_looks_like_and_keys),
	};
	log_set_level(LOGL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
