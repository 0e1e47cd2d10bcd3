/*
 * import.c - the import worker (import.h): read, validate, stage.
 */
#include "import/import.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "import/csv.h"
#include "import/xlsx.h"
#include "log/log.h"
#include "store/store.h"
#include "util/util.h"

#define CHUNK_JSON_MAX ((size_t)64 << 20)   /* a chunk's JSON: IMPORT_CHUNK_BYTES plus one row */
#define FAIL_MESSAGE_MAX 256

struct importer {
	struct store *st;
	char *owner;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct import_job *head, *tail;
	size_t queued;
	struct import_job *current;
	bool stop;
	/* The job's ops in flight, and the first failure among them. */
	int inflight;
	enum store_err op_err;
};

/* One op of a job, with what it points to (freed by its done()). */
struct chunk {
	struct store_op op;
	struct store_import si;
	struct importer *im;
	struct buf rows, errors;
	char *columns, *preview, *message;
};

/* A job being read. */
struct run {
	struct importer *im;
	struct import_job *job;
	struct import_map map;
	bool resolved;
	struct import_dedup dedup;
	struct import_row_result res;
	struct chunk *chunk;
	int64_t nerr;              /* errors numbered so far */
	json_t *preview;
	char *columns_json;
	bool meta_sent;
	bool stopped;              /* stop or cancel: leave it parsing / deleted */
	const char *fail_code;     /* a file-level failure found while reading */
	char fail_msg[FAIL_MESSAGE_MAX];
	int64_t fail_row;
	int64_t ndata;             /* data rows read (the header not counted) */
};

const char *
import_format_name(enum import_format f)
{
	return f == IMPORT_XLSX ? "xlsx" : "csv";
}

static bool
stopping(struct run *r)
{
	bool s;

	pthread_mutex_lock(&r->im->mu);
	s = r->im->stop;
	pthread_mutex_unlock(&r->im->mu);
	return s || atomic_load(&r->job->cancel);
}

/* --- ops --- */

static void
chunk_free(struct chunk *c)
{
	buf_free(&c->rows);
	buf_free(&c->errors);
	free(c->columns);
	free(c->preview);
	free(c->message);
	free(c);
}

static void
chunk_done(struct store_op *op, void *arg)
{
	struct chunk *c = arg;
	struct importer *im = c->im;

	pthread_mutex_lock(&im->mu);
	im->inflight--;
	if (op->result != 0 && im->op_err == STORE_OK)
		im->op_err = op->err == STORE_OK ? STORE_ERROR : op->err;
	pthread_cond_broadcast(&im->cond);
	pthread_mutex_unlock(&im->mu);
	chunk_free(c);
}

static struct chunk *
chunk_new(struct run *r, enum store_import_step step)
{
	struct chunk *c = xcalloc(1, sizeof(*c));

	c->im = r->im;
	c->si.step = step;
	c->si.id = r->job->id;
	buf_init(&c->rows, CHUNK_JSON_MAX);
	buf_init(&c->errors, CHUNK_JSON_MAX);
	return c;
}

static bool
op_failed(struct importer *im)
{
	pthread_mutex_lock(&im->mu);
	bool f = im->op_err != STORE_OK;
	pthread_mutex_unlock(&im->mu);
	return f;
}

/* Wait until at most max ops of the job are in flight; -1 when stopping. */
static int
wait_inflight(struct run *r, int max)
{
	struct importer *im = r->im;
	int rc = 0;

	pthread_mutex_lock(&im->mu);
	while (im->inflight > max && !im->stop)
		pthread_cond_wait(&im->cond, &im->mu);
	if (im->stop)
		rc = -1;
	pthread_mutex_unlock(&im->mu);
	return rc;
}

static void
submit(struct run *r, struct chunk *c)
{
	struct importer *im = r->im;

	if (c->rows.len > 0) {
		buf_append(&c->rows, "]", 1);
		c->si.rows_json = c->rows.data;
	}
	if (c->errors.len > 0) {
		buf_append(&c->errors, "]", 1);
		c->si.errors_json = c->errors.data;
	}
	c->si.columns_json = c->columns;
	c->si.preview_json = c->preview;
	c->op = (struct store_op){ .kind = STORE_OP_IMPORT, .org_id = r->job->org_id, .u.import = &c->si,
	    .done = chunk_done, .arg = c };
	pthread_mutex_lock(&im->mu);
	im->inflight++;
	pthread_mutex_unlock(&im->mu);
	store_submit(im->st, &c->op);
}

