/*
 * validate.c - an import's request and the validation of its rows
 * (validate.h). Runs on the import worker's thread: no I/O, no globals.
 */
#include "import/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEDUP_CAP_MIN 1024

static const char *const status_names[] = {
	[IMPORT_ROW_VALID] = "valid",
	[IMPORT_ROW_INVALID] = "invalid",
	[IMPORT_ROW_DUPLICATE] = "duplicate",
};

static const char *const unknown_names[] = {
	[IMPORT_UNKNOWN_IGNORE] = "ignore",
	[IMPORT_UNKNOWN_ERROR] = "error",
	[IMPORT_UNKNOWN_KEEP] = "keep_as_variables",
};

const char *
import_row_status_name(enum import_row_status s)
{
	return (unsigned)s < ARRAY_LEN(status_names) ? status_names[s] : "invalid";
}

/* --- the request --- */

static int
fail(char *field, size_t fcap, const char *f, char *err, size_t ecap, const char *msg)
{
	snprintf(field, fcap, "%s", f);
	snprintf(err, ecap, "%s", msg);
	return -1;
}

static bool
name_ok(const json_t *v)
{
	return json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= IMPORT_NAME_MAX &&
	    strlen(json_string_value(v)) == json_string_length(v);
}

/* A column: a name, or a 1-based index. */
static int
colref(const json_t *v, struct import_colref *out)
{
	memset(out, 0, sizeof(*out));
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if (i < 1 || i > TABLE_COLS_MAX)
			return -1;
		out->index = (int)i;
		return 0;
	}
	if (!name_ok(v))
		return -1;
	snprintf(out->name, sizeof(out->name), "%s", json_string_value(v));
	return 0;
}

static int
parse_mapping(const json_t *m, struct import_spec *out, char *field, size_t fcap, char *err, size_t ecap)
{
	const char *k;
	json_t *v;

	if (!json_is_object(m))
		return fail(field, fcap, "mapping", err, ecap, "'mapping' must be an object with 'phone'");
	json_object_foreach((json_t *)m, k, v) {
		if (strcmp(k, "phone") != 0 && strcmp(k, "variables") != 0 && strcmp(k, "required") != 0) {
			snprintf(field, fcap, "mapping.%.40s", k);
			snprintf(err, ecap, "unknown field 'mapping.%.40s' (phone, variables, required)", k);
			return -1;
		}
	}
	if (colref(json_object_get(m, "phone"), &out->phone) != 0)
		return fail(field, fcap, "mapping.phone", err, ecap, "'mapping.phone' must name the phone "
		    "column: its header name, or its number counting from 1");
	v = json_object_get(m, "variables");
	if (v != NULL && !json_is_object(v))
		return fail(field, fcap, "mapping.variables", err, ecap,
		    "'mapping.variables' must be an object: variable name -> column");
	if (json_object_size(v) > IMPORT_VARS_MAX)
		return fail(field, fcap, "mapping.variables", err, ecap, "'mapping.variables' has too many variables");
	json_t *c;
	json_object_foreach(v, k, c) {
		size_t i = out->nvars;
		if (strlen(k) == 0 || strlen(k) > IMPORT_NAME_MAX || colref(c, &out->var_cols[i]) != 0) {
			snprintf(field, fcap, "mapping.variables");
			snprintf(err, ecap, "variable '%.40s' must name a column (header name, or number from 1)", k);
			return -1;
		}
		snprintf(out->var_names[i], sizeof(out->var_names[i]), "%s", k);
		out->nvars++;
	}
	v = json_object_get(m, "required");
	if (v != NULL && (!json_is_array(v) || json_array_size(v) > IMPORT_VARS_MAX))
		return fail(field, fcap, "mapping.required", err, ecap, "'mapping.required' must be an array of columns");
	size_t i;
	json_array_foreach(v, i, c) {
		if (colref(c, &out->required[out->nrequired]) != 0)
			return fail(field, fcap, "mapping.required", err, ecap,
			    "'mapping.required' must list columns (header names, or numbers from 1)");
		out->nrequired++;
	}
	return 0;
}

