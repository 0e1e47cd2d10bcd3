/*
 * xlsx.c - the XLSX reader (xlsx.h): the zip and its caps, the streaming
 * XML helper every part goes through, and the worksheet itself, turned
 * into rows as expat reports its elements. The parts read before the
 * sheet are in xlsx_parts.c, numbers and dates as text in xlsx_num.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import/xlsx_int.h"
#include "util/util.h"

/* Expat's limit on how much entity expansion may amplify the input. */
#define XML_AMPLIFICATION_MAX 10.0f
/* Excel's limits: column XFD, row 1,048,576. */
#define XLSX_SHEET_COLS 16384
#define XLSX_SHEET_ROWS 1048576

int
xlsx_fail(struct xlsx *x, enum table_err code, size_t row, size_t col, const char *fmt, ...)
{
	va_list ap;

	if (x->failed)
		return -1;
	x->failed = 1;
	x->err->code = code;
	x->err->row = row;
	x->err->column = col;
	va_start(ap, fmt);
	vsnprintf(x->err->message, sizeof(x->err->message), fmt, ap);
	va_end(ap);
	if (x->p != NULL)
		XML_StopParser(x->p, XML_FALSE);
	return -1;
}

const char *
xlsx_local(const char *name)
{
	const char *bar = strrchr(name, '|');

	return bar ? bar + 1 : name;
}

const char *
xlsx_attr(const char **atts, const char *local)
{
	for (size_t i = 0; atts[i] != NULL; i += 2)
		if (strcmp(xlsx_local(atts[i]), local) == 0)
			return atts[i + 1];
	return NULL;
}

/* No part may have a DOCTYPE: no DTD, no entity declared, none expanded. */
static void
on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid, int internal)
{
	struct xlsx_ctx *c = ud;

	xlsx_fail(c->x, TABLE_XML_ENTITY, 0, 0, "a DOCTYPE (entity declarations are refused)");
}

static void
on_entity(void *ud, const XML_Char *name, int pe, const XML_Char *value, int len, const XML_Char *base,
    const XML_Char *sysid, const XML_Char *pubid, const XML_Char *notation)
{
	struct xlsx_ctx *c = ud;

	xlsx_fail(c->x, TABLE_XML_ENTITY, 0, 0, "an entity declaration");
}

static XML_Parser
parser_new(void *ctx, XML_StartElementHandler start, XML_EndElementHandler end, XML_CharacterDataHandler text)
{
	XML_Parser p = XML_ParserCreateNS(NULL, '|');

	if (p == NULL)
		abort();
	XML_SetUserData(p, ctx);
	XML_SetStartDoctypeDeclHandler(p, on_doctype);
	XML_SetEntityDeclHandler(p, on_entity);
	XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
#if XML_MAJOR_VERSION > 2 || (XML_MAJOR_VERSION == 2 && XML_MINOR_VERSION >= 4)
	XML_SetBillionLaughsAttackProtectionMaximumAmplification(p, XML_AMPLIFICATION_MAX);
#endif
	XML_SetElementHandler(p, start, end);
	if (text != NULL)
		XML_SetCharacterDataHandler(p, text);
	return p;
}

/* The caps that the central directory's sizes already break. */
static int
entry_check(struct xlsx *x, const char *name, const zip_stat_t *st)
{
	if ((st->valid & (ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE)) != (ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE))
		return xlsx_fail(x, TABLE_MALFORMED, 0, 0, "%s: no size in the zip directory", name);
	if (st->size > x->entry_max)
		return xlsx_fail(x, TABLE_TOO_BIG, 0, 0, "%s: %llu bytes uncompressed (the cap is %llu)", name,
		    (unsigned long long)st->size, (unsigned long long)x->entry_max);
	if (st->size > x->total_max - x->total)
		return xlsx_fail(x, TABLE_TOO_BIG, 0, 0, "the workbook's parts exceed %llu bytes uncompressed",
		    (unsigned long long)x->total_max);
	if (st->size >= XLSX_RATIO_MIN_SIZE &&
	    (st->comp_size == 0 || st->size / st->comp_size > XLSX_RATIO_MAX))
		return xlsx_fail(x, TABLE_ZIP_BOMB, 0, 0, "%s: compressed more than %d to 1", name, XLSX_RATIO_MAX);
	return 0;
}

