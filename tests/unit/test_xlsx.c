/*
 * test_xlsx.c - the XLSX reader (src/import/xlsx.c) on workbooks the test
 * writes with libzip from minimal parts: shared and inline strings,
 * numbers as Excel's General shows them, dates by built-in and custom
 * formats, gaps in rows and between rows, a named sheet; and hostile
 * files: a zip bomb, a header that lies about the size, entity expansion,
 * a truncated zip, a file that is no zip at all.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

#include "import/xlsx.h"

#define OUT_MAX (64 * 1024)
#define BOMB_SIZE (20 << 20)

#define NS "xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" " \
	"xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\""
#define RELNS "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"

static const char CONTENT_TYPES[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
	"<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
	"<Default Extension=\"xml\" ContentType=\"application/xml\"/>"
	"<Override PartName=\"/xl/workbook.xml\" "
	"ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/>"
	"<Override PartName=\"/xl/worksheets/sheet1.xml\" "
	"ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/>"
	"</Types>";

static const char WORKBOOK[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<workbook " NS "><workbookPr/><sheets>"
	"<sheet name=\"First\" sheetId=\"1\" r:id=\"rId1\"/>"
	"<sheet name=\"Contacts\" sheetId=\"2\" r:id=\"rId4\"/>"
	"</sheets></workbook>";

static const char RELS[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
	"<Relationship Id=\"rId1\" Type=\"" RELNS "worksheet\" Target=\"worksheets/sheet1.xml\"/>"
	"<Relationship Id=\"rId2\" Type=\"" RELNS "sharedStrings\" Target=\"sharedStrings.xml\"/>"
	"<Relationship Id=\"rId3\" Type=\"" RELNS "styles\" Target=\"/xl/styles.xml\"/>"
	"<Relationship Id=\"rId4\" Type=\"" RELNS "worksheet\" Target=\"./worksheets/../worksheets/sheet2.xml\"/>"
	"</Relationships>";

/* "Name", a rich "Ph" + "one" with a phonetic run that is not shown, "Ana & Bo". */
static const char SST[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<sst " NS " count=\"3\" uniqueCount=\"3\">"
	"<si><t>Name</t></si>"
	"<si><r><t>Ph</t></r><r><rPr><b/></rPr><t>one</t></r><rPh sb=\"0\" eb=\"1\"><t>XX</t></rPh></si>"
	"<si><t xml:space=\"preserve\">Ana &amp; Bo</t></si>"
	"</sst>";

/* xf 1: built-in 14 (a date); xf 2: custom 164 with a time; xf 3: text. */
static const char STYLES[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<styleSheet " NS "><numFmts count=\"1\">"
	"<numFmt numFmtId=\"164\" formatCode=\"dd/mm/yyyy\\ hh:mm\"/></numFmts>"
	"<cellStyleXfs count=\"1\"><xf numFmtId=\"14\"/></cellStyleXfs>"
	"<cellXfs count=\"4\"><xf numFmtId=\"0\"/><xf numFmtId=\"14\" applyNumberFormat=\"1\"/>"
	"<xf numFmtId=\"164\" applyNumberFormat=\"1\"/><xf numFmtId=\"49\"/></cellXfs></styleSheet>";

static const char SHEET1[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<worksheet " NS "><dimension ref=\"A1:E5\"/><sheetData>"
	"<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"B1\" t=\"s\"><v>1</v></c>"
	"<c r=\"C1\" t=\"inlineStr\"><is><t>inline</t></is></c></row>"
	"<row r=\"2\"><c r=\"A2\"><v>5511999999999</v></c><c r=\"B2\"><v>3.5</v></c>"
	"<c r=\"C2\" s=\"3\"/><c r=\"D2\" s=\"1\"><v>45292</v></c><c r=\"E2\" t=\"b\"><v>1</v></c></row>"
	"<row r=\"3\" spans=\"1:5\"/>"
	"<row r=\"5\"><c r=\"B5\" s=\"2\"><v>45292.5</v></c><c r=\"C5\" t=\"e\"><v>#N/A</v></c>"
	"<c r=\"D5\" t=\"str\"><f>A1</f><v>Name</v></c><c r=\"IV5\" s=\"3\"/></row>"
	"<row><c t=\"s\"><v>2</v></c><c><v>0.1</v></c><c t=\"b\"><v>0</v></c></row>"
	"</sheetData></worksheet>";

static const char SHEET2[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<x:worksheet xmlns:x=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><x:sheetData>"
	"<x:row r=\"2\"><x:c r=\"B2\" t=\"inlineStr\"><x:is><x:t>second sheet</x:t></x:is></x:c></x:row>"
	"</x:sheetData></x:worksheet>";

struct part {
	const char *name;
	const char *data;
	size_t len;        /* 0: strlen(data) */
};

static char dir[64];

static int
setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/test_xlsx.XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

/* Writes the parts as a zip named name in dir; the path into path. */
static void
write_zip(const char *name, const struct part *parts, size_t n, char *path, size_t cap)
{
	int ze = 0;

	snprintf(path, cap, "%s/%s", dir, name);
	zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &ze);
	assert_non_null(z);
	for (size_t i = 0; i < n; i++) {
		size_t len = parts[i].len ? parts[i].len : strlen(parts[i].data);
		zip_source_t *s = zip_source_buffer(z, parts[i].data, len, 0);
		assert_non_null(s);
		assert_true(zip_file_add(z, parts[i].name, s, ZIP_FL_ENC_UTF_8) >= 0);
	}
	assert_int_equal(zip_close(z), 0);
}

/* The standard workbook with sheet1 (and sharedStrings) replaced when given. */
static void
write_book(const char *name, const char *sheet1, size_t sheet1_len, const char *sst, char *path, size_t cap)
{
	struct part parts[] = {
		{ "[Content_Types].xml", CONTENT_TYPES, 0 },
		{ "_rels/.rels", "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\"/>", 0 },
		{ "xl/workbook.xml", WORKBOOK, 0 },
		{ "xl/_rels/workbook.xml.rels", RELS, 0 },
		{ "xl/sharedStrings.xml", sst ? sst : SST, 0 },
		{ "xl/styles.xml", STYLES, 0 },
		{ "xl/worksheets/sheet1.xml", sheet1 ? sheet1 : SHEET1, sheet1_len },
		{ "xl/worksheets/sheet2.xml", SHEET2, 0 },
	};
	write_zip(name, parts, sizeof(parts) / sizeof(parts[0]), path, cap);
}

struct out {
	char text[OUT_MAX];
	size_t len;
	size_t rows;
	size_t stop_after;  /* 0: never */
};

/* "row:cell|cell|...\n" for each row. */
static int
collect(void *arg, const struct table_row *r)
{
	struct out *o = arg;

	o->len += (size_t)snprintf(o->text + o->len, OUT_MAX - o->len, "%zu:", r->row);
	for (size_t i = 0; i < r->ncells; i++) {
		assert_int_equal(strlen(r->cells[i]), r->lens[i]);
		o->len += (size_t)snprintf(o->text + o->len, OUT_MAX - o->len, "%s%s", i ? "|" : "", r->cells[i]);
	}
	o->len += (size_t)snprintf(o->text + o->len, OUT_MAX - o->len, "\n");
	o->rows++;
	return o->stop_after && o->rows >= o->stop_after ? -1 : 0;
}

static int
read_book(const char *path, const struct xlsx_options *o, struct out *out, struct table_error *err)
{
	memset(out, 0, sizeof(*out));
	return xlsx_read_path(path, o, collect, out, err);
}

static void
test_first_sheet(void **state)
{
	char path[256];
	struct out *out = malloc(sizeof(*out));
	struct table_error err;

	write_book("book.xlsx", NULL, 0, NULL, path, sizeof(path));
	assert_int_equal(read_book(path, NULL, out, &err), 0);
	assert_int_equal(err.code, TABLE_OK);
	assert_string_equal(out->text,
	    "1:Name|Phone|inline\n"
	    "2:5511999999999|3.5||2024-01-01|TRUE\n"
	    "5:|2024-01-01 12:00:00|#N/A|Name\n"
	    "6:Ana & Bo|0.1|FALSE\n");
	free(out);
}

static void
test_named_sheet(void **state)
{
	char path[256];
	struct out *out = malloc(sizeof(*out));
	struct table_error err;
	struct xlsx_options o = { .sheet = "contacts" };

	write_book("named.xlsx", NULL, 0, NULL, path, sizeof(path));
	assert_int_equal(read_book(path, &o, out, &err), 0);
	assert_string_equal(out->text, "2:|second sheet\n");

	o.sheet = "Nope";
	assert_int_equal(read_book(path, &o, out, &err), -1);
	assert_int_equal(err.code, TABLE_NO_SHEET);
	assert_int_equal(out->rows, 0);
	free(out);
}

static void
test_stop(void **state)
{
	char path[256];
	struct out *out = malloc(sizeof(*out));
	struct table_error err;

	write_book("stop.xlsx", NULL, 0, NULL, path, sizeof(path));
	memset(out, 0, sizeof(*out));
	out->stop_after = 1;
	assert_int_equal(xlsx_read_path(path, NULL, collect, out, &err), -1);
	assert_int_equal(err.code, TABLE_OK);
	assert_int_equal(out->rows, 1);
	free(out);
}

static void
test_numbers(void **state)
{
	static const struct { const char *v; enum xlsx_kind k; int d1904; const char *want; } cases[] = {
		{ "5511999999999", XLSX_GENERAL, 0, "5511999999999" },
		{ "42", XLSX_GENERAL, 0, "42" },
		{ "-0", XLSX_GENERAL, 0, "0" },
		{ "1.0", XLSX_GENERAL, 0, "1" },
		{ "0.30000000000000004", XLSX_GENERAL, 0, "0.3" },
		{ "123456789012345", XLSX_GENERAL, 0, "123456789012345" },
		{ "1E+15", XLSX_GENERAL, 0, "1E+15" },
		{ "1234567890123456789", XLSX_GENERAL, 0, "1.23456789012346E+18" },
		{ "1.5E-7", XLSX_GENERAL, 0, "1.5E-07" },
		{ "abc", XLSX_GENERAL, 0, "abc" },
		{ "nan", XLSX_DATE, 0, "nan" },
		{ "1", XLSX_DATE, 0, "1900-01-01" },
		{ "59", XLSX_DATE, 0, "1900-02-28" },
		{ "60", XLSX_DATE, 0, "1900-02-29" },
		{ "61", XLSX_DATE, 0, "1900-03-01" },
		{ "45292", XLSX_DATE, 0, "2024-01-01" },
		{ "45292.75", XLSX_DATE, 0, "2024-01-01" },
		{ "45292.99999999", XLSX_DATETIME, 0, "2024-01-02 00:00:00" },
		{ "0", XLSX_DATE, 1, "1904-01-01" },
		{ "0.75", XLSX_TIME, 0, "18:00:00" },
		{ "-1", XLSX_DATE, 0, "-1" },
		{ "2958466", XLSX_DATE, 0, "2958466" },
	};
	char buf[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = xlsx_format_number(cases[i].v, cases[i].k, cases[i].d1904, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].want);
		assert_int_equal(n, strlen(cases[i].want));
	}
	assert_int_equal(xlsx_format_kind("dd/mm/yyyy"), XLSX_DATE);
	assert_int_equal(xlsx_format_kind("mmm"), XLSX_DATE);
	assert_int_equal(xlsx_format_kind("yyyy-mm-dd hh:mm:ss"), XLSX_DATETIME);
	assert_int_equal(xlsx_format_kind("hh:mm"), XLSX_TIME);
	assert_int_equal(xlsx_format_kind("[h]:mm"), XLSX_TIME);
	assert_int_equal(xlsx_format_kind("[Red]0.00"), XLSX_GENERAL);
	assert_int_equal(xlsx_format_kind("\"day\" 0"), XLSX_GENERAL);
	assert_int_equal(xlsx_format_kind("General"), XLSX_GENERAL);
	assert_int_equal(xlsx_format_kind("#,##0;[Red]-#,##0 \"d\""), XLSX_GENERAL);
	assert_int_equal(xlsx_builtin_kind(14), XLSX_DATE);
	assert_int_equal(xlsx_builtin_kind(22), XLSX_DATETIME);
	assert_int_equal(xlsx_builtin_kind(0), XLSX_GENERAL);
	assert_int_equal(xlsx_builtin_kind(49), XLSX_GENERAL);
}

static void
test_zip_bomb(void **state)
{
	static const char head[] = "<worksheet " NS "><sheetData>";
	static const char tail[] = "</sheetData></worksheet>";
	char path[256];
	struct out *out = malloc(sizeof(*out));
	struct table_error err;
	size_t len = sizeof(head) - 1 + BOMB_SIZE + sizeof(tail) - 1;
	char *big = malloc(len);

	memcpy(big, head, sizeof(head) - 1);
	memset(big + sizeof(head) - 1, ' ', BOMB_SIZE);
	memcpy(big + len - (sizeof(tail) - 1), tail, sizeof(tail) - 1);
	write_book("bomb.xlsx", big, len, NULL, path, sizeof(path));
	free(big);
	assert_int_equal(read_book(path, NULL, out, &err), -1);
	assert_int_equal(err.code, TABLE_ZIP_BOMB);

	/* Under a smaller entry cap the same file is simply too big. */
	struct xlsx_options o = { .entry_max = 1 << 20 };
	assert_int_equal(read_book(path, &o, out, &err), -1);
	assert_int_equal(err.code, TABLE_TOO_BIG);
	free(out);
}

/* Patches the uncompressed size of name in the local header and central directory. */
static void
lie_about_size(unsigned char *z, size_t n, const char *name, uint32_t size)
{
	size_t nl = strlen(name);
	int patched = 0;

	for (size_t i = 0; i + 46 + nl <= n; i++) {
		if (memcmp(z + i, "PK\3\4", 4) == 0 && z[i + 26] == nl && memcmp(z + i + 30, name, nl) == 0) {
			memcpy(z + i + 22, &size, 4);   /* little-endian host */
			patched++;
		}
		if (memcmp(z + i, "PK\1\2", 4) == 0 && z[i + 28] == nl && memcmp(z + i + 46, name, nl) == 0) {
			memcpy(z + i + 24, &size, 4);
			patched++;
		}
	}
	assert_int_equal(patched, 2);
}

static unsigned char *
slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	*n = (size_t)ftell(f);
	rewind(f);
	unsigned char *b = malloc(*n);
	assert_int_equal(fread(b, 1, *n, f), *n);
	fclose(f);
	return b;
}

static void
spill(const char *path, const void *b, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, n, f), n);
	fclose(f);
}

