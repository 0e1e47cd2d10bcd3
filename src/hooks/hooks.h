/*
 * hooks.h - delivering the event log to subscriptions: event webhooks (msgd
 * POSTs the events to integrators' URLs: /v1/webhooks) and exports to
 * brokers (NATS, RabbitMQ: /v1/exports), one mechanism (hooks.c) and a sink
 * per transport (sink.h), on the event loop, never blocking it.
 *
 * Sinks. A subscription has a kind ("webhook", "nats", "amqp") and a
 * config; its sink is opened from them. The mechanism hands the sink a
 * batch of consecutive wanted events (up to the sink's batch_max, 1 for a
 * webhook, from one page) and waits for its outcome: the cursor moves to
 * the last event accepted (the skipped ones before it included), and a
 * batch none of which was accepted is one failed attempt at its first
 * event, as below. A sink that is not connected (a broker down) makes the
 * subscription wait without counting an attempt: nothing is given up while
 * a broker restarts. Exports also filter by channel.
 *
 * Strategies (hooks.c carries them out):
 *
 *  - The event log is the queue. A subscription keeps only a cursor,
 *    delivered_seq: the last seq delivered, skipped by its filter, or given
 *    up on. Its next event is the first one after the cursor whose type it
 *    asked for. Nothing is copied per subscription, and a new subscription
 *    starts at the head of the log (or at the "since" it was given).
 *  - In order, one at a time. A subscription has at most one request in
 *    flight; a later event waits until the one before it was delivered or
 *    given up on. Subscriptions do not wait for each other.
 *  - Skipping is cheap. Events a subscription does not want move its cursor
 *    without a request: a delivery advances the cursor over the skipped
 *    events before it, and a page of nothing wanted is skipped with one
 *    store op.
 *  - Signed (webhooks). The body is the event exactly as GET /v1/events shows it;
 *    X-Msgd-Signature is "sha256=" + hex HMAC-SHA256(body, secret);
 *    X-Msgd-Event names the type; X-Msgd-Delivery is "<subscription
 *    id>-<seq>", the same on every attempt, so receivers can deduplicate.
 *  - Outcomes. A 2xx advances the cursor (STORE_OP_SUBSCRIPTION_ADVANCE);
 *    anything else (other statuses, timeouts, refused connections) is
 *    retried with the outbox's backoff (backoff_ms(): ~1 s doubling to
 *    5 min, +-20% jitter; a Retry-After in seconds is honoured as a
 *    minimum), the attempt recorded durably (STORE_OP_SUBSCRIPTION_RETRY).
 *    After HOOKS_MAX_ATTEMPTS attempts, or HOOKS_MAX_AGE_MS after the first
 *    failed one, the event is given up on: the cursor moves past it and a
 *    "webhook.failed" event {subscription_id, seq, attempts, error} is
 *    appended in the same transaction. A subscription is never sent the
 *    webhook.failed events about itself (a dead URL would feed itself).
 *  - At least once. The cursor is committed after the 2xx: if msgd dies in
 *    between (or stops with the request in flight), the event is delivered
 *    again after the restart, with the same X-Msgd-Delivery. Retry state
 *    lives in the subscription row, so a restart resumes the backoff.
 *  - One instance at a time. With several msgd instances on one database,
 *    a subscription is delivered only by the holder of its "hook:<id>"
 *    lease (src/lease/); the others skip it. Whoever takes the lease over
 *    reads the subscription's cursor and retry state from the store again
 *    before delivering (the previous holder may have moved them).
 *  - Shutdown like the outbox: hooks_drain() stops starting requests; those
 *    in flight may finish and commit their outcome until the shutdown
 *    timeout; hooks_stop() drops the rest (redelivered at the next start).
 *
 * Everything runs on the loop thread, but the store reads (event pages,
 * the subscriptions read again), which run on the store's reader pool.
 */
#ifndef MSGD_HOOKS_H
#define MSGD_HOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define HOOKS_MAX_ATTEMPTS 10
#define HOOKS_MAX_AGE_MS (24 * 3600 * 1000LL)
#define HOOKS_URL_MAX 2048
#define HOOKS_SECRET_MIN 16
#define HOOKS_SECRET_MAX 256
#define HOOKS_EVENTS_MAX 64        /* entries in a subscription's filter */
/* Event webhooks and exports of one organization, together: each holds a
 * sink (a broker's connection and thread) and a page of events. */
