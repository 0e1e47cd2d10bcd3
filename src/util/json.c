/* json.c - strict, depth-capped JSON parsing shared by webhooks and the API.
 *
 * The tree is jansson's (every handler reads json_t), but the lexing is
 * yajl's: jansson's own parser costs ~16 us for a 1.4 KB WhatsApp webhook
 * on this box, yajl's callbacks building the same jansson tree ~2.5 us
 * (docs/PERFORMANCE.md). The builder keeps jansson's strictness: invalid
 * UTF-8 (checked on the decoded strings, so escapes count too), raw control
 * characters, integers that do not fit, trailing garbage, NUL in keys and
 * nesting beyond the cap are all refused; "\u0000" in a string is kept with
 * its length (as JSON_ALLOW_NUL does). Unlike jansson by default, an object
 * with the same key twice is refused, naming the key: two readers of one
 * body must never see different values (one reader keeping the first,
 * another the last).
 *
 * One case yajl decodes loosely: a "\uD8xx" escape not followed by a low
 * surrogate becomes "?". A body with a surrogate escape in it therefore goes
 * through jansson's parser, which checks pairs exactly; such bodies are rare
 * (raw UTF-8 is the norm) and merely slower.
 */
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>

#define JSON_DEPTH_HARD 256 /* the builder's stack; callers ask for less */
#define JSON_KEY_QUOTE_MAX 48 /* bytes of a duplicate key quoted in the error */

struct builder {
	json_t *stack[JSON_DEPTH_HARD]; /* open containers, borrowed from root */
	int depth, max_depth;
	json_t *root;
	struct buf key; /* pending object key (yajl's pointer dies with the callback) */
	bool have_key;
	char why[128]; /* the builder's own refusal, if it cancelled the parse */
};

static int
refuse(struct builder *b, const char *why)
{
	snprintf(b->why, sizeof(b->why), "%s", why);
	return 0;
}

/* "duplicate object key 'k'": the key quoted up to a cap, printable ASCII
 * kept and anything else written as '?', so the message is safe to log and
 * to echo. */
static int
refuse_duplicate(struct builder *b, const char *key, size_t len)
{
	char q[JSON_KEY_QUOTE_MAX + 4];
	size_t n = 0;

	for (size_t i = 0; i < len && n < JSON_KEY_QUOTE_MAX; i++)
		q[n++] = key[i] >= 0x20 && key[i] < 0x7f ? key[i] : '?';
	q[n] = '\0';
	if (len > JSON_KEY_QUOTE_MAX)
		strcat(q, "...");
	snprintf(b->why, sizeof(b->why), "duplicate object key '%s'", q);
	return 0;
}

/* Attach v to the open container (or make it the root); steals v. */
static int
attach(struct builder *b, json_t *v)
{
	json_t *top;

	if (v == NULL)
		return refuse(b, "out of memory");
	if (b->depth == 0) {
		if (b->root != NULL) { /* yajl refuses a second value first */
			json_decref(v);
			return refuse(b, "more than one value");
		}
		b->root = v;
		return 1;
	}
	top = b->stack[b->depth - 1];
	if (json_is_array(top))
		return json_array_append_new(top, v) == 0 ? 1 : refuse(b, "out of memory");
	if (!b->have_key) {
		json_decref(v);
		return refuse(b, "value without a key");
	}
	b->have_key = false;
	if (json_object_getn(top, b->key.data, b->key.len) != NULL) {
		json_decref(v);
		return refuse_duplicate(b, b->key.data, b->key.len);
	}
	if (json_object_setn_new_nocheck(top, b->key.data, b->key.len, v) != 0)
		return refuse(b, "out of memory");
	return 1;
}

static int
open_container(struct builder *b, json_t *c)
{
	if (b->depth >= b->max_depth) {
		json_decref(c);
		snprintf(b->why, sizeof(b->why), "JSON nested deeper than %d levels", b->max_depth);
		return 0;
	}
	json_incref(c); /* keep it alive for the push if attach() fails */
	if (!attach(b, c)) {
		json_decref(c);
		return 0;
	}
	b->stack[b->depth++] = c;
	json_decref(c); /* now owned by its parent or by root */
	return 1;
}

static int
on_null(void *ctx)
{
	return attach(ctx, json_null());
}

static int
on_boolean(void *ctx, int v)
{
	return attach(ctx, json_boolean(v));
}

/* Numbers as jansson reads them: an integer unless it has a fraction or an
 * exponent; an integer that does not fit, or a real that overflows, is an
 * error rather than a silently different value. */
