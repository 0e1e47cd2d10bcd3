/* api_read.c - conversations, messages and the event log, read from the store
 * on its reader pool (api_async.c). */
#include "api.h"

#include <inttypes.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "../authz/authz.h"
#include "../channels/channel.h"
#include "../http/http.h"
#include "../store/store.h"
#include "../util/util.h"

#define CURSOR_MAX 128
#define QUERY_MAX 256
#define PROVIDER_ID_MAX 512

/* What a read needs, copied from the request on the loop. */
struct read_ctx {
	int64_t org;                      /* the caller's organization */
	int64_t id;
	int64_t channel_id;
	int64_t since;
	int limit;
	char cursor[CURSOR_MAX + 1];
	char text[PROVIDER_ID_MAX + 1];   /* q, or a provider message id */
	bool has_cursor, has_text;
};

static struct read_ctx *
ctx_new(const struct principal *who)
{
	struct read_ctx *c = xcalloc(1, sizeof(struct read_ctx));
	c->org = who->org_id;
	return c;
}

static void
ctx_cursor(struct read_ctx *c, const char *cursor)
{
	if (cursor) {
		snprintf(c->cursor, sizeof(c->cursor), "%s", cursor);
		c->has_cursor = true;
	}
}

static void
ctx_text(struct read_ctx *c, const char *text)
{
	if (text) {
		snprintf(c->text, sizeof(c->text), "%s", text);
		c->has_text = true;
	}
}

static int
cursor_param(struct http_request *req, const char **out)
{
	const char *c = http_query(req, "cursor");
	if (c && (strlen(c) == 0 || strlen(c) > CURSOR_MAX)) {
		http_reply_error(req, 400, "invalid_request", "cursor", "invalid cursor");
		return -1;
	}
	*out = c;
	return 0;
}

static void
run_conversations_list(struct store *st, void *arg, struct api_reply *out)
{
	struct read_ctx *c = arg;
	struct conv_query q = { .org_id = c->org, .channel_id = c->channel_id, .limit = c->limit,
		.cursor = c->has_cursor ? c->cursor : NULL, .q = c->has_text ? c->text : NULL };
	json_t *v = NULL;
	int rc = store_conversations_list(st, &q, &v);

	if (rc == 0 && v == NULL)
		api_reply_fail(out, 400, "invalid_request", "cursor", "invalid cursor");
	else
		api_reply_read(out, rc, v, "conversation");
}

void
api_conversations_list(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	const char *chname = http_query(req, "channel");
	const char *cursor, *q;
	int limit;
	int64_t channel_id = 0;

	if ((limit = api_limit(req, 50, 200)) < 0 || cursor_param(req, &cursor) != 0)
		return;
	if (chname) {
		struct channel *ch = registry_find_name(app->reg, who->org_id, chname);
		if (ch == NULL) {
			http_reply_error(req, 404, "not_found", "channel", "no channel named '%.64s'", chname);
			return;
		}
		channel_id = ch->id;
	}
	q = http_query(req, "q");
	if (q && strlen(q) > QUERY_MAX) {
		http_reply_error(req, 400, "invalid_request", "q", "q is longer than %d bytes", QUERY_MAX);
		return;
	}
	struct read_ctx *c = ctx_new(who);
	c->limit = limit;
	c->channel_id = channel_id;
	ctx_cursor(c, cursor);
	if (q && *q)
		ctx_text(c, q);
	api_read_async(app, req, run_conversations_list, c, free);
}

static void
run_conversation_get(struct store *st, void *arg, struct api_reply *out)
{
	struct read_ctx *c = arg;
	json_t *v = NULL;
	int rc = store_conversation_get(st, c->org, c->id, &v);

	api_reply_read(out, rc, v, "conversation");
}

void
api_conversations_get(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	int64_t id;

	if (api_path_id(req, p[0], &id) != 0)
		return;
	struct read_ctx *c = ctx_new(who);
	c->id = id;
	api_read_async(app, req, run_conversation_get, c, free);
}

static void
run_conversation_messages(struct store *st, void *arg, struct api_reply *out)
{
	struct read_ctx *c = arg;
	struct msg_query q = { .org_id = c->org, .conversation_id = c->id, .limit = c->limit,
		.cursor = c->has_cursor ? c->cursor : NULL };
	json_t *conv = NULL, *v = NULL;

	if (store_conversation_get(st, c->org, q.conversation_id, &conv) != 0)
		return;  /* status 0: storage error */
	if (conv == NULL) {
		api_reply_fail(out, 404, "not_found", NULL, "no such conversation");
		return;
	}
	json_decref(conv);
	int rc = store_messages_list(st, &q, &v);
	if (rc == 0 && v == NULL)
		api_reply_fail(out, 400, "invalid_request", "cursor", "invalid cursor");
	else
		api_reply_read(out, rc, v, "conversation");
}

