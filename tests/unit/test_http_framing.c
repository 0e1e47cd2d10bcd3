/* test_http_framing.c - body framing verdicts, request-target checks and
 * the first request head check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http/framing.h"
#include "util/util.h"

#define HDRS_MAX 4

struct framing_case {
	const char *name;
	const char *hdrs[HDRS_MAX][2];   /* name, value; {NULL} ends */
	bool http10;
	bool no_host;                    /* do not add "Host: x" first */
	unsigned status;                 /* 0: accepted */
};

static const struct framing_case cases[] = {
	{ .name = "no body headers", .status = 0 },
	{ .name = "one Content-Length", .hdrs = { { "Content-Length", "42" } }, .status = 0 },
	{ .name = "Content-Length 0", .hdrs = { { "content-length", "0" } }, .status = 0 },
	{ .name = "chunked", .hdrs = { { "Transfer-Encoding", "chunked" } }, .status = 0 },
	{ .name = "CHUNKED", .hdrs = { { "transfer-encoding", "CHUNKED" } }, .status = 0 },
	{ .name = "other headers", .hdrs = { { "Host", "x" }, { "X-Y_z.1~", "v" } }, .no_host = true,
	  .status = 0 },
	{ .name = "CL and TE", .hdrs = { { "Content-Length", "4" }, { "Transfer-Encoding", "chunked" } },
	  .status = 400 },
	{ .name = "TE and CL", .hdrs = { { "Transfer-Encoding", "chunked" }, { "Content-Length", "4" } },
	  .status = 400 },
	{ .name = "two CL", .hdrs = { { "Content-Length", "0" }, { "Content-Length", "5" } }, .status = 400 },
	{ .name = "two equal CL", .hdrs = { { "Content-Length", "5" }, { "content-length", "5" } },
	  .status = 400 },
	{ .name = "signed CL", .hdrs = { { "Content-Length", "+5" } }, .status = 400 },
	{ .name = "CL list", .hdrs = { { "Content-Length", "5, 5" } }, .status = 400 },
	{ .name = "empty CL", .hdrs = { { "Content-Length", "" } }, .status = 400 },
	{ .name = "19-digit CL", .hdrs = { { "Content-Length", "1234567890123456789" } }, .status = 400 },
	{ .name = "two TE", .hdrs = { { "Transfer-Encoding", "chunked" }, { "Transfer-Encoding", "chunked" } },
	  .status = 400 },
	{ .name = "xchunked", .hdrs = { { "Transfer-Encoding", "xchunked" } }, .status = 400 },
	{ .name = "chunked, identity", .hdrs = { { "Transfer-Encoding", "chunked, identity" } }, .status = 400 },
	{ .name = "gzip, chunked", .hdrs = { { "Transfer-Encoding", "gzip, chunked" } }, .status = 501 },
	{ .name = "tab before chunked", .hdrs = { { "Transfer-Encoding", "\tchunked" } }, .status = 501 },
	{ .name = "identity", .hdrs = { { "Transfer-Encoding", "identity" } }, .status = 400 },
	{ .name = "TE in HTTP/1.0", .hdrs = { { "Transfer-Encoding", "chunked" } }, .http10 = true,
	  .status = 400 },
	{ .name = "space in a name", .hdrs = { { "Transfer-Encoding ", "chunked" } }, .status = 400 },
	{ .name = "empty name", .hdrs = { { "", "x" } }, .status = 400 },
	{ .name = "colon in a name", .hdrs = { { "a:b", "x" } }, .status = 400 },
	{ .name = "HTTP/1.1 without Host", .no_host = true, .status = 400 },
	{ .name = "HTTP/1.0 without Host", .no_host = true, .http10 = true, .status = 0 },
	{ .name = "two Host", .hdrs = { { "host", "y" } }, .status = 400 },
	{ .name = "two Host in HTTP/1.0", .hdrs = { { "Host", "y" } }, .http10 = true, .status = 400 },
};

