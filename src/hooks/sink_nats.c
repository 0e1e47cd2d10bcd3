/*
 * sink_nats.c - the NATS sink (libnats, Debian's libnats-dev): each event
 * published on "<subject_prefix>.<org>.<type>" with the header
 * Nats-Msg-Id: <delivery id>.
 *
 * Two modes, chosen at connect and again after every reconnect or failure:
 *  - JetStream, when a stream takes the prefix's subjects (the JetStream API
 *    lists the streams whose subjects overlap "<prefix>.>"): the batch is
 *    published asynchronously and the sink waits for every publish
 *    acknowledgement; an acknowledged event is stored by the stream, which
 *    also drops a repeated Nats-Msg-Id within its duplicate window.
 *  - core NATS otherwise: the batch is published, then flushed (a PING
 *    answered: the server has every message and passed it on to the
 *    subscribers it had).
 *
 * Threads. libnats connects and reconnects by itself on threads of its own
 * (RetryOnFailedConnect, unlimited reconnects); its callbacks only flip
 * flags. Publishing and waiting block, so they run on a worker thread of the
 * sink's own: deliver() copies the batch and hands it over, the worker
 * publishes it and wakes the loop with event_active(), and the loop calls
 * done(). Nothing here blocks the loop.
 */
#include "sink.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <nats/nats.h>

#include "../log/log.h"
#include "../util/util.h"

#define NATS_BATCH_MAX 256
#define NATS_URL_MAX 2048
#define NATS_PREFIX_MAX 128
#define NATS_CRED_MAX 256
#define NATS_SUBJECT_MAX 512
#define NATS_FLUSH_TIMEOUT_MS 5000
#define NATS_ACK_WAIT_MS 5000      /* every acknowledgement of a JetStream batch */
#define NATS_RECONNECT_WAIT_MS 500
#define NATS_CONNECT_TIMEOUT_MS 2000
#define NATS_CLOSE_WAIT_S 5         /* for libnats' closed callback */

struct nmsg {
	int64_t seq;
	char subject[NATS_SUBJECT_MAX];
	char id[48];
	char *body;
	size_t len;
	int acked;                      /* JetStream: 1 acknowledged, -1 refused, 0 not yet */
};

struct sink {
	struct event_base *base;
	int64_t id;
	char *url, *prefix, *user, *password, *token;
	char shown_url[NATS_URL_MAX + 16];  /* without a password: for errors and logs */
	natsOptions *opts;
	natsConnection *nc;
	jsCtx *js;
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* Under mu. */
	bool stop;
	bool closed;                    /* libnats' last callback came: it is done with us */
	bool job;                       /* a batch waits for the worker */
	struct nmsg *msgs;
	size_t n;
	struct sink_result res;         /* the worker's while it publishes */
	char ack_error[SINK_ERROR_MAX]; /* the first refusal in the batch's acknowledgements */
	char why[SINK_ERROR_MAX];
	/* The loop's. */
	sink_done_fn done;
	void *arg;
	struct event *ev_done;
	atomic_bool connected;
	atomic_bool recheck;            /* (re)connected or failed: look for a stream again */
	bool use_js;                    /* the worker's: publish with JetStream */
	bool js_seen;                   /* the worker's: a stream took the subjects once */
};

/* --- config --- */

static bool
token_ok(const char *p, size_t len)
{
	/* Dot-separated tokens of letters, digits, '-' and '_': no wildcards. */
	if (len == 0 || p[0] == '.' || p[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || (c == '.' && p[i + 1] != '.')))
			return false;
	}
	return true;
}

static bool
url_ok(const char *u)
{
	if (strncmp(u, "nats://", 7) != 0 && strncmp(u, "tls://", 6) != 0)
		return false;
	if (u[u[0] == 'n' ? 7 : 6] == '\0')
		return false;
	for (const unsigned char *c = (const unsigned char *)u; *c; c++)
		if (*c <= ' ' || *c == 0x7f || *c == ',')
			return false;
	return true;
}

