/*
 * files.c - the files writer: an upload streamed into <data>/files/tmp/
 * while SHA-256 is computed and the size capped, then (files_writer_finish)
 * fsynced and sniffed on a reader pool thread, and adopted into
 * <data>/files/ab/cdef... with its row by a STORE_OP_FILE_PUT on the
 * writer thread. files.h says where each step runs and why.
 */
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <magic.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "../api/api.h"
#include "../config/config.h"
#include "../log/log.h"
#include "../store/store.h"
#include "../util/util.h"

#define FILES_TMP_PREFIX "up-"

struct files_writer {
	struct app *app;
	int64_t org_id;
	int64_t max_bytes;
	int fd;
	enum files_err err;
	EVP_MD_CTX *md;
	unsigned char head[FILES_SNIFF_BYTES];
	size_t head_len;
	char tmp_path[FILES_PATH_MAX];
	char content_path[FILES_PATH_MAX];
	struct file_info fi;
	/* finish */
	files_done_fn done;
	void *arg;
	struct store_read rd;
	struct store_op op;
};

/* --- names, ids, paths --- */

void
files_new_id(char out[FILES_ID_MAX])
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

	out[0] = 'f';
	out[1] = '_';
	for (int i = 0; i < 26; i++)
		out[2 + i] = alphabet[randombytes_uniform(32)];
	out[28] = '\0';
}

/* The length of the UTF-8 character at p when it is one a file name must
 * not hold (valid UTF-8 assumed), else 0: C1 controls (U+0080-U+009F), the
 * bidi embeddings and overrides (U+202A-U+202E) and isolates
 * (U+2066-U+2069), which make "photo\u202Egpj.exe" read as "photoexe.jpg",
 * and the bidi marks (U+200E, U+200F, U+061C). */
static size_t
invisible_len(const unsigned char *p)
{
	if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
		return 2;
	if (p[0] == 0xd8 && p[1] == 0x9c)
		return 2;
	if (p[0] == 0xe2 && p[1] == 0x80 && ((p[2] >= 0xaa && p[2] <= 0xae) || p[2] == 0x8e || p[2] == 0x8f))
		return 3;
	if (p[0] == 0xe2 && p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9)
		return 3;
	return 0;
}

