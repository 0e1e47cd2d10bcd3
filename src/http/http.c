/*
 * http.c - libmicrohttpd in external-epoll mode inside the libevent loop.
 *
 * MHD is started without threads (MHD_USE_EPOLL, no internal polling
 * thread) and without a listening socket: msgd accepts (accept.c), checks
 * each connection's first request head and hands the good ones to MHD
 * (MHD_add_connection(), hand_over()). Its epoll descriptor is registered
 * with libevent; whenever it
 * becomes readable, or MHD's own timeout expires, we call MHD_run() and ask
 * MHD for its next timeout. Suspended connections are resumed through MHD's
 * inter-thread pipe, which also wakes that epoll descriptor.
 *
 * A request's life: MHD calls access_cb() first with headers only (we
 * allocate the request and enforce the body cap from Content-Length), then
 * with body chunks (appended to a capped buffer), then once with no data:
 * we dispatch to the handler. A reply is a pending MHD_Response that
 * access_cb() queues: at once, or after the handler deferred and later
 * replied (http_reply_* resumes the connection, MHD calls access_cb again).
 *
 * Upgrades (WebSocket): the 101 is an MHD upgrade response; once it is
 * written MHD hands the socket to upgrade_cb(), which gives it to the
 * handler. MHD keeps the connection suspended until http_upgrade_close().
 *
 * A connection's first request head is checked before MHD reads it
 * (accept.c, http_head_check() in framing.c): the request line, the header
 * lines, the caps, Host and the body framing; a bad one gets a JSON error
 * there (400, 414, 431, 501, 505) and never reaches MHD. Later requests on
 * a keep-alive connection are parsed by MHD alone; for those (and again for
 * the first), the first access_cb() call refuses what a proxy and msgd could
 * frame differently or a missing Host (framing.c: 400/501), raw URIs that
 * are too long or hold "%00" (seen by uri_log_cb(): 414/400) and oversize
 * header blocks (431), with a JSON error and Connection: close.
 *
 * Deadlines (on_sweep(), once a second): each connection is in one phase.
 * Waiting for a request's headers: the first request's within
 * header_timeout of the accept (acceptor_sweep() while in accept.c's
 * check, then here); a later one's request line within idle_timeout of the
 * previous reply, then its headers within header_timeout of that line. Receiving the body: within body_timeout of
 * the headers. Busy (handler, deferred, reply, stream, upgrade): none of
 * ours. A connection past its deadline is shut down, after a JSON 408 when
 * a request had begun (see cut()). MHD's own idle timeout (idle_timeout) still closes
 * connections with no traffic at all.
 *
 * What stays MHD's, in HTML (0.9.75 has no option to change it; it answers
 * before any callback of ours sees the request), only for the second and
 * later requests on a keep-alive connection: a malformed request or header
 * line (400), a Content-Length that is not a number (400), an unsupported
 * HTTP version (505), a head that does not fit the connection's memory pool
 * (414/431: 16 KiB, less what the connection holds; e.g. ~200 tiny header
 * lines), and a request line without a version (closed without an answer).
 *
 * Connection limit: connections in accept.c's check and MHD's (nconns)
 * count together against max_connections; at the limit accept.c stops
 * watching the listening socket until a connection closes (notify_conn_cb()
 * calls acceptor_resume()). MHD_OPTION_CONNECTION_LIMIT is the same number,
 * a backstop that never triggers.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <microhttpd.h>

#include "../log/log.h"
#include "../metrics/metrics.h"
#include "../util/util.h"
#include "accept.h"
#include "framing.h"
#include "http_int.h"
#include "listen.h"

#define CONN_MEMORY_LIMIT (16 * 1024)   /* per connection: headers + read buffer (bodies stream through it) */
#define STREAM_BLOCK 2048              /* a stream reply's write buffer: small, streams are many */
#define SWEEP_INTERVAL_MS 1000
/* An oversize body up to this size is read and discarded (not buffered), so
 * that a client which sends it without waiting still reads the 413: closing
 * with unread data would reset the connection and lose the answer. */
