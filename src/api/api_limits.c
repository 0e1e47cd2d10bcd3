/*
 * api_limits.c - an organization's settings (its limits and retention),
 * GET/PATCH /v1/orgs/{org}, and the API's rate limits.
 *
 * Rate limits are token buckets (src/quota/quota.h) kept in memory: one
 * per principal (a key, or a user) and one per organization, both of which
 * a request must pass; over either, 429 `rate_limited` with Retry-After.
 * Every limited answer carries RateLimit-Limit, RateLimit-Remaining and
 * RateLimit-Reset of the tighter bucket. The admin token is the platform's
 * operator and is not limited. With several instances, each enforces its
 * share of the limit: the rates and bursts divided by the number of live
 * instances (app->instances, from their leases), so the organization as a
 * whole never gets more than its limit, whichever instances it reaches.
 */
#include "api.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../channels/channel.h"
#include "../bus/bus.h"
#include "../http/http.h"
#include "../log/log.h"
#include "../quota/quota.h"
#include "../store/store.h"
#include "../util/util.h"

#define RATELIMIT_KEYS_MAX 16384   /* buckets in memory; then the least recently used goes */

struct org_setting {
	const char *name;
	size_t off;                 /* into struct org_settings */
	int64_t min, max, def;
};

static const struct org_setting org_settings_table[] = {
	{ .name = "api_requests_per_second_per_key", .off = offsetof(struct org_settings, key_rate),
	  .min = 0, .max = 1000000, .def = 50 },
	{ .name = "api_burst_per_key", .off = offsetof(struct org_settings, key_burst),
	  .min = 0, .max = 1000000, .def = 100 },
	{ .name = "api_requests_per_second", .off = offsetof(struct org_settings, org_rate),
	  .min = 0, .max = 1000000, .def = 200 },
	{ .name = "api_burst", .off = offsetof(struct org_settings, org_burst),
	  .min = 0, .max = 1000000, .def = 400 },
	{ .name = "messages_per_minute", .off = offsetof(struct org_settings, send.max[QUOTA_MINUTE]),
	  .min = 0, .max = 100000000, .def = 0 },
	{ .name = "messages_per_hour", .off = offsetof(struct org_settings, send.max[QUOTA_HOUR]),
	  .min = 0, .max = 100000000, .def = 0 },
	{ .name = "messages_per_day", .off = offsetof(struct org_settings, send.max[QUOTA_DAY]),
	  .min = 0, .max = 100000000, .def = 0 },
	{ .name = "bulk_cooldown_seconds", .off = offsetof(struct org_settings, bulk_cooldown_s),
	  .min = 0, .max = 30 * 86400, .def = 0 },
	{ .name = "duplicate_window_seconds", .off = offsetof(struct org_settings, duplicate_window_s),
	  .min = 0, .max = 30 * 86400, .def = 0 },
	{ .name = "retention_days", .off = offsetof(struct org_settings, retention_days),
	  .min = 0, .max = 36500, .def = 0 },
};

static int64_t *
field(struct org_settings *s, const struct org_setting *d)
{
	return (int64_t *)((char *)s + d->off);
}

void
api_org_settings_default(struct org_settings *s)
{
	for (size_t i = 0; i < ARRAY_LEN(org_settings_table); i++)
		*field(s, &org_settings_table[i]) = org_settings_table[i].def;
	optout_default(&s->optout);
}

int
api_org_settings_merge(struct org_settings *s, const json_t *patch, char *field_out, size_t flen,
    char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	if (!json_is_object(patch)) {
		snprintf(field_out, flen, "settings");
		snprintf(err, errlen, "'settings' must be an object");
		return -1;
	}
	json_object_foreach((json_t *)patch, key, v) {
		const struct org_setting *d = NULL;
		if (strcmp(key, "optout") == 0) {  /* an object of its own (issue 14) */
			if (optout_merge(&s->optout, v, field_out, flen, err, errlen) != 0)
				return -1;
			continue;
		}
		for (size_t i = 0; i < ARRAY_LEN(org_settings_table); i++)
			if (strcmp(org_settings_table[i].name, key) == 0)
				d = &org_settings_table[i];
		snprintf(field_out, flen, "settings.%.48s", key);
		if (d == NULL) {
			snprintf(err, errlen, "unknown setting '%.64s'", key);
			return -1;
		}
		if (!json_is_integer(v) || json_integer_value(v) < d->min || json_integer_value(v) > d->max) {
			snprintf(err, errlen, "'%s' must be an integer from %lld to %lld (0: no limit)", key,
			    (long long)d->min, (long long)d->max);
			return -1;
		}
		*field(s, d) = json_integer_value(v);
	}
	return 0;
}

