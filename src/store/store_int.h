/*
 * store_int.h - the store's domain layer, shared by its files only
 * (render.c, apply_msg.c, apply_outbox.c, apply_admin.c, read.c); store.c
 * drives it and everyone else uses store.h.
 *
 * The domain code holds the rules once, for every backend: message
 * documents (stored as `doc`, the API JSON minus the fields that change:
 * status, status_history, error, provider_message_id and the send state,
 * added from their columns by a read), statuses that never go backwards,
 * the outbox state machine, events and their rendering, idempotency. It
 * reaches the database only through db.h, on the two connections a
 * backend opened: the writer (writer thread: apply) and the reader (event
 * loop: reads), and on the connections of the reader pool (readers.c).
 *
 * Sending. An outbound message (an ingested msg_in with DIR_OUT) gets an
 * outbox row next to it, deleted once the message is accepted, failed or
 * cancelled; the sender claims rows (state 1, in flight, leased to its
 * instance until lease_until and renewed while it sends) before it sends
 * and records each outcome. Rows whose lease ran out go back to the queue,
 * uncertain (RECOVER at start, SWEEP meanwhile). Every status change msgd
 * makes itself is also a statuses row with no provider id, so
 * status_history tells the whole life of a message and the provider's
 * reports are never merged with it.
 * Reports that arrive before the send's answer (no message has their
 * provider id yet) are attached when the answer is recorded.
 */
#ifndef MSGD_STORE_INT_H
#define MSGD_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "db.h"
#include "store.h"

#define STORED_JSON_DEPTH 128 /* documents msgd wrote itself */

struct name_cache {
	int64_t id;
	char *name;
};

/* The domain's view of one database: its two connections (the backend's)
 * and what the writer caches. */
#define STORE_CAMP_SEEN 64   /* channels whose campaign presence the writer remembers */

struct store_db {
	struct db *w, *r;
	/* Writer: channel id -> name for message docs. Emptied on rollback,
	 * since a rolled-back channel's id may be handed out again. */
	struct name_cache *names;
	size_t nnames, capnames;
	/* Writer, this transaction: the next message id and event seq (the
	 * highest plus one, read once per transaction: the writer lock keeps
	 * every other writer out until COMMIT); 0 = not read yet. */
	int64_t next_msg_id, next_seq;
	/* Writer: a group's lookups read at once (prefetch.c), or NULL;
	 * prefetch: the backend wants that (a query costs a round trip). */
	struct prefetch *pf;
	bool prefetch;
	/* Writer: delivery ids recorded since the last purge of old ones. */
	unsigned keys_since_purge;
	/* Writer: whether a channel has had a campaign (apply_campaign.c), so an
	 * inbound message of a channel without any pays nothing for counting
	 * replies; direct-mapped by channel id. */
	struct camp_seen { int64_t channel_id, checked_ms; bool has; } camp_seen[STORE_CAMP_SEEN];
};

/* --- apply_admin.c: any op (writer thread, inside a savepoint); on failure
 * op->err and op->errmsg say why and -1 is returned --- */
int store_db_apply(struct store_db *db, struct store_op *op);
/* apply_files.c: STORE_OP_FILE_* (issue 14). */
int store_db_apply_file(struct store_db *db, struct store_op *op);
/* After begin(): ids and seqs are read again. */
void store_db_begin(struct store_db *db);
/* After a rollback: forget what the writer cached. */
void store_db_forget(struct store_db *db);
void store_db_free(struct store_db *db);

/* --- prefetch.c: a group's message and contact lookups in two queries --- */
void prefetch_group(struct store_db *db, struct store_op **ops, size_t n);
void prefetch_clear(struct store_db *db);
/* 0 when the answer is known (*id 0: absent), -1: ask the database. */
int prefetch_msg(struct store_db *db, int64_t channel_id, const char *pmid, int64_t *id,
    int64_t *conv, enum msg_status *status);
int prefetch_contact(struct store_db *db, int64_t channel_id, const char *address, int64_t *id,
    const char **name, int64_t *conv, bool *unreachable);
/* What the writer just wrote, so the answers stay true. */
void prefetch_msg_stored(struct store_db *db, int64_t channel_id, const char *pmid, int64_t id,
    int64_t conv, enum msg_status status);
void prefetch_msg_status(struct store_db *db, int64_t id, enum msg_status status);
void prefetch_contact_stored(struct store_db *db, int64_t channel_id, const char *address,
    int64_t id, const char *name, int64_t conv);
void prefetch_contact_conv(struct store_db *db, int64_t channel_id, const char *address,
    int64_t conv);
