/*
 * api_keys.c - /v1/keys: an organization's API keys. A key is "msgd_" and
 * 32 random bytes in hex (authz_key_make(), shared with `msgd keys`), shown
 * once when made; msgd keeps its SHA-256, its scopes (authz.h), an optional
 * expiry and when it was last used.
 * Revoking takes it out of this instance's memory before the answer, and
 * out of the others' when they hear of the change (LISTEN/NOTIFY, within
 * a second).
 *
 * last_used_at is noted in memory on each use and written in one op every
 * API_KEYS_FLUSH_MS for the keys used since (never a write per request).
 * Nobody makes a key with a scope they do not hold themselves.
 */
#include "api.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "../http/http.h"
#include "../log/log.h"
#include "../store/store.h"
#include "../util/util.h"

#define API_KEYS_FLUSH_MS 5000

struct key_write {
	struct store_op op;
	struct app *app;
	struct http_request *req;
	char name[AUTHZ_KEY_NAME_MAX + 1];
	struct authz_new_key key;
	char *scopes_json;
	uint32_t scopes;
	int64_t expires_at;
	struct principal who;       /* for the audit trail */
};

static void
key_write_free(struct key_write *w)
{
	authz_key_wipe(&w->key);
	free(w->scopes_json);
	free(w);
}

static void
key_created(struct store_op *op, void *arg)
{
	struct key_write *w = arg;
	struct app *app = w->app;

	if (op->result != 0) {
		api_op_error(w->req, op);
		key_write_free(w);
		return;
	}
	/* In effect here before the answer. */
	size_t n = app->nkeys;
	app->key_hashes = xrealloc(app->key_hashes, (n + 1) * 32);
	app->keys = xrealloc(app->keys, (n + 1) * sizeof(*app->keys));
	memcpy(app->key_hashes[n], op->u.api_key.hash, 32);
	app->keys[n] = (struct api_key){ .id = op->u.api_key.id, .org_id = op->org_id,
		.scopes = w->scopes, .expires_at = w->expires_at };
	auth_token_cred(op->u.api_key.hash, app->keys[n].cred);
	app->nkeys++;
	app->keys_gen++;
	api_keys_index(app);
	char id[24];
	snprintf(id, sizeof(id), "%" PRId64, op->u.api_key.id);
	log_info("API key created", "key", id, "name", w->name);
	api_audit(app, &w->who, op->org_id, "key.created", json_pack("{s:I, s:s, s:s}", "id",
	    (json_int_t)op->u.api_key.id, "name", w->name, "prefix", w->key.prefix), NULL,
	    json_pack("{s:o, s:o}", "scopes", authz_scopes_json(w->scopes), "expires_at",
	    json_time_or_null(w->expires_at)));
	json_t *j = json_pack("{s:I, s:s, s:o, s:s, s:o, s:o, s:o, s:s}", "id",
	    (json_int_t)op->u.api_key.id, "name", w->name, "scopes", authz_scopes_json(w->scopes),
	    "prefix", w->key.prefix, "created_at", json_time_or_null(now_ms() / 1000),
	    "expires_at", json_time_or_null(w->expires_at), "last_used_at", json_null(),
	    "key", w->key.secret);
	http_reply_json(w->req, 201, j);
	key_write_free(w);
}

/* "scopes": a non-empty array of scope names the caller holds itself. */
static int
scopes_of(struct http_request *req, const struct principal *who, const json_t *v, uint32_t *out)
{
	size_t i;
	json_t *s;

	*out = 0;
	if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > SCOPE_COUNT) {
		http_reply_error(req, 422, "validation_failed", "scopes",
		    "'scopes' must be a non-empty array of scope names");
		return -1;
	}
	json_array_foreach(v, i, s) {
		uint32_t b = authz_scope_from_name(json_string_value(s));
		if (b == 0) {
			http_reply_error(req, 422, "validation_failed", "scopes",
			    "unknown scope '%.64s' (" AUTHZ_SCOPE_LIST ")",
			    json_is_string(s) ? json_string_value(s) : "");
			return -1;
		}
		uint32_t need = authz_scope_perms(b) & ~(uint32_t)PERM_AUTHENTICATED;
		if ((who->perms & need) != need) {
			http_reply_error(req, 403, "forbidden", "scopes",
			    "you cannot make a key with the scope %s, which you do not hold", authz_scope_name(b));
			return -1;
		}
		*out |= b;
	}
	return 0;
}

