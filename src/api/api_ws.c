/*
 * api_ws.c - GET /v1/ws: the event log live over a WebSocket (RFC 6455),
 * and sending through it.
 *
 * The handshake is checked here and answered 101 through the HTTP layer's
 * upgrade (http_reply_upgrade); libmicrohttpd then hands us the socket and
 * we drive it on the loop: EV_READ while we accept input, EV_WRITE only
 * while wslay has output queued. wslay does the framing (masks, fragments,
 * control frames, pings answered, close handshake, 1009 over WS_MSG_MAX).
 *
 * Events: same semantics as /v1/stream (?since=SEQ, ?channel=, ?conversation_id=);
 * each event is one text frame holding the event JSON. Flow control is by
 * pull: events are formatted from the bus cursor only while wslay's queued
 * output is under WS_OUT_CAP, so a slow client costs a bounded queue and a
 * cursor. One that stays at the cap for WS_STALL_MS is closed with 1008,
 * "...; reconnect with since=N": N is the last event certainly written to
 * the socket (a client that kept the seq of the last event it got may use
 * that instead). While the queue is at the cap we also stop reading, so a
 * client that does not read cannot make us queue replies.
 *
 * Client messages (text frames, JSON): {"op":"send","id":..., ...a POST
 * /v1/messages body} → {"op":"result","id","status","message"|"error"} after
 * the commit (api_send_submit, the HTTP path's code); {"op":"ping"} →
 * {"op":"pong"}; anything else → {"op":"error","error":{...}}, and the
 * connection stays open.
 *
 * Shutdown (api_ws_end): close 1001, wait WS_CLOSE_WAIT_MS for the client's
 * close frame, then give the socket back.
 */
#include "api.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <wslay/wslay.h>

#include "../authz/authz.h"
#include "../bus/bus.h"
#include "../http/http.h"
#include "../log/log.h"
#include "../util/util.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_OUT_CAP (256 * 1024)       /* queued output before we stop formatting and reading */
#define WS_OUT_MSGS_MAX 4096          /* queued messages (small ones: pongs, errors) likewise */
#define SCAN_MAX 2000                 /* events filtered out per pass before yielding */
#define WS_STALL_MS (30 * 1000)       /* at the cap this long: too far behind, closed */
#define WS_MSG_MAX (1024 * 1024)      /* a client message; over it: close 1009 */
#define WS_PING_MS (30 * 1000)
#define WS_TICK_MS 1000
#define WS_CLOSE_WAIT_MS 2000         /* for the client's close frame */
#define WS_SENDS_MAX 64               /* sends awaiting their commit, per socket */
#define WS_ROUNDS_MAX 8               /* fill/send rounds per loop iteration */

struct ws;

/* A send awaiting its commit; outlives its socket if need be. */
struct ws_send {
	struct ws *ws;                  /* NULL once the socket is gone */
	struct ws_send *prev, *next;
	json_t *id;                     /* the client's correlation id */
};

/* An event frame queued but maybe not yet written. */
struct ws_pending {
	int64_t seq;
	uint64_t end;                   /* event payload bytes queued up to and with it */
};

struct ws {
	struct app *app;
	struct ws *prev, *next;         /* app->websockets */
	struct http_upgrade *up;        /* NULL until the socket is ours */
	int fd;
	wslay_event_context_ptr ctx;
	struct event *ev_read, *ev_write, *ev_tick;
	struct event *ev_kick;          /* never added, only activated: "pump soon" */
	bool reading, writing;          /* ev_read / ev_write added */
	struct bus_sub *sub;
	int64_t since;
	struct bus_filter filter;
	char *extra;                    /* bytes MHD read after the request */
	size_t extra_len, extra_off;
	/* Which events certainly reached the socket: for the resume hint. */
	struct ws_pending *pend;
	size_t npend, pend_head, pend_cap;
	uint64_t event_bytes;
	int64_t written_seq;
	int64_t stalled_ms;             /* when the queue reached the cap, or 0 */
	int64_t ping_ms;
	int64_t close_ms;               /* give up on the close handshake then, or 0 */
	struct ws_send *sends;
	size_t nsends;
	struct principal who;           /* who opened it: sends need PERM_MESSAGES_SEND */
	bool failed;                    /* socket error or EOF */
	bool draining;                  /* our close is out: discard input until EOF */
};

