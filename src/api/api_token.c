/*
 * api_token.c - access tokens: POST /v1/auth/token exchanges a user's
 * name and password, or an API key, for a JWT (src/token/token.h) valid
 * TOKEN_TTL_S (15 min), accepted as `Authorization: Bearer` like a key.
 *
 * Signing keys live in the store (shared by every instance); the newest
 * signs, and a new one is made when the newest is API_TOKEN_ROTATE_S old
 * (checked at start and with the keys' flush timer). Keys stay long enough
 * to verify every token they signed, then are purged.
 *
 * A token carries its principal, but what it may do is decided again at
 * each request from what holds now: a user's current role in the token's
 * organization, a key's current scopes (a revoked key's tokens are refused
 * at once, a removed member's too).
 */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "../http/http.h"
#include "../log/log.h"
#include "../store/store.h"
#include "../token/token.h"
#include "../util/util.h"

#define API_TOKEN_ISS "msgd"
#define API_TOKEN_AUD "msgd-api"
#define API_TOKEN_ROTATE_S (24 * 3600)
/* Kept after a newer one signs: every token it signed has expired by then. */
#define API_TOKEN_KEEP_S (API_TOKEN_ROTATE_S + TOKEN_TTL_MAX_S + TOKEN_SKEW_S)

void
api_tokens_apply(struct app *app, const json_t *rows)
{
	size_t i, n = 0;
	json_t *row;
	struct token_key *v = xcalloc(json_array_size(rows) + 1, sizeof(*v));
	int64_t newest = 0;

	json_array_foreach(rows, i, row) {
		const char *kid = json_string_value(json_object_get(row, "kid"));
		const char *hex = json_string_value(json_object_get(row, "secret"));
		if (kid == NULL || strlen(kid) > TOKEN_KID_MAX || hex == NULL ||
		    hex_decode(hex, strlen(hex), v[n].secret, TOKEN_SECRET_LEN) != 0) {
			log_error("stored signing key is malformed; ignored");
			continue;
		}
		snprintf(v[n].kid, sizeof(v[n].kid), "%s", kid);
		if (n == 0)
			newest = json_integer_value(json_object_get(row, "created_at"));
		n++;
	}
	if (app->tkeys)
		sodium_memzero(app->tkeys, app->ntkeys * sizeof(*app->tkeys));
	free(app->tkeys);
	app->tkeys = v;
	app->ntkeys = n;
	app->tkey_created = newest;
}

/* The op making a new signing key (synchronously at start, else not). */
struct rotation {
	struct store_op op;
	struct app *app;
	char kid[TOKEN_KID_MAX + 1];
	char hex[2 * TOKEN_SECRET_LEN + 1];
};

static void
rotation_fill(struct rotation *r)
{
	struct token_key k;
	int64_t now = now_ms() / 1000;

	token_key_new(&k);
	snprintf(r->kid, sizeof(r->kid), "%s", k.kid);
	hex_encode(k.secret, TOKEN_SECRET_LEN, r->hex);
	sodium_memzero(&k, sizeof(k));
	r->op = (struct store_op){
		.kind = STORE_OP_SIGNING_KEY_PUT,
		.u.signing_key = { .kid = r->kid, .secret_hex = r->hex, .created_at = now,
			.purge_before = now - API_TOKEN_KEEP_S },
	};
}

static void
rotation_free(struct rotation *r)
{
	sodium_memzero(r->hex, sizeof(r->hex));
	free(r);
}

static int
tokens_reload(struct app *app)
{
	json_t *rows = NULL;

	if (store_signing_keys_load(app->store, &rows) != 0)
		return -1;
	api_tokens_apply(app, rows);
	json_decref(rows);
	return 0;
}