json_t *
api_org_settings_json(const struct org_settings *s)
{
	json_t *j = json_object();

	for (size_t i = 0; i < ARRAY_LEN(org_settings_table); i++)
		json_object_set_new(j, org_settings_table[i].name,
		    json_integer(*field((struct org_settings *)s, &org_settings_table[i])));
	json_object_set_new(j, "optout", optout_json(&s->optout));
	return j;
}

void
api_org_quota(void *arg, int64_t org_id, int64_t max[3])
{
	const struct api_org *o = api_org_by_id(arg, org_id);

	for (int k = 0; k < 3; k++)
		max[k] = o ? o->settings.send.max[k] : 0;
}

/* --- rate limits --- */

static struct rate_conf
share(const struct app *app, int64_t rate, int64_t burst)
{
	int64_t n = app->instances > 1 ? app->instances : 1;

	if (rate <= 0 || burst <= 0)
		return (struct rate_conf){ 0 };  /* no limit */
	/* Each instance's share, never below one request per second. */
	return (struct rate_conf){ .rate = rate / n > 0 ? rate / n : 1,
		.burst = burst / n > 0 ? burst / n : 1 };
}

static void
headers(struct http_request *req, const struct ratelimit_info *i)
{
	char v[24];

	if (i->limit <= 0)
		return;
	snprintf(v, sizeof(v), "%lld", (long long)i->limit);
	http_reply_header_early(req, "RateLimit-Limit", v);
	snprintf(v, sizeof(v), "%lld", (long long)i->remaining);
	http_reply_header_early(req, "RateLimit-Remaining", v);
	snprintf(v, sizeof(v), "%lld", (long long)i->reset_s);
	http_reply_header_early(req, "RateLimit-Reset", v);
}

int
api_rate_take(struct app *app, struct http_request *req, const struct principal *who)
{
	const struct api_org *o = api_org_by_id(app, who->org_id);
	struct ratelimit_info ik = { 0 }, io = { 0 };
	char key[RATELIMIT_KEY_MAX];
	int64_t now = mono_ms();

	if (who->kind == PRINCIPAL_ADMIN || o == NULL)
		return 0;
	if (app->ratelimit == NULL)
		app->ratelimit = ratelimit_new(RATELIMIT_KEYS_MAX);
	struct rate_conf ck = share(app, o->settings.key_rate, o->settings.key_burst);
	struct rate_conf co = share(app, o->settings.org_rate, o->settings.org_burst);
	snprintf(key, sizeof(key), "p:%lld:%s", (long long)who->org_id, who->subject);
	bool ok = ratelimit_take(app->ratelimit, key, &ck, now, 1, &ik);
	if (ok) {
		snprintf(key, sizeof(key), "o:%lld", (long long)who->org_id);
		ok = ratelimit_take(app->ratelimit, key, &co, now, 1, &io);
		/* Refused by the organization: the principal's token is spent, a
		 * fair price for a request over the organization's limit. */
	}
	const struct ratelimit_info *tight = &ik;
	if (io.limit > 0 && (ik.limit <= 0 || io.remaining < ik.remaining || !ok))
		tight = &io;
	headers(req, tight);
	if (ok)
		return 0;
	char secs[24];
	snprintf(secs, sizeof(secs), "%lld", (long long)(tight->retry_after_s > 0 ? tight->retry_after_s : 1));
	http_reply_error(req, 429, "rate_limited", NULL, "too many requests %s; retry after %s s",
	    tight == &ik ? "from this key or user" : "for this organization", secs);
	http_reply_header(req, "Retry-After", secs);
	return -1;
}

/* --- /v1/orgs/{org} --- */

/* The organization a path names, if the caller may see it: its own (a
 * platform admin: any); else 404, as for one that does not exist. */
static const struct api_org *
path_org(struct app *app, struct http_request *req, const struct principal *who, const char *name)
{
	const struct api_org *o = api_org_by_name(app, name);

	if (o && (o->id == who->org_id || who->platform_admin))
		return o;
	http_reply_error(req, 404, "not_found", NULL, "no organization named '%.64s'", name);
	return NULL;
}

static json_t *
org_detail(const struct api_org *o)
{
	return json_pack("{s:I, s:s, s:o}", "id", (json_int_t)o->id, "name", o->name, "settings",
	    api_org_settings_json(&o->settings));
}

void
api_orgs_get(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	const struct api_org *o = path_org(app, req, who, p[0]);

	if (o)
		http_reply_json(req, 200, org_detail(o));
}

struct org_patch {
	struct store_op op;
	struct app *app;
	struct http_request *req;
	struct org_settings settings;
	struct org_settings before;
	struct principal who;       /* for the audit trail */
	char *json;
};

