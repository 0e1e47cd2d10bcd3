/*
 * sink_webhook.c - the event webhook sink: one signed HTTP POST per event
 * (batch_max 1), on the loop with httpc (libcurl's multi interface), never
 * blocking it.
 *
 * The body is the event as GET /v1/events shows it, serialized by jansson as
 * it always was; X-Msgd-Signature is "sha256=" + hex HMAC-SHA256(body,
 * secret); X-Msgd-Event names the type; X-Msgd-Delivery is the delivery id.
 * A 2xx accepts the event; anything else (other statuses, timeouts, refused
 * connections) does not, with a Retry-After in seconds passed on.
 *
 * Every webhook sink shares one httpc (keep-alive connections per receiving
 * host), made by the first open() and freed by the last close(). A sink
 * closed with a request in flight leaves it orphaned: its answer is dropped.
 */
#include "sink.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "../channels/channel.h"
#include "../httpc/httpc.h"
#include "../util/util.h"
#include "hooks.h"

#define REQUEST_TIMEOUT_MS 10000
#define HTTP_CONNECTIONS_MAX 8      /* keep-alive connections per receiving host */

struct whreq;

struct sink {
	int64_t id;
	char *url;
	char *secret;
	struct whreq *inflight;         /* the request in flight, or NULL */
	/* A failure found before any request started, told on the next turn
	 * of the loop (never from inside deliver()). */
	struct event *late;
	sink_done_fn late_done;
	void *late_arg;
	struct sink_result late_res;
};

/* A request in flight: outlives its sink when that is closed first. */
struct whreq {
	struct sink *s;                 /* NULL: orphaned */
	sink_done_fn done;
	void *arg;
};

static struct httpc *shared_hc;
static size_t shared_refs;

bool
hooks_url_valid(const char *u)
{
	const char *host;

	if (strncasecmp(u, "https://", 8) == 0)
		host = u + 8;
	else if (strncasecmp(u, "http://", 7) == 0)
		host = u + 7;
	else
		return false;
	if (*host == '\0' || *host == '/' || *host == ':' || *host == '?' || *host == '#')
		return false;
	for (const unsigned char *c = (const unsigned char *)u; *c; c++)
		if (*c <= ' ' || *c == 0x7f)
			return false;
	return true;
}

/* A string's value, or NULL when it is not a string or holds a NUL byte. */
static const char *
nul_free(const json_t *v)
{
	if (!json_is_string(v) || json_string_length(v) != strlen(json_string_value(v)))
		return NULL;
	return json_string_value(v);
}

static int
wh_check(const json_t *config, json_t **canonical, char *field, size_t fcap, char *msg, size_t mcap)
{
	const char *key, *url, *secret;
	json_t *v;

	if (!json_is_object(config)) {
		snprintf(field, fcap, "config");
		snprintf(msg, mcap, "'config' must be an object");
		return -1;
	}
	json_object_foreach((json_t *)config, key, v) {
		if (strcmp(key, "url") && strcmp(key, "secret")) {
			snprintf(field, fcap, "config.%.64s", key);
			snprintf(msg, mcap, "unknown field '%.64s'", key);
			return -1;
		}
	}
	url = nul_free(json_object_get(config, "url"));
	if (url == NULL || strlen(url) > HOOKS_URL_MAX || !hooks_url_valid(url)) {
		snprintf(field, fcap, "url");
		snprintf(msg, mcap, "'url' must be an http:// or https:// URL of at most %d bytes",
		    HOOKS_URL_MAX);
		return -1;
	}
	secret = nul_free(json_object_get(config, "secret"));
	if (secret == NULL || strlen(secret) < HOOKS_SECRET_MIN || strlen(secret) > HOOKS_SECRET_MAX) {
		snprintf(field, fcap, "secret");
		snprintf(msg, mcap, "'secret' is required: a string of %d to %d bytes",
		    HOOKS_SECRET_MIN, HOOKS_SECRET_MAX);
		return -1;
	}
	*canonical = json_pack("{s:s, s:s}", "url", url, "secret", secret);
	return 0;
}

static json_t *
wh_show(const json_t *config)
{
	return json_pack("{s:s, s:s}", "url", json_string_value(json_object_get(config, "url")),
	    "secret", "********");
}

static void
late_fire(evutil_socket_t fd, short what, void *arg)
{
	struct sink *s = arg;

	s->late_done(s->late_arg, &s->late_res);
}

