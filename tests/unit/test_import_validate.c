/*
 * test_import_validate.c - an import's request and row validation
 * (src/import/validate.c): the mapping resolved against a header (or
 * column numbers), phones normalized by a channel's rules, required
 * columns, template variables, unknown columns under each policy and
 * duplicates within the file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channels/address.h"
#include "import/validate.h"

/* A row of NUL-terminated cells (at most 8). */
struct trow {
	struct table_row r;
	const char *cells[8];
	size_t lens[8];
};

static const struct table_row *
mkrow(struct trow *t, size_t row, size_t n, ...)
{
	va_list ap;

	va_start(ap, n);
	for (size_t i = 0; i < n; i++) {
		t->cells[i] = va_arg(ap, const char *);
		t->lens[i] = strlen(t->cells[i]);
	}
	va_end(ap);
	t->r = (struct table_row){ .row = row, .ncells = n, .cells = t->cells, .lens = t->lens };
	return &t->r;
}

static struct import_spec *
spec_of(const char *json)
{
	struct import_spec *s = calloc(1, sizeof(*s));
	char field[64], err[256];
	json_t *j = json_loads(json, 0, NULL);

	assert_non_null(j);
	assert_int_equal(import_spec_parse(j, s, field, sizeof(field), err, sizeof(err)), 0);
	json_decref(j);
	return s;
}

static void
spec_refused(const char *json, const char *want_field)
{
	struct import_spec s;
	char field[64] = "", err[256] = "";
	json_t *j = json_loads(json, 0, NULL);

	assert_non_null(j);
	assert_int_equal(import_spec_parse(j, &s, field, sizeof(field), err, sizeof(err)), -1);
	assert_string_equal(field, want_field);
	assert_true(err[0] != '\0');
	json_decref(j);
}

static void
test_spec_parse_and_refusals(void **state)
{
	struct import_spec *s = spec_of("{\"mapping\":{\"phone\":\"Phone\",\"variables\":{\"name\":\"First Name\","
	    "\"code\":3},\"required\":[\"City\"]},\"unknown_columns\":\"keep_as_variables\",\"header\":true,"
	    "\"delimiter\":\";\"}");
	assert_string_equal(s->phone.name, "Phone");
	assert_int_equal(s->nvars, 2);
	assert_string_equal(s->var_names[1], "code");
	assert_int_equal(s->var_cols[1].index, 3);
	assert_int_equal(s->nrequired, 1);
	assert_int_equal(s->unknown, IMPORT_UNKNOWN_KEEP);
	assert_int_equal(s->delimiter, ';');
	/* What is stored parses back to the same spec. */
	json_t *j = import_spec_json(s);
	struct import_spec again;
	char field[64], err[256];
	assert_int_equal(import_spec_parse(j, &again, field, sizeof(field), err, sizeof(err)), 0);
	assert_memory_equal(s, &again, sizeof(again));
	json_decref(j);
	free(s);

	spec_refused("{}", "mapping");
	spec_refused("{\"mapping\":{}}", "mapping.phone");
	spec_refused("{\"mapping\":{\"phone\":0}}", "mapping.phone");
	spec_refused("{\"mapping\":{\"phone\":\"\"}}", "mapping.phone");
	spec_refused("{\"mapping\":{\"phone\":1,\"extra\":1}}", "mapping.extra");
	spec_refused("{\"mapping\":{\"phone\":1,\"variables\":[1]}}", "mapping.variables");
	spec_refused("{\"mapping\":{\"phone\":1,\"variables\":{\"a\":true}}}", "mapping.variables");
	spec_refused("{\"mapping\":{\"phone\":1,\"required\":[{}]}}", "mapping.required");
	spec_refused("{\"mapping\":{\"phone\":1},\"unknown_columns\":\"drop\"}", "unknown_columns");
	spec_refused("{\"mapping\":{\"phone\":1},\"header\":1}", "header");
	spec_refused("{\"mapping\":{\"phone\":1},\"delimiter\":\"ab\"}", "delimiter");
}

struct fixture {
	struct import_spec *spec;
	struct import_map map;
	struct import_dedup dedup;
	struct import_row_result res;
};

static void
fx_open(struct fixture *f, const char *spec, const struct table_row *first, int want_rc)
{
	const char *code = NULL;
	char err[256] = "";

	memset(f, 0, sizeof(*f));
	f->spec = spec_of(spec);
	import_dedup_init(&f->dedup);
	buf_init(&f->res.data, IMPORT_DATA_MAX);
	assert_int_equal(import_map_resolve(f->spec, phone_normalize, first, &f->map, &code, err, sizeof(err)),
	    want_rc);
}

static void
fx_close(struct fixture *f)
{
	import_map_free(&f->map);
	import_dedup_free(&f->dedup);
	buf_free(&f->res.data);
	free(f->spec);
}

