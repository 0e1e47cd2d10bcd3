/*
 * store.h - msgd's storage: an append-only event log plus projections
 * (channels, contacts, conversations, messages, statuses), behind one
 * interface: the domain rules once (store_int.h), over a backend per
 * database (sqlite.c, pg.c; store_backend.h), chosen by store_config's DSN.
 *
 * Writes are operations (struct store_op) submitted to a single writer that
 * group-commits: every op that is waiting when a transaction starts joins
 * it, so one fsync covers many requests. An op's done() callback runs on
 * the event loop thread only after its transaction is durable (or has
 * failed); that is when a webhook may be answered 200. Each op runs inside
 * its own savepoint: a failing op is rolled back alone and reported failed,
 * the others in the transaction still commit.
 *
 * Reads are synchronous functions, run on the calling thread's read
 * connection; they see every op whose done() has run. The event loop MUST
 * NOT wait on them while it serves (over a network database each is a
 * round trip): it hands them to the reader pool with store_read_submit(),
 * whose threads each have a connection of their own. There the same read
 * functions use the pool thread's connection. Called on the loop (start-up,
 * background readers) they use the loop's reader connection.
 *
 * Rules:
 *  - the caller owns the op and everything it points to, and MUST keep them
 *    alive until done() runs; the store writes only the result fields;
 *  - done() MUST NOT call store_submit_wait();
 *  - event seqs are strictly increasing in commit order; events are never
 *    updated or deleted;
 *  - a message is stored at most once per (channel, provider_message_id):
 *    a repeat is reported with msg_in.duplicate and appends no event;
 *  - a status never moves a message backwards (status_may_replace()); a
 *    status for an unknown provider id is recorded, never an error.
 *
 * JSON shapes returned by reads are the API's (see docs/API.md):
 * message, conversation, channel row, event.
 */
#ifndef MSGD_STORE_H
#define MSGD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../core/model.h"

struct event_base;
struct store;
struct file_info;

/* One recipient of a campaign chunk (STORE_OP_CAMPAIGN_CHUNK): owned by
 * the caller. msg is its message's index in the chunk's batch, or -1 when
 * skip_reason says why it gets none ("invalid_address", "duplicate",
 * "missing_variable"); the store skips blocked and invalid contacts
 * itself ("blocked", "unreachable"). */
struct campaign_rcpt {
	int64_t idx;
	char *address;
	char *variables;            /* JSON object text, or NULL */
	const char *skip_reason;    /* static text, or NULL */
	int msg;
};

#define STORE_ORG_DEFAULT 1      /* the organization "default": every row from before 0010 */

