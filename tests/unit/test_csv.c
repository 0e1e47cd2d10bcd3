/*
 * test_csv.c - the streaming CSV reader (src/import/csv.c). Every input is
 * a file written by the test into a temp dir and read through its fd;
 * hostile inputs also check how far the reader got in the file (its
 * offset), which shows it refused early instead of buffering.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "import/csv.h"

#define KEEP_ROWS 16
#define KEEP_CELLS 8
#define KEEP_CELL 64

struct got {
	size_t rows, last_row, stop_after;
	size_t row[KEEP_ROWS], ncells[KEEP_ROWS];
	char cell[KEEP_ROWS][KEEP_CELLS][KEEP_CELL];
};

static char tmpdir[] = "/tmp/msgd-test-csv-XXXXXX";

static int
collect(void *arg, const struct table_row *r)
{
	struct got *g = arg;

	assert_true(r->row > g->last_row);
	assert_true(r->ncells >= 1 && r->ncells <= TABLE_COLS_MAX);
	for (size_t i = 0; i < r->ncells; i++)
		assert_int_equal(strlen(r->cells[i]), r->lens[i]);
	if (g->rows < KEEP_ROWS) {
		g->row[g->rows] = r->row;
		g->ncells[g->rows] = r->ncells;
		for (size_t i = 0; i < r->ncells && i < KEEP_CELLS; i++)
			snprintf(g->cell[g->rows][i], KEEP_CELL, "%s", r->cells[i]);
	}
	g->last_row = r->row;
	g->rows++;
	return g->stop_after && g->rows == g->stop_after ? -1 : 0;
}

/* A temp file holding data[0..n), opened for reading. */
static int
file_of(const char *data, size_t n)
{
	char path[128];
	static int seq;

	snprintf(path, sizeof(path), "%s/%d.csv", tmpdir, seq++);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static int
read_str(const char *s, const struct csv_options *o, struct got *g, struct table_error *err)
{
	int fd = file_of(s, strlen(s));
	int rc = csv_read_fd(fd, o, collect, g, err);
	close(fd);
	return rc;
}

static void
test_bom_skipped(void **state)
{
	struct got g = { 0 };
	struct table_error err;

	assert_int_equal(read_str("\xEF\xBB\xBFname,phone\nAna,+34600111222\n", NULL, &g, &err), 0);
	assert_int_equal(g.rows, 2);
	assert_string_equal(g.cell[0][0], "name");
	assert_string_equal(g.cell[0][1], "phone");
	assert_string_equal(g.cell[1][1], "+34600111222");
}

static void
test_each_delimiter_detected(void **state)
{
	const char seps[] = { ',', ';', '\t' };

	for (size_t k = 0; k < sizeof(seps); k++) {
		char text[128];
		struct got g = { 0 };
		struct table_error err;
		char d = seps[k];
		snprintf(text, sizeof(text), "name%cphone%ccity\nAna%c+34600%cSevilla\n", d, d, d, d);
		assert_int_equal(csv_detect_delimiter(text, strlen(text), 1), d);
		assert_int_equal(read_str(text, NULL, &g, &err), 0);
		assert_int_equal(g.rows, 2);
		assert_int_equal(g.ncells[0], 3);
		assert_string_equal(g.cell[1][2], "Sevilla");
	}
	/* Delimiters inside quotes do not count; a decimal comma in some
	 * rows does not beat a semicolon on every row. */
	const char *q = "\"a;b\",c\n\"x;y\",z\n";
	assert_int_equal(csv_detect_delimiter(q, strlen(q), 1), ',');
	const char *dec = "name;amount\nAna;1,5\nBo;2\n";
	assert_int_equal(csv_detect_delimiter(dec, strlen(dec), 1), ';');
	/* One column: nothing to detect, ',' is as good as any. */
	assert_int_equal(csv_detect_delimiter("phone\n1\n", 8, 1), ',');
	/* An explicit delimiter wins over detection. */
	struct csv_options o = { .delimiter = ';' };
	struct got g = { 0 };
	struct table_error err;
	assert_int_equal(read_str("a,b;c\n", &o, &g, &err), 0);
	assert_int_equal(g.ncells[0], 2);
	assert_string_equal(g.cell[0][0], "a,b");
}

static void
test_crlf(void **state)
{
	struct got g = { 0 };
	struct table_error err;

	assert_int_equal(read_str("a,b\r\nc,d\r\ne,f", NULL, &g, &err), 0);
	assert_int_equal(g.rows, 3);
	assert_int_equal(g.row[1], 2);
	assert_int_equal(g.row[2], 3);
	assert_string_equal(g.cell[0][1], "b");
	assert_string_equal(g.cell[2][1], "f");
}

static void
test_quoted_newlines_and_quotes(void **state)
{
	struct got g = { 0 };
	struct table_error err;

	assert_int_equal(read_str("\"line1\r\nline2\",\"say \"\"hi\"\"\",\"a,b\"\r\nx,y,z\r\n", NULL, &g,
	    &err), 0);
	assert_int_equal(g.rows, 2);
	assert_string_equal(g.cell[0][0], "line1\r\nline2");
	assert_string_equal(g.cell[0][1], "say \"hi\"");
	assert_string_equal(g.cell[0][2], "a,b");
	/* The record spanning two lines is one row, as a spreadsheet shows it. */
	assert_int_equal(g.row[1], 2);
	assert_string_equal(g.cell[1][2], "z");
}

static void
test_empty_lines_skipped_but_counted(void **state)
{
	struct got g = { 0 };
	struct table_error err;

	assert_int_equal(read_str("a,1\n\n\r\n,,\n  \nb,2\n\"\"\nc,3", NULL, &g, &err), 0);
	assert_int_equal(g.rows, 3);
	assert_int_equal(g.row[0], 1);
	assert_int_equal(g.row[1], 6);
	assert_int_equal(g.row[2], 8);
	assert_string_equal(g.cell[1][0], "b");
}

static void
test_many_rows_across_chunks(void **state)
{
	size_t n = 20000, cap = n * 64;
	char *text = malloc(cap);
	size_t len = 0;

	assert_non_null(text);
	for (size_t i = 1; i <= n; i++)
		len += (size_t)snprintf(text + len, cap - len, i % 7 ? "%zu,+3460%07zu,\"Ana\nMaría\"\r\n"
		    : "%zu,+3460%07zu,\"Ana \"\"Jr\"\"\"\n", i, i);
	int fd = file_of(text, len);
	free(text);
	struct got g = { 0 };
	struct table_error err;
	assert_int_equal(csv_read_fd(fd, NULL, collect, &g, &err), 0);
	close(fd);
	assert_int_equal(g.rows, n);
	assert_int_equal(g.last_row, n);
	assert_string_equal(g.cell[1][2], "Ana\nMaría");
	assert_string_equal(g.cell[6][2], "Ana \"Jr\"");
}

static void
test_latin1_refused_with_row(void **state)
{
	struct got g = { 0 };
	struct table_error err;

	assert_int_equal(read_str("name,city\nAna,Sevilla\nJos\xe9,M\xe1laga\nBo,Madrid\n", NULL, &g,
	    &err), -1);
	assert_int_equal(err.code, TABLE_NOT_UTF8);
	assert_string_equal(table_err_name(err.code), "not_utf8");
	assert_int_equal(err.row, 3);
	assert_int_equal(err.column, 1);
	assert_non_null(strstr(err.message, "row 3, column 1"));
	/* Reading stopped there. */
	assert_int_equal(g.rows, 2);
	/* UTF-16 (NUL bytes) is refused the same way. */
	memset(&g, 0, sizeof(g));
	int fd = file_of("a\0,\0b\0\n\0", 8);
	assert_int_equal(csv_read_fd(fd, NULL, collect, &g, &err), -1);
	close(fd);
	assert_int_equal(err.code, TABLE_NOT_UTF8);
}

/* A header, then one line of `line` bytes made of `unit` repeated; the
 * reader must refuse it with `code` having read little of the file. */
static void
huge_line(const char *unit, size_t line, enum table_err code, bool sparse)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/huge.csv", tmpdir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "name,phone\n", 11), 11);
	if (sparse) {
		/* A hole reads as NUL bytes without taking disk space. */
		assert_int_equal(ftruncate(fd, (off_t)line), 0);
		assert_int_equal(lseek(fd, 0, SEEK_END), (off_t)line);
	} else {
		size_t ul = strlen(unit), bl = 1 << 20;
		char *block = malloc(bl);
		assert_non_null(block);
		for (size_t i = 0; i < bl; i++)
			block[i] = unit[i % ul];
		for (size_t done = 0; done < line; done += bl)
			assert_int_equal(write(fd, block, bl), (ssize_t)bl);
		free(block);
	}
	assert_int_equal(write(fd, "\n", 1), 1);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	struct got g = { 0 };
	struct table_error err;
	assert_int_equal(csv_read_fd(fd, NULL, collect, &g, &err), -1);
	assert_int_equal(err.code, code);
	assert_int_equal(err.row, 2);
	assert_int_equal(g.rows, 1);
	/* Refused within the first few MiB: the line was never held whole. */
	off_t at = lseek(fd, 0, SEEK_CUR);
	assert_true(at < 4 * 1024 * 1024);
	close(fd);
	unlink(path);
}

