/*
 * model.h - msgd's one message model, shared by channels, store and API.
 *
 * A channel adapter turns a provider payload into an ingest_batch: new
 * messages (msg_in), delivery statuses (status_in) and other channel events
 * (event_in). The store commits a batch in one transaction and fills in the
 * ids it assigned. The API renders stored messages as JSON:
 *
 *   {"id","channel","conversation_id","direction":"in"|"out",
 *    "provider_message_id","from","to","type","text",
 *    "media":{"id","mime_type","sha256","filename","url","voice","animated"},
 *    "location":{"latitude","longitude","name","address","url"},
 *    "reaction":{"emoji","message_id","provider_message_id"},
 *    "reply_to":{"provider_message_id","message_id"},
 *    "timestamp","status","status_history":[{"status","at","error"}],
 *    "error":{"code","title","detail"}, ... type-specific parts ...}
 *
 * A reaction names the message it reacts to twice: provider_message_id
 * (the provider's id, as adapters normalize it and sends need it) and
 * message_id (msgd's id of that message, or null when msgd has no message
 * with that provider id on the channel). Adapters fill the former; the
 * store fills the latter when the reaction is stored (in or out), as it
 * does for reply_to. An emoji of "" removes the sender's reaction.
 *
 * Ownership: every pointer in these structs is owned by the struct and
 * freed by ingest_batch_free(); json_t members hold one reference.
 */
#ifndef MSGD_MODEL_H
#define MSGD_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum msg_direction { DIR_IN = 0, DIR_OUT = 1 };

/*
 * Message statuses. Delivery statuses only move forward:
 *   queued/scheduled < accepted < sent < delivered < read
 * "failed" and "cancelled" are terminal. "received" is an inbound message's
 * status. See status_may_replace().
 */
enum msg_status {
	ST_NONE = 0,
	ST_RECEIVED,
	ST_SCHEDULED,
	ST_QUEUED,
	ST_ACCEPTED,
	ST_SENT,
	ST_DELIVERED,
	ST_READ,
	ST_FAILED,
	ST_CANCELLED,
};

const char *status_name(enum msg_status st);
/* Provider words too: "played" parses as ST_READ. Unknown -> ST_NONE. */
enum msg_status status_parse(const char *s);
/* May a message in status cur move to next? Never backwards; terminal stays. */
bool status_may_replace(enum msg_status cur, enum msg_status next);

/*
 * What a message record does. MSG_NEW stores a new message. MSG_EDIT
 * replaces the text (and the parts it carries) of the message whose
 * provider id is `target`, keeping the previous text in edit_history and
 * appending message.edited; MSG_DELETE marks it deleted and appends
 * message.deleted. Neither makes a new row; a target msgd does not have is
 * stored as a new message (edit) or ignored (delete).
 */
enum msg_action { MSG_NEW = 0, MSG_EDIT, MSG_DELETE };

/* A contact's reachability, as the provider told it. */
enum contact_status {
	CONTACT_ACTIVE = 0,   /* reachable (the default; set again when the contact writes) */
	CONTACT_BLOCKED,      /* blocked the bot / the business: sends are refused */
	CONTACT_INVALID,      /* not on the network (e.g. not a WhatsApp number) */
};
const char *contact_status_name(enum contact_status s);
/* CONTACT_ACTIVE for an unknown word. */
enum contact_status contact_status_parse(const char *s);

/* A channel's connection state, shared by every instance (channel_states). */
enum channel_conn {
	CONN_NONE = 0,        /* never reported */
	CONN_CONNECTING,
	CONN_PAIRING,         /* waiting for a QR code to be scanned */
	CONN_CONNECTED,
	CONN_DISCONNECTED,
	CONN_PAUSED,          /* the outbox holds its sends (credentials, account blocked) */
	CONN_ERROR,
};
const char *channel_conn_name(enum channel_conn s);
/* CONN_NONE for an unknown word. */
enum channel_conn channel_conn_parse(const char *s);

/* A new message as a channel adapter normalized it. */
struct msg_in {
	/* Set by the adapter. */
	int64_t channel_id;
	enum msg_direction direction;
	char *provider_message_id;  /* the provider's id, used to deduplicate */
	char *from;                 /* sender address (wa_id, phone, ...) */
	char *to;                   /* recipient address (our number for inbound) */
	char *contact_address;      /* the conversation's counterpart (sender, or group id) */
	char *contact_name;         /* profile name if the provider gave one, else NULL */
	char *type;                 /* text, image, audio, voice, video, document, sticker,
	                               location, contacts, interactive, button, reaction,
	                               order, system, edit, revoke, unsupported, unknown */
	char *text;                 /* body or caption, byte-exact UTF-8 without NULs; NULL if none */
	char *reply_to;             /* provider id of the quoted message, or NULL */
	int64_t timestamp;          /* provider time, Unix seconds */
	json_t *parts;              /* object: media, location, reaction, contacts, interactive,
	                               order, system, referral, edit, revoke, forwarded, group_id,
	                               errors... (only what applies); never NULL */
	char *raw;                  /* the provider's JSON for this one message, verbatim enough
	                               to re-normalize; never NULL */

