/*
 * framing.h - checks on a request's raw form, made before libmicrohttpd
 * frames its body and before routing (internal to src/http/); and the
 * check of a connection's first request head, made before libmicrohttpd
 * reads it at all (accept.c).
 *
 * A proxy in front of msgd and msgd must agree on where a request ends;
 * when they may not (RFC 9112 6.1, 6.3), the request is refused with 400
 * and the connection closed, so leftover bytes never run as a second
 * request. Accepted: no body headers, exactly one Content-Length of digits,
 * or exactly one Transfer-Encoding whose value is exactly "chunked" (any
 * case), never both, and only header names that are tokens (no space before
 * the colon). An HTTP/1.1 request needs exactly one Host header, an
 * HTTP/1.0 one at most one (RFC 9112 3.2).
 */
#ifndef MSGD_HTTP_FRAMING_H
#define MSGD_HTTP_FRAMING_H

#include <stdbool.h>
#include <stddef.h>

/* Caps checked before routing: longer raw URIs get 414, larger header
 * blocks 431 (both well under libmicrohttpd's own limit, the connection's
 * memory pool, which answers in HTML; see http.c). */
#define HTTP_URI_MAX (8 * 1024)
#define HTTP_HEADERS_MAX (8 * 1024)
/* Content-Length values longer than this are refused (2^63 has 19 digits). */
#define HTTP_CL_DIGITS_MAX 18
/* A first request head with more header lines gets 431: libmicrohttpd's
 * connection memory holds the head and one record per header, and would
 * answer an HTML 431 itself well before 8 KiB of tiny headers. */
#define HTTP_HEADER_LINES_MAX 100
/* Room for the method, the spaces and the version around a request
 * target of HTTP_URI_MAX bytes: a longer request line gets 414. */
#define HTTP_REQUEST_LINE_EXTRA 64

/* What the headers of one request said about its body, header by header. */
struct http_framing {
	unsigned n_length;         /* Content-Length headers */
	unsigned n_coding;         /* Transfer-Encoding headers */
	bool length_bad;           /* a Content-Length that is not 1..18 digits */
	bool coding_chunked;       /* the (last) Transfer-Encoding is exactly "chunked" */
	bool coding_ends_chunked;  /* ... or a list whose last coding is chunked */
	bool bad_name;             /* a header name that is not a token */
	unsigned n_host;           /* Host headers */
};

/* One refusal: status (400, 414, 431, 501, 505), error code and message
 * (a constant string). */
struct http_refusal {
	unsigned status;
	const char *code;
	const char *message;
};

/* Account one header (name and value as libmicrohttpd parsed them). */
void http_framing_add(struct http_framing *f, const char *name, const char *value);
/* The same with lengths (name and value need not be NUL-terminated; the
 * value without the white space around it). */
void http_framing_add_n(struct http_framing *f, const char *name, size_t name_len, const char *value,
    size_t value_len);
/* 0 when the body's framing is unambiguous and Host is there once (not
 * needed in HTTP/1.0); otherwise -1 and *out says why.
 * http10: the request line said HTTP/1.0 (which has no chunked coding). */
int http_framing_verdict(const struct http_framing *f, bool http10, struct http_refusal *out);
/* 0 when the raw request target (path and query, before decoding) may be
 * routed: not longer than HTTP_URI_MAX, no percent-encoded NUL ("%00",
 * which would cut the decoded path or value short); otherwise -1. */
int http_uri_check(const char *raw_uri, struct http_refusal *out);

/*
 * The first request head on a connection, as far as it has arrived (buf:
 * the first len bytes received, peeked, not consumed). HTTP_HEAD_OK: the
 * head is complete and libmicrohttpd may parse it; HTTP_HEAD_MORE: no
 * verdict until more arrives; HTTP_HEAD_REFUSED: *out says why. Each
 * complete line is checked as soon as it is in, so a bad one is refused
 * without waiting for the rest:
 *   - empty lines before the request line are skipped; lines end with LF
 *     or CRLF;
 *   - request line: METHOD SP request-target SP HTTP/1.0 or HTTP/1.1, a
 *     token method, a target without spaces or control characters
 *     (400), other versions HTTP/x.y get 505; the target passes
 *     http_uri_check() (414, 400 for "%00"); a request line still
 *     incomplete after HTTP_URI_MAX + HTTP_REQUEST_LINE_EXTRA bytes: 414;
 *   - header lines: "name: value", a token name right before the colon,
 *     no control characters but tab in the value, no line folding (400);
 *     more than HTTP_HEADER_LINES_MAX lines, or a head (request line
 *     included, as libmicrohttpd counts it) over HTTP_HEADERS_MAX: 431;
 *   - then http_framing_verdict() (400/501: framing, Host).
 */
enum http_head_verdict {
	HTTP_HEAD_OK,
	HTTP_HEAD_MORE,
	HTTP_HEAD_REFUSED,
};
enum http_head_verdict http_head_check(const char *buf, size_t len, struct http_refusal *out);

#endif
