/*
 * channel.h - the channel adapter contract and the channel registry.
 *
 * One file per channel type (whatsapp_cloud.c, sandbox.c, ...) exports one
 * `const struct channel_ops`, listed in channel_types[] (channel.c). A
 * configured channel (a row in the channels table) is a `struct channel`
 * whose ops point at its type's adapter.
 *
 * The contract an adapter follows:
 *  - validate() MUST reject a config with an unknown key, a missing required
 *    key or a wrong type, naming the field in err; it MUST NOT keep any
 *    reference to cfg. It runs before anything is stored.
 *  - open() builds ch->state from ch->config (already validated); close()
 *    frees it. Neither may block.
 *  - schema lists every config key (contract v2 below); a key marked
 *    secret MUST never leave msgd (API answers, logs, events).
 *  - caps says what the type can do; the send API refuses the rest
 *    before queueing, so send_prepare() sees only what caps allow.
 *  - webhook(), when the type receives provider webhooks, handles every
 *    request to /webhooks/<webhook_path>. It MUST verify the request's
 *    authenticity before reading it, MUST NOT store or send anything
 *    itself, and MUST fill `reply`. When reply->status is 2xx it may append
 *    records to `out`: the caller commits them durably and only then sends
 *    the reply. A 4xx reply means nothing is stored. It MUST NOT fail a
 *    whole batch because one part is for an unknown channel or of an
 *    unknown type: it skips (and logs) that part.
 *  - simulate_inbound() MAY be NULL; the sandbox uses it to inject inbound
 *    messages from POST /v1/sandbox/{channel}/inbound.
 *  - on_start() MAY be NULL; it runs once per channel when msgd starts
 *    (e.g. to warn that a channel accepts unsigned webhooks).
 *  - Sending. A channel that sends over HTTP fills send_prepare() and
 *    send_classify(); the outbox (src/outbox/) does the HTTP itself (libcurl
 *    multi on the loop), so adapters never block and never retry.
 *    send_prepare() turns an outbound message (its JSON as the API shows
 *    it) into one HTTP request; -1 means this message can never be sent by
 *    this channel (a permanent failure, err says why). send_classify() MUST
 *    map every response, including network errors (http_status 0), to
 *    exactly one outcome, deciding on the provider's error code first and
 *    the HTTP status second. read_prepare() MAY be NULL (no read receipts).
 *    send_local() MAY be NULL; a channel that sends without HTTP (the
 *    sandbox) fills it instead of send_prepare/send_classify.
 *  - check_prepare()/check_classify() MAY be NULL (both or neither): a
 *    cheap authenticated request that tells whether the credentials work
 *    (WhatsApp: GET the phone number). check_classify() MUST map every
 *    answer, network errors included, to one check_state.
 *  - destination_keys MAY be NULL: config keys that say where requests
 *    carrying the secrets go (WhatsApp: api_base_url). Changing one MUST
 *    come with every key of destination_secrets in the same change, so a
 *    caller who cannot read the secrets cannot redirect them elsewhere.
 *  - route_key MAY be NULL: the config key whose value routes a provider's
 *    webhooks to one channel (WhatsApp: phone_number_id). Its value is
 *    claimed by one live channel of the type, whatever its organization
 *    (409 on a second): a webhook can never land in another organization.
 * Ownership: out's records are owned by the caller (ingest_batch_free).
 * All functions run on the event loop thread and MUST NOT block.
 */
#ifndef MSGD_CHANNEL_H
#define MSGD_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../core/model.h"

struct channel_registry;

struct channel_error {
	char field[64];     /* config field at fault, e.g. "config.app_secret" */
	char message[256];
};

#define CHANNEL_ORG_DEFAULT 1  /* the default organization (the store's STORE_ORG_DEFAULT) */

struct channel_host;

struct channel {
	int64_t id;
	uint64_t serial;    /* unique per open in this process (registry_add): pending
	                       host callbacks of a closed channel are dropped by it */
	struct channel_host *host;  /* set by registry_add() from the registry */
	int64_t org_id;     /* its organization: names are unique within one;
	                       channel_new() makes it CHANNEL_ORG_DEFAULT */
	char *name;
	const struct channel_ops *ops;
	json_t *config;     /* validated config, secrets included */
	void *state;        /* adapter-private, owned by open()/close() */
	int64_t created_at; /* Unix seconds */
	int64_t updated_at;
	/* Its connection state as last committed (channel_states), kept by
	 * the API from commits here and elsewhere; CONN_NONE until reported. */
	enum channel_conn conn;
	char *conn_reason;  /* NULL: none */
	int64_t conn_at;    /* when it was reported, Unix ms */
	bool lease_held;    /* ops->on_lease was last told true (the outbox keeps it) */
};

