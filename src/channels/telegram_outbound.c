/*
 * telegram_outbound.c - the Telegram adapter's outbound side: one msgd
 * message (the stored document: to, type, text, media, location,
 * reaction, interactive, reply_to, and the Telegram extras parse_mode,
 * reply_markup, buttons) becomes one Bot API method and its JSON body, as
 * the golden bodies in shared/corpus/telegram/outbound/ show them; and
 * every answer of the Bot API becomes one send outcome. Nothing here knows
 * the channel's config or does HTTP: telegram.c adds the URL (the token is
 * part of it).
 *
 * Bodies: chat_id is the address as a string; fields the Bot API calls
 * "JSON-serialized" (reply_markup, reply_parameters, reaction) are sent as
 * JSON text inside the JSON body, as the corpus does (the Bot API takes
 * both spellings).
 *
 * Buttons: WhatsApp-shaped interactive messages map to Telegram keyboards:
 * "button" (reply buttons) and "list" rows become an inline keyboard whose
 * callback_data is the button's id (a press comes back as type "button"
 * with that payload), "cta_url" a URL button, "quick_reply" a one-time
 * reply keyboard (a press comes back as a text message). A message's own
 * "buttons" [{text, payload|url}] (an inner array is one row) and a raw
 * "reply_markup" object are taken too.
 */
#include "telegram.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/util.h"

#define TG_CALLBACK_DATA_MAX 64         /* bytes of callback_data (Bot API limit) */
#define TG_BUTTONS_MAX       100        /* buttons in one keyboard */
#define TG_RETRY_AFTER_MAX_S 86400      /* a retry_after beyond a day is capped */
#define TG_ANSWER_DEPTH_MAX  32

static const json_t *
get(const json_t *o, const char *key)
{
	return json_object_get(o, key);
}

static void
set_err(struct channel_error *err, const char *field, const char *msg)
{
	snprintf(err->field, sizeof(err->field), "%s", field);
	snprintf(err->message, sizeof(err->message), "%s", msg);
}

static bool
is_nonempty(const json_t *v)
{
	return json_is_string(v) && json_string_length(v) > 0 &&
	    !memchr(json_string_value(v), '\0', json_string_length(v));
}

/* Code points of a UTF-8 string (continuation bytes not counted). */
static size_t
chars(const json_t *v)
{
	const unsigned char *s = (const unsigned char *)json_string_value(v);
	size_t n = 0, len = json_string_length(v);

	for (size_t i = 0; i < len; i++)
		n += (s[i] & 0xc0) != 0x80;
	return n;
}

/* body[key] = v as JSON text (consumes v). */
static void
put_serialized(json_t *body, const char *key, json_t *v)
{
	char *s = json_encode(v, NULL);

	json_decref(v);
	if (s)
		json_object_set_new(body, key, json_string(s));
	free(s);
}

/* "<chat>:<message_id>" → message_id; -1 when it is not such an id. */
static int64_t
message_id_of(const json_t *pid, char *chat, size_t chatlen)
{
	const char *s = json_string_value(pid), *colon;
	int64_t mid;

	if (!is_nonempty(pid) || (colon = strrchr(s, ':')) == NULL || parse_i64(colon + 1, &mid) != 0 ||
	    mid <= 0 || (size_t)(colon - s) >= chatlen)
		return -1;
	snprintf(chat, chatlen, "%.*s", (int)(colon - s), s);
	return mid;
}

/* --- keyboards --- */

static json_t *
callback_button(const json_t *text, const json_t *data, struct channel_error *err)
{
	if (!is_nonempty(text) || chars(text) > 256) {
		set_err(err, "interactive", "a button needs a title of 1 to 256 characters");
		return NULL;
	}
	if (!is_nonempty(data) || json_string_length(data) > TG_CALLBACK_DATA_MAX) {
		set_err(err, "interactive", "a button's id (callback data) must be 1 to 64 bytes");
		return NULL;
	}
	return json_pack("{s:O,s:O}", "text", text, "callback_data", data);
}