static void
test_huge_line_refused_early(void **state)
{
	/* 1 GiB in one cell (a sparse file: no disk used). */
	huge_line(NULL, (size_t)1 << 30, TABLE_CELL_TOO_LONG, true);
	/* One text cell far over TABLE_CELL_MAX. */
	huge_line("x", 32u << 20, TABLE_CELL_TOO_LONG, false);
	/* Short cells: the column cap comes first. */
	huge_line("x,", 32u << 20, TABLE_TOO_MANY_COLS, false);
	/* Cells under the cell cap whose sum is over the row cap. */
	char unit[60 * 1024 + 2];
	memset(unit, 'y', sizeof(unit) - 2);
	unit[sizeof(unit) - 2] = ',';
	unit[sizeof(unit) - 1] = '\0';
	huge_line(unit, 32u << 20, TABLE_ROW_TOO_LONG, false);
}

static void
test_cell_cap_exact(void **state)
{
	size_t n = TABLE_CELL_MAX;
	char *text = malloc(n + 8);
	struct got g = { 0 };
	struct table_error err;

	assert_non_null(text);
	text[0] = '"';
	memset(text + 1, 'z', n);
	memcpy(text + 1 + n, "\",1\n", 4);
	int fd = file_of(text, n + 5);
	assert_int_equal(csv_read_fd(fd, NULL, collect, &g, &err), 0);
	close(fd);
	assert_int_equal(g.rows, 1);
	/* One byte more is refused, naming the cell. */
	text[0] = 'z';
	memset(text + 1, 'z', n);
	memcpy(text + 1 + n, ",1\n", 3);
	fd = file_of(text, n + 4);
	assert_int_equal(csv_read_fd(fd, NULL, collect, &g, &err), -1);
	close(fd);
	free(text);
	assert_int_equal(err.code, TABLE_CELL_TOO_LONG);
	assert_int_equal(err.row, 1);
	assert_int_equal(err.column, 1);
}