/* A provider's HTTP request as the adapter sees it. */
struct webhook_request {
	const char *method;                 /* "GET", "POST", ... */
	const char *(*header)(void *ctx, const char *name);  /* NULL when absent */
	const char *(*query)(void *ctx, const char *name);   /* NULL when absent */
	void *ctx;
	const char *body;                   /* exact bytes received */
	size_t body_len;
	const char *request_id;             /* for logs */
};

/* What to answer. body is either text (content_type text/plain) or, when
 * error_code is set, rendered as {"error":{"code","message"}}. */
struct webhook_reply {
	int status;
	char error_code[64];
	char message[256];
	char *body;                         /* malloc'd, may be NULL */
	const char *content_type;           /* default "application/json" */
};

/* An HTTP request an adapter wants made; freed with send_request_free(). */
#define SEND_HEADERS_MAX 8
struct send_request {
	char *method;                       /* "POST" */
	char *url;
	char *body;
	size_t body_len;
	char *headers[SEND_HEADERS_MAX];    /* "Name: value" */
	size_t nheaders;
};
void send_request_free(struct send_request *r);

/* What came back from one attempt. */
struct send_response {
	long http_status;                   /* 0: no HTTP answer (network error, timeout) */
	const char *body;
	size_t body_len;
	const char *retry_after;            /* the Retry-After header, or NULL */
	const char *net_error;              /* what went wrong when http_status is 0 */
};

/* Every attempt ends in exactly one of these. */
enum send_outcome_kind {
	SEND_OK,                   /* accepted; provider_message_id set */
	SEND_TEMPFAIL,             /* 5xx, timeouts, network errors: retry with backoff */
	SEND_THROTTLED,            /* the channel is sending too fast: slow it down, retry */
	SEND_RECIPIENT_THROTTLED,  /* too many to this recipient: delay only them, retry */
	SEND_PERMFAIL,             /* never retry: the message fails with the provider's error */
	SEND_CREDENTIALS,          /* token expired/invalid: pause the channel until fixed */
	SEND_BLOCKED,              /* account restricted: pause the channel for a while */
	SEND_RECIPIENT_BLOCKED,    /* this recipient blocked us (Telegram 403 "bot was blocked"):
	                              the message fails for good, the contact is marked blocked,
	                              the channel sends on to others */
	SEND_RECIPIENT_INVALID,    /* this recipient does not exist on the network (not on
	                              WhatsApp): as above, the contact is marked invalid */
};
const char *send_outcome_name(enum send_outcome_kind k);

struct send_outcome {
	enum send_outcome_kind kind;
	char *provider_message_id;          /* SEND_OK (malloc'd) */
	int64_t retry_after_ms;             /* minimum delay before the next try; 0 = backoff decides */
	int64_t error_code;                 /* provider's code, 0 if none */
	char error_title[256];
	char error_detail[512];
};

/* What a credential check found. */
enum check_state {
	CHECK_OK,                   /* the provider accepted the credentials */
	CHECK_INVALID_CREDENTIALS,  /* refused (WhatsApp: 401, code 190 and the like) */
	CHECK_UNREACHABLE,          /* no answer (network error, timeout, 5xx) */
	CHECK_ERROR,                /* another answer (e.g. an unknown phone number id) */
};
const char *check_state_name(enum check_state s);

struct check_result {
	enum check_state state;
	int64_t error_code;                 /* provider's code, 0 if none */
	char message[256];                  /* provider's message or the network error */
};

/*
 * Contract v2: what a type declares about itself (GET /v1/channel-types
 * lists it; the send API refuses what a channel cannot do with 422
 * unsupported_by_channel naming the capability, before queueing).
 */

/* One config key. A type's schema is an array ending with {.name = NULL};
 * the sending settings (cfg_check_send_settings) are not listed in it. */
enum cfg_kind { CFG_STRING = 1, CFG_BOOL, CFG_INT, CFG_ENUM, CFG_URL };
struct config_key {
	const char *name;
	enum cfg_kind kind;
	bool required;
	bool secret;                        /* never leaves msgd (answers, logs, events) */
	size_t max_len;                     /* CFG_STRING/CFG_URL: bytes; 0 = 1024 */
	int64_t min, max;                   /* CFG_INT */
	const char *const *values;          /* CFG_ENUM: allowed words, NULL-terminated */
	const char *description;            /* one line, for the listing */
};
/* Check cfg against schema plus the sending settings: an unknown key, a
 * missing required key, a wrong kind, a bad length or word is refused
 * naming "config.<key>". A CFG_URL is http:// or https:// with a host. */