void
api_keys_create(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	json_t *body = api_body_object(req), *v;
	const char *key, *name, *exp;
	uint32_t scopes;
	int64_t expires_at = 0;

	if (body == NULL)
		return;
	json_object_foreach(body, key, v) {
		if (strcmp(key, "name") && strcmp(key, "scopes") && strcmp(key, "expires_at")) {
			http_reply_error(req, 422, "validation_failed", key, "unknown field '%.64s'", key);
			goto out;
		}
	}
	name = api_plain_str(body, "name");
	if (!authz_key_name_valid(name)) {
		http_reply_error(req, 422, "validation_failed", "name", "'name' must be 1 to %d bytes of text",
		    AUTHZ_KEY_NAME_MAX);
		goto out;
	}
	if (scopes_of(req, who, json_object_get(body, "scopes"), &scopes) != 0)
		goto out;
	if ((v = json_object_get(body, "expires_at")) != NULL && !json_is_null(v)) {
		exp = json_string_value(v);
		if (exp == NULL || parse_rfc3339(exp, &expires_at) != 0 || expires_at <= now_ms() / 1000) {
			http_reply_error(req, 422, "validation_failed", "expires_at",
			    "'expires_at' must be an RFC 3339 time in the future");
			goto out;
		}
	}
	struct key_write *w = xcalloc(1, sizeof(*w));
	w->app = app;
	w->req = req;
	w->scopes = scopes;
	w->who = *who;
	w->expires_at = expires_at;
	snprintf(w->name, sizeof(w->name), "%s", name);
	authz_key_make(&w->key);
	json_t *sj = authz_scopes_json(scopes);
	w->scopes_json = json_dumps(sj, JSON_COMPACT);
	json_decref(sj);
	w->op = (struct store_op){
		.kind = STORE_OP_API_KEY_PUT,
		.org_id = who->org_id,
		.u.api_key = { .name = w->name, .scopes_json = w->scopes_json, .prefix = w->key.prefix,
			.expires_at = expires_at },
		.done = key_created,
		.arg = w,
	};
	memcpy(w->op.u.api_key.hash, w->key.hash, sizeof(w->op.u.api_key.hash));
	http_defer(req);
	store_submit(app->store, &w->op);
out:
	json_decref(body);
}

static void
run_keys_list(struct store *st, void *arg, struct api_reply *out)
{
	const int64_t *org = arg;
	json_t *rows = NULL, *row, *list;
	size_t i;

	if (store_api_keys_load(st, &rows) != 0)
		return;  /* status 0: storage error */
	list = json_array();
	json_array_foreach(rows, i, row) {
		if (json_integer_value(json_object_get(row, "org_id")) != *org)
			continue;
		json_array_append_new(list, authz_key_listed(row));
	}
	json_decref(rows);
	out->status = 200;
	out->json = json_pack("{s:o}", "keys", list);
}

void
api_keys_list(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	int64_t *org = xcalloc(1, sizeof(*org));

	*org = who->org_id;
	api_keys_flush(app);  /* the list shows this instance's latest uses */
	api_read_async(app, req, run_keys_list, org, free);
}

/* Take key id of organization org out of memory: refused from now on.
 * Another organization's key with that id stays (its owner did not revoke
 * it). */
static void
key_forget(struct app *app, int64_t org, int64_t id)
{
	for (size_t i = 0; i < app->nkeys; i++) {
		if (app->keys[i].id != id || app->keys[i].org_id != org)
			continue;
		app->nkeys--;
		memmove(&app->keys[i], &app->keys[i + 1], (app->nkeys - i) * sizeof(*app->keys));
		memmove(app->key_hashes[i], app->key_hashes[i + 1], (app->nkeys - i) * 32);
		app->keys_gen++;
		api_keys_index(app);
		return;
	}
}

struct key_revoke {
	struct store_op op;
	struct app *app;
	struct http_request *req;
	struct principal who;       /* for the audit trail */
};

