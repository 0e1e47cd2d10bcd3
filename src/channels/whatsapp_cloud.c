/*
 * whatsapp_cloud.c - the Meta WhatsApp Cloud API adapter.
 *
 * One URL, /webhooks/whatsapp, serves every whatsapp_cloud channel:
 *  - GET is Meta's subscription handshake: hub.verify_token must equal the
 *    verify_token of some whatsapp_cloud channel, and hub.challenge is echoed.
 *  - POST carries X-Hub-Signature-256: sha256=<hex HMAC-SHA256(body, app
 *    secret)>. The exact body bytes are checked against each distinct app
 *    secret before anything is parsed. Only the channels whose secret signed
 *    the body, plus channels configured with insecure_skip_signature, may
 *    receive its changes; each change is routed by its
 *    value.metadata.phone_number_id.
 *
 * Normalization (whatsapp_cloud_normalize) turns messages[] into msg_in,
 * statuses[] into status_in and value-level errors[] into a channel.error
 * event. It is tolerant on purpose: Meta retries every non-2xx answer, so a
 * part it cannot read (wrong type, unknown field, unconfigured number) is
 * logged and skipped, and a message type it does not know becomes "unknown"
 * with its raw JSON kept. Text is byte-exact: strings are copied by their
 * JSON length and NUL bytes (from \u0000) are dropped, never truncating.
 */
#include "channel.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log/log.h"
#include "../util/util.h"

#define WA_JSON_DEPTH_MAX  64           /* containers nested in a webhook body */
#define WA_CHALLENGE_MAX   256          /* bytes of hub.challenge echoed back */
#define WA_ID_MAX          256          /* bytes of an id, address or phone number id */
#define WA_TOKEN_MAX       256          /* verify_token and app_secret */
#define WA_ACCESS_TOKEN_MAX 4096
#define WA_URL_MAX         512
#define WA_VERSION_MAX     32
#define WA_TS_MAX          253402300799LL /* 9999-12-31T23:59:59Z */
#define WA_SIG_PREFIX      "sha256="
#define WA_SIG_HEX         64

struct wa_state {
	char *phone_number_id;
	char *access_token;
	char *verify_token;
	char *app_secret;       /* NULL when absent (insecure_skip_signature) */
	char *api_base_url;
	char *api_version;
	bool insecure;          /* accepts unsigned webhooks */
};

static const char *const wa_keys[] = {
	"phone_number_id", "access_token", "verify_token", "app_secret",
	"api_base_url", "api_version", "insecure_skip_signature", NULL,
};
static const char *const wa_secrets[] = { "access_token", "app_secret", "verify_token", NULL };

/* Config */

static int
wa_validate(const json_t *cfg, struct channel_error *err)
{
	if (cfg_check_keys(cfg, wa_keys, err) != 0 ||
	    cfg_require_string(cfg, "phone_number_id", WA_ID_MAX, err) != 0 ||
	    cfg_require_string(cfg, "access_token", WA_ACCESS_TOKEN_MAX, err) != 0 ||
	    cfg_require_string(cfg, "verify_token", WA_TOKEN_MAX, err) != 0 ||
	    cfg_optional_bool(cfg, "insecure_skip_signature", err) != 0 ||
	    cfg_optional_string(cfg, "api_base_url", WA_URL_MAX, err) != 0 ||
	    cfg_optional_string(cfg, "api_version", WA_VERSION_MAX, err) != 0)
		return -1;

	const char *url = json_string_value(json_object_get(cfg, "api_base_url"));
	if (url && strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) {
		snprintf(err->field, sizeof(err->field), "config.api_base_url");
		snprintf(err->message, sizeof(err->message),
		    "'api_base_url' must be an http:// or https:// URL");
		return -1;
	}
	/* Without a secret nothing could authenticate the webhooks. */
	if (json_is_true(json_object_get(cfg, "insecure_skip_signature")))
		return cfg_optional_string(cfg, "app_secret", WA_TOKEN_MAX, err);
	return cfg_require_string(cfg, "app_secret", WA_TOKEN_MAX, err);
}

static char *
cfg_dup(const json_t *cfg, const char *key, const char *def)
{
	const char *s = json_string_value(json_object_get(cfg, key));
	return xstrdup_or_null(s ? s : def);
}

