/*
 * evolution.c - WhatsApp Web through the Evolution API (a self-hosted
 * bridge over Baileys): one channel is one Evolution instance.
 *
 * Config: api_base_url, api_key (the instance's key: it goes out in the
 * `apikey` header of every request and comes back in the body of every
 * webhook), instance, and optional public_url (msgd's address as Evolution
 * reaches it: connect() then points the instance's webhook at
 * public_url + /webhooks/evolution/{channel id}).
 *
 * Webhook (POST /webhooks/evolution/{channel id}): Evolution signs
 * nothing; it puts the instance's apikey in the body. The body's apikey
 * must equal the channel's api_key (constant time) and its instance the
 * channel's instance, else 401 and nothing is stored. evolution_inbound.c
 * turns the event into records.
 *
 * Pairing: connect() reports connecting, sets the webhook (public_url),
 * then GET /instance/connect/{instance}: its QR text and pairing code are
 * committed as a `pairing` state (the API renders the QR with util/qr.c),
 * or `connected` when the instance is open already. Evolution then posts
 * qrcode.updated (a new code every ~20 s) and connection.update (open
 * once the phone scanned it). disconnect() logs the instance out.
 *
 * Sending: send_prepare() builds one POST to /message/<endpoint>/{instance}
 * (evolution_outbound.c has the bodies and the outcome table). The api_key
 * goes into the `apikey` header only: never logged nor put in an error.
 */
#include "evolution.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log/log.h"
#include "../util/util.h"

#define EVO_PATH_MAX 160    /* bytes of /webhooks/evolution/{id} */

struct evo_state {
	char *base;             /* api_base_url without trailing '/' */
	char *api_key;
	char *instance;
	char *instance_path;    /* instance, percent-encoded for a URL path */
	char *public_url;       /* without trailing '/', or NULL */
};

/* The api_key goes to api_base_url: moving it needs the key again. */
static const char *const evo_destination[] = { "api_base_url", NULL };
static const char *const evo_destination_secrets[] = { "api_key", NULL };

static const struct config_key evo_schema[] = {
	{ .name = "api_base_url", .kind = CFG_URL, .required = true, .max_len = EVO_URL_MAX,
	  .description = "the Evolution API's address, e.g. https://evolution.example.com" },
	{ .name = "api_key", .kind = CFG_STRING, .required = true, .secret = true,
	  .max_len = EVO_API_KEY_MAX,
	  .description = "the instance's API key (the apikey header; Evolution puts it in webhooks)" },
	{ .name = "instance", .kind = CFG_STRING, .required = true, .max_len = EVO_INSTANCE_MAX,
	  .description = "the Evolution instance (one WhatsApp Web session) this channel uses" },
	{ .name = "public_url", .kind = CFG_URL, .max_len = EVO_URL_MAX,
	  .description = "msgd's address as Evolution reaches it: connect sets the instance's webhook" },
	{ .name = NULL },
};

static const char *const evo_send_types[] = {
	"text", "image", "video", "audio", "document", "sticker", "location", NULL,
};
static const char *const evo_receive_types[] = {
	"text", "image", "video", "audio", "voice", "document", "sticker", "location", "contacts",
	"reaction", "unsupported", NULL,
};
/* WhatsApp's own limits for media sent by URL. */
static const struct media_limit evo_media[] = {
	{ .kind = "image", .max_bytes = 16LL << 20 },
	{ .kind = "video", .max_bytes = 64LL << 20 },
	{ .kind = "audio", .max_bytes = 16LL << 20 },
	{ .kind = "document", .max_bytes = 100LL << 20 },
	{ .kind = "sticker", .max_bytes = 500LL << 10 },
	{ .kind = NULL },
};

