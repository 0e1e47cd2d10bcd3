/*
 * outbox.h - the dispatcher: drains the durable outbox through the channel
 * adapters, on the event loop, never blocking it.
 *
 * Strategies (outbox.c carries them out; pacing.c holds the arithmetic):
 *
 *  - Claim before send. An entry is marked in flight, durably, before its
 *    request leaves, and its outcome is committed after the answer. After a
 *    crash, entries still in flight are the ones whose fate msgd cannot
 *    know: they are sent again once, marked "uncertain" (the provider may
 *    have accepted the first try; WhatsApp has no idempotency key). The same
 *    doubt exists while running when an answer is lost (a timeout or a reset
 *    after the request was written, a 5xx from a proxy): those are retried
 *    as TEMPFAIL, since dropping them would lose messages. An entry whose
 *    acceptance was committed is never sent again.
 *  - One outcome per attempt (channel.h): OK, TEMPFAIL, THROTTLED,
 *    RECIPIENT_THROTTLED, PERMFAIL, CREDENTIALS, BLOCKED.
 *  - Backoff. A failed attempt is retried after ~1 s, doubling, capped at
 *    5 minutes, with +-20% jitter so a burst of failures does not return in
 *    lockstep; a Retry-After is honoured as a minimum. After max_attempts
 *    (10), or max_age_s (24 h) after the API accepted it (waiting behind a
 *    paused channel counts), the message fails with title "expired".
 *  - Pacing per channel: sends are spaced evenly, one every 1/rate_per_second
 *    (rounded up to the microsecond), never in bursts: no one-second window
 *    holds more starts than the rate, right after start too. (Starts are
 *    timed when the dispatcher claims them; the claim's commit delays each
 *    request by about the same amount, so the provider sees the same
 *    spacing give or take that jitter.) THROTTLED pauses the channel
 *    (Retry-After, or a backoff) without counting the attempt against the
 *    message.
 *  - Per recipient: recipient_gap_ms between two sends to one address
 *    (group_gap_ms to a group chat, when the type tells groups apart), and
 *    RECIPIENT_THROTTLED delays only that address.
 *  - Fairness: within a channel, conversational messages (priority 0:
 *    replies and messages to contacts who wrote recently) go before bulk
 *    (priority 1), then oldest first. Channels are served round robin.
 *  - Circuit breaker per channel: breaker_threshold consecutive failed
 *    attempts (TEMPFAIL) open it: no sends for breaker_cooldown_s, then one
 *    probe (half-open); its success closes the breaker, its failure opens it
 *    again. A success resets the count, so sporadic errors never trip it.
 *  - CREDENTIALS pauses the channel until its config changes (PATCH);
 *    BLOCKED pauses it for the provider's Retry-After or an hour. Messages
 *    wait; they are not failed for the channel's trouble.
 *  - Every hold has a reason: a pause, an open breaker and a throttle keep
 *    the error that caused them (code, title, detail) and since/until, and
 *    each message keeps its attempts, last error and next attempt on disk
 *    (the RESULT op), so a retry and its reason survive a restart.
 *  - Several instances (lease.c, src/lease/). A claim is a lease: the row
 *    names its owner (instance_id) and until when (outbox_lease_ms, 30 s
 *    by default, twice the default request timeout); while sends are in
 *    flight the owner renews all its claims in one op every third of the
 *    lease. At start an instance takes back only its own claims and those
 *    whose lease ran out (on SQLite, every one: the database is its
 *    alone); every half lease (at least 1 s) it sweeps other instances'
 *    run-out claims back into the queue, due now and uncertain. A late
 *    retry from an owner whose claim went elsewhere is ignored. A channel
 *    is dispatched by one instance at a time, the holder of its
 *    "channel:<id>" lease (dispatch_lease_ms), so pacing, the breaker and
 *    the provider's quotas hold for the channel as a whole; the others
 *    read nothing and send nothing for it. A takeover starts the channel's
 *    pacing, breaker and pauses afresh: the breaker re-learns within
 *    breaker_threshold failures, a credentials pause at the first send or
 *    the credential check.
 *  - Credential check (credcheck.c): after a channel is created or changed,
 *    one authenticated request (the adapter's check_prepare) tells whether
 *    its credentials work, in the background. invalid_credentials pauses
 *    the channel like CREDENTIALS would at its first send: messages wait
 *    until the config is fixed instead of failing one by one.
 */
