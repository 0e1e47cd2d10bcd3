/*
 * http.h - the HTTP server: libmicrohttpd driven by the libevent loop.
 *
 * libmicrohttpd parses HTTP and owns the sockets; it runs without threads of
 * its own, in epoll mode, and its epoll descriptor is one event in msgd's
 * libevent loop (together with timers, signals and the store's completion
 * events). One request is one struct http_request. A handler either replies
 * at once (http_reply_*) or defers: it calls http_defer(), returns, and
 * replies later from a callback on the loop (e.g. once the store has made
 * the request's data durable). The connection is suspended meanwhile, so a
 * deferred request costs no CPU.
 *
 * Caps: request bodies over body_limit get 413 before they are buffered
 * (Content-Length checked first; chunked bodies counted as they arrive);
 * request targets over 8 KiB get 414 and header blocks over 8 KiB 431
 * (framing.h). Deadlines, for every request on a connection: the first
 * request's headers within header_timeout of the accept; a later request's
 * line within idle_timeout of the previous reply and its headers within
 * header_timeout of that line; a body within body_timeout of its headers;
 * and no traffic at all for idle_timeout closes a connection (408 and
 * close otherwise). Ambiguous body framing (Content-Length with
 * Transfer-Encoding, duplicates, codings other than chunked), a missing
 * Host in HTTP/1.1 and "%00" in the raw path or query are refused (400/501)
 * before routing, and the connection is closed. A connection's first
 * request head is checked before libmicrohttpd reads it (accept.c), so
 * malformed lines and versions get JSON errors too (400/505).
 */
#ifndef MSGD_HTTP_H
#define MSGD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct event_base;
struct http_server;
struct http_request;

typedef void (*http_handler_fn)(struct http_request *req, void *arg);

/*
 * Streamed request bodies (uploads, http_body.c). A route that wants its
 * body as it arrives, never buffered, says so when the request's headers
 * are in: the server calls the config's head() first for every request; it
 * may
 *  - call http_stream_body(): body chunks go to sink.chunk() as MHD reads
 *    them (body_limit does not apply: the sink caps), and at the end
 *    sink.end() runs instead of the handler, replying as a handler does
 *    (at once or deferred);
 *  - reply (an error): the reply goes out before the body is read when
 *    the client sent Expect: 100-continue or the body is over 64 MiB, else
 *    after the body was read and thrown away, so the client reads it;
 *  - do neither: the body is buffered and the handler called, as usual.
 * sink.chunk() returning -1 means "no more": sink.end() runs at once and
 * MUST reply at once (the reason); the reply is written with Connection:
 * close, the rest of the body is never read, and the connection closes
 * (after a short lingering read, so the client sees the answer).
 * sink.close() runs exactly once when the request ends, after end() or
 * without it (client gone); the request MUST NOT be used after it.
 */
struct http_body_sink {
	int (*chunk)(void *arg, const char *data, size_t n);
	void (*end)(void *arg);
	void (*close)(void *arg);
	void *arg;
};
typedef void (*http_head_fn)(struct http_request *req, void *arg);
void http_stream_body(struct http_request *req, const struct http_body_sink *sink);
/* The request's Content-Length (-1 when none: chunked or no body). */
int64_t http_content_length(const struct http_request *req);

/*
 * multipart/form-data, parsed by libmicrohttpd's post processor as the body
 * streams (http_body.c): part() gets each part's bytes in order, off the
 * offset of data within the part; name and filename as the part's headers
 * say (filename NULL for a plain field). part() returns 0, or -1 to stop.
 * NULL when the request's Content-Type is not multipart with a boundary.
 */
typedef int (*http_part_fn)(void *arg, const char *name, const char *filename,
    const char *content_type, const char *data, uint64_t off, size_t n);
struct http_multipart;
struct http_multipart *http_multipart_new(struct http_request *req, http_part_fn part, void *arg);
/* 0, or -1 when the body is malformed or part() stopped. */
int http_multipart_feed(struct http_multipart *mp, const char *data, size_t n);
/* The end of the body: 0, or -1 when it was cut short. Frees mp. */
int http_multipart_end(struct http_multipart *mp);

struct http_config {
	const char *listen;        /* ADDR:PORT */
	size_t body_limit;
	int idle_timeout;          /* seconds */
	int header_timeout;        /* seconds */
	int body_timeout;          /* seconds */
	int max_connections;
	http_handler_fn handler;   /* called once per request, body complete */
	http_head_fn head;         /* NULL, or called first, headers in (streamed bodies) */
	void *arg;
};

int http_start(struct http_server **out, struct event_base *base, const struct http_config *cfg);
/* Stop accepting new connections; in-flight requests go on. */
void http_quiesce(struct http_server *srv);
/* Requests received whose reply has not been handed to the socket yet,
 * plus upgraded sockets not yet closed. */
