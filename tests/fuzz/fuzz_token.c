/*
 * fuzz_token.c - access tokens (src/token/), as a Bearer value reaches
 * them:
 *   - token_verify() on the input (NUL-free) with a fixed keyring of two
 *     keys: whatever it accepts looks like a JWT and has valid claims,
 *     whatever it refuses leaves the claims zeroed;
 *   - from 16 bytes on, the input also makes claims (a header of flags and
 *     numbers, then iss, aud, sub, org and role separated by '\n'):
 *     token_sign() succeeds exactly when a validity check written here
 *     says the claims are valid, and then the token verifies to the same
 *     claims, expires and starts at the promised seconds, is refused for
 *     another issuer, an unknown kid or another secret, and is refused once
 *     any one of its characters is changed.
 */
#include <stdbool.h>

#include "fuzz.h"
#include "log/log.h"
#include "token/token.h"
#include "util/util.h"

#define T0 1760000000LL
#define ISS "msgd-fuzz"
#define AUD "msgd-api"

static const struct token_key ring[2] = {
	{ .kid = "k1", .secret = "0123456789abcdef0123456789abcdef" },
	{ .kid = "k2", .secret = "fedcba9876543210fedcba9876543210" },
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(LOGL_ERROR);  /* token_sign() warns about each invalid claim */
	return 0;
}

static bool
zeroed(const struct token_claims *c)
{
	static const struct token_claims zero;

	return memcmp(c, &zero, sizeof(zero)) == 0;
}

static bool
text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n < 1 || n > max || !utf8_valid(s, n))
		return false;
	/* No C0 control, DEL, or C1 control (U+0080..U+009F). */
	for (size_t i = 0; i < n; i++) {
		unsigned char b = (unsigned char)s[i];
		if (b < 0x20 || b == 0x7f || (b == 0xc2 && (unsigned char)s[i + 1] <= 0x9f))
			return false;
	}
	return true;
}

static bool
role_ok(enum token_kind kind, const char *s)
{
	if (kind == TOKEN_KIND_KEY)
		return s[0] == '\0';
	return s[0] != '\0' && strspn(s, "abcdefghijklmnopqrstuvwxyz") == strlen(s);
}

static void
check_verify(const char *s)
{
	struct token_claims out;
	enum token_error e = token_verify(ring, 2, s, T0, ISS, AUD, &out);

	FUZZ_CHECK(e >= TOKEN_OK && e <= TOKEN_TOO_LONG);
	FUZZ_CHECK(token_error_message(e)[0] != '\0');
	if (e != TOKEN_OK) {
		FUZZ_CHECK(zeroed(&out));
		return;
	}
	FUZZ_CHECK(token_looks_like_jwt(s));
	FUZZ_CHECK(strcmp(out.iss, ISS) == 0 && strcmp(out.aud, AUD) == 0);
	FUZZ_CHECK(text_ok(out.sub, TOKEN_SUBJECT_MAX) && text_ok(out.org, TOKEN_ORG_MAX));
	FUZZ_CHECK(role_ok(out.kind, out.role) && out.org_id >= 1);
	FUZZ_CHECK(out.exp >= T0 - TOKEN_SKEW_S && out.nbf <= T0 + TOKEN_SKEW_S);
	FUZZ_CHECK(out.exp - out.nbf <= TOKEN_TTL_MAX_S && strlen(out.jti) == TOKEN_JTI_HEX);
}

/* The next '\n'-separated field of data[*at..size) into out (cut to cap - 1). */
static void
field(const uint8_t *data, size_t size, size_t *at, char *out, size_t cap)
{
	size_t n = 0;

	while (*at < size && data[*at] != '\n') {
		if (n + 1 < cap)
			out[n++] = (char)data[*at];
		(*at)++;
	}
	if (*at < size)
		(*at)++;
	out[n] = '\0';
}

static uint32_t
u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool
same_claims(const struct token_claims *a, const struct token_claims *b)
{
	return strcmp(a->iss, b->iss) == 0 && strcmp(a->aud, b->aud) == 0 &&
	    strcmp(a->sub, b->sub) == 0 && strcmp(a->org, b->org) == 0 &&
	    a->org_id == b->org_id && a->kind == b->kind && strcmp(a->role, b->role) == 0 &&
	    a->scopes == b->scopes && a->platform_admin == b->platform_admin &&
	    a->iat == b->iat && a->nbf == b->nbf && a->exp == b->exp && strcmp(a->jti, b->jti) == 0;
}

