/*
 * sqlite.c - the SQLite backend: <data_dir>/msgd.db in WAL mode, and the
 * db.h primitives on it. It knows nothing of messages: the domain code
 * (store_int.h) runs the statements of sql.h, whose SQLite text is in
 * sqlite_sql.c.
 *
 * Two connections: the writer, used only by store.c's writer thread, and
 * the reader, used only by the event loop for reads; plus one more reader
 * per thread of the reader pool (open_reader(), readers.c). WAL lets the reader
 * see the last commit while the writer works. synchronous=FULL: a commit
 * returns only once it is on disk, because a webhook is acknowledged then.
 *
 * Every statement is prepared once at open (on the connection that uses
 * it) and reset after each use; a statement left un-reset would pin the
 * reader to an old snapshot.
 *
 * Migrations (src/store/migrations/NNNN_name.sql, embedded into
 * build/gen/migrations.c) are applied at open, each in its own
 * transaction, and recorded in schema_migrations.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../log/log.h"
#include "../util/util.h"
#include "db.h"
#include "migrations.h"
#include "store_backend.h"

#define BUSY_TIMEOUT_MS 5000
#define ERR_MAX 160

struct sq_stmt {
	struct db_stmt base;
	sqlite3_stmt *h;                /* NULL: not this connection's */
};

struct conn {
	struct db base;
	sqlite3 *h;
	const char *role;               /* "writer" or "reader", for logs */
	int last_rc;                    /* extended code of the last failure since the
	                                   writer's last begin/savepoint (fault()) */
	enum db_err err;                /* of the last statement */
	char last_err[ERR_MAX];
	struct sq_stmt stmt[SQL_COUNT]; /* only this connection's are prepared */
};

struct sqlite_db {
	struct conn w, r;
	char *path;                     /* for the reader pool's connections */
};

static const struct db_ops sqlite_ops;

/* --- the db.h primitives --- */

static int
sql_fail(struct conn *c, const char *what)
{
	c->last_rc = sqlite3_extended_errcode(c->h);
	c->err = DB_ERROR;
	snprintf(c->last_err, sizeof(c->last_err), "%s", sqlite3_errmsg(c->h));
	log_error("store: sqlite failed", "conn", c->role, "sql", what, "error", c->last_err);
	return -1;
}

static struct conn *
conn_of(struct db *d)
{
	return (struct conn *)d;
}

static sqlite3_stmt *
h_of(struct db_stmt *s)
{
	return ((struct sq_stmt *)s)->h;
}

static struct db_stmt *
sq_stmt(struct db *d, enum sql id)
{
	return &conn_of(d)->stmt[id].base;
}

static void
sq_bind_i64(struct db_stmt *s, int i, int64_t v)
{
	sqlite3_bind_int64(h_of(s), i, v);
}

static void
sq_bind_text(struct db_stmt *s, int i, const char *v)
{
	sqlite3_bind_text(h_of(s), i, v, -1, SQLITE_STATIC);  /* NULL binds NULL */
}

static void
sq_bind_null(struct db_stmt *s, int i)
{
	sqlite3_bind_null(h_of(s), i);
}

/* Reset after use: frees the snapshot and forgets the bound buffers. */
static void
sq_finish(struct db_stmt *s)
{
	sqlite3_reset(h_of(s));
	sqlite3_clear_bindings(h_of(s));
}

static int
sq_step(struct db_stmt *s)
{
	struct conn *c = conn_of(s->db);
	int rc = sqlite3_step(h_of(s));

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE) {
		c->err = DB_OK;
		sq_finish(s);
		return 0;
	}
	if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
		/* A domain answer (name taken), not a failure of the database. */
		c->err = DB_CONFLICT;
		snprintf(c->last_err, sizeof(c->last_err), "%s", sqlite3_errmsg(c->h));
	} else {
		sql_fail(c, sqlite3_sql(h_of(s)));
	}
	sq_finish(s);
	return -1;
}

