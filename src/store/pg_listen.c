/*
 * pg_listen.c - the other instances' changes and events, heard on a
 * PostgreSQL connection and a thread of their own (pg_listen.h).
 *
 * Every writing transaction of any msgd on the database NOTIFYs what it
 * changed (pg.c, pgb_notify): PG_CHANGES_CHANNEL with a kind of rows,
 * PG_EVENTS_CHANNEL with the highest seq it appended. PostgreSQL delivers
 * them at the commit. The thread:
 *   1. connects (PQconnectStart/PQconnectPoll, so a stop is heard while
 *      it waits), LISTENs on both channels, reads the head of the log and
 *      reports everything changed (STORE_CHANGE_ALL, the head): whatever
 *      was committed while nobody listened is taken then;
 *   2. waits for its socket or the stop eventfd, at most a second; reads
 *      the notifications, leaves out those of this msgd's own writer (its
 *      done() callbacks and commit hook tell the loop, after the requests'
 *      answers) and reports the rest, merged;
 *   3. when a second passed without a notification, reads the head of the
 *      log (one index lookup): a lost notification delays an event by a
 *      second at most;
 *   4. a lost connection is reported once, dropped and tried again at most
 *      once a second (step 1 again, which reports everything changed).
 * It blocks only itself: the loop hears of it through store.c's eventfd.
 */
#include "pg_int.h"
#include "pg_listen.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "../log/log.h"
#include "../util/util.h"

#define CHECK_EVERY_MS 1000       /* the head is read after this long without news */
#define RECONNECT_EVERY_MS 1000   /* a connection attempt at most this often */
#define CONNECT_TIMEOUT_MS 5000   /* one attempt */
#define HEAD_SQL "SELECT COALESCE(max(seq), 0) FROM events"

struct pg_listener {
	char *dsn;
	const _Atomic int *writer_pid;
	store_change_fn fn;
	void *arg;
	int stopfd;                   /* eventfd: written by pg_listen_stop() */
	pthread_t th;
	PGconn *h;
	int64_t head;                 /* the highest seq heard of (own events too) */
	bool failing;                 /* the last attempt failed: log only the first */
	bool heard;                   /* connected once */
};

static bool
stop_asked(struct pg_listener *l)
{
	struct pollfd p = { .fd = l->stopfd, .events = POLLIN };

	return poll(&p, 1, 0) > 0;
}

/* Wait for fd (events) or the stop, up to ms: 1 ready, 0 timeout, -1 stop. */
static int
wait_fd(struct pg_listener *l, int fd, short events, int64_t ms)
{
	struct pollfd p[2] = { { .fd = l->stopfd, .events = POLLIN }, { .fd = fd, .events = events } };
	int n = poll(p, fd >= 0 ? 2 : 1, ms < 0 ? 0 : (int)ms);

	if (n < 0 && errno == EINTR)
		return 0;
	if (p[0].revents)
		return -1;
	return n > 0 ? 1 : 0;
}

static void
drop(struct pg_listener *l, const char *why)
{
	if (!l->failing)
		log_warn("store: lost the connection that hears other instances; reconnecting",
		    "error", why);
	l->failing = true;
	if (l->h)
		PQfinish(l->h);
	l->h = NULL;
}

static int
query_head(struct pg_listener *l, int64_t *out)
{
	PGresult *res = PQexec(l->h, HEAD_SQL);
	int rc = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
		*out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		rc = 0;
	}
	PQclear(res);
	return rc;
}

/* Step 1: 0 connected and listening, -1 not (the reason logged once), -2 stop. */
static int
connect_listen(struct pg_listener *l)
{
	/* Named, so an operator can tell it in pg_stat_activity. */
	static const char *const keys[] = { PG_TCP_KEYS, "dbname", "application_name", NULL };
	const char *vals[] = { PG_TCP_VALS, l->dsn, PG_LISTEN_APP_NAME, NULL };
	int64_t deadline = mono_ms() + CONNECT_TIMEOUT_MS;
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	l->h = PQconnectStartParams(keys, vals, 1);
	if (l->h == NULL || PQstatus(l->h) == CONNECTION_BAD) {
		drop(l, l->h ? PQerrorMessage(l->h) : "out of memory");
		return -1;
	}
	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED) {
			drop(l, PQerrorMessage(l->h));
			return -1;
		}
		int r = wait_fd(l, PQsocket(l->h), st == PGRES_POLLING_READING ? POLLIN : POLLOUT,
		    deadline - mono_ms());
		if (r < 0)
			return -2;
		if (r == 0 && mono_ms() >= deadline) {
			drop(l, "connection timed out");
			return -1;
		}
		st = PQconnectPoll(l->h);
	}
	int64_t head = 0;
	PGresult *res = PQexec(l->h, "LISTEN " PG_CHANGES_CHANNEL "; LISTEN " PG_EVENTS_CHANNEL);
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	if (!ok || query_head(l, &head) != 0) {
		drop(l, PQerrorMessage(l->h));
		return -1;
	}
	if (l->failing)
		log_info("store: hearing other instances again");
	else if (!l->heard)
		log_info("store: listening for other instances' changes and events");
	l->heard = true;
	l->failing = false;
	if (head > l->head)
		l->head = head;
	/* A change may have been missed while nobody listened. */
	l->fn(l->arg, STORE_CHANGE_ALL, head);
	return 0;
}

