/*
 * pg.c - the PostgreSQL backend (libpq), chosen by a postgres:// DSN, and
 * the db.h primitives on it. Like sqlite.c it knows nothing of messages:
 * the domain code runs the statements of sql.h, whose PostgreSQL text is
 * in pg_sql.c.
 *
 * Two connections, as on SQLite: the writer (the writer thread; group
 * commit: one transaction per group, a savepoint per op, and COMMIT returns
 * once the commit is durable: synchronous_commit is set on for the
 * session, whatever the server's default) and the reader (the event loop),
 * plus one reader per thread of the reader pool (open_reader(), readers.c).
 *
 * The event cursor with several writers (several msgd on one database):
 * each writing transaction takes one advisory lock first and holds it to
 * its COMMIT, so transactions that append events commit one after another
 * in the order of their seqs. A reader that saw seq N has seen every seq
 * below N that will ever exist. Group commit keeps that cheap: one lock per
 * group, not per request.
 * Every statement is prepared once per connection (PQprepare) and run with
 * parameters as text; a result is read row by row from the PGresult. The
 * writer runs each transaction in libpq's pipeline mode (pg_pipe.c): what
 * the domain code does not wait for (savepoints, db_defer()) travels with
 * the next statement that waits, so an ingest costs a few round trips, not
 * one per statement; and the domain code reads a group's lookups in two
 * queries before its ops run (prefetch.c, asked for by .prefetch).
 *
 * The connection lost (PostgreSQL restarted, the network cut): the failing
 * statement is a storage fault (store.c answers 503 and probes every 2 s);
 * the next begin() on the writer, and the next read on the reader, resets
 * the connection and prepares its statements again.
 *
 * Several instances: a transaction tells the others what it changed with
 * NOTIFY (pgb_notify), and pg_listen.c hears them on a connection of its
 * own.
 *
 * Migrations (pg_migrate.c): the same files as SQLite's
 * (src/store/migrations/), in a portable subset translated: INTEGER
 * columns become BIGINT, an
 * `id INTEGER PRIMARY KEY` (and any `INTEGER PRIMARY KEY AUTOINCREMENT`)
 * an identity column, and lines between `-- sqlite only` and
 * `-- end sqlite only` are left out (data fixes that only an old SQLite
 * database needs), while a line starting `--pg: ` (a comment to SQLite) is
 * PostgreSQL's alone: the rest of the line is kept. They run under an
 * advisory lock, so instances that start together migrate once.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "../log/log.h"
#include "../util/util.h"
#include "db.h"
#include "pg_listen.h"
#include "pg_int.h"
#include "store_backend.h"

static const struct db_ops pg_ops;
static int conn_revive(struct pconn *c);

/* --- the db.h primitives --- */

static struct pconn *
pconn_of(struct db *d)
{
	return (struct pconn *)d;
}

static struct pg_stmt *
pstmt_of(struct db_stmt *s)
{
	return (struct pg_stmt *)s;
}

static struct db_stmt *
pg_stmt(struct db *d, enum sql id)
{
	return &pconn_of(d)->stmt[id].base;
}

static void
set_param(struct pg_stmt *p, int i, const char *v)
{
	if (i >= 1 && i <= PG_PARAMS_MAX)
		p->vals[i - 1] = v;
}

static void
pg_bind_i64(struct db_stmt *s, int i, int64_t v)
{
	struct pg_stmt *p = pstmt_of(s);

	if (i < 1 || i > PG_PARAMS_MAX)
		return;
	snprintf(p->nums[i - 1], PG_NUM_MAX, "%" PRId64, v);
	p->vals[i - 1] = p->nums[i - 1];
}

static void
pg_bind_text(struct db_stmt *s, int i, const char *v)
{
	set_param(pstmt_of(s), i, v);  /* NULL binds NULL */
}

static void
pg_bind_null(struct db_stmt *s, int i)
{
	set_param(pstmt_of(s), i, NULL);
}

static void
pg_finish(struct db_stmt *s)
{
	struct pg_stmt *p = pstmt_of(s);

	PQclear(p->res);
	p->res = NULL;
	p->row = p->nrows = 0;
	memset(p->vals, 0, sizeof(p->vals));
}