#define DISCARD_MAX (64u * 1024 * 1024)
#define LISTEN_BACKLOG 1024
#define TIMEOUT_ANSWER_MAX 512

/* An upgraded connection: handed to the handler, not yet closed. */
struct http_upgrade {
	struct http_server *srv;
	struct http_upgrade *prev, *next;   /* srv->upgrades, once handed over */
	struct MHD_UpgradeResponseHandle *urh;
	http_upgraded_fn upgraded;
	void (*aborted)(void *arg);
	void *arg;
};

/* Where a connection is in its current request, for the deadlines. */
enum conn_phase {
	PH_HEADERS,   /* waiting for a request line and headers */
	PH_BODY,      /* headers in, body arriving */
	PH_BUSY,      /* handler, deferred reply, reply being written, stream, upgrade */
};

/* Per-connection state (MHD's socket context). */
struct conn {
	struct conn *prev, *next;
	struct MHD_Connection *mc;
	enum conn_phase phase;
	int64_t since_ms;            /* the phase began */
	int64_t line_ms;             /* the current request line arrived; 0: not yet */
	bool served;                 /* a request was completed on it before */
	bool cut;                    /* shut down by the sweep */
	bool uri_refused;            /* uri_log_cb() refused the request target */
	struct http_refusal uri_refusal;
};

struct http_server {
	struct MHD_Daemon *mhd;
	struct event_base *base;
	struct event *ev_epoll;
	struct event *ev_timer;
	struct event *ev_kick;      /* only ever activated: run MHD on the next pass */
	struct event *ev_sweep;
	struct http_config cfg;
	struct conn *conns;
	size_t nconns;               /* MHD's connections (conns) */
	struct http_acceptor *acc;
	int64_t handover_ms;         /* while adding a connection: when it was accepted */
	unsigned start_idle_timeout; /* MHD's default, set at start */
	struct http_upgrade *upgrades;  /* handed over, not yet closed */
	size_t nupgrades;
	size_t inflight;
	uint64_t next_id;
	uint32_t id_prefix;
	int port;
	bool quiesced;
};


static void
add_early(struct http_request *req)
{
	for (size_t i = 0; i < req->nearly; i++)
		MHD_add_response_header(req->resp, req->early[i].name, req->early[i].value);
}

static void schedule(struct http_server *srv);
static void after_run(struct http_server *srv);

/*
 * Run MHD on the next loop pass (after a resume: in external-epoll mode MHD
 * notices it only when it runs). A separate event, never added with a
 * timeout: activating ev_timer instead was lost whenever schedule() re-added
 * or deleted that timer in the same pass, leaving a reply unsent.
 */
static void
kick(struct http_server *srv)
{
	event_active(srv->ev_kick, EV_TIMEOUT, 0);
}

static int64_t
now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
http_set_response(struct http_request *req, int status, struct MHD_Response *resp)
{
	if (req->resp != NULL) {
		log_error("second reply to one request ignored", "req", req->id);
		MHD_destroy_response(resp);
		return;
	}
	req->resp = resp;
	MHD_add_response_header(req->resp, "X-Request-Id", req->id);
	MHD_add_response_header(req->resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	add_early(req);
	req->status = (unsigned)status;
	req->deferred = false;
	/* A reply made before the handler returned (a deferred read that ran
	 * inline) goes out as an immediate one: nothing to resume. */
	if (req->suspended) {
		req->suspended = false;
		MHD_resume_connection(req->mc);
		/* In external-epoll mode MHD only notices the resume when it next
		 * runs: run it on the next loop iteration. */
		kick(req->srv);
	}
}

static void
set_reply(struct http_request *req, int status, const char *content_type, const char *body,
    size_t len)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body,
	    MHD_RESPMEM_MUST_COPY);

	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	if (req->refusing && len <= HTTP_REFUSAL_MAX) {  /* written by http_write_refusal() */
		memcpy(req->refusal, body, len);
		req->refusal_len = len;
		snprintf(req->refusal_type, sizeof(req->refusal_type), "%s", content_type);
	}
	http_set_response(req, status, resp);
}

