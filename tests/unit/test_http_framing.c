/* test_http_framing.c - body framing verdicts and request-target checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/framing.h"
#include "util/util.h"

#define HDRS_MAX 4

struct framing_case {
	const char *name;
	const char *hdrs[HDRS_MAX][2];   /* name, value; {NULL} ends */
	bool http10;
	unsigned status;                 /* 0: accepted */
};

static const struct framing_case cases[] = {
	{ .name = "no body headers", .status = 0 },
	{ .name = "one Content-Length", .hdrs = { { "Content-Length", "42" } }, .status = 0 },
	{ .name = "Content-Length 0", .hdrs = { { "content-length", "0" } }, .status = 0 },
	{ .name = "chunked", .hdrs = { { "Transfer-Encoding", "chunked" } }, .status = 0 },
	{ .name = "CHUNKED", .hdrs = { { "transfer-encoding", "CHUNKED" } }, .status = 0 },
	{ .name = "other headers", .hdrs = { { "Host", "x" }, { "X-Y_z.1~", "v" } }, .status = 0 },
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
};

static void
test_framing_table(void **state)
{
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		const struct framing_case *c = &cases[i];
		struct http_framing f = { 0 };
		struct http_refusal r = { 0 };

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_framing_table),
		cmocka_unit_test(test_uri_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
