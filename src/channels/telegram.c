/*
 * telegram.c - the Telegram Bot API adapter (type "telegram").
 *
 * Every call goes to {api_base_url}/bot{bot_token}/{method}: the token is
 * part of the URL, so URLs are never logged. Updates arrive one of two
 * ways (config "mode"):
 *  - webhook (the default): Telegram POSTs each Update to this channel's
 *    own route, POST /webhooks/telegram/<channel id>, with the header
 *    X-Telegram-Bot-Api-Secret-Token, compared in constant time with
 *    webhook_secret (401 otherwise) before the body is read. connect()
 *    calls setWebhook with public_url + that path and the secret.
 *  - polling, for installations with no public URL: the instance holding
 *    the channel's lease (on_lease) long-polls getUpdates from the offset
 *    persisted with the last committed batch (channel_load_cursor), and
 *    commits each answer's records with the next offset in one
 *    channel_submit(); only then does it ask again, so an update is never
 *    acknowledged to Telegram before it is on disk. Errors back off from
 *    1 s, doubling to 60 s; a 409 (a webhook is set, or another poller)
 *    and a refused token report the channel state "error" with the reason.
 *
 * Normalization of an Update lives in telegram_inbound.c, the bodies of
 * sends and the classification of answers in telegram_outbound.c.
 * after_commit answers every new (non-duplicate) button press with
 * answerCallbackQuery, so the user's client stops its spinner.
 */
#include "telegram.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log/log.h"
#include "../util/util.h"

#define TG_TOKEN_MAX        256         /* bytes of a bot token */
#define TG_SECRET_MAX       256         /* webhook_secret (Telegram's limit) */
#define TG_URL_MAX          512
#define TG_POLL_TIMEOUT_S   25          /* getUpdates long-poll timeout */
#define TG_POLL_HTTP_MS     35000       /* the request's own timeout: longer */
#define TG_CALL_MS          15000       /* setWebhook, answerCallbackQuery, ... */
#define TG_BACKOFF_MIN_MS   1000
#define TG_BACKOFF_MAX_MS   60000
#define TG_BAD_TOKEN_MS     300000      /* a refused token: ask again slowly */
#define TG_PATH_MAX         128

static const char *const tg_modes[] = { "webhook", "polling", NULL };

static const struct config_key tg_schema[] = {
	{ .name = "bot_token", .kind = CFG_STRING, .required = true, .secret = true,
	  .max_len = TG_TOKEN_MAX, .description = "the bot's token from @BotFather" },
	{ .name = "webhook_secret", .kind = CFG_STRING, .secret = true, .max_len = TG_SECRET_MAX,
	  .description = "X-Telegram-Bot-Api-Secret-Token: 1-256 of A-Z a-z 0-9 _ - "
	  "(required in webhook mode)" },
	{ .name = "api_base_url", .kind = CFG_URL, .max_len = TG_URL_MAX,
	  .description = "the Bot API server (default " TG_DEFAULT_API_BASE ")" },
	{ .name = "mode", .kind = CFG_ENUM, .values = tg_modes,
	  .description = "webhook (default) or polling (getUpdates, no public URL needed)" },
	{ .name = "public_url", .kind = CFG_URL, .max_len = TG_URL_MAX,
	  .description = "msgd's public base URL, for setWebhook (webhook mode)" },
	{ .name = NULL },
};

/* The token goes to api_base_url and the webhook secret to public_url
 * (setWebhook): moving either needs both secrets again. */
static const char *const tg_destination[] = { "api_base_url", "public_url", NULL };
static const char *const tg_destination_secrets[] = { "bot_token", "webhook_secret", NULL };

