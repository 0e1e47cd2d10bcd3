/*
 * copy.c - `msgd migrate`: an SQLite installation copied into an empty
 * PostgreSQL database, so users who outgrow one machine keep their data.
 *
 * Both databases are first brought to this msgd's schema by their own
 * backends (the same migrations). Then every table is copied in one
 * PostgreSQL transaction (COPY ... FROM STDIN, text format), in an order
 * that satisfies the foreign keys, with every column as it is: ids and
 * event seqs keep their values, so cursors, webhook subscriptions' delivered
 * seqs and links between rows stay true. The identity sequences are then
 * moved past the highest id. All or nothing: a failure rolls the target
 * back. A target that already holds any row is refused.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "../log/log.h"
#include "../util/util.h"
#include "db.h"
#include "store_backend.h"

#define COPY_ROW_MAX (64 * 1024 * 1024)  /* one row as COPY text, at most */
#define COPY_SQL_MAX 2048

struct table {
	const char *name;
	const char *identity;   /* its identity column, or NULL */
	bool seeded;            /* the migrations put rows in (the default org): replaced */
};

/* Parents before children. */
static const struct table tables[] = {
	{ .name = "orgs", .identity = "id", .seeded = true },
	{ .name = "channels", .identity = "id" },
	{ .name = "contacts", .identity = "id" },
	{ .name = "conversations", .identity = "id" },
	{ .name = "messages", .identity = "id" },
	{ .name = "statuses", .identity = "id" },
	{ .name = "events", .identity = "seq" },
	{ .name = "api_keys", .identity = "id" },
	{ .name = "outbox" },
	{ .name = "templates" },
	{ .name = "users", .identity = "id" },
	{ .name = "sessions", .identity = "id" },
	{ .name = "subscriptions", .identity = "id" },
	{ .name = "memberships" },
	{ .name = "signing_keys" },
	/* media both ways (issue 14): pending fetches, uploaded media ids */
	{ .name = "media_jobs" },
	{ .name = "media_uploads" },
	/* Campaigns (issue 14, h14camp). */
	{ .name = "campaigns", .identity = "id" },
	{ .name = "campaign_recipients" },
};

static int
fail(char *err, size_t errlen, const char *fmt, const char *what)
{
	snprintf(err, errlen, fmt, what);
	return -1;
}

/* Run one statement on the target; -1 with err on failure. */
static int
pg_run(PGconn *c, const char *sql, PGresult **keep, char *err, size_t errlen)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_COPY_IN) {
		snprintf(err, errlen, "postgresql: %s", PQresultErrorMessage(r));
		PQclear(r);
		return -1;
	}
	if (keep)
		*keep = r;
	else
		PQclear(r);
	return 0;
}

/* One value in COPY's text format: \N for NULL, specials escaped. */
static int
copy_value(struct buf *b, sqlite3_stmt *s, int col)
{
	if (sqlite3_column_type(s, col) == SQLITE_NULL)
		return buf_append(b, "\\N", 2);
	const unsigned char *v = sqlite3_column_text(s, col);
	int n = sqlite3_column_bytes(s, col);
	for (int i = 0; i < n; i++) {
		const char *esc = NULL;
		switch (v[i]) {
		case '\\': esc = "\\\\"; break;
		case '\t': esc = "\\t"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		}
		if ((esc ? buf_append(b, esc, 2) : buf_append(b, &v[i], 1)) != 0)
			return -1;
	}
	return 0;
}

