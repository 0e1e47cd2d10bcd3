/*
 * xlsx.h - the first (or a named) worksheet of an XLSX workbook read as
 * rows of text cells (table.h), streaming: the zip is opened with libzip,
 * each XML part is inflated in XLSX_CHUNK pieces into expat, and only the
 * shared strings and the styles' date formats are kept in memory (capped).
 *
 * Cells are written as Excel shows them in General format: numbers with
 * up to 15 significant digits (integers without ".0", no exponent below
 * 1e15, so 5511999999999 stays a phone number), cells styled as dates as
 * ISO "YYYY-MM-DD" ("YYYY-MM-DD HH:MM:SS" when the format has a time,
 * "HH:MM:SS" for a time alone), booleans TRUE/FALSE, error cells as their
 * text ("#N/A"). Missing cells inside a row are empty strings; a row ends
 * at its last non-empty cell; rows with no value are not reported (the row
 * numbers are the sheet's, so gaps show).
 *
 * Hostile files: an entry bigger than entry_max or a workbook whose parts
 * add up to more than total_max is TABLE_TOO_BIG; an entry that inflates
 * more than XLSX_RATIO_MAX times (from XLSX_RATIO_MIN_SIZE on) or yields
 * more bytes than its header declares is TABLE_ZIP_BOMB (the sizes are
 * counted while reading, never trusted); a DOCTYPE in any part is
 * TABLE_XML_ENTITY (no DTD, so no entity is ever declared or expanded);
 * a truncated or non-zip file, or XML that is not well formed, is
 * TABLE_MALFORMED; a workbook without the sheet is TABLE_NO_SHEET.
 */
#ifndef MSGD_XLSX_H
#define MSGD_XLSX_H

#include <stddef.h>
#include <stdint.h>

#include "import/table.h"

#define XLSX_ENTRY_MAX      ((uint64_t)256 << 20)  /* uncompressed bytes of one part */
#define XLSX_TOTAL_MAX      ((uint64_t)512 << 20)  /* uncompressed bytes of all parts read */
#define XLSX_RATIO_MAX      100                    /* uncompressed / compressed */
#define XLSX_RATIO_MIN_SIZE ((uint64_t)1 << 20)    /* smaller parts are never a bomb by ratio */
#define XLSX_ENTRIES_MAX    10000                  /* files in the zip */
#define XLSX_SST_BYTES_MAX  ((size_t)32 << 20)     /* shared strings kept in memory */
#define XLSX_SST_COUNT_MAX  ((size_t)1 << 20)
#define XLSX_XF_MAX         65536                  /* cell formats (styles.xml cellXfs) */
#define XLSX_NUMFMT_MAX     4096                   /* custom number formats */
#define XLSX_PATH_MAX       512                    /* a part name */
#define XLSX_CHUNK          (64 * 1024)            /* inflated bytes handed to expat at once */

/* Zero or NULL fields take the defaults above. */
struct xlsx_options {
	const char *sheet;        /* the sheet's name (ASCII case-insensitive); NULL: the first visible */
	uint64_t entry_max;
	uint64_t total_max;
	size_t sst_bytes_max;
	size_t sst_count_max;
};

/*
 * Calls fn for each row with a value, in order. Returns 0 when the sheet
 * was read to its end; -1 with err filled (code, the row and column when
 * known, a message naming the problem) when the file is refused, or -1
 * with err->code TABLE_OK when fn returned -1 (the reader stops there).
 * A missing or unreadable path is TABLE_IO.
 */
int xlsx_read_path(const char *path, const struct xlsx_options *o, table_row_fn fn, void *arg,
    struct table_error *err);
/* The same on a workbook in memory (data is not copied and must outlive the call). */
int xlsx_read_mem(const void *data, size_t len, const struct xlsx_options *o, table_row_fn fn, void *arg,
    struct table_error *err);

/* How a number format shows a cell's number. */
enum xlsx_kind { XLSX_GENERAL = 0, XLSX_DATE, XLSX_DATETIME, XLSX_TIME };
/* The kind of a built-in format id, and of a custom format code. */
enum xlsx_kind xlsx_builtin_kind(unsigned id);
enum xlsx_kind xlsx_format_kind(const char *code);
/*
 * The number text v (as stored in <v>) as Excel shows it under kind, into
 * out (NUL-terminated, truncated to cap). Text that is not a number, and
 * dates out of Excel's range, are written as General. Returns the length.
 */
size_t xlsx_format_number(const char *v, enum xlsx_kind kind, int date1904, char *out, size_t cap);

#endif