static int pump(struct ws *ws);

/* --- the socket, for wslay --- */

static bool out_full(struct ws *ws);

static ssize_t
recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *arg)
{
	struct ws *ws = arg;

	if (ws->extra_off < ws->extra_len) {
		size_t n = ws->extra_len - ws->extra_off;
		if (n > len)
			n = len;
		memcpy(buf, ws->extra + ws->extra_off, n);
		ws->extra_off += n;
		return (ssize_t)n;
	}
	/* Every frame read may queue an answer (an error, a pong): read no more
	 * while the output is full, or a client that sends without reading
	 * could make us queue without bound. Reading resumes as it drains. */
	if (out_full(ws)) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	ssize_t r = recv(ws->fd, buf, len, 0);
	if (r > 0)
		return r;
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	ws->failed = true;
	wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
	return -1;
}

static ssize_t
send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *arg)
{
	struct ws *ws = arg;
	ssize_t r = send(ws->fd, data, len, MSG_NOSIGNAL | ((flags & WSLAY_MSG_MORE) ? MSG_MORE : 0));

	if (r >= 0)
		return r;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	ws->failed = true;
	wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
	return -1;
}

/* --- output --- */

static void
queue_text(struct ws *ws, const char *s, size_t len)
{
	struct wslay_event_msg m = { .opcode = WSLAY_TEXT_FRAME, .msg = (const uint8_t *)s, .msg_length = len };
	wslay_event_queue_msg(ws->ctx, &m);  /* refused only once closing: then moot */
}

/* Steals v. */
static void
queue_json(struct ws *ws, json_t *v)
{
	char *s = json_encode(v, NULL);
	json_decref(v);
	if (s) {
		queue_text(ws, s, strlen(s));
		free(s);
	}
}