static int64_t
sq_col_i64(struct db_stmt *s, int i)
{
	return sqlite3_column_int64(h_of(s), i);
}

static const char *
sq_col_text(struct db_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(h_of(s), i);
}

static size_t
sq_col_bytes(struct db_stmt *s, int i)
{
	return (size_t)sqlite3_column_bytes(h_of(s), i);
}

static bool
sq_col_null(struct db_stmt *s, int i)
{
	return sqlite3_column_type(h_of(s), i) == SQLITE_NULL;
}

/* No RETURNING: SQLite buffers its rows in a temporary table, which costs
 * the ingest path measurably; the rowid the insert made is at hand. */
static int
sq_insert_id(struct db_stmt *s, int64_t *id)
{
	int n = sq_step(s);

	if (n == 1)
		sq_finish(s);
	if (n < 0)
		return -1;
	*id = sqlite3_last_insert_rowid(conn_of(s->db)->h);
	return 0;
}

static int64_t
sq_changes(struct db *d)
{
	return sqlite3_changes(conn_of(d)->h);
}

static enum db_err
sq_last_err(struct db *d)
{
	return conn_of(d)->err;
}

static const char *
sq_errmsg(struct db *d)
{
	return conn_of(d)->last_err;
}

static const struct db_ops sqlite_ops = {
	.stmt = sq_stmt,
	.bind_i64 = sq_bind_i64,
	.bind_text = sq_bind_text,
	.bind_null = sq_bind_null,
	.step = sq_step,
	.finish = sq_finish,
	.col_i64 = sq_col_i64,
	.col_text = sq_col_text,
	.col_bytes = sq_col_bytes,
	.col_null = sq_col_null,
	.insert_id = sq_insert_id,
	.changes = sq_changes,
	.last_err = sq_last_err,
	.errmsg = sq_errmsg,
};

/* One of the connection's own statements that returns no row. */
static int
conn_run(struct conn *c, enum sql id)
{
	return db_run(sq_stmt(&c->base, id));
}

/* --- open, migrate, close --- */

static void
conn_close(struct conn *c)
{
	for (size_t i = 0; i < SQL_COUNT; i++) {
		sqlite3_finalize(c->stmt[i].h);
		c->stmt[i].h = NULL;
	}
	if (c->h && sqlite3_close(c->h) != SQLITE_OK)
		log_error("store: sqlite close failed", "conn", c->role, "error", sqlite3_errmsg(c->h));
	c->h = NULL;
}

static int
exec(struct conn *c, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(c->h, sql, NULL, NULL, &err) != SQLITE_OK) {
		log_error("store: sqlite failed", "conn", c->role, "sql", sql, "error", err);
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

/* One integer from a one-off query (open and migrations only). */
static int
query_i64(struct conn *c, const char *sql, int64_t *out)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v2(c->h, sql, -1, &s, NULL) != SQLITE_OK)
		return sql_fail(c, sql);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sql_fail(c, sql);
		sqlite3_finalize(s);
		return -1;
	}
	*out = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return 0;
}

