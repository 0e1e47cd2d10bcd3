/*
 * api_hooks.c - the subscriptions of the event log, both faces of one
 * mechanism (src/hooks/): /v1/webhooks (event webhooks: create, list, get,
 * delete) and /v1/exports (issue 15: exports to a broker, NATS or RabbitMQ:
 * create, list, get, pause, resume, delete).
 *
 * What differs between the two is a row of `flavors` (names, how a
 * subscription is shown) and how a create body is checked; the write path
 * is one: a change is validated completely, committed through the store,
 * and only then handed to the dispatcher and answered. Secrets (a webhook's
 * signing secret, a broker's password or token in a config) are never
 * shown (the sink's show()) nor put in the audit trail.
 */
#include "api.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../authz/authz.h"
#include "../channels/channel.h"
#include "../hooks/hooks.h"
#include "../hooks/sink.h"
#include "../http/http.h"
#include "../log/log.h"
#include "../store/store.h"
#include "../util/util.h"

#define SUB_CHANNELS_MAX 64
#define SUB_FIELD_MAX 96
#define SUB_MSG_MAX 256

enum flavor { FLAVOR_WEBHOOK, FLAVOR_EXPORT };

static const struct flavor_info {
	const char *noun;          /* in 404s */
	const char *log_key;       /* names the id in logs */
	const char *created, *deleted, *paused, *resumed;   /* audit types */
	json_t *(*get)(struct hooks *, int64_t org, int64_t id);
} flavors[] = {
	[FLAVOR_WEBHOOK] = { .noun = "webhook subscription", .log_key = "subscription", .created = "webhook.created",
	    .deleted = "webhook.deleted", .get = hooks_get },
	[FLAVOR_EXPORT] = { .noun = "export", .log_key = "export", .created = "export.created",
	    .deleted = "export.deleted", .paused = "export.paused", .resumed = "export.resumed",
	    .get = hooks_export_get },
};

/* One subscription write waiting for its commit. */
struct sub_write {
	struct store_op op;
	struct store_read rd;       /* no "since": the head of the log first */
	int head_rc;
	int64_t head;
	enum flavor flavor;
	struct app *app;
	struct http_request *req;
	char *kind;
	char *url;                  /* a webhook's; "" for an export */
	char *secret;               /* a webhook's; "": wiped when freed */
	char *events_json;
	char *config_json;          /* an export's, secrets included: wiped when freed */
	char *channels_json;
	struct principal who;       /* for the audit trail */
};

static void
wipe_free(char *s)
{
	if (s) {
		memset(s, 0, strlen(s));
		free(s);
	}
}

static void
sub_write_free(struct sub_write *w)
{
	free(w->kind);
	free(w->url);
	wipe_free(w->secret);
	free(w->events_json);
	wipe_free(w->config_json);
	free(w->channels_json);
	free(w);
}

#define invalid(req, field, ...) \
	http_reply_error(req, 422, "validation_failed", field, __VA_ARGS__)

static json_t *
loads_or_null(const char *s)
{
	return s ? json_loads(s, 0, NULL) : json_null();
}

/* What the audit trail keeps of a new subscription: never a secret. */
static json_t *
audit_view(const struct sub_write *w, const json_t *shown)
{
	if (w->flavor == FLAVOR_WEBHOOK)
		return json_pack("{s:s, s:o}", "url", w->url, "events", json_loads(w->events_json, 0,
		    NULL));
	return shown ? json_pack("{s:O, s:O, s:O}", "kind", json_object_get(shown, "kind"),
	    "events", json_object_get(shown, "events"), "channels",
	    json_object_get(shown, "channels")) : NULL;
}

