/*
 * session.c - the session table: admission under the caps, cookies and
 * CSRF, logout, loading at start (see auth.h for the rules); following
 * another instance's changes is reload.c.
 *
 * The table is keyed by SHA-256(token bytes). Finding a bucket takes time
 * that depends on that hash, which an attacker can compute for a guess but
 * cannot turn into a token (a preimage); the final comparison is constant
 * time anyway. Evictions scan the table: they happen at a login, which is
 * rate limited and costs a password verification anyway.
 */
#include "auth_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../log/log.h"
#include "../store/store.h"
#include "../util/util.h"

#define COOKIE_PAIRS_MAX 64    /* pairs of a Cookie header looked at */
#define COOKIE_TRIES_MAX 4     /* msgd_session values tried */
#define CRED_PREFIX "msgd session credential\n"

struct logout {
	struct store_op op;
	struct auth *a;
	auth_logout_fn done;
	void *arg;
};

int64_t
auth_now(struct auth *a)
{
	return a->clock_ms();
}

int64_t
auth_mono(struct auth *a)
{
	return a->mono_clock_ms();
}

void
auth_cred(const void *p, size_t n, char out[AUTH_CRED_HEX + 1])
{
	crypto_hash_sha256_state st;
	unsigned char h[32];

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)CRED_PREFIX, strlen(CRED_PREFIX));
	crypto_hash_sha256_update(&st, p, n);
	crypto_hash_sha256_final(&st, h);
	hex_encode(h, AUTH_CRED_HEX / 2, out);
}

void
auth_token_cred(const unsigned char token_hash[32], char out[AUTH_CRED_HEX + 1])
{
	auth_cred(token_hash, 32, out);
}

int
auth_new_token(unsigned char raw[32], char hex[AUTH_TOKEN_HEX + 1])
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

void
session_free(struct session *e)
{
	sodium_memzero(e, sizeof(*e));
	free(e);
}

static bool
expired(struct auth *a, const struct session *e, int64_t now)
{
	return now >= e->pub.expires_ms || now >= e->pub.last_used_ms + a->idle_ms;
}

void
session_deleting(struct auth *a, const unsigned char hash[32])
{
	if (a->ndeleting == a->capdeleting) {
		a->capdeleting = a->capdeleting ? a->capdeleting * 2 : 16;
		a->deleting = xrealloc(a->deleting, a->capdeleting * 32);
	}
	memcpy(a->deleting[a->ndeleting++], hash, 32);
}

bool
session_is_deleting(const struct auth *a, const unsigned char hash[32])
{
	for (size_t i = 0; i < a->ndeleting; i++)
		if (memcmp(a->deleting[i], hash, 32) == 0)
			return true;
	return false;
}

void
session_deleted(struct auth *a, const unsigned char hash[32])
{
	for (size_t i = 0; i < a->ndeleting; i++)
		if (memcmp(a->deleting[i], hash, 32) == 0) {
			memmove(a->deleting[i], a->deleting[i + 1], (a->ndeleting - i - 1) * 32);
			a->ndeleting--;
			break;
		}
	/* A reload that read before this commit may still hold the row. */
	struct session gone = { 0 };
	memcpy(gone.hash, hash, 32);
	session_gone(a, &gone);
}

static void
delete_done(struct store_op *op, void *arg)
{
	struct auth *a = arg;

	a->ops_pending--;
	session_deleted(a, op->u.session.token_hash);
	if (op->result != 0)
		log_warn("auth: cannot delete a session", "error", op->errmsg);
	free(op);
}

static void
delete_stored(struct auth *a, const unsigned char hash[32])
{
	struct store_op *op = xcalloc(1, sizeof(*op));

	op->kind = STORE_OP_SESSION_DELETE;
	memcpy(op->u.session.token_hash, hash, 32);
	op->done = delete_done;
	op->arg = a;
	session_deleting(a, hash);
	a->ops_pending++;
	store_submit(a->st, op);
}