static void
key_revoked(struct store_op *op, void *arg)
{
	struct key_revoke *r = arg;

	if (op->result == 0 || op->err == STORE_NOTFOUND)
		key_forget(r->app, op->org_id, op->u.api_key.id);  /* revoked (here or elsewhere) */
	if (op->result == 0) {
		api_audit(r->app, &r->who, op->org_id, "key.revoked", json_pack("{s:I}", "id",
		    (json_int_t)op->u.api_key.id), NULL, NULL);
		http_reply_raw(r->req, 204, "application/json", "", 0);
	} else if (op->err == STORE_NOTFOUND)
		http_reply_error(r->req, 404, "not_found", NULL, "no such key");
	else
		api_op_error(r->req, op);
	free(r);
}

void
api_keys_delete(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	int64_t id;

	if (api_path_id(req, p[0], &id) != 0)
		return;
	struct key_revoke *r = xcalloc(1, sizeof(*r));
	r->app = app;
	r->req = req;
	r->who = *who;
	r->op = (struct store_op){
		.kind = STORE_OP_API_KEY_REVOKE,
		.org_id = who->org_id,
		.u.api_key = { .id = id },
		.done = key_revoked,
		.arg = r,
	};
	http_defer(req);
	store_submit(app->store, &r->op);
}

/* --- last_used_at, in batches --- */

struct key_used {
	struct store_op op;
	int64_t *ids;
};

static void
used_done(struct store_op *op, void *arg)
{
	struct key_used *u = arg;

	if (op->result != 0)
		log_warn("cannot record when API keys were last used", "error", op->errmsg);
	free(u->ids);
	free(u);
}

void
api_key_used(struct app *app, size_t key)
{
	if (key < app->nkeys)
		app->keys[key].used_at = now_ms() / 1000;
}

void
api_keys_flush(struct app *app)
{
	size_t n = 0;
	int64_t at = 0;

	if (app->store == NULL)
		return;
	for (size_t i = 0; i < app->nkeys; i++)
		n += app->keys[i].used_at > app->keys[i].flushed_at;
	if (n == 0)
		return;
	struct key_used *u = xcalloc(1, sizeof(*u));
	u->ids = xcalloc(n, sizeof(*u->ids));
	n = 0;
	for (size_t i = 0; i < app->nkeys; i++) {
		struct api_key *k = &app->keys[i];
		if (k->used_at > k->flushed_at) {
			u->ids[n++] = k->id;
			at = k->used_at > at ? k->used_at : at;
			k->flushed_at = k->used_at;
		}
	}
	u->op = (struct store_op){
		.kind = STORE_OP_API_KEY_USED,
		.u.api_key = { .used = u->ids, .nused = n, .at = at },
		.done = used_done,
		.arg = u,
	};
	store_submit(app->store, &u->op);
}

/* How many instances share the database (their "instance:" leases), read
 * on the pool: the rate limits divide by it (api_limits.c). */
struct count_read {
	struct store_read rd;
	struct app *app;
	int64_t n;
	int rc;
};

static void
count_run(struct store *st, void *arg)
{
	struct count_read *c = arg;

	c->rc = store_live_instances(st, now_ms(), &c->n);
}

static void
count_done(void *arg)
{
	struct count_read *c = arg;

	if (c->app) {
		c->app->counting = NULL;
		if (c->rc == 0)
			c->app->instances = c->n > 1 ? c->n : 1;
	}
	free(c);
}

static void
on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct app *app = arg;

	api_keys_flush(app);
	api_tokens_rotate_check(app);
	api_retention_tick(app);
	if (app->store && app->counting == NULL) {
		struct count_read *c = xcalloc(1, sizeof(*c));
		c->app = app;
		c->rd = (struct store_read){ .run = count_run, .done = count_done, .arg = c };
		app->counting = c;
		store_read_submit(app->store, &c->rd);  /* may finish (and free c) at once */
	}
}

void
api_keys_start(struct app *app)
{
	struct timeval tv = { .tv_sec = API_KEYS_FLUSH_MS / 1000, .tv_usec = 0 };

	app->keys_timer = event_new(app->base, -1, EV_PERSIST, on_flush, app);
	event_add(app->keys_timer, &tv);
}

void
api_keys_stop(struct app *app)
{
	if (app->keys_timer) {
		event_free(app->keys_timer);
		app->keys_timer = NULL;
	}
	if (app->counting)
		app->counting->app = NULL;  /* its read lands after: dropped */
	app->counting = NULL;
	api_keys_flush(app);
}
