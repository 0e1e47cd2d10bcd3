/*
 * xlsx_parts.c - the parts the XLSX reader needs before the sheet:
 * [Content_Types].xml names the workbook part, the workbook names the
 * sheets (and the date system), the workbook's rels map the sheet's id to
 * its part and point at the shared strings and the styles. Shared strings
 * are kept (capped by bytes and count); of the styles only which cell
 * formats show dates.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "import/xlsx_int.h"
#include "util/util.h"

#define WORKBOOK_DEFAULT "xl/workbook.xml"
#define CT_MAIN_SUFFIX   ".main+xml"          /* sheet.main, macroEnabled.main, template.main */
#define CT_SPREADSHEET   "application/vnd."   /* ...openxmlformats-officedocument.spreadsheetml / ms-excel */
#define REL_WORKSHEET    "/worksheet"
#define REL_SST          "/sharedStrings"
#define REL_STYLES       "/styles"
#define SST_OFF_FIRST    1024
#define SST_BUF_FIRST    (64 * 1024)

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int
copy(char *dst, const char *src)
{
	size_t n = strlen(src);

	if (n >= XLSX_PATH_MAX)
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}

/*
 * target relative to the folder dir ("" for the root), or absolute ("/x"),
 * into out without "." and ".." segments; -1 when it leaves the root or is
 * too long.
 */
static int
resolve(const char *dir, const char *target, char *out)
{
	char tmp[2 * XLSX_PATH_MAX];
	size_t len = 0;

	if (target[0] == '/')
		target++;
	else if (dir[0])
		len = (size_t)snprintf(tmp, sizeof(tmp), "%s/", dir);
	if (strlen(target) >= XLSX_PATH_MAX)
		return -1;
	snprintf(tmp + len, sizeof(tmp) - len, "%s", target);

	size_t o = 0;
	for (char *seg = tmp, *next; seg != NULL; seg = next) {
		next = strchr(seg, '/');
		if (next)
			*next++ = '\0';
		if (seg[0] == '\0' || strcmp(seg, ".") == 0)
			continue;
		if (strcmp(seg, "..") == 0) {
			if (o == 0)
				return -1;
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
			continue;
		}
		size_t n = strlen(seg);
		if (o + (o > 0) + n >= XLSX_PATH_MAX)
			return -1;
		if (o > 0)
			out[o++] = '/';
		memcpy(out + o, seg, n);
		o += n;
	}
	out[o] = '\0';
	return o > 0 ? 0 : -1;
}

/* ---- [Content_Types].xml ---- */

struct ct_ctx {
	struct xlsx_ctx base;
	int found;
};

static void
ct_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct ct_ctx *c = ud;
	const char *part, *type;

	if (c->found || strcmp(xlsx_local(name), "Override") != 0)
		return;
	part = xlsx_attr(atts, "PartName");
	type = xlsx_attr(atts, "ContentType");
	if (part == NULL || type == NULL || strncmp(type, CT_SPREADSHEET, strlen(CT_SPREADSHEET)) != 0 ||
	    !ends_with(type, CT_MAIN_SUFFIX))
		return;
	if (resolve("", part, c->base.x->wb_path) != 0) {
		xlsx_fail(c->base.x, TABLE_MALFORMED, 0, 0, "[Content_Types].xml: a part name that is not one");
		return;
	}
	c->found = 1;
}

static void
ignore_end(void *ud, const XML_Char *name)
{
}

/* ---- the workbook ---- */

struct wb_ctx {
	struct xlsx_ctx base;
	int found, first_hidden;
};

static void
wb_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct wb_ctx *c = ud;
	struct xlsx *x = c->base.x;
	const char *n = xlsx_local(name);

	if (strcmp(n, "workbookPr") == 0) {
		const char *v = xlsx_attr(atts, "date1904");
		x->date1904 = v != NULL && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
		return;
	}
	if (strcmp(n, "sheet") != 0 || c->found)
		return;
	const char *sname = xlsx_attr(atts, "name"), *rid = xlsx_attr(atts, "id"), *state = xlsx_attr(atts, "state");
	if (sname == NULL || rid == NULL)
		return;
	int hidden = state != NULL && strcmp(state, "visible") != 0;
	if (x->sheet_name != NULL && strcasecmp(sname, x->sheet_name) != 0)
		return;
	/* The first visible sheet; a hidden one only when no visible one follows. */
	if (x->sheet_name == NULL && hidden && x->sheet_rid[0])
		return;
	if (copy(x->sheet_rid, rid) != 0) {
		xlsx_fail(x, TABLE_MALFORMED, 0, 0, "workbook: a sheet id over %d bytes", XLSX_PATH_MAX);
		return;
	}
	if (x->sheet_name == NULL && hidden)
		c->first_hidden = 1;
	else
		c->found = 1;
}

/* ---- the workbook's relationships ---- */

struct rels_ctx {
	struct xlsx_ctx base;
	const char *dir;
};

