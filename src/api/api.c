/* api.c - routing, bearer authentication, health checks, shared helpers. */
#include "api.h"
#include "api_imports.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "../auth/auth.h"
#include "../authz/authz.h"
#include "../channels/channel.h"
#include "../config/config.h"
#include "../hooks/hooks.h"
#include "../http/http.h"
#include "../log/log.h"
#include "../metrics/metrics.h"
#include "../outbox/outbox.h"
#include "../store/store.h"
#include "../token/token.h"
#include "../web/web.h"
#include "../util/util.h"


static void
api_healthz(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	http_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

enum authn { AUTHN_NONE, AUTHN_OK, AUTHN_CSRF, AUTHN_LIMITED, AUTHN_REPLIED };
static enum authn authorized(struct app *app, struct http_request *req, int64_t *wait_ms,
    struct principal *who);

/*
 * Anyone may ask whether msgd is ready ({"status":"ready"} or 503
 * {"status":"not_ready"}); only a caller with a token or a session sees why
 * and each sending channel's state (names, reasons, queue depths).
 */
/* A readiness check in flight: the ping and the sending channels' queue
 * depths run on the reader pool. */
struct readyz {
	struct store_read rd;
	struct app *app;
	struct http_request *req;
	bool detail;
	int64_t org;               /* detail: the caller's organization's channels */
	bool storage;
	size_t n;
	int64_t *ids;              /* the sending channels (detail) */
	int64_t *depths;           /* their queue depths (the pool thread's) */
};

static void
readyz_run(struct store *st, void *arg)
{
	struct readyz *r = arg;

	r->storage = store_ping(st) == 0;
	for (size_t i = 0; i < r->n; i++)
		if (store_outbox_depth(st, r->ids[i], &r->depths[i]) != 0)
			r->depths[i] = 0;
}

static bool
sends(const struct channel *ch)
{
	return ch->ops->send_local || ch->ops->send_prepare;
}

/* The depth read for a channel; 0 for one created since. */
static int64_t
readyz_depth(const struct readyz *r, int64_t id)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->ids[i] == id)
			return r->depths[i];
	return 0;
}

static void
readyz_done(void *arg)
{
	struct readyz *r = arg;
	struct app *app = r->app;
	bool storage = r->storage;
	int64_t since = 0;
	char why[160] = "";
	enum store_fault fault = app->store ? store_health(app->store, &since, why, sizeof(why)) :
	    STORE_FAULT_NONE;
	bool ready = storage && fault == STORE_FAULT_NONE && !app->shutting_down;
	json_t *out = json_pack("{s:s}", "status", ready ? "ready" : "not_ready");

	if (r->detail) {
		/* Writes failing (disk full, I/O errors): not ready, and why. */
		json_object_set_new(out, "storage", json_string(!storage ? "error" : store_fault_name(fault)));
		if (fault != STORE_FAULT_NONE) {
			char at[21];
			fmt_rfc3339(since / 1000, at);
			json_object_set_new(out, "storage_error", json_string(why));
			json_object_set_new(out, "storage_failing_since", json_string(at));
		}
		json_object_set_new(out, "shutting_down", json_boolean(app->shutting_down));
		/* A channel in trouble does not make msgd unready: it still ingests. */
		json_t *channels = json_object();
		for (size_t i = 0; i < registry_count(app->reg); i++) {
			struct channel *ch = registry_at(app->reg, i);
			if (app->outbox && sends(ch) && ch->org_id == r->org) {
				json_t *cs = outbox_channel_state(app->outbox, ch, readyz_depth(r, ch->id));
				json_object_set_new(cs, "connection", api_channel_connection(ch));
				json_object_set_new(channels, ch->name, cs);
			}
		}
		json_object_set_new(out, "channels", channels);
		/* A broker down does not make msgd unready either (issue 15, h15sink). */
		json_object_set_new(out, "exports", hooks_export_health(app->hooks, r->org));
	}
	http_reply_json(r->req, ready ? 200 : 503, out);
	free(r->ids);
	free(r->depths);
	free(r);
}

