/*
 * api_send_reads.c - the reads a send needs (its client_id, a local
 * template, the contact's last inbound message, the messages that
 * reply_to or a reaction name), fetched on the store's reader pool.
 *
 * Validation mixes them with what the loop owns (the channel registry, the
 * outbox clock), so it stays on the loop and runs in rounds: each round
 * validates with the answers fetched so far; a read it has no answer for
 * yet is noted and answered "nothing" (not found, never), so validation
 * goes on and notes the reads after it too. When a round noted any, they
 * are fetched together off the loop and the round runs again; the round
 * that noted none is the real one (its answers are all the store's). A
 * send needs at most a few rounds (a read that depends on another's
 * answer: a local template decides the message's type).
 *
 * Without a cache (NULL: the fuzz harnesses, no loop) each read is the
 * store's synchronous one.
 */
#include "api.h"
#include "api_send.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../store/store.h"
#include "../util/util.h"

#define SR_BUCKETS 256
#define SR_TEXT_MAX 256        /* a provider id read back */

enum sr_kind { SR_PROVIDER_ID, SR_TEMPLATE, SR_LAST_INBOUND, SR_CLIENT_ID, SR_QUOTA,
	SR_FINGERPRINT, SR_CHANNEL_TEMPLATE };

struct sr_entry {
	enum sr_kind kind;
	int64_t a;                 /* a message id, a channel id */
	char *s1, *s2;             /* a template name and language, an address, a client_id */
	bool has_s2;
	bool fetched;
	int rc;
	int64_t i1;                /* the answer: a channel id, a time */
	int64_t n[3];              /* the answer: a quota scope's counts */
	json_t *json;              /* the answer: a template, a message */
	char text[SR_TEXT_MAX];    /* the answer: a provider id */
	struct sr_entry *next;     /* in its bucket */
	struct sr_entry *all;      /* every entry */
};

struct send_reads {
	struct sr_entry *bucket[SR_BUCKETS];
	struct sr_entry *all;
	size_t missing;            /* noted in this round, not fetched */
	int64_t org;               /* every read is this organization's */
	/* The fetch in flight. */
	struct store_read rd;
	void (*then)(void *arg);
	void *arg;
};

struct send_reads *
send_reads_new(int64_t org)
{
	struct send_reads *rs = xcalloc(1, sizeof(struct send_reads));
	rs->org = org;
	return rs;
}

void
send_reads_free(struct send_reads *rs)
{
	if (rs == NULL)
		return;
	for (struct sr_entry *e = rs->all, *next; e; e = next) {
		next = e->all;
		free(e->s1);
		free(e->s2);
		json_decref(e->json);
		free(e);
	}
	free(rs);
}

size_t
send_reads_missing(const struct send_reads *rs)
{
	return rs ? rs->missing : 0;
}

void
send_reads_round(struct send_reads *rs)
{
	rs->missing = 0;
}