int
api_tokens_load(struct app *app)
{
	if (tokens_reload(app) != 0)
		return -1;
	if (app->ntkeys > 0 && app->tkey_created > now_ms() / 1000 - API_TOKEN_ROTATE_S)
		return 0;
	struct rotation *r = xcalloc(1, sizeof(*r));
	rotation_fill(r);
	int rc = store_submit_wait(app->store, &r->op);
	if (rc != 0)
		log_error("cannot store a new signing key for access tokens", "error", r->op.errmsg);
	rotation_free(r);
	log_info("access tokens: a new signing key");
	return rc == 0 ? tokens_reload(app) : -1;
}

static void
rotated(struct store_op *op, void *arg)
{
	struct rotation *r = arg;

	r->app->tkey_rotating = false;
	if (op->result != 0)
		log_error("cannot store a new signing key for access tokens", "error", op->errmsg);
	else
		api_follow(r->app, STORE_CHANGE_KEYS);  /* read them again, this one first */
	rotation_free(r);
}

void
api_tokens_rotate_check(struct app *app)
{
	if (app->store == NULL || app->tkey_rotating ||
	    app->tkey_created > now_ms() / 1000 - API_TOKEN_ROTATE_S)
		return;
	struct rotation *r = xcalloc(1, sizeof(*r));
	rotation_fill(r);
	r->app = app;
	r->op.done = rotated;
	r->op.arg = r;
	app->tkey_rotating = true;
	log_info("access tokens: rotating the signing key");
	store_submit(app->store, &r->op);
}

void
api_tokens_free(struct app *app)
{
	if (app->tkeys)
		sodium_memzero(app->tkeys, app->ntkeys * sizeof(*app->tkeys));
	free(app->tkeys);
	app->tkeys = NULL;
	app->ntkeys = 0;
}

/* --- verifying --- */

int
api_principal_of_jwt(struct app *app, struct http_request *req, const char *jwt,
    struct principal *who)
{
	struct token_claims c;
	enum token_error e = token_verify(app->tkeys, app->ntkeys, jwt, now_ms() / 1000,
	    API_TOKEN_ISS, API_TOKEN_AUD, &c);
	const struct api_org *o;
	const char *asked = api_org_asked(req);

	if (e != TOKEN_OK) {
		if (app->auth)
			auth_token_failed(app->auth, http_client_addr(req));
		http_reply_error(req, 401, "unauthorized", NULL, "invalid access token: %s",
		    token_error_message(e));
		return -1;
	}
	if ((o = api_org_by_id(app, c.org_id)) == NULL || strcmp(o->name, c.org) != 0) {
		http_reply_error(req, 401, "unauthorized", NULL, "the token's organization is gone");
		return -1;
	}
	if (asked && strcmp(asked, o->name) != 0) {
		/* A token acts in its own organization only. */
		http_reply_error(req, 404, "not_found", ORG_HEADER, "no organization named '%.64s'", asked);
		return -1;
	}
	if (c.kind == TOKEN_KIND_KEY) {
		int64_t id = 0;
		if (strncmp(c.sub, "key:", 4) != 0 || parse_i64(c.sub + 4, &id) != 0)
			id = -1;
		for (size_t i = 0; i < app->nkeys; i++)
			if (app->keys[i].id == id && app->keys[i].org_id == c.org_id)
				return api_key_principal(app, req, i, who);
		http_reply_error(req, 401, "unauthorized", NULL, "the token's API key was revoked");
		return -1;
	}
	if (!api_user_known(app, c.sub)) {
		http_reply_error(req, 401, "unauthorized", NULL, "the token's user is gone");
		return -1;
	}
	return api_user_principal(app, req, c.sub, o, who);
}

/* --- POST /v1/auth/token --- */

struct token_call {
	struct app *app;
	struct http_request *req;
	char user[AUTH_NAME_MAX + 1];
};

