/*
 * fuzz_csv.c - csv_read_fd() on arbitrary bytes (through a memfd, so the
 * chunked read path is the real one). The first byte picks the options
 * (a delimiter or detection, a file cap or none); the rest is the file.
 * Oracles: every row keeps table.h's contract (cells valid UTF-8 without
 * NUL, NUL-terminated at their length, within the cell, row and column
 * caps; row numbers strictly increasing), and a failure has a code and a
 * terminated message naming a row not before the last one delivered.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "import/csv.h"
#include "util/util.h"

struct seen {
	size_t rows, last_row;
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

static int
check_row(void *arg, const struct table_row *r)
{
	struct seen *s = arg;
	size_t total = 0;

	FUZZ_CHECK(r->row > s->last_row);
	FUZZ_CHECK(r->ncells >= 1 && r->ncells <= TABLE_COLS_MAX);
	for (size_t i = 0; i < r->ncells; i++) {
		FUZZ_CHECK(r->lens[i] <= TABLE_CELL_MAX);
		FUZZ_CHECK(r->cells[i][r->lens[i]] == '\0');
		FUZZ_CHECK(memchr(r->cells[i], '\0', r->lens[i]) == NULL);
		FUZZ_CHECK(utf8_valid(r->cells[i], r->lens[i]));
		total += r->lens[i];
	}
	FUZZ_CHECK(total <= TABLE_ROW_MAX);
	s->last_row = r->row;
	s->rows++;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char delims[] = { 0, ',', ';', '\t', '|' };
	struct csv_options o = { 0 };
	struct table_error err;
	struct seen s = { 0 };

	if (size == 0)
		return 0;
	o.delimiter = delims[(data[0] & 0x7) % sizeof(delims)];
	if (data[0] & 0x80)
		o.max_bytes = 1 + (uint64_t)((data[0] >> 3) & 0xF) * 16;
	data++, size--;
	int fd = memfd_create("fuzz_csv", 0);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
	FUZZ_CHECK(lseek(fd, 0, SEEK_SET) == 0);
	int rc = csv_read_fd(fd, &o, check_row, &s, &err);
	close(fd);
	FUZZ_CHECK(memchr(err.message, '\0', sizeof(err.message)) != NULL);
	if (rc == 0) {
		FUZZ_CHECK(err.code == TABLE_OK);
		FUZZ_CHECK(o.max_bytes == 0 || size <= o.max_bytes);
		return 0;
	}
	FUZZ_CHECK(rc == -1);
	FUZZ_CHECK(err.code != TABLE_OK);   /* check_row never stops the reader */
	FUZZ_CHECK(strcmp(table_err_name(err.code), "unknown") != 0);
	FUZZ_CHECK(err.code == TABLE_TOO_BIG || err.row > s.last_row);
	if (err.code == TABLE_TOO_BIG)
		FUZZ_CHECK(o.max_bytes && size > o.max_bytes);
	return 0;
}