enum store_op_kind {
	STORE_OP_INGEST,          /* u.ingest: messages, statuses, events */
	STORE_OP_CHANNEL_CREATE,  /* u.channel: fills u.channel.id; conflict if name taken */
	STORE_OP_CHANNEL_UPDATE,  /* u.channel: by id, replaces config */
	STORE_OP_CHANNEL_DELETE,  /* u.channel: by id (soft delete: history stays) */
	STORE_OP_API_KEY_PUT,     /* u.api_key: insert in org_id (conflict if the hash exists);
	                             fills u.api_key.id */
	STORE_OP_API_KEY_REVOKE,  /* u.api_key: by id, in org_id; NOTFOUND when there is no
	                             such live key */
	STORE_OP_API_KEY_USED,    /* u.api_key: used[i] keys last used at u.api_key.at (s) */
	STORE_OP_OUTBOX_CLAIM,    /* u.outbox: mark entries in flight before sending, leased
	                             to owner until lease_until */
	STORE_OP_OUTBOX_RESULT,   /* u.outbox: record attempts' outcomes (a retry or requeue
	                             of an entry another owner has in flight is ignored) */
	STORE_OP_OUTBOX_RECOVER,  /* u.lease: at start, in-flight entries back to pending,
	                             uncertain: every one when all (or owner NULL), else
	                             owner's and those whose lease ran out by now_ms; sets count */
	STORE_OP_OUTBOX_RENEW,    /* u.lease: owner's in-flight entries leased until until_ms */
	STORE_OP_OUTBOX_SWEEP,    /* u.lease: in-flight entries of other owners whose lease
	                             ran out by now_ms back to pending, uncertain, due now;
	                             sets count */
	STORE_OP_LEASE_ACQUIRE,   /* u.leases: take or renew each name for owner until until_ms
	                             (free, already owner's, or run out by now_ms); sets held[] */
	STORE_OP_LEASE_RELEASE,   /* u.leases: delete owner's leases (owner NULL: every lease) */
	STORE_OP_OUTBOX_SHIFT,    /* u.shift: the wall clock jumped: move every delay-based
	                             due time (not a scheduled_at) by delta_ms, none later
	                             than cap_ms; sets count */
	STORE_OP_CANCEL,          /* u.cancel: cancel a queued/scheduled message */
	STORE_OP_CONV_READ,       /* u.conv_read: unread_count = 0 */
	STORE_OP_TEMPLATE_PUT,    /* u.template: create (conflict if name+language exists) */
	STORE_OP_TEMPLATE_DELETE, /* u.template: by name (all languages) */
	STORE_OP_USER_PUT,        /* u.user: create (conflict if the name exists), with the role
	                             u.user.role in org_id when role is not NULL */
	STORE_OP_USER_DELETE,     /* u.user: by name, with its sessions and memberships; sets found */
	STORE_OP_USER_PASSWORD,   /* u.user: new password_hash, the user's sessions deleted; sets found */
	STORE_OP_USER_LOGOUT,     /* u.user: delete every session of user_name name ("token" too);
	                             sets found (the user exists) and count */
	STORE_OP_SESSION_PUT,     /* u.session: insert; also purges sessions with expires_at <= created_at */
	STORE_OP_SESSION_DELETE,  /* u.session: by token_hash (absent is not an error) */
	STORE_OP_SUBSCRIPTION_PUT,     /* u.subscription: insert; fills u.subscription.id */
	STORE_OP_SUBSCRIPTION_DELETE,  /* u.subscription: by id (absent is not an error) */
	STORE_OP_SUBSCRIPTION_ADVANCE, /* u.subscription: cursor to delivered_seq, retry state
	                                  cleared; with last_error set, the event at
	                                  delivered_seq was given up on: appends webhook.failed */
	STORE_OP_SUBSCRIPTION_RETRY,   /* u.subscription: record a failed attempt (attempts,
	                                  first_attempt_ms, next_attempt_ms, last_error) */
	STORE_OP_PROBE,                /* none: rewrites one row unchanged, so the commit must
	                                  write and sync (the store's own health probe) */
	STORE_OP_ORG_CREATE,           /* u.org: fills u.org.id; conflict if the name is taken */
	STORE_OP_ORG_SETTINGS,         /* u.org: org_id's settings become u.org.settings_json;
	                                  NOTFOUND when there is no such organization */
	STORE_OP_MEMBER_PUT,           /* u.user: name's role (u.user.role) in org_id, made or
	                                  changed; NOTFOUND when there is no such user */
	STORE_OP_MEMBER_DELETE,        /* u.user: name's membership of org_id; sets found */
	STORE_OP_USER_PLATFORM,        /* u.user: name is a platform admin (platform_admin) or
	                                  not; sets found */
	STORE_OP_CONTACT_ERASE,        /* u.erase: the contact's profile, its messages' content
	                                  (documents, raw payloads, statuses' payloads) and its
	                                  events' data are removed; its waiting sends dropped;
	                                  appends contact.erased; NOTFOUND when it is not org_id's */
	STORE_OP_RETENTION,            /* u.retention: one step of org_id's retention: the content
	                                  of up to a page of messages and events made before
	                                  before_ms is removed, from the cursors on; sets them
	                                  on, and done when it reached before_ms */
	STORE_OP_AUDIT,                /* u.audit: appends an audit.* event to org_id's log */
	STORE_OP_SIGNING_KEY_PUT,      /* u.signing_key: a new key signing access tokens; the keys
	                                  made before purge_before (Unix seconds) are deleted */
	/* Campaigns (issue 14, h14camp; apply_campaign.c). */
	STORE_OP_CAMPAIGN_CREATE,      /* u.campaign: the campaign row; fills u.campaign.id */
	STORE_OP_CAMPAIGN_CHUNK,       /* u.chunk: the next recipients and their messages;
	                                  CONFLICT when the campaign is not at chunk start
	                                  (made already, by another instance) or was cancelled */
	STORE_OP_CAMPAIGN_CONTROL,     /* u.control: pause, resume or cancel; CONFLICT for an
	                                  impossible transition, NOTFOUND */
	STORE_OP_CAMPAIGN_TICK,        /* u.tick: campaign.progress for the campaigns whose
	                                  counters changed (at most one a second each),
	                                  scheduled ones started, finished ones completed */
	/* files (issue 14, src/files/; files.h says more) */
	STORE_OP_FILE_PUT,             /* u.file: org_id's row for info->sha256: made with info's
	                                  fields, or, when org_id has that content already, that
	                                  row (last_used_at bumped; existed set), copied into *info.
	                                  The content: tmp_path renamed to content_path unless that
	                                  exists (then tmp_path removed) */
	STORE_OP_FILE_REF,             /* u.file: refs of file id (in org_id) += delta (never below
	                                  0), last_used_at now; NOTFOUND when not org_id's */
	STORE_OP_FILE_SWEEP,           /* u.file: up to limit rows without references last used
	                                  before before_ms deleted (any organization), and their
	                                  content under files_dir once no row has its sha256; sets
	                                  count */
	/* imports (issue 14, h14import) */
	STORE_OP_IMPORT,               /* u.import: one step of an import (struct store_import) */
	/* h14optout (issue 14). */
	STORE_OP_CHANNEL_TEMPLATES,    /* u.chtpl: a provider template sync's outcome: templates
	                                  (non-NULL) replace the channel's whole list; error
	                                  (templates NULL) is recorded as the last sync's error */
	/* media both ways (issue 14, apply_media.c) */
	STORE_OP_MEDIA_CLAIM,          /* u.media: lease each pending job to owner until
	                                  lease_until (free, owner's, or run out by now_ms);
	                                  sets items[].claimed */
	STORE_OP_MEDIA_RESULT,         /* u.media: each item's outcome (a job no longer pending
	                                  is left alone): STORED links the file from the message
	                                  (refs + 1) and appends message.media, RETRY counts the
	                                  attempt, FAILED marks the message's media failed and
	                                  appends message.media */
	STORE_OP_MEDIA_UPLOADED,       /* u.media_upload: the provider's media id of a file's
	                                  content on a channel (the upload cache) */
	/* exports (issue 15, h15sink) */
	STORE_OP_SUBSCRIPTION_PAUSE,   /* u.subscription: paused (true) or resumed (false) */
};