static void
expat_fail(struct xlsx *x, const char *name, XML_Parser p)
{
	enum XML_Error e = XML_GetErrorCode(p);
	enum table_err code = TABLE_MALFORMED;

#if XML_MAJOR_VERSION > 2 || (XML_MAJOR_VERSION == 2 && XML_MINOR_VERSION >= 4)
	if (e == XML_ERROR_AMPLIFICATION_LIMIT_BREACH)
		code = TABLE_XML_ENTITY;
#endif
	if (e == XML_ERROR_UNDEFINED_ENTITY || e == XML_ERROR_RECURSIVE_ENTITY_REF)
		code = TABLE_XML_ENTITY;
	xlsx_fail(x, code, 0, 0, "%s: XML line %lu: %s", name, (unsigned long)XML_GetCurrentLineNumber(p),
	    XML_ErrorString(e));
}

int
xlsx_parse_part(struct xlsx *x, const char *name, int *missing, void *ctx,
    XML_StartElementHandler start, XML_EndElementHandler end, XML_CharacterDataHandler text)
{
	zip_stat_t st;
	zip_int64_t idx = zip_name_locate(x->za, name, ZIP_FL_NOCASE);

	if (idx < 0) {
		if (missing != NULL) {
			*missing = 1;
			return 0;
		}
		return xlsx_fail(x, TABLE_NO_SHEET, 0, 0, "%s: not in the workbook", name);
	}
	if (missing != NULL)
		*missing = 0;
	zip_stat_init(&st);
	if (zip_stat_index(x->za, (zip_uint64_t)idx, 0, &st) != 0)
		return xlsx_fail(x, TABLE_MALFORMED, 0, 0, "%s: %s", name, zip_strerror(x->za));
	if (entry_check(x, name, &st) != 0)
		return -1;
	zip_file_t *f = zip_fopen_index(x->za, (zip_uint64_t)idx, 0);
	if (f == NULL)
		return xlsx_fail(x, TABLE_MALFORMED, 0, 0, "%s: %s", name, zip_strerror(x->za));

	XML_Parser p = parser_new(ctx, start, end, text);
	uint64_t got = 0;
	x->p = p;
	for (;;) {
		void *buf = XML_GetBuffer(p, XLSX_CHUNK);
		if (buf == NULL)
			abort();
		zip_int64_t n = zip_fread(f, buf, XLSX_CHUNK);
		if (n < 0) {
			xlsx_fail(x, TABLE_MALFORMED, 0, 0, "%s: %s", name, zip_file_strerror(f));
			break;
		}
		got += (uint64_t)n;
		/* Counted, not trusted: the inflated bytes may outgrow the header. */
		if (got > st.size) {
			xlsx_fail(x, TABLE_ZIP_BOMB, 0, 0, "%s: inflates beyond the %llu bytes its header declares",
			    name, (unsigned long long)st.size);
			break;
		}
		x->total += (uint64_t)n;
		if (XML_ParseBuffer(p, (int)n, n == 0) == XML_STATUS_ERROR) {
			if (!x->failed && !x->stopped)
				expat_fail(x, name, p);
			break;
		}
		if (x->failed || x->stopped || n == 0)
			break;
	}
	if (!x->failed && !x->stopped && got != st.size)
		xlsx_fail(x, TABLE_MALFORMED, 0, 0, "%s: %llu bytes of %llu", name, (unsigned long long)got,
		    (unsigned long long)st.size);
	x->p = NULL;
	XML_ParserFree(p);
	zip_fclose(f);
	return x->failed ? -1 : 0;
}

/* ---- the worksheet ---- */

struct sheet_ctx {
	struct xlsx_ctx base;
	table_row_fn fn;
	void *arg;
	int in_data, in_row, in_cell, in_v, in_is, in_t, rph;
	size_t row, last_row;
	size_t col, last_col;
	char type;                 /* n s i(nlineStr) t(str) b e d */
	size_t xf;
	int has_val;
	char *val;                 /* the cell's raw text, TABLE_CELL_MAX + 1 */
	size_t vlen;
	char *rowbuf;              /* the row's cells, NUL-terminated, TABLE_ROW_MAX + TABLE_COLS_MAX */
	size_t rlen, rbytes;
	size_t ncells;
	size_t off[TABLE_COLS_MAX];
	size_t len[TABLE_COLS_MAX];
	const char *cells[TABLE_COLS_MAX];
};