static void
api_readyz(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	int64_t wait_ms = 0;
	struct principal caller;
	struct readyz *r = xcalloc(1, sizeof(*r));

	r->app = app;
	r->req = req;
	enum authn a = authorized(app, req, &wait_ms, &caller);
	if (a == AUTHN_REPLIED) {
		free(r);
		return;  /* an organization it may not name */
	}
	r->detail = a == AUTHN_OK;
	r->org = caller.org_id;
	if (r->detail && app->outbox) {
		r->ids = xcalloc(registry_count(app->reg) + 1, sizeof(*r->ids));
		for (size_t i = 0; i < registry_count(app->reg); i++)
			if (sends(registry_at(app->reg, i)) && registry_at(app->reg, i)->org_id == r->org)
				r->ids[r->n++] = registry_at(app->reg, i)->id;
		r->depths = xcalloc(r->n + 1, sizeof(*r->depths));
	}
	r->rd = (struct store_read){ .run = readyz_run, .done = readyz_done, .arg = r };
	http_defer(req);
	store_read_submit(app->store, &r->rd);
}

/*
 * The route table: each route names the one permission it needs (authz.h);
 * PERM_NONE routes are public (they authenticate themselves, if at all).
 * A user who must change their password (an invite's one-time password)
 * reaches only the routes marked pw_change (and the public ones): 403
 * password_change_required elsewhere.
 */
struct route {
	const char *method;
	const char *pattern;   /* "*" matches one path segment, captured as a param */
	uint32_t perm;         /* enum perm: one bit, or PERM_NONE */
	api_fn fn;
	bool pw_change;        /* open to a user who must change their password */
	bool stream_body;      /* fn runs when the headers are in, before the body, and
	                          streams it (http_stream_body(): uploads, api_head()) */
	bool (*open)(const struct app *app);  /* public while this says so (metrics_public) */
};

/* h15metrics: /metrics is public when the metrics_public setting says so. */
static bool
metrics_open(const struct app *app)
{
	return app->cfg && app->cfg->metrics_public;
}

