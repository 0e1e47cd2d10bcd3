/*
 * util.h - small helpers every subsystem uses.
 *
 * Conventions (see docs/ARCHITECTURE.md):
 *  - functions return 0 on success and -1 on failure;
 *  - x-prefixed allocators abort the process on out-of-memory, so callers
 *    never check their result;
 *  - every buffer has a cap: struct buf refuses to grow past its limit.
 */
#ifndef MSGD_UTIL_H
#define MSGD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Duplicate s, or return NULL when s is NULL. */
char *xstrdup_or_null(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable byte buffer with a hard cap (0 = SIZE_MAX). Always NUL-terminated. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t limit;
};
void buf_init(struct buf *b, size_t limit);
/* Append n bytes; -1 (and nothing appended) when the limit would be exceeded. */
int buf_append(struct buf *b, const void *p, size_t n);
void buf_free(struct buf *b);

/* Wall clock in milliseconds and seconds since the Unix epoch. */
int64_t now_ms(void);
/* Monotonic clock in milliseconds. */
int64_t mono_ms(void);

/* The times RFC 3339 can write: 0000-01-01T00:00:00Z..9999-12-31T23:59:59Z. */
#define RFC3339_MIN_S (-62167219200LL)
#define RFC3339_MAX_S 253402300799LL
/* Format a Unix time (seconds) as RFC 3339 UTC: 2025-10-09T08:53:21Z.
 * out must hold at least 21 bytes; times outside RFC3339_MIN_S..MAX_S are
 * clamped to them. */
void fmt_rfc3339(int64_t unix_s, char out[static 21]);
/* Parse RFC 3339 (Z or numeric offset, optional fraction) into Unix seconds
 * (-1 for a time outside RFC3339_MIN_S..RFC3339_MAX_S once in UTC). */
int parse_rfc3339(const char *s, int64_t *out);

/* Strict decimal numbers: ASCII digits only (no spaces, no '+', no
 * trailing bytes) and no overflow. parse_i64 allows one leading '-';
 * parse_digits takes 1 to max_digits (at most INT64_DIGITS_MAX) digits,
 * the form of every number in a URL. */
#define INT64_DIGITS_MAX 19
int parse_i64(const char *s, int64_t *out);
int parse_digits(const char *s, size_t max_digits, int64_t *out);

/* Constant-time equality of two byte strings (length is not secret). */
/* s[0..n) is the start of a longer UTF-8 text: the length at most n that
 * does not end inside a character. */
size_t utf8_boundary(const char *s, size_t n);
/* UTF-8 characters (code points) in s[0..n): bytes that do not continue one. */
size_t utf8_chars(const char *s, size_t n);
bool ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/* Fill buf with cryptographically secure random bytes. */
int random_bytes(void *buf, size_t n);
/* Lower-case hex encoding; out must hold 2*n+1 bytes. */
void hex_encode(const unsigned char *in, size_t n, char *out);
/* Exactly 2*n hex digits (either case) from s[0..len) into out[0..n). */
int hex_decode(const char *s, size_t len, unsigned char *out, size_t n);

/* SHA-256 and HMAC-SHA256 (OpenSSL underneath). */
void sha256(const void *data, size_t n, unsigned char out[32]);
void hmac_sha256(const void *key, size_t keylen, const void *data, size_t n, unsigned char out[32]);

/* True when s[0..n) is valid UTF-8 (no overlongs, no surrogates). */
bool utf8_valid(const char *s, size_t n);
/* Replace, in place, every byte of s that is not part of valid UTF-8 with
 * '?' (e.g. a character cut in half by truncation). */
void utf8_sanitize(char *s);

/*
 * Parse exactly one JSON value from buf[0..len) into a jansson tree (yajl
 * lexes; as strict as jansson's own parser, see json.c): strict UTF-8,
 * no raw control characters, no trailing bytes; an escaped \u0000 is
 * allowed (strings carry their length). Nesting deeper than max_depth is
 * refused. On failure *out is NULL and err holds "line L, column C: why".
 */
struct json_t;
int json_parse_capped(const char *buf, size_t len, int max_depth, struct json_t **out,
    char *err, size_t errlen);
/* Serialize v compactly: what json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)
 * gives, up to the spelling of escapes, by yajl's generator (several times
 * faster on text). A malloc'd NUL-terminated string (*len its length when
 * len is not NULL), or NULL on failure. */
char *json_encode(const struct json_t *v, size_t *len);
/* Unix seconds as an RFC 3339 JSON string; JSON null when s <= 0 (never). */
struct json_t *json_time_or_null(int64_t s);

/* Readers of provider JSON, for every channel adapter. */
/* v is a string without NUL bytes, usable as a C string; else NULL. */
const char *json_cstr(const struct json_t *v);
/* v is a string of exactly the bytes of lit. */
bool json_str_eq(const struct json_t *v, const char *lit);
/* A malloc'd copy of a JSON string's bytes with NULs (from \u0000)
 * dropped, never truncating at them; NULL when v is not a string. */
char *json_dup_text(const struct json_t *v);
/* Unix seconds from an integer, a real or a string of digits (providers
 * send all three), within 0..max: 0 with *out, or -1. */
int json_epoch(const struct json_t *v, int64_t max, int64_t *out);

/* Make a directory and its parents (mode for the last component). */
int mkdir_p(const char *path, unsigned mode);

/* The release (MSGD_VERSION, -D to override) and the build's commit
 * (build/gen/commit.c, written by tools/gen_commit.sh). */
#ifndef MSGD_VERSION
#define MSGD_VERSION "0.1.0"
#endif
extern const char msgd_commit[];

#endif
