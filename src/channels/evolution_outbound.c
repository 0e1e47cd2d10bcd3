/*
 * evolution_outbound.c - the Evolution API adapter's requests and answers.
 *
 * Bodies: one msgd message (the stored document) becomes the JSON of an
 * Evolution v2 endpoint, as shared/corpus/evolution/outbound/ shows it:
 *   text      POST /message/sendText/{instance}    {number, text, delay, linkPreview}
 *   image, video, audio, document
 *             POST /message/sendMedia/{instance}   {number, mediatype, mimetype,
 *                                                   caption, media (a URL), fileName}
 *   sticker   POST /message/sendSticker/{instance} {number, sticker}
 *   location  POST /message/sendLocation/{instance}
 *             {number, latitude, longitude, name, address}
 * with quoted {key: {id}} for a reply. delay is EVO_TYPING_DELAY_MS: the
 * contact sees "typing..." first, as from a person (WhatsApp bans numbers
 * that send like machines). Nothing here knows the config or does HTTP.
 *
 * Answers (evo_send_classify), on the HTTP status and Evolution's error
 * body {"status","error","response":{"message":[...]}}:
 *   2xx with key.id            SEND_OK (the provider id)
 *   400 with exists: false     SEND_RECIPIENT_INVALID (not on WhatsApp)
 *   other 400 and 4xx          SEND_PERMFAIL
 *   401, 403                   SEND_CREDENTIALS (the api_key is refused)
 *   404                        SEND_CREDENTIALS (no such instance)
 *   429                        SEND_THROTTLED (Retry-After honoured)
 *   408, 5xx, network errors   SEND_TEMPFAIL
 */
#include "evolution.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../hooks/hooks.h"
#include "../util/qr.h"
#include "../util/util.h"

#define EVO_DETAIL_MAX 512

static const json_t *
get(const json_t *obj, const char *key)
{
	return json_object_get(obj, key);
}

static bool
is_nonempty(const json_t *v)
{
	return json_is_string(v) && json_string_length(v) > 0 &&
	    !memchr(json_string_value(v), '\0', json_string_length(v));
}

static void
put(json_t *o, const char *key, const json_t *v)
{
	json_object_set_new(o, key, json_deep_copy(v));
}

static void
set_err(struct channel_error *err, const char *field, const char *msg)
{
	snprintf(err->field, sizeof(err->field), "%s", field);
	snprintf(err->message, sizeof(err->message), "%s", msg);
}

/* Bodies: each builder adds its members to body, or returns -1 with err. */

static int
out_text(json_t *body, const json_t *msg, const char *type, struct channel_error *err)
{
	const json_t *text = get(msg, "text");

	if (!is_nonempty(text) || json_string_length(text) > EVO_TEXT_MAX) {
		set_err(err, "text", "'text' must be a non-empty string");
		return -1;
	}
	put(body, "text", text);
	json_object_set_new(body, "delay", json_integer(EVO_TYPING_DELAY_MS));
	json_object_set_new(body, "linkPreview", json_boolean(json_is_true(get(msg, "preview_url"))));
	return 0;
}

/* media.url: Evolution fetches it (it has no media ids to refer to). */
static const json_t *
media_url(const json_t *msg, struct channel_error *err)
{
	const json_t *m = get(msg, "media"), *url = get(m, "url");

	if (!is_nonempty(url)) {
		set_err(err, "media.url", "this channel sends media by 'url' only");
		return NULL;
	}
	return url;
}

static int
out_media(json_t *body, const json_t *msg, const char *type, struct channel_error *err)
{
	const json_t *m = get(msg, "media"), *url = NULL, *caption;
	/* A stored file (its path on disk) goes as the multipart "file" part
	 * (evolution_media.c) instead of a URL. */
	bool stored = is_nonempty(get(m, "path"));

	if (!stored && (url = media_url(msg, err)) == NULL)
		return -1;
	json_object_set_new(body, "mediatype", json_string(type));
	if (is_nonempty(get(m, "mime_type")))
		put(body, "mimetype", get(m, "mime_type"));
	caption = get(m, "caption");
	if (!is_nonempty(caption))
		caption = get(msg, "text");
	/* WhatsApp shows no caption under audio. */
	if (strcmp(type, "audio") != 0 && is_nonempty(caption))
		put(body, "caption", caption);
	if (url)
		put(body, "media", url);
	if (is_nonempty(get(m, "filename")))
		put(body, "fileName", get(m, "filename"));
	return 0;
}