#define FAIL(f, ...) do { snprintf(field, fcap, "%s", f); snprintf(msg, mcap, __VA_ARGS__); \
	return -1; } while (0)

static int
nats_check(const json_t *config, json_t **canonical, char *field, size_t fcap, char *msg, size_t mcap)
{
	const char *key, *s;
	json_t *v;

	if (!json_is_object(config))
		FAIL("config", "'config' must be an object");
	json_object_foreach((json_t *)config, key, v) {
		if (strcmp(key, "url") && strcmp(key, "subject_prefix") && strcmp(key, "user") &&
		    strcmp(key, "password") && strcmp(key, "token")) {
			snprintf(field, fcap, "config.%.64s", key);
			snprintf(msg, mcap, "unknown field '%.64s'", key);
			return -1;
		}
		if (!json_is_string(v) || json_string_length(v) != strlen(json_string_value(v))) {
			snprintf(field, fcap, "config.%.64s", key);
			snprintf(msg, mcap, "'config.%.64s' must be a string", key);
			return -1;
		}
	}
	s = json_string_value(json_object_get(config, "url"));
	if (s == NULL || strlen(s) > NATS_URL_MAX || !url_ok(s))
		FAIL("config.url", "'config.url' must be a nats:// or tls:// URL of at most %d bytes",
		    NATS_URL_MAX);
	s = json_string_value(json_object_get(config, "subject_prefix"));
	if (s && (strlen(s) > NATS_PREFIX_MAX || !token_ok(s, strlen(s))))
		FAIL("config.subject_prefix", "'config.subject_prefix' must be dot-separated tokens"
		    " of letters, digits, '-' and '_' (at most %d bytes)", NATS_PREFIX_MAX);
	for (int i = 0; i < 3; i++) {
		const char *k = i == 0 ? "user" : i == 1 ? "password" : "token";
		s = json_string_value(json_object_get(config, k));
		if (s && (strlen(s) == 0 || strlen(s) > NATS_CRED_MAX)) {
			snprintf(field, fcap, "config.%s", k);
			snprintf(msg, mcap, "'config.%s' must be 1 to %d bytes", k, NATS_CRED_MAX);
			return -1;
		}
	}
	if (!json_object_get(config, "user") != !json_object_get(config, "password"))
		FAIL(json_object_get(config, "user") ? "config.password" : "config.user",
		    "'config.user' and 'config.password' go together");
	if (json_object_get(config, "token") && json_object_get(config, "user"))
		FAIL("config.token", "'config.token' or 'config.user' and 'config.password', not both");
	*canonical = json_deep_copy(config);
	if (json_object_get(*canonical, "subject_prefix") == NULL)
		json_object_set_new(*canonical, "subject_prefix", json_string("msgd"));
	return 0;
}

/* url with its credentials masked: "u:********@" for a user and password,
 * "********@" for a token (libnats takes a lone user name as the token). */
static void
url_masked(const char *url, char *out, size_t cap)
{
	const char *scheme = strstr(url, "://"), *host, *end, *at = NULL, *colon = NULL;

	if (scheme == NULL) {
		snprintf(out, cap, "%s", url);
		return;
	}
	host = scheme + 3;
	end = host + strcspn(host, "/?#");
	for (const char *p = host; p < end; p++)
		if (*p == '@')
			at = p;
	if (at == NULL) {
		snprintf(out, cap, "%s", url);
		return;
	}
	for (const char *p = host; p < at; p++)
		if (*p == ':') {
			colon = p;
			break;
		}
	if (colon)
		snprintf(out, cap, "%.*s:********%s", (int)(colon - url), url, at);
	else
		snprintf(out, cap, "%.*s********%s", (int)(host - url), url, at);
}