size_t http_inflight(struct http_server *srv);
/* Run MHD alone (the loop has stopped) until every request has its reply
 * written or timeout_ms passes: replies produced at shutdown still go out. */
void http_flush(struct http_server *srv, int timeout_ms);
/*
 * Apply new values of the limits that can change while running (the rest
 * of cfg is ignored: listen and max_connections need a restart). From now
 * on: header_timeout and body_timeout for every connection (the next sweep),
 * body_limit for requests whose headers arrive from now on, idle_timeout
 * (MHD's inactivity timeout and the wait for a next request) for
 * connections accepted from now on (open ones keep MHD's timeout; their
 * wait for a next request uses the new value).
 */
void http_reconfigure(struct http_server *srv, const struct http_config *cfg);
/* Close every connection and free the server. */
void http_stop(struct http_server *srv);
/* The port actually bound (useful with port 0). */
int http_port(struct http_server *srv);

/* --- request accessors --- */
const char *http_method(const struct http_request *req);
const char *http_path(const struct http_request *req);
const char *http_header(const struct http_request *req, const char *name);
const char *http_query(const struct http_request *req, const char *name);
const char *http_body(const struct http_request *req, size_t *len);
const char *http_request_id(const struct http_request *req);
/* The client's IP address as text ("127.0.0.1", "::1"); "" when unknown. */
const char *http_client_addr(struct http_request *req);
/* Metrics (h15metrics): the route the request matched (-1: none), counted
 * with its status and latency when it ends; microseconds since it began. */
void http_set_route(struct http_request *req, int route);
int64_t http_age_us(const struct http_request *req);

/* --- replies: exactly one per request --- */
/* Steals the reference to body. */
void http_reply_json(struct http_request *req, int status, json_t *body);
/* {"error":{"code","message"[,"field"]}}; field may be NULL. */
void http_reply_error(struct http_request *req, int status, const char *code, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Copies body. */
void http_reply_raw(struct http_request *req, int status, const char *content_type,
    const char *body, size_t len);
/* A file's bytes [off, off+len) from fd (owned from now on, closed when the
 * reply is done), never read into memory. */
void http_reply_fd(struct http_request *req, int status, const char *content_type, int fd,
    int64_t off, int64_t len);
#define HTTP_HAS_REPLY_HEADER 1
/* Add a header to the reply just made (call right after http_reply_*); a
 * Cache-Control replaces the default "no-store". */
void http_reply_header(struct http_request *req, const char *name, const char *value);
/* A header for the reply not made yet, whichever it is (rate limits): at
 * most HTTP_EARLY_HEADERS_MAX, names and values capped; more are dropped. */
#define HTTP_EARLY_HEADERS_MAX 4
#define HTTP_EARLY_NAME_MAX 31
#define HTTP_EARLY_VALUE_MAX 63
void http_reply_header_early(struct http_request *req, const char *name, const char *value);
/* Suspend the request; the handler replies later, on the loop thread. */
void http_defer(struct http_request *req);

/*
 * A streaming reply (Server-Sent Events): read() is called whenever the
 * socket can take more and returns the bytes it wrote into buf (> 0), 0
 * when it has nothing right now (the connection is parked, costing nothing,
 * until http_stream_wake()), or -1 to end the reply. close() runs exactly
 * once when the request ends (client gone, reply ended, shutdown); after it
 * the request MUST NOT be used. It may answer a deferred request.
 */
typedef long (*http_stream_read_fn)(void *arg, char *buf, size_t max);
void http_reply_stream(struct http_request *req, int status, const char *content_type,
    http_stream_read_fn read, void (*close)(void *arg), void *arg);
void http_stream_wake(struct http_request *req);

/*
 * A protocol upgrade (WebSocket): the handler answers 101 with
 * http_reply_upgrade() and adds its headers with http_reply_header(). Once
 * the 101 is written, upgraded() gets the socket (non-blocking), the bytes
 * the client sent after its request (extra, usually none) and a handle. From
 * then on the socket belongs to the handler, which drives it on the loop and
 * MUST give it back with http_upgrade_close(), never close(). aborted() runs
 * instead when the connection ends before the 101 is written, and at
 * http_stop() for a socket still not given back (the handler frees its state
 * then and MUST NOT call http_upgrade_close()). Open upgraded sockets count
 * in http_inflight(), so a shutdown waits for their closing handshake.
 */
struct http_upgrade;
typedef void (*http_upgraded_fn)(void *arg, int fd, const char *extra, size_t extra_len,
    struct http_upgrade *up);
void http_reply_upgrade(struct http_request *req, http_upgraded_fn upgraded,
    void (*aborted)(void *arg), void *arg);
void http_upgrade_close(struct http_upgrade *up);

#endif