static int
out_sticker(json_t *body, const json_t *msg, const char *type, struct channel_error *err)
{
	const json_t *url = media_url(msg, err);

	if (url == NULL)
		return -1;
	put(body, "sticker", url);
	return 0;
}

static int
out_location(json_t *body, const json_t *msg, const char *type, struct channel_error *err)
{
	const json_t *l = get(msg, "location");
	const json_t *lat = get(l, "latitude"), *lon = get(l, "longitude");

	if (!json_is_number(lat) || json_number_value(lat) < -90 || json_number_value(lat) > 90) {
		set_err(err, "location.latitude", "'latitude' must be a number from -90 to 90");
		return -1;
	}
	if (!json_is_number(lon) || json_number_value(lon) < -180 || json_number_value(lon) > 180) {
		set_err(err, "location.longitude", "'longitude' must be a number from -180 to 180");
		return -1;
	}
	put(body, "latitude", lat);
	put(body, "longitude", lon);
	/* Evolution wants both; an empty one is allowed. */
	json_object_set_new(body, "name", is_nonempty(get(l, "name")) ?
	    json_deep_copy(get(l, "name")) : json_string(""));
	json_object_set_new(body, "address", is_nonempty(get(l, "address")) ?
	    json_deep_copy(get(l, "address")) : json_string(""));
	return 0;
}

static const struct {
	const char *type;
	const char *endpoint;
	int (*build)(json_t *body, const json_t *msg, const char *type, struct channel_error *err);
} evo_out_kinds[] = {
	{ .type = "text", .endpoint = "sendText", .build = out_text },
	{ .type = "image", .endpoint = "sendMedia", .build = out_media },
	{ .type = "video", .endpoint = "sendMedia", .build = out_media },
	{ .type = "audio", .endpoint = "sendMedia", .build = out_media },
	{ .type = "document", .endpoint = "sendMedia", .build = out_media },
	{ .type = "sticker", .endpoint = "sendSticker", .build = out_sticker },
	{ .type = "location", .endpoint = "sendLocation", .build = out_location },
};

json_t *
evo_message_body(const json_t *msg, const char **endpoint, struct channel_error *err)
{
	const json_t *to = get(msg, "to"), *t = get(msg, "type"), *q;
	const char *name;
	json_t *body;
	size_t i;

	if (!json_is_object(msg)) {
		set_err(err, "message", "the message must be an object");
		return NULL;
	}
	if (!is_nonempty(to) || json_string_length(to) > EVO_ID_MAX) {
		set_err(err, "to", "'to' must be a non-empty string");
		return NULL;
	}
	name = t == NULL || json_is_null(t) ? "text" : json_string_value(t);
	for (i = 0; name && i < ARRAY_LEN(evo_out_kinds); i++)
		if (strcmp(name, evo_out_kinds[i].type) == 0)
			break;
	if (name == NULL || i == ARRAY_LEN(evo_out_kinds)) {
		set_err(err, "type", "this channel cannot send messages of that type");
		return NULL;
	}
	body = json_object();
	put(body, "number", to);
	if (evo_out_kinds[i].build(body, msg, evo_out_kinds[i].type, err) != 0) {
		json_decref(body);
		return NULL;
	}
	if ((q = channel_reply_id(msg)) != NULL)
		json_object_set_new(body, "quoted", json_pack("{s:{s:O}}", "key", "id", q));
	*endpoint = evo_out_kinds[i].endpoint;
	return body;
}

/* Answers */

/* s as printable text for an error (cut at a character boundary). */
static void
copy_text(char *dst, size_t cap, const char *s, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n && k + 1 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		dst[k++] = c == '\n' || c == '\r' || c == '\t' ? ' ' : c < 0x20 || c == 0x7f ? '?' :
		    (char)c;
	}
	dst[k] = '\0';
	utf8_sanitize(dst);
}