static int
wh_open(struct sink **out, struct event_base *base, const json_t *config, int64_t sub_id)
{
	const char *url = json_string_value(json_object_get(config, "url"));
	const char *secret = json_string_value(json_object_get(config, "secret"));

	if (url == NULL || secret == NULL)
		return -1;
	if (shared_hc == NULL && httpc_new(&shared_hc, base, HTTP_CONNECTIONS_MAX) != 0)
		return -1;
	shared_refs++;
	struct sink *s = xcalloc(1, sizeof(*s));
	s->id = sub_id;
	s->url = xstrdup(url);
	s->secret = xstrdup(secret);
	s->late = event_new(base, -1, 0, late_fire, s);
	*out = s;
	return 0;
}

static void
on_http_done(void *arg, const struct send_response *resp)
{
	struct whreq *r = arg;
	struct sink_result res = { 0 };

	if (r->s == NULL) {
		free(r);  /* its sink was closed: nobody waits */
		return;
	}
	r->s->inflight = NULL;
	if (resp->http_status >= 200 && resp->http_status < 300) {
		res.acked = 1;
	} else if (resp->http_status == 0) {
		snprintf(res.error, sizeof(res.error), "%s", resp->net_error ? resp->net_error : "no answer");
	} else {
		snprintf(res.error, sizeof(res.error), "HTTP %ld", resp->http_status);
		res.retry_after_ms = hooks_retry_after_ms(resp->retry_after);
	}
	sink_done_fn done = r->done;
	void *darg = r->arg;
	free(r);
	done(darg, &res);
}

static void
wh_deliver(struct sink *s, const struct sink_event *ev, size_t n, sink_done_fn done, void *arg)
{
	struct send_request req = { 0 };
	char sig[HOOKS_SIG_LEN];
	json_t *tree = n == 1 ? json_loadb(ev->body, ev->len, 0, NULL) : NULL;
	/* Serialized as webhooks always were (jansson's default layout). */
	char *body = tree ? json_encode(tree, NULL) : NULL;
	struct whreq *r = xcalloc(1, sizeof(*r));

	json_decref(tree);
	r->s = s;
	r->done = done;
	r->arg = arg;
	if (body != NULL) {
		hooks_sign(s->secret, body, strlen(body), sig);
		req.method = xstrdup("POST");
		req.url = xstrdup(s->url);
		req.body_len = strlen(body);
		req.body = body;
		req.headers[req.nheaders++] = xstrdup("Content-Type: application/json");
		req.headers[req.nheaders++] = xstrdup("User-Agent: msgd-webhooks");
		req.headers[req.nheaders++] = xasprintf("X-Msgd-Signature: %s", sig);
		req.headers[req.nheaders++] = xasprintf("X-Msgd-Event: %s", ev->type);
		req.headers[req.nheaders++] = xasprintf("X-Msgd-Delivery: %s", ev->delivery_id);
		if (httpc_start(shared_hc, &req, REQUEST_TIMEOUT_MS, on_http_done, r) == 0) {
			s->inflight = r;
			send_request_free(&req);
			return;
		}
		send_request_free(&req);
	}
	free(r);
	s->late_done = done;
	s->late_arg = arg;
	s->late_res = (struct sink_result){ 0 };
	snprintf(s->late_res.error, sizeof(s->late_res.error), "%s",
	    body ? "cannot start the request" : "the event cannot be serialized");
	event_active(s->late, 0, 0);
}

static bool
wh_healthy(struct sink *s, char *why, size_t cap)
{
	if (cap)
		why[0] = '\0';
	return true;  /* no connection to keep: each attempt tells */
}

static void
wh_close(struct sink *s)
{
	if (s->inflight)
		s->inflight->s = NULL;
	event_free(s->late);
	free(s->url);
	memset(s->secret, 0, strlen(s->secret));
	free(s->secret);
	free(s);
	if (--shared_refs == 0) {
		httpc_free(shared_hc);  /* orphaned requests end: their answers are dropped */
		shared_hc = NULL;
	}
}

const struct sink_ops sink_webhook_ops = {
	.kind = "webhook",
	.batch_max = 1,
	.check = wh_check,
	.show = wh_show,
	.open = wh_open,
	.deliver = wh_deliver,
	.healthy = wh_healthy,
	.close = wh_close,
};
