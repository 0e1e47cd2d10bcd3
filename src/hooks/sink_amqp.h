/*
 * sink_amqp.h - the RabbitMQ sink's parts (sink_amqp.c: the ops and the
 * sink's thread; sink_amqp_conn.c: one AMQP 0-9-1 connection, blocking,
 * used only on that thread).
 *
 * Strategies:
 *  - librabbitmq blocks, so each sink owns a thread. deliver() copies the
 *    batch into one block and wakes the thread; the thread publishes it and
 *    hands the outcome back to the loop with event_active(), where done()
 *    is called. close() never waits: it tells the thread to stop (a socket
 *    blocked in a read or write is shut down to free it), drops the event
 *    that calls done(), and detaches the thread, which frees the sink when
 *    it ends (after a connect in progress: at most
 *    SINK_AMQP_CONNECT_TIMEOUT_MS, plus the name's resolution when the url
 *    names a host rather than an address).
 *  - One connection, one channel (1) in confirm mode. At connect: login,
 *    channel.open, confirm.select, exchange.declare (durable), and when a
 *    queue is configured queue.declare (durable; a queue its consumer
 *    declared first with other properties is taken as it is: a passive
 *    declare after the 406) and queue.bind with the binding key, so a
 *    consumer of that queue gets every event.
 *  - A batch is published in one go (persistent, message_id = the delivery
 *    id, type and routing key = the event type), then the publisher confirms
 *    are awaited with a deadline: the acked prefix is what the broker
 *    confirmed from the start of the batch. A nack, a channel or connection
 *    close, a socket error or the deadline ends the batch and drops the
 *    connection; the next batch connects again (the mechanism's backoff
 *    paces the retries).
 *  - Idle, the thread looks at the connection every SINK_AMQP_IDLE_MS (a
 *    broker that went away is noticed without traffic) and reconnects in
 *    the background, so healthy() tells /readyz the truth between batches.
 */
#ifndef MSGD_SINK_AMQP_H
#define MSGD_SINK_AMQP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define SINK_AMQP_BATCH_MAX 256
#define SINK_AMQP_URL_MAX 1024
#define SINK_AMQP_NAME_MAX 255           /* exchange, queue, binding key */
#define SINK_AMQP_CONNECT_TIMEOUT_MS 3000
#define SINK_AMQP_RPC_TIMEOUT_MS 5000    /* login, declares */
#define SINK_AMQP_CONFIRM_TIMEOUT_MS 10000
#define SINK_AMQP_IDLE_MS 1000
#define SINK_AMQP_RECONNECT_MAX_MS 5000
#define SINK_AMQP_FRAME_MAX 131072
#define SINK_AMQP_MASK "********"

/* A parsed config: the strings own their memory. */
struct sink_amqp_cfg {
	char *host;
	int port;
	char *vhost;
	char *user;
	char *password;
	char *exchange;
	char *exchange_type;
	char *queue;               /* NULL: none declared */
	char *binding_key;
};

/* One event of a batch, copied by deliver(). */
struct sink_amqp_msg {
	int64_t seq;
	const char *type;
	const char *org;
	const char *channel;       /* NULL when the event has none */
	const char *body;
	size_t len;
	const char *delivery_id;
};

/* --- the pure parts, unit-tested (tests/unit/test_sink_amqp.c) --- */

/* 1..SINK_AMQP_NAME_MAX characters of [A-Za-z0-9._:-]. */
bool sink_amqp_name_valid(const char *s);
/* A binding key: 1..SINK_AMQP_NAME_MAX of [A-Za-z0-9._:-*#]. */
bool sink_amqp_key_valid(const char *s);
/* The url with its password replaced by SINK_AMQP_MASK (a copy). */
char *sink_amqp_mask_url(const char *url);
/* Parse a canonical config into cfg (0), or -1; free with cfg_free. */
int sink_amqp_cfg_parse(const json_t *config, struct sink_amqp_cfg *cfg);
void sink_amqp_cfg_free(struct sink_amqp_cfg *cfg);

/* Publisher confirms of a batch of n messages whose first delivery tag is
 * first: which were acked, which nacked. */
struct sink_amqp_confirms {
	uint64_t first;
	size_t n;
	size_t settled;            /* acked or nacked */
	bool nacked;               /* any */
	unsigned char state[SINK_AMQP_BATCH_MAX]; /* 0 waiting, 1 acked, 2 nacked */
};
void sink_amqp_confirms_init(struct sink_amqp_confirms *c, uint64_t first, size_t n);
/* basic.ack / basic.nack of tag (multiple: every tag up to it). */
void sink_amqp_confirms_mark(struct sink_amqp_confirms *c, uint64_t tag, bool multiple, bool ack);
/* Acked messages from the start of the batch. */
size_t sink_amqp_confirms_prefix(const struct sink_amqp_confirms *c);

/* --- one connection (sink_amqp_conn.c), on the sink's thread only --- */

struct sink_amqp_conn;

/* Connect, log in, open the channel in confirm mode, declare. 0, or -1 and
 * why in err (no secrets). on_socket(arg, fd) is called as soon as the TCP
 * connection is up (another thread may then shutdown() it to end a wait),
 * and on_socket(arg, -1) before a failed open closes it. */
int sink_amqp_conn_open(struct sink_amqp_conn **out, const struct sink_amqp_cfg *cfg,
    void (*on_socket)(void *arg, int fd), void *arg, char *err, size_t cap);
/* Publish msgs[0..n) and wait for their confirms: *acked = the confirmed
 * prefix. 0 when all were confirmed; 1 and err when the broker refused one
 * (basic.nack: the connection stays usable); -1 and err otherwise (the
 * connection is then unusable: close it). */
int sink_amqp_conn_publish(struct sink_amqp_conn *c, const struct sink_amqp_cfg *cfg,
    const struct sink_amqp_msg *msgs, size_t n, size_t *acked, char *err, size_t cap);
/* Idle: 0 while the connection looks alive; -1 and err once the broker
 * closed it or the socket failed. Never blocks. */
int sink_amqp_conn_poll(struct sink_amqp_conn *c, char *err, size_t cap);
/* Its socket (for shutdown() from another thread), or -1. */
int sink_amqp_conn_fd(const struct sink_amqp_conn *c);
void sink_amqp_conn_close(struct sink_amqp_conn *c);

#endif
