/*
 * api_orgs.c - organizations and who is asking: the organizations and API
 * keys kept in memory (loaded at start, followed from other instances),
 * the principal of a request (api_principal()), /v1/orgs and /v1/auth/me.
 */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../http/http.h"
#include "../log/log.h"
#include "../store/store.h"
#include "../util/util.h"

/* --- organizations in memory --- */

void
api_orgs_apply(struct app *app, const json_t *rows)
{
	size_t i, n = 0;
	json_t *row;
	struct api_org *v = xcalloc(json_array_size(rows) + 1, sizeof(*v));

	json_array_foreach(rows, i, row) {
		const char *name = json_string_value(json_object_get(row, "name"));
		int64_t id = json_integer_value(json_object_get(row, "id"));
		if (id <= 0 || !authz_org_name_valid(name)) {
			log_error("stored organization has no valid id or name; ignored");
			continue;
		}
		v[n].id = id;
		snprintf(v[n].name, sizeof(v[n].name), "%s", name);
		const struct api_org *old = api_org_by_id(app, id);
		if (old) {  /* retention's progress stays */
			v[n].ret_msg = old->ret_msg;
			v[n].ret_seq = old->ret_seq;
			v[n].ret_next_ms = old->ret_next_ms;
			v[n].ret_busy = old->ret_busy;
		}
		api_org_settings_default(&v[n].settings);
		json_t *limits = json_object_get(json_object_get(row, "settings"), "limits");
		char fld[64], err[160];
		if (limits && api_org_settings_merge(&v[n].settings, limits, fld, sizeof(fld), err,
		    sizeof(err)) != 0)
			log_error("stored organization settings are invalid; defaults used for the rest",
			    "org", name, "error", err);
		n++;
	}
	free(app->orgs);
	app->orgs = v;
	app->norgs = n;
}

const struct api_org *
api_org_by_id(const struct app *app, int64_t id)
{
	for (size_t i = 0; i < app->norgs; i++)
		if (app->orgs[i].id == id)
			return &app->orgs[i];
	return NULL;
}

const struct api_org *
api_org_by_name(const struct app *app, const char *name)
{
	for (size_t i = 0; name && i < app->norgs; i++)
		if (strcmp(app->orgs[i].name, name) == 0)
			return &app->orgs[i];
	return NULL;
}

/* --- users' memberships in memory --- */

void
api_members_apply(struct app *app, const json_t *rows)
{
	size_t i, n = 0;
	json_t *row;
	struct api_member *v = xcalloc(json_array_size(rows) + 1, sizeof(*v));

	json_array_foreach(rows, i, row) {
		const char *user = json_string_value(json_object_get(row, "user"));
		if (user == NULL || strlen(user) > AUTH_NAME_MAX)
			continue;
		snprintf(v[n].user, sizeof(v[n].user), "%s", user);
		v[n].org_id = json_integer_value(json_object_get(row, "org_id"));
		v[n].role = authz_role_from_name(json_string_value(json_object_get(row, "role")));
		v[n].platform_admin = json_is_true(json_object_get(row, "platform_admin"));
		v[n].must_change = json_is_true(json_object_get(row, "must_change_password"));
		if (v[n].org_id > 0 && v[n].role == ROLE_NONE)
			log_error("stored membership has an unknown role; it grants nothing", "user", user);
		n++;
	}
	free(app->members);
	app->members = v;
	app->nmembers = n;
}

static struct api_member *
member_find(const struct app *app, const char *user, int64_t org)
{
	for (size_t i = 0; i < app->nmembers; i++)
		if (app->members[i].org_id == org && strcmp(app->members[i].user, user) == 0)
			return &app->members[i];
	return NULL;
}

enum role
api_member_role(const struct app *app, const char *user, int64_t org)
{
	const struct api_member *m = org > 0 ? member_find(app, user, org) : NULL;
	return m ? m->role : ROLE_NONE;
}

bool
api_user_known(const struct app *app, const char *user)
{
	for (size_t i = 0; i < app->nmembers; i++)
		if (strcmp(app->members[i].user, user) == 0)
			return true;
	return false;
}