static int
on_number(void *ctx, const char *s, size_t len)
{
	struct builder *b = ctx;
	char small[64], *t = small, *end;
	bool real = memchr(s, '.', len) || memchr(s, 'e', len) || memchr(s, 'E', len);
	json_t *v;

	if (len >= sizeof(small))
		t = xmalloc(len + 1);
	memcpy(t, s, len);
	t[len] = '\0';
	errno = 0;
	if (real) {
		double d = strtod(t, &end);
		v = errno == ERANGE && (d > 1.0 || d < -1.0) ? NULL : json_real(d);
		if (v == NULL)
			snprintf(b->why, sizeof(b->why), "real number overflow");
	} else {
		long long i = strtoll(t, &end, 10);
		v = errno == ERANGE ? NULL : json_integer(i);
		if (v == NULL)
			snprintf(b->why, sizeof(b->why), "too big %sinteger", s[0] == '-' ? "negative " : "");
	}
	if (t != small)
		free(t);
	return v == NULL ? 0 : attach(b, v);
}

static int
on_string(void *ctx, const unsigned char *s, size_t len)
{
	if (!utf8_valid((const char *)s, len))
		return refuse(ctx, "invalid UTF-8 in a string");
	return attach(ctx, json_stringn_nocheck((const char *)s, len));
}

static int
on_key(void *ctx, const unsigned char *s, size_t len)
{
	struct builder *b = ctx;

	if (!utf8_valid((const char *)s, len))
		return refuse(b, "invalid UTF-8 in an object key");
	if (memchr(s, '\0', len) != NULL)
		return refuse(b, "NUL byte in object key not supported");
	b->key.len = 0;
	if (buf_append(&b->key, s, len) != 0) /* NUL-terminated, as jansson wants */
		return refuse(b, "object key too long");
	b->have_key = true;
	return 1;
}

static int
on_start_map(void *ctx)
{
	return open_container(ctx, json_object());
}

static int
on_start_array(void *ctx)
{
	return open_container(ctx, json_array());
}

static int
on_end(void *ctx)
{
	struct builder *b = ctx;

	b->depth--;
	return 1;
}

static const yajl_callbacks builder_callbacks = {
	.yajl_null = on_null,
	.yajl_boolean = on_boolean,
	.yajl_number = on_number, /* raw text: no yajl_integer/yajl_double */
	.yajl_string = on_string,
	.yajl_start_map = on_start_map,
	.yajl_map_key = on_key,
	.yajl_end_map = on_end,
	.yajl_start_array = on_start_array,
	.yajl_end_array = on_end,
};

/* A "\uD800".."\uDFFF" escape anywhere (possibly a false positive, such as
 * an escaped backslash followed by "uD8", which only costs speed). */
static bool
has_surrogate_escape(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;

	while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
		if (end - p >= 4 && p[1] == 'u' && (p[2] == 'd' || p[2] == 'D') &&
		    strchr("89abcdefABCDEF", p[3]) != NULL && p[3] != '\0')
			return true;
		p++;
	}
	return false;
}

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