static void
test_header_mapping_rows(void **state)
{
	struct fixture f;
	struct trow h, r;

	fx_open(&f, "{\"mapping\":{\"phone\":\"Phone\",\"variables\":{\"name\":\"First Name\"},\"required\":[\"City\"]}}",
	    mkrow(&h, 1, 3, "First Name", "Phone", "City"), 0);
	import_validate_row(&f.map, &f.dedup, mkrow(&r, 2, 3, "Ana", "+55 11 99999-0001", "Rio"), &f.res);
	assert_int_equal(f.res.status, IMPORT_ROW_VALID);
	assert_string_equal(f.res.phone, "5511999990001");
	assert_string_equal(f.res.data.data, "{\"name\":\"Ana\"}");
	assert_int_equal(f.res.nerrors, 0);

	/* Invalid phone and empty required column: both errors, named. */
	import_validate_row(&f.map, &f.dedup, mkrow(&r, 3, 3, "Bo", "not a phone", ""), &f.res);
	assert_int_equal(f.res.status, IMPORT_ROW_INVALID);
	assert_int_equal(f.res.nerrors, 2);
	assert_string_equal(f.res.errors[0].code, "invalid_phone");
	assert_string_equal(f.res.errors[0].column, "Phone");
	assert_string_equal(f.res.errors[0].value, "not a phone");
	assert_string_equal(f.res.errors[1].code, "required_missing");
	assert_string_equal(f.res.errors[1].column, "City");

	/* A short row: missing cells are empty. */
	import_validate_row(&f.map, &f.dedup, mkrow(&r, 4, 1, "Cy"), &f.res);
	assert_int_equal(f.res.status, IMPORT_ROW_INVALID);
	assert_string_equal(f.res.errors[0].code, "phone_missing");

	/* Another spelling of row 2's number: a duplicate naming row 2. */
	import_validate_row(&f.map, &f.dedup, mkrow(&r, 5, 3, "Di", "5511999990001", "SP"), &f.res);
	assert_int_equal(f.res.status, IMPORT_ROW_DUPLICATE);
	assert_int_equal(f.res.nerrors, 1);
	assert_string_equal(f.res.errors[0].code, "duplicate");
	assert_non_null(strstr(f.res.errors[0].message, "row 2"));
	fx_close(&f);
}

static void
test_mapping_refused_at_header(void **state)
{
	struct fixture f;
	struct trow h;
	const char *code = NULL;
	char err[256];

	fx_open(&f, "{\"mapping\":{\"phone\":\"Mobile\"}}", mkrow(&h, 1, 2, "Name", "Phone"), -1);
	fx_close(&f);
	/* Without a header, names are refused but numbers work. */
	fx_open(&f, "{\"mapping\":{\"phone\":\"Phone\"},\"header\":false}", mkrow(&h, 1, 2, "Ana", "5511999990001"), -1);
	fx_close(&f);
	fx_open(&f, "{\"mapping\":{\"phone\":2},\"header\":false}", mkrow(&h, 1, 2, "Ana", "5511999990001"), 0);
	fx_close(&f);
	/* A template variable nothing fills. */
	struct import_spec *s = spec_of("{\"mapping\":{\"phone\":\"Phone\",\"variables\":{\"name\":\"Name\"}},"
	    "\"needed\":[\"name\",\"code\"]}");
	struct import_map m;
	assert_int_equal(import_map_resolve(s, phone_normalize, mkrow(&h, 1, 2, "Name", "Phone"), &m, &code, err,
	    sizeof(err)), -1);
	assert_string_equal(code, "variable_not_mapped");
	assert_non_null(strstr(err, "code"));
	import_map_free(&m);
	/* ... unless an unknown column of that name is kept as a variable. */
	free(s);
	s = spec_of("{\"mapping\":{\"phone\":\"Phone\",\"variables\":{\"name\":\"Name\"}},"
	    "\"needed\":[\"name\",\"code\"],\"unknown_columns\":\"keep_as_variables\"}");
	assert_int_equal(import_map_resolve(s, phone_normalize, mkrow(&h, 1, 3, "Name", "Phone", "code"), &m,
	    &code, err, sizeof(err)), 0);
	import_map_free(&m);
	free(s);
}

