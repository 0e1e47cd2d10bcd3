/*
 * api_users.c - /v1/users: the people who can log in, as members of the
 * caller's organization with a role. List (names, roles and creation
 * times, never hashes), add (a new user with a password, or an existing
 * one to this organization), change a role, remove from the organization
 * (a user left in none is deleted), change a password, and end every
 * session of one user. Hashing runs off the loop (src/auth); removing a
 * user or changing a password ends the user's sessions at once, in memory
 * and in the store.
 *
 * Nobody raises anyone above their own rank (api_rank()), nor touches a
 * member who outranks them; a user of other organizations too gets a new
 * password only from a platform admin (or changes their own), so one
 * organization's admin cannot take over another's member.
 *
 * An invite ({"invite":true}, no password) makes the user with a random
 * one-time password, shown once in the answer and never kept in the
 * clear; the user must then choose their own (must_change_password, kept
 * in memory with the memberships): the router lets them reach only
 * PUT /v1/auth/password (api_auth_password(): the current password checked
 * like a login, then the new one set, which ends every session of theirs)
 * and GET /v1/auth/me until then.
 */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../auth/auth.h"
#include "../http/http.h"
#include "../store/store.h"
#include "../util/util.h"

struct user_call {
	struct app *app;
	struct http_request *req;
	char name[AUTH_NAME_MAX + 1];
	int64_t org;
	enum role role;             /* the membership made or changed */
	bool whole_user;            /* remove: the user is deleted, not only the membership */
	bool must_change;           /* create, password: the user must choose a new one */
	char otp[API_OTP_CHARS + 1]; /* an invite's one-time password ("": none); wiped */
	struct store_op op;
	struct principal who;       /* for the audit trail */
	enum role before;           /* the role before a change */
};

/* audit.user.<what>: the user by name, and what changed (never a password). */
static void
user_audit(struct user_call *c, const char *what, json_t *after)
{
	api_audit(c->app, &c->who, c->org, what, json_pack("{s:s}", "name", c->name),
	    c->before != ROLE_NONE ? json_pack("{s:s}", "role", authz_role_name(c->before)) : NULL, after);
}

static void
call_free(void *arg)
{
	struct user_call *c = arg;

	sodium_memzero(c->otp, sizeof(c->otp));
	free(c);
}

static struct user_call *
call_new(struct app *app, struct http_request *req, const struct principal *who, const char *name)
{
	struct user_call *c = xcalloc(1, sizeof(*c));

	c->app = app;
	c->req = req;
	c->org = who->org_id;
	c->who = *who;
	c->before = api_member_role(app, name, who->org_id);
	snprintf(c->name, sizeof(c->name), "%s", name);
	return c;
}

static json_t *
user_json(json_t *row)
{
	char created[21];

	fmt_rfc3339(json_integer_value(json_object_get(row, "created_at")), created);
	return json_pack("{s:O,s:s,s:O,s:b}", "name", json_object_get(row, "name"), "created_at", created,
	    "role", json_object_get(row, "role"), "must_change_password",
	    json_is_true(json_object_get(row, "must_change_password")));
}

/* How far the caller reaches: the admin token and platform admins own
 * every organization; a key with the admin scope is an admin. */
static enum role
api_rank(const struct principal *who)
{
	if (who->kind == PRINCIPAL_ADMIN || who->platform_admin)
		return ROLE_OWNER;
	if (who->kind == PRINCIPAL_KEY)
		return (who->scopes & SCOPE_ADMIN) ? ROLE_ADMIN : ROLE_NONE;
	return who->role;
}

/* name is a member here whom the caller may manage: else 404 (not a
 * member) or 403 (outranks the caller), and false. */
static bool
manageable(struct app *app, struct http_request *req, const struct principal *who, const char *name)
{
	enum role r = auth_name_valid(name) ? api_member_role(app, name, who->org_id) : ROLE_NONE;

	if (r == ROLE_NONE) {
		http_reply_error(req, 404, "not_found", NULL, "no user '%.64s' in this organization", name);
		return false;
	}
	if (r > api_rank(who)) {
		http_reply_error(req, 403, "forbidden", NULL, "user '%s' is %s here; you cannot change them",
		    name, authz_role_name(r));
		return false;
	}
	return true;
}

