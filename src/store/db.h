/*
 * db.h - the primitives a database backend gives the store's domain code.
 *
 * The store has two layers. The domain code (apply_*.c, read.c, render.c)
 * knows the rules: message documents, statuses that never go backwards,
 * the outbox state machine, events and their rendering, idempotency. It
 * speaks to the database only through this header: numbered statements
 * (enum sql in sql.h; each backend has the text of every one in its own
 * dialect), parameters bound by position, rows read by column, typed
 * errors. A backend (sqlite.c) owns connections, transactions, migrations
 * and the statement texts, and nothing else.
 *
 * A statement belongs to one connection and is used by one thread at a
 * time: writer statements (W_*) on the writer connection, reader
 * statements (R_*) on the reader. The cycle is
 *     s = db_stmt(c, W_X); db_bind_*(s, 1, ...); ...
 *     db_run(s)                       no row wanted: 0 / -1
 *  or while ((n = db_row(s)) == 1) { db_i64(s, 0) ... }   1 row, 0 done, -1 error
 * and a reader that stops before the last row calls db_finish(s). After
 * db_run(), and once db_row() returned 0 or -1, the statement is already
 * finished. Binds hold no copy: the bound strings must live until then.
 *
 * Parameters and columns count from 1 and from 0, as in SQL and C. Text is
 * UTF-8; NULL binds SQL NULL and a NULL column reads as NULL (text) or 0.
 */
#ifndef MSGD_STORE_DB_H
#define MSGD_STORE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sql.h"

/* Why the last statement of a connection failed. */
enum db_err {
	DB_OK = 0,
	DB_ERROR,           /* anything else (logged by the backend) */
	DB_CONFLICT,        /* a UNIQUE rule refused the row (not logged: a domain answer) */
};

struct db;
struct db_stmt;

struct db_ops {
	struct db_stmt *(*stmt)(struct db *c, enum sql id);
	void (*bind_i64)(struct db_stmt *s, int i, int64_t v);
	void (*bind_text)(struct db_stmt *s, int i, const char *v);
	void (*bind_null)(struct db_stmt *s, int i);
	int (*step)(struct db_stmt *s);          /* 1 row, 0 done, -1 error (both finish) */
	/* Optional: run a statement whose result nobody waits for (db_defer). */
	int (*defer)(struct db_stmt *s);
	void (*finish)(struct db_stmt *s);
	int64_t (*col_i64)(struct db_stmt *s, int i);
	const char *(*col_text)(struct db_stmt *s, int i);
	size_t (*col_bytes)(struct db_stmt *s, int i);
	bool (*col_null)(struct db_stmt *s, int i);
	/* Step an INSERT that makes an id: 0 with the new row's id, or -1.
	 * (SQLite: the connection's last rowid; PostgreSQL: RETURNING.) */
	int (*insert_id)(struct db_stmt *s, int64_t *id);
	int64_t (*changes)(struct db *c);        /* rows the last statement changed */
	enum db_err (*last_err)(struct db *c);
	const char *(*errmsg)(struct db *c);     /* the database's words for it */
};

/* A backend's connection and statement structs begin with these. */
struct db {
	const struct db_ops *ops;
};

struct db_stmt {
	struct db *db;
};

static inline struct db_stmt *
db_stmt(struct db *c, enum sql id)
{
	return c->ops->stmt(c, id);
}

static inline void
db_bind_i64(struct db_stmt *s, int i, int64_t v)
{
	s->db->ops->bind_i64(s, i, v);
}

static inline void
db_bind_text(struct db_stmt *s, int i, const char *v)
{
	s->db->ops->bind_text(s, i, v);
}

/* 0 stands for "none" in the model's ids and codes: it binds NULL. */
static inline void
db_bind_id(struct db_stmt *s, int i, int64_t v)
{
	if (v == 0)
		s->db->ops->bind_null(s, i);
	else
		s->db->ops->bind_i64(s, i, v);
}

static inline int
db_row(struct db_stmt *s)
{
	return s->db->ops->step(s);
}

/* A statement that returns no row wanted: 0, or -1 (db_last_err tells). */
static inline int
db_run(struct db_stmt *s)
{
	int n = s->db->ops->step(s);

	if (n == 1)
		s->db->ops->finish(s);
	return n < 0 ? -1 : 0;
}

/*
 * A statement whose outcome the domain code does not need now: no row, no
 * changes() asked, and its failure is an error, never a domain answer (no
 * UNIQUE rule it may break by design). A backend may send it without
 * waiting (PostgreSQL pipelines it); its failure is then reported by the
 * next statement that waits for its own result, or at the end of the op
 * (the backend's release()), which fails the op as any error would. Where
 * nothing is deferred (SQLite) it is db_run().
 */
static inline int
db_defer(struct db_stmt *s)
{
	if (s->db->ops->defer)
		return s->db->ops->defer(s);
	return db_run(s);
}

/* An INSERT that makes an id (the backend's way: sql.h says which): 0 with
 * *id, or -1 (db_last_err tells why: DB_CONFLICT for a UNIQUE rule). */
static inline int
db_insert_id(struct db_stmt *s, int64_t *id)
{
	return s->db->ops->insert_id(s, id);
}

static inline void
db_finish(struct db_stmt *s)
{
	s->db->ops->finish(s);
}

static inline int64_t
db_i64(struct db_stmt *s, int i)
{
	return s->db->ops->col_i64(s, i);
}

static inline const char *
db_text(struct db_stmt *s, int i)
{
	return s->db->ops->col_text(s, i);
}

static inline size_t
db_bytes(struct db_stmt *s, int i)
{
	return s->db->ops->col_bytes(s, i);
}

static inline bool
db_null(struct db_stmt *s, int i)
{
	return s->db->ops->col_null(s, i);
}

static inline int64_t
db_changes(struct db *c)
{
	return c->ops->changes(c);
}

static inline enum db_err
db_last_err(struct db *c)
{
	return c->ops->last_err(c);
}

static inline const char *
db_errmsg(struct db *c)
{
	return c->ops->errmsg(c);
}

#endif
