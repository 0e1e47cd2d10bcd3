/*
 * whatsapp_inbound.c - a WhatsApp Cloud webhook body into msgd's records.
 *
 * whatsapp_cloud_normalize() turns messages[] into msg_in, statuses[] into
 * status_in and value-level errors[] into a channel.error event. It is tolerant on purpose: Meta retries every non-2xx answer, so a
 * part it cannot read (wrong type, unknown field, unconfigured number) is
 * logged and skipped, and a message type it does not know becomes "unknown"
 * with its raw JSON kept. Text is byte-exact: strings are copied by their
 * JSON length and NUL bytes (from \u0000) are dropped, never truncating.
 *
 * Sender ids that are phone numbers are normalized to their digits
 * (address.h), as every recipient of a send is. A reaction's target is
 * kept as provider_message_id; the store adds msgd's id of it.
 */
#include "whatsapp_cloud.h"

#include <stdlib.h>

#include "../log/log.h"
#include "address.h"

#define WA_TS_MAX 253402300799LL /* 9999-12-31T23:59:59Z */

/* JSON readers (more in whatsapp_cloud.h; the shared ones are util.h's json_*) */

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

static int64_t
time_or_now(const json_t *v, const char *id)
{
	int64_t t;

	if (json_epoch(v, WA_TS_MAX, &t) == 0)
		return t;
	log_warn("webhook record has no usable timestamp; using time of receipt", "id", id);
	return now_ms() / 1000;
}

/* Message types. Each returns the normalized type and fills text/parts. */

static const char *const media_keys[] = {
	"id", "mime_type", "sha256", "filename", "url", "voice", "animated", NULL,
};
static const char *const location_keys[] = {
	"latitude", "longitude", "name", "address", "url", NULL,
};
static const char *const reaction_keys[] = { "emoji", NULL };
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
	m->text = json_dup_text(get(body, "body"));
	return "text";
}