int
import_spec_parse(const json_t *req, struct import_spec *out, char *field, size_t fcap, char *err,
    size_t ecap)
{
	json_t *v;

	memset(out, 0, sizeof(*out));
	out->header = true;
	if (parse_mapping(json_object_get(req, "mapping"), out, field, fcap, err, ecap) != 0)
		return -1;
	if ((v = json_object_get(req, "unknown_columns")) != NULL) {
		size_t i;
		for (i = 0; i < ARRAY_LEN(unknown_names); i++)
			if (json_is_string(v) && strcmp(json_string_value(v), unknown_names[i]) == 0)
				break;
		if (i == ARRAY_LEN(unknown_names))
			return fail(field, fcap, "unknown_columns", err, ecap,
			    "'unknown_columns' must be 'ignore', 'error' or 'keep_as_variables'");
		out->unknown = (enum import_unknown)i;
	}
	if ((v = json_object_get(req, "header")) != NULL) {
		if (!json_is_boolean(v))
			return fail(field, fcap, "header", err, ecap, "'header' must be true or false");
		out->header = json_is_true(v);
	}
	if ((v = json_object_get(req, "delimiter")) != NULL) {
		const char *d = json_string_value(v);
		if (d == NULL || json_string_length(v) != 1 || strchr(",;\t|", d[0]) == NULL)
			return fail(field, fcap, "delimiter", err, ecap,
			    "'delimiter' must be one of ',', ';', '|' or a tab (absent: detected)");
		out->delimiter = d[0];
	}
	if ((v = json_object_get(req, "sheet")) != NULL) {
		if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > IMPORT_SHEET_MAX ||
		    strlen(json_string_value(v)) != json_string_length(v))
			return fail(field, fcap, "sheet", err, ecap, "'sheet' must be a worksheet's name");
		snprintf(out->sheet, sizeof(out->sheet), "%s", json_string_value(v));
	}
	if ((v = json_object_get(req, "needed")) != NULL) {
		size_t i;
		json_t *n;
		if (!json_is_array(v) || json_array_size(v) > IMPORT_VARS_MAX)
			return fail(field, fcap, "needed", err, ecap, "'needed' must be an array of variable names");
		json_array_foreach(v, i, n) {
			if (!name_ok(n))
				return fail(field, fcap, "needed", err, ecap, "'needed' must be an array of variable names");
			snprintf(out->needed[out->nneeded++], IMPORT_NAME_MAX + 1, "%s", json_string_value(n));
		}
	}
	return 0;
}

static json_t *
colref_json(const struct import_colref *c)
{
	return c->index ? json_integer(c->index) : json_string(c->name);
}

json_t *
import_spec_json(const struct import_spec *s)
{
	json_t *vars = json_object(), *req = json_array();

	for (size_t i = 0; i < s->nvars; i++)
		json_object_set_new(vars, s->var_names[i], colref_json(&s->var_cols[i]));
	for (size_t i = 0; i < s->nrequired; i++)
		json_array_append_new(req, colref_json(&s->required[i]));
	json_t *o = json_pack("{s:{s:o, s:o, s:o}, s:s, s:b}",
	    "mapping", "phone", colref_json(&s->phone), "variables", vars, "required", req,
	    "unknown_columns", unknown_names[s->unknown], "header", s->header);
	if (s->delimiter) {
		char d[2] = { s->delimiter, '\0' };
		json_object_set_new(o, "delimiter", json_string(d));
	}
	if (s->sheet[0])
		json_object_set_new(o, "sheet", json_string(s->sheet));
	if (s->nneeded) {
		json_t *n = json_array();
		for (size_t i = 0; i < s->nneeded; i++)
			json_array_append_new(n, json_string(s->needed[i]));
		json_object_set_new(o, "needed", n);
	}
	return o;
}

/* --- duplicates --- */