int cfg_check_schema(const struct config_key *schema, const json_t *cfg, struct channel_error *err);

/* A media kind a type sends, and its size cap. */
struct media_limit {
	const char *kind;                   /* image, video, audio, voice, document, sticker */
	int64_t max_bytes;
};

/* Defaults a type gives the sending settings (0: the common default). */
struct send_defaults {
	int64_t rate_per_second;            /* messages per second for the whole channel */
	int64_t recipient_gap_ms;           /* between two sends to one chat */
	int64_t group_gap_ms;               /* between two sends to one group chat */
};

struct channel_caps {
	const char *const *send_types;      /* message types it can send, NULL-terminated */
	const char *const *receive_types;   /* message types it normalizes inbound */
	const struct media_limit *media;    /* {.kind = NULL}-terminated; NULL: no media */
	bool templates;                     /* provider-approved templates */
	bool interactive;                   /* buttons / lists in outbound messages */
	bool reactions;                     /* send reactions */
	bool edits;                         /* reports (and may send) edits */
	bool deletes;                       /* reports deletions */
	bool read_receipts;                 /* can mark inbound messages read */
	bool typing;                        /* can show "typing..." */
	bool groups;                        /* group chats */
	bool replies;                       /* reply_to on outbound messages */
	bool pairing;                       /* QR pairing (connect → qr) */
	int window_hours;                   /* free-form messages only this long after the
	                                       contact wrote (WhatsApp 24); 0 = no window.
	                                       A channel's "enforce_window": false turns it off */
	size_t max_text_len;                /* characters of text in one message; 0: msgd's cap */
	const char *template_language;      /* templates: the language when a send names none */
	const char *const *send_options;    /* extra top-level send fields the type takes
	                                       (Telegram: parse_mode, buttons, reply_markup),
	                                       NULL-terminated; others are refused */
	struct send_defaults pacing;
};

/*
 * What an adapter may ask of msgd (channel_host.c implements it over the
 * loop, the non-blocking HTTP client and the store). Every callback runs
 * on the loop thread. None runs after the channel was closed (a delete,
 * or a config change reopening it): pending ones are dropped, so `arg`
 * must not own memory that only the callback frees (keep state in
 * ch->state and free it in close()).
 */
typedef void (*channel_http_done)(struct channel *ch, const struct send_response *resp, void *arg);
/* Make req (its contents are taken, req is zeroed) within timeout_ms;
 * done runs exactly once with the answer (http_status 0 on a network
 * error or timeout) unless the channel closes first. 0, or -1 (done never runs). */
int channel_http(struct channel *ch, struct send_request *req, int64_t timeout_ms,
    channel_http_done done, void *arg);
typedef void (*channel_submit_done)(struct channel *ch, int result, void *arg);
/* Commit b's records durably, as a webhook's are (b's contents are taken,
 * b is zeroed); done (MAY be NULL) runs after the commit with 0 or -1. */
int channel_submit(struct channel *ch, struct ingest_batch *b, channel_submit_done done, void *arg);
/* Commit a provider template sync's outcome (issue 14): templates (an
 * array of {name, language, category, status, params, components}; a
 * reference is taken) replace the channel's list, or error (templates
 * NULL) is recorded as the last sync's. done MAY be NULL. */
int channel_templates_submit(struct channel *ch, json_t *templates, const char *error,
    channel_submit_done done, void *arg);
/* Report the channel's connection state (shared by every instance, shown
 * in the API, /readyz and the panel, a channel.state event when it
 * changes): a state_in of this channel, committed. reason MAY be NULL. */
void channel_report_state(struct channel *ch, enum channel_conn st, const char *reason);
/* A one-shot timer of the channel; freed (and stopped) with the channel if
 * the adapter does not free it first. */
struct channel_timer;
struct channel_timer *channel_timer_new(struct channel *ch,
    void (*fire)(struct channel *ch, void *arg), void *arg);
void channel_timer_start(struct channel_timer *t, int64_t delay_ms);
void channel_timer_stop(struct channel_timer *t);
void channel_timer_free(struct channel_timer *t);
/* The channel's persisted polling cursor (ingest_batch.cursor), read from
 * the store: done runs with it (NULL: none) unless the channel closes. */
int channel_load_cursor(struct channel *ch, void (*done)(struct channel *ch, const char *cursor,
    void *arg), void *arg);