static const struct channel_caps evo_caps = {
	.send_types = evo_send_types,
	.receive_types = evo_receive_types,
	.media = evo_media,
	.templates = false,
	.interactive = false,
	.reactions = false,
	.edits = true,
	.deletes = true,
	.read_receipts = false,
	.typing = false,
	.groups = true,
	.replies = true,
	.pairing = true,
	.window_hours = 0,          /* WhatsApp Web has no 24 h window */
	.max_text_len = EVO_TEXT_MAX,      /* WhatsApp Web's own cap */
	/* WhatsApp bans numbers that send like machines: slow by default. */
	.pacing = { .rate_per_second = 5, .recipient_gap_ms = 1000 },
};

/* Config */

/* A present string key must hold only bytes from lo to 0x7e and none of bad. */
static int
cfg_check_bytes(const json_t *cfg, const char *key, unsigned char lo, const char *bad,
    struct channel_error *err)
{
	const char *s = json_string_value(json_object_get(cfg, key));

	for (; s && *s; s++) {
		if ((unsigned char)*s < lo || (unsigned char)*s >= 0x7f || strchr(bad, *s)) {
			snprintf(err->field, sizeof(err->field), "config.%s", key);
			snprintf(err->message, sizeof(err->message),
			    "'%s' contains a character it may not hold", key);
			return -1;
		}
	}
	return 0;
}

static int
evo_validate(const json_t *cfg, struct channel_error *err)
{
	if (cfg_check_schema(evo_schema, cfg, err) != 0)
		return -1;
	/* The key goes into a header line, the instance into URL paths. */
	if (cfg_check_bytes(cfg, "api_key", 0x21, "", err) != 0 ||
	    cfg_check_bytes(cfg, "instance", 0x20, "/\\?#%", err) != 0 ||
	    cfg_check_bytes(cfg, "api_base_url", 0x21, "?#", err) != 0 ||
	    cfg_check_bytes(cfg, "public_url", 0x21, "?#", err) != 0)
		return -1;
	return 0;
}

/* s without its trailing slashes (malloc'd), or NULL. */
static char *
dup_base(const char *s)
{
	size_t n;

	if (s == NULL)
		return NULL;
	n = strlen(s);
	while (n > 0 && s[n - 1] == '/')
		n--;
	return xstrndup(s, n);
}

/* Everything but RFC 3986's unreserved characters as %XX. */
static char *
path_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = xmalloc(strlen(s) * 3 + 1), *o = out;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}

static const char *
cfg_str(const json_t *cfg, const char *key)
{
	return json_string_value(json_object_get(cfg, key));
}

static int
evo_open(struct channel *ch)
{
	struct evo_state *st = xcalloc(1, sizeof(*st));
	const char *instance = cfg_str(ch->config, "instance");

	ch->state = st;
	st->base = dup_base(cfg_str(ch->config, "api_base_url"));
	st->api_key = xstrdup_or_null(cfg_str(ch->config, "api_key"));
	st->instance = xstrdup_or_null(instance);
	st->instance_path = instance ? path_encode(instance) : NULL;
	st->public_url = dup_base(cfg_str(ch->config, "public_url"));
	/* validate() ran first; this only guards against a bypassed check. */
	if (st->base == NULL || st->api_key == NULL || st->instance == NULL) {
		log_error("evolution channel config incomplete", "channel", ch->name);
		return -1;
	}
	return 0;
}

static void
evo_close(struct channel *ch)
{
	struct evo_state *st = ch->state;

	if (st == NULL)
		return;
	free(st->base);
	free(st->api_key);
	free(st->instance);
	free(st->instance_path);
	free(st->public_url);
	free(st);
	ch->state = NULL;
}

static struct evo_state *
evo_state_of(const struct channel *ch)
{
	return ch && ch->ops == &evolution_ops ? ch->state : NULL;
}

/* Requests */