static json_t *
nats_show(const json_t *config)
{
	json_t *out = json_deep_copy(config);
	const char *url = json_string_value(json_object_get(config, "url"));

	if (out == NULL)
		return json_object();
	if (url) {
		char m[NATS_URL_MAX + 16];
		url_masked(url, m, sizeof(m));
		json_object_set_new(out, "url", json_string(m));
	}
	if (json_object_get(out, "password"))
		json_object_set_new(out, "password", json_string("********"));
	if (json_object_get(out, "token"))
		json_object_set_new(out, "token", json_string("********"));
	return out;
}

/* --- libnats' callbacks (its threads) --- */

static void
on_connected(natsConnection *nc, void *closure)
{
	struct sink *s = closure;

	atomic_store(&s->recheck, true);
	atomic_store(&s->connected, true);
}

static void
on_disconnected(natsConnection *nc, void *closure)
{
	struct sink *s = closure;

	atomic_store(&s->connected, false);
}

static void
on_closed(natsConnection *nc, void *closure)
{
	struct sink *s = closure;

	pthread_mutex_lock(&s->mu);
	s->closed = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* --- the worker --- */

static void
set_why(struct sink *s, const char *what, natsStatus st)
{
	pthread_mutex_lock(&s->mu);
	snprintf(s->why, sizeof(s->why), "%s (%.100s): %s", what, s->shown_url, natsStatus_GetText(st));
	pthread_mutex_unlock(&s->mu);
}

static void
on_ack(jsCtx *js, natsMsg *m, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	struct sink *s = closure;
	const char *id = NULL;

	if (natsMsgHeader_Get(m, "Nats-Msg-Id", &id) == NATS_OK && id) {
		const char *dash = strrchr(id, '-');
		int64_t seq = dash ? strtoll(dash + 1, NULL, 10) : 0;
		pthread_mutex_lock(&s->mu);
		for (size_t i = 0; i < s->n; i++) {
			if (s->msgs[i].seq == seq) {
				s->msgs[i].acked = pae ? -1 : 1;
				if (pae && s->ack_error[0] == '\0')
					snprintf(s->ack_error, sizeof(s->ack_error), "JetStream refused seq %" PRId64
					    ": %s", seq, pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err));
				break;
			}
		}
		pthread_mutex_unlock(&s->mu);
	}
	natsMsg_Destroy(m);  /* ours; pa and pae are the library's */
}

/* Does a stream take the prefix's subjects? 1 yes, 0 no (none does, or the
 * server has no JetStream), -1 the JetStream API did not tell (*st why). */
static int
find_stream(struct sink *s, natsStatus *st)
{
	jsStreamNamesList *list = NULL;
	jsOptions o;
	char filter[NATS_PREFIX_MAX + 4];
	int found;

	jsOptions_Init(&o);
	o.PublishAsync.AckHandler = on_ack;
	o.PublishAsync.AckHandlerClosure = s;
	o.PublishAsync.MaxPending = NATS_BATCH_MAX;
	if (s->js == NULL && (*st = natsConnection_JetStream(&s->js, s->nc, &o)) != NATS_OK) {
		s->js = NULL;
		return -1;
	}
	jsOptions_Init(&o);
	snprintf(filter, sizeof(filter), "%s.>", s->prefix);
	o.Stream.Info.SubjectsFilter = filter;
	*st = js_StreamNames(&list, s->js, &o, NULL);
	if (*st == NATS_OK)
		found = list != NULL && list->Count > 0;
	else if (*st == NATS_NOT_FOUND || *st == NATS_NO_RESPONDERS)
		found = 0;  /* no stream; no JetStream at all */
	else
		found = -1;
	if (list)
		jsStreamNamesList_Destroy(list);
	return found;
}

/* Choose between JetStream and core NATS again: false when it cannot be
 * told now (the batch fails and is tried again later). A server where a
 * stream was seen is not taken for one without JetStream while its
 * JetStream does not answer (right after a restart): the events would be
 * published past the stream. */
static bool
choose_mode(struct sink *s)
{
	natsStatus st = NATS_OK;
	int found = find_stream(s, &st);

	if (found == 1)
		s->use_js = s->js_seen = true;
	else if (found == 0 && !(s->js_seen && st == NATS_NO_RESPONDERS))
		s->use_js = false;
	else {
		snprintf(s->res.error, sizeof(s->res.error), "the JetStream API of %.100s: %s",
		    s->shown_url, natsStatus_GetText(st));
		atomic_store(&s->recheck, true);
		return false;
	}
	return true;
}