/* Would name stop being an owner of the caller's organization, leaving it
 * none (a user is its last owner)? Then 409, and true. The admin token and
 * platform admins can always make another; a team should not have to. */
static bool
last_owner(struct app *app, struct http_request *req, const struct principal *who,
    const char *name, enum role next)
{
	size_t owners = 0;

	if (next == ROLE_OWNER || api_member_role(app, name, who->org_id) != ROLE_OWNER)
		return false;
	for (size_t i = 0; i < app->nmembers; i++)
		owners += app->members[i].org_id == who->org_id && app->members[i].role == ROLE_OWNER;
	if (owners > 1)
		return false;
	http_reply_error(req, 409, "conflict", "role", "'%s' is the organization's last owner: "
	    "make another owner first", name);
	return true;
}

/* The role a request names ("role", default def): else 422/403, ROLE_NONE. */
static enum role
role_of(struct http_request *req, const struct principal *who, const json_t *body, enum role def)
{
	json_t *v = json_object_get(body, "role");
	enum role r = v ? authz_role_from_name(json_string_value(v)) : def;

	if (r == ROLE_NONE) {
		http_reply_error(req, 422, "validation_failed", "role",
		    "role must be one of owner, admin, agent, viewer");
		return ROLE_NONE;
	}
	if (r > api_rank(who)) {
		http_reply_error(req, 403, "forbidden", "role", "you cannot grant %s, which is above your own role",
		    authz_role_name(r));
		return ROLE_NONE;
	}
	return r;
}

/* The common failures of the users calls. */
static void
reply_failure(struct user_call *c, enum auth_result r)
{
	switch (r) {
	case AUTH_NOT_FOUND:
		http_reply_error(c->req, 404, "not_found", NULL, "no user '%s'", c->name);
		break;
	case AUTH_CONFLICT:
		http_reply_error(c->req, 409, "conflict", "name", "user '%s' exists", c->name);
		break;
	case AUTH_BUSY:
		http_reply_error(c->req, 503, "busy", NULL, "too many password operations at once; retry");
		break;
	case AUTH_REFUSED:
		http_reply_error(c->req, 422, "validation_failed", NULL, "invalid user name or password");
		break;
	default:
		api_store_error(c->req);
		break;
	}
}

static void
run_users_list(struct store *st, void *arg, struct api_reply *out)
{
	const int64_t *org = arg;
	json_t *rows = NULL, *row, *list;
	size_t i;

	if (store_users_list(st, *org, &rows) != 0)
		return;  /* status 0: storage error */
	list = json_array();
	json_array_foreach(rows, i, row)
		json_array_append_new(list, user_json(row));
	json_decref(rows);
	out->status = 200;
	out->json = json_pack("{s:o}", "users", list);
}

void
api_users_list(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	int64_t *org = xcalloc(1, sizeof(*org));
	*org = who->org_id;
	api_read_async(app, req, run_users_list, org, free);
}

/* Validate a password member; replies 422 and returns NULL. */
static const char *
password_of(struct http_request *req, const json_t *body)
{
	const char *pw = api_plain_str(body, "password");

	if (!auth_password_valid(pw)) {
		http_reply_error(req, 422, "validation_failed", "password",
		    "password: a string of %d to %d bytes", AUTH_PASSWORD_MIN, AUTH_PASSWORD_MAX);
		return NULL;
	}
	return pw;
}