static const char *const tg_send_types[] = {
	"text", "image", "document", "video", "audio", "voice", "sticker", "location",
	"interactive", "reaction", NULL,
};
static const char *const tg_receive_types[] = {
	"text", "image", "document", "video", "audio", "voice", "sticker", "location",
	"contacts", "reaction", "button", "unsupported", NULL,
};
static const struct media_limit tg_media[] = {
	{ .kind = "image", .max_bytes = 10LL * 1024 * 1024 },
	{ .kind = "video", .max_bytes = 50LL * 1024 * 1024 },
	{ .kind = "audio", .max_bytes = 50LL * 1024 * 1024 },
	{ .kind = "voice", .max_bytes = 50LL * 1024 * 1024 },
	{ .kind = "document", .max_bytes = 50LL * 1024 * 1024 },
	{ .kind = "sticker", .max_bytes = 50LL * 1024 * 1024 },
	{ .kind = NULL },
};
static const char *const tg_send_options[] = { "parse_mode", "buttons", "reply_markup", NULL };
static const struct channel_caps tg_caps = {
	.send_types = tg_send_types,
	.send_options = tg_send_options,
	.receive_types = tg_receive_types,
	.media = tg_media,
	.templates = false,
	.interactive = true,
	.reactions = true,          /* setMessageReaction */
	.edits = true,              /* edited_message */
	.deletes = false,           /* the Bot API does not report deletions */
	.read_receipts = false,
	.typing = false,
	.groups = true,
	.replies = true,
	.pairing = false,
	.window_hours = 0,
	.max_text_len = TG_TEXT_MAX,
	/* ~30 messages/s per bot, 1/s per chat, 20/min per group. */
	.pacing = { .rate_per_second = 30, .recipient_gap_ms = 1000, .group_gap_ms = 3000 },
};

/* The updates connect() and getUpdates ask for. */
static const char *const tg_allowed_updates[] = {
	"message", "edited_message", "channel_post", "edited_channel_post", "callback_query",
	"message_reaction", "my_chat_member", NULL,
};

struct tg_state {
	char *token;
	char *secret;           /* NULL when absent (polling mode) */
	char *api_base;         /* without a trailing '/' */
	char *public_url;       /* NULL when absent */
	char *self;             /* the bot's id (the token's part before ':') */
	bool polling_mode;
	/* Polling (only while this instance holds the lease). */
	bool leased;
	bool stopped;           /* disconnect(): no polling until connect() */
	unsigned gen;           /* bumped when polling stops: older callbacks are stale */
	unsigned timer_gen;     /* gen when the timer was started */
	bool busy;              /* a getUpdates or its commit is in flight */
	int64_t offset;         /* next getUpdates offset; 0: none yet */
	int64_t pending_offset; /* the offset after the batch being committed */
	int64_t backoff_ms;
	struct channel_timer *timer;
	enum channel_conn reported;
};

/* Config */

static bool
token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '_' || c == '-';
}

static int
field_err(struct channel_error *err, const char *field, const char *msg)
{
	snprintf(err->field, sizeof(err->field), "%s", field);
	snprintf(err->message, sizeof(err->message), "%s", msg);
	return -1;
}

static int
tg_validate(const json_t *cfg, struct channel_error *err)
{
	const char *token, *secret, *mode, *p;

	if (cfg_check_schema(tg_schema, cfg, err) != 0)
		return -1;
	/* "<bot id>:<secret part>": it becomes part of every URL. */
	token = json_string_value(json_object_get(cfg, "bot_token"));
	p = token;
	while (*p >= '0' && *p <= '9')
		p++;
	bool ok = p > token && *p == ':' && p[1] != '\0';
	for (p = ok ? p + 1 : p; ok && *p; p++)
		ok = token_char(*p);
	if (!ok)
		return field_err(err, "config.bot_token",
		    "'bot_token' must look like 123456789:AA... (digits, ':', then A-Z a-z 0-9 _ -)");
	secret = json_string_value(json_object_get(cfg, "webhook_secret"));
	for (p = secret; p && *p; p++)
		if (!token_char(*p))
			return field_err(err, "config.webhook_secret",
			    "'webhook_secret' may hold only A-Z a-z 0-9 _ - (Telegram's rule)");
	mode = json_string_value(json_object_get(cfg, "mode"));
	if ((mode == NULL || strcmp(mode, "webhook") == 0) && secret == NULL)
		return field_err(err, "config.webhook_secret",
		    "'webhook_secret' is required in webhook mode");
	return 0;
}

