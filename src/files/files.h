/*
 * files.h - the files store (issue 14): uploads streamed to disk while
 * hashed, content-addressed and shared, one row per organization.
 *
 * Files are content-addressed: <data>/files/ab/cdef... (sha256 hex, first 2
 * chars as the folder). A row in `files` per (org, content): id "f_" + 26
 * lowercase base32 chars (random), org_id, sha256 (hex), size, mime_type
 * (libmagic on the first bytes), filename (sanitized, may be NULL),
 * created_at (ms), last_used_at (ms), refs (INTEGER, count of things that
 * reference it).
 *
 * Where each step runs:
 *  - files_writer_write(): on the caller's thread (the loop: small
 *    synchronous writes to local disk, SHA-256 updated as they go);
 *  - files_writer_finish(): fsync of the file and the MIME sniff on a
 *    reader pool thread (store_read_submit), never on the loop; then a
 *    STORE_OP_FILE_PUT: on the writer thread the temp file is renamed into
 *    place (its folder fsynced) or dropped when the content exists, and the
 *    row committed in the same group commit; done() on the loop.
 *  - the retention sweep (files_sweep_start): STORE_OP_FILE_SWEEP deletes
 *    expired rows and unlinks content no row names any more, on the writer
 *    thread too, so an upload adopting a content and the sweep removing it
 *    never interleave.
 *
 * References: a row with refs > 0 is never swept. Other parts take and
 * release references with STORE_OP_FILE_REF (u.file.id, u.file.delta +1/-1)
 * or by the same UPDATE inside their own op's transaction.
 */
#ifndef MSGD_FILES_H
#define MSGD_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct app;
struct store;

#define FILES_ID_MAX 32
#define FILES_MIME_MAX 128
#define FILES_NAME_MAX 256
#define FILES_SNIFF_BYTES 4096      /* libmagic looks at this much of the start */
#define FILES_PATH_MAX 4096

struct file_info {
	char id[FILES_ID_MAX];
	int64_t org_id;
	char sha256[65];
	int64_t size;
	char mime_type[FILES_MIME_MAX];
	char filename[FILES_NAME_MAX];  /* "" when none */
	int64_t created_at;             /* ms */
	bool existed;                   /* files_writer_finish: the organization had this
	                                   content already (the row is the earlier one) */
};

enum files_err {
	FILES_OK = 0,
	FILES_TOO_BIG,      /* more than max_bytes written */
	FILES_IO,           /* the disk refused (open, write, fsync, rename) */
	FILES_STORE,        /* the row could not be committed */
};

/* streams bytes to <data>/files/tmp/ while hashing (SHA-256) and capping */
struct files_writer;

/* NULL when the temp file cannot be made (logged). filename: the client's
 * name (sanitized here: no folders, no control characters, at most
 * FILES_NAME_MAX - 1 bytes of UTF-8) or NULL. max_bytes <= 0: no cap. */
struct files_writer *files_writer_open(struct app *app, int64_t org_id, const char *filename, int64_t max_bytes);
/* The file's name, when it is known only after the writer opened (a
 * multipart part's): sanitized as files_writer_open() does. */
void files_writer_set_name(struct files_writer *w, const char *filename);
/* -1: over max_bytes or I/O (files_writer_error); nothing more is written then. */
int files_writer_write(struct files_writer *w, const void *buf, size_t n);
enum files_err files_writer_error(const struct files_writer *w);
/* Bytes written so far. */
int64_t files_writer_size(const struct files_writer *w);
/*
 * Finish: fsync, sniff the MIME type, rename into place (dedup: same sha256
 * → the existing content), commit the `files` row through a store op (group
 * commit), then call done on the loop thread with the row (or err != 0:
 * FILES_TOO_BIG, FILES_IO, FILES_STORE). The writer is freed by it.
 * fi->existed tells that the organization had that content already.
 */
typedef void (*files_done_fn)(void *arg, int err, const struct file_info *fi);
void files_writer_finish(struct files_writer *w, files_done_fn done, void *arg);
void files_writer_abort(struct files_writer *w);           /* removes the temp file */

/* The path of a stored file's content (for reading it), into buf. 0, or -1
 * when sha256 is not 64 hex digits or buf too short. */
int files_content_path(struct app *app, const char *sha256, char *buf, size_t cap);
/* The same under a files folder (<data>/files). */
int files_path_in(const char *files_dir, const char *sha256, char *buf, size_t cap);

/* Synchronous read of one file row (reader-pool threads only, not on the loop). 0 found, -1 not found/error. */
int store_file_get(struct store *st, int64_t org_id, const char *id, struct file_info *out);

/* The sanitized form of a client's file name into out ("" when nothing is left). */
void files_sanitize_name(const char *in, char *out, size_t cap);
/* A fresh id: "f_" + 26 lowercase base32 characters. */
void files_new_id(char out[FILES_ID_MAX]);

/* Start-up: make <data>/files and files/tmp, remove temp files a crash
 * left, start the retention sweep (files_retention_hours). 0 / -1. */
int files_start(struct app *app);
void files_stop(struct app *app);

#endif