static const struct route routes[] = {
	{ .method = "GET", .pattern = "/healthz", .perm = PERM_NONE, .fn = api_healthz },
	{ .method = "GET", .pattern = "/readyz", .perm = PERM_NONE, .fn = api_readyz },
	{ .method = "POST", .pattern = "/v1/session", .perm = PERM_NONE, .fn = api_session_create },
	{ .method = "GET", .pattern = "/v1/session", .perm = PERM_NONE, .fn = api_session_get },
	{ .method = "DELETE", .pattern = "/v1/session", .perm = PERM_NONE, .fn = api_session_delete },
	{ .method = "GET", .pattern = "/webhooks/*", .perm = PERM_NONE, .fn = api_webhook },
	{ .method = "POST", .pattern = "/webhooks/*", .perm = PERM_NONE, .fn = api_webhook },
	{ .method = "POST", .pattern = "/webhooks/*/*", .perm = PERM_NONE, .fn = api_channel_webhook },
	{ .method = "GET", .pattern = "/v1/channel-types", .perm = PERM_MESSAGES_READ, .fn = api_channel_types },
	{ .method = "POST", .pattern = "/v1/channels/*/connect", .perm = PERM_CHANNELS_WRITE, .fn = api_channels_connect },
	{ .method = "POST", .pattern = "/v1/channels/*/disconnect", .perm = PERM_CHANNELS_WRITE, .fn = api_channels_disconnect },
	{ .method = "GET", .pattern = "/v1/channels/*/qr", .perm = PERM_CHANNELS_WRITE, .fn = api_channels_qr },
	{ .method = "POST", .pattern = "/v1/channels", .perm = PERM_CHANNELS_WRITE, .fn = api_channels_create },
	{ .method = "GET", .pattern = "/v1/channels", .perm = PERM_MESSAGES_READ, .fn = api_channels_list },
	{ .method = "GET", .pattern = "/v1/channels/*", .perm = PERM_MESSAGES_READ, .fn = api_channels_get },
	{ .method = "PATCH", .pattern = "/v1/channels/*", .perm = PERM_CHANNELS_WRITE, .fn = api_channels_patch },
	{ .method = "DELETE", .pattern = "/v1/channels/*", .perm = PERM_CHANNELS_WRITE, .fn = api_channels_delete },
	{ .method = "POST", .pattern = "/v1/sandbox/*/inbound", .perm = PERM_MESSAGES_SEND, .fn = api_sandbox_inbound },
	{ .method = "GET", .pattern = "/v1/conversations", .perm = PERM_MESSAGES_READ, .fn = api_conversations_list },
	{ .method = "GET", .pattern = "/v1/conversations/*", .perm = PERM_MESSAGES_READ, .fn = api_conversations_get },
	{ .method = "GET", .pattern = "/v1/conversations/*/messages", .perm = PERM_MESSAGES_READ, .fn = api_conversation_messages },
	{ .method = "GET", .pattern = "/v1/messages", .perm = PERM_MESSAGES_READ, .fn = api_messages_find },
	{ .method = "GET", .pattern = "/v1/messages/*", .perm = PERM_MESSAGES_READ, .fn = api_messages_get },
	{ .method = "GET", .pattern = "/v1/events", .perm = PERM_EVENTS_READ, .fn = api_events_list },
	{ .method = "GET", .pattern = "/v1/stream", .perm = PERM_EVENTS_READ, .fn = api_stream },
	{ .method = "GET", .pattern = "/v1/ws", .perm = PERM_EVENTS_READ, .fn = api_ws },
	{ .method = "POST", .pattern = "/v1/messages", .perm = PERM_MESSAGES_SEND, .fn = api_messages_send },
	{ .method = "POST", .pattern = "/v1/messages/batch", .perm = PERM_MESSAGES_SEND, .fn = api_messages_batch },
	{ .method = "DELETE", .pattern = "/v1/messages/*", .perm = PERM_MESSAGES_SEND, .fn = api_messages_cancel },
	{ .method = "POST", .pattern = "/v1/conversations/*/read", .perm = PERM_MESSAGES_SEND, .fn = api_conversation_read },
	{ .method = "POST", .pattern = "/v1/templates", .perm = PERM_TEMPLATES_WRITE, .fn = api_templates_create },
	{ .method = "GET", .pattern = "/v1/templates", .perm = PERM_MESSAGES_READ, .fn = api_templates_list },
	{ .method = "GET", .pattern = "/v1/templates/*", .perm = PERM_MESSAGES_READ, .fn = api_templates_get },
	{ .method = "DELETE", .pattern = "/v1/templates/*", .perm = PERM_TEMPLATES_WRITE, .fn = api_templates_delete },
	{ .method = "POST", .pattern = "/v1/webhooks", .perm = PERM_WEBHOOKS_WRITE, .fn = api_hooks_create },
	{ .method = "GET", .pattern = "/v1/webhooks", .perm = PERM_WEBHOOKS_WRITE, .fn = api_hooks_list },
	{ .method = "GET", .pattern = "/v1/webhooks/*", .perm = PERM_WEBHOOKS_WRITE, .fn = api_hooks_get },
	{ .method = "DELETE", .pattern = "/v1/webhooks/*", .perm = PERM_WEBHOOKS_WRITE, .fn = api_hooks_delete },
	{ .method = "GET", .pattern = "/v1/users", .perm = PERM_USERS_WRITE, .fn = api_users_list },
	{ .method = "POST", .pattern = "/v1/users", .perm = PERM_USERS_WRITE, .fn = api_users_create },
	{ .method = "DELETE", .pattern = "/v1/users/*", .perm = PERM_USERS_WRITE, .fn = api_users_delete },
	{ .method = "PATCH", .pattern = "/v1/users/*", .perm = PERM_USERS_WRITE, .fn = api_users_patch },
	{ .method = "POST", .pattern = "/v1/users/*/logout", .perm = PERM_USERS_WRITE, .fn = api_users_logout },
	{ .method = "PUT", .pattern = "/v1/users/*/password", .perm = PERM_USERS_WRITE, .fn = api_users_password },
	{ .method = "POST", .pattern = "/v1/keys", .perm = PERM_KEYS_WRITE, .fn = api_keys_create },
	{ .method = "GET", .pattern = "/v1/keys", .perm = PERM_KEYS_WRITE, .fn = api_keys_list },
	{ .method = "DELETE", .pattern = "/v1/keys/*", .perm = PERM_KEYS_WRITE, .fn = api_keys_delete },
	{ .method = "POST", .pattern = "/v1/orgs", .perm = PERM_PLATFORM, .fn = api_orgs_create },
	{ .method = "GET", .pattern = "/v1/orgs", .perm = PERM_PLATFORM, .fn = api_orgs_list },
	{ .method = "GET", .pattern = "/v1/orgs/*", .perm = PERM_AUTHENTICATED, .fn = api_orgs_get },
	{ .method = "PATCH", .pattern = "/v1/orgs/*", .perm = PERM_ORG_MANAGE, .fn = api_orgs_patch },
	{ .method = "GET", .pattern = "/v1/orgs/*/usage", .perm = PERM_MESSAGES_READ, .fn = api_orgs_usage },
	{ .method = "DELETE", .pattern = "/v1/contacts/*", .perm = PERM_CONTACTS_ERASE, .fn = api_contacts_erase },
	{ .method = "GET", .pattern = "/v1/audit", .perm = PERM_AUDIT_READ, .fn = api_audit_list },
	{ .method = "GET", .pattern = "/v1/auth/me", .perm = PERM_AUTHENTICATED, .fn = api_auth_me,
	  .pw_change = true },
	{ .method = "PUT", .pattern = "/v1/auth/password", .perm = PERM_AUTHENTICATED,
	  .fn = api_auth_password, .pw_change = true },
	{ .method = "POST", .pattern = "/v1/auth/token", .perm = PERM_NONE, .fn = api_auth_token },
	/* h14optout: a channel's provider templates (issue 14). */
	{ .method = "GET", .pattern = "/v1/channels/*/templates", .perm = PERM_MESSAGES_READ,
	  .fn = api_channel_templates_list },
	{ .method = "POST", .pattern = "/v1/channels/*/templates/sync", .perm = PERM_CHANNELS_WRITE,
	  .fn = api_channel_templates_sync },
	/* Campaigns (issue 14, h14camp). */
	{ .method = "POST", .pattern = "/v1/campaigns", .perm = PERM_MESSAGES_SEND, .fn = api_campaigns_create },
	{ .method = "GET", .pattern = "/v1/campaigns", .perm = PERM_MESSAGES_READ, .fn = api_campaigns_list },
	{ .method = "GET", .pattern = "/v1/campaigns/*", .perm = PERM_MESSAGES_READ, .fn = api_campaigns_get },
	{ .method = "GET", .pattern = "/v1/campaigns/*/recipients", .perm = PERM_MESSAGES_READ, .fn = api_campaigns_recipients },
	{ .method = "POST", .pattern = "/v1/campaigns/*/pause", .perm = PERM_MESSAGES_SEND, .fn = api_campaigns_pause },
	{ .method = "POST", .pattern = "/v1/campaigns/*/resume", .perm = PERM_MESSAGES_SEND, .fn = api_campaigns_resume },
	{ .method = "POST", .pattern = "/v1/campaigns/*/cancel", .perm = PERM_MESSAGES_SEND, .fn = api_campaigns_cancel },
	/* files (issue 14, api_files.c) */
	{ .method = "POST", .pattern = "/v1/files", .perm = PERM_MESSAGES_SEND, .fn = api_files_upload,
	  .stream_body = true },
	{ .method = "GET", .pattern = "/v1/files", .perm = PERM_MESSAGES_READ, .fn = api_files_list },
	{ .method = "GET", .pattern = "/v1/files/*", .perm = PERM_MESSAGES_READ, .fn = api_files_content },
	{ .method = "GET", .pattern = "/v1/files/*/meta", .perm = PERM_MESSAGES_READ, .fn = api_files_meta },
	/* imports (issue 14, h14import) */
	{ .method = "POST", .pattern = "/v1/imports", .perm = PERM_MESSAGES_SEND, .fn = api_imports_create },
	{ .method = "GET", .pattern = "/v1/imports", .perm = PERM_MESSAGES_READ, .fn = api_imports_list },
	{ .method = "GET", .pattern = "/v1/imports/*", .perm = PERM_MESSAGES_READ, .fn = api_imports_get },
	{ .method = "GET", .pattern = "/v1/imports/*/errors", .perm = PERM_MESSAGES_READ, .fn = api_imports_errors },
	{ .method = "DELETE", .pattern = "/v1/imports/*", .perm = PERM_MESSAGES_SEND, .fn = api_imports_delete },
	/* exports to brokers (issue 15: api_hooks.c, beside /v1/webhooks) */
	{ .method = "POST", .pattern = "/v1/exports", .perm = PERM_WEBHOOKS_WRITE, .fn = api_exports_create },
	{ .method = "GET", .pattern = "/v1/exports", .perm = PERM_WEBHOOKS_WRITE, .fn = api_exports_list },
	{ .method = "GET", .pattern = "/v1/exports/*", .perm = PERM_WEBHOOKS_WRITE, .fn = api_exports_get },
	{ .method = "POST", .pattern = "/v1/exports/*/pause", .perm = PERM_WEBHOOKS_WRITE, .fn = api_exports_pause },
	{ .method = "POST", .pattern = "/v1/exports/*/resume", .perm = PERM_WEBHOOKS_WRITE, .fn = api_exports_resume },
	{ .method = "DELETE", .pattern = "/v1/exports/*", .perm = PERM_WEBHOOKS_WRITE, .fn = api_exports_delete },
	/* metrics and health (issue 15, h15metrics; src/metrics/) */
	{ .method = "GET", .pattern = "/metrics", .perm = PERM_PLATFORM, .fn = api_metrics,
	  .open = metrics_open },
	{ .method = "GET", .pattern = "/health", .perm = PERM_NONE, .fn = api_health },
	/* h15openapi: the API's description (docs/openapi.json) and its page (api_docs.c) */
	{ .method = "GET", .pattern = "/openapi.json", .perm = PERM_NONE, .fn = api_openapi_json },
	{ .method = "GET", .pattern = "/docs", .perm = PERM_NONE, .fn = api_docs_page },
};
_Static_assert(ARRAY_LEN(routes) < METRICS_ROUTE_NONE, "routes need a metrics slot each");

