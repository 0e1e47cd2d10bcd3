/* json.c - strict, depth-capped JSON parsing shared by webhooks and the API. */
#include "util.h"

#include <stdio.h>

#include <jansson.h>

static int
depth_of(const json_t *v, int limit)
{
	int max = 0, d;
	size_t i;
	const char *k;
	json_t *c;

	if (limit <= 0)
		return 1;
	if (json_is_array(v)) {
		json_array_foreach(v, i, c) {
			if ((d = depth_of(c, limit - 1)) > max)
				max = d;
			if (max >= limit)
				break;
		}
		return max + 1;
	}
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k, c) {
			if ((d = depth_of(c, limit - 1)) > max)
				max = d;
			if (max >= limit)
				break;
		}
		return max + 1;
	}
	return 0;
}

int
json_parse_capped(const char *buf, size_t len, int max_depth, json_t **out, char *err, size_t errlen)
{
	json_error_t je;
	json_t *v;

	*out = NULL;
	v = json_loadb(buf, len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &je);
	if (v == NULL) {
		snprintf(err, errlen, "line %d, column %d: %s", je.line, je.column, je.text);
		return -1;
	}
	if (depth_of(v, max_depth + 1) > max_depth) {
		json_decref(v);
		snprintf(err, errlen, "JSON nested deeper than %d levels", max_depth);
		return -1;
	}
	*out = v;
	return 0;
}
