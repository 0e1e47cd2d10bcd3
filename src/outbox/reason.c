/*
 * reason.c - why a channel is paused, throttled or has its breaker open,
 * and why a message is retrying: the last error, as the API and the logs
 * show it, without saying the same thing twice.
 *
 * Providers often repeat themselves: a Graph error without error_data has
 * its message as both title and detail, and a detail may quote the title.
 * The reason keeps both and drops the detail when it adds nothing.
 */
#include "outbox.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../util/util.h"

void
error_code_text(char out[REASON_CODE_MAX], int64_t provider_code, bool http, long status)
{
	if (provider_code != 0)
		snprintf(out, REASON_CODE_MAX, "%" PRId64, provider_code);
	else if (http && status == 0)
		snprintf(out, REASON_CODE_MAX, "network");
	else if (http)
		snprintf(out, REASON_CODE_MAX, "http_%ld", status);
	else
		out[0] = '\0';
}

void
reason_set(struct send_reason *r, const char *code, const char *title, const char *detail,
    int64_t now_ms)
{
	snprintf(r->code, sizeof(r->code), "%s", code ? code : "");
	snprintf(r->title, sizeof(r->title), "%s", title ? title : "");
	snprintf(r->detail, sizeof(r->detail), "%s", detail ? detail : "");
	utf8_sanitize(r->title);
	utf8_sanitize(r->detail);
	r->since_ms = now_ms;
}

void
reason_clear(struct send_reason *r)
{
	*r = (struct send_reason){ 0 };
}

/* Does the detail say nothing the title does not? */
static bool
detail_redundant(const char *title, const char *detail)
{
	return detail == NULL || detail[0] == '\0' || (title && strstr(title, detail) != NULL);
}

json_t *
reason_json(const struct send_reason *r)
{
	int64_t v;
	json_t *code;

	if (r->since_ms == 0)
		return json_null();
	if (r->code[0] == '\0')
		code = json_null();
	else if (parse_i64(r->code, &v) == 0)
		code = json_integer(v);
	else
		code = json_string(r->code);
	return json_pack("{s:o,s:s?,s:s?}", "code", code, "title", r->title[0] ? r->title : NULL,
	    "detail", detail_redundant(r->title, r->detail) ? NULL : r->detail);
}

void
error_text(char *dst, size_t cap, const char *title, const char *detail)
{
	if (title == NULL || title[0] == '\0')
		snprintf(dst, cap, "%s", detail ? detail : "");
	else if (detail_redundant(title, detail))
		snprintf(dst, cap, "%s", title);
	else if (strstr(detail, title) != NULL)
		snprintf(dst, cap, "%s", detail);
	else
		snprintf(dst, cap, "%s: %s", title, detail);
	utf8_sanitize(dst);
}