/* Split "/a/b/c" into segments; -1 when too many or too long. */
static int
split_path(const char *path, char seg[API_PATH_SEGMENTS_MAX][API_SEGMENT_MAX], int *n)
{
	*n = 0;
	if (*path != '/')
		return -1;
	while (*path == '/') {
		path++;
		if (*path == '\0')
			break;
		const char *end = strchr(path, '/');
		size_t len = end ? (size_t)(end - path) : strlen(path);
		if (*n == API_PATH_SEGMENTS_MAX || len >= API_SEGMENT_MAX)
			return -1;
		memcpy(seg[*n], path, len);
		seg[*n][len] = '\0';
		(*n)++;
		path += len;
	}
	return 0;
}

static bool
match(const char *pattern, char seg[API_PATH_SEGMENTS_MAX][API_SEGMENT_MAX], int nseg,
    const char *params[API_MAX_PARAMS])
{
	char pseg[API_PATH_SEGMENTS_MAX][API_SEGMENT_MAX];
	int np, k = 0;

	if (split_path(pattern, pseg, &np) != 0 || np != nseg)
		return false;
	for (int i = 0; i < np; i++) {
		if (strcmp(pseg[i], "*") == 0) {
			if (seg[i][0] == '\0' || k == API_MAX_PARAMS)
				return false;
			params[k++] = seg[i];
		} else if (strcmp(pseg[i], seg[i]) != 0) {
			return false;
		}
	}
	return true;
}

