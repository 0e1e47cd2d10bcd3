/*
 * apply_import.c - imports (issue 14) on the writer: an import's row and
 * each step of its worker (src/import/import.c). A chunk of staged rows is
 * one statement (a JSON array the database unpacks), so a 5,000-row chunk
 * costs one round trip on PostgreSQL; the rows and errors of a failed
 * import are deleted in the op that fails it, so nothing stays staged.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../util/util.h"
#include "store_int.h"

/* file_id's reference count moved by delta (files, 0016): a file an import
 * names is kept from the retention sweep while the import lives. 0, 1 when
 * no such file (row), or -1 (an SQL error). */
static int
file_ref(struct store_db *db, int64_t org, const char *file_id, int64_t delta)
{
	struct db_stmt *s = db_stmt(db->w, W_FILE_REF);

	db_bind_text(s, 1, file_id);
	db_bind_i64(s, 2, org);
	db_bind_i64(s, 3, delta);
	db_bind_i64(s, 4, now_ms());
	if (db_run(s) != 0)
		return -1;
	return db_changes(db->w) == 1 ? 0 : 1;
}

static int
drop_staged(struct store_db *db, int64_t id)
{
	struct db_stmt *s = db_stmt(db->w, W_IMPORT_ROWS_DELETE);

	db_bind_i64(s, 1, id);
	if (db_run(s) != 0)
		return -1;
	s = db_stmt(db->w, W_IMPORT_ERRORS_DELETE);
	db_bind_i64(s, 1, id);
	return db_run(s);
}

/* Run an UPDATE of a parsing import: NOTFOUND when it changed nothing. */
static int
run_parsing(struct store_db *db, struct store_op *op, struct db_stmt *s)
{
	if (db_run(s) != 0)
		return sd_op_sql_error(db, op);
	if (db_changes(db->w) == 0)
		return sd_op_fail(op, STORE_NOTFOUND, "no such import being parsed");
	return 0;
}

static int
import_rows(struct store_db *db, struct store_op *op, struct store_import *im)
{
	struct db_stmt *s = db_stmt(db->w, W_IMPORT_COUNTS);

	db_bind_i64(s, 1, im->id);
	db_bind_i64(s, 2, im->rows);
	db_bind_i64(s, 3, im->valid);
	db_bind_i64(s, 4, im->invalid);
	db_bind_i64(s, 5, im->duplicates);
	db_bind_i64(s, 6, im->errors);
	db_bind_text(s, 7, im->columns_json);
	db_bind_text(s, 8, im->preview_json);
	if (run_parsing(db, op, s) != 0)
		return -1;
	if (im->rows_json != NULL) {
		s = db_stmt(db->w, W_IMPORT_ROWS_PUT);
		db_bind_i64(s, 1, im->id);
		db_bind_text(s, 2, im->rows_json);
		if (db_defer(s) != 0)
			return sd_op_sql_error(db, op);
	}
	if (im->errors_json != NULL) {
		s = db_stmt(db->w, W_IMPORT_ERRORS_PUT);
		db_bind_i64(s, 1, im->id);
		db_bind_text(s, 2, im->errors_json);
		if (db_defer(s) != 0)
			return sd_op_sql_error(db, op);
	}
	return 0;
}

static int
import_finish(struct store_db *db, struct store_op *op, struct store_import *im)
{
	struct db_stmt *s;

	if (im->failed) {
		/* Nothing staged stays: the counts go back to 0 with the rows. */
		s = db_stmt(db->w, W_IMPORT_RESET);
		db_bind_i64(s, 1, im->id);
		db_bind_text(s, 2, NULL);
		if (run_parsing(db, op, s) != 0)
			return -1;
		if (drop_staged(db, im->id) != 0)
			return sd_op_sql_error(db, op);
	}
	s = db_stmt(db->w, W_IMPORT_FINISH);
	db_bind_i64(s, 1, im->id);
	db_bind_text(s, 2, im->failed ? "failed" : "validated");
	db_bind_text(s, 3, im->failed ? im->error_code : NULL);
	db_bind_text(s, 4, im->failed ? im->error_message : NULL);
	db_bind_id(s, 5, im->failed ? im->error_row : 0);
	db_bind_i64(s, 6, now_ms());
	db_bind_text(s, 7, im->columns_json);
	db_bind_text(s, 8, im->preview_json);
	return run_parsing(db, op, s);
}

