/* model.c - status ordering and ingest batch memory. */
#include "model.h"

#include <stdlib.h>
#include <string.h>

#include "../util/util.h"

static const char *const status_names[] = {
	[ST_NONE] = "none",
	[ST_RECEIVED] = "received",
	[ST_SCHEDULED] = "scheduled",
	[ST_QUEUED] = "queued",
	[ST_ACCEPTED] = "accepted",
	[ST_SENT] = "sent",
	[ST_DELIVERED] = "delivered",
	[ST_READ] = "read",
	[ST_FAILED] = "failed",
	[ST_CANCELLED] = "cancelled",
};

const char *
status_name(enum msg_status st)
{
	if ((size_t)st >= ARRAY_LEN(status_names))
		return "none";
	return status_names[st];
}

enum msg_status
status_parse(const char *s)
{
	if (s == NULL)
		return ST_NONE;
	if (strcmp(s, "played") == 0)
		return ST_READ;
	for (size_t i = 1; i < ARRAY_LEN(status_names); i++)
		if (strcmp(s, status_names[i]) == 0)
			return (enum msg_status)i;
	return ST_NONE;
}

/* Rank on the forward path; terminal statuses handled separately. */
static int
rank(enum msg_status st)
{
	switch (st) {
	case ST_NONE: return 0;
	case ST_RECEIVED: return 1;
	case ST_SCHEDULED: return 1;
	case ST_QUEUED: return 1;
	case ST_ACCEPTED: return 2;
	case ST_SENT: return 3;
	case ST_DELIVERED: return 4;
	case ST_READ: return 5;
	default: return 0;
	}
}

bool
status_may_replace(enum msg_status cur, enum msg_status next)
{
	if (next == ST_NONE || cur == ST_FAILED || cur == ST_CANCELLED)
		return false;
	if (next == ST_FAILED)
		/* A message the recipient already has cannot fail any more. */
		return cur != ST_DELIVERED && cur != ST_READ;
	if (next == ST_CANCELLED)
		return cur == ST_QUEUED || cur == ST_SCHEDULED;
	return rank(next) > rank(cur);
}

#define ADD(arr, n, cap)                                                   \
	do {                                                               \
		if ((n) == (cap)) {                                        \
			(cap) = (cap) ? (cap) * 2 : 4;                     \
			(arr) = xrealloc((arr), (cap) * sizeof(*(arr)));   \
		}                                                          \
		memset(&(arr)[(n)], 0, sizeof(*(arr)));                    \
	} while (0)

struct msg_in *
ingest_batch_add_msg(struct ingest_batch *b)
{
	ADD(b->msgs, b->nmsgs, b->capmsgs);
	struct msg_in *m = &b->msgs[b->nmsgs++];
	m->parts = json_object();
	return m;
}

struct status_in *
ingest_batch_add_status(struct ingest_batch *b)
{
	ADD(b->statuses, b->nstatuses, b->capstatuses);
	return &b->statuses[b->nstatuses++];
}

struct event_in *
ingest_batch_add_event(struct ingest_batch *b)
{
	ADD(b->events, b->nevents, b->capevents);
	return &b->events[b->nevents++];
}

struct contact_in *
ingest_batch_add_contact(struct ingest_batch *b)
{
	ADD(b->contacts, b->ncontacts, b->capcontacts);
	return &b->contacts[b->ncontacts++];
}

struct state_in *
ingest_batch_add_state(struct ingest_batch *b)
{
	ADD(b->states, b->nstates, b->capstates);
	return &b->states[b->nstates++];
}

bool
ingest_batch_empty(const struct ingest_batch *b)
{
	return b->nmsgs == 0 && b->nstatuses == 0 && b->nevents == 0 && b->ncontacts == 0 &&
	    b->nstates == 0 && b->cursor_channel_id == 0;
}

static const char *const contact_status_names[] = {
	[CONTACT_ACTIVE] = "active",
	[CONTACT_BLOCKED] = "blocked",
	[CONTACT_INVALID] = "invalid",
};

const char *
contact_status_name(enum contact_status s)
{
	return (size_t)s < sizeof(contact_status_names) / sizeof(*contact_status_names) ?
	    contact_status_names[s] : "active";
}

enum contact_status
contact_status_parse(const char *s)
{
	for (size_t i = 1; s && i < sizeof(contact_status_names) / sizeof(*contact_status_names); i++)
		if (strcmp(s, contact_status_names[i]) == 0)
			return (enum contact_status)i;
	return CONTACT_ACTIVE;
}

static const char *const conn_names[] = {
	[CONN_NONE] = "unknown",
	[CONN_CONNECTING] = "connecting",
	[CONN_PAIRING] = "pairing",
	[CONN_CONNECTED] = "connected",
	[CONN_DISCONNECTED] = "disconnected",
	[CONN_PAUSED] = "paused",
	[CONN_ERROR] = "error",
};

const char *
channel_conn_name(enum channel_conn s)
{
	return (size_t)s < sizeof(conn_names) / sizeof(*conn_names) ? conn_names[s] : "unknown";
}

enum channel_conn
channel_conn_parse(const char *s)
{
	for (size_t i = 1; s && i < sizeof(conn_names) / sizeof(*conn_names); i++)
		if (strcmp(s, conn_names[i]) == 0)
			return (enum channel_conn)i;
	return CONN_NONE;
}

void
msg_in_clear(struct msg_in *m)
{
	free(m->provider_message_id);
	free(m->from);
	free(m->to);
	free(m->contact_address);
	free(m->contact_name);
	free(m->type);
	free(m->text);
	free(m->reply_to);
	free(m->client_id);
	free(m->fingerprint);
	free(m->dedup_key);
	free(m->target);
	free(m->optout_keyword);
	json_decref(m->parts);
	free(m->raw);
	memset(m, 0, sizeof(*m));
}

void
ingest_batch_free(struct ingest_batch *b)
{
	for (size_t i = 0; i < b->nmsgs; i++)
		msg_in_clear(&b->msgs[i]);
	for (size_t i = 0; i < b->nstatuses; i++) {
		struct status_in *s = &b->statuses[i];
		free(s->provider_message_id);
		free(s->provider_status);
		free(s->recipient);
		free(s->error_title);
		free(s->error_detail);
		free(s->raw);
	}
	for (size_t i = 0; i < b->nevents; i++) {
		free(b->events[i].type);
		json_decref(b->events[i].data);
	}
	for (size_t i = 0; i < b->ncontacts; i++) {
		free(b->contacts[i].address);
		free(b->contacts[i].reason);
		free(b->contacts[i].dedup_key);
	}
	for (size_t i = 0; i < b->nstates; i++) {
		free(b->states[i].reason);
		free(b->states[i].qr);
		free(b->states[i].pairing_code);
	}
	free(b->msgs);
	free(b->statuses);
	free(b->events);
	free(b->contacts);
	free(b->states);
	free(b->cursor);
	*b = (struct ingest_batch){ 0 };
}
