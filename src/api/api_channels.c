/*
 * api_channels.c - /v1/channels: create, list, get, patch, delete.
 *
 * A change is validated by the channel type's adapter, committed through
 * the store, and only then applied to the in-memory registry and answered.
 * Changes committed by another msgd on the same database reach the
 * registry through api_channels_sync(), by the same steps.
 */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../authz/authz.h"
#include "../channels/channel.h"
#include "../config/config.h"
#include "../http/http.h"
#include "../log/log.h"
#include "../outbox/outbox.h"
#include "../store/store.h"
#include "../util/util.h"

/* One channel write waiting for its commit. */
struct chan_write {
	struct store_op op;
	struct app *app;
	struct http_request *req;
	struct channel *ch;      /* the channel to install on success (create/patch) */
	char *name;
	char *type;
	char *config_json;
	char *destination;       /* patch: the destination keys that changed, for the log */
	char *route;             /* the route key's value, or NULL */
	struct principal who;    /* for the audit trail */
	json_t *before;          /* patch, delete: the public config before */
};

static void
chan_write_free(struct chan_write *w)
{
	channel_free(w->ch);
	free(w->name);
	free(w->type);
	free(w->config_json);
	free(w->destination);
	free(w->route);
	json_decref(w->before);
	free(w);
}

/* audit.channel.*: the channel's public config before and after (no secrets). */
static void
chan_audit(struct chan_write *w, const char *what, int64_t id, const char *name,
    const struct channel *after)
{
	api_audit(w->app, &w->who, w->who.org_id, what, json_pack("{s:I, s:s}", "id", (json_int_t)id,
	    "name", name), w->before ? json_incref(w->before) : NULL,
	    after ? channel_public_config(after) : NULL);
}

/* Is config's route key (WhatsApp: phone_number_id) another channel's, in
 * any organization? Then 409 (naming only the field: the other channel
 * may be another organization's). */
static bool
route_taken(struct app *app, struct http_request *req, const struct channel_ops *ops,
    const json_t *config, int64_t except_id)
{
	const char *v = channel_route_value(ops, config);

	if (registry_find_route(app->reg, ops, v, except_id) == NULL)
		return false;
	http_reply_error(req, 409, "conflict", ops->route_key,
	    "%s '%.64s' is claimed by another channel already", ops->route_key, v);
	return true;
}

static void
reply_validation(struct http_request *req, const struct channel_error *err)
{
	http_reply_error(req, 422, "validation_failed", err->field, "%s", err->message);
}

/* Check the credentials in the background (the reply does not wait). */
static void
check_credentials(struct app *app, struct channel *ch)
{
	if (app->outbox && app->cfg && app->cfg->credential_checks)
		outbox_check_credentials(app->outbox, ch);
}

/* ch is in the registry now, new or in place of its older self (replaced):
 * what follows a create or a patch. */
static void
channel_installed(struct app *app, struct channel *ch, bool replaced)
{
	if (app->outbox)  /* new: its lease is wanted; replaced: a fresh start too */
		outbox_channel_changed(app->outbox, ch->id);
	if (ch->ops->on_start)
		ch->ops->on_start(ch);
	check_credentials(app, ch);
}

/* Put ch (owned) in place of the channel with its id, if any: 0, or -1
 * when it cannot open (freed). */
static int
channel_replace(struct app *app, struct channel *ch)
{
	struct channel *old = registry_find_id(app->reg, ch->id);

	app->channels_gen++;
	if (old) {  /* its connection state outlives a new config */
		ch->conn = old->conn;
		ch->conn_reason = old->conn_reason;
		ch->conn_at = old->conn_at;
		old->conn_reason = NULL;
	}
	registry_remove(app->reg, ch->id);
	return registry_add(app->reg, ch);
}

/* The registry holds ch as stored already (a sync heard this instance's own
 * commit and installed it before the write's reply): nothing to do again. */
static struct channel *
already_synced(struct app *app, const struct channel *ch)
{
	struct channel *cur = registry_find_id(app->reg, ch->id);

	if (cur && cur->updated_at == ch->updated_at && json_equal(cur->config, ch->config))
		return cur;
	return NULL;
}

/* What follows a delete. */
static void
channel_removed(struct app *app, int64_t id)
{
	app->channels_gen++;
	registry_remove(app->reg, id);
	if (app->outbox)
		outbox_channel_changed(app->outbox, id);
}