/* "B3" -> column 2 (1-based); 0 when it is not a cell reference. */
static size_t
ref_col(const char *r)
{
	size_t col = 0;
	const char *p = r;

	for (; *p >= 'A' && *p <= 'Z' && p - r < 3; p++)
		col = col * 26 + (size_t)(*p - 'A' + 1);
	if (p == r || col > XLSX_SHEET_COLS || *p < '1' || *p > '9')
		return 0;
	return col;
}

static size_t
row_num(const char *s)
{
	size_t n = 0;

	if (*s < '1' || *s > '9')
		return 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		n = n * 10 + (size_t)(*s - '0');
		if (n > XLSX_SHEET_ROWS)
			return 0;
	}
	return *s ? 0 : n;
}

static char
cell_type(const char *t)
{
	if (t == NULL || strcmp(t, "n") == 0)
		return 'n';
	if (strcmp(t, "s") == 0)
		return 's';
	if (strcmp(t, "inlineStr") == 0)
		return 'i';
	if (strcmp(t, "str") == 0)
		return 't';
	if (strcmp(t, "b") == 0)
		return 'b';
	if (strcmp(t, "e") == 0)
		return 'e';
	if (strcmp(t, "d") == 0)
		return 'd';
	return 0;
}

static void
row_start(struct sheet_ctx *s, const char **atts)
{
	struct xlsx *x = s->base.x;
	const char *r = xlsx_attr(atts, "r");
	size_t n = r ? row_num(r) : s->last_row + 1;

	if (n == 0 || n > XLSX_SHEET_ROWS) {
		xlsx_fail(x, TABLE_MALFORMED, s->last_row + 1, 0, "a row number that is not one");
		return;
	}
	if (n <= s->last_row) {
		xlsx_fail(x, TABLE_MALFORMED, n, 0, "row %zu after row %zu", n, s->last_row);
		return;
	}
	s->row = s->last_row = n;
	s->in_row = 1;
	s->ncells = s->rlen = s->rbytes = 0;
	s->last_col = 0;
}

static void
cell_start(struct sheet_ctx *s, const char **atts)
{
	struct xlsx *x = s->base.x;
	const char *r = xlsx_attr(atts, "r"), *t = xlsx_attr(atts, "t"), *st = xlsx_attr(atts, "s");
	size_t col = r ? ref_col(r) : s->last_col + 1;

	if (col == 0 || col > XLSX_SHEET_COLS) {
		xlsx_fail(x, TABLE_MALFORMED, s->row, s->last_col + 1, "a cell reference that is not one");
		return;
	}
	if (col <= s->last_col) {
		xlsx_fail(x, TABLE_MALFORMED, s->row, col, "cells out of order");
		return;
	}
	s->type = cell_type(t);
	if (s->type == 0) {
		xlsx_fail(x, TABLE_MALFORMED, s->row, col, "an unknown cell type");
		return;
	}
	s->xf = 0;
	if (st != NULL) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(st, &end, 10);
		s->xf = (errno || *end || end == st || v > XLSX_XF_MAX) ? XLSX_XF_MAX : (size_t)v;
	}
	s->col = s->last_col = col;
	s->in_cell = 1;
	s->has_val = 0;
	s->vlen = 0;
}

static void
sheet_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct sheet_ctx *s = ud;
	const char *n = xlsx_local(name);

	if (!s->in_data) {
		if (strcmp(n, "sheetData") == 0)
			s->in_data = 1;
		return;
	}
	if (!s->in_row) {
		if (strcmp(n, "row") == 0)
			row_start(s, atts);
		return;
	}
	if (!s->in_cell) {
		if (strcmp(n, "c") == 0)
			cell_start(s, atts);
		return;
	}
	if (strcmp(n, "v") == 0 && !s->in_is) {
		s->in_v = 1;
		s->has_val = 1;
	} else if (strcmp(n, "is") == 0) {
		s->in_is = 1;
		s->has_val = 1;
	} else if (s->in_is && strcmp(n, "rPh") == 0) {
		s->rph++;
	} else if (s->in_is && strcmp(n, "t") == 0) {
		s->in_t = 1;
	}
}

static void
sheet_text(void *ud, const XML_Char *text, int len)
{
	struct sheet_ctx *s = ud;

	if (!s->in_v && !(s->in_t && s->rph == 0))
		return;
	if ((size_t)len > TABLE_CELL_MAX - s->vlen) {
		xlsx_fail(s->base.x, TABLE_CELL_TOO_LONG, s->row, s->col, "a cell over %d bytes", TABLE_CELL_MAX);
		return;
	}
	memcpy(s->val + s->vlen, text, (size_t)len);
	s->vlen += (size_t)len;
}

