/*
 * fuzz_route.c - a request target as the daemon sees it: the raw target
 * goes through http_uri_check() (http.c, before libmicrohttpd decodes it),
 * then libmicrohttpd's percent-decoding of the path (MHD_http_unescape,
 * its default), then the route table (api_route_find). Input: the method,
 * a space, the raw target.
 *
 * Asserted: a target that passes the check decodes without an early NUL;
 * a matched route has the request's method, as many segments as its
 * pattern, equal literal segments and non-empty parameters without '/'.
 */
#include <stdbool.h>
#include <microhttpd.h>

#include "api/api.h"
#include "fuzz.h"
#include "http/framing.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

/* Split the pattern and the path the simple way and compare. */
static void
check_match(const char *pattern, const char *path, const struct api_route_match *m)
{
	const char *p = pattern, *q = path;
	int k = 0;

	FUZZ_CHECK(*q == '/');
	for (;;) {
		while (*p == '/')
			p++;
		while (*q == '/')
			q++;
		if (*p == '\0' || *q == '\0') {
			FUZZ_CHECK(*p == '\0' && *q == '\0');
			break;
		}
		size_t pn = strcspn(p, "/"), qn = strcspn(q, "/");
		if (pn == 1 && *p == '*') {
			FUZZ_CHECK(k < API_MAX_PARAMS && m->params[k] != NULL);
			FUZZ_CHECK(strlen(m->params[k]) == qn && memcmp(m->params[k], q, qn) == 0);
			FUZZ_CHECK(qn > 0 && strchr(m->params[k], '/') == NULL);
			k++;
		} else {
			FUZZ_CHECK(pn == qn && memcmp(p, q, pn) == 0);
		}
		p += pn;
		q += qn;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = fuzz_cstr(data, size);
	struct http_refusal r;
	struct api_route_match m;

	if (strlen(in) != size)
		goto out;  /* a NUL cannot arrive in a request line */
	char *sp = strchr(in, ' ');
	if (sp == NULL)
		goto out;
	*sp = '\0';
	const char *method = in;
	char *target = sp + 1;
	if (http_uri_check(target, &r) != 0) {
		FUZZ_CHECK(r.status == 414 || r.status == 400);
		FUZZ_CHECK(strlen(target) > HTTP_URI_MAX || strstr(target, "%00") != NULL);
		goto out;
	}
	FUZZ_CHECK(strlen(target) <= HTTP_URI_MAX && strstr(target, "%00") == NULL);
	char *qm = strchr(target, '?');
	if (qm)
		*qm = '\0';
	size_t raw = strlen(target);
	size_t n = MHD_http_unescape(target);
	FUZZ_CHECK(n <= raw);
	FUZZ_CHECK(strlen(target) == n);  /* no decoded NUL cuts the path short */
	int i = api_route_find(method, target, &m);
	if (i >= 0) {
		const char *rm;
		const char *pattern = api_route_pattern(i, &rm);
		FUZZ_CHECK(pattern != NULL && strcmp(rm, method) == 0);
		FUZZ_CHECK(m.path_known);
		check_match(pattern, target, &m);
	}
out:
	free(in);
	return 0;
}
