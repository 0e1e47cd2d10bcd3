/* httpc.c - libcurl multi inside libevent. */
#include "httpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "../log/log.h"
#include "../util/util.h"

struct httpc {
	CURLM *multi;           /* NULL until the first request */
	struct event_base *base;
	struct event *timer;
	struct xfer *xfers;     /* in flight, for httpc_free */
	size_t inflight;
	int max_host_connections;
};

/* One request in flight. */
struct xfer {
	struct httpc *hc;
	struct xfer *prev, *next;
	CURL *easy;
	struct curl_slist *headers;
	char *body;             /* our copy of the request body */
	struct buf resp;
	char retry_after[64];
	char errbuf[CURL_ERROR_SIZE];
	httpc_done_fn done;
	void *arg;
};

/* Per-socket watcher, attached to curl's socket with curl_multi_assign. */
struct sockwatch {
	struct event *ev;
	curl_socket_t fd;
};

static void check_done(struct httpc *hc);

static void
on_socket(evutil_socket_t fd, short what, void *arg)
{
	struct httpc *hc = arg;
	int flags = 0, running;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(hc->multi, fd, flags, &running);
	check_done(hc);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct httpc *hc = arg;
	int running;

	curl_multi_socket_action(hc->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(hc);
}

/* curl: watch (or stop watching) socket s for what. */
static int
sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct httpc *hc = userp;
	struct sockwatch *w = socketp;

	if (what == CURL_POLL_REMOVE) {
		if (w) {
			event_free(w->ev);
			free(w);
			curl_multi_assign(hc->multi, s, NULL);
		}
		return 0;
	}
	short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
	    ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if (w == NULL) {
		w = xcalloc(1, sizeof(*w));
		w->fd = s;
		curl_multi_assign(hc->multi, s, w);
	} else {
		event_free(w->ev);
	}
	w->ev = event_new(hc->base, s, kind, on_socket, hc);
	event_add(w->ev, NULL);
	return 0;
}

/* curl: call us back in timeout_ms (-1: no timer). */
static int
timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct httpc *hc = userp;

	if (timeout_ms < 0) {
		evtimer_del(hc->timer);
	} else {
		struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
		evtimer_add(hc->timer, &tv);
	}
	return 0;
}

static size_t
write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	if (x->resp.len < HTTPC_BODY_MAX) {
		size_t room = HTTPC_BODY_MAX - x->resp.len;
		buf_append(&x->resp, data, len < room ? len : room);
	}
	return len;
}

static size_t
header_cb(char *data, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	if (len > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
		const char *v = data + 12;
		size_t vl = len - 12;
		while (vl && (*v == ' ' || *v == '\t'))
			v++, vl--;
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
			vl--;
		snprintf(x->retry_after, sizeof(x->retry_after), "%.*s", (int)vl, v);
	}
	return len;
}

static void
xfer_free(struct xfer *x)
{
	struct httpc *hc = x->hc;

	if (x->prev)
		x->prev->next = x->next;
	else
		hc->xfers = x->next;
	if (x->next)
		x->next->prev = x->prev;
	curl_multi_remove_handle(hc->multi, x->easy);
	curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	free(x->body);
	buf_free(&x->resp);
	free(x);
	hc->inflight--;
}

static void
check_done(struct httpc *hc)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(hc->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct xfer *x;
		long status = 0;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		if (msg->data.result == CURLE_OK)
			curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
		struct send_response resp = {
			.http_status = status,
			.body = x->resp.data ? x->resp.data : "",
			.body_len = x->resp.len,
			.retry_after = x->retry_after[0] ? x->retry_after : NULL,
			.net_error = msg->data.result == CURLE_OK ? NULL :
			    (x->errbuf[0] ? x->errbuf : curl_easy_strerror(msg->data.result)),
		};
		x->done(x->arg, &resp);
		xfer_free(x);
	}
}

/* libcurl (and the TLS library under it) is set up on the first request,
 * not at start: a daemon that never calls a provider (the sandbox, or no
 * channel yet) does not pay its ~2.3 MB of touched pages. */
static int
ensure_multi(struct httpc *hc)
{
	static bool global_init;

	if (hc->multi != NULL)
		return 0;
	if (!global_init) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return -1;
		global_init = true;
	}
	if ((hc->multi = curl_multi_init()) == NULL)
		return -1;
	curl_multi_setopt(hc->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(hc->multi, CURLMOPT_SOCKETDATA, hc);
	curl_multi_setopt(hc->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(hc->multi, CURLMOPT_TIMERDATA, hc);
	curl_multi_setopt(hc->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)hc->max_host_connections);
	curl_multi_setopt(hc->multi, CURLMOPT_MAXCONNECTS, (long)hc->max_host_connections * 4);
	return 0;
}

int
httpc_new(struct httpc **out, struct event_base *base, int max_host_connections)
{
	struct httpc *hc = xcalloc(1, sizeof(*hc));

	hc->base = base;
	hc->max_host_connections = max_host_connections;
	hc->timer = evtimer_new(base, on_timer, hc);
	*out = hc;
	return 0;
}

void
httpc_free(struct httpc *hc)
{
	if (hc == NULL)
		return;
	while (hc->xfers) {
		struct xfer *x = hc->xfers;
		struct send_response resp = { .http_status = 0, .body = "", .net_error = "shutting down" };
		x->done(x->arg, &resp);
		xfer_free(x);
	}
	if (hc->multi != NULL)
		curl_multi_cleanup(hc->multi);
	event_free(hc->timer);
	free(hc);
}

size_t
httpc_inflight(struct httpc *hc)
{
	return hc->inflight;
}

int
httpc_start(struct httpc *hc, const struct send_request *req, long timeout_ms, httpc_done_fn done,
    void *arg)
{
	struct xfer *x;

	if (ensure_multi(hc) != 0) {
		log_error("httpc: cannot set up libcurl");
		return -1;
	}
	x = xcalloc(1, sizeof(*x));
	x->hc = hc;
	x->done = done;
	x->arg = arg;
	buf_init(&x->resp, HTTPC_BODY_MAX);
	x->easy = curl_easy_init();
	for (size_t i = 0; i < req->nheaders; i++)
		x->headers = curl_slist_append(x->headers, req->headers[i]);
	/* No "Expect: 100-continue" round trip on POSTs. */
	x->headers = curl_slist_append(x->headers, "Expect:");
	curl_easy_setopt(x->easy, CURLOPT_URL, req->url);
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 10000 ? timeout_ms : 10000L);
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	if (req->method && strcmp(req->method, "GET") != 0)
		curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, req->method);
	if (req->body) {
		x->body = xstrndup(req->body, req->body_len);
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body);
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE, (long)req->body_len);
	}
	x->next = hc->xfers;
	if (hc->xfers)
		hc->xfers->prev = x;
	hc->xfers = x;
	hc->inflight++;
	if (curl_multi_add_handle(hc->multi, x->easy) != CURLM_OK) {
		log_error("httpc: cannot start a request");
		xfer_free(x);
		return -1;
	}
	return 0;
}