static int
pg_step(struct db_stmt *s)
{
	struct pg_stmt *p = pstmt_of(s);
	struct pconn *c = pconn_of(s->db);

	if (p->res == NULL) {
		/* The reader comes back by itself; the writer at its next begin(). */
		if (c->lost && c->autorevive && conn_revive(c) != 0) {
			pg_finish(s);
			return -1;
		}
		if (!p->prepared || c->lost) {
			snprintf(c->last_err, sizeof(c->last_err), "%s",
			    c->lost ? "connection lost" : "statement not prepared on this connection");
			snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", c->lost ? "08000" : "XX000");
			c->err = DB_ERROR;
			pg_finish(s);
			return -1;
		}
		char name[16];
		snprintf(name, sizeof(name), "s%d", (int)p->id);
		PGresult *res;
		if (c->piped) {
			/* Behind whatever was deferred: one round trip for all. */
			if (pipe_send(c, name, pg_sql[p->id], p->nparams, p->vals) != 0 ||
			    pipe_wait(c, &res) != 0) {
				pg_finish(s);
				return -1;
			}
		} else {
			res = PQexecPrepared(c->h, name, p->nparams, p->vals, NULL, NULL, 0);
		}
		ExecStatusType st = PQresultStatus(res);
		if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && c->autorevive &&
		    PQstatus(c->h) != CONNECTION_OK) {
			/* The reader found its connection gone (a server restart):
			 * a read can be asked again on a new one, once. */
			PQclear(res);
			c->lost = true;
			if (conn_revive(c) != 0) {
				pg_finish(s);
				return -1;
			}
			res = PQexecPrepared(c->h, name, p->nparams, p->vals, NULL, NULL, 0);
			st = PQresultStatus(res);
		}
		if (st == PGRES_COMMAND_OK) {
			c->changes = strtoll(PQcmdTuples(res), NULL, 10);
			c->err = DB_OK;
			PQclear(res);
			pg_finish(s);
			return 0;
		}
		if (st != PGRES_TUPLES_OK) {
			note_failure(c, res, pg_sql[p->id]);
			PQclear(res);
			pg_finish(s);
			return -1;
		}
		/* INSERT/UPDATE ... RETURNING: the rows it changed. */
		c->changes = strtoll(PQcmdTuples(res), NULL, 10);
		c->err = DB_OK;
		p->res = res;
		p->nrows = PQntuples(res);
		p->row = -1;
	}
	if (++p->row < p->nrows)
		return 1;
	pg_finish(s);
	return 0;
}

/* db_defer(): in the writer's pipeline, sent and not waited for. */
static int
pg_defer(struct db_stmt *s)
{
	struct pg_stmt *p = pstmt_of(s);
	struct pconn *c = pconn_of(s->db);

	if (!c->piped || !p->prepared) {
		int n = pg_step(s);
		if (n == 1)
			pg_finish(s);
		return n < 0 ? -1 : 0;
	}
	char name[16];
	snprintf(name, sizeof(name), "s%d", (int)p->id);
	int rc = pipe_send(c, name, pg_sql[p->id], p->nparams, p->vals);
	pg_finish(s);  /* libpq copied the parameters */
	return rc;
}

static int64_t
pg_col_i64(struct db_stmt *s, int i)
{
	struct pg_stmt *p = pstmt_of(s);

	if (PQgetisnull(p->res, p->row, i))
		return 0;
	const char *v = PQgetvalue(p->res, p->row, i);
	if (v[0] == 't' && v[1] == '\0')
		return 1;  /* a boolean */
	return strtoll(v, NULL, 10);
}

static const char *
pg_col_text(struct db_stmt *s, int i)
{
	struct pg_stmt *p = pstmt_of(s);

	return PQgetisnull(p->res, p->row, i) ? NULL : PQgetvalue(p->res, p->row, i);
}

static size_t
pg_col_bytes(struct db_stmt *s, int i)
{
	struct pg_stmt *p = pstmt_of(s);

	return (size_t)PQgetlength(p->res, p->row, i);
}

static bool
pg_col_null(struct db_stmt *s, int i)
{
	struct pg_stmt *p = pstmt_of(s);

	return PQgetisnull(p->res, p->row, i) != 0;
}

/* INSERT ... RETURNING id (pg_sql.c): its one row. */
static int
pg_insert_id(struct db_stmt *s, int64_t *id)
{
	if (pg_step(s) != 1)
		return -1;
	*id = pg_col_i64(s, 0);
	pg_finish(s);
	return 0;
}

static int64_t
pg_changes(struct db *d)
{
	return pconn_of(d)->changes;
}

static enum db_err
pg_last_err(struct db *d)
{
	return pconn_of(d)->err;
}

static const char *
pg_errmsg(struct db *d)
{
	return pconn_of(d)->last_err;
}

