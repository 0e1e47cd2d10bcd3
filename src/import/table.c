/*
 * table.c - what the tabular readers share: the API names of their errors.
 */
#include "import/table.h"

static const char *const names[] = {
	[TABLE_OK] = "ok",
	[TABLE_NOT_UTF8] = "not_utf8",
	[TABLE_CELL_TOO_LONG] = "cell_too_long",
	[TABLE_ROW_TOO_LONG] = "row_too_long",
	[TABLE_TOO_MANY_COLS] = "too_many_columns",
	[TABLE_MALFORMED] = "malformed",
	[TABLE_TOO_BIG] = "file_too_big",
	[TABLE_ZIP_BOMB] = "zip_bomb",
	[TABLE_XML_ENTITY] = "xml_entity",
	[TABLE_NO_SHEET] = "no_sheet",
	[TABLE_IO] = "io_error",
};

const char *
table_err_name(enum table_err e)
{
	if ((unsigned)e >= sizeof(names) / sizeof(names[0]) || names[e] == NULL)
		return "unknown";
	return names[e];
}