/* Publish the batch: how many from its start were accepted. */
static size_t
publish(struct sink *s)
{
	natsStatus st = NATS_OK;
	size_t i;

	if (!atomic_load(&s->connected) || natsConnection_Status(s->nc) != NATS_CONN_STATUS_CONNECTED) {
		snprintf(s->res.error, sizeof(s->res.error), "not connected to %.100s", s->shown_url);
		return 0;
	}
	if (atomic_exchange(&s->recheck, false) && !choose_mode(s))
		return 0;
	for (i = 0; i < s->n && st == NATS_OK; i++) {
		natsMsg *m = NULL;
		struct nmsg *e = &s->msgs[i];
		st = natsMsg_Create(&m, e->subject, NULL, e->body, (int)e->len);
		if (st == NATS_OK)
			st = natsMsgHeader_Set(m, "Nats-Msg-Id", e->id);
		if (st == NATS_OK && s->use_js) {
			jsPubOptions po;
			jsPubOptions_Init(&po);
			po.MaxWait = NATS_ACK_WAIT_MS;
			st = js_PublishMsgAsync(s->js, &m, &po);  /* takes m when it succeeds */
		} else if (st == NATS_OK) {
			st = natsConnection_PublishMsg(s->nc, m);
		}
		natsMsg_Destroy(m);
	}
	size_t sent = st == NATS_OK ? s->n : i - 1;
	if (st != NATS_OK)
		snprintf(s->res.error, sizeof(s->res.error), "publish to %.100s: %s", s->shown_url,
		    natsStatus_GetText(st));
	if (!s->use_js) {
		natsStatus fs = natsConnection_FlushTimeout(s->nc, NATS_FLUSH_TIMEOUT_MS);
		if (fs != NATS_OK) {
			snprintf(s->res.error, sizeof(s->res.error), "flush to %.100s: %s", s->shown_url,
			    natsStatus_GetText(fs));
			return 0;
		}
		return sent;
	}
	jsPubOptions po;
	jsPubOptions_Init(&po);
	po.MaxWait = NATS_ACK_WAIT_MS;
	natsStatus ws = js_PublishAsyncComplete(s->js, &po);
	pthread_mutex_lock(&s->mu);
	for (i = 0; i < sent && s->msgs[i].acked == 1; i++)
		;
	if (i < sent && s->res.error[0] == '\0') {
		if (s->ack_error[0])
			snprintf(s->res.error, sizeof(s->res.error), "%s", s->ack_error);
		else
			snprintf(s->res.error, sizeof(s->res.error), "JetStream acknowledgements from %.100s: %s",
			    s->shown_url, natsStatus_GetText(ws == NATS_OK ? NATS_TIMEOUT : ws));
	}
	pthread_mutex_unlock(&s->mu);
	if (ws != NATS_OK) {
		/* Those not acknowledged yet are abandoned (sent again later). */
		natsMsgList pending = { 0 };
		if (js_PublishAsyncGetPendingList(&pending, s->js) == NATS_OK)
			natsMsgList_Destroy(&pending);
	}
	return i;
}

static void *
worker(void *arg)
{
	struct sink *s = arg;
	natsStatus st = natsConnection_Connect(&s->nc, s->opts);

	if (st != NATS_OK && st != NATS_NOT_YET_CONNECTED) {
		set_why(s, "cannot connect", st);
		s->nc = NULL;
	} else if (st == NATS_OK) {
		atomic_store(&s->recheck, true);
		atomic_store(&s->connected, true);
	}
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->stop && !s->job)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->stop)
			break;
		s->res = (struct sink_result){ 0 };
		s->ack_error[0] = '\0';
		pthread_mutex_unlock(&s->mu);
		size_t acked = 0;
		if (s->nc == NULL)
			snprintf(s->res.error, sizeof(s->res.error), "not connected to %.100s", s->shown_url);
		else
			acked = publish(s);
		if (acked < s->n)
			atomic_store(&s->recheck, true);
		pthread_mutex_lock(&s->mu);
		s->res.acked = acked;
		s->job = false;
		if (!s->stop)
			event_active(s->ev_done, 0, 0);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* --- the loop's side --- */

