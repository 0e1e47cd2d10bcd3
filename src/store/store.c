/*
 * store.c - the backend-agnostic store: the writer thread, group commit and
 * delivery of completions to the event loop. Reads forward to the backend.
 *
 * Group commit. store_submit() only appends the op to a queue under a mutex
 * and signals the writer; it never touches the database. The writer thread
 * loops:
 *   1. wait until the queue is not empty;
 *   2. take every queued op (at most max_batch_ops): the group;
 *   3. BEGIN (write lock); for each op: SAVEPOINT, apply, and RELEASE, or
 *      ROLLBACK TO when apply failed, so one bad op fails alone;
 *   4. tell other instances what the group changed (store_backend.h,
 *      notify: PostgreSQL's NOTIFY, delivered at the commit), from the ops
 *      that were applied: one rolled back alone tells nothing;
 *   5. COMMIT: one fsync makes the whole group durable. If it fails, every
 *      op of the group fails;
 *   6. hand the group to the loop: append it to the completion list and
 *      write the eventfd, a persistent libevent event on the loop, whose
 *      callback runs each op's done() in submission order.
 * While a group commits, new ops pile up in the queue and form the next
 * group, so the fsync rate stays constant while the op rate grows with the
 * load: the busier the daemon, the bigger the groups.
 *
 * store_submit_wait() marks its op synchronous (its done pointer is swapped
 * for a private marker while it is in flight): the writer then flags
 * op->sync_done and signals a condition variable instead of queueing a
 * completion, so it works with no loop running.
 *
 * Threads: the writer thread alone uses the backend's writer connection;
 * the loop thread alone uses the reader (reads called on the loop, and
 * done() callbacks); each thread of the reader pool (readers.c) its own
 * reader, which the read functions below pick when called from there.
 * A backend that hears other instances (store_backend.h, listen) reports
 * from a thread of its own into changed_kinds/changed_seq and the same
 * eventfd; the loop hands them to the change hook after the done()s.
 */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "../log/log.h"
#include "../util/util.h"
#include "store_backend.h"
#include "store_int.h"

#define DEFAULT_MAX_BATCH_OPS 512
#define DEFAULT_READERS 2
#define PROBE_MS 2000           /* while storage fails: try a write this often */

struct store {
	const struct store_backend *be;
	void *db;                /* the backend's */
	struct store_db sdb;     /* the domain's view of it */
	int max_batch;
	int nreaders;
	struct readers *readers; /* the reader pool, NULL without a loop */

	struct event *wake;      /* completion eventfd on the loop, or NULL */
	int efd;

	pthread_mutex_t mu;
	pthread_cond_t work;     /* writer: the queue is not empty, or stopping */
	pthread_cond_t synced;   /* store_submit_wait(): some sync op finished */
	struct store_op *qhead, *qtail;  /* submitted, not yet in a group */
	struct store_op *chead, *ctail;  /* committed (or failed), done() not run */
	size_t pending;          /* submitted, done() not run (or sync not finished) */
	bool stopping;
	bool writer_started;
	pthread_t writer;

	void (*commit_hook)(void *arg, int64_t last_seq);
	void *commit_hook_arg;

	/* Other instances' changes (store_set_change_hook): reported by the
	 * backend's listener thread into these (under mu), handed to the loop
	 * through the completion eventfd. */
	store_change_fn change_hook;
	void *change_hook_arg;
	bool listening;
	unsigned changed_kinds;
	int64_t changed_seq;

	/* Health (under mu): the fault of the last failed group, cleared by
	 * the next commit that succeeds. */
	enum store_fault fault;
	int64_t fault_since_ms;
	char fault_why[160];
	/* While storage fails, a probe write every PROBE_MS (loop thread):
	 * recovery is noticed even when no request writes (a load balancer
	 * that follows /readyz sends none). */
	struct event *probe_ev;
	struct store_op probe_op;
	bool probing;
};

const char *
store_fault_name(enum store_fault f)
{
	switch (f) {
	case STORE_FAULT_NONE: return "ok";
	case STORE_FAULT_FULL: return "full";
	case STORE_FAULT_IO: return "io_error";
	case STORE_FAULT_OTHER: break;
	}
	return "unavailable";
}