static unsigned
hash(enum sr_kind kind, int64_t a, const char *s1, const char *s2)
{
	uint64_t h = 1469598103934665603ULL ^ (uint64_t)kind ^ ((uint64_t)a * 1099511628211ULL);

	for (const char *p = s1; p && *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	h = (h ^ 0xff) * 1099511628211ULL;
	for (const char *p = s2; p && *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return (unsigned)(h % SR_BUCKETS);
}

static bool
same(const char *x, const char *y)
{
	return (x == NULL && y == NULL) || (x && y && strcmp(x, y) == 0);
}

/* The entry for this read; NULL when it is new (noted: a miss). */
static struct sr_entry *
lookup(struct send_reads *rs, enum sr_kind kind, int64_t a, const char *s1, const char *s2)
{
	unsigned h = hash(kind, a, s1, s2);

	for (struct sr_entry *e = rs->bucket[h]; e; e = e->next)
		if (e->kind == kind && e->a == a && same(e->s1, s1) && same(e->s2, s2)) {
			if (!e->fetched)
				rs->missing++;
			return e->fetched ? e : NULL;
		}
	struct sr_entry *e = xcalloc(1, sizeof(*e));
	e->kind = kind;
	e->a = a;
	e->s1 = xstrdup_or_null(s1);
	e->s2 = xstrdup_or_null(s2);
	e->next = rs->bucket[h];
	rs->bucket[h] = e;
	e->all = rs->all;
	rs->all = e;
	rs->missing++;
	return NULL;
}

int
sr_message_provider_id(struct app *app, struct send_reads *rs, int64_t org, int64_t id,
    int64_t *channel_id, char *out, size_t outlen)
{
	if (rs == NULL)
		return store_message_provider_id(app->store, org, id, channel_id, out, outlen);
	struct sr_entry *e = lookup(rs, SR_PROVIDER_ID, id, NULL, NULL);
	*channel_id = e ? e->i1 : 0;
	snprintf(out, outlen, "%s", e ? e->text : "");
	return e ? e->rc : 0;
}

int
sr_template_get(struct app *app, struct send_reads *rs, int64_t org, const char *name,
    const char *language, json_t **out)
{
	if (rs == NULL)
		return store_template_get(app->store, org, name, language, out);
	struct sr_entry *e = lookup(rs, SR_TEMPLATE, 0, name, language);
	*out = e ? json_incref(e->json) : NULL;
	return e ? e->rc : 0;
}

int
sr_last_inbound(struct app *app, struct send_reads *rs, int64_t channel_id, const char *address,
    int64_t *out_ms)
{
	if (rs == NULL)
		return store_last_inbound(app->store, channel_id, address, out_ms, NULL, NULL);
	struct sr_entry *e = lookup(rs, SR_LAST_INBOUND, channel_id, address, NULL);
	*out_ms = e ? e->i1 : 0;
	return e ? e->rc : 0;
}

int
sr_contact_status(struct app *app, struct send_reads *rs, int64_t channel_id, const char *address,
    enum contact_status *out, int64_t *opted_out_at)
{
	int64_t ms;
	if (rs == NULL)
		return store_last_inbound(app->store, channel_id, address, &ms, out, opted_out_at);
	/* Read with the last inbound message (one entry, one round). */
	struct sr_entry *e = lookup(rs, SR_LAST_INBOUND, channel_id, address, NULL);
	*out = e ? (enum contact_status)e->n[0] : CONTACT_ACTIVE;
	*opted_out_at = e ? e->n[1] : 0;
	return e ? e->rc : 0;
}

int
sr_message_by_client_id(struct app *app, struct send_reads *rs, int64_t org, const char *client_id,
    json_t **out)
{
	if (rs == NULL)
		return store_message_by_client_id(app->store, org, client_id, out);
	struct sr_entry *e = lookup(rs, SR_CLIENT_ID, 0, client_id, NULL);
	*out = e ? json_incref(e->json) : NULL;
	return e ? e->rc : 0;
}

int
sr_quota_usage(struct app *app, struct send_reads *rs, const char *scope, int64_t now_ms,
    int64_t n[3])
{
	if (rs == NULL)
		return store_quota_usage(app->store, scope, now_ms, n);
	struct sr_entry *e = lookup(rs, SR_QUOTA, 0, scope, NULL);
	for (int k = 0; k < 3; k++)
		n[k] = e ? e->n[k] : 0;
	return e ? e->rc : 0;
}

int
sr_fingerprint_at(struct app *app, struct send_reads *rs, int64_t org, const char *fp, int64_t *at_ms)
{
	if (rs == NULL)
		return store_fingerprint_at(app->store, org, fp, at_ms);
	struct sr_entry *e = lookup(rs, SR_FINGERPRINT, 0, fp, NULL);
	*at_ms = e ? e->i1 : 0;
	return e ? e->rc : 0;
}

int
sr_channel_template(struct app *app, struct send_reads *rs, int64_t channel_id, const char *name,
    const char *language, struct channel_template *out)
{
	if (rs == NULL)
		return store_channel_template_get(app->store, channel_id, name, language, out);
	struct sr_entry *e = lookup(rs, SR_CHANNEL_TEMPLATE, channel_id, name, language);
	*out = (struct channel_template){ 0 };
	if (e) {  /* synced, found, approved; params */
		out->synced = e->n[0] & 1;
		out->found = e->n[0] & 2;
		out->approved = e->n[0] & 4;
		out->params = e->n[1];
	}
	return e ? e->rc : 0;
}

/* On a reader thread: every entry not fetched yet. */
static void
fetch_run(struct store *st, void *arg)
{
	struct send_reads *rs = arg;

	for (struct sr_entry *e = rs->all; e; e = e->all) {
		if (e->fetched)
			continue;
		switch (e->kind) {
		case SR_PROVIDER_ID:
			e->rc = store_message_provider_id(st, rs->org, e->a, &e->i1, e->text, sizeof(e->text));
			break;
		case SR_TEMPLATE:
			e->rc = store_template_get(st, rs->org, e->s1, e->s2, &e->json);
			break;
		case SR_LAST_INBOUND: {
			enum contact_status cs;
			e->rc = store_last_inbound(st, e->a, e->s1, &e->i1, &cs, &e->n[1]);
			e->n[0] = cs;
			break;
		}
		case SR_CLIENT_ID:
			e->rc = store_message_by_client_id(st, rs->org, e->s1, &e->json);
			break;
		case SR_QUOTA:
			e->rc = store_quota_usage(st, e->s1, now_ms(), e->n);
			break;
		case SR_FINGERPRINT:
			e->rc = store_fingerprint_at(st, rs->org, e->s1, &e->i1);
			break;
		case SR_CHANNEL_TEMPLATE: {
			struct channel_template t;
			e->rc = store_channel_template_get(st, e->a, e->s1, e->s2, &t);
			e->n[0] = (t.synced ? 1 : 0) | (t.found ? 2 : 0) | (t.approved ? 4 : 0);
			e->n[1] = t.params;
			break;
		}
		}
		e->fetched = true;
	}
}

static void
fetch_done(void *arg)
{
	struct send_reads *rs = arg;

	rs->then(rs->arg);
}

void
send_reads_fetch(struct app *app, struct send_reads *rs, void (*then)(void *arg), void *arg)
{
	rs->then = then;
	rs->arg = arg;
	rs->rd = (struct store_read){ .run = fetch_run, .done = fetch_done, .arg = rs };
	store_read_submit(app->store, &rs->rd);
}