/* One inbound media job (media_jobs) in a CLAIM or RESULT op. */
enum media_result { MEDIA_STORED = 1, MEDIA_RETRY, MEDIA_FAILED };
struct media_item {
	int64_t message_id;
	bool claimed;                /* CLAIM result */
	enum media_result result;    /* RESULT input */
	int64_t next_at;             /* RETRY: wall-clock ms */
	char error[256];             /* RETRY, FAILED: why */
	char file_id[32];            /* STORED: the files row, and what it holds */
	char mime_type[128];
	char sha256[65];
	int64_t size;
};

/*
 * Outbound messages are STORE_OP_INGEST msg_in records with direction
 * DIR_OUT: the store inserts the message (status queued or scheduled), its
 * outbox entry (due at due_ms) and a message.status event, in the same
 * transaction. A client_id seen before makes it a duplicate (m->duplicate,
 * m->id = the original) and nothing is inserted.
 */
enum outbox_result {
	OUTBOX_ACCEPTED,   /* provider took it: status accepted, provider id set, entry done */
	OUTBOX_RETRY,      /* attempt failed, try again at due_ms (attempt counted) */
	OUTBOX_REQUEUE,    /* not attempted after all (channel paused, breaker): due_ms, attempt not counted */
	OUTBOX_FAILED,     /* permanent: status failed with the error, entry done */
};

/* An entry's sending quotas (CLAIM input; quota.h): its organization's and
 * its channel's limits per minute, hour and day (0: none). */
struct item_quota {
	int64_t org_id, channel_id;
	int priority;                /* 0 replies go before 1 bulk when both wait */
	int64_t org_max[3], channel_max[3];
};

struct outbox_item {
	int64_t message_id;
	/* CLAIM input: quotas (NULL: none). An entry over one is not claimed:
	 * it waits, pending, until the window that is full ends (held,
	 * throttled_until, the message shows it), its attempt not counted. */
	const struct item_quota *quota;
	/* CLAIM result: false when the entry was no longer pending (cancelled)
	 * or held by a quota. */
	bool claimed;
	bool held;
	int64_t throttled_until;     /* held: wall-clock ms */
	/* RESULT input. */
	enum outbox_result result;
	char *provider_message_id;   /* ACCEPTED (owned by the caller) */
	int64_t due_ms;              /* RETRY, REQUEUE */
	int64_t error_code;          /* RETRY (last error, kept on the entry), FAILED */
	char error_code_text[24];    /* the code as the API shows it when it is not the
	                                provider's number: "network", "http_503"; "" = error_code */
	char error_title[256];
	char error_detail[512];
	/* FAILED: CONTACT_BLOCKED or CONTACT_INVALID marks the recipient so
	 * (contact.status), refusing later sends to it. */
	enum contact_status recipient_status;
	char *recipient;             /* with it (owned by the caller) */
};

/* Why an op failed: callers decide on this, never on errmsg's words. */
enum store_err {
	STORE_OK = 0,
	STORE_ERROR,             /* anything else: a malformed op, an unexpected database error */
	STORE_NOTFOUND,          /* its target does not exist */
	STORE_CONFLICT,          /* a uniqueness or state rule refused it (name taken,
	                            no longer cancellable) */
	STORE_UNAVAILABLE,       /* storage failed (op->fault says how): the same op may
	                            work later */
};

/* Why storage itself failed (not the op's own content). */
enum store_fault {
	STORE_FAULT_NONE = 0,
	STORE_FAULT_FULL,        /* no space left (disk full, quota) */
	STORE_FAULT_IO,          /* the disk reported an I/O error */
	STORE_FAULT_OTHER,       /* the database is unusable (corrupt, read-only, locked) */
};

/* "full", "io_error", "unavailable" (NONE: "ok"). */
const char *store_fault_name(enum store_fault f);

/*
 * Imports (issue 14, h14import; src/import/import.h drives them): a file
 * staged row by row. An import is `parsing` until its worker finishes it
 * `validated` or `failed`; a failed one keeps its error and no staged row.
 */
enum store_import_step {
	IMPORT_STEP_CREATE,    /* a new import (parsing) of org_id: file_id, channel_id, format,
	                          request_json; fills id. The file's refs + 1 */
	IMPORT_STEP_RESET,     /* a (re)start: staged rows and errors deleted, counts 0, owner
	                          set; NOTFOUND unless it is parsing */
	IMPORT_STEP_ROWS,      /* a chunk: rows_json and errors_json (arrays, import.c's shape)
	                          inserted, the counts added, columns/preview set when not NULL;
	                          NOTFOUND unless it is parsing (deleted meanwhile) */
	IMPORT_STEP_FINISH,    /* validated; or failed with error_*: its staged rows and errors
	                          deleted; NOTFOUND unless it is parsing */
	IMPORT_STEP_DELETE,    /* the import with its rows and errors; the file's refs - 1;
	                          NOTFOUND when org_id has no such import */
};
struct store_import {
	enum store_import_step step;
	int64_t id;                    /* CREATE: result; others: input */
	const char *file_id;           /* CREATE */
	int64_t channel_id;            /* CREATE */
	const char *format;            /* CREATE: "csv" | "xlsx" */
	const char *request_json;      /* CREATE */
	const char *owner;             /* CREATE, RESET: the instance parsing it */
	const char *rows_json;         /* ROWS: [{"r":row,"p":phone|null,"d":{vars},"s":status}] */
	const char *errors_json;       /* ROWS: [{"n","r","c","v","k" (code),"m"}] */
	int64_t rows, valid, invalid, duplicates, errors;   /* ROWS: added to the counts */
	const char *columns_json;      /* ROWS, FINISH: set when not NULL */
	const char *preview_json;
	bool failed;                   /* FINISH */
	const char *error_code;        /* FINISH failed */
	const char *error_message;
	int64_t error_row;             /* 0: none */
};