enum store_fault
store_health(struct store *st, int64_t *since_ms, char *why, size_t cap)
{
	pthread_mutex_lock(&st->mu);
	enum store_fault f = st->fault;
	if (since_ms)
		*since_ms = st->fault_since_ms;
	if (why && cap)
		snprintf(why, cap, "%s", st->fault_why);
	pthread_mutex_unlock(&st->mu);
	return f;
}

/* Writer: note what the backend says about the call that just failed;
 * returns the fault (NONE: the op itself was at fault). */
static enum store_fault
note_fault(struct store *st)
{
	char why[160] = "";
	enum store_fault f = st->be->fault ? st->be->fault(st->db, why, sizeof(why)) : STORE_FAULT_NONE;

	if (f == STORE_FAULT_NONE)
		return f;
	pthread_mutex_lock(&st->mu);
	if (st->fault == STORE_FAULT_NONE) {
		st->fault_since_ms = now_ms();
		log_error("storage failing: writes refused until it recovers", "fault", store_fault_name(f),
		    "error", why);
	}
	st->fault = f;
	snprintf(st->fault_why, sizeof(st->fault_why), "%s", why);
	pthread_mutex_unlock(&st->mu);
	return f;
}

/* Writer: a commit went through; storage works again. */
static void
note_healthy(struct store *st)
{
	pthread_mutex_lock(&st->mu);
	if (st->fault != STORE_FAULT_NONE) {
		log_info("storage recovered: writes accepted again", "fault", store_fault_name(st->fault));
		st->fault = STORE_FAULT_NONE;
		st->fault_why[0] = '\0';
	}
	pthread_mutex_unlock(&st->mu);
}

/* Never called: its address marks an op submitted by store_submit_wait(). */
static void
sync_marker(struct store_op *op, void *arg)
{
	abort();
}

/* Clear the result fields before the op runs. */
static void
op_reset(struct store_op *op)
{
	op->result = 0;
	op->err = STORE_OK;
	op->fault = STORE_FAULT_NONE;
	op->errmsg[0] = '\0';
	op->last_seq = 0;
	if (op->kind == STORE_OP_CANCEL)
		op->u.cancel.message = NULL;
}

/* A failed op appended nothing, and returns nothing it rendered. */
static void
op_fail(struct store_op *op, const char *why)
{
	op->result = -1;
	op->last_seq = 0;
	if (op->err == STORE_OK)
		op->err = STORE_ERROR;
	snprintf(op->errmsg, sizeof(op->errmsg), "%s", why);
	if (op->kind == STORE_OP_CANCEL) {
		json_decref(op->u.cancel.message);
		op->u.cancel.message = NULL;
	}
}

static void
probe_done(struct store_op *op, void *arg)
{
	struct store *st = arg;

	st->probing = false;
}

static void
on_probe(evutil_socket_t fd, short what, void *arg)
{
	struct store *st = arg;

	if (st->probing || st->stopping || store_health(st, NULL, NULL, 0) == STORE_FAULT_NONE)
		return;
	st->probing = true;
	st->probe_op = (struct store_op){ .kind = STORE_OP_PROBE, .done = probe_done, .arg = st };
	store_submit(st, &st->probe_op);
}

/* The group's ops that were applied: what they changed, and the highest
 * seq they appended, for the other instances (step 4). */
static int
notify_group(struct store *st, struct store_op **ops, size_t n)
{
	unsigned kinds = 0;
	int64_t last_seq = 0;

	for (size_t i = 0; i < n; i++) {
		if (ops[i]->result != 0)
			continue;
		kinds |= store_op_changes(ops[i]->kind);
		if (ops[i]->kind == STORE_OP_INGEST && ops[i]->u.ingest->nstates > 0)
			kinds |= STORE_CHANGE_CHANNEL_STATES;  /* depends on what it carries */
		if (ops[i]->last_seq > last_seq)
			last_seq = ops[i]->last_seq;
	}
	if (kinds == 0 && last_seq == 0)
		return 0;
	return st->be->notify(st->db, kinds, last_seq);
}