/* jansson's own parser: exact about surrogate pairs. */
static int
parse_jansson(const char *buf, size_t len, int max_depth, json_t **out, char *err, size_t errlen)
{
	json_error_t je;
	json_t *v;

	v = json_loadb(buf, len, JSON_ALLOW_NUL | JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
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

int
json_parse_capped(const char *buf, size_t len, int max_depth, json_t **out, char *err, size_t errlen)
{
	struct builder b = {
		.max_depth = max_depth < JSON_DEPTH_HARD ? max_depth : JSON_DEPTH_HARD,
	};
	yajl_handle h;
	yajl_status st;

	*out = NULL;
	if (buf == NULL)
		buf = "";  /* an empty WebSocket message has no buffer (found by fuzz_ws) */
	buf_init(&b.key, len + 1);
	if (has_surrogate_escape(buf, len))
		return parse_jansson(buf, len, max_depth, out, err, errlen);
	if ((h = yajl_alloc(&builder_callbacks, NULL, &b)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	yajl_config(h, yajl_dont_validate_strings, 1); /* utf8_valid() is stricter */
	st = yajl_parse(h, (const unsigned char *)buf, len);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	if (st != yajl_status_ok || b.root == NULL) {
		size_t at = yajl_get_bytes_consumed(h), line = 1, col = 1;
		for (size_t i = 0; i < at && i < len; i++, col++)
			if (buf[i] == '\n') {
				line++;
				col = 0;
			}
		if (b.why[0] != '\0') {
			snprintf(err, errlen, "line %zu, column %zu: %s", line, col, b.why);
		} else {
			unsigned char *m = yajl_get_error(h, 0, NULL, 0);
			size_t n = m ? strcspn((char *)m, "\n") : 0;
			snprintf(err, errlen, "line %zu, column %zu: %.*s", line, col, (int)n,
			    m ? (char *)m : "invalid JSON");
			if (m)
				yajl_free_error(h, m);
		}
		yajl_free(h);
		json_decref(b.root);
		buf_free(&b.key);
		return -1;
	}
	yajl_free(h);
	buf_free(&b.key);
	*out = b.root;
	return 0;
}

/* --- serializing: yajl's generator over jansson's tree --- */

static void
gen_print(void *ctx, const char *s, size_t len)
{
	buf_append(ctx, s, len);
}

static int
gen_value(yajl_gen g, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		void *it;
		if (yajl_gen_map_open(g) != yajl_gen_status_ok)
			return -1;
		for (it = json_object_iter((json_t *)v); it; it = json_object_iter_next((json_t *)v, it)) {
			const char *k = json_object_iter_key(it);
			if (yajl_gen_string(g, (const unsigned char *)k, json_object_iter_key_len(it)) !=
			        yajl_gen_status_ok ||
			    gen_value(g, json_object_iter_value(it)) != 0)
				return -1;
		}
		return yajl_gen_map_close(g) == yajl_gen_status_ok ? 0 : -1;
	}
	case JSON_ARRAY:
		if (yajl_gen_array_open(g) != yajl_gen_status_ok)
			return -1;
		for (size_t i = 0; i < json_array_size(v); i++)
			if (gen_value(g, json_array_get(v, i)) != 0)
				return -1;
		return yajl_gen_array_close(g) == yajl_gen_status_ok ? 0 : -1;
	case JSON_STRING:
		return yajl_gen_string(g, (const unsigned char *)json_string_value(v), json_string_length(v)) ==
		    yajl_gen_status_ok ? 0 : -1;
	case JSON_INTEGER:
		return yajl_gen_integer(g, json_integer_value(v)) == yajl_gen_status_ok ? 0 : -1;
	case JSON_REAL: {
		/* As jansson writes reals: 17 significant digits, always with a
		 * '.' or an exponent, so that it reads back as a real. */
		char t[40];
		int n = snprintf(t, sizeof(t) - 2, "%.17g", json_real_value(v));
		if (strpbrk(t, ".eE") == NULL) {
			memcpy(t + n, ".0", 3);
			n += 2;
		}
		return yajl_gen_number(g, t, (size_t)n) == yajl_gen_status_ok ? 0 : -1;
	}
	case JSON_TRUE:
	case JSON_FALSE:
		return yajl_gen_bool(g, json_is_true(v)) == yajl_gen_status_ok ? 0 : -1;
	case JSON_NULL:
		return yajl_gen_null(g) == yajl_gen_status_ok ? 0 : -1;
	}
	return -1;
}

char *
json_encode(const json_t *v, size_t *len)
{
	struct buf b;
	yajl_gen g;
	int rc;

	if (v == NULL || (g = yajl_gen_alloc(NULL)) == NULL)
		return NULL;
	buf_init(&b, 0);
	yajl_gen_config(g, yajl_gen_print_callback, gen_print, &b);
	rc = gen_value(g, v);
	yajl_gen_free(g);
	if (rc != 0 || b.data == NULL) {
		buf_free(&b);
		return NULL;
	}
	if (len != NULL)
		*len = b.len;
	return b.data;
}

json_t *
json_time_or_null(int64_t s)
{
	char t[21];

	if (s <= 0)
		return json_null();
	fmt_rfc3339(s, t);
	return json_string(t);
}

const char *
json_cstr(const json_t *v)
{
	if (!json_is_string(v) || memchr(json_string_value(v), '\0', json_string_length(v)))
		return NULL;
	return json_string_value(v);
}

bool
json_str_eq(const json_t *v, const char *lit)
{
	size_t n = strlen(lit);

	return json_is_string(v) && json_string_length(v) == n &&
	    memcmp(json_string_value(v), lit, n) == 0;
}

char *
json_dup_text(const json_t *v)
{
	const char *s;
	size_t n, k = 0;
	char *d;

	if (!json_is_string(v))
		return NULL;
	s = json_string_value(v);
	n = json_string_length(v);
	d = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++)
		if (s[i] != '\0')
			d[k++] = s[i];
	d[k] = '\0';
	return d;
}

int
json_epoch(const json_t *v, int64_t max, int64_t *out)
{
	int64_t t;

	if (json_is_integer(v)) {
		t = json_integer_value(v);
	} else if (json_is_real(v)) {
		double d = json_real_value(v);
		if (!(d >= 0 && d <= (double)max))
			return -1;
		t = (int64_t)d;
	} else if (json_cstr(v) == NULL || parse_digits(json_cstr(v), INT64_DIGITS_MAX, &t) != 0) {
		return -1;
	}
	if (t < 0 || t > max)
		return -1;
	*out = t;
	return 0;
}
