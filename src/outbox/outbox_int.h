/*
 * outbox_int.h - the dispatcher's state, shared by the files of src/outbox/
 * only (outbox.c: the cycle and the results). Everyone else uses outbox.h.
 */
#ifndef MSGD_OUTBOX_INT_H
#define MSGD_OUTBOX_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>
#include <uthash.h>

#include "../store/store.h"
#include "outbox.h"

#define RECIP_KEY_MAX 160

/* Per recipient: when the next send to them may start. */
struct recip {
	char key[RECIP_KEY_MAX];        /* "<channel id>:<address>" */
	int64_t next_ms;                /* mono_ms() */
	UT_hash_handle hh;
};

/* Per channel dispatch state, created on first use. */
struct ochan {
	int64_t channel_id;
	struct ochan *next;
	struct pacer pacer;
	struct breaker breaker;
	int rate;
	int64_t gap_ms;
	int64_t group_gap_ms;           /* for group chats (channel_ops.is_group); 0: gap_ms */
	int max_attempts;
	int64_t max_age_ms;
	long timeout_ms;
	int inflight;
	bool paused;
	int64_t paused_until;           /* mono_ms(); 0: until the config changes */
	struct send_reason pause_reason;
	struct send_reason breaker_reason;  /* the failure that opened the breaker */
	struct send_reason throttle_reason;
	int64_t throttled_until;        /* mono_ms() */
	int throttle_level;
};

struct attempt {
	struct outbox *ob;
	int64_t message_id;
	int64_t channel_id;
	int attempts;                   /* including this one */
	int64_t first_attempt_ms;
	int64_t created_ms;             /* when the API accepted it: max_age_s counts from here */
	char *recipient;
	json_t *message;
	bool probe;                     /* the breaker's half-open probe */
	bool http;                      /* a request was made (http_status tells its answer) */
	long http_status;               /* 0: no HTTP answer */
};

/* A claim in progress: the entries it claims, to start once durable. */
struct cycle {
	struct outbox *ob;
	struct store_op op;
	struct outbox_item *items;
	struct item_quota *quotas;      /* items[i].quota points here, when it has one */
	struct attempt **attempts;
	size_t n;
};

/* due.c: one cycle's due reads, in one reader pool job. */
struct due_ask {
	int64_t channel_id;
	int limit;                      /* entries at most (the channel's room) */
	bool probe;                     /* it holds the breaker's half-open probe */
	int rc;                         /* of the read (pool thread) */
	json_t *due;                    /* the entries due (pool thread) */
	int64_t next_ms;                /* none due: the next due time, 0 none (pool thread) */
};

struct due_read {
	struct store_read rd;
	struct outbox *ob;              /* NULL: abandoned (outbox_stop) */
	int64_t now, mono;              /* the cycle's clocks */
	int64_t wake, wake_us;          /* the cycle's wake-up from what it skipped */
	struct due_ask *asks;
	size_t n, cap;
};

struct results {
	struct outbox *ob;
	struct store_op op;
	struct outbox_item *items;
	size_t n;
	int64_t skew_ms;                /* the clock frame their due times are in */
};

struct outbox {
	struct event_base *base;
	struct store *st;
	outbox_org_quota_fn org_quota;  /* an organization's sending quotas, or NULL */
	void *org_quota_arg;
	struct channel_registry *reg;
	struct httpc *hc;
	struct credcheck *cc;
	struct event *ev_cycle;
	struct event *ev_flush;
	struct ochan *chans;
	struct recip *recips;
	bool cycle_busy;                /* a due read or a claim in flight */
	struct due_read *due_job;       /* the due read in flight, if any */
	bool kicked;                    /* a cycle was asked for while busy */
	bool draining;
	bool stopping;                  /* outbox_stop: callbacks only free */
	int64_t wake_us;                /* when the pending cycle timer fires */
	size_t inflight;                /* attempts started, outcome not known */
	size_t ops_outstanding;         /* result/simulation ops not yet committed */
	struct outbox_item *pending;    /* results waiting for the next flush */
	size_t npending, cappending;
	uint32_t rng;
	int64_t skew_ms;                /* now_ms() - mono_ms() at the last look (clock jumps) */
	int shifting;                   /* STORE_OP_OUTBOX_SHIFT ops not yet committed */
	bool shift_failed;              /* a shift failed: owed, tried again by the next cycle */
	int64_t shift_owed;             /* its jump (0: the start-up bound) */
	/* Several instances (lease.c). */
	struct leases *leases;          /* NULL: everything is ours */
	const char *owner;              /* this instance's id (the leases'); NULL without */
	int64_t lease_ms;               /* a claim's lease */
	struct event *ev_renew, *ev_sweep;
	struct store_op renew_op, sweep_op;
	bool renew_busy, sweep_busy;
	/* Outbound media by file_id (upload.c, issue 14). */
	char *files_dir;                /* <data>/files, or NULL */
	struct upload *uploads;         /* provider media ids by (channel, content) */
	size_t nuploads;
};