size_t
api_user_orgs(const struct app *app, const char *user)
{
	size_t n = 0;

	for (size_t i = 0; i < app->nmembers; i++)
		n += app->members[i].org_id > 0 && strcmp(app->members[i].user, user) == 0;
	return n;
}

static bool
platform_admin(const struct app *app, const char *user)
{
	for (size_t i = 0; i < app->nmembers; i++)
		if (strcmp(app->members[i].user, user) == 0)
			return app->members[i].platform_admin;
	return false;
}

bool
api_user_must_change(const struct app *app, const char *user)
{
	for (size_t i = 0; i < app->nmembers; i++)
		if (strcmp(app->members[i].user, user) == 0)
			return app->members[i].must_change;
	return false;
}

void
api_user_must_change_set(struct app *app, const char *user, bool on)
{
	app->members_gen++;
	for (size_t i = 0; i < app->nmembers; i++)
		if (strcmp(app->members[i].user, user) == 0)
			app->members[i].must_change = on;
}

void
api_user_platform_set(struct app *app, const char *user, bool on)
{
	app->members_gen++;
	for (size_t i = 0; i < app->nmembers; i++)
		if (strcmp(app->members[i].user, user) == 0)
			app->members[i].platform_admin = on;
}

void
api_member_set(struct app *app, const char *user, int64_t org, enum role role)
{
	struct api_member *m = member_find(app, user, org);

	app->members_gen++;
	if (m == NULL) {
		bool pa = platform_admin(app, user), mc = api_user_must_change(app, user);
		api_member_drop(app, user, -1);  /* a row without membership, if any */
		app->members = xrealloc(app->members, (app->nmembers + 1) * sizeof(*app->members));
		m = &app->members[app->nmembers++];
		*m = (struct api_member){ .org_id = org, .platform_admin = pa, .must_change = mc };
		snprintf(m->user, sizeof(m->user), "%s", user);
	}
	m->role = role;
}

void
api_member_drop(struct app *app, const char *user, int64_t org)
{
	size_t k = 0;

	app->members_gen++;
	for (size_t i = 0; i < app->nmembers; i++) {
		struct api_member *m = &app->members[i];
		bool gone = strcmp(m->user, user) == 0 &&
		    (org == 0 || m->org_id == org || (org < 0 && m->org_id == 0));
		if (!gone)
			app->members[k++] = *m;
	}
	app->nmembers = k;
}

/* --- API keys in memory --- */

static uint32_t
scopes_of(const json_t *names)
{
	uint32_t bits = 0;
	size_t i;
	json_t *v;

	json_array_foreach(names, i, v)
		bits |= authz_scope_from_name(json_string_value(v));
	return bits;
}

void
api_keys_apply(struct app *app, const json_t *rows)
{
	json_t *row;
	size_t i, n = 0;
	unsigned char (*hashes)[32] = xcalloc(json_array_size(rows) + 1, 32);
	struct api_key *keys = xcalloc(json_array_size(rows) + 1, sizeof(*keys));

	json_array_foreach(rows, i, row) {
		const char *hex = json_string_value(json_object_get(row, "hash"));
		if (hex == NULL || hex_decode(hex, strlen(hex), hashes[n], 32) != 0) {
			log_error("stored API key hash is not 64 hex digits; ignored");
			continue;
		}
		int64_t used = json_integer_value(json_object_get(row, "last_used_at"));
		keys[n] = (struct api_key){
			.id = json_integer_value(json_object_get(row, "id")),
			.org_id = json_integer_value(json_object_get(row, "org_id")),
			.scopes = scopes_of(json_object_get(row, "scopes")),
			.expires_at = json_integer_value(json_object_get(row, "expires_at")),
			.used_at = used,
			.flushed_at = used,
		};
		/* A use noted here and not written yet stays noted. */
		for (size_t k = 0; k < app->nkeys; k++)
			if (app->keys[k].id == keys[n].id && app->keys[k].used_at > keys[n].used_at)
				keys[n].used_at = app->keys[k].used_at;
		auth_token_cred(hashes[n], keys[n].cred);
		n++;
	}
	free(app->key_hashes);
	free(app->keys);
	app->key_hashes = hashes;
	app->keys = keys;
	app->nkeys = n;
	api_keys_index(app);
}

