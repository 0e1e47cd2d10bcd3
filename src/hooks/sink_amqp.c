/*
 * sink_amqp.c - the RabbitMQ sink (AMQP 0-9-1, librabbitmq): its config,
 * its thread, and the hand-over of batches and outcomes between the loop
 * and that thread. The connection itself is sink_amqp_conn.c; the
 * strategies are in sink_amqp.h, the contract in sink.h.
 */
#include "sink_amqp.h"
#include "sink.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <amqp.h>
#include <event2/event.h>

#include "../log/log.h"
#include "../util/util.h"

/* ------------------------------------------------------------ pure parts */

static bool
name_chars(const char *s, const char *extra)
{
	size_t n = 0;

	if (!s)
		return false;
	for (const char *p = s; *p; p++, n++) {
		char ch = *p;
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == ':' || ch == '-' ||
		    (extra && strchr(extra, ch));
		if (!ok || n >= SINK_AMQP_NAME_MAX)
			return false;
	}
	return n > 0;
}

bool
sink_amqp_name_valid(const char *s)
{
	return name_chars(s, NULL);
}

bool
sink_amqp_key_valid(const char *s)
{
	return name_chars(s, "*#");
}

/* The password of scheme://user:password@host...: [*start, *end) in url,
 * or false when there is none. */
static bool
password_span(const char *url, size_t *start, size_t *end)
{
	const char *auth = strstr(url, "://");
	const char *stop, *at = NULL, *colon;

	if (!auth)
		return false;
	auth += 3;
	stop = auth + strcspn(auth, "/?#");
	for (const char *p = auth; p < stop; p++)
		if (*p == '@')
			at = p;
	if (!at)
		return false;
	colon = memchr(auth, ':', (size_t)(at - auth));
	if (!colon)
		return false;
	*start = (size_t)(colon + 1 - url);
	*end = (size_t)(at - url);
	return true;
}

char *
sink_amqp_mask_url(const char *url)
{
	size_t a, b;

	if (!password_span(url, &a, &b))
		return xstrdup(url);
	return xasprintf("%.*s%s%s", (int)a, url, SINK_AMQP_MASK, url + b);
}

void
sink_amqp_cfg_free(struct sink_amqp_cfg *cfg)
{
	free(cfg->host);
	free(cfg->vhost);
	free(cfg->user);
	if (cfg->password) {
		memset(cfg->password, 0, strlen(cfg->password));
		free(cfg->password);
	}
	free(cfg->exchange);
	free(cfg->exchange_type);
	free(cfg->queue);
	free(cfg->binding_key);
	memset(cfg, 0, sizeof(*cfg));
}

/* amqp_parse_url() on a copy: it decodes in place. */
static int
parse_url(const char *url, struct sink_amqp_cfg *cfg, bool *ssl)
{
	char *copy = xstrdup(url);
	struct amqp_connection_info ci;
	int rc = amqp_parse_url(copy, &ci);

	if (rc == AMQP_STATUS_OK) {
		cfg->host = xstrdup(ci.host);
		cfg->port = ci.port;
		cfg->vhost = xstrdup(ci.vhost);
		cfg->user = xstrdup(ci.user);
		cfg->password = xstrdup(ci.password);
		*ssl = ci.ssl;
	}
	memset(copy, 0, strlen(url));
	free(copy);
	return rc == AMQP_STATUS_OK ? 0 : -1;
}

static const char *
str_or(const json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : dflt;
}

int
sink_amqp_cfg_parse(const json_t *config, struct sink_amqp_cfg *cfg)
{
	const char *url = json_string_value(json_object_get(config, "url"));
	const char *queue = json_string_value(json_object_get(config, "queue"));
	bool ssl = false;

	memset(cfg, 0, sizeof(*cfg));
	if (!url || parse_url(url, cfg, &ssl) < 0)
		return -1;
	cfg->exchange = xstrdup(str_or(config, "exchange", "msgd"));
	cfg->exchange_type = xstrdup(str_or(config, "exchange_type", "topic"));
	cfg->queue = xstrdup_or_null(queue);
	cfg->binding_key = xstrdup(str_or(config, "binding_key", "#"));
	return 0;
}

/* --- publisher confirms --- */