static uint64_t
phone_key(const char *p)
{
	size_t n = strlen(p), i;
	uint64_t v = 0;

	for (i = 0; i < n && i < 17 && p[i] >= '0' && p[i] <= '9'; i++)
		v = v * 10 + (uint64_t)(p[i] - '0');
	if (n > 0 && i == n)
		return (1ULL << 63) | ((uint64_t)n << 57) | v;   /* exact: < 10^17 < 2^57 */
	uint64_t h = 1469598103934665603ULL;                   /* FNV-1a */
	for (i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ULL;
	}
	h &= ~(1ULL << 63);
	return h ? h : 1;
}

static size_t
slot_of(uint64_t key, size_t cap)
{
	return (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 17) & (cap - 1);
}

void
import_dedup_init(struct import_dedup *d)
{
	memset(d, 0, sizeof(*d));
}

void
import_dedup_free(struct import_dedup *d)
{
	free(d->keys);
	free(d->rows);
	memset(d, 0, sizeof(*d));
}

static void
dedup_grow(struct import_dedup *d)
{
	size_t cap = d->cap ? d->cap * 2 : DEDUP_CAP_MIN;
	uint64_t *keys = xcalloc(cap, sizeof(*keys));
	uint32_t *rows = xcalloc(cap, sizeof(*rows));

	for (size_t i = 0; i < d->cap; i++) {
		if (d->keys[i] == 0)
			continue;
		size_t j = slot_of(d->keys[i], cap);
		while (keys[j] != 0)
			j = (j + 1) & (cap - 1);
		keys[j] = d->keys[i];
		rows[j] = d->rows[i];
	}
	free(d->keys);
	free(d->rows);
	d->keys = keys;
	d->rows = rows;
	d->cap = cap;
}

size_t
import_dedup_add(struct import_dedup *d, const char *phone, size_t row)
{
	uint64_t key = phone_key(phone);

	if ((d->n + 1) * 10 > d->cap * 7)
		dedup_grow(d);
	size_t j = slot_of(key, d->cap);
	while (d->keys[j] != 0) {
		if (d->keys[j] == key)
			return d->rows[j];
		j = (j + 1) & (d->cap - 1);
	}
	d->keys[j] = key;
	d->rows[j] = (uint32_t)(row > UINT32_MAX ? UINT32_MAX : row);
	d->n++;
	return 0;
}

/* --- resolving the mapping against the file's columns --- */

static bool
all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* A column's 0-based index, or -1 with err. */
static int
find_col(const struct import_map *m, const struct import_colref *c, char *err, size_t ecap, const char **code)
{
	const struct import_spec *s = m->spec;

	if (c->index == 0 && s->header) {
		for (size_t i = 0; i < m->ncols; i++)
			if (strcmp(m->colnames[i], c->name) == 0)
				return (int)i;
	}
	int idx = c->index;
	if (idx == 0 && all_digits(c->name) && strlen(c->name) <= 3)
		idx = atoi(c->name);
	if (idx >= 1 && idx <= TABLE_COLS_MAX && (!s->header || (size_t)idx <= m->ncols))
		return idx - 1;
	*code = s->header ? "unknown_column" : "no_header";
	if (c->index)
		snprintf(err, ecap, "column %d is not in the file (it has %zu)", c->index, m->ncols);
	else if (s->header)
		snprintf(err, ecap, "no column named '%.64s' in the header row", c->name);
	else
		snprintf(err, ecap, "column '%.64s' is named but the file has no header row: use its number", c->name);
	return -1;
}

static int
var_index(const struct import_spec *s, const char *name)
{
	for (size_t i = 0; i < s->nvars; i++)
		if (strcmp(s->var_names[i], name) == 0)
			return (int)i;
	return -1;
}

