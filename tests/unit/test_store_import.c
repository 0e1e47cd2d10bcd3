/*
 * test_store_import.c - the imports' store ops and reads (apply_import.c,
 * read_import.c): a chunk of staged rows and errors, the counts, finishing
 * validated or failed (nothing staged then), deleting, organizations, and
 * store_import_rows_page() as campaigns read it. SQLite in a temporary
 * directory, or, with MSGD_TEST_DATABASE, a fresh PostgreSQL database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "files/files.h"
#include "store/store.h"
#include "util/util.h"

struct fx {
	char root[64], data[96], dbname[32];
	char *dsn;
	struct store *st;
};

static void
pg_admin(const char *cluster, const char *sql)
{
	PGconn *c = PQconnectdb(cluster);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
}

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	const char *cluster = getenv("MSGD_TEST_DATABASE");

	snprintf(f->root, sizeof(f->root), "/tmp/msgd-test-imp-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->data, sizeof(f->data), "%s/data", f->root);
	if (cluster && *cluster) {
		snprintf(f->dbname, sizeof(f->dbname), "imp_%s", strrchr(f->root, '-') + 1);
		for (char *p = f->dbname; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		char *sql = xasprintf("CREATE DATABASE %s", f->dbname);
		pg_admin(cluster, sql);
		free(sql);
		const char *slash = strrchr(cluster, '/');
		f->dsn = xasprintf("%.*s/%s", (int)(slash - cluster), cluster, f->dbname);
	}
	struct store_config cfg = { .data_dir = f->data, .database = f->dsn };
	assert_int_equal(store_open(&f->st, &cfg, NULL), 0);
	/* The file the imports name (an import refuses a file without its row). */
	char tmp[128], content[128];
	snprintf(tmp, sizeof(tmp), "%s/upload", f->root);
	snprintf(content, sizeof(content), "%s/content", f->root);
	FILE *fp = fopen(tmp, "w");
	assert_non_null(fp);
	fputs("phone\n", fp);
	fclose(fp);
	struct file_info fi = { .id = "f_test", .sha256 = "00", .size = 6, .mime_type = "text/csv",
		.created_at = now_ms() };
	struct store_op put = { .kind = STORE_OP_FILE_PUT,
		.u.file = { .info = &fi, .tmp_path = tmp, .content_path = content } };
	assert_int_equal(store_submit_wait(f->st, &put), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char *cmd = xasprintf("rm -rf '%s'", f->root);

	store_close(f->st);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	if (f->dsn) {
		char *sql = xasprintf("DROP DATABASE %s", f->dbname);
		pg_admin(getenv("MSGD_TEST_DATABASE"), sql);
		free(sql);
		free(f->dsn);
	}
	free(f);
	return 0;
}

static int
step(struct fx *f, int64_t org, struct store_import *si, enum store_err *err)
{
	struct store_op op = { .kind = STORE_OP_IMPORT, .org_id = org, .u.import = si };
	int rc = store_submit_wait(f->st, &op);

	if (err)
		*err = op.err;
	return rc;
}

static int64_t
create(struct fx *f, int64_t org)
{
	struct store_import si = { .step = IMPORT_STEP_CREATE, .file_id = "f_test", .channel_id = 1,
		.format = "csv", .request_json = "{\"mapping\":{\"phone\":\"phone\"},\"needed\":[\"x\"]}",
		.owner = "me" };

	assert_int_equal(step(f, org, &si, NULL), 0);
	assert_true(si.id > 0);
	return si.id;
}

static const char ROWS[] = "[{\"r\":2,\"p\":\"5511999990001\",\"d\":{\"name\":\"Ana\"},\"s\":\"valid\"},"
	"{\"r\":3,\"p\":null,\"d\":{\"name\":\"Bo \\\"B\\\"\"},\"s\":\"invalid\"},"
	"{\"r\":5,\"p\":\"5511999990002\",\"d\":{},\"s\":\"valid\"},"
	"{\"r\":6,\"p\":\"5511999990002\",\"d\":{},\"s\":\"duplicate\"}]";
static const char ERRORS[] = "[{\"n\":1,\"r\":3,\"c\":\"phone\",\"v\":\"\",\"k\":\"phone_missing\",\"m\":\"empty\"},"
	"{\"n\":2,\"r\":6,\"c\":\"phone\",\"v\":\"5511999990002\",\"k\":\"duplicate\",\"m\":\"the same phone as row 5\"}]";

static void
stage(struct fx *f, int64_t id, int want)
{
	struct store_import si = { .step = IMPORT_STEP_ROWS, .id = id, .rows_json = ROWS, .errors_json = ERRORS,
		.rows = 4, .valid = 2, .invalid = 1, .duplicates = 1, .errors = 2, .columns_json = "[\"phone\",\"name\"]",
		.preview_json = "[{\"row\":2,\"cells\":[\"5511999990001\",\"Ana\"]},{\"row\":3,\"cells\":[\"\",\"Bo\"]}]" };

	assert_int_equal(step(f, 0, &si, NULL), want);
}

