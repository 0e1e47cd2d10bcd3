/*
 * reload.c - following the sessions another instance changed
 * (auth_sessions_reload), with the reads on the store's reader pool.
 *
 * One reload at a time: a change heard while one is in flight reads again
 * once it is back. The pool thread reads the live sessions and, for every
 * user they name, the fingerprint of the user's password hash; the loop
 * then syncs the table with them. The snapshot may be older than what the
 * loop did meanwhile, so the sync leaves alone the sessions admitted since
 * the read began (their generation is newer) and never brings back one
 * that ended here since (each leaves a tombstone in the reload in flight,
 * session_gone(); more than RELOAD_GONE_MAX of them: read again).
 */
#include "auth_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../log/log.h"
#include "../store/store.h"
#include "../util/util.h"

#define RELOAD_GONE_MAX 64      /* sessions ended here during one read, remembered */

struct reload {
	struct store_read rd;
	struct auth *a;             /* NULL: abandoned (auth_close) */
	int64_t now;
	uint64_t gen;               /* a->sess_gen when the read began */
	unsigned char (*tokens)[32];  /* the token hashes valid now */
	size_t ntokens;
	int rc;                     /* pool thread: rows, users */
	json_t *rows;
	json_t *users;              /* name -> credential fingerprint ("": no such user) */
	bool stale;                 /* more ended here than gone[] holds */
	size_t ngone;
	unsigned char gone[RELOAD_GONE_MAX][32];
};

static void
reload_run(struct store *st, void *arg)
{
	struct reload *r = arg;
	json_t *row;
	size_t i;

	r->users = json_object();
	r->rc = store_sessions_load(st, r->now / 1000, &r->rows);
	json_array_foreach(r->rows, i, row) {
		const char *user = json_string_value(json_object_get(row, "user"));
		json_t *u = NULL;
		char fp[AUTH_CRED_HEX + 1] = "";
		if (r->rc != 0 || user == NULL || strcmp(user, AUTH_TOKEN_USER) == 0 ||
		    json_object_get(r->users, user))
			continue;
		if (store_user_get(st, user, &u) != 0) {
			r->rc = -1;  /* not "no such user": that would end its sessions */
			break;
		}
		const char *h = json_string_value(json_object_get(u, "password_hash"));
		if (h)
			auth_cred(h, strlen(h), fp);
		json_decref(u);
		json_object_set_new(r->users, user, json_string(fp));
	}
}

static void
reload_free(struct reload *r)
{
	json_decref(r->rows);
	json_decref(r->users);
	free(r->tokens);
	free(r);
}

static bool
gone_here(const struct reload *r, const unsigned char hash[32])
{
	for (size_t i = 0; i < r->ngone; i++)
		if (memcmp(r->gone[i], hash, 32) == 0)
			return true;
	return false;
}

/* Sync the table with the snapshot (loop thread). */
static void
reload_apply(struct auth *a, struct reload *r)
{
	json_t *row, *stored = json_object();
	struct auth_config cfg = { .token_hashes = (const unsigned char (*)[32])r->tokens,
	    .ntoken_hashes = r->ntokens };
	struct session *e, *tmp;
	int64_t now = auth_now(a), ended = 0;
	char hex[65];
	size_t i;

	json_array_foreach(r->rows, i, row) {
		const char *h = json_string_value(json_object_get(row, "token_hash"));
		if (h)
			json_object_set(stored, h, row);
	}
	/* Ended elsewhere: a logout, a new password, a removed user. The
	 * rows are gone already; memory only. Sessions admitted since the
	 * read began may be newer than the snapshot: kept. */
	HASH_ITER(hh, a->sessions, e, tmp) {
		hex_encode(e->hash, sizeof(e->hash), hex);
		if (e->gen <= r->gen && json_object_get(stored, hex) == NULL) {
			HASH_DEL(a->sessions, e);
			session_free(e);
			ended++;
		}
	}
	/* Made elsewhere: a login on another instance works here too (unless
	 * it ended here since the read began). */
	json_array_foreach(r->rows, i, row) {
		unsigned char hash[32];
		const char *h = json_string_value(json_object_get(row, "token_hash"));
		if (h == NULL || hex_decode(h, strlen(h), hash, sizeof(hash)) != 0 || gone_here(r, hash) ||
		    session_is_deleting(a, hash))
			continue;
		HASH_FIND(hh, a->sessions, hash, sizeof(hash), e);
		if (e || HASH_COUNT(a->sessions) >= AUTH_SESSIONS_MAX)
			continue;
		if (session_load_one(a, &cfg, row, now, r->users) < 0)
			log_warn("auth: malformed stored session; skipped");
	}
	if (ended > 0) {
		char n[24];
		snprintf(n, sizeof(n), "%lld", (long long)ended);
		log_info("auth: sessions ended by another instance", "sessions", n);
	}
	json_decref(stored);
}

static void reload_start(struct auth *a, unsigned char (*tokens)[32], size_t ntokens);

static void
reload_done(void *arg)
{
	struct reload *r = arg;
	struct auth *a = r->a;

	if (a == NULL) {
		reload_free(r);
		return;
	}
	a->reload = NULL;
	if (r->rc != 0)
		log_error("auth: cannot read the sessions to follow another instance");
	else if (r->stale)
		a->reload_again = true;
	else
		reload_apply(a, r);
	if (a->reload_again && !a->closing) {
		a->reload_again = false;
		unsigned char (*tokens)[32] = a->reload_tokens;
		size_t n = a->reload_ntokens;
		if (tokens == NULL) {
			tokens = r->tokens;  /* the same tokens as this one's */
			n = r->ntokens;
			r->tokens = NULL;
		}
		a->reload_tokens = NULL;
		a->reload_ntokens = 0;
		reload_start(a, tokens, n);
	}
	reload_free(r);
}

/* Start a reload; takes tokens. It may complete before this returns. */
static void
reload_start(struct auth *a, unsigned char (*tokens)[32], size_t ntokens)
{
	struct reload *r = xcalloc(1, sizeof(*r));

	r->a = a;
	r->now = auth_now(a);
	r->gen = a->sess_gen;
	r->tokens = tokens;
	r->ntokens = ntokens;
	r->rd = (struct store_read){ .run = reload_run, .done = reload_done, .arg = r };
	a->reload = r;
	store_read_submit(a->st, &r->rd);
}

void
auth_sessions_reload(struct auth *a, const struct auth_config *cfg)
{
	size_t n = cfg ? cfg->ntoken_hashes : 0;
	unsigned char (*tokens)[32] = xcalloc(n + 1, 32);

	if (n)
		memcpy(tokens, cfg->token_hashes, n * 32);
	if (a->closing) {
		free(tokens);
		return;
	}
	if (a->reload) {
		/* Read again once this one is back, with the newest tokens. */
		free(a->reload_tokens);
		a->reload_tokens = tokens;
		a->reload_ntokens = n;
		a->reload_again = true;
		return;
	}
	reload_start(a, tokens, n);
}

void
session_gone(struct auth *a, const struct session *e)
{
	struct reload *r = a->reload;

	if (r == NULL)
		return;
	if (r->ngone == RELOAD_GONE_MAX) {
		r->stale = true;
		return;
	}
	memcpy(r->gone[r->ngone++], e->hash, 32);
}

void
reload_abandon(struct auth *a)
{
	if (a->reload)
		a->reload->a = NULL;
	a->reload = NULL;
	a->reload_again = false;
	free(a->reload_tokens);
	a->reload_tokens = NULL;
}