static void
free_msgs(struct sink *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->msgs[i].body);
	free(s->msgs);
	s->msgs = NULL;
	s->n = 0;
}

static void
on_done(evutil_socket_t fd, short what, void *arg)
{
	struct sink *s = arg;
	struct sink_result res;

	pthread_mutex_lock(&s->mu);
	res = s->res;
	free_msgs(s);
	pthread_mutex_unlock(&s->mu);
	s->done(s->arg, &res);
}

/* "<prefix>.<org>.<type>": an organization's name is one token (its dots
 * become '_'). */
static void
subject(char *out, size_t cap, const char *prefix, const char *org, const char *type)
{
	int n = snprintf(out, cap, "%s.", prefix);
	size_t at = n > 0 && (size_t)n < cap ? (size_t)n : 0;

	for (const char *c = org; *c && at + 1 < cap; c++)
		out[at++] = *c == '.' ? '_' : *c;
	if (at < cap)
		snprintf(out + at, cap - at, ".%s", type);
}

static void
nats_deliver(struct sink *s, const struct sink_event *ev, size_t n, sink_done_fn done, void *arg)
{
	struct nmsg *msgs = xcalloc(n ? n : 1, sizeof(*msgs));

	for (size_t i = 0; i < n; i++) {
		msgs[i].seq = ev[i].seq;
		subject(msgs[i].subject, sizeof(msgs[i].subject), s->prefix, ev[i].org, ev[i].type);
		snprintf(msgs[i].id, sizeof(msgs[i].id), "%s", ev[i].delivery_id);
		msgs[i].body = xmalloc(ev[i].len + 1);
		memcpy(msgs[i].body, ev[i].body, ev[i].len);
		msgs[i].body[ev[i].len] = '\0';
		msgs[i].len = ev[i].len;
	}
	s->done = done;
	s->arg = arg;
	pthread_mutex_lock(&s->mu);
	s->msgs = msgs;
	s->n = n;
	s->job = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static bool
nats_healthy(struct sink *s, char *why, size_t cap)
{
	bool up = atomic_load(&s->connected);

	if (cap == 0)
		return up;
	if (up) {
		why[0] = '\0';
		return true;
	}
	pthread_mutex_lock(&s->mu);
	if (s->why[0])
		snprintf(why, cap, "%s", s->why);
	else
		snprintf(why, cap, "not connected to %.100s", s->shown_url);
	pthread_mutex_unlock(&s->mu);
	return false;
}

/* What closing waits for (a detached thread's work, see nats_close()). */
static void
reap(struct sink *s)
{
	if (s->thread_started)
		pthread_join(s->thread, NULL);
	if (s->js)
		jsCtx_Destroy(s->js);
	if (s->nc) {
		/* libnats calls back on a thread of its own, after Close too: its
		 * closed callback comes last, then s may go. A thread handoff (no
		 * network wait: the connection is only shut), bounded. */
		struct timespec until;
		bool closed;
		natsConnection_Close(s->nc);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += NATS_CLOSE_WAIT_S;
		pthread_mutex_lock(&s->mu);
		while (!s->closed && pthread_cond_timedwait(&s->cv, &s->mu, &until) == 0)
			;
		closed = s->closed;
		pthread_mutex_unlock(&s->mu);
		natsConnection_Destroy(s->nc);
		if (!closed) {
			log_error("nats: the connection did not close in time; its sink is left behind");
			return;
		}
	}
	natsOptions_Destroy(s->opts);
	free_msgs(s);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s->url);
	free(s->prefix);
	free(s->user);
	if (s->password) {
		memset(s->password, 0, strlen(s->password));
		free(s->password);
	}
	if (s->token) {
		memset(s->token, 0, strlen(s->token));
		free(s->token);
	}
	free(s);
}