/* Steps 3 to 5 of the strategy above, for the group ops[0..n). A failure
 * of storage itself (disk full, I/O error) marks every op it failed with
 * that fault, so callers answer 503 and the sender tries again later. */
static void
run_group(struct store *st, struct store_op **ops, size_t n)
{
	const struct store_backend *be = st->be;
	enum store_fault f;

	for (size_t i = 0; i < n; i++)
		op_reset(ops[i]);
	store_db_begin(&st->sdb);
	prefetch_clear(&st->sdb);
	if (be->begin(st->db) != 0) {
		f = note_fault(st);
		for (size_t i = 0; i < n; i++) {
			op_fail(ops[i], "storage: cannot begin a transaction");
			ops[i]->fault = f;
		}
		return;
	}
	if (st->sdb.prefetch)
		prefetch_group(&st->sdb, ops, n);
	for (size_t i = 0; i < n; i++) {
		struct store_op *op = ops[i];

		if (be->savepoint(st->db) != 0)
			goto abort;
		if (store_db_apply(&st->sdb, op) == 0) {
			if (be->release(st->db) == 0)
				continue;
			op_fail(op, "storage: cannot release a savepoint");
			op->fault = note_fault(st);
		} else {
			op->fault = note_fault(st);
			if (op->errmsg[0] == '\0')
				op_fail(op, "storage: operation failed");
		}
		op->result = -1;
		op->last_seq = 0;
		if (op->kind == STORE_OP_CANCEL && op->u.cancel.message) {
			json_decref(op->u.cancel.message);
			op->u.cancel.message = NULL;
		}
		/* Storage failing under one op fails the rest of the group too
		 * (SQLite may already have rolled the transaction back). */
		if (op->fault != STORE_FAULT_NONE)
			goto abort_fault;
		/* A rolled-back channel's id may be handed out again. */
		store_db_forget(&st->sdb);
		if (be->rollback_to(st->db) != 0 || be->release(st->db) != 0)
			goto abort;
	}
	if (be->notify && notify_group(st, ops, n) != 0)
		goto abort;
	if (be->commit(st->db) == 0) {
		note_healthy(st);
		return;
	}
	f = note_fault(st);
	store_db_forget(&st->sdb);
	be->rollback(st->db);
	for (size_t i = 0; i < n; i++)
		if (ops[i]->result == 0) {
			op_fail(ops[i], "storage: commit failed");
			ops[i]->fault = f;
		}
	return;
abort:
	f = note_fault(st);
	goto aborted;
abort_fault:
	pthread_mutex_lock(&st->mu);
	f = st->fault;
	pthread_mutex_unlock(&st->mu);
aborted:
	/* The transaction is gone: nothing of the group is stored. */
	store_db_forget(&st->sdb);
	be->rollback(st->db);
	for (size_t i = 0; i < n; i++)
		if (ops[i]->result == 0) {
			op_fail(ops[i], f != STORE_FAULT_NONE ? "storage: unavailable" : "storage: transaction aborted");
			ops[i]->fault = f;
		}
}

