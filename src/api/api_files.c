/*
 * api_files.c - the files store's API (issue 14; src/files/files.h):
 *
 *   POST /v1/files            an upload, streamed to disk as it arrives
 *                             (api_head() runs it when the headers are in):
 *                             a raw body, or multipart/form-data with one
 *                             file part; 201 with the row (200 with the
 *                             earlier row when the organization had the
 *                             same bytes already)
 *   GET  /v1/files            the organization's files, newest first
 *   GET  /v1/files/{id}       the bytes: ETag, If-None-Match, one Range,
 *                             Content-Disposition, CSP sandbox; read from the file, never
 *                             into memory
 *   GET  /v1/files/{id}/meta  the row
 */
#include "api.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../authz/authz.h"
#include "../config/config.h"
#include "../files/files.h"
#include "../http/http.h"
#include "../log/log.h"
#include "../store/store.h"
#include "../util/util.h"

#define DISPOSITION_MAX (FILES_NAME_MAX * 4 + 64)
#define FILES_LIST_MAX 200

/* --- upload --- */

struct upload {
	struct app *app;
	struct http_request *req;
	struct http_multipart *mp;
	struct api_upload_parts up;  /* the writer and how the body went */
	int64_t org_id;
	int64_t max_bytes;
	uint64_t raw;                /* a multipart body's bytes so far */
	bool finishing;              /* handed to files_writer_finish() */
	bool closed;                 /* the request is over */
};

static void
upload_free(struct upload *u)
{
	if (u->mp)
		http_multipart_end(u->mp);
	files_writer_abort(u->up.w);
	free(u);
}

static json_t *
file_json(const struct file_info *fi)
{
	return json_pack("{s:s, s:s, s:I, s:s, s:o, s:I}",
	    "id", fi->id, "sha256", fi->sha256, "size", (json_int_t)fi->size,
	    "mime_type", fi->mime_type,
	    "filename", fi->filename[0] ? json_string(fi->filename) : json_null(),
	    "created_at", (json_int_t)fi->created_at);
}

static void
reply_too_big(struct http_request *req, int64_t max)
{
	http_reply_error(req, 413, "file_too_large", NULL, "the file is over the limit of %" PRId64 " bytes",
	    max);
}

static void
upload_done(void *arg, int err, const struct file_info *fi)
{
	struct upload *u = arg;

	u->up.w = NULL;                 /* freed by the writer */
	if (u->closed) {             /* nobody to answer */
		free(u);
		return;
	}
	if (err == FILES_OK)
		http_reply_json(u->req, fi->existed ? 200 : 201, file_json(fi));
	else if (err == FILES_TOO_BIG)
		reply_too_big(u->req, u->max_bytes);
	else {
		http_reply_error(u->req, 503, "storage_unavailable", NULL, "the file could not be stored; retry");
		http_reply_header(u->req, "Retry-After", API_STORAGE_RETRY_AFTER);
	}
	u->finishing = false;
}

/* A multipart part's bytes: the one file part goes to the writer; plain
 * fields are ignored. */
int
api_upload_part(void *arg, const char *name, const char *filename, const char *content_type,
    const char *data, uint64_t off, size_t n)
{
	struct api_upload_parts *u = arg;

	/* A part begins at offset 0: after a call that had bytes, or with
	 * another name (an empty part between two of one name is not told). */
	if (off == 0 && (u->parts == 0 || u->part_end != 0 || strcmp(u->last_name, name ? name : "") != 0)) {
		if (++u->parts > API_UPLOAD_PARTS_MAX) {
			u->state = API_UP_TOO_MANY_PARTS;
			return -1;
		}
		snprintf(u->last_name, sizeof(u->last_name), "%s", name ? name : "");
	}
	u->part_end = off + n;
	if (filename == NULL)
		return 0;
	if (!u->part_seen) {
		u->part_seen = true;
		snprintf(u->part_name, sizeof(u->part_name), "%s", name ? name : "");
		/* The writer was opened before the name was known: set it now. */
		files_writer_set_name(u->w, filename);
	} else if (off == 0 && (files_writer_size(u->w) > 0 || strcmp(u->part_name, name ? name : "") != 0)) {
		u->state = API_UP_TWO_FILES;
		return -1;
	}
	if (n == 0)
		return 0;
	if (files_writer_write(u->w, data, n) != 0) {
		u->state = files_writer_error(u->w) == FILES_TOO_BIG ? API_UP_TOO_BIG : API_UP_IO;
		return -1;
	}
	return 0;
}

