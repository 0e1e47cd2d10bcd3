/*
 * store_backend.h - what a database backend gives store.c.
 *
 * The store has two layers (store_int.h): the domain code, written once,
 * and a backend per database (sqlite.c, pg.c) that owns the
 * database and nothing else: its connections, schema migrations in its
 * own dialect, transactions, the text of every statement (sql.h) and the
 * db.h primitives that run them. Each backend exports one
 * `const struct store_backend` filled with designated initializers; every
 * slot is required but the three of several instances (notify, listen,
 * unlisten).
 *
 * The contract a backend follows:
 *  - open() creates/migrates the database and opens two independent
 *    connections: a writer, used ONLY by the writer thread (every slot
 *    below but open and close), and a reader, used ONLY by the thread
 *    that calls the reads (the event loop). open() and close() run while
 *    the writer thread does not exist.
 *  - open_reader() opens one more reader connection (same database, same
 *    read-only settings as open()'s reader) for a thread of the reader
 *    pool (readers.c); it is called by that thread, which alone uses the
 *    connection, and close_reader() closes it on the same thread, before
 *    close(). It MAY return a connection that is not connected yet (the
 *    server away): reads on it then fail until it comes back, with the
 *    same reconnect rules as the reader's. -1 when none could be made.
 *  - begin() starts a transaction that takes the write lock at once;
 *    commit() returns only once the transaction is durable on disk.
 *  - store.c applies each op inside begin()..commit() and inside a
 *    savepoint; when the op fails it rolls back to the savepoint.
 *  - rollback_to() returning -1 means the whole transaction is gone (the
 *    database aborted it); store.c then fails the group.
 *  - errors are logged by the backend, which knows the database's words;
 *    a UNIQUE violation is DB_CONFLICT, not logged (a domain answer).
 */
#ifndef MSGD_STORE_BACKEND_H
#define MSGD_STORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct db;

struct store_backend {
	const char *name;

	int (*open)(void **out, const struct store_config *cfg, struct db **writer,
	    struct db **reader);
	void (*close)(void *be);
	/* The reader pool: one connection per pool thread. */
	int (*open_reader)(void *be, struct db **out);
	void (*close_reader)(struct db *c);

	/* Writer thread. */
	int (*begin)(void *be);
	int (*commit)(void *be);
	void (*rollback)(void *be);
	int (*savepoint)(void *be);
	int (*release)(void *be);
	int (*rollback_to)(void *be);
	/* Right after a writer call failed: was it storage itself (the
	 * disk) rather than the op? why gets the database's own message. */
	enum store_fault (*fault)(void *be, char *why, size_t cap);
	/* A query costs a round trip: the domain code reads a group's lookups
	 * in a few queries before its ops run (prefetch.c). */
	bool prefetch;

	/* Several instances (MAY be NULL, all three or none: a database only
	 * one msgd uses, as SQLite).
	 * notify(): writer thread, inside the transaction, after the group's
	 * ops and before commit(): tell the other instances, at the commit,
	 * what it changed (kinds, STORE_CHANGE_*; 0: nothing) and the highest
	 * seq it appended (0: none). -1 fails the group like a failed op.
	 * listen(): start hearing the other instances on a connection and a
	 * thread of the backend's own, calling fn(arg, kinds, last_seq) on
	 * that thread (store.h, store_set_change_hook, says what it reports);
	 * notifications of this backend's own writer are left out.
	 * unlisten(): stop that thread (fn is not called after it returns). */
	int (*notify)(void *be, unsigned kinds, int64_t last_seq);
	int (*listen)(void *be, store_change_fn fn, void *arg);
	void (*unlisten)(void *be);
};

extern const struct store_backend store_sqlite_backend;
extern const struct store_backend store_pg_backend;

/* The backend a DSN names (store_config.database); NULL when none does. */
const struct store_backend *store_backend_for(const char *dsn);

#endif