static int
copy_table(sqlite3 *src, PGconn *dst, const struct table *t, int64_t *rows, char *err,
    size_t errlen)
{
	char sql[COPY_SQL_MAX];
	sqlite3_stmt *s = NULL;
	struct buf cols, row;
	int rc = -1, step;

	*rows = 0;
	snprintf(sql, sizeof(sql), "SELECT * FROM %s", t->name);
	if (sqlite3_prepare_v2(src, sql, -1, &s, NULL) != SQLITE_OK)
		return fail(err, errlen, "sqlite: %s", sqlite3_errmsg(src));
	buf_init(&cols, COPY_SQL_MAX);
	buf_init(&row, COPY_ROW_MAX);
	for (int i = 0; i < sqlite3_column_count(s); i++) {
		const char *name = sqlite3_column_name(s, i);
		if ((i > 0 && buf_append(&cols, ", ", 2) != 0) || buf_append(&cols, name, strlen(name)) != 0)
			goto out;
	}
	buf_append(&cols, "", 1);
	snprintf(sql, sizeof(sql), "COPY %s (%s) FROM STDIN", t->name, cols.data);
	if (pg_run(dst, sql, NULL, err, errlen) != 0)
		goto out;
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		row.len = 0;
		for (int i = 0; i < sqlite3_column_count(s); i++)
			if ((i > 0 && buf_append(&row, "\t", 1) != 0) || copy_value(&row, s, i) != 0) {
				fail(err, errlen, "a row of %s is too large to copy", t->name);
				PQputCopyEnd(dst, "row too large");
				PQclear(PQgetResult(dst));
				goto out;
			}
		if (buf_append(&row, "\n", 1) != 0 || PQputCopyData(dst, row.data, (int)row.len) != 1) {
			fail(err, errlen, "postgresql: %s", PQerrorMessage(dst));
			goto out;
		}
		(*rows)++;
	}
	if (step != SQLITE_DONE) {
		fail(err, errlen, "sqlite: %s", sqlite3_errmsg(src));
		PQputCopyEnd(dst, "source failed");
		PQclear(PQgetResult(dst));
		goto out;
	}
	if (PQputCopyEnd(dst, NULL) != 1) {
		fail(err, errlen, "postgresql: %s", PQerrorMessage(dst));
		goto out;
	}
	PGresult *r = PQgetResult(dst);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		fail(err, errlen, "postgresql: %s", PQresultErrorMessage(r));
		PQclear(r);
		goto out;
	}
	PQclear(r);
	if (t->identity) {
		snprintf(sql, sizeof(sql), "SELECT setval(pg_get_serial_sequence('%s', '%s'),"
		    " GREATEST((SELECT max(%s) FROM %s), 1))", t->name, t->identity, t->identity, t->name);
		if (pg_run(dst, sql, NULL, err, errlen) != 0)
			goto out;
	}
	rc = 0;
out:
	buf_free(&cols);
	buf_free(&row);
	sqlite3_finalize(s);
	return rc;
}

/* Bring a database to this msgd's schema through its own backend. */
static int
migrate_with(const struct store_backend *be, const struct store_config *cfg)
{
	void *h = NULL;
	struct db *w, *r;

	if (be->open(&h, cfg, &w, &r) != 0)
		return -1;
	be->close(h);
	return 0;
}

int
store_copy_sqlite_to_pg(const char *data_dir, const char *dsn, store_copy_report_fn report,
    void *arg, char *err, size_t errlen)
{
	struct store_config from = { .data_dir = data_dir }, to = { .database = dsn };
	char *path = xasprintf("%s/msgd.db", data_dir);
	sqlite3 *src = NULL;
	PGconn *dst = NULL;
	int rc = -1;

	if (migrate_with(&store_sqlite_backend, &from) != 0) {
		fail(err, errlen, "cannot open the SQLite database in %s (see the log)", data_dir);
		goto out;
	}
	if (migrate_with(&store_pg_backend, &to) != 0) {
		fail(err, errlen, "%s", "cannot open the PostgreSQL database (see the log)");
		goto out;
	}
	if (sqlite3_open_v2(path, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		fail(err, errlen, "sqlite: %s", src ? sqlite3_errmsg(src) : "out of memory");
		goto out;
	}
	dst = PQconnectdb(dsn);
	if (PQstatus(dst) != CONNECTION_OK) {
		fail(err, errlen, "postgresql: %s", PQerrorMessage(dst));
		goto out;
	}
	if (pg_run(dst, "SET synchronous_commit = on", NULL, err, errlen) != 0 ||
	    pg_run(dst, "BEGIN", NULL, err, errlen) != 0)
		goto out;
	for (size_t i = 0; i < ARRAY_LEN(tables); i++) {
		char sql[COPY_SQL_MAX];
		PGresult *r = NULL;

		snprintf(sql, sizeof(sql), tables[i].seeded ? "DELETE FROM %s" : "SELECT 1 FROM %s LIMIT 1",
		    tables[i].name);
		if (pg_run(dst, sql, &r, err, errlen) != 0)
			goto rollback;
		int any = tables[i].seeded ? 0 : PQntuples(r);
		PQclear(r);
		if (any) {
			fail(err, errlen, "the PostgreSQL database is not empty (table %s has rows):"
			    " msgd migrate copies into an empty database only", tables[i].name);
			goto rollback;
		}
	}
	for (size_t i = 0; i < ARRAY_LEN(tables); i++) {
		int64_t rows;
		if (copy_table(src, dst, &tables[i], &rows, err, errlen) != 0)
			goto rollback;
		if (report)
			report(arg, tables[i].name, rows);
	}
	if (pg_run(dst, "COMMIT", NULL, err, errlen) != 0)
		goto out;
	rc = 0;
	goto out;
rollback:
	PQclear(PQexec(dst, "ROLLBACK"));
out:
	if (dst)
		PQfinish(dst);
	if (src)
		sqlite3_close(src);
	free(path);
	return rc;
}