static void
queue_error(struct ws *ws, json_t *id, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
queue_error(struct ws *ws, json_t *id, const char *code, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	utf8_sanitize(msg);
	json_t *o = json_pack("{s:s,s:{s:s,s:s}}", "op", "error", "error", "code", code, "message", msg);
	if (id)
		json_object_set(o, "id", id);
	queue_json(ws, o);
}

static void
close_with(struct ws *ws, uint16_t code, const char *reason)
{
	if (ws->close_ms == 0)
		ws->close_ms = mono_ms() + WS_CLOSE_WAIT_MS;
	/* Refused when a close is already queued or sent: fine. */
	wslay_event_queue_close(ws->ctx, code, (const uint8_t *)reason, strlen(reason));
}

/* "...; reconnect with since=N", N being the last event certainly written. */
static void
close_resume(struct ws *ws, uint16_t code, const char *why)
{
	char reason[120];  /* a close reason is at most 123 bytes */
	snprintf(reason, sizeof(reason), "%s; reconnect with since=%" PRId64, why, ws->written_seq);
	close_with(ws, code, reason);
}


static void
pend_push(struct ws *ws, int64_t seq)
{
	if (ws->pend_head == ws->npend) {
		ws->pend_head = ws->npend = 0;
	} else if (ws->npend == ws->pend_cap && ws->pend_head > 0) {
		memmove(ws->pend, ws->pend + ws->pend_head, (ws->npend - ws->pend_head) * sizeof(*ws->pend));
		ws->npend -= ws->pend_head;
		ws->pend_head = 0;
	}
	if (ws->npend == ws->pend_cap) {
		ws->pend_cap = ws->pend_cap ? ws->pend_cap * 2 : 256;
		ws->pend = xrealloc(ws->pend, ws->pend_cap * sizeof(*ws->pend));
	}
	ws->pend[ws->npend++] = (struct ws_pending){ .seq = seq, .end = ws->event_bytes };
}

/*
 * wslay counts the payload bytes of whole messages still queued (events and
 * anything else); frames leave in queue order. So every event whose end lies
 * within event_bytes - queued was written, whatever else is queued.
 */
static void
pend_update(struct ws *ws)
{
	size_t q = wslay_event_get_queued_msg_length(ws->ctx);
	uint64_t done = ws->event_bytes > q ? ws->event_bytes - q : 0;

	while (ws->pend_head < ws->npend && ws->pend[ws->pend_head].end <= done)
		ws->written_seq = ws->pend[ws->pend_head++].seq;
}

/* Format events while the queue is under the cap; -1 on a store error. */
static int
fill(struct ws *ws)
{
	const struct store_event *e;
	bool err = false;

	if (ws->sub == NULL || ws->close_ms || !wslay_event_get_write_enabled(ws->ctx))
		return 0;
	int scanned = 0;
	while (wslay_event_get_queued_msg_length(ws->ctx) < WS_OUT_CAP &&
	    (e = bus_next(ws->sub, &err)) != NULL) {
		if (!bus_event_wanted(&ws->filter, e) || e->json == NULL) {
			/* A narrow filter over a long log: give the loop back now and then. */
			if (++scanned >= SCAN_MAX) {
				event_active(ws->ev_kick, EV_TIMEOUT, 0);
				break;
			}
			continue;
		}
		queue_text(ws, e->json, e->len);
		ws->event_bytes += e->len;
		pend_push(ws, e->seq);
	}
	return err ? -1 : 0;
}

/* --- teardown --- */

static void
ws_release(struct ws *ws)
{
	if (ws->prev)
		ws->prev->next = ws->next;
	else if (ws->app->websockets == ws)
		ws->app->websockets = ws->next;
	if (ws->next)
		ws->next->prev = ws->prev;
	for (struct ws_send *s = ws->sends; s; s = s->next)
		s->ws = NULL;
	if (ws->sub)
		bus_unsubscribe(ws->sub);
	if (ws->ev_read)
		event_free(ws->ev_read);
	if (ws->ev_write)
		event_free(ws->ev_write);
	if (ws->ev_tick)
		event_free(ws->ev_tick);
	if (ws->ev_kick)
		event_free(ws->ev_kick);
	if (ws->ctx)
		wslay_event_context_free(ws->ctx);
	free(ws->pend);
	free(ws->extra);
	free(ws->filter.channel);
	free(ws);
}

static void
ws_free(struct ws *ws)
{
	struct http_upgrade *up = ws->up;
	ws_release(ws);
	http_upgrade_close(up);
}

/* http_stop() with the socket still open, or the upgrade never happened. */
static void
ws_aborted(void *arg)
{
	ws_release(arg);
}

/* --- the loop --- */

/* Is the output queue full? Then nothing more is formatted or read. */
static bool
out_full(struct ws *ws)
{
	return wslay_event_get_queued_msg_length(ws->ctx) >= WS_OUT_CAP ||
	    wslay_event_get_queued_msg_count(ws->ctx) >= WS_OUT_MSGS_MAX;
}

static void
set_events(struct ws *ws)
{
	bool w = wslay_event_want_write(ws->ctx);
	bool r = wslay_event_want_read(ws->ctx) && !out_full(ws);

	if (w != ws->writing)
		w ? event_add(ws->ev_write, NULL) : event_del(ws->ev_write);
	if (r != ws->reading)
		r ? event_add(ws->ev_read, NULL) : event_del(ws->ev_read);
	ws->writing = w;
	ws->reading = r;
}

/* Format, write, repeat while the socket takes it; 0, or -1 when ws is gone. */
static int
pump(struct ws *ws)
{
	if (ws->draining)
		return 0;
	for (int round = 0;; round++) {
		if (fill(ws) != 0) {
			log_warn("ws: cannot read events; closing");
			close_with(ws, WSLAY_CODE_INTERNAL_SERVER_ERROR, "cannot read events");
		}
		if (!wslay_event_want_write(ws->ctx))
			break;
		size_t before = wslay_event_get_queued_msg_length(ws->ctx);
		if (wslay_event_send(ws->ctx) != 0 || ws->failed) {
			ws_free(ws);
			return -1;
		}
		pend_update(ws);
		size_t after = wslay_event_get_queued_msg_length(ws->ctx);
		if (after >= before && wslay_event_want_write(ws->ctx))
			break;  /* the socket is full: EV_WRITE */
		if (round == WS_ROUNDS_MAX) {
			event_active(ws->ev_kick, 0, 0);  /* the rest on the next iteration */
			break;
		}
	}
	if (!wslay_event_want_read(ws->ctx) && !wslay_event_want_write(ws->ctx)) {
		if (wslay_event_get_close_received(ws->ctx)) {
			ws_free(ws);  /* both closes exchanged */
			return -1;
		}
		/* We closed (1009, a protocol error) while the client may still be
		 * sending: closing the socket now would reset the connection, and
		 * the client could lose our close frame. Half-close, then discard
		 * its input until it hangs up or close_ms. */
		ws->draining = true;
		shutdown(ws->fd, SHUT_WR);
		if (ws->close_ms == 0)
			ws->close_ms = mono_ms() + WS_CLOSE_WAIT_MS;
		if (ws->writing)
			event_del(ws->ev_write);
		if (!ws->reading)
			event_add(ws->ev_read, NULL);
		ws->writing = false;
		ws->reading = true;
		return 0;
	}
	if (!wslay_event_get_read_enabled(ws->ctx) && ws->close_ms == 0)
		ws->close_ms = mono_ms() + WS_CLOSE_WAIT_MS;  /* wslay closed it (1009, protocol error) */
	set_events(ws);
	return 0;
}

static void
on_read(evutil_socket_t fd, short what, void *arg)
{
	struct ws *ws = arg;

	if (ws->draining) {
		char scratch[4096];
		ssize_t n = 1;
		for (int i = 0; i < 64 && n > 0; i++)  /* bounded: EV_READ calls again */
			n = recv(ws->fd, scratch, sizeof(scratch), 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			ws_free(ws);
		return;
	}
	if (wslay_event_recv(ws->ctx) != 0 || ws->failed) {
		ws_free(ws);
		return;
	}
	pump(ws);
}

static void
on_write(evutil_socket_t fd, short what, void *arg)
{
	pump(arg);
}

/* Activated (never added), so that ev_read and ev_write stay what
 * set_events() made them: input MHD read before the handover, output to
 * format after a bus wake or a commit. */
static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct ws *ws = arg;

	if (ws->extra_off < ws->extra_len)
		on_read(ws->fd, EV_READ, ws);
	else
		pump(ws);
}

static void
on_bus(void *arg)
{
	struct ws *ws = arg;
	/* Not from inside the bus's wake loop: on the next iteration. */
	event_active(ws->ev_kick, 0, 0);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct ws *ws = arg;
	int64_t now = mono_ms();

	if (ws->close_ms && now >= ws->close_ms) {
		ws_free(ws);  /* no close frame from the client in time */
		return;
	}
	if (wslay_event_get_queued_msg_length(ws->ctx) < WS_OUT_CAP) {
		ws->stalled_ms = 0;
	} else if (ws->stalled_ms == 0) {
		ws->stalled_ms = now;
	} else if (now - ws->stalled_ms > WS_STALL_MS && ws->close_ms == 0) {
		log_info("ws: client too far behind; closing");
		close_resume(ws, WSLAY_CODE_POLICY_VIOLATION, "too far behind");
	}
	if (now - ws->ping_ms >= WS_PING_MS && ws->close_ms == 0) {
		struct wslay_event_msg m = { .opcode = WSLAY_PING, .msg = (const uint8_t *)"", .msg_length = 0 };
		wslay_event_queue_msg(ws->ctx, &m);
		ws->ping_ms = now;
	}
	pump(ws);
}

/* --- client messages --- */

static void
send_done(void *arg, int status, json_t *reply)
{
	struct ws_send *s = arg;
	struct ws *ws = s->ws;

	if (ws) {
		json_t *o = json_pack("{s:s,s:O,s:i}", "op", "result", "id", s->id ? s->id : json_null(),
		    "status", status);
		if (status < 300)
			json_object_set(o, "message", reply);
		else
			json_object_set(o, "error", json_object_get(reply, "error"));
		queue_json(ws, o);
		if (s->prev)
			s->prev->next = s->next;
		else
			ws->sends = s->next;
		if (s->next)
			s->next->prev = s->prev;
		ws->nsends--;
		event_active(ws->ev_kick, 0, 0);
	}
	json_decref(reply);
	json_decref(s->id);
	free(s);
}

static void
client_send(struct ws *ws, json_t *msg, json_t *id)
{
	if (ws->nsends >= WS_SENDS_MAX) {
		queue_error(ws, id, "too_many_requests", "at most %d sends may await their result",
		    WS_SENDS_MAX);
		return;
	}
	if (ws->app->shutting_down) {
		queue_error(ws, id, "shutting_down", "msgd is shutting down; retry");
		return;
	}
	if (!authz_can(&ws->who, PERM_MESSAGES_SEND)) {
		queue_error(ws, id, "forbidden", "this needs the permission %s",
		    authz_perm_name(PERM_MESSAGES_SEND));
		return;
	}
	struct ws_send *s = xcalloc(1, sizeof(*s));
	s->ws = ws;
	s->id = json_incref(id);
	s->next = ws->sends;
	if (ws->sends)
		ws->sends->prev = s;
	ws->sends = s;
	ws->nsends++;
	/* The rest of the frame is the POST /v1/messages body. */
	json_object_del(msg, "op");
	json_object_del(msg, "id");
	api_send_submit(ws->app, ws->who.org_id, msg, NULL, send_done, s);
}

static void
on_text(struct ws *ws, const char *data, size_t len)
{
	char err[200];
	json_t *msg;

	if (json_parse_capped(data, len, API_JSON_MAX_DEPTH, &msg, err, sizeof(err)) != 0) {
		queue_error(ws, NULL, "invalid_json", "malformed JSON: %s", err);
		return;
	}
	if (!json_is_object(msg)) {
		queue_error(ws, NULL, "validation_failed", "a message must be a JSON object");
		json_decref(msg);
		return;
	}
	json_t *id = json_object_get(msg, "id");
	const char *op = json_string_value(json_object_get(msg, "op"));
	if (id && !json_is_string(id) && !json_is_integer(id)) {
		queue_error(ws, NULL, "validation_failed", "'id' must be a string or an integer");
	} else if (op == NULL) {
		queue_error(ws, id, "validation_failed", "'op' is required (send, ping)");
	} else if (strcmp(op, "ping") == 0) {
		queue_json(ws, json_pack("{s:s}", "op", "pong"));
	} else if (strcmp(op, "send") == 0) {
		json_incref(id);  /* msg loses its "id" */
		client_send(ws, msg, id);
		json_decref(id);
	} else {
		queue_error(ws, id, "unknown_op", "unknown op '%.32s' (send, ping)", op);
	}
	json_decref(msg);
}

static void
on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *m, void *arg)
{
	struct ws *ws = arg;

	if (m->opcode == WSLAY_TEXT_FRAME)
		on_text(ws, (const char *)m->msg, m->msg_length);
	else if (m->opcode == WSLAY_BINARY_FRAME)
		queue_error(ws, NULL, "unsupported", "binary frames are not accepted; send JSON text");
	/* Pings are answered and closes returned by wslay itself. */
}

