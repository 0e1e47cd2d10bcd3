/*
 * apply_files.c - the files store's rows (issue 14; src/files/files.h):
 * FILE_PUT adopts an upload's content and commits its row, FILE_REF counts
 * references, FILE_SWEEP removes expired rows and the content no row names
 * any more (writer thread); store_file_get() and store_files_list() read.
 *
 * The content on disk changes only on the writer thread, inside these ops,
 * so an upload adopting a content (it exists: the temp file is dropped) and
 * the sweep unlinking it (no row has its sha256) are never interleaved. A
 * sweep whose transaction then fails to commit leaves rows without content:
 * they are unreferenced and expired, and the next sweep deletes them.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../files/files.h"
#include "../log/log.h"
#include "../util/util.h"
#include "store_int.h"

#define FILES_SWEEP_MAX 500      /* rows one sweep op deletes at most */

static int
sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

/* tmp becomes dst's content, unless dst exists (the same bytes: its name is
 * their hash), then tmp is removed. The folder is synced after a rename. */
static int
adopt_content(const char *tmp, const char *dst)
{
	char dir[FILES_PATH_MAX];
	struct stat sb;
	char *slash;
	bool made = false;

	if (stat(dst, &sb) == 0) {
		unlink(tmp);
		return 0;
	}
	snprintf(dir, sizeof(dir), "%s", dst);
	if ((slash = strrchr(dir, '/')) == NULL)
		return -1;
	*slash = '\0';
	if (mkdir(dir, 0755) == 0)
		made = true;
	else if (errno != EEXIST)
		goto fail;
	if (rename(tmp, dst) != 0 || sync_dir(dir) != 0)
		goto fail;
	if (made && (slash = strrchr(dir, '/')) != NULL) {   /* the new folder's entry too */
		*slash = '\0';
		if (sync_dir(dir) != 0)
			goto fail;
	}
	return 0;
fail:
	log_error("files: cannot move an upload into place", "path", dst, "error", strerror(errno));
	return -1;
}

/* FILE_COLS (sql.h's statements): id, org_id, sha256, size, mime_type,
 * filename, created_at. */
static void
file_from_row(struct db_stmt *s, struct file_info *fi)
{
	const char *t;

	snprintf(fi->id, sizeof(fi->id), "%s", db_text(s, 0) ? db_text(s, 0) : "");
	fi->org_id = db_i64(s, 1);
	snprintf(fi->sha256, sizeof(fi->sha256), "%s", db_text(s, 2) ? db_text(s, 2) : "");
	fi->size = db_i64(s, 3);
	snprintf(fi->mime_type, sizeof(fi->mime_type), "%s", db_text(s, 4) ? db_text(s, 4) : "");
	t = db_text(s, 5);
	snprintf(fi->filename, sizeof(fi->filename), "%s", t ? t : "");
	fi->created_at = db_i64(s, 6);
}

static int
file_put(struct store_db *db, struct store_op *op)
{
	struct file_info *fi = op->u.file.info;
	struct db_stmt *s;
	int64_t org = org_of(op->org_id), now = now_ms();
	int n;

	if (fi == NULL || op->u.file.tmp_path == NULL || op->u.file.content_path == NULL)
		return sd_op_error(op, "file put lacks its file");
	if (adopt_content(op->u.file.tmp_path, op->u.file.content_path) != 0)
		return sd_op_fail(op, STORE_UNAVAILABLE, "cannot move the file into place");
	s = db_stmt(db->w, W_FILE_FIND);
	db_bind_i64(s, 1, org);
	db_bind_text(s, 2, fi->sha256);
	if ((n = db_row(s)) < 0)
		return sd_op_sql_error(db, op);
	if (n == 1) {
		file_from_row(s, fi);
		db_finish(s);
		op->u.file.existed = true;
		s = db_stmt(db->w, W_FILE_TOUCH);
		db_bind_text(s, 1, fi->id);
		db_bind_i64(s, 2, now);
		return db_run(s) == 0 ? 0 : sd_op_sql_error(db, op);
	}
	fi->org_id = org;
	s = db_stmt(db->w, W_FILE_INSERT);
	db_bind_text(s, 1, fi->id);
	db_bind_i64(s, 2, org);
	db_bind_text(s, 3, fi->sha256);
	db_bind_i64(s, 4, fi->size);
	db_bind_text(s, 5, fi->mime_type);
	db_bind_text(s, 6, fi->filename[0] ? fi->filename : NULL);
	db_bind_i64(s, 7, fi->created_at);
	if (db_run(s) == 0)
		return 0;
	if (db_last_err(db->w) == DB_CONFLICT)
		return sd_op_fail(op, STORE_CONFLICT, "file id taken");
	return sd_op_sql_error(db, op);
}

static int
file_ref(struct store_db *db, struct store_op *op)
{
	struct db_stmt *s;

	if (op->u.file.id == NULL || (op->u.file.delta != 1 && op->u.file.delta != -1))
		return sd_op_error(op, "a file reference needs an id and a delta of +1 or -1");
	s = db_stmt(db->w, W_FILE_REF);
	db_bind_text(s, 1, op->u.file.id);
	db_bind_i64(s, 2, org_of(op->org_id));
	db_bind_i64(s, 3, op->u.file.delta);
	db_bind_i64(s, 4, now_ms());
	if (db_run(s) != 0)
		return sd_op_sql_error(db, op);
	if (db_changes(db->w) == 0)
		return sd_op_fail(op, STORE_NOTFOUND, "no such file");
	return 0;
}

