/*
 * api_send.c - the send path's front door: POST /v1/messages (and batch),
 * DELETE /v1/messages/{id} and POST /v1/conversations/{id}/read (the local
 * templates' handlers are in api_templates.c).
 *
 * A send request is validated completely before anything is stored (unknown
 * fields, types, sizes, the 24-hour window, template variables), turned into
 * an outbound msg_in and committed with its outbox entry in one store op.
 * Only then is it answered 202; the outbox is kicked to send it.
 *
 * Validation runs on the loop (it needs the channel registry) in rounds:
 * the reads it needs are fetched on the store's reader pool between two
 * rounds (api_send_reads.c), and the committed message is read there too.
 */
#include "api.h"
#include "api_send.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../authz/authz.h"
#include "../channels/address.h"
#include "../channels/channel.h"
#include "../config/config.h"
#include "../http/http.h"
#include "../log/log.h"
#include "../outbox/outbox.h"
#include "../store/store.h"
#include "../util/util.h"

#define ADDR_MAX 64
#define CLIENT_ID_MAX 128
#define WINDOW_MS (24LL * 3600 * 1000)  /* recent enough to count as a conversation (priority) */

/* A string member: absent (NULL), or non-empty, capped, without NUL. */
int
opt_str(const json_t *o, const char *key, const char *field, size_t max, const char **out,
    struct send_error *e)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max ||
	    memchr(json_string_value(v), '\0', json_string_length(v)))
		return send_fail(e, "validation_failed", field,
		    "'%s' must be a non-empty string of at most %zu bytes", field, max);
	*out = json_string_value(v);
	return 0;
}

int
check_keys(const json_t *o, const char *const *allowed, const char *prefix, struct send_error *e)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)o, key, v) {
		bool ok = false;
		for (const char *const *a = allowed; *a; a++)
			ok |= strcmp(*a, key) == 0;
		if (!ok) {
			char f[64];
			snprintf(f, sizeof(f), "%s%.40s", prefix, key);
			return send_fail(e, "validation_failed", f, "unknown field '%s'", f);
		}
	}
	return 0;
}

/* A message reference (msgd id or provider id) to its provider id. */
static int
resolve_ref(struct app *app, struct send_reads *rs, int64_t org, const json_t *v, int64_t channel_id, const char *field, char *out,
    size_t outlen, struct send_error *e)
{
	if (json_is_integer(v)) {
		int64_t ch = 0;
		if (sr_message_provider_id(app, rs, org, json_integer_value(v), &ch, out, outlen) != 0)
			return send_fail(e, "internal", field, "storage error");
		if (out[0] == '\0' || ch != channel_id)
			return send_fail(e, "validation_failed", field,
			    "'%s' names no message with a provider id on this channel", field);
		return 0;
	}
	if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < outlen) {
		snprintf(out, outlen, "%s", json_string_value(v));
		return 0;
	}
	return send_fail(e, "validation_failed", field, "'%s' must be a message id or a provider message id",
	    field);
}

/*
 * "to": required, a non-empty string, in the channel's spelling of an
 * address (phone numbers: their digits) so that every way of writing one
 * number finds one contact and one conversation. out: ADDR_MAX + 1 bytes.
 */
static int
recipient(const struct channel *ch, const json_t *body, char *out, struct send_error *e)
{
	json_t *v = json_object_get(body, "to");
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);

	if (v == NULL || json_is_null(v))
		return send_fail(e, "validation_failed", "to", "'to' (the recipient) is required");
	if (!json_is_string(v) || n == 0)
		return send_fail(e, "validation_failed", "to", "'to' must be a non-empty string");
	if (ch->ops->address_normalize != NULL) {
		if (ch->ops->address_normalize(s, n, out, ADDR_MAX + 1) != 0)
			return send_fail(e, "invalid_recipient", "to", "'to' must be a phone number for channel "
			    "'%s': %d to %d digits, optionally after one '+' and with spaces, '-', '.', "
			    "'(' or ')' between them", ch->name, PHONE_DIGITS_MIN, PHONE_DIGITS_MAX);
		return 0;
	}
	if (n > ADDR_MAX || memchr(s, '\0', n) != NULL)
		return send_fail(e, "validation_failed", "to",
		    "'to' must be a string of at most %d bytes without NUL", ADDR_MAX);
	memcpy(out, s, n + 1);
	return 0;
}

static const char *const media_types[] = { "image", "audio", "voice", "video", "document", "sticker",
	NULL };

