/*
 * api_send_caps.c - what a channel's type can do, checked before a send is
 * stored (channel.h, contract v2): the message type, the text's length,
 * the type-specific options, replies; then the adapter's own request
 * builder, run dry. Refusals are 422 unsupported_by_channel (naming the
 * capability) or validation_failed (naming the field the adapter named).
 */
#include "api.h"
#include "api_send.h"

#include <stdlib.h>
#include <string.h>

#include "../channels/channel.h"
#include "../util/util.h"

/* Fields only some types take (channel_caps.send_options), passed through as given. */
static const char *const send_options[] = { "parse_mode", "buttons", "reply_markup", NULL };

int
api_send_caps_check(const struct channel *ch, const json_t *body, const char *type,
    const char *text, json_t *parts, struct send_error *e)
{
	const struct channel_caps *caps = ch->ops->caps;

	if (strcmp(type, "template") != 0 && !channel_can_send_type(ch->ops, type))
		return send_fail(e, "unsupported_by_channel", "type", "a %s channel cannot send %s "
		    "messages", ch->ops->type, type);
	if (text && caps && caps->max_text_len && utf8_chars(text, strlen(text)) > caps->max_text_len)
		return send_fail(e, "unsupported_by_channel", "text", "a %s channel sends at most %zu "
		    "characters of text (max_text_length)", ch->ops->type, caps->max_text_len);
	for (const char *const *o = send_options; *o; o++) {
		json_t *v = json_object_get(body, *o);
		bool takes = false;
		if (v == NULL || json_is_null(v))
			continue;
		for (const char *const *t = caps ? caps->send_options : NULL; t && *t; t++)
			takes |= strcmp(*t, *o) == 0;
		if (!takes)
			return send_fail(e, "unsupported_by_channel", *o, "a %s channel does not take "
			    "'%s'", ch->ops->type, *o);
		json_object_set(parts, *o, v);  /* the adapter checks it (the dry run) */
	}
	json_t *rt = json_object_get(body, "reply_to");
	if (rt && !json_is_null(rt) && !(caps && caps->replies))
		return send_fail(e, "unsupported_by_channel", "reply_to", "a %s channel cannot send "
		    "replies", ch->ops->type);
	return 0;
}

/*
 * The adapter builds the provider's request for the message as it will be
 * stored (send_prepare() is pure: no I/O), and the request is dropped: what
 * it could never send (a caption over Telegram's 1024 characters, a
 * malformed inline keyboard) is refused now, 422 naming the field, instead
 * of failing after it was queued.
 */
int
api_send_dry_run(struct channel *ch, const struct msg_in *m, struct send_error *e)
{
	struct send_request req = { 0 };
	struct channel_error ce = { 0 };
	json_t *doc;
	int rc = 0;

	if (ch->ops->send_prepare == NULL)
		return 0;
	doc = json_deep_copy(m->parts);
	json_object_set_new(doc, "channel", json_string(ch->name));
	json_object_set_new(doc, "direction", json_string("out"));
	json_object_set_new(doc, "to", json_string(m->to));
	json_object_set_new(doc, "type", json_string(m->type));
	json_object_set_new(doc, "text", m->text ? json_string(m->text) : json_null());
	json_object_set_new(doc, "reply_to", m->reply_to ?
	    json_pack("{s:s,s:n}", "provider_message_id", m->reply_to, "message_id") : json_null());
	/* A stored file: as the outbox hands it over (uploaded, on disk). */
	json_t *media = json_object_get(doc, "media");
	if (json_is_string(json_object_get(media, "file_id"))) {
		json_object_set_new(media, "path", json_string("(dry run)"));
		json_object_set_new(media, "provider_media_id", json_string("dry-run"));
	}
	if (ch->ops->send_prepare(ch, doc, &req, &ce) != 0)
		rc = send_fail(e, "validation_failed", ce.field[0] ? ce.field : "body", "%s",
		    ce.message[0] ? ce.message : "this channel cannot send the message");
	send_request_free(&req);
	json_decref(doc);
	return rc;
}