void
api_conversation_messages(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	int64_t id;
	const char *cursor;
	int limit;

	if (api_path_id(req, p[0], &id) != 0)
		return;
	if ((limit = api_limit(req, 50, 200)) < 0 || cursor_param(req, &cursor) != 0)
		return;
	struct read_ctx *c = ctx_new(who);
	c->id = id;
	c->limit = limit;
	ctx_cursor(c, cursor);
	api_read_async(app, req, run_conversation_messages, c, free);
}

static void
run_message_get(struct store *st, void *arg, struct api_reply *out)
{
	struct read_ctx *c = arg;
	json_t *v = NULL;
	int rc = store_message_get(st, c->org, c->id, &v);

	api_reply_read(out, rc, v, "message");
}

void
api_messages_get(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	int64_t id;

	if (api_path_id(req, p[0], &id) != 0)
		return;
	struct read_ctx *c = ctx_new(who);
	c->id = id;
	api_read_async(app, req, run_message_get, c, free);
}

static void
run_messages_retrying(struct store *st, void *arg, struct api_reply *out)
{
	struct read_ctx *c = arg;
	json_t *v = NULL;
	int rc = store_messages_retrying(st, c->org, c->limit, &v);

	api_reply_read(out, rc, v, "message");
}

static void
run_messages_by_provider_id(struct store *st, void *arg, struct api_reply *out)
{
	struct read_ctx *c = arg;
	json_t *v = NULL;
	int rc = store_messages_by_provider_id(st, c->org, c->text, &v);

	api_reply_read(out, rc, v, "message");
}

void
api_messages_find(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	const char *pid = http_query(req, "provider_message_id");
	const char *state = http_query(req, "state");
	int limit;

	if (state && pid == NULL) {
		/* ?state=retrying: waiting messages whose last attempt failed. */
		if (strcmp(state, "retrying") != 0) {
			http_reply_error(req, 400, "invalid_request", "state", "state must be 'retrying'");
			return;
		}
		if ((limit = api_limit(req, 50, 200)) < 0)
			return;
		struct read_ctx *c = ctx_new(who);
		c->limit = limit;
		api_read_async(app, req, run_messages_retrying, c, free);
		return;
	}
	if (pid == NULL || *pid == '\0' || strlen(pid) > PROVIDER_ID_MAX) {
		http_reply_error(req, 400, "invalid_request", "provider_message_id",
		    "provider_message_id (or state=retrying) is required");
		return;
	}
	struct read_ctx *c = ctx_new(who);
	ctx_text(c, pid);
	api_read_async(app, req, run_messages_by_provider_id, c, free);
}

/* The store renders each event as text; the page is their concatenation,
 * built on the reader thread ({"events":[...],"next"}; ev freed). */
void
api_events_page(struct store_event *ev, size_t n, int64_t since, struct api_reply *out)
{
	struct buf b;
	char tail[48];
	buf_init(&b, 0);
	buf_append(&b, "{\"events\":[", 11);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			buf_append(&b, ",", 1);
		buf_append(&b, ev[i].json, ev[i].len);
	}
	buf_append(&b, tail, (size_t)snprintf(tail, sizeof(tail), "],\"next\":%" PRId64 "}",
	    n ? ev[n - 1].seq : since));
	store_events_free(ev, n);
	out->status = 200;
	out->raw = b.data;  /* the buffer's, now the reply's */
	out->rawlen = b.len;
}

static void
run_events_list(struct store *st, void *arg, struct api_reply *out)
{
	struct read_ctx *c = arg;
	struct store_event *ev;
	size_t n;

	if (store_events_read(st, c->org, c->since, c->limit, &ev, &n) == 0)
		api_events_page(ev, n, c->since, out);
	/* else status 0: storage error */
}

void
api_events_list(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	int64_t since;
	int limit;

	if (api_query_number(req, "since", 0, INT64_MAX, 0, &since) != 0 ||
	    (limit = api_limit(req, 100, 1000)) < 0)
		return;
	struct read_ctx *c = ctx_new(who);
	c->since = since;
	c->limit = limit;
	api_read_async(app, req, run_events_list, c, free);
}
