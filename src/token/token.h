/*
 * token.h - short-lived access tokens (JWT, RFC 7519) for
 * `Authorization: Bearer`: made by POST /v1/auth/token from a password or
 * an API key, accepted like a key until they expire.
 *
 * A token is a compact JWS signed with HMAC-SHA256 ("alg":"HS256", "typ":
 * "JWT", "kid" naming the key). Signing, the HMAC, base64url and JSON are
 * libjwt's (Debian 12: 1.10.2); this module decides what is accepted.
 * libjwt 1.10 alone would accept too much: a token whose header says HS384
 * or HS512 is verified with our HMAC key under that algorithm, "hs256" is
 * taken for HS256, and exp/nbf are never looked at. So token_verify():
 *  - refuses a token over TOKEN_MAX bytes (TOKEN_TOO_LONG) before reading it;
 *  - reads the header itself (libsodium's strict base64url, jansson with
 *    duplicate keys refused) and refuses every "alg" but exactly "HS256",
 *    "none" included (TOKEN_ALG), before any key is chosen; a "crit"
 *    header, a "typ" other than "JWT" or a kid that is not 1..TOKEN_KID_MAX
 *    of [A-Za-z0-9._-] is TOKEN_MALFORMED;
 *  - picks the key by kid (TOKEN_UNKNOWN_KID when no key has it), then has
 *    libjwt check the signature (TOKEN_SIGNATURE). Debian's libjwt
 *    1.10.2-1+deb12u1 compares the expected and given signatures with a
 *    constant-time compare (jwt_strcmp, the fix for CVE-2024-25189);
 *  - checks every claim below after the signature: types, lengths within
 *    the caps, text claims valid UTF-8 without control characters, unknown
 *    claims ignored, a missing one TOKEN_MALFORMED;
 *  - then iss and aud (exact, a single string each), exp and nbf with
 *    TOKEN_SKEW_S of clock skew either way.
 *
 * JSON claims: iss, aud, sub, iat, nbf, exp, jti (registered), org,
 * org_id, kind ("user" | "key"), role, scopes, platform_admin. All are
 * required. A lifetime (exp - nbf) over TOKEN_TTL_MAX_S is malformed.
 *
 * Rules:
 *  - pure: no store, no loop, no global state; the caller passes the time
 *    (Unix seconds) and the keyring. Safe on any thread;
 *  - a keyring is an array of keys; rotation adds a new key for signing
 *    and keeps the old one in the array for at least TOKEN_TTL_S +
 *    TOKEN_SKEW_S; removing a key refuses its tokens at once;
 *  - a claim struct filled by token_verify() is what the token says; the
 *    caller MUST still check that org, principal and role exist and that
 *    the org is the one the request acts in;
 *  - secrets, signatures and tokens MUST NOT be logged; this module logs
 *    only the name of an invalid claim given to token_sign().
 */
#ifndef MSGD_TOKEN_H
#define MSGD_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOKEN_MAX 4096              /* longest token accepted or made (bytes) */
#define TOKEN_SECRET_LEN 32         /* HMAC key bytes */
#define TOKEN_KID_MAX 32            /* key ids: 1..32 of [A-Za-z0-9._-] */
#define TOKEN_ISS_MAX 64            /* iss and aud: 1..64 bytes of text */
#define TOKEN_AUD_MAX 64
#define TOKEN_SUBJECT_MAX 64        /* sub: 1..64 bytes of text */
#define TOKEN_ORG_MAX 64            /* org: 1..64 bytes of text */
#define TOKEN_ROLE_MAX 15           /* role: [a-z], 1..15 for users, empty for keys */
#define TOKEN_JTI_HEX 32            /* jti: 16 random bytes, lower-case hex */
#define TOKEN_TTL_S (15 * 60)       /* the lifetime POST /v1/auth/token gives */
#define TOKEN_TTL_MAX_S (24 * 3600) /* longest lifetime signed or accepted */
#define TOKEN_SKEW_S 60             /* clock skew allowed on exp and nbf */
#define TOKEN_TIME_MAX 253402300799LL /* 9999-12-31T23:59:59Z: iat/nbf/exp within 0..this */