/* Columns and preview go with the first chunk and with FINISH. */
static void
attach_meta(struct run *r, struct chunk *c)
{
	if (r->columns_json)
		c->columns = xstrdup(r->columns_json);
	if (r->preview)
		c->preview = json_dumps(r->preview, JSON_COMPACT);
	r->meta_sent = true;
}

static int
flush_rows(struct run *r)
{
	struct chunk *c = r->chunk;

	if (c == NULL || c->si.rows == 0)
		return 0;
	r->chunk = NULL;
	if (!r->meta_sent)
		attach_meta(r, c);
	submit(r, c);
	if (wait_inflight(r, IMPORT_CHUNKS_IN_FLIGHT - 1) != 0)
		return -1;
	return op_failed(r->im) ? -1 : 0;
}

/* --- rows --- */

static void
add_error_json(struct run *r, struct chunk *c, size_t row, const struct import_row_error *e)
{
	struct buf *b = &c->errors;
	char head[64];

	buf_append(b, b->len ? "," : "[", 1);
	snprintf(head, sizeof(head), "{\"n\":%" PRId64 ",\"r\":%zu,\"c\":", ++r->nerr, row);
	buf_append(b, head, strlen(head));
	if (e->column[0])
		import_json_str(b, e->column, strlen(e->column));
	else
		buf_append(b, "null", 4);
	buf_append(b, ",\"v\":", 5);
	import_json_str(b, e->value, strlen(e->value));
	buf_append(b, ",\"k\":", 5);
	import_json_str(b, e->code, strlen(e->code));
	buf_append(b, ",\"m\":", 5);
	import_json_str(b, e->message, strlen(e->message));
	buf_append(b, "}", 1);
}

static void
stage_row(struct run *r, const struct table_row *t)
{
	struct chunk *c = r->chunk;
	struct import_row_result *res = &r->res;
	struct buf *b = &c->rows;
	char head[48];

	buf_append(b, b->len ? "," : "[", 1);
	snprintf(head, sizeof(head), "{\"r\":%zu,\"p\":", t->row);
	buf_append(b, head, strlen(head));
	if (res->phone[0])
		import_json_str(b, res->phone, strlen(res->phone));
	else
		buf_append(b, "null", 4);
	buf_append(b, ",\"d\":", 5);
	buf_append(b, res->data.data, res->data.len);
	buf_append(b, ",\"s\":\"", 6);
	const char *s = import_row_status_name(res->status);
	buf_append(b, s, strlen(s));
	buf_append(b, "\"}", 2);
	for (size_t i = 0; i < res->nerrors; i++)
		add_error_json(r, c, t->row, &res->errors[i]);
	c->si.rows++;
	c->si.errors += (int64_t)res->nerrors;
	if (res->status == IMPORT_ROW_VALID)
		c->si.valid++;
	else if (res->status == IMPORT_ROW_DUPLICATE)
		c->si.duplicates++;
	else
		c->si.invalid++;
}

static void
keep_preview(struct run *r, const struct table_row *t)
{
	json_t *cells = json_array();

	for (size_t i = 0; i < t->ncells; i++)
		json_array_append_new(cells, json_stringn(t->cells[i], t->lens[i]));
	json_array_append_new(r->preview, json_pack("{s:I, s:o}", "row", (json_int_t)t->row, "cells", cells));
}

static int
resolve(struct run *r, const struct table_row *first)
{
	char err[FAIL_MESSAGE_MAX];
	const char *code = NULL;

	r->resolved = true;
	if (import_map_resolve(&r->job->spec, r->job->normalize, first, &r->map, &code, err, sizeof(err)) != 0) {
		r->fail_code = code;
		snprintf(r->fail_msg, sizeof(r->fail_msg), "%s", err);
		r->fail_row = first ? (int64_t)first->row : 0;
		return -1;
	}
	json_t *cols = json_array();
	for (size_t i = 0; i < r->map.ncols; i++)
		json_array_append_new(cols, json_string(r->map.colnames[i]));
	r->columns_json = json_dumps(cols, JSON_COMPACT);
	json_decref(cols);
	return 0;
}

