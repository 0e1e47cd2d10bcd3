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
	size_t resp_max;
	curl_mime *mime;        /* a multipart body, or NULL */
	struct httpc_sink sink; /* write NULL: hold the body in memory */
	int64_t streamed;       /* bytes handed to the sink */
	bool too_large, sink_failed;
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

static bool
status_2xx(struct xfer *x)
{
	long status = 0;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	return status >= 200 && status < 300;
}

static size_t
write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	if (x->sink.write && status_2xx(x)) {
		if (x->streamed + (int64_t)len > x->sink.max_bytes) {
			x->too_large = true;
			return 0;  /* aborts the transfer */
		}
		x->streamed += (int64_t)len;
		if (x->sink.write(x->sink.arg, data, len) != 0) {
			x->sink_failed = true;
			return 0;
		}
		return len;
	}
	if (x->resp.len < x->resp_max) {
		size_t room = x->resp_max - x->resp.len;
		buf_append(&x->resp, data, len < room ? len : room);
	}
	return len;
}

/* A header's value without surrounding blanks, when the line is "name:". */
static bool
header_value(const char *data, size_t len, const char *name, const char **v, size_t *vl)
{
	size_t nl = strlen(name);

	if (len <= nl || strncasecmp(data, name, nl) != 0)
		return false;
	*v = data + nl;
	*vl = len - nl;
	while (*vl && (**v == ' ' || **v == '\t'))
		(*v)++, (*vl)--;
	while (*vl && ((*v)[*vl - 1] == '\r' || (*v)[*vl - 1] == '\n' || (*v)[*vl - 1] == ' '))
		(*vl)--;
	return true;
}

static size_t
header_cb(char *data, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	const char *v;
	size_t vl;

	if (header_value(data, len, "Retry-After:", &v, &vl)) {
		snprintf(x->retry_after, sizeof(x->retry_after), "%.*s", (int)vl, v);
	} else if (x->sink.write && header_value(data, len, "Content-Length:", &v, &vl) &&
	    status_2xx(x)) {
		int64_t cl;
		char tmp[32];
		snprintf(tmp, sizeof(tmp), "%.*s", (int)vl, v);
		if (parse_i64(tmp, &cl) == 0 && cl > x->sink.max_bytes) {
			x->too_large = true;
			return 0;  /* refused before the body is read */
		}
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
	curl_mime_free(x->mime);
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
			    x->too_large ? "the body is over its size cap" :
			    x->sink_failed ? "the body could not be stored" :
			    (x->errbuf[0] ? x->errbuf : curl_easy_strerror(msg->data.result)),
			.too_large = x->too_large,
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

/* The request's parts as a curl mime body; -1 when one cannot be set. */
static int
set_mime(struct xfer *x, const struct send_request *req)
{
	x->mime = curl_mime_init(x->easy);
	for (size_t i = 0; i < req->nparts; i++) {
		const struct send_part *p = &req->parts[i];
		curl_mimepart *mp = curl_mime_addpart(x->mime);
		if (curl_mime_name(mp, p->name) != CURLE_OK)
			return -1;
		if (p->path) {
			if (curl_mime_filedata(mp, p->path) != CURLE_OK ||
			    curl_mime_filename(mp, p->filename ? p->filename : "file") != CURLE_OK)
				return -1;
		} else if (curl_mime_data(mp, p->value, CURL_ZERO_TERMINATED) != CURLE_OK) {
			return -1;
		}
		if (p->type && curl_mime_type(mp, p->type) != CURLE_OK)
			return -1;
	}
	return curl_easy_setopt(x->easy, CURLOPT_MIMEPOST, x->mime) == CURLE_OK ? 0 : -1;
}

int
httpc_start(struct httpc *hc, const struct send_request *req, long timeout_ms, httpc_done_fn done,
    void *arg)
{
	return httpc_start_sink(hc, req, timeout_ms, NULL, done, arg);
}

int
httpc_start_sink(struct httpc *hc, const struct send_request *req, long timeout_ms,
    const struct httpc_sink *sink, httpc_done_fn done, void *arg)
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
	x->resp_max = req->resp_max ? req->resp_max : HTTPC_BODY_MAX;
	if (x->resp_max > HTTPC_RESP_MAX_CAP)
		x->resp_max = HTTPC_RESP_MAX_CAP;
	if (sink)
		x->sink = *sink;
	buf_init(&x->resp, x->resp_max);
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
	if (req->nparts > 0) {
		if (set_mime(x, req) != 0) {
			log_error("httpc: cannot build a multipart body");
			curl_mime_free(x->mime);
			curl_slist_free_all(x->headers);
			curl_easy_cleanup(x->easy);
			buf_free(&x->resp);
			free(x);
			return -1;
		}
	} else if (req->body) {
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