static const char *
norm_media(struct msg_in *m, const char *type, const json_t *body)
{
	if (json_is_object(body)) {
		set_part(m, "media", pick(body, media_keys));
		m->text = json_dup_text(get(body, "caption"));
		/* Fetched after the webhook is answered (whatsapp_media.c). */
		if (is_id(get(body, "id")))
			m->media_source = json_pack("{s:O,s:O*}", "id", get(body, "id"),
			    "filename", json_is_string(get(body, "filename")) ? get(body, "filename") : NULL);
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
	const json_t *target = get(body, "message_id");
	json_t *part;

	if (!json_is_object(body))
		return type;
	/* An emoji of "" means the reaction was removed: keep it as is. The
	 * target is the provider's id here; the store adds msgd's as
	 * message_id (core/model.h). */
	part = pick(body, reaction_keys);
	if (is_id(target))
		json_object_set_new(part, "provider_message_id", json_deep_copy(target));
	set_part(m, "reaction", part);
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
	if (json_str_eq(itype, "button_reply") || json_str_eq(itype, "list_reply")) {
		const json_t *r = get(body, json_string_value(itype));
		part = pick(r, reply_keys);
		m->text = json_dup_text(get(r, "title"));
	} else if (json_str_eq(itype, "nfm_reply")) {
		const json_t *r = get(body, "nfm_reply");
		part = pick(r, nfm_keys);
		if (get(r, "response_json"))
			json_object_set_new(part, "response", nfm_response(get(r, "response_json")));
		m->text = json_dup_text(get(r, "body"));
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
		m->text = json_dup_text(get(body, "text"));
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
		m->text = json_dup_text(t);
	return type;
}

static const char *
norm_system(struct msg_in *m, const char *type, const json_t *body)
{
	if (json_is_object(body)) {
		set_part(m, "system", json_deep_copy(body));
		m->text = json_dup_text(get(body, "body"));
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
	/* The store changes the original in place (model.h, MSG_EDIT). */
	if (is_id(get(body, "original_message_id"))) {
		m->action = MSG_EDIT;
		m->target = json_dup_text(get(body, "original_message_id"));
	}
	/* The new content: a text body, or the caption of edited media. */
	if (json_is_string(get(get(inner, "text"), "body")))
		m->text = json_dup_text(get(get(inner, "text"), "body"));
	else if (json_cstr(itype))
		m->text = json_dup_text(get(get(inner, json_cstr(itype)), "caption"));
	return type;
}

static const char *
norm_revoke(struct msg_in *m, const char *type, const json_t *body)
{
	if (json_is_object(body))
		set_part(m, "revoke", pick(body, original_keys));
	if (is_id(get(body, "original_message_id"))) {
		m->action = MSG_DELETE;
		m->target = json_dup_text(get(body, "original_message_id"));
	}
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
		if (json_str_eq(t, wa_kinds[i].type)) {
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

/*
 * One message. echo: one of message_echoes[] (the smb_message_echoes field:
 * the business wrote from the WhatsApp Business app on the same number),
 * stored as outbound and sent, never queued; "to" is the customer.
 */
static void
add_message(struct ingest_batch *out, int64_t channel_id, const json_t *value, const json_t *msg,
    bool echo)
{
	const json_t *id = get(msg, "id"), *from = get(msg, "from");
	const json_t *meta = get(value, "metadata"), *group = get(msg, "group_id");
	const json_t *ctx = get(msg, "context"), *to;

	if (!json_is_object(msg) || !is_id(id) || !is_id(from) || (echo && !is_id(get(msg, "to")))) {
		log_warn("skipping webhook message without id, from or to", "id", json_cstr(id));
		return;
	}
	struct msg_in *m = ingest_batch_add_msg(out);
	m->channel_id = channel_id;
	m->direction = echo ? DIR_OUT : DIR_IN;
	m->echo = echo;
	m->provider_message_id = json_dup_text(id);
	if (echo) {
		char *raw_to = json_dup_text(get(msg, "to"));
		m->to = phone_normalize_or_dup(raw_to);
		free(raw_to);
		m->from = json_dup_text(from);
		m->contact_address = xstrdup(m->to);
		m->timestamp = time_or_now(get(msg, "timestamp"), m->provider_message_id);
		if (is_id(get(ctx, "id")))
			m->reply_to = json_dup_text(get(ctx, "id"));
		norm_type(m, msg);
		m->raw = json_encode(msg, NULL);
		if (m->raw == NULL)
			m->raw = xstrdup("{}");
		return;
	}
	/* WhatsApp sends digits; a formatted number still names one contact. */
	char *raw_from = json_dup_text(from);
	m->from = phone_normalize_or_dup(raw_from);
	free(raw_from);
	to = get(meta, "display_phone_number");
	m->to = json_dup_text(is_id(to) ? to : get(meta, "phone_number_id"));
	const json_t *name = contact_name(get(value, "contacts"), from);
	if (is_id(group)) {
		/* The conversation is the group; the sender's name stays on the message. */
		m->contact_address = json_dup_text(group);
		set_part(m, "group_id", json_string(m->contact_address));
		if (json_is_string(name))
			set_part(m, "sender_name", json_deep_copy(name));
	} else {
		m->contact_address = xstrdup(m->from);
		m->contact_name = json_dup_text(name);
	}
	m->timestamp = time_or_now(get(msg, "timestamp"), m->provider_message_id);

	if (is_id(get(ctx, "id")))
		m->reply_to = json_dup_text(get(ctx, "id"));
	if (json_is_true(get(ctx, "forwarded")) || json_is_true(get(ctx, "frequently_forwarded")))
		set_part(m, "forwarded", json_true());
	if (json_is_true(get(ctx, "frequently_forwarded")))
		set_part(m, "frequently_forwarded", json_true());
	if (json_is_object(get(msg, "referral")))
		set_part(m, "referral", json_deep_copy(get(msg, "referral")));
	if (json_is_array(get(msg, "errors")))
		set_part(m, "errors", json_deep_copy(get(msg, "errors")));

	norm_type(m, msg);
	m->raw = json_encode(msg, NULL);
	if (m->raw == NULL)
		m->raw = xstrdup("{}");
}

static void
add_status(struct ingest_batch *out, int64_t channel_id, const json_t *s)
{
	const json_t *id = get(s, "id"), *word = get(s, "status");
	enum msg_status st = status_parse(json_cstr(word));

	if (!is_id(id) || json_cstr(word) == NULL) {
		log_warn("skipping webhook status without id or status", "id", json_cstr(id));
		return;
	}
	if (st != ST_SENT && st != ST_DELIVERED && st != ST_READ && st != ST_FAILED) {
		log_info("skipping webhook status with unknown word", "status", json_cstr(word));
		return;
	}
	struct status_in *r = ingest_batch_add_status(out);
	r->channel_id = channel_id;
	r->provider_message_id = json_dup_text(id);
	r->status = st;
	r->provider_status = json_dup_text(word);
	r->recipient = json_dup_text(get(s, "recipient_id"));
	r->timestamp = time_or_now(get(s, "timestamp"), r->provider_message_id);

	const json_t *e = json_array_get(get(s, "errors"), 0);
	if (json_is_object(e)) {
		const json_t *detail = get(get(e, "error_data"), "details");
		r->error_code = get_code(get(e, "code"));
		r->error_title = json_dup_text(get(e, "title"));
		r->error_detail = json_dup_text(json_is_string(detail) ? detail : get(e, "message"));
	}
	r->raw = json_encode(s, NULL);
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
	if (!json_str_eq(field, "messages") && !json_str_eq(field, "smb_message_echoes")) {
		/* e.g. message_template_status_update: not a message, not ours to store. */
		log_info("skipping webhook change", "field", json_cstr(field));
		return;
	}
	if (!json_is_object(value) || !is_id(pnid) || json_cstr(pnid) == NULL) {
		log_warn("skipping webhook change without value.metadata.phone_number_id");
		return;
	}
	if ((chid = resolve(ctx, json_cstr(pnid))) == 0) {
		log_info("skipping change for unconfigured number", "phone_number_id", json_cstr(pnid));
		return;
	}

	if ((list = get(value, "messages")) && !json_is_array(list))
		log_warn("skipping webhook messages that are not an array");
	json_array_foreach(list, i, v)
		add_message(out, chid, value, v, false);
	if ((list = get(value, "message_echoes")) && !json_is_array(list))
		log_warn("skipping webhook message echoes that are not an array");
	json_array_foreach(list, i, v)
		add_message(out, chid, value, v, true);

	if ((list = get(value, "statuses")) && !json_is_array(list))
		log_warn("skipping webhook statuses that are not an array");
	json_array_foreach(list, i, v) {
		if (json_is_object(v))
			add_status(out, chid, v);
		else
			log_warn("skipping webhook status that is not an object");
	}

	if (json_is_array(list = get(value, "errors")) && json_array_size(list) > 0) {
		log_warn("provider reported channel errors", "phone_number_id", json_cstr(pnid));
		add_errors_event(out, chid, list);
	}
}

int
whatsapp_cloud_normalize(const json_t *root,
    int64_t (*resolve)(void *ctx, const char *phone_number_id), void *ctx,
    struct ingest_batch *out, struct channel_error *err)
{
	const json_t *entries = get(root, "entry"), *entry, *change;
	size_t i, j;

	if (!json_str_eq(get(root, "object"), "whatsapp_business_account")) {
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