/* The contact's reachability changed (chstate.c). */
void prefetch_contact_reach(struct store_db *db, int64_t channel_id, const char *address,
    bool unreachable);

/* --- render.c --- */
/* "attempts", "next_attempt_at" (ISO-8601 UTC, null when next_ms is 0) and
 * "last_error" ({"code","title","detail"} or null when title is NULL; code
 * is a number when code_text is one, else the word, e.g. "network"). */
void store_render_send_state(json_t *m, int64_t attempts, int64_t next_ms,
    const char *code_text, const char *title, const char *detail);
json_t *sd_jstr(const char *s);                  /* a string, or null */
int sd_set_str(json_t *o, const char *key, const char *v);  /* -1: not UTF-8 */
json_t *sd_jtime(int64_t unix_s);                /* RFC 3339 */
json_t *sd_error_json(int64_t code, const char *title, const char *detail, bool always);
char *sd_dump(const json_t *j);                  /* compact JSON text */
/* Every status of a message, oldest first, read on connection c. */
json_t *sd_status_history(struct store_db *db, struct db *c, int64_t message_id);
/* A message from the MSG_COLS columns of s (a statement of connection c)
 * starting at column col; NULL on error (logged). */
json_t *sd_render_message(struct store_db *db, struct db *c, struct db_stmt *s, int col);
/* Without "status_history" (one query less): the dispatcher only builds
 * the provider request from the message. */
json_t *sd_render_message_ex(struct store_db *db, struct db *c, struct db_stmt *s, int col,
    bool history);