static void *
reaper(void *arg)
{
	reap(arg);
	return NULL;
}

/* On the loop, without waiting: the worker is told to stop and the event
 * that calls done() goes now (the worker activates it only while not
 * stopped, under mu), so no done() comes after this returns; joining the
 * worker (a publish may be waiting for its acknowledgements) and closing
 * the connection happen on a detached thread of their own. */
static void
nats_close(struct sink *s)
{
	pthread_t t;
	pthread_attr_t a;

	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	event_free(s->ev_done);  /* a done() not run yet never runs */
	s->ev_done = NULL;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &a, reaper, s) != 0)
		reap(s);  /* no thread: here, then */
	pthread_attr_destroy(&a);
}

static char *
dup_or_null(const json_t *config, const char *key)
{
	const char *v = json_string_value(json_object_get(config, key));
	return v ? xstrdup(v) : NULL;
}

static int
nats_open(struct sink **out, struct event_base *base, const json_t *config, int64_t sub_id)
{
	struct sink *s = xcalloc(1, sizeof(*s));
	natsStatus st;
	char name[64];

	s->base = base;
	s->id = sub_id;
	s->url = dup_or_null(config, "url");
	s->prefix = dup_or_null(config, "subject_prefix");
	if (s->prefix == NULL)
		s->prefix = xstrdup("msgd");
	s->user = dup_or_null(config, "user");
	s->password = dup_or_null(config, "password");
	s->token = dup_or_null(config, "token");
	url_masked(s->url ? s->url : "", s->shown_url, sizeof(s->shown_url));
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->ev_done = event_new(base, -1, 0, on_done, s);
	snprintf(name, sizeof(name), "msgd-export-%" PRId64, sub_id);
	st = s->url ? natsOptions_Create(&s->opts) : NATS_INVALID_ARG;
	if (st == NATS_OK)
		st = natsOptions_SetURL(s->opts, s->url);
	if (st == NATS_OK)
		st = natsOptions_SetName(s->opts, name);
	if (st == NATS_OK && s->user)
		st = natsOptions_SetUserInfo(s->opts, s->user, s->password);
	if (st == NATS_OK && s->token)
		st = natsOptions_SetToken(s->opts, s->token);
	if (st == NATS_OK)
		st = natsOptions_SetMaxReconnect(s->opts, -1);
	if (st == NATS_OK)
		st = natsOptions_SetReconnectWait(s->opts, NATS_RECONNECT_WAIT_MS);
	if (st == NATS_OK)
		st = natsOptions_SetTimeout(s->opts, NATS_CONNECT_TIMEOUT_MS);
	if (st == NATS_OK)
		st = natsOptions_SetRetryOnFailedConnect(s->opts, true, on_connected, s);
	if (st == NATS_OK)
		st = natsOptions_SetReconnectedCB(s->opts, on_connected, s);
	if (st == NATS_OK)
		st = natsOptions_SetDisconnectedCB(s->opts, on_disconnected, s);
	if (st == NATS_OK)
		st = natsOptions_SetClosedCB(s->opts, on_closed, s);
	if (st != NATS_OK) {
		log_error("nats: cannot set the connection up", "error", natsStatus_GetText(st));
		nats_close(s);
		return -1;
	}
	if (pthread_create(&s->thread, NULL, worker, s) != 0) {
		log_error("nats: cannot start the export's thread");
		nats_close(s);
		return -1;
	}
	s->thread_started = true;
	*out = s;
	return 0;
}

const struct sink_ops sink_nats_ops = {
	.kind = "nats",
	.batch_max = NATS_BATCH_MAX,
	.check = nats_check,
	.show = nats_show,
	.open = nats_open,
	.deliver = nats_deliver,
	.healthy = nats_healthy,
	.close = nats_close,
};