static const struct db_ops pg_ops = {
	.stmt = pg_stmt,
	.bind_i64 = pg_bind_i64,
	.bind_text = pg_bind_text,
	.bind_null = pg_bind_null,
	.step = pg_step,
	.defer = pg_defer,
	.finish = pg_finish,
	.col_i64 = pg_col_i64,
	.col_text = pg_col_text,
	.col_bytes = pg_col_bytes,
	.col_null = pg_col_null,
	.insert_id = pg_insert_id,
	.changes = pg_changes,
	.last_err = pg_last_err,
	.errmsg = pg_errmsg,
};

/* --- connections --- */

/* The highest $N of a statement: how many parameters it takes. */
static int
count_params(const char *sql)
{
	int n = 0;

	for (const char *p = sql; *p; p++) {
		if (*p != '$' || !isdigit((unsigned char)p[1]))
			continue;
		int v = (int)strtol(p + 1, NULL, 10);
		if (v > n)
			n = v;
	}
	return n;
}

static bool
is_transaction_control(enum sql id)
{
	return id == W_BEGIN || id == W_COMMIT || id == W_ROLLBACK || id == W_SAVEPOINT ||
	    id == W_RELEASE || id == W_ROLLBACK_TO;
}

static int
conn_prepare(struct pconn *c)
{
	for (int i = c->from; i < (int)c->to; i++) {
		struct pg_stmt *p = &c->stmt[i];
		char name[16];

		p->base.db = &c->base;
		p->id = (enum sql)i;
		p->prepared = false;
		if (is_transaction_control(p->id))
			continue;
		p->nparams = count_params(pg_sql[i]);
		if (p->nparams > PG_PARAMS_MAX) {
			log_error("store: statement takes too many parameters", "sql", pg_sql[i]);
			return -1;
		}
		snprintf(name, sizeof(name), "s%d", i);
		PGresult *res = PQprepare(c->h, name, pg_sql[i], 0, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			note_failure(c, res, pg_sql[i]);
			PQclear(res);
			return -1;
		}
		PQclear(res);
		p->prepared = true;
	}
	return 0;
}

static void
conn_finish_all(struct pconn *c)
{
	for (int i = 0; i < SQL_COUNT; i++)
		if (c->stmt[i].res) {
			PQclear(c->stmt[i].res);
			c->stmt[i].res = NULL;
		}
}

/* The DSN's own settings win: connect_timeout comes first. */
static PGconn *
connect_dsn(const char *dsn)
{
	static const char *const keys[] = { "connect_timeout", PG_TCP_KEYS, "dbname", NULL };
	const char *vals[] = { CONNECT_TIMEOUT_S, PG_TCP_VALS, dsn, NULL };

	return PQconnectdbParams(keys, vals, 1);
}

static int
conn_open(struct pconn *c, const char *dsn, const char *role, enum sql from, enum sql to)
{
	c->base.ops = &pg_ops;
	c->role = role;
	c->from = from;
	c->to = to;
	for (int i = 0; i < SQL_COUNT; i++)
		c->stmt[i].base.db = &c->base;
	c->dsn = dsn;
	c->h = connect_dsn(dsn);
	if (c->h == NULL || PQstatus(c->h) != CONNECTION_OK) {
		log_error("store: cannot connect to postgresql", "conn", role,
		    "error", c->h ? PQerrorMessage(c->h) : "out of memory");
		c->lost = true;
		return -1;
	}
	/* Durable commits whatever the server's default; UTC; no surprises. */
	if (pexec(c, "SET synchronous_commit = on; SET TIME ZONE 'UTC';"
	    " SET client_min_messages = warning") != 0)
		return -1;
	c->lost = false;
	atomic_store(&c->pid, PQbackendPID(c->h));
	return 0;
}

/* After a lost connection: connect again and prepare again (prepared
 * statements live in the session). */
static int
conn_revive(struct pconn *c)
{
	if (!c->lost && PQstatus(c->h) == CONNECTION_OK)
		return 0;
	/* While the server stays away, fail fast between attempts: the reader
	 * runs on the event loop, and a reconnect waits up to the timeout. */
	if (c->revived_ms && mono_ms() - c->revived_ms < REVIVE_EVERY_MS) {
		snprintf(c->last_err, sizeof(c->last_err), "connection lost");
		snprintf(c->sqlstate, sizeof(c->sqlstate), "08000");
		c->err = DB_ERROR;
		return -1;
	}
	c->revived_ms = mono_ms();
	conn_finish_all(c);
	/* A new connection, not PQreset(): nothing of the old one's state
	 * (pipeline mode, results in flight) comes along. */
	c->piped = false;
	c->nqueued = 0;
	PQfinish(c->h);
	c->h = connect_dsn(c->dsn);
	if (c->h == NULL || PQstatus(c->h) != CONNECTION_OK) {
		note_failure(c, NULL, "reconnect");
		c->lost = true;
		return -1;
	}
	c->lost = false;
	atomic_store(&c->pid, PQbackendPID(c->h));
	if (pexec(c, "SET synchronous_commit = on; SET TIME ZONE 'UTC';"
	    " SET client_min_messages = warning") != 0 || conn_prepare(c) != 0) {
		c->lost = true;
		return -1;
	}
	log_info("store: reconnected to postgresql", "conn", c->role);
	return 0;
}