/* Step 2: the notifications read so far, merged into *kinds and *seq. */
static void
take_notifies(struct pg_listener *l, unsigned *kinds, int64_t *seq)
{
	PGnotify *n;
	int own = atomic_load(l->writer_pid);

	while ((n = PQnotifies(l->h)) != NULL) {
		if (strcmp(n->relname, PG_EVENTS_CHANNEL) == 0) {
			int64_t s = strtoll(n->extra, NULL, 10);
			if (s > l->head)
				l->head = s;
			if (n->be_pid != own && s > *seq)
				*seq = s;
		} else if (n->be_pid != own) {
			unsigned k = store_change_from_name(n->extra);
			*kinds |= k ? k : STORE_CHANGE_ALL;  /* a newer msgd's kind: reload all */
		}
		PQfreemem(n);
	}
}

static void *
listener_main(void *arg)
{
	struct pg_listener *l = arg;
	int64_t last_try = 0, last_news = 0;
	sigset_t all;

	/* Signals are the loop thread's business. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	while (!stop_asked(l)) {
		if (l->h == NULL) {
			int64_t wait = last_try + RECONNECT_EVERY_MS - mono_ms();
			if (last_try && wait > 0 && wait_fd(l, -1, 0, wait) < 0)
				break;
			last_try = mono_ms();
			int r = connect_listen(l);
			if (r == -2)
				break;
			last_news = mono_ms();
			continue;
		}
		int r = wait_fd(l, PQsocket(l->h), POLLIN, last_news + CHECK_EVERY_MS - mono_ms());
		if (r < 0)
			break;
		unsigned kinds = 0;
		int64_t seq = 0;
		if (r > 0 && PQconsumeInput(l->h) == 0) {
			drop(l, PQerrorMessage(l->h));
			continue;
		}
		take_notifies(l, &kinds, &seq);
		if (kinds || seq) {
			last_news = mono_ms();
		} else if (mono_ms() >= last_news + CHECK_EVERY_MS) {
			/* The safety net (step 3). Notifications that arrived with the
			 * answer count first: our own writer's events are not news. */
			int64_t head = 0;
			if (query_head(l, &head) != 0) {
				drop(l, PQerrorMessage(l->h));
				continue;
			}
			take_notifies(l, &kinds, &seq);
			if (head > l->head) {
				l->head = head;
				if (head > seq)
					seq = head;
			}
			last_news = mono_ms();
		}
		if (kinds || seq)
			l->fn(l->arg, kinds, seq);
	}
	if (l->h)
		PQfinish(l->h);
	l->h = NULL;
	return NULL;
}

int
pg_listen_start(struct pg_listener **out, const char *dsn, const _Atomic int *writer_pid,
    store_change_fn fn, void *arg)
{
	struct pg_listener *l = xcalloc(1, sizeof(*l));
	int err;

	*out = NULL;
	l->dsn = xstrdup(dsn);
	l->writer_pid = writer_pid;
	l->fn = fn;
	l->arg = arg;
	l->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->stopfd < 0) {
		log_error("store: eventfd failed", "error", strerror(errno));
		goto fail;
	}
	if ((err = pthread_create(&l->th, NULL, listener_main, l)) != 0) {
		log_error("store: cannot start the listener thread", "error", strerror(err));
		goto fail;
	}
	*out = l;
	return 0;
fail:
	if (l->stopfd >= 0)
		close(l->stopfd);
	free(l->dsn);
	free(l);
	return -1;
}

void
pg_listen_stop(struct pg_listener *l)
{
	uint64_t one = 1;

	if (l == NULL)
		return;
	while (write(l->stopfd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	pthread_join(l->th, NULL);
	close(l->stopfd);
	free(l->dsn);
	free(l);
}