/* {base}/{path}/{instance}, with the apikey header; body (consumed) may be NULL. */
static void
evo_request(const struct evo_state *st, const char *method, const char *path, json_t *body,
    struct send_request *out)
{
	*out = (struct send_request){ 0 };
	out->method = xstrdup(method);
	out->url = xasprintf("%s/%s/%s", st->base, path, st->instance_path);
	out->headers[out->nheaders++] = xasprintf("apikey: %s", st->api_key);
	if (body) {
		out->body = json_encode(body, &out->body_len);
		json_decref(body);
		if (out->body == NULL) {  /* cannot happen for the bodies built here */
			out->body = xstrdup("{}");
			out->body_len = 2;
		}
		out->headers[out->nheaders++] = xstrdup("Content-Type: application/json");
	}
}

static int
evo_send_prepare(struct channel *ch, const json_t *msg, struct send_request *out,
    struct channel_error *err)
{
	struct evo_state *st = evo_state_of(ch);
	const char *endpoint = NULL;
	json_t *body;
	char path[64];

	*out = (struct send_request){ 0 };
	if (st == NULL) {
		snprintf(err->field, sizeof(err->field), "channel");
		snprintf(err->message, sizeof(err->message), "the channel is not open");
		return -1;
	}
	if ((body = evo_message_body(msg, &endpoint, err)) == NULL)
		return -1;
	snprintf(path, sizeof(path), "message/%s", endpoint);
	const json_t *media = json_object_get(msg, "media");
	if (json_is_string(json_object_get(media, "path"))) {
		/* A stored file: the body's fields and the file as multipart. */
		evo_request(st, "POST", path, NULL, out);
		if (evo_multipart(body, media, out) != 0) {
			send_request_free(out);
			snprintf(err->field, sizeof(err->field), "media");
			snprintf(err->message, sizeof(err->message), "the upload could not be built");
			return -1;
		}
		return 0;
	}
	evo_request(st, "POST", path, body, out);
	return 0;
}

int
evo_channel_request(const struct channel *ch, const char *method, const char *path, json_t *body,
    struct send_request *out)
{
	struct evo_state *st = evo_state_of(ch);

	if (st == NULL) {
		json_decref(body);
		return -1;
	}
	evo_request(st, method, path, body, out);
	return 0;
}

static int
evo_check_prepare(struct channel *ch, struct send_request *out)
{
	struct evo_state *st = evo_state_of(ch);

	*out = (struct send_request){ 0 };
	if (st == NULL)
		return -1;
	evo_request(st, "GET", "instance/connectionState", NULL, out);
	return 0;
}

/* Webhook */