static void
rels_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct rels_ctx *c = ud;
	struct xlsx *x = c->base.x;
	const char *id, *type, *target, *mode;
	char *dst = NULL;

	if (strcmp(xlsx_local(name), "Relationship") != 0)
		return;
	id = xlsx_attr(atts, "Id");
	type = xlsx_attr(atts, "Type");
	target = xlsx_attr(atts, "Target");
	mode = xlsx_attr(atts, "TargetMode");
	if (id == NULL || type == NULL || target == NULL || (mode != NULL && strcmp(mode, "Internal") != 0))
		return;
	if (strcmp(id, x->sheet_rid) == 0) {
		if (!ends_with(type, REL_WORKSHEET)) {
			xlsx_fail(x, TABLE_NO_SHEET, 0, 0, "the sheet is not a worksheet");
			return;
		}
		dst = x->sheet_path;
	} else if (ends_with(type, REL_SST) && !x->sst_path[0]) {
		dst = x->sst_path;
	} else if (ends_with(type, REL_STYLES) && !x->styles_path[0]) {
		dst = x->styles_path;
	}
	if (dst != NULL && resolve(c->dir, target, dst) != 0)
		xlsx_fail(x, TABLE_MALFORMED, 0, 0, "workbook rels: a target that is not a part name");
}

/* ---- shared strings ---- */

struct sst_ctx {
	struct xlsx_ctx base;
	int in_si, in_t, rph;
	size_t start;               /* sst_len when the current <si> began */
};

static void
sst_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct sst_ctx *c = ud;
	struct xlsx *x = c->base.x;
	const char *n = xlsx_local(name);

	if (!c->in_si) {
		if (strcmp(n, "si") == 0) {
			if (x->sst_n >= x->sst_count_max) {
				xlsx_fail(x, TABLE_TOO_BIG, 0, 0, "more than %zu shared strings", x->sst_count_max);
				return;
			}
			c->in_si = 1;
			c->start = x->sst_len;
		}
		return;
	}
	if (strcmp(n, "rPh") == 0)
		c->rph++;
	else if (strcmp(n, "t") == 0 && c->rph == 0)
		c->in_t = 1;
}

static void
sst_text(void *ud, const XML_Char *text, int len)
{
	struct sst_ctx *c = ud;
	struct xlsx *x = c->base.x;
	size_t n = (size_t)len;

	if (!c->in_t)
		return;
	/* A string over the cell cap is kept at TABLE_CELL_MAX + 1 bytes: refused if a cell uses it. */
	size_t have = x->sst_len - c->start;
	if (have > TABLE_CELL_MAX)
		return;
	if (n > TABLE_CELL_MAX + 1 - have)
		n = TABLE_CELL_MAX + 1 - have;
	if (n > x->sst_bytes_max - x->sst_len) {
		xlsx_fail(x, TABLE_TOO_BIG, 0, 0, "shared strings over %zu bytes", x->sst_bytes_max);
		return;
	}
	if (x->sst_len + n > x->sst_cap) {
		size_t cap = x->sst_cap ? x->sst_cap : SST_BUF_FIRST;
		while (cap < x->sst_len + n)
			cap *= 2;
		if (cap > x->sst_bytes_max)
			cap = x->sst_bytes_max;
		x->sst_buf = xrealloc(x->sst_buf, cap);
		x->sst_cap = cap;
	}
	memcpy(x->sst_buf + x->sst_len, text, n);
	x->sst_len += n;
}

static void
sst_end(void *ud, const XML_Char *name)
{
	struct sst_ctx *c = ud;
	struct xlsx *x = c->base.x;
	const char *n = xlsx_local(name);

	if (!c->in_si)
		return;
	if (strcmp(n, "t") == 0) {
		c->in_t = 0;
	} else if (strcmp(n, "rPh") == 0 && c->rph > 0) {
		c->rph--;
	} else if (strcmp(n, "si") == 0) {
		c->in_si = c->in_t = c->rph = 0;
		if (x->sst_n + 2 > x->sst_offcap) {
			x->sst_offcap = x->sst_offcap ? 2 * x->sst_offcap : SST_OFF_FIRST;
			x->sst_off = xrealloc(x->sst_off, x->sst_offcap * sizeof(*x->sst_off));
		}
		x->sst_off[x->sst_n] = (uint32_t)c->start;
		x->sst_off[++x->sst_n] = (uint32_t)x->sst_len;
	}
}

/* ---- styles: which cell formats are dates ---- */

struct styles_ctx {
	struct xlsx_ctx base;
	int in_fmts, in_xfs;
	size_t nfmt;
	unsigned fmt_id[XLSX_NUMFMT_MAX];
	unsigned char fmt_kind[XLSX_NUMFMT_MAX];
};

static int
parse_id(const char *s, unsigned *out)
{
	char *end;

	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > 0xffffffUL)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static void
