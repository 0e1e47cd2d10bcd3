/*
 * csv.h - a streaming CSV reader (libcsv underneath) for imports.
 *
 * The file is read in CSV_CHUNK bytes at a time, never whole. A UTF-8 BOM
 * is skipped; records end at LF, CRLF or CR; quoted fields may hold the
 * delimiter, newlines and doubled quotes. Spaces and tabs around an
 * unquoted field are trimmed (libcsv's rule). Rows whose cells are all
 * empty (blank lines, ",,,") are skipped, but still counted in the row
 * numbers. Everything else follows table.h's contract.
 */
#ifndef MSGD_IMPORT_CSV_H
#define MSGD_IMPORT_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "import/table.h"

#define CSV_CHUNK      (64 * 1024)   /* bytes read at a time; also what delimiter detection sees */
#define CSV_DETECT_LINES 20          /* lines delimiter detection compares */

struct csv_options {
	char delimiter;       /* ',' ';' '\t' or another byte; 0 = detect (csv_detect_delimiter) */
	uint64_t max_bytes;   /* the whole file (BOM included); beyond it TABLE_TOO_BIG; 0 = no cap */
};

/* Read fd to its end, calling fn for each row. o may be NULL (detect, no
 * cap). 0 or -1 as table.h says; fd is not closed. */
int csv_read_fd(int fd, const struct csv_options *o, table_row_fn fn, void *arg,
    struct table_error *err);

/* The delimiter of a file that starts with buf[0..n) (after any BOM): of
 * ',' ';' '\t', the one found outside quotes the same number of times on
 * each of the first CSV_DETECT_LINES lines (the most per line wins; the
 * last line counts only when eof says it is complete); else the one on
 * the most lines; ',' when none appears. */
char csv_detect_delimiter(const char *buf, size_t n, int eof);

#endif
