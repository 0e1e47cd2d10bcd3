/* api_read.c - conversations, messages and the event log, read from the store. */
#include "api.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../channels/channel.h"
#include "../http/http.h"
#include "../store/store.h"
#include "../util/util.h"

#define CURSOR_MAX 128
#define QUERY_MAX 256

/* Reply with a read's result: 200 with it, 404 when absent, 500 on error. */
static void
reply_read(struct http_request *req, int rc, json_t *out, const char *what)
{
	if (rc != 0)
		api_store_error(req);
	else if (out == NULL)
		http_reply_error(req, 404, "not_found", NULL, "no such %s", what);
	else
		http_reply_json(req, 200, out);
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

void
api_conversations_list(struct app *app, struct http_request *req, const char *const *p)
{
	struct conv_query q = { 0 };
	const char *chname = http_query(req, "channel");
	json_t *out = NULL;

	if ((q.limit = api_limit(req, 50, 200)) < 0 || cursor_param(req, &q.cursor) != 0)
		return;
	if (chname) {
		struct channel *ch = registry_find_name(app->reg, chname);
		if (ch == NULL) {
			http_reply_error(req, 404, "not_found", "channel", "no channel named '%.64s'", chname);
			return;
		}
		q.channel_id = ch->id;
	}
	q.q = http_query(req, "q");
	if (q.q && strlen(q.q) > QUERY_MAX) {
		http_reply_error(req, 400, "invalid_request", "q", "q is longer than %d bytes", QUERY_MAX);
		return;
	}
	if (q.q && *q.q == '\0')
		q.q = NULL;
	int rc = store_conversations_list(app->store, &q, &out);
	if (rc == 0 && out == NULL) {
		http_reply_error(req, 400, "invalid_request", "cursor", "invalid cursor");
		return;
	}
	reply_read(req, rc, out, "conversation");
}

void
api_conversations_get(struct app *app, struct http_request *req, const char *const *p)
{
	int64_t id;
	json_t *out = NULL;

	if (api_path_id(req, p[0], &id) != 0)
		return;
	int rc = store_conversation_get(app->store, id, &out);
	reply_read(req, rc, out, "conversation");
}

void
api_conversation_messages(struct app *app, struct http_request *req, const char *const *p)
{
	struct msg_query q = { 0 };
	json_t *conv = NULL, *out = NULL;

	if (api_path_id(req, p[0], &q.conversation_id) != 0)
		return;
	if ((q.limit = api_limit(req, 50, 200)) < 0 || cursor_param(req, &q.cursor) != 0)
		return;
	if (store_conversation_get(app->store, q.conversation_id, &conv) != 0) {
		api_store_error(req);
		return;
	}
	if (conv == NULL) {
		http_reply_error(req, 404, "not_found", NULL, "no such conversation");
		return;
	}
	json_decref(conv);
	int rc = store_messages_list(app->store, &q, &out);
	if (rc == 0 && out == NULL) {
		http_reply_error(req, 400, "invalid_request", "cursor", "invalid cursor");
		return;
	}
	reply_read(req, rc, out, "conversation");
}

void
api_messages_get(struct app *app, struct http_request *req, const char *const *p)
{
	int64_t id;
	json_t *out = NULL;

	if (api_path_id(req, p[0], &id) != 0)
		return;
	int rc = store_message_get(app->store, id, &out);
	reply_read(req, rc, out, "message");
}

void
api_messages_find(struct app *app, struct http_request *req, const char *const *p)
{
	const char *pid = http_query(req, "provider_message_id");
	const char *state = http_query(req, "state");
	json_t *out = NULL;
	int limit;

	if (state && pid == NULL) {
		/* ?state=retrying: waiting messages whose last attempt failed. */
		if (strcmp(state, "retrying") != 0) {
			http_reply_error(req, 400, "invalid_request", "state", "state must be 'retrying'");
			return;
		}
		if ((limit = api_limit(req, 50, 200)) < 0)
			return;
		int rc = store_messages_retrying(app->store, limit, &out);
		reply_read(req, rc, out, "message");
		return;
	}
	if (pid == NULL || *pid == '\0' || strlen(pid) > 512) {
		http_reply_error(req, 400, "invalid_request", "provider_message_id",
		    "provider_message_id (or state=retrying) is required");
		return;
	}
	int rc = store_messages_by_provider_id(app->store, pid, &out);
	reply_read(req, rc, out, "message");
}

void
api_events_list(struct app *app, struct http_request *req, const char *const *p)
{
	int64_t since;
	int limit;

	if (api_query_number(req, "since", 0, INT64_MAX, 0, &since) != 0 ||
	    (limit = api_limit(req, 100, 1000)) < 0)
		return;
	/* The store renders each event as text; the page is their concatenation. */
	struct store_event *ev;
	size_t n;
	if (store_events_read(app->store, since, limit, &ev, &n) != 0) {
		api_store_error(req);
		return;
	}
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
	http_reply_raw(req, 200, "application/json", b.data, b.len);
	buf_free(&b);
	store_events_free(ev, n);
}