static int
wa_open(struct channel *ch)
{
	struct wa_state *st = xcalloc(1, sizeof(*st));

	st->phone_number_id = cfg_dup(ch->config, "phone_number_id", NULL);
	st->access_token = cfg_dup(ch->config, "access_token", NULL);
	st->verify_token = cfg_dup(ch->config, "verify_token", NULL);
	st->app_secret = cfg_dup(ch->config, "app_secret", NULL);
	st->api_base_url = cfg_dup(ch->config, "api_base_url", "https://graph.facebook.com");
	st->api_version = cfg_dup(ch->config, "api_version", "v21.0");
	st->insecure = json_is_true(json_object_get(ch->config, "insecure_skip_signature"));
	ch->state = st;
	/* validate() ran first; this only guards against a bypassed check. */
	if (st->phone_number_id == NULL || st->verify_token == NULL ||
	    (st->app_secret == NULL && !st->insecure)) {
		log_error("whatsapp_cloud channel config incomplete", "channel", ch->name);
		return -1;
	}
	return 0;
}

static void
wa_close(struct channel *ch)
{
	struct wa_state *st = ch->state;

	if (st == NULL)
		return;
	free(st->phone_number_id);
	free(st->access_token);
	free(st->verify_token);
	free(st->app_secret);
	free(st->api_base_url);
	free(st->api_version);
	free(st);
	ch->state = NULL;
}

static void
wa_on_start(struct channel *ch)
{
	struct wa_state *st = ch->state;

	if (st && st->insecure)
		log_warn("channel accepts unsigned webhooks", "channel", ch->name);
}

/* JSON helpers */

/* v is a string of exactly the bytes of lit. */
static bool
str_eq(const json_t *v, const char *lit)
{
	size_t n = strlen(lit);
	return json_is_string(v) && json_string_length(v) == n &&
	    memcmp(json_string_value(v), lit, n) == 0;
}

/* v is a string without NUL bytes, usable as a C string. */
static const char *
cstr(const json_t *v)
{
	if (!json_is_string(v) || memchr(json_string_value(v), '\0', json_string_length(v)))
		return NULL;
	return json_string_value(v);
}

/* An identifier: a string of 1 to WA_ID_MAX bytes. */
static bool
is_id(const json_t *v)
{
	return json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= WA_ID_MAX;
}

/* A copy of a JSON string's bytes with NULs dropped; NULL when v is not a string. */
static char *
dup_text(const json_t *v)
{
	if (!json_is_string(v))
		return NULL;
	const char *s = json_string_value(v);
	size_t n = json_string_length(v), k = 0;
	char *d = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++)
		if (s[i] != '\0')
			d[k++] = s[i];
	d[k] = '\0';
	return d;
}

static const json_t *
get(const json_t *obj, const char *key)
{
	return json_object_get(obj, key); /* NULL when obj is not an object */
}

/* A new object holding copies of the listed members of src that are present. */
static json_t *
pick(const json_t *src, const char *const *keys)
{
	json_t *o = json_object();
	for (; *keys; keys++) {
		const json_t *v = get(src, *keys);
		if (v)
			json_object_set_new(o, *keys, json_deep_copy(v));
	}
	return o;
}

/* Epoch seconds, sent by Meta as a string of digits; a number is accepted too. */
static int
get_time(const json_t *v, int64_t *out)
{
	int64_t t;

	if (json_is_string(v)) {
		const char *s = cstr(v);
		if (s == NULL || s[0] < '0' || s[0] > '9' || parse_i64(s, &t) != 0)
			return -1;
	} else if (json_is_integer(v)) {
		t = json_integer_value(v);
	} else if (json_is_real(v)) {
		double d = json_real_value(v);
		if (!(d >= 0 && d <= (double)WA_TS_MAX))
			return -1;
		t = (int64_t)d;
	} else {
		return -1;
	}
	if (t < 0 || t > WA_TS_MAX)
		return -1;
	*out = t;
	return 0;
}

static int64_t
time_or_now(const json_t *v, const char *id)
{
	int64_t t;

	if (get_time(v, &t) == 0)
		return t;
	log_warn("webhook record has no usable timestamp; using time of receipt", "id", id);
	return now_ms() / 1000;
}

/* A provider error code, a number or a numeric string; 0 when absent. */
static int64_t
get_code(const json_t *v)
{
	int64_t c;

	if (json_is_integer(v))
		return json_integer_value(v);
	if (cstr(v) && parse_i64(cstr(v), &c) == 0)
		return c;
	return 0;
}