#define HOOKS_PER_ORG_MAX 50
#define HOOKS_EVENT_NAME_MAX 64
#define HOOKS_SIG_LEN (7 + 64 + 1) /* "sha256=" + hex + NUL */

struct event_base;
struct store;
struct hooks;
struct leases;

/* Load the subscriptions and start delivering. */
int hooks_start(struct hooks **out, struct event_base *base, struct store *st);
/* Deliver a subscription only while holding its "hook:<id>" lease in ls.
 * Once, right after hooks_start (before the loop runs). */
void hooks_set_leases(struct hooks *hk, struct leases *ls);
/* Events up to last_seq are committed (the store's commit hook). */
void hooks_committed(struct hooks *hk, int64_t last_seq);

/* A subscription row (the shape store_subscriptions_load() returns) was
 * committed: start delivering to it. */
void hooks_add(struct hooks *hk, const json_t *row);
/* Its deletion was committed: stop (a request in flight is abandoned). */
void hooks_remove(struct hooks *hk, int64_t id);
/* Another instance changed subscriptions: start those made there, stop
 * those deleted there, take cursors it moved on (never back). */
void hooks_reload(struct hooks *hk);
/* The webhook subscription of organization org as the API shows it
 * (secret masked), or NULL (none, another organization's, or an export). */
json_t *hooks_get(struct hooks *hk, int64_t org, int64_t id);
/* {"webhooks":[...]}: organization org's, by id. */
json_t *hooks_list(struct hooks *hk, int64_t org);

/* Exports (issue 15): subscriptions of another kind than "webhook", shown
 * by /v1/exports (hooks_view.c). */
/* Its pause (or resume) was committed. */
void hooks_pause(struct hooks *hk, int64_t id, bool paused);
/* Organization org's export as the API shows it (config's secrets masked,
 * lag, state), or NULL (none, another organization's, or a webhook). */
json_t *hooks_export_get(struct hooks *hk, int64_t org, int64_t id);
/* {"exports":[...]}: organization org's, by id. */
json_t *hooks_export_list(struct hooks *hk, int64_t org);
/* Organization org's subscriptions, webhooks and exports. */
size_t hooks_count(struct hooks *hk, int64_t org);
/* For /readyz: {"<id>":{"kind","connected","lag","last_error"}}, org's. */
json_t *hooks_export_health(struct hooks *hk, int64_t org);

/* Stop starting requests; those in flight still finish and commit. */
void hooks_drain(struct hooks *hk);
/* Work not finished: requests in flight plus state changes not committed. */
size_t hooks_busy(struct hooks *hk);
void hooks_stop(struct hooks *hk);

/* --- the pure parts, unit-tested on their own --- */

/* "*" or a dotted lower-case name: "message.received", "webhook.failed"
 * (segments [a-z][a-z0-9_]*, at least two, at most HOOKS_EVENT_NAME_MAX). */
bool hooks_event_name_valid(const char *name);
/* An http:// or https:// URL with a host, no spaces or control characters
 * (a webhook's url; sink_webhook.c). */
bool hooks_url_valid(const char *url);
/* Does a filter (array of names, "*" = all) want this event type? */
bool hooks_filter_matches(const json_t *events, const char *type);
/* Does a channel filter (NULL or JSON null: every channel; else an array
 * of names) want an event of this channel (NULL: none)? */
bool hooks_channels_match(const json_t *channels, const char *channel);
/* A batch of n events (seqs ascending) of which the sink accepted the
 * first `acked`: the cursor to move to (batch_end when all were: the skipped
 * events after the last one included; just before the first refused one
 * otherwise), or -1 when none was accepted (a failed attempt). */
int64_t hooks_batch_cursor(const int64_t *seqs, size_t n, size_t acked, int64_t batch_end);
/* "sha256=" + lower-case hex HMAC-SHA256(body, secret). */
void hooks_sign(const char *secret, const void *body, size_t len, char out[HOOKS_SIG_LEN]);
/* After `attempts` failed attempts, the first at first_ms: give up? */
bool hooks_give_up(int attempts, int64_t first_ms, int64_t now_ms);
/* Retry-After as delay-seconds, in ms (capped at an hour); 0 when absent or
 * not a number. */
int64_t hooks_retry_after_ms(const char *v);

#endif