/* The cell's text as shown; NULL on error. */
static const char *
cell_text(struct sheet_ctx *s, char *num, size_t numcap, size_t *len)
{
	struct xlsx *x = s->base.x;

	s->val[s->vlen] = '\0';
	switch (s->type) {
	case 's': {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(s->val, &end, 10);
		if (s->val[0] < '0' || s->val[0] > '9' || errno || end == s->val || *end || v >= x->sst_n) {
			xlsx_fail(x, TABLE_MALFORMED, s->row, s->col, "a shared string that is not in the table");
			return NULL;
		}
		*len = x->sst_off[v + 1] - x->sst_off[v];
		if (*len > TABLE_CELL_MAX) {
			xlsx_fail(x, TABLE_CELL_TOO_LONG, s->row, s->col, "a cell over %d bytes", TABLE_CELL_MAX);
			return NULL;
		}
		return x->sst_buf + x->sst_off[v];
	}
	case 'b':
		if (strcmp(s->val, "1") == 0 || strcmp(s->val, "0") == 0) {
			*len = s->val[0] == '1' ? 4 : 5;
			return s->val[0] == '1' ? "TRUE" : "FALSE";
		}
		break;
	case 'n': {
		enum xlsx_kind k = s->xf < x->nxf ? (enum xlsx_kind)x->xf_kind[s->xf] : XLSX_GENERAL;
		*len = xlsx_format_number(s->val, k, x->date1904, num, numcap);
		return num;
	}
	}
	*len = s->vlen;
	return s->val;
}

#define NUM_TEXT_MAX 64

static void
cell_end(struct sheet_ctx *s)
{
	struct xlsx *x = s->base.x;
	char num[NUM_TEXT_MAX];
	size_t len = 0;

	s->in_cell = s->in_v = s->in_is = s->in_t = s->rph = 0;
	if (!s->has_val)
		return;
	const char *t = cell_text(s, num, sizeof(num), &len);
	if (t == NULL || len == 0)
		return;
	if (s->col > TABLE_COLS_MAX) {
		xlsx_fail(x, TABLE_TOO_MANY_COLS, s->row, s->col, "a value in column %zu (the cap is %d)", s->col,
		    TABLE_COLS_MAX);
		return;
	}
	if (len > TABLE_ROW_MAX - s->rbytes) {
		xlsx_fail(x, TABLE_ROW_TOO_LONG, s->row, s->col, "a row over %d bytes", TABLE_ROW_MAX);
		return;
	}
	for (size_t i = s->ncells; i + 1 < s->col; i++)
		s->len[i] = 0, s->off[i] = SIZE_MAX;
	memcpy(s->rowbuf + s->rlen, t, len);
	s->rowbuf[s->rlen + len] = '\0';
	s->off[s->col - 1] = s->rlen;
	s->len[s->col - 1] = len;
	s->rlen += len + 1;
	s->rbytes += len;
	s->ncells = s->col;
}

static void
row_end(struct sheet_ctx *s)
{
	struct xlsx *x = s->base.x;

	s->in_row = 0;
	if (s->ncells == 0)
		return;
	for (size_t i = 0; i < s->ncells; i++)
		s->cells[i] = s->off[i] == SIZE_MAX ? "" : s->rowbuf + s->off[i];
	struct table_row r = { .row = s->row, .ncells = s->ncells, .cells = s->cells, .lens = s->len };
	if (s->fn(s->arg, &r) != 0) {
		x->stopped = 1;
		XML_StopParser(x->p, XML_FALSE);
	}
}

static void
sheet_end(void *ud, const XML_Char *name)
{
	struct sheet_ctx *s = ud;
	const char *n = xlsx_local(name);

	if (!s->in_data)
		return;
	if (s->in_cell) {
		if (strcmp(n, "c") == 0)
			cell_end(s);
		else if (strcmp(n, "v") == 0)
			s->in_v = 0;
		else if (strcmp(n, "t") == 0)
			s->in_t = 0;
		else if (strcmp(n, "rPh") == 0 && s->rph > 0)
			s->rph--;
		else if (strcmp(n, "is") == 0)
			s->in_is = 0;
	} else if (s->in_row) {
		if (strcmp(n, "row") == 0)
			row_end(s);
	} else if (strcmp(n, "sheetData") == 0) {
		s->in_data = 0;
	}
}

