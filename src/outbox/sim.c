/*
 * sim.c - the sandbox's far end: after the sandbox channel "accepts" a
 * message, report it sent, delivered and read, then answer with an echo,
 * one step every SIM_STEP_MS, through the store like a provider's webhook.
 */
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "../channels/channel.h"
#include "../util/util.h"
#include "outbox_int.h"

#define SIM_STEP_MS 250             /* time between simulated statuses */

struct sim_op {
	struct store_op op;
	struct ingest_batch batch;
	struct outbox *ob;
};

struct sim {
	struct outbox *ob;
	struct sim *prev, *next;
	struct event *ev;
	int64_t channel_id;
	char *provider_id;
	char *to;
	char *text;
	int step;
};

static void
sim_op_done(struct store_op *op, void *arg)
{
	struct sim_op *so = arg;
	so->ob->ops_outstanding--;
	ingest_batch_free(&so->batch);
	free(so);
}

void
sim_free(struct sim *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		s->ob->sims = s->next;
	if (s->next)
		s->next->prev = s->prev;
	event_free(s->ev);
	free(s->provider_id);
	free(s->to);
	free(s->text);
	free(s);
}

static void
on_sim(evutil_socket_t fd, short what, void *arg)
{
	static const enum msg_status steps[] = { ST_SENT, ST_DELIVERED, ST_READ };
	static const char *const words[] = { "sent", "delivered", "read" };
	struct sim *s = arg;
	struct outbox *ob = s->ob;
	struct sim_op *so = xcalloc(1, sizeof(*so));
	int64_t now = now_ms();

	so->ob = ob;
	if (s->step < 3) {
		struct status_in *st = ingest_batch_add_status(&so->batch);
		st->channel_id = s->channel_id;
		st->provider_message_id = xstrdup(s->provider_id);
		st->status = steps[s->step];
		st->provider_status = xstrdup(words[s->step]);
		st->recipient = xstrdup(s->to);
		st->timestamp = now / 1000;
		st->raw = xasprintf("{\"simulated\":\"%s\"}", words[s->step]);
	} else {
		/* The simulated contact answers. */
		struct channel *ch = registry_find_id(ob->reg, s->channel_id);
		unsigned char r[12];
		char hex[25];
		random_bytes(r, sizeof(r));
		hex_encode(r, sizeof(r), hex);
		struct msg_in *m = ingest_batch_add_msg(&so->batch);
		m->channel_id = s->channel_id;
		m->direction = DIR_IN;
		m->provider_message_id = xasprintf("sbx.%s", hex);
		m->from = xstrdup(s->to);
		m->to = xstrdup(ch ? ch->name : "sandbox");
		m->contact_address = xstrdup(s->to);
		m->type = xstrdup("text");
		m->text = xasprintf("echo: %s", s->text ? s->text : "(no text)");
		m->timestamp = now / 1000;
		m->raw = xstrdup("{\"simulated\":\"echo\"}");
	}
	so->op = (struct store_op){ .kind = STORE_OP_INGEST, .u.ingest = &so->batch, .done = sim_op_done, .arg = so };
	ob->ops_outstanding++;
	store_submit(ob->st, &so->op);
	if (++s->step > 3 || ob->draining) {
		sim_free(s);
		return;
	}
	struct timeval tv = { .tv_sec = 0, .tv_usec = SIM_STEP_MS * 1000 };
	event_add(s->ev, &tv);
}

void
sim_after_send(struct outbox *ob, struct attempt *a, const char *provider_id)
{
	struct sim *s = xcalloc(1, sizeof(*s));

	s->ob = ob;
	s->channel_id = a->channel_id;
	s->provider_id = xstrdup(provider_id);
	s->to = xstrdup_or_null(a->recipient);
	s->text = xstrdup_or_null(json_string_value(json_object_get(a->message, "text")));
	s->ev = evtimer_new(ob->base, on_sim, s);
	s->next = ob->sims;
	if (ob->sims)
		ob->sims->prev = s;
	ob->sims = s;
	/* After the ACCEPTED result is committed: one step later. */
	struct timeval tv = { .tv_sec = 0, .tv_usec = SIM_STEP_MS * 1000 };
	event_add(s->ev, &tv);
}
