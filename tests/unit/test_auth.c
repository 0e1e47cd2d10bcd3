/*
 * test_auth.c - users, password logins through verification threads and a
 * real libevent loop, cookie sessions (logout, idle and absolute expiry on
 * a test clock, reload from the store), CSRF, Cookie header parsing and the
 * Set-Cookie attributes. Each test has a fresh store in a temporary
 * directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "auth/auth.h"
#include "auth/limit.h"
#include "store/store.h"
#include "util/util.h"

#define WAIT_MS 20000  /* deadline for the loop to deliver a done() */
#define PASSWORD "correct horse battery"

static int64_t fake_now;
static const unsigned char token_hash[2][32] = { { 1, 2, 3 }, { 4, 5, 6 } };

static int64_t
fake_clock(void)
{
	return fake_now;
}

struct fx {
	char root[64];
	char data[96];
	struct event_base *base;
	struct store *st;
	struct auth *a;
	struct auth_config cfg;
};

/* What a login's done() saw. */
struct res {
	int calls;
	enum auth_result r;
	bool has_session;
	struct auth_session s;
	char token[AUTH_TOKEN_HEX + 1];
};

static void
login_cb(void *arg, enum auth_result r, const struct auth_session *s, const char *token)
{
	struct res *res = arg;

	res->calls++;
	res->r = r;
	res->has_session = s != NULL;
	if (s)
		res->s = *s;
	if (token)
		snprintf(res->token, sizeof(res->token), "%s", token);
}

struct logout_res {
	int calls;
	int result;
};

