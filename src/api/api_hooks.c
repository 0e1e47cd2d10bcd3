/*
 * api_hooks.c - /v1/webhooks: event webhook subscriptions (create, list,
 * get, delete). Delivery is src/hooks/.
 *
 * A change is validated completely, committed through the store, and only
 * then handed to the dispatcher and answered. The secret is never shown.
 */
#include "api.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../authz/authz.h"
#include "../hooks/hooks.h"
#include "../http/http.h"
#include "../log/log.h"
#include "../store/store.h"
#include "../util/util.h"

/* One subscription write waiting for its commit. */
struct hook_write {
	struct store_op op;
	struct store_read rd;       /* no "since": the head of the log first */
	int head_rc;
	int64_t head;
	struct app *app;
	struct http_request *req;
	char *url;
	char *events_json;
	char *secret;
	struct principal who;       /* for the audit trail */
};

static void
hook_write_free(struct hook_write *w)
{
	free(w->url);
	free(w->events_json);
	if (w->secret) {
		memset(w->secret, 0, strlen(w->secret));
		free(w->secret);
	}
	free(w);
}

#define invalid(req, field, ...) \
	http_reply_error(req, 422, "validation_failed", field, __VA_ARGS__)

static void
created_done(struct store_op *op, void *arg)
{
	struct hook_write *w = arg;
	char id[24];

	if (op->result != 0) {
		api_store_error(w->req);
		hook_write_free(w);
		return;
	}
	json_t *events = json_loads(w->events_json, 0, NULL);
	json_t *row = json_pack("{s:I, s:I, s:s, s:s, s:o, s:s, s:I, s:I}",
	    "id", (json_int_t)op->u.subscription.id,
	    "org_id", (json_int_t)op->org_id,
	    "org", w->who.org,
	    "url", w->url,
	    "events", events,
	    "secret", w->secret,
	    "created_at", (json_int_t)op->u.subscription.created_at,
	    "delivered_seq", (json_int_t)op->u.subscription.delivered_seq);
	hooks_add(w->app->hooks, row);
	json_decref(row);
	snprintf(id, sizeof(id), "%" PRId64, op->u.subscription.id);
	log_info("webhook subscription created", "subscription", id);
	api_audit(w->app, &w->who, op->org_id, "webhook.created", json_pack("{s:I}", "id",
	    (json_int_t)op->u.subscription.id), NULL, json_pack("{s:s, s:o}", "url", w->url, "events",
	    json_loads(w->events_json, 0, NULL)));
	http_reply_json(w->req, 201, hooks_get(w->app->hooks, op->org_id, op->u.subscription.id));
	hook_write_free(w);
}

/* A string's value, or NULL when it is not a string or holds a NUL byte. */
static const char *
nul_free(const json_t *v)
{
	if (!json_is_string(v) || json_string_length(v) != strlen(json_string_value(v)))
		return NULL;
	return json_string_value(v);
}

static void
head_run(struct store *st, void *arg)
{
	struct hook_write *w = arg;

	w->head_rc = store_events_head(st, &w->head);
}

static void
head_done(void *arg)
{
	struct hook_write *w = arg;

	if (w->head_rc != 0) {
		api_store_error(w->req);
		hook_write_free(w);
		return;
	}
	w->op.u.subscription.delivered_seq = w->head;
	store_submit(w->app->store, &w->op);
}