	/* Channels v2 (adapters may set them). */
	char *dedup_key;            /* inbound: the provider's delivery id when it has one of its
	                               own (Telegram "u:<update_id>"): a record whose key the
	                               channel has seen is a duplicate. NULL: the provider id */
	enum msg_action action;     /* MSG_EDIT / MSG_DELETE change the message `target` in place */
	char *target;               /* provider id of the message edited or deleted */
	bool echo;                  /* DIR_OUT sent by the business from elsewhere (another
	                               device): stored as sent with its provider id, never queued */
	/* Media (issue 14). Inbound: what the adapter needs to fetch the
	 * content later (a media id, a file_id, an inline base64; its
	 * media_fetch_prepare() reads it), or NULL: nothing to fetch. The store
	 * keeps it in a media job (media_jobs, never in the message document)
	 * made in the message's transaction and marks media.status "pending".
	 * Outbound: file_ref names the stored file (files.id) the message
	 * sends, referenced (refs + 1) in the same transaction. */
	json_t *media_source;
	char *file_ref;

	/* Outbound only (DIR_OUT), set by the send API. */
	enum msg_status status;     /* ST_QUEUED or ST_SCHEDULED */
	char *client_id;            /* idempotency key, or NULL */
	int64_t due_ms;             /* earliest send time (now, or scheduled_at) */
	int priority;               /* 0 = conversational reply (first), 1 = bulk */
	int64_t cooldown_ms;        /* bulk: at least this long after the contact's last bulk
	                               message (the store moves due_ms; 0: none) */
	char *fingerprint;          /* duplicate detection: recorded with the message, or NULL */
	int64_t campaign_id;        /* a campaign's message (0: none): its status changes move
	                               the campaign's counters; no message.status event when queued */

	/* Opt-outs (issue 14), set on the loop by the API (api_optout.c). */
	int optout;                 /* inbound: 1 an opt-out keyword, -1 an opt-in one, 0 none */
	char *optout_keyword;       /* ... the keyword as configured */
	size_t optout_reply;        /* outbound: the confirmation of the batch's message at index
	                               optout_reply - 1 (0: none), stored only when that one
	                               changed its contact */
	bool optout_applied;        /* filled by the store: the contact's opt-out changed */

	/* Filled in by the store when the batch commits. */
	int64_t id;
	int64_t conversation_id;
	int64_t seq;                /* event seq of message.received (or message.status for
	                               outbound); 0 if duplicate */
	bool duplicate;             /* already stored (same channel + provider id, or same
	                               client_id for outbound) */
};

/* A delivery status report for a message the provider names by its id. */
struct status_in {
	int64_t channel_id;
	char *provider_message_id;
	enum msg_status status;     /* ST_SENT, ST_DELIVERED, ST_READ or ST_FAILED */
	char *provider_status;      /* the provider's word ("played", "read", ...) */
	char *recipient;            /* recipient address, or NULL */
	int64_t timestamp;          /* provider time, Unix seconds */
	int64_t error_code;         /* 0 when no error */
	char *error_title;
	char *error_detail;
	char *raw;                  /* the provider's JSON for this status; never NULL */

	/* Filled in by the store. */
	int64_t message_id;         /* 0 when no stored message has that provider id */
	bool applied;               /* the message's status changed */
};

/* Any other channel event worth keeping in the log (e.g. "channel.error"). */
struct event_in {
	int64_t channel_id;
	char *type;
	json_t *data;
	int64_t seq;                /* filled by the store */
};

/* A contact's reachability changed (Telegram my_chat_member: kicked). */
struct contact_in {
	int64_t channel_id;
	char *address;              /* normalized as the channel's senders are */
	enum contact_status status;
	char *reason;               /* short words, or NULL */
	int64_t timestamp;          /* provider time, Unix seconds */
	char *dedup_key;            /* as msg_in's, or NULL */
	bool applied;               /* filled by the store: the status changed */
};

/* The channel's connection state changed (Evolution connection.update,
 * qrcode.updated, a connect() call). The store keeps the last one per
 * channel and appends channel.state when state, reason or QR changed. */
struct state_in {
	int64_t channel_id;
	enum channel_conn state;
	char *reason;               /* NULL: none */
	char *qr;                   /* pairing: the QR code's text, or NULL (keep the last) */
	char *pairing_code;         /* pairing: the code to type on the phone, or NULL */
	bool applied;               /* filled by the store */
};

struct ingest_batch {
	struct msg_in *msgs;
	size_t nmsgs, capmsgs;
	struct status_in *statuses;
	size_t nstatuses, capstatuses;
	struct event_in *events;
	size_t nevents, capevents;
	struct contact_in *contacts;
	size_t ncontacts, capcontacts;
	struct state_in *states;
	size_t nstates, capstates;
	/* A channel's polling position (Telegram getUpdates offset), committed
	 * with the records it delivered; cursor_channel_id 0: none. */
	int64_t cursor_channel_id;
	char *cursor;
};

/* Append a zeroed record and return it (parts set to an empty object). */
struct msg_in *ingest_batch_add_msg(struct ingest_batch *b);
struct status_in *ingest_batch_add_status(struct ingest_batch *b);
struct event_in *ingest_batch_add_event(struct ingest_batch *b);
struct contact_in *ingest_batch_add_contact(struct ingest_batch *b);
struct state_in *ingest_batch_add_state(struct ingest_batch *b);
/* No records at all (nothing to commit). */
bool ingest_batch_empty(const struct ingest_batch *b);
void ingest_batch_free(struct ingest_batch *b);
/* Free what one message record owns and zero it (the record stays). */
void msg_in_clear(struct msg_in *m);

#endif