int
import_map_resolve(const struct import_spec *spec, import_normalize_fn normalize,
    const struct table_row *first, struct import_map *m, const char **code, char *err, size_t ecap)
{
	memset(m, 0, sizeof(*m));
	m->spec = spec;
	m->normalize = normalize;
	m->ncols = first ? first->ncells : 0;
	m->colnames = xcalloc(m->ncols ? m->ncols : 1, sizeof(*m->colnames));
	for (size_t i = 0; i < m->ncols; i++) {
		if (spec->header)
			snprintf(m->colnames[i], sizeof(m->colnames[i]), "%s", first->cells[i]);
		else
			snprintf(m->colnames[i], sizeof(m->colnames[i]), "%zu", i + 1);
	}
	if (spec->header && first == NULL) {
		*code = "no_header";
		snprintf(err, ecap, "the file is empty: no header row");
		return -1;
	}
	if ((m->phone = find_col(m, &spec->phone, err, ecap, code)) < 0)
		return -1;
	m->mapped[m->phone] = true;
	for (size_t i = 0; i < spec->nvars; i++) {
		if ((m->vars[i] = find_col(m, &spec->var_cols[i], err, ecap, code)) < 0)
			return -1;
		m->mapped[m->vars[i]] = true;
	}
	for (size_t i = 0; i < spec->nrequired; i++) {
		if ((m->required[i] = find_col(m, &spec->required[i], err, ecap, code)) < 0)
			return -1;
		m->mapped[m->required[i]] = true;
	}
	for (size_t i = 0; i < spec->nneeded; i++) {
		if (var_index(spec, spec->needed[i]) >= 0)
			continue;
		bool kept = false;
		for (size_t c = 0; spec->unknown == IMPORT_UNKNOWN_KEEP && c < m->ncols; c++)
			if (!m->mapped[c] && strcmp(m->colnames[c], spec->needed[i]) == 0)
				kept = true;
		if (!kept) {
			*code = "variable_not_mapped";
			snprintf(err, ecap, "the template's variable '%.64s' is filled by no column", spec->needed[i]);
			return -1;
		}
	}
	return 0;
}

void
import_map_free(struct import_map *m)
{
	free(m->colnames);
	m->colnames = NULL;
}

/* --- rows --- */

int
import_json_str(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t start = b->len, run = 0;

	if (buf_append(b, "\"", 1) != 0)
		goto full;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if (buf_append(b, s + run, i - run) != 0)
			goto full;
		run = i + 1;
		char esc[6] = { '\\', (char)c, 0 };
		size_t elen = 2;
		if (c == '\n')
			esc[1] = 'n';
		else if (c == '\r')
			esc[1] = 'r';
		else if (c == '\t')
			esc[1] = 't';
		else if (c < 0x20) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			elen = 6;
		}
		if (buf_append(b, esc, elen) != 0)
			goto full;
	}
	if (buf_append(b, s + run, n - run) != 0 || buf_append(b, "\"", 1) != 0)
		goto full;
	return 0;
full:
	b->len = start;
	b->data[start] = '\0';
	return -1;
}

static const char *
cell(const struct table_row *r, int i, size_t *len)
{
	if (i < 0 || (size_t)i >= r->ncells) {
		*len = 0;
		return "";
	}
	*len = r->lens[i];
	return r->cells[i];
}

static void
col_name(const struct import_map *m, int i, char *out, size_t cap)
{
	if ((size_t)i < m->ncols)
		snprintf(out, cap, "%s", m->colnames[i]);
	else
		snprintf(out, cap, "%d", i + 1);
}

static struct import_row_error *
add_error(const struct import_map *m, struct import_row_result *out, int col, const char *value,
    size_t vlen, const char *code)
{
	if (out->nerrors == IMPORT_ROW_ERRORS_MAX)
		return NULL;
	struct import_row_error *e = &out->errors[out->nerrors++];
	e->code = code;
	e->message[0] = '\0';
	if (col >= 0)
		col_name(m, col, e->column, sizeof(e->column));
	else
		e->column[0] = '\0';
	size_t n = vlen > IMPORT_VALUE_MAX ? utf8_boundary(value, IMPORT_VALUE_MAX) : vlen;
	memcpy(e->value, value, n);
	e->value[n] = '\0';
	return e;
}

#define ERR(col, v, n, code, ...) do { \
	struct import_row_error *e_ = add_error(m, out, col, v, n, code); \
	if (e_) \
		snprintf(e_->message, sizeof(e_->message), __VA_ARGS__); \
	invalid = true; \
} while (0)