void
session_drop(struct auth *a, struct session *e)
{
	HASH_DEL(a->sessions, e);
	session_gone(a, e);
	delete_stored(a, e->hash);
	session_free(e);
}

void
auth_sweep(struct auth *a)
{
	struct session *e, *tmp;
	int64_t now = auth_now(a);

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

static bool
same_principal(const struct session *x, const struct session *y)
{
	return strcmp(x->pub.user, y->pub.user) == 0 && strcmp(x->cred, y->cred) == 0;
}

void
session_admit(struct auth *a, struct session *n)
{
	struct session *e, *tmp, *oldest;
	size_t mine;

	/* The principal's cap: its oldest sessions go. */
	do {
		mine = 0;
		oldest = NULL;
		HASH_ITER(hh, a->sessions, e, tmp) {
			if (!same_principal(e, n))
				continue;
			mine++;
			if (oldest == NULL || e->pub.created_ms < oldest->pub.created_ms)
				oldest = e;
		}
		if (mine >= AUTH_SESSIONS_PER_PRINCIPAL) {
			log_info("auth: too many sessions of one user; the oldest ends", "user", n->pub.user);
			session_drop(a, oldest);
		}
	} while (mine > AUTH_SESSIONS_PER_PRINCIPAL);
	/* The global cap: the expired go, then the least recently used. */
	if (HASH_COUNT(a->sessions) >= AUTH_SESSIONS_MAX)
		auth_sweep(a);
	while (HASH_COUNT(a->sessions) >= AUTH_SESSIONS_MAX) {
		oldest = NULL;
		HASH_ITER(hh, a->sessions, e, tmp) {
			if (oldest == NULL || e->pub.last_used_ms < oldest->pub.last_used_ms)
				oldest = e;
		}
		log_warn("auth: session table full; the least recently used ends", "user",
		    oldest->pub.user);
		session_drop(a, oldest);
	}
	/* Already taken from the store (auth_sessions_reload()): this one. */
	HASH_FIND(hh, a->sessions, n->hash, sizeof(n->hash), e);
	if (e) {
		HASH_DEL(a->sessions, e);
		session_free(e);
	}
	n->gen = ++a->sess_gen;
	HASH_ADD(hh, a->sessions, hash, sizeof(n->hash), n);
}

int64_t
sessions_forget_user(struct auth *a, const char *user)
{
	struct session *e, *tmp;
	int64_t n = 0;

	HASH_ITER(hh, a->sessions, e, tmp) {
		if (strcmp(e->pub.user, user) == 0) {
			HASH_DEL(a->sessions, e);
			session_gone(a, e);
			session_free(e);
			n++;
		}
	}
	return n;
}

/* --- logout --- */

static void
logout_done(struct store_op *op, void *arg)
{
	struct logout *lo = arg;

	lo->a->ops_pending--;
	session_deleted(lo->a, op->u.session.token_hash);
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
	session_gone(a, e);
	log_info("auth: logged out", "user", e->pub.user);
	lo->a = a;
	lo->done = done;
	lo->arg = arg;
	lo->op.kind = STORE_OP_SESSION_DELETE;
	memcpy(lo->op.u.session.token_hash, e->hash, 32);
	lo->op.done = logout_done;
	lo->op.arg = lo;
	session_deleting(a, e->hash);
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
	int64_t now = auth_now(a);
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

/* --- loading --- */

/* Is cred still valid for user? users caches name -> fingerprint ("" for
 * no such user). */
static bool
cred_valid(struct auth *a, const struct auth_config *cfg, const char *user, const char *cred,
    json_t *users)
{
	char fp[AUTH_CRED_HEX + 1];

	if (strcmp(user, AUTH_TOKEN_USER) == 0) {
		for (size_t i = 0; cfg && i < cfg->ntoken_hashes; i++) {
			auth_cred(cfg->token_hashes[i], 32, fp);
			if (ct_equal(fp, AUTH_CRED_HEX, cred, strlen(cred)))
				return true;
		}
		return false;
	}
	const char *known = json_string_value(json_object_get(users, user));
	if (known == NULL) {
		json_t *row = NULL;
		fp[0] = '\0';
		if (store_user_get(a->st, user, &row) == 0 && row) {
			const char *h = json_string_value(json_object_get(row, "password_hash"));
			if (h)
				auth_cred(h, strlen(h), fp);
		}
		json_decref(row);
		json_object_set_new(users, user, json_string(fp));
		known = json_string_value(json_object_get(users, user));
	}
	return known[0] != '\0' && ct_equal(known, strlen(known), cred, strlen(cred));
}

int
session_load_one(struct auth *a, const struct auth_config *cfg, json_t *row, int64_t now,
    json_t *users)
{
	const char *hex = json_string_value(json_object_get(row, "token_hash"));
	const char *csrf = json_string_value(json_object_get(row, "csrf"));
	const char *user = json_string_value(json_object_get(row, "user"));
	const char *cred = json_string_value(json_object_get(row, "credential"));
	struct session *e = xcalloc(1, sizeof(*e)), *dup = NULL;

	if (hex == NULL || csrf == NULL || user == NULL || cred == NULL ||
	    strlen(csrf) != AUTH_TOKEN_HEX || strlen(user) > AUTH_NAME_MAX ||
	    strlen(cred) > AUTH_CRED_HEX || hex_decode(hex, strlen(hex), e->hash, 32) != 0)
		goto fail;
	HASH_FIND(hh, a->sessions, e->hash, 32, dup);
	if (dup)
		goto fail;
	if (!cred_valid(a, cfg, user, cred, users)) {
		delete_stored(a, e->hash);
		session_free(e);
		return 1;
	}
	memcpy(e->pub.csrf, csrf, AUTH_TOKEN_HEX + 1);
	snprintf(e->pub.user, sizeof(e->pub.user), "%s", user);
	snprintf(e->cred, sizeof(e->cred), "%s", cred);
	memcpy(e->pub.cred, e->cred, sizeof(e->pub.cred));
	e->pub.created_ms = json_integer_value(json_object_get(row, "created_at")) * 1000;
	e->pub.expires_ms = json_integer_value(json_object_get(row, "expires_at")) * 1000;
	e->pub.last_used_ms = now;  /* the idle clock is not persisted */
	e->gen = ++a->sess_gen;
	HASH_ADD(hh, a->sessions, hash, sizeof(e->hash), e);
	return 0;
fail:
	session_free(e);
	return -1;
}

int
sessions_load(struct auth *a, const struct auth_config *cfg)
{
	json_t *rows = NULL, *row, *users = json_object();
	int64_t now = auth_now(a), gone = 0;
	size_t i;

	if (store_sessions_load(a->st, now / 1000, &rows) != 0) {
		json_decref(users);
		return -1;
	}
	json_array_foreach(rows, i, row) {
		if (HASH_COUNT(a->sessions) >= AUTH_SESSIONS_MAX) {
			log_warn("auth: too many stored sessions; the newest are not loaded");
			break;
		}
		int r = session_load_one(a, cfg, row, now, users);
		if (r < 0)
			log_warn("auth: malformed stored session; skipped");
		gone += r == 1;
	}
	if (gone > 0) {
		char n[24];
		snprintf(n, sizeof(n), "%lld", (long long)gone);
		log_info("auth: sessions whose token or password changed were ended", "sessions", n);
	}
	json_decref(rows);
	json_decref(users);
	return 0;
}

void
sessions_free(struct auth *a)
{
	struct session *e, *tmp;

	HASH_ITER(hh, a->sessions, e, tmp) {
		HASH_DEL(a->sessions, e);
		session_free(e);
	}
}