struct store_op {
	enum store_op_kind kind;
	/* The organization the op acts in (0: the default one). Ops that make
	 * rows of an organization (a channel, a template, a subscription) put
	 * it there; ops on existing rows by id (CANCEL, CONV_READ,
	 * TEMPLATE_DELETE) find nothing in another organization (NOTFOUND). */
	int64_t org_id;
	union {
		struct ingest_batch *ingest;
		struct {
			int64_t id;
			const char *name;
			const char *type;
			const char *config_json;  /* serialized config, secrets included */
			const char *route_key;    /* CREATE, UPDATE: the route key's value
			                             (channel.h), or NULL; conflict if another
			                             live channel of the type has it */
			int64_t at;               /* result: the row's updated_at (and created_at
			                             when made), Unix seconds */
		} channel;
		struct {
			const char *name;
			unsigned char hash[32];   /* SHA-256 of the key */
			const char *scopes_json;  /* PUT: a JSON array of scope names (NULL: none) */
			const char *prefix;       /* PUT: the key's first characters, to tell it apart */
			int64_t expires_at;       /* PUT: Unix seconds; 0: never */
			int64_t id;               /* PUT: result; REVOKE: input */
			const int64_t *used;      /* USED: key ids */
			size_t nused;
			int64_t at;               /* USED: Unix seconds */
		} api_key;
		struct {
			struct outbox_item *items;
			size_t n;
			const char *owner;        /* CLAIM: the lease's owner (instance id); RESULT:
			                             the instance recording (NULL: any) */
			int64_t lease_until;      /* CLAIM: wall-clock ms */
		} outbox;
		struct {
			const char *owner;        /* this instance's id */
			int64_t now_ms;           /* RECOVER, SWEEP: leases ending before this ran out */
			int64_t until_ms;         /* RENEW */
			bool all;                 /* RECOVER: every entry in flight */
			int64_t count;            /* result: entries changed */
		} lease;
		struct {
			const char *owner;
			const char *const *names; /* ACQUIRE: "channel:<id>", "hook:<id>" */
			bool *held;               /* ACQUIRE result, one per name */
			size_t n;
			int64_t now_ms;
			int64_t until_ms;
		} leases;
		struct {
			int64_t message_id;
			json_t *message;          /* result: the cancelled message (new ref) */
		} cancel;                     /* STORE_CONFLICT when no longer cancellable,
		                                 STORE_NOTFOUND when there is no such message */
		struct {
			int64_t delta_ms;
			int64_t cap_ms;
			int64_t count;            /* result: entries moved */
		} shift;
		struct {
			int64_t conversation_id;
			int64_t channel_id;               /* result */
			char last_inbound_provider_id[256]; /* result: "" when none */
		} conv_read;
		struct {
			const char *name;
			const char *language;
			const char *body;
		} template;
		struct {
			const char *name;
			const char *password_hash;  /* crypto_pwhash_str() output */
			const char *role;           /* PUT, MEMBER_PUT: "owner", "admin", "agent", "viewer" */
			bool platform_admin;        /* PLATFORM */
			bool must_change;           /* PUT, PASSWORD: the user must choose a new
			                               password first (must_change_password) */
			bool found;                 /* DELETE, PASSWORD, LOGOUT result */
			int64_t count;              /* sessions deleted (DELETE, PASSWORD, LOGOUT) */
		} user;
		struct {
			unsigned char token_hash[32];  /* SHA-256 of the cookie token's bytes */
			const char *csrf;              /* PUT */
			const char *user_name;         /* PUT: a user, or "token" */
			const char *credential;        /* PUT: fingerprint of what made it (auth.c) */
			int64_t created_at;            /* PUT: Unix seconds */
			int64_t expires_at;            /* PUT: Unix seconds, absolute end */
		} session;
		struct {
			int64_t id;                /* PUT: result; others: input */
			const char *url;           /* PUT */
			const char *events_json;   /* PUT: serialized array */
			const char *secret;        /* PUT */
			int64_t created_at;        /* PUT: Unix seconds */
			int64_t delivered_seq;     /* PUT: start cursor; ADVANCE: new cursor (never moves back) */
			int attempts;              /* RETRY; ADVANCE with last_error: for the event */
			int64_t first_attempt_ms;  /* RETRY */
			int64_t next_attempt_ms;   /* RETRY */
			const char *last_error;    /* RETRY; ADVANCE: NULL, or why it was given up */
			const char *kind;          /* PUT: the sink, "webhook" when NULL (issue 15) */
			const char *config_json;   /* PUT: the sink's config (NULL for a webhook) */
			const char *channels_json; /* PUT: array of channel names, or NULL: all */
			bool paused;               /* PAUSE */
		} subscription;
		struct {
			const char *name;
			const char *settings_json; /* SETTINGS: a JSON object */
			int64_t id;                /* result */
			int64_t at;                /* result: created_at, Unix seconds */
		} org;
		struct {
			int64_t contact_id;
			int64_t conversation_id;   /* result */
			int64_t messages;          /* result: messages erased */
		} erase;
		struct {
			int64_t before_ms;
			int64_t msg_after, seq_after;  /* in: cursors; out: moved on */
			int64_t messages, events;      /* result: content removed */
			bool done;                     /* result: nothing older left after them */
		} retention;
		struct {
			const char *type;          /* "audit.channel.created", ... */
			const char *data_json;     /* {"actor","target","before","after"}: no secrets */
		} audit;
		struct {
			const char *kid;
			const char *secret_hex;
			int64_t created_at;        /* Unix seconds */
			int64_t purge_before;
		} signing_key;
		struct {
			const char *name;
			int64_t channel_id;
			const char *source_json;   /* {"recipients":[...]} or {"import_id":N} */
			const char *content_json;
			int64_t scheduled_at;      /* ms; 0: none */
			int64_t rate;              /* per minute; 0: none */
			const char *quiet_json;    /* or NULL */
			int64_t total;             /* recipients */
			int64_t id;                /* result */
			int64_t created_at;        /* result: ms */
		} campaign;
		struct {
			int64_t id;
			int64_t start;             /* the first recipient's idx: the campaign's created */
			struct campaign_rcpt *rcpts;
			size_t n;
			struct ingest_batch *batch; /* the messages of the recipients not skipped */
			int64_t cursor;            /* an import's last row in the chunk (0: inline) */
			int64_t queued, skipped;   /* results */
			char status[16];           /* result: the campaign's status after it */
		} chunk;
		struct {
			int64_t id;
			enum campaign_action { CAMPAIGN_PAUSE, CAMPAIGN_RESUME, CAMPAIGN_CANCEL } action;
			char status[16];           /* result: the campaign's status after it */
			bool changed;              /* result: false when it was so already */
		} control;
		struct {
			int64_t active;            /* result: campaigns not finished */
			int64_t running;           /* result: campaigns running (active_batches) */
			int64_t events;            /* result: events appended */
			int64_t watched;           /* result: campaigns looked at (active, changed, or
			                              finished within a day) */
		} tick;
		struct {                           /* files (issue 14) */
			struct file_info *info;        /* PUT: in and out (files.h) */
			const char *tmp_path;          /* PUT */
			const char *content_path;      /* PUT */
			bool existed;                  /* PUT result */
			const char *id;                /* REF */
			int64_t delta;                 /* REF */
			const char *files_dir;         /* SWEEP: <data>/files */
			int64_t before_ms;             /* SWEEP */
			int limit;                     /* SWEEP */
			int64_t count;                 /* SWEEP result: rows deleted */
		} file;
		struct store_import *import;   /* STORE_OP_IMPORT (imports, h14import) */
		struct {
			int64_t channel_id;
			const json_t *templates;   /* [{name, language, category, status, params,
			                              components}], or NULL: the sync failed */
			const char *error;         /* why it failed (templates NULL) */
			int64_t at;                /* ms */
		} chtpl;
		struct {
			struct media_item *items;
			size_t n;
			const char *owner;         /* CLAIM: this instance's id */
			int64_t now_ms;
			int64_t lease_until;       /* CLAIM */
		} media;
		struct {
			int64_t channel_id;
			const char *sha256;
			const char *media_id;
			int64_t at_ms;
		} media_upload;
	} u;