void
sink_amqp_confirms_init(struct sink_amqp_confirms *c, uint64_t first, size_t n)
{
	memset(c, 0, sizeof(*c));
	c->first = first;
	c->n = n < SINK_AMQP_BATCH_MAX ? n : SINK_AMQP_BATCH_MAX;
}

static void
settle(struct sink_amqp_confirms *c, size_t i, bool ack)
{
	if (c->state[i] != 0)
		return;
	c->state[i] = ack ? 1 : 2;
	c->settled++;
	if (!ack)
		c->nacked = true;
}

void
sink_amqp_confirms_mark(struct sink_amqp_confirms *c, uint64_t tag, bool multiple, bool ack)
{
	uint64_t off;

	if (c->n == 0 || tag < c->first)
		return;  /* an earlier batch's */
	off = tag - c->first;
	if (!multiple) {
		if (off < c->n)
			settle(c, (size_t)off, ack);
		return;
	}
	for (size_t i = 0; i < c->n && i <= off; i++)
		settle(c, i, ack);
}

size_t
sink_amqp_confirms_prefix(const struct sink_amqp_confirms *c)
{
	size_t i = 0;

	while (i < c->n && c->state[i] == 1)
		i++;
	return i;
}

/* ------------------------------------------------------------ config ops */

static const char *const exchange_types[] = { "direct", "topic", "fanout", "headers", NULL };
static const char *const known_keys[] = { "url", "exchange", "exchange_type", "queue",
	"binding_key", NULL };