/* msg.buttons: [{text|title, payload|id | url}], an inner array is one row. */
static json_t *
buttons_keyboard(const json_t *buttons, struct channel_error *err)
{
	json_t *rows = json_array();
	const json_t *e, *b;
	size_t i, j, n = 0;

	json_array_foreach(buttons, i, e) {
		json_t *row = json_array();
		const json_t *one[1] = { e };
		size_t cnt = json_is_array(e) ? json_array_size(e) : 1;
		for (j = 0; j < cnt; j++) {
			b = json_is_array(e) ? json_array_get(e, j) : one[0];
			const json_t *text = get(b, "text") ? get(b, "text") : get(b, "title");
			const json_t *data = get(b, "payload") ? get(b, "payload") : get(b, "id");
			json_t *btn;
			if (++n > TG_BUTTONS_MAX) {
				set_err(err, "buttons", "at most 100 buttons");
				btn = NULL;
			} else if (is_nonempty(get(b, "url")) && is_nonempty(text)) {
				btn = json_pack("{s:O,s:O}", "text", text, "url", get(b, "url"));
			} else {
				btn = callback_button(text, data, err);
			}
			if (btn == NULL) {
				json_decref(row);
				json_decref(rows);
				return NULL;
			}
			json_array_append_new(row, btn);
		}
		json_array_append_new(rows, row);
	}
	if (json_array_size(rows) == 0) {
		json_decref(rows);
		set_err(err, "buttons", "'buttons' must be a non-empty array");
		return NULL;
	}
	return json_pack("{s:o}", "inline_keyboard", rows);
}

/* A WhatsApp-shaped interactive object as reply_markup. */
static json_t *
interactive_markup(const json_t *in, struct channel_error *err)
{
	const char *type = json_string_value(get(in, "type"));
	const json_t *action = get(in, "action"), *b, *sec, *row;
	json_t *rows = json_array(), *r, *btn;
	size_t i, j;

	if (type == NULL)
		goto bad;
	if (strcmp(type, "button") == 0 || strcmp(type, "quick_reply") == 0) {
		bool quick = strcmp(type, "quick_reply") == 0;
		r = json_array();
		json_array_append_new(rows, r);
		json_array_foreach(get(action, "buttons"), i, b) {
			const json_t *reply = get(b, "reply") ? get(b, "reply") : b;
			if (quick)
				btn = is_nonempty(get(reply, "title")) ?
				    json_pack("{s:O}", "text", get(reply, "title")) : NULL;
			else
				btn = callback_button(get(reply, "title"), get(reply, "id"), err);
			if (btn == NULL)
				goto fail;
			json_array_append_new(r, btn);
		}
		if (json_array_size(r) == 0)
			goto bad;
		if (quick)
			return json_pack("{s:o,s:b,s:b}", "keyboard", rows, "resize_keyboard", 1,
			    "one_time_keyboard", 1);
		return json_pack("{s:o}", "inline_keyboard", rows);
	}
	if (strcmp(type, "list") == 0) {
		json_array_foreach(get(action, "sections"), i, sec) {
			json_array_foreach(get(sec, "rows"), j, row) {
				if ((btn = callback_button(get(row, "title"), get(row, "id"), err)) == NULL)
					goto fail;
				json_array_append_new(rows, json_pack("[o]", btn));
			}
		}
		if (json_array_size(rows) == 0)
			goto bad;
		return json_pack("{s:o}", "inline_keyboard", rows);
	}
	if (strcmp(type, "cta_url") == 0) {
		const json_t *p = get(action, "parameters");
		if (!is_nonempty(get(p, "display_text")) || !is_nonempty(get(p, "url")))
			goto bad;
		json_array_append_new(rows, json_pack("[{s:O,s:O}]", "text", get(p, "display_text"),
		    "url", get(p, "url")));
		return json_pack("{s:o}", "inline_keyboard", rows);
	}
bad:
	set_err(err, "interactive", "Telegram sends interactive messages of type button, list, "
	    "cta_url or quick_reply, with at least one button");
fail:
	json_decref(rows);
	return NULL;
}

/* --- bodies --- */

static int
put_text(json_t *body, const char *key, const json_t *text, size_t max, struct channel_error *err)
{
	char msg[96];

	if (!is_nonempty(text))
		return 0;
	if (chars(text) > max) {
		snprintf(msg, sizeof(msg), "Telegram takes at most %zu characters here", max);
		set_err(err, strcmp(key, "caption") == 0 ? "media.caption" : "text", msg);
		return -1;
	}
	json_object_set_new(body, key, json_deep_copy(text));
	return 0;
}