struct token_key {
	char kid[TOKEN_KID_MAX + 1];
	unsigned char secret[TOKEN_SECRET_LEN];
};

enum token_kind { TOKEN_KIND_USER, TOKEN_KIND_KEY };

struct token_claims {
	char iss[TOKEN_ISS_MAX + 1];     /* must equal the verifier's expected issuer */
	char aud[TOKEN_AUD_MAX + 1];     /* must equal the verifier's expected audience */
	char sub[TOKEN_SUBJECT_MAX + 1]; /* user name, or API key id as text */
	char org[TOKEN_ORG_MAX + 1];     /* organization name */
	int64_t org_id;                  /* >= 1 */
	enum token_kind kind;
	char role[TOKEN_ROLE_MAX + 1];   /* users: e.g. owner|admin|agent|viewer; keys: "" */
	uint32_t scopes;                 /* opaque bitmask chosen by the caller */
	bool platform_admin;
	int64_t iat, nbf, exp;           /* Unix seconds; set by token_sign() */
	char jti[TOKEN_JTI_HEX + 1];     /* set by token_sign() */
};

enum token_error {
	TOKEN_OK = 0,
	TOKEN_MALFORMED,      /* not a JWT of ours: syntax, header, a claim missing or invalid */
	TOKEN_ALG,            /* an algorithm other than HS256 (none included) */
	TOKEN_UNKNOWN_KID,    /* no key in the keyring has the token's kid */
	TOKEN_SIGNATURE,      /* the signature does not match */
	TOKEN_EXPIRED,        /* exp more than TOKEN_SKEW_S ago */
	TOKEN_NOT_YET_VALID,  /* nbf more than TOKEN_SKEW_S ahead */
	TOKEN_ISSUER,         /* iss is not the expected one */
	TOKEN_AUDIENCE,       /* aud is not the expected one */
	TOKEN_TOO_LONG,       /* over TOKEN_MAX bytes */
};

/*
 * Sign c with key: sets c->iat = c->nbf = now, c->exp = now + ttl_s and a
 * fresh c->jti, then writes the compact JWT (NUL-terminated) into
 * out[0..cap). -1 (logged, naming the claim) when a claim is invalid,
 * ttl_s is outside 1..TOKEN_TTL_MAX_S, now + ttl_s is outside
 * 0..TOKEN_TIME_MAX, the key's kid is invalid, or the token does not fit
 * in cap (or TOKEN_MAX + 1) bytes.
 */
int token_sign(const struct token_key *key, struct token_claims *c, int64_t now, int64_t ttl_s,
    char *out, size_t cap);

/*
 * Verify jwt (NUL-terminated) with the key of keys[0..n) whose kid the
 * header names, at time now; iss and aud are the expected values. On
 * TOKEN_OK *out holds the claims; on any error *out is zeroed.
 */
enum token_error token_verify(const struct token_key *keys, size_t n, const char *jwt, int64_t now,
    const char *iss, const char *aud, struct token_claims *out);

/* A short sentence for a person (an API error message); names no secret. */
const char *token_error_message(enum token_error e);

/*
 * Does this bearer value look like a JWT rather than an API key or the
 * admin token: at most TOKEN_MAX bytes, three parts of the base64url
 * alphabet joined by '.', the first two non-empty, the header's encoding
 * starting with "eyJ" (the base64 of '{"'). Only a hint for choosing the
 * check: token_verify() decides.
 */
bool token_looks_like_jwt(const char *s);

/* A new random key (libsodium randombytes): kid "k" + 8 hex digits. */
void token_key_new(struct token_key *k);

/* "user" / "key"; token_kind_parse() is 0 / -1. */
const char *token_kind_name(enum token_kind kind);
int token_kind_parse(const char *s, enum token_kind *out);

#endif