static bool
in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

/* Which type-specific fields each message type takes (text doubles as the
 * caption of image, video and document). */
static int
foreign_fields(const json_t *body, const char *type, struct send_error *e)
{
	static const struct {
		const char *field;
		const char *types[6];
	} owners[] = {
		{ "text", { "text", "image", "video", "document", NULL } },
		{ "preview_url", { "text", NULL } },
		{ "media", { "image", "audio", "voice", "video", "document", "sticker" } },
		{ "location", { "location", NULL } },
		{ "template", { "template", NULL } },
		{ "interactive", { "interactive", NULL } },
		{ "reaction", { "reaction", NULL } },
	};
	for (size_t i = 0; i < sizeof(owners) / sizeof(owners[0]); i++) {
		json_t *v = json_object_get(body, owners[i].field);
		if (v == NULL || json_is_null(v))
			continue;
		bool ok = false;
		for (size_t k = 0; k < 6 && owners[i].types[k]; k++)
			ok |= strcmp(owners[i].types[k], type) == 0;
		if (!ok)
			return send_fail(e, "validation_failed", owners[i].field,
			    "'%s' does not apply to a %s message", owners[i].field, type);
	}
	return 0;
}

/*
 * Validate one send request and fill m. Nothing is stored here. idem is the
 * Idempotency-Key header (single sends only).
 */
static int
build_outbound(struct app *app, struct send_reads *rs, int64_t org, const json_t *body, const char *idem, int priority,
    struct msg_in *m, struct send_error *e)
{
	static const char *const allowed[] = { "channel", "to", "type", "text", "preview_url", "media",
		"location", "template", "interactive", "reaction", "reply_to", "scheduled_at",
		"client_id", "metadata", "on_quota", "allow_duplicate", "parse_mode", "buttons",
		"reply_markup", NULL };
	static const char *const types[] = { "text", "image", "audio", "voice", "video", "document",
		"sticker", "location", "template", "interactive", "reaction", NULL };
	const char *chname, *to, *type, *text, *client_id, *sched;
	char to_buf[ADDR_MAX + 1];
	json_t *parts = m->parts;
	int64_t now = app->outbox ? outbox_now(app->outbox) : now_ms();
	char ref[256];

	if (!json_is_object(body))
		return send_fail(e, "validation_failed", "body", "a message must be a JSON object");
	if (check_keys(body, allowed, "", e) != 0)
		return -1;
	if (opt_str(body, "channel", "channel", 64, &chname, e) != 0)
		return -1;
	struct channel *ch = chname ? registry_find_name(app->reg, org, chname) : NULL;
	if (ch == NULL)
		return send_fail(e, "validation_failed", "channel", chname ? "no channel named '%.64s'" :
		    "'channel' is required%.0s", chname ? chname : "");
	if (!ch->ops->send_local && !ch->ops->send_prepare)
		return send_fail(e, "validation_failed", "channel", "channel '%s' cannot send", ch->name);
	if (recipient(ch, body, to_buf, e) != 0)
		return -1;
	to = to_buf;
	if (opt_str(body, "type", "type", 32, &type, e) != 0 || opt_str(body, "text", "text",
	    TEXT_MAX_CHARS * 4, &text, e) != 0)
		return -1;
	json_t *tpl = json_object_get(body, "template");
	if (type == NULL)
		type = tpl ? "template" : "text";
	if (!in_list(type, types))
		return send_fail(e, "validation_failed", "type", "'type' must be one of text, image, audio, "
		    "voice, video, document, sticker, location, template, interactive, reaction");
	if (text && utf8_chars(text, strlen(text)) > TEXT_MAX_CHARS)
		return send_fail(e, "validation_failed", "text", "'text' is longer than %d characters",
		    TEXT_MAX_CHARS);
	/* What this channel's type can do (channel_caps), before anything else. */
	const struct channel_caps *caps = ch->ops->caps;
	if (api_send_caps_check(ch, body, type, text, parts, e) != 0)
		return -1;
	if (foreign_fields(body, type, e) != 0)
		return -1;