/* --- apply_msg.c: helpers every apply_*.c uses --- */
int sd_op_error(struct store_op *op, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same with the error's kind (STORE_NOTFOUND, STORE_CONFLICT). */
int sd_op_fail(struct store_op *op, enum store_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int sd_op_sql_error(struct store_db *db, struct store_op *op);  /* the writer's last failure */
int sd_append_event(struct store_db *db, int64_t org, const char *type, int64_t now, int64_t channel_id,
    int64_t conversation_id, int64_t message_id, const char *data, int64_t *seq);
json_t *sd_writer_message(struct store_db *db, int64_t id);
int sd_set_status(struct store_db *db, int64_t id, enum msg_status from, enum msg_status st,
    int64_t code, const char *title, const char *detail);
int sd_record_own_status(struct store_db *db, int64_t message_id, int64_t channel_id,
    enum msg_status st, int64_t code, const char *title, const char *detail, int64_t now);
int sd_announce_status(struct store_db *db, struct store_op *op, int64_t mid, int64_t channel_id,
    int64_t conv, const char *pmid, enum msg_status st, int64_t code, const char *title,
    const char *detail, json_t *message, int64_t now, int64_t *seq_out);
int sd_change_status(struct store_db *db, struct store_op *op, int64_t mid, int64_t channel_id,
    int64_t conv, const char *pmid, enum msg_status from, enum msg_status st, int64_t code,
    const char *title, const char *detail, int64_t now);
int apply_ingest(struct store_db *db, struct store_op *op);
/* One message record of an ingest (apply_campaign.c makes a campaign's with it). */
int sd_ingest_msg(struct store_db *db, struct store_op *op, struct msg_in *m, int64_t now);
/* Pieces of it campaign_msgs.c makes a chunk's messages with: the next
 * message id (counted in memory), a channel's name (cached; NULL when
 * unknown), the message document as stored, the contact and its
 * conversation (made when absent). 0 / -1 (the writer's error). */
int sd_next_msg_id(struct store_db *db, int64_t *id);
const char *sd_channel_name(struct store_db *db, int64_t id);
json_t *sd_message_doc(const struct msg_in *m, int64_t id, const char *channel, int64_t conversation_id,
    int64_t reply_id);
int sd_contact_conv(struct store_db *db, const struct msg_in *m, int64_t now, int64_t *contact,
    int64_t *conv);

/* --- campaign_msgs.c: a campaign chunk's messages set-based (one
 * statement per table for the chunk) --- */
struct cbulk;
struct cbulk *sd_cbulk_new(void);
void sd_cbulk_free(struct cbulk *b);
/* Can m be made here (a new outbound message with nothing to look up)? */
bool sd_cbulk_plain(const struct msg_in *m);
/* m made as sd_ingest_msg() would, with id (reserved by sd_next_msg_id();
 * 0, or m not plain: through sd_ingest_msg()); its rows written at the flush
 * (touched: its conversation was made with it as the last message). */
int sd_cbulk_add(struct store_db *db, struct store_op *op, struct cbulk *b, struct msg_in *m,
    int64_t id, bool touched, int64_t now);
int sd_cbulk_flush(struct store_db *db, struct store_op *op, struct cbulk *b, int64_t channel_id,
    int64_t campaign_id, int64_t now);

/* --- apply_outbox.c --- */
int apply_outbox_claim(struct store_db *db, struct store_op *op);
int apply_outbox_result(struct store_db *db, struct store_op *op);
int apply_outbox_recover(struct store_db *db, struct store_op *op);
int apply_outbox_renew(struct store_db *db, struct store_op *op);
int apply_outbox_sweep(struct store_db *db, struct store_op *op);
int apply_leases(struct store_db *db, struct store_op *op);  /* LEASE_ACQUIRE, LEASE_RELEASE */
int apply_outbox_shift(struct store_db *db, struct store_op *op);
int apply_cancel(struct store_db *db, struct store_op *op);
/* A deleted channel sends nothing more: its pending messages fail now. */
int fail_channel_outbox(struct store_db *db, struct store_op *op);

/* --- readers.c: the reader pool (store_read_submit) --- */
struct store_backend;
struct event_base;
struct readers;
/* On a pool thread while it runs a job: that thread's connection, for
 * reads of store_tls_owner (store.c's read functions pick it). */
extern _Thread_local struct store_db *store_tls_db;
extern _Thread_local const struct store *store_tls_owner;
int readers_start(struct readers **out, struct store *st, const struct store_backend *be,
    void *bedb, int n, struct event_base *base);
/* Queue a job; -1 once stopping began (the caller runs it inline). */
int readers_submit(struct readers *r, struct store_read *rd);
size_t readers_pending(struct readers *r);
/* Run what is queued, deliver every done() on the calling thread, join
 * the threads (each closes its connection) and free. */
void readers_stop(struct readers *r);

/* --- read.c (a reader connection: the loop's, or a pool thread's): as store.h --- */
/* A conversations cursor "<last_activity_ms>_<id>": 0, or -1 when it is
 * not one (exposed for the fuzz harness). */
int store_parse_conv_cursor(const char *cursor, int64_t *ms, int64_t *id);
int read_schema_version(struct store_db *db);
int read_ping(struct store_db *db);
int read_channels_load(struct store_db *db, json_t **out);
int read_channels_ever(struct store_db *db, bool *out);
/* The connection a read on this thread uses (store.c). */
struct store_db *store_reader_db(struct store *st);

/* --- apply_edit.c: an edit or deletion in place: 0 applied (m->id set;
 * m->duplicate when it changed nothing), 1 when the channel has no message
 * m->target, -1 (op->errmsg) --- */
int sd_apply_change(struct store_db *db, struct store_op *op, struct msg_in *m, int64_t now);
/* The message of the channel with that provider id: *id 0 when absent. */
int sd_find_message(struct store_db *db, int64_t channel_id, const char *provider_id, int64_t *id);

/* --- chstate.c: channels v2 in an ingest op (writer thread) --- */
#define STORE_KEY_MAX 300   /* bytes of a delivery id (inbound_keys.key) */
/* Record a delivery id: *seen when the channel had it already (key NULL: never seen). */
int sd_inbound_key_seen(struct store_db *db, int64_t channel_id, const char *key, int64_t now,
    bool *seen);
/* A contact's reachability (made if absent); contact.status when it changed. */
int sd_contact_status(struct store_db *db, struct store_op *op, int64_t channel_id,
    const char *address, enum contact_status st, const char *reason, int64_t now, bool *applied);
/* optout.c: m's opt-out keyword applied to its contact (issue 14). */
int sd_contact_optout(struct store_db *db, struct store_op *op, struct msg_in *m, int64_t contact,
    int64_t now);
/* A channel's connection state; channel.state when state, reason or QR changed. */
int sd_channel_state(struct store_db *db, struct store_op *op, struct state_in *in, int64_t now);
int sd_channel_cursor(struct store_db *db, struct store_op *op, int64_t channel_id,
    const char *cursor, int64_t now);
int read_api_keys_load(struct store_db *db, json_t **out);
int read_orgs_load(struct store_db *db, json_t **out);
/* quota_gate.c: an outbox claim's sending quotas. quota_gate() holds the
 * entries over a quota (before the claim; *out even on failure, for
 * quota_gate_free()); quota_gate_commit() counts those claimed. */
/* apply_erase.c: a contact's erasure; one message's content emptied
 * (a skeleton of doc kept). */
int apply_contact_erase(struct store_db *db, struct store_op *op);
int apply_channel_templates(struct store_db *db, struct store_op *op);  /* chtemplates.c */
int apply_retention(struct store_db *db, struct store_op *op);
int sd_scrub_message(struct store_db *db, int64_t id, const char *doc);
struct quota_gate;
int quota_gate(struct store_db *db, struct store_op *op, int64_t now, struct quota_gate **out);
int quota_gate_commit(struct store_db *db, struct store_op *op, struct quota_gate *g, int64_t now);
void quota_gate_free(struct quota_gate *g);
int read_signing_keys_load(struct store_db *db, json_t **out);
int read_live_instances(struct store_db *db, int64_t now_ms, int64_t *out);
int read_audit(struct store_db *db, int64_t org, int64_t since, int limit, struct store_event **out,
    size_t *nout);
int read_fingerprint_at(struct store_db *db, int64_t org, const char *fp, int64_t *at_ms);
int read_quota_usage(struct store_db *db, const char *scope, int64_t now_ms, int64_t n[3]);
/* An op's or a read's organization: 0 means the default one. */
static inline int64_t
org_of(int64_t org)
{
	return org > 0 ? org : STORE_ORG_DEFAULT;
}
int read_conversations_list(struct store_db *db, const struct conv_query *q, json_t **out);
int read_conversation_get(struct store_db *db, int64_t org, int64_t id, json_t **out);
int read_messages_list(struct store_db *db, const struct msg_query *q, json_t **out);
int read_message_get(struct store_db *db, int64_t org, int64_t id, json_t **out);
int read_message_by_client_id(struct store_db *db, int64_t org, const char *client_id, json_t **out);
int read_messages_by_provider_id(struct store_db *db, int64_t org, const char *provider_id, json_t **out);
int read_messages_retrying(struct store_db *db, int64_t org, int limit, json_t **out);
int read_events(struct store_db *db, int64_t org, int64_t since, int limit, struct store_event **out,
    size_t *nout);
int read_outbox_due(struct store_db *db, int64_t channel_id, int64_t now, int limit,
    json_t **out);
int read_events_head(struct store_db *db, int64_t *out);
int read_outbox_next_due(struct store_db *db, int64_t channel_id, int64_t *out_ms);
int read_outbox_depth(struct store_db *db, int64_t channel_id, int64_t *out);
int read_last_inbound(struct store_db *db, int64_t channel_id, const char *address,
    int64_t *out_ms, enum contact_status *status, int64_t *opted_out_at);
int read_message_provider_id(struct store_db *db, int64_t org, int64_t id, int64_t *channel_id, char *out,
    size_t outlen);
int read_templates_list(struct store_db *db, int64_t org, json_t **out);
int read_template_get(struct store_db *db, int64_t org, const char *name, const char *language,
    json_t **out);
int read_user_get(struct store_db *db, const char *name, json_t **out);
int read_sessions_load(struct store_db *db, int64_t now_s, json_t **out);
int read_users_list(struct store_db *db, int64_t org, json_t **out);
int read_members_load(struct store_db *db, json_t **out);
int read_subscriptions_load(struct store_db *db, json_t **out);
/* apply_import.c: STORE_OP_IMPORT (imports, h14import) */
int apply_import(struct store_db *db, struct store_op *op);

/* --- apply_media.c (issue 14): an ingested message's media job (inbound with
 * a media_source) or file reference (outbound with a file_ref), in its
 * transaction; the media ops --- */
int sd_media_ingest(struct store_db *db, struct store_op *op, struct msg_in *m, int64_t id,
    int64_t now);
void sd_media_mark_pending(struct msg_in *m);   /* media.status "pending" in m->parts */
/* Message id's content goes (doc: its document before): its pending media
 * job is dropped and the file its media names released (refs - 1). */
int sd_media_scrub(struct store_db *db, int64_t id, const char *doc);
int apply_media(struct store_db *db, struct store_op *op);
/* --- apply_campaign.c (campaigns, issue 14) --- */
int apply_campaign(struct store_db *db, struct store_op *op);
/* A message moved from one status to another: its campaign's counters and
 * its recipient's status (nothing when it is no campaign's). */
int sd_campaign_status(struct store_db *db, int64_t message_id, enum msg_status from,
    enum msg_status to);
/* The contact wrote on the channel: counted once as a reply by each campaign
 * that sent to it. */
int sd_campaign_replied(struct store_db *db, int64_t channel_id, const char *address, int64_t now);
int read_campaign_get(struct store_db *db, int64_t org, int64_t id, json_t **out);

#endif