static void
org_patched(struct store_op *op, void *arg)
{
	struct org_patch *w = arg;
	struct api_org *o = (struct api_org *)api_org_by_id(w->app, op->org_id);

	if (op->result != 0) {
		if (op->err == STORE_NOTFOUND)
			http_reply_error(w->req, 404, "not_found", NULL, "no such organization");
		else
			api_op_error(w->req, op);
	} else if (o == NULL) {
		http_reply_error(w->req, 404, "not_found", NULL, "no such organization");
	} else {
		o->settings = w->settings;
		w->app->orgs_gen++;
		log_info("organization settings changed", "org", o->name);
		api_audit(w->app, &w->who, o->id, "org.settings_changed", json_pack("{s:s}", "org", o->name),
		    api_org_settings_json(&w->before), api_org_settings_json(&w->settings));
		http_reply_json(w->req, 200, org_detail(o));
	}
	free(w->json);
	free(w);
}

void
api_orgs_patch(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	const struct api_org *o = path_org(app, req, who, p[0]);
	json_t *body, *v;
	const char *key;
	char fld[64], err[160];

	if (o == NULL || (body = api_body_object(req)) == NULL)
		return;
	json_object_foreach(body, key, v) {
		if (strcmp(key, "settings") != 0) {
			http_reply_error(req, 422, "validation_failed", key,
			    "'%.64s' cannot be changed; only 'settings' can", key);
			json_decref(body);
			return;
		}
	}
	struct org_patch *w = xcalloc(1, sizeof(*w));
	w->settings = o->settings;
	w->before = o->settings;
	w->who = *who;
	if (api_org_settings_merge(&w->settings, json_object_get(body, "settings"), fld, sizeof(fld), err,
	    sizeof(err)) != 0) {
		http_reply_error(req, 422, "validation_failed", fld, "%s", err);
		json_decref(body);
		free(w);
		return;
	}
	json_decref(body);
	json_t *sj = json_pack("{s:o}", "limits", api_org_settings_json(&w->settings));
	w->json = json_dumps(sj, JSON_COMPACT);
	json_decref(sj);
	w->app = app;
	w->req = req;
	w->op = (struct store_op){
		.kind = STORE_OP_ORG_SETTINGS,
		.org_id = o->id,
		.u.org = { .settings_json = w->json },
		.done = org_patched,
		.arg = w,
	};
	http_defer(req);
	store_submit(app->store, &w->op);
}

/* --- GET /v1/orgs/{org}/usage --- */

struct usage {
	struct app *app;
	int64_t org;
	char name[ORG_NAME_MAX + 1];
	struct quota_limits org_lim;
	size_t n;                        /* channels */
	int64_t *ids;
	char (*names)[65];
	struct quota_limits *lims;
	int64_t now;
};

static void
usage_free(void *arg)
{
	struct usage *u = arg;

	free(u->ids);
	free(u->names);
	free(u->lims);
	free(u);
}

static json_t *
windows_json(const struct quota_limits *lim, const int64_t n[3], int64_t now)
{
	json_t *j = json_object();

	for (int k = 0; k < QUOTA_KINDS; k++) {
		char at[21];
		fmt_rfc3339(quota_window_end((enum quota_kind)k, now) / 1000, at);
		json_object_set_new(j, quota_kind_name((enum quota_kind)k), json_pack("{s:I, s:o, s:s}",
		    "used", (json_int_t)n[k], "limit", lim->max[k] > 0 ? json_integer(lim->max[k]) : json_null(),
		    "resets_at", at));
	}
	return j;
}

static void
run_usage(struct store *st, void *arg, struct api_reply *out)
{
	struct usage *u = arg;
	char scope[48];
	int64_t n[3];

	snprintf(scope, sizeof(scope), "org:%lld", (long long)u->org);
	if (store_quota_usage(st, scope, u->now, n) != 0)
		return;  /* status 0: storage error */
	json_t *chans = json_object();
	json_t *j = json_pack("{s:s, s:o}", "org", u->name, "messages", windows_json(&u->org_lim, n, u->now));
	for (size_t i = 0; i < u->n; i++) {
		snprintf(scope, sizeof(scope), "channel:%lld", (long long)u->ids[i]);
		if (store_quota_usage(st, scope, u->now, n) != 0) {
			json_decref(chans);
			json_decref(j);
			return;
		}
		json_object_set_new(chans, u->names[i], windows_json(&u->lims[i], n, u->now));
	}
	json_object_set_new(j, "channels", chans);
	out->status = 200;
	out->json = j;
}