static void
test_lying_header(void **state)
{
	char path[256];
	size_t n;
	struct out *out = malloc(sizeof(*out));
	struct table_error err;

	write_book("liar.xlsx", NULL, 0, NULL, path, sizeof(path));
	unsigned char *z = slurp(path, &n);
	lie_about_size(z, n, "xl/worksheets/sheet1.xml", 100);
	assert_int_equal(xlsx_read_mem(z, n, NULL, collect, out, &err), -1);
	assert_int_equal(err.code, TABLE_ZIP_BOMB);
	free(z);
	free(out);
}

static void
test_entities(void **state)
{
	static const char laughs[] =
		"<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\">"
		"<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
		"<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>"
		"<worksheet " NS "><sheetData><row r=\"1\"><c t=\"inlineStr\"><is><t>&lol3;</t></is></c></row>"
		"</sheetData></worksheet>";
	static const char xxe[] =
		"<?xml version=\"1.0\"?>\n<!DOCTYPE sst [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
		"<sst " NS "><si><t>&x;</t></si></sst>";
	static const char undeclared[] =
		"<worksheet " NS "><sheetData><row r=\"1\"><c t=\"inlineStr\"><is><t>&x;</t></is></c></row>"
		"</sheetData></worksheet>";
	char path[256];
	struct out *out = malloc(sizeof(*out));
	struct table_error err;

	write_book("laughs.xlsx", laughs, 0, NULL, path, sizeof(path));
	assert_int_equal(read_book(path, NULL, out, &err), -1);
	assert_int_equal(err.code, TABLE_XML_ENTITY);
	assert_int_equal(out->rows, 0);

	write_book("xxe.xlsx", NULL, 0, xxe, path, sizeof(path));
	assert_int_equal(read_book(path, NULL, out, &err), -1);
	assert_int_equal(err.code, TABLE_XML_ENTITY);

	write_book("undeclared.xlsx", undeclared, 0, NULL, path, sizeof(path));
	assert_int_equal(read_book(path, NULL, out, &err), -1);
	assert_int_equal(err.code, TABLE_XML_ENTITY);
	free(out);
}

