/*
 * api_exports.c - /v1/exports (issue 15): durable subscriptions of the event
 * log delivered to a broker (NATS, RabbitMQ): create, list, get, pause,
 * resume, delete. Delivery is src/hooks/ (the same mechanism as the event
 * webhooks, another sink).
 *
 * A change is validated completely (the config by its sink's check()),
 * committed through the store, and only then handed to the dispatcher and
 * answered. Secrets in a config are never shown (the sink's show()) nor put
 * in the audit trail.
 */
#include "api.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../authz/authz.h"
#include "../channels/channel.h"
#include "../hooks/hooks.h"
#include "../hooks/sink.h"
#include "../http/http.h"
#include "../log/log.h"
#include "../store/store.h"
#include "../util/util.h"

#define EXPORT_CHANNELS_MAX 64
#define EXPORT_FIELD_MAX 96
#define EXPORT_MSG_MAX 256

/* One export write waiting for its commit. */
struct export_write {
	struct store_op op;
	struct store_read rd;       /* no "since": the head of the log first */
	int head_rc;
	int64_t head;
	struct app *app;
	struct http_request *req;
	char *kind;
	char *events_json;
	char *config_json;          /* secrets included: wiped when freed */
	char *channels_json;
	struct principal who;       /* for the audit trail */
};

static void
export_write_free(struct export_write *w)
{
	free(w->kind);
	free(w->events_json);
	if (w->config_json) {
		memset(w->config_json, 0, strlen(w->config_json));
		free(w->config_json);
	}
	free(w->channels_json);
	free(w);
}

#define invalid(req, field, ...) \
	http_reply_error(req, 422, "validation_failed", field, __VA_ARGS__)

/* What the audit trail keeps of an export: no config (secrets). */
static json_t *
audit_view(const json_t *shown)
{
	return json_pack("{s:O, s:O, s:O}", "kind", json_object_get(shown, "kind"),
	    "events", json_object_get(shown, "events"), "channels", json_object_get(shown, "channels"));
}

static void
created_done(struct store_op *op, void *arg)
{
	struct export_write *w = arg;
	char id[24];

	if (op->result != 0) {
		api_store_error(w->req);
		export_write_free(w);
		return;
	}
	json_t *row = json_pack("{s:I, s:I, s:s, s:s, s:o, s:s, s:s, s:o, s:o, s:I, s:I}",
	    "id", (json_int_t)op->u.subscription.id,
	    "org_id", (json_int_t)op->org_id,
	    "org", w->who.org,
	    "kind", w->kind,
	    "events", json_loads(w->events_json, 0, NULL),
	    "url", "",
	    "secret", "",
	    "config", json_loads(w->config_json, 0, NULL),
	    "channels", w->channels_json ? json_loads(w->channels_json, 0, NULL) : json_null(),
	    "created_at", (json_int_t)op->u.subscription.created_at,
	    "delivered_seq", (json_int_t)op->u.subscription.delivered_seq);
	hooks_add(w->app->hooks, row);
	json_decref(row);
	snprintf(id, sizeof(id), "%" PRId64, op->u.subscription.id);
	log_info("export created", "export", id, "kind", w->kind);
	json_t *shown = hooks_export_get(w->app->hooks, op->org_id, op->u.subscription.id);
	api_audit(w->app, &w->who, op->org_id, "export.created", json_pack("{s:I}", "id",
	    (json_int_t)op->u.subscription.id), NULL, shown ? audit_view(shown) : NULL);
	http_reply_json(w->req, 201, shown);
	export_write_free(w);
}

static void
head_run(struct store *st, void *arg)
{
	struct export_write *w = arg;

	w->head_rc = store_events_head(st, &w->head);
}

static void
head_done(void *arg)
{
	struct export_write *w = arg;

	if (w->head_rc != 0) {
		api_store_error(w->req);
		export_write_free(w);
		return;
	}
	w->op.u.subscription.delivered_seq = w->head;
	store_submit(w->app->store, &w->op);
}

/* events: 1 to HOOKS_EVENTS_MAX names or "*". */
static int
check_events(struct http_request *req, const json_t *events)
{
	size_t i;
	json_t *e;

	if (!json_is_array(events) || json_array_size(events) == 0 ||
	    json_array_size(events) > HOOKS_EVENTS_MAX) {
		invalid(req, "events", "'events' must be an array of 1 to %d event types (or [\"*\"])",
		    HOOKS_EVENTS_MAX);
		return -1;
	}
	json_array_foreach(events, i, e) {
		if (!hooks_event_name_valid(json_string_value(e))) {
			char field[32];
			snprintf(field, sizeof(field), "events[%zu]", i);
			invalid(req, field, "'%s' must be \"*\" or an event type like \"message.received\"",
			    field);
			return -1;
		}
	}
	return 0;
}

/* channels: absent or null (every channel), or names of the org's channels. */
static int
check_channels(struct app *app, struct http_request *req, int64_t org, const json_t *channels)
{
	size_t i;
	json_t *c;

	if (channels == NULL || json_is_null(channels))
		return 0;
	if (!json_is_array(channels) || json_array_size(channels) == 0 ||
	    json_array_size(channels) > EXPORT_CHANNELS_MAX) {
		invalid(req, "channels", "'channels' must be an array of 1 to %d channel names",
		    EXPORT_CHANNELS_MAX);
		return -1;
	}
	json_array_foreach(channels, i, c) {
		const char *name = json_string_value(c);
		if (name == NULL || json_string_length(c) != strlen(name) ||
		    registry_find_name(app->reg, org, name) == NULL) {
			char field[32];
			snprintf(field, sizeof(field), "channels[%zu]", i);
			invalid(req, field, "'%s' must name a channel of this organization", field);
			return -1;
		}
	}
	return 0;
}

