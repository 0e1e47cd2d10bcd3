/*
 * readers.c - the reader pool: reads off the event loop.
 *
 * N threads (store_config.readers), each with its own reader connection
 * (the backend's open_reader()), opened by the thread itself on its first
 * job, so a slow connect (PostgreSQL away) never holds the loop. A job is a
 * struct store_read: run() on a pool thread, with the thread's connection
 * as the one every read function of store.h uses there (store_tls_db), then
 * done() on the loop, through an eventfd, like the writer's completions.
 * Jobs run in submission order per thread; their done() come back in the
 * order they finish.
 *
 * A read started after an op's done() ran sees that op: the writer
 * commits before it hands an op back, and every read of a pool connection
 * is its own snapshot (autocommit).
 *
 * Stopping (store_close): the threads run what is queued and exit; done()
 * of every job is delivered on the calling thread (the loop has stopped by
 * then or is the caller). A job submitted once stopping began runs inline.
 *
 * A connection that cannot be opened (SQLite: the file unusable; the
 * backend logged why) is tried again at the next job, at most once every
 * REOPEN_EVERY_MS; meanwhile the job's reads fail on a connection that
 * answers every statement with an error (dead_db below), never on the
 * loop's reader.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "../log/log.h"
#include "../util/util.h"
#include "store_backend.h"
#include "store_int.h"

#define READERS_MAX 64          /* threads at most, whatever the configuration says */
#define REOPEN_EVERY_MS 1000    /* a connection that failed to open: tried again this often */

_Thread_local struct store_db *store_tls_db;
_Thread_local const struct store *store_tls_owner;

struct readers {
	struct store *st;
	const struct store_backend *be;
	void *bedb;
	int n;
	pthread_t *threads;
	int started;

	pthread_mutex_t mu;
	pthread_cond_t work;
	struct store_read *qhead, *qtail;  /* submitted, not yet running */
	struct store_read *chead, *ctail;  /* run, done() not yet */
	size_t pending;                    /* submitted, done() not run */
	bool stopping;

	int efd;
	struct event *wake;
};

/* --- a connection that fails every statement --- */

static struct db_stmt *dead_stmt(struct db *c, enum sql id);

static int dead_step(struct db_stmt *s) { return -1; }
static void dead_finish(struct db_stmt *s) { }
static void dead_bind_i64(struct db_stmt *s, int i, int64_t v) { }
static void dead_bind_text(struct db_stmt *s, int i, const char *v) { }
static void dead_bind_null(struct db_stmt *s, int i) { }
static int64_t dead_col_i64(struct db_stmt *s, int i) { return 0; }
static const char *dead_col_text(struct db_stmt *s, int i) { return NULL; }
static size_t dead_col_bytes(struct db_stmt *s, int i) { return 0; }
static bool dead_col_null(struct db_stmt *s, int i) { return true; }
static int dead_insert_id(struct db_stmt *s, int64_t *id) { return -1; }
static int64_t dead_changes(struct db *c) { return 0; }
static enum db_err dead_last_err(struct db *c) { return DB_ERROR; }
static const char *dead_errmsg(struct db *c) { return "no database connection"; }

static const struct db_ops dead_ops = {
	.stmt = dead_stmt,
	.bind_i64 = dead_bind_i64,
	.bind_text = dead_bind_text,
	.bind_null = dead_bind_null,
	.step = dead_step,
	.finish = dead_finish,
	.col_i64 = dead_col_i64,
	.col_text = dead_col_text,
	.col_bytes = dead_col_bytes,
	.col_null = dead_col_null,
	.insert_id = dead_insert_id,
	.changes = dead_changes,
	.last_err = dead_last_err,
	.errmsg = dead_errmsg,
};

static struct db dead_db = { .ops = &dead_ops };
static struct db_stmt dead_db_stmt = { .db = &dead_db };

static struct db_stmt *
dead_stmt(struct db *c, enum sql id)
{
	return &dead_db_stmt;
}

/* --- the threads --- */

