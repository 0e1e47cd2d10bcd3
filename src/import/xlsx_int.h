/*
 * xlsx_int.h - what the XLSX reader's files share (xlsx.c: the zip, the
 * streaming XML helper and the sheet; xlsx_parts.c: the parts read before
 * the sheet; xlsx_num.c: numbers and dates as text).
 */
#ifndef MSGD_XLSX_INT_H
#define MSGD_XLSX_INT_H

#include <stdint.h>
#include <zip.h>

/* Declares the Billion Laughs limits (expat >= 2.4, built with XML_DTD as Debian's is). */
#ifndef XML_DTD
#define XML_DTD 1
#endif
#include <expat.h>

#include "import/xlsx.h"

struct xlsx {
	zip_t *za;
	struct table_error *err;
	const char *sheet_name;           /* wanted sheet, or NULL */
	uint64_t entry_max, total_max;
	uint64_t total;                   /* uncompressed bytes read so far */
	size_t sst_bytes_max, sst_count_max;
	XML_Parser p;                     /* the part being parsed */
	int failed;                       /* err is set */
	int stopped;                      /* the row callback asked to stop */
	int date1904;
	char wb_path[XLSX_PATH_MAX];
	char sheet_rid[XLSX_PATH_MAX];
	char sheet_path[XLSX_PATH_MAX];
	char sst_path[XLSX_PATH_MAX];
	char styles_path[XLSX_PATH_MAX];
	/* Shared strings: string i is sst_buf[sst_off[i] .. sst_off[i + 1]). */
	char *sst_buf;
	size_t sst_len, sst_cap;
	uint32_t *sst_off;
	size_t sst_n, sst_offcap;
	/* Cell format index (the s attribute) -> kind. */
	unsigned char *xf_kind;
	size_t nxf;
};

/* Every parse context starts with this, so the shared handlers find x. */
struct xlsx_ctx {
	struct xlsx *x;
};

/* Records the first error (code, row, column, message), stops the parser; returns -1. */
int xlsx_fail(struct xlsx *x, enum table_err code, size_t row, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/*
 * Streams the part name through expat with the handlers, ctx as user data
 * (it starts with struct xlsx_ctx). A missing part sets *missing when
 * missing is not NULL (and returns 0), else fails with TABLE_NO_SHEET.
 */
int xlsx_parse_part(struct xlsx *x, const char *name, int *missing, void *ctx,
    XML_StartElementHandler start, XML_EndElementHandler end, XML_CharacterDataHandler text);
/* An element or attribute name without its namespace ("uri|c" -> "c"). */
const char *xlsx_local(const char *name);
/* The value of the attribute whose local name is local, or NULL. */
const char *xlsx_attr(const char **atts, const char *local);

/* [Content_Types].xml, the workbook, its rels, shared strings and styles. */
int xlsx_parts_read(struct xlsx *x);
void xlsx_parts_free(struct xlsx *x);

#endif
