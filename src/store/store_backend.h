/*
 * store_backend.h - what a database backend gives store.c.
 *
 * store.c owns the writer thread, group commit and completion delivery;
 * a backend (store_sqlite.c now, store_pg.c later) owns the database: its
 * connections, schema migrations, how an op is applied and how reads are
 * rendered into the API's JSON. Each backend exports one
 * `const struct store_backend` filled with designated initializers; every
 * slot is required.
 *
 * The contract a backend follows:
 *  - open() creates/migrates the database and opens two independent
 *    connections: a writer, used ONLY by the writer thread (the functions
 *    under "writer thread"), and a reader, used ONLY by the thread that
 *    calls the reads (the event loop). open() and close() run while the
 *    writer thread does not exist.
 *  - begin() starts a transaction that takes the write lock at once;
 *    commit() returns only once the transaction is durable on disk.
 *  - apply() runs inside begin()..commit() and inside a savepoint; on
 *    failure it MUST fill op->errmsg (and op->conflict when a uniqueness
 *    rule refused it) and return -1; store.c then rolls back to the
 *    savepoint. It writes only op's result fields and the ids/flags an
 *    ingest batch reserves for the store.
 *  - rollback_to() returning -1 means the whole transaction is gone (the
 *    database aborted it); store.c then fails the group.
 *  - reads follow store.h: not found -> 0 with *out = NULL.
 *  - errors are logged by the backend, which knows the database's words.
 */
#ifndef MSGD_STORE_BACKEND_H
#define MSGD_STORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "store.h"

struct store_backend {
	const char *name;

	int (*open)(void **out, const struct store_config *cfg);
	void (*close)(void *db);

	/* Writer thread. */
	int (*begin)(void *db);
	int (*commit)(void *db);
	void (*rollback)(void *db);
	int (*savepoint)(void *db);
	int (*release)(void *db);
	int (*rollback_to)(void *db);
	int (*apply)(void *db, struct store_op *op);
	/* Right after a writer call failed: was it storage itself (the
	 * disk) rather than the op? why gets the database's own message. */
	enum store_fault (*fault)(void *db, char *why, size_t cap);

	/* Reader (event loop thread). */
	int (*schema_version)(void *db);
	int (*ping)(void *db);
	int (*channels_load)(void *db, json_t **out);
	int (*channels_ever)(void *db, bool *out);
	int (*api_keys_load)(void *db, json_t **out);
	int (*conversations_list)(void *db, const struct conv_query *q, json_t **out);
	int (*conversation_get)(void *db, int64_t id, json_t **out);
	int (*messages_list)(void *db, const struct msg_query *q, json_t **out);
	int (*message_get)(void *db, int64_t id, json_t **out);
	int (*messages_by_provider_id)(void *db, const char *provider_id, json_t **out);
	int (*messages_retrying)(void *db, int limit, json_t **out);
	int (*events_read)(void *db, int64_t since, int limit, struct store_event **out, size_t *n);
	int (*outbox_due)(void *db, int64_t channel_id, int64_t now_ms, int limit, json_t **out);
	int (*outbox_next_due)(void *db, int64_t channel_id, int64_t *out_ms);
	int (*events_head)(void *db, int64_t *out);
	int (*message_by_client_id)(void *db, const char *client_id, json_t **out);
	int (*outbox_depth)(void *db, int64_t channel_id, int64_t *out);
	int (*last_inbound)(void *db, int64_t channel_id, const char *address, int64_t *out_ms);
	int (*message_provider_id)(void *db, int64_t id, int64_t *channel_id, char *out,
	    size_t outlen);
	int (*templates_list)(void *db, json_t **out);
	int (*template_get)(void *db, const char *name, const char *language, json_t **out);
	int (*user_get)(void *db, const char *name, json_t **out);
	int (*sessions_load)(void *db, int64_t now_s, json_t **out);
	int (*users_list)(void *db, json_t **out);
	int (*subscriptions_load)(void *db, json_t **out);
};

extern const struct store_backend store_sqlite_backend;

/* --- render.c: what every backend adds to a message it renders --- */

/* "attempts", "next_attempt_at" (ISO-8601 UTC, null when next_ms is 0) and
 * "last_error" ({"code","title","detail"} or null when title is NULL; code
 * is a number when code_text is one, else the word, e.g. "network"). */
/* A conversations cursor "<last_activity_ms>_<id>" (sqlite backend; exposed
 * for the fuzz harness): 0, or -1 when it is not one. */
int store_parse_conv_cursor(const char *cursor, int64_t *ms, int64_t *id);
void store_render_send_state(json_t *m, int64_t attempts, int64_t next_ms,
    const char *code_text, const char *title, const char *detail);

#endif
