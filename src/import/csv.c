/*
 * csv.c - the CSV reader: libcsv splits records and fields, this file caps
 * them, checks each cell is UTF-8 and hands rows to the caller.
 *
 * Memory stays flat whatever the file: one CSV_CHUNK read buffer, libcsv's
 * field buffer (its realloc refuses to grow past CSV_FIELD_BUF_MAX, so a
 * 1 GB line stops at the first 64 KiB of its first field) and one row
 * buffer of TABLE_ROW_MAX bytes.
 */
#include <csv.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "import/csv.h"
#include "util/util.h"

/* libcsv's field buffer: a cell, its closing quote and trailing spaces
 * (trimmed after) fit; growing past it is refused (CSV_ENOMEM). */
#define CSV_FIELD_BLK     4096
#define CSV_FIELD_BUF_MAX (TABLE_CELL_MAX + 2 * CSV_FIELD_BLK)
/* libcsv's parser state "inside a field" (libcsv.c FIELD_BEGUN): with
 * quoted set at the end of the file, a quote was never closed. */
#define LIBCSV_FIELD_BEGUN 2

enum stop { GO = 0, FAILED, STOPPED };

struct reader {
	struct csv_parser p;
	table_row_fn fn;
	void *arg;
	struct table_error *err;
	enum stop stop;
	size_t row;        /* physical records ended so far */
	int last_term;     /* the byte that ended the previous record */
	bool nonempty;     /* some cell of the current row has a byte */
	size_t ncells;
	size_t rowlen;     /* cell bytes in the row (TABLE_ROW_MAX) */
	size_t used;       /* bytes of rowbuf used: cells and their NULs */
	char *rowbuf;      /* TABLE_ROW_MAX + TABLE_COLS_MAX */
	size_t off[TABLE_COLS_MAX];
	size_t lens[TABLE_COLS_MAX];
	const char *cells[TABLE_COLS_MAX];
};

