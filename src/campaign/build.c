/*
 * build.c - one recipient of a campaign as a message (a reader-pool
 * thread builds a chunk's; pure: no store, no loop): the address
 * normalized as the send API does, the content filled from the recipient's
 * variables through the mapping, the due time given by the caller.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../api/api_send.h"
#include "../util/util.h"
#include "campaign_int.h"

/* A mapping's spec: a column name (the recipient's variable of that name)
 * or {"value": literal}; NULL when the recipient has no such value. */
static json_t *
resolve(const json_t *spec, const json_t *vars)
{
	json_t *v;

	if (json_is_string(spec))
		v = json_object_get(vars, json_string_value(spec));
	else
		v = json_object_get(spec, "value");
	return json_is_string(v) || json_is_number(v) ? v : NULL;
}

int
campaign_fill(const json_t *content, const json_t *vars, json_t *parts, char **type, char **text)
{
	const json_t *tpl = json_object_get(content, "template");
	const json_t *map = json_object_get(content, "variables");
	struct send_error e;
	const char *k;
	json_t *spec;

	*type = *text = NULL;
	if (tpl == NULL) {
		if (api_render_template(json_string_value(json_object_get(content, "text")), vars, text,
		    &e) != 0)
			return -1;
		*type = xstrdup("text");
		return 0;
	}
	const char *body = json_string_value(json_object_get(content, "local_body"));
	if (body) {
		json_t *values = json_object();
		json_object_foreach((json_t *)map, k, spec) {
			json_t *v = resolve(spec, vars);
			if (v == NULL) {
				json_decref(values);
				return -1;
			}
			json_object_set(values, k, v);
		}
		int r = api_render_template(body, values, text, &e);
		json_decref(values);
		if (r != 0)
			return -1;
		json_t *t = json_deep_copy(tpl);
		json_object_set_new(t, "local", json_true());
		json_object_set_new(parts, "template", t);
		*type = xstrdup("text");
		return 0;
	}
	/* A provider template with named variables: each by its name. */
	if (campaign_vars_named(map)) {
		json_t *named = json_object();
		json_object_foreach((json_t *)map, k, spec) {
			json_t *v = resolve(spec, vars);
			if (v == NULL) {
				json_decref(named);
				return -1;
			}
			json_object_set_new(named, k, json_is_string(v) ? json_incref(v) :
			    json_sprintf("%g", json_number_value(v)));
		}
		json_t *t = json_deep_copy(tpl);
		json_object_set_new(t, "variables", named);
		json_object_set_new(parts, "template", t);
		*type = xstrdup("template");
		return 0;
	}
	/* A provider template: {{1}}, {{2}}... in order. */
	size_t n = json_object_size(map);
	json_t *list = json_array();
	for (size_t i = 1; i <= n; i++) {
		char key[24];
		snprintf(key, sizeof(key), "%zu", i);
		json_t *v = resolve(json_object_get(map, key), vars);
		if (v == NULL) {
			json_decref(list);
			return -1;
		}
		json_array_append_new(list, json_is_string(v) ? json_incref(v) :
		    json_sprintf("%g", json_number_value(v)));
	}
	json_t *t = json_deep_copy(tpl);
	if (n > 0)
		json_object_set_new(t, "variables", list);
	else
		json_decref(list);
	json_object_set_new(parts, "template", t);
	*type = xstrdup("template");
	return 0;
}

int
campaign_vars_named(const json_t *map)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)map, k, v) {
		if (k[0] == '\0' || k[strspn(k, "0123456789")] != '\0')
			return 1;
	}
	return 0;
}

int
campaign_address(const json_t *item, addr_normalize_fn normalize, char *out, size_t cap)
{
	json_t *to = json_object_get(item, "to");
	const char *s = json_string_value(to);
	size_t n = json_string_length(to);

	if (s == NULL || n == 0 || n >= cap || memchr(s, '\0', n) != NULL)
		return -1;
	if (normalize)
		return normalize(s, n, out, cap);
	memcpy(out, s, n + 1);
	return 0;
}