static void reply_error(struct webhook_reply *reply, int status, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
reply_error(struct webhook_reply *reply, int status, const char *code, const char *fmt, ...)
{
	va_list ap;

	reply->status = status;
	reply->content_type = "application/json";
	snprintf(reply->error_code, sizeof(reply->error_code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(reply->message, sizeof(reply->message), fmt, ap);
	va_end(ap);
}

static void
evo_webhook(struct channel *ch, const struct webhook_request *req, struct webhook_reply *reply,
    struct ingest_batch *out)
{
	struct evo_state *st = evo_state_of(ch);
	json_t *root = NULL;
	char jerr[256];

	if (st == NULL) {
		reply_error(reply, 404, "not_found", "no such channel");
		return;
	}
	if (strcmp(req->method, "POST") != 0) {
		reply_error(reply, 405, "method_not_allowed", "use POST");
		return;
	}
	/* The key is in the body: it must be parsed before anything is trusted. */
	if (json_parse_capped(req->body ? req->body : "", req->body_len, EVO_JSON_DEPTH_MAX, &root,
	    jerr, sizeof(jerr)) != 0) {
		reply_error(reply, 400, "invalid_json", "invalid JSON: %s", jerr);
		return;
	}
	switch (evo_body_check(root, st->api_key, st->instance)) {
	case EVO_BODY_MALFORMED:
		reply_error(reply, 400, "invalid_request",
		    "the body must be an Evolution event: an object with an 'event' string");
		break;
	case EVO_BODY_REFUSED:
		log_warn("evolution webhook refused: apikey or instance does not match", "req",
		    req->request_id, "channel", ch->name);
		reply_error(reply, 401, "unauthorized",
		    "the body's apikey and instance must be this channel's");
		break;
	case EVO_BODY_OK: {
		size_t nm = out->nmsgs, ns = out->nstatuses, nst = out->nstates;
		char cm[24], cs[24], cst[24];
		evo_normalize(root, ch->id, out);
		snprintf(cm, sizeof(cm), "%zu", out->nmsgs - nm);
		snprintf(cs, sizeof(cs), "%zu", out->nstatuses - ns);
		snprintf(cst, sizeof(cst), "%zu", out->nstates - nst);
		log_info("webhook accepted", "req", req->request_id, "channel", ch->name, "event",
		    json_string_value(json_object_get(root, "event")), "messages", cm, "statuses", cs,
		    "states", cst);
		reply->status = 200;
		reply->content_type = "application/json";
		reply->body = xstrdup("{\"status\":\"ok\"}");
		break;
	}
	}
	json_decref(root);
}

/* Connect / disconnect */

static int64_t
timeout_of(struct channel *ch)
{
	return channel_send_setting(ch, "request_timeout_ms");
}

/* A state of this channel, committed; reason and qr copied. */
static void
submit_state(struct channel *ch, struct state_in *s)
{
	struct ingest_batch b = { 0 };
	struct state_in *n = ingest_batch_add_state(&b);

	*n = *s;
	n->channel_id = ch->id;
	*s = (struct state_in){ 0 };
	channel_submit(ch, &b, NULL, NULL);
}

static void
connect_done(struct channel *ch, const struct send_response *resp, void *arg)
{
	struct state_in s = { 0 };

	evo_connect_answer(resp, &s);
	if (s.state == CONN_ERROR)
		log_warn("evolution: connect failed", "channel", ch->name, "reason", s.reason);
	else
		log_info("evolution: connect answered", "channel", ch->name, "state",
		    channel_conn_name(s.state));
	submit_state(ch, &s);
}

static int
start_connect(struct channel *ch)
{
	struct evo_state *st = evo_state_of(ch);
	struct send_request req;

	evo_request(st, "GET", "instance/connect", NULL, &req);
	return channel_http(ch, &req, timeout_of(ch), connect_done, NULL);
}

/* The reason an answer to an action failed (malloc'd), or NULL when it is a 2xx. */
static char *
action_failure(const struct send_response *resp, const char *what)
{
	if (resp->http_status == 0)
		return xasprintf("%s: the Evolution API is unreachable: %.200s", what,
		    resp->net_error && *resp->net_error ? resp->net_error : "network error");
	if (resp->http_status == 401 || resp->http_status == 403)
		return xasprintf("%s: the Evolution API refused the api_key", what);
	if (resp->http_status == 404)
		return xasprintf("%s: the Evolution API does not know this instance", what);
	if (resp->http_status < 200 || resp->http_status >= 300)
		return xasprintf("%s: the Evolution API answered HTTP %ld", what, resp->http_status);
	return NULL;
}

static void
webhook_set_done(struct channel *ch, const struct send_response *resp, void *arg)
{
	char *why = action_failure(resp, "setting the webhook");

	if (why) {
		log_warn("evolution: connect failed", "channel", ch->name, "reason", why);
		channel_report_state(ch, CONN_ERROR, why);
		free(why);
		return;
	}
	if (start_connect(ch) != 0)
		channel_report_state(ch, CONN_ERROR, "cannot reach the Evolution API now");
}

/* POST /webhook/set: Evolution posts the events msgd reads to this channel's URL. */
static json_t *
webhook_body(struct channel *ch, const struct evo_state *st)
{
	static const char *const events[] = {
		"MESSAGES_UPSERT", "MESSAGES_UPDATE", "CONNECTION_UPDATE", "QRCODE_UPDATED",
	};
	char path[EVO_PATH_MAX];
	json_t *ev = json_array();
	char *url;
	json_t *body;

	for (size_t i = 0; i < ARRAY_LEN(events); i++)
		json_array_append_new(ev, json_string(events[i]));
	channel_webhook_path(ch, path, sizeof(path));
	url = xasprintf("%s%s", st->public_url, path);
	body = json_pack("{s:{s:b,s:s,s:b,s:b,s:o}}", "webhook", "enabled", 1, "url", url,
	    "byEvents", 0, "base64", 0, "events", ev);
	free(url);
	return body;
}

static int
evo_connect(struct channel *ch, struct channel_error *err)
{
	struct evo_state *st = evo_state_of(ch);
	struct send_request req;
	int rc;

	if (st == NULL) {
		snprintf(err->field, sizeof(err->field), "channel");
		snprintf(err->message, sizeof(err->message), "the channel is not open");
		return -1;
	}
	channel_report_state(ch, CONN_CONNECTING, NULL);
	if (st->public_url) {
		evo_request(st, "POST", "webhook/set", webhook_body(ch, st), &req);
		rc = channel_http(ch, &req, timeout_of(ch), webhook_set_done, NULL);
	} else {
		rc = start_connect(ch);
	}
	if (rc != 0) {
		snprintf(err->field, sizeof(err->field), "channel");
		snprintf(err->message, sizeof(err->message), "cannot reach the Evolution API now");
		return -1;
	}
	return 0;
}

static void
logout_done(struct channel *ch, const struct send_response *resp, void *arg)
{
	char *why;

	/* 400: Evolution's "the instance is not connected": logged out all the same. */
	if (resp->http_status == 400) {
		channel_report_state(ch, CONN_DISCONNECTED, "logged out");
		return;
	}
	if ((why = action_failure(resp, "logging out")) != NULL) {
		log_warn("evolution: logout failed", "channel", ch->name, "reason", why);
		channel_report_state(ch, CONN_ERROR, why);
		free(why);
		return;
	}
	channel_report_state(ch, CONN_DISCONNECTED, "logged out");
}

static int
evo_disconnect(struct channel *ch, struct channel_error *err)
{
	struct evo_state *st = evo_state_of(ch);
	struct send_request req;

	if (st == NULL) {
		snprintf(err->field, sizeof(err->field), "channel");
		snprintf(err->message, sizeof(err->message), "the channel is not open");
		return -1;
	}
	evo_request(st, "DELETE", "instance/logout", NULL, &req);
	if (channel_http(ch, &req, timeout_of(ch), logout_done, NULL) != 0) {
		snprintf(err->field, sizeof(err->field), "channel");
		snprintf(err->message, sizeof(err->message), "cannot reach the Evolution API now");
		return -1;
	}
	return 0;
}

const struct channel_ops evolution_ops = {
	.type = "evolution",
	.validate = evo_validate,
	.open = evo_open,
	.close = evo_close,
	.on_start = NULL,
	.webhook_path = NULL,
	.webhook = NULL,
	.simulate_inbound = NULL,
	.send_prepare = evo_send_prepare,
	.send_classify = evo_send_classify,
	.read_prepare = NULL,
	.send_local = NULL,
	.address_normalize = evo_address_normalize,
	.is_group = evo_is_group,
	.check_prepare = evo_check_prepare,
	.check_classify = evo_check_classify,
	.destination_keys = evo_destination,
	.destination_secrets = evo_destination_secrets,
	.route_key = "instance",
	.caps = &evo_caps,
	.schema = evo_schema,
	.channel_webhook = evo_webhook,
	/* media both ways (issue 14) */
	.media_fetch_prepare = evo_media_fetch_prepare,
	.media_fetch_parse = evo_media_fetch_parse,
	.connect = evo_connect,
	.disconnect = evo_disconnect,
};