static void
conn_close(struct pconn *c)
{
	conn_finish_all(c);
	if (c->h)
		PQfinish(c->h);
	c->h = NULL;
}

/* --- the backend --- */

static void
pgb_close(void *p)
{
	struct pg_db *db = p;

	if (db == NULL)
		return;
	pg_listen_stop(db->listener);
	conn_close(&db->r);
	conn_close(&db->w);
	free(db->dsn);
	free(db);
}

/* A connection of the reader pool, opened by its own thread. Connecting may
 * fail (the server away): the connection is kept, lost, and the reconnect
 * rules of the reader apply (tried again at the next read, at most once
 * every REVIVE_EVERY_MS). */
static int
pgb_open_reader(void *p, struct db **out)
{
	struct pg_db *db = p;
	struct pconn *c = xcalloc(1, sizeof(*c));

	c->autorevive = true;
	if (conn_open(c, db->dsn, "pool reader", W_END, SQL_COUNT) != 0 || conn_prepare(c) != 0) {
		if (c->h == NULL) {
			free(c);
			*out = NULL;
			return -1;
		}
		c->lost = true;
		c->revived_ms = mono_ms();
	}
	*out = &c->base;
	return 0;
}

static void
pgb_close_reader(struct db *d)
{
	if (d == NULL)
		return;
	conn_close(pconn_of(d));
	free(pconn_of(d));
}

static int
pgb_open(void **out, const struct store_config *cfg, struct db **writer, struct db **reader)
{
	struct pg_db *db = xcalloc(1, sizeof(*db));

	*out = NULL;
	db->dsn = xstrdup(cfg->database);
	if (conn_open(&db->w, db->dsn, "writer", 0, W_END) != 0 || pg_migrate(&db->w) != 0 ||
	    conn_prepare(&db->w) != 0)
		goto fail;
	db->r.autorevive = true;
	if (conn_open(&db->r, db->dsn, "reader", W_END, SQL_COUNT) != 0 ||
	    conn_prepare(&db->r) != 0)
		goto fail;
	*out = db;
	*writer = &db->w.base;
	*reader = &db->r.base;
	return 0;
fail:
	pgb_close(db);
	return -1;
}

static int
pgb_begin(void *p)
{
	struct pg_db *db = p;

	db->w.sqlstate[0] = '\0';
	if (conn_revive(&db->w) != 0)
		return -1;
	/* One writing transaction at a time across every msgd on this database:
	 * seqs are handed out and committed in the same order, so a reader of
	 * /v1/events?since= never skips an event that commits later with a
	 * lower seq. Released at COMMIT or ROLLBACK. */
	if (PQenterPipelineMode(db->w.h) != 1) {
		lost_now(&db->w, "enter pipeline mode");
		return -1;
	}
	db->w.piped = true;
	/* Sent, not waited for: they travel with the first op's first query. */
	if (pipe_exec(&db->w, "BEGIN", false) != 0 || pipe_exec(&db->w, WRITER_LOCK_SQL, false) != 0) {
		pipe_end(&db->w);
		return -1;
	}
	return 0;
}

/* What the writer's last failure says about the storage itself. */
static enum store_fault
pgb_fault(void *p, char *why, size_t cap)
{
	struct pg_db *db = p;
	const char *s = db->w.sqlstate;
	enum store_fault f;

	if (s[0] == '\0')
		return STORE_FAULT_NONE;
	if (strcmp(s, "53100") == 0)
		f = STORE_FAULT_FULL;            /* disk_full */
	else if (strcmp(s, "58030") == 0)
		f = STORE_FAULT_IO;              /* io_error */
	else if (db->w.lost || strncmp(s, "08", 2) == 0 || strncmp(s, "57", 2) == 0 ||
	    strncmp(s, "53", 2) == 0 || strcmp(s, "25P02") == 0)
		f = STORE_FAULT_OTHER;           /* unreachable, shutting down, out of resources */
	else
		return STORE_FAULT_NONE;
	snprintf(why, cap, "%s", db->w.last_err);
	return f;
}

