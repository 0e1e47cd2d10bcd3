/*
 * accept.c - msgd accepts connections itself and checks each one's first
 * request head before libmicrohttpd sees it.
 *
 * Why: libmicrohttpd 0.9.75 answers a malformed request (bad request or
 * header line, non-numeric Content-Length, unknown HTTP version, a head
 * over its connection buffer) in HTML before any callback of ours runs,
 * and has no option to change that. So libmicrohttpd runs without a
 * listening socket (MHD_USE_NO_LISTEN_SOCKET) and gets only connections
 * whose first head http_head_check() passed.
 *
 * How: the listening socket is an event in the libevent loop; each wake-up
 * accepts up to ACCEPT_BURST connections (non-blocking, until EAGAIN). A
 * new connection is a struct pending and an edge-triggered read event.
 * Whenever bytes arrive the head is peeked (recv with MSG_PEEK into a stack
 * buffer: nothing is consumed, nothing buffered per connection) and checked
 * again from its start: heads are small and arrive in one or two segments.
 * Edge-triggered because peeked bytes stay readable: a level-triggered event
 * would fire again at once. A good head: the socket goes to libmicrohttpd
 * (ops->hand_over, MHD_add_connection), which reads the same bytes. A bad
 * one: the JSON error is written straight to the socket (non-blocking; what
 * does not fit is lost), after reading what has arrived so that the close
 * sends a FIN and not a reset that could destroy the answer; then the
 * socket is shut down and closed.
 *
 * Limits: connections in the check count against max_connections together
 * with libmicrohttpd's; at the limit the listening socket is not watched
 * (new connections wait in the kernel's listen queue, as they did when
 * libmicrohttpd accepted) until a connection closes (acceptor_resume()).
 * A head not complete header_timeout after the accept is cut by the
 * sweep (a JSON 408 when some of it came). accept() failing for want of
 * descriptors or memory pauses accepting for ACCEPT_RETRY_MS.
 */
#include "accept.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "../log/log.h"
#include "../util/util.h"
#include "framing.h"

/* The most of a head looked at: libmicrohttpd's connection buffer. Every
 * head gets its verdict well before (framing.h: 8 KiB caps). */
#define HEAD_PEEK_MAX (16 * 1024)
#define ACCEPT_BURST 64
#define ACCEPT_RETRY_MS 100
#define ANSWER_MAX 1024
/* Read and dropped before a refusal's close, at most. */
#define DRAIN_MAX (64 * 1024)

_Static_assert(HEAD_PEEK_MAX > HTTP_HEADERS_MAX && HEAD_PEEK_MAX > HTTP_URI_MAX + HTTP_REQUEST_LINE_EXTRA,
    "every head gets a verdict within the peek buffer");
_Static_assert(HTTP_URI_MAX + HTTP_REQUEST_LINE_EXTRA >= HTTP_HEADERS_MAX,
    "no cap is crossed within HTTP_HEADERS_MAX bytes (on_pending() skips checks)");

/* A connection whose first head is not complete yet. */
struct pending {
	struct http_acceptor *a;
	struct pending *prev, *next;
	struct event *ev;
	int fd;
	int64_t since_ms;          /* accepted */
	size_t seen;               /* bytes of the head peeked so far */
	socklen_t addrlen;
	struct sockaddr_storage addr;
};

struct http_acceptor {
	struct event_base *base;
	struct event *ev_listen;
	struct event *ev_retry;
	int lfd;
	size_t max_conns;
	struct acceptor_ops ops;
	void *arg;
	struct pending *pending;
	size_t npending;
	bool paused;               /* at the limit: lfd not watched */
	bool quiesced;
	bool failing;              /* accept() is failing (logged once) */
};

static bool
at_limit(const struct http_acceptor *a)
{
	return a->npending + a->ops.open_conns(a->arg) >= a->max_conns;
}

void
acceptor_resume(struct http_acceptor *a)
{
	if (a == NULL || !a->paused || a->quiesced || at_limit(a))
		return;
	a->paused = false;
	event_add(a->ev_listen, NULL);
}

/* Forget p; its socket is closed unless fd was taken (-1). */
static void
pending_end(struct pending *p)
{
	struct http_acceptor *a = p->a;

	if (p->prev)
		p->prev->next = p->next;
	else
		a->pending = p->next;
	if (p->next)
		p->next->prev = p->prev;
	a->npending--;
	event_free(p->ev);
	if (p->fd >= 0)
		close(p->fd);
	free(p);
	acceptor_resume(a);
}

static const char *
reason_phrase(unsigned status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 408: return "Request Timeout";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 505: return "HTTP Version Not Supported";
	}
	return "Error";
}

/* Read and drop what has arrived (a refused head, maybe a body), up to
 * DRAIN_MAX. */