/* --- the endpoint --- */

/* Does the comma-separated header value hold this token? */
static bool
has_token(const char *value, const char *token)
{
	size_t n = strlen(token);

	for (const char *p = value; p && *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == n && strncasecmp(p, token, n) == 0)
			return true;
		p = end;
	}
	return false;
}

static void
upgraded(void *arg, int fd, const char *extra, size_t extra_len, struct http_upgrade *up)
{
	struct ws *ws = arg;
	struct app *app = ws->app;
	static const struct wslay_event_callbacks cbs = {
		.recv_callback = recv_cb,
		.send_callback = send_cb,
		.on_msg_recv_callback = on_msg,
	};

	ws->up = up;
	ws->fd = fd;
	if (extra_len) {
		ws->extra = xmalloc(extra_len);
		memcpy(ws->extra, extra, extra_len);
		ws->extra_len = extra_len;
	}
	if (wslay_event_context_server_init(&ws->ctx, &cbs, ws) != 0)
		abort();  /* out of memory, as x-allocators do */
	wslay_event_config_set_max_recv_msg_length(ws->ctx, WS_MSG_MAX);
	ws->written_seq = ws->since;
	ws->ping_ms = mono_ms();
	ws->ev_read = event_new(app->base, fd, EV_READ | EV_PERSIST, on_read, ws);
	ws->ev_write = event_new(app->base, fd, EV_WRITE | EV_PERSIST, on_write, ws);
	ws->ev_tick = event_new(app->base, -1, EV_PERSIST, on_tick, ws);
	ws->ev_kick = event_new(app->base, -1, 0, on_kick, ws);
	struct timeval tick = { .tv_sec = WS_TICK_MS / 1000, .tv_usec = (WS_TICK_MS % 1000) * 1000 };
	event_add(ws->ev_tick, &tick);
	ws->sub = bus_subscribe(app->bus, ws->since, on_bus, ws);
	ws->next = app->websockets;
	if (app->websockets)
		app->websockets->prev = ws;
	app->websockets = ws;
	if (app->shutting_down)
		close_resume(ws, WSLAY_CODE_GOING_AWAY, "msgd is shutting down");
	/* Start on the next iteration, outside MHD's callback (the client's
	 * first frames may already be in extra). */
	event_active(ws->ev_kick, 0, 0);
}