static char *
cfg_dup(const json_t *cfg, const char *key, const char *def)
{
	const char *s = json_string_value(json_object_get(cfg, key));
	return xstrdup_or_null(s ? s : def);
}

static int
tg_open(struct channel *ch)
{
	struct tg_state *st = xcalloc(1, sizeof(*st));
	const char *mode = json_string_value(json_object_get(ch->config, "mode"));
	size_t n;

	st->token = cfg_dup(ch->config, "bot_token", NULL);
	st->secret = cfg_dup(ch->config, "webhook_secret", NULL);
	st->api_base = cfg_dup(ch->config, "api_base_url", TG_DEFAULT_API_BASE);
	st->public_url = cfg_dup(ch->config, "public_url", NULL);
	st->polling_mode = mode && strcmp(mode, "polling") == 0;
	n = strlen(st->api_base);
	while (n > 0 && st->api_base[n - 1] == '/')
		st->api_base[--n] = '\0';
	ch->state = st;
	if (st->token == NULL) {
		log_error("telegram channel config incomplete", "channel", ch->name);
		return -1;
	}
	st->self = xstrndup(st->token, strcspn(st->token, ":"));
	return 0;
}

static void
tg_close(struct channel *ch)
{
	struct tg_state *st = ch->state;

	if (st == NULL)
		return;
	channel_timer_free(st->timer);
	free(st->token);
	free(st->secret);
	free(st->api_base);
	free(st->public_url);
	free(st->self);
	free(st);
	ch->state = NULL;
}

static struct tg_state *
tg_state_of(const struct channel *ch)
{
	return ch && ch->ops == &telegram_ops ? ch->state : NULL;
}

/* Requests */

/* A POST of body (consumed) to method. */
static int
tg_request(const struct tg_state *st, const char *method, json_t *body, struct send_request *out)
{
	char *s = json_encode(body, NULL);

	json_decref(body);
	*out = (struct send_request){ 0 };
	if (s == NULL)
		return -1;
	out->method = xstrdup("POST");
	out->url = xasprintf("%s/bot%s/%s", st->api_base, st->token, method);
	out->body = s;
	out->body_len = strlen(s);
	out->headers[out->nheaders++] = xstrdup("Content-Type: application/json");
	return 0;
}

static json_t *
allowed_updates(void)
{
	json_t *a = json_array();
	for (const char *const *u = tg_allowed_updates; *u; u++)
		json_array_append_new(a, json_string(*u));
	return a;
}

/* Call method with body (consumed) on the loop; done as channel_http's. */
static int
tg_call(struct channel *ch, const char *method, json_t *body, int64_t timeout_ms,
    channel_http_done done, void *arg)
{
	struct send_request req;

	if (tg_request(ch->state, method, body, &req) != 0)
		return -1;
	return channel_http(ch, &req, timeout_ms, done, arg);
}

/* The description of a failed call, for a state reason. */
static void
answer_reason(const struct send_response *resp, char *out, size_t outlen)
{
	json_t *root;
	bool ok;
	const char *desc;
	int64_t code;

	if (resp->http_status == 0) {
		snprintf(out, outlen, "cannot reach the Bot API: %s",
		    resp->net_error ? resp->net_error : "network error");
		return;
	}
	tg_parse_answer(resp, &root, &ok, &desc, &code);
	if (resp->http_status == 401 || resp->http_status == 404)
		snprintf(out, outlen, "invalid bot token");
	else if (desc)
		snprintf(out, outlen, "%.200s", desc);
	else
		snprintf(out, outlen, "the Bot API answered HTTP %ld", resp->http_status);
	json_decref(root);
}

static bool
answer_ok(const struct send_response *resp)
{
	json_t *root;
	bool ok;
	const char *desc;
	int64_t code;

	if (tg_parse_answer(resp, &root, &ok, &desc, &code) != 0)
		return false;
	json_decref(root);
	return ok && resp->http_status >= 200 && resp->http_status < 300;
}

static void
report(struct channel *ch, enum channel_conn s, const char *reason)
{
	struct tg_state *st = ch->state;

	st->reported = s;
	channel_report_state(ch, s, reason);
}