static void
created_done(struct store_op *op, void *arg)
{
	struct chan_write *w = arg;

	if (op->result != 0) {
		if (op->err == STORE_CONFLICT)
			http_reply_error(w->req, 409, "conflict", "name",
			    "a channel named '%s' exists, or another channel claims its %s", w->name,
			    w->ch && w->ch->ops->route_key ? w->ch->ops->route_key : "route");
		else
			api_store_error(w->req);
		chan_write_free(w);
		return;
	}
	w->ch->id = op->u.channel.id;
	w->ch->created_at = w->ch->updated_at = op->u.channel.at;  /* as stored: syncs compare it */
	struct channel *ch = already_synced(w->app, w->ch);
	if (ch) {
		chan_audit(w, "channel.created", ch->id, ch->name, ch);
		api_reply_channels(w->app, w->req, 201, api_channel_json(w->app, ch));
		chan_write_free(w);
		return;
	}
	ch = w->ch;
	w->ch = NULL;
	/* A sync may have taken an older copy from the store: replace. */
	if (channel_replace(w->app, ch) != 0) {
		api_store_error(w->req);
		chan_write_free(w);
		return;
	}
	log_info("channel created", "channel", ch->name, "type", ch->ops->type);
	chan_audit(w, "channel.created", ch->id, ch->name, ch);
	channel_installed(w->app, ch, false);
	api_reply_channels(w->app, w->req, 201, api_channel_json(w->app, ch));
	chan_write_free(w);
}

void
api_channels_create(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	struct channel_error err = { 0 };
	json_t *body = api_body_object(req);
	const char *key;
	json_t *v;

	if (body == NULL)
		return;
	json_object_foreach(body, key, v) {
		if (strcmp(key, "name") && strcmp(key, "type") && strcmp(key, "config")) {
			snprintf(err.field, sizeof(err.field), "%s", key);
			snprintf(err.message, sizeof(err.message), "unknown field '%.64s'", key);
			goto invalid;
		}
	}
	const char *name = json_string_value(json_object_get(body, "name"));
	const char *type = json_string_value(json_object_get(body, "type"));
	json_t *config = json_object_get(body, "config");
	if (channel_validate_name(name, &err) != 0)
		goto invalid;
	const struct channel_ops *ops = type ? channel_type_find(type) : NULL;
	if (ops == NULL) {
		snprintf(err.field, sizeof(err.field), "type");
		snprintf(err.message, sizeof(err.message), "'type' must be one of:%s%s",
		    " whatsapp_cloud,", " sandbox");
		goto invalid;
	}
	if (config == NULL)
		config = json_object_set_new(body, "config", json_object()) == 0 ?
		    json_object_get(body, "config") : NULL;
	if (ops->validate(config, &err) != 0)
		goto invalid;
	if (registry_find_name(app->reg, who->org_id, name)) {
		http_reply_error(req, 409, "conflict", "name", "a channel named '%s' exists", name);
		json_decref(body);
		return;
	}
	if (route_taken(app, req, ops, config, 0)) {
		json_decref(body);
		return;
	}

	int64_t now = now_ms() / 1000;
	struct chan_write *w = xcalloc(1, sizeof(*w));
	w->app = app;
	w->req = req;
	w->name = xstrdup(name);
	w->type = xstrdup(type);
	w->config_json = json_encode(config, NULL);
	w->ch = channel_new(0, name, ops, config, now, now);
	w->ch->org_id = who->org_id;
	w->who = *who;
	w->route = xstrdup_or_null(channel_route_value(ops, config));
	w->op = (struct store_op){
		.kind = STORE_OP_CHANNEL_CREATE,
		.org_id = who->org_id,
		.u.channel = { .name = w->name, .type = w->type, .config_json = w->config_json,
			.route_key = w->route },
		.done = created_done,
		.arg = w,
	};
	json_decref(body);
	http_defer(req);
	store_submit(app->store, &w->op);
	return;
invalid:
	json_decref(body);
	reply_validation(req, &err);
}

void
api_channels_list(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < registry_count(app->reg); i++)
		if (registry_at(app->reg, i)->org_id == who->org_id)
			json_array_append_new(arr, api_channel_json(app, registry_at(app->reg, i)));
	api_reply_channels(app, req, 200, json_pack("{s:o}", "channels", arr));
}

struct channel *
api_channel_or_404(struct app *app, struct http_request *req, const struct principal *who,
    const char *name)
{
	struct channel *ch = registry_find_name(app->reg, who->org_id, name);
	if (ch == NULL)
		http_reply_error(req, 404, "not_found", NULL, "no channel named '%.64s'", name);
	return ch;
}

void
api_channels_get(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	struct channel *ch = api_channel_or_404(app, req, who, p[0]);
	if (ch)
		api_reply_channels(app, req, 200, api_channel_json(app, ch));
}