static void
test_truncated_and_not_zip(void **state)
{
	char path[256], cut[256];
	size_t n;
	struct out *out = malloc(sizeof(*out));
	struct table_error err;

	write_book("whole.xlsx", NULL, 0, NULL, path, sizeof(path));
	unsigned char *z = slurp(path, &n);
	snprintf(cut, sizeof(cut), "%s/cut.xlsx", dir);
	spill(cut, z, n / 2);
	assert_int_equal(read_book(cut, NULL, out, &err), -1);
	assert_int_equal(err.code, TABLE_MALFORMED);
	/* The same in memory. */
	assert_int_equal(xlsx_read_mem(z, n - 10, NULL, collect, out, &err), -1);
	assert_int_equal(err.code, TABLE_MALFORMED);
	free(z);

	spill(cut, "name,phone\nAna,5511999999999\n", 29);
	assert_int_equal(read_book(cut, NULL, out, &err), -1);
	assert_int_equal(err.code, TABLE_MALFORMED);
	spill(cut, "", 0);
	assert_int_equal(read_book(cut, NULL, out, &err), -1);
	assert_int_equal(err.code, TABLE_MALFORMED);

	snprintf(cut, sizeof(cut), "%s/missing.xlsx", dir);
	assert_int_equal(read_book(cut, NULL, out, &err), -1);
	assert_int_equal(err.code, TABLE_IO);
	free(out);
}