/* What Evolution said: response.message[0] (a string), else error, else the body. */
static void
error_text(const json_t *root, const struct send_response *resp, char *dst, size_t cap)
{
	const json_t *msg = get(get(root, "response"), "message"), *v;
	size_t i;

	if (json_is_string(msg)) {
		copy_text(dst, cap, json_string_value(msg), json_string_length(msg));
		return;
	}
	json_array_foreach(msg, i, v) {
		if (json_is_string(v)) {
			copy_text(dst, cap, json_string_value(v), json_string_length(v));
			return;
		}
	}
	if (json_is_string(v = get(root, "message")) || json_is_string(v = get(root, "error"))) {
		copy_text(dst, cap, json_string_value(v), json_string_length(v));
		return;
	}
	if (resp->body)
		copy_text(dst, cap, resp->body, resp->body_len);
}

/* A 400 saying the number is not on WhatsApp: response.message[] holds {exists: false}. */
static const json_t *
not_on_whatsapp(const json_t *root)
{
	const json_t *v;
	size_t i;

	json_array_foreach(get(get(root, "response"), "message"), i, v)
		if (json_is_false(get(v, "exists")))
			return v;
	return NULL;
}

void
evo_send_classify(struct channel *ch, const json_t *msg, const struct send_response *resp,
    struct send_outcome *out)
{
	json_t *root = NULL;
	const json_t *id, *absent;
	long st = resp->http_status;
	char jerr[8];

	*out = (struct send_outcome){ 0 };
	if (st == 0) {
		out->kind = SEND_TEMPFAIL;
		snprintf(out->error_title, sizeof(out->error_title), "%s",
		    resp->net_error && *resp->net_error ? resp->net_error : "network error");
		return;
	}
	if (resp->body && resp->body_len > 0)
		json_parse_capped(resp->body, resp->body_len, EVO_JSON_DEPTH_MAX, &root, jerr,
		    sizeof(jerr));
	if (st >= 200 && st < 300) {
		/* JSON without key.id still means Evolution took it (retrying could
		 * send it twice); a body that is not JSON came from something else. */
		if (root == NULL) {
			out->kind = SEND_TEMPFAIL;
			snprintf(out->error_title, sizeof(out->error_title), "2xx answer that is not JSON");
		} else {
			out->kind = SEND_OK;
			id = get(get(root, "key"), "id");
			if (is_nonempty(id) && json_string_length(id) <= EVO_ID_MAX)
				out->provider_message_id = xstrdup(json_string_value(id));
		}
		json_decref(root);
		return;
	}
	error_text(root, resp, out->error_detail, sizeof(out->error_detail));
	if (st == 400 && (absent = not_on_whatsapp(root)) != NULL) {
		out->kind = SEND_RECIPIENT_INVALID;
		snprintf(out->error_title, sizeof(out->error_title), "the number is not on WhatsApp");
		const json_t *num = get(absent, "number");
		if (is_nonempty(num))
			copy_text(out->error_detail, sizeof(out->error_detail), json_string_value(num),
			    json_string_length(num));
	} else if (st == 401 || st == 403) {
		out->kind = SEND_CREDENTIALS;
		snprintf(out->error_title, sizeof(out->error_title),
		    "the Evolution API refused the api_key (HTTP %ld)", st);
	} else if (st == 404) {
		out->kind = SEND_CREDENTIALS;
		snprintf(out->error_title, sizeof(out->error_title),
		    "the Evolution API does not know this instance");
	} else if (st == 429) {
		out->kind = SEND_THROTTLED;
		snprintf(out->error_title, sizeof(out->error_title), "HTTP 429: too many requests");
	} else if (st == 408 || st >= 500 || st < 400) {
		out->kind = SEND_TEMPFAIL;
		snprintf(out->error_title, sizeof(out->error_title), "HTTP %ld", st);
	} else {
		out->kind = SEND_PERMFAIL;
		snprintf(out->error_title, sizeof(out->error_title), "HTTP %ld", st);
	}
	out->error_code = st;
	if (resp->retry_after)
		out->retry_after_ms = hooks_retry_after_ms(resp->retry_after);
	json_decref(root);
}