static void
patched_done(struct store_op *op, void *arg)
{
	struct chan_write *w = arg;

	if (op->result != 0) {
		if (op->err == STORE_CONFLICT)
			http_reply_error(w->req, 409, "conflict", w->ch->ops->route_key,
			    "%s is claimed by another channel already",
			    w->ch->ops->route_key ? w->ch->ops->route_key : "the route");
		else
			api_store_error(w->req);
		chan_write_free(w);
		return;
	}
	w->ch->updated_at = op->u.channel.at;  /* as stored: syncs compare it */
	struct channel *ch = already_synced(w->app, w->ch);
	if (ch) {
		chan_audit(w, "channel.updated", ch->id, ch->name, ch);
		api_reply_channels(w->app, w->req, 200, api_channel_json(w->app, ch));
		chan_write_free(w);
		return;
	}
	ch = w->ch;
	w->ch = NULL;
	if (channel_replace(w->app, ch) != 0) {
		api_store_error(w->req);
		chan_write_free(w);
		return;
	}
	log_info("channel updated", "channel", ch->name);
	chan_audit(w, "channel.updated", ch->id, ch->name, ch);
	if (w->destination)
		log_warn("channel destination changed; its secrets were supplied again", "channel",
		    ch->name, "changed", w->destination);
	channel_installed(w->app, ch, true);
	api_reply_channels(w->app, w->req, 200, api_channel_json(w->app, ch));
	chan_write_free(w);
}

static bool
same_value(const json_t *a, const json_t *b)
{
	return (a == NULL && b == NULL) || (a && b && json_equal(a, b));
}

/*
 * Where a channel sends is part of what its secrets protect: a caller who
 * may PATCH but cannot read the (masked) token must not be able to aim the
 * channel at a server of their own and have msgd hand the token over. So a
 * change of a destination key needs every destination secret in the same
 * patch. Returns -1 (reply sent) when one is missing; *changed gets the
 * changed keys ("api_base_url"), or NULL when none changed.
 */
static int
check_destination(struct http_request *req, const struct channel *ch, const json_t *patch,
    const json_t *config, char **changed)
{
	const char *const *k;
	struct buf b;

	*changed = NULL;
	if (ch->ops->destination_keys == NULL)
		return 0;
	buf_init(&b, 512);
	for (k = ch->ops->destination_keys; *k; k++) {
		if (same_value(json_object_get(ch->config, *k), json_object_get(config, *k)))
			continue;
		if (b.len)
			buf_append(&b, ",", 1);
		buf_append(&b, *k, strlen(*k));
	}
	if (b.len == 0) {
		buf_free(&b);
		return 0;
	}
	for (k = ch->ops->destination_secrets; k && *k; k++) {
		if (!json_is_string(json_object_get(patch, *k))) {
			http_reply_error(req, 422, "secrets_required", "config", "changing %.*s needs "
			    "'%s' in the same request (secrets are not sent to a new destination "
			    "unless supplied again)", (int)b.len, b.data, *k);
			buf_free(&b);
			return -1;
		}
	}
	*changed = xstrndup(b.data, b.len);
	buf_free(&b);
	return 0;
}

void
api_channels_patch(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	struct channel_error err = { 0 };
	struct channel *ch = api_channel_or_404(app, req, who, p[0]);
	json_t *body, *patch, *config = NULL;
	const char *key;
	json_t *v;

	if (ch == NULL || (body = api_body_object(req)) == NULL)
		return;
	json_object_foreach(body, key, v) {
		if (strcmp(key, "config") != 0) {
			snprintf(err.field, sizeof(err.field), "%s", key);
			snprintf(err.message, sizeof(err.message),
			    "'%.64s' cannot be changed; only 'config' can", key);
			goto invalid;
		}
	}
	patch = json_object_get(body, "config");
	if (!json_is_object(patch)) {
		snprintf(err.field, sizeof(err.field), "config");
		snprintf(err.message, sizeof(err.message), "'config' must be an object");
		goto invalid;
	}
	/* Merge: given keys replace, null removes. */
	config = json_deep_copy(ch->config);
	json_object_foreach(patch, key, v) {
		if (json_is_null(v))
			json_object_del(config, key);
		else
			json_object_set(config, key, v);
	}
	if (ch->ops->validate(config, &err) != 0)
		goto invalid;
	char *changed;
	if (route_taken(app, req, ch->ops, config, ch->id) ||
	    check_destination(req, ch, patch, config, &changed) != 0) {
		json_decref(config);
		json_decref(body);
		return;
	}

	struct chan_write *w = xcalloc(1, sizeof(*w));
	w->app = app;
	w->req = req;
	w->destination = changed;
	w->config_json = json_encode(config, NULL);
	w->ch = channel_new(ch->id, ch->name, ch->ops, config, ch->created_at, now_ms() / 1000);
	w->ch->org_id = ch->org_id;
	w->who = *who;
	w->before = channel_public_config(ch);
	w->route = xstrdup_or_null(channel_route_value(ch->ops, config));
	w->op = (struct store_op){
		.kind = STORE_OP_CHANNEL_UPDATE,
		.org_id = ch->org_id,
		.u.channel = { .id = ch->id, .config_json = w->config_json, .route_key = w->route },
		.done = patched_done,
		.arg = w,
	};
	json_decref(config);
	json_decref(body);
	http_defer(req);
	store_submit(app->store, &w->op);
	return;
invalid:
	json_decref(config);
	json_decref(body);
	reply_validation(req, &err);
}

