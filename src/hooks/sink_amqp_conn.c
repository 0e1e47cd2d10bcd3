/*
 * sink_amqp_conn.c - one AMQP 0-9-1 connection of the RabbitMQ sink
 * (librabbitmq, blocking): open with timeouts, publish a batch and await
 * its publisher confirms, notice a broker that went away while idle. Runs
 * only on the sink's own thread (sink_amqp.c); strategies in sink_amqp.h.
 */
#include "sink_amqp.h"
#include "sink.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include "../util/util.h"

#define CHAN 1

struct sink_amqp_conn {
	amqp_connection_state_t st;
	uint64_t next_tag;         /* publisher sequence number of the next publish */
};

static struct timeval
tv_ms(int64_t ms)
{
	if (ms < 0)
		ms = 0;
	return (struct timeval){ .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
}

static void
bytes_text(amqp_bytes_t b, char *out, size_t cap)
{
	size_t n = b.len < cap - 1 ? b.len : cap - 1;

	memcpy(out, b.bytes, n);
	out[n] = '\0';
}

/* A close method's reply text: "406 PRECONDITION_FAILED - ...". */
static void
close_text(const amqp_method_t *m, const char *what, char *err, size_t cap)
{
	char text[SINK_ERROR_MAX];
	int code = 0;

	text[0] = '\0';
	if (m->id == AMQP_CONNECTION_CLOSE_METHOD) {
		const amqp_connection_close_t *c = m->decoded;
		code = c->reply_code;
		bytes_text(c->reply_text, text, sizeof(text));
	} else if (m->id == AMQP_CHANNEL_CLOSE_METHOD) {
		const amqp_channel_close_t *c = m->decoded;
		code = c->reply_code;
		bytes_text(c->reply_text, text, sizeof(text));
	} else {
		snprintf(text, sizeof(text), "unexpected method 0x%08x", (unsigned)m->id);
	}
	snprintf(err, cap, "%s: %s%s%d %s", what, m->id == AMQP_CHANNEL_CLOSE_METHOD ? "channel " : "",
	    m->id == AMQP_CONNECTION_CLOSE_METHOD ? "connection " : "", code, text);
}

/* 0 for a normal reply, else -1 with why. */
static int
reply_ok(amqp_rpc_reply_t r, const char *what, char *err, size_t cap)
{
	switch (r.reply_type) {
	case AMQP_RESPONSE_NORMAL:
		return 0;
	case AMQP_RESPONSE_NONE:
		snprintf(err, cap, "%s: no reply from the broker", what);
		return -1;
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		snprintf(err, cap, "%s: %s", what, amqp_error_string2(r.library_error));
		return -1;
	case AMQP_RESPONSE_SERVER_EXCEPTION:
		close_text(&r.reply, what, err, cap);
		return -1;
	}
	snprintf(err, cap, "%s: unknown reply", what);
	return -1;
}

static amqp_bytes_t
cbytes(const char *s)
{
	return amqp_cstring_bytes(s);
}

/* channel.open and confirm.select on CHAN. */
static int
open_channel(struct sink_amqp_conn *c, char *err, size_t cap)
{
	amqp_channel_open(c->st, CHAN);
	if (reply_ok(amqp_get_rpc_reply(c->st), "channel.open", err, cap) < 0)
		return -1;
	amqp_confirm_select(c->st, CHAN);
	return reply_ok(amqp_get_rpc_reply(c->st), "confirm.select", err, cap);
}

/* The broker closed the channel with 406 PRECONDITION_FAILED. */
static bool
precondition_failed(amqp_rpc_reply_t r)
{
	return r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
	    r.reply.id == AMQP_CHANNEL_CLOSE_METHOD &&
	    ((const amqp_channel_close_t *)r.reply.decoded)->reply_code == AMQP_PRECONDITION_FAILED;
}

/* The queue, durable; one that exists with other properties (declared by
 * its consumer: not durable, a TTL, a quorum queue) is used as it is. */
static int
declare_queue(struct sink_amqp_conn *c, const struct sink_amqp_cfg *cfg, char *err, size_t cap)
{
	amqp_rpc_reply_t r;

	amqp_queue_declare(c->st, CHAN, cbytes(cfg->queue), 0, 1, 0, 0, amqp_empty_table);
	r = amqp_get_rpc_reply(c->st);
	if (!precondition_failed(r))
		return reply_ok(r, "queue.declare", err, cap);
	amqp_channel_close_ok_t ok = { 0 };
	if (amqp_send_method(c->st, CHAN, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok) != AMQP_STATUS_OK) {
		snprintf(err, cap, "queue.declare: cannot acknowledge the channel's close");
		return -1;
	}
	if (open_channel(c, err, cap) < 0)
		return -1;
	amqp_queue_declare(c->st, CHAN, cbytes(cfg->queue), 1, 0, 0, 0, amqp_empty_table);
	return reply_ok(amqp_get_rpc_reply(c->st), "queue.declare (passive)", err, cap);
}

static int
declare(struct sink_amqp_conn *c, const struct sink_amqp_cfg *cfg, char *err, size_t cap)
{
	amqp_exchange_declare(c->st, CHAN, cbytes(cfg->exchange), cbytes(cfg->exchange_type), 0, 1, 0,
	    0, amqp_empty_table);
	if (reply_ok(amqp_get_rpc_reply(c->st), "exchange.declare", err, cap) < 0)
		return -1;
	if (!cfg->queue)
		return 0;
	if (declare_queue(c, cfg, err, cap) < 0)
		return -1;
	amqp_queue_bind(c->st, CHAN, cbytes(cfg->queue), cbytes(cfg->exchange),
	    cbytes(cfg->binding_key), amqp_empty_table);
	return reply_ok(amqp_get_rpc_reply(c->st), "queue.bind", err, cap);
}

int
sink_amqp_conn_open(struct sink_amqp_conn **out, const struct sink_amqp_cfg *cfg,
    void (*on_socket)(void *arg, int fd), void *arg, char *err, size_t cap)
{
	struct sink_amqp_conn *c = xcalloc(1, sizeof(*c));
	struct timeval conn_tv = tv_ms(SINK_AMQP_CONNECT_TIMEOUT_MS);
	struct timeval rpc_tv = tv_ms(SINK_AMQP_RPC_TIMEOUT_MS);
	amqp_socket_t *sock;
	bool reported = false;
	int rc;

	c->st = amqp_new_connection();
	if (!c->st)
		abort();
	sock = amqp_tcp_socket_new(c->st);
	if (!sock) {
		snprintf(err, cap, "cannot make a socket");
		goto fail;
	}
	amqp_set_handshake_timeout(c->st, &rpc_tv);
	amqp_set_rpc_timeout(c->st, &rpc_tv);
	rc = amqp_socket_open_noblock(sock, cfg->host, cfg->port, &conn_tv);
	if (rc != AMQP_STATUS_OK) {
		snprintf(err, cap, "connect to %s:%d: %s", cfg->host, cfg->port, amqp_error_string2(rc));
		goto fail;
	}
	on_socket(arg, amqp_get_sockfd(c->st));
	reported = true;
	if (reply_ok(amqp_login(c->st, cfg->vhost, 0, SINK_AMQP_FRAME_MAX, 0, AMQP_SASL_METHOD_PLAIN,
	    cfg->user, cfg->password), "login", err, cap) < 0)
		goto fail;
	if (open_channel(c, err, cap) < 0)
		goto fail;
	if (declare(c, cfg, err, cap) < 0)
		goto fail;
	c->next_tag = 1;
	*out = c;
	return 0;
fail:
	if (reported)
		on_socket(arg, -1);  /* before its number can be handed out again */
	sink_amqp_conn_close(c);
	return -1;
}

/* Read frames until every confirm of the batch is in, a nack, a close, an
 * error or the deadline. 0 when all were acked. */
static int
await_confirms(struct sink_amqp_conn *c, struct sink_amqp_confirms *cf, char *err, size_t cap)
{
	int64_t deadline = mono_ms() + SINK_AMQP_CONFIRM_TIMEOUT_MS;

	while (cf->settled < cf->n) {
		amqp_frame_t f;
		struct timeval tv = tv_ms(deadline - mono_ms());
		int rc = amqp_simple_wait_frame_noblock(c->st, &f, &tv);

		if (rc == AMQP_STATUS_TIMEOUT) {
			snprintf(err, cap, "no publisher confirm within %d ms",
			    SINK_AMQP_CONFIRM_TIMEOUT_MS);
			return -1;
		}
		if (rc != AMQP_STATUS_OK) {
			snprintf(err, cap, "awaiting confirms: %s", amqp_error_string2(rc));
			return -1;
		}
		if (f.frame_type != AMQP_FRAME_METHOD)
			continue;  /* a returned message's header or body: none are asked for */
		switch (f.payload.method.id) {
		case AMQP_BASIC_ACK_METHOD: {
			const amqp_basic_ack_t *a = f.payload.method.decoded;
			sink_amqp_confirms_mark(cf, a->delivery_tag, a->multiple, true);
			break;
		}
		case AMQP_BASIC_NACK_METHOD: {
			const amqp_basic_nack_t *a = f.payload.method.decoded;
			sink_amqp_confirms_mark(cf, a->delivery_tag, a->multiple, false);
			break;
		}
		case AMQP_CHANNEL_CLOSE_METHOD:
		case AMQP_CONNECTION_CLOSE_METHOD:
			close_text(&f.payload.method, "publish", err, cap);
			return -1;
		default:
			break;  /* basic.return and the like */
		}
	}
	if (cf->nacked) {
		snprintf(err, cap, "the broker refused (basic.nack) the message after %zu",
		    sink_amqp_confirms_prefix(cf));
		return 1;  /* refused; the channel and the connection are fine */
	}
	return 0;
}

int
sink_amqp_conn_publish(struct sink_amqp_conn *c, const struct sink_amqp_cfg *cfg,
    const struct sink_amqp_msg *msgs, size_t n, size_t *acked, char *err, size_t cap)
{
	struct sink_amqp_confirms cf;
	char seq[24];
	int rc;

	*acked = 0;
	if (n > SINK_AMQP_BATCH_MAX)
		n = SINK_AMQP_BATCH_MAX;
	sink_amqp_confirms_init(&cf, c->next_tag, n);
	for (size_t i = 0; i < n; i++) {
		const struct sink_amqp_msg *m = &msgs[i];
		amqp_table_entry_t hdr[3];
		int nh = 0;
		amqp_basic_properties_t p = {
			._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
			    AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_TYPE_FLAG |
			    AMQP_BASIC_TIMESTAMP_FLAG | AMQP_BASIC_APP_ID_FLAG |
			    AMQP_BASIC_HEADERS_FLAG,
			.content_type = cbytes("application/json"),
			.delivery_mode = AMQP_DELIVERY_PERSISTENT,
			.message_id = cbytes(m->delivery_id),
			.type = cbytes(m->type),
			.timestamp = (uint64_t)(now_ms() / 1000),
			.app_id = cbytes("msgd"),
		};

		snprintf(seq, sizeof(seq), "%" PRId64, m->seq);
		hdr[nh++] = (amqp_table_entry_t){ .key = cbytes("msgd-seq"),
			.value = { .kind = AMQP_FIELD_KIND_UTF8, .value.bytes = cbytes(seq) } };
		hdr[nh++] = (amqp_table_entry_t){ .key = cbytes("msgd-org"),
			.value = { .kind = AMQP_FIELD_KIND_UTF8, .value.bytes = cbytes(m->org) } };
		if (m->channel)
			hdr[nh++] = (amqp_table_entry_t){ .key = cbytes("msgd-channel"),
				.value = { .kind = AMQP_FIELD_KIND_UTF8,
				    .value.bytes = cbytes(m->channel) } };
		p.headers = (amqp_table_t){ .num_entries = nh, .entries = hdr };
		rc = amqp_basic_publish(c->st, CHAN, cbytes(cfg->exchange), cbytes(m->type), 0, 0, &p,
		    (amqp_bytes_t){ .len = m->len, .bytes = (void *)m->body });
		if (rc != AMQP_STATUS_OK) {
			/* What was published before may still be confirmed. */
			snprintf(err, cap, "publish: %s", amqp_error_string2(rc));
			cf.n = i;
			if (i > 0) {
				char ignored[SINK_ERROR_MAX];
				(void)await_confirms(c, &cf, ignored, sizeof(ignored));
			}
			*acked = sink_amqp_confirms_prefix(&cf);
			return -1;
		}
		c->next_tag++;
	}
	rc = await_confirms(c, &cf, err, cap);
	*acked = sink_amqp_confirms_prefix(&cf);
	amqp_maybe_release_buffers(c->st);
	return rc;
}

int
sink_amqp_conn_poll(struct sink_amqp_conn *c, char *err, size_t cap)
{
	struct timeval zero = { 0 };

	for (;;) {
		amqp_frame_t f;
		int rc = amqp_simple_wait_frame_noblock(c->st, &f, &zero);

		if (rc == AMQP_STATUS_TIMEOUT)
			break;
		if (rc != AMQP_STATUS_OK) {
			snprintf(err, cap, "connection lost: %s", amqp_error_string2(rc));
			return -1;
		}
		if (f.frame_type == AMQP_FRAME_METHOD &&
		    (f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD ||
		    f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD)) {
			close_text(&f.payload.method, "closed by the broker", err, cap);
			return -1;
		}
	}
	amqp_maybe_release_buffers(c->st);
	return 0;
}

int
sink_amqp_conn_fd(const struct sink_amqp_conn *c)
{
	return c ? amqp_get_sockfd(c->st) : -1;
}

void
sink_amqp_conn_close(struct sink_amqp_conn *c)
{
	if (!c)
		return;
	/* No connection.close handshake: it could wait for a broker that is
	 * gone. The socket's close tells the broker just as well. */
	amqp_destroy_connection(c->st);
	free(c);
}
