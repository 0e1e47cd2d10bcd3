/* framing.c - is a request's body framing unambiguous, is its URI routable. */
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
is_token(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!is_tchar((unsigned char)*s))
			return false;
	return true;
}

static bool
is_length(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > HTTP_CL_DIGITS_MAX)
		return false;
	return strspn(v, "0123456789") == n;
}

/* The last element of a comma-separated list is "chunked" (any case, OWS
 * around the commas allowed). */
static bool
ends_chunked(const char *v)
{
	const char *last = strrchr(v, ',');
	const char *s = last ? last + 1 : v;
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	return n == 7 && strncasecmp(s, "chunked", 7) == 0;
}

void
http_framing_add(struct http_framing *f, const char *name, const char *value)
{
	if (name == NULL || !is_token(name)) {
		f->bad_name = true;
		return;
	}
	if (value == NULL)
		value = "";
	if (strcasecmp(name, "Content-Length") == 0) {
		f->n_length++;
		if (!is_length(value))
			f->length_bad = true;
	} else if (strcasecmp(name, "Transfer-Encoding") == 0) {
		f->n_coding++;
		/* Exactly the value libmicrohttpd compares: no spaces, tabs or
		 * other codings around it. */
		f->coding_chunked = strcasecmp(value, "chunked") == 0;
		f->coding_ends_chunked = ends_chunked(value);
	}
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

int
http_uri_check(const char *raw_uri, struct http_refusal *out)
{
	if (strlen(raw_uri) > HTTP_URI_MAX)
		return refuse(out, 414, "uri_too_long", "request target too long (the limit is 8 KiB)");
	if (strstr(raw_uri, "%00") != NULL)
		return refuse(out, 400, "bad_request", "request target contains an encoded NUL (%00)");
	return 0;
}