static void
fail(struct reader *r, enum table_err code, size_t row, size_t col, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void
fail(struct reader *r, enum table_err code, size_t row, size_t col, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	r->stop = FAILED;
	r->err->code = code;
	r->err->row = row;
	r->err->column = col;
	if (row && col)
		n = snprintf(r->err->message, sizeof(r->err->message), "row %zu, column %zu: ", row, col);
	else if (row)
		n = snprintf(r->err->message, sizeof(r->err->message), "row %zu: ", row);
	va_start(ap, fmt);
	vsnprintf(r->err->message + n, sizeof(r->err->message) - (size_t)n, fmt, ap);
	va_end(ap);
}

static void *
field_realloc(void *p, size_t n)
{
	if (n > CSV_FIELD_BUF_MAX)
		return NULL;
	return xrealloc(p, n);
}

static int
space_or_tab(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* With tab as the delimiter a tab is never padding. */
static int
space_only(unsigned char c)
{
	return c == ' ';
}

static void
on_field(void *data, size_t len, void *arg)
{
	struct reader *r = arg;
	size_t row = r->row + 1, col = r->ncells + 1;

	if (r->stop != GO)
		return;
	if (r->ncells == TABLE_COLS_MAX) {
		fail(r, TABLE_TOO_MANY_COLS, row, 0, "more than %d columns", TABLE_COLS_MAX);
		return;
	}
	if (len > TABLE_CELL_MAX) {
		fail(r, TABLE_CELL_TOO_LONG, row, col, "a cell over %d bytes", TABLE_CELL_MAX);
		return;
	}
	if (r->rowlen + len > TABLE_ROW_MAX) {
		fail(r, TABLE_ROW_TOO_LONG, row, 0, "a row over %d bytes", TABLE_ROW_MAX);
		return;
	}
	if (len && memchr(data, '\0', len) != NULL) {
		fail(r, TABLE_NOT_UTF8, row, col, "a NUL byte (is the file UTF-16?); save it as UTF-8");
		return;
	}
	if (!utf8_valid(data, len)) {
		fail(r, TABLE_NOT_UTF8, row, col, "not valid UTF-8; save the file as UTF-8");
		return;
	}
	if (len)
		memcpy(r->rowbuf + r->used, data, len);
	r->rowbuf[r->used + len] = '\0';
	r->off[r->ncells] = r->used;
	r->lens[r->ncells] = len;
	r->ncells++;
	r->used += len + 1;
	r->rowlen += len;
	if (len)
		r->nonempty = true;
}

static void
on_record(int c, void *arg)
{
	struct reader *r = arg;

	if (r->stop != GO)
		return;
	/* With CSV_REPALL_NL libcsv reports the LF of a CRLF as an empty record. */
	if (r->ncells == 0 && c == '\n' && r->last_term == '\r') {
		r->last_term = c;
		return;
	}
	r->last_term = c;
	r->row++;
	if (r->nonempty) {
		for (size_t i = 0; i < r->ncells; i++)
			r->cells[i] = r->rowbuf + r->off[i];
		struct table_row tr = {
			.row = r->row, .ncells = r->ncells, .cells = r->cells, .lens = r->lens,
		};
		if (r->fn(r->arg, &tr) != 0)
			r->stop = STOPPED;
	}
	r->ncells = r->rowlen = r->used = 0;
	r->nonempty = false;
}

static void
feed(struct reader *r, const char *buf, size_t n)
{
	size_t k = csv_parse(&r->p, buf, n, on_field, on_record, r);

	if (r->stop != GO || k == n)
		return;
	if (csv_error(&r->p) == CSV_ENOMEM)
		fail(r, TABLE_CELL_TOO_LONG, r->row + 1, r->ncells + 1, "a cell over %d bytes",
		    TABLE_CELL_MAX);
	else
		fail(r, TABLE_MALFORMED, r->row + 1, 0, "%s", csv_strerror(csv_error(&r->p)));
}

/* One read(), retried on EINTR: bytes read, 0 at the end, -1 on error. */
static ssize_t
read_some(int fd, char *buf, size_t n)
{
	ssize_t k;

	do
		k = read(fd, buf, n);
	while (k < 0 && errno == EINTR);
	return k;
}

/* Reads until buf is full or the file ends. */
static ssize_t
read_full(int fd, char *buf, size_t n, bool *eof)
{
	size_t got = 0;

	*eof = false;
	while (got < n) {
		ssize_t k = read_some(fd, buf + got, n - got);
		if (k < 0)
			return -1;
		if (k == 0) {
			*eof = true;
			break;
		}
		got += (size_t)k;
	}
	return (ssize_t)got;
}

static bool
too_big(struct reader *r, const struct csv_options *o, uint64_t total)
{
	if (o->max_bytes == 0 || total <= o->max_bytes)
		return false;
	fail(r, TABLE_TOO_BIG, 0, 0, "the file is over %llu bytes", (unsigned long long)o->max_bytes);
	return true;
}

static void
read_loop(struct reader *r, int fd, const struct csv_options *o, char *buf)
{
	static const unsigned char bom[] = { 0xEF, 0xBB, 0xBF };
	uint64_t total = 0;
	size_t skip = 0;
	bool eof;
	ssize_t n = read_full(fd, buf, CSV_CHUNK, &eof);

	if (n < 0)
		goto io;
	total = (uint64_t)n;
	if (too_big(r, o, total))
		return;
	if ((size_t)n >= sizeof(bom) && memcmp(buf, bom, sizeof(bom)) == 0)
		skip = sizeof(bom);
	char delim = o->delimiter ? o->delimiter : csv_detect_delimiter(buf + skip, (size_t)n - skip, eof);
	if (delim == '"' || delim == '\r' || delim == '\n' || delim == '\0') {
		fail(r, TABLE_MALFORMED, 0, 0, "delimiter %d is not allowed", delim);
		return;
	}
	csv_set_delim(&r->p, (unsigned char)delim);
	csv_set_space_func(&r->p, delim == '\t' ? space_only : space_or_tab);
	feed(r, buf + skip, (size_t)n - skip);
	while (r->stop == GO && !eof) {
		n = read_some(fd, buf, CSV_CHUNK);
		if (n < 0)
			goto io;
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (too_big(r, o, total))
			return;
		feed(r, buf, (size_t)n);
	}
	if (r->stop != GO)
		return;
	if (r->p.pstate == LIBCSV_FIELD_BEGUN && r->p.quoted) {
		fail(r, TABLE_MALFORMED, r->row + 1, r->ncells + 1, "a quoted cell is not closed");
		return;
	}
	csv_fini(&r->p, on_field, on_record, r);
	return;
io:
	fail(r, TABLE_IO, 0, 0, "read: %s", strerror(errno));
}

int
csv_read_fd(int fd, const struct csv_options *o, table_row_fn fn, void *arg,
    struct table_error *err)
{
	static const struct csv_options defaults = { .delimiter = 0, .max_bytes = 0 };
	struct stat st;

	if (o == NULL)
		o = &defaults;
	memset(err, 0, sizeof(*err));
	if (o->max_bytes && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size > o->max_bytes) {
		err->code = TABLE_TOO_BIG;
		snprintf(err->message, sizeof(err->message), "the file is over %llu bytes",
		    (unsigned long long)o->max_bytes);
		return -1;
	}
	struct reader *r = xcalloc(1, sizeof(*r));
	char *buf = xmalloc(CSV_CHUNK);
	r->fn = fn;
	r->arg = arg;
	r->err = err;
	r->rowbuf = xmalloc(TABLE_ROW_MAX + TABLE_COLS_MAX);
	csv_init(&r->p, CSV_REPALL_NL);
	csv_set_realloc_func(&r->p, field_realloc);
	csv_set_blk_size(&r->p, CSV_FIELD_BLK);

	read_loop(r, fd, o, buf);

	enum stop stop = r->stop;
	csv_free(&r->p);
	free(r->rowbuf);
	free(r);
	free(buf);
	return stop == GO ? 0 : -1;
}

char
csv_detect_delimiter(const char *buf, size_t n, int eof)
{
	static const char cand[] = { ',', ';', '\t' };
	enum { NC = sizeof(cand) };
	size_t counts[CSV_DETECT_LINES][NC];
	size_t cur[NC] = { 0 };
	size_t lines = 0;
	bool inq = false, has = false;

	for (size_t i = 0; i < n && lines < CSV_DETECT_LINES; i++) {
		char c = buf[i];
		if (c == '"') {
			inq = !inq;
			has = true;
		} else if (inq) {
			continue;
		} else if (c == '\n' || c == '\r') {
			if (has)
				memcpy(counts[lines++], cur, sizeof(cur));
			memset(cur, 0, sizeof(cur));
			has = false;
		} else {
			for (size_t k = 0; k < NC; k++)
				cur[k] += c == cand[k];
			has = true;
		}
	}
	/* The last line when it is complete, or the only one seen at all. */
	if (has && lines < CSV_DETECT_LINES && (eof || lines == 0))
		memcpy(counts[lines++], cur, sizeof(cur));

	size_t best = NC, best_per = 0;
	for (size_t k = 0; k < NC; k++) {
		size_t per = lines ? counts[0][k] : 0;
		for (size_t l = 1; l < lines && per; l++)
			if (counts[l][k] != per)
				per = 0;
		if (per > best_per)
			best = k, best_per = per;
	}
	if (best < NC)
		return cand[best];
	size_t best_lines = 0;
	for (size_t k = 0; k < NC; k++) {
		size_t on = 0;
		for (size_t l = 0; l < lines; l++)
			on += counts[l][k] > 0;
		if (on > best_lines)
			best = k, best_lines = on;
	}
	return best < NC ? cand[best] : ',';
}