static void
deleted_done(struct store_op *op, void *arg)
{
	struct chan_write *w = arg;

	if (op->result != 0) {
		api_store_error(w->req);
	} else {
		log_info("channel deleted", "channel", w->name);
		chan_audit(w, "channel.deleted", op->u.channel.id, w->name, NULL);
		channel_removed(w->app, op->u.channel.id);
		http_reply_raw(w->req, 204, "application/json", "", 0);
	}
	chan_write_free(w);
}

void
api_channels_delete(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	struct channel *ch = api_channel_or_404(app, req, who, p[0]);
	if (ch == NULL)
		return;
	struct chan_write *w = xcalloc(1, sizeof(*w));
	w->app = app;
	w->req = req;
	w->name = xstrdup(ch->name);
	w->who = *who;
	w->before = channel_public_config(ch);
	w->op = (struct store_op){
		.kind = STORE_OP_CHANNEL_DELETE,
		.u.channel = { .id = ch->id },
		.done = deleted_done,
		.arg = w,
	};
	http_defer(req);
	store_submit(app->store, &w->op);
}

struct channel *
api_channel_from_row(const json_t *row)
{
	const char *name = json_string_value(json_object_get(row, "name"));
	const char *type = json_string_value(json_object_get(row, "type"));
	const struct channel_ops *ops = type ? channel_type_find(type) : NULL;

	if (name == NULL || ops == NULL) {
		log_error("stored channel has an unknown type; skipped", "channel", name, "type", type);
		return NULL;
	}
	struct channel *ch = channel_new(json_integer_value(json_object_get(row, "id")), name, ops,
	    json_object_get(row, "config"), json_integer_value(json_object_get(row, "created_at")),
	    json_integer_value(json_object_get(row, "updated_at")));
	ch->org_id = json_integer_value(json_object_get(row, "org_id"));
	if (ch->org_id <= 0)
		ch->org_id = STORE_ORG_DEFAULT;
	return ch;
}

static const json_t *
row_with_id(const json_t *rows, int64_t id)
{
	size_t i;
	json_t *row;

	json_array_foreach(rows, i, row)
		if (json_integer_value(json_object_get(row, "id")) == id)
			return row;
	return NULL;
}

void
api_channels_sync(struct app *app, json_t *rows)
{
	json_t *row;
	size_t i;

	/* Deleted (by id: a name deleted and made again is another channel). */
	for (size_t k = registry_count(app->reg); k-- > 0;) {
		struct channel *ch = registry_at(app->reg, k);
		if (row_with_id(rows, ch->id) == NULL) {
			log_info("channel deleted by another instance", "channel", ch->name);
			channel_removed(app, ch->id);
		}
	}
	/* Created, or changed (updated_at has whole seconds: the config too). */
	json_array_foreach(rows, i, row) {
		struct channel *old = registry_find_id(app->reg, json_integer_value(json_object_get(row, "id")));
		if (old && old->updated_at == json_integer_value(json_object_get(row, "updated_at")) &&
		    json_equal(old->config, json_object_get(row, "config")))
			continue;
		struct channel *ch = api_channel_from_row(row);
		if (ch == NULL)
			continue;
		bool replaced = old != NULL;
		char *name = xstrdup(ch->name);
		if (channel_replace(app, ch) != 0) {
			log_error("cannot open a channel another instance changed; skipped", "channel", name);
			free(name);
			continue;
		}
		log_info(replaced ? "channel updated by another instance" :
		    "channel created by another instance", "channel", name);
		free(name);
		channel_installed(app, ch, replaced);
	}
}
