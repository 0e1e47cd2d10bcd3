/*
 * auth.c - password verification off the loop, and the session table.
 *
 * A password login goes through three steps:
 *   1. on the loop: validate, read the user's hash (store reader), copy the
 *      password, start a verification thread (or answer AUTH_BUSY);
 *   2. the thread runs crypto_pwhash_str_verify(), wipes the password,
 *      appends the login to the completion list and writes the eventfd;
 *   3. on the loop: join the thread; refused -> done(); accepted -> a new
 *      session is written by STORE_OP_SESSION_PUT, and only once that op
 *      is durable is it added to the table and done() told.
 * Early answers (invalid input, busy, read error) take the same completion
 * list, so done() never runs inside auth_login().
 *
 * The table is keyed by SHA-256(token bytes). Finding a bucket takes time
 * that depends on that hash, which an attacker can compute for a guess but
 * cannot turn into a token (a preimage); the final comparison is constant
 * time anyway.
 */
#include "auth.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>
#include <sodium.h>
#include <uthash.h>
#include <utlist.h>

#include "../log/log.h"
#include "../store/store.h"
#include "../util/util.h"

#define SWEEP_MS 60000
#define COOKIE_PAIRS_MAX 64    /* pairs of a Cookie header looked at */
#define COOKIE_TRIES_MAX 4     /* msgd_session values tried */

struct session {
	unsigned char hash[32];    /* SHA-256 of the token's bytes: the key */
	struct auth_session pub;
	UT_hash_handle hh;
};

struct login {
	struct auth *a;
	auth_login_fn done;
	void *arg;
	enum auth_result result;   /* of step 2, or an early answer */
	char user[AUTH_NAME_MAX + 1];
	char *password;            /* wiped by the thread */
	size_t pwlen;
	char *hash;                /* the stored hash; NULL: unknown user */
	bool threaded;
	pthread_t th;
	struct session *sess;      /* while its SESSION_PUT is in flight */
	char token[AUTH_TOKEN_HEX + 1];
	struct store_op op;
	struct login *rprev, *rnext; /* running list (loop thread) */
	struct login *next;        /* completion list (mu) */
};

struct logout {
	struct store_op op;
	struct auth *a;
	auth_logout_fn done;
	void *arg;
};

struct auth {
	struct event_base *base;
	struct store *st;
	int64_t idle_ms, absolute_ms;
	int max_workers;
	int64_t (*clock_ms)(void);

	struct session *sessions;  /* uthash */
	struct login *running;     /* threads started, not joined (loop only) */
	int workers;
	size_t ops_pending;        /* our store ops whose done() has not run */
	bool closing;

	int efd;
	struct event *wake, *sweep;
	pthread_mutex_t mu;
	struct login *chead, *ctail;  /* finished, not yet delivered (mu) */
};

/* --- small helpers --- */

/* A random token: raw bytes (when raw is not NULL) and hex. */
static int
new_token(unsigned char raw[32], char hex[AUTH_TOKEN_HEX + 1])
{
	unsigned char b[32];

	if (random_bytes(b, sizeof(b)) != 0)
		return -1;
	hex_encode(b, sizeof(b), hex);
	if (raw)
		memcpy(raw, b, sizeof(b));
	sodium_memzero(b, sizeof(b));
	return 0;
}

static void
session_free(struct session *e)
{
	sodium_memzero(e, sizeof(*e));
	free(e);
}

static void
login_free(struct login *l)
{
	if (l->password) {
		sodium_memzero(l->password, l->pwlen);
		free(l->password);
	}
	free(l->hash);
	if (l->sess)
		session_free(l->sess);
	sodium_memzero(l->token, sizeof(l->token));
	free(l);
}