/* Constant time per comparison; the token itself is never logged. */
enum token_match
api_token_match(struct app *app, const char *token, size_t *key)
{
	unsigned char hash[32];
	bool admin;
	size_t hit = 0, found = 0;

	sha256(token, strlen(token), hash);
	admin = ct_equal(hash, 32, app->admin_hash, 32);
	/* By hash (api_keys_index()), then confirmed in constant time. */
	size_t lo = 0, hi = app->key_order ? app->nkeys : 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(hash, app->key_hashes[app->key_order[mid]], 32);
		if (c == 0) {
			hit = app->key_order[mid];
			found = ct_equal(hash, 32, app->key_hashes[hit], 32);
			break;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (key)
		*key = hit;
	return admin ? TOKEN_MATCH_ADMIN : found ? TOKEN_MATCH_KEY : TOKEN_MATCH_NONE;
}

bool
api_token_ok(struct app *app, const char *token)
{
	return api_token_match(app, token, NULL) != TOKEN_MATCH_NONE;
}

/*
 * A bearer token (API clients), or a browser session cookie. A cookie alone
 * is not enough for a change: POST/PATCH/PUT/DELETE must also carry the
 * session's CSRF token in X-Msgd-CSRF, which another site cannot read.
 * Wrong tokens count as failed logins of the client's address; once it is
 * throttled (src/auth/limit.h) its tokens are not even checked (*wait_ms).
 * AUTHN_OK fills *who.
 */
static enum authn
authorized(struct app *app, struct http_request *req, int64_t *wait_ms, struct principal *who)
{
	const char *h = http_header(req, "Authorization");

	if (h) {
		/* A bearer header decides alone. */
		const char *client = http_client_addr(req);
		if (app->auth && (*wait_ms = auth_throttle_ms(app->auth, client, NULL)) > 0)
			return AUTHN_LIMITED;
		enum token_match m = TOKEN_MATCH_NONE;
		size_t key = 0;
		if (strncasecmp(h, "Bearer ", 7) == 0) {
			for (h += 7; *h == ' '; h++)
				;
			if (token_looks_like_jwt(h))  /* a bad one counts as a wrong token */
				return api_principal_of_jwt(app, req, h, who) == 0 ? AUTHN_OK : AUTHN_REPLIED;
			if (*h)
				m = api_token_match(app, h, &key);
		}
		if (m == TOKEN_MATCH_NONE) {
			if (app->auth)
				auth_token_failed(app->auth, client);
			return AUTHN_NONE;
		}
		return api_principal(app, req, m, key, NULL, who) == 0 ? AUTHN_OK : AUTHN_REPLIED;
	}
	if (app->auth == NULL)
		return AUTHN_NONE;
	const struct auth_session *s = auth_check_cookie(app->auth, http_header(req, "Cookie"));
	if (s == NULL)
		return AUTHN_NONE;
	const char *m = http_method(req);
	if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0 &&
	    !auth_csrf_ok(s, http_header(req, AUTH_CSRF_HEADER)))
		return AUTHN_CSRF;
	return api_principal(app, req, TOKEN_MATCH_NONE, 0, s, who) == 0 ? AUTHN_OK : AUTHN_REPLIED;
}