/* The keys by hash, for a binary search: a lookup costs log2(n) compares,
 * not n (at a thousand keys, 24 us a request by a constant-time scan).
 * memcmp's early exit tells an attacker at most how many leading bytes of
 * a SHA-256 they matched, which helps find no key; the match itself is
 * confirmed in constant time. */
static const struct app *sort_app;

static int
by_hash(const void *a, const void *b)
{
	return memcmp(sort_app->key_hashes[*(const size_t *)a], sort_app->key_hashes[*(const size_t *)b], 32);
}

void
api_keys_index(struct app *app)
{
	free(app->key_order);
	app->key_order = xcalloc(app->nkeys + 1, sizeof(*app->key_order));
	for (size_t i = 0; i < app->nkeys; i++)
		app->key_order[i] = i;
	sort_app = app;  /* loop thread only */
	qsort(app->key_order, app->nkeys, sizeof(*app->key_order), by_hash);
	sort_app = NULL;
}

/* --- the principal --- */

/* The Msgd-Org header, else the query parameter org (for what cannot send
 * headers: a browser's EventSource and WebSocket); NULL when neither. */
const char *
api_org_asked(struct http_request *req)
{
	const char *name = http_header(req, ORG_HEADER);

	return name ? name : http_query(req, ORG_QUERY);
}

/* The organization a request names (api_org_asked(), default "default"),
 * or NULL after a 404. */
static const struct api_org *
named_org(struct app *app, struct http_request *req)
{
	const char *name = api_org_asked(req);
	const struct api_org *o = api_org_by_name(app, name ? name : ORG_DEFAULT);

	if (o == NULL)
		http_reply_error(req, 404, "not_found", ORG_HEADER, "no organization named '%.64s'",
		    name ? name : ORG_DEFAULT);
	return o;
}

static void
set_org(struct principal *who, const struct api_org *o)
{
	who->org_id = o->id;
	snprintf(who->org, sizeof(who->org), "%s", o->name);
}

int
api_key_principal(struct app *app, struct http_request *req, size_t key, struct principal *who)
{
	const struct api_key *k = &app->keys[key];
	const struct api_org *o = api_org_by_id(app, k->org_id);
	const char *asked = api_org_asked(req);

	if (k->expires_at > 0 && k->expires_at <= now_ms() / 1000) {
		http_reply_error(req, 401, "unauthorized", NULL, "this API key has expired");
		return -1;
	}
	if (o == NULL || (asked && strcmp(asked, o->name) != 0)) {
		/* A key acts in its own organization only; another's name reads
		 * as unknown, as it would to anyone outside it. */
		http_reply_error(req, 404, "not_found", ORG_HEADER, "no organization named '%.64s'",
		    asked ? asked : "");
		return -1;
	}
	*who = (struct principal){ .kind = PRINCIPAL_KEY, .scopes = k->scopes };
	set_org(who, o);
	snprintf(who->subject, sizeof(who->subject), "key:%lld", (long long)k->id);
	authz_settle(who);
	api_key_used(app, key);
	return 0;
}

static int
admin_principal(struct app *app, struct http_request *req, struct principal *who)
{
	const struct api_org *o = named_org(app, req);

	if (o == NULL)
		return -1;
	*who = (struct principal){ .kind = PRINCIPAL_ADMIN };
	set_org(who, o);
	snprintf(who->subject, sizeof(who->subject), "admin");
	authz_settle(who);
	return 0;
}

/*
 * A user acts in the organization Msgd-Org names, where they have a role
 * (a platform admin: in any, as an owner); without the header, in
 * "default" if they belong to it, else in the first they belong to. One
 * they do not belong to reads as unknown (404), as it would to anyone.
 */
