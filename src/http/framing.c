/* framing.c - is a request's body framing unambiguous, is its URI routable,
 * is a connection's first request head well-formed. */
#include "framing.h"

#include <string.h>
#include <strings.h>

/* RFC 9110 5.6.2: tchar. */
static bool
is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool
is_token(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_tchar((unsigned char)s[i]))
			return false;
	return true;
}

static bool
is_length(const char *v, size_t n)
{
	if (n == 0 || n > HTTP_CL_DIGITS_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (v[i] < '0' || v[i] > '9')
			return false;
	return true;
}

static bool
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static bool
equals_nocase(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* The last element of a comma-separated list is "chunked" (any case, OWS
 * around the commas allowed). */
static bool
ends_chunked(const char *v, size_t n)
{
	size_t start = n;

	while (start > 0 && v[start - 1] != ',')
		start--;
	while (start < n && is_ows(v[start]))
		start++;
	while (n > start && is_ows(v[n - 1]))
		n--;
	return equals_nocase(v + start, n - start, "chunked");
}

void
http_framing_add_n(struct http_framing *f, const char *name, size_t name_len, const char *value,
    size_t value_len)
{
	if (name == NULL || !is_token(name, name_len)) {
		f->bad_name = true;
		return;
	}
	if (value == NULL) {
		value = "";
		value_len = 0;
	}
	if (equals_nocase(name, name_len, "Content-Length")) {
		f->n_length++;
		if (!is_length(value, value_len))
			f->length_bad = true;
	} else if (equals_nocase(name, name_len, "Transfer-Encoding")) {
		f->n_coding++;
		/* Exactly the value libmicrohttpd compares: no spaces, tabs or
		 * other codings around it. */
		f->coding_chunked = equals_nocase(value, value_len, "chunked");
		f->coding_ends_chunked = ends_chunked(value, value_len);
	} else if (equals_nocase(name, name_len, "Host")) {
		f->n_host++;
	}
}

void
http_framing_add(struct http_framing *f, const char *name, const char *value)
{
	http_framing_add_n(f, name, name ? strlen(name) : 0, value, value ? strlen(value) : 0);
}

static int
refuse(struct http_refusal *out, unsigned status, const char *code, const char *message)
{
	*out = (struct http_refusal){ .status = status, .code = code, .message = message };
	return -1;
}

int
http_framing_verdict(const struct http_framing *f, bool http10, struct http_refusal *out)
{
	if (f->bad_name)
		return refuse(out, 400, "bad_request", "a header name is not a token (space before the colon?)");
	if (f->n_host > 1)
		return refuse(out, 400, "bad_request", "more than one Host header");
	if (f->n_host == 0 && !http10)
		return refuse(out, 400, "bad_request", "an HTTP/1.1 request without a Host header");
	if (f->n_length > 0 && f->n_coding > 0)
		return refuse(out, 400, "bad_request", "both Content-Length and Transfer-Encoding");
	if (f->n_length > 1)
		return refuse(out, 400, "bad_request", "more than one Content-Length");
	if (f->n_length == 1 && f->length_bad)
		return refuse(out, 400, "bad_request", "Content-Length is not a number of bytes");
	if (f->n_coding > 1)
		return refuse(out, 400, "bad_request", "more than one Transfer-Encoding");
	if (f->n_coding == 1) {
		if (http10)
			return refuse(out, 400, "bad_request", "Transfer-Encoding in an HTTP/1.0 request");
		if (!f->coding_ends_chunked)
			return refuse(out, 400, "bad_request", "Transfer-Encoding does not end with chunked");
		if (!f->coding_chunked)
			return refuse(out, 501, "not_implemented", "the only transfer coding accepted is chunked");
	}
	return 0;
}

static int
uri_check_n(const char *uri, size_t n, struct http_refusal *out)
{
	if (n > HTTP_URI_MAX)
		return refuse(out, 414, "uri_too_long", "request target too long (the limit is 8 KiB)");
	if (memmem(uri, n, "%00", 3) != NULL)
		return refuse(out, 400, "bad_request", "request target contains an encoded NUL (%00)");
	return 0;
}

int
http_uri_check(const char *raw_uri, struct http_refusal *out)
{
	return uri_check_n(raw_uri, strlen(raw_uri), out);
}

/* --- the first request head (see framing.h) --- */

static enum http_head_verdict
head_refuse(struct http_refusal *out, unsigned status, const char *code, const char *message)
{
	refuse(out, status, code, message);
	return HTTP_HEAD_REFUSED;
}

static enum http_head_verdict
head_bad(struct http_refusal *out, const char *message)
{
	return head_refuse(out, 400, "bad_request", message);
}

/* Field content (RFC 9110 5.5): no control characters but HTAB. */
static bool
is_field_text(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

/* "METHOD SP request-target SP HTTP-version" (RFC 9112 3), line without
 * its line ending. */
static enum http_head_verdict
check_request_line(const char *s, size_t n, bool *http10, struct http_refusal *out)
{
	const char *sp1 = memchr(s, ' ', n);
	if (sp1 == NULL)
		return head_bad(out, "malformed request line (wanted: METHOD target HTTP/1.1)");
	if (!is_token(s, (size_t)(sp1 - s)))
		return head_bad(out, "malformed request line (the method is not a token)");
	const char *target = sp1 + 1, *end = s + n;
	const char *sp2 = memchr(target, ' ', (size_t)(end - target));
	if (sp2 == NULL) {
		if ((size_t)(end - target) > HTTP_URI_MAX)
			return head_refuse(out, 414, "uri_too_long", "request target too long (the limit is 8 KiB)");
		return head_bad(out, "malformed request line (no HTTP version)");
	}
	size_t tlen = (size_t)(sp2 - target);
	if (tlen == 0)
		return head_bad(out, "malformed request line (empty request target)");
	for (size_t i = 0; i < tlen; i++) {
		unsigned char c = (unsigned char)target[i];
		if (c <= 0x20 || c == 0x7f)
			return head_bad(out, "malformed request line (a control character in the request target)");
	}
	if (uri_check_n(target, tlen, out) != 0)
		return HTTP_HEAD_REFUSED;
	const char *v = sp2 + 1;
	size_t vlen = (size_t)(end - v);
	if (vlen == 8 && memcmp(v, "HTTP/1.1", 8) == 0) {
		*http10 = false;
		return HTTP_HEAD_OK;
	}
	if (vlen == 8 && memcmp(v, "HTTP/1.0", 8) == 0) {
		*http10 = true;
		return HTTP_HEAD_OK;
	}
	if (vlen == 8 && memcmp(v, "HTTP/", 5) == 0 && v[5] >= '0' && v[5] <= '9' && v[6] == '.' &&
	    v[7] >= '0' && v[7] <= '9')
		return head_refuse(out, 505, "http_version_not_supported",
		    "HTTP version not supported (only HTTP/1.0 and HTTP/1.1)");
	return head_bad(out, "malformed request line (wanted: METHOD target HTTP/1.1)");
}

/* "name: value" (RFC 9112 5), line without its line ending. */
static enum http_head_verdict
check_header_line(struct http_framing *f, const char *s, size_t n, struct http_refusal *out)
{
	if (n > 0 && is_ows(s[0]))
		return head_bad(out, "a header line starts with white space (obsolete line folding)");
	const char *colon = memchr(s, ':', n);
	if (colon == NULL)
		return head_bad(out, "a header line without a colon");
	size_t nlen = (size_t)(colon - s);
	if (!is_token(s, nlen))
		return head_bad(out, "a header name is not a token (space before the colon?)");
	const char *v = colon + 1, *end = s + n;
	if (!is_field_text(v, (size_t)(end - v)))
		return head_bad(out, "a control character in a header value");
	while (v < end && is_ows(*v))
		v++;
	while (end > v && is_ows(end[-1]))
		end--;
	http_framing_add_n(f, s, nlen, v, (size_t)(end - v));
	return HTTP_HEAD_OK;
}

enum http_head_verdict
http_head_check(const char *buf, size_t len, struct http_refusal *out)
{
	struct http_framing f = { 0 };
	bool http10 = false, have_line = false;
	unsigned nheaders = 0;
	size_t pos = 0;

	/* Empty lines before the request line are ignored (RFC 9112 2.2). */
	while (pos < len && (buf[pos] == '\r' || buf[pos] == '\n')) {
		if (buf[pos] == '\r' && (pos + 1 >= len || buf[pos + 1] != '\n'))
			break;
		pos++;
	}
	size_t start = pos;
	for (;;) {
		const char *lf = memchr(buf + pos, '\n', len - pos);
		if (lf == NULL)
			break;
		size_t n = (size_t)(lf - (buf + pos));
		if (n > 0 && buf[pos + n - 1] == '\r')
			n--;
		const char *line = buf + pos;
		pos = (size_t)(lf - buf) + 1;
		if (!have_line) {
			if (check_request_line(line, n, &http10, out) != HTTP_HEAD_OK)
				return HTTP_HEAD_REFUSED;
			have_line = true;
		} else if (n == 0) {
			if (pos - start > HTTP_HEADERS_MAX)
				return head_refuse(out, 431, "headers_too_large",
				    "request headers too large (the limit is 8 KiB)");
			return http_framing_verdict(&f, http10, out) == 0 ? HTTP_HEAD_OK : HTTP_HEAD_REFUSED;
		} else {
			if (++nheaders > HTTP_HEADER_LINES_MAX)
				return head_refuse(out, 431, "headers_too_large",
				    "too many request header lines (the limit is 100)");
			if (check_header_line(&f, line, n, out) != HTTP_HEAD_OK)
				return HTTP_HEAD_REFUSED;
		}
	}
	/* Incomplete so far: is it already over a cap? */
	if (!have_line) {
		if (len - start > HTTP_URI_MAX + HTTP_REQUEST_LINE_EXTRA)
			return head_refuse(out, 414, "uri_too_long", "request line too long (the limit is 8 KiB)");
		return HTTP_HEAD_MORE;
	}
	if (len - start > HTTP_HEADERS_MAX)
		return head_refuse(out, 431, "headers_too_large", "request headers too large (the limit is 8 KiB)");
	return HTTP_HEAD_MORE;
}
