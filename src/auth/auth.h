/*
 * auth.h - browser login: users with a password, and cookie sessions.
 *
 * A person logs in with a user name and password (users are added by
 * `msgd users add NAME`), or with an API/admin token the caller has already
 * checked. Either way they get a session:
 *  - a cookie token: 32 random bytes, hex, sent to the browser once
 *    (Set-Cookie: msgd_session=...; HttpOnly; SameSite=Strict); msgd keeps
 *    only its SHA-256, in memory and in the store;
 *  - a CSRF token: 32 other random bytes, hex, given to the page in the
 *    login reply (and GET /v1/session); an unsafe request (POST, PUT, PATCH,
 *    DELETE) authenticated by the cookie MUST carry it in X-Msgd-CSRF;
 *  - an idle timeout (default 12 h) and an absolute end (default 7 days).
 *
 * Passwords are argon2id strings from libsodium (crypto_pwhash, interactive
 * limits: ~50 ms and 64 MiB per verification). A verification never runs
 * on the event loop: each login gets a thread of its own, at most
 * max_workers at once (a login over the cap is answered AUTH_BUSY at once),
 * which hands its result back through an eventfd registered on the loop,
 * as store.c does. An unknown user costs the same verification (against a
 * dummy hash), so timing does not tell which names exist.
 *
 * Sessions live in memory (a hash table keyed by the token's SHA-256) and
 * are loaded from the store at auth_open(). A session is written to the
 * store before login's done() runs, and deleted from memory at once and
 * from the store before logout's done() runs. The idle clock is kept in
 * memory only and never persisted: after a restart each loaded session
 * starts a fresh idle period, still bounded by its absolute end. Expired
 * sessions are dropped when met, and by a sweep every minute (and at each
 * login), which also deletes them from the store.
 *
 * Threads: every function runs on the loop thread, except auth_user_add()
 * (CLI, no loop) and the name/password checks.
 *
 * Rules:
 *  - done() always runs later, on the loop, never inside the call that
 *    took it; exactly once per auth_login()/auth_login_token()/
 *    auth_logout();
 *  - the session and token passed to a login's done() are valid only
 *    during that call; the token is never kept: copy it into the
 *    Set-Cookie header there (auth_cookie_set());
 *  - a session returned by auth_check_cookie() is valid until the caller
 *    returns to the loop or calls another auth function, whichever comes
 *    first; it MUST NOT be used after auth_logout() took it;
 *  - the caller owns the strings it passes and may free them as soon as
 *    the call returns (auth copies the password, and wipes its copy);
 *  - shutdown order: store_close(), then auth_close(), then http_flush():
 *    the store's last done() callbacks still finish logins and logouts,
 *    and the replies auth_close() makes (AUTH_ERROR for verifications
 *    that had not finished their session) still go out;
 *  - tokens, CSRF tokens and passwords MUST NOT be logged.
 */
#ifndef MSGD_AUTH_H
#define MSGD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct auth;
struct event_base;
struct store;

#define AUTH_COOKIE_NAME "msgd_session"
#define AUTH_CSRF_HEADER "X-Msgd-CSRF"
#define AUTH_NAME_MAX 64            /* user names: 1..64 of [A-Za-z0-9._-] */
#define AUTH_PASSWORD_MIN 8         /* bytes */
#define AUTH_PASSWORD_MAX 1024
#define AUTH_TOKEN_HEX 64           /* 32 random bytes, lower-case hex */
#define AUTH_TOKEN_USER "token"     /* the user of token logins; reserved */
#define AUTH_SESSIONS_MAX 4096      /* live sessions in memory */
#define AUTH_IDLE_MS_DEFAULT (12 * 3600 * 1000LL)
#define AUTH_ABSOLUTE_MS_DEFAULT (7 * 24 * 3600 * 1000LL)
#define AUTH_WORKERS_DEFAULT 4

struct auth_session {
	char user[AUTH_NAME_MAX + 1];    /* a user's name, or AUTH_TOKEN_USER */
	char csrf[AUTH_TOKEN_HEX + 1];   /* for the page; compare with auth_csrf_ok() */
	int64_t created_ms;
	int64_t expires_ms;              /* absolute end */
	int64_t last_used_ms;            /* refused from last_used_ms + idle timeout on */
};

enum auth_result {
	AUTH_OK,
	AUTH_REFUSED,   /* unknown user, wrong password, invalid name or password: 401 */
	AUTH_BUSY,      /* too many verifications running, or too many sessions: 503 */
	AUTH_ERROR,     /* storage failure, or shutting down: 500 */
};

/* s and token (AUTH_TOKEN_HEX chars) are non-NULL only with AUTH_OK. */
typedef void (*auth_login_fn)(void *arg, enum auth_result r, const struct auth_session *s,
    const char *token);
/* result: 0 deleted durably, -1 storage failure (the session is gone from
 * memory either way, so it is refused from now on). */
typedef void (*auth_logout_fn)(void *arg, int result);

struct auth_config {
	int64_t idle_ms;              /* 0: AUTH_IDLE_MS_DEFAULT */
	int64_t absolute_ms;          /* 0: AUTH_ABSOLUTE_MS_DEFAULT */
	int max_workers;              /* 0: AUTH_WORKERS_DEFAULT */
	int64_t (*clock_ms)(void);    /* NULL: now_ms(); tests move time with it */
};

/* Load live sessions from st, register on base (which MUST outlive the
 * auth); cfg may be NULL (defaults). */
int auth_open(struct auth **out, struct event_base *base, struct store *st,
    const struct auth_config *cfg);
/* See the shutdown order above. Joins running verifications; logins not
 * finished get done(AUTH_ERROR). NULL is fine. */
void auth_close(struct auth *a);

/* Log in with a user name and password. */
void auth_login(struct auth *a, const char *user, const char *password, auth_login_fn done,
    void *arg);
/* Log in as AUTH_TOKEN_USER: the caller MUST have checked the bearer token
 * (api.c's authorized()). */
void auth_login_token(struct auth *a, auth_login_fn done, void *arg);
/* Forget s at once; done() after the store deleted it. */
void auth_logout(struct auth *a, const struct auth_session *s, auth_logout_fn done, void *arg);

/* The live session named by a Cookie header's msgd_session (several
 * cookies, and several msgd_session values, are fine), or NULL. Refreshes
 * its idle clock. */
const struct auth_session *auth_check_cookie(struct auth *a, const char *cookie_header);
/* Does the X-Msgd-CSRF value match s's CSRF token (constant time)? */
bool auth_csrf_ok(const struct auth_session *s, const char *header_value);
/* Drop expired sessions (memory and store). The loop does it every minute. */
void auth_sweep(struct auth *a);
/* Live sessions in memory. */
size_t auth_session_count(struct auth *a);

/* Set-Cookie values (free() them): the session cookie, and its deletion.
 * secure: the public URL is https (adds "; Secure"). */
char *auth_cookie_set(const struct auth_session *s, const char *token, bool secure);
char *auth_cookie_clear(bool secure);

/* 1..AUTH_NAME_MAX of [A-Za-z0-9._-], and not AUTH_TOKEN_USER. */
bool auth_name_valid(const char *name);
/* AUTH_PASSWORD_MIN..AUTH_PASSWORD_MAX bytes. */
bool auth_password_valid(const char *password);
/* Hash the password and store a new user, synchronously (CLI and start-up
 * only: it takes ~50 ms and uses store_submit_wait()). On failure err says
 * why, for a person ("user 'ana' exists"). */
int auth_user_add(struct store *st, const char *name, const char *password, char *err,
    size_t errlen);

#endif