static void
wake_loop(struct readers *r)
{
	uint64_t one = 1;

	while (write(r->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/* The thread's connection, opened (again) when it has none. */
static struct db *
thread_conn(struct readers *r, struct db *c, int64_t *tried_ms)
{
	if (c)
		return c;
	if (*tried_ms && mono_ms() - *tried_ms < REOPEN_EVERY_MS)
		return NULL;
	*tried_ms = mono_ms();
	if (r->be->open_reader(r->bedb, &c) != 0)
		return NULL;
	return c;
}

static void *
reader_main(void *arg)
{
	struct readers *r = arg;
	struct store_db mine = { 0 };
	struct db *conn = NULL;
	int64_t tried_ms = 0;
	sigset_t all;

	/* Signals are the loop thread's business. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);

	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (r->qhead == NULL && !r->stopping)
			pthread_cond_wait(&r->work, &r->mu);
		struct store_read *rd = r->qhead;
		if (rd == NULL)
			break;  /* stopping, and the queue is drained */
		r->qhead = rd->next;
		if (r->qhead == NULL)
			r->qtail = NULL;
		pthread_mutex_unlock(&r->mu);

		conn = thread_conn(r, conn, &tried_ms);
		mine.r = conn ? conn : &dead_db;
		store_tls_db = &mine;
		store_tls_owner = r->st;
		rd->run(r->st, rd->arg);
		store_tls_db = NULL;
		store_tls_owner = NULL;

		pthread_mutex_lock(&r->mu);
		rd->next = NULL;
		if (r->ctail)
			r->ctail->next = rd;
		else
			r->chead = rd;
		r->ctail = rd;
		pthread_mutex_unlock(&r->mu);
		wake_loop(r);
		pthread_mutex_lock(&r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	if (conn)
		r->be->close_reader(conn);
	return NULL;
}

/* done() of every finished job, on the calling thread. */
static void
deliver(struct readers *r)
{
	pthread_mutex_lock(&r->mu);
	struct store_read *rd = r->chead;
	r->chead = r->ctail = NULL;
	pthread_mutex_unlock(&r->mu);

	while (rd) {
		struct store_read *next = rd->next;  /* done() may free rd */

		rd->next = NULL;
		rd->done(rd->arg);
		pthread_mutex_lock(&r->mu);
		r->pending--;
		pthread_mutex_unlock(&r->mu);
		rd = next;
	}
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;

	while (read(fd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
	deliver(arg);
}

int
readers_start(struct readers **out, struct store *st, const struct store_backend *be, void *bedb,
    int n, struct event_base *base)
{
	struct readers *r = xcalloc(1, sizeof(*r));

	*out = NULL;
	r->st = st;
	r->be = be;
	r->bedb = bedb;
	r->n = n < 1 ? 1 : n > READERS_MAX ? READERS_MAX : n;
	r->threads = xcalloc((size_t)r->n, sizeof(*r->threads));
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->work, NULL);
	r->efd = -1;
	r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->efd < 0) {
		log_error("store: eventfd failed", "error", strerror(errno));
		goto fail;
	}
	r->wake = event_new(base, r->efd, EV_READ | EV_PERSIST, on_wake, r);
	if (r->wake == NULL || event_add(r->wake, NULL) != 0) {
		log_error("store: cannot register the readers' completion event");
		goto fail;
	}
	for (; r->started < r->n; r->started++) {
		int err = pthread_create(&r->threads[r->started], NULL, reader_main, r);
		if (err != 0) {
			log_error("store: cannot start a reader thread", "error", strerror(err));
			goto fail;
		}
	}
	*out = r;
	return 0;
fail:
	readers_stop(r);
	return -1;
}

int
readers_submit(struct readers *r, struct store_read *rd)
{
	rd->next = NULL;
	pthread_mutex_lock(&r->mu);
	if (r->stopping) {
		pthread_mutex_unlock(&r->mu);
		return -1;
	}
	r->pending++;
	if (r->qtail)
		r->qtail->next = rd;
	else
		r->qhead = rd;
	r->qtail = rd;
	pthread_cond_signal(&r->work);
	pthread_mutex_unlock(&r->mu);
	return 0;
}

size_t
readers_pending(struct readers *r)
{
	pthread_mutex_lock(&r->mu);
	size_t n = r->pending;
	pthread_mutex_unlock(&r->mu);
	return n;
}

void
readers_stop(struct readers *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	r->stopping = true;
	pthread_cond_broadcast(&r->work);
	pthread_mutex_unlock(&r->mu);
	for (int i = 0; i < r->started; i++)
		pthread_join(r->threads[i], NULL);
	/* done() callbacks may submit more reads: those run inline now. */
	while (r->chead)
		deliver(r);
	if (r->wake)
		event_free(r->wake);
	if (r->efd >= 0)
		close(r->efd);
	pthread_cond_destroy(&r->work);
	pthread_mutex_destroy(&r->mu);
	free(r->threads);
	free(r);
}