/* The URL path at which this channel receives webhooks,
 * "/webhooks/<type>/<id>" (out capped at outlen). */
void channel_webhook_path(const struct channel *ch, char *out, size_t outlen);

struct channel_ops {
	const char *type;                   /* "whatsapp_cloud" */
	int (*validate)(const json_t *cfg, struct channel_error *err);
	int (*open)(struct channel *ch);
	void (*close)(struct channel *ch);
	void (*on_start)(struct channel *ch);                       /* MAY be NULL */
	const char *webhook_path;                                   /* MAY be NULL */
	void (*webhook)(struct channel_registry *reg, const struct webhook_request *req,
	    struct webhook_reply *reply, struct ingest_batch *out); /* NULL iff no webhook_path */
	int (*simulate_inbound)(struct channel *ch, const json_t *body,
	    struct ingest_batch *out, struct channel_error *err);   /* MAY be NULL */
	int (*send_prepare)(struct channel *ch, const json_t *msg, struct send_request *out,
	    struct channel_error *err);                             /* NULL iff send_local */
	void (*send_classify)(struct channel *ch, const json_t *msg, const struct send_response *resp,
	    struct send_outcome *out);                              /* NULL iff send_local */
	int (*read_prepare)(struct channel *ch, const char *provider_message_id,
	    struct send_request *out);                              /* MAY be NULL */
	void (*send_local)(struct channel *ch, const json_t *msg,
	    struct send_outcome *out);                              /* MAY be NULL */
	/* The canonical spelling of a contact address (address.h), applied
	 * to every recipient before it is looked up or stored: 0 with out
	 * filled, or -1 when this channel cannot reach such an address. MAY
	 * be NULL: addresses are taken as given. */
	int (*address_normalize)(const char *s, size_t len, char *out, size_t outlen);
	/* Is this (normalized) address a group chat? MAY be NULL (never).
	 * Group chats are paced by group_gap_ms. */
	bool (*is_group)(const char *address);
	int (*check_prepare)(struct channel *ch, struct send_request *out); /* MAY be NULL */
	void (*check_classify)(const struct send_response *resp,
	    struct check_result *out);                              /* NULL iff check_prepare */
	const char *const *destination_keys;                        /* MAY be NULL */
	const char *const *destination_secrets;                     /* with destination_keys */
	const char *route_key;                                      /* MAY be NULL */
	/* --- contract v2 --- */
	const struct channel_caps *caps;    /* MUST be set */
	const struct config_key *schema;    /* MUST be set: its keys, for validate() and the listing */
	/* A webhook for one channel: POST /webhooks/<type>/<channel id>. The
	 * same rules as webhook() (verify first, store nothing, fill reply,
	 * records in out only with a 2xx). MAY be NULL. */
	void (*channel_webhook)(struct channel *ch, const struct webhook_request *req,
	    struct webhook_reply *reply, struct ingest_batch *out);
	/* After a webhook's (or channel_submit()'s) records of this channel
	 * committed: side effects such as answering a Telegram callback query
	 * (records that were duplicates have duplicate set). MAY be NULL. */
	void (*after_commit)(struct channel *ch, const struct ingest_batch *b);
	/* This instance gained (held = true) or lost the channel's dispatch
	 * lease: the one holder polls the provider (Telegram getUpdates) and
	 * plays the sandbox's far end. MAY be NULL. */
	void (*on_lease)(struct channel *ch, bool held);
	/* After a send attempt's outcome committed (the sandbox simulates the
	 * far end from it). MAY be NULL. */
	void (*after_send)(struct channel *ch, const json_t *msg, const struct send_outcome *out);
	/* Actions (POST /v1/channels/{name}/connect|disconnect): MAY be NULL
	 * (405-style 422 unsupported_by_channel). They may call the provider
	 * through channel_http() and report through channel_report_state();
	 * -1 with err when the action cannot start. */
	int (*connect)(struct channel *ch, struct channel_error *err);
	int (*disconnect)(struct channel *ch, struct channel_error *err);
	/* Sync the provider's approved templates now (POST /v1/channels/{name}/
	 * templates/sync; issue 14): the outcome is committed through
	 * channel_templates_submit(). MAY be NULL (a type without provider
	 * templates); -1 with err when the sync cannot start. */
	int (*templates_sync)(struct channel *ch, struct channel_error *err);
};

/* The table of known types, NULL-terminated. */
extern const struct channel_ops *const channel_types[];
const struct channel_ops *channel_type_find(const char *type);
const struct channel_ops *channel_type_by_webhook_path(const char *path);

