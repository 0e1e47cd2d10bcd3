/*
 * pg_int.h - the PostgreSQL backend's own types, shared by its files only:
 * pg.c (connections, the db.h primitives, the backend), pg_pipe.c (errors
 * and the writer's pipeline), pg_migrate.c (migrations in PostgreSQL's
 * dialect). Everyone else reaches it through store_backend.h.
 */
#ifndef MSGD_STORE_PG_INT_H
#define MSGD_STORE_PG_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "db.h"

#define PG_PARAMS_MAX 16         /* parameters of any statement of sql.h */
#define PG_NUM_MAX 24            /* an int64 as text */
#define ERR_MAX 256
#define MIGRATION_LOCK 7263540   /* pg_advisory_lock key: "msgd migrations" */
#define MIGRATION_MAX (1024 * 1024)  /* a migration's text, translated */
#define PG_ONLY "--pg: "             /* a migration line for PostgreSQL only (a comment to SQLite) */
#define WRITER_LOCK_SQL "SELECT pg_advisory_xact_lock(7263541)"  /* key: the writing transaction */
/* Every connection, unless its DSN says otherwise: TCP keepalives, and a
 * request the server does not acknowledge within 10 s fails the connection
 * (a silent network partition would otherwise block a call for minutes). */
#define PG_TCP_KEYS "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", \
    "tcp_user_timeout"
#define PG_TCP_VALS "1", "30", "10", "3", "10000"
#define CONNECT_TIMEOUT_S "5"    /* unless the DSN says otherwise */
#define REVIVE_EVERY_MS 1000     /* a lost connection is tried again at most this often */
#define PIPE_MAX 64              /* the writer's statements in flight at most (small results:
                                    never enough to fill the socket buffers both ways) */
#define NOTIFY_SQL_MAX 96        /* one NOTIFY command */
#define NOTIFY_MAX 16            /* NOTIFY commands of one transaction (kinds + events) */

struct pg_stmt {
	struct db_stmt base;
	enum sql id;
	bool prepared;
	int nparams;
	const char *vals[PG_PARAMS_MAX];
	char nums[PG_PARAMS_MAX][PG_NUM_MAX];
	PGresult *res;                  /* rows being read, or NULL */
	int row, nrows;
};

struct pconn {
	struct db base;
	PGconn *h;
	const char *role;
	enum sql from, to;              /* the statements this connection prepares */
	enum db_err err;
	char sqlstate[6];               /* of the last failure since begin/savepoint */
	bool lost;                      /* the connection failed: reset before use */
	bool autorevive;                /* the reader: reset at the next statement */
	int64_t revived_ms;             /* mono_ms() of the last reconnect attempt */
	int64_t changes;
	_Atomic int pid;                /* the server process (PQbackendPID) */
	char last_err[ERR_MAX];
	/* The writer inside a transaction: pipeline mode. Statements sent and
	 * whose results are not read yet, oldest first (their text, for the log). */
	bool piped;
	int nqueued;
	const char *queued[PIPE_MAX];
	const char *dsn;
	struct pg_stmt stmt[SQL_COUNT];
};

struct pg_db {
	struct pconn w, r;
	char *dsn;
	struct pg_listener *listener;   /* other instances' notifications, or NULL */
};

/* pg_pipe.c: the last failure of c, as the log and c->err/sqlstate say it. */
void note_failure(struct pconn *c, const PGresult *res, const char *what);
void lost_now(struct pconn *c, const char *what);
/* The writer's pipeline (pg_pipe.c's header says how it goes). */
void pipe_sync(struct pconn *c);
int pipe_wait(struct pconn *c, PGresult **keep);
int pipe_send(struct pconn *c, const char *name, const char *sql, int nparams,
    const char *const *vals);
int pipe_exec(struct pconn *c, const char *sql, bool wait);
void pipe_end(struct pconn *c);
/* A command without parameters or rows (transaction control, SET), outside a pipeline. */
int pexec(struct pconn *c, const char *sql);

/* pg_migrate.c: bring the database to this msgd's schema, under an advisory lock. */
int pg_migrate(struct pconn *c);

#endif
