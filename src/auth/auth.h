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
 * limits: ~50 ms and 64 MiB per verification). Hashing and verification
 * never run on the event loop: each runs on a thread of its own, at most
 * max_workers at once, which hands its result back through an eventfd
 * registered on the loop, as store.c does. An unknown user costs the same
 * verification (against a dummy hash), so timing does not tell which names
 * exist.
 *
 * Failed attempts never starve correct ones (limit.h has the arithmetic):
 *  - a password login waits in a queue (AUTH_QUEUE_MAX) when every worker
 *    is busy; logins for existing users from client addresses with no
 *    recent failure go first, and a full queue sheds its newest other
 *    login for such a one (AUTH_BUSY, 503) before refusing it;
 *  - a client address has at most AUTH_CLIENT_INFLIGHT_MAX logins running
 *    or waiting (over it: AUTH_LIMITED, 429);
 *  - failures are counted per client address and per user name: after
 *    LIMIT_FREE_FAILURES, each further attempt from that address waits an
 *    exponentially growing time (auth_throttle_ms(): 429 with Retry-After,
 *    nothing verified). A user name's count closes it only for addresses
 *    that failed too, so a flood against "ana" from one address does not
 *    lock ana out from her own. Wrong API tokens count for the address
 *    (auth_token_failed()). Both tables are capped (AUTH_LIMIT_KEYS),
 *    evicting the least recent failure.
 *
 * Sessions live in memory (a hash table keyed by the token's SHA-256) and
 * are loaded from the store at auth_open(). Each remembers a fingerprint of
 * the credential that made it (the admin token or API key of a token
 * login, the password hash of a user's); at load, sessions whose
 * credential is gone (a new MSGD_ADMIN_TOKEN, a changed password, a
 * removed user) are dropped. Changing a password, removing a user and
 * auth_user_logout() end that user's sessions at once. A principal (one
 * user, or one token) has at most AUTH_SESSIONS_PER_PRINCIPAL sessions: a
 * new login evicts its oldest; over AUTH_SESSIONS_MAX in all, the least
 * recently used session is evicted. A login is never refused for room.
 *
 * A session is written to the store before login's done() runs, and
 * deleted from memory at once and from the store before logout's done()
 * runs. The idle clock is kept in memory only and never persisted: after a
 * restart each loaded session starts a fresh idle period, still bounded by
 * its absolute end. Expired sessions are dropped when met, and by a sweep
 * every minute, which also deletes them from the store.
 *
 * Threads: every function runs on the loop thread, except auth_user_add()
 * and auth_user_set_password() (CLI, no loop) and the name/password checks.
 *
 * Rules:
 *  - done() always runs later, on the loop, never inside the call that
 *    took it; exactly once per call that takes one;
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
 *    and the replies auth_close() makes (AUTH_ERROR for work that had not
 *    finished) still go out;
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
#define AUTH_SESSIONS_MAX 16384     /* live sessions in memory; then the least recently used goes */
#define AUTH_SESSIONS_PER_PRINCIPAL 20 /* per user or token; then that one's oldest goes */
#define AUTH_QUEUE_MAX 64           /* logins waiting for a worker */
#define AUTH_CLIENT_INFLIGHT_MAX 2  /* logins of one client address running or waiting */
#define AUTH_LIMIT_KEYS 4096        /* addresses, and user names, whose failures are tracked */
#define AUTH_CLIENT_MAX 73          /* a client's limit key: an address, or an IPv6 /64 */
#define AUTH_CRED_HEX 32            /* a credential's fingerprint: 16 bytes, hex */
#define AUTH_HASH_MAX 128           /* an argon2id string (crypto_pwhash_STRBYTES) */
#define AUTH_IDLE_MS_DEFAULT (12 * 3600 * 1000LL)
#define AUTH_ABSOLUTE_MS_DEFAULT (7 * 24 * 3600 * 1000LL)
#define AUTH_WORKERS_DEFAULT 4

struct auth_session {
	char user[AUTH_NAME_MAX + 1];    /* a user's name, or AUTH_TOKEN_USER */
	char csrf[AUTH_TOKEN_HEX + 1];   /* for the page; compare with auth_csrf_ok() */
	char cred[AUTH_CRED_HEX + 1];   /* token logins: which token (auth_token_cred()) */
	int64_t created_ms;
	int64_t expires_ms;              /* absolute end */
	int64_t last_used_ms;            /* refused from last_used_ms + idle timeout on */
};

enum auth_result {
	AUTH_OK,
	AUTH_REFUSED,   /* unknown user, wrong password, invalid name or password: 401 */
	AUTH_BUSY,      /* the login queue is full: 503 */
	AUTH_ERROR,     /* storage failure, or shutting down: 500 */
	AUTH_LIMITED,   /* this client has too many logins in flight: 429 */
	AUTH_CONFLICT,  /* user add: the name exists: 409 */
	AUTH_NOT_FOUND, /* no such user: 404 */
};

/* s and token (AUTH_TOKEN_HEX chars) are non-NULL only with AUTH_OK. */
typedef void (*auth_login_fn)(void *arg, enum auth_result r, const struct auth_session *s,
    const char *token);
/* result: 0 deleted durably, -1 storage failure (the session is gone from
 * memory either way, so it is refused from now on). */
typedef void (*auth_logout_fn)(void *arg, int result);
/* The users calls: r, and the sessions they ended. */
typedef void (*auth_user_fn)(void *arg, enum auth_result r, int64_t sessions_ended);

struct auth_config {
	int64_t idle_ms;              /* 0: AUTH_IDLE_MS_DEFAULT */
	int64_t absolute_ms;          /* 0: AUTH_ABSOLUTE_MS_DEFAULT */
	int max_workers;              /* 0: AUTH_WORKERS_DEFAULT */
	int64_t (*clock_ms)(void);    /* NULL: now_ms(); tests move time with it */
	int64_t (*mono_clock_ms)(void); /* NULL: mono_ms(): login limits, immune to
	                                   wall-clock jumps (sessions expire by the calendar) */
	/* SHA-256 of every token valid now (admin token, API keys): stored token
	 * sessions made with another are dropped at load. */
	const unsigned char (*token_hashes)[32];
	size_t ntoken_hashes;
};

/* Load live sessions from st, register on base (which MUST outlive the
 * auth); cfg may be NULL (defaults). */
int auth_open(struct auth **out, struct event_base *base, struct store *st,
    const struct auth_config *cfg);
/* See the shutdown order above. Joins running verifications; logins not
 * finished get done(AUTH_ERROR). NULL is fine. */
void auth_close(struct auth *a);

/* How long (ms) client (an address, or NULL) must wait before trying
 * user's password (user NULL: a token); 0: it may try now. */
int64_t auth_throttle_ms(struct auth *a, const char *client, const char *user);
/* A wrong token came from client: counts like a failed login. */
void auth_token_failed(struct auth *a, const char *client);
/* Log in with a user name and password, from client (an address, or "").
 * The caller SHOULD have asked auth_throttle_ms() first. */
void auth_login(struct auth *a, const char *client, const char *user, const char *password,
    auth_login_fn done, void *arg);
/* The same checks and limits as a login, without a session: done() gets
 * AUTH_OK (s and token NULL) when the password is right (access tokens). */
void auth_verify(struct auth *a, const char *client, const char *user, const char *password,
    auth_login_fn done, void *arg);
/* Log in as AUTH_TOKEN_USER with the token whose SHA-256 is token_hash:
 * the caller MUST have checked the token (api_token_ok()). */
void auth_login_token(struct auth *a, const unsigned char token_hash[32], auth_login_fn done,
    void *arg);
/* Forget s at once; done() after the store deleted it. */
void auth_logout(struct auth *a, const struct auth_session *s, auth_logout_fn done, void *arg);

/* The live session named by a Cookie header's msgd_session (several
 * cookies, and several msgd_session values, are fine), or NULL. Refreshes
 * its idle clock. */
const struct auth_session *auth_check_cookie(struct auth *a, const char *cookie_header);
/* The fingerprint a token login's session keeps of its token (its SHA-256
 * token_hash): compare with a session's cred to tell which token made it. */
void auth_token_cred(const unsigned char token_hash[32], char out[AUTH_CRED_HEX + 1]);
/* Does the X-Msgd-CSRF value match s's CSRF token (constant time)? */
bool auth_csrf_ok(const struct auth_session *s, const char *header_value);
/* Another instance changed sessions or users: sessions gone from the
 * store end here, sessions made there start here (cfg as auth_open's). */
void auth_sessions_reload(struct auth *a, const struct auth_config *cfg);
/* Drop expired sessions (memory and store). The loop does it every minute. */
void auth_sweep(struct auth *a);
/* Live sessions in memory. */
size_t auth_session_count(struct auth *a);

/* Set-Cookie values (free() them): the session cookie, and its deletion.
 * secure: the public URL is https (adds "; Secure"). */
char *auth_cookie_set(const struct auth_session *s, const char *token, bool secure);
char *auth_cookie_clear(bool secure);

/* Users, through the running daemon (the admin API). Each done() gets:
 * create: OK, CONFLICT, REFUSED (invalid name or password), BUSY, ERROR;
 * password: OK, NOT_FOUND, REFUSED, BUSY, ERROR (the user's sessions end);
 * remove: OK, NOT_FOUND, ERROR (the user's sessions end);
 * logout: OK, NOT_FOUND, ERROR: every session of name ends (name may be
 * AUTH_TOKEN_USER: every token session). Hashing runs on a worker. */
/* create: the user gets role (NULL: none) in organization org_id. must_change:
 * the user must choose a new password before anything else (stored with
 * the user; false clears it on a new password). */
void auth_user_create(struct auth *a, const char *name, const char *password, bool must_change,
    int64_t org_id, const char *role, auth_user_fn done, void *arg);
void auth_user_password(struct auth *a, const char *name, const char *password, bool must_change,
    auth_user_fn done, void *arg);
void auth_user_remove(struct auth *a, const char *name, auth_user_fn done, void *arg);
void auth_user_logout(struct auth *a, const char *name, auth_user_fn done, void *arg);

/* 1..AUTH_NAME_MAX of [A-Za-z0-9._-], and not AUTH_TOKEN_USER. */
bool auth_name_valid(const char *name);
/* AUTH_PASSWORD_MIN..AUTH_PASSWORD_MAX bytes. */
bool auth_password_valid(const char *password);
/* Hash the password and store a new user, synchronously (CLI and start-up
 * only: it takes ~50 ms and uses store_submit_wait()). On failure err says
 * why, for a person ("user 'ana' exists"). */
int auth_user_add(struct store *st, const char *name, const char *password, char *err,
    size_t errlen);
/* The same for a new password of an existing user (its sessions end). */
int auth_user_set_password(struct store *st, const char *name, const char *password, char *err,
    size_t errlen);

#endif