extern const struct channel_ops whatsapp_cloud_ops;
extern const struct channel_ops sandbox_ops;
extern const struct channel_ops telegram_ops;
extern const struct channel_ops evolution_ops;

/* The registry: every configured channel, in memory, owned by the loop. */
struct channel_registry *registry_new(void);
/* Channels added from now on use host (channel_http(), timers, ...). */
void registry_set_host(struct channel_registry *reg, struct channel_host *host);
void registry_free(struct channel_registry *reg);
/* Takes ownership of ch, calls ops->open(); -1 (ch freed) on failure. */
int registry_add(struct channel_registry *reg, struct channel *ch);
/* Removes, closes and frees the channel with that id (no-op if absent). */
void registry_remove(struct channel_registry *reg, int64_t id);
/* The live channel of ops's type other than except_id whose route_key
 * value is value, or NULL. */
struct channel *registry_find_route(struct channel_registry *reg, const struct channel_ops *ops,
    const char *value, int64_t except_id);
/* config's value of ops's route_key, or NULL (no route key, or unset). */
const char *channel_route_value(const struct channel_ops *ops, const json_t *config);
/* The channel named name in organization org_id, or NULL. */
struct channel *registry_find_name(struct channel_registry *reg, int64_t org_id, const char *name);
struct channel *registry_find_id(struct channel_registry *reg, int64_t id);
size_t registry_count(struct channel_registry *reg);
struct channel *registry_at(struct channel_registry *reg, size_t i);

/* A new struct channel (copies name, increfs config). */
struct channel *channel_new(int64_t id, const char *name, const struct channel_ops *ops,
    json_t *config, int64_t created_at, int64_t updated_at);
void channel_free(struct channel *ch);

/* Validate a {"name","type","config"} create request; err names the field. */
int channel_validate_name(const char *name, struct channel_error *err);

/* The channel's config with secret values replaced by "********" (new ref). */
json_t *channel_public_config(const struct channel *ch);

/*
 * Sending settings every sending channel takes, with one range and default
 * each (the outbox reads them, adapters validate them): rate_per_second
 * (80; 0 = no pacing), recipient_gap_ms (0), max_attempts (10), max_age_s
 * (86400), breaker_threshold (10), breaker_cooldown_s (30),
 * request_timeout_ms (15000).
 */
int cfg_check_send_settings(const json_t *cfg, struct channel_error *err);
/* The channel's value for one of them (when not configured: its type's
 * default from caps->pacing, else the common default). group_gap_ms
 * (0) spaces sends to one group chat (Telegram: 3000). */
int64_t channel_send_setting(const struct channel *ch, const char *key);
bool channel_is_send_setting(const char *key);

/* schema.c: a config key the type's schema marks secret. */
bool channel_is_secret_key(const struct channel_ops *ops, const char *key);
/* The type as GET /v1/channel-types lists it: {"type","config":[...],
 * "capabilities":{...},"webhook","actions"} (new ref). */
json_t *channel_type_describe(const struct channel_ops *ops);
/* Its "capabilities" alone (new ref): every channel's JSON carries them. */
json_t *channel_caps_json(const struct channel_ops *ops);
/* An outbound message's quoted message (its "reply_to", as the API shows it
 * or a bare provider id): the provider id as a non-empty JSON string
 * without NULs, or NULL (send_prepare() helpers). */
const json_t *channel_reply_id(const json_t *msg);
/* Capability lookups for the send API. */
bool channel_can_send_type(const struct channel_ops *ops, const char *type);
const struct media_limit *channel_media_limit(const struct channel_ops *ops, const char *kind);

/* Helpers adapters share for config validation. Each returns -1 and fills
 * err (field "config.<key>") when the check fails. */
int cfg_require_string(const json_t *cfg, const char *key, size_t maxlen, struct channel_error *err);
int cfg_optional_string(const json_t *cfg, const char *key, size_t maxlen, struct channel_error *err);
int cfg_optional_int(const json_t *cfg, const char *key, int64_t min, int64_t max, struct channel_error *err);

/*
 * WhatsApp Cloud normalization, exposed for unit tests: turn a parsed
 * webhook body (object "whatsapp_business_account") into records. resolve
 * maps a metadata.phone_number_id to a channel id, or returns 0 to skip that
 * change (unconfigured number). Returns -1 with err filled when the body is
 * not a WhatsApp webhook at all (wrong "object", no "entry" array).
 */
int whatsapp_cloud_normalize(const json_t *root,
    int64_t (*resolve)(void *ctx, const char *phone_number_id), void *ctx,
    struct ingest_batch *out, struct channel_error *err);

#endif