	char *rendered = NULL;
	if (strcmp(type, "text") == 0) {
		json_t *pu = json_object_get(body, "preview_url");
		if (pu && !json_is_boolean(pu))
			return send_fail(e, "validation_failed", "preview_url", "'preview_url' must be true or false");
		if (pu)
			json_object_set(parts, "preview_url", pu);
		if (text == NULL)
			return send_fail(e, "validation_failed", "text", "'text' is required for a text message");
	} else if (in_list(type, media_types)) {
		const char *caption;
		if (api_send_media(app, rs, org, ch, type, json_object_get(body, "media"), parts, m, &caption, e) != 0)
			return -1;
		if (caption && text == NULL)
			text = caption;
	} else if (strcmp(type, "location") == 0) {
		static const char *const lk[] = { "latitude", "longitude", "name", "address", NULL };
		json_t *loc = json_object_get(body, "location");
		const char *dummy;
		if (!json_is_object(loc) || check_keys(loc, lk, "location.", e) != 0)
			return e->code[0] ? -1 : send_fail(e, "validation_failed", "location", "'location' is required");
		json_t *lat = json_object_get(loc, "latitude"), *lon = json_object_get(loc, "longitude");
		if (!json_is_number(lat) || !json_is_number(lon) || fabs(json_number_value(lat)) > 90 ||
		    fabs(json_number_value(lon)) > 180)
			return send_fail(e, "validation_failed", "location", "latitude and longitude must be numbers in range");
		if (opt_str(loc, "name", "location.name", 1024, &dummy, e) != 0 ||
		    opt_str(loc, "address", "location.address", 1024, &dummy, e) != 0)
			return -1;
		json_object_set_new(parts, "location", json_deep_copy(loc));
	} else if (strcmp(type, "template") == 0) {
		static const char *const tk[] = { "name", "language", "variables", "components", NULL };
		const char *name, *lang;
		if (!json_is_object(tpl))
			return send_fail(e, "validation_failed", "template", "'template' {\"name\",...} is required");
		if (check_keys(tpl, tk, "template.", e) != 0 ||
		    opt_str(tpl, "name", "template.name", 512, &name, e) != 0 ||
		    opt_str(tpl, "language", "template.language", 16, &lang, e) != 0)
			return -1;
		if (name == NULL)
			return send_fail(e, "validation_failed", "template.name", "'template.name' is required");
		json_t *vars = json_object_get(tpl, "variables"), *comps = json_object_get(tpl, "components");
		if (vars && !json_is_object(vars) && !json_is_array(vars))
			return send_fail(e, "validation_failed", "template.variables", "'template.variables' must be an object or an array");
		if (comps && !json_is_array(comps))
			return send_fail(e, "validation_failed", "template.components", "'template.components' must be an array");
		const char *vk;
		json_t *vv;
		size_t vi;
		if (json_is_array(vars)) {
			json_array_foreach(vars, vi, vv)
				if (!json_is_string(vv) && !json_is_number(vv))
					return send_fail(e, "validation_failed", "template.variables",
					    "template variables must be strings or numbers");
		} else if (json_is_object(vars)) {
			json_object_foreach(vars, vk, vv)
				if (!json_is_string(vv) && !json_is_number(vv))
					return send_fail(e, "validation_failed", "template.variables",
					    "template variable '%.64s' must be a string or a number", vk);
		}
		json_t *local = NULL;
		if (sr_template_get(app, rs, org, name, lang, &local) != 0)
			return send_fail(e, "internal", "template", "storage error");
		if (local) {
			/* msgd renders it: the provider gets plain text. */
			int r = api_render_template(json_string_value(json_object_get(local, "body")), vars,
			    &rendered, e);
			json_t *lg = json_object_get(local, "language");
			if (r == 0)
				json_object_set_new(parts, "template", json_pack("{s:s,s:O,s:b}", "name",
				    name, "language", lg, "local", 1));
			json_decref(local);
			if (r != 0)
				return -1;
			if (utf8_chars(rendered, strlen(rendered)) > TEXT_MAX_CHARS) {
				free(rendered);
				return send_fail(e, "validation_failed", "template", "the rendered text is longer than %d characters", TEXT_MAX_CHARS);
			}
			type = "text";
			text = rendered;
		} else {
			/* A provider template: only a type with templates sends one. */
			if (!(ch->ops->caps && ch->ops->caps->templates))
				return send_fail(e, "unsupported_by_channel", "template", "a %s channel has no "
				    "provider templates, and this organization has no local template '%.64s'",
				    ch->ops->type, name);
			if (lang == NULL && ch->ops->caps->template_language == NULL)
				return send_fail(e, "validation_failed", "template.language",
				    "'template.language' is required");
			if (api_send_template_approved(app, rs, ch, name, lang ? lang :
			    ch->ops->caps->template_language, vars, comps, e) != 0)
				return -1;
			json_t *t = json_pack("{s:s,s:s}", "name", name, "language", lang ? lang :
			    ch->ops->caps->template_language);
			if (vars)
				json_object_set(t, "variables", vars);
			if (comps)
				json_object_set(t, "components", comps);
			json_object_set_new(parts, "template", t);
		}
	} else if (strcmp(type, "interactive") == 0) {
		json_t *in = json_object_get(body, "interactive");
		if (!json_is_object(in) || !json_is_string(json_object_get(in, "type")) ||
		    !json_is_object(json_object_get(in, "action")))
			return send_fail(e, "validation_failed", "interactive",
			    "'interactive' must be an object with \"type\" and \"action\"");
		json_object_set_new(parts, "interactive", json_deep_copy(in));
	} else if (strcmp(type, "reaction") == 0) {
		static const char *const rk[] = { "message_id", "emoji", NULL };
		json_t *re = json_object_get(body, "reaction");
		if (!json_is_object(re))
			return send_fail(e, "validation_failed", "reaction", "'reaction' {\"message_id\",\"emoji\"} is required");
		if (check_keys(re, rk, "reaction.", e) != 0)
			return -1;
		json_t *emoji = json_object_get(re, "emoji");
		if (!json_is_string(emoji) || json_string_length(emoji) > 32)
			return send_fail(e, "validation_failed", "reaction.emoji", "'reaction.emoji' must be a string (\"\" removes)");
		if (resolve_ref(app, rs, org, json_object_get(re, "message_id"), ch->id, "reaction.message_id", ref,
		    sizeof(ref), e) != 0)
			return -1;
		json_t *mid = json_object_get(re, "message_id");
		json_object_set_new(parts, "reaction", json_pack("{s:O,s:s,s:O}", "message_id",
		    json_is_integer(mid) ? mid : json_null(), "provider_message_id", ref, "emoji", emoji));
	}