static void
wake_loop(struct store *st)
{
	uint64_t one = 1;

	if (st->wake == NULL)
		return;  /* no loop: store_close() delivers */
	while (write(st->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static void *
writer_main(void *arg)
{
	struct store *st = arg;
	struct store_op **group = xcalloc((size_t)st->max_batch, sizeof(*group));
	sigset_t all;

	/* Signals are the loop thread's business. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);

	pthread_mutex_lock(&st->mu);
	for (;;) {
		while (st->qhead == NULL && !st->stopping)
			pthread_cond_wait(&st->work, &st->mu);
		if (st->qhead == NULL)
			break;  /* stopping, and the queue is drained */

		size_t n = 0;
		while (st->qhead && n < (size_t)st->max_batch) {
			group[n++] = st->qhead;
			st->qhead = st->qhead->next;
		}
		if (st->qhead == NULL)
			st->qtail = NULL;
		pthread_mutex_unlock(&st->mu);

		run_group(st, group, n);
		/* Every failure has a kind: storage's, or the op's own. */
		for (size_t i = 0; i < n; i++) {
			struct store_op *op = group[i];
			if (op->result != 0 && op->fault != STORE_FAULT_NONE)
				op->err = STORE_UNAVAILABLE;
			else if (op->result != 0 && op->err == STORE_OK)
				op->err = STORE_ERROR;
		}

		pthread_mutex_lock(&st->mu);
		bool any_sync = false, any_async = false;
		for (size_t i = 0; i < n; i++) {
			struct store_op *op = group[i];

			op->next = NULL;
			if (op->done == sync_marker) {
				op->sync_done = true;
				st->pending--;
				any_sync = true;
				continue;
			}
			if (st->ctail)
				st->ctail->next = op;
			else
				st->chead = op;
			st->ctail = op;
			any_async = true;
		}
		if (any_sync)
			pthread_cond_broadcast(&st->synced);
		if (any_async) {
			pthread_mutex_unlock(&st->mu);
			wake_loop(st);
			pthread_mutex_lock(&st->mu);
		}
	}
	pthread_mutex_unlock(&st->mu);
	free(group);
	return NULL;
}

/* Run done() for every finished op, oldest first. Ops that done() submits
 * meanwhile wait for the next wake-up. */
static void
deliver(struct store *st)
{
	pthread_mutex_lock(&st->mu);
	struct store_op *op = st->chead;
	st->chead = st->ctail = NULL;
	pthread_mutex_unlock(&st->mu);

	int64_t last_seq = 0;
	while (op) {
		struct store_op *next = op->next;  /* done() may free op */

		op->next = NULL;
		if (op->result == 0 && op->last_seq > last_seq)
			last_seq = op->last_seq;
		if (op->done)
			op->done(op, op->arg);
		pthread_mutex_lock(&st->mu);
		st->pending--;
		pthread_mutex_unlock(&st->mu);
		op = next;
	}
	/* After the done()s: a live subscriber never sees an event before the
	 * request that made it has its answer on the way. */
	if (last_seq && st->commit_hook)
		st->commit_hook(st->commit_hook_arg, last_seq);
}

void
store_set_commit_hook(struct store *st, void (*fn)(void *arg, int64_t last_seq), void *arg)
{
	st->commit_hook = fn;
	st->commit_hook_arg = arg;
}

/* Listener thread: another instance changed something. */
static void
on_changed(void *arg, unsigned kinds, int64_t last_seq)
{
	struct store *st = arg;

	pthread_mutex_lock(&st->mu);
	st->changed_kinds |= kinds;
	if (last_seq > st->changed_seq)
		st->changed_seq = last_seq;
	pthread_mutex_unlock(&st->mu);
	wake_loop(st);
}

/* Loop: hand what other instances changed to the change hook. */
static void
changed(struct store *st)
{
	pthread_mutex_lock(&st->mu);
	unsigned kinds = st->changed_kinds;
	int64_t seq = st->changed_seq;
	st->changed_kinds = 0;
	st->changed_seq = 0;
	pthread_mutex_unlock(&st->mu);
	if ((kinds || seq) && st->change_hook)
		st->change_hook(st->change_hook_arg, kinds, seq);
}

static void
stop_listening(struct store *st)
{
	if (st->listening)
		st->be->unlisten(st->db);
	st->listening = false;
}

int
store_set_change_hook(struct store *st, store_change_fn fn, void *arg)
{
	stop_listening(st);
	st->change_hook = fn;
	st->change_hook_arg = arg;
	if (fn == NULL || st->be->listen == NULL || st->wake == NULL)
		return 0;
	if (st->be->listen(st->db, on_changed, st) != 0)
		return -1;
	st->listening = true;
	return 0;
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;

	/* Drain the counter; the list, not the count, says what finished. */
	while (read(fd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
	deliver(arg);
	changed(arg);
}

const struct store_backend *
store_backend_for(const char *dsn)
{
	if (dsn == NULL || dsn[0] == '\0' || strcmp(dsn, "sqlite:") == 0)
		return &store_sqlite_backend;
	if (strncmp(dsn, "postgres://", 11) == 0 || strncmp(dsn, "postgresql://", 13) == 0)
		return &store_pg_backend;
	return NULL;
}

/* What a log may show of a DSN: its scheme (a DSN may hold a password). */
static const char *
store_dsn_scheme(const char *dsn)
{
	static __thread char scheme[16];
	size_t n = strcspn(dsn, ":");

	snprintf(scheme, sizeof(scheme), "%.*s", (int)(n < sizeof(scheme) - 1 ? n : sizeof(scheme) - 1), dsn);
	return scheme;
}

int
store_open(struct store **out, const struct store_config *cfg, struct event_base *base)
{
	struct store *st = xcalloc(1, sizeof(*st));

	*out = NULL;
	if ((st->be = store_backend_for(cfg->database)) == NULL) {
		log_error("store: unknown database; use sqlite: or postgres://...",
		    "database", store_dsn_scheme(cfg->database));
		free(st);
		return -1;
	}
	st->max_batch = cfg->max_batch_ops > 0 ? cfg->max_batch_ops : DEFAULT_MAX_BATCH_OPS;
	st->nreaders = cfg->readers > 0 ? cfg->readers : DEFAULT_READERS;
	st->efd = -1;
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->work, NULL);
	pthread_cond_init(&st->synced, NULL);

	if (st->be->open(&st->db, cfg, &st->sdb.w, &st->sdb.r) != 0)
		goto fail;
	st->sdb.prefetch = st->be->prefetch;
	if (base) {
		st->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (st->efd < 0) {
			log_error("store: eventfd failed", "error", strerror(errno));
			goto fail;
		}
		st->wake = event_new(base, st->efd, EV_READ | EV_PERSIST, on_wake, st);
		if (st->wake == NULL || event_add(st->wake, NULL) != 0) {
			log_error("store: cannot register the completion event");
			goto fail;
		}
		struct timeval tv = { .tv_sec = PROBE_MS / 1000, .tv_usec = (PROBE_MS % 1000) * 1000 };
		st->probe_ev = event_new(base, -1, EV_PERSIST, on_probe, st);
		if (st->probe_ev == NULL || event_add(st->probe_ev, &tv) != 0) {
			log_error("store: cannot register the health probe");
			goto fail;
		}
		if (readers_start(&st->readers, st, st->be, st->db, st->nreaders, base) != 0)
			goto fail;
	}
	int err = pthread_create(&st->writer, NULL, writer_main, st);
	if (err != 0) {
		log_error("store: cannot start the writer thread", "error", strerror(err));
		goto fail;
	}
	st->writer_started = true;
	*out = st;
	return 0;
fail:
	store_close(st);
	return -1;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	stop_listening(st);
	/* Reads first: their done() may still submit ops (the writer runs). */
	struct readers *r = st->readers;
	st->readers = NULL;
	readers_stop(r);
	pthread_mutex_lock(&st->mu);
	st->stopping = true;
	pthread_cond_signal(&st->work);
	pthread_mutex_unlock(&st->mu);
	if (st->writer_started)
		pthread_join(st->writer, NULL);

	if (st->probe_ev) {
		event_free(st->probe_ev);
		st->probe_ev = NULL;
	}
	if (st->wake) {
		event_free(st->wake);
		st->wake = NULL;
	}
	if (st->efd >= 0)
		close(st->efd);
	/* done() callbacks may submit more; those fail at once (stopping). */
	while (st->chead)
		deliver(st);

	if (st->db)
		st->be->close(st->db);
	store_db_free(&st->sdb);
	pthread_cond_destroy(&st->synced);
	pthread_cond_destroy(&st->work);
	pthread_mutex_destroy(&st->mu);
	free(st);
}

void
store_submit(struct store *st, struct store_op *op)
{
	op->next = NULL;
	op->sync_done = false;
	op_reset(op);
	pthread_mutex_lock(&st->mu);
	st->pending++;
	if (st->stopping) {
		/* Too late for the writer: report the failure through done(). */
		op_fail(op, "storage: store is closing");
		op->err = STORE_UNAVAILABLE;
		if (st->ctail)
			st->ctail->next = op;
		else
			st->chead = op;
		st->ctail = op;
		pthread_mutex_unlock(&st->mu);
		return;
	}
	if (st->qtail)
		st->qtail->next = op;
	else
		st->qhead = op;
	st->qtail = op;
	pthread_cond_signal(&st->work);
	pthread_mutex_unlock(&st->mu);
}

int
store_submit_wait(struct store *st, struct store_op *op)
{
	void (*done)(struct store_op *, void *) = op->done;

	op_reset(op);
	pthread_mutex_lock(&st->mu);
	if (st->stopping) {
		pthread_mutex_unlock(&st->mu);
		op_fail(op, "storage: store is closing");
		op->err = STORE_UNAVAILABLE;
		return -1;
	}
	op->done = sync_marker;
	op->next = NULL;
	op->sync_done = false;
	st->pending++;
	if (st->qtail)
		st->qtail->next = op;
	else
		st->qhead = op;
	st->qtail = op;
	pthread_cond_signal(&st->work);
	while (!op->sync_done)
		pthread_cond_wait(&st->synced, &st->mu);
	pthread_mutex_unlock(&st->mu);
	op->done = done;
	return op->result;
}

size_t
store_pending(struct store *st)
{
	pthread_mutex_lock(&st->mu);
	size_t n = st->pending;
	pthread_mutex_unlock(&st->mu);
	return n + (st->readers ? readers_pending(st->readers) : 0);
}

void
store_read_submit(struct store *st, struct store_read *rd)
{
	if (st->readers && readers_submit(st->readers, rd) == 0)
		return;
	/* No loop (start-up, the CLI) or closing: here and now. */
	rd->run(st, rd->arg);
	rd->done(rd->arg);
}

/* --- reads: on the calling thread, on its connection: a pool thread's own
 * (running a store_read of this store), else the loop's reader --- */

#define RDB(st) (store_tls_owner == (st) && store_tls_db ? store_tls_db : &(st)->sdb)

struct store_db *
store_reader_db(struct store *st)
{
	return RDB(st);
}

int
store_schema_version(struct store *st)
{
	return read_schema_version(RDB(st));
}

int
store_ping(struct store *st)
{
	return read_ping(RDB(st));
}

int
store_channels_load(struct store *st, json_t **out)
{
	return read_channels_load(RDB(st), out);
}

int
store_channels_ever(struct store *st, bool *out)
{
	return read_channels_ever(RDB(st), out);
}

int
store_api_keys_load(struct store *st, json_t **out)
{
	return read_api_keys_load(RDB(st), out);
}

int
store_quota_usage(struct store *st, const char *scope, int64_t now_ms, int64_t n[3])
{
	return read_quota_usage(RDB(st), scope, now_ms, n);
}

int
store_fingerprint_at(struct store *st, int64_t org, const char *fp, int64_t *at_ms)
{
	return read_fingerprint_at(RDB(st), org, fp, at_ms);
}

int
store_audit_read(struct store *st, int64_t org, int64_t since, int limit, struct store_event **out,
    size_t *n)
{
	return read_audit(RDB(st), org, since, limit, out, n);
}

int
store_live_instances(struct store *st, int64_t now_ms, int64_t *out)
{
	return read_live_instances(RDB(st), now_ms, out);
}

int
store_signing_keys_load(struct store *st, json_t **out)
{
	return read_signing_keys_load(RDB(st), out);
}

int
store_orgs_load(struct store *st, json_t **out)
{
	return read_orgs_load(RDB(st), out);
}

int
store_conversations_list(struct store *st, const struct conv_query *q, json_t **out)
{
	return read_conversations_list(RDB(st), q, out);
}

int
store_conversation_get(struct store *st, int64_t org, int64_t id, json_t **out)
{
	return read_conversation_get(RDB(st), org, id, out);
}

int
store_messages_list(struct store *st, const struct msg_query *q, json_t **out)
{
	return read_messages_list(RDB(st), q, out);
}

int
store_message_get(struct store *st, int64_t org, int64_t id, json_t **out)
{
	return read_message_get(RDB(st), org, id, out);
}

int
store_messages_by_provider_id(struct store *st, int64_t org, const char *provider_id, json_t **out)
{
	return read_messages_by_provider_id(RDB(st), org, provider_id, out);
}

int
store_messages_retrying(struct store *st, int64_t org, int limit, json_t **out)
{
	return read_messages_retrying(RDB(st), org, limit, out);
}

int
store_events_read(struct store *st, int64_t org, int64_t since, int limit, struct store_event **out, size_t *n)
{
	return read_events(RDB(st), org, since, limit, out, n);
}

void
store_event_clear(struct store_event *e)
{
	free(e->json);
	free(e->channel);
	free(e->type);
	*e = (struct store_event){ 0 };
}

void
store_events_free(struct store_event *ev, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_event_clear(&ev[i]);
	free(ev);
}

int
store_events_list(struct store *st, int64_t org, int64_t since, int limit, json_t **out)
{
	struct store_event *ev;
	size_t n;
	json_t *list;
	int64_t last = since;

	*out = NULL;
	if (store_events_read(st, org_of(org), since, limit, &ev, &n) != 0)
		return -1;
	list = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *e = NULL;
		char err[128];
		if (json_parse_capped(ev[i].json, ev[i].len, 128, &e, err, sizeof(err)) != 0) {
			json_decref(list);
			store_events_free(ev, n);
			return -1;
		}
		json_array_append_new(list, e);
		last = ev[i].seq;
	}
	store_events_free(ev, n);
	*out = json_pack("{s:o, s:I}", "events", list, "next", (json_int_t)last);
	return 0;
}

int
store_outbox_due(struct store *st, int64_t channel_id, int64_t now_ms, int limit, json_t **out)
{
	return read_outbox_due(RDB(st), channel_id, now_ms, limit, out);
}

int
store_events_head(struct store *st, int64_t *out)
{
	return read_events_head(RDB(st), out);
}

int
store_message_by_client_id(struct store *st, int64_t org, const char *client_id, json_t **out)
{
	return read_message_by_client_id(RDB(st), org, client_id, out);
}

int
store_outbox_next_due(struct store *st, int64_t channel_id, int64_t *out_ms)
{
	return read_outbox_next_due(RDB(st), channel_id, out_ms);
}

int
store_outbox_depth(struct store *st, int64_t channel_id, int64_t *out)
{
	return read_outbox_depth(RDB(st), channel_id, out);
}

int
store_last_inbound(struct store *st, int64_t channel_id, const char *address, int64_t *out_ms,
    enum contact_status *status, int64_t *opted_out_at)
{
	return read_last_inbound(RDB(st), channel_id, address, out_ms, status, opted_out_at);
}

int
store_message_provider_id(struct store *st, int64_t org, int64_t id, int64_t *channel_id, char *out,
    size_t outlen)
{
	return read_message_provider_id(RDB(st), org, id, channel_id, out, outlen);
}

int
store_templates_list(struct store *st, int64_t org, json_t **out)
{
	return read_templates_list(RDB(st), org, out);
}

int
store_template_get(struct store *st, int64_t org, const char *name, const char *language, json_t **out)
{
	return read_template_get(RDB(st), org, name, language, out);
}

int
store_user_get(struct store *st, const char *name, json_t **out)
{
	return read_user_get(RDB(st), name, out);
}

int
store_sessions_load(struct store *st, int64_t now_s, json_t **out)
{
	return read_sessions_load(RDB(st), now_s, out);
}

int
store_users_list(struct store *st, int64_t org, json_t **out)
{
	return read_users_list(RDB(st), org, out);
}

int
store_members_load(struct store *st, json_t **out)
{
	return read_members_load(RDB(st), out);
}

int
store_subscriptions_load(struct store *st, json_t **out)
{
	return read_subscriptions_load(RDB(st), out);
}
