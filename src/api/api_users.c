/*
 * api_users.c - /v1/users: the people who can log in to the web UI. List
 * (names and creation times, never hashes), add, remove, change a
 * password, and end every session of one user. Hashing runs off the loop
 * (src/auth); removing a user or changing a password ends the user's
 * sessions at once, in memory and in the store. Any credential holder may
 * call these (roles come later).
 */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../auth/auth.h"
#include "../http/http.h"
#include "../store/store.h"
#include "../util/util.h"

struct user_call {
	struct app *app;
	struct http_request *req;
	char name[AUTH_NAME_MAX + 1];
};

static struct user_call *
call_new(struct app *app, struct http_request *req, const char *name)
{
	struct user_call *c = xcalloc(1, sizeof(*c));

	c->app = app;
	c->req = req;
	snprintf(c->name, sizeof(c->name), "%s", name);
	return c;
}

static json_t *
user_json(json_t *row)
{
	char created[21];

	fmt_rfc3339(json_integer_value(json_object_get(row, "created_at")), created);
	return json_pack("{s:O,s:s}", "name", json_object_get(row, "name"), "created_at", created);
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
	json_t *rows = NULL, *row, *list;
	size_t i;

	if (store_users_list(st, &rows) != 0)
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
	api_read_async(app, req, run_users_list, NULL, NULL);
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
		out->status = 201;
		out->json = user_json(row);
	}
	json_decref(row);
}

static void
created(void *arg, enum auth_result r, int64_t ended)
{
	struct user_call *c = arg;

	if (r != AUTH_OK) {
		reply_failure(c, r);
		free(c);
	} else {
		api_read_async(c->app, c->req, run_created, c, free);
	}
}

void
api_users_create(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	json_t *body = api_body_object(req);
	const char *name, *pw;

	if (body == NULL)
		return;
	name = api_plain_str(body, "name");
	if (json_object_size(body) != 2 || !json_object_get(body, "password")) {
		http_reply_error(req, 422, "validation_failed", "body", "send {\"name\",\"password\"}");
	} else if (!auth_name_valid(name)) {
		http_reply_error(req, 422, "validation_failed", "name",
		    "name: 1 to %d of A-Z a-z 0-9 . _ - (and not '%s')", AUTH_NAME_MAX, AUTH_TOKEN_USER);
	} else if ((pw = password_of(req, body)) != NULL) {
		http_defer(req);
		auth_user_create(app->auth, name, pw, created, call_new(app, req, name));
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

void
api_users_password(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	json_t *body;
	const char *pw;

	if (!auth_name_valid(p[0])) {
		http_reply_error(req, 404, "not_found", NULL, "no user '%.64s'", p[0]);
		return;
	}
	if ((body = api_body_object(req)) == NULL)
		return;
	if (json_object_size(body) != 1) {
		http_reply_error(req, 422, "validation_failed", "body", "send {\"password\"}");
	} else if ((pw = password_of(req, body)) != NULL) {
		http_defer(req);
		auth_user_password(app->auth, p[0], pw, changed, call_new(app, req, p[0]));
	}
	json_decref(body);
}

void
api_users_delete(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	if (!auth_name_valid(p[0])) {
		http_reply_error(req, 404, "not_found", NULL, "no user '%.64s'", p[0]);
		return;
	}
	http_defer(req);
	auth_user_remove(app->auth, p[0], changed, call_new(app, req, p[0]));
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
	if (!auth_name_valid(p[0]) && strcmp(p[0], AUTH_TOKEN_USER) != 0) {
		http_reply_error(req, 404, "not_found", NULL, "no user '%.64s'", p[0]);
		return;
	}
	http_defer(req);
	auth_user_logout(app->auth, p[0], logged_out, call_new(app, req, p[0]));
}
