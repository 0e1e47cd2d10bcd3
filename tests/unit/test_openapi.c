/*
 * test_openapi.c - the route table (src/api/api.c) and the OpenAPI document
 * embedded in the binary (docs/openapi.json, served at GET /openapi.json)
 * list the same routes: method + path, a "*" of a pattern being a
 * "{param}" of the document. Each side's missing routes are named. Each
 * documented operation also names the route's permission
 * (x-msgd-permission) and declares every path parameter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "api/api.h"
#include "authz/authz.h"
#include "web/web.h"

#define ROUTE_TEXT_MAX 192      /* "METHOD /pattern" */

static json_t *
load_doc(void)
{
	const struct web_asset *a = web_find("openapi.json");
	json_error_t err;

	if (a == NULL)
		fail_msg("openapi.json is not embedded (Makefile WEB_FILES)");
	json_t *doc = json_loadb((const char *)a->bytes, a->length, 0, &err);
	if (doc == NULL)
		fail_msg("openapi.json: line %d: %s", err.line, err.text);
	return doc;
}

/* "/v1/channels/{name}/qr" → "/v1/channels/ * /qr" (without the spaces). */
static void
doc_pattern(const char *path, char *out, size_t cap)
{
	size_t n = 0;

	for (const char *p = path; *p && n + 1 < cap; p++) {
		if (*p == '{') {
			while (*p && *p != '}')
				p++;
			out[n++] = '*';
			if (*p == '\0')
				break;
		} else {
			out[n++] = *p;
		}
	}
	out[n] = '\0';
}

/* The document's operation for method + pattern, or NULL. */
static json_t *
doc_operation(json_t *paths, const char *method, const char *pattern)
{
	const char *path;
	json_t *item;
	char pat[ROUTE_TEXT_MAX], lower[16];
	size_t i;

	for (i = 0; method[i] && i + 1 < sizeof(lower); i++)
		lower[i] = (char)(method[i] - 'A' + 'a');
	lower[i] = '\0';
	json_object_foreach(paths, path, item) {
		doc_pattern(path, pat, sizeof(pat));
		if (strcmp(pat, pattern) == 0 && json_object_get(item, lower))
			return json_object_get(item, lower);
	}
	return NULL;
}

static bool
in_table(const char *method, const char *pattern)
{
	const char *m, *p;

	for (int i = 0; (p = api_route_pattern(i, &m)) != NULL; i++)
		if (strcmp(m, method) == 0 && strcmp(p, pattern) == 0)
			return true;
	return false;
}

static void
test_document_is_openapi_31(void **state)
{
	json_t *doc = load_doc();

	assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
	assert_true(json_is_object(json_object_get(doc, "paths")));
	json_t *schemes = json_object_get(json_object_get(doc, "components"), "securitySchemes");
	assert_non_null(json_object_get(schemes, "bearer"));
	assert_non_null(json_object_get(schemes, "session"));
	assert_non_null(json_object_get(schemes, "csrf"));
	assert_non_null(json_object_get(json_object_get(json_object_get(doc, "components"), "schemas"), "Error"));
	json_decref(doc);
}

static void
test_table_routes_are_documented(void **state)
{
	json_t *doc = load_doc(), *paths = json_object_get(doc, "paths");
	const char *method, *pattern;
	int missing = 0, n = 0;

	for (int i = 0; (pattern = api_route_pattern(i, &method)) != NULL; i++, n++) {
		json_t *o = doc_operation(paths, method, pattern);
		if (o == NULL) {
			print_error("in the route table, not in docs/openapi.json: %s %s\n", method, pattern);
			missing++;
			continue;
		}
		const char *want = api_route_perm(i) == PERM_NONE ? "none" : authz_perm_name(api_route_perm(i));
		const char *got = json_string_value(json_object_get(o, "x-msgd-permission"));
		if (want == NULL || got == NULL || strcmp(want, got) != 0) {
			print_error("%s %s: the table's permission is %s, the document says %s\n", method, pattern,
			    want ? want : "(several)", got ? got : "(nothing)");
			missing++;
		}
		if ((api_route_perm(i) == PERM_NONE) != (json_array_size(json_object_get(o, "security")) == 0)) {
			print_error("%s %s: public in one, authenticated in the other\n", method, pattern);
			missing++;
		}
	}
	json_decref(doc);
	assert_true(n > 30);
	if (missing)
		fail_msg("%d route(s) of the route table missing or different in the document", missing);
}

static void
test_documented_routes_are_in_the_table(void **state)
{
	json_t *doc = load_doc(), *paths = json_object_get(doc, "paths"), *item, *o;
	const char *path, *method;
	char pat[ROUTE_TEXT_MAX], route[ROUTE_TEXT_MAX + 16], upper[16];
	int missing = 0;

	json_object_foreach(paths, path, item) {
		doc_pattern(path, pat, sizeof(pat));
		json_object_foreach(item, method, o) {
			size_t i;
			for (i = 0; method[i] && i + 1 < sizeof(upper); i++)
				upper[i] = (char)(method[i] >= 'a' && method[i] <= 'z' ? method[i] - 'a' + 'A' : method[i]);
			upper[i] = '\0';
			snprintf(route, sizeof(route), "%s %s", upper, pat);
			if (!in_table(upper, pat)) {
				print_error("in docs/openapi.json, not in the route table: %s (%s)\n", route, path);
				missing++;
			}
			/* Every {param} of the path is declared as a path parameter. */
			for (const char *p = strchr(path, '{'); p; p = strchr(p + 1, '{')) {
				const char *end = strchr(p, '}');
				bool found = false;
				size_t k;
				json_t *prm;
				json_array_foreach(json_object_get(o, "parameters"), k, prm) {
					const char *name = json_string_value(json_object_get(prm, "name"));
					const char *in = json_string_value(json_object_get(prm, "in"));
					if (end && name && in && strcmp(in, "path") == 0 &&
					    strlen(name) == (size_t)(end - p - 1) && strncmp(name, p + 1, (size_t)(end - p - 1)) == 0)
						found = true;
				}
				if (!found) {
					print_error("%s: a path parameter of %s is not declared\n", route, path);
					missing++;
				}
			}
		}
	}
	json_decref(doc);
	if (missing)
		fail_msg("%d documented route(s) not in the route table or incomplete", missing);
}

/* The pattern conversion itself, so a wrong one cannot make both sides agree. */
static void
test_doc_pattern(void **state)
{
	char out[ROUTE_TEXT_MAX];

	doc_pattern("/v1/channels/{name}/templates/sync", out, sizeof(out));
	assert_string_equal(out, "/v1/channels/*/templates/sync");
	doc_pattern("/webhooks/{type}/{channel_id}", out, sizeof(out));
	assert_string_equal(out, "/webhooks/*/*");
	doc_pattern("/healthz", out, sizeof(out));
	assert_string_equal(out, "/healthz");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doc_pattern),
		cmocka_unit_test(test_document_is_openapi_31),
		cmocka_unit_test(test_table_routes_are_documented),
		cmocka_unit_test(test_documented_routes_are_in_the_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