static int
import_delete(struct store_db *db, struct store_op *op, struct store_import *im)
{
	struct db_stmt *s = db_stmt(db->w, W_IMPORT_FILE);
	char *file_id = NULL;
	int n;

	db_bind_i64(s, 1, im->id);
	db_bind_i64(s, 2, org_of(op->org_id));
	if ((n = db_row(s)) == 1) {
		file_id = xstrdup(db_text(s, 0));
		db_finish(s);
	}
	if (n < 0)
		return sd_op_sql_error(db, op);
	if (file_id == NULL)
		return sd_op_fail(op, STORE_NOTFOUND, "no such import");
	/* A campaign not yet done still reads its rows: it stays. */
	s = db_stmt(db->w, W_IMPORT_IN_USE);
	db_bind_i64(s, 1, im->id);
	db_bind_i64(s, 2, org_of(op->org_id));
	if ((n = db_row(s)) == 1) {
		int64_t campaign = db_i64(s, 0);
		db_finish(s);
		free(file_id);
		return sd_op_fail(op, STORE_CONFLICT, "campaign %" PRId64 " still reads this import: "
		    "cancel it or wait until it completes", campaign);
	}
	if (n < 0) {
		free(file_id);
		return sd_op_sql_error(db, op);
	}
	int rc = 0;
	if (drop_staged(db, im->id) != 0 || file_ref(db, org_of(op->org_id), file_id, -1) < 0)
		rc = sd_op_sql_error(db, op);
	free(file_id);
	if (rc != 0)
		return rc;
	s = db_stmt(db->w, W_IMPORT_DELETE);
	db_bind_i64(s, 1, im->id);
	db_bind_i64(s, 2, org_of(op->org_id));
	return db_run(s) == 0 ? 0 : sd_op_sql_error(db, op);
}

int
apply_import(struct store_db *db, struct store_op *op)
{
	struct store_import *im = op->u.import;
	struct db_stmt *s;
	int r;

	if (im == NULL)
		return sd_op_error(op, "import op without its step");
	switch (im->step) {
	case IMPORT_STEP_CREATE:
		if (im->file_id == NULL || im->format == NULL || im->request_json == NULL)
			return sd_op_error(op, "import lacks its file, format or request");
		s = db_stmt(db->w, W_IMPORT_INSERT);
		db_bind_i64(s, 1, org_of(op->org_id));
		db_bind_text(s, 2, im->file_id);
		db_bind_i64(s, 3, im->channel_id);
		db_bind_text(s, 4, im->format);
		db_bind_text(s, 5, im->request_json);
		db_bind_text(s, 6, im->owner);
		db_bind_i64(s, 7, now_ms());
		if (db_insert_id(s, &im->id) != 0 || (r = file_ref(db, org_of(op->org_id), im->file_id, 1)) < 0)
			return sd_op_sql_error(db, op);
		if (r > 0)      /* swept since the import was checked */
			return sd_op_fail(op, STORE_NOTFOUND, "no file '%.40s' in this organization", im->file_id);
		return 0;
	case IMPORT_STEP_RESET:
		s = db_stmt(db->w, W_IMPORT_RESET);
		db_bind_i64(s, 1, im->id);
		db_bind_text(s, 2, im->owner);
		if (run_parsing(db, op, s) != 0)
			return -1;
		return drop_staged(db, im->id) == 0 ? 0 : sd_op_sql_error(db, op);
	case IMPORT_STEP_ROWS:
		return import_rows(db, op, im);
	case IMPORT_STEP_FINISH:
		return import_finish(db, op, im);
	case IMPORT_STEP_DELETE:
		return import_delete(db, op, im);
	}
	return sd_op_error(op, "unknown import step %d", (int)im->step);
}
