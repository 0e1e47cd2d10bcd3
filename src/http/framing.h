/*
 * framing.h - checks on a request's raw form, made before libmicrohttpd
 * frames its body and before routing (internal to src/http/).
 *
 * A proxy in front of msgd and msgd must agree on where a request ends;
 * when they may not (RFC 9112 6.1, 6.3), the request is refused with 400
 * and the connection closed, so leftover bytes never run as a second
 * request. Accepted: no body headers, exactly one Content-Length of digits,
 * or exactly one Transfer-Encoding whose value is exactly "chunked" (any
 * case), never both, and only header names that are tokens (no space before
 * the colon).
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

/* What the headers of one request said about its body, header by header. */
struct http_framing {
	unsigned n_length;         /* Content-Length headers */
	unsigned n_coding;         /* Transfer-Encoding headers */
	bool length_bad;           /* a Content-Length that is not 1..18 digits */
	bool coding_chunked;       /* the (last) Transfer-Encoding is exactly "chunked" */
	bool coding_ends_chunked;  /* ... or a list whose last coding is chunked */
	bool bad_name;             /* a header name that is not a token */
};

/* One refusal: status (400, 414, 431, 501), error code and message. */
struct http_refusal {
	unsigned status;
	const char *code;
	const char *message;
};

/* Account one header (name and value as libmicrohttpd parsed them). */
void http_framing_add(struct http_framing *f, const char *name, const char *value);
/* 0 when the body's framing is unambiguous; otherwise -1 and *out says why.
 * http10: the request line said HTTP/1.0 (which has no chunked coding). */
int http_framing_verdict(const struct http_framing *f, bool http10, struct http_refusal *out);
/* 0 when the raw request target (path and query, before decoding) may be
 * routed: not longer than HTTP_URI_MAX, no percent-encoded NUL ("%00",
 * which would cut the decoded path or value short); otherwise -1. */
int http_uri_check(const char *raw_uri, struct http_refusal *out);

#endif