#define RESULT_RETRY_MS 1000        /* a failed result or shift commit is tried again after this */

/* outbox.c: run a cycle at when (mono_ms()), unless one is due earlier. */
void outbox_kick_at(struct outbox *ob, int64_t when);

/* outbox.c: carry a cycle on with its due reads (loop thread). */
void outbox_due_apply(struct outbox *ob, struct due_read *d);

/* due.c: a cycle's reads (see there). Submitting makes the cycle busy. */
struct due_read *due_read_new(struct outbox *ob, int64_t now, int64_t mono);
struct due_ask *due_read_ask(struct due_read *d, int64_t channel_id, int limit, bool probe);
void due_read_submit(struct outbox *ob, struct due_read *d);
void due_read_abandon(struct outbox *ob);

/* clock.c: wall-clock jumps (see there). */
void outbox_shift_due(struct outbox *ob, int64_t delta_ms, int64_t now);
/* Has the wall clock jumped since the last look? If so, the shift is under
 * way (ob->shifting) and true is returned. */
bool outbox_clock_jumped(struct outbox *ob, int64_t now, int64_t mono);
/* A monotonic deadline as wall-clock ms (for what the API shows). */
int64_t outbox_wall_of(int64_t mono_deadline, int64_t now, int64_t mono);

/* lease.c: may this instance dispatch the channel now (it holds the
 * channel's lease; wanting it from now on)? */
bool outbox_dispatch_held(struct outbox *ob, int64_t channel_id);
/* The channel is gone: its lease is no longer wanted. */
void outbox_dispatch_forget(struct outbox *ob, int64_t channel_id);
/* Tell the adapter (channel_ops.on_lease) when this instance gains or
 * loses the channel's lease: the holder alone polls its provider. */
void outbox_adapter_lease(struct outbox *ob, struct channel *ch);
void outbox_leases_stop(struct outbox *ob);


/* quotas.c: ch's entry's quotas into q; false when neither the channel
 * nor its organization has any. */
bool outbox_quota_of(struct outbox *ob, const struct channel *ch, int priority, struct item_quota *q);

/* outbox.c: the pieces upload.c carries on with. */
struct channel;
struct send_outcome;
void attempt_free(struct attempt *a);
void handle_outcome(struct attempt *a, struct send_outcome *out, bool local);
/* send_prepare() and the request of an attempt (its media ready). */
void outbox_attempt_send(struct outbox *ob, struct channel *ch, struct attempt *a);

/* upload.c: a message sending a stored file gets its path on disk, and,
 * when the channel needs an upload first, the provider's media id (cached
 * per channel and content in memory and in media_uploads; one upload at a
 * time per content, later attempts wait for it). 0: send now; 1: the
 * attempt goes on later (outbox_attempt_send or handle_outcome). */
int outbox_media_step(struct outbox *ob, struct channel *ch, struct attempt *a);
void outbox_uploads_free(struct outbox *ob);
/* A send of a stored file was accepted: keep the provider's reusable id of
 * the content when the type gives one (channel.h: media_sent_id). */
struct send_response;
void outbox_media_sent(struct outbox *ob, struct channel *ch, struct attempt *a,
    const struct send_response *resp);

#endif