static void
check_round_trip(const uint8_t *data, size_t size)
{
	struct token_claims c = { 0 }, out;
	const struct token_key *key = &ring[data[0] & 1];
	char t[TOKEN_MAX + 1];
	size_t at = 15;

	c.kind = data[0] & 2 ? TOKEN_KIND_KEY : TOKEN_KIND_USER;
	c.platform_admin = data[0] & 4;
	c.scopes = u32(data + 1);
	int64_t ttl = (int64_t)(u32(data + 5) % (TOKEN_TTL_MAX_S + 2));   /* 0 is refused */
	c.org_id = (int32_t)u32(data + 9);
	size_t pos = (size_t)data[13] << 8 | data[14];
	field(data, size, &at, c.iss, sizeof(c.iss));
	field(data, size, &at, c.aud, sizeof(c.aud));
	field(data, size, &at, c.sub, sizeof(c.sub));
	field(data, size, &at, c.org, sizeof(c.org));
	field(data, size, &at, c.role, sizeof(c.role));

	bool valid = ttl >= 1 && ttl <= TOKEN_TTL_MAX_S && c.org_id >= 1 &&
	    text_ok(c.iss, TOKEN_ISS_MAX) &&
	    text_ok(c.aud, TOKEN_AUD_MAX) && text_ok(c.sub, TOKEN_SUBJECT_MAX) &&
	    text_ok(c.org, TOKEN_ORG_MAX) && role_ok(c.kind, c.role);
	int rc = token_sign(key, &c, T0, ttl, t, sizeof(t));
	FUZZ_CHECK((rc == 0) == valid);
	if (rc != 0)
		return;

	size_t len = strlen(t);
	FUZZ_CHECK(len <= TOKEN_MAX && token_looks_like_jwt(t));
	FUZZ_CHECK(token_verify(ring, 2, t, T0, c.iss, c.aud, &out) == TOKEN_OK);
	FUZZ_CHECK(same_claims(&c, &out));
	FUZZ_CHECK(c.iat == T0 && c.nbf == T0 && c.exp == T0 + ttl);
	int64_t last = T0 + ttl + TOKEN_SKEW_S, first = T0 - TOKEN_SKEW_S;
	FUZZ_CHECK(token_verify(ring, 2, t, last, c.iss, c.aud, &out) == TOKEN_OK);
	FUZZ_CHECK(token_verify(ring, 2, t, last + 1, c.iss, c.aud, &out) == TOKEN_EXPIRED);
	FUZZ_CHECK(token_verify(ring, 2, t, first, c.iss, c.aud, &out) == TOKEN_OK);
	FUZZ_CHECK(token_verify(ring, 2, t, first - 1, c.iss, c.aud, &out) == TOKEN_NOT_YET_VALID);
	FUZZ_CHECK(token_verify(ring, 2, t, T0, "\x01", c.aud, &out) == TOKEN_ISSUER);
	FUZZ_CHECK(token_verify(ring, 2, t, T0, c.iss, "\x01", &out) == TOKEN_AUDIENCE);
	/* Only the other key: unknown kid; the same kid with another secret: signature. */
	const struct token_key *other = &ring[key == &ring[0]];
	FUZZ_CHECK(token_verify(other, 1, t, T0, c.iss, c.aud, &out) == TOKEN_UNKNOWN_KID);
	struct token_key forged = *key;
	forged.secret[data[13] % TOKEN_SECRET_LEN] ^= (uint8_t)(1u << (data[14] & 7));
	FUZZ_CHECK(token_verify(&forged, 1, t, T0, c.iss, c.aud, &out) == TOKEN_SIGNATURE);

	/* One character changed, anywhere: never accepted. */
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=";
	pos %= len;
	char was = t[pos];
	char now = alphabet[(size_t)data[0] % (sizeof(alphabet) - 1)];
	if (now == was)
		now = was == 'A' ? 'B' : 'A';
	t[pos] = now;
	FUZZ_CHECK(token_verify(ring, 2, t, T0, c.iss, c.aud, &out) != TOKEN_OK);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);

	if (strlen(s) == size)
		check_verify(s);
	free(s);
	if (size >= 16)
		check_round_trip(data, size);
	return 0;
}