	/* Results, written by the store before done() runs. */
	int result;              /* 0 committed; -1 failed (err and errmsg say why) */
	enum store_err err;      /* why it failed, for the caller (errmsg is for people) */
	enum store_fault fault;  /* failed because storage itself failed (disk full,
	                            I/O error): say 503, the same op may work later */
	char errmsg[256];
	int64_t last_seq;        /* highest event seq the op appended, 0 if none */

	void (*done)(struct store_op *op, void *arg);  /* on the loop thread */
	void *arg;

	/* Private to the store. */
	struct store_op *next;
	bool sync_done;
};

struct store_config {
	const char *data_dir;        /* SQLite: <data_dir>/msgd.db */
	const char *database;        /* the DSN: NULL, "" or "sqlite:" = SQLite in data_dir;
	                                "postgres://..." or "postgresql://..." = PostgreSQL
	                                (libpq conninfo URI) */
	int max_batch_ops;           /* ops per transaction at most (default 512) */
	int readers;                 /* threads of the reader pool (default 2) */
};

/* msgd migrate (copy.c): DIR's SQLite database into an empty PostgreSQL
 * database, both first migrated to this msgd's schema, in one transaction;
 * report(arg, table, rows) after each table. 0, or -1 with err. */
typedef void (*store_copy_report_fn)(void *arg, const char *table, int64_t rows);
int store_copy_sqlite_to_pg(const char *data_dir, const char *dsn, store_copy_report_fn report,
    void *arg, char *err, size_t errlen);

/* Open (creating and migrating as needed) and start the writer thread.
 * base is the loop done() callbacks run on. */
int store_open(struct store **out, const struct store_config *cfg, struct event_base *base);
/* Finish every submitted op (running their done() if the loop still runs
 * them), stop the writer and close. */
void store_close(struct store *st);

/* Queue an op for the next group commit. Never blocks on I/O. */
void store_submit(struct store *st, struct store_op *op);
/* Submit and wait until committed, without the loop (start-up and CLI
 * only). done is not called. Returns op->result. */
int store_submit_wait(struct store *st, struct store_op *op);
/* Ops and reads submitted whose done() has not run yet. */
size_t store_pending(struct store *st);

/*
 * A read off the loop. run() runs on a reader pool thread and calls the
 * read functions below (on st only); done() then runs on the loop thread,
 * in any order relative to other reads. Rules:
 *  - run() MUST NOT touch what the loop owns (the channel registry, auth,
 *    the outbox, HTTP requests): resolve it on the loop before submitting,
 *    reply in done();
 *  - the caller owns rd and MUST keep it alive until done() runs (done()
 *    may free it);
 *  - without a loop (store_open() with base NULL) or once store_close()
 *    began, run() and done() run inline, before store_read_submit()
 *    returns; store_close() runs every queued read and delivers its done().
 */