static int
sheet_read(struct xlsx *x, table_row_fn fn, void *arg)
{
	struct sheet_ctx *s = xcalloc(1, sizeof(*s));
	int rc;

	s->base.x = x;
	s->fn = fn;
	s->arg = arg;
	s->val = xmalloc(TABLE_CELL_MAX + 1);
	s->rowbuf = xmalloc(TABLE_ROW_MAX + TABLE_COLS_MAX);
	rc = xlsx_parse_part(x, x->sheet_path, NULL, s, sheet_start, sheet_end, sheet_text);
	free(s->rowbuf);
	free(s->val);
	free(s);
	return rc;
}

/* ---- entry points ---- */

static int
read_zip(zip_t *za, const struct xlsx_options *o, table_row_fn fn, void *arg, struct table_error *err)
{
	struct xlsx x = {
		.za = za,
		.err = err,
		.sheet_name = o && o->sheet ? o->sheet : NULL,
		.entry_max = o && o->entry_max ? o->entry_max : XLSX_ENTRY_MAX,
		.total_max = o && o->total_max ? o->total_max : XLSX_TOTAL_MAX,
		.sst_bytes_max = o && o->sst_bytes_max ? o->sst_bytes_max : XLSX_SST_BYTES_MAX,
		.sst_count_max = o && o->sst_count_max ? o->sst_count_max : XLSX_SST_COUNT_MAX,
	};
	int rc = -1;

	/* The offsets are 32-bit. */
	if (x.sst_bytes_max > UINT32_MAX - TABLE_CELL_MAX)
		x.sst_bytes_max = UINT32_MAX - TABLE_CELL_MAX;
	zip_int64_t n = zip_get_num_entries(za, 0);
	if (n < 0 || n > XLSX_ENTRIES_MAX) {
		xlsx_fail(&x, TABLE_TOO_BIG, 0, 0, "more than %d files in the zip", XLSX_ENTRIES_MAX);
		goto done;
	}
	if (xlsx_parts_read(&x) != 0 || sheet_read(&x, fn, arg) != 0 || x.stopped)
		goto done;   /* stopped by fn: -1 with TABLE_OK, as table.h says */
	rc = 0;
done:
	xlsx_parts_free(&x);
	zip_discard(za);
	return rc;
}

static void
err_init(struct table_error *err)
{
	err->code = TABLE_OK;
	err->row = err->column = 0;
	err->message[0] = '\0';
}

static int
open_fail(struct table_error *err, zip_error_t *ze)
{
	int e = zip_error_code_zip(ze);

	err->code = (e == ZIP_ER_OPEN || e == ZIP_ER_NOENT || e == ZIP_ER_READ || e == ZIP_ER_MEMORY ||
	    e == ZIP_ER_SEEK) ? TABLE_IO : TABLE_MALFORMED;
	snprintf(err->message, sizeof(err->message), "not a readable zip: %s", zip_error_strerror(ze));
	return -1;
}

int
xlsx_read_path(const char *path, const struct xlsx_options *o, table_row_fn fn, void *arg,
    struct table_error *err)
{
	int ze = 0;
	zip_error_t zerr;

	err_init(err);
	zip_t *za = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
	if (za == NULL) {
		zip_error_init_with_code(&zerr, ze);
		int rc = open_fail(err, &zerr);
		zip_error_fini(&zerr);
		return rc;
	}
	return read_zip(za, o, fn, arg, err);
}

int
xlsx_read_mem(const void *data, size_t len, const struct xlsx_options *o, table_row_fn fn, void *arg,
    struct table_error *err)
{
	zip_error_t zerr;

	err_init(err);
	zip_error_init(&zerr);
	zip_source_t *src = zip_source_buffer_create(data, len, 0, &zerr);
	if (src == NULL) {
		int rc = open_fail(err, &zerr);
		zip_error_fini(&zerr);
		return rc;
	}
	zip_t *za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
	if (za == NULL) {
		zip_source_free(src);
		int rc = open_fail(err, &zerr);
		zip_error_fini(&zerr);
		return rc;
	}
	zip_error_fini(&zerr);
	return read_zip(za, o, fn, arg, err);
}