static const struct {
	const char *type, *method, *field;
	bool caption;
} media_methods[] = {
	{ "image", "sendPhoto", "photo", true },
	{ "document", "sendDocument", "document", true },
	{ "video", "sendVideo", "video", true },
	{ "audio", "sendAudio", "audio", true },
	{ "voice", "sendVoice", "voice", true },
	{ "sticker", "sendSticker", "sticker", false },
};

const char *
tg_media_field(const char *type)
{
	for (size_t k = 0; type && k < ARRAY_LEN(media_methods); k++)
		if (strcmp(type, media_methods[k].type) == 0)
			return media_methods[k].field;
	return NULL;
}

static int
body_media(json_t *body, const json_t *msg, size_t k, struct channel_error *err)
{
	const json_t *m = get(msg, "media"), *caption = get(m, "caption");

	if (!json_is_object(m)) {
		set_err(err, "media", "'media' must be an object with 'url' or 'id'");
		return -1;
	}
	/* A stored file (file_id, with its path on disk) goes as a multipart
	 * upload (telegram.c adds the file part) until Telegram's file_id of it
	 * is known; a Telegram file_id (sent before, or received) wins over a link. */
	if (is_nonempty(get(m, "provider_media_id")))  /* sent before: Telegram's file_id */
		json_object_set_new(body, media_methods[k].field, json_deep_copy(get(m, "provider_media_id")));
	else if (is_nonempty(get(m, "path")))
		;
	else if (is_nonempty(get(m, "id")))
		json_object_set_new(body, media_methods[k].field, json_deep_copy(get(m, "id")));
	else if (is_nonempty(get(m, "url")))
		json_object_set_new(body, media_methods[k].field, json_deep_copy(get(m, "url")));
	else {
		set_err(err, "media.url", "'media' needs a non-empty 'url' or 'id'");
		return -1;
	}
	if (!is_nonempty(caption))
		caption = get(msg, "text");
	if (media_methods[k].caption)
		return put_text(body, "caption", caption, TG_CAPTION_MAX, err);
	return 0;
}

static int
body_location(json_t *body, const json_t *msg, const char **method, struct channel_error *err)
{
	const json_t *l = get(msg, "location"), *lat = get(l, "latitude"), *lon = get(l, "longitude");

	if (!json_is_number(lat) || !json_is_number(lon) || json_number_value(lat) < -90 ||
	    json_number_value(lat) > 90 || json_number_value(lon) < -180 ||
	    json_number_value(lon) > 180) {
		set_err(err, "location", "'location' needs latitude and longitude in range");
		return -1;
	}
	json_object_set_new(body, "latitude", json_deep_copy(lat));
	json_object_set_new(body, "longitude", json_deep_copy(lon));
	/* A named place with an address is a venue (the Bot API needs both). */
	if (is_nonempty(get(l, "name")) && is_nonempty(get(l, "address"))) {
		json_object_set_new(body, "title", json_deep_copy(get(l, "name")));
		json_object_set_new(body, "address", json_deep_copy(get(l, "address")));
		*method = "sendVenue";
	} else {
		*method = "sendLocation";
	}
	return 0;
}

static int
body_reaction(json_t *body, const json_t *msg, struct channel_error *err)
{
	const json_t *r = get(msg, "reaction"), *emoji = get(r, "emoji");
	char chat[TG_ID_MAX + 1];
	int64_t mid = message_id_of(get(r, "provider_message_id"), chat, sizeof(chat));

	if (mid < 0) {
		set_err(err, "reaction.message_id", "the message reacted to has no Telegram message id");
		return -1;
	}
	if (!json_is_string(emoji)) {
		set_err(err, "reaction.emoji", "'reaction.emoji' must be a string (\"\" removes)");
		return -1;
	}
	json_object_set_new(body, "chat_id", json_string(chat));
	json_object_set_new(body, "message_id", json_integer(mid));
	/* [] removes the bot's reaction. */
	put_serialized(body, "reaction", json_string_length(emoji) == 0 ? json_array() :
	    json_pack("[{s:s,s:O}]", "type", "emoji", "emoji", emoji));
	return 0;
}