struct store_read {
	void (*run)(struct store *st, void *arg);  /* on a reader thread */
	void (*done)(void *arg);                   /* then on the loop thread */
	void *arg;
	struct store_read *next;                   /* private to the store */
};
void store_read_submit(struct store *st, struct store_read *rd);
/* Called on the loop after done() callbacks whenever committed ops appended
 * events, with the highest seq appended (the live event bus listens here). */
void store_set_commit_hook(struct store *st, void (*fn)(void *arg, int64_t last_seq), void *arg);

/*
 * Several instances on one database (PostgreSQL). A transaction that
 * changes rows other instances keep in memory, or appends events, tells
 * them at its commit (NOTIFY, in the same transaction); each instance
 * listens on a connection and thread of its own. The kinds of rows:
 */
enum store_change {
	STORE_CHANGE_CHANNELS = 1u << 0,
	STORE_CHANGE_KEYS = 1u << 1,
	STORE_CHANGE_SESSIONS = 1u << 2,
	STORE_CHANGE_SUBSCRIPTIONS = 1u << 3,
	STORE_CHANGE_USERS = 1u << 4,
	STORE_CHANGE_TEMPLATES = 1u << 5,
	STORE_CHANGE_ORGS = 1u << 6,
	STORE_CHANGE_ERASURES = 1u << 7,   /* stored events' data changed (erased) */
	STORE_CHANGE_CHANNEL_STATES = 1u << 8,  /* channel_states: connection states */
};
#define STORE_CHANGE_ALL 0x1ffu
/* A kind's name on the wire ("channels", ...), NULL for anything but one
 * kind; and back (0 when name is none). */
const char *store_change_name(unsigned kind);
unsigned store_change_from_name(const char *name);
/* The kinds of rows an op of this kind may change. */
unsigned store_op_changes(enum store_op_kind kind);
/*
 * Called on the loop when another instance committed changes: kinds (a
 * mask of STORE_CHANGE_*) and the highest event seq it appended (0: none
 * heard of). After the listener (re)connects, kinds is STORE_CHANGE_ALL (a
 * change may have been missed) and last_seq the head of the log; while no
 * notification comes, the head is checked every second, so an event is
 * heard of within a second even when its notification was lost. Both MUST
 * be handled idempotently: a change may be reported more than once. Does
 * nothing on a backend without notifications (SQLite: one instance).
 * Set it before the loop runs; NULL stops listening.
 */
typedef void (*store_change_fn)(void *arg, unsigned kinds, int64_t last_seq);
int store_set_change_hook(struct store *st, store_change_fn fn, void *arg);

int store_schema_version(struct store *st);
/* 0 when the database answers a trivial query. */
int store_ping(struct store *st);
/*
 * Storage health as the writer last saw it: STORE_FAULT_NONE once a commit
 * succeeded, else the fault of the last failed group, since when (ms since
 * the epoch) and the backend's words for it. Any thread.
 */
enum store_fault store_health(struct store *st, int64_t *since_ms, char *why, size_t cap);

/* --- reads (synchronous, on the calling thread's connection: inside a
 * store_read's run(), the pool thread's). Not found: return 0 with
 * *out = NULL. --- */

/* All live channels: [{"id","name","type","config":{...},"created_at","updated_at",
 * "org_id"}] with created_at/updated_at as Unix seconds (integers) and config complete. */
int store_channels_load(struct store *st, json_t **out);
/* True if any channel row ever existed (deleted ones included). */
int store_channels_ever(struct store *st, bool *out);
/* Channels v2 (chstate.c). A channel's polling cursor (*out NULL: none). */
int store_channel_cursor(struct store *st, int64_t channel_id, char **out);
/* Every live channel's connection state: [{"channel_id","state","reason","at"}]. */
int store_channel_states(struct store *st, json_t **out);
/* Channel channel_id of org's pairing: {"state","qr","pairing_code","qr_updated_at"};
 * 0 with *out NULL when it never reported a state. */
int store_channel_qr(struct store *st, int64_t org, int64_t channel_id, json_t **out);
/* Every API key not revoked: [{"id","org_id","name","hash" (SHA-256, 64-char
 * hex),"scopes":[names],"prefix","created_at","expires_at","last_used_at"}],
 * times Unix seconds, 0 when none. */
int store_api_keys_load(struct store *st, json_t **out);
/* The access tokens' signing keys, newest first: [{"kid","secret" (hex),
 * "created_at"}]. Secrets: callers MUST NOT show or log them. */
int store_signing_keys_load(struct store *st, json_t **out);
/* A quota scope's ("org:<id>", "channel:<id>") counts in the windows of
 * now_ms: n[0] minute, n[1] hour, n[2] day (quota_gate.c counts them). */
int store_quota_usage(struct store *st, const char *scope, int64_t now_ms, int64_t n[3]);
/* When a message with this content fingerprint (quota_fingerprint()) last
 * went to its recipient in organization org (ms; 0: never). */
int store_fingerprint_at(struct store *st, int64_t org, const char *fp, int64_t *at_ms);
/* How many instances hold their "instance:" lease at now_ms. */
int store_live_instances(struct store *st, int64_t now_ms, int64_t *out);
/* Every organization: [{"id","name","settings":{...},"created_at"}]. */
int store_orgs_load(struct store *st, json_t **out);
/* Media jobs due at now_ms and not leased (or leased to mine, MAY be NULL):
 * [{"message_id","channel_id","org_id","source":{...},"attempts","type"}] (type:
 * the message's), at most limit, oldest due first (apply_media.c). */
