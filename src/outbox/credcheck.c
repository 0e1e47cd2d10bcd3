/*
 * credcheck.c - credential checks in the background.
 *
 * After a channel is created or its config changes, one request built by
 * the adapter (check_prepare) goes out through the outbox's httpc, on the
 * loop; the API has already answered. The answer (check_classify) is kept
 * per channel with the time it came, and handed to the outbox, which pauses
 * a channel whose credentials were refused. Each check carries a
 * generation: a channel changed again while its check was under way
 * ignores the older answer.
 */
#include "outbox.h"

#include <stdlib.h>
#include <string.h>

#include "../channels/channel.h"
#include "../httpc/httpc.h"
#include "../util/util.h"

#define CHECK_TIMEOUT_MS 10000

struct cred_entry {
	int64_t channel_id;
	struct cred_entry *next;
	uint64_t gen;                /* of the newest check started */
	bool checking;
	bool have;                   /* res and checked_ms hold an answer */
	struct check_result res;
	int64_t checked_ms;
};

struct cred_req {
	struct credcheck *cc;
	int64_t channel_id;
	uint64_t gen;
	void (*classify)(const struct send_response *, struct check_result *);
};

struct credcheck {
	struct httpc *hc;
	credcheck_fn fn;
	void *arg;
	struct cred_entry *entries;
	uint64_t gen;
	bool stopping;
};

struct credcheck *
credcheck_new(struct httpc *hc, credcheck_fn fn, void *arg)
{
	struct credcheck *cc = xcalloc(1, sizeof(*cc));

	cc->hc = hc;
	cc->fn = fn;
	cc->arg = arg;
	return cc;
}

static struct cred_entry *
entry_find(struct credcheck *cc, int64_t channel_id)
{
	for (struct cred_entry *e = cc->entries; e; e = e->next)
		if (e->channel_id == channel_id)
			return e;
	return NULL;
}

static void
on_check_done(void *arg, const struct send_response *resp)
{
	struct cred_req *r = arg;
	struct credcheck *cc = r->cc;
	struct cred_entry *e;
	struct check_result res;

	if (cc->stopping || (e = entry_find(cc, r->channel_id)) == NULL || e->gen != r->gen) {
		free(r);  /* shutting down, channel gone, or changed since */
		return;
	}
	r->classify(resp, &res);
	e->checking = false;
	e->have = true;
	e->res = res;
	e->checked_ms = now_ms();
	cc->fn(cc->arg, r->channel_id, &res);
	free(r);
}

void
credcheck_start(struct credcheck *cc, struct channel *ch)
{
	struct send_request req = { 0 };
	struct cred_entry *e;

	if (ch->ops->check_prepare == NULL || ch->ops->check_classify == NULL)
		return;
	if ((e = entry_find(cc, ch->id)) == NULL) {
		e = xcalloc(1, sizeof(*e));
		e->channel_id = ch->id;
		e->next = cc->entries;
		cc->entries = e;
	}
	e->gen = ++cc->gen;
	e->checking = true;
	e->have = false;
	if (ch->ops->check_prepare(ch, &req) != 0) {
		send_request_free(&req);
		e->checking = false;
		return;
	}
	struct cred_req *r = xcalloc(1, sizeof(*r));
	*r = (struct cred_req){ .cc = cc, .channel_id = ch->id, .gen = e->gen,
		.classify = ch->ops->check_classify };
	if (httpc_start(cc->hc, &req, CHECK_TIMEOUT_MS, on_check_done, r) != 0) {
		free(r);
		e->checking = false;
	}
	send_request_free(&req);
}

void
credcheck_forget(struct credcheck *cc, int64_t channel_id)
{
	for (struct cred_entry **pp = &cc->entries; *pp; pp = &(*pp)->next) {
		if ((*pp)->channel_id == channel_id) {
			struct cred_entry *e = *pp;
			*pp = e->next;
			free(e);
			return;
		}
	}
}

json_t *
credcheck_state(struct credcheck *cc, const struct channel *ch)
{
	struct cred_entry *e;
	const char *state = "unchecked";
	char at[21];

	if (ch->ops->check_prepare == NULL)
		return NULL;
	e = entry_find(cc, ch->id);
	if (e && e->checking)
		state = "checking";
	else if (e && e->have)
		state = check_state_name(e->res.state);
	if (e && e->have && !e->checking)
		fmt_rfc3339(e->checked_ms / 1000, at);
	return json_pack("{s:s,s:s?,s:s?}", "state", state, "message",
	    e && e->have && !e->checking && e->res.message[0] ? e->res.message : NULL, "checked_at",
	    e && e->have && !e->checking ? at : NULL);
}

void
credcheck_stop(struct credcheck *cc)
{
	if (cc)
		cc->stopping = true;
}

void
credcheck_free(struct credcheck *cc)
{
	if (cc == NULL)
		return;
	while (cc->entries) {
		struct cred_entry *e = cc->entries;
		cc->entries = e->next;
		free(e);
	}
	free(cc);
}
