/*
 * fuzz_http_head.c - the first request head on a connection, as accept.c
 * hands it to http_head_check() (the bytes received so far), against an
 * oracle written here from RFC 9112 alone:
 *
 *   - lines end with LF, optionally preceded by one CR; empty lines before
 *     the request line are skipped;
 *   - request line: token SP target SP HTTP/1.0|HTTP/1.1, the target
 *     without controls or spaces;
 *   - header lines: no leading white space (obs-fold), a token name right
 *     before the colon, no control characters but HTAB in the value;
 *   - framing: no Content-Length and no Transfer-Encoding, or exactly one
 *     Content-Length of 1 to 18 digits, or (HTTP/1.1 only) exactly one
 *     Transfer-Encoding whose value is exactly "chunked" (any case), never
 *     both; Host exactly once in HTTP/1.1, at most once in HTTP/1.0.
 *
 * Asserted: whatever msgd accepts, the oracle accepts (so every head the
 * oracle calls ambiguous is refused); "more" only while the oracle sees no
 * complete head; and, within msgd's documented caps (8 KiB head, 100
 * lines, no "%00"), whatever the oracle accepts msgd accepts too. The
 * daemon runs exactly this function on the peeked bytes (accept.c), and
 * http_framing_verdict() again on libmicrohttpd's parse (http.c).
 */
#include <stdbool.h>
#include <strings.h>

#include "fuzz.h"
#include "http/framing.h"

enum oracle { O_OK, O_BAD, O_INCOMPLETE };

static bool
tchar(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return true;
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool
token(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!tchar((unsigned char)s[i]))
			return false;
	return true;
}

static bool
same_nocase(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

struct oracle_state {
	size_t head_len;        /* bytes from the request line to the blank line's end */
	unsigned nlines;        /* header lines */
	size_t target_len;
	bool target_nul;        /* "%00" in the target */
};

static enum oracle
oracle(const char *buf, size_t len, struct oracle_state *st)
{
	size_t pos = 0;
	bool have_request = false, http10 = false;
	unsigned ncl = 0, nte = 0, nhost = 0;
	bool cl_ok = true, te_ok = true;

	memset(st, 0, sizeof(*st));
	/* Leading blank lines ("\r\n" or "\n"). */
	for (;;) {
		if (pos < len && buf[pos] == '\n')
			pos++;
		else if (pos + 1 < len && buf[pos] == '\r' && buf[pos + 1] == '\n')
			pos += 2;
		else
			break;
	}
	size_t start = pos;
	while (pos < len) {
		size_t e = pos;
		while (e < len && buf[e] != '\n')
			e++;
		if (e == len)
			return O_INCOMPLETE;
		const char *l = buf + pos;
		size_t n = e - pos;
		if (n && l[n - 1] == '\r')
			n--;
		pos = e + 1;
		if (!have_request) {
			/* method SP target SP version, exactly two spaces. */
			const char *a = memchr(l, ' ', n);
			if (a == NULL)
				return O_BAD;
			const char *t = a + 1;
			const char *b = memchr(t, ' ', (size_t)(l + n - t));
			if (b == NULL || !token(l, (size_t)(a - l)) || b == t)
				return O_BAD;
			for (const char *c = t; c < b; c++)
				if ((unsigned char)*c <= ' ' || (unsigned char)*c == 0x7f)
					return O_BAD;
			st->target_len = (size_t)(b - t);
			for (const char *c = t; c + 2 < b; c++)
				if (c[0] == '%' && c[1] == '0' && c[2] == '0')
					st->target_nul = true;
			const char *v = b + 1;
			size_t vn = (size_t)(l + n - v);
			if (vn == 8 && memcmp(v, "HTTP/1.1", 8) == 0)
				http10 = false;
			else if (vn == 8 && memcmp(v, "HTTP/1.0", 8) == 0)
				http10 = true;
			else
				return O_BAD;
			have_request = true;
			continue;
		}
		if (n == 0) {
			st->head_len = pos - start;
			if (ncl && nte)
				return O_BAD;
			if (ncl > 1 || !cl_ok)
				return O_BAD;
			if (nte > 1 || !te_ok || (nte && http10))
				return O_BAD;
			if (http10 ? nhost > 1 : nhost != 1)
				return O_BAD;
			return O_OK;
		}
		st->nlines++;
		if (l[0] == ' ' || l[0] == '\t')
			return O_BAD;  /* obs-fold */
		const char *colon = memchr(l, ':', n);
		if (colon == NULL || !token(l, (size_t)(colon - l)))
			return O_BAD;
		const char *v = colon + 1, *ve = l + n;
		for (const char *c = v; c < ve; c++)
			if (((unsigned char)*c < ' ' && *c != '\t') || (unsigned char)*c == 0x7f)
				return O_BAD;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		size_t nn = (size_t)(colon - l), vn = (size_t)(ve - v);
		if (same_nocase(l, nn, "content-length")) {
			ncl++;
			if (vn < 1 || vn > 18)
				cl_ok = false;
			for (size_t i = 0; i < vn; i++)
				if (v[i] < '0' || v[i] > '9')
					cl_ok = false;
		} else if (same_nocase(l, nn, "transfer-encoding")) {
			nte++;
			if (!same_nocase(v, vn, "chunked"))
				te_ok = false;
		} else if (same_nocase(l, nn, "host")) {
			nhost++;
		}
	}
	return O_INCOMPLETE;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_refusal r = { 0 };
	struct oracle_state st;
	const char *buf = (const char *)data;
	enum http_head_verdict v = http_head_check(buf, size, &r);
	enum oracle o = oracle(buf, size, &st);

	switch (v) {
	case HTTP_HEAD_OK:
		/* Accepted: the oracle must find a complete, unambiguous head. */
		FUZZ_CHECK(o == O_OK);
		break;
	case HTTP_HEAD_MORE:
		/* Waiting: no complete head in there that the oracle could judge. */
		FUZZ_CHECK(o == O_INCOMPLETE);
		break;
	case HTTP_HEAD_REFUSED:
		FUZZ_CHECK(r.status == 400 || r.status == 414 || r.status == 431 || r.status == 501 ||
		    r.status == 505);
		FUZZ_CHECK(r.code != NULL && r.message != NULL);
		/* Within the caps, msgd refuses nothing the oracle accepts. */
		if (o == O_OK && st.head_len <= HTTP_HEADERS_MAX && st.nlines <= HTTP_HEADER_LINES_MAX &&
		    st.target_len <= HTTP_URI_MAX && !st.target_nul) {
			fprintf(stderr, "refused %u %s (%s) what the oracle accepts\n", r.status, r.code,
			    r.message);
			abort();
		}
		break;
	}
	/* The same head with its bytes split: a prefix never gets a verdict the
	 * whole contradicts (a refusal stays a refusal, OK needs the end). */
	if (size > 1) {
		struct http_refusal r2;
		enum http_head_verdict vp = http_head_check(buf, size / 2, &r2);
		if (vp == HTTP_HEAD_REFUSED)
			FUZZ_CHECK(v == HTTP_HEAD_REFUSED);
		if (vp == HTTP_HEAD_OK)
			FUZZ_CHECK(v == HTTP_HEAD_OK);
	}
	return 0;
}