static void
logout_cb(void *arg, int result)
{
	struct logout_res *res = arg;

	res->calls++;
	res->result = result;
}

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct store_config scfg;

	snprintf(f->root, sizeof(f->root), "/tmp/msgd-test-auth-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->data, sizeof(f->data), "%s/data", f->root);
	scfg = (struct store_config){ .data_dir = f->data };
	f->base = event_base_new();
	assert_non_null(f->base);
	assert_int_equal(store_open(&f->st, &scfg, f->base), 0);
	fake_now = now_ms();
	f->cfg = (struct auth_config){ .clock_ms = fake_clock, .mono_clock_ms = fake_clock,
	    .token_hashes = token_hash,
	    .ntoken_hashes = 1 };
	assert_int_equal(auth_open(&f->a, f->base, f->st, &f->cfg), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	const char *files[] = { "msgd.db", "msgd.db-wal", "msgd.db-shm" };

	store_close(f->st);  /* the shutdown order auth.h asks for */
	auth_close(f->a);
	event_base_free(f->base);
	for (size_t i = 0; i < ARRAY_LEN(files); i++) {
		char *p = xasprintf("%s/%s", f->data, files[i]);
		unlink(p);
		free(p);
	}
	rmdir(f->data);
	rmdir(f->root);
	free(f);
	return 0;
}

/* Run the loop until *calls reaches n, with a deadline (never sleep and hope). */
static void
loop_until(struct fx *f, const int *calls, int n)
{
	int64_t deadline = mono_ms() + WAIT_MS;
	struct timeval tick = { 0, 20 * 1000 };

	while (*calls < n) {
		assert_true(mono_ms() < deadline);
		event_base_loopexit(f->base, &tick);
		event_base_loop(f->base, EVLOOP_ONCE);
	}
}

/* Let the store finish fire-and-forget ops (expired sessions' deletes). */
static void
loop_until_store_idle(struct fx *f)
{
	int64_t deadline = mono_ms() + WAIT_MS;
	struct timeval tick = { 0, 20 * 1000 };

	while (store_pending(f->st) > 0) {
		assert_true(mono_ms() < deadline);
		event_base_loopexit(f->base, &tick);
		event_base_loop(f->base, EVLOOP_ONCE);
	}
}

static void
add_user(struct fx *f, const char *name, const char *password)
{
	char err[256];

	assert_int_equal(auth_user_add(f->st, name, password, err, sizeof(err)), 0);
}

static void
login(struct fx *f, const char *user, const char *password, struct res *res)
{
	memset(res, 0, sizeof(*res));
	auth_login(f->a, "192.0.2.1", user, password, login_cb, res);
	assert_int_equal(res->calls, 0);  /* never inside the call */
	loop_until(f, &res->calls, 1);
	assert_int_equal(res->calls, 1);
}

static char *
cookie_of(const char *token)
{
	return xasprintf("%s=%s", AUTH_COOKIE_NAME, token);
}

static const struct auth_session *
check(struct fx *f, const char *token)
{
	char *c = cookie_of(token);
	const struct auth_session *s = auth_check_cookie(f->a, c);

	free(c);
	return s;
}

/* --- users --- */

static void
test_user_add(void **state)
{
	struct fx *f = *state;
	char err[256];
	json_t *u = NULL;

	add_user(f, "ana", PASSWORD);
	assert_int_equal(store_user_get(f->st, "ana", &u), 0);
	assert_non_null(u);
	const char *h = json_string_value(json_object_get(u, "password_hash"));
	assert_non_null(h);
	assert_true(strncmp(h, "$argon2id$", 10) == 0);
	assert_null(strstr(h, PASSWORD));
	json_decref(u);

	assert_int_equal(auth_user_add(f->st, "ana", "another password", err, sizeof(err)), -1);
	assert_string_equal(err, "user 'ana' exists");

	assert_int_equal(store_user_get(f->st, "bob", &u), 0);
	assert_null(u);
}

static void
test_user_validation(void **state)
{
	struct fx *f = *state;
	char err[256], name[AUTH_NAME_MAX + 2], pw[AUTH_PASSWORD_MAX + 2];

	assert_true(auth_name_valid("A.b_c-9"));
	assert_false(auth_name_valid(""));
	assert_false(auth_name_valid(NULL));
	assert_false(auth_name_valid("a b"));
	assert_false(auth_name_valid("a/b"));
	assert_false(auth_name_valid("ä"));
	assert_false(auth_name_valid(AUTH_TOKEN_USER));  /* reserved for token logins */
	memset(name, 'n', AUTH_NAME_MAX);
	name[AUTH_NAME_MAX] = '\0';
	assert_true(auth_name_valid(name));
	name[AUTH_NAME_MAX] = 'n';
	name[AUTH_NAME_MAX + 1] = '\0';
	assert_false(auth_name_valid(name));

	assert_false(auth_password_valid("1234567"));
	assert_true(auth_password_valid("12345678"));
	assert_false(auth_password_valid(NULL));
	memset(pw, 'p', AUTH_PASSWORD_MAX);
	pw[AUTH_PASSWORD_MAX] = '\0';
	assert_true(auth_password_valid(pw));
	pw[AUTH_PASSWORD_MAX] = 'p';
	pw[AUTH_PASSWORD_MAX + 1] = '\0';
	assert_false(auth_password_valid(pw));

	assert_int_equal(auth_user_add(f->st, "bad name", PASSWORD, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid user name"));
	assert_int_equal(auth_user_add(f->st, "ana", "short", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "password"));
}

/* --- logins --- */

static void
test_login_password(void **state)
{
	struct fx *f = *state;
	struct res res;

	add_user(f, "ana", PASSWORD);

	login(f, "ana", PASSWORD, &res);
	assert_int_equal(res.r, AUTH_OK);
	assert_true(res.has_session);
	assert_string_equal(res.s.user, "ana");
	assert_int_equal(strlen(res.token), AUTH_TOKEN_HEX);
	assert_int_equal(strlen(res.s.csrf), AUTH_TOKEN_HEX);
	assert_string_not_equal(res.token, res.s.csrf);
	assert_int_equal(res.s.created_ms, fake_now);
	assert_int_equal(res.s.expires_ms, fake_now + AUTH_ABSOLUTE_MS_DEFAULT);
	assert_int_equal(auth_session_count(f->a), 1);

	const struct auth_session *s = check(f, res.token);
	assert_non_null(s);
	assert_string_equal(s->user, "ana");
	assert_string_equal(s->csrf, res.s.csrf);

	/* Only the hash is stored: the token is nowhere in the session rows. */
	json_t *rows = NULL;
	assert_int_equal(store_sessions_load(f->st, fake_now / 1000, &rows), 0);
	assert_int_equal(json_array_size(rows), 1);
	const char *th = json_string_value(json_object_get(json_array_get(rows, 0), "token_hash"));
	assert_non_null(th);
	assert_int_equal(strlen(th), 64);
	assert_string_not_equal(th, res.token);
	json_decref(rows);

	/* A second login is a second session. */
	struct res res2;
	login(f, "ana", PASSWORD, &res2);
	assert_int_equal(res2.r, AUTH_OK);
	assert_string_not_equal(res2.token, res.token);
	assert_int_equal(auth_session_count(f->a), 2);
}

static void
test_login_refused(void **state)
{
	struct fx *f = *state;
	struct res res;

	add_user(f, "ana", PASSWORD);
	login(f, "ana", "wrong password", &res);
	assert_int_equal(res.r, AUTH_REFUSED);
	assert_false(res.has_session);
	login(f, "nobody", PASSWORD, &res);  /* unknown user: a dummy verification */
	assert_int_equal(res.r, AUTH_REFUSED);
	login(f, "bad name", PASSWORD, &res);
	assert_int_equal(res.r, AUTH_REFUSED);
	login(f, "ana", "short", &res);
	assert_int_equal(res.r, AUTH_REFUSED);
	login(f, AUTH_TOKEN_USER, PASSWORD, &res);
	assert_int_equal(res.r, AUTH_REFUSED);
	assert_int_equal(auth_session_count(f->a), 0);
}

static void
test_login_queue(void **state)
{
	struct fx *f = *state;
	struct res r1 = { 0 }, r2 = { 0 }, r3 = { 0 }, r4 = { 0 };

	/* One worker: the second login waits for it instead of failing. */
	auth_close(f->a);
	f->cfg.max_workers = 1;
	assert_int_equal(auth_open(&f->a, f->base, f->st, &f->cfg), 0);
	add_user(f, "ana", PASSWORD);
	auth_login(f->a, "192.0.2.1", "ana", PASSWORD, login_cb, &r1);
	auth_login(f->a, "192.0.2.2", "ana", PASSWORD, login_cb, &r2);
	assert_int_equal(r1.calls + r2.calls, 0);
	/* A third from the first address: two in flight is its share. */
	auth_login(f->a, "192.0.2.1", "ana", PASSWORD, login_cb, &r3);
	auth_login(f->a, "192.0.2.1", "ana", PASSWORD, login_cb, &r4);
	loop_until(f, &r4.calls, 1);
	assert_int_equal(r4.r, AUTH_LIMITED);
	loop_until(f, &r2.calls, 1);
	loop_until(f, &r3.calls, 1);
	assert_int_equal(r1.r, AUTH_OK);
	assert_int_equal(r2.r, AUTH_OK);
	assert_int_equal(r3.r, AUTH_OK);
}

static void
test_login_priority(void **state)
{
	struct fx *f = *state;
	struct res bad[3], good = { 0 };

	/* One worker busy with a failing client: a clean client's login for a
	 * real user overtakes the failing client's queued one. */
	auth_close(f->a);
	f->cfg.max_workers = 1;
	assert_int_equal(auth_open(&f->a, f->base, f->st, &f->cfg), 0);
	add_user(f, "ana", PASSWORD);
	login(f, "ana", "wrong password", memset(&bad[0], 0, sizeof(bad[0])));
	assert_int_equal(bad[0].r, AUTH_REFUSED);
	auth_login(f->a, "192.0.2.1", "ana", "wrong again", login_cb, memset(&bad[1], 0, sizeof(bad[1])));
	auth_login(f->a, "192.0.2.1", "ana", "and again!", login_cb, memset(&bad[2], 0, sizeof(bad[2])));
	auth_login(f->a, "198.51.100.7", "ana", PASSWORD, login_cb, &good);
	loop_until(f, &good.calls, 1);
	assert_int_equal(good.r, AUTH_OK);
	assert_int_equal(bad[2].calls, 0);  /* still waiting: it was queued first */
	loop_until(f, &bad[2].calls, 1);
	assert_int_equal(bad[2].r, AUTH_REFUSED);
}

static void
test_login_throttle(void **state)
{
	struct fx *f = *state;
	struct res res;

	add_user(f, "ana", PASSWORD);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(auth_throttle_ms(f->a, "192.0.2.1", "ana"), 0);
		login(f, "ana", "wrong password", &res);
		assert_int_equal(res.r, AUTH_REFUSED);
	}
	/* Closed for a second, then for twice as long after the next failure. */
	assert_int_equal(auth_throttle_ms(f->a, "192.0.2.1", "ana"), 1000);
	assert_int_equal(auth_throttle_ms(f->a, "192.0.2.1", NULL), 1000);
	/* The name is closed only to addresses that failed: ana's own is open. */
	assert_int_equal(auth_throttle_ms(f->a, "198.51.100.7", "ana"), 0);
	fake_now += 1000;
	assert_int_equal(auth_throttle_ms(f->a, "192.0.2.1", "ana"), 0);
	login(f, "ana", "wrong password", &res);
	assert_int_equal(auth_throttle_ms(f->a, "192.0.2.1", "ana"), 2000);
	/* Wrong tokens count for the address too. */
	for (int i = 0; i < 5; i++)
		auth_token_failed(f->a, "203.0.113.9");
	assert_int_equal(auth_throttle_ms(f->a, "203.0.113.9", NULL), 1000);
	/* Forgotten after a quiet while. */
	fake_now += LIMIT_FORGET_MS + 2000;
	assert_int_equal(auth_throttle_ms(f->a, "192.0.2.1", "ana"), 0);
}

static void
test_login_token(void **state)
{
	struct fx *f = *state;
	struct res res = { 0 };

	auth_login_token(f->a, token_hash[0], login_cb, &res);
	assert_int_equal(res.calls, 0);
	loop_until(f, &res.calls, 1);
	assert_int_equal(res.r, AUTH_OK);
	assert_string_equal(res.s.user, AUTH_TOKEN_USER);
	const struct auth_session *s = check(f, res.token);
	assert_non_null(s);
	assert_string_equal(s->user, AUTH_TOKEN_USER);
}

/* Close while a verification runs: done() still runs once, with AUTH_ERROR. */
static void
test_close_during_login(void **state)
{
	struct fx *f = *state;
	struct res res = { 0 };

	add_user(f, "ana", PASSWORD);
	auth_login(f->a, "192.0.2.1", "ana", PASSWORD, login_cb, &res);
	store_close(f->st);
	auth_close(f->a);
	assert_int_equal(res.calls, 1);
	assert_int_equal(res.r, AUTH_ERROR);
	/* Reopen so teardown has something to close. */
	struct store_config scfg = { .data_dir = f->data };
	assert_int_equal(store_open(&f->st, &scfg, f->base), 0);
	assert_int_equal(auth_open(&f->a, f->base, f->st, &f->cfg), 0);
	assert_int_equal(auth_session_count(f->a), 0);
}

/* The user's row is read on the store's reader pool: auth_close() while
 * that read is in flight (its done() not yet delivered: the loop has not
 * run) ends the login with AUTH_ERROR, and the read, delivered later,
 * touches nothing freed (the sanitizers watch). */
static void
test_close_during_user_read(void **state)
{
	struct fx *f = *state;
	struct res res = { 0 };

	add_user(f, "ana", PASSWORD);
	auth_login(f->a, "192.0.2.1", "ana", PASSWORD, login_cb, &res);
	assert_int_equal(res.calls, 0);
	auth_close(f->a);
	assert_int_equal(res.calls, 1);
	assert_int_equal(res.r, AUTH_ERROR);
	assert_int_equal(auth_open(&f->a, f->base, f->st, &f->cfg), 0);
	loop_until_store_idle(f);  /* the abandoned read comes back: only freed */
	assert_int_equal(res.calls, 1);
	assert_int_equal(auth_session_count(f->a), 0);
	/* The next login works as ever. */
	struct res ok = { 0 };
	login(f, "ana", PASSWORD, &ok);
	assert_int_equal(ok.r, AUTH_OK);
}

/* --- sessions --- */

static void
test_logout(void **state)
{
	struct fx *f = *state;
	struct res a1, a2;
	struct logout_res lo = { 0 };

	add_user(f, "ana", PASSWORD);
	login(f, "ana", PASSWORD, &a1);
	login(f, "ana", PASSWORD, &a2);
	const struct auth_session *s = check(f, a1.token);
	assert_non_null(s);

	auth_logout(f->a, s, logout_cb, &lo);
	assert_null(check(f, a1.token));  /* refused at once, before the commit */
	assert_int_equal(lo.calls, 0);
	loop_until(f, &lo.calls, 1);
	assert_int_equal(lo.result, 0);
	assert_null(check(f, a1.token));
	assert_non_null(check(f, a2.token));

	/* After a restart: the other session is back, the logged-out one is not. */
	auth_close(f->a);
	assert_int_equal(auth_open(&f->a, f->base, f->st, &f->cfg), 0);
	assert_int_equal(auth_session_count(f->a), 1);
	assert_null(check(f, a1.token));
	const struct auth_session *s2 = check(f, a2.token);
	assert_non_null(s2);
	assert_string_equal(s2->user, "ana");
	assert_string_equal(s2->csrf, a2.s.csrf);
}

static void
test_idle_expiry(void **state)
{
	struct fx *f = *state;
	struct res res;

	add_user(f, "ana", PASSWORD);
	login(f, "ana", PASSWORD, &res);

	/* Each use slides the idle window. */
	for (int i = 0; i < 3; i++) {
		fake_now += AUTH_IDLE_MS_DEFAULT - 1;
		assert_non_null(check(f, res.token));
	}
	fake_now += AUTH_IDLE_MS_DEFAULT;
	assert_null(check(f, res.token));
	assert_int_equal(auth_session_count(f->a), 0);
	loop_until_store_idle(f);

	/* Gone from the store too: a restart does not bring it back. */
	auth_close(f->a);
	assert_int_equal(auth_open(&f->a, f->base, f->st, &f->cfg), 0);
	assert_int_equal(auth_session_count(f->a), 0);
	assert_null(check(f, res.token));
}

static void
test_absolute_expiry(void **state)
{
	struct fx *f = *state;
	struct res res;

	auth_close(f->a);
	f->cfg.idle_ms = 3600 * 1000;
	f->cfg.absolute_ms = 3 * 3600 * 1000;
	assert_int_equal(auth_open(&f->a, f->base, f->st, &f->cfg), 0);
	add_user(f, "ana", PASSWORD);
	login(f, "ana", PASSWORD, &res);
	int64_t start = fake_now;

	/* Used every 50 minutes, it still ends at the absolute limit. */
	while (fake_now + 50 * 60 * 1000 < start + f->cfg.absolute_ms) {
		fake_now += 50 * 60 * 1000;
		assert_non_null(check(f, res.token));
	}
	fake_now = start + f->cfg.absolute_ms;
	assert_null(check(f, res.token));
}

static void
test_sweep(void **state)
{
	struct fx *f = *state;
	struct res r1, r2;

	add_user(f, "ana", PASSWORD);
	login(f, "ana", PASSWORD, &r1);
	fake_now += AUTH_IDLE_MS_DEFAULT / 2;
	login(f, "ana", PASSWORD, &r2);
	fake_now += AUTH_IDLE_MS_DEFAULT / 2;  /* the first is idle exactly 12 h */
	auth_sweep(f->a);
	assert_int_equal(auth_session_count(f->a), 1);
	assert_null(check(f, r1.token));
	assert_non_null(check(f, r2.token));
	loop_until_store_idle(f);

	json_t *rows = NULL;
	assert_int_equal(store_sessions_load(f->st, fake_now / 1000, &rows), 0);
	assert_int_equal(json_array_size(rows), 1);
	json_decref(rows);
}

static void
test_principal_cap(void **state)
{
	struct fx *f = *state;
	struct res r[AUTH_SESSIONS_PER_PRINCIPAL + 2], other;

	for (int i = 0; i < AUTH_SESSIONS_PER_PRINCIPAL + 2; i++) {
		auth_login_token(f->a, token_hash[0], login_cb, memset(&r[i], 0, sizeof(r[i])));
		loop_until(f, &r[i].calls, 1);
		assert_int_equal(r[i].r, AUTH_OK);
		fake_now++;
	}
	auth_login_token(f->a, token_hash[1], login_cb, memset(&other, 0, sizeof(other)));
	loop_until(f, &other.calls, 1);
	assert_int_equal(other.r, AUTH_OK);
	/* The two oldest of the first token went; the newest and the other token's stay. */
	assert_null(check(f, r[0].token));
	assert_null(check(f, r[1].token));
	assert_non_null(check(f, r[2].token));
	assert_non_null(check(f, r[AUTH_SESSIONS_PER_PRINCIPAL + 1].token));
	assert_non_null(check(f, other.token));
	assert_int_equal(auth_session_count(f->a), AUTH_SESSIONS_PER_PRINCIPAL + 1);
}

static void
test_credential_change(void **state)
{
	struct fx *f = *state;
	struct res t0, t1, u;
	char err[256];

	add_user(f, "ana", PASSWORD);
	auth_login_token(f->a, token_hash[0], login_cb, memset(&t0, 0, sizeof(t0)));
	loop_until(f, &t0.calls, 1);
	auth_login_token(f->a, token_hash[1], login_cb, memset(&t1, 0, sizeof(t1)));
	loop_until(f, &t1.calls, 1);
	login(f, "ana", PASSWORD, &u);
	/* A restart with only the second token valid, and ana's password changed. */
	auth_close(f->a);
	assert_int_equal(auth_user_set_password(f->st, "ana", "a new password", err, sizeof(err)), 0);
	f->cfg.token_hashes = &token_hash[1];
	assert_int_equal(auth_open(&f->a, f->base, f->st, &f->cfg), 0);
	assert_null(check(f, t0.token));
	assert_non_null(check(f, t1.token));
	assert_null(check(f, u.token));
	login(f, "ana", "a new password", &u);
	assert_int_equal(u.r, AUTH_OK);
}

struct user_res {
	int calls;
	enum auth_result r;
	int64_t ended;
};

static void
user_cb(void *arg, enum auth_result r, int64_t ended)
{
	struct user_res *res = arg;

	res->calls++;
	res->r = r;
	res->ended = ended;
}

static void
test_user_remove_logout(void **state)
{
	struct fx *f = *state;
	struct res a1, a2, b1, t;
	struct user_res u = { 0 };

	add_user(f, "ana", PASSWORD);
	add_user(f, "bob", PASSWORD);
	login(f, "ana", PASSWORD, &a1);
	login(f, "ana", PASSWORD, &a2);
	login(f, "bob", PASSWORD, &b1);
	auth_login_token(f->a, token_hash[0], login_cb, memset(&t, 0, sizeof(t)));
	loop_until(f, &t.calls, 1);

	auth_user_logout(f->a, "ana", user_cb, &u);
	loop_until(f, &u.calls, 1);
	assert_int_equal(u.r, AUTH_OK);
	assert_int_equal(u.ended, 2);
	assert_null(check(f, a1.token));
	assert_null(check(f, a2.token));
	assert_non_null(check(f, b1.token));

	auth_user_remove(f->a, "bob", user_cb, memset(&u, 0, sizeof(u)));
	loop_until(f, &u.calls, 1);
	assert_int_equal(u.r, AUTH_OK);
	assert_null(check(f, b1.token));
	login(f, "bob", PASSWORD, &b1);
	assert_int_equal(b1.r, AUTH_REFUSED);
	auth_user_remove(f->a, "bob", user_cb, memset(&u, 0, sizeof(u)));
	loop_until(f, &u.calls, 1);
	assert_int_equal(u.r, AUTH_NOT_FOUND);

	auth_user_create(f->a, "cy", PASSWORD, false, 0, "agent", user_cb, memset(&u, 0, sizeof(u)));
	assert_int_equal(u.calls, 0);
	loop_until(f, &u.calls, 1);
	assert_int_equal(u.r, AUTH_OK);
	auth_user_create(f->a, "cy", PASSWORD, false, 0, "agent", user_cb, memset(&u, 0, sizeof(u)));
	loop_until(f, &u.calls, 1);
	assert_int_equal(u.r, AUTH_CONFLICT);
	auth_user_password(f->a, "nobody", PASSWORD, false, user_cb, memset(&u, 0, sizeof(u)));
	loop_until(f, &u.calls, 1);
	assert_int_equal(u.r, AUTH_NOT_FOUND);
	login(f, "cy", PASSWORD, &a1);
	assert_int_equal(a1.r, AUTH_OK);
	auth_user_password(f->a, "cy", "another password", false, user_cb, memset(&u, 0, sizeof(u)));
	loop_until(f, &u.calls, 1);
	assert_int_equal(u.r, AUTH_OK);
	assert_null(check(f, a1.token));

	auth_user_logout(f->a, AUTH_TOKEN_USER, user_cb, memset(&u, 0, sizeof(u)));
	loop_until(f, &u.calls, 1);
	assert_int_equal(u.r, AUTH_OK);
	assert_null(check(f, t.token));
}

static void
test_csrf(void **state)
{
	struct fx *f = *state;
	struct res r1, r2;

	auth_login_token(f->a, token_hash[0], login_cb, memset(&r1, 0, sizeof(r1)));
	loop_until(f, &r1.calls, 1);
	auth_login_token(f->a, token_hash[0], login_cb, memset(&r2, 0, sizeof(r2)));
	loop_until(f, &r2.calls, 1);
	const struct auth_session *s = check(f, r1.token);
	assert_non_null(s);

	assert_true(auth_csrf_ok(s, r1.s.csrf));
	assert_false(auth_csrf_ok(s, r2.s.csrf));       /* another session's */
	assert_false(auth_csrf_ok(s, r1.token));        /* the cookie is not the CSRF token */
	assert_false(auth_csrf_ok(s, NULL));
	assert_false(auth_csrf_ok(s, ""));
	assert_false(auth_csrf_ok(NULL, r1.s.csrf));
	char prefix[AUTH_TOKEN_HEX];
	memcpy(prefix, r1.s.csrf, AUTH_TOKEN_HEX - 1);
	prefix[AUTH_TOKEN_HEX - 1] = '\0';
	assert_false(auth_csrf_ok(s, prefix));
	char *longer = xasprintf("%sx", r1.s.csrf);
	assert_false(auth_csrf_ok(s, longer));
	free(longer);
}

static void
test_cookie_parsing(void **state)
{
	struct fx *f = *state;
	struct res res = { 0 };
	char upper[AUTH_TOKEN_HEX + 1], *h;

	auth_login_token(f->a, token_hash[0], login_cb, &res);
	loop_until(f, &res.calls, 1);
	const char *t = res.token;

	h = xasprintf("theme=dark; %s=%s; lang=en", AUTH_COOKIE_NAME, t);
	assert_non_null(auth_check_cookie(f->a, h));
	free(h);
	h = xasprintf("%s=%s;other=1", AUTH_COOKIE_NAME, t);
	assert_non_null(auth_check_cookie(f->a, h));
	free(h);
	h = xasprintf("  %s = \"%s\" ; x=y", AUTH_COOKIE_NAME, t);  /* quoted, spaced */
	assert_non_null(auth_check_cookie(f->a, h));
	free(h);
	/* A stale cookie first (another path or an old login): the next one counts. */
	h = xasprintf("%s=%064d; flag; %s=%s", AUTH_COOKIE_NAME, 0, AUTH_COOKIE_NAME, t);
	assert_non_null(auth_check_cookie(f->a, h));
	free(h);
	for (size_t i = 0; i <= AUTH_TOKEN_HEX; i++)
		upper[i] = (t[i] >= 'a' && t[i] <= 'f') ? (char)(t[i] - 'a' + 'A') : t[i];
	h = cookie_of(upper);
	assert_non_null(auth_check_cookie(f->a, h));
	free(h);

	/* Refused: other names, a prefix of the name, bad values. */
	h = xasprintf("x%s=%s", AUTH_COOKIE_NAME, t);
	assert_null(auth_check_cookie(f->a, h));
	free(h);
	h = xasprintf("msgd_sess=%s", t);
	assert_null(auth_check_cookie(f->a, h));
	free(h);
	h = xasprintf("%s=%.63s", AUTH_COOKIE_NAME, t);
	assert_null(auth_check_cookie(f->a, h));
	free(h);
	h = xasprintf("%s=%sa", AUTH_COOKIE_NAME, t);
	assert_null(auth_check_cookie(f->a, h));
	free(h);
	h = xasprintf("%s=%.63sg", AUTH_COOKIE_NAME, t);
	assert_null(auth_check_cookie(f->a, h));
	free(h);
	assert_null(auth_check_cookie(f->a, NULL));
	assert_null(auth_check_cookie(f->a, ""));
	assert_null(auth_check_cookie(f->a, ";;;"));
	assert_null(auth_check_cookie(f->a, AUTH_COOKIE_NAME));
	assert_null(auth_check_cookie(f->a, AUTH_COOKIE_NAME "="));
	/* The hash of the token is not a token. */
	unsigned char raw[32], hash[32];
	char hex[65];
	for (int i = 0; i < 32; i++) {
		unsigned v;
		sscanf(t + 2 * i, "%2x", &v);
		raw[i] = (unsigned char)v;
	}
	sha256(raw, 32, hash);
	hex_encode(hash, 32, hex);
	h = cookie_of(hex);
	assert_null(auth_check_cookie(f->a, h));
	free(h);
	/* Only the first few msgd_session values are tried. */
	struct buf b;
	buf_init(&b, 0);
	for (int i = 0; i < 8; i++) {
		char *p = xasprintf("%s=%064d; ", AUTH_COOKIE_NAME, i);
		buf_append(&b, p, strlen(p));
		free(p);
	}
	h = cookie_of(t);
	buf_append(&b, h, strlen(h));
	free(h);
	assert_null(auth_check_cookie(f->a, b.data));
	buf_free(&b);
}

static void
test_set_cookie(void **state)
{
	struct auth_session s = { .created_ms = 1000, .expires_ms = 1000 + AUTH_ABSOLUTE_MS_DEFAULT };
	const char *t = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char *c;

	c = auth_cookie_set(&s, t, false);
	assert_string_equal(c, "msgd_session=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef;"
	    " Path=/; HttpOnly; SameSite=Strict; Max-Age=604800");
	free(c);
	c = auth_cookie_set(&s, t, true);
	assert_string_equal(c, "msgd_session=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef;"
	    " Path=/; HttpOnly; SameSite=Strict; Max-Age=604800; Secure");
	free(c);
	c = auth_cookie_clear(false);
	assert_string_equal(c, "msgd_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
	free(c);
	c = auth_cookie_clear(true);
	assert_string_equal(c, "msgd_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure");
	free(c);
}

/* auth_sessions_reload() reads on the reader pool: what another instance
 * (here: a second auth on the same store) did comes in when the read is
 * back, and a session logged out here while the read ran stays out. */
static void
test_reload(void **state)
{
	struct fx *f = *state;
	struct auth *b = NULL;
	struct res here = { 0 }, there = { 0 };
	struct logout_res lo = { 0 };
	struct user_res u = { 0 };

	add_user(f, "ana", PASSWORD);
	assert_int_equal(auth_open(&b, f->base, f->st, &f->cfg), 0);
	login(f, "ana", PASSWORD, &here);
	assert_int_equal(here.r, AUTH_OK);
	auth_login(b, "192.0.2.9", "ana", PASSWORD, login_cb, &there);
	loop_until(f, &there.calls, 1);
	assert_int_equal(there.r, AUTH_OK);
	assert_null(check(f, there.token));

	/* b's login comes in; ours, logged out while the read runs, does not
	 * come back (the snapshot may still hold it). */
	auth_sessions_reload(f->a, &f->cfg);
	auth_logout(f->a, check(f, here.token), logout_cb, &lo);
	loop_until(f, &lo.calls, 1);
	loop_until_store_idle(f);
	assert_non_null(check(f, there.token));
	assert_null(check(f, here.token));
	assert_int_equal(auth_session_count(f->a), 1);

	/* Logged out everywhere through b: gone here after the next reload. */
	auth_user_logout(b, "ana", user_cb, &u);
	loop_until(f, &u.calls, 1);
	auth_sessions_reload(f->a, &f->cfg);
	auth_sessions_reload(f->a, &f->cfg);  /* coalesced: read again once back */
	loop_until_store_idle(f);
	assert_null(check(f, there.token));
	assert_int_equal(auth_session_count(f->a), 0);

	/* Closed with a reload in flight: it only frees itself when back. */
	auth_sessions_reload(b, &f->cfg);
	auth_close(b);
	loop_until_store_idle(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_user_add, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_password, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_priority, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_throttle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_principal_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_credential_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_remove_logout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_during_login, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_during_user_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_absolute_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_csrf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cookie_parsing, setup, teardown),
		cmocka_unit_test(test_set_cookie),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
