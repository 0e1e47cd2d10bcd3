/*
 * render.c - pieces of the API's message JSON that do not depend on the
 * database: every backend renders a message's send state the same way.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../util/util.h"
#include "store_backend.h"

/* "131000" -> 131000; anything else stays a word. */
static json_t *
code_json(const char *code)
{
	int64_t v;

	if (code == NULL || *code == '\0')
		return json_null();
	if (parse_i64(code, &v) == 0)
		return json_integer(v);
	return json_string(code);
}

static json_t *
text_or_null(const char *s)
{
	json_t *j = s ? json_string(s) : NULL;
	return j ? j : json_null();
}

void
store_render_send_state(json_t *m, int64_t attempts, int64_t next_ms, const char *code_text,
    const char *title, const char *detail)
{
	json_object_set_new(m, "attempts", json_integer(attempts));
	if (next_ms > 0) {
		char t[21];

		/* Whole seconds, rounded up: never earlier than the attempt. */
		fmt_rfc3339((next_ms + 999) / 1000, t);
		json_object_set_new(m, "next_attempt_at", json_string(t));
	} else {
		json_object_set_new(m, "next_attempt_at", json_null());
	}
	if (title == NULL && (code_text == NULL || *code_text == '\0')) {
		json_object_set_new(m, "last_error", json_null());
		return;
	}
	json_object_set_new(m, "last_error", json_pack("{s:o,s:o,s:o}", "code", code_json(code_text),
	    "title", text_or_null(title), "detail", text_or_null(detail)));
}