struct expired {
	char id[FILES_ID_MAX];
	char sha256[65];
};

static int
file_sweep(struct store_db *db, struct store_op *op)
{
	int limit = op->u.file.limit > 0 && op->u.file.limit <= FILES_SWEEP_MAX ? op->u.file.limit :
	    FILES_SWEEP_MAX;
	struct expired *ex = xcalloc((size_t)limit, sizeof(*ex));
	struct db_stmt *s;
	size_t n = 0;
	int r;

	op->u.file.count = 0;
	if (op->u.file.files_dir == NULL) {
		free(ex);
		return sd_op_error(op, "file sweep lacks its folder");
	}
	s = db_stmt(db->w, W_FILE_EXPIRED);
	db_bind_i64(s, 1, op->u.file.before_ms);
	db_bind_i64(s, 2, limit);
	while ((r = db_row(s)) == 1 && n < (size_t)limit) {
		snprintf(ex[n].id, sizeof(ex[n].id), "%s", db_text(s, 0) ? db_text(s, 0) : "");
		snprintf(ex[n].sha256, sizeof(ex[n].sha256), "%s", db_text(s, 1) ? db_text(s, 1) : "");
		n++;
	}
	if (r == 1)
		db_finish(s);
	if (r < 0)
		goto sql_fail;
	for (size_t i = 0; i < n; i++) {
		char path[FILES_PATH_MAX];
		s = db_stmt(db->w, W_FILE_DELETE);
		db_bind_text(s, 1, ex[i].id);
		if (db_run(s) != 0)
			goto sql_fail;
		if (db_changes(db->w) == 0)
			continue;
		op->u.file.count++;
		s = db_stmt(db->w, W_FILE_SHA_USED);
		db_bind_text(s, 1, ex[i].sha256);
		if ((r = db_row(s)) < 0)
			goto sql_fail;
		if (r == 1) {
			db_finish(s);
			continue;      /* another row (organization) still has the content */
		}
		if (files_path_in(op->u.file.files_dir, ex[i].sha256, path, sizeof(path)) == 0 &&
		    unlink(path) != 0 && errno != ENOENT)
			log_warn("files: cannot remove an expired file's content", "path", path,
			    "error", strerror(errno));
	}
	free(ex);
	return 0;
sql_fail:
	free(ex);
	return sd_op_sql_error(db, op);
}

int
store_db_apply_file(struct store_db *db, struct store_op *op)
{
	switch (op->kind) {
	case STORE_OP_FILE_PUT:
		return file_put(db, op);
	case STORE_OP_FILE_REF:
		return file_ref(db, op);
	case STORE_OP_FILE_SWEEP:
		return file_sweep(db, op);
	default:
		return sd_op_error(op, "not a file op");
	}
}

/* --- reads --- */

int
store_file_get(struct store *st, int64_t org_id, const char *id, struct file_info *out)
{
	struct store_db *db = store_reader_db(st);
	struct db_stmt *s;
	int n;

	if (id == NULL || strlen(id) >= FILES_ID_MAX)
		return -1;
	s = db_stmt(db->r, R_FILE_GET);
	db_bind_text(s, 1, id);
	db_bind_i64(s, 2, org_of(org_id));
	if ((n = db_row(s)) != 1)
		return -1;
	memset(out, 0, sizeof(*out));
	file_from_row(s, out);
	db_finish(s);
	return 0;
}

/* A cursor is "<created_at>~<id>" of the last row shown. */
int
store_files_list(struct store *st, int64_t org, int limit, const char *cursor, json_t **out)
{
	struct store_db *db = store_reader_db(st);
	struct db_stmt *s = db_stmt(db->r, R_FILES);
	char after_id[FILES_ID_MAX] = "", next[64 + FILES_ID_MAX];
	int64_t after_at = 0;
	json_t *list = json_array();
	int n, count = 0;

	*out = NULL;
	if (cursor && *cursor) {
		const char *t = strchr(cursor, '~');
		char num[24];
		if (t == NULL || (size_t)(t - cursor) >= sizeof(num) || strlen(t + 1) >= sizeof(after_id))
			goto bad;
		snprintf(num, sizeof(num), "%.*s", (int)(t - cursor), cursor);
		if (parse_i64(num, &after_at) != 0 || after_at <= 0)
			goto bad;
		snprintf(after_id, sizeof(after_id), "%s", t + 1);
	}
	db_bind_i64(s, 1, org_of(org));
	db_bind_i64(s, 2, after_at);
	db_bind_text(s, 3, after_id);
	db_bind_i64(s, 4, limit);
	next[0] = '\0';
	while ((n = db_row(s)) == 1) {
		struct file_info fi;
		file_from_row(s, &fi);
		json_array_append_new(list, json_pack("{s:s, s:s, s:I, s:s, s:o, s:I, s:I}",
		    "id", fi.id, "sha256", fi.sha256, "size", (json_int_t)fi.size,
		    "mime_type", fi.mime_type, "filename", fi.filename[0] ? json_string(fi.filename) : json_null(),
		    "created_at", (json_int_t)fi.created_at, "refs", (json_int_t)db_i64(s, 7)));
		snprintf(next, sizeof(next), "%" PRId64 "~%s", fi.created_at, fi.id);
		count++;
	}
	if (n < 0) {
		json_decref(list);
		return -1;
	}
	*out = json_pack("{s:o, s:o}", "files", list,
	    "next", count == limit && next[0] ? json_string(next) : json_null());
	return 0;
bad:
	json_decref(list);
	return -2;      /* a malformed cursor: the caller's 400 */
}