	json_t *rt = json_object_get(body, "reply_to");
	if (rt && !json_is_null(rt)) {
		if (resolve_ref(app, rs, org, rt, ch->id, "reply_to", ref, sizeof(ref), e) != 0)
			goto fail;
		m->reply_to = xstrdup(ref);
		priority = 0;
	}
	json_t *meta = json_object_get(body, "metadata");
	if (meta && !json_is_null(meta)) {
		if (!json_is_object(meta)) {
			send_fail(e, "validation_failed", "metadata", "'metadata' must be an object");
			goto fail;
		}
		json_object_set(parts, "metadata", meta);
	}
	if (opt_str(body, "client_id", "client_id", CLIENT_ID_MAX, &client_id, e) != 0)
		goto fail;
	if (client_id == NULL && idem && *idem) {
		if (strlen(idem) > CLIENT_ID_MAX) {
			send_fail(e, "validation_failed", "Idempotency-Key", "the Idempotency-Key header is too long");
			goto fail;
		}
		client_id = idem;
	}
	m->status = ST_QUEUED;
	m->due_ms = now;
	if (opt_str(body, "scheduled_at", "scheduled_at", 64, &sched, e) != 0)
		goto fail;
	if (sched) {
		int64_t at;
		if (parse_rfc3339(sched, &at) != 0) {
			send_fail(e, "validation_failed", "scheduled_at", "'scheduled_at' must be an RFC 3339 time");
			goto fail;
		}
		char norm[21];
		fmt_rfc3339(at, norm);
		json_object_set_new(parts, "scheduled_at", json_string(norm));
		if (at * 1000 > now) {
			m->status = ST_SCHEDULED;
			m->due_ms = at * 1000;
		}
	}

	if (api_send_quota_now(app, rs, org, ch, body, now, e) != 0)
		goto fail;

