/* table.h - tabular files read as rows of UTF-8 cells, streaming (never the whole file in memory). */
#ifndef MSGD_TABLE_H
#define MSGD_TABLE_H

#include <stddef.h>

#define TABLE_CELL_MAX   (64 * 1024)     /* bytes of one cell */
#define TABLE_COLS_MAX   256
#define TABLE_ROW_MAX    (1024 * 1024)   /* bytes of one row (all cells) */
enum table_err { TABLE_OK = 0, TABLE_NOT_UTF8, TABLE_CELL_TOO_LONG, TABLE_ROW_TOO_LONG, TABLE_TOO_MANY_COLS,
	TABLE_MALFORMED, TABLE_TOO_BIG, TABLE_ZIP_BOMB, TABLE_XML_ENTITY, TABLE_NO_SHEET, TABLE_IO };
const char *table_err_name(enum table_err e);   /* "not_utf8", ... (API error codes) */
struct table_row { size_t row; size_t ncells; const char *const *cells; const size_t *lens; };
/* Called for each row (row numbers from 1, as a spreadsheet shows them); return 0 to go on, -1 to stop. */
typedef int (*table_row_fn)(void *arg, const struct table_row *r);
struct table_error { enum table_err code; size_t row; size_t column; char message[256]; };

#endif