#ifndef MSGD_OUTBOX_H
#define MSGD_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct event_base;
struct store;
struct channel;
struct httpc;
struct send_response;
struct check_result;
struct channel_registry;
struct ingest_batch;
struct outbox;
struct leases;

/* The longest delay the dispatcher sets on an entry: a channel's capped
 * Retry-After, a recipient gap (recipient_gap_ms at most a day) or a
 * backoff. At start, no delay-based due time lies further out than this
 * (a wall-clock jump while msgd was stopped; see outbox.c). */
#define OUTBOX_DELAY_MAX_MS (86400LL * 1000)

/* The sandbox simulator delivers inbound messages and statuses through this. */
typedef void (*outbox_ingest_fn)(void *arg, struct ingest_batch *batch);

/* The wall clock (now_ms()) for a due time: first checks whether it jumped
 * since the last look, so the jump is handled (delays on disk moved) before
 * anything is stamped with the new time. Every delay-based due time, the
 * API's "send now" included, is taken from here. */
int64_t outbox_now(struct outbox *ob);

int outbox_start(struct outbox **out, struct event_base *base, struct store *st,
    struct channel_registry *reg);
/* Several instances: claims become leases of lease_ms owned by ls's owner
 * (renewed while sends are in flight; others' expired ones swept back),
 * and a channel is dispatched only while its "channel:<id>" lease in ls is
 * held. Once, right after outbox_start (before the loop runs). */
void outbox_set_leases(struct outbox *ob, struct leases *ls, int64_t lease_ms);
/*
 * Sending quotas: an organization's messages per minute, hour and day (0:
 * none) come from fn (the API's organizations); a channel's from its config
 * (quota_per_minute, quota_per_hour, quota_per_day). Every claim weighs
 * its entries against both in the store (quota_gate.c): an entry over one
 * waits, pending, until the window ends, replies before bulk.
 */
typedef void (*outbox_org_quota_fn)(void *arg, int64_t org_id, int64_t max[3]);
void outbox_set_org_quota(struct outbox *ob, outbox_org_quota_fn fn, void *arg);
/* New entries may be due now (after a send was committed). */
void outbox_kick(struct outbox *ob);
/* A channel's config changed (or it was deleted): lift a credentials pause. */
void outbox_channel_changed(struct outbox *ob, int64_t channel_id);
/* {"sending":{"state":"ok"|"paused"|"circuit_open"|"half_open"|"throttled",
 *  "reason":{"code","title","detail"}|null,"since","until"},
 *  "credentials":{...} (types with a check), "queue_depth","inflight",
 *  "consecutive_failures","dispatch":"held"|"elsewhere" (whether this
 *  instance holds the channel's dispatch lease)} (new reference).
 *  queue_depth is the caller's (store_outbox_depth(), read off the loop):
 *  the outbox reads nothing here. */
json_t *outbox_channel_state(struct outbox *ob, const struct channel *ch, int64_t queue_depth);
/* Check the channel's credentials in the background (no-op for types
 * without check_prepare); the answer never waits for it. */
void outbox_check_credentials(struct outbox *ob, const struct channel *ch);
/* Send the provider's read receipt for a message (best effort: logged when
 * it fails, not retried). */
void outbox_send_receipt(struct outbox *ob, int64_t channel_id, const char *provider_message_id);
/* Stop starting sends; requests in flight still finish (their results are
 * committed). */
void outbox_drain(struct outbox *ob);
/* Work not finished: requests in flight, results not yet committed, and a
 * cycle's due read or claim in flight. */
size_t outbox_busy(struct outbox *ob);
void outbox_stop(struct outbox *ob);
/* Metrics (gauges.c, h15metrics): a channel's sends in flight and its
 * breaker (0 closed, 1 half-open, 2 open); 0 and 0 for one never used. */