static bool
in_list(const char *const *list, const char *s)
{
	for (int i = 0; list[i]; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

#define FAIL(f, ...) do { \
	snprintf(field, fcap, "%s", (f)); \
	snprintf(msg, mcap, __VA_ARGS__); \
	goto fail; \
} while (0)

static int
amqp_check(const json_t *config, json_t **canonical, char *field, size_t fcap, char *msg,
    size_t mcap)
{
	struct sink_amqp_cfg cfg = { 0 };
	const char *key, *url, *s;
	json_t *v;
	bool ssl = false;

	if (!json_is_object(config))
		FAIL("config", "config must be an object");
	json_object_foreach((json_t *)config, key, v) {
		if (!in_list(known_keys, key))
			FAIL("config", "unknown field config.%.64s (url, exchange, exchange_type, "
			    "queue, binding_key)", key);
		if (!json_is_string(v)) {
			snprintf(field, fcap, "config.%s", key);
			snprintf(msg, mcap, "config.%s must be a string", key);
			goto fail;
		}
	}
	url = json_string_value(json_object_get(config, "url"));
	if (!url)
		FAIL("config.url", "config.url is required: amqp://user:password@host:port/vhost");
	if (strlen(url) > SINK_AMQP_URL_MAX)
		FAIL("config.url", "config.url is longer than %d bytes", SINK_AMQP_URL_MAX);
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			FAIL("config.url", "config.url holds a space or a control character");
	if (strncmp(url, "amqps://", 8) == 0)
		FAIL("config.url", "amqps:// (TLS) is not supported: use amqp://");
	if (strncmp(url, "amqp://", 7) != 0 || parse_url(url, &cfg, &ssl) < 0 || !cfg.host[0])
		FAIL("config.url", "config.url must be amqp://user:password@host:port/vhost");
	if (cfg.port < 1 || cfg.port > 65535)
		FAIL("config.url", "the port of config.url must be 1..65535");
	s = str_or(config, "exchange", "msgd");
	if (!sink_amqp_name_valid(s))
		FAIL("config.exchange", "config.exchange must be 1..%d characters of "
		    "[A-Za-z0-9._:-]", SINK_AMQP_NAME_MAX);
	s = str_or(config, "exchange_type", "topic");
	if (!in_list(exchange_types, s))
		FAIL("config.exchange_type", "config.exchange_type must be direct, topic, fanout "
		    "or headers");
	s = str_or(config, "queue", NULL);
	if (s && !sink_amqp_name_valid(s))
		FAIL("config.queue", "config.queue must be 1..%d characters of [A-Za-z0-9._:-]",
		    SINK_AMQP_NAME_MAX);
	if (json_object_get(config, "binding_key") && !s)
		FAIL("config.binding_key", "config.binding_key needs config.queue (the queue it "
		    "binds)");
	if (!sink_amqp_key_valid(str_or(config, "binding_key", "#")))
		FAIL("config.binding_key", "config.binding_key must be 1..%d characters of "
		    "[A-Za-z0-9._:*#-]", SINK_AMQP_NAME_MAX);
	sink_amqp_cfg_free(&cfg);
	*canonical = json_pack("{s:s, s:s, s:s}", "url", url,
	    "exchange", str_or(config, "exchange", "msgd"),
	    "exchange_type", str_or(config, "exchange_type", "topic"));
	if (s) {
		json_object_set_new(*canonical, "queue", json_string(s));
		json_object_set_new(*canonical, "binding_key",
		    json_string(str_or(config, "binding_key", "#")));
	}
	return 0;
fail:
	sink_amqp_cfg_free(&cfg);
	return -1;
}

static json_t *
amqp_show(const json_t *config)
{
	json_t *out = json_deep_copy(config);
	const char *url = json_string_value(json_object_get(config, "url"));

	if (url) {
		char *masked = sink_amqp_mask_url(url);
		json_object_set_new(out, "url", json_string(masked));
		free(masked);
	}
	return out;
}

/* ------------------------------------------------------------ the sink */

struct sink {
	struct event_base *base;
	struct event *ev_done;     /* made active by the thread: the outcome is in */
	int64_t sub_id;
	struct sink_amqp_cfg cfg;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	atomic_bool connected;
	/* Under mu: */
	bool stop;
	bool job;                  /* a batch handed over, its outcome not yet taken */
	bool job_done;             /* the thread has its outcome in res */
	struct sink_amqp_msg *msgs;
	size_t n;
	char *arena;               /* the batch's strings */
	sink_done_fn done;
	void *done_arg;
	struct sink_result res;
	char why[SINK_ERROR_MAX];  /* why the connection is down */
	int fd;                    /* the connection's socket, or -1 */
};

static void
sub_str(const struct sink *s, char out[24])
{
	snprintf(out, 24, "%" PRId64, s->sub_id);
}

/* The thread's socket is known (close() may shut it down from now on), or
 * about to be closed (-1). */
static void
on_socket(void *arg, int fd)
{
	struct sink *s = arg;

	pthread_mutex_lock(&s->mu);
	s->fd = fd;
	if (s->stop && fd >= 0)
		shutdown(fd, SHUT_RDWR);
	pthread_mutex_unlock(&s->mu);
}

/* Record why the connection is down; log it when it changed. */
static void
set_down(struct sink *s, const char *err)
{
	char id[24];
	bool changed;

	pthread_mutex_lock(&s->mu);
	s->fd = -1;
	changed = strcmp(s->why, err) != 0 && !s->stop;  /* close() cut it: no news */
	snprintf(s->why, sizeof(s->why), "%s", err);
	pthread_mutex_unlock(&s->mu);
	atomic_store(&s->connected, false);
	if (changed) {
		sub_str(s, id);
		log_warn("amqp export down", "export", id, "error", err);
	}
}

static struct sink_amqp_conn *
connect_now(struct sink *s)
{
	struct sink_amqp_conn *c = NULL;
	char err[SINK_ERROR_MAX], id[24];

	if (sink_amqp_conn_open(&c, &s->cfg, on_socket, s, err, sizeof(err)) < 0) {
		set_down(s, err);
		return NULL;
	}
	pthread_mutex_lock(&s->mu);
	s->why[0] = '\0';
	pthread_mutex_unlock(&s->mu);
	atomic_store(&s->connected, true);
	sub_str(s, id);
	log_info("amqp export connected", "export", id, "host", s->cfg.host);
	return c;
}

static void
drop(struct sink *s, struct sink_amqp_conn **c, const char *err)
{
	set_down(s, err);
	sink_amqp_conn_close(*c);
	*c = NULL;
}

/* Publish the batch handed over (mu not held). Without a connection, one
 * is made only when the background reconnection's turn has come (retry_at):
 * else the batch fails at once as not connected, and the mechanism waits for
 * the sink. A refusal (basic.nack) keeps the connection: the sink stays
 * healthy, so the mechanism counts an attempt and backs off. */
static void
run_job(struct sink *s, struct sink_amqp_conn **c, int64_t retry_at, struct sink_result *res)
{
	char err[SINK_ERROR_MAX];
	int rc;

	memset(res, 0, sizeof(*res));
	if (!*c && mono_ms() >= retry_at)
		*c = connect_now(s);
	if (!*c) {
		pthread_mutex_lock(&s->mu);
		snprintf(res->error, sizeof(res->error), "%s", s->why[0] ? s->why : "not connected");
		pthread_mutex_unlock(&s->mu);
		return;
	}
	rc = sink_amqp_conn_publish(*c, &s->cfg, s->msgs, s->n, &res->acked, err, sizeof(err));
	if (rc != 0)
		snprintf(res->error, sizeof(res->error), "%s", err);
	if (rc < 0)
		drop(s, c, err);
}

static void
deadline_in(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

/* 1 s, doubling up to SINK_AMQP_RECONNECT_MAX_MS. */
static int64_t
next_backoff(int64_t ms)
{
	ms = ms ? ms * 2 : 1000;
	return ms < SINK_AMQP_RECONNECT_MAX_MS ? ms : SINK_AMQP_RECONNECT_MAX_MS;
}

static void sink_free(struct sink *s);

static void *
run(void *arg)
{
	struct sink *s = arg;
	struct sink_amqp_conn *c = NULL;
	int64_t retry_at = 0, backoff = 0;
	char err[SINK_ERROR_MAX];

	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		if (s->job && !s->job_done) {
			struct sink_result res;

			pthread_mutex_unlock(&s->mu);
			run_job(s, &c, retry_at, &res);
			if (!c && mono_ms() >= retry_at) {
				/* Failed: the background reconnection waits its turn. */
				backoff = next_backoff(backoff);
				retry_at = mono_ms() + backoff;
			}
			pthread_mutex_lock(&s->mu);
			s->res = res;
			s->job_done = true;
			if (!s->stop)
				event_active(s->ev_done, EV_READ, 0);
			continue;
		}
		if (!c && mono_ms() >= retry_at) {
			/* Reconnect in the background: healthy() tells the truth
			 * between batches. */
			pthread_mutex_unlock(&s->mu);
			c = connect_now(s);
			backoff = c ? 0 : next_backoff(backoff);
			retry_at = mono_ms() + backoff;
			pthread_mutex_lock(&s->mu);
			continue;
		}
		struct timespec ts;
		int64_t wait = SINK_AMQP_IDLE_MS;
		if (!c && retry_at - mono_ms() < wait)
			wait = retry_at - mono_ms();
		deadline_in(&ts, wait > 0 ? wait : 0);
		int rc = pthread_cond_timedwait(&s->cv, &s->mu, &ts);
		if (rc == ETIMEDOUT && c && !s->stop && !s->job) {
			pthread_mutex_unlock(&s->mu);
			if (sink_amqp_conn_poll(c, err, sizeof(err)) < 0)
				drop(s, &c, err);
			pthread_mutex_lock(&s->mu);
		}
	}
	s->fd = -1;
	pthread_mutex_unlock(&s->mu);
	sink_amqp_conn_close(c);
	sink_free(s);  /* stopped by amqp_close(), which detached this thread */
	return NULL;
}

static void
free_batch(struct sink *s)
{
	free(s->msgs);
	free(s->arena);
	s->msgs = NULL;
	s->arena = NULL;
	s->n = 0;
}

/* The thread's last act: what amqp_open() made, but the event (closed
 * on the loop by amqp_close()). */
static void
sink_free(struct sink *s)
{
	free_batch(s);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	sink_amqp_cfg_free(&s->cfg);
	free(s);
}

/* On the loop: the thread's outcome of the batch. */
static void
on_done(evutil_socket_t fd, short what, void *arg)
{
	struct sink *s = arg;
	struct sink_result res;
	sink_done_fn done;
	void *done_arg;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&s->mu);
	if (!s->job || !s->job_done) {
		pthread_mutex_unlock(&s->mu);
		return;
	}
	res = s->res;
	done = s->done;
	done_arg = s->done_arg;
	free_batch(s);
	s->job = false;
	s->job_done = false;
	pthread_mutex_unlock(&s->mu);
	done(done_arg, &res);  /* may deliver() the next batch */
}