/* reply_parameters from reply_to ("<chat>:<id>" or {provider_message_id}). */
static void
put_reply(json_t *body, const json_t *msg)
{
	const json_t *r = channel_reply_id(msg);
	char chat[TG_ID_MAX + 1];
	int64_t mid;

	if ((mid = message_id_of(r, chat, sizeof(chat))) < 0)
		return;
	json_t *p = json_pack("{s:I}", "message_id", (json_int_t)mid);
	/* A message of another chat is quoted across chats. */
	if (strcmp(chat, json_string_value(get(msg, "to"))) != 0)
		json_object_set_new(p, "chat_id", json_string(chat));
	put_serialized(body, "reply_parameters", p);
}

static int
put_markup(json_t *body, const json_t *msg, const char *type, struct channel_error *err)
{
	const json_t *rm = get(msg, "reply_markup"), *buttons = get(msg, "buttons");
	json_t *markup = NULL;

	if (strcmp(type, "interactive") == 0) {
		if ((markup = interactive_markup(get(msg, "interactive"), err)) == NULL)
			return -1;
	} else if (buttons && !json_is_null(buttons)) {
		if (!json_is_array(buttons)) {
			set_err(err, "buttons", "'buttons' must be an array");
			return -1;
		}
		if ((markup = buttons_keyboard(buttons, err)) == NULL)
			return -1;
	} else if (json_is_object(rm)) {
		markup = json_deep_copy(rm);
	} else if (rm && !json_is_null(rm)) {
		set_err(err, "reply_markup", "'reply_markup' must be an object");
		return -1;
	}
	if (markup)
		put_serialized(body, "reply_markup", markup);
	return 0;
}

json_t *
tg_send_body(const json_t *msg, const char **method, struct channel_error *err)
{
	const json_t *to = get(msg, "to"), *t = get(msg, "type"), *pm = get(msg, "parse_mode");
	const char *type;
	json_t *body;
	size_t k;
	char chat[TG_ID_MAX + 1];

	if (!json_is_object(msg)) {
		set_err(err, "message", "the message must be an object");
		return NULL;
	}
	if (!is_nonempty(to) || tg_address_normalize(json_string_value(to), json_string_length(to),
	    chat, sizeof(chat)) != 0) {
		set_err(err, "to", "'to' must be a Telegram chat id or @channelusername");
		return NULL;
	}
	type = json_is_string(t) ? json_string_value(t) : "text";
	body = json_object();
	json_object_set_new(body, "chat_id", json_string(chat));

	if (strcmp(type, "reaction") == 0) {
		*method = "setMessageReaction";
		if (body_reaction(body, msg, err) != 0)
			goto fail;
		return body;
	}
	if (strcmp(type, "text") == 0 || strcmp(type, "interactive") == 0) {
		const json_t *text = strcmp(type, "text") == 0 ? get(msg, "text") :
		    get(get(get(msg, "interactive"), "body"), "text");
		*method = "sendMessage";
		if (!is_nonempty(text)) {
			set_err(err, "text", strcmp(type, "text") == 0 ? "'text' must be a non-empty string" :
			    "'interactive.body.text' must be a non-empty string");
			goto fail;
		}
		if (put_text(body, "text", text, TG_TEXT_MAX, err) != 0)
			goto fail;
		if (json_is_false(get(msg, "preview_url")))
			put_serialized(body, "link_preview_options", json_pack("{s:b}", "is_disabled", 1));
	} else if (strcmp(type, "location") == 0) {
		if (body_location(body, msg, method, err) != 0)
			goto fail;
	} else {
		for (k = 0; k < ARRAY_LEN(media_methods); k++)
			if (strcmp(type, media_methods[k].type) == 0)
				break;
		if (k == ARRAY_LEN(media_methods)) {
			set_err(err, "type", "Telegram cannot send messages of this type");
			goto fail;
		}
		*method = media_methods[k].method;
		if (body_media(body, msg, k, err) != 0)
			goto fail;
	}
	if (is_nonempty(pm) && (json_object_get(body, "text") || json_object_get(body, "caption")))
		json_object_set_new(body, "parse_mode", json_deep_copy(pm));
	put_reply(body, msg);
	if (put_markup(body, msg, type, err) != 0)
		goto fail;
	return body;
fail:
	json_decref(body);
	return NULL;
}