static void
test_unknown_columns_policies(void **state)
{
	struct fixture f;
	struct trow h, r;
	const char *hdr[] = { "Phone", "Name", "Extra", "Note" };

	/* ignore: extra columns change nothing. */
	fx_open(&f, "{\"mapping\":{\"phone\":\"Phone\",\"variables\":{\"name\":\"Name\"}}}",
	    mkrow(&h, 1, 4, hdr[0], hdr[1], hdr[2], hdr[3]), 0);
	import_validate_row(&f.map, &f.dedup, mkrow(&r, 2, 4, "5511999990001", "Ana", "x", "y\"z"), &f.res);
	assert_int_equal(f.res.status, IMPORT_ROW_VALID);
	assert_string_equal(f.res.data.data, "{\"name\":\"Ana\"}");
	fx_close(&f);
	/* error: each non-empty value in an unmapped column is a row error. */
	fx_open(&f, "{\"mapping\":{\"phone\":\"Phone\",\"variables\":{\"name\":\"Name\"}},\"unknown_columns\":\"error\"}",
	    mkrow(&h, 1, 4, hdr[0], hdr[1], hdr[2], hdr[3]), 0);
	import_validate_row(&f.map, &f.dedup, mkrow(&r, 2, 4, "5511999990001", "Ana", "x", ""), &f.res);
	assert_int_equal(f.res.status, IMPORT_ROW_INVALID);
	assert_int_equal(f.res.nerrors, 1);
	assert_string_equal(f.res.errors[0].code, "unknown_column");
	assert_string_equal(f.res.errors[0].column, "Extra");
	import_validate_row(&f.map, &f.dedup, mkrow(&r, 3, 4, "5511999990002", "Bo", "", ""), &f.res);
	assert_int_equal(f.res.status, IMPORT_ROW_VALID);
	fx_close(&f);
	/* keep_as_variables: under their header names, escaped as JSON. */
	fx_open(&f, "{\"mapping\":{\"phone\":\"Phone\",\"variables\":{\"name\":\"Name\"}},"
	    "\"unknown_columns\":\"keep_as_variables\"}", mkrow(&h, 1, 4, hdr[0], hdr[1], hdr[2], hdr[3]), 0);
	import_validate_row(&f.map, &f.dedup, mkrow(&r, 2, 4, "5511999990001", "Ana", "x\ny", "q\"\\"), &f.res);
	assert_int_equal(f.res.status, IMPORT_ROW_VALID);
	assert_string_equal(f.res.data.data, "{\"name\":\"Ana\",\"Extra\":\"x\\ny\",\"Note\":\"q\\\"\\\\\"}");
	json_t *j = json_loads(f.res.data.data, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "Note")), "q\"\\");
	json_decref(j);
	fx_close(&f);
}

static void
test_template_variables_filled(void **state)
{
	struct fixture f;
	struct trow h, r;

	fx_open(&f, "{\"mapping\":{\"phone\":1,\"variables\":{\"name\":2}},\"header\":false,\"needed\":[\"name\"]}",
	    mkrow(&h, 1, 2, "5511999990001", "Ana"), 0);
	import_validate_row(&f.map, &f.dedup, mkrow(&r, 1, 2, "5511999990001", "Ana"), &f.res);
	assert_int_equal(f.res.status, IMPORT_ROW_VALID);
	import_validate_row(&f.map, &f.dedup, mkrow(&r, 2, 1, "5511999990002"), &f.res);
	assert_int_equal(f.res.status, IMPORT_ROW_INVALID);
	assert_string_equal(f.res.errors[0].code, "variable_missing");
	assert_string_equal(f.res.errors[0].column, "2");
	/* An invalid row takes no phone: a later valid one is not its duplicate. */
	import_validate_row(&f.map, &f.dedup, mkrow(&r, 3, 2, "5511999990002", "Cy"), &f.res);
	assert_int_equal(f.res.status, IMPORT_ROW_VALID);
	fx_close(&f);
}

static void
test_dedup_many(void **state)
{
	struct import_dedup d;
	char p[32];

	import_dedup_init(&d);
	for (size_t i = 1; i <= 200000; i++) {
		snprintf(p, sizeof(p), "55119%08zu", i);
		assert_int_equal(import_dedup_add(&d, p, i), 0);
	}
	/* Leading zeros and length count: "0123" is not "123". */
	assert_int_equal(import_dedup_add(&d, "0123", 1), 0);
	assert_int_equal(import_dedup_add(&d, "123", 2), 0);
	assert_int_equal(import_dedup_add(&d, "123", 3), 2);
	/* Non-digit addresses (hashed). */
	assert_int_equal(import_dedup_add(&d, "user@s.whatsapp.net", 4), 0);
	assert_int_equal(import_dedup_add(&d, "user@s.whatsapp.net", 5), 4);
	snprintf(p, sizeof(p), "55119%08d", 77777);
	assert_int_equal(import_dedup_add(&d, p, 9), 77777);
	import_dedup_free(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_parse_and_refusals),
		cmocka_unit_test(test_header_mapping_rows),
		cmocka_unit_test(test_mapping_refused_at_header),
		cmocka_unit_test(test_unknown_columns_policies),
		cmocka_unit_test(test_template_variables_filled),
		cmocka_unit_test(test_dedup_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