void
http_reply_raw(struct http_request *req, int status, const char *content_type, const char *body,
    size_t len)
{
	set_reply(req, status, content_type, body, len);
}

void
http_reply_json(struct http_request *req, int status, json_t *body)
{
	size_t n;
	char *s = json_encode(body, &n);
	json_decref(body);
	if (s == NULL) {
		http_reply_error(req, 500, "internal", NULL, "could not render the response");
		return;
	}
	set_reply(req, status, "application/json", s, n);
	free(s);
}

void
http_reply_error(struct http_request *req, int status, const char *code, const char *field,
    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Messages quote client input (paths, keys): never let it break the JSON. */
	utf8_sanitize(msg);
	json_t *err = json_pack("{s:s,s:s}", "code", code, "message", msg);
	if (field) {
		char f[128];
		snprintf(f, sizeof(f), "%s", field);
		utf8_sanitize(f);
		json_object_set_new(err, "field", json_string(f));
	}
	http_reply_json(req, status, json_pack("{s:o}", "error", err));
}

void
http_reply_header(struct http_request *req, const char *name, const char *value)
{
	if (req->resp == NULL)
		return;
	if (strcasecmp(name, MHD_HTTP_HEADER_CACHE_CONTROL) == 0)
		MHD_del_response_header(req->resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(req->resp, name, value);
	if (req->refusing)
		http_refusal_header(req, name, value);
}

void
http_reply_header_early(struct http_request *req, const char *name, const char *value)
{
	if (req->nearly == HTTP_EARLY_HEADERS_MAX || strlen(name) > HTTP_EARLY_NAME_MAX ||
	    strlen(value) > HTTP_EARLY_VALUE_MAX)
		return;
	snprintf(req->early[req->nearly].name, sizeof(req->early[0].name), "%s", name);
	snprintf(req->early[req->nearly].value, sizeof(req->early[0].value), "%s", value);
	req->nearly++;
}

void
http_defer(struct http_request *req)
{
	req->deferred = true;
}

static ssize_t
stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct http_request *req = cls;
	long n = req->stream_read(req->stream_arg, buf, max);

	if (n > 0)
		return n;
	if (n < 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	/* Nothing now: park the connection until http_stream_wake(). */
	req->stream_parked = true;
	MHD_suspend_connection(req->mc);
	return 0;
}

void
http_reply_stream(struct http_request *req, int status, const char *content_type,
    http_stream_read_fn read, void (*close)(void *arg), void *arg)
{
	req->stream_read = read;
	req->stream_close = close;
	req->stream_arg = arg;
	req->srv->inflight--;  /* an open stream does not hold up a shutdown */
	req->resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_reader,
	    req, NULL);
	MHD_add_response_header(req->resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	MHD_add_response_header(req->resp, "X-Request-Id", req->id);
	MHD_add_response_header(req->resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_add_response_header(req->resp, "X-Accel-Buffering", "no");
	add_early(req);
	req->status = (unsigned)status;
	/* After http_defer() (a download whose first page was read off the
	 * loop): resume, as http_set_response() does. */
	req->deferred = false;
	if (req->suspended) {
		req->suspended = false;
		MHD_resume_connection(req->mc);
		kick(req->srv);
	}
}

void
http_stream_wake(struct http_request *req)
{
	if (!req->stream_parked)
		return;
	req->stream_parked = false;
	MHD_resume_connection(req->mc);
	kick(req->srv);
}

/* MHD wrote the 101: the socket is the handler's from now on. */
static void
upgrade_cb(void *cls, struct MHD_Connection *mc, void *con_cls, const char *extra_in,
    size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	struct http_upgrade *up = cls;
	struct http_request *req = con_cls;
	struct http_server *srv = up->srv;

	if (req)
		req->upgrade = NULL;  /* owned by srv->upgrades now */
	up->urh = urh;
	up->next = srv->upgrades;
	if (srv->upgrades)
		srv->upgrades->prev = up;
	srv->upgrades = up;
	srv->nupgrades++;
	int fl = fcntl(sock, F_GETFL);
	if (fl >= 0)
		fcntl(sock, F_SETFL, fl | O_NONBLOCK);
	/* MHD turns Nagle back on for the hand-over; frames are written as
	 * header + payload, which Nagle would hold for the peer's delayed ACK
	 * (up to ~40 ms per event on a live WebSocket). */
	int one = 1;
	setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	up->upgraded(up->arg, sock, extra_in, extra_in_size, up);
}

void
http_reply_upgrade(struct http_request *req, http_upgraded_fn upgraded, void (*aborted)(void *arg),
    void *arg)
{
	struct http_upgrade *up = xcalloc(1, sizeof(*up));

	if (req->resp != NULL) {
		log_error("second reply to one request ignored", "req", req->id);
		aborted(arg);
		free(up);
		return;
	}
	up->srv = req->srv;
	up->upgraded = upgraded;
	up->aborted = aborted;
	up->arg = arg;
	req->upgrade = up;
	req->upgrading = true;
	req->srv->inflight--;  /* from now on counted as an upgrade, once handed over */
	req->resp = MHD_create_response_for_upgrade(upgrade_cb, up);
	MHD_add_response_header(req->resp, "X-Request-Id", req->id);
	req->status = 101;
}

void
http_upgrade_close(struct http_upgrade *up)
{
	struct http_server *srv = up->srv;

	if (up->prev)
		up->prev->next = up->next;
	else
		srv->upgrades = up->next;
	if (up->next)
		up->next->prev = up->prev;
	srv->nupgrades--;
	MHD_upgrade_action(up->urh, MHD_UPGRADE_ACTION_CLOSE);
	free(up);
	/* MHD finishes the connection when it next runs. */
	kick(srv);
}

static enum MHD_Result
queue_reply(struct http_request *req)
{
	enum MHD_Result r = MHD_queue_response(req->mc, req->status, req->resp);
	MHD_destroy_response(req->resp);
	req->resp = NULL;
	return r;
}

static struct conn *
conn_of(struct MHD_Connection *mc)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

static void
conn_phase(struct MHD_Connection *mc, enum conn_phase ph)
{
	struct conn *c = conn_of(mc);

	if (c && c->phase != ph) {
		c->phase = ph;
		c->since_ms = mono_ms();
	}
}

/* A refusal before routing: the JSON error, and the connection closes (an
 * unread body must never be taken for the next request). */
static enum MHD_Result
refuse(struct http_request *req, const struct http_refusal *r)
{
	http_reply_error(req, (int)r->status, r->code, NULL, "%s", r->message);
	http_reply_header(req, MHD_HTTP_HEADER_CONNECTION, "close");
	conn_phase(req->mc, PH_BUSY);
	return queue_reply(req);
}

static enum MHD_Result
framing_iter(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	http_framing_add(cls, key, value);
	return MHD_YES;
}

/* The checks of a request's raw form (see the top of this file): 0, or -1
 * with *r filled. */
static int
check_request(struct MHD_Connection *mc, const char *version, struct http_refusal *r)
{
	struct conn *c = conn_of(mc);
	struct http_framing f = { 0 };

	MHD_get_connection_values(mc, MHD_HEADER_KIND, framing_iter, &f);
	if (http_framing_verdict(&f, strcmp(version, MHD_HTTP_VERSION_1_0) == 0, r) != 0)
		return -1;
	if (c && c->uri_refused) {
		*r = c->uri_refusal;
		return -1;
	}
	const union MHD_ConnectionInfo *hs =
	    MHD_get_connection_info(mc, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	if (hs && hs->header_size > HTTP_HEADERS_MAX) {
		*r = (struct http_refusal){ .status = 431, .code = "headers_too_large",
			.message = "request headers too large (the limit is 8 KiB)" };
		return -1;
	}
	return 0;
}

/* The sink wants no more of the body: its end() answers now, and the
 * connection closes (the rest of the body is never read). MHD 0.9.75
 * queues no reply while a body is arriving: the answer is written straight
 * to the socket (http_body.c). */
static enum MHD_Result
sink_refused(struct http_request *req)
{
	req->dispatched = true;
	req->refusing = true;
	req->srv_base = req->srv->base;
	req->sink.end(req->sink.arg);
	if (req->resp == NULL)
		http_reply_error(req, 500, "internal", NULL, "no reply");
	conn_phase(req->mc, PH_BUSY);
	http_write_refusal(req);
	return MHD_NO;
}

static enum MHD_Result
access_cb(void *cls, struct MHD_Connection *mc, const char *url, const char *method,
    const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct http_request *req = *con_cls;

	if (req == NULL) {
		struct http_refusal refusal;

		conn_phase(mc, PH_BODY);
		req = xcalloc(1, sizeof(*req));
		req->srv = srv;
		req->mc = mc;
		req->method = method;
		req->path = xstrdup(url);
		req->start_us = now_us();
		req->route = -1;
		snprintf(req->id, sizeof(req->id), "%08x%08llx", srv->id_prefix,
		    (unsigned long long)++srv->next_id);
		buf_init(&req->body, srv->cfg.body_limit);
		*con_cls = req;
		srv->inflight++;

		if (check_request(mc, version, &refusal) != 0)
			return refuse(req, &refusal);
		const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_LENGTH);
		const char *expect = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_EXPECT);
		int64_t n;
		if (srv->cfg.head) {
			srv->cfg.head(req, srv->cfg.arg);
			if (req->resp) {
				/* Refused from its headers: the body is not read (see http.h). */
				req->too_large = true;
				buf_free(&req->body);
				if ((expect && strcasecmp(expect, "100-continue") == 0) ||
				    http_content_length(req) > (int64_t)DISCARD_MAX) {
					conn_phase(mc, PH_BUSY);
					return queue_reply(req);
				}
				return MHD_YES;
			}
			if (req->sink.end) {
				buf_free(&req->body);
				return MHD_YES;
			}
		}
		if (cl && parse_i64(cl, &n) == 0 && (uint64_t)n > srv->cfg.body_limit) {
			req->too_large = true;
			buf_free(&req->body);
			if ((expect && strcasecmp(expect, "100-continue") == 0) || (uint64_t)n > DISCARD_MAX) {
				http_reply_error(req, 413, "body_too_large", NULL,
				    "request body is %lld bytes; the limit is %zu", (long long)n,
				    srv->cfg.body_limit);
				conn_phase(mc, PH_BUSY);
				return queue_reply(req);
			}
		}
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		struct conn *c = conn_of(mc);
		if (c && c->phase == PH_BODY && srv->cfg.body_timeout > 0 &&
		    mono_ms() - c->since_ms > (int64_t)srv->cfg.body_timeout * 1000) {
			log_info("closing connection: request body not received in time", "req", req->id);
			return MHD_NO;
		}
		/* A streamed body (an upload) may take long: body_timeout bounds
		 * the silence between its bytes, not the whole of it. */
		if (c && req->sink.chunk)
			c->since_ms = mono_ms();
		if (req->sink.chunk && !req->too_large) {
			if (req->sink.chunk(req->sink.arg, upload_data, *upload_data_size) != 0) {
				*upload_data_size = 0;
				return sink_refused(req);
			}
			*upload_data_size = 0;
		} else if (!req->too_large && buf_append(&req->body, upload_data, *upload_data_size) != 0) {
			req->too_large = true;
			buf_free(&req->body);
		}
		if (req->too_large) {
			req->discarded += *upload_data_size;
			if (req->discarded > DISCARD_MAX)
				return MHD_NO;  /* an endless body: drop the connection */
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	conn_phase(mc, PH_BUSY);
	if (req->resp)
		return queue_reply(req);
	if (req->too_large && !req->sink.end) {
		http_reply_error(req, 413, "body_too_large", NULL, "request body over the limit of %zu bytes",
		    srv->cfg.body_limit);
		return queue_reply(req);
	}
	if (!req->dispatched) {
		req->dispatched = true;
		if (req->sink.end)
			req->sink.end(req->sink.arg);
		else
			srv->cfg.handler(req, srv->cfg.arg);
		if (req->resp)
			return queue_reply(req);
		if (req->deferred) {
			req->suspended = true;
			MHD_suspend_connection(mc);
			return MHD_YES;
		}
		log_error("handler returned without a reply", "req", req->id, "path", req->path);
		http_reply_error(req, 500, "internal", NULL, "no reply");
		return queue_reply(req);
	}
	/* Resumed without a reply: cannot happen; keep the connection parked. */
	return MHD_YES;
}

static void
completed_cb(void *cls, struct MHD_Connection *mc, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_request *req = *con_cls;

	if (req == NULL)
		return;
	struct conn *c = conn_of(mc);
	if (c && !req->upgrading) {
		/* Keep-alive: the next request's deadlines start now. */
		c->phase = PH_HEADERS;
		c->since_ms = mono_ms();
		c->line_ms = 0;
		c->served = true;
	}
	/* Failures and early closes at info (5xx at warn); the rest at debug. */
	bool early = toe != MHD_REQUEST_TERMINATED_COMPLETED_OK;
	enum log_level lvl = req->status >= 500 ? LOGL_WARN :
	    (req->status == 0 || req->status >= 400 || early) ? LOGL_INFO : LOGL_DEBUG;
	char st[8], us[24];
	int64_t took = now_us() - req->start_us;
	snprintf(st, sizeof(st), "%u", req->status);
	snprintf(us, sizeof(us), "%lld", (long long)took);
	log_kv(lvl, "request", "req", req->id, "method", req->method, "path", req->path, "status", st,
	    "us", us, "closed", early ? "early" : "no", (const char *)NULL);
	metrics_http(req->route, req->status, took);
	if (req->upgrade) {
		/* Ended before the 101 was written: the socket was never handed over. */
		req->upgrade->aborted(req->upgrade->arg);
		free(req->upgrade);
	}
	if (req->sink.close)
		req->sink.close(req->sink.arg);
	if (req->stream_close)
		req->stream_close(req->stream_arg);
	else if (!req->upgrading)
		srv->inflight--;  /* streams are not "in flight": they never end by themselves */
	if (req->resp)
		MHD_destroy_response(req->resp);
	buf_free(&req->body);
	free(req->path);
	free(req);
	*con_cls = NULL;
}

static void
notify_conn_cb(void *cls, struct MHD_Connection *mc, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *srv = cls;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		struct conn *c = xcalloc(1, sizeof(*c));
		c->mc = mc;
		c->phase = PH_HEADERS;
		/* The first head's deadline runs from the accept (accept.c). */
		c->since_ms = srv->handover_ms ? srv->handover_ms : mono_ms();
		if ((unsigned)srv->cfg.idle_timeout != srv->start_idle_timeout)
			MHD_set_connection_option(mc, MHD_CONNECTION_OPTION_TIMEOUT,
			    (unsigned)srv->cfg.idle_timeout);
		c->next = srv->conns;
		if (srv->conns)
			srv->conns->prev = c;
		srv->conns = c;
		srv->nconns++;
		*socket_context = c;
	} else if (*socket_context) {
		struct conn *c = *socket_context;
		if (c->prev)
			c->prev->next = c->next;
		else
			srv->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		free(c);
		*socket_context = NULL;
		srv->nconns--;
		acceptor_resume(srv->acc);
	}
}

/* The raw request target, before MHD decodes it: once per request, when
 * its request line is in. The verdict waits in the connection for
 * access_cb(). */
static void *
uri_log_cb(void *cls, const char *uri, struct MHD_Connection *mc)
{
	struct conn *c = conn_of(mc);

	if (c) {
		c->line_ms = mono_ms();
		c->uri_refused = http_uri_check(uri, &c->uri_refusal) != 0;
	}
	return NULL;
}

/* The deadline of a connection's current phase (see the top of this
 * file), or 0 for none. */
static int64_t
conn_deadline(const struct http_server *srv, const struct conn *c)
{
	switch (c->phase) {
	case PH_HEADERS:
		if (!c->served)
			return c->since_ms + (int64_t)srv->cfg.header_timeout * 1000;
		if (c->line_ms)
			return c->line_ms + (int64_t)srv->cfg.header_timeout * 1000;
		return c->since_ms + (int64_t)srv->cfg.idle_timeout * 1000;
	case PH_BODY:
		return c->since_ms + (int64_t)srv->cfg.body_timeout * 1000;
	case PH_BUSY:
		break;
	}
	return 0;
}

/*
 * Past its deadline the connection is shut down; MHD sees the end and closes
 * it. When a request had begun (its request line is in, or its body is
 * arriving), a 408 is written straight to the socket first, if the socket
 * takes it at once: MHD has nothing to write in these phases (the previous
 * reply is out, the 100 Continue too). A connection that never began a
 * request gets no unsolicited answer. The client may miss the 408 if it
 * was still sending (unread bytes make the close a reset).
 */
static void
cut(struct conn *c, const char *why)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c->mc, MHD_CONNECTION_INFO_CONNECTION_FD);
	char msg[TIMEOUT_ANSWER_MAX];

	if (ci == NULL)
		return;
	int body = snprintf(msg, sizeof(msg), "{\"error\":{\"code\":\"request_timeout\",\"message\":\"%s\"}}", why);
	char out[TIMEOUT_ANSWER_MAX * 2];
	int n = snprintf(out, sizeof(out), "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
	    "Cache-Control: no-store\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", body, msg);
	if (c->phase == PH_BODY || (c->phase == PH_HEADERS && c->line_ms != 0))
		(void)!send(ci->connect_fd, out, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	log_info("closing connection: deadline passed", "detail", why);
	shutdown(ci->connect_fd, SHUT_RDWR);
	c->cut = true;
}

static void
on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct http_server *srv = arg;
	int64_t now = mono_ms();

	if (srv->acc)
		acceptor_sweep(srv->acc, srv->cfg.header_timeout);
	for (struct conn *c = srv->conns; c; c = c->next) {
		int64_t deadline = conn_deadline(srv, c);
		if (c->cut || deadline == 0 || now < deadline)
			continue;
		cut(c, c->phase == PH_BODY ? "request body not received in time" :
		    "request headers not received in time");
	}
	/* A safety net: whatever MHD might be waiting for without a socket
	 * event or a timeout happens within a second. */
	MHD_run(srv->mhd);
	after_run(srv);
}