int
api_user_principal(struct app *app, struct http_request *req, const char *user,
    const struct api_org *in, struct principal *who)
{
	const char *asked = api_org_asked(req);
	bool pa = platform_admin(app, user);
	const struct api_org *o = NULL;

	if (in) {
		o = in;
	} else if (asked) {
		o = api_org_by_name(app, asked);
		if (o && !pa && api_member_role(app, user, o->id) == ROLE_NONE)
			o = NULL;
	} else if (api_member_role(app, user, STORE_ORG_DEFAULT) != ROLE_NONE || pa) {
		o = api_org_by_id(app, STORE_ORG_DEFAULT);
	} else {
		for (size_t i = 0; o == NULL && i < app->nmembers; i++)
			if (strcmp(app->members[i].user, user) == 0 && app->members[i].role != ROLE_NONE)
				o = api_org_by_id(app, app->members[i].org_id);
		if (o == NULL)
			o = api_org_by_id(app, STORE_ORG_DEFAULT);  /* a member of none: no role */
	}
	if (o == NULL) {
		http_reply_error(req, 404, "not_found", ORG_HEADER, "no organization named '%.64s'",
		    asked ? asked : ORG_DEFAULT);
		return -1;
	}
	*who = (struct principal){ .kind = PRINCIPAL_USER, .role = api_member_role(app, user, o->id),
		.platform_admin = pa };
	set_org(who, o);
	snprintf(who->subject, sizeof(who->subject), "%s", user);
	authz_settle(who);
	return 0;
}

int
api_principal(struct app *app, struct http_request *req, enum token_match m, size_t key,
    const struct auth_session *s, struct principal *who)
{
	if (m == TOKEN_MATCH_ADMIN)
		return admin_principal(app, req, who);
	if (m == TOKEN_MATCH_KEY)
		return api_key_principal(app, req, key, who);
	if (strcmp(s->user, AUTH_TOKEN_USER) == 0) {
		/* A session made with a token: that token's principal, while it
		 * is valid. */
		if (strcmp(s->cred, app->admin_cred) == 0)
			return admin_principal(app, req, who);
		for (size_t i = 0; i < app->nkeys; i++)
			if (strcmp(s->cred, app->keys[i].cred) == 0)
				return api_key_principal(app, req, i, who);
		http_reply_error(req, 401, "unauthorized", NULL, "the token of this session is gone");
		return -1;
	}
	return api_user_principal(app, req, s->user, NULL, who);
}

json_t *
api_principal_json(const struct principal *who)
{
	static const char *const kinds[] = {
		[PRINCIPAL_ADMIN] = "admin", [PRINCIPAL_USER] = "user", [PRINCIPAL_KEY] = "key",
	};
	json_t *scopes = json_array(), *perms = json_array();

	for (uint32_t b = 1; b < (1u << SCOPE_COUNT); b <<= 1)
		if (who->scopes & b)
			json_array_append_new(scopes, json_string(authz_scope_name(b)));
	for (uint32_t b = 1; b < (1u << PERM_COUNT); b <<= 1)
		if (who->perms & b)
			json_array_append_new(perms, json_string(authz_perm_name(b)));
	json_t *j = json_pack("{s:s, s:I, s:s, s:s, s:b, s:o}", "org", who->org,
	    "org_id", (json_int_t)who->org_id, "subject", who->subject, "kind", kinds[who->kind],
	    "platform_admin", who->platform_admin, "permissions", perms);
	json_object_set_new(j, "role", who->role != ROLE_NONE ?
	    json_string(authz_role_name(who->role)) : json_null());
	if (who->kind == PRINCIPAL_KEY)
		json_object_set_new(j, "scopes", scopes);
	else
		json_decref(scopes);
	return j;
}