int
api_route_find(const char *method, const char *path, struct api_route_match *m)
{
	int nseg;

	memset(m->params, 0, sizeof(m->params));
	m->path_known = false;
	if (split_path(path, m->seg, &nseg) != 0)
		return -1;
	for (size_t i = 0; i < ARRAY_LEN(routes); i++) {
		if (!match(routes[i].pattern, m->seg, nseg, m->params))
			continue;
		m->path_known = true;
		if (strcmp(routes[i].method, method) == 0)
			return (int)i;
	}
	return -1;
}

const char *
api_route_pattern(int i, const char **method)
{
	if (i < 0 || (size_t)i >= ARRAY_LEN(routes))
		return NULL;
	*method = routes[i].method;
	return routes[i].pattern;
}

uint32_t
api_route_perm(int i)
{
	return i < 0 || (size_t)i >= ARRAY_LEN(routes) ? PERM_NONE : routes[i].perm;
}

/* Authentication, the password change, the permission and the rate limit
 * of route r: 0 when its handler may run, or -1 replied. */
static int
admit(struct app *app, struct http_request *req, const struct route *r, struct principal *who)
{
	int64_t wait = 0;
	uint32_t perm = r->open && r->open(app) ? PERM_NONE : r->perm;
	enum authn a = perm != PERM_NONE ? authorized(app, req, &wait, who) : AUTHN_OK;

	if (a == AUTHN_LIMITED) {
		api_too_many(req, wait);
		return -1;
	}
	if (a == AUTHN_REPLIED)
		return -1;
	if (a == AUTHN_NONE) {
		http_reply_error(req, 401, "unauthorized", NULL,
		    "missing or invalid bearer token (Authorization: Bearer <token>) or session cookie");
		return -1;
	}
	if (a == AUTHN_CSRF) {
		http_reply_error(req, 403, "csrf_failed", NULL, "X-Msgd-CSRF missing or wrong");
		return -1;
	}
	if (perm != PERM_NONE && !r->pw_change && who->kind == PRINCIPAL_USER &&
	    api_user_must_change(app, who->subject)) {
		http_reply_error(req, 403, "password_change_required", NULL,
		    "choose a new password first: PUT /v1/auth/password {\"current\",\"new\"}");
		return -1;
	}
	if (!authz_can(who, perm)) {
		http_reply_error(req, 403, "forbidden", NULL, "this needs the permission %s",
		    authz_perm_name(perm));
		return -1;
	}
	if (perm != PERM_NONE && api_rate_take(app, req, who) != 0)
		return -1;
	return 0;
}