static int
amqp_open(struct sink **out, struct event_base *base, const json_t *config, int64_t sub_id)
{
	struct sink *s = xcalloc(1, sizeof(*s));
	pthread_condattr_t ca;
	char id[24];

	s->sub_id = sub_id;
	s->base = base;
	s->fd = -1;
	sub_str(s, id);
	if (sink_amqp_cfg_parse(config, &s->cfg) < 0) {
		log_error("amqp export: its stored config does not parse", "export", id);
		free(s);
		return -1;
	}
	snprintf(s->why, sizeof(s->why), "connecting");
	atomic_init(&s->connected, false);
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	s->ev_done = event_new(base, -1, 0, on_done, s);
	if (!s->ev_done || pthread_create(&s->thread, NULL, run, s) != 0) {
		log_error("amqp export: cannot start its thread", "export", id);
		if (s->ev_done)
			event_free(s->ev_done);
		pthread_cond_destroy(&s->cv);
		pthread_mutex_destroy(&s->mu);
		sink_amqp_cfg_free(&s->cfg);
		free(s);
		return -1;
	}
	*out = s;
	return 0;
}

static size_t
slen(const char *p)
{
	return strlen(p ? p : "") + 1;
}

/* A copy of p[0..n) (NULL: "") at *at, which moves past it. */
static const char *
put(char **at, const char *p, size_t n)
{
	char *dst = *at;

	if (!p)
		p = "";
	memcpy(dst, p, n);
	dst[n] = '\0';
	*at += n + 1;
	return dst;
}