static int
upload_chunk(void *arg, const char *data, size_t n)
{
	struct upload *u = arg;

	if (u->mp) {
		u->raw += n;
		if (u->raw > (uint64_t)u->max_bytes + API_UPLOAD_OVERHEAD) {
			u->up.state = API_UP_BODY_TOO_BIG;   /* fields, part headers, preamble */
			return -1;
		}
		if (http_multipart_feed(u->mp, data, n) != 0) {
			if (u->up.state == API_UP_OK)
				u->up.state = API_UP_BAD_MULTIPART;
			return -1;
		}
		return 0;
	}
	if (files_writer_write(u->up.w, data, n) != 0) {
		u->up.state = files_writer_error(u->up.w) == FILES_TOO_BIG ? API_UP_TOO_BIG : API_UP_IO;
		return -1;
	}
	return 0;
}

static void
upload_end(void *arg)
{
	struct upload *u = arg;
	struct http_request *req = u->req;

	if (u->mp) {
		int r = http_multipart_end(u->mp);
		u->mp = NULL;
		if (r != 0 && u->up.state == API_UP_OK)
			u->up.state = API_UP_BAD_MULTIPART;
		if (u->up.state == API_UP_OK && !u->up.part_seen) {
			http_reply_error(req, 400, "no_file", "file",
			    "the multipart body has no file part (a part with a filename)");
			return;
		}
	}
	if (u->up.state != API_UP_OK) {
		files_writer_abort(u->up.w);   /* the temp file goes with the answer */
		u->up.w = NULL;
	}
	switch (u->up.state) {
	case API_UP_OK:
		break;
	case API_UP_TOO_BIG:
		reply_too_big(req, u->max_bytes);
		return;
	case API_UP_IO:
		http_reply_error(req, 503, "storage_unavailable", NULL, "the file could not be written; retry");
		http_reply_header(req, "Retry-After", API_STORAGE_RETRY_AFTER);
		return;
	case API_UP_BAD_MULTIPART:
		http_reply_error(req, 400, "invalid_multipart", NULL, "the multipart/form-data body is malformed");
		return;
	case API_UP_TWO_FILES:
		http_reply_error(req, 400, "too_many_files", "file", "send one file per request");
		return;
	case API_UP_TOO_MANY_PARTS:
		http_reply_error(req, 400, "invalid_multipart", NULL,
		    "the multipart/form-data body has over %d parts", API_UPLOAD_PARTS_MAX);
		return;
	case API_UP_BODY_TOO_BIG:
		http_reply_error(req, 413, "file_too_large", NULL, "the multipart/form-data body is over the "
		    "limit of %" PRId64 " bytes (the file's limit and 64 KiB for the rest)",
		    u->max_bytes + API_UPLOAD_OVERHEAD);
		return;
	}
	if (files_writer_size(u->up.w) == 0) {
		http_reply_error(req, 400, "empty_file", NULL, "the file is empty");
		return;
	}
	if (u->app->store == NULL) {     /* the body outlived shutdown_timeout */
		http_reply_error(req, 503, "shutting_down", NULL, "msgd is shutting down; retry");
		return;
	}
	u->finishing = true;
	http_defer(req);
	struct files_writer *w = u->up.w;
	u->up.w = NULL;
	files_writer_finish(w, upload_done, u);
}

static void
upload_close(void *arg)
{
	struct upload *u = arg;

	if (u->finishing) {          /* upload_done() frees it */
		u->closed = true;
		return;
	}
	upload_free(u);
}

/* filename="..." (or unquoted) of a Content-Disposition header, into out. */
static void
disposition_name(const char *h, char *out, size_t cap)
{
	const char *p;

	out[0] = '\0';
	if (h == NULL)
		return;
	for (p = h; (p = strcasestr(p, "filename")) != NULL; p += 8) {
		const char *v = p + 8;
		while (*v == ' ')
			v++;
		if (*v != '=')
			continue;          /* filename*= is not read: the plain one is enough */
		v++;
		while (*v == ' ')
			v++;
		size_t n = 0;
		if (*v == '"') {
			for (v++; *v && *v != '"' && n + 1 < cap; v++) {
				if (*v == '\\' && v[1])
					v++;
				out[n++] = *v;
			}
		} else {
			for (; *v && *v != ';' && *v != ' ' && n + 1 < cap; v++)
				out[n++] = *v;
		}
		out[n] = '\0';
		return;
	}
}