int store_media_due(struct store *st, int64_t now_ms, int limit, const char *mine, json_t **out);
/* The earliest next_at of the pending media jobs (0: none). */
int store_media_next_due(struct store *st, int64_t *out_ms);
/* The cached provider media id of content sha256 on a channel (*id "" when
 * none) and when it was uploaded (ms). */
int store_media_upload_get(struct store *st, int64_t channel_id, const char *sha256, char *id,
    size_t cap, int64_t *at_ms);

/*
 * Organizations: every read below that takes an org (or a query with
 * org_id) sees only that organization's rows; 0 means the default one
 * (STORE_ORG_DEFAULT). Another organization's row reads as not found.
 */

struct conv_query {
	int64_t org_id;
	int64_t channel_id;      /* 0 = all */
	const char *q;           /* substring of contact name/address, or NULL */
	int limit;               /* 1..200 */
	const char *cursor;      /* from a previous "next", or NULL */
};
/* {"conversations":[...],"next":cursor|null}, most recent activity first. */
int store_conversations_list(struct store *st, const struct conv_query *q, json_t **out);
int store_conversation_get(struct store *st, int64_t org, int64_t id, json_t **out);

struct msg_query {
	int64_t org_id;
	int64_t conversation_id;
	int limit;               /* 1..200 */
	const char *cursor;      /* from a previous "next" (older messages), or NULL = newest */
};
/* {"messages":[...oldest to newest...],"next":cursor|null}; next pages go back in time. */
int store_messages_list(struct store *st, const struct msg_query *q, json_t **out);
int store_message_get(struct store *st, int64_t org, int64_t id, json_t **out);
/* {"messages":[...]}: every message with that provider id (any channel). */
int store_messages_by_provider_id(struct store *st, int64_t org, const char *provider_id, json_t **out);
/* {"messages":[...]}: outbound messages still waiting whose last attempt
 * failed (retrying, or held by a paused channel), newest first, at most limit. */
int store_messages_retrying(struct store *st, int64_t org, int limit, json_t **out);

/* --- outbox reads --- */

/* A channel's pending entries due at or before now_ms: at most limit,
 * replies first (priority), then oldest due; channel_id 0 = all channels. Array of {"message_id","channel_id",
 * "recipient","priority","attempts","created_ms","first_attempt_ms",
 * "uncertain","message": the message JSON, without "status_history"}. */
int store_outbox_due(struct store *st, int64_t channel_id, int64_t now_ms, int limit, json_t **out);
/* The earliest due_ms of a channel's pending entries (channel_id 0: of all);
 * 0 when there are none. */
int store_outbox_next_due(struct store *st, int64_t channel_id, int64_t *out_ms);
/* Pending + in-flight entries of a channel. */
int store_outbox_depth(struct store *st, int64_t channel_id, int64_t *out);
/* When the contact last wrote to us on this channel (ms), 0 if never. */
/* The contact's last inbound message (ms, 0: none), its reachability
 * (status MAY be NULL; CONTACT_ACTIVE for an unknown contact) and when it
 * opted out of bulk sends (opted_out_at MAY be NULL; 0: it did not): one query. */
int store_last_inbound(struct store *st, int64_t channel_id, const char *address, int64_t *out_ms,
    enum contact_status *status, int64_t *opted_out_at);
/* The message sent with that client_id (idempotency key), or NULL. */
int store_message_by_client_id(struct store *st, int64_t org, const char *client_id, json_t **out);
/* Resolve a message id to its provider id (and channel); "" when unknown. */
int store_message_provider_id(struct store *st, int64_t org, int64_t id, int64_t *channel_id,
    char *out, size_t outlen);

/* Local templates: {"templates":[{"name","language","body","created_at"}]} and one. */
int store_templates_list(struct store *st, int64_t org, json_t **out);
int store_template_get(struct store *st, int64_t org, const char *name, const char *language, json_t **out);

/* The highest event seq (0 when the log is empty). */
int store_events_head(struct store *st, int64_t *out);

/* One event as GET /v1/events shows it, serialized once, by the store, as
 * it is read: the API, the live streams and the bus pass this text on. */
struct store_event {
	int64_t seq;
	char *json;              /* {"seq","type","at","channel","conversation_id","message_id","data"} */
	size_t len;
	char *channel;           /* channel name, or NULL */
	int64_t conversation_id; /* 0 when none */
	int64_t org_id;          /* its organization (never shown) */
	bool audit;              /* an audit.* event: never streamed, read by GET /v1/audit */
	char *type;              /* its type: "message.received" (issue 15: sinks filter on it) */
};

/* Up to limit events with seq > since, ascending, of organization org (0:
 * of every organization: the bus): *out (an array of *n,
 * NULL when none) is the caller's, to free with store_events_free(). */
int store_events_read(struct store *st, int64_t org, int64_t since, int limit, struct store_event **out,
    size_t *n);
void store_events_free(struct store_event *ev, size_t n);
/* Organization org's audit events (audit.*), as store_events_read(): the
 * event reads above leave them out, but for the bus's (org 0). */
int store_audit_read(struct store *st, int64_t org, int64_t since, int limit,
    struct store_event **out, size_t *n);
void store_event_clear(struct store_event *e);

/* The same as a tree: {"events":[...],"next":seq}; next = last seq
 * returned, or since when none. */