/* --- answers --- */

int
tg_parse_answer(const struct send_response *resp, json_t **root, bool *ok,
    const char **description, int64_t *error_code)
{
	char jerr[8];

	*root = NULL;
	*ok = false;
	*description = NULL;
	*error_code = 0;
	if (resp->body == NULL || resp->body_len == 0 ||
	    json_parse_capped(resp->body, resp->body_len, TG_ANSWER_DEPTH_MAX, root, jerr,
	    sizeof(jerr)) != 0)
		return -1;
	if (!json_is_object(*root)) {
		json_decref(*root);
		*root = NULL;
		return -1;
	}
	*ok = json_is_true(get(*root, "ok"));
	*description = json_string_value(get(*root, "description"));
	if (json_is_integer(get(*root, "error_code")))
		*error_code = json_integer_value(get(*root, "error_code"));
	return 0;
}

/* Descriptions of a 403 that mean this one recipient is gone for the bot. */
static const char *const tg_blocked_words[] = {
	"bot was blocked by the user", "user is deactivated", "bot was kicked",
	"bot is not a member", "bot can't initiate conversation", "bot can't send messages to bots",
};
/* ... and of a 400 that mean the chat does not exist. */
static const char *const tg_invalid_words[] = {
	"chat not found", "user not found", "PEER_ID_INVALID",
};

static bool
says(const char *desc, const char *const *words, size_t n)
{
	for (size_t i = 0; desc && i < n; i++)
		if (strstr(desc, words[i]))
			return true;
	return false;
}

/* Copy s: NULs and control characters dropped, cut at a character boundary. */
static void
copy_text(char *dst, size_t cap, const char *s)
{
	size_t k = 0;

	for (; s && *s && k + 1 < cap; s++)
		if ((unsigned char)*s >= 0x20)
			dst[k++] = *s;
	if (s && *s) {
		k = utf8_boundary(dst, k);  /* truncated: no character split at the end */
	}
	dst[k] = '\0';
}

/* The outcome of an error answer: error_code (else the HTTP status) and description. */
static enum send_outcome_kind
classify_error(int64_t code, const char *desc)
{
	if (code == 429)
		return SEND_THROTTLED;
	if (code == 403)
		return says(desc, tg_blocked_words, ARRAY_LEN(tg_blocked_words)) ?
		    SEND_RECIPIENT_BLOCKED : SEND_PERMFAIL;
	if (code == 400)
		return says(desc, tg_invalid_words, ARRAY_LEN(tg_invalid_words)) ?
		    SEND_RECIPIENT_INVALID : SEND_PERMFAIL;
	/* A bad token is 401 (or 404: no such bot); 409 a webhook or another
	 * poller in the way: the channel's configuration, not this message. */
	if (code == 401 || code == 404 || code == 409)
		return SEND_CREDENTIALS;
	if (code == 408 || code >= 500 || code < 400)
		return SEND_TEMPFAIL;
	return SEND_PERMFAIL;
}

