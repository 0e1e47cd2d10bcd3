/*
 * validate.h - an import's request (the mapping and its options) and the
 * validation of each row of its file, pure: no I/O, no clock, no store, so
 * the worker (import.c) runs it on its own thread and the unit tests on
 * tables of cells (tests/unit/test_import_validate.c).
 *
 * The steps, for a file read as table.h rows:
 *  1. import_spec_parse(): the request as the API takes it (and as stored);
 *  2. import_map_resolve(): the spec against the file's first row (its
 *     header, or the width of the first row without one): column names
 *     found, or a file-level failure (an unknown column, a template
 *     variable nothing fills);
 *  3. import_validate_row() for each data row: its phone normalized by the
 *     channel type's address rules (as the send path does), required
 *     columns present, template variables filled, unknown columns per the
 *     policy, and duplicates within the file by normalized phone: the first
 *     valid row of a phone is valid, later ones are `duplicate` and name it.
 *     A row is valid, invalid (with its errors) or duplicate.
 */
#ifndef MSGD_IMPORT_VALIDATE_H
#define MSGD_IMPORT_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "import/table.h"
#include "util/util.h"

#define IMPORT_VARS_MAX         64     /* variables (and required columns) of one mapping */
#define IMPORT_NAME_MAX         128    /* bytes of a variable or column name */
#define IMPORT_SHEET_MAX        128
#define IMPORT_ROW_ERRORS_MAX   8      /* errors kept per row (the row is invalid anyway) */
#define IMPORT_VALUE_MAX        256    /* bytes of a cell shown in an error */
#define IMPORT_PHONE_MAX        256    /* a normalized address */
#define IMPORT_DATA_MAX         ((size_t)8 << 20)  /* a row's variables as JSON: 6 bytes per byte of
                                                  a TABLE_ROW_MAX row escaped, and the names */
#define IMPORT_MESSAGE_MAX      256

enum import_unknown { IMPORT_UNKNOWN_IGNORE, IMPORT_UNKNOWN_ERROR, IMPORT_UNKNOWN_KEEP };

/* A column named in a mapping: by header name, or by 1-based index. */
struct import_colref {
	char name[IMPORT_NAME_MAX + 1];    /* "" when by index */
	int index;                         /* 1-based; 0 when by name */
};

struct import_spec {
	struct import_colref phone;
	size_t nvars;
	char var_names[IMPORT_VARS_MAX][IMPORT_NAME_MAX + 1];
	struct import_colref var_cols[IMPORT_VARS_MAX];
	size_t nrequired;
	struct import_colref required[IMPORT_VARS_MAX];
	/* Template variables every valid row must fill (import.c fills it from
	 * the template the request names). */
	size_t nneeded;
	char needed[IMPORT_VARS_MAX][IMPORT_NAME_MAX + 1];
	enum import_unknown unknown;
	bool header;
	char delimiter;                    /* 0: detect */
	char sheet[IMPORT_SHEET_MAX + 1];  /* "": the first */
};

/*
 * The request's "mapping", "unknown_columns", "header", "delimiter",
 * "sheet" and "needed" members (others are the caller's) into out. 0, or
 * -1 with the offending field ("mapping.phone", ...) and a message.
 */
int import_spec_parse(const json_t *req, struct import_spec *out, char *field, size_t fcap,
    char *err, size_t ecap);
/* The spec as stored and shown: {"mapping":{...},"unknown_columns",...}. */
json_t *import_spec_json(const struct import_spec *s);

/* How a channel type spells an address (channel_ops.address_normalize);
 * NULL: taken as given. */
typedef int (*import_normalize_fn)(const char *s, size_t len, char *out, size_t outlen);

/* Duplicates by normalized phone (open addressing; exact for digit
 * strings up to 17 digits, a 64-bit hash otherwise). */
struct import_dedup {
	uint64_t *keys;
	uint32_t *rows;
	size_t cap, n;
};
void import_dedup_init(struct import_dedup *d);
void import_dedup_free(struct import_dedup *d);
/* The first row that had phone (0: none), and phone recorded for row. */
size_t import_dedup_add(struct import_dedup *d, const char *phone, size_t row);

/* A spec resolved against a file's columns (0-based indexes, -1: none). */
struct import_map {
	const struct import_spec *spec;
	import_normalize_fn normalize;
	int phone;
	int vars[IMPORT_VARS_MAX];
	int required[IMPORT_VARS_MAX];
	size_t ncols;                         /* columns known (header, or the first row) */
	char (*colnames)[IMPORT_NAME_MAX + 1];  /* ncols names ("1", "2"... without a header) */
	bool mapped[TABLE_COLS_MAX];
};

enum import_row_status { IMPORT_ROW_VALID, IMPORT_ROW_INVALID, IMPORT_ROW_DUPLICATE };
const char *import_row_status_name(enum import_row_status s);

struct import_row_error {
	char column[IMPORT_NAME_MAX + 1];    /* "" when not about one */
	char value[IMPORT_VALUE_MAX + 1];
	const char *code;                    /* static: "invalid_phone", ... */
	char message[IMPORT_MESSAGE_MAX];
};

struct import_row_result {
	enum import_row_status status;
	char phone[IMPORT_PHONE_MAX + 1];    /* normalized; "" when there is none */
	struct buf data;                     /* the row's variables: a JSON object (caller inits/frees) */
	size_t nerrors;
	struct import_row_error errors[IMPORT_ROW_ERRORS_MAX];
};

/*
 * Resolve spec against first (the header row when spec->header, else the
 * first data row: only its width counts). 0, or -1 with a file-level
 * error: code ("unknown_column", "variable_not_mapped", "no_header") and
 * message. m is the caller's; import_map_free() releases it.
 */
int import_map_resolve(const struct import_spec *spec, import_normalize_fn normalize,
    const struct table_row *first, struct import_map *m, const char **code, char *err, size_t ecap);
void import_map_free(struct import_map *m);

/* Validate one data row into out (its data buffer reset first). */
void import_validate_row(const struct import_map *m, struct import_dedup *d, const struct table_row *r,
    struct import_row_result *out);

/* Append s[0..n) to b as a JSON string (quoted, escaped); -1 past b's cap. */
int import_json_str(struct buf *b, const char *s, size_t n);

#endif