static void
mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_warn("http", "detail", msg);
}

static void
schedule(struct http_server *srv)
{
	MHD_UNSIGNED_LONG_LONG to;

	if (srv->mhd && MHD_get_timeout(srv->mhd, &to) == MHD_YES) {
		struct timeval tv = { .tv_sec = (time_t)(to / 1000), .tv_usec = (suseconds_t)(to % 1000) * 1000 };
		evtimer_add(srv->ev_timer, &tv);
	} else {
		evtimer_del(srv->ev_timer);
	}
}

/* After every MHD_run(). */
static void
after_run(struct http_server *srv)
{
	schedule(srv);
}

static void
on_mhd(evutil_socket_t fd, short what, void *arg)
{
	struct http_server *srv = arg;
	MHD_run(srv->mhd);
	after_run(srv);
}

static size_t
open_conns(void *arg)
{
	struct http_server *srv = arg;
	return srv->nconns;
}

/* A connection whose first head passed accept.c's check: MHD's from now
 * on. MHD_add_connection() closes the socket itself when it fails. */
static void
hand_over(void *arg, int fd, const struct sockaddr *addr, socklen_t addrlen, int64_t accepted_ms)
{
	struct http_server *srv = arg;

	srv->handover_ms = accepted_ms;
	if (MHD_add_connection(srv->mhd, fd, addr, addrlen) != MHD_YES)
		log_warn("libmicrohttpd did not take a connection", "error", strerror(errno));
	srv->handover_ms = 0;
	/* MHD reads the head when it next runs. */
	kick(srv);
}