	/* The customer-service window: free-form text needs a recent inbound message. */
	int64_t last_in = 0;
	if (sr_last_inbound(app, rs, ch->id, to, &last_in) != 0) {
		send_fail(e, "internal", "to", "storage error");
		goto fail;
	}
	int window_h = caps ? caps->window_hours : 0;
	bool in_window = last_in > 0 && now - last_in < (window_h > 0 ? window_h * 3600000LL : WINDOW_MS);
	if (in_window)
		priority = 0;
	bool enforce = window_h > 0 && !json_is_false(json_object_get(ch->config, "enforce_window"));
	if (enforce && strcmp(type, "template") != 0 && !in_window) {
		send_fail(e, "window_closed", "to", "the contact's last message is older than %d hours (or there "
		    "is none): only a template may be sent", window_h);
		goto fail;
	}
	/* A recipient who blocked us or is not on the network (until they write again). */
	enum contact_status cs;
	int64_t opted_out_at;
	if (sr_contact_status(app, rs, ch->id, to, &cs, &opted_out_at) != 0) {
		send_fail(e, "internal", "to", "storage error");
		goto fail;
	}
	if (cs != CONTACT_ACTIVE) {
		send_fail(e, cs == CONTACT_BLOCKED ? "recipient_blocked" : "recipient_invalid", "to",
		    cs == CONTACT_BLOCKED ? "'%s' blocked this channel: nothing can be sent until they "
		    "write again" : "'%s' is not reachable on this channel (the provider said it does "
		    "not exist) until they write", to);
		goto fail;
	}
	/* Opted out (issue 14): refused, unless the contact wrote again since
	 * (the keyword itself opens no conversation) and the window is open. */
	if (opted_out_at > 0 && !(in_window && last_in > opted_out_at)) {
		send_fail(e, "recipient_opted_out", "to", "'%s' opted out of messages from this "
		    "organization (a keyword); only replies in an open conversation can be sent", to);
		goto fail;
	}

	m->channel_id = ch->id;
	m->direction = DIR_OUT;
	m->from = xstrdup(ch->name);
	m->to = xstrdup(to);
	m->contact_address = xstrdup(to);
	m->type = xstrdup(type);
	m->text = xstrdup_or_null(text);
	m->timestamp = now / 1000;
	m->client_id = xstrdup_or_null(client_id);
	m->priority = priority;
	if (api_send_content_rules(app, rs, org, body, m, now, e) != 0)
		goto fail;
	if (api_send_dry_run(ch, m, e) != 0)
		goto fail;
	m->raw = json_encode(body, NULL);
	free(rendered);
	return 0;
fail:
	free(rendered);
	return -1;
}

int
api_send_validate(struct app *app, int64_t org, const json_t *body, const char *idem,
    struct msg_in *m, struct send_error *e)
{
	return build_outbound(app, NULL, org, body, idem, 1, m, e);
}

int
api_batch_validate(const struct app *app, const json_t *body, struct send_error *e)
{
	static const char *const allowed[] = { "messages", NULL };
	json_t *list = json_object_get(body, "messages");

	if (check_keys(body, allowed, "", e) != 0)
		return -1;
	if (!json_is_array(list) || json_array_size(list) == 0 ||
	    json_array_size(list) > (size_t)app->cfg->batch_max)
		return send_fail(e, "validation_failed", "messages",
		    "'messages' must be an array of 1 to %d messages", app->cfg->batch_max);
	return 0;
}

void
reply_send_error(struct http_request *req, const struct send_error *e)
{
	if (strcmp(e->code, "internal") == 0)
		api_store_error(req);
	else
		http_reply_error(req, e->status, e->code, e->field, "%s", e->message);
}

struct send {
	struct store_op op;
	struct ingest_batch batch;
	struct app *app;
	int64_t org;
	struct http_request *req;   /* batch */
	api_send_done_fn done;      /* single send */
	void *done_arg;
	/* Batch: per request index, the batch record or an error. */
	bool is_batch;
	size_t nitems;
	int *rec;                   /* index into batch.msgs, -1 for an error */
	struct send_error *errs;
	/* After the commit: the stored messages, read on the reader pool. */
	struct store_read rd;
	json_t **msgs;              /* per batch record (one for a single send) */
	int read_rc;
};

static void
send_free(struct send *s)
{
	if (s->msgs)
		for (size_t i = 0; i < s->batch.nmsgs; i++)
			json_decref(s->msgs[i]);
	free(s->msgs);
	ingest_batch_free(&s->batch);
	free(s->rec);
	free(s->errs);
	free(s);
}

static json_t *
error_json(const struct send_error *e)
{
	return json_pack("{s:s,s:s,s:s}", "code", e->code, "message", e->message, "field", e->field);
}

/* The body of an error reply, as http_reply_error() writes it. */
static json_t *
error_reply(const char *code, const char *field, const char *message)
{
	char msg[512], f[128];

	snprintf(msg, sizeof(msg), "%s", message);
	utf8_sanitize(msg);
	json_t *err = json_pack("{s:s,s:s}", "code", code, "message", msg);
	if (field) {
		snprintf(f, sizeof(f), "%s", field);
		utf8_sanitize(f);
		json_object_set_new(err, "field", json_string(f));
	}
	return json_pack("{s:o}", "error", err);
}