static void
test_framing_table(void **state)
{
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		const struct framing_case *c = &cases[i];
		struct http_framing f = { 0 };
		struct http_refusal r = { 0 };

		if (!c->no_host)
			http_framing_add(&f, "Host", "x");
		for (size_t k = 0; k < HDRS_MAX && c->hdrs[k][0]; k++)
			http_framing_add(&f, c->hdrs[k][0], c->hdrs[k][1]);
		int rc = http_framing_verdict(&f, c->http10, &r);
		if (c->status == 0 && rc != 0)
			fail_msg("%s: refused with %u (%s)", c->name, r.status, r.message);
		if (c->status != 0 && (rc != -1 || r.status != c->status))
			fail_msg("%s: got %d/%u, wanted %u", c->name, rc, r.status, c->status);
		if (c->status != 0) {
			assert_non_null(r.code);
			assert_non_null(r.message);
		}
	}
}

static void
test_uri_check(void **state)
{
	struct http_refusal r;
	char big[HTTP_URI_MAX + 2];

	assert_int_equal(http_uri_check("/v1/messages/1", &r), 0);
	assert_int_equal(http_uri_check("/a?b=%20%0a%01", &r), 0);
	assert_int_equal(http_uri_check("/v1/messages/1%00", &r), -1);
	assert_int_equal(r.status, 400);
	assert_string_equal(r.code, "bad_request");
	assert_int_equal(http_uri_check("/assets/app.js%00.html", &r), -1);
	assert_int_equal(http_uri_check("/w?hub.verify_token=x%00", &r), -1);

	memset(big, 'a', sizeof(big) - 1);
	big[0] = '/';
	big[HTTP_URI_MAX] = '\0';
	assert_int_equal(http_uri_check(big, &r), 0);
	big[HTTP_URI_MAX] = 'a';
	big[HTTP_URI_MAX + 1] = '\0';
	assert_int_equal(http_uri_check(big, &r), -1);
	assert_int_equal(r.status, 414);
}

struct head_case {
	const char *name;
	const char *head;
	enum http_head_verdict verdict;
	unsigned status;                 /* when refused */
};

#define H11 "GET /healthz HTTP/1.1\r\nHost: x\r\n"