/* The http head hook: a route that streams its body is admitted and runs
 * now, before the body is read; every other request goes on as usual. */
void
api_head(struct http_request *req, void *arg)
{
	struct app *app = arg;
	struct api_route_match m;
	const char *method = http_method(req);

	/* Only a POST or a PUT streams (the rest are routed once, as usual). */
	if (strcmp(method, "POST") != 0 && strcmp(method, "PUT") != 0)
		return;
	int i = api_route_find(method, http_path(req), &m);
	http_set_route(req, i);
	if (i >= 0 && (routes[i].fn == api_webhook || routes[i].fn == api_channel_webhook))
		api_webhook_head(app, req, m.params);
	if (i < 0 || !routes[i].stream_body)
		return;
	if (app->store == NULL) {
		http_reply_error(req, 503, "shutting_down", NULL, "msgd is shutting down; retry");
		return;
	}
	struct principal who = { .kind = PRINCIPAL_KEY };
	if (admit(app, req, &routes[i], &who) == 0)
		routes[i].fn(app, req, routes[i].perm != PERM_NONE ? &who : NULL, m.params);
}

void
api_handle(struct http_request *req, void *arg)
{
	struct app *app = arg;
	struct api_route_match m;

	if (app->store == NULL) {
		http_reply_error(req, 503, "shutting_down", NULL, "msgd is shutting down; retry");
		return;
	}
	/* The messages panel's static files: no auth (the page logs in itself). */
	if (web_serve(req))
		return;
	int i = api_route_find(http_method(req), http_path(req), &m);
	http_set_route(req, i);
	if (i >= 0) {
		const struct route *r = &routes[i];
		struct principal who = { .kind = PRINCIPAL_KEY };
		if (r->stream_body) {      /* api_head() answered it already */
			http_reply_error(req, 500, "internal", NULL, "a streamed route without its stream");
			return;
		}
		if (admit(app, req, r, &who) == 0)
			r->fn(app, req, r->perm != PERM_NONE && !(r->open && r->open(app)) ? &who : NULL,
			    m.params);
		return;
	}
	if (m.path_known)
		http_reply_error(req, 405, "method_not_allowed", NULL, "%s is not allowed on %s",
		    http_method(req), http_path(req));
	else
		http_reply_error(req, 404, "not_found", NULL, "no such endpoint");
}

json_t *
api_body_object(struct http_request *req)
{
	size_t len;
	const char *body = http_body(req, &len);
	char err[256];
	json_t *v;

	/* The body is JSON whatever Content-Type says (curl -d sends a form type). */
	if (json_parse_capped(body, len, API_JSON_MAX_DEPTH, &v, err, sizeof(err)) != 0) {
		http_reply_error(req, 400, "invalid_json", NULL, "malformed JSON: %s", err);
		return NULL;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		http_reply_error(req, 422, "validation_failed", "body", "the body must be a JSON object");
		return NULL;
	}
	return v;
}

const char *
api_plain_str(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_string(v) || json_string_length(v) != strlen(json_string_value(v)))
		return NULL;
	return json_string_value(v);
}

int
api_number(struct http_request *req, const char *name, const char *value, int64_t min,
    int64_t max, int64_t *out)
{
	if (parse_digits(value, API_NUMBER_DIGITS_MAX, out) != 0 || *out < min || *out > max) {
		http_reply_error(req, 400, "invalid_parameter", name,
		    "%s must be an integer from %lld to %lld, in digits only", name, (long long)min,
		    (long long)max);
		return -1;
	}
	return 0;
}

int
api_query_number(struct http_request *req, const char *name, int64_t min, int64_t max,
    int64_t def, int64_t *out)
{
	const char *s = http_query(req, name);

	if (s == NULL) {
		*out = def;
		return 0;
	}
	return api_number(req, name, s, min, max, out);
}

int
api_limit(struct http_request *req, int def, int max)
{
	int64_t v;

	if (api_query_number(req, "limit", 1, max, def, &v) != 0)
		return -1;
	return (int)v;
}