void
api_files_upload(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	int64_t max = (int64_t)app->cfg->files_max_bytes;
	int64_t cl = http_content_length(req);
	char name[FILES_NAME_MAX];
	struct upload *u;

	const char *ct = http_header(req, "Content-Type");
	bool multi = ct && strncasecmp(ct, "multipart/form-data", 19) == 0;
	if (cl > max + (multi ? API_UPLOAD_OVERHEAD : 0)) {
		reply_too_big(req, max);
		return;
	}
	if (cl == 0) {
		http_reply_error(req, 400, "empty_file", NULL, "the file is empty");
		return;
	}
	const char *qn = http_query(req, "filename");
	if (qn)
		snprintf(name, sizeof(name), "%s", qn);
	else
		disposition_name(http_header(req, "Content-Disposition"), name, sizeof(name));
	u = xcalloc(1, sizeof(*u));
	u->app = app;
	u->req = req;
	u->org_id = who->org_id;
	u->max_bytes = max;
	if (multi) {
		u->mp = http_multipart_new(req, api_upload_part, &u->up);
		if (u->mp == NULL) {
			free(u);
			http_reply_error(req, 400, "invalid_multipart", NULL,
			    "multipart/form-data needs a boundary parameter");
			return;
		}
	}
	u->up.w = files_writer_open(app, who->org_id, name[0] ? name : NULL, max);
	if (u->up.w == NULL) {
		upload_free(u);
		http_reply_error(req, 503, "storage_unavailable", NULL, "the file could not be written; retry");
		http_reply_header(req, "Retry-After", API_STORAGE_RETRY_AFTER);
		return;
	}
	http_stream_body(req, &(struct http_body_sink){
		.chunk = upload_chunk, .end = upload_end, .close = upload_close, .arg = u });
}

/* --- reads --- */

static int
file_id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n != 28 || strncmp(id, "f_", 2) != 0)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '2' && id[i] <= '7')))
			return 0;
	return 1;
}

struct meta_ctx {
	int64_t org;
	char id[FILES_ID_MAX];
};

static void
meta_run(struct store *st, void *arg, struct api_reply *out)
{
	struct meta_ctx *c = arg;
	struct file_info fi;

	if (store_file_get(st, c->org, c->id, &fi) != 0) {
		api_reply_fail(out, 404, "not_found", NULL, "no such file");
		return;
	}
	out->status = 200;
	out->json = file_json(&fi);
}