/* Polling */

static void poll_now(struct channel *ch);

static void
poll_fire(struct channel *ch, void *arg)
{
	struct tg_state *st = ch->state;

	if (st && st->timer_gen == st->gen)
		poll_now(ch);
}

/* Poll again in delay_ms (the timer counts as the poll in flight). */
static void
poll_later(struct channel *ch, int64_t delay_ms)
{
	struct tg_state *st = ch->state;

	if (st->timer == NULL)
		st->timer = channel_timer_new(ch, poll_fire, NULL);
	st->busy = st->timer != NULL;
	st->timer_gen = st->gen;
	channel_timer_start(st->timer, delay_ms);
}

static void
poll_backoff(struct channel *ch)
{
	struct tg_state *st = ch->state;

	st->backoff_ms = st->backoff_ms ? st->backoff_ms * 2 : TG_BACKOFF_MIN_MS;
	if (st->backoff_ms > TG_BACKOFF_MAX_MS)
		st->backoff_ms = TG_BACKOFF_MAX_MS;
	poll_later(ch, st->backoff_ms);
}

static bool
polling_wanted(const struct tg_state *st)
{
	return st->polling_mode && st->leased && !st->stopped;
}

static void
poll_committed(struct channel *ch, int result, void *arg)
{
	struct tg_state *st = ch->state;

	if ((uintptr_t)arg != st->gen)
		return;
	st->busy = false;
	if (result == 0 && st->pending_offset > st->offset)
		st->offset = st->pending_offset;
	if (result != 0) {
		/* Not on disk: ask for the same updates again (their keys dedup). */
		poll_backoff(ch);
		return;
	}
	if (polling_wanted(st))
		poll_now(ch);
}

static void
poll_answer(struct channel *ch, const struct send_response *resp, void *arg)
{
	struct tg_state *st = ch->state;
	json_t *root;
	bool ok;
	const char *desc;
	int64_t code, last = -1;
	char reason[256];
	const json_t *u;
	size_t i;

	if ((uintptr_t)arg != st->gen)
		return;
	st->busy = false;
	if (!polling_wanted(st))
		return;
	if (tg_parse_answer(resp, &root, &ok, &desc, &code) != 0 || !ok ||
	    !json_is_array(json_object_get(root, "result"))) {
		json_decref(root);
		answer_reason(resp, reason, sizeof(reason));
		long s = resp->http_status;
		if (s == 401 || s == 404 || s == 409)
			report(ch, CONN_ERROR, reason);
		log_warn("telegram: getUpdates failed", "channel", ch->name, "reason", reason);
		if (s == 401 || s == 404)
			poll_later(ch, TG_BAD_TOKEN_MS);
		else
			poll_backoff(ch);
		return;
	}
	st->backoff_ms = 0;
	if (st->reported != CONN_CONNECTED)
		report(ch, CONN_CONNECTED, NULL);

	struct ingest_batch b = { 0 };
	json_array_foreach(json_object_get(root, "result"), i, u) {
		struct channel_error err = { 0 };
		/* Every update_id moves the offset on, one msgd cannot read too:
		 * asking for it again would get the same answer forever. */
		const json_t *uid = json_object_get(u, "update_id");
		if (json_is_integer(uid) && json_integer_value(uid) > last)
			last = json_integer_value(uid);
		if (tg_normalize_update(u, ch->id, st->self, &b, &err) != 0)
			log_warn("telegram: getUpdates returned something that is not an Update; "
			    "skipped", "channel", ch->name, "error", err.message);
	}
	size_t n = json_array_size(json_object_get(root, "result"));
	json_decref(root);
	if (last < 0) {
		ingest_batch_free(&b);
		if (n > 0)
			poll_backoff(ch);  /* nothing with an update_id: do not spin on it */
		else
			poll_now(ch);      /* the long poll ended empty: ask again */
		return;
	}
	/* The offset moves on only once these are on disk: asking with it
	 * confirms them to Telegram, which then forgets them. */
	b.cursor_channel_id = ch->id;
	b.cursor = xasprintf("%lld", (long long)(last + 1));
	st->pending_offset = last + 1;
	st->busy = true;
	if (channel_submit(ch, &b, poll_committed, (void *)(uintptr_t)st->gen) != 0) {
		st->busy = false;
		poll_backoff(ch);
	}
}