/* Message types. Each returns the normalized type and fills text/parts. */

static const char *const media_keys[] = {
	"id", "mime_type", "sha256", "filename", "url", "voice", "animated", NULL,
};
static const char *const location_keys[] = {
	"latitude", "longitude", "name", "address", "url", NULL,
};
static const char *const reaction_keys[] = { "emoji", "message_id", NULL };
static const char *const button_keys[] = { "payload", "text", NULL };
static const char *const original_keys[] = { "original_message_id", NULL };
static const char *const reply_keys[] = { "id", "title", "description", NULL };
static const char *const nfm_keys[] = { "name", "body", NULL };

static void
set_part(struct msg_in *m, const char *key, json_t *v)
{
	json_object_set_new(m->parts, key, v);
}

static const char *
norm_text(struct msg_in *m, const char *type, const json_t *body)
{
	m->text = dup_text(get(body, "body"));
	return "text";
}

static const char *
norm_media(struct msg_in *m, const char *type, const json_t *body)
{
	if (json_is_object(body)) {
		set_part(m, "media", pick(body, media_keys));
		m->text = dup_text(get(body, "caption"));
	}
	if (strcmp(type, "audio") == 0 && json_is_true(get(body, "voice")))
		return "voice";
	return type;
}

static const char *
norm_location(struct msg_in *m, const char *type, const json_t *body)
{
	if (json_is_object(body))
		set_part(m, "location", pick(body, location_keys));
	return type;
}

static const char *
norm_reaction(struct msg_in *m, const char *type, const json_t *body)
{
	/* An emoji of "" means the reaction was removed: keep it as is. */
	if (json_is_object(body))
		set_part(m, "reaction", pick(body, reaction_keys));
	return type;
}

static const char *
norm_contacts(struct msg_in *m, const char *type, const json_t *body)
{
	if (json_is_array(body))
		set_part(m, "contacts", json_deep_copy(body));
	return type;
}

/* nfm_reply.response_json is JSON inside a string: keep it parsed when it parses. */
static json_t *
nfm_response(const json_t *rj)
{
	if (json_is_string(rj)) {
		json_t *v;
		char err[8];
		if (json_parse_capped(json_string_value(rj), json_string_length(rj), WA_JSON_DEPTH_MAX,
		    &v, err, sizeof(err)) == 0)
			return v;
	}
	return json_deep_copy(rj);
}

static const char *
norm_interactive(struct msg_in *m, const char *type, const json_t *body)
{
	const json_t *itype = get(body, "type");
	json_t *part;

	/* Meta sends interactive messages without a payload: keep them, textless. */
	if (!json_is_object(body))
		return type;
	if (str_eq(itype, "button_reply") || str_eq(itype, "list_reply")) {
		const json_t *r = get(body, json_string_value(itype));
		part = pick(r, reply_keys);
		m->text = dup_text(get(r, "title"));
	} else if (str_eq(itype, "nfm_reply")) {
		const json_t *r = get(body, "nfm_reply");
		part = pick(r, nfm_keys);
		if (get(r, "response_json"))
			json_object_set_new(part, "response", nfm_response(get(r, "response_json")));
		m->text = dup_text(get(r, "body"));
	} else {
		part = json_object();
	}
	if (itype)
		json_object_set_new(part, "type", json_deep_copy(itype));
	set_part(m, "interactive", part);
	return type;
}

static const char *
norm_button(struct msg_in *m, const char *type, const json_t *body)
{
	if (json_is_object(body)) {
		set_part(m, "button", pick(body, button_keys));
		m->text = dup_text(get(body, "text"));
	}
	return type;
}

static const char *
norm_order(struct msg_in *m, const char *type, const json_t *body)
{
	const json_t *t = get(body, "text");

	if (json_is_object(body))
		set_part(m, "order", json_deep_copy(body));
	if (json_is_string(t) && json_string_length(t) > 0)
		m->text = dup_text(t);
	return type;
}

static const char *
norm_system(struct msg_in *m, const char *type, const json_t *body)
{
	if (json_is_object(body)) {
		set_part(m, "system", json_deep_copy(body));
		m->text = dup_text(get(body, "body"));
	}
	return type;
}

