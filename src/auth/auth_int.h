/*
 * auth_int.h - what auth.c (workers, logins, users) and session.c (the
 * session table) share. Private to src/auth/.
 */
#ifndef MSGD_AUTH_INT_H
#define MSGD_AUTH_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uthash.h>

#include "auth.h"

struct store_op;
struct limiter;
struct login;
struct client_slot;
struct user_read;
struct reload;

struct session {
	unsigned char hash[32];          /* SHA-256 of the token's bytes: the key */
	char cred[AUTH_CRED_HEX + 1];    /* fingerprint of the credential that made it */
	struct auth_session pub;
	uint64_t gen;                    /* auth's sess_gen when it entered the table */
	UT_hash_handle hh;
};

struct auth {
	struct event_base *base;
	struct store *st;
	int64_t idle_ms, absolute_ms;
	int max_workers;
	int64_t (*clock_ms)(void);
	int64_t (*mono_clock_ms)(void);

	struct session *sessions;  /* uthash */
	struct login *running;     /* threads started, not joined (loop only) */
	struct login *queue[2];    /* waiting for a worker: [0] first (loop only) */
	size_t queued;
	int workers;
	struct client_slot *clients;  /* logins in flight per client address */
	struct limiter *by_addr, *by_user;
	size_t ops_pending;        /* our store ops whose done() has not run */
	struct user_read *reads[2]; /* logins' user reads in flight: [0] step 1, [1] step 3 */
	uint64_t sess_gen;         /* sessions entered the table so far */
	struct reload *reload;     /* auth_sessions_reload's read in flight (reload.c) */
	bool reload_again;         /* another change heard meanwhile: read again */
	unsigned char (*reload_tokens)[32];  /* the tokens for that next read */
	size_t reload_ntokens;
	/* Sessions ended here whose row's delete has not committed yet: a
	 * reload's read may still see them (reload.c skips them). */
	unsigned char (*deleting)[32];
	size_t ndeleting, capdeleting;
	bool closing;

	int efd;
	struct event *wake, *sweep;
	pthread_mutex_t mu;
	struct login *chead, *ctail;  /* finished, not yet delivered (mu) */
};

int64_t auth_now(struct auth *a);
int64_t auth_mono(struct auth *a);  /* the login limits' clock */
/* A credential's fingerprint: bytes (a token's SHA-256, a password hash). */
void auth_cred(const void *p, size_t n, char out[AUTH_CRED_HEX + 1]);
/* A random token: raw bytes (when raw is not NULL) and hex. */
int auth_new_token(unsigned char raw[32], char hex[AUTH_TOKEN_HEX + 1]);
void session_free(struct session *e);
/* Remove from memory, and from the store without waiting. */
void session_drop(struct auth *a, struct session *e);
/* Into the table, making room first (the principal's cap, the global cap). */
void session_admit(struct auth *a, struct session *e);
/* Drop every session of user (memory only: the caller's op deletes the rows). */
int64_t sessions_forget_user(struct auth *a, const char *user);
/* Load the stored sessions whose credential is still valid. */
int sessions_load(struct auth *a, const struct auth_config *cfg);
/* One stored session row into the table: 0, 1 when its credential is gone
 * (then deleted from the store), -1 when malformed. users caches name ->
 * credential fingerprint ("": no such user); a name missing is read. */
int session_load_one(struct auth *a, const struct auth_config *cfg, json_t *row, int64_t now,
    json_t *users);
/* reload.c: e leaves the table (any reason but a reload's own sync): a
 * reload in flight must not bring it back. */
void session_gone(struct auth *a, const struct session *e);
/* session.c: e's row is being deleted (until session_deleted(): then a
 * reload in flight hears of it as gone, since its read may predate it). */
void session_deleting(struct auth *a, const unsigned char hash[32]);
void session_deleted(struct auth *a, const unsigned char hash[32]);
bool session_is_deleting(const struct auth *a, const unsigned char hash[32]);
/* reload.c: auth_close: a reload in flight only frees itself when back. */
void reload_abandon(struct auth *a);
void sessions_free(struct auth *a);

#endif