static void
poll_now(struct channel *ch)
{
	struct tg_state *st = ch->state;
	json_t *body;

	st->busy = false;
	if (!polling_wanted(st))
		return;
	body = json_pack("{s:i,s:o}", "timeout", TG_POLL_TIMEOUT_S, "allowed_updates",
	    allowed_updates());
	if (st->offset > 0)
		json_object_set_new(body, "offset", json_integer(st->offset));
	st->busy = true;
	if (tg_call(ch, "getUpdates", body, TG_POLL_HTTP_MS, poll_answer,
	    (void *)(uintptr_t)st->gen) != 0) {
		st->busy = false;
		poll_backoff(ch);
	}
}

static void
cursor_loaded(struct channel *ch, const char *cursor, void *arg)
{
	struct tg_state *st = ch->state;
	int64_t off;

	if ((uintptr_t)arg != st->gen)
		return;
	st->busy = false;
	if (cursor && parse_i64(cursor, &off) == 0 && off > st->offset)
		st->offset = off;
	poll_now(ch);
}

static void
poll_start(struct channel *ch)
{
	struct tg_state *st = ch->state;

	if (!polling_wanted(st) || st->busy)
		return;
	st->gen++;
	st->backoff_ms = 0;
	st->busy = true;
	if (channel_load_cursor(ch, cursor_loaded, (void *)(uintptr_t)st->gen) != 0) {
		st->busy = false;
		poll_backoff(ch);
	}
}

static void
poll_stop(struct channel *ch)
{
	struct tg_state *st = ch->state;

	st->gen++;  /* whatever is in flight is stale now */
	st->busy = false;
	channel_timer_stop(st->timer);
}

static void
tg_on_lease(struct channel *ch, bool held)
{
	struct tg_state *st = tg_state_of(ch);

	if (st == NULL)
		return;
	st->leased = held;
	/* A channel disconnected on purpose (before this open) stays so until connect(). */
	if (held && ch->conn == CONN_DISCONNECTED && st->reported == CONN_NONE)
		st->stopped = true;
	if (held)
		poll_start(ch);
	else
		poll_stop(ch);
}

/* Actions */

static void
webhook_set(struct channel *ch, const struct send_response *resp, void *arg)
{
	char reason[256];

	if (answer_ok(resp)) {
		log_info("telegram: webhook set", "channel", ch->name);
		report(ch, CONN_CONNECTED, NULL);
		return;
	}
	answer_reason(resp, reason, sizeof(reason));
	log_warn("telegram: setWebhook failed", "channel", ch->name, "reason", reason);
	report(ch, CONN_ERROR, reason);
}

static void
webhook_deleted(struct channel *ch, const struct send_response *resp, void *arg)
{
	struct tg_state *st = ch->state;
	char reason[256];
	bool connecting = arg != NULL;

	if (!answer_ok(resp)) {
		answer_reason(resp, reason, sizeof(reason));
		log_warn("telegram: deleteWebhook failed", "channel", ch->name, "reason", reason);
		report(ch, CONN_ERROR, reason);
		return;
	}
	if (!connecting) {
		report(ch, CONN_DISCONNECTED, NULL);
		return;
	}
	/* Polling mode: the poller may go (it reports connected on its first answer). */
	st->stopped = false;
	if (st->leased) {
		poll_stop(ch);
		poll_start(ch);
	}
}

