/*
 * api_stream.c - GET /v1/stream: the event log live, as Server-Sent Events.
 *
 * Each event is "id: <seq>\ndata: <event JSON>\n\n", the JSON being what GET
 * /v1/events shows. A client resumes with Last-Event-ID (browsers send it
 * on reconnect) or ?since=SEQ and gets every event after it, none skipped or
 * repeated, including those written while it was away (the bus reads them
 * from the store). Filters: ?channel=NAME, ?conversation_id=ID.
 *
 * Flow control is by pull: events are formatted only when the socket can
 * take more, so a slow or stalled client holds one small buffer and a
 * cursor, never a queue, and never slows anyone else. A heartbeat comment
 * every STREAM_HEARTBEAT_S keeps idle connections (and proxies) alive.
 */
#include "api.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "../authz/authz.h"
#include "../bus/bus.h"
#include "../http/http.h"
#include "../log/log.h"
#include "../util/util.h"

#define STREAM_HEARTBEAT_S 15
#define STREAM_CHUNK_MAX (64 * 1024)   /* formatted, not yet written */
#define SCAN_MAX 2000                  /* events filtered out per pass before yielding */

struct stream {
	struct app *app;
	struct http_request *req;
	struct stream *prev, *next;     /* app->streams */
	struct bus_sub *sub;
	struct bus_filter filter;
	struct buf out;                 /* formatted bytes not yet handed to the socket */
	size_t off;
	struct event *heartbeat;
	struct event *more;             /* never added, only activated: "read on soon" */
	bool ending;                    /* shutdown: end after what is buffered */
};

static void
stream_wake(void *arg)
{
	struct stream *s = arg;
	http_stream_wake(s->req);
}

static void
on_more(evutil_socket_t fd, short what, void *arg)
{
	struct stream *s = arg;
	http_stream_wake(s->req);
}

static void
on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
	struct stream *s = arg;

	if (s->out.len - s->off == 0)
		buf_append(&s->out, ": hb\n\n", 6);  /* 6 = strlen */
	http_stream_wake(s->req);
}


/* Format events into the buffer until it holds enough or we are caught up. */
static int
fill(struct stream *s)
{
	const struct store_event *e;
	bool err = false;
	char head[48];

	int scanned = 0;
	while (s->out.len - s->off < STREAM_CHUNK_MAX / 2 && (e = bus_next(s->sub, &err)) != NULL) {
		if (!bus_event_wanted(&s->filter, e) || e->json == NULL) {
			/* A narrow filter over a long log: give the loop back now and then. */
			if (++scanned >= SCAN_MAX) {
				event_active(s->more, EV_TIMEOUT, 0);
				break;
			}
			continue;
		}
		int n = snprintf(head, sizeof(head), "id: %" PRId64 "\ndata: ", e->seq);
		if (buf_append(&s->out, head, (size_t)n) != 0 || buf_append(&s->out, e->json, e->len) != 0 ||
		    buf_append(&s->out, "\n\n", 2) != 0)
			return -1;
	}
	return err ? -1 : 0;
}

static long
stream_read(void *arg, char *dst, size_t max)
{
	struct stream *s = arg;

	if (s->off == s->out.len) {
		/* Everything written: start the buffer over. */
		s->out.len = 0;
		s->off = 0;
		if (s->ending)
			return -1;
		if (fill(s) != 0) {
			log_warn("stream: cannot read events; closing", "req", http_request_id(s->req));
			return -1;
		}
		if (s->out.len == 0)
			return 0;  /* caught up: parked until the bus or the heartbeat wakes us */
	}
	size_t n = s->out.len - s->off;
	if (n > max)
		n = max;
	memcpy(dst, s->out.data + s->off, n);
	s->off += n;
	return (long)n;
}

