/*
 * api.h - msgd's HTTP API: routes, authentication and handlers.
 *
 * api_handle() is the http server's handler. It routes by method and path
 * (route table in api.c), finds who is asking (a principal: api_orgs.c),
 * checks the route's permission and rate limits, and calls one handler. Handlers that write go through the store and defer their reply
 * until the write is durable; handlers that read defer too, while the
 * store's reader pool reads (api_async.c).
 *
 * Files: api.c (router, auth, health, shared helpers), api_channels.c
 * (/v1/channels), api_ingest.c (/webhooks/... and /v1/sandbox/...),
 * api_read.c (conversations, messages, events), api_send.c (sending,
 * cancel, read receipts, local templates), api_hooks.c (/v1/webhooks),
 * api_stream.c (/v1/stream), api_ws.c (/v1/ws), api_session.c
 * (/v1/session), api_users.c (/v1/users), api_async.c (reads off the
 * loop).
 */
#ifndef MSGD_API_H
#define MSGD_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../auth/auth.h"
#include "../authz/authz.h"
#include "../core/optout.h"
#include "../quota/quota.h"

struct config;
struct event_base;
struct store;
struct store_op;
struct channel_registry;
struct ingest_batch;
struct channel;
struct channel;
struct http_request;
struct files_writer;
struct outbox;
struct bus;
struct stream;
struct ws;
struct auth;
struct hooks;
struct principal;

#define API_MAX_PARAMS 4
#define API_JSON_MAX_DEPTH 64
#define API_OTP_BYTES 16        /* an invite's one-time password: random bytes, */
#define API_OTP_CHARS 22        /* as unpadded base64url */

struct app {
	const struct config *cfg;
	struct event_base *base;
	struct store *store;
	struct channel_registry *reg;
	struct channel_host *host;      /* what adapters ask of msgd (channels/host.h) */
	struct outbox *outbox;
	struct bus *bus;
	struct stream *streams;         /* open event streams (api_stream.c) */
	struct ws *websockets;          /* open WebSockets (api_ws.c) */
	struct auth *auth;              /* browser sessions (src/auth) */
	struct hooks *hooks;            /* event webhooks (src/hooks) */
	bool cookie_secure;             /* mark session cookies Secure (HTTPS in front) */
	unsigned char admin_hash[32];   /* SHA-256 of the admin token */
	char admin_cred[AUTH_CRED_HEX + 1]; /* its fingerprint, as token sessions keep it */
	unsigned char (*key_hashes)[32];/* API keys from the store (not revoked) */
	struct api_key *keys;           /* and what each may do: keys[i] is key_hashes[i]'s */
	size_t *key_order;              /* indices into keys, by hash (api_keys_index()) */
	size_t nkeys;
	struct event *keys_timer;       /* writes the keys' last uses (api_keys.c) */
	struct token_key *tkeys;        /* access tokens' signing keys, newest first */
	size_t ntkeys;
	int64_t tkey_created;           /* the newest's creation (Unix seconds) */
	bool tkey_rotating;
	struct ratelimit *ratelimit;    /* API rate limits' buckets (api_limits.c) */
	int64_t instances;              /* live instances sharing the database (>= 1) */
	struct count_read *counting;    /* their count being read (api_keys.c) */
	struct api_org *orgs;           /* every organization, by id */
	size_t norgs;
	struct api_member *members;     /* every user's memberships (and users without any) */
	size_t nmembers;
	uint64_t members_gen;           /* memberships changed here (api_follow.c, as channels_gen) */
	uint64_t orgs_gen;              /* organizations or their settings changed here (the same) */
	uint64_t keys_gen;              /* API keys or signing keys changed here (the same) */
	bool shutting_down;
	uint64_t channels_gen;          /* the registry changed (a read of the store started
	                                   before may miss the change: api_follow.c) */
	struct follow *follow;          /* another instance's changes being read (api_follow.c) */
	unsigned follow_pending;        /* and those heard meanwhile */
	struct campaigns *campaigns;    /* campaigns being made, the tick (src/campaign/) */
	struct files *files;            /* the files store's sweep (src/files/, issue 14) */
	struct importer *importer;      /* imports (issue 14, h14import): the worker (import/import.h) */
	struct media *media;            /* inbound media fetcher (src/media/, issue 14) */
};