void
api_orgs_usage(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	static const char *const keys[3] = { "quota_per_minute", "quota_per_hour", "quota_per_day" };
	const struct api_org *o = path_org(app, req, who, p[0]);

	if (o == NULL)
		return;
	struct usage *u = xcalloc(1, sizeof(*u));
	size_t cap = registry_count(app->reg) + 1;
	u->org = o->id;
	u->now = now_ms();
	snprintf(u->name, sizeof(u->name), "%s", o->name);
	u->org_lim = o->settings.send;
	u->ids = xcalloc(cap, sizeof(*u->ids));
	u->names = xcalloc(cap, sizeof(*u->names));
	u->lims = xcalloc(cap, sizeof(*u->lims));
	for (size_t i = 0; i < registry_count(app->reg); i++) {
		struct channel *ch = registry_at(app->reg, i);
		if (ch->org_id != o->id)
			continue;
		u->ids[u->n] = ch->id;
		snprintf(u->names[u->n], sizeof(u->names[0]), "%s", ch->name);
		for (int k = 0; k < QUOTA_KINDS; k++)
			u->lims[u->n].max[k] = channel_send_setting(ch, keys[k]);
		u->n++;
	}
	api_read_async(app, req, run_usage, u, usage_free);
}

/* --- DELETE /v1/contacts/{id}: erasure (apply_erase.c says what goes) --- */

struct erase {
	struct store_op op;
	struct app *app;
	struct http_request *req;
};

static void
erased(struct store_op *op, void *arg)
{
	struct erase *w = arg;

	if (op->result != 0) {
		if (op->err == STORE_NOTFOUND)
			http_reply_error(w->req, 404, "not_found", NULL, "no such contact");
		else
			api_op_error(w->req, op);
	} else {
		char id[24];
		/* Events kept in memory may hold what was erased. */
		if (w->app->bus)
			bus_forget(w->app->bus);
		snprintf(id, sizeof(id), "%lld", (long long)op->u.erase.contact_id);
		log_info("contact erased", "contact", id);
		http_reply_json(w->req, 200, json_pack("{s:I, s:I, s:I}", "contact_id",
		    (json_int_t)op->u.erase.contact_id, "conversation_id",
		    (json_int_t)op->u.erase.conversation_id, "messages_erased",
		    (json_int_t)op->u.erase.messages));
	}
	free(w);
}

void
api_contacts_erase(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	int64_t id;

	if (api_path_id(req, p[0], &id) != 0)
		return;
	struct erase *w = xcalloc(1, sizeof(*w));
	w->app = app;
	w->req = req;
	w->op = (struct store_op){
		.kind = STORE_OP_CONTACT_ERASE,
		.org_id = who->org_id,
		.u.erase = { .contact_id = id },
		.done = erased,
		.arg = w,
	};
	http_defer(req);
	store_submit(app->store, &w->op);
}

/* --- retention: message bodies and event data older than retention_days --- */

#define RETENTION_IDLE_MS (60 * 1000)   /* once caught up, look again this often */

struct retention {
	struct store_op op;
	struct app *app;
};

static void
retention_done(struct store_op *op, void *arg)
{
	struct retention *w = arg;
	struct api_org *o = (struct api_org *)api_org_by_id(w->app, op->org_id);
	int64_t now = now_ms();

	if (o) {
		o->ret_busy = false;
		if (op->result != 0) {
			log_warn("retention step failed; tried again later", "org", o->name, "error", op->errmsg);
			o->ret_next_ms = now + RETENTION_IDLE_MS;
		} else {
			o->ret_msg = op->u.retention.msg_after;
			o->ret_seq = op->u.retention.seq_after;
			o->ret_next_ms = op->u.retention.done ? now + RETENTION_IDLE_MS : 0;
		}
	}
	if (op->result == 0 && (op->u.retention.messages > 0 || op->u.retention.events > 0)) {
		char m[24], e[24];
		snprintf(m, sizeof(m), "%lld", (long long)op->u.retention.messages);
		snprintf(e, sizeof(e), "%lld", (long long)op->u.retention.events);
		log_info("retention: content removed", "org", o ? o->name : NULL, "messages", m, "events", e);
		if (w->app->bus)
			bus_forget(w->app->bus);
	}
	free(w);
}

void
api_retention_tick(struct app *app)
{
	int64_t now = now_ms();

	if (app->store == NULL || app->shutting_down)
		return;
	for (size_t i = 0; i < app->norgs; i++) {
		struct api_org *o = &app->orgs[i];
		if (o->settings.retention_days <= 0 || o->ret_busy || o->ret_next_ms > now)
			continue;
		struct retention *w = xcalloc(1, sizeof(*w));
		w->app = app;
		w->op = (struct store_op){
			.kind = STORE_OP_RETENTION,
			.org_id = o->id,
			.u.retention = { .before_ms = now - o->settings.retention_days * 86400000LL,
				.msg_after = o->ret_msg, .seq_after = o->ret_seq },
			.done = retention_done,
			.arg = w,
		};
		o->ret_busy = true;
		store_submit(app->store, &w->op);
	}
}
