/*
 * sink.h - where a subscription's events go: the contract between the
 * delivery mechanism (hooks.c: a cursor per subscription, in seq order, at
 * least once, retries with backoff, leases between instances) and one
 * transport per file: sink_webhook.c (signed HTTP POSTs), sink_nats.c
 * (NATS, JetStream acknowledgements when a stream takes the subject),
 * sink_amqp.c (RabbitMQ, AMQP 0-9-1 with publisher confirms).
 *
 * An event webhook (/v1/webhooks) and an export (/v1/exports) are the same
 * thing to the mechanism: a subscription row with a kind and a config.
 *
 * The mechanism hands a sink a batch of consecutive events the
 * subscription wants, in seq order, and waits for the outcome before it
 * hands over the next batch: at most one batch in flight per subscription.
 * A sink:
 *  - never blocks the loop thread: a blocking client library runs on a
 *    thread of the sink's own; deliver() only queues;
 *  - copies what it needs from the events before deliver() returns;
 *  - calls done() exactly once per deliver(), on the loop thread (a thread
 *    wakes the loop with event_active(): libevent's pthreads support is on),
 *    unless close() was called first, after which it never calls it;
 *  - reports how many events from the start of the batch the peer durably
 *    accepted (res.acked): the cursor moves to the last of them; the first
 *    one not accepted is retried with backoff (it counts an attempt, and is
 *    given up on after HOOKS_MAX_ATTEMPTS / HOOKS_MAX_AGE_MS like a webhook);
 *  - sends each event's delivery id ("<subscription id>-<seq>", the same on
 *    every attempt) along with it: X-Msgd-Delivery for webhooks, the
 *    Nats-Msg-Id header for NATS (JetStream deduplicates by it), the
 *    message_id property for AMQP, so consumers can deduplicate;
 *  - keeps its connection between batches and reconnects by itself after a
 *    failure; healthy() tells /readyz and the API whether it is connected.
 * Secrets in a config (passwords, tokens, a webhook's signing secret) are
 * never logged, and show() masks them.
 */
#ifndef MSGD_SINK_H
#define MSGD_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define SINK_ERROR_MAX 256
#define SINK_BATCH_MAX 512         /* the most events any sink takes at once */

struct event_base;
struct sink;

struct sink_event {
	int64_t seq;
	const char *type;          /* "message.received" */
	const char *org;           /* the organization's slug: "default" */
	const char *channel;       /* the channel's name, or NULL */
	const char *body;          /* the event JSON exactly as GET /v1/events shows it */
	size_t len;
	const char *delivery_id;   /* "<subscription id>-<seq>" */
};

struct sink_result {
	size_t acked;              /* events accepted, from the start of the batch */
	int64_t retry_after_ms;    /* the peer asked for a pause (Retry-After); else 0 */
	char error[SINK_ERROR_MAX];/* why the rest were not accepted (no secrets); "" if all were */
};

typedef void (*sink_done_fn)(void *arg, const struct sink_result *res);

struct sink_ops {
	const char *kind;          /* the subscription's kind: "webhook", "nats", "amqp" */
	size_t batch_max;          /* events per deliver(): 1 for webhooks */
	/* Check the API's "config" object for this kind. 0 and *canonical (the
	 * object to store, defaults filled in, secrets included), or -1 with the
	 * offending field and a message for a 422. No I/O. */
	int (*check)(const json_t *config, json_t **canonical, char *field, size_t fcap,
	    char *msg, size_t mcap);
	/* The stored config as the API shows it: secrets masked. */
	json_t *(*show)(const json_t *config);
	/* Start a sink for subscription sub_id (connecting in the background). */
	int (*open)(struct sink **out, struct event_base *base, const json_t *config, int64_t sub_id);
	void (*deliver)(struct sink *s, const struct sink_event *ev, size_t n, sink_done_fn done,
	    void *arg);
	/* Connected and usable; else false and why (no secrets). */
	bool (*healthy)(struct sink *s, char *why, size_t cap);
	/* Stop, on the loop and without waiting: done() is not called any more
	 * once it returns; what must wait (a thread in a connect or a publish)
	 * ends on a detached thread, which frees the rest. */
	void (*close)(struct sink *s);
};

extern const struct sink_ops sink_webhook_ops;
extern const struct sink_ops sink_nats_ops;
extern const struct sink_ops sink_amqp_ops;

/* The ops of a kind, or NULL. */
const struct sink_ops *sink_ops_find(const char *kind);

#endif