void
api_hooks_create(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	json_t *body = api_body_object(req), *v, *events, *e;
	const char *key, *url, *secret;
	int64_t since = 0;
	size_t i;

	if (body == NULL)
		return;
	json_object_foreach(body, key, v) {
		if (strcmp(key, "url") && strcmp(key, "events") && strcmp(key, "secret") &&
		    strcmp(key, "since")) {
			invalid(req, key, "unknown field '%.64s'", key);
			goto out;
		}
	}
	/* No embedded NUL: it would cut the stored value short. */
	url = nul_free(json_object_get(body, "url"));
	if (url == NULL || strlen(url) > HOOKS_URL_MAX || !hooks_url_valid(url)) {
		invalid(req, "url", "'url' must be an http:// or https:// URL of at most %d bytes",
		    HOOKS_URL_MAX);
		goto out;
	}
	events = json_object_get(body, "events");
	if (!json_is_array(events) || json_array_size(events) == 0 ||
	    json_array_size(events) > HOOKS_EVENTS_MAX) {
		invalid(req, "events", "'events' must be an array of 1 to %d event types (or [\"*\"])",
		    HOOKS_EVENTS_MAX);
		goto out;
	}
	json_array_foreach(events, i, e) {
		if (!hooks_event_name_valid(json_string_value(e))) {
			char field[32];
			snprintf(field, sizeof(field), "events[%zu]", i);
			invalid(req, field, "'%s' must be \"*\" or an event type like \"message.received\"",
			    field);
			goto out;
		}
	}
	secret = nul_free(json_object_get(body, "secret"));
	if (secret == NULL || strlen(secret) < HOOKS_SECRET_MIN || strlen(secret) > HOOKS_SECRET_MAX) {
		invalid(req, "secret", "'secret' is required: a string of %d to %d bytes",
		    HOOKS_SECRET_MIN, HOOKS_SECRET_MAX);
		goto out;
	}
	v = json_object_get(body, "since");
	if (v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			invalid(req, "since", "'since' must be an event seq (an integer >= 0)");
			goto out;
		}
		since = json_integer_value(v);
	}

	struct hook_write *w = xcalloc(1, sizeof(*w));
	w->app = app;
	w->req = req;
	w->url = xstrdup(url);
	w->events_json = json_encode(events, NULL);
	w->secret = xstrdup(secret);
	w->who = *who;
	w->op = (struct store_op){
		.kind = STORE_OP_SUBSCRIPTION_PUT,
		.org_id = who->org_id,
		.u.subscription = { .url = w->url, .events_json = w->events_json, .secret = w->secret,
		    .created_at = now_ms() / 1000, .delivered_seq = since },
		.done = created_done,
		.arg = w,
	};
	bool from_head = v == NULL;
	json_decref(body);
	http_defer(req);
	if (!from_head) {
		store_submit(app->store, &w->op);
	} else {
		/* From the end of the log: read where it is, off the loop. */
		w->rd = (struct store_read){ .run = head_run, .done = head_done, .arg = w };
		store_read_submit(app->store, &w->rd);
	}
	return;
out:
	json_decref(body);
}

void
api_hooks_list(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	http_reply_json(req, 200, hooks_list(app->hooks, who->org_id));
}

static bool
find_or_404(struct app *app, struct http_request *req, const struct principal *who, const char *s,
    int64_t *id)
{
	if (api_path_id(req, s, id) != 0)
		return false;
	json_t *j = hooks_get(app->hooks, who->org_id, *id);
	if (j == NULL) {
		http_reply_error(req, 404, "not_found", NULL, "no webhook subscription %.32s", s);
		return false;
	}
	json_decref(j);
	return true;
}

void
api_hooks_get(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	int64_t id;

	if (find_or_404(app, req, who, p[0], &id))
		http_reply_json(req, 200, hooks_get(app->hooks, who->org_id, id));
}

static void
deleted_done(struct store_op *op, void *arg)
{
	struct hook_write *w = arg;
	char id[24];

	if (op->result != 0) {
		api_store_error(w->req);
	} else {
		hooks_remove(w->app->hooks, op->u.subscription.id);
		snprintf(id, sizeof(id), "%" PRId64, op->u.subscription.id);
		log_info("webhook subscription deleted", "subscription", id);
		api_audit(w->app, &w->who, op->org_id, "webhook.deleted", json_pack("{s:I}", "id",
		    (json_int_t)op->u.subscription.id), NULL, NULL);
		http_reply_raw(w->req, 204, "application/json", "", 0);
	}
	hook_write_free(w);
}

void
api_hooks_delete(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	int64_t id;

	if (!find_or_404(app, req, who, p[0], &id))
		return;
	struct hook_write *w = xcalloc(1, sizeof(*w));
	w->app = app;
	w->req = req;
	w->who = *who;
	w->op = (struct store_op){
		.kind = STORE_OP_SUBSCRIPTION_DELETE,
		.org_id = who->org_id,
		.u.subscription = { .id = id },
		.done = deleted_done,
		.arg = w,
	};
	http_defer(req);
	store_submit(app->store, &w->op);
}