static void
phone_check(const struct import_map *m, const struct table_row *r, struct import_row_result *out,
    bool *bad)
{
	size_t n;
	const char *v = cell(r, m->phone, &n);
	bool invalid = false;

	out->phone[0] = '\0';
	if (n == 0) {
		ERR(m->phone, v, n, "phone_missing", "the phone column is empty");
	} else if (m->normalize != NULL) {
		if (m->normalize(v, n, out->phone, sizeof(out->phone)) != 0) {
			out->phone[0] = '\0';
			ERR(m->phone, v, n, "invalid_phone", "not a phone number this channel can reach");
		}
	} else if (n >= sizeof(out->phone)) {
		ERR(m->phone, v, n, "invalid_phone", "the address is longer than %d bytes", IMPORT_PHONE_MAX);
	} else {
		memcpy(out->phone, v, n + 1);
	}
	*bad = invalid;
}

/* "name": value into the row's data object. */
static void
data_member(struct buf *b, bool *first, const char *name, const char *v, size_t n)
{
	if (!*first)
		buf_append(b, ",", 1);
	*first = false;
	import_json_str(b, name, strlen(name));
	buf_append(b, ":", 1);
	import_json_str(b, v, n);
}

void
import_validate_row(const struct import_map *m, struct import_dedup *d, const struct table_row *r,
    struct import_row_result *out)
{
	const struct import_spec *s = m->spec;
	bool invalid = false, first = true;
	size_t n;
	const char *v;

	out->nerrors = 0;
	out->data.len = 0;
	buf_append(&out->data, "{", 1);
	phone_check(m, r, out, &invalid);
	for (size_t i = 0; i < s->nrequired; i++) {
		v = cell(r, m->required[i], &n);
		if (n == 0)
			ERR(m->required[i], v, n, "required_missing", "a required column is empty");
	}
	for (size_t i = 0; i < s->nvars; i++) {
		v = cell(r, m->vars[i], &n);
		data_member(&out->data, &first, s->var_names[i], v, n);
	}
	for (size_t c = 0; c < r->ncells; c++) {
		if (c < TABLE_COLS_MAX && m->mapped[c])
			continue;
		if (r->lens[c] == 0)
			continue;
		if (s->unknown == IMPORT_UNKNOWN_ERROR) {
			ERR((int)c, r->cells[c], r->lens[c], "unknown_column", "a value in a column the mapping "
			    "does not name (unknown_columns is 'error')");
		} else if (s->unknown == IMPORT_UNKNOWN_KEEP) {
			char name[IMPORT_NAME_MAX + 1];
			col_name(m, (int)c, name, sizeof(name));
			if (var_index(s, name) < 0)
				data_member(&out->data, &first, name, r->cells[c], r->lens[c]);
		}
	}
	for (size_t i = 0; i < s->nneeded; i++) {
		int vi = var_index(s, s->needed[i]);
		int col = -1;
		if (vi >= 0) {
			col = m->vars[vi];
		} else {
			for (size_t c = 0; c < m->ncols && col < 0; c++)
				if (!m->mapped[c] && strcmp(m->colnames[c], s->needed[i]) == 0)
					col = (int)c;
		}
		v = cell(r, col, &n);
		if (n == 0)
			ERR(col, v, n, "variable_missing", "the template's variable '%.64s' is empty",
			    s->needed[i]);
	}
	buf_append(&out->data, "}", 1);
	if (invalid) {
		out->status = IMPORT_ROW_INVALID;
		return;
	}
	size_t earlier = import_dedup_add(d, out->phone, r->row);
	if (earlier == 0) {
		out->status = IMPORT_ROW_VALID;
		return;
	}
	out->status = IMPORT_ROW_DUPLICATE;
	v = cell(r, m->phone, &n);
	struct import_row_error *e = add_error(m, out, m->phone, v, n, "duplicate");
	if (e)
		snprintf(e->message, sizeof(e->message), "the same phone as row %zu", earlier);
}