/* The instance's state in {"instance":{"state"}} (v2) or {"state"}. */
static const char *
instance_state(const json_t *root)
{
	const json_t *s = get(get(root, "instance"), "state");

	if (!json_is_string(s))
		s = get(root, "state");
	return json_is_string(s) ? json_string_value(s) : NULL;
}

void
evo_check_classify(const struct send_response *resp, struct check_result *out)
{
	long st = resp->http_status;
	json_t *root = NULL;
	char jerr[8];

	*out = (struct check_result){ 0 };
	if (st == 0) {
		out->state = CHECK_UNREACHABLE;
		snprintf(out->message, sizeof(out->message), "%s",
		    resp->net_error && *resp->net_error ? resp->net_error : "network error");
		return;
	}
	if (resp->body && resp->body_len > 0)
		json_parse_capped(resp->body, resp->body_len, EVO_JSON_DEPTH_MAX, &root, jerr,
		    sizeof(jerr));
	out->error_code = st >= 400 ? st : 0;
	if (st >= 200 && st < 300 && root != NULL) {
		const char *s = instance_state(root);
		out->state = CHECK_OK;
		snprintf(out->message, sizeof(out->message), "instance state: %.64s", s ? s : "unknown");
		utf8_sanitize(out->message);
	} else if (st == 401 || st == 403) {
		out->state = CHECK_INVALID_CREDENTIALS;
		snprintf(out->message, sizeof(out->message), "the Evolution API refused the api_key");
	} else if (st == 404) {
		out->state = CHECK_ERROR;
		snprintf(out->message, sizeof(out->message),
		    "the Evolution API does not know this instance");
	} else if (st >= 500 || st == 408) {
		out->state = CHECK_UNREACHABLE;
		snprintf(out->message, sizeof(out->message), "HTTP %ld", st);
	} else {
		out->state = CHECK_ERROR;
		error_text(root, resp, out->message, sizeof(out->message));
	}
	json_decref(root);
}

void
evo_connect_answer(const struct send_response *resp, struct state_in *s)
{
	long st = resp->http_status;
	json_t *root = NULL;
	char jerr[8];

	s->qr = s->pairing_code = s->reason = NULL;
	if (st == 0) {
		s->state = CONN_ERROR;
		s->reason = xasprintf("the Evolution API is unreachable: %.200s",
		    resp->net_error && *resp->net_error ? resp->net_error : "network error");
		return;
	}
	if (resp->body && resp->body_len > 0)
		json_parse_capped(resp->body, resp->body_len, EVO_JSON_DEPTH_MAX, &root, jerr,
		    sizeof(jerr));
	if (st >= 200 && st < 300 && root != NULL) {
		const json_t *code = get(root, "code"), *pc = get(root, "pairingCode");
		const char *state = instance_state(root);
		if (is_nonempty(code) && json_string_length(code) <= QR_TEXT_MAX) {
			s->state = CONN_PAIRING;
			s->qr = xstrdup(json_string_value(code));
			if (is_nonempty(pc) && json_string_length(pc) <= EVO_ID_MAX)
				s->pairing_code = xstrdup(json_string_value(pc));
		} else if (state && strcmp(state, "open") == 0) {
			s->state = CONN_CONNECTED;
		} else {
			/* {"count":0}: no code yet; qrcode.updated brings it. */
			s->state = CONN_CONNECTING;
		}
	} else if (st == 401 || st == 403) {
		s->state = CONN_ERROR;
		s->reason = xstrdup("the Evolution API refused the api_key");
	} else if (st == 404) {
		s->state = CONN_ERROR;
		s->reason = xstrdup("the Evolution API does not know this instance");
	} else {
		s->state = CONN_ERROR;
		s->reason = xasprintf("the Evolution API answered HTTP %ld", st);
	}
	json_decref(root);
}