static const struct head_case head_cases[] = {
	{ .name = "simple", .head = H11 "\r\n", .verdict = HTTP_HEAD_OK },
	{ .name = "body after the head", .head = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
	  .verdict = HTTP_HEAD_OK },
	{ .name = "bare LF", .head = "GET / HTTP/1.1\nHost: x\n\n", .verdict = HTTP_HEAD_OK },
	{ .name = "empty lines first", .head = "\r\n\r\n" H11 "\r\n", .verdict = HTTP_HEAD_OK },
	{ .name = "HTTP/1.0, no Host", .head = "GET / HTTP/1.0\r\n\r\n", .verdict = HTTP_HEAD_OK },
	{ .name = "OWS around a value", .head = H11 "X-A:  \tv \t\r\nContent-Length:\t3 \r\n\r\n",
	  .verdict = HTTP_HEAD_OK },
	{ .name = "empty value", .head = H11 "X-A:\r\n\r\n", .verdict = HTTP_HEAD_OK },
	{ .name = "UTF-8 in a value and the target", .head = "GET /\xc3\xa9 HTTP/1.1\r\nHost: x\r\nX: \xc3\xa9\r\n\r\n",
	  .verdict = HTTP_HEAD_OK },
	{ .name = "nothing yet", .head = "", .verdict = HTTP_HEAD_MORE },
	{ .name = "half a request line", .head = "GET /heal", .verdict = HTTP_HEAD_MORE },
	{ .name = "no blank line yet", .head = H11, .verdict = HTTP_HEAD_MORE },
	{ .name = "half a header", .head = H11 "X-A: v", .verdict = HTTP_HEAD_MORE },
	{ .name = "CR of the blank line", .head = H11 "\r", .verdict = HTTP_HEAD_MORE },
	{ .name = "garbage", .head = "GARBAGE\r\n\r\n", .verdict = HTTP_HEAD_REFUSED, .status = 400 },
	{ .name = "garbage, no blank line yet", .head = "GARBAGE\r\n", .verdict = HTTP_HEAD_REFUSED,
	  .status = 400 },
	{ .name = "no version", .head = "GET /\r\n\r\n", .verdict = HTTP_HEAD_REFUSED, .status = 400 },
	{ .name = "two spaces", .head = "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", .verdict = HTTP_HEAD_REFUSED,
	  .status = 400 },
	{ .name = "trailing space", .head = "GET / HTTP/1.1 \r\nHost: x\r\n\r\n", .verdict = HTTP_HEAD_REFUSED,
	  .status = 400 },
	{ .name = "method not a token", .head = "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", .verdict = HTTP_HEAD_REFUSED,
	  .status = 400 },
	{ .name = "control character in the target", .head = "GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n",
	  .verdict = HTTP_HEAD_REFUSED, .status = 400 },
	{ .name = "%00 in the target", .head = "GET /a%00 HTTP/1.1\r\nHost: x\r\n\r\n",
	  .verdict = HTTP_HEAD_REFUSED, .status = 400 },
	{ .name = "lower-case version", .head = "GET / http/1.1\r\nHost: x\r\n\r\n", .verdict = HTTP_HEAD_REFUSED,
	  .status = 400 },
	{ .name = "HTTP/2.0", .head = "GET / HTTP/2.0\r\nHost: x\r\n\r\n", .verdict = HTTP_HEAD_REFUSED,
	  .status = 505 },
	{ .name = "HTTP/0.9 line", .head = "GET / HTTP/0.9\r\n\r\n", .verdict = HTTP_HEAD_REFUSED, .status = 505 },
	{ .name = "HTTP/1.10", .head = "GET / HTTP/1.10\r\n\r\n", .verdict = HTTP_HEAD_REFUSED, .status = 400 },
	{ .name = "header without a colon", .head = H11 "BadHeaderNoColon\r\n\r\n", .verdict = HTTP_HEAD_REFUSED,
	  .status = 400 },
	{ .name = "refused before the blank line", .head = H11 "BadHeaderNoColon\r\n", .verdict = HTTP_HEAD_REFUSED,
	  .status = 400 },
	{ .name = "space before the colon", .head = H11 "X-A : v\r\n\r\n", .verdict = HTTP_HEAD_REFUSED,
	  .status = 400 },
	{ .name = "empty name", .head = H11 ": v\r\n\r\n", .verdict = HTTP_HEAD_REFUSED, .status = 400 },
	{ .name = "line folding", .head = H11 "X-A: a\r\n b\r\n\r\n", .verdict = HTTP_HEAD_REFUSED, .status = 400 },
	{ .name = "bare CR in a value", .head = H11 "X-A: a\rb\r\n\r\n", .verdict = HTTP_HEAD_REFUSED, .status = 400 },
	{ .name = "control character in a value", .head = H11 "X-A: a\x01\r\n\r\n", .verdict = HTTP_HEAD_REFUSED,
	  .status = 400 },
	{ .name = "Content-Length: +4", .head = H11 "Content-Length: +4\r\n\r\n", .verdict = HTTP_HEAD_REFUSED,
	  .status = 400 },
	{ .name = "Content-Length: 4x", .head = H11 "Content-Length: 4x\r\n\r\n", .verdict = HTTP_HEAD_REFUSED,
	  .status = 400 },
	{ .name = "no Host", .head = "GET / HTTP/1.1\r\nX-A: v\r\n\r\n", .verdict = HTTP_HEAD_REFUSED,
	  .status = 400 },
	{ .name = "CL and TE", .head = H11 "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
	  .verdict = HTTP_HEAD_REFUSED, .status = 400 },
	{ .name = "TE gzip, chunked", .head = H11 "Transfer-Encoding: gzip, chunked\r\n\r\n",
	  .verdict = HTTP_HEAD_REFUSED, .status = 501 },
};