static void
created_done(struct store_op *op, void *arg)
{
	struct sub_write *w = arg;
	const struct flavor_info *f = &flavors[w->flavor];
	int64_t sid = op->u.subscription.id;
	char id[24];

	if (op->result != 0) {
		api_store_error(w->req);
		sub_write_free(w);
		return;
	}
	json_t *row = json_pack("{s:I, s:I, s:s, s:s, s:o, s:s, s:s, s:o, s:o, s:I, s:I}",
	    "id", (json_int_t)sid,
	    "org_id", (json_int_t)op->org_id,
	    "org", w->who.org,
	    "kind", w->kind,
	    "events", json_loads(w->events_json, 0, NULL),
	    "url", w->url,
	    "secret", w->secret,
	    "config", loads_or_null(w->config_json),
	    "channels", loads_or_null(w->channels_json),
	    "created_at", (json_int_t)op->u.subscription.created_at,
	    "delivered_seq", (json_int_t)op->u.subscription.delivered_seq);
	hooks_add(w->app->hooks, row);
	json_decref(row);
	snprintf(id, sizeof(id), "%" PRId64, sid);
	log_info(w->flavor == FLAVOR_WEBHOOK ? "webhook subscription created" : "export created",
	    f->log_key, id, "kind", w->kind);
	json_t *shown = f->get(w->app->hooks, op->org_id, sid);
	api_audit(w->app, &w->who, op->org_id, f->created, json_pack("{s:I}", "id", (json_int_t)sid),
	    NULL, audit_view(w, shown));
	http_reply_json(w->req, 201, shown);
	sub_write_free(w);
}

static void
head_run(struct store *st, void *arg)
{
	struct sub_write *w = arg;

	w->head_rc = store_events_head(st, &w->head);
}

static void
head_done(void *arg)
{
	struct sub_write *w = arg;

	if (w->head_rc != 0) {
		api_store_error(w->req);
		sub_write_free(w);
		return;
	}
	w->op.u.subscription.delivered_seq = w->head;
	store_submit(w->app->store, &w->op);
}

/* Room for one more subscription in the organization? Else 409. */
static bool
room(struct app *app, struct http_request *req, int64_t org)
{
	if (hooks_count(app->hooks, org) < HOOKS_PER_ORG_MAX)
		return true;
	http_reply_error(req, 409, "limit_reached", NULL, "an organization has at most %d event webhooks "
	    "and exports together; delete one first", HOOKS_PER_ORG_MAX);
	return false;
}

/* Commit w's new subscription (from since, or from the head of the log
 * when since < 0), then answer 201. */
static void
create(struct app *app, struct http_request *req, struct sub_write *w, int64_t since)
{
	w->app = app;
	w->req = req;
	w->op = (struct store_op){
		.kind = STORE_OP_SUBSCRIPTION_PUT,
		.org_id = w->who.org_id,
		.u.subscription = { .url = w->url, .events_json = w->events_json, .secret = w->secret,
		    .kind = w->kind, .config_json = w->config_json, .channels_json = w->channels_json,
		    .created_at = now_ms() / 1000, .delivered_seq = since < 0 ? 0 : since },
		.done = created_done,
		.arg = w,
	};
	http_defer(req);
	if (since >= 0) {
		store_submit(app->store, &w->op);
	} else {
		/* From the end of the log: read where it is, off the loop. */
		w->rd = (struct store_read){ .run = head_run, .done = head_done, .arg = w };
		store_read_submit(app->store, &w->rd);
	}
}

/* --- checks of a create body --- */

/* Every key of body is one of allowed (NULL-terminated). */
static int
check_fields(struct http_request *req, const json_t *body, const char *const *allowed)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)body, key, v) {
		size_t i = 0;
		while (allowed[i] && strcmp(allowed[i], key) != 0)
			i++;
		if (allowed[i] == NULL) {
			invalid(req, key, "unknown field '%.64s'", key);
			return -1;
		}
	}
	return 0;
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

