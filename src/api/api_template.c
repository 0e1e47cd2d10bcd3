/*
 * api_template.c - local templates: checking a body's placeholders when it
 * is stored, rendering it with a send's variables (api_send.c).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "api_send.h"
#include "../util/util.h"

/* Render "Hello {{name}}" with variables (object by name, array by 1-based index). */
int
api_render_template(const char *body, const json_t *vars, char **out, struct send_error *e)
{
	struct buf b;
	const char *p = body;

	buf_init(&b, TEXT_MAX_CHARS * 4);
	while (*p) {
		const char *open = strstr(p, "{{");
		const char *close = open ? strstr(open + 2, "}}") : NULL;
		size_t lit = close ? (size_t)(open - p) : strlen(p);
		if (buf_append(&b, p, lit) != 0) {
			buf_free(&b);
			return send_fail(e, "validation_failed", "template", "the rendered text is too long");
		}
		if (close == NULL)
			break;
		char name[TEMPLATE_VAR_MAX + 1];
		const char *s = open + 2, *t = close;
		while (s < t && *s == ' ')
			s++;
		while (t > s && t[-1] == ' ')
			t--;
		if ((size_t)(t - s) > TEMPLATE_VAR_MAX || t == s) {
			buf_free(&b);
			return send_fail(e, "validation_failed", "template", "template has an invalid placeholder");
		}
		snprintf(name, sizeof(name), "%.*s", (int)(t - s), s);
		json_t *v = NULL;
		int64_t idx;
		if (json_is_object(vars))
			v = json_object_get(vars, name);
		else if (json_is_array(vars) && parse_i64(name, &idx) == 0 && idx >= 1)
			v = json_array_get(vars, (size_t)(idx - 1));
		if (v == NULL || json_is_null(v)) {
			buf_free(&b);
			return send_fail(e, "validation_failed", "template.variables",
			    "template variable '%s' is missing", name);
		}
		int over = 0;
		if (json_is_string(v)) {
			over = buf_append(&b, json_string_value(v), json_string_length(v));
		} else if (json_is_number(v)) {
			char num[64];
			if (json_is_integer(v))
				snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			else
				snprintf(num, sizeof(num), "%g", json_real_value(v));
			over = buf_append(&b, num, strlen(num));
		} else {
			buf_free(&b);
			return send_fail(e, "validation_failed", "template.variables",
			    "template variable '%s' must be a string or a number", name);
		}
		if (over) {
			buf_free(&b);
			return send_fail(e, "validation_failed", "template", "the rendered text is longer than %d characters",
			    TEXT_MAX_CHARS);
		}
		p = close + 2;
	}
	if (b.data == NULL)
		buf_append(&b, "", 0);
	*out = b.data;
	return 0;
}

bool
api_template_body_ok(const char *body)
{
	for (const char *o = strstr(body, "{{"); o; o = strstr(o + 2, "{{")) {
		const char *c = strstr(o + 2, "}}");
		if (c == NULL || memchr(o + 2, '{', (size_t)(c - o - 2)) || c - o - 2 > TEMPLATE_VAR_MAX)
			return false;
		/* A name: "{{}}" or "{{ }}" would refuse every send (found by fuzz_template). */
		if (strspn(o + 2, " ") >= (size_t)(c - o - 2))
			return false;
	}
	return true;
}