static int
conn_open(struct conn *c, const char *path, const char *role)
{
	c->base.ops = &sqlite_ops;
	c->role = role;
	/* NOMUTEX: each connection is only ever used by one thread at a time. */
	if (sqlite3_open_v2(path, &c->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		log_error("store: cannot open the database", "path", path, "conn", role,
		    "error", c->h ? sqlite3_errmsg(c->h) : "out of memory");
		return -1;
	}
	sqlite3_extended_result_codes(c->h, 1);
	if (sqlite3_busy_timeout(c->h, BUSY_TIMEOUT_MS) != SQLITE_OK)
		return sql_fail(c, "busy_timeout");
	return exec(c, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL");
}

static int
conn_prepare(struct conn *c, enum sql from, enum sql to)
{
	for (int i = from; i < (int)to; i++) {
		if (sqlite3_prepare_v3(c->h, sqlite_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
		    &c->stmt[i].h, NULL) != SQLITE_OK)
			return sql_fail(c, sqlite_sql[i]);
		c->stmt[i].base.db = &c->base;
	}
	return 0;
}

/* WAL is a property of the file; insist on it. */
static int
set_wal(struct conn *c)
{
	sqlite3_stmt *s = NULL;
	bool ok;

	if (sqlite3_prepare_v2(c->h, "PRAGMA journal_mode = WAL", -1, &s, NULL) != SQLITE_OK)
		return sql_fail(c, "PRAGMA journal_mode = WAL");
	ok = sqlite3_step(s) == SQLITE_ROW &&
	    sqlite3_stricmp((const char *)sqlite3_column_text(s, 0), "wal") == 0;
	sqlite3_finalize(s);
	if (!ok) {
		log_error("store: cannot switch the database to WAL mode", "conn", c->role);
		return -1;
	}
	return 0;
}

static int
migrate_one(struct conn *c, const struct migration *m)
{
	char *ins = sqlite3_mprintf("INSERT INTO schema_migrations (version, name, applied_at)"
	    " VALUES (%d, %Q, %lld)", m->version, m->name, (long long)(now_ms() / 1000));
	int rc = -1;

	if (ins == NULL)
		return -1;
	if (exec(c, "BEGIN IMMEDIATE") != 0)
		goto out;
	if (exec(c, m->sql) != 0 || exec(c, ins) != 0) {
		exec(c, "ROLLBACK");
		goto out;
	}
	if (exec(c, "COMMIT") != 0) {
		if (!sqlite3_get_autocommit(c->h))
			exec(c, "ROLLBACK");
		goto out;
	}
	log_info("store: migration applied", "name", m->name);
	rc = 0;
out:
	sqlite3_free(ins);
	return rc;
}

/* Apply every embedded migration newer than the database. */
static int
migrate(struct conn *c)
{
	int64_t cur = 0;

	if (exec(c, "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
	    " name TEXT NOT NULL, applied_at INTEGER NOT NULL)") != 0)
		return -1;
	if (query_i64(c, sqlite_sql[R_VERSION], &cur) != 0)
		return -1;
	for (int i = 0; i < migrations_count; i++) {
		if (i > 0 && migrations[i].version <= migrations[i - 1].version) {
			log_error("store: migrations out of order", "name", migrations[i].name);
			return -1;
		}
	}
	if (migrations_count > 0 && cur > migrations[migrations_count - 1].version) {
		char v[24];

		snprintf(v, sizeof(v), "%" PRId64, cur);
		log_error("store: the database schema is newer than this msgd", "version", v);
		return -1;
	}
	for (int i = 0; i < migrations_count; i++)
		if (migrations[i].version > cur && migrate_one(c, &migrations[i]) != 0)
			return -1;
	return 0;
}

static void
sqlite_close(void *p)
{
	struct sqlite_db *db = p;

	if (db == NULL)
		return;
	/* Reader first: the last connection to close checkpoints the WAL. */
	conn_close(&db->r);
	conn_close(&db->w);
	free(db->path);
	free(db);
}

/* A connection of the reader pool (its own thread): the reader's settings. */
static int
sqlite_open_reader(void *p, struct db **out)
{
	struct sqlite_db *db = p;
	struct conn *c = xcalloc(1, sizeof(*c));

	*out = NULL;
	if (conn_open(c, db->path, "pool reader") != 0 || exec(c, "PRAGMA query_only = ON") != 0 ||
	    conn_prepare(c, W_END, SQL_COUNT) != 0) {
		conn_close(c);
		free(c);
		return -1;
	}
	*out = &c->base;
	return 0;
}

static void
sqlite_close_reader(struct db *d)
{
	if (d == NULL)
		return;
	conn_close(conn_of(d));
	free(conn_of(d));
}

static int
sqlite_open(void **out, const struct store_config *cfg, struct db **writer, struct db **reader)
{
	struct sqlite_db *db = xcalloc(1, sizeof(*db));
	char *path = NULL;
	int fd;

	*out = NULL;
	if (cfg->data_dir == NULL || cfg->data_dir[0] == '\0') {
		log_error("store: no data directory");
		goto fail;
	}
	if (mkdir_p(cfg->data_dir, 0700) != 0) {
		log_error("store: cannot create the data directory", "path", cfg->data_dir,
		    "error", strerror(errno));
		goto fail;
	}
	path = xasprintf("%s/msgd.db", cfg->data_dir);
	/* Create the file ourselves so it is never readable by others; SQLite
	 * gives the -wal and -shm files the same mode. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_error("store: cannot create the database", "path", path, "error", strerror(errno));
		goto fail;
	}
	close(fd);

	if (conn_open(&db->w, path, "writer") != 0 || set_wal(&db->w) != 0 || migrate(&db->w) != 0)
		goto fail;
	if (conn_open(&db->r, path, "reader") != 0 || exec(&db->r, "PRAGMA query_only = ON") != 0)
		goto fail;
	if (conn_prepare(&db->w, 0, W_END) != 0 || conn_prepare(&db->r, W_END, SQL_COUNT) != 0)
		goto fail;
	db->path = path;
	*out = db;
	*writer = &db->w.base;
	*reader = &db->r.base;
	return 0;
fail:
	free(path);
	sqlite_close(db);
	return -1;
}

/* --- transactions (writer thread) --- */

static int
sqlite_begin(void *p)
{
	struct sqlite_db *db = p;

	db->w.last_rc = SQLITE_OK;
	return conn_run(&db->w, W_BEGIN);
}

/* What the writer's last failure says about the storage itself. */
static enum store_fault
sqlite_fault(void *p, char *why, size_t cap)
{
	struct sqlite_db *db = p;
	enum store_fault f;

	switch (db->w.last_rc & 0xff) {
	case SQLITE_FULL:
		f = STORE_FAULT_FULL;
		break;
	case SQLITE_IOERR:
		f = STORE_FAULT_IO;
		break;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_NOMEM:
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		f = STORE_FAULT_OTHER;
		break;
	default:
		return STORE_FAULT_NONE;
	}
	snprintf(why, cap, "%s", db->w.last_err);
	return f;
}

static int
sqlite_commit(void *p)
{
	struct sqlite_db *db = p;

	return conn_run(&db->w, W_COMMIT);
}

static void
sqlite_rollback(void *p)
{
	struct sqlite_db *db = p;

	/* SQLite may already have rolled back on its own (I/O error, full disk). */
	if (!sqlite3_get_autocommit(db->w.h))
		conn_run(&db->w, W_ROLLBACK);
}

static int
sqlite_savepoint(void *p)
{
	struct sqlite_db *db = p;

	db->w.last_rc = SQLITE_OK;
	return conn_run(&db->w, W_SAVEPOINT);
}

static int
sqlite_release(void *p)
{
	struct sqlite_db *db = p;

	return conn_run(&db->w, W_RELEASE);
}

static int
sqlite_rollback_to(void *p)
{
	struct sqlite_db *db = p;

	if (sqlite3_get_autocommit(db->w.h))
		return -1;  /* the transaction is gone */
	return conn_run(&db->w, W_ROLLBACK_TO);
}


const struct store_backend store_sqlite_backend = {
	.name = "sqlite",
	.open = sqlite_open,
	.close = sqlite_close,
	.open_reader = sqlite_open_reader,
	.close_reader = sqlite_close_reader,
	.begin = sqlite_begin,
	.commit = sqlite_commit,
	.fault = sqlite_fault,
	.rollback = sqlite_rollback,
	.savepoint = sqlite_savepoint,
	.release = sqlite_release,
	.rollback_to = sqlite_rollback_to,
};