void
tg_classify(const struct send_response *resp, const char *to, struct send_outcome *out)
{
	json_t *root;
	bool ok;
	const char *desc;
	int64_t code;

	*out = (struct send_outcome){ 0 };
	if (resp->http_status == 0) {
		out->kind = SEND_TEMPFAIL;
		snprintf(out->error_title, sizeof(out->error_title), "%s",
		    resp->net_error && *resp->net_error ? resp->net_error : "network error");
		return;
	}
	if (tg_parse_answer(resp, &root, &ok, &desc, &code) != 0) {
		/* Not the Bot API (a proxy, an HTML error page): try again later. */
		out->kind = SEND_TEMPFAIL;
		snprintf(out->error_title, sizeof(out->error_title),
		    "HTTP %ld with an answer that is not the Bot API's", resp->http_status);
		return;
	}
	if (ok && resp->http_status >= 200 && resp->http_status < 300) {
		const json_t *res = get(root, "result");
		const json_t *chat = get(get(res, "chat"), "id"), *mid = get(res, "message_id");
		out->kind = SEND_OK;
		/* A message's id is "<chat>:<message_id>"; setMessageReaction answers true. */
		if (json_is_integer(chat) && json_is_integer(mid))
			out->provider_message_id = xasprintf("%lld:%lld",
			    (long long)json_integer_value(chat), (long long)json_integer_value(mid));
		else if (to && *to && json_is_integer(mid))
			out->provider_message_id = xasprintf("%s:%lld", to,
			    (long long)json_integer_value(mid));
		json_decref(root);
		return;
	}
	if (code == 0)
		code = resp->http_status;
	out->error_code = code;
	out->kind = classify_error(code, desc);
	if (code == 409)
		snprintf(out->error_title, sizeof(out->error_title),
		    "configuration conflict (a webhook is set or another instance polls): ");
	copy_text(out->error_title + strlen(out->error_title),
	    sizeof(out->error_title) - strlen(out->error_title), desc ? desc : "");
	if (out->error_title[0] == '\0')
		snprintf(out->error_title, sizeof(out->error_title), "HTTP %ld", resp->http_status);
	copy_text(out->error_detail, sizeof(out->error_detail), desc);
	const json_t *params = get(root, "parameters");
	const json_t *ra = get(params, "retry_after"), *mig = get(params, "migrate_to_chat_id");
	if (json_is_integer(ra) && json_integer_value(ra) > 0)
		out->retry_after_ms = (json_integer_value(ra) < TG_RETRY_AFTER_MAX_S ?
		    json_integer_value(ra) : TG_RETRY_AFTER_MAX_S) * 1000;
	if (json_is_integer(mig))
		snprintf(out->error_detail, sizeof(out->error_detail),
		    "the group is now the supergroup %lld: send there", (long long)json_integer_value(mig));
	json_decref(root);
}

void
tg_check_classify(const struct send_response *resp, struct check_result *out)
{
	json_t *root;
	bool ok;
	const char *desc;
	int64_t code;

	*out = (struct check_result){ 0 };
	if (resp->http_status == 0) {
		out->state = CHECK_UNREACHABLE;
		snprintf(out->message, sizeof(out->message), "%s",
		    resp->net_error && *resp->net_error ? resp->net_error : "network error");
		return;
	}
	if (tg_parse_answer(resp, &root, &ok, &desc, &code) != 0) {
		out->state = resp->http_status >= 500 ? CHECK_UNREACHABLE : CHECK_ERROR;
		snprintf(out->message, sizeof(out->message), "HTTP %ld", resp->http_status);
		return;
	}
	if (code == 0)
		code = resp->http_status;
	out->error_code = ok ? 0 : code;
	if (ok && resp->http_status < 300) {
		const json_t *u = get(get(root, "result"), "username");
		out->state = CHECK_OK;
		if (json_is_string(u))
			snprintf(out->message, sizeof(out->message), "@%s", json_string_value(u));
	} else {
		out->state = code == 401 || code == 404 ? CHECK_INVALID_CREDENTIALS :
		    code >= 500 ? CHECK_UNREACHABLE : CHECK_ERROR;
		copy_text(out->message, sizeof(out->message), desc ? desc : "");
	}
	json_decref(root);
}

/* --- addresses --- */

int
tg_address_normalize(const char *s, size_t len, char *out, size_t outlen)
{
	size_t i = 0;

	if (len == 0 || len >= outlen || len > TG_ID_MAX)
		return -1;
	if (s[0] == '@') {
		/* A public channel's or supergroup's username: 5 to 32 of [A-Za-z0-9_]. */
		if (len < 6 || len > 33)
			return -1;
		for (i = 1; i < len; i++)
			if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
			    (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
				return -1;
	} else {
		if (s[0] == '-')
			i = 1;
		if (i == len || len - i > 19 || (s[i] == '0' && len - i > 1) || (i == 1 && s[i] == '0'))
			return -1;
		for (; i < len; i++)
			if (s[i] < '0' || s[i] > '9')
				return -1;
	}
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
}

bool
tg_is_group(const char *address)
{
	return address && (address[0] == '-' || address[0] == '@');
}