void
files_sanitize_name(const char *in, char *out, size_t cap)
{
	size_t n = 0;
	const char *base = in;

	if (cap == 0)
		return;
	out[0] = '\0';
	if (in == NULL)
		return;
	for (const char *p = in; *p; p++)   /* no folders, either way they are written */
		if (*p == '/' || *p == '\\')
			base = p + 1;
	if (!utf8_valid(base, strlen(base)))
		return;
	for (const unsigned char *p = (const unsigned char *)base; *p && n + 1 < cap; p++) {
		size_t skip = invisible_len(p);
		if (skip) {
			p += skip - 1;
			continue;
		}
		if (*p < 0x20 || *p == 0x7f || *p == '"')
			continue;
		out[n++] = (char)*p;
	}
	out[n] = '\0';
	n = utf8_boundary(out, n);   /* a cut must not split a character */
	out[n] = '\0';
	if (strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
		out[0] = '\0';
}

static bool
hex64(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == 64;
}

int
files_path_in(const char *files_dir, const char *sha256, char *buf, size_t cap)
{
	if (sha256 == NULL || !hex64(sha256))
		return -1;
	int n = snprintf(buf, cap, "%s/%.2s/%s", files_dir, sha256, sha256 + 2);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int
files_dir(const struct config *cfg, char *buf, size_t cap)
{
	int n = cfg->files_dir[0] ? snprintf(buf, cap, "%s", cfg->files_dir) :
	    snprintf(buf, cap, "%s/files", cfg->data_dir);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int
files_content_path(struct app *app, const char *sha256, char *buf, size_t cap)
{
	char dir[FILES_PATH_MAX];

	if (files_dir(app->cfg, dir, sizeof(dir)) != 0)
		return -1;
	return files_path_in(dir, sha256, buf, cap);
}

/* --- MIME sniffing: one libmagic cookie, guarded (it is not thread-safe) --- */

static pthread_mutex_t magic_lock = PTHREAD_MUTEX_INITIALIZER;
static magic_t magic_cookie;
static bool magic_failed;

static void
magic_cleanup(void)
{
	pthread_mutex_lock(&magic_lock);
	if (magic_cookie)
		magic_close(magic_cookie);
	magic_cookie = NULL;
	pthread_mutex_unlock(&magic_lock);
}

static void
sniff(const void *head, size_t n, char *out, size_t cap)
{
	const char *t = NULL;

	pthread_mutex_lock(&magic_lock);
	if (magic_cookie == NULL && !magic_failed) {
		magic_cookie = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR);
		if (magic_cookie == NULL || magic_load(magic_cookie, NULL) != 0) {
			log_error("files: cannot load libmagic's database; every file is application/octet-stream",
			    "error", magic_cookie ? magic_error(magic_cookie) : strerror(errno));
			if (magic_cookie)
				magic_close(magic_cookie);
			magic_cookie = NULL;
			magic_failed = true;
		} else {
			atexit(magic_cleanup);
		}
	}
	if (magic_cookie)
		t = magic_buffer(magic_cookie, head, n);
	snprintf(out, cap, "%s", t && *t && strlen(t) < cap ? t : "application/octet-stream");
	pthread_mutex_unlock(&magic_lock);
}

/* --- the writer --- */

struct files_writer *
files_writer_open(struct app *app, int64_t org_id, const char *filename, int64_t max_bytes)
{
	char tmpdir[FILES_PATH_MAX];
	struct files_writer *w;

	char dir[FILES_PATH_MAX];
	/* Per instance: several msgd may share files_dir, and each clears its own at start. */
	int n = files_dir(app->cfg, dir, sizeof(dir)) != 0 ? -1 :
	    snprintf(tmpdir, sizeof(tmpdir), "%s/tmp/%s", dir, app->cfg->instance_id);
	if (n < 0 || (size_t)n + sizeof("/" FILES_TMP_PREFIX "XXXXXX") > sizeof(tmpdir) ||
	    mkdir_p(tmpdir, 0700) != 0) {
		log_error("files: cannot make the upload folder", "path", tmpdir, "error", strerror(errno));
		return NULL;
	}
	w = xcalloc(1, sizeof(*w));
	w->app = app;
	w->org_id = org_id;
	w->max_bytes = max_bytes;
	w->fi.org_id = org_id;
	files_sanitize_name(filename, w->fi.filename, sizeof(w->fi.filename));
	memcpy(w->tmp_path, tmpdir, (size_t)n);
	memcpy(w->tmp_path + n, "/" FILES_TMP_PREFIX "XXXXXX", sizeof("/" FILES_TMP_PREFIX "XXXXXX"));
	w->fd = mkostemp(w->tmp_path, O_CLOEXEC);
	if (w->fd < 0) {
		log_error("files: cannot make an upload file", "path", tmpdir, "error", strerror(errno));
		free(w);
		return NULL;
	}
	w->md = EVP_MD_CTX_new();
	if (w->md == NULL || EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1)
		abort();  /* out of memory, as an x-allocator would */
	return w;
}

void
files_writer_set_name(struct files_writer *w, const char *filename)
{
	files_sanitize_name(filename, w->fi.filename, sizeof(w->fi.filename));
}

int
files_writer_write(struct files_writer *w, const void *buf, size_t n)
{
	const unsigned char *p = buf;

	if (w->err != FILES_OK)
		return -1;
	if (w->max_bytes > 0 && (int64_t)n > w->max_bytes - w->fi.size) {
		w->err = FILES_TOO_BIG;
		return -1;
	}
	if (w->head_len < sizeof(w->head)) {
		size_t k = sizeof(w->head) - w->head_len;
		if (k > n)
			k = n;
		memcpy(w->head + w->head_len, p, k);
		w->head_len += k;
	}
	EVP_DigestUpdate(w->md, p, n);
	while (n > 0) {
		ssize_t r = write(w->fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			log_error("files: cannot write an upload", "path", w->tmp_path, "error", strerror(errno));
			w->err = FILES_IO;
			return -1;
		}
		p += r;
		n -= (size_t)r;
		w->fi.size += r;
	}
	return 0;
}

enum files_err
files_writer_error(const struct files_writer *w)
{
	return w->err;
}

int64_t
files_writer_size(const struct files_writer *w)
{
	return w->fi.size;
}

static void
writer_free(struct files_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	EVP_MD_CTX_free(w->md);
	free(w);
}

void
files_writer_abort(struct files_writer *w)
{
	if (w == NULL)
		return;
	unlink(w->tmp_path);
	writer_free(w);
}

/* Reader pool thread: make the bytes durable and sniff them. */
static void
finish_run(struct store *st, void *arg)
{
	struct files_writer *w = arg;

	if (w->err != FILES_OK)
		return;
	if (fsync(w->fd) != 0) {
		log_error("files: cannot sync an upload", "path", w->tmp_path, "error", strerror(errno));
		w->err = FILES_IO;
		return;
	}
	sniff(w->head, w->head_len, w->fi.mime_type, sizeof(w->fi.mime_type));
}

static void
finish_done(struct files_writer *w, int err)
{
	files_done_fn done = w->done;
	void *arg = w->arg;

	if (err != FILES_OK) {
		unlink(w->tmp_path);   /* FILE_PUT removed or renamed it when it ran */
		done(arg, err, NULL);
	} else {
		done(arg, FILES_OK, &w->fi);
	}
	writer_free(w);
}

static void
put_done(struct store_op *op, void *arg)
{
	struct files_writer *w = arg;

	if (op->result != 0)
		log_error("files: cannot store a file's row", "error", op->errmsg);
	w->fi.existed = op->u.file.existed;
	finish_done(w, op->result == 0 ? FILES_OK : FILES_STORE);
}

/* Loop thread: the bytes are on disk; adopt them with their row. */
static void
finish_synced(void *arg)
{
	struct files_writer *w = arg;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;

	if (w->err != FILES_OK) {
		finish_done(w, w->err);
		return;
	}
	close(w->fd);
	w->fd = -1;
	EVP_DigestFinal_ex(w->md, md, &mdlen);
	hex_encode(md, 32, w->fi.sha256);
	if (files_content_path(w->app, w->fi.sha256, w->content_path, sizeof(w->content_path)) != 0) {
		finish_done(w, FILES_IO);
		return;
	}
	files_new_id(w->fi.id);
	w->fi.created_at = now_ms();
	w->op = (struct store_op){
		.kind = STORE_OP_FILE_PUT,
		.org_id = w->org_id,
		.u.file = { .info = &w->fi, .tmp_path = w->tmp_path, .content_path = w->content_path },
		.done = put_done,
		.arg = w,
	};
	store_submit(w->app->store, &w->op);
}

void
files_writer_finish(struct files_writer *w, files_done_fn done, void *arg)
{
	w->done = done;
	w->arg = arg;
	w->rd = (struct store_read){ .run = finish_run, .done = finish_synced, .arg = w };
	store_read_submit(w->app->store, &w->rd);
}