/* Routing (api.c): a decoded path split into at most API_PATH_SEGMENTS_MAX
 * segments shorter than API_SEGMENT_MAX bytes each; "*" segments of the
 * matched pattern are the params. */
#define API_PATH_SEGMENTS_MAX 8
#define API_SEGMENT_MAX 256
struct api_route_match {
	char seg[API_PATH_SEGMENTS_MAX][API_SEGMENT_MAX];
	const char *params[API_MAX_PARAMS];   /* into seg */
	bool path_known;                      /* some route has this path (405, not 404) */
};
/* The index of the route for method and path, or -1. */
int api_route_find(const char *method, const char *path, struct api_route_match *m);
/* Route i's pattern and method (for tests), or NULL past the table. */
const char *api_route_pattern(int i, const char **method);
/* The permission route i needs (enum perm; PERM_NONE: public). */
uint32_t api_route_perm(int i);

/* The http handler (arg is the struct app). */
void api_handle(struct http_request *req, void *arg);
/* The http head hook (http.h): routes that stream their body (uploads). */
void api_head(struct http_request *req, void *arg);

/* An API key as the router needs it (api_orgs.c). */
struct api_key {
	int64_t id;
	int64_t org_id;
	uint32_t scopes;                /* enum scope bits */
	int64_t expires_at;             /* Unix seconds; 0: never */
	char cred[AUTH_CRED_HEX + 1];   /* as a session made with it keeps it */
	int64_t used_at;                /* last used here (Unix seconds) */
	int64_t flushed_at;             /* ... as last written to the store */
};
/* An organization's settings (api_limits.c): 0 means no limit. */
struct org_settings {
	int64_t key_rate, key_burst;    /* API requests per second, per key or user */
	int64_t org_rate, org_burst;    /* ... for the whole organization */
	struct quota_limits send;       /* messages sent per minute, hour, day */
	int64_t bulk_cooldown_s;        /* between two bulk messages to one contact */
	int64_t duplicate_window_s;     /* the same text to the same contact refused within */
	int64_t retention_days;         /* message bodies kept so long */
	struct optout_settings optout;  /* opt-out keywords (core/optout.h; issue 14) */
};
struct api_org {
	int64_t id;
	char name[ORG_NAME_MAX + 1];
	struct org_settings settings;
	/* Retention's progress here (api_limits.c): cursors, and when next. */
	int64_t ret_msg, ret_seq, ret_next_ms;
	bool ret_busy;
};
/* A user's role in an organization (org_id 0: a user without any). */
struct api_member {
	char user[AUTH_NAME_MAX + 1];
	int64_t org_id;
	enum role role;
	bool platform_admin;            /* the user's, on each of its rows */
	bool must_change;               /* the user's must_change_password, on each of its rows */
};

/* Is this bearer token the admin token or a stored API key? (the admin
 * token compared in constant time; keys found by hash, api_keys_index(),
 * the match confirmed in constant time; *key: the key's index in app->keys) */
