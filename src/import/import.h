/*
 * import.h - the import worker: one thread that reads an import's file
 * (csv.h, xlsx.h), validates each row (validate.h) and stages the rows
 * through store ops, off the event loop. One import at a time; the others
 * wait in a queue.
 *
 * An import's life (store.h, IMPORT_STEP_*): the API creates it `parsing`
 * and submits a job; the worker RESETs it (staged rows of an earlier,
 * interrupted run deleted: a restart is idempotent), reads the file
 * streaming and submits the rows in chunks (IMPORT_CHUNK_ROWS rows, or
 * IMPORT_CHUNK_BYTES of JSON, per op; at most IMPORT_CHUNKS_IN_FLIGHT
 * committing while it reads on), then FINISHes it `validated`, or
 * `failed` with the file-level error (a table error of the readers, a
 * mapping naming a column the file lacks): that op deletes whatever was
 * staged. An import still `parsing` when msgd stops (or crashes) is
 * started again from the beginning at the next start (import_restart()).
 *
 * Threads: importer_submit(), importer_cancel() and importer_stop() are
 * called on the loop; the worker only submits store ops (store_submit()
 * is thread-safe) and never reads the store: everything a job needs is
 * resolved on the loop before it is queued.
 */
#ifndef MSGD_IMPORT_H
#define MSGD_IMPORT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "import/validate.h"

#define IMPORT_CHUNK_ROWS       5000
#define IMPORT_CHUNK_BYTES      (4u << 20)
#define IMPORT_CHUNKS_IN_FLIGHT 2
#define IMPORT_PREVIEW_ROWS     10
#define IMPORT_PATH_MAX         4096
#define IMPORT_QUEUE_MAX        1000     /* jobs waiting; the API refuses more (503 busy) */

struct store;
struct importer;

enum import_format { IMPORT_CSV, IMPORT_XLSX };
const char *import_format_name(enum import_format f);

struct import_job {
	int64_t id, org_id;
	enum import_format format;
	char path[IMPORT_PATH_MAX];     /* the file's content (files_content_path()) */
	struct import_spec spec;
	import_normalize_fn normalize;  /* the channel type's address rules */
	int64_t rows_max;               /* data rows allowed (import_rows_max; <= 0: no cap);
	                                   one more fails the import with too_many_rows */
	/* Private to the worker. */
	atomic_bool cancel;
	struct import_job *next;
};

/* Start the worker thread. owner: this instance's id (kept on the imports it parses). */
int importer_start(struct importer **out, struct store *st, const char *owner);
/* Queue job (taken: freed by the worker). -1 when the queue is full or
 * stopping (job not taken). */
int importer_submit(struct importer *im, struct import_job *job);
/* Whether another job may be queued now (not stopping, the queue not full). */
bool importer_accepting(struct importer *im);
/* Import id is being deleted: its job stops (queued: dropped). */
void importer_cancel(struct importer *im, int64_t id);
/* Stop the worker (the import it was reading stays parsing: started again
 * at the next start) and join it. Before store_close(). */
void importer_stop(struct importer *im);
/* After store_close() (the last chunks' done() ran). */
void importer_free(struct importer *im);

#endif