bool
auth_name_valid(const char *name)
{
	size_t n = 0;

	if (name == NULL || strcmp(name, AUTH_TOKEN_USER) == 0)
		return false;
	for (; name[n]; n++) {
		char c = name[n];
		if (n == AUTH_NAME_MAX || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return n > 0;
}

bool
auth_password_valid(const char *password)
{
	size_t n = password ? strnlen(password, AUTH_PASSWORD_MAX + 1) : 0;

	return n >= AUTH_PASSWORD_MIN && n <= AUTH_PASSWORD_MAX;
}

/* --- step 2: the verification thread --- */

static char dummy_hash[crypto_pwhash_STRBYTES];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

/* A hash of a random password, so unknown users cost a real verification. */
static void
make_dummy(void)
{
	char pw[AUTH_TOKEN_HEX + 1];

	if (new_token(NULL, pw) != 0 ||
	    crypto_pwhash_str_alg(dummy_hash, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
		dummy_hash[0] = '\0';  /* verification then fails fast: only timing suffers */
	sodium_memzero(pw, sizeof(pw));
}

/* Hand a finished login to the loop. Any thread. */
static void
post(struct auth *a, struct login *l)
{
	uint64_t one = 1;

	pthread_mutex_lock(&a->mu);
	l->next = NULL;
	if (a->ctail)
		a->ctail->next = l;
	else
		a->chead = l;
	a->ctail = l;
	pthread_mutex_unlock(&a->mu);
	while (write(a->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static void *
verify_main(void *arg)
{
	struct login *l = arg;
	const char *h = l->hash;

	if (h == NULL) {
		pthread_once(&dummy_once, make_dummy);
		h = dummy_hash;
	}
	bool ok = crypto_pwhash_str_verify(h, l->password, l->pwlen) == 0 && l->hash != NULL;
	sodium_memzero(l->password, l->pwlen);
	l->result = ok ? AUTH_OK : AUTH_REFUSED;
	post(l->a, l);  /* l belongs to the loop from here on */
	return NULL;
}

/* --- step 3: sessions --- */

static int64_t
clock_now(struct auth *a)
{
	return a->clock_ms();
}

static bool
expired(struct auth *a, const struct session *e, int64_t now)
{
	return now >= e->pub.expires_ms || now >= e->pub.last_used_ms + a->idle_ms;
}

static void
delete_done(struct store_op *op, void *arg)
{
	if (op->result != 0)
		log_warn("auth: cannot delete an expired session", "error", op->errmsg);
	free(op);
}

/* Remove from memory, and from the store without waiting (owns its op). */
static void
session_drop(struct auth *a, struct session *e)
{
	struct store_op *op = xcalloc(1, sizeof(*op));

	HASH_DEL(a->sessions, e);
	op->kind = STORE_OP_SESSION_DELETE;
	memcpy(op->u.session.token_hash, e->hash, 32);
	op->done = delete_done;
	session_free(e);
	store_submit(a->st, op);
}

void
auth_sweep(struct auth *a)
{
	struct session *e, *tmp;
	int64_t now = clock_now(a);

	HASH_ITER(hh, a->sessions, e, tmp) {
		if (expired(a, e, now))
			session_drop(a, e);
	}
}

size_t
auth_session_count(struct auth *a)
{
	return HASH_COUNT(a->sessions);
}

static void
session_stored(struct store_op *op, void *arg)
{
	struct login *l = arg;
	struct auth *a = l->a;
	struct session *e = l->sess;

	a->ops_pending--;
	if (op->result != 0) {
		log_error("auth: cannot store a session", "user", l->user, "error", op->errmsg);
		l->done(l->arg, AUTH_ERROR, NULL, NULL);
		login_free(l);
		return;
	}
	l->sess = NULL;
	HASH_ADD(hh, a->sessions, hash, sizeof(e->hash), e);
	log_info("auth: logged in", "user", l->user);
	l->done(l->arg, AUTH_OK, &e->pub, l->token);
	login_free(l);
}

/* Create l's session and store it; done() when durable. */
static void
session_start(struct login *l)
{
	struct auth *a = l->a;
	unsigned char raw[32];
	int64_t now = clock_now(a);

	if (HASH_COUNT(a->sessions) >= AUTH_SESSIONS_MAX)
		auth_sweep(a);
	if (HASH_COUNT(a->sessions) >= AUTH_SESSIONS_MAX) {
		log_warn("auth: too many sessions; login refused", "user", l->user);
		l->done(l->arg, AUTH_BUSY, NULL, NULL);
		login_free(l);
		return;
	}
	struct session *e = xcalloc(1, sizeof(*e));
	l->sess = e;
	if (new_token(raw, l->token) != 0 || new_token(NULL, e->pub.csrf) != 0) {
		log_error("auth: no randomness for a session token");
		l->done(l->arg, AUTH_ERROR, NULL, NULL);
		login_free(l);
		return;
	}
	sha256(raw, sizeof(raw), e->hash);
	sodium_memzero(raw, sizeof(raw));
	snprintf(e->pub.user, sizeof(e->pub.user), "%s", l->user);
	e->pub.created_ms = now;
	e->pub.expires_ms = now + a->absolute_ms;
	e->pub.last_used_ms = now;

	l->op = (struct store_op){
		.kind = STORE_OP_SESSION_PUT,
		.u.session = {
			.csrf = e->pub.csrf,
			.user_name = e->pub.user,
			.created_at = now / 1000,
			.expires_at = e->pub.expires_ms / 1000,
		},
		.done = session_stored,
		.arg = l,
	};
	memcpy(l->op.u.session.token_hash, e->hash, 32);
	a->ops_pending++;
	store_submit(a->st, &l->op);
}

/* Step 3 for one finished login (loop thread). */
static void
login_finish(struct auth *a, struct login *l)
{
	if (l->threaded) {
		pthread_join(l->th, NULL);
		DL_DELETE2(a->running, l, rprev, rnext);
		a->workers--;
		l->threaded = false;
	}
	if (l->result == AUTH_OK && !a->closing) {
		session_start(l);
		return;
	}
	if (l->result == AUTH_REFUSED)
		log_info("auth: login refused", "user", l->user[0] ? l->user : NULL);
	l->done(l->arg, a->closing && l->result == AUTH_OK ? AUTH_ERROR : l->result, NULL, NULL);
	login_free(l);
}

/* Every finished login, oldest first; done() may start new ones. */
static void
deliver(struct auth *a)
{
	pthread_mutex_lock(&a->mu);
	struct login *l = a->chead;
	a->chead = a->ctail = NULL;
	pthread_mutex_unlock(&a->mu);

	while (l) {
		struct login *next = l->next;
		l->next = NULL;
		login_finish(a, l);
		l = next;
	}
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;

	while (read(fd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
	deliver(arg);
}

static void
on_sweep(evutil_socket_t fd, short what, void *arg)
{
	auth_sweep(arg);
}

/* --- step 1: logins --- */

static struct login *
login_new(struct auth *a, auth_login_fn done, void *arg)
{
	struct login *l = xcalloc(1, sizeof(*l));

	l->a = a;
	l->done = done;
	l->arg = arg;
	return l;
}

static void
early(struct auth *a, struct login *l, enum auth_result r)
{
	l->result = r;
	post(a, l);
}

void
auth_login(struct auth *a, const char *user, const char *password, auth_login_fn done, void *arg)
{
	struct login *l = login_new(a, done, arg);
	json_t *row = NULL;
	sigset_t all, old;

	if (auth_name_valid(user))
		snprintf(l->user, sizeof(l->user), "%s", user);  /* for logs */
	if (a->closing || l->user[0] == '\0' || !auth_password_valid(password)) {
		early(a, l, a->closing ? AUTH_ERROR : AUTH_REFUSED);
		return;
	}
	if (a->workers >= a->max_workers) {
		log_warn("auth: too many logins at once; answered busy", "user", l->user);
		early(a, l, AUTH_BUSY);
		return;
	}
	if (store_user_get(a->st, user, &row) != 0) {
		early(a, l, AUTH_ERROR);
		return;
	}
	const char *h = json_string_value(json_object_get(row, "password_hash"));
	l->hash = h ? xstrdup(h) : NULL;
	json_decref(row);
	l->pwlen = strlen(password);
	l->password = xmalloc(l->pwlen + 1);
	memcpy(l->password, password, l->pwlen + 1);

	/* Ours before the thread starts: it may post l at once. */
	l->threaded = true;
	a->workers++;
	DL_APPEND2(a->running, l, rprev, rnext);
	/* The thread inherits a full mask: signals are the loop's business. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int err = pthread_create(&l->th, NULL, verify_main, l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		log_error("auth: cannot start a verification thread", "error", strerror(err));
		l->threaded = false;
		a->workers--;
		DL_DELETE2(a->running, l, rprev, rnext);
		early(a, l, AUTH_BUSY);
	}
}

void
auth_login_token(struct auth *a, auth_login_fn done, void *arg)
{
	struct login *l = login_new(a, done, arg);

	snprintf(l->user, sizeof(l->user), "%s", AUTH_TOKEN_USER);
	/* Through the completion list, like every login: done() runs later. */
	early(a, l, a->closing ? AUTH_ERROR : AUTH_OK);
}

static void
logout_done(struct store_op *op, void *arg)
{
	struct logout *lo = arg;

	lo->a->ops_pending--;
	if (op->result != 0)
		log_error("auth: cannot delete a session", "error", op->errmsg);
	lo->done(lo->arg, op->result);
	free(lo);
}

void
auth_logout(struct auth *a, const struct auth_session *s, auth_logout_fn done, void *arg)
{
	struct session *e = (struct session *)((char *)s - offsetof(struct session, pub));
	struct logout *lo = xcalloc(1, sizeof(*lo));

	HASH_DEL(a->sessions, e);
	log_info("auth: logged out", "user", e->pub.user);
	lo->a = a;
	lo->done = done;
	lo->arg = arg;
	lo->op.kind = STORE_OP_SESSION_DELETE;
	memcpy(lo->op.u.session.token_hash, e->hash, 32);
	lo->op.done = logout_done;
	lo->op.arg = lo;
	session_free(e);
	a->ops_pending++;
	store_submit(a->st, &lo->op);
}

/* --- cookies and CSRF --- */

/* The live session of one cookie value, or NULL. */
static struct session *
lookup(struct auth *a, const char *v, size_t len)
{
	unsigned char raw[32], hash[32];
	struct session *e = NULL;

	if (hex_decode(v, len, raw, sizeof(raw)) != 0)
		return NULL;
	sha256(raw, sizeof(raw), hash);
	sodium_memzero(raw, sizeof(raw));
	HASH_FIND(hh, a->sessions, hash, sizeof(hash), e);
	if (e == NULL || !ct_equal(e->hash, 32, hash, 32))
		return NULL;
	int64_t now = clock_now(a);
	if (expired(a, e, now)) {
		session_drop(a, e);
		return NULL;
	}
	e->pub.last_used_ms = now;
	return e;
}

const struct auth_session *
auth_check_cookie(struct auth *a, const char *h)
{
	const size_t cn = strlen(AUTH_COOKIE_NAME);
	int pairs = 0, tries = 0;

	if (h == NULL)
		return NULL;
	/* name=value pairs separated by ';' (RFC 6265 section 4.2.1), leniently. */
	while (*h && pairs < COOKIE_PAIRS_MAX && tries < COOKIE_TRIES_MAX) {
		while (*h == ' ' || *h == '\t' || *h == ';')
			h++;
		if (*h == '\0')
			break;
		pairs++;
		const char *name = h;
		while (*h && *h != '=' && *h != ';')
			h++;
		size_t nlen = (size_t)(h - name);
		while (nlen > 0 && (name[nlen - 1] == ' ' || name[nlen - 1] == '\t'))
			nlen--;
		if (*h != '=')
			continue;
		h++;
		while (*h == ' ' || *h == '\t')
			h++;
		const char *v = h;
		while (*h && *h != ';')
			h++;
		size_t vlen = (size_t)(h - v);
		while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
			vlen--;
		if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
			v++;
			vlen -= 2;
		}
		if (nlen != cn || memcmp(name, AUTH_COOKIE_NAME, cn) != 0)
			continue;
		tries++;
		struct session *e = lookup(a, v, vlen);
		if (e)
			return &e->pub;
	}
	return NULL;
}

bool
auth_csrf_ok(const struct auth_session *s, const char *v)
{
	if (s == NULL || v == NULL || s->csrf[0] == '\0')
		return false;
	return ct_equal(v, strnlen(v, AUTH_TOKEN_HEX + 1), s->csrf, strlen(s->csrf));
}

char *
auth_cookie_set(const struct auth_session *s, const char *token, bool secure)
{
	return xasprintf("%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%lld%s", AUTH_COOKIE_NAME,
	    token, (long long)((s->expires_ms - s->created_ms) / 1000), secure ? "; Secure" : "");
}

char *
auth_cookie_clear(bool secure)
{
	return xasprintf("%s=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0%s", AUTH_COOKIE_NAME,
	    secure ? "; Secure" : "");
}

/* --- open, close --- */

/* One stored session into the table; -1 when the row is malformed. */
static int
load_one(struct auth *a, json_t *row, int64_t now)
{
	const char *hex = json_string_value(json_object_get(row, "token_hash"));
	const char *csrf = json_string_value(json_object_get(row, "csrf"));
	const char *user = json_string_value(json_object_get(row, "user"));
	struct session *e = xcalloc(1, sizeof(*e)), *dup = NULL;

	if (hex == NULL || csrf == NULL || user == NULL || strlen(csrf) != AUTH_TOKEN_HEX ||
	    strlen(user) > AUTH_NAME_MAX || hex_decode(hex, strlen(hex), e->hash, 32) != 0)
		goto fail;
	HASH_FIND(hh, a->sessions, e->hash, 32, dup);
	if (dup)
		goto fail;
	memcpy(e->pub.csrf, csrf, AUTH_TOKEN_HEX + 1);
	snprintf(e->pub.user, sizeof(e->pub.user), "%s", user);
	e->pub.created_ms = json_integer_value(json_object_get(row, "created_at")) * 1000;
	e->pub.expires_ms = json_integer_value(json_object_get(row, "expires_at")) * 1000;
	e->pub.last_used_ms = now;  /* the idle clock is not persisted */
	HASH_ADD(hh, a->sessions, hash, sizeof(e->hash), e);
	return 0;
fail:
	session_free(e);
	return -1;
}

int
auth_open(struct auth **out, struct event_base *base, struct store *st,
    const struct auth_config *cfg)
{
	struct auth *a = xcalloc(1, sizeof(*a));
	json_t *rows = NULL, *row;
	size_t i;

	*out = NULL;
	a->base = base;
	a->st = st;
	a->efd = -1;
	a->idle_ms = cfg && cfg->idle_ms > 0 ? cfg->idle_ms : AUTH_IDLE_MS_DEFAULT;
	a->absolute_ms = cfg && cfg->absolute_ms > 0 ? cfg->absolute_ms : AUTH_ABSOLUTE_MS_DEFAULT;
	a->max_workers = cfg && cfg->max_workers > 0 ? cfg->max_workers : AUTH_WORKERS_DEFAULT;
	a->clock_ms = cfg && cfg->clock_ms ? cfg->clock_ms : now_ms;
	pthread_mutex_init(&a->mu, NULL);

	if (sodium_init() < 0) {
		log_error("auth: libsodium cannot initialize");
		goto fail;
	}
	int64_t now = clock_now(a);
	if (store_sessions_load(st, now / 1000, &rows) != 0)
		goto fail;
	json_array_foreach(rows, i, row) {
		if (HASH_COUNT(a->sessions) >= AUTH_SESSIONS_MAX) {
			log_warn("auth: too many stored sessions; the newest are not loaded");
			break;
		}
		if (load_one(a, row, now) != 0)
			log_warn("auth: malformed stored session; skipped");
	}
	json_decref(rows);

	a->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (a->efd < 0) {
		log_error("auth: eventfd failed", "error", strerror(errno));
		goto fail;
	}
	struct timeval tv = { .tv_sec = SWEEP_MS / 1000 };
	a->wake = event_new(base, a->efd, EV_READ | EV_PERSIST, on_wake, a);
	a->sweep = event_new(base, -1, EV_PERSIST, on_sweep, a);
	if (a->wake == NULL || a->sweep == NULL || event_add(a->wake, NULL) != 0 ||
	    event_add(a->sweep, &tv) != 0) {
		log_error("auth: cannot register events");
		goto fail;
	}
	*out = a;
	return 0;
fail:
	auth_close(a);
	return -1;
}

void
auth_close(struct auth *a)
{
	struct login *l, *tmp;
	struct session *e, *etmp;

	if (a == NULL)
		return;
	a->closing = true;
	if (a->sweep)
		event_free(a->sweep);
	if (a->wake)
		event_free(a->wake);
	a->sweep = a->wake = NULL;
	/* Verifications still running finish (tens of ms) and post themselves. */
	DL_FOREACH_SAFE2(a->running, l, tmp, rnext) {
		pthread_join(l->th, NULL);
		l->threaded = false;
		DL_DELETE2(a->running, l, rprev, rnext);
		a->workers--;
	}
	while (a->chead)
		deliver(a);  /* closing: every login ends with AUTH_ERROR */
	if (a->ops_pending > 0) {
		/* Their done() would find a freed auth: better leak than crash. */
		log_error("auth: closed before the store; leaking its state");
		return;
	}
	HASH_ITER(hh, a->sessions, e, etmp) {
		HASH_DEL(a->sessions, e);
		session_free(e);
	}
	if (a->efd >= 0)
		close(a->efd);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

/* --- users (CLI) --- */

int
auth_user_add(struct store *st, const char *name, const char *password, char *err, size_t errlen)
{
	char hash[crypto_pwhash_STRBYTES];

	if (!auth_name_valid(name)) {
		snprintf(err, errlen, "invalid user name: 1 to %d of A-Z a-z 0-9 . _ - (and not '%s')",
		    AUTH_NAME_MAX, AUTH_TOKEN_USER);
		return -1;
	}
	if (!auth_password_valid(password)) {
		snprintf(err, errlen, "the password must have %d to %d bytes", AUTH_PASSWORD_MIN,
		    AUTH_PASSWORD_MAX);
		return -1;
	}
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium cannot initialize");
		return -1;
	}
	if (crypto_pwhash_str_alg(hash, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0) {
		snprintf(err, errlen, "cannot hash the password (out of memory?)");
		return -1;
	}
	struct store_op op = {
		.kind = STORE_OP_USER_PUT,
		.u.user = { .name = name, .password_hash = hash },
	};
	if (store_submit_wait(st, &op) != 0) {
		if (op.conflict)
			snprintf(err, errlen, "user '%s' exists", name);
		else
			snprintf(err, errlen, "%s", op.errmsg);
		return -1;
	}
	log_info("auth: user added", "user", name);
	return 0;
}