/* The user just created, as stored (the request is deferred already). */
static void
run_created(struct store *st, void *arg, struct api_reply *out)
{
	struct user_call *c = arg;
	json_t *row = NULL;

	if (store_user_get(st, c->name, &row) == 0 && row) {
		json_object_set_new(row, "role", json_string(authz_role_name(c->role)));
		json_object_set_new(row, "must_change_password", json_boolean(c->must_change));
		out->status = 201;
		out->json = user_json(row);
		if (c->otp[0])  /* shown this once */
			json_object_set_new(out->json, "one_time_password", json_string(c->otp));
	}
	json_decref(row);
}

static void
created(void *arg, enum auth_result r, int64_t ended)
{
	struct user_call *c = arg;

	if (r != AUTH_OK) {
		reply_failure(c, r);
		call_free(c);
	} else {
		api_member_set(c->app, c->name, c->org, c->role);
		api_user_must_change_set(c->app, c->name, c->must_change);
		user_audit(c, "user.created", json_pack("{s:s, s:b}", "role", authz_role_name(c->role),
		    "invited", c->must_change));
		api_read_async(c->app, c->req, run_created, c, call_free);
	}
}

/* A membership made or changed (an existing user added, a new role). */
static void
member_done(struct store_op *op, void *arg)
{
	struct user_call *c = arg;

	if (op->result != 0) {
		reply_failure(c, op->err == STORE_NOTFOUND ? AUTH_NOT_FOUND : AUTH_ERROR);
		free(c);
		return;
	}
	if (op->kind == STORE_OP_MEMBER_DELETE) {
		api_member_drop(c->app, c->name, c->org);
		user_audit(c, "user.removed", NULL);
		http_reply_raw(c->req, 204, "application/json", "", 0);
		free(c);
		return;
	}
	api_member_set(c->app, c->name, c->org, c->role);
	user_audit(c, c->whole_user ? "user.joined" : "user.role_changed",
	    json_pack("{s:s}", "role", authz_role_name(c->role)));
	if (c->whole_user) {
		api_read_async(c->app, c->req, run_created, c, free);  /* joined: as a create */
		return;
	}
	http_reply_json(c->req, 200, json_pack("{s:s,s:s}", "name", c->name, "role",
	    authz_role_name(c->role)));
	free(c);
}

static void
member_submit(struct app *app, struct user_call *c, enum store_op_kind kind)
{
	c->op = (struct store_op){
		.kind = kind,
		.org_id = c->org,
		.u.user = { .name = c->name, .role = authz_role_name(c->role) },
		.done = member_done,
		.arg = c,
	};
	http_defer(c->req);
	store_submit(app->store, &c->op);
}

/* A new user with a random one-time password, which they must change. */
static void
invite(struct app *app, struct http_request *req, const struct principal *who, const char *name,
    enum role role)
{
	unsigned char raw[API_OTP_BYTES];
	struct user_call *c = call_new(app, req, who, name);