static int
tg_connect(struct channel *ch, struct channel_error *err)
{
	struct tg_state *st = tg_state_of(ch);
	char path[TG_PATH_MAX];
	json_t *body;

	if (st == NULL)
		return field_err(err, "channel", "the channel is not open");
	if (st->polling_mode) {
		report(ch, CONN_CONNECTING, NULL);
		body = json_pack("{s:b}", "drop_pending_updates", 0);
		if (tg_call(ch, "deleteWebhook", body, TG_CALL_MS, webhook_deleted, (void *)1) != 0)
			return field_err(err, "channel", "cannot call the Bot API now");
		return 0;
	}
	if (st->public_url == NULL)
		return field_err(err, "config.public_url",
		    "'public_url' is required to set the webhook (or use mode \"polling\")");
	if (st->secret == NULL)
		return field_err(err, "config.webhook_secret", "'webhook_secret' is required");
	size_t n = strlen(st->public_url);
	while (n > 0 && st->public_url[n - 1] == '/')
		n--;
	channel_webhook_path(ch, path, sizeof(path));
	body = json_object();
	json_object_set_new(body, "url", json_sprintf("%.*s%s", (int)n, st->public_url, path));
	json_object_set_new(body, "secret_token", json_string(st->secret));
	json_object_set_new(body, "allowed_updates", allowed_updates());
	report(ch, CONN_CONNECTING, NULL);
	if (tg_call(ch, "setWebhook", body, TG_CALL_MS, webhook_set, NULL) != 0)
		return field_err(err, "channel", "cannot call the Bot API now");
	return 0;
}

static int
tg_disconnect(struct channel *ch, struct channel_error *err)
{
	struct tg_state *st = tg_state_of(ch);

	if (st == NULL)
		return field_err(err, "channel", "the channel is not open");
	if (st->polling_mode) {
		st->stopped = true;
		poll_stop(ch);
		report(ch, CONN_DISCONNECTED, NULL);
		return 0;
	}
	if (tg_call(ch, "deleteWebhook", json_object(), TG_CALL_MS, webhook_deleted, NULL) != 0)
		return field_err(err, "channel", "cannot call the Bot API now");
	return 0;
}

/* Webhook */

static void
reply_error(struct webhook_reply *reply, int status, const char *code, const char *msg)
{
	reply->status = status;
	reply->content_type = "application/json";
	snprintf(reply->error_code, sizeof(reply->error_code), "%s", code);
	/* A long parser message is cut at a character boundary. */
	size_t n = strlen(msg);
	if (n >= sizeof(reply->message))
		n = utf8_boundary(msg, sizeof(reply->message) - 1);
	snprintf(reply->message, sizeof(reply->message), "%.*s", (int)n, msg);
}

static void
tg_channel_webhook(struct channel *ch, const struct webhook_request *req,
    struct webhook_reply *reply, struct ingest_batch *out)
{
	struct tg_state *st = tg_state_of(ch);
	const char *hdr = req->header(req->ctx, "X-Telegram-Bot-Api-Secret-Token");
	struct channel_error cerr = { 0 };
	char jerr[256];
	json_t *root = NULL;

	if (strcmp(req->method, "POST") != 0) {
		reply_error(reply, 405, "method_not_allowed", "use POST");
		return;
	}
	/* Lengths may differ in the open; the bytes are compared in constant time. */
	if (st == NULL || st->secret == NULL || hdr == NULL ||
	    !ct_equal(hdr, strnlen(hdr, TG_SECRET_MAX + 1), st->secret, strlen(st->secret))) {
		log_warn("telegram: webhook secret refused", "req", req->request_id,
		    "reason", hdr ? "mismatch" : "missing");
		reply_error(reply, 401, "unauthorized",
		    "X-Telegram-Bot-Api-Secret-Token is missing or does not match");
		return;
	}
	if (json_parse_capped(req->body ? req->body : "", req->body_len, TG_JSON_DEPTH_MAX, &root,
	    jerr, sizeof(jerr)) != 0) {
		char msg[300];
		snprintf(msg, sizeof(msg), "invalid JSON: %s", jerr);
		reply_error(reply, 400, "invalid_json", msg);
		return;
	}
	if (tg_normalize_update(root, ch->id, st->self, out, &cerr) != 0) {
		json_decref(root);
		reply_error(reply, 400, "invalid_update", cerr.message);
		return;
	}
	json_decref(root);
	reply->status = 200;
	reply->content_type = "application/json";
	reply->body = xstrdup("{\"ok\":true}");
}

/* After a commit: answer new button presses. */