static const char *
put_str(char **at, const char *p)
{
	return put(at, p, slen(p) - 1);
}

static void
amqp_deliver(struct sink *s, const struct sink_event *ev, size_t n, sink_done_fn done, void *arg)
{
	size_t total = 1;
	char *at;

	if (n > SINK_AMQP_BATCH_MAX)
		n = SINK_AMQP_BATCH_MAX;  /* the mechanism asks for batch_max at most */
	for (size_t i = 0; i < n; i++)
		total += slen(ev[i].type) + slen(ev[i].org) + slen(ev[i].channel) + ev[i].len + 1 +
		    slen(ev[i].delivery_id);
	pthread_mutex_lock(&s->mu);
	if (s->job) {
		/* The contract: one batch in flight. */
		pthread_mutex_unlock(&s->mu);
		log_error("amqp export: deliver() with a batch in flight");
		abort();
	}
	s->msgs = xcalloc(n ? n : 1, sizeof(*s->msgs));
	s->arena = at = xmalloc(total);
	for (size_t i = 0; i < n; i++) {
		struct sink_amqp_msg *m = &s->msgs[i];
		m->seq = ev[i].seq;
		m->type = put_str(&at, ev[i].type);
		m->org = put_str(&at, ev[i].org);
		m->channel = ev[i].channel ? put_str(&at, ev[i].channel) : NULL;
		m->body = put(&at, ev[i].body, ev[i].len);
		m->len = ev[i].len;
		m->delivery_id = put_str(&at, ev[i].delivery_id);
	}
	s->n = n;
	s->done = done;
	s->done_arg = arg;
	s->job = true;
	s->job_done = false;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static bool
amqp_healthy(struct sink *s, char *why, size_t cap)
{
	if (atomic_load(&s->connected))
		return true;
	pthread_mutex_lock(&s->mu);
	snprintf(why, cap, "%s", s->why[0] ? s->why : "not connected");
	pthread_mutex_unlock(&s->mu);
	return false;
}

/* On the loop, without waiting (a connect may take seconds): the thread is
 * told to stop, its socket shut, and the event that calls done() goes now
 * (the thread activates it only while not stopped, under mu), so no done()
 * comes after this returns. The thread, detached, frees the rest when it
 * ends (sink_free()). */
static void
amqp_close(struct sink *s)
{
	struct event *ev;
	pthread_t t;

	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	t = s->thread;  /* s may be gone once mu is let go */
	s->stop = true;
	if (s->fd >= 0)
		shutdown(s->fd, SHUT_RDWR);  /* frees a thread blocked on the socket */
	ev = s->ev_done;
	s->ev_done = NULL;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	event_free(ev);  /* an outcome not yet taken is dropped: no done() */
	pthread_detach(t);
}

const struct sink_ops sink_amqp_ops = {
	.kind = "amqp",
	.batch_max = SINK_AMQP_BATCH_MAX,
	.check = amqp_check,
	.show = amqp_show,
	.open = amqp_open,
	.deliver = amqp_deliver,
	.healthy = amqp_healthy,
	.close = amqp_close,
};