void
api_files_meta(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	struct meta_ctx *c;

	if (!file_id_ok(p[0])) {
		http_reply_error(req, 404, "not_found", NULL, "no such file");
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->org = who->org_id;
	snprintf(c->id, sizeof(c->id), "%s", p[0]);
	api_read_async(app, req, meta_run, c, free);
}

struct list_ctx {
	int64_t org;
	int limit;
	char *cursor;
};

static void
list_run(struct store *st, void *arg, struct api_reply *out)
{
	struct list_ctx *c = arg;
	json_t *v = NULL;
	int rc = store_files_list(st, c->org, c->limit, c->cursor, &v);

	if (rc == -2) {
		api_reply_fail(out, 400, "invalid_parameter", "cursor", "cursor is not one a listing gave");
		return;
	}
	api_reply_read(out, rc, v, "files");
}

static void
list_free(void *arg)
{
	struct list_ctx *c = arg;

	free(c->cursor);
	free(c);
}

void
api_files_list(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	int limit = api_limit(req, 50, FILES_LIST_MAX);
	struct list_ctx *c;

	if (limit < 0)
		return;
	c = xcalloc(1, sizeof(*c));
	c->org = who->org_id;
	c->limit = limit;
	c->cursor = xstrdup_or_null(http_query(req, "cursor"));
	api_read_async(app, req, list_run, c, list_free);
}

/* --- content --- */

struct content {
	struct store_read rd;
	struct app *app;
	struct http_request *req;
	int64_t org;
	char id[FILES_ID_MAX];
	/* results of the read (reader thread) */
	int found;                   /* 1 found, 0 not found, -1 error */
	struct file_info fi;
	int fd;
	int64_t size;
};

static void
content_run(struct store *st, void *arg)
{
	struct content *c = arg;
	char path[FILES_PATH_MAX];
	struct stat sb;

	c->fd = -1;
	if (store_file_get(st, c->org, c->id, &c->fi) != 0) {
		c->found = 0;
		return;
	}
	c->found = 1;
	if (files_content_path(c->app, c->fi.sha256, path, sizeof(path)) != 0 ||
	    (c->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(c->fd, &sb) != 0) {
		log_error("files: a file's content is missing", "id", c->id, "error", strerror(errno));
		c->found = -1;
		return;
	}
	c->size = sb.st_size;
}

/* One "bytes=" range of a size-byte file: 1 with [*a, *b] (inclusive), 0
 * when the header is to be ignored (malformed, several ranges: the whole
 * file), -1 when unsatisfiable. */
static int
parse_range(const char *h, int64_t size, int64_t *a, int64_t *b)
{
	const char *p, *dash;
	int64_t x, y;
	char num[24];

	if (h == NULL || strncmp(h, "bytes=", 6) != 0)
		return 0;
	p = h + 6;
	if (strchr(p, ',') != NULL || (dash = strchr(p, '-')) == NULL)
		return 0;
	if (dash == p) {                             /* -n: the last n bytes */
		if (parse_digits(dash + 1, 18, &y) != 0)
			return 0;
		if (y == 0 || size == 0)
			return -1;
		*a = y >= size ? 0 : size - y;
		*b = size - 1;
		return 1;
	}
	if ((size_t)(dash - p) >= sizeof(num))
		return 0;
	snprintf(num, sizeof(num), "%.*s", (int)(dash - p), p);
	if (parse_digits(num, 18, &x) != 0)
		return 0;
	if (dash[1] == '\0')
		y = size - 1;
	else if (parse_digits(dash + 1, 18, &y) != 0 || y < x)
		return 0;
	if (x >= size)
		return -1;
	*a = x;
	*b = y >= size ? size - 1 : y;
	return 1;
}

/* attachment; filename="ascii"; filename*=UTF-8''percent-encoded */
static void
disposition(const char *name, char *out, size_t cap)
{
	char ascii[FILES_NAME_MAX], enc[FILES_NAME_MAX * 3];
	size_t a = 0, e = 0;

	if (name[0] == '\0') {
		snprintf(out, cap, "attachment");
		return;
	}
	for (const unsigned char *s = (const unsigned char *)name; *s; s++) {
		unsigned char ch = *s;
		if (a + 1 < sizeof(ascii))
			ascii[a++] = (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') ? '_' : (char)ch;
		if (e + 4 > sizeof(enc))
			continue;
		if (isalnum(ch) || strchr("!#$&+-.^_`|~", ch))
			enc[e++] = (char)ch;
		else
			e += (size_t)snprintf(enc + e, sizeof(enc) - e, "%%%02X", ch);
	}
	ascii[a] = '\0';
	enc[e] = '\0';
	snprintf(out, cap, "attachment; filename=\"%s\"; filename*=UTF-8''%s", ascii, enc);
}

static bool
etag_matches(const char *h, const char *etag)
{
	if (h == NULL)
		return false;
	/* A list of tags; "W/" weak ones compare the same for a GET. */
	return strcmp(h, "*") == 0 || strstr(h, etag) != NULL;
}

static void
content_done(void *arg)
{
	struct content *c = arg;
	struct http_request *req = c->req;
	char etag[72], disp[DISPOSITION_MAX], crange[96];
	int64_t a = 0, b = c->size - 1;
	int status = 200, r;

	if (c->found == 0) {
		http_reply_error(req, 404, "not_found", NULL, "no such file");
		goto out;
	}
	if (c->found < 0) {
		api_store_error(req);
		goto out;
	}
	snprintf(etag, sizeof(etag), "\"%s\"", c->fi.sha256);
	if (etag_matches(http_header(req, "If-None-Match"), etag)) {
		http_reply_raw(req, 304, c->fi.mime_type, "", 0);
		http_reply_header(req, "ETag", etag);
		http_reply_header(req, "Cache-Control", "private, no-cache");
		goto out;
	}
	r = parse_range(http_header(req, "Range"), c->size, &a, &b);
	if (r < 0) {
		http_reply_error(req, 416, "range_not_satisfiable", NULL, "the file has %" PRId64 " bytes",
		    c->size);
		snprintf(crange, sizeof(crange), "bytes */%" PRId64, c->size);
		http_reply_header(req, "Content-Range", crange);
		goto out;
	}
	if (r == 0) {
		a = 0;
		b = c->size - 1;
	} else {
		status = 206;
	}
	http_reply_fd(req, status, c->fi.mime_type, c->fd, a, b - a + 1);
	c->fd = -1;                  /* the reply's now */
	http_reply_header(req, "ETag", etag);
	http_reply_header(req, "Accept-Ranges", "bytes");
	http_reply_header(req, "Cache-Control", "private, no-cache");
	http_reply_header(req, "X-Content-Type-Options", "nosniff");
	/* The sniffed type may be text/html or image/svg+xml, served from the
	 * panel's origin: opened as a page it runs nothing and reaches nothing
	 * (a unique origin); as an <img> or <video> it is unaffected. */
	http_reply_header(req, "Content-Security-Policy", "sandbox");
	disposition(c->fi.filename, disp, sizeof(disp));
	http_reply_header(req, "Content-Disposition", disp);
	if (status == 206) {
		snprintf(crange, sizeof(crange), "bytes %" PRId64 "-%" PRId64 "/%" PRId64, a, b, c->size);
		http_reply_header(req, "Content-Range", crange);
	}
out:
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

void
api_files_content(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	struct content *c;

	if (!file_id_ok(p[0])) {
		http_reply_error(req, 404, "not_found", NULL, "no such file");
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->app = app;
	c->req = req;
	c->org = who->org_id;
	c->fd = -1;
	snprintf(c->id, sizeof(c->id), "%s", p[0]);
	c->rd = (struct store_read){ .run = content_run, .done = content_done, .arg = c };
	http_defer(req);
	store_read_submit(app->store, &c->rd);
}