static void
callback_answered(struct channel *ch, const struct send_response *resp, void *arg)
{
	char reason[256];

	if (!answer_ok(resp)) {
		answer_reason(resp, reason, sizeof(reason));
		log_warn("telegram: answerCallbackQuery failed", "channel", ch->name, "reason", reason);
	}
}

static void
tg_after_commit(struct channel *ch, const struct ingest_batch *b)
{
	if (tg_state_of(ch) == NULL)
		return;
	for (size_t i = 0; i < b->nmsgs; i++) {
		const struct msg_in *m = &b->msgs[i];
		const json_t *id = json_object_get(m->parts, "callback_query_id");
		if (m->channel_id != ch->id || m->duplicate || !json_is_string(id) ||
		    m->type == NULL || strcmp(m->type, "button") != 0)
			continue;
		json_t *body = json_pack("{s:O}", "callback_query_id", id);
		if (tg_call(ch, "answerCallbackQuery", body, TG_CALL_MS, callback_answered, NULL) != 0)
			log_warn("telegram: cannot answer a callback query now", "channel", ch->name);
	}
}

/* Sending */

static int
tg_send_prepare(struct channel *ch, const json_t *msg, struct send_request *out,
    struct channel_error *err)
{
	struct tg_state *st = tg_state_of(ch);
	const char *method = NULL;
	json_t *body;

	*out = (struct send_request){ 0 };
	if (st == NULL)
		return field_err(err, "channel", "the channel is not open");
	if ((body = tg_send_body(msg, &method, err)) == NULL)
		return -1;
	const json_t *media = json_object_get(msg, "media");
	if (json_is_string(json_object_get(media, "path")) &&
	    !json_is_string(json_object_get(media, "provider_media_id"))) {
		/* A stored file: uploaded with the send (telegram_media.c). */
		char *url = xasprintf("%s/bot%s/%s", st->api_base, st->token, method);
		int rc = tg_multipart(url, body, tg_media_field(json_string_value(json_object_get(msg,
		    "type"))), media, out);
		free(url);
		return rc == 0 ? 0 : field_err(err, "media", "the upload could not be built");
	}
	if (tg_request(st, method, body, out) != 0)
		return field_err(err, "message", "the message could not be encoded");
	return 0;
}

static void
tg_send_classify(struct channel *ch, const json_t *msg, const struct send_response *resp,
    struct send_outcome *out)
{
	/* The chat the message went to, when the answer does not name it. */
	tg_classify(resp, json_string_value(json_object_get(msg, "to")), out);
}

static int
tg_check_prepare(struct channel *ch, struct send_request *out)
{
	struct tg_state *st = tg_state_of(ch);

	*out = (struct send_request){ 0 };
	if (st == NULL)
		return -1;
	return tg_request(st, "getMe", json_object(), out);
}

const struct channel_ops telegram_ops = {
	.type = "telegram",
	.validate = tg_validate,
	.open = tg_open,
	.close = tg_close,
	.on_start = NULL,
	.webhook_path = NULL,       /* no type-wide route: each channel has its own */
	.webhook = NULL,
	.simulate_inbound = NULL,
	.send_prepare = tg_send_prepare,
	.send_classify = tg_send_classify,
	.read_prepare = NULL,       /* bots get no read receipts */
	.send_local = NULL,
	.address_normalize = tg_address_normalize,
	.is_group = tg_is_group,
	.check_prepare = tg_check_prepare,
	.check_classify = tg_check_classify,
	.destination_keys = tg_destination,
	.destination_secrets = tg_destination_secrets,
	.route_key = NULL,
	.caps = &tg_caps,
	.schema = tg_schema,
	.channel_webhook = tg_channel_webhook,
	.after_commit = tg_after_commit,
	.on_lease = tg_on_lease,
	.after_send = NULL,
	/* media both ways (issue 14) */
	.media_fetch_prepare = tg_media_fetch_prepare,
	.media_fetch_parse = tg_media_fetch_parse,
	.media_sent_id = tg_media_sent_id,
	.connect = tg_connect,
	.disconnect = tg_disconnect,
};
