/*
 * api_session.c - /v1/session: the web UI's login (a user's password or an
 * API token), who-am-I, and logout. The session is an HttpOnly SameSite=Strict
 * cookie; the answer carries the CSRF token the page must send back in
 * X-Msgd-CSRF on every change (see authorized() in api.c). Passwords are
 * verified off the event loop (src/auth).
 */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../auth/auth.h"
#include "../http/http.h"
#include "../util/util.h"

struct login {
	struct app *app;
	struct http_request *req;
};

/* password_change_required: the user must choose a new password before
 * anything else (an invite's one-time password): the router says so. */
static json_t *
session_json(const struct app *app, const struct auth_session *s)
{
	char exp[21];
	fmt_rfc3339(s->expires_ms / 1000, exp);
	return json_pack("{s:s,s:s,s:s,s:b}", "user", s->user, "csrf", s->csrf, "expires_at", exp,
	    "password_change_required", api_user_must_change(app, s->user));
}

static void
login_done(void *arg, enum auth_result r, const struct auth_session *s, const char *token)
{
	struct login *l = arg;

	switch (r) {
	case AUTH_OK: {
		http_reply_json(l->req, 201, session_json(l->app, s));
		char *cookie = auth_cookie_set(s, token, l->app->cookie_secure);
		http_reply_header(l->req, "Set-Cookie", cookie);
		free(cookie);
		break;
	}
	case AUTH_REFUSED:
		http_reply_error(l->req, 401, "invalid_credentials", NULL, "wrong user name or password");
		break;
	case AUTH_BUSY:
		http_reply_error(l->req, 503, "busy", NULL, "too many logins at once; retry");
		break;
	case AUTH_LIMITED:
		api_too_many(l->req, 1000);
		break;
	default:
		http_reply_error(l->req, 500, "internal", NULL, "could not create the session");
		break;
	}
	free(l);
}

void
api_session_create(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	const char *ct = http_header(req, "Content-Type");
	json_t *body;

	/* A cross-site form cannot send JSON without a preflight msgd never
	 * answers: requiring it closes login CSRF. */
	if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0) {
		http_reply_error(req, 415, "unsupported_media_type", NULL, "log in with a JSON body");
		return;
	}
	if ((body = api_body_object(req)) == NULL)
		return;
	const char *user = api_plain_str(body, "user"), *password = api_plain_str(body, "password");
	const char *token = api_plain_str(body, "token");
	size_t nkeys = json_object_size(body);
	const char *client = http_client_addr(req);
	int64_t wait;
	struct login *l = xcalloc(1, sizeof(*l));
	l->app = app;
	l->req = req;
	if (token && nkeys == 1) {
		unsigned char hash[32];
		if ((wait = auth_throttle_ms(app->auth, client, NULL)) > 0) {
			api_too_many(req, wait);
			free(l);
		} else if (!api_token_ok(app, token)) {
			auth_token_failed(app->auth, client);
			http_reply_error(req, 401, "invalid_credentials", NULL, "wrong token");
			free(l);
		} else {
			sha256(token, strlen(token), hash);
			http_defer(req);
			auth_login_token(app->auth, hash, login_done, l);
		}
	} else if (user && password && nkeys == 2) {
		if ((wait = auth_throttle_ms(app->auth, client, user)) > 0) {
			api_too_many(req, wait);
			free(l);
		} else {
			http_defer(req);
			auth_login(app->auth, client, user, password, login_done, l);
		}
	} else {
		http_reply_error(req, 422, "validation_failed", "body",
		    "send {\"user\",\"password\"} or {\"token\"}");
		free(l);
	}
	json_decref(body);
}

void
api_session_get(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	const struct auth_session *s = auth_check_cookie(app->auth, http_header(req, "Cookie"));

	if (s == NULL)
		http_reply_error(req, 401, "unauthorized", NULL, "not logged in");
	else
		http_reply_json(req, 200, session_json(app, s));
}

static void
logout_done(void *arg, int result)
{
	struct login *l = arg;

	if (result != 0) {
		http_reply_error(l->req, 500, "internal", NULL, "the session was closed but not deleted");
	} else {
		http_reply_raw(l->req, 204, "application/json", "", 0);
		char *clear = auth_cookie_clear(l->app->cookie_secure);
		http_reply_header(l->req, "Set-Cookie", clear);
		free(clear);
	}
	free(l);
}

void
api_session_delete(struct app *app, struct http_request *req, const struct principal *who,
    const char *const *p)
{
	const struct auth_session *s = auth_check_cookie(app->auth, http_header(req, "Cookie"));

	if (s == NULL) {
		http_reply_raw(req, 204, "application/json", "", 0);
		char *clear = auth_cookie_clear(app->cookie_secure);
		http_reply_header(req, "Set-Cookie", clear);
		free(clear);
		return;
	}
	if (!auth_csrf_ok(s, http_header(req, AUTH_CSRF_HEADER))) {
		http_reply_error(req, 403, "csrf_failed", NULL, "X-Msgd-CSRF missing or wrong");
		return;
	}
	struct login *l = xcalloc(1, sizeof(*l));
	l->app = app;
	l->req = req;
	http_defer(req);
	auth_logout(app->auth, s, logout_done, l);
}