static json_t *
store_error_reply(void)
{
	return error_reply("internal", NULL, "storage error; see the server log");
}

/* Reader thread: the committed messages as the API shows them. */
static void
stored_run(struct store *st, void *arg)
{
	struct send *s = arg;

	for (size_t i = 0; i < s->batch.nmsgs; i++)
		if (store_message_get(st, s->org, s->batch.msgs[i].id, &s->msgs[i]) != 0)
			s->read_rc = -1;
}

/* Loop: the answer. */
static void
stored_done(void *arg)
{
	struct send *s = arg;

	/* Only now: the answer shows the messages as committed (queued), not
	 * as the dispatcher already moved them on. */
	outbox_kick(s->app->outbox);
	if (!s->is_batch) {
		struct msg_in *m = &s->batch.msgs[0];
		if (s->read_rc != 0 || s->msgs[0] == NULL) {
			s->done(s->done_arg, 500, store_error_reply());
		} else {
			s->done(s->done_arg, m->duplicate ? 200 : 202, s->msgs[0]);
			s->msgs[0] = NULL;
		}
		send_free(s);
		return;
	}
	json_t *results = json_array();
	for (size_t i = 0; i < s->nitems; i++) {
		json_t *r = json_pack("{s:I}", "index", (json_int_t)i);
		if (s->rec[i] < 0) {
			json_object_set_new(r, "error", error_json(&s->errs[i]));
		} else {
			struct msg_in *m = &s->batch.msgs[s->rec[i]];
			if (s->msgs[s->rec[i]])
				json_object_set(r, "message", s->msgs[s->rec[i]]);
			if (m->duplicate)
				json_object_set_new(r, "duplicate", json_true());
		}
		json_array_append_new(results, r);
	}
	http_reply_json(s->req, 207, json_pack("{s:o}", "results", results));
	send_free(s);
}

static void
send_done(struct store_op *op, void *arg)
{
	struct send *s = arg;
	struct app *app = s->app;

	if (op->result != 0) {
		log_error("send commit failed", "req", s->req ? http_request_id(s->req) : NULL,
		    "error", op->errmsg);
		if (op->err == STORE_NOTFOUND && s->is_batch)   /* a file swept since the check */
			http_reply_error(s->req, 422, "file_not_found", "media.file_id", "%s", op->errmsg);
		else if (op->err == STORE_NOTFOUND)
			s->done(s->done_arg, 422, error_reply("file_not_found", "media.file_id", op->errmsg));
		else if (s->is_batch)
			api_op_error(s->req, op);
		else if (op->fault != STORE_FAULT_NONE)
			s->done(s->done_arg, 503, error_reply("storage_unavailable", NULL,
			    "storage is failing; the message was not queued; retry later"));
		else
			s->done(s->done_arg, 500, store_error_reply());
		send_free(s);
		return;
	}
	s->msgs = xcalloc(s->batch.nmsgs, sizeof(*s->msgs));
	s->rd = (struct store_read){ .run = stored_run, .done = stored_done, .arg = s };
	store_read_submit(app->store, &s->rd);
}

static void
submit_send(struct app *app, struct send *s)
{
	s->op = (struct store_op){
		.kind = STORE_OP_INGEST,
		.org_id = s->org,           /* a file it sends is this organization's */
		.u.ingest = &s->batch,
		.done = send_done,
		.arg = s,
	};
	if (s->req)
		http_defer(s->req);
	store_submit(app->store, &s->op);
}

/*
 * A send being validated, in rounds (api_send_reads.c): each round runs on
 * the loop with the reads fetched so far; one that lacked some fetches
 * them on the reader pool and runs again.
 */
#define SEND_ROUNDS_MAX 8

struct send_try {
	struct app *app;
	int64_t org;                /* the caller's organization */
	struct send_reads *rs;
	int rounds;
	json_t *body;               /* a reference of ours */
	char *idem;                 /* single send: the Idempotency-Key */
	api_send_done_fn done;      /* single send */
	void *done_arg;
	struct http_request *req;   /* batch */
	bool *answered;             /* single send, first round: set when done() ran */
	bool *alive;                /* single send, first round: cleared when t is freed */
};

static void
try_answer(struct send_try *t, int status, json_t *reply)
{
	if (t->answered)
		*t->answered = true;
	t->done(t->done_arg, status, reply);
}

static void
try_free(struct send_try *t)
{
	if (t->alive)
		*t->alive = false;
	send_reads_free(t->rs);
	json_decref(t->body);
	free(t->idem);
	free(t);
}