/* Who am I, and (a user) the organizations I belong to, for a switcher. */
void
api_auth_me(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	json_t *j = api_principal_json(who);

	if (who->kind == PRINCIPAL_USER) {
		json_t *orgs = json_array();
		for (size_t i = 0; i < app->nmembers; i++) {
			const struct api_member *m = &app->members[i];
			const struct api_org *o = m->org_id > 0 && strcmp(m->user, who->subject) == 0 ?
			    api_org_by_id(app, m->org_id) : NULL;
			if (o && m->role != ROLE_NONE)
				json_array_append_new(orgs, json_pack("{s:s, s:s}", "name", o->name, "role",
				    authz_role_name(m->role)));
		}
		json_object_set_new(j, "orgs", orgs);
		json_object_set_new(j, "password_change_required",
		    json_boolean(api_user_must_change(app, who->subject)));
	}
	http_reply_json(req, 200, j);
}

/* --- /v1/orgs --- */

static json_t *
org_json(int64_t id, const char *name, int64_t created_at)
{
	char at[21];

	fmt_rfc3339(created_at, at);
	return json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id, "name", name, "created_at", at);
}

struct org_write {
	struct store_op op;
	struct app *app;
	struct http_request *req;
	char name[ORG_NAME_MAX + 1];
};

static void
org_created(struct store_op *op, void *arg)
{
	struct org_write *w = arg;
	struct app *app = w->app;

	if (op->result != 0 && op->err == STORE_CONFLICT) {
		http_reply_error(w->req, 409, "conflict", "name", "an organization named '%s' exists",
		    w->name);
	} else if (op->result != 0) {
		api_op_error(w->req, op);
	} else {
		app->orgs_gen++;
		if (api_org_by_id(app, op->u.org.id) == NULL) {
			app->orgs = xrealloc(app->orgs, (app->norgs + 1) * sizeof(*app->orgs));
			struct api_org *o = &app->orgs[app->norgs++];
			*o = (struct api_org){ .id = op->u.org.id };
			snprintf(o->name, sizeof(o->name), "%s", w->name);
			api_org_settings_default(&o->settings);
		}
		log_info("organization created", "org", w->name);
		http_reply_json(w->req, 201, org_json(op->u.org.id, w->name, op->u.org.at));
	}
	free(w);
}

void
api_orgs_create(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	json_t *body = api_body_object(req), *v;
	const char *key;

	if (body == NULL)
		return;
	json_object_foreach(body, key, v) {
		if (strcmp(key, "name") != 0) {
			http_reply_error(req, 422, "validation_failed", key, "unknown field '%.64s'", key);
			json_decref(body);
			return;
		}
	}
	const char *name = api_plain_str(body, "name");
	if (!authz_org_name_valid(name)) {
		http_reply_error(req, 422, "validation_failed", "name",
		    "'name' must be 1 to %d of a-z, 0-9, '.', '_' and '-', starting with a letter or digit",
		    ORG_NAME_MAX);
		json_decref(body);
		return;
	}
	if (api_org_by_name(app, name)) {
		http_reply_error(req, 409, "conflict", "name", "an organization named '%s' exists", name);
		json_decref(body);
		return;
	}
	struct org_write *w = xcalloc(1, sizeof(*w));
	w->app = app;
	w->req = req;
	snprintf(w->name, sizeof(w->name), "%s", name);
	json_decref(body);
	w->op = (struct store_op){
		.kind = STORE_OP_ORG_CREATE,
		.u.org = { .name = w->name },
		.done = org_created,
		.arg = w,
	};
	http_defer(req);
	store_submit(app->store, &w->op);
}

static void
run_orgs_list(struct store *st, void *arg, struct api_reply *out)
{
	json_t *rows = NULL, *row, *list;
	size_t i;

	if (store_orgs_load(st, &rows) != 0)
		return;  /* status 0: storage error */
	list = json_array();
	json_array_foreach(rows, i, row)
		json_array_append_new(list, org_json(json_integer_value(json_object_get(row, "id")),
		    json_string_value(json_object_get(row, "name")),
		    json_integer_value(json_object_get(row, "created_at"))));
	json_decref(rows);
	out->status = 200;
	out->json = json_pack("{s:o}", "orgs", list);
}

void
api_orgs_list(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	api_read_async(app, req, run_orgs_list, NULL, NULL);
}
