/*
 * fuzz_template.c - local template rendering (api_template.c) against a
 * renderer written here: input = template body, a NUL byte, the variables
 * as JSON (an object by name or an array by 1-based index). Asserted:
 * msgd's output equals the oracle's whenever it fits TEXT_MAX_CHARS * 4
 * bytes, and a refusal has the oracle's reason; a body that
 * api_template_body_ok() (POST /v1/templates) accepts renders without a
 * malformed-placeholder error when every variable is given.
 */
#include <inttypes.h>
#include <stdbool.h>

#include <jansson.h>

#include "api/api_send.h"
#include "fuzz.h"
#include "util/util.h"

#define OUT_MAX (TEXT_MAX_CHARS * 4)

enum verdict { V_OK, V_BAD_PLACEHOLDER, V_MISSING, V_TYPE, V_TOO_LONG };

struct obuf {
	char *p;
	size_t n;
};

static void
put(struct obuf *o, const char *s, size_t n)
{
	o->p = realloc(o->p, o->n + n + 1);
	FUZZ_CHECK(o->p != NULL);
	memcpy(o->p + o->n, s, n);
	o->n += n;
	o->p[o->n] = '\0';
}

/* The rules, as docs/API.md states them: "{{ name }}" (spaces trimmed,
 * 1..64 bytes) is replaced by the variable; a "{{" without a later "}}"
 * is literal text. */
static enum verdict
oracle(const char *body, const json_t *vars, struct obuf *o)
{
	const char *p = body;

	put(o, "", 0);
	for (;;) {
		const char *open = strstr(p, "{{");
		const char *close = open ? strstr(open + 2, "}}") : NULL;
		if (close == NULL) {
			put(o, p, strlen(p));
			return V_OK;
		}
		put(o, p, (size_t)(open - p));
		const char *s = open + 2, *e = close;
		while (s < e && *s == ' ')
			s++;
		while (e > s && e[-1] == ' ')
			e--;
		size_t n = (size_t)(e - s);
		if (n == 0 || n > TEMPLATE_VAR_MAX)
			return V_BAD_PLACEHOLDER;
		char name[TEMPLATE_VAR_MAX + 1];
		memcpy(name, s, n);
		name[n] = '\0';
		const json_t *v = NULL;
		if (json_is_object(vars)) {
			v = json_object_get(vars, name);
		} else if (json_is_array(vars)) {
			int64_t k;
			if (parse_i64(name, &k) == 0 && k >= 1)
				v = json_array_get(vars, (size_t)(k - 1));
		}
		if (v == NULL || json_is_null(v))
			return V_MISSING;
		if (json_is_string(v)) {
			put(o, json_string_value(v), json_string_length(v));
		} else if (json_is_integer(v)) {
			char t[32];
			snprintf(t, sizeof(t), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			put(o, t, strlen(t));
		} else if (json_is_real(v)) {
			char t[64];
			snprintf(t, sizeof(t), "%g", json_real_value(v));
			put(o, t, strlen(t));
		} else {
			return V_TYPE;
		}
		p = close + 2;
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t blen = nul ? (size_t)(nul - data) : size;
	char *body = fuzz_cstr(data, blen);
	json_t *vars = NULL;
	char err[128];
	struct obuf o = { 0 };
	struct send_error e = { 0 };
	char *out = NULL;

	if (nul && json_parse_capped((const char *)nul + 1, size - blen - 1, 8, &vars, err,
	    sizeof(err)) != 0)
		vars = NULL;
	enum verdict want = oracle(body, vars, &o);
	int rc = api_render_template(body, vars, &out, &e);
	if (rc == 0) {
		FUZZ_CHECK(want == V_OK);
		FUZZ_CHECK(o.n <= OUT_MAX);
		FUZZ_CHECK(strlen(out) == strlen(o.p) && strcmp(out, o.p) == 0);
	} else {
		/* The field and the message's fixed ends say which refusal it is
		 * (a variable's name may hold any words). */
		size_t ml = strlen(e.message);
		if (strcmp(e.field, "template") == 0 &&
		    strcmp(e.message, "template has an invalid placeholder") == 0)
			FUZZ_CHECK(want == V_BAD_PLACEHOLDER);
		else if (strcmp(e.field, "template") == 0)
			FUZZ_CHECK(o.n > OUT_MAX);
		else if (ml > 12 && strcmp(e.message + ml - 12, "' is missing") == 0)
			FUZZ_CHECK(want == V_MISSING);
		else
			FUZZ_CHECK(want == V_TYPE && strstr(e.message, "string or a number") != NULL);
	}
	free(out);

	/* A body POST /v1/templates stores renders once every variable is there
	 * (each placeholder's name bound to "x"). */
	if (api_template_body_ok(body) && blen <= 4096) {
		json_t *all = json_object();
		for (const char *p = strstr(body, "{{"); p; p = strstr(p + 2, "{{")) {
			const char *c = strstr(p + 2, "}}"), *s = p + 2;
			while (s < c && *s == ' ')
				s++;
			const char *t = c;
			while (t > s && t[-1] == ' ')
				t--;
			if (t > s) {
				char name[TEMPLATE_VAR_MAX + 1];
				snprintf(name, sizeof(name), "%.*s", (int)(t - s), s);
				json_object_set_new(all, name, json_string("x"));
			}
			p = c;
		}
		struct send_error e2 = { 0 };
		out = NULL;
		if (api_render_template(body, all, &out, &e2) != 0 &&
		    strcmp(e2.message, "template has an invalid placeholder") == 0) {
			fprintf(stderr, "stored template cannot render: %s\n", e2.message);
			abort();
		}
		free(out);
		json_decref(all);
	}
	free(o.p);
	free(body);
	json_decref(vars);
	return 0;
}