styles_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct styles_ctx *c = ud;
	struct xlsx *x = c->base.x;
	const char *n = xlsx_local(name);
	unsigned id = 0;

	if (strcmp(n, "numFmts") == 0) {
		c->in_fmts = 1;
	} else if (strcmp(n, "cellXfs") == 0) {
		c->in_xfs = 1;
	} else if (c->in_fmts && strcmp(n, "numFmt") == 0) {
		const char *sid = xlsx_attr(atts, "numFmtId"), *code = xlsx_attr(atts, "formatCode");
		if (sid == NULL || code == NULL || parse_id(sid, &id) != 0)
			return;
		if (c->nfmt >= XLSX_NUMFMT_MAX) {
			xlsx_fail(x, TABLE_TOO_BIG, 0, 0, "more than %d number formats", XLSX_NUMFMT_MAX);
			return;
		}
		c->fmt_id[c->nfmt] = id;
		c->fmt_kind[c->nfmt++] = (unsigned char)xlsx_format_kind(code);
	} else if (c->in_xfs && strcmp(n, "xf") == 0) {
		const char *sid = xlsx_attr(atts, "numFmtId");
		enum xlsx_kind k = XLSX_GENERAL;
		if (x->nxf >= XLSX_XF_MAX) {
			xlsx_fail(x, TABLE_TOO_BIG, 0, 0, "more than %d cell formats", XLSX_XF_MAX);
			return;
		}
		if (sid != NULL && parse_id(sid, &id) == 0) {
			k = xlsx_builtin_kind(id);
			/* A custom format with a built-in id replaces it. */
			for (size_t i = 0; i < c->nfmt; i++)
				if (c->fmt_id[i] == id)
					k = (enum xlsx_kind)c->fmt_kind[i];
		}
		x->xf_kind[x->nxf++] = (unsigned char)k;
	}
}

static void
styles_end(void *ud, const XML_Char *name)
{
	struct styles_ctx *c = ud;
	const char *n = xlsx_local(name);

	if (strcmp(n, "numFmts") == 0)
		c->in_fmts = 0;
	else if (strcmp(n, "cellXfs") == 0)
		c->in_xfs = 0;
}

/* ---- in order ---- */

static int
read_workbook(struct xlsx *x)
{
	int missing = 0;
	struct ct_ctx ct = { .base.x = x };

	if (xlsx_parse_part(x, "[Content_Types].xml", &missing, &ct, ct_start, ignore_end, NULL) != 0)
		return -1;
	if (!ct.found)
		copy(x->wb_path, WORKBOOK_DEFAULT);

	struct wb_ctx wb = { .base.x = x };
	if (xlsx_parse_part(x, x->wb_path, NULL, &wb, wb_start, ignore_end, NULL) != 0)
		return -1;
	if (!wb.found && !wb.first_hidden)
		return xlsx_fail(x, TABLE_NO_SHEET, 0, 0, x->sheet_name ? "no sheet by that name" : "no sheet");

	/* xl/workbook.xml -> xl/_rels/workbook.xml.rels, targets relative to xl/. */
	char dir[XLSX_PATH_MAX], rels[2 * XLSX_PATH_MAX + 16];
	const char *slash = strrchr(x->wb_path, '/');
	size_t dlen = slash ? (size_t)(slash - x->wb_path) : 0;
	memcpy(dir, x->wb_path, dlen);
	dir[dlen] = '\0';
	snprintf(rels, sizeof(rels), "%s%s_rels/%s.rels", dir, dlen ? "/" : "", slash ? slash + 1 : x->wb_path);
	struct rels_ctx rc = { .base.x = x, .dir = dir };
	if (xlsx_parse_part(x, rels, NULL, &rc, rels_start, ignore_end, NULL) != 0)
		return -1;
	if (!x->sheet_path[0])
		return xlsx_fail(x, TABLE_NO_SHEET, 0, 0, "the sheet's part is not in the workbook's rels");
	return 0;
}

int
xlsx_parts_read(struct xlsx *x)
{
	int missing = 0;

	if (read_workbook(x) != 0)
		return -1;
	if (x->sst_path[0]) {
		struct sst_ctx sc = { .base.x = x };
		if (xlsx_parse_part(x, x->sst_path, &missing, &sc, sst_start, sst_end, sst_text) != 0)
			return -1;
	}
	if (x->styles_path[0]) {
		struct styles_ctx *sc = xcalloc(1, sizeof(*sc));
		sc->base.x = x;
		x->xf_kind = xmalloc(XLSX_XF_MAX);
		int rc = xlsx_parse_part(x, x->styles_path, &missing, sc, styles_start, styles_end, NULL);
		free(sc);
		if (rc != 0)
			return -1;
	}
	return 0;
}

void
xlsx_parts_free(struct xlsx *x)
{
	free(x->sst_buf);
	free(x->sst_off);
	free(x->xf_kind);
	x->sst_buf = NULL;
	x->sst_off = NULL;
	x->xf_kind = NULL;
}