void outbox_channel_gauges(struct outbox *ob, int64_t channel_id, int64_t *inflight, int *breaker);

/* --- pacing.c: the arithmetic, unit-tested on its own --- */

/* Even spacing of send starts. rate 0 = unlimited. */
struct pacer {
	int rate;
	int64_t interval_us; /* ceil(1 s / rate) */
	int64_t next_us;     /* the earliest start of the next send */
};
void pacer_init(struct pacer *p, int rate);
void pacer_free(struct pacer *p);
/* Times in microseconds. How many sends may start at now_us. */
int pacer_allowance(const struct pacer *p, int64_t now_us);
/* The earliest time another send may start (now_us when it may now). */
int64_t pacer_next(const struct pacer *p, int64_t now_us);
void pacer_record(struct pacer *p, int64_t now_us);

enum breaker_state { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN };
struct breaker {
	int threshold;
	int64_t cooldown_ms;
	int failures;        /* consecutive */
	enum breaker_state state;
	int64_t open_until;  /* mono_ms() */
	bool probing;        /* half-open: the one probe is in flight */
};
void breaker_init(struct breaker *b, int threshold, int64_t cooldown_ms);
/* May a send start now? In half-open it admits one probe at a time. */
bool breaker_allow(struct breaker *b, int64_t mono);
void breaker_success(struct breaker *b);
void breaker_failure(struct breaker *b, int64_t mono);
/* The probe ended without telling anything (e.g. permanent error): let the
 * next one go. */
void breaker_release(struct breaker *b);

/* --- reason.c: why a channel or a message is held --- */

#define REASON_CODE_MAX 24
struct send_reason {
	char code[REASON_CODE_MAX];  /* as the API shows it: "190", "network"; "" none */
	char title[256];
	char detail[512];
	int64_t since_ms;            /* wall clock; 0 = no reason held */
};
/* An attempt's error code as the API shows it: the provider's number when
 * it gave one, else "network" (no HTTP answer) or "http_<status>"; "" for
 * failures found before any request (http false). */
void error_code_text(char out[REASON_CODE_MAX], int64_t provider_code, bool http, long status);
void reason_set(struct send_reason *r, const char *code, const char *title, const char *detail,
    int64_t now_ms);
void reason_clear(struct send_reason *r);
/* {"code","title","detail"}: code a number when it is one; detail null
 * when it only repeats the title. json null when no reason is held. */
json_t *reason_json(const struct send_reason *r);
/* "title: detail" without saying the same thing twice (detail alone when
 * it contains the title, title alone when the detail adds nothing). */
void error_text(char *dst, size_t cap, const char *title, const char *detail);

/* --- credcheck.c: credential checks in the background --- */

struct credcheck;
/* A check finished for channel_id (the config it checked is still current). */
typedef void (*credcheck_fn)(void *arg, int64_t channel_id, const struct check_result *res);
struct credcheck *credcheck_new(struct httpc *hc, credcheck_fn fn, void *arg);
void credcheck_start(struct credcheck *cc, struct channel *ch);
/* The channel changed or is gone: results of older checks are dropped. */
void credcheck_forget(struct credcheck *cc, int64_t channel_id);
/* {"state":"unchecked"|"checking"|"ok"|"invalid_credentials"|"unreachable"|
 *  "error","message","checked_at"}, or NULL for types without a check. */
json_t *credcheck_state(struct credcheck *cc, const struct channel *ch);
/* Shutting down: the requests' callbacks (run by httpc_free) only free. */
void credcheck_stop(struct credcheck *cc);
void credcheck_free(struct credcheck *cc);

/* Delay before retry number `attempts` (1 = after the first failure):
 * 1 s * 2^(attempts-1), capped at 5 min, +-20% jitter from rnd. */
int64_t backoff_ms(int attempts, uint32_t rnd);

/* Where stored files' content lives (<data>/files): sends by file_id
 * (issue 14) read it from there. */
void outbox_set_files_dir(struct outbox *ob, const char *dir);

#endif