int store_events_list(struct store *st, int64_t org, int64_t since, int limit, json_t **out);

/* --- event webhook subscriptions (src/hooks/) --- */

/* Every subscription, by id: [{"id","url","events":[...],"secret","created_at",
 * "delivered_seq","attempts","first_attempt_ms","next_attempt_ms","last_error",
 * "paused","org_id","kind","config":{...}|null,"channels":[...]|null,"org"}], created_at
 * Unix seconds, first_attempt_ms 0 when none, last_error null when none, org the
 * organization's name. The secret and config are included: callers MUST NOT show them. */
int store_subscriptions_load(struct store *st, json_t **out);

/* --- users and browser sessions (src/auth/) --- */

/* {"name","password_hash","created_at"} or NULL. */
int store_user_get(struct store *st, const char *name, json_t **out);
/* Sessions with expires_at > now_s: [{"token_hash","csrf","user","credential",
 * "created_at","expires_at"}], token_hash as 64-char hex, times Unix seconds. */
int store_sessions_load(struct store *st, int64_t now_s, json_t **out);
/* Organization org's members, by name: [{"name","created_at","role",
 * "must_change_password"}] (Unix seconds; never the hash). */
int store_users_list(struct store *st, int64_t org, json_t **out);
/* Every user with each of their memberships: [{"user","org_id","role",
 * "platform_admin","must_change_password"}] (a user without any: org_id 0,
 * role ""). */
int store_members_load(struct store *st, json_t **out);

/* --- campaigns (issue 14, h14camp; read_campaign.c) --- */

/* Organization org's campaign as GET /v1/campaigns/{id} shows it, or NULL. */
int store_campaign_get(struct store *st, int64_t org, int64_t id, json_t **out);
/* {"campaigns":[...],"next":id|null}: newest first, ids below before (0: from the newest). */
int store_campaigns_list(struct store *st, int64_t org, int64_t before, int limit, json_t **out);
/* {"recipients":[{"idx","to","variables","message_id","status","skip_reason","error"}],
 * "next":idx|null} after idx after (-1: from the first), only status's when not NULL;
 * *out NULL when org has no such campaign. */
int store_campaign_recipients(struct store *st, int64_t org, int64_t id, const char *status,
    int64_t after, int limit, json_t **out);
/* Campaigns whose recipients are not all made yet (resumed at start), of
 * those only the ones no chunk changed after idle_before (ms; INT64_MAX:
 * all): [{"id","org_id","channel_id","source","content","created","status",
 * "scheduled_at","rate","quiet_hours","created_at","cursor","total","updated_ms"}],
 * source and content parsed (a campaign being made is not read: its source
 * is its recipients, a 100,000-recipient tree is ~90 MB). */
int store_campaigns_unfinished(struct store *st, int64_t idle_before, json_t **out);
/* --- files (issue 14): store_file_get() is declared in files/files.h --- */
/* Organization org's files, newest first: {"files":[{"id","sha256","size","mime_type",
 * "filename","created_at","refs"}],"next":cursor|null}; limit 1..200. -2 when
 * cursor is not one this made (the caller's 400). */
int store_files_list(struct store *st, int64_t org, int limit, const char *cursor, json_t **out);
/* --- imports (issue 14, h14import; JSON as docs/API.md shows it) --- */
/* Import id of org: {"id","status","file_id","channel_id","format","mapping",...,"counts":{
 * "rows","valid","invalid","duplicates","errors"},"columns","preview","error",
 * "created_at","finished_at"}; *out NULL when not found. */
int store_import_get(struct store *st, int64_t org, int64_t id, json_t **out);
/* org's imports, newest first, ids below before (0: from the newest):
 * {"data":[...without preview...],"next":id|null}. */
int store_imports_list(struct store *st, int64_t org, int64_t before, int limit, json_t **out);
/* Import id's row errors after error number after, in order:
 * {"data":[{"row","column","value","code","message"}],"next":n|null};
 * *out NULL when org has no such import. */
int store_import_errors(struct store *st, int64_t org, int64_t id, int64_t after, int limit,
    json_t **out);
/*
 * For campaigns: up to limit valid rows of a validated import of org with
 * row > after_row, in row order: [{"row","phone","data":{variables}}]
 * (an empty array at the end). *out NULL when org has no such import or
 * it is not validated. Any reader connection (a pool thread's run()).
 */
int store_import_rows_page(struct store *st, int64_t org, int64_t id, int64_t after_row, int limit,
    json_t **out);
/* Imports left parsing (at start): every one when all, else owner's:
 * [{"id","org_id","file_id","channel_id","format","request"}]. */
int store_imports_parsing(struct store *st, const char *owner, bool all, json_t **out);
/* --- a channel's provider templates (chtemplates.c; issue 14) --- */
/* {"templates":[{name, language, category, status, params, components,
 * synced_at}], "sync":{synced_at, attempted_at, last_error}} of a channel
 * (the list as the last successful sync left it). */
int store_channel_templates(struct store *st, int64_t channel_id, json_t **out);
/* One synced template: found (name and language as the provider spells
 * them), approved (status APPROVED), its params (placeholders to fill);
 * synced: the channel had a successful sync (without one, nothing can be
 * said). name or language NULL: only synced is read. 0, or -1 (storage). */
struct channel_template {
	bool synced, found, approved;
	char status[32];
	char category[32];
	int64_t params;
};
int store_channel_template_get(struct store *st, int64_t channel_id, const char *name,
    const char *language, struct channel_template *out);

#endif