static const char *
norm_edit(struct msg_in *m, const char *type, const json_t *body)
{
	const json_t *inner = get(body, "message");
	const json_t *itype = get(inner, "type");

	if (!json_is_object(body))
		return type;
	set_part(m, "edit", pick(body, original_keys));
	/* The new content: a text body, or the caption of edited media. */
	if (json_is_string(get(get(inner, "text"), "body")))
		m->text = dup_text(get(get(inner, "text"), "body"));
	else if (cstr(itype))
		m->text = dup_text(get(get(inner, cstr(itype)), "caption"));
	return type;
}

static const char *
norm_revoke(struct msg_in *m, const char *type, const json_t *body)
{
	if (json_is_object(body))
		set_part(m, "revoke", pick(body, original_keys));
	return type;
}

static const char *
norm_unsupported(struct msg_in *m, const char *type, const json_t *body)
{
	const json_t *ut = get(body, "type");

	if (json_is_string(ut))
		set_part(m, "unsupported_type", json_deep_copy(ut));
	return type;
}

static const struct {
	const char *type;
	const char *(*norm)(struct msg_in *m, const char *type, const json_t *body);
} wa_kinds[] = {
	{ "text", norm_text },
	{ "image", norm_media },
	{ "audio", norm_media },
	{ "video", norm_media },
	{ "document", norm_media },
	{ "sticker", norm_media },
	{ "location", norm_location },
	{ "reaction", norm_reaction },
	{ "contacts", norm_contacts },
	{ "interactive", norm_interactive },
	{ "button", norm_button },
	{ "order", norm_order },
	{ "system", norm_system },
	{ "edit", norm_edit },
	{ "revoke", norm_revoke },
	{ "unsupported", norm_unsupported },
};

static void
norm_type(struct msg_in *m, const json_t *msg)
{
	const json_t *t = get(msg, "type");

	for (size_t i = 0; i < ARRAY_LEN(wa_kinds); i++) {
		if (str_eq(t, wa_kinds[i].type)) {
			const char *type = wa_kinds[i].type;
			m->type = xstrdup(wa_kinds[i].norm(m, type, get(msg, type)));
			return;
		}
	}
	/* A type this code does not know (yet): keep it, raw included. */
	m->type = xstrdup("unknown");
	if (json_is_string(t))
		set_part(m, "original_type", json_deep_copy(t));
}

/* The profile name contacts[] gives for wa_id, or NULL. */
static const json_t *
contact_name(const json_t *contacts, const json_t *wa_id)
{
	const json_t *c;
	size_t i;

	json_array_foreach(contacts, i, c)
		if (json_equal(get(c, "wa_id"), wa_id))
			return get(get(c, "profile"), "name");
	return NULL;
}

static void
add_message(struct ingest_batch *out, int64_t channel_id, const json_t *value, const json_t *msg)
{
	const json_t *id = get(msg, "id"), *from = get(msg, "from");
	const json_t *meta = get(value, "metadata"), *group = get(msg, "group_id");
	const json_t *ctx = get(msg, "context"), *to;

	if (!json_is_object(msg) || !is_id(id) || !is_id(from)) {
		log_warn("skipping webhook message without id or from", "id", cstr(id));
		return;
	}
	struct msg_in *m = ingest_batch_add_msg(out);
	m->channel_id = channel_id;
	m->direction = DIR_IN;
	m->provider_message_id = dup_text(id);
	m->from = dup_text(from);
	to = get(meta, "display_phone_number");
	m->to = dup_text(is_id(to) ? to : get(meta, "phone_number_id"));
	const json_t *name = contact_name(get(value, "contacts"), from);
	if (is_id(group)) {
		/* The conversation is the group; the sender's name stays on the message. */
		m->contact_address = dup_text(group);
		set_part(m, "group_id", json_string(m->contact_address));
		if (json_is_string(name))
			set_part(m, "sender_name", json_deep_copy(name));
	} else {
		m->contact_address = xstrdup(m->from);
		m->contact_name = dup_text(name);
	}
	m->timestamp = time_or_now(get(msg, "timestamp"), m->provider_message_id);

	if (is_id(get(ctx, "id")))
		m->reply_to = dup_text(get(ctx, "id"));
	if (json_is_true(get(ctx, "forwarded")) || json_is_true(get(ctx, "frequently_forwarded")))
		set_part(m, "forwarded", json_true());
	if (json_is_true(get(ctx, "frequently_forwarded")))
		set_part(m, "frequently_forwarded", json_true());
	if (json_is_object(get(msg, "referral")))
		set_part(m, "referral", json_deep_copy(get(msg, "referral")));
	if (json_is_array(get(msg, "errors")))
		set_part(m, "errors", json_deep_copy(get(msg, "errors")));

	norm_type(m, msg);
	m->raw = json_dumps(msg, JSON_COMPACT);
	if (m->raw == NULL)
		m->raw = xstrdup("{}");
}