/* Origin "http(s)://HOST[:PORT]" names the same host:port as the Host header. */
static bool
same_origin(const char *origin, const char *host)
{
	const char *o = origin;

	if (host == NULL)
		return false;
	if (strncasecmp(o, "http://", 7) == 0)
		o += 7;
	else if (strncasecmp(o, "https://", 8) == 0)
		o += 8;
	else
		return false;
	return strcasecmp(o, host) == 0;
}

void
api_ws(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	const char *upgrade = http_header(req, "Upgrade");
	const char *connection = http_header(req, "Connection");
	const char *version = http_header(req, "Sec-WebSocket-Version");
	const char *key = http_header(req, "Sec-WebSocket-Key");

	if (!has_token(upgrade, "websocket") || !has_token(connection, "upgrade")) {
		http_reply_error(req, 400, "invalid_request", "Upgrade",
		    "a WebSocket handshake needs Upgrade: websocket and Connection: Upgrade");
		return;
	}
	if (version == NULL || strcmp(version, "13") != 0) {
		http_reply_error(req, 400, "invalid_request", "Sec-WebSocket-Version",
		    "only WebSocket version 13 is supported");
		http_reply_header(req, "Sec-WebSocket-Version", "13");
		return;
	}
	/*
	 * WebSockets have no CORS: a page of another origin could open one and
	 * the browser would send our cookie (SameSite does not tell ports of one
	 * host apart). A browser always sends Origin: when it does, it must be
	 * this server. API clients with a bearer token send no Origin.
	 */
	const char *origin = http_header(req, "Origin");
	if (origin && !same_origin(origin, http_header(req, "Host"))) {
		http_reply_error(req, 403, "forbidden", "Origin", "cross-origin WebSocket refused");
		return;
	}
	/* The key is 16 random bytes in base64: 24 characters. */
	if (key == NULL || strlen(key) != 24) {
		http_reply_error(req, 400, "invalid_request", "Sec-WebSocket-Key",
		    "Sec-WebSocket-Key must be 16 bytes in base64");
		return;
	}
	struct stream_params sp;
	if (api_stream_params(app, req, false, &sp) != 0)
		return;
	/* Sec-WebSocket-Accept: base64(SHA-1(key + GUID)). */
	char concat[24 + sizeof(WS_GUID)];
	unsigned char sha[SHA_DIGEST_LENGTH];
	unsigned char accept[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
	snprintf(concat, sizeof(concat), "%s%s", key, WS_GUID);
	SHA1((const unsigned char *)concat, strlen(concat), sha);
	EVP_EncodeBlock(accept, sha, SHA_DIGEST_LENGTH);

	struct ws *ws = xcalloc(1, sizeof(*ws));
	ws->app = app;
	ws->who = *who;
	ws->fd = -1;
	ws->since = sp.since;
	ws->filter = (struct bus_filter){ .org_id = who->org_id, .channel = xstrdup_or_null(sp.channel),
		.conversation_id = sp.conversation_id };
	http_reply_upgrade(req, upgraded, ws_aborted, ws);
	http_reply_header(req, "Upgrade", "websocket");
	/* MHD adds "Connection: Upgrade" itself. */
	http_reply_header(req, "Sec-WebSocket-Accept", (const char *)accept);
}

void
api_ws_end(struct app *app)
{
	struct ws *next;

	for (struct ws *ws = app->websockets; ws; ws = next) {
		next = ws->next;
		close_resume(ws, WSLAY_CODE_GOING_AWAY, "msgd is shutting down");
		pump(ws);
	}
}

/*
 * For the fuzz harness (tests/fuzz/fuzz_ws.c): bytes as if the client sent
 * them right after the upgrade, through wslay with this file's callbacks
 * and message handling, on a socket pair whose far end discards what we
 * write. No loop runs: events are not streamed, only client frames
 * handled. -1 when wslay gave up on the connection (a protocol error, a
 * close), else 0.
 */
int
api_ws_feed(struct app *app, const void *bytes, size_t len)
{
	static const struct wslay_event_callbacks cbs = {
		.recv_callback = recv_cb,
		.send_callback = send_cb,
		.on_msg_recv_callback = on_msg,
	};
	struct ws *ws = xcalloc(1, sizeof(*ws));
	int sv[2], rc = 0;
	char sink[4096];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0)
		abort();
	ws->app = app;
	ws->who = (struct principal){ .kind = PRINCIPAL_ADMIN };
	authz_settle(&ws->who);
	ws->fd = sv[0];
	ws->extra = xmalloc(len ? len : 1);
	memcpy(ws->extra, bytes, len);
	ws->extra_len = len;
	if (wslay_event_context_server_init(&ws->ctx, &cbs, ws) != 0)
		abort();
	wslay_event_config_set_max_recv_msg_length(ws->ctx, WS_MSG_MAX);
	ws->ev_kick = event_new(app->base, -1, 0, on_kick, ws);
	while (rc == 0) {
		size_t off = ws->extra_off;
		if (wslay_event_recv(ws->ctx) != 0 || wslay_event_send(ws->ctx) != 0 || ws->failed)
			rc = -1;
		while (read(sv[1], sink, sizeof(sink)) > 0)
			;
		if (!wslay_event_want_read(ws->ctx) && !wslay_event_want_write(ws->ctx))
			rc = -1;
		if (ws->extra_off == off && !wslay_event_want_write(ws->ctx))
			break;  /* all of it read, all answers out */
	}
	close(sv[1]);
	ws_release(ws);  /* sends still awaiting a commit outlive it (ws_send.ws = NULL) */
	close(sv[0]);
	return rc;
}

void
api_ws_gauges(struct app *app, int64_t *n, int64_t *max_lag)
{
	int64_t head = app->bus ? bus_head(app->bus) : 0;

	*n = *max_lag = 0;
	for (struct ws *ws = app->websockets; ws; ws = ws->next) {
		int64_t lag = ws->sub ? head - bus_cursor(ws->sub) : 0;
		(*n)++;
		if (lag > *max_lag)
			*max_lag = lag;
	}
}
