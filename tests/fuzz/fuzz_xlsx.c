/*
 * fuzz_xlsx.c - xlsx_read_mem() on arbitrary bytes (zip + XML). Oracles:
 * it returns 0 with TABLE_OK or -1 with a named error and a terminated
 * message; every row it reports is in order, within the caps, with
 * lengths that match NUL-terminated cells. Small caps keep each run fast.
 */
#include "fuzz.h"
#include "import/xlsx.h"

struct seen {
	size_t last_row;
};

static int
on_row(void *arg, const struct table_row *r)
{
	struct seen *s = arg;
	size_t bytes = 0;

	FUZZ_CHECK(r->row > s->last_row);
	s->last_row = r->row;
	FUZZ_CHECK(r->ncells >= 1 && r->ncells <= TABLE_COLS_MAX);
	FUZZ_CHECK(r->lens[r->ncells - 1] > 0);
	for (size_t i = 0; i < r->ncells; i++) {
		FUZZ_CHECK(r->lens[i] <= TABLE_CELL_MAX);
		FUZZ_CHECK(strlen(r->cells[i]) == r->lens[i]);
		bytes += r->lens[i];
	}
	FUZZ_CHECK(bytes <= TABLE_ROW_MAX);
	return 0;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xlsx_options o = {
		.entry_max = 4 << 20,
		.total_max = 8 << 20,
		.sst_bytes_max = 1 << 20,
		.sst_count_max = 10000,
	};
	struct table_error err;
	struct seen s = { 0 };
	/* A third of the inputs (by length) ask for a named sheet. */
	if (size % 3 == 0)
		o.sheet = "Contacts";

	int rc = xlsx_read_mem(data, size, &o, on_row, &s, &err);
	FUZZ_CHECK(memchr(err.message, '\0', sizeof(err.message)) != NULL);
	if (rc == 0) {
		FUZZ_CHECK(err.code == TABLE_OK);
	} else {
		FUZZ_CHECK(rc == -1);
		FUZZ_CHECK(err.code > TABLE_OK && err.code <= TABLE_IO);   /* on_row never stops */
	}
	return 0;
}