static void
add_status(struct ingest_batch *out, int64_t channel_id, const json_t *s)
{
	const json_t *id = get(s, "id"), *word = get(s, "status");
	enum msg_status st = status_parse(cstr(word));

	if (!is_id(id) || cstr(word) == NULL) {
		log_warn("skipping webhook status without id or status", "id", cstr(id));
		return;
	}
	if (st != ST_SENT && st != ST_DELIVERED && st != ST_READ && st != ST_FAILED) {
		log_info("skipping webhook status with unknown word", "status", cstr(word));
		return;
	}
	struct status_in *r = ingest_batch_add_status(out);
	r->channel_id = channel_id;
	r->provider_message_id = dup_text(id);
	r->status = st;
	r->provider_status = dup_text(word);
	r->recipient = dup_text(get(s, "recipient_id"));
	r->timestamp = time_or_now(get(s, "timestamp"), r->provider_message_id);

	const json_t *e = json_array_get(get(s, "errors"), 0);
	if (json_is_object(e)) {
		const json_t *detail = get(get(e, "error_data"), "details");
		r->error_code = get_code(get(e, "code"));
		r->error_title = dup_text(get(e, "title"));
		r->error_detail = dup_text(json_is_string(detail) ? detail : get(e, "message"));
	}
	r->raw = json_dumps(s, JSON_COMPACT);
	if (r->raw == NULL)
		r->raw = xstrdup("{}");
}

static void
add_errors_event(struct ingest_batch *out, int64_t channel_id, const json_t *errors)
{
	struct event_in *e = ingest_batch_add_event(out);

	e->channel_id = channel_id;
	e->type = xstrdup("channel.error");
	e->data = json_object();
	json_object_set_new(e->data, "errors", json_deep_copy(errors));
}

static void
normalize_change(const json_t *change, int64_t (*resolve)(void *, const char *), void *ctx,
    struct ingest_batch *out)
{
	const json_t *field = get(change, "field"), *value = get(change, "value");
	const json_t *pnid = get(get(value, "metadata"), "phone_number_id");
	const json_t *list, *v;
	int64_t chid;
	size_t i;

	if (!json_is_string(field)) {
		log_warn("skipping webhook change without field");
		return;
	}
	if (!str_eq(field, "messages")) {
		/* e.g. message_template_status_update: not a message, not ours to store. */
		log_info("skipping webhook change", "field", cstr(field));
		return;
	}
	if (!json_is_object(value) || !is_id(pnid) || cstr(pnid) == NULL) {
		log_warn("skipping webhook change without value.metadata.phone_number_id");
		return;
	}
	if ((chid = resolve(ctx, cstr(pnid))) == 0) {
		log_info("skipping change for unconfigured number", "phone_number_id", cstr(pnid));
		return;
	}

	if ((list = get(value, "messages")) && !json_is_array(list))
		log_warn("skipping webhook messages that are not an array");
	json_array_foreach(list, i, v)
		add_message(out, chid, value, v);

	if ((list = get(value, "statuses")) && !json_is_array(list))
		log_warn("skipping webhook statuses that are not an array");
	json_array_foreach(list, i, v) {
		if (json_is_object(v))
			add_status(out, chid, v);
		else
			log_warn("skipping webhook status that is not an object");
	}

	if (json_is_array(list = get(value, "errors")) && json_array_size(list) > 0) {
		log_warn("provider reported channel errors", "phone_number_id", cstr(pnid));
		add_errors_event(out, chid, list);
	}
}

static void
norm_err(struct channel_error *err, const char *field, const char *msg)
{
	snprintf(err->field, sizeof(err->field), "%s", field);
	snprintf(err->message, sizeof(err->message), "%s", msg);
}

int
whatsapp_cloud_normalize(const json_t *root,
    int64_t (*resolve)(void *ctx, const char *phone_number_id), void *ctx,
    struct ingest_batch *out, struct channel_error *err)
{
	const json_t *entries = get(root, "entry"), *entry, *change;
	size_t i, j;