/* Another round needed: fetch what this one lacked. true when it did. */
static bool
try_again(struct send_try *t, void (*round)(void *arg))
{
	if (send_reads_missing(t->rs) == 0 || t->rounds >= SEND_ROUNDS_MAX)
		return false;
	t->rounds++;
	send_reads_fetch(t->app, t->rs, round, t);
	return true;
}

static void single_round(void *arg);

/* One round of a single send: true while t lives on (a fetch in flight). */
static bool
single_step(struct send_try *t)
{
	struct app *app = t->app;
	struct send_error e = { 0 };
	json_t *orig = NULL;
	int orig_rc = 0;

	send_reads_round(t->rs);
	/* A repeat returns the original before anything is checked again: the
	 * channel, its window or a template may have changed since. */
	const char *key = json_string_value(json_object_get(t->body, "client_id"));
	if (key == NULL)
		key = t->idem;
	if (key && *key)
		orig_rc = sr_message_by_client_id(app, t->rs, t->org, key, &orig);
	struct send *s = xcalloc(1, sizeof(*s));
	s->app = app;
	s->org = t->org;
	s->done = t->done;
	s->done_arg = t->done_arg;
	struct msg_in *m = ingest_batch_add_msg(&s->batch);
	int rc = build_outbound(app, t->rs, t->org, t->body, t->idem, 1, m, &e);
	if (try_again(t, single_round)) {
		json_decref(orig);
		send_free(s);
		return true;
	}
	if (send_reads_missing(t->rs) != 0 || orig_rc != 0) {
		json_decref(orig);
		send_free(s);
		try_answer(t, 500, store_error_reply());
	} else if (orig) {
		send_free(s);
		try_answer(t, 200, orig);
	} else if (rc != 0) {
		send_free(s);
		if (strcmp(e.code, "internal") == 0)
			try_answer(t, 500, store_error_reply());
		else
			try_answer(t, e.status, error_reply(e.code, e.field, e.message));
	} else {
		submit_send(app, s);
	}
	try_free(t);
	return false;
}

static void
single_round(void *arg)
{
	single_step(arg);
}

bool
api_send_submit(struct app *app, int64_t org, const json_t *body, const char *idem_key,
    api_send_done_fn done, void *arg)
{
	struct send_try *t = xcalloc(1, sizeof(*t));
	bool answered = false, alive = true;

	t->app = app;
	t->org = org;
	t->rs = send_reads_new(org);
	t->body = json_incref((json_t *)body);
	t->idem = xstrdup_or_null(idem_key);
	t->done = done;
	t->done_arg = arg;
	/* The first round reads nothing: when it fails validation at once,
	 * done() runs before this returns. */
	t->answered = &answered;
	t->alive = &alive;
	/* A fetch may complete inline (no reader pool): t may be gone here. */
	if (single_step(t) && alive)
		t->answered = t->alive = NULL;
	return !answered;
}
static void
http_send_done(void *arg, int status, json_t *reply)
{
	http_reply_json(arg, status, reply);
}

void
api_messages_send(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	json_t *body = api_body_object(req);

	if (body == NULL)
		return;
	if (api_send_submit(app, who->org_id, body, http_header(req, "Idempotency-Key"), http_send_done,
	    req))
		http_defer(req);
	json_decref(body);
}

static void batch_round(void *arg);

/* One round of a batch: every item validated with the reads so far. */
static void
batch_round(void *arg)
{
	struct send_try *t = arg;
	struct app *app = t->app;
	json_t *list = json_object_get(t->body, "messages"), *item;
	size_t i;

	send_reads_round(t->rs);
	struct send *s = xcalloc(1, sizeof(*s));
	s->app = app;
	s->org = t->org;
	s->req = t->req;
	s->is_batch = true;
	s->nitems = json_array_size(list);
	s->rec = xcalloc(s->nitems, sizeof(int));
	s->errs = xcalloc(s->nitems, sizeof(struct send_error));
	/* A clock jump is noticed before the first item is stamped, not
	 * between two (items before it would miss the shift). */
	if (app->outbox)
		outbox_now(app->outbox);
	bool internal = false;
	json_array_foreach(list, i, item) {
		struct msg_in *m = ingest_batch_add_msg(&s->batch);
		if (build_outbound(app, t->rs, t->org, item, NULL, 1, m, &s->errs[i]) == 0) {
			s->rec[i] = (int)s->batch.nmsgs - 1;
			continue;
		}
		internal |= strcmp(s->errs[i].code, "internal") == 0;
		/* Drop the half-built record (it is the last one). */
		msg_in_clear(m);
		s->batch.nmsgs--;
		s->rec[i] = -1;
	}
	if (try_again(t, batch_round)) {
		send_free(s);
		return;
	}
	if (internal || send_reads_missing(t->rs) != 0) {
		api_store_error(t->req);
		send_free(s);
	} else if (s->batch.nmsgs == 0) {
		/* Nothing valid: answer now, nothing to commit. */
		json_t *results = json_array();
		for (size_t k = 0; k < s->nitems; k++)
			json_array_append_new(results, json_pack("{s:I,s:o}", "index", (json_int_t)k,
			    "error", error_json(&s->errs[k])));
		http_reply_json(t->req, 207, json_pack("{s:o}", "results", results));
		send_free(s);
	} else {
		submit_send(app, s);
	}
	try_free(t);
}