enum token_match { TOKEN_MATCH_NONE, TOKEN_MATCH_ADMIN, TOKEN_MATCH_KEY };
enum token_match api_token_match(struct app *app, const char *token, size_t *key);
bool api_token_ok(struct app *app, const char *token);
void api_session_create(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_session_get(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_session_delete(struct app *, struct http_request *, const struct principal *,
    const char *const *);

/* Load channels and API keys from the store into memory. */
int api_load(struct app *app);
void api_unload(struct app *app);
/* The API keys (at start: read on the calling thread). */
int api_keys_load(struct app *app);
/* Replace the keys by those of rows (store_api_keys_load()'s). */
void api_keys_apply(struct app *app, const json_t *keys);
/* Sort app->key_order again after keys changed. */
void api_keys_index(struct app *app);
/* Replace the memberships by those of rows (store_members_load()'s). */
void api_members_apply(struct app *app, const json_t *rows);
/* user's role in org (ROLE_NONE: not a member); whether user exists. */
enum role api_member_role(const struct app *app, const char *user, int64_t org);
bool api_user_known(const struct app *app, const char *user);
/* How many organizations user belongs to. */
size_t api_user_orgs(const struct app *app, const char *user);
/* Must user choose a new password before anything else? */
bool api_user_must_change(const struct app *app, const char *user);
/* The organization a request names: Msgd-Org, else ?org= (NULL: neither). */
const char *api_org_asked(struct http_request *req);
/* A committed change, applied here at once (other instances re-read). */
void api_user_must_change_set(struct app *app, const char *user, bool on);
void api_member_set(struct app *app, const char *user, int64_t org, enum role role);
void api_user_platform_set(struct app *app, const char *user, bool on);
void api_member_drop(struct app *app, const char *user, int64_t org);  /* org 0: every one, the user too */
/* Settings (api_limits.c): the defaults; patch (a JSON object of setting
 * names) applied to s (-1 with the field and why); as JSON. */
void api_org_settings_default(struct org_settings *s);
int api_org_settings_merge(struct org_settings *s, const json_t *patch, char *field, size_t flen,
    char *err, size_t errlen);
json_t *api_org_settings_json(const struct org_settings *s);
/* An organization's sending quotas (per minute, hour, day; 0: none), for
 * the outbox (outbox_set_org_quota(); arg is the struct app). */
void api_org_quota(void *arg, int64_t org_id, int64_t max[3]);
/* Take one request from who's and its organization's buckets: 0, or -1
 * after a 429. Adds the RateLimit-* headers to the reply either way. */
int api_rate_take(struct app *app, struct http_request *req, const struct principal *who);
void api_orgs_get(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_orgs_patch(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_orgs_usage(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_contacts_erase(struct app *, struct http_request *, const struct principal *,
    const char *const *);
/* Append an audit.<what> event to org's log (api_audit.c): actor who (NULL:
 * msgd itself), target, before and after (references taken; NULL: null).
 * MUST NOT carry secrets. */
void api_audit(struct app *app, const struct principal *who, int64_t org, const char *what,
    json_t *target, json_t *before, json_t *after);
void api_audit_list(struct app *, struct http_request *, const struct principal *,
    const char *const *);
/* Events read from the store as a {"events":[...],"next"} reply (api_read.c). */
struct api_reply;
struct store_event;
void api_events_page(struct store_event *ev, size_t n, int64_t since, struct api_reply *out);
/* Run a step of each organization's retention that is due (every few
 * seconds: api_keys.c's timer). */
void api_retention_tick(struct app *app);
/* A channel's provider templates (api_chtemplates.c, issue 14). */
void api_channel_templates_list(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_channel_templates_sync(struct app *, struct http_request *, const struct principal *,
    const char *const *);
/* Opt-outs (api_optout.c, issue 14): tag an inbound batch's keyword
 * messages (and add their confirmations) before it is submitted; after
 * its commit, start sending the confirmations it stored. */
void api_optout_tag(struct app *app, struct ingest_batch *b);
void api_optout_committed(struct app *app, const struct ingest_batch *b);
/* Replace the organizations by those of rows (store_orgs_load()'s). */
void api_orgs_apply(struct app *app, const json_t *rows);
const struct api_org *api_org_by_id(const struct app *app, int64_t id);
const struct api_org *api_org_by_name(const struct app *app, const char *name);
/*
 * Who is asking (api_orgs.c): the principal of the admin token (m ADMIN),
 * of app->keys[key] (m KEY), or of a browser session s (m NONE), acting in
 * the organization the Msgd-Org header names (default: "default"; a key's
 * own, which the header may only repeat). 0, or -1 after replying (404 for
 * an organization that does not exist or is not the caller's, 401 for an
 * expired key or a session whose token is gone).
 */
int api_principal(struct app *app, struct http_request *req, enum token_match m, size_t key,
    const struct auth_session *s, struct principal *who);
/* The same for app->keys[key]; for user in organization in (NULL: as
 * Msgd-Org or the default says); for an access token (api_token.c). */
int api_key_principal(struct app *app, struct http_request *req, size_t key, struct principal *who);
int api_user_principal(struct app *app, struct http_request *req, const char *user,
    const struct api_org *in, struct principal *who);
int api_principal_of_jwt(struct app *app, struct http_request *req, const char *jwt,
    struct principal *who);
/* Access tokens' signing keys (api_token.c): loaded at start (a first one
 * made if none is young enough), replaced by another instance's change,
 * rotated when old (checked every few seconds), freed at the end. */
int api_tokens_load(struct app *app);
void api_tokens_apply(struct app *app, const json_t *rows);
void api_tokens_rotate_check(struct app *app);
void api_tokens_free(struct app *app);
void api_auth_token(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_orgs_create(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_orgs_list(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_auth_me(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_keys_create(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_keys_list(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_keys_delete(struct app *, struct http_request *, const struct principal *,
    const char *const *);
/* app->keys[key] was used now; the uses since the last write are written
 * every few seconds, and by api_keys_flush() (api_keys_stop(): before the
 * store closes). */
void api_key_used(struct app *app, size_t key);
void api_keys_flush(struct app *app);
void api_keys_start(struct app *app);
void api_keys_stop(struct app *app);
/* The principal as GET /v1/auth/me shows it. */
json_t *api_principal_json(const struct principal *who);
/* A stored channel row (store_channels_load()) as a channel, not opened;
 * NULL (logged) when its type is unknown. */
struct channel *api_channel_from_row(const json_t *row);
/* Bring the registry in line with rows (store_channels_load(): another
 * instance created, patched or deleted channels), each change applied as a
 * local one is. */
void api_channels_sync(struct app *app, json_t *rows);
/*
 * Follow another instance's changes of channels and keys (kinds: the
 * STORE_CHANGE_CHANNELS and STORE_CHANGE_KEYS bits; api_follow.c): read
 * on the reader pool, applied on the loop, one read at a time (changes
 * heard meanwhile make one more read after it, so an older snapshot is
 * never applied after a newer one). api_follow_stop() before the store
 * closes: a read still out is dropped when it lands.
 */
void api_follow(struct app *app, unsigned kinds);
void api_follow_stop(struct app *app);

/* --- shared by the api_*.c files --- */
typedef void (*api_fn)(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *params);

/* Parse the request body as a JSON object; replies 400/422 and returns
 * NULL when it is not one. */
json_t *api_body_object(struct http_request *req);
/* A string member without embedded NUL (a password cut short by \u0000
 * would silently be a different password), or NULL. */
const char *api_plain_str(const json_t *o, const char *key);
/* Numbers in a URL (limit, since, ids in a query, Last-Event-ID): ASCII
 * digits only, no sign, no spaces, at most API_NUMBER_DIGITS_MAX of them,
 * within min..max. Otherwise reply 400 invalid_parameter naming the
 * parameter and return -1. api_query_number: *out = def when absent. */
#define API_NUMBER_DIGITS_MAX 18
int api_number(struct http_request *req, const char *name, const char *value, int64_t min,
    int64_t max, int64_t *out);
int api_query_number(struct http_request *req, const char *name, int64_t min, int64_t max,
    int64_t def, int64_t *out);
/* Query parameter "limit": default def, 1..max; replies 400 and returns -1. */
int api_limit(struct http_request *req, int def, int max);
/* Parse a path id; replies 404 and returns -1 when invalid. */
int api_path_id(struct http_request *req, const char *s, int64_t *out);
/* Reply for a store read failure. */
void api_store_error(struct http_request *req);
/* A write op failed: 503 storage_unavailable (with Retry-After) when
 * storage itself failed (disk full, I/O error), else api_store_error(). */
#define API_STORAGE_RETRY_AFTER "30"
void api_op_error(struct http_request *req, const struct store_op *op);
/*
 * Reads off the loop (api_async.c). fn() runs on a reader thread of the
 * store with ctx (the handler's copy of what it needs: it MUST NOT touch
 * the request, the registry or anything else of the loop's) and fills out:
 * status 0 = the read failed (500 internal); a JSON body in json (owned;
 * serialized on the reader thread) or raw text (malloc'd, owned); or an
 * error (api_reply_fail). The request is deferred and answered on the loop
 * with it; free_ctx(ctx) then (may be NULL).
 */
#define API_REPLY_CODE_MAX 32
struct api_reply {
	int status;
	json_t *json;
	char *raw;
	size_t rawlen;
	const char *content_type;       /* raw's (a static string); NULL: application/json */
	char code[API_REPLY_CODE_MAX];  /* set: an error reply */
	char field[64];
	char message[256];
};
typedef void (*api_read_fn)(struct store *st, void *ctx, struct api_reply *out);
void api_read_async(struct app *app, struct http_request *req, api_read_fn fn, void *ctx,
    void (*free_ctx)(void *ctx));
/* A read's result (steals v): 200 with it, 404 not_found "no such <what>"
 * when NULL, status 0 when rc != 0. */
void api_reply_read(struct api_reply *out, int rc, json_t *v, const char *what);
void api_reply_fail(struct api_reply *out, int status, const char *code, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* 429 too_many_attempts with Retry-After (wait_ms rounded up to seconds). */
void api_too_many(struct http_request *req, int64_t wait_ms);

/* The channel as the API shows it (secrets masked); a sending channel's
 * "state" has queue_depth 0 until api_reply_channels() reads it. */
json_t *api_channel_json(struct app *app, const struct channel *ch);
/* Reply with body (a channel, or {"channels":[...]}; taken) once the queue
 * depths of its channels are read off the loop (api_depth.c). */
void api_reply_channels(struct app *app, struct http_request *req, int status, json_t *body);

void api_channels_create(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_channels_list(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_channels_get(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_channels_patch(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_channels_delete(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_webhook(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_channel_webhook(struct app *, struct http_request *, const struct principal *,
    const char *const *);
/* api_chan_actions.c: channels v2 (channel types, actions, QR, connection states). */
void api_channel_types(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_channels_connect(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_channels_disconnect(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_channels_qr(struct app *, struct http_request *, const struct principal *,
    const char *const *);
/* The caller's organization's channel named name, or NULL (answered 404). */
struct channel *api_channel_or_404(struct app *app, struct http_request *req,
    const struct principal *who, const char *name);
/* {"state","reason","since"} of the channel's shared connection state. */
json_t *api_channel_connection(const struct channel *ch);
/* After a commit here: the states it applied, onto the registry's channels. */
void api_channel_states_apply(struct app *app, const struct ingest_batch *b);
/* Rows of store_channel_states() onto the registry's channels. */
void api_channel_states_set(struct app *app, const json_t *rows);
/* Another instance committed states: read them all again (reader pool). */
void api_channel_states_reload(struct app *app);
void api_sandbox_inbound(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_conversations_list(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_conversations_get(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_conversation_messages(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_messages_get(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_messages_find(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_events_list(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_stream(struct app *, struct http_request *, const struct principal *,
    const char *const *);

/* Where a live stream (SSE or WebSocket) starts and what it shows. */
struct stream_params {
	int64_t since;              /* last seq the client has; default: the end of the log */
	const char *channel;        /* filter, or NULL (points into the request) */
	int64_t conversation_id;    /* filter, or 0 */
};
/* Parse ?since (or Last-Event-ID when use_last_event_id), ?channel and
 * ?conversation_id; replies 400 (or 503 while shutting down) and returns -1. */
int api_stream_params(struct app *app, struct http_request *req, bool use_last_event_id,
    struct stream_params *out);
/* Shutdown: end every open stream and WebSocket (clients reconnect
 * elsewhere or later). */
void api_streams_end(struct app *app);
void api_ws(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_ws_end(struct app *app);
/* Client bytes through the WebSocket frame handling, without a loop or a
 * client (the fuzz harness; see api_ws.c). */
int api_ws_feed(struct app *app, const void *bytes, size_t len);
/* Metrics (h15metrics): open SSE streams / WebSockets and the largest lag
 * among them (events of the log after the cursor, any organization). */
void api_stream_gauges(struct app *app, int64_t *n, int64_t *max_lag);
void api_ws_gauges(struct app *app, int64_t *n, int64_t *max_lag);
/* The head hook's look at a provider webhook (api_ingest.c): too_large. */
void api_webhook_head(struct app *app, struct http_request *req, const char *const *p);
void api_messages_send(struct app *, struct http_request *, const struct principal *,
    const char *const *);
/* One send (a POST /v1/messages body, borrowed), validated and committed.
 * done() runs exactly once with the HTTP status and the reply body it owns
 * (the message, or {"error":{...}}): before this returns false when nothing
 * was committed (invalid, duplicate), or later on the loop, after the commit,
 * when it returns true. idem_key: the Idempotency-Key, or NULL. */
typedef void (*api_send_done_fn)(void *arg, int status, json_t *reply);
bool api_send_submit(struct app *app, int64_t org, const json_t *body, const char *idem_key,
    api_send_done_fn done, void *arg);
void api_messages_batch(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_messages_cancel(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_conversation_read(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_templates_create(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_templates_list(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_templates_get(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_templates_delete(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_hooks_create(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_hooks_list(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_hooks_get(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_hooks_delete(struct app *, struct http_request *, const struct principal *,
    const char *const *);
/* /v1/exports (api_hooks.c beside /v1/webhooks, issue 15): event exports to brokers. */
void api_exports_create(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_exports_list(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_exports_get(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_exports_pause(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_exports_resume(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_exports_delete(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_users_list(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_users_create(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_users_delete(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_users_logout(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_users_password(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_users_patch(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_auth_password(struct app *, struct http_request *, const struct principal *,
    const char *const *);

/* api_campaigns.c: /v1/campaigns (issue 14, h14camp). */
void api_campaigns_create(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_campaigns_list(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_campaigns_get(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_campaigns_recipients(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_campaigns_pause(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_campaigns_resume(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_campaigns_cancel(struct app *, struct http_request *, const struct principal *,
    const char *const *);

/* api_files.c: the files store (issue 14). POST /v1/files runs from api_head(). */
/* A multipart upload's parts (an http_part_fn's arg): the one file part
 * streams into w; fuzz_multipart drives it as the route does. */
enum api_up_state { API_UP_OK, API_UP_TOO_BIG, API_UP_IO, API_UP_BAD_MULTIPART, API_UP_TWO_FILES,
	API_UP_TOO_MANY_PARTS, API_UP_BODY_TOO_BIG };
#define API_UPLOAD_PARTS_MAX 16        /* parts of a multipart upload, fields included */
#define API_UPLOAD_OVERHEAD (64 * 1024) /* a multipart body's bytes beyond the file's cap */
struct api_upload_parts {
	struct files_writer *w;
	enum api_up_state state;
	bool part_seen;                 /* a file part began */
	char part_name[256];            /* its field name, to tell a second one */
	unsigned parts;                 /* parts begun */
	uint64_t part_end;              /* where the last call's bytes ended in their part */
	char last_name[256];            /* the last call's part name */
};
int api_upload_part(void *parts, const char *name, const char *filename, const char *content_type,
    const char *data, uint64_t off, size_t n);
void api_files_upload(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_files_list(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_files_content(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_files_meta(struct app *, struct http_request *, const struct principal *,
    const char *const *);

/* h15openapi: GET /openapi.json and GET /docs (api_docs.c). */
void api_openapi_json(struct app *, struct http_request *, const struct principal *,
    const char *const *);
void api_docs_page(struct app *, struct http_request *, const struct principal *,
    const char *const *);

#endif