	if (!str_eq(get(root, "object"), "whatsapp_business_account")) {
		norm_err(err, "object", "'object' must be \"whatsapp_business_account\"");
		return -1;
	}
	if (!json_is_array(entries)) {
		norm_err(err, "entry", "'entry' must be an array");
		return -1;
	}
	json_array_foreach(entries, i, entry) {
		const json_t *changes = get(entry, "changes");
		if (!json_is_array(changes)) {
			log_warn("skipping webhook entry without a changes array");
			continue;
		}
		json_array_foreach(changes, j, change) {
			if (json_is_object(change))
				normalize_change(change, resolve, ctx, out);
			else
				log_warn("skipping webhook change that is not an object");
		}
	}
	return 0;
}

/* Webhook */

static struct wa_state *
wa_state_of(const struct channel *ch)
{
	return ch && ch->ops == &whatsapp_cloud_ops ? ch->state : NULL;
}

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

/* GET: Meta's subscription handshake. */
static void
wa_verify(struct channel_registry *reg, const struct webhook_request *req,
    struct webhook_reply *reply)
{
	const char *mode = req->query(req->ctx, "hub.mode");
	const char *token = req->query(req->ctx, "hub.verify_token");
	const char *challenge = req->query(req->ctx, "hub.challenge");
	bool ok = false;