void
api_messages_batch(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	struct send_error e = { 0 };
	json_t *body = api_body_object(req);

	if (body == NULL)
		return;
	if (api_batch_validate(app, body, &e) != 0) {
		json_decref(body);
		reply_send_error(req, &e);
		return;
	}
	struct send_try *t = xcalloc(1, sizeof(*t));
	t->app = app;
	t->org = who->org_id;
	t->rs = send_reads_new(who->org_id);
	t->body = body;
	t->req = req;
	/* Replies made before this returns go out at once (http.c). */
	http_defer(req);
	batch_round(t);
}

/* --- cancel --- */

struct cancel {
	struct store_op op;
	struct http_request *req;
};

static void
cancel_done(struct store_op *op, void *arg)
{
	struct cancel *c = arg;

	if (op->result == 0)
		http_reply_json(c->req, 200, op->u.cancel.message);
	else if (op->err == STORE_CONFLICT)
		http_reply_error(c->req, 409, "conflict", NULL,
		    "the message is being sent or was sent; it can no longer be cancelled");
	else if (op->err == STORE_NOTFOUND)
		http_reply_error(c->req, 404, "not_found", NULL, "no such message");
	else
		api_store_error(c->req);
	free(c);
}

void
api_messages_cancel(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	int64_t id;

	if (api_path_id(req, p[0], &id) != 0)
		return;
	struct cancel *c = xcalloc(1, sizeof(*c));
	c->req = req;
	c->op = (struct store_op){
		.kind = STORE_OP_CANCEL,
		.org_id = who->org_id,
		.u.cancel = { .message_id = id },
		.done = cancel_done,
		.arg = c,
	};
	http_defer(req);
	store_submit(app->store, &c->op);
}

/* --- mark a conversation read --- */

struct conv_read {
	struct store_op op;
	struct app *app;
	struct http_request *req;
};

/* The conversation after the commit (unread_count 0). */
static void
run_conv_get(struct store *st, void *arg, struct api_reply *out)
{
	int64_t *id = arg;  /* [0] the organization, [1] the conversation */
	json_t *conv = NULL;

	if (store_conversation_get(st, id[0], id[1], &conv) == 0 && conv) {
		out->status = 200;
		out->json = conv;
	}
}

static void
conv_read_done(struct store_op *op, void *arg)
{
	struct conv_read *c = arg;

	if (op->result != 0) {
		if (op->err == STORE_NOTFOUND)
			http_reply_error(c->req, 404, "not_found", NULL, "no such conversation");
		else
			api_store_error(c->req);
		free(c);
		return;
	}
	outbox_send_receipt(c->app->outbox, op->u.conv_read.channel_id,
	    op->u.conv_read.last_inbound_provider_id);
	int64_t *id = xcalloc(2, sizeof(*id));
	id[0] = op->org_id;
	id[1] = op->u.conv_read.conversation_id;
	api_read_async(c->app, c->req, run_conv_get, id, free);
	free(c);
}

void
api_conversation_read(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	int64_t id;

	if (api_path_id(req, p[0], &id) != 0)
		return;
	struct conv_read *c = xcalloc(1, sizeof(*c));
	c->app = app;
	c->req = req;
	c->op = (struct store_op){
		.kind = STORE_OP_CONV_READ,
		.org_id = who->org_id,
		.u.conv_read = { .conversation_id = id },
		.done = conv_read_done,
		.arg = c,
	};
	http_defer(req);
	store_submit(app->store, &c->op);
}