static void
drain(int fd)
{
	char buf[4096];
	size_t total = 0;
	ssize_t n;

	while (total < DRAIN_MAX && (n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		total += (size_t)n;
}

/* Answer the JSON error r and close the connection. */
static void
refuse(struct pending *p, const struct http_refusal *r)
{
	char out[ANSWER_MAX], st[8];
	json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code", r->code, "message", r->message);
	size_t blen;
	char *body = json_encode(j, &blen);
	json_decref(j);

	snprintf(st, sizeof(st), "%u", r->status);
	log_info("request head refused", "status", st, "detail", r->message);
	int n = body ? snprintf(out, sizeof(out), "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\n"
	    "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n"
	    "Content-Length: %zu\r\n\r\n%s", r->status, reason_phrase(r->status), blen, body) : -1;
	free(body);
	drain(p->fd);
	if (n > 0 && (size_t)n < sizeof(out))
		(void)!send(p->fd, out, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	shutdown(p->fd, SHUT_RDWR);
	pending_end(p);
}

/* The peer shut down its side (no new bytes came with this wake-up). */
static bool
peer_gone(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLRDHUP };

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

static void
hand_over(struct pending *p)
{
	struct http_acceptor *a = p->a;
	struct sockaddr_storage addr = p->addr;
	socklen_t addrlen = p->addrlen;
	int64_t since = p->since_ms;
	int fd = p->fd;

	p->fd = -1;
	pending_end(p);
	a->ops.hand_over(a->arg, fd, (const struct sockaddr *)&addr, addrlen, since);
}

static void
on_pending(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg;
	char buf[HEAD_PEEK_MAX];
	struct http_refusal r;
	ssize_t n = recv(p->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		/* Closed (or failed) before a request: nothing to answer. */
		pending_end(p);
		return;
	}
	size_t before = p->seen;
	bool grew = (size_t)n > before;
	p->seen = (size_t)n;
	/* The verdict changes only with a new complete line or past a cap: a
	 * head trickled byte by byte is not parsed again for every byte. */
	if (grew && (size_t)n <= HTTP_HEADERS_MAX && memchr(buf + before, '\n', (size_t)n - before) == NULL)
		return;
	switch (http_head_check(buf, (size_t)n, &r)) {
	case HTTP_HEAD_OK:
		hand_over(p);
		return;
	case HTTP_HEAD_REFUSED:
		refuse(p, &r);
		return;
	case HTTP_HEAD_MORE:
		break;
	}
	if ((size_t)n == sizeof(buf)) {
		/* Only empty lines so far: nothing else fills the buffer. */
		r = (struct http_refusal){ .status = 400, .code = "bad_request",
			.message = "no request line" };
		refuse(p, &r);
	} else if (!grew && peer_gone(p->fd)) {
		pending_end(p);  /* a half-closed incomplete head never completes */
	}
}

static void
pending_new(struct http_acceptor *a, int fd, const struct sockaddr_storage *ss, socklen_t len)
{
	struct pending *p = xcalloc(1, sizeof(*p));

	p->a = a;
	p->fd = fd;
	p->since_ms = mono_ms();
	p->addr = *ss;
	p->addrlen = len;
	p->ev = event_new(a->base, fd, EV_READ | EV_PERSIST | EV_ET, on_pending, p);
	event_add(p->ev, NULL);
	p->next = a->pending;
	if (a->pending)
		a->pending->prev = p;
	a->pending = p;
	a->npending++;
}

static void
on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct http_acceptor *a = arg;

	for (int i = 0; i < ACCEPT_BURST; i++) {
		if (at_limit(a)) {
			a->paused = true;
			event_del(a->ev_listen);
			return;
		}
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(a->lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			a->failing = false;
			pending_new(a, fd, &ss, len);
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
			continue;
		/* Out of descriptors or memory: try again a little later (a
		 * level-triggered listening socket would spin meanwhile). */
		if (!a->failing)
			log_warn("accept failed; retrying", "error", strerror(errno));
		a->failing = true;
		event_del(a->ev_listen);
		struct timeval tv = { .tv_sec = 0, .tv_usec = ACCEPT_RETRY_MS * 1000 };
		evtimer_add(a->ev_retry, &tv);
		return;
	}
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct http_acceptor *a = arg;

	if (!a->quiesced && !a->paused)
		event_add(a->ev_listen, NULL);
}

struct http_acceptor *
acceptor_start(struct event_base *base, int lfd, size_t max_conns, const struct acceptor_ops *ops,
    void *arg)
{
	if ((event_base_get_features(base) & EV_FEATURE_ET) == 0) {
		log_error("the event loop has no edge-triggered events (epoll)", "method",
		    event_base_get_method(base));
		return NULL;
	}
	struct http_acceptor *a = xcalloc(1, sizeof(*a));
	a->base = base;
	a->lfd = lfd;
	a->max_conns = max_conns;
	a->ops = *ops;
	a->arg = arg;
	a->ev_listen = event_new(base, lfd, EV_READ | EV_PERSIST, on_accept, a);
	a->ev_retry = evtimer_new(base, on_retry, a);
	event_add(a->ev_listen, NULL);
	return a;
}

void
acceptor_sweep(struct http_acceptor *a, int header_timeout_s)
{
	int64_t now = mono_ms();
	struct pending *next;

	for (struct pending *p = a->pending; p; p = next) {
		next = p->next;
		if (now - p->since_ms < (int64_t)header_timeout_s * 1000)
			continue;
		log_info("closing connection: deadline passed", "detail", "request headers not received in time");
		if (p->seen > 0) {
			struct http_refusal r = { .status = 408, .code = "request_timeout",
				.message = "request headers not received in time" };
			refuse(p, &r);
		} else {
			pending_end(p);
		}
	}
}

void
acceptor_quiesce(struct http_acceptor *a)
{
	if (a->quiesced)
		return;
	a->quiesced = true;
	event_del(a->ev_listen);
	evtimer_del(a->ev_retry);
	close(a->lfd);
	a->lfd = -1;
}

size_t
acceptor_pending(const struct http_acceptor *a)
{
	return a->npending;
}

void
acceptor_free(struct http_acceptor *a)
{
	if (a == NULL)
		return;
	acceptor_quiesce(a);
	while (a->pending)
		pending_end(a->pending);
	event_free(a->ev_listen);
	event_free(a->ev_retry);
	free(a);
}