/* since: absent (-1: the head of the log) or an event seq. */
static int
check_since(struct http_request *req, const json_t *v, int64_t *since)
{
	*since = -1;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		invalid(req, "since", "'since' must be an event seq (an integer >= 0)");
		return -1;
	}
	*since = json_integer_value(v);
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
	    json_array_size(channels) > SUB_CHANNELS_MAX) {
		invalid(req, "channels", "'channels' must be an array of 1 to %d channel names",
		    SUB_CHANNELS_MAX);
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

/* A string's value, or NULL when it is not a string or holds a NUL byte
 * (it would cut the stored value short). */
static const char *
nul_free(const json_t *v)
{
	if (!json_is_string(v) || json_string_length(v) != strlen(json_string_value(v)))
		return NULL;
	return json_string_value(v);
}

/* --- /v1/webhooks --- */

void
api_hooks_create(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	static const char *const allowed[] = { "url", "events", "secret", "since", NULL };
	json_t *body = api_body_object(req), *events;
	const char *url, *secret;
	int64_t since;

	if (body == NULL)
		return;
	if (check_fields(req, body, allowed) != 0)
		goto out;
	url = nul_free(json_object_get(body, "url"));
	if (url == NULL || strlen(url) > HOOKS_URL_MAX || !hooks_url_valid(url)) {
		invalid(req, "url", "'url' must be an http:// or https:// URL of at most %d bytes",
		    HOOKS_URL_MAX);
		goto out;
	}
	events = json_object_get(body, "events");
	if (check_events(req, events) != 0)
		goto out;
	secret = nul_free(json_object_get(body, "secret"));
	if (secret == NULL || strlen(secret) < HOOKS_SECRET_MIN || strlen(secret) > HOOKS_SECRET_MAX) {
		invalid(req, "secret", "'secret' is required: a string of %d to %d bytes",
		    HOOKS_SECRET_MIN, HOOKS_SECRET_MAX);
		goto out;
	}
	if (check_since(req, json_object_get(body, "since"), &since) != 0 || !room(app, req, who->org_id))
		goto out;

	struct sub_write *w = xcalloc(1, sizeof(*w));
	w->flavor = FLAVOR_WEBHOOK;
	w->who = *who;
	w->kind = xstrdup("webhook");
	w->url = xstrdup(url);
	w->secret = xstrdup(secret);
	w->events_json = json_dumps(events, JSON_COMPACT);
	create(app, req, w, since);
out:
	json_decref(body);
}

/* --- /v1/exports --- */

void
api_exports_create(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	static const char *const allowed[] = { "kind", "events", "channels", "since", "config", NULL };
	json_t *body = api_body_object(req), *events, *channels, *canonical = NULL;
	const char *kind;
	const struct sink_ops *ops;
	char field[SUB_FIELD_MAX], msg[SUB_MSG_MAX];
	int64_t since;

	if (body == NULL)
		return;
	if (check_fields(req, body, allowed) != 0)
		goto out;
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
	if (check_since(req, json_object_get(body, "since"), &since) != 0)
		goto out;
	field[0] = msg[0] = '\0';
	if (ops->check(json_object_get(body, "config"), &canonical, field, sizeof(field), msg,
	    sizeof(msg)) != 0) {
		invalid(req, field[0] ? field : "config", "%s", msg[0] ? msg : "'config' is not valid");
		goto out;
	}
	if (!room(app, req, who->org_id)) {
		json_decref(canonical);
		goto out;
	}

	struct sub_write *w = xcalloc(1, sizeof(*w));
	w->flavor = FLAVOR_EXPORT;
	w->who = *who;
	w->kind = xstrdup(kind);
	w->url = xstrdup("");
	w->secret = xstrdup("");
	w->events_json = json_dumps(events, JSON_COMPACT);
	w->config_json = json_dumps(canonical, JSON_COMPACT);
	w->channels_json = json_is_array(channels) ? json_dumps(channels, JSON_COMPACT) : NULL;
	json_decref(canonical);
	create(app, req, w, since);
out:
	json_decref(body);
}

/* --- reading, deleting, pausing: both --- */

static bool
find_or_404(struct app *app, struct http_request *req, const struct principal *who,
    enum flavor flavor, const char *s, int64_t *id)
{
	if (api_path_id(req, s, id) != 0)
		return false;
	json_t *j = flavors[flavor].get(app->hooks, who->org_id, *id);
	if (j == NULL) {
		http_reply_error(req, 404, "not_found", NULL, "no %s %.32s", flavors[flavor].noun, s);
		return false;
	}
	json_decref(j);
	return true;
}

static void
get(struct app *app, struct http_request *req, const struct principal *who, enum flavor flavor,
    const char *s)
{
	int64_t id;

	if (find_or_404(app, req, who, flavor, s, &id))
		http_reply_json(req, 200, flavors[flavor].get(app->hooks, who->org_id, id));
}

static void
changed_done(struct store_op *op, void *arg)
{
	struct sub_write *w = arg;
	const struct flavor_info *f = &flavors[w->flavor];
	int64_t sid = op->u.subscription.id;
	char id[24];

	if (op->result != 0) {
		api_store_error(w->req);
		sub_write_free(w);
		return;
	}
	snprintf(id, sizeof(id), "%" PRId64, sid);
	if (op->kind == STORE_OP_SUBSCRIPTION_DELETE) {
		hooks_remove(w->app->hooks, sid);
		log_info(w->flavor == FLAVOR_WEBHOOK ? "webhook subscription deleted" : "export deleted",
		    f->log_key, id);
		api_audit(w->app, &w->who, op->org_id, f->deleted, json_pack("{s:I}", "id",
		    (json_int_t)sid), NULL, NULL);
		http_reply_raw(w->req, 204, "application/json", "", 0);
	} else {
		bool paused = op->u.subscription.paused;
		hooks_pause(w->app->hooks, sid, paused);
		log_info(paused ? "export paused" : "export resumed", f->log_key, id);
		api_audit(w->app, &w->who, op->org_id, paused ? f->paused : f->resumed,
		    json_pack("{s:I}", "id", (json_int_t)sid), NULL, NULL);
		json_t *shown = f->get(w->app->hooks, op->org_id, sid);
		if (shown)
			http_reply_json(w->req, 200, shown);
		else
			http_reply_error(w->req, 404, "not_found", NULL, "no %s %s", f->noun, id);
	}
	sub_write_free(w);
}

static void
change(struct app *app, struct http_request *req, const struct principal *who,
    enum flavor flavor, const char *s, enum store_op_kind kind, bool paused)
{
	int64_t id;

	if (!find_or_404(app, req, who, flavor, s, &id))
		return;
	struct sub_write *w = xcalloc(1, sizeof(*w));
	w->flavor = flavor;
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
api_hooks_list(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	http_reply_json(req, 200, hooks_list(app->hooks, who->org_id));
}

void
api_hooks_get(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	get(app, req, who, FLAVOR_WEBHOOK, p[0]);
}

void
api_hooks_delete(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	change(app, req, who, FLAVOR_WEBHOOK, p[0], STORE_OP_SUBSCRIPTION_DELETE, false);
}

void
api_exports_list(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	http_reply_json(req, 200, hooks_export_list(app->hooks, who->org_id));
}

void
api_exports_get(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	get(app, req, who, FLAVOR_EXPORT, p[0]);
}

void
api_exports_pause(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	change(app, req, who, FLAVOR_EXPORT, p[0], STORE_OP_SUBSCRIPTION_PAUSE, true);
}

void
api_exports_resume(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	change(app, req, who, FLAVOR_EXPORT, p[0], STORE_OP_SUBSCRIPTION_PAUSE, false);
}

void
api_exports_delete(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	change(app, req, who, FLAVOR_EXPORT, p[0], STORE_OP_SUBSCRIPTION_DELETE, false);
}