static void
stream_close(void *arg)
{
	struct stream *s = arg;
	struct app *app = s->app;

	if (s->prev)
		s->prev->next = s->next;
	else
		app->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	bus_unsubscribe(s->sub);
	event_free(s->heartbeat);
	event_free(s->more);
	buf_free(&s->out);
	free(s->filter.channel);
	free(s);
}

int
api_stream_params(struct app *app, struct http_request *req, bool use_last_event_id,
    struct stream_params *out)
{
	const char *last = use_last_event_id ? http_header(req, "Last-Event-ID") : NULL;
	const char *conv = http_query(req, "conversation_id");

	*out = (struct stream_params){ .since = bus_head(app->bus), .channel = http_query(req, "channel") };
	/* Last-Event-ID (a reconnect) wins over ?since; neither: from now on. */
	bool by_header = last && *last;
	const char *from = by_header ? last : http_query(req, "since");
	/* A cursor past the end of the log names no event: say so rather than
	 * wait silently until the log catches up with it. */
	const char *what = by_header ? "Last-Event-ID" : "since";
	if (from && api_number(req, what, from, 0, INT64_MAX, &out->since) != 0)
		return -1;
	if (from && !bus_cursor_valid(app->bus, out->since)) {
		http_reply_error(req, 400, "invalid_parameter", what,
		    "the cursor must be an event seq from 0 to %lld", (long long)bus_head(app->bus));
		return -1;
	}
	if (conv && api_number(req, "conversation_id", conv, 1, INT64_MAX, &out->conversation_id) != 0)
		return -1;
	if (out->channel && (strlen(out->channel) == 0 || strlen(out->channel) > 64)) {
		http_reply_error(req, 400, "invalid_request", "channel", "invalid channel name");
		return -1;
	}
	if (app->shutting_down) {
		http_reply_error(req, 503, "shutting_down", NULL, "msgd is shutting down; retry");
		return -1;
	}
	return 0;
}

void
api_stream(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	struct stream_params sp;

	if (api_stream_params(app, req, true, &sp) != 0)
		return;
	int64_t since = sp.since;
	struct stream *s = xcalloc(1, sizeof(*s));
	s->app = app;
	s->req = req;
	s->filter = (struct bus_filter){ .org_id = who->org_id, .channel = xstrdup_or_null(sp.channel),
		.conversation_id = sp.conversation_id };
	buf_init(&s->out, STREAM_CHUNK_MAX * 2);
	/* Tell the browser how soon to reconnect, and that the stream is live. */
	/* The greeting carries the starting cursor as its id, so that a browser
	 * that reconnects before any event arrived still resumes from here. */
	char hello[80];
	int hn = snprintf(hello, sizeof(hello), "retry: 2000\nid: %lld\n: connected\n\n", (long long)since);
	buf_append(&s->out, hello, (size_t)hn);
	s->sub = bus_subscribe(app->bus, since, stream_wake, s);
	s->heartbeat = event_new(app->base, -1, EV_PERSIST, on_heartbeat, s);
	s->more = event_new(app->base, -1, 0, on_more, s);
	struct timeval hb = { .tv_sec = STREAM_HEARTBEAT_S, .tv_usec = 0 };
	event_add(s->heartbeat, &hb);
	s->next = app->streams;
	if (app->streams)
		app->streams->prev = s;
	app->streams = s;
	http_reply_stream(req, 200, "text/event-stream", stream_read, stream_close, s);
}

void
api_streams_end(struct app *app)
{
	for (struct stream *s = app->streams; s; s = s->next) {
		s->ending = true;
		http_stream_wake(s->req);
	}
	api_ws_end(app);
}

void
api_stream_gauges(struct app *app, int64_t *n, int64_t *max_lag)
{
	int64_t head = app->bus ? bus_head(app->bus) : 0;

	*n = *max_lag = 0;
	for (struct stream *s = app->streams; s; s = s->next) {
		int64_t lag = s->sub ? head - bus_cursor(s->sub) : 0;
		(*n)++;
		if (lag > *max_lag)
			*max_lag = lag;
	}
}