static void
test_stage_validate_page(void **state)
{
	struct fx *f = *state;
	int64_t id = create(f, 0);
	json_t *v = NULL;

	stage(f, id, 0);
	/* Not validated yet: campaigns read nothing. */
	assert_int_equal(store_import_rows_page(f->st, 0, id, 0, 10, &v), 0);
	assert_null(v);
	struct store_import fin = { .step = IMPORT_STEP_FINISH, .id = id };
	assert_int_equal(step(f, 0, &fin, NULL), 0);

	assert_int_equal(store_import_rows_page(f->st, 0, id, 0, 1, &v), 0);
	assert_int_equal(json_array_size(v), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(v, 0), "row")), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(v, 0), "phone")), "5511999990001");
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(v, 0), "data"), "name")),
	    "Ana");
	json_decref(v);
	assert_int_equal(store_import_rows_page(f->st, 0, id, 2, 10, &v), 0);
	assert_int_equal(json_array_size(v), 1);   /* row 5; 3 invalid and 6 duplicate are not sent */
	assert_int_equal(json_integer_value(json_object_get(json_array_get(v, 0), "row")), 5);
	json_decref(v);
	assert_int_equal(store_import_rows_page(f->st, 0, id, 5, 10, &v), 0);
	assert_int_equal(json_array_size(v), 0);
	json_decref(v);
	/* Another organization's import is not there. */
	assert_int_equal(store_import_rows_page(f->st, 7, id, 0, 10, &v), 0);
	assert_null(v);
	assert_int_equal(store_import_get(f->st, 7, id, &v), 0);
	assert_null(v);

	assert_int_equal(store_import_get(f->st, 0, id, &v), 0);
	assert_non_null(v);
	assert_string_equal(json_string_value(json_object_get(v, "status")), "validated");
	assert_null(json_object_get(v, "needed"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(v, "mapping"), "phone")), "phone");
	json_t *c = json_object_get(v, "counts");
	assert_int_equal(json_integer_value(json_object_get(c, "rows")), 4);
	assert_int_equal(json_integer_value(json_object_get(c, "duplicates")), 1);
	json_t *p = json_object_get(v, "preview");
	assert_int_equal(json_array_size(p), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(p, 1), "status")), "invalid");
	assert_int_equal(json_array_size(json_object_get(json_array_get(p, 1), "errors")), 1);
	assert_int_equal(json_array_size(json_object_get(json_array_get(p, 0), "errors")), 0);
	json_decref(v);

	assert_int_equal(store_import_errors(f->st, 0, id, 0, 1, &v), 0);
	assert_int_equal(json_array_size(json_object_get(v, "data")), 1);
	assert_int_equal(json_integer_value(json_object_get(v, "next")), 1);
	json_decref(v);
	assert_int_equal(store_import_errors(f->st, 0, id, 1, 1, &v), 0);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(v, "data"), 0), "code")),
	    "duplicate");
	json_decref(v);
	/* Finished: no more chunks. */
	stage(f, id, -1);
}

static void
test_failed_keeps_nothing_staged(void **state)
{
	struct fx *f = *state;
	int64_t id = create(f, 0);
	json_t *v = NULL;
	enum store_err err;

	stage(f, id, 0);
	struct store_import fin = { .step = IMPORT_STEP_FINISH, .id = id, .failed = true, .error_code = "not_utf8",
		.error_message = "row 9 is not UTF-8", .error_row = 9 };
	assert_int_equal(step(f, 0, &fin, NULL), 0);
	assert_int_equal(store_import_get(f->st, 0, id, &v), 0);
	assert_string_equal(json_string_value(json_object_get(v, "status")), "failed");
	assert_string_equal(json_string_value(json_object_get(json_object_get(v, "error"), "code")), "not_utf8");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "error"), "row")), 9);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "counts"), "rows")), 0);
	json_decref(v);
	assert_int_equal(store_import_errors(f->st, 0, id, 0, 10, &v), 0);
	assert_int_equal(json_array_size(json_object_get(v, "data")), 0);
	json_decref(v);
	/* A second finish finds it no longer parsing. */
	assert_int_equal(step(f, 0, &fin, &err), -1);
	assert_int_equal(err, STORE_NOTFOUND);

	/* Delete: gone, with a second delete NOTFOUND, and in another org too. */
	struct store_import del = { .step = IMPORT_STEP_DELETE, .id = id };
	assert_int_equal(step(f, 3, &del, &err), -1);
	assert_int_equal(err, STORE_NOTFOUND);
	assert_int_equal(step(f, 0, &del, NULL), 0);
	assert_int_equal(step(f, 0, &del, &err), -1);
	assert_int_equal(err, STORE_NOTFOUND);
	assert_int_equal(store_import_get(f->st, 0, id, &v), 0);
	assert_null(v);
}

static void
test_reset_and_parsing_list(void **state)
{
	struct fx *f = *state;
	int64_t a = create(f, 0), b = create(f, 0);
	json_t *v = NULL;

	stage(f, a, 0);
	/* A restart: staged rows go, counts 0, owner taken. */
	struct store_import reset = { .step = IMPORT_STEP_RESET, .id = a, .owner = "other" };
	assert_int_equal(step(f, 0, &reset, NULL), 0);
	stage(f, a, 0);   /* the same rows again: no conflict */
	assert_int_equal(store_import_get(f->st, 0, a, &v), 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "counts"), "rows")), 4);
	json_decref(v);
	assert_int_equal(store_imports_parsing(f->st, "me", false, &v), 0);
	assert_int_equal(json_array_size(v), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(v, 0), "id")), b);
	json_decref(v);
	assert_int_equal(store_imports_parsing(f->st, "me", true, &v), 0);
	assert_int_equal(json_array_size(v), 2);
	json_decref(v);
	assert_int_equal(store_imports_list(f->st, 0, 0, 1, &v), 0);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(v, "data"), 0), "id")), b);
	assert_int_equal(json_integer_value(json_object_get(v, "next")), b);
	json_decref(v);
	assert_int_equal(store_imports_list(f->st, 0, b, 10, &v), 0);
	assert_int_equal(json_array_size(json_object_get(v, "data")), 1);
	assert_true(json_is_null(json_object_get(v, "next")));
	json_decref(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stage_validate_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_keeps_nothing_staged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_and_parsing_list, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