static int
on_row(void *arg, const struct table_row *t)
{
	struct run *r = arg;

	if ((r->chunk == NULL || r->chunk->si.rows % 256 == 0) && stopping(r)) {
		r->stopped = true;
		return -1;
	}
	if (!r->resolved) {
		if (resolve(r, t) != 0)
			return -1;
		if (r->job->spec.header)
			return 0;
	}
	if (r->job->rows_max > 0 && r->ndata >= r->job->rows_max) {
		/* The duplicate table and the staged rows grow with the rows: capped. */
		r->fail_code = "too_many_rows";
		snprintf(r->fail_msg, sizeof(r->fail_msg), "the file has more than %" PRId64
		    " data rows (import_rows_max)", r->job->rows_max);
		r->fail_row = (int64_t)t->row;
		return -1;
	}
	r->ndata++;
	if (json_array_size(r->preview) < IMPORT_PREVIEW_ROWS)
		keep_preview(r, t);
	if (r->chunk == NULL)
		r->chunk = chunk_new(r, IMPORT_STEP_ROWS);
	import_validate_row(&r->map, &r->dedup, t, &r->res);
	stage_row(r, t);
	if (r->chunk->si.rows >= IMPORT_CHUNK_ROWS || r->chunk->rows.len + r->chunk->errors.len >= IMPORT_CHUNK_BYTES) {
		if (flush_rows(r) != 0)
			return -1;  /* stopping, or staging failed (run_job tells which) */
	}
	return 0;
}

/* --- a job --- */

static int
read_file(struct run *r, struct table_error *err)
{
	struct import_job *job = r->job;

	if (job->format == IMPORT_XLSX) {
		struct xlsx_options o = { .sheet = job->spec.sheet[0] ? job->spec.sheet : NULL };
		return xlsx_read_path(job->path, &o, on_row, r, err);
	}
	int fd = open(job->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*err = (struct table_error){ .code = TABLE_IO };
		snprintf(err->message, sizeof(err->message), "cannot open the file's content");
		log_error("import: cannot open the file", "path", job->path);
		return -1;
	}
	struct csv_options o = { .delimiter = job->spec.delimiter };
	int rc = csv_read_fd(fd, &o, on_row, r, err);
	close(fd);
	return rc;
}

/* A job-level op, waited for: 0, or -1 (stopping, or the op failed). */
static int
run_step(struct run *r, struct chunk *c)
{
	submit(r, c);
	if (wait_inflight(r, 0) != 0)
		return -1;
	return op_failed(r->im) ? -1 : 0;
}

static void
finish(struct run *r, const char *code, const char *msg, int64_t row)
{
	struct chunk *c = chunk_new(r, IMPORT_STEP_FINISH);
	char id[24];

	attach_meta(r, c);
	if (code) {
		c->si.failed = true;
		c->si.error_code = code;
		c->message = xstrdup(msg);
		c->si.error_message = c->message;
		c->si.error_row = row;
	}
	snprintf(id, sizeof(id), "%" PRId64, r->job->id);
	if (code)
		log_info("import failed", "import", id, "code", code);
	else
		log_info("import validated", "import", id);
	run_step(r, c);
}

static void
run_job(struct importer *im, struct import_job *job)
{
	struct run r = { .im = im, .job = job };
	struct table_error err = { 0 };

	im->op_err = STORE_OK;
	struct chunk *c = chunk_new(&r, IMPORT_STEP_RESET);
	c->si.owner = im->owner;
	if (run_step(&r, c) != 0)
		return;  /* deleted meanwhile, or storage failed: still parsing, tried at the next start */
	import_dedup_init(&r.dedup);
	buf_init(&r.res.data, IMPORT_DATA_MAX);
	r.preview = json_array();
	int rc = read_file(&r, &err);
	if (r.stopped || stopping(&r))
		goto out;
	if (rc != 0 && r.fail_code == NULL && err.code != TABLE_OK) {
		r.fail_code = table_err_name(err.code);
		snprintf(r.fail_msg, sizeof(r.fail_msg), "%s", err.message[0] ? err.message : r.fail_code);
		r.fail_row = (int64_t)err.row;
	}
	if (r.fail_code == NULL && !r.resolved) {
		r.fail_code = "empty_file";
		snprintf(r.fail_msg, sizeof(r.fail_msg), "the file has no rows");
	}
	if (r.fail_code == NULL && flush_rows(&r) != 0)
		goto out;
	if (wait_inflight(&r, 0) != 0)
		goto out;
	if (im->op_err == STORE_NOTFOUND)
		goto out;  /* deleted while it was read */
	if (r.fail_code == NULL && im->op_err != STORE_OK) {
		r.fail_code = "storage_error";
		snprintf(r.fail_msg, sizeof(r.fail_msg), "staging the rows failed");
	}
	im->op_err = STORE_OK;
	finish(&r, r.fail_code, r.fail_msg, r.fail_row);
out:
	if (r.chunk)
		chunk_free(r.chunk);
	import_map_free(&r.map);
	import_dedup_free(&r.dedup);
	buf_free(&r.res.data);
	json_decref(r.preview);
	free(r.columns_json);
}

