/*
 * auth.c - password work off the loop, the login queue, failure limits,
 * and the users calls. The session table is session.c.
 *
 * A password login goes through three steps:
 *   1. on the loop: validate, copy the password, read the user's hash on
 *      the store's reader pool; then start a verification thread, or
 *      queue the login when every worker is busy (auth.h says who goes
 *      first);
 *   2. the thread runs crypto_pwhash_str_verify(), wipes the password,
 *      appends the login to the completion list and writes the eventfd;
 *   3. on the loop: join the thread, start the next queued job, count a
 *      failure or make a session: STORE_OP_SESSION_PUT, and only once that
 *      op is durable and a read on the pool found that the user still has
 *      the password that was checked is the session added to the table
 *      and done() told.
 * Early answers (invalid input, busy, read error) take the same completion
 * list, so done() never runs inside auth_login(). Adding a user or
 * changing a password takes the same road with a hashing thread instead.
 */
#include "auth_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>
#include <sodium.h>
#include <utlist.h>

#include "../log/log.h"
#include "../store/store.h"
#include "../util/util.h"
#include "limit.h"

#define SWEEP_MS 60000

enum job { JOB_VERIFY, JOB_HASH };

struct login {
	struct auth *a;
	enum job kind;
	auth_login_fn done;        /* JOB_VERIFY */
	auth_user_fn udone;        /* JOB_HASH */
	void *arg;
	enum auth_result result;   /* of step 2, or an early answer */
	char user[AUTH_NAME_MAX + 1];
	char client[AUTH_CLIENT_MAX];
	bool counted;              /* holds one of its client's slots */
	bool replace;              /* JOB_HASH: a new password for an existing user */
	bool no_session;           /* JOB_VERIFY: only check the password (auth_verify) */
	bool must_change;          /* JOB_HASH: the user must choose a new password first */
	int64_t org_id;            /* JOB_HASH, new user: the membership's organization */
	char role[16];             /* and its role ("": none) */
	char *password;            /* wiped by the thread */
	size_t pwlen;
	char *hash;                /* VERIFY: the stored hash (NULL: unknown user); HASH: the new one */
	bool threaded;
	pthread_t th;
	int prio;                  /* queue: 0 first */
	struct session *sess;      /* while its SESSION_PUT is in flight */
	char token[AUTH_TOKEN_HEX + 1];
	char cred[AUTH_CRED_HEX + 1]; /* token logins: the token's fingerprint */
	struct store_op op;
	struct login *rprev, *rnext; /* running list or a queue (loop thread) */
	struct login *next;        /* completion list (mu) */
};

struct client_slot {
	char addr[AUTH_CLIENT_MAX];
	int n;                     /* logins in flight */
	UT_hash_handle hh;
};

struct userop {
	struct store_op op;
	struct auth *a;
	auth_user_fn done;
	void *arg;
	char name[AUTH_NAME_MAX + 1];
};

static void login_start(struct auth *a, struct login *l);