static void
test_head_table(void **state)
{
	for (size_t i = 0; i < ARRAY_LEN(head_cases); i++) {
		const struct head_case *c = &head_cases[i];
		struct http_refusal r = { 0 };
		enum http_head_verdict v = http_head_check(c->head, strlen(c->head), &r);

		if (v != c->verdict)
			fail_msg("%s: verdict %d, wanted %d (%u %s)", c->name, v, c->verdict, r.status,
			    r.message ? r.message : "");
		if (v == HTTP_HEAD_REFUSED) {
			if (r.status != c->status)
				fail_msg("%s: status %u, wanted %u (%s)", c->name, r.status, c->status, r.message);
			assert_non_null(r.code);
			assert_non_null(r.message);
			/* Written into JSON as they are: no quotes, no backslashes. */
			assert_null(strpbrk(r.message, "\"\\"));
		}
	}
}

/* A head of `total` bytes: a request line with a target of target_len
 * bytes, Host, then headers "X-Fill: vvv..." until total is reached, then
 * the blank line (total includes it). */
static size_t
make_head(char *buf, size_t cap, size_t target_len, size_t total)
{
	size_t n = 0;

	n += (size_t)snprintf(buf, cap, "GET /");
	memset(buf + n, 'a', target_len - 1);
	n += target_len - 1;
	n += (size_t)snprintf(buf + n, cap - n, " HTTP/1.1\r\nHost: x\r\n");
	while (n + 2 < total) {
		size_t room = total - 2 - n;
		size_t vlen = room > 200 ? 190 : room - 10;
		n += (size_t)snprintf(buf + n, cap - n, "X-Fill: ");
		memset(buf + n, 'v', vlen);
		n += vlen;
		n += (size_t)snprintf(buf + n, cap - n, "\r\n");
	}
	n += (size_t)snprintf(buf + n, cap - n, "\r\n");
	return n;
}

static void
test_head_caps(void **state)
{
	static char buf[4 * HTTP_HEADERS_MAX];
	struct http_refusal r;
	size_t n;

	/* The whole head (request line included) up to HTTP_HEADERS_MAX. */
	n = make_head(buf, sizeof(buf), 100, HTTP_HEADERS_MAX);
	assert_int_equal(n, HTTP_HEADERS_MAX);
	assert_int_equal(http_head_check(buf, n, &r), HTTP_HEAD_OK);
	n = make_head(buf, sizeof(buf), 100, HTTP_HEADERS_MAX + 1);
	assert_int_equal(http_head_check(buf, n, &r), HTTP_HEAD_REFUSED);
	assert_int_equal(r.status, 431);
	assert_string_equal(r.code, "headers_too_large");
	/* ... refused as soon as that much arrived without the blank line. */
	assert_int_equal(http_head_check(buf, HTTP_HEADERS_MAX, &r), HTTP_HEAD_MORE);
	assert_int_equal(http_head_check(buf, HTTP_HEADERS_MAX + 1, &r), HTTP_HEAD_REFUSED);
	assert_int_equal(r.status, 431);

	/* A target over HTTP_URI_MAX: 414, complete or not. */
	n = make_head(buf, sizeof(buf), HTTP_URI_MAX + 1, HTTP_URI_MAX + 200);
	assert_int_equal(http_head_check(buf, n, &r), HTTP_HEAD_REFUSED);
	assert_int_equal(r.status, 414);
	assert_string_equal(r.code, "uri_too_long");
	assert_int_equal(http_head_check(buf, HTTP_URI_MAX, &r), HTTP_HEAD_MORE);
	assert_int_equal(http_head_check(buf, HTTP_URI_MAX + HTTP_REQUEST_LINE_EXTRA + 1, &r), HTTP_HEAD_REFUSED);
	assert_int_equal(r.status, 414);

	/* Header lines: HTTP_HEADER_LINES_MAX (Host included). */
	n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: x\r\n");
	for (int i = 1; i < HTTP_HEADER_LINES_MAX; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "a%d:\r\n", i);
	memcpy(buf + n, "\r\n", 3);
	assert_int_equal(http_head_check(buf, n + 2, &r), HTTP_HEAD_OK);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "one-more:\r\n\r\n");
	assert_int_equal(http_head_check(buf, n, &r), HTTP_HEAD_REFUSED);
	assert_int_equal(r.status, 431);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_framing_table),
		cmocka_unit_test(test_uri_check),
		cmocka_unit_test(test_head_table),
		cmocka_unit_test(test_head_caps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