/* COMMIT, and a sync: it answers once the commit is durable. A COMMIT of a
 * failed transaction answers ROLLBACK: that is a failure too. */
static int
pgb_commit(void *p)
{
	struct pconn *c = &((struct pg_db *)p)->w;
	PGresult *res = NULL;
	int rc = -1;

	if (pipe_send(c, NULL, "COMMIT", 0, NULL) == 0 && pipe_wait(c, &res) == 0) {
		if (strcmp(PQcmdStatus(res), "COMMIT") == 0) {
			rc = 0;
		} else {
			snprintf(c->last_err, sizeof(c->last_err), "the transaction was rolled back");
			snprintf(c->sqlstate, sizeof(c->sqlstate), "25P02");
			c->err = DB_ERROR;
		}
	}
	PQclear(res);
	pipe_sync(c);
	pipe_end(c);
	return rc;
}

static void
pgb_rollback(void *p)
{
	struct pconn *c = &((struct pg_db *)p)->w;

	if (c->lost) {
		c->piped = false;
		c->nqueued = 0;
		return;
	}
	if (c->piped) {
		pipe_wait(c, NULL);  /* whatever it says: all of it is undone */
		pipe_exec(c, "ROLLBACK", true);
		pipe_sync(c);
		pipe_end(c);
	} else if (PQtransactionStatus(c->h) != PQTRANS_IDLE) {
		pexec(c, "ROLLBACK");
	}
}

static int
pgb_savepoint(void *p)
{
	struct pg_db *db = p;

	db->w.sqlstate[0] = '\0';
	return pipe_exec(&db->w, "SAVEPOINT op", false);
}

/* The end of an op: everything it deferred is read back here, so its
 * failure fails this op and no other. */
static int
pgb_release(void *p)
{
	struct pg_db *db = p;

	return pipe_exec(&db->w, "RELEASE SAVEPOINT op", true);
}

static int
pgb_rollback_to(void *p)
{
	struct pconn *c = &((struct pg_db *)p)->w;

	pipe_wait(c, NULL);  /* the op's queue: it failed already */
	if (c->lost || !c->piped)
		return -1;  /* the transaction is gone */
	return pipe_exec(c, "ROLLBACK TO SAVEPOINT op", true);
}

/* NOTIFY in the group's transaction: PostgreSQL delivers it at the commit
 * (and drops it with a rollback). Channel names and payloads are ours:
 * kind names and a number, nothing to quote. */
static int
pgb_notify(void *p, unsigned kinds, int64_t last_seq)
{
	struct pconn *c = &((struct pg_db *)p)->w;
	char sql[NOTIFY_MAX][NOTIFY_SQL_MAX];
	int n = 0;

	for (unsigned k = 1; k <= STORE_CHANGE_ALL; k <<= 1)
		if ((kinds & k) && store_change_name(k) && n < NOTIFY_MAX - 1)
			snprintf(sql[n++], NOTIFY_SQL_MAX, "NOTIFY %s, '%s'", PG_CHANGES_CHANNEL,
			    store_change_name(k));
	if (last_seq > 0)
		snprintf(sql[n++], NOTIFY_SQL_MAX, "NOTIFY %s, '%" PRId64 "'", PG_EVENTS_CHANNEL, last_seq);
	/* One command each (a pipeline takes no multi-command strings), read
	 * back before the texts go out of scope. */
	for (int i = 0; i < n; i++)
		if (pipe_send(c, NULL, sql[i], 0, NULL) != 0)
			return -1;
	return pipe_wait(c, NULL);
}

static int
pgb_listen(void *p, store_change_fn fn, void *arg)
{
	struct pg_db *db = p;

	return pg_listen_start(&db->listener, db->dsn, &db->w.pid, fn, arg);
}

static void
pgb_unlisten(void *p)
{
	struct pg_db *db = p;

	pg_listen_stop(db->listener);
	db->listener = NULL;
}

const struct store_backend store_pg_backend = {
	.name = "postgresql",
	.open = pgb_open,
	.close = pgb_close,
	.open_reader = pgb_open_reader,
	.close_reader = pgb_close_reader,
	.begin = pgb_begin,
	.commit = pgb_commit,
	.fault = pgb_fault,
	.rollback = pgb_rollback,
	.savepoint = pgb_savepoint,
	.release = pgb_release,
	.rollback_to = pgb_rollback_to,
	.prefetch = true,
	.notify = pgb_notify,
	.listen = pgb_listen,
	.unlisten = pgb_unlisten,
};