static void *
worker(void *arg)
{
	struct importer *im = arg;

	pthread_mutex_lock(&im->mu);
	for (;;) {
		while (!im->stop && im->head == NULL)
			pthread_cond_wait(&im->cond, &im->mu);
		if (im->stop)
			break;
		struct import_job *job = im->head;
		im->head = job->next;
		if (im->head == NULL)
			im->tail = NULL;
		im->queued--;
		im->current = job;
		pthread_mutex_unlock(&im->mu);
		run_job(im, job);
		pthread_mutex_lock(&im->mu);
		im->current = NULL;
		free(job);
	}
	pthread_mutex_unlock(&im->mu);
	return NULL;
}

int
importer_start(struct importer **out, struct store *st, const char *owner)
{
	struct importer *im = xcalloc(1, sizeof(*im));

	im->st = st;
	im->owner = xstrdup(owner ? owner : "");
	pthread_mutex_init(&im->mu, NULL);
	pthread_cond_init(&im->cond, NULL);
	if (pthread_create(&im->thread, NULL, worker, im) != 0) {
		log_error("import: cannot start the worker thread");
		importer_free(im);
		return -1;
	}
	im->started = true;
	*out = im;
	return 0;
}

int
importer_submit(struct importer *im, struct import_job *job)
{
	int rc = -1;

	atomic_init(&job->cancel, false);
	job->next = NULL;
	pthread_mutex_lock(&im->mu);
	if (!im->stop && im->queued < IMPORT_QUEUE_MAX) {
		if (im->tail)
			im->tail->next = job;
		else
			im->head = job;
		im->tail = job;
		im->queued++;
		pthread_cond_broadcast(&im->cond);
		rc = 0;
	}
	pthread_mutex_unlock(&im->mu);
	return rc;
}

bool
importer_accepting(struct importer *im)
{
	pthread_mutex_lock(&im->mu);
	bool ok = !im->stop && im->queued < IMPORT_QUEUE_MAX;
	pthread_mutex_unlock(&im->mu);
	return ok;
}

void
importer_cancel(struct importer *im, int64_t id)
{
	if (im == NULL)
		return;
	pthread_mutex_lock(&im->mu);
	if (im->current && im->current->id == id)
		atomic_store(&im->current->cancel, true);
	for (struct import_job **p = &im->head; *p;) {
		struct import_job *j = *p;
		if (j->id == id) {
			*p = j->next;
			im->queued--;
			free(j);
		} else {
			p = &j->next;
		}
	}
	im->tail = NULL;
	for (struct import_job *j = im->head; j; j = j->next)
		im->tail = j;
	pthread_mutex_unlock(&im->mu);
}

void
importer_stop(struct importer *im)
{
	if (im == NULL || !im->started)
		return;
	pthread_mutex_lock(&im->mu);
	im->stop = true;
	pthread_cond_broadcast(&im->cond);
	pthread_mutex_unlock(&im->mu);
	pthread_join(im->thread, NULL);
	im->started = false;
}

void
importer_free(struct importer *im)
{
	if (im == NULL)
		return;
	importer_stop(im);
	while (im->head) {
		struct import_job *j = im->head;
		im->head = j->next;
		free(j);
	}
	pthread_cond_destroy(&im->cond);
	pthread_mutex_destroy(&im->mu);
	free(im->owner);
	free(im);
}