	if (mode && token && strcmp(mode, "subscribe") == 0) {
		size_t tlen = strnlen(token, WA_TOKEN_MAX + 1);
		for (size_t i = 0; i < registry_count(reg); i++) {
			struct wa_state *st = wa_state_of(registry_at(reg, i));
			if (st && ct_equal(token, tlen, st->verify_token, strlen(st->verify_token)))
				ok = true;
		}
	}
	if (!ok) {
		log_warn("webhook verification refused", "req", req->request_id);
		reply_error(reply, 403, "forbidden", "hub.verify_token does not match");
		return;
	}
	size_t clen = challenge ? strnlen(challenge, WA_CHALLENGE_MAX + 1) : 0;
	bool printable = clen > 0 && clen <= WA_CHALLENGE_MAX;
	for (size_t i = 0; printable && i < clen; i++)
		printable = (unsigned char)challenge[i] >= 0x20 && challenge[i] != 0x7f;
	if (!printable) {
		reply_error(reply, 400, "invalid_request",
		    "hub.challenge must be 1 to %d printable characters", WA_CHALLENGE_MAX);
		return;
	}
	log_info("webhook verified", "req", req->request_id);
	reply->status = 200;
	reply->content_type = "text/plain";
	reply->body = xstrdup(challenge);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "sha256=<64 hex>" into 32 bytes; -1 when malformed. */
static int
parse_signature(const char *hdr, unsigned char out[32])
{
	size_t plen = strlen(WA_SIG_PREFIX);

	if (strncmp(hdr, WA_SIG_PREFIX, plen) != 0)
		return -1;
	hdr += plen;
	if (strnlen(hdr, WA_SIG_HEX + 1) != WA_SIG_HEX)
		return -1;
	for (size_t i = 0; i < 32; i++) {
		int hi = hexval(hdr[2 * i]), lo = hexval(hdr[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* The channels a request may feed, for the resolver. */
struct wa_route {
	struct channel **v;
	size_t n;
};

static int64_t
route_resolve(void *ctx, const char *phone_number_id)
{
	struct wa_route *r = ctx;

	for (size_t i = 0; i < r->n; i++)
		if (strcmp(((struct wa_state *)r->v[i]->state)->phone_number_id, phone_number_id) == 0)
			return r->v[i]->id;
	return 0;
}

/*
 * Check X-Hub-Signature-256 against each distinct app secret and fill
 * route with the channels the body may feed: those whose secret signed it,
 * plus insecure ones. -1 with reply filled when the request is refused.
 */
static int
wa_authenticate(struct channel_registry *reg, const struct webhook_request *req,
    struct wa_route *route, struct webhook_reply *reply)
{
	const char *hdr = req->header(req->ctx, "X-Hub-Signature-256");
	const char *body = req->body ? req->body : "";
	size_t n = registry_count(reg), ninsecure = 0, nsigned = 0;
	unsigned char want[32], mac[32];
	bool have_sig = hdr != NULL && parse_signature(hdr, want) == 0;
	bool *match = xcalloc(n, sizeof(bool));

	for (size_t i = 0; i < n; i++) {
		struct wa_state *st = wa_state_of(registry_at(reg, i));
		if (st == NULL)
			continue;
		ninsecure += st->insecure;
		if (!have_sig || st->app_secret == NULL)
			continue;
		/* One HMAC per distinct secret: reuse an earlier channel's verdict. */
		size_t j;
		for (j = 0; j < i; j++) {
			struct wa_state *pst = wa_state_of(registry_at(reg, j));
			if (pst && pst->app_secret && strcmp(pst->app_secret, st->app_secret) == 0)
				break;
		}
		if (j < i) {
			match[i] = match[j];
		} else {
			hmac_sha256(st->app_secret, strlen(st->app_secret), body, req->body_len, mac);
			match[i] = ct_equal(mac, sizeof(mac), want, sizeof(want));
		}
		nsigned += match[i];
	}

	if (nsigned == 0 && ninsecure == 0) {
		free(match);
		log_warn("webhook signature refused", "req", req->request_id,
		    "reason", hdr ? "mismatch" : "missing");
		if (hdr == NULL)
			reply_error(reply, 401, "unauthorized", "X-Hub-Signature-256 header is missing");
		else
			reply_error(reply, 403, "forbidden", "X-Hub-Signature-256 does not match");
		return -1;
	}
	if (nsigned == 0 && hdr != NULL)
		log_warn("webhook signature matches no app secret; only unsigned channels eligible",
		    "req", req->request_id);

	for (size_t i = 0; i < n; i++) {
		struct channel *ch = registry_at(reg, i);
		struct wa_state *st = wa_state_of(ch);
		if (st && (match[i] || st->insecure))
			route->v[route->n++] = ch;
	}
	free(match);
	return 0;
}

/* POST: authenticate, parse, normalize. */
static void
wa_receive(struct channel_registry *reg, const struct webhook_request *req,
    struct webhook_reply *reply, struct ingest_batch *out)
{
	struct wa_route route = { .v = xcalloc(registry_count(reg), sizeof(struct channel *)) };
	struct channel_error cerr = { 0 };
	char jerr[256];
	json_t *root = NULL;
	size_t nm = out->nmsgs, ns = out->nstatuses, ne = out->nevents;

	if (wa_authenticate(reg, req, &route, reply) != 0)
		goto done;
	if (json_parse_capped(req->body ? req->body : "", req->body_len, WA_JSON_DEPTH_MAX, &root,
	    jerr, sizeof(jerr)) != 0) {
		reply_error(reply, 400, "invalid_json", "invalid JSON: %s", jerr);
		goto done;
	}
	if (whatsapp_cloud_normalize(root, route_resolve, &route, out, &cerr) != 0) {
		reply_error(reply, 422, "validation_failed", "%s", cerr.message);
		goto done;
	}

	char cm[24], cs[24], ce[24];
	snprintf(cm, sizeof(cm), "%zu", out->nmsgs - nm);
	snprintf(cs, sizeof(cs), "%zu", out->nstatuses - ns);
	snprintf(ce, sizeof(ce), "%zu", out->nevents - ne);
	log_info("webhook accepted", "req", req->request_id, "messages", cm, "statuses", cs,
	    "events", ce);
	reply->status = 200;
	reply->content_type = "application/json";
	reply->body = xstrdup("{\"status\":\"ok\"}");
done:
	json_decref(root);
	free(route.v);
}

static void
wa_webhook(struct channel_registry *reg, const struct webhook_request *req,
    struct webhook_reply *reply, struct ingest_batch *out)
{
	if (strcmp(req->method, "GET") == 0)
		wa_verify(reg, req, reply);
	else if (strcmp(req->method, "POST") == 0)
		wa_receive(reg, req, reply, out);
	else
		reply_error(reply, 405, "method_not_allowed", "use GET or POST");
}

const struct channel_ops whatsapp_cloud_ops = {
	.type = "whatsapp_cloud",
	.secret_keys = wa_secrets,
	.validate = wa_validate,
	.open = wa_open,
	.close = wa_close,
	.on_start = wa_on_start,
	.webhook_path = "whatsapp",
	.webhook = wa_webhook,
	.simulate_inbound = NULL,
};
