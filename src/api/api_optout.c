/*
 * api_optout.c - opt-out keywords on the way in (issue 14).
 *
 * Before an inbound batch goes to the store (a provider webhook, the
 * sandbox, a channel's own commit: polled updates), the loop tags each new
 * inbound text that is exactly one of its organization's keywords
 * (core/optout.h): msg_in.optout 1 (opt out) or -1 (opt in again). No read
 * is needed: the keywords live in memory with the organization. When a
 * confirmation text is configured, an outbound reply (priority 0, the
 * conversation's) is added to the batch, naming the message (optout_reply):
 * the store keeps it only when the keyword changed the contact, so a
 * repeated STOP gets no second confirmation. The store applies both in the
 * message's transaction (store/optout.c).
 */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../channels/channel.h"
#include "../outbox/outbox.h"
#include "../util/util.h"

/* The confirmation to the contact who wrote m (already tagged). */
static void
add_reply(struct ingest_batch *b, size_t i, const struct channel *ch, const char *text)
{
	struct msg_in *r = ingest_batch_add_msg(b);
	struct msg_in *m = &b->msgs[i];     /* after the add: the array may have moved */
	int64_t now = now_ms();

	r->channel_id = m->channel_id;
	r->direction = DIR_OUT;
	r->from = xstrdup(ch->name);
	r->to = xstrdup(m->contact_address);
	r->contact_address = xstrdup(m->contact_address);
	r->type = xstrdup("text");
	r->text = xstrdup(text);
	r->timestamp = now / 1000;
	r->status = ST_QUEUED;
	r->due_ms = now;
	r->priority = 0;
	r->optout_reply = i + 1;
	json_object_set_new(r->parts, "optout_confirmation", json_true());
	json_t *raw = json_pack("{s:s,s:s,s:s,s:s}", "channel", ch->name, "to", m->contact_address,
	    "type", "text", "text", text);
	r->raw = json_encode(raw, NULL);
	json_decref(raw);
}

void
api_optout_tag(struct app *app, struct ingest_batch *b)
{
	size_t n = b->nmsgs;   /* replies added below are not looked at */

	for (size_t i = 0; i < n; i++) {
		struct msg_in *m = &b->msgs[i];
		const char *kw;
		if (m->direction != DIR_IN || m->action != MSG_NEW || m->text == NULL ||
		    m->contact_address == NULL || m->type == NULL || strcmp(m->type, "text") != 0 ||
		    json_object_get(m->parts, "group_id") != NULL)
			continue;  /* a group's member speaks for nobody else */
		struct channel *ch = registry_find_id(app->reg, m->channel_id);
		const struct api_org *o = ch ? api_org_by_id(app, ch->org_id) : NULL;
		if (o == NULL)
			continue;
		int r = optout_match(&o->settings.optout, m->text, &kw);
		if (r == 0)
			continue;
		m->optout = r;
		m->optout_keyword = xstrdup(kw);
		const char *text = r > 0 ? o->settings.optout.confirm : o->settings.optout.in_confirm;
		if (text[0] && (ch->ops->send_local || ch->ops->send_prepare))
			add_reply(b, i, ch, text);
	}
}

void
api_optout_committed(struct app *app, const struct ingest_batch *b)
{
	for (size_t i = 0; i < b->nmsgs; i++)
		if (b->msgs[i].optout_reply && !b->msgs[i].duplicate && b->msgs[i].id != 0) {
			if (app->outbox)
				outbox_kick(app->outbox);
			return;
		}
}
