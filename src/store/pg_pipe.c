/*
 * pg_pipe.c - the PostgreSQL backend's errors and the writer's pipeline
 * (pg_int.h). See below for how a transaction travels.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "../log/log.h"
#include "../util/util.h"
#include "pg_int.h"

/* --- errors --- */

void
note_failure(struct pconn *c, const PGresult *res, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(c->h);

	snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", state ? state : "08000");
	snprintf(c->last_err, sizeof(c->last_err), "%s", msg && *msg ? msg : "connection lost");
	/* libpq ends its messages with a newline. */
	size_t n = strlen(c->last_err);
	while (n > 0 && (c->last_err[n - 1] == '\n' || c->last_err[n - 1] == ' '))
		c->last_err[--n] = '\0';
	if (strcmp(c->sqlstate, "23505") == 0) {
		c->err = DB_CONFLICT;  /* a domain answer, not logged */
		return;
	}
	c->err = DB_ERROR;
	if (PQstatus(c->h) != CONNECTION_OK || strncmp(c->sqlstate, "08", 2) == 0 ||
	    strncmp(c->sqlstate, "57P", 3) == 0)
		c->lost = true;
	log_error("store: postgresql failed", "conn", c->role, "sql", what, "sqlstate", c->sqlstate,
	    "error", c->last_err);
}


/* --- the writer's pipeline ---
 *
 * Inside a transaction the writer runs in libpq's pipeline mode: BEGIN, the
 * lock, each SAVEPOINT and the statements the domain code defers
 * (db_defer) are sent without waiting; a statement whose rows or outcome
 * are wanted is sent behind them and the whole queue is read back in order
 * (one round trip for all of them); RELEASE reads back everything the op
 * sent, so an op's failure is always reported within that op. A failure
 * in the queue is noted (the first one: later ones are "aborted" by
 * PostgreSQL) and a sync ends the aborted pipeline, leaving the
 * transaction in its failed state for ROLLBACK TO SAVEPOINT, as without a
 * pipeline. COMMIT is followed by a sync and answers once it is durable.
 */

void
lost_now(struct pconn *c, const char *what)
{
	note_failure(c, NULL, what);
	c->lost = true;
	c->err = DB_ERROR;
}

/* End an aborted pipeline: a sync, and every result up to its own. */
void
pipe_sync(struct pconn *c)
{
	if (c->lost)
		return;
	if (PQpipelineSync(c->h) != 1) {
		lost_now(c, "pipeline sync");
		return;
	}
	for (int i = 0; i < 2 * PIPE_MAX + 4; i++) {
		PGresult *res = PQgetResult(c->h);
		if (res == NULL) {
			if (PQstatus(c->h) != CONNECTION_OK) {
				lost_now(c, "pipeline sync");
				return;
			}
			continue;
		}
		ExecStatusType st = PQresultStatus(res);
		PQclear(res);
		if (st == PGRES_PIPELINE_SYNC)
			return;
	}
	lost_now(c, "pipeline sync: no sync result");
}

/*
 * Read back every statement sent. keep: where the last one's result goes
 * when it succeeded (its rows are wanted), else NULL. 0, or -1 when one
 * failed (c->err and the log say which; the pipeline is usable again).
 */
int
pipe_wait(struct pconn *c, PGresult **keep)
{
	int n = c->nqueued, rc = 0;

	if (keep)
		*keep = NULL;
	c->nqueued = 0;
	if (n == 0)
		return 0;
	if (c->lost)
		return -1;
	if (PQsendFlushRequest(c->h) != 1 || PQflush(c->h) != 0) {
		lost_now(c, c->queued[n - 1]);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		PGresult *res = PQgetResult(c->h);
		if (res == NULL) {
			lost_now(c, c->queued[i]);
			return -1;
		}
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
			if (rc == 0) {
				c->changes = strtoll(PQcmdTuples(res), NULL, 10);
				c->err = DB_OK;
			}
			if (keep && rc == 0 && i == n - 1) {
				*keep = res;
				res = NULL;
			}
		} else if (st != PGRES_PIPELINE_ABORTED && rc == 0) {
			note_failure(c, res, c->queued[i]);
			rc = -1;
		} else {
			rc = -1;
		}
		PQclear(res);
		/* Each statement's results end with a NULL. */
		if ((res = PQgetResult(c->h)) != NULL) {
			PQclear(res);
			if (keep && *keep) {
				PQclear(*keep);
				*keep = NULL;
			}
			lost_now(c, "pipeline: a statement returned more than one result");
			return -1;
		}
	}
	if (rc != 0)
		pipe_sync(c);
	return rc;
}

/* Send a statement down the pipeline (prepared when name is given). */
int
pipe_send(struct pconn *c, const char *name, const char *sql, int nparams,
    const char *const *vals)
{
	if (c->nqueued == PIPE_MAX && pipe_wait(c, NULL) != 0)
		return -1;
	if (c->lost) {
		snprintf(c->last_err, sizeof(c->last_err), "connection lost");
		snprintf(c->sqlstate, sizeof(c->sqlstate), "08000");
		c->err = DB_ERROR;
		return -1;
	}
	int ok = name ? PQsendQueryPrepared(c->h, name, nparams, vals, NULL, NULL, 0) :
	    PQsendQueryParams(c->h, sql, 0, NULL, NULL, NULL, NULL, 0);
	if (ok != 1) {
		lost_now(c, sql);
		return -1;
	}
	c->queued[c->nqueued++] = sql;
	return 0;
}

/* A transaction-control command in the pipeline; wait: read everything back. */
int
pipe_exec(struct pconn *c, const char *sql, bool wait)
{
	if (pipe_send(c, NULL, sql, 0, NULL) != 0)
		return -1;
	return wait ? pipe_wait(c, NULL) : 0;
}

/* Leave pipeline mode (the transaction is over, or the connection gone). */
void
pipe_end(struct pconn *c)
{
	c->piped = false;
	c->nqueued = 0;
	if (!c->lost && PQpipelineStatus(c->h) != PQ_PIPELINE_OFF && PQexitPipelineMode(c->h) != 1)
		lost_now(c, "exit pipeline mode");
}

/* A command without parameters or rows (transaction control, SET). */
int
pexec(struct pconn *c, const char *sql)
{
	PGresult *res = PQexec(c->h, sql);
	int rc = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		note_failure(c, res, sql);
		rc = -1;
	} else {
		c->err = DB_OK;
	}
	PQclear(res);
	return rc;
}