static void
test_bad_sheets(void **state)
{
	char path[256];
	struct out *out = malloc(sizeof(*out));
	struct table_error err;
	struct part only_ct[] = { { "[Content_Types].xml", CONTENT_TYPES, 0 } };

	write_zip("nosheet.xlsx", only_ct, 1, path, sizeof(path));
	assert_int_equal(read_book(path, NULL, out, &err), -1);
	assert_int_equal(err.code, TABLE_NO_SHEET);

	write_book("order.xlsx", "<worksheet " NS "><sheetData><row r=\"3\"/><row r=\"2\"/></sheetData></worksheet>",
	    0, NULL, path, sizeof(path));
	assert_int_equal(read_book(path, NULL, out, &err), -1);
	assert_int_equal(err.code, TABLE_MALFORMED);
	assert_int_equal(err.row, 2);

	write_book("sst.xlsx", "<worksheet " NS "><sheetData><row r=\"1\"><c r=\"A1\" t=\"s\"><v>7</v></c></row>"
	    "</sheetData></worksheet>", 0, NULL, path, sizeof(path));
	assert_int_equal(read_book(path, NULL, out, &err), -1);
	assert_int_equal(err.code, TABLE_MALFORMED);
	assert_int_equal(err.row, 1);
	assert_int_equal(err.column, 1);

	write_book("cols.xlsx", "<worksheet " NS "><sheetData><row r=\"4\"><c r=\"IW4\"><v>1</v></c></row>"
	    "</sheetData></worksheet>", 0, NULL, path, sizeof(path));
	assert_int_equal(read_book(path, NULL, out, &err), -1);
	assert_int_equal(err.code, TABLE_TOO_MANY_COLS);
	assert_int_equal(err.row, 4);
	assert_int_equal(err.column, 257);

	write_book("notxml.xlsx", "<worksheet " NS "><sheetData><row>", 0, NULL, path, sizeof(path));
	assert_int_equal(read_book(path, NULL, out, &err), -1);
	assert_int_equal(err.code, TABLE_MALFORMED);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_first_sheet),
		cmocka_unit_test(test_named_sheet),
		cmocka_unit_test(test_stop),
		cmocka_unit_test(test_zip_bomb),
		cmocka_unit_test(test_lying_header),
		cmocka_unit_test(test_entities),
		cmocka_unit_test(test_truncated_and_not_zip),
		cmocka_unit_test(test_bad_sheets),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