void
api_exports_create(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	json_t *body = api_body_object(req), *v, *events, *channels, *canonical = NULL;
	const char *key, *kind;
	const struct sink_ops *ops;
	char field[EXPORT_FIELD_MAX], msg[EXPORT_MSG_MAX];
	int64_t since = 0;

	if (body == NULL)
		return;
	json_object_foreach(body, key, v) {
		if (strcmp(key, "kind") && strcmp(key, "events") && strcmp(key, "channels") &&
		    strcmp(key, "since") && strcmp(key, "config")) {
			invalid(req, key, "unknown field '%.64s'", key);
			goto out;
		}
	}
	kind = json_string_value(json_object_get(body, "kind"));
	ops = kind && strcmp(kind, "webhook") != 0 ? sink_ops_find(kind) : NULL;
	if (ops == NULL) {
		invalid(req, "kind", "'kind' must be a broker this build exports to: \"nats\" or \"amqp\"");
		goto out;
	}
	events = json_object_get(body, "events");
	if (check_events(req, events) != 0)
		goto out;
	channels = json_object_get(body, "channels");
	if (check_channels(app, req, who->org_id, channels) != 0)
		goto out;
	v = json_object_get(body, "since");
	if (v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			invalid(req, "since", "'since' must be an event seq (an integer >= 0)");
			goto out;
		}
		since = json_integer_value(v);
	}
	field[0] = msg[0] = '\0';
	if (ops->check(json_object_get(body, "config"), &canonical, field, sizeof(field), msg,
	    sizeof(msg)) != 0) {
		invalid(req, field[0] ? field : "config", "%s", msg[0] ? msg : "'config' is not valid");
		goto out;
	}

	struct export_write *w = xcalloc(1, sizeof(*w));
	w->app = app;
	w->req = req;
	w->kind = xstrdup(kind);
	w->events_json = json_dumps(events, JSON_COMPACT);
	w->config_json = json_dumps(canonical, JSON_COMPACT);
	w->channels_json = json_is_array(channels) ? json_dumps(channels, JSON_COMPACT) : NULL;
	json_decref(canonical);
	w->who = *who;
	w->op = (struct store_op){
		.kind = STORE_OP_SUBSCRIPTION_PUT,
		.org_id = who->org_id,
		.u.subscription = { .url = "", .events_json = w->events_json, .secret = "",
		    .kind = w->kind, .config_json = w->config_json, .channels_json = w->channels_json,
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
api_exports_list(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	http_reply_json(req, 200, hooks_export_list(app->hooks, who->org_id));
}

static bool
find_or_404(struct app *app, struct http_request *req, const struct principal *who, const char *s,
    int64_t *id)
{
	if (api_path_id(req, s, id) != 0)
		return false;
	json_t *j = hooks_export_get(app->hooks, who->org_id, *id);
	if (j == NULL) {
		http_reply_error(req, 404, "not_found", NULL, "no export %.32s", s);
		return false;
	}
	json_decref(j);
	return true;
}

void
api_exports_get(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	int64_t id;

	if (find_or_404(app, req, who, p[0], &id))
		http_reply_json(req, 200, hooks_export_get(app->hooks, who->org_id, id));
}

static void
changed_done(struct store_op *op, void *arg)
{
	struct export_write *w = arg;
	int64_t sid = op->u.subscription.id;
	char id[24];

	if (op->result != 0) {
		api_store_error(w->req);
		export_write_free(w);
		return;
	}
	snprintf(id, sizeof(id), "%" PRId64, sid);
	if (op->kind == STORE_OP_SUBSCRIPTION_DELETE) {
		hooks_remove(w->app->hooks, sid);
		log_info("export deleted", "export", id);
		api_audit(w->app, &w->who, op->org_id, "export.deleted", json_pack("{s:I}", "id",
		    (json_int_t)sid), NULL, NULL);
		http_reply_raw(w->req, 204, "application/json", "", 0);
	} else {
		bool paused = op->u.subscription.paused;
		hooks_pause(w->app->hooks, sid, paused);
		log_info(paused ? "export paused" : "export resumed", "export", id);
		api_audit(w->app, &w->who, op->org_id, paused ? "export.paused" : "export.resumed",
		    json_pack("{s:I}", "id", (json_int_t)sid), NULL, NULL);
		json_t *shown = hooks_export_get(w->app->hooks, op->org_id, sid);
		if (shown)
			http_reply_json(w->req, 200, shown);
		else
			http_reply_error(w->req, 404, "not_found", NULL, "no export %s", id);
	}
	export_write_free(w);
}

static void
change(struct app *app, struct http_request *req, const struct principal *who, const char *s,
    enum store_op_kind kind, bool paused)
{
	int64_t id;

	if (!find_or_404(app, req, who, s, &id))
		return;
	struct export_write *w = xcalloc(1, sizeof(*w));
	w->app = app;
	w->req = req;
	w->who = *who;
	w->op = (struct store_op){
		.kind = kind,
		.org_id = who->org_id,
		.u.subscription = { .id = id, .paused = paused },
		.done = changed_done,
		.arg = w,
	};
	http_defer(req);
	store_submit(app->store, &w->op);
}

void
api_exports_pause(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	change(app, req, who, p[0], STORE_OP_SUBSCRIPTION_PAUSE, true);
}

void
api_exports_resume(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	change(app, req, who, p[0], STORE_OP_SUBSCRIPTION_PAUSE, false);
}

void
api_exports_delete(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	change(app, req, who, p[0], STORE_OP_SUBSCRIPTION_DELETE, false);
}