	c->role = role;
	c->must_change = true;
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(c->otp, sizeof(c->otp), raw, sizeof(raw),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
	http_defer(req);
	auth_user_create(app->auth, name, c->otp, true, who->org_id, authz_role_name(role), created, c);
}

void
api_users_create(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	json_t *body = api_body_object(req), *v;
	const char *name, *pw, *key;
	enum role role;
	bool invited;

	if (body == NULL)
		return;
	json_object_foreach(body, key, v) {
		if (strcmp(key, "name") && strcmp(key, "password") && strcmp(key, "role") &&
		    strcmp(key, "invite")) {
			http_reply_error(req, 422, "validation_failed", key, "unknown field '%.64s'", key);
			goto out;
		}
	}
	v = json_object_get(body, "invite");
	if (v && !json_is_boolean(v)) {
		http_reply_error(req, 422, "validation_failed", "invite", "invite: true or false");
		goto out;
	}
	invited = json_is_true(v);
	if (invited && json_object_get(body, "password")) {
		http_reply_error(req, 422, "validation_failed", "password",
		    "an invite makes its own one-time password: send no password");
		goto out;
	}
	name = api_plain_str(body, "name");
	if (!auth_name_valid(name)) {
		http_reply_error(req, 422, "validation_failed", "name",
		    "name: 1 to %d of A-Z a-z 0-9 . _ - (and not '%s')", AUTH_NAME_MAX, AUTH_TOKEN_USER);
		goto out;
	}
	if ((role = role_of(req, who, body, ROLE_AGENT)) == ROLE_NONE)
		goto out;
	if (invited) {
		if (api_user_known(app, name))
			http_reply_error(req, 409, "conflict", "name", "user '%s' exists", name);
		else
			invite(app, req, who, name, role);
	} else if (json_object_get(body, "password") == NULL) {
		/* An existing user joins this organization. */
		if (!api_user_known(app, name)) {
			http_reply_error(req, 404, "not_found", "name",
			    "no user '%s': send a password to create them", name);
		} else if (api_member_role(app, name, who->org_id) != ROLE_NONE) {
			http_reply_error(req, 409, "conflict", "name", "user '%s' is a member already", name);
		} else {
			struct user_call *c = call_new(app, req, who, name);
			c->role = role;
			c->whole_user = true;  /* answer with the user, as a create does */
			member_submit(app, c, STORE_OP_MEMBER_PUT);
		}
	} else if ((pw = password_of(req, body)) != NULL) {
		struct user_call *c = call_new(app, req, who, name);
		c->role = role;
		http_defer(req);
		auth_user_create(app->auth, name, pw, false, who->org_id, authz_role_name(role), created, c);
	}
out:
	json_decref(body);
}

/* PATCH /v1/users/{name} {"role"}: a member's role here. */
static void
platform_done(struct store_op *op, void *arg)
{
	struct user_call *c = arg;

	if (op->result != 0) {
		reply_failure(c, op->err == STORE_NOTFOUND ? AUTH_NOT_FOUND : AUTH_ERROR);
	} else {
		api_user_platform_set(c->app, c->name, op->u.user.platform_admin);
		user_audit(c, "user.platform_admin_changed", json_pack("{s:b}", "platform_admin",
		    op->u.user.platform_admin));
		http_reply_json(c->req, 200, json_pack("{s:s, s:b}", "name", c->name, "platform_admin",
		    op->u.user.platform_admin));
	}
	free(c);
}

/* Only a platform admin (or the admin token) makes or unmakes one. */
static void
platform_patch(struct app *app, struct http_request *req, const struct principal *who,
    const char *name, const json_t *v)
{
	if (!json_is_boolean(v)) {
		http_reply_error(req, 422, "validation_failed", "platform_admin",
		    "'platform_admin' must be true or false");
		return;
	}
	if (!who->platform_admin) {
		http_reply_error(req, 403, "forbidden", "platform_admin", "this needs the permission %s",
		    authz_perm_name(PERM_PLATFORM));
		return;
	}
	struct user_call *c = call_new(app, req, who, name);
	c->op = (struct store_op){
		.kind = STORE_OP_USER_PLATFORM,
		.u.user = { .name = c->name, .platform_admin = json_is_true(v) },
		.done = platform_done,
		.arg = c,
	};
	http_defer(req);
	store_submit(app->store, &c->op);
}

void
api_users_patch(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	json_t *body;
	enum role role;

	if (!manageable(app, req, who, p[0]) || (body = api_body_object(req)) == NULL)
		return;
	json_t *pa = json_object_get(body, "platform_admin");
	if (json_object_size(body) == 1 && pa) {
		platform_patch(app, req, who, p[0], pa);
	} else if (json_object_size(body) != 1 || json_object_get(body, "role") == NULL) {
		http_reply_error(req, 422, "validation_failed", "body",
		    "send {\"role\"} or {\"platform_admin\": true|false}");
	} else if ((role = role_of(req, who, body, ROLE_NONE)) != ROLE_NONE &&
	    !last_owner(app, req, who, p[0], role)) {
		struct user_call *c = call_new(app, req, who, p[0]);
		c->role = role;
		member_submit(app, c, STORE_OP_MEMBER_PUT);
	}
	json_decref(body);
}

static void
changed(void *arg, enum auth_result r, int64_t ended)
{
	struct user_call *c = arg;

	if (r != AUTH_OK)
		reply_failure(c, r);
	else
		http_reply_raw(c->req, 204, "application/json", "", 0);
	free(c);
}

/* A new password set by an admin: it may have to be changed at once. */
static void
reset(void *arg, enum auth_result r, int64_t ended)
{
	struct user_call *c = arg;

	if (r == AUTH_OK) {
		api_user_must_change_set(c->app, c->name, c->must_change);
		user_audit(c, "user.password_changed", json_pack("{s:b}", "must_change_password",
		    c->must_change));
	}
	changed(arg, r, ended);
}

void
api_users_password(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	json_t *body;
	const char *pw;
	bool self = who->kind == PRINCIPAL_USER && strcmp(who->subject, p[0]) == 0;

	if (!manageable(app, req, who, p[0]))
		return;
	if (!self && !who->platform_admin && api_user_orgs(app, p[0]) > 1) {
		http_reply_error(req, 403, "forbidden", NULL,
		    "user '%s' belongs to other organizations too: only they or a platform admin may set their password",
		    p[0]);
		return;
	}
	if ((body = api_body_object(req)) == NULL)
		return;
	json_t *mc = json_object_get(body, "must_change_password");
	if (json_object_size(body) != 1 + (mc != NULL) || (mc && !json_is_boolean(mc))) {
		http_reply_error(req, 422, "validation_failed", "body",
		    "send {\"password\"} and, optionally, \"must_change_password\": true or false");
	} else if ((pw = password_of(req, body)) != NULL) {
		struct user_call *c = call_new(app, req, who, p[0]);
		c->must_change = json_is_true(mc);
		http_defer(req);
		auth_user_password(app->auth, p[0], pw, c->must_change, reset, c);
	}
	json_decref(body);
}

static void
removed(void *arg, enum auth_result r, int64_t ended)
{
	struct user_call *c = arg;

	if (r == AUTH_OK) {
		api_member_drop(c->app, c->name, 0);
		user_audit(c, "user.removed", json_pack("{s:b}", "deleted", 1));
	}
	changed(arg, r, ended);
}

/* Out of this organization; a user left in none is deleted (sessions end). */
void
api_users_delete(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	if (!manageable(app, req, who, p[0]) || last_owner(app, req, who, p[0], ROLE_NONE))
		return;
	struct user_call *c = call_new(app, req, who, p[0]);
	if (api_user_orgs(app, p[0]) > 1) {
		member_submit(app, c, STORE_OP_MEMBER_DELETE);
		return;
	}
	c->whole_user = true;
	http_defer(req);
	auth_user_remove(app->auth, p[0], removed, c);
}

static void
logged_out(void *arg, enum auth_result r, int64_t ended)
{
	struct user_call *c = arg;

	if (r != AUTH_OK)
		reply_failure(c, r);
	else
		http_reply_json(c->req, 200, json_pack("{s:s,s:I}", "name", c->name, "sessions_ended",
		    (json_int_t)ended));
	free(c);
}

void
api_users_logout(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	if (strcmp(p[0], AUTH_TOKEN_USER) == 0) {
		/* Every token session, of every organization: the platform's. */
		if (who->kind != PRINCIPAL_ADMIN && !who->platform_admin) {
			http_reply_error(req, 403, "forbidden", NULL,
			    "ending every token session needs the permission %s", authz_perm_name(PERM_PLATFORM));
			return;
		}
	} else if (!manageable(app, req, who, p[0])) {
		return;
	}
	http_defer(req);
	auth_user_logout(app->auth, p[0], logged_out, call_new(app, req, who, p[0]));
}

/* --- PUT /v1/auth/password: a user sets their own --- */

_Static_assert(API_OTP_CHARS + 1 == sodium_base64_ENCODED_LEN(API_OTP_BYTES,
    sodium_base64_VARIANT_URLSAFE_NO_PADDING), "one-time password length");

struct own_change {
	struct app *app;
	struct http_request *req;
	char user[AUTH_NAME_MAX + 1];
	char *next;                 /* the new password until it is handed to auth; wiped */
	bool cookie;                /* logged in by cookie: clear it in the answer */
};

static void
own_free(struct own_change *o)
{
	if (o->next) {
		sodium_memzero(o->next, strlen(o->next));
		free(o->next);
	}
	free(o);
}

/* Stored: every session of the user ended, this one too. */
static void
own_set(void *arg, enum auth_result r, int64_t ended)
{
	struct own_change *o = arg;

	if (r == AUTH_OK) {
		api_user_must_change_set(o->app, o->user, false);
		http_reply_raw(o->req, 204, "application/json", "", 0);
		if (o->cookie) {
			char *clear = auth_cookie_clear(o->app->cookie_secure);
			http_reply_header(o->req, "Set-Cookie", clear);
			free(clear);
		}
	} else if (r == AUTH_BUSY) {
		http_reply_error(o->req, 503, "busy", NULL, "too many password operations at once; retry");
	} else if (r == AUTH_NOT_FOUND) {
		http_reply_error(o->req, 404, "not_found", NULL, "no user '%s'", o->user);
	} else {
		api_store_error(o->req);
	}
	own_free(o);
}

/* The current password checked (the limits of a login): set the new one. */
static void
own_verified(void *arg, enum auth_result r, const struct auth_session *s, const char *token)
{
	struct own_change *o = arg;

	switch (r) {
	case AUTH_OK:
		auth_user_password(o->app->auth, o->user, o->next, false, own_set, o);
		sodium_memzero(o->next, strlen(o->next));  /* auth keeps its own copy */
		free(o->next);
		o->next = NULL;
		return;
	case AUTH_REFUSED:
		http_reply_error(o->req, 401, "invalid_credentials", "current", "the current password is wrong");
		break;
	case AUTH_LIMITED:
		api_too_many(o->req, 1000);
		break;
	case AUTH_BUSY:
		http_reply_error(o->req, 503, "busy", NULL, "too many logins at once; retry");
		break;
	default:
		http_reply_error(o->req, 500, "internal", NULL, "could not check the password");
		break;
	}
	own_free(o);
}

void
api_auth_password(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	json_t *body, *v;
	const char *key, *current, *next;
	const char *client = http_client_addr(req);
	int64_t wait;

	if (who->kind != PRINCIPAL_USER) {
		http_reply_error(req, 403, "forbidden", NULL, "only a user has a password to change");
		return;
	}
	if ((body = api_body_object(req)) == NULL)
		return;
	json_object_foreach(body, key, v) {
		if (strcmp(key, "current") != 0 && strcmp(key, "new") != 0) {
			http_reply_error(req, 422, "validation_failed", key, "unknown field '%.64s'", key);
			goto out;
		}
	}
	current = api_plain_str(body, "current");
	next = api_plain_str(body, "new");
	if (current == NULL) {
		http_reply_error(req, 422, "validation_failed", "current", "current: the password you have now");
	} else if (!auth_password_valid(next)) {
		http_reply_error(req, 422, "validation_failed", "new", "new: a string of %d to %d bytes",
		    AUTH_PASSWORD_MIN, AUTH_PASSWORD_MAX);
	} else if (strcmp(current, next) == 0) {
		http_reply_error(req, 422, "validation_failed", "new",
		    "the new password must differ from the current one");
	} else if ((wait = auth_throttle_ms(app->auth, client, who->subject)) > 0) {
		api_too_many(req, wait);
	} else {
		struct own_change *o = xcalloc(1, sizeof(*o));
		o->app = app;
		o->req = req;
		o->next = xstrdup(next);
		o->cookie = http_header(req, "Authorization") == NULL;
		snprintf(o->user, sizeof(o->user), "%s", who->subject);
		http_defer(req);
		auth_verify(app->auth, client, who->subject, current, own_verified, o);
	}
out:
	json_decref(body);
}