int
api_path_id(struct http_request *req, const char *s, int64_t *out)
{
	if (parse_i64(s, out) != 0 || *out <= 0) {
		http_reply_error(req, 404, "not_found", NULL, "no such resource: '%.64s' is not an id", s);
		return -1;
	}
	return 0;
}

void
api_store_error(struct http_request *req)
{
	http_reply_error(req, 500, "internal", NULL, "storage error; see the server log");
}

void
api_op_error(struct http_request *req, const struct store_op *op)
{
	if (op->fault == STORE_FAULT_NONE) {
		api_store_error(req);
		return;
	}
	http_reply_error(req, 503, "storage_unavailable", NULL,
	    "storage is failing (%s); nothing was stored; retry later", store_fault_name(op->fault));
	http_reply_header(req, "Retry-After", API_STORAGE_RETRY_AFTER);
}

void
api_too_many(struct http_request *req, int64_t wait_ms)
{
	char secs[24];
	int64_t s = (wait_ms + 999) / 1000;

	snprintf(secs, sizeof(secs), "%lld", (long long)(s > 0 ? s : 1));
	http_reply_error(req, 429, "too_many_attempts", NULL,
	    "too many failed attempts from this address; retry after %s s", secs);
	http_reply_header(req, "Retry-After", secs);
}

json_t *
api_channel_json(struct app *app, const struct channel *ch)
{
	char created[21], updated[21];

	fmt_rfc3339(ch->created_at, created);
	fmt_rfc3339(ch->updated_at, updated);
	json_t *j = json_pack("{s:I,s:s,s:s,s:o,s:s,s:s}", "id", (json_int_t)ch->id, "name", ch->name,
	    "type", ch->ops->type, "config", channel_public_config(ch), "created_at", created,
	    "updated_at", updated);
	if (app->outbox && (ch->ops->send_local || ch->ops->send_prepare))
		json_object_set_new(j, "state", outbox_channel_state(app->outbox, ch, 0));
	json_object_set_new(j, "connection", api_channel_connection(ch));
	if (ch->ops->channel_webhook) {
		char path[128];
		channel_webhook_path(ch, path, sizeof(path));
		json_object_set_new(j, "webhook_path", json_string(path));
	}
	json_object_set_new(j, "capabilities", channel_caps_json(ch->ops));
	json_object_set_new(j, "actions", json_boolean(ch->ops->connect != NULL));
	return j;
}

int
api_keys_load(struct app *app)
{
	json_t *keys = NULL;

	if (store_api_keys_load(app->store, &keys) != 0)
		return -1;
	api_keys_apply(app, keys);
	json_decref(keys);
	return 0;
}

int
api_load(struct app *app)
{
	json_t *rows = NULL, *row;
	size_t i;

	if (store_orgs_load(app->store, &rows) != 0)
		return -1;
	api_orgs_apply(app, rows);
	json_decref(rows);
	if (store_members_load(app->store, &rows) != 0)
		return -1;
	api_members_apply(app, rows);
	json_decref(rows);
	if (api_tokens_load(app) != 0)
		return -1;
	if (store_channels_load(app->store, &rows) != 0)
		return -1;
	json_array_foreach(rows, i, row) {
		struct channel *ch = api_channel_from_row(row);
		if (ch == NULL)
			continue;
		char *name = xstrdup(ch->name);
		if (registry_add(app->reg, ch) != 0)
			log_error("cannot open stored channel; skipped", "channel", name);
		free(name);
	}
	json_decref(rows);
	if (store_channel_states(app->store, &rows) != 0)
		return -1;
	api_channel_states_set(app, rows);
	json_decref(rows);
	return api_keys_load(app);
}

void
api_unload(struct app *app)
{
	if (app->keys_timer)
		event_free(app->keys_timer);
	app->keys_timer = NULL;
	free(app->key_hashes);
	free(app->keys);
	free(app->key_order);
	app->key_order = NULL;
	free(app->orgs);
	free(app->members);
	api_tokens_free(app);
	ratelimit_free(app->ratelimit);
	app->ratelimit = NULL;
	app->members = NULL;
	app->nmembers = 0;
	app->key_hashes = NULL;
	app->keys = NULL;
	app->orgs = NULL;
	app->nkeys = app->norgs = 0;
}