static void
test_too_many_columns(void **state)
{
	char text[4 * (TABLE_COLS_MAX + 1) + 8];
	struct got g = { 0 };
	struct table_error err;
	size_t len = 0;

	for (int i = 0; i < TABLE_COLS_MAX; i++) {
		text[len++] = 'c';
		text[len++] = i + 1 < TABLE_COLS_MAX ? ',' : '\n';
	}
	text[len] = '\0';
	assert_int_equal(read_str(text, NULL, &g, &err), 0);
	assert_int_equal(g.ncells[0], TABLE_COLS_MAX);
	/* The same row again, with one more column. */
	memcpy(text + len, text, len);
	text[2 * len - 1] = ',';
	memcpy(text + 2 * len, "c\n", 3);
	memset(&g, 0, sizeof(g));
	assert_int_equal(read_str(text, NULL, &g, &err), -1);
	assert_int_equal(err.code, TABLE_TOO_MANY_COLS);
	assert_int_equal(err.row, 2);
	assert_non_null(strstr(err.message, "row 2"));
	assert_int_equal(g.rows, 1);
}

static void
test_file_cap(void **state)
{
	struct csv_options o = { .max_bytes = 100 };
	char text[201];
	struct got g = { 0 };
	struct table_error err;

	for (int i = 0; i < 200; i += 4)
		memcpy(text + i, "a,b\n", 4);
	text[200] = '\0';
	/* A regular file: refused from its size, before any row. */
	assert_int_equal(read_str(text, &o, &g, &err), -1);
	assert_int_equal(err.code, TABLE_TOO_BIG);
	assert_string_equal(table_err_name(err.code), "file_too_big");
	assert_int_equal(g.rows, 0);
	/* A pipe has no size: refused as the bytes arrive. */
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], text, 200), 200);
	close(p[1]);
	assert_int_equal(csv_read_fd(p[0], &o, collect, &g, &err), -1);
	close(p[0]);
	assert_int_equal(err.code, TABLE_TOO_BIG);
	/* At the cap exactly it is read. */
	o.max_bytes = 200;
	memset(&g, 0, sizeof(g));
	assert_int_equal(read_str(text, &o, &g, &err), 0);
	assert_int_equal(g.rows, 50);
}

static void
test_unclosed_quote_and_stop(void **state)
{
	struct got g = { 0 };
	struct table_error err;

	assert_int_equal(read_str("a,b\n\"never closed,c\nd,e\n", NULL, &g, &err), -1);
	assert_int_equal(err.code, TABLE_MALFORMED);
	assert_int_equal(err.row, 2);
	/* The callback stops the reader: -1 with no table error. */
	memset(&g, 0, sizeof(g));
	g.stop_after = 2;
	assert_int_equal(read_str("a\nb\nc\nd\n", NULL, &g, &err), -1);
	assert_int_equal(err.code, TABLE_OK);
	assert_int_equal(g.rows, 2);
}

static int
setup(void **state)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bom_skipped),
		cmocka_unit_test(test_each_delimiter_detected),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_quoted_newlines_and_quotes),
		cmocka_unit_test(test_empty_lines_skipped_but_counted),
		cmocka_unit_test(test_many_rows_across_chunks),
		cmocka_unit_test(test_latin1_refused_with_row),
		cmocka_unit_test(test_huge_line_refused_early),
		cmocka_unit_test(test_cell_cap_exact),
		cmocka_unit_test(test_too_many_columns),
		cmocka_unit_test(test_file_cap),
		cmocka_unit_test(test_unclosed_quote_and_stop),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