static void
reply_token(struct app *app, struct http_request *req, const struct principal *who)
{
	struct token_claims c = { .org_id = who->org_id, .platform_admin = who->platform_admin };
	char jwt[TOKEN_MAX + 1];

	if (app->ntkeys == 0) {
		http_reply_error(req, 503, "unavailable", NULL, "no signing key yet; retry");
		return;
	}
	snprintf(c.iss, sizeof(c.iss), "%s", API_TOKEN_ISS);
	snprintf(c.aud, sizeof(c.aud), "%s", API_TOKEN_AUD);
	snprintf(c.sub, sizeof(c.sub), "%s", who->subject);
	snprintf(c.org, sizeof(c.org), "%s", who->org);
	c.kind = who->kind == PRINCIPAL_KEY ? TOKEN_KIND_KEY : TOKEN_KIND_USER;
	/* Informational (the role is decided again at each request); a user
	 * claim needs a word: a platform admin without a membership here acts
	 * as an owner. */
	snprintf(c.role, sizeof(c.role), "%s", who->role != ROLE_NONE ? authz_role_name(who->role) :
	    who->kind != PRINCIPAL_USER ? "" : who->platform_admin ? "owner" : "none");
	c.scopes = who->scopes;
	if (token_sign(&app->tkeys[0], &c, now_ms() / 1000, TOKEN_TTL_S, jwt, sizeof(jwt)) != 0) {
		http_reply_error(req, 500, "internal", NULL, "could not sign the token");
		return;
	}
	json_t *j = json_pack("{s:s, s:s, s:i, s:o}", "access_token", jwt, "token_type", "Bearer",
	    "expires_in", TOKEN_TTL_S, "principal", api_principal_json(who));
	sodium_memzero(jwt, sizeof(jwt));
	http_reply_json(req, 200, j);
}

static void
verified(void *arg, enum auth_result r, const struct auth_session *s, const char *token)
{
	struct token_call *t = arg;
	struct principal who;

	switch (r) {
	case AUTH_OK:
		if (api_user_principal(t->app, t->req, t->user, NULL, &who) == 0) {
			if (who.role == ROLE_NONE && !who.platform_admin)
				http_reply_error(t->req, 403, "forbidden", NULL,
				    "you have no role in organization '%s'", who.org);
			else
				reply_token(t->app, t->req, &who);
		}
		break;
	case AUTH_REFUSED:
		http_reply_error(t->req, 401, "invalid_credentials", NULL, "wrong user name or password");
		break;
	case AUTH_LIMITED:
		api_too_many(t->req, 1000);
		break;
	case AUTH_BUSY:
		http_reply_error(t->req, 503, "busy", NULL, "too many logins at once; retry");
		break;
	default:
		http_reply_error(t->req, 500, "internal", NULL, "could not check the password");
		break;
	}
	free(t);
}

void
api_auth_token(struct app *app, struct http_request *req, const struct principal *unused,
    const char *const *p)
{
	json_t *body = api_body_object(req);
	const char *client = http_client_addr(req);
	int64_t wait;

	if (body == NULL)
		return;
	const char *user = api_plain_str(body, "user"), *password = api_plain_str(body, "password");
	const char *key = api_plain_str(body, "key");
	size_t n = json_object_size(body);
	if (key && n == 1) {
		size_t k = 0;
		struct principal who;
		if ((wait = auth_throttle_ms(app->auth, client, NULL)) > 0) {
			api_too_many(req, wait);
		} else if (strncmp(key, "msgd_", 5) != 0 || api_token_match(app, key, &k) != TOKEN_MATCH_KEY) {
			auth_token_failed(app->auth, client);
			http_reply_error(req, 401, "invalid_credentials", NULL, "wrong API key");
		} else if (api_key_principal(app, req, k, &who) == 0) {
			reply_token(app, req, &who);
		}
	} else if (user && password && n == 2) {
		if ((wait = auth_throttle_ms(app->auth, client, user)) > 0) {
			api_too_many(req, wait);
		} else {
			struct token_call *t = xcalloc(1, sizeof(*t));
			t->app = app;
			t->req = req;
			snprintf(t->user, sizeof(t->user), "%s", user);
			http_defer(req);
			auth_verify(app->auth, client, user, password, verified, t);
		}
	} else {
		http_reply_error(req, 422, "validation_failed", "body",
		    "send {\"user\",\"password\"} or {\"key\"}");
	}
	json_decref(body);
}