static void
login_free(struct login *l)
{
	if (l->password) {
		sodium_memzero(l->password, l->pwlen);
		free(l->password);
	}
	if (l->hash) {
		sodium_memzero(l->hash, strlen(l->hash));
		free(l->hash);
	}
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

static int
hash_password(const char *pw, size_t len, char out[crypto_pwhash_STRBYTES])
{
	return crypto_pwhash_str_alg(out, pw, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13);
}

/* --- step 2: the worker threads --- */

static char dummy_hash[crypto_pwhash_STRBYTES];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

/* A hash of a random password, so unknown users cost a real verification. */
static void
make_dummy(void)
{
	char pw[AUTH_TOKEN_HEX + 1];

	if (auth_new_token(NULL, pw) != 0 || hash_password(pw, strlen(pw), dummy_hash) != 0)
		dummy_hash[0] = '\0';  /* verification then fails fast: only timing suffers */
	sodium_memzero(pw, sizeof(pw));
}

/* Hand a finished job to the loop. Any thread. */
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
worker_main(void *arg)
{
	struct login *l = arg;

	if (l->kind == JOB_HASH) {
		l->hash = xmalloc(crypto_pwhash_STRBYTES);
		l->result = hash_password(l->password, l->pwlen, l->hash) == 0 ? AUTH_OK : AUTH_ERROR;
	} else {
		const char *h = l->hash;
		if (h == NULL) {
			pthread_once(&dummy_once, make_dummy);
			h = dummy_hash;
		}
		bool ok = crypto_pwhash_str_verify(h, l->password, l->pwlen) == 0 && l->hash != NULL;
		l->result = ok ? AUTH_OK : AUTH_REFUSED;
	}
	sodium_memzero(l->password, l->pwlen);
	post(l->a, l);  /* l belongs to the loop from here on */
	return NULL;
}

/* --- the queue and the client slots (loop thread) --- */

static struct client_slot *
client_find(struct auth *a, const char *addr)
{
	struct client_slot *c = NULL;

	HASH_FIND_STR(a->clients, addr, c);
	return c;
}

static void
client_take(struct auth *a, struct login *l)
{
	struct client_slot *c = client_find(a, l->client);

	if (c == NULL) {
		c = xcalloc(1, sizeof(*c));
		snprintf(c->addr, sizeof(c->addr), "%s", l->client);
		HASH_ADD_STR(a->clients, addr, c);
	}
	c->n++;
	l->counted = true;
}

static void
client_release(struct auth *a, struct login *l)
{
	struct client_slot *c = client_find(a, l->client);

	l->counted = false;
	if (c && --c->n <= 0) {
		HASH_DEL(a->clients, c);
		free(c);
	}
}

/* Start queued jobs while workers are free. */
static void
pump(struct auth *a)
{
	while (!a->closing && a->workers < a->max_workers && a->queued > 0) {
		struct login *l = a->queue[0] ? a->queue[0] : a->queue[1];
		DL_DELETE2(a->queue[l->prio], l, rprev, rnext);
		a->queued--;
		login_start(a, l);
	}
}

static void
early(struct auth *a, struct login *l, enum auth_result r)
{
	l->result = r;
	post(a, l);
}

/* Run l now, or queue it (see auth.h), or answer busy. */
static void
login_submit(struct auth *a, struct login *l)
{
	if (a->workers < a->max_workers) {
		login_start(a, l);
		return;
	}
	if (a->queued >= AUTH_QUEUE_MAX && l->prio == 0 && a->queue[1]) {
		struct login *shed = a->queue[1]->rprev;  /* the newest of the others */
		DL_DELETE2(a->queue[1], shed, rprev, rnext);
		a->queued--;
		log_warn("auth: login queue full; a login from a failing client or for an unknown user shed",
		    "user", shed->user[0] ? shed->user : NULL);
		early(a, shed, AUTH_BUSY);
	}
	if (a->queued >= AUTH_QUEUE_MAX) {
		log_warn("auth: login queue full; answered busy", "user", l->user[0] ? l->user : NULL);
		early(a, l, AUTH_BUSY);
		return;
	}
	DL_APPEND2(a->queue[l->prio], l, rprev, rnext);
	a->queued++;
}

static void
login_start(struct auth *a, struct login *l)
{
	sigset_t all, old;

	/* Ours before the thread starts: it may post l at once. */
	l->threaded = true;
	a->workers++;
	DL_APPEND2(a->running, l, rprev, rnext);
	/* The thread inherits a full mask: signals are the loop's business. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int err = pthread_create(&l->th, NULL, worker_main, l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		log_error("auth: cannot start a worker thread", "error", strerror(err));
		l->threaded = false;
		a->workers--;
		DL_DELETE2(a->running, l, rprev, rnext);
		early(a, l, AUTH_BUSY);
	}
}

/* --- step 3 --- */

/* --- the user's row, read on the store's reader pool --- */

/* What a user read hands back to the login (loop thread): rc of the read,
 * and the stored password hash (NULL: no such user), which it may take. */
typedef void (*user_read_fn)(struct auth *a, struct login *l, int rc, char **hash);

/* A read of a login's user: the hash to check (step 1, taken in the order
 * the logins came, so they reach the workers in that order as before), or
 * whether the user still has it (step 3). It owns itself: auth_close()
 * abandons it (l = NULL), and then its done() only frees it. */
struct user_read {
	struct store_read rd;
	struct auth *a;
	struct login *l;            /* NULL: abandoned */
	user_read_fn then;
	int q;                      /* 0: step 1 (in order), 1: step 3 */
	bool ready;                 /* run; waits behind an earlier step 1 read */
	char user[AUTH_NAME_MAX + 1];
	int rc;
	char *hash;                 /* read on the pool thread */
	struct user_read *prev, *next;  /* a->reads[q] (loop thread) */
};

static void
user_read_run(struct store *st, void *arg)
{
	struct user_read *r = arg;
	json_t *row = NULL;

	r->rc = store_user_get(st, r->user, &row);
	const char *h = r->rc == 0 ? json_string_value(json_object_get(row, "password_hash")) : NULL;
	r->hash = h ? xstrdup(h) : NULL;
	json_decref(row);
}

static void
user_read_free(struct user_read *r)
{
	if (r->hash) {
		sodium_memzero(r->hash, strlen(r->hash));
		free(r->hash);
	}
	free(r);
}

static void
user_read_done(void *arg)
{
	struct user_read *r = arg;
	struct auth *a = r->a;

	if (r->l == NULL) {
		user_read_free(r);
		return;
	}
	r->ready = true;
	if (r->q == 1) {
		DL_DELETE(a->reads[1], r);
		r->then(a, r->l, r->rc, &r->hash);
		user_read_free(r);
		return;
	}
	while ((r = a->reads[0]) && r->ready) {
		DL_DELETE(a->reads[0], r);
		r->then(a, r->l, r->rc, &r->hash);
		user_read_free(r);
	}
}

/* Read l's user off the loop, then call then() on the loop. It may run
 * before this returns (the store closing): nothing is touched after. */
static void
user_read(struct auth *a, struct login *l, int q, user_read_fn then)
{
	struct user_read *r = xcalloc(1, sizeof(*r));

	r->a = a;
	r->l = l;
	r->q = q;
	r->then = then;
	snprintf(r->user, sizeof(r->user), "%s", l->user);
	r->rd = (struct store_read){ .run = user_read_run, .done = user_read_done, .arg = r };
	DL_APPEND(a->reads[q], r);
	store_read_submit(a->st, &r->rd);
}

/* Abandon every user read in flight: their logins end with AUTH_ERROR. */
static void
user_reads_abandon(struct auth *a)
{
	struct user_read *r, *tmp;

	for (int q = 0; q < 2; q++) {
		DL_FOREACH_SAFE(a->reads[q], r, tmp) {
			DL_DELETE(a->reads[q], r);
			early(a, r->l, AUTH_ERROR);
			r->l = NULL;
			if (r->ready)
				user_read_free(r);  /* its done() ran: nobody else will */
		}
	}
}

/* The login's session is durable: admit it, or drop it when the user was
 * removed or given a new password meanwhile (hash: what the store has now;
 * those ops committed first, one writer, so the read sees them). */
static void
session_checked(struct auth *a, struct login *l, int rc, char **hash)
{
	struct session *e = l->sess;
	bool token = strcmp(l->user, AUTH_TOKEN_USER) == 0;

	l->sess = NULL;
	if (!token && (rc != 0 || *hash == NULL || l->hash == NULL || strcmp(*hash, l->hash) != 0)) {
		HASH_ADD(hh, a->sessions, hash, sizeof(e->hash), e);
		session_drop(a, e);
		if (rc != 0) {
			log_error("auth: cannot read the user back; login not completed", "user", l->user);
			l->done(l->arg, AUTH_ERROR, NULL, NULL);
		} else {
			log_info("auth: login refused: the user changed meanwhile", "user", l->user);
			l->done(l->arg, AUTH_REFUSED, NULL, NULL);
		}
		login_free(l);
		return;
	}
	session_admit(a, e);
	log_info("auth: logged in", "user", l->user);
	l->done(l->arg, AUTH_OK, &e->pub, l->token);
	login_free(l);
}

static void
session_stored(struct store_op *op, void *arg)
{
	struct login *l = arg;
	struct auth *a = l->a;

	a->ops_pending--;
	if (op->result != 0) {
		log_error("auth: cannot store a session", "user", l->user, "error", op->errmsg);
		l->done(l->arg, AUTH_ERROR, NULL, NULL);
		login_free(l);
		return;
	}
	if (strcmp(l->user, AUTH_TOKEN_USER) == 0) {
		char *none = NULL;
		session_checked(a, l, 0, &none);
		return;
	}
	user_read(a, l, 1, session_checked);
}

/* Create l's session and store it; done() when durable. */
static void
session_start(struct login *l)
{
	struct auth *a = l->a;
	unsigned char raw[32];
	int64_t now = auth_now(a);
	struct session *e = xcalloc(1, sizeof(*e));

	l->sess = e;
	if (auth_new_token(raw, l->token) != 0 || auth_new_token(NULL, e->pub.csrf) != 0) {
		log_error("auth: no randomness for a session token");
		l->done(l->arg, AUTH_ERROR, NULL, NULL);
		login_free(l);
		return;
	}
	sha256(raw, sizeof(raw), e->hash);
	sodium_memzero(raw, sizeof(raw));
	snprintf(e->pub.user, sizeof(e->pub.user), "%s", l->user);
	if (l->hash)
		auth_cred(l->hash, strlen(l->hash), e->cred);
	else
		snprintf(e->cred, sizeof(e->cred), "%s", l->cred);  /* a token login */
	memcpy(e->pub.cred, e->cred, sizeof(e->pub.cred));
	e->pub.created_ms = now;
	e->pub.expires_ms = now + a->absolute_ms;
	e->pub.last_used_ms = now;

	l->op = (struct store_op){
		.kind = STORE_OP_SESSION_PUT,
		.u.session = {
			.csrf = e->pub.csrf,
			.user_name = e->pub.user,
			.credential = e->cred,
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

static void
user_stored(struct store_op *op, void *arg)
{
	struct login *l = arg;
	struct auth *a = l->a;
	enum auth_result r = AUTH_OK;
	int64_t ended = 0;

	a->ops_pending--;
	if (op->result != 0) {
		r = op->err == STORE_CONFLICT ? AUTH_CONFLICT : AUTH_ERROR;
		if (op->err != STORE_CONFLICT)
			log_error("auth: cannot store a user", "user", l->user, "error", op->errmsg);
	} else if (l->replace && !op->u.user.found) {
		r = AUTH_NOT_FOUND;
	} else if (l->replace) {
		ended = op->u.user.count;
		sessions_forget_user(a, l->user);
		log_info("auth: password changed; the user's sessions ended", "user", l->user);
	} else {
		log_info("auth: user added", "user", l->user);
	}
	l->udone(l->arg, r, ended);
	login_free(l);
}

/* A new hash is ready: store it. */
static void
hash_finish(struct auth *a, struct login *l)
{
	if (l->result != AUTH_OK || a->closing) {
		l->udone(l->arg, a->closing ? AUTH_ERROR : l->result, 0);
		login_free(l);
		return;
	}
	l->op = (struct store_op){
		.kind = l->replace ? STORE_OP_USER_PASSWORD : STORE_OP_USER_PUT,
		.org_id = l->org_id,
		.u.user = { .name = l->user, .password_hash = l->hash,
			.role = l->role[0] ? l->role : NULL, .must_change = l->must_change },
		.done = user_stored,
		.arg = l,
	};
	a->ops_pending++;
	store_submit(a->st, &l->op);
}

/* Step 3 for one finished job (loop thread). */
static void
login_finish(struct auth *a, struct login *l)
{
	if (l->threaded) {
		pthread_join(l->th, NULL);
		DL_DELETE2(a->running, l, rprev, rnext);
		a->workers--;
		l->threaded = false;
	}
	if (l->counted)
		client_release(a, l);
	pump(a);
	if (l->kind == JOB_HASH) {
		hash_finish(a, l);
		return;
	}
	if (l->result == AUTH_OK && !a->closing && l->no_session) {
		log_info("auth: password verified", "user", l->user);
		l->done(l->arg, AUTH_OK, NULL, NULL);
		login_free(l);
		return;
	}
	if (l->result == AUTH_OK && !a->closing) {
		session_start(l);
		return;
	}
	if (l->result == AUTH_REFUSED) {
		int64_t now = auth_mono(a);
		if (l->client[0])
			limiter_fail(a->by_addr, l->client, now);
		if (l->user[0])
			limiter_fail(a->by_user, l->user, now);
		log_info("auth: login refused", "user", l->user[0] ? l->user : NULL, "client",
		    l->client[0] ? l->client : NULL);
	}
	l->done(l->arg, a->closing && l->result == AUTH_OK ? AUTH_ERROR : l->result, NULL, NULL);
	login_free(l);
}

/* Every finished job, oldest first; done() may start new ones. */
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
login_new(struct auth *a, enum job kind, void *arg)
{
	struct login *l = xcalloc(1, sizeof(*l));

	l->a = a;
	l->kind = kind;
	l->arg = arg;
	return l;
}

int64_t
auth_throttle_ms(struct auth *a, const char *addr, const char *user)
{
	int64_t now = auth_mono(a), w = 0;
	char client[LIMIT_KEY_MAX + 1];

	limiter_addr_key(addr, client);

	if (*client)
		w = limiter_wait_ms(a->by_addr, client, now);
	/* A user's count closes the name only to addresses that failed too. */
	if (user && auth_name_valid(user) &&
	    (*client == '\0' || limiter_failed(a->by_addr, client, now))) {
		int64_t uw = limiter_wait_ms(a->by_user, user, now);
		if (uw > w)
			w = uw;
	}
	return w;
}

void
auth_token_failed(struct auth *a, const char *addr)
{
	char client[LIMIT_KEY_MAX + 1];

	limiter_addr_key(addr, client);
	if (client[0])
		limiter_fail(a->by_addr, client, auth_mono(a));
}

/* Step 1, the user read: verify against the stored hash (or a dummy one). */
static void
login_read(struct auth *a, struct login *l, int rc, char **hash)
{
	if (rc != 0) {
		early(a, l, AUTH_ERROR);
		return;
	}
	l->hash = *hash;
	*hash = NULL;
	l->prio = l->hash && !limiter_failed(a->by_addr, l->client, auth_mono(a)) ? 0 : 1;
	login_submit(a, l);
}

static void
verify_begin(struct auth *a, const char *client, const char *user, const char *password,
    bool no_session, auth_login_fn done, void *arg)
{
	struct login *l = login_new(a, JOB_VERIFY, arg);

	l->done = done;
	l->no_session = no_session;
	char key[LIMIT_KEY_MAX + 1];
	limiter_addr_key(client, key);
	snprintf(l->client, sizeof(l->client), "%s", key);
	if (auth_name_valid(user))
		snprintf(l->user, sizeof(l->user), "%s", user);  /* for logs and limits */
	if (a->closing || l->user[0] == '\0' || !auth_password_valid(password)) {
		early(a, l, a->closing ? AUTH_ERROR : AUTH_REFUSED);
		return;
	}
	struct client_slot *c = l->client[0] ? client_find(a, l->client) : NULL;
	if (c && c->n >= AUTH_CLIENT_INFLIGHT_MAX) {
		early(a, l, AUTH_LIMITED);
		return;
	}
	l->pwlen = strlen(password);
	l->password = xmalloc(l->pwlen + 1);
	memcpy(l->password, password, l->pwlen + 1);
	if (l->client[0])
		client_take(a, l);  /* counts from now on: the read is part of the login */
	user_read(a, l, 0, login_read);
}

void
auth_login(struct auth *a, const char *client, const char *user, const char *password,
    auth_login_fn done, void *arg)
{
	verify_begin(a, client, user, password, false, done, arg);
}

void
auth_verify(struct auth *a, const char *client, const char *user, const char *password,
    auth_login_fn done, void *arg)
{
	verify_begin(a, client, user, password, true, done, arg);
}

void
auth_login_token(struct auth *a, const unsigned char token_hash[32], auth_login_fn done, void *arg)
{
	struct login *l = login_new(a, JOB_VERIFY, arg);

	l->done = done;
	snprintf(l->user, sizeof(l->user), "%s", AUTH_TOKEN_USER);
	auth_cred(token_hash, 32, l->cred);
	/* Through the completion list, like every login: done() runs later. */
	early(a, l, a->closing ? AUTH_ERROR : AUTH_OK);
}

/* --- users --- */

static void
hash_job(struct auth *a, const char *name, const char *password, bool must_change, bool replace,
    int64_t org_id, const char *role, auth_user_fn done, void *arg)
{
	struct login *l = login_new(a, JOB_HASH, arg);

	l->udone = done;
	l->replace = replace;
	l->must_change = must_change;
	l->org_id = org_id;
	snprintf(l->role, sizeof(l->role), "%s", role ? role : "");
	if (!auth_name_valid(name) || !auth_password_valid(password) || a->closing) {
		early(a, l, a->closing ? AUTH_ERROR : AUTH_REFUSED);
		return;
	}
	snprintf(l->user, sizeof(l->user), "%s", name);
	l->pwlen = strlen(password);
	l->password = xmalloc(l->pwlen + 1);
	memcpy(l->password, password, l->pwlen + 1);
	login_submit(a, l);
}

void
auth_user_create(struct auth *a, const char *name, const char *password, bool must_change,
    int64_t org_id, const char *role, auth_user_fn done, void *arg)
{
	hash_job(a, name, password, must_change, false, org_id, role, done, arg);
}

void
auth_user_password(struct auth *a, const char *name, const char *password, bool must_change,
    auth_user_fn done, void *arg)
{
	hash_job(a, name, password, must_change, true, 0, NULL, done, arg);
}

static void
userop_done(struct store_op *op, void *arg)
{
	struct userop *u = arg;
	struct auth *a = u->a;
	bool token = strcmp(u->name, AUTH_TOKEN_USER) == 0;
	enum auth_result r = AUTH_OK;

	a->ops_pending--;
	if (op->result != 0) {
		log_error("auth: cannot change a user", "user", u->name, "error", op->errmsg);
		r = AUTH_ERROR;
	} else if (!op->u.user.found && !token) {
		r = AUTH_NOT_FOUND;
	}
	/* Sessions of this name end either way (a removed user's linger
	 * nowhere). */
	if (op->result == 0) {
		sessions_forget_user(a, u->name);
		log_info(op->kind == STORE_OP_USER_DELETE ? "auth: user removed; sessions ended" :
		    "auth: user logged out everywhere", "user", u->name);
	}
	u->done(u->arg, r, op->u.user.count);
	free(u);
}

static void
user_op(struct auth *a, enum store_op_kind kind, const char *name, auth_user_fn done, void *arg)
{
	struct userop *u = xcalloc(1, sizeof(*u));

	u->a = a;
	u->done = done;
	u->arg = arg;
	snprintf(u->name, sizeof(u->name), "%s", name);
	u->op = (struct store_op){ .kind = kind, .u.user.name = u->name, .done = userop_done, .arg = u };
	a->ops_pending++;
	store_submit(a->st, &u->op);
}

void
auth_user_remove(struct auth *a, const char *name, auth_user_fn done, void *arg)
{
	user_op(a, STORE_OP_USER_DELETE, name, done, arg);
}

void
auth_user_logout(struct auth *a, const char *name, auth_user_fn done, void *arg)
{
	user_op(a, STORE_OP_USER_LOGOUT, name, done, arg);
}

/* --- open, close --- */

int
auth_open(struct auth **out, struct event_base *base, struct store *st,
    const struct auth_config *cfg)
{
	struct auth *a = xcalloc(1, sizeof(*a));

	*out = NULL;
	a->base = base;
	a->st = st;
	a->efd = -1;
	a->idle_ms = cfg && cfg->idle_ms > 0 ? cfg->idle_ms : AUTH_IDLE_MS_DEFAULT;
	a->absolute_ms = cfg && cfg->absolute_ms > 0 ? cfg->absolute_ms : AUTH_ABSOLUTE_MS_DEFAULT;
	a->max_workers = cfg && cfg->max_workers > 0 ? cfg->max_workers : AUTH_WORKERS_DEFAULT;
	a->clock_ms = cfg && cfg->clock_ms ? cfg->clock_ms : now_ms;
	a->mono_clock_ms = cfg && cfg->mono_clock_ms ? cfg->mono_clock_ms : mono_ms;
	a->by_addr = limiter_new(AUTH_LIMIT_KEYS);
	a->by_user = limiter_new(AUTH_LIMIT_KEYS);
	pthread_mutex_init(&a->mu, NULL);

	if (sodium_init() < 0) {
		log_error("auth: libsodium cannot initialize");
		goto fail;
	}
	if (sessions_load(a, cfg) != 0)
		goto fail;

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

	if (a == NULL)
		return;
	a->closing = true;
	if (a->sweep)
		event_free(a->sweep);
	if (a->wake)
		event_free(a->wake);
	a->sweep = a->wake = NULL;
	/* Queued jobs end with AUTH_ERROR (closing). */
	for (int q = 0; q < 2; q++) {
		DL_FOREACH_SAFE2(a->queue[q], l, tmp, rnext) {
			DL_DELETE2(a->queue[q], l, rprev, rnext);
			a->queued--;
			early(a, l, AUTH_ERROR);
		}
	}
	user_reads_abandon(a);
	reload_abandon(a);
	/* Jobs still running finish (tens of ms) and post themselves. */
	DL_FOREACH_SAFE2(a->running, l, tmp, rnext) {
		pthread_join(l->th, NULL);
		l->threaded = false;
		DL_DELETE2(a->running, l, rprev, rnext);
		a->workers--;
	}
	while (a->chead)
		deliver(a);  /* closing: every job ends with AUTH_ERROR */
	if (a->ops_pending > 0) {
		/* Their done() would find a freed auth: better leak than crash. */
		log_error("auth: closed before the store; leaking its state");
		return;
	}
	sessions_free(a);
	free(a->deleting);
	limiter_free(a->by_addr);
	limiter_free(a->by_user);
	if (a->efd >= 0)
		close(a->efd);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

/* --- users (CLI) --- */

static int
user_write(struct store *st, const char *name, const char *password, bool replace, char *err,
    size_t errlen)
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
	if (hash_password(password, strlen(password), hash) != 0) {
		snprintf(err, errlen, "cannot hash the password (out of memory?)");
		return -1;
	}
	/* A user added here owns the default organization, as every user did
	 * before organizations (the API adds users to others, with a role). */
	struct store_op op = {
		.kind = replace ? STORE_OP_USER_PASSWORD : STORE_OP_USER_PUT,
		.u.user = { .name = name, .password_hash = hash, .role = replace ? NULL : "owner" },
	};
	int rc = store_submit_wait(st, &op);
	sodium_memzero(hash, sizeof(hash));
	if (rc != 0) {
		if (op.err == STORE_CONFLICT)
			snprintf(err, errlen, "user '%s' exists", name);
		else
			snprintf(err, errlen, "%s", op.errmsg);
		return -1;
	}
	if (replace && !op.u.user.found) {
		snprintf(err, errlen, "no user '%s'", name);
		return -1;
	}
	log_info(replace ? "auth: password changed" : "auth: user added", "user", name);
	return 0;
}

int
auth_user_add(struct store *st, const char *name, const char *password, char *err, size_t errlen)
{
	return user_write(st, name, password, false, err, errlen);
}

int
auth_user_set_password(struct store *st, const char *name, const char *password, char *err,
    size_t errlen)
{
	return user_write(st, name, password, true, err, errlen);
}