static const struct acceptor_ops acceptor_ops = {
	.open_conns = open_conns,
	.hand_over = hand_over,
};

int
http_start(struct http_server **out, struct event_base *base, const struct http_config *cfg)
{
	struct http_server *srv = xcalloc(1, sizeof(*srv));
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO |
	    MHD_ALLOW_UPGRADE | MHD_USE_NO_LISTEN_SOCKET;
	int lfd;

	srv->base = base;
	srv->cfg = *cfg;
	srv->start_idle_timeout = (unsigned)cfg->idle_timeout;
	random_bytes(&srv->id_prefix, sizeof(srv->id_prefix));
	lfd = http_listen(cfg->listen, LISTEN_BACKLOG, &srv->port);
	if (lfd < 0)
		goto fail;
	srv->mhd = MHD_start_daemon(flags, 0, NULL, NULL, access_cb, srv,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->idle_timeout,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY_LIMIT,
	    MHD_OPTION_NOTIFY_COMPLETED, completed_cb, srv,
	    MHD_OPTION_NOTIFY_CONNECTION, notify_conn_cb, srv,
	    MHD_OPTION_URI_LOG_CALLBACK, uri_log_cb, srv,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, srv,
	    MHD_OPTION_END);
	if (srv->mhd == NULL) {
		log_error("cannot start the HTTP server", "listen", cfg->listen);
		close(lfd);
		goto fail;
	}
	srv->acc = acceptor_start(base, lfd, (size_t)cfg->max_connections, &acceptor_ops, srv);
	if (srv->acc == NULL) {
		MHD_stop_daemon(srv->mhd);
		close(lfd);
		goto fail;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	srv->ev_epoll = event_new(base, di->epoll_fd, EV_READ | EV_PERSIST, on_mhd, srv);
	srv->ev_timer = evtimer_new(base, on_mhd, srv);
	srv->ev_kick = event_new(base, -1, 0, on_mhd, srv);
	srv->ev_sweep = event_new(base, -1, EV_PERSIST, on_sweep, srv);
	event_add(srv->ev_epoll, NULL);
	struct timeval sweep = { .tv_sec = SWEEP_INTERVAL_MS / 1000, .tv_usec = 0 };
	event_add(srv->ev_sweep, &sweep);
	schedule(srv);
	*out = srv;
	return 0;
fail:
	free(srv);
	return -1;
}

void
http_reconfigure(struct http_server *srv, const struct http_config *cfg)
{
	srv->cfg.body_limit = cfg->body_limit;
	srv->cfg.idle_timeout = cfg->idle_timeout;
	srv->cfg.header_timeout = cfg->header_timeout;
	srv->cfg.body_timeout = cfg->body_timeout;
}

int
http_port(struct http_server *srv)
{
	return srv->port;
}

size_t
http_inflight(struct http_server *srv)
{
	return srv->inflight + srv->nupgrades;
}

void
http_quiesce(struct http_server *srv)
{
	if (srv->quiesced)
		return;
	srv->quiesced = true;
	acceptor_quiesce(srv->acc);
}

void
http_flush(struct http_server *srv, int timeout_ms)
{
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	int64_t deadline = mono_ms() + timeout_ms;

	while (srv->inflight > 0 && mono_ms() < deadline) {
		struct pollfd pfd = { .fd = di->epoll_fd, .events = POLLIN };
		poll(&pfd, 1, 10);
		MHD_run(srv->mhd);
	}
}

void
http_stop(struct http_server *srv)
{
	if (srv == NULL)
		return;
	event_free(srv->ev_epoll);
	event_free(srv->ev_timer);
	event_free(srv->ev_kick);
	event_free(srv->ev_sweep);
	/* Connections still in the head check are closed (no request began). */
	acceptor_free(srv->acc);
	srv->acc = NULL;
	/* Upgraded sockets still open (a shutdown that timed out): their
	 * handlers let go, MHD closes them. */
	while (srv->upgrades) {
		struct http_upgrade *up = srv->upgrades;
		srv->upgrades = up->next;
		up->aborted(up->arg);
		MHD_upgrade_action(up->urh, MHD_UPGRADE_ACTION_CLOSE);
		free(up);
	}
	MHD_stop_daemon(srv->mhd);
	http_linger_stop();
	while (srv->conns) {
		struct conn *c = srv->conns;
		srv->conns = c->next;
		free(c);
	}
	free(srv);
}
