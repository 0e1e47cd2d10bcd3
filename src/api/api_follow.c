/* api_follow.c - another instance's changes of channels, API keys and
 * organizations, read
 * on the store's reader pool and applied on the loop (api.h). */
#include "api.h"

#include <stdlib.h>

#include "../log/log.h"
#include "../store/store.h"
#include "../util/util.h"

struct follow {
	struct app *app;          /* NULL once stopped: the landing read is dropped */
	struct store_read rd;
	unsigned kinds;           /* what this read covers */
	uint64_t channels_gen;    /* app->channels_gen when it started */
	uint64_t members_gen;     /* app->members_gen when it started */
	uint64_t orgs_gen;        /* app->orgs_gen when it started */
	uint64_t keys_gen;        /* app->keys_gen when it started */
	json_t *channels, *keys, *orgs, *members, *tkeys;  /* its results (NULL: not asked, or failed) */
	int rc_channels, rc_keys, rc_orgs, rc_members, rc_tkeys;
};

static void follow_start(struct app *app, unsigned kinds);

static void
follow_run(struct store *st, void *arg)
{
	struct follow *f = arg;

	if (f->kinds & STORE_CHANGE_CHANNELS)
		f->rc_channels = store_channels_load(st, &f->channels);
	if (f->kinds & STORE_CHANGE_KEYS) {
		f->rc_keys = store_api_keys_load(st, &f->keys);
		f->rc_tkeys = store_signing_keys_load(st, &f->tkeys);
	}
	if (f->kinds & STORE_CHANGE_ORGS)
		f->rc_orgs = store_orgs_load(st, &f->orgs);
	if (f->kinds & STORE_CHANGE_USERS)
		f->rc_members = store_members_load(st, &f->members);
}

static void
follow_done(void *arg)
{
	struct follow *f = arg;
	struct app *app = f->app;

	if (app && app->follow == f)
		app->follow = NULL;
	if (app) {
		/* Organizations first: channels and keys name them. */
		if ((f->kinds & STORE_CHANGE_ORGS) && app->orgs_gen != f->orgs_gen) {
			app->follow_pending |= STORE_CHANGE_ORGS;  /* changed here meanwhile: read again */
		} else if (f->kinds & STORE_CHANGE_ORGS) {
			if (f->rc_orgs == 0 && f->orgs)
				api_orgs_apply(app, f->orgs);
			else
				log_error("cannot read the organizations to follow another instance");
		}
		if ((f->kinds & STORE_CHANGE_USERS) && app->members_gen != f->members_gen) {
			app->follow_pending |= STORE_CHANGE_USERS;  /* changed here meanwhile */
		} else if (f->kinds & STORE_CHANGE_USERS) {
			if (f->rc_members == 0 && f->members)
				api_members_apply(app, f->members);
			else
				log_error("cannot read the memberships to follow another instance");
		}
		if ((f->kinds & STORE_CHANGE_CHANNELS) && app->channels_gen != f->channels_gen) {
			/* A channel was created, patched or deleted here while the
			 * store was read: the rows may not show it. Read again. */
			app->follow_pending |= STORE_CHANGE_CHANNELS;
		} else if (f->kinds & STORE_CHANGE_CHANNELS) {
			if (f->rc_channels == 0 && f->channels)
				api_channels_sync(app, f->channels);
			else
				log_error("channels: cannot read them to follow another instance");
		}
		if ((f->kinds & STORE_CHANGE_KEYS) && app->keys_gen != f->keys_gen) {
			app->follow_pending |= STORE_CHANGE_KEYS;  /* changed here meanwhile: read again */
		} else if (f->kinds & STORE_CHANGE_KEYS) {
			if (f->rc_keys == 0 && f->keys)
				api_keys_apply(app, f->keys);
			else
				log_error("cannot read the API keys to follow another instance");
			if (f->rc_tkeys == 0 && f->tkeys)
				api_tokens_apply(app, f->tkeys);
			else
				log_error("cannot read the signing keys to follow another instance");
		}
	}
	json_decref(f->channels);
	json_decref(f->keys);
	json_decref(f->orgs);
	json_decref(f->members);
	json_decref(f->tkeys);
	free(f);
	if (app && app->follow_pending) {
		unsigned k = app->follow_pending;
		app->follow_pending = 0;
		follow_start(app, k);
	}
}

static void
follow_start(struct app *app, unsigned kinds)
{
	struct follow *f = xcalloc(1, sizeof(*f));

	f->app = app;
	f->kinds = kinds;
	f->channels_gen = app->channels_gen;
	f->members_gen = app->members_gen;
	f->orgs_gen = app->orgs_gen;
	f->keys_gen = app->keys_gen;
	f->rd = (struct store_read){ .run = follow_run, .done = follow_done, .arg = f };
	app->follow = f;
	store_read_submit(app->store, &f->rd);  /* may run (and free f) at once */
}

void
api_follow(struct app *app, unsigned kinds)
{
	kinds &= STORE_CHANGE_CHANNELS | STORE_CHANGE_KEYS | STORE_CHANGE_ORGS | STORE_CHANGE_USERS;
	if (kinds == 0 || app->store == NULL)
		return;
	if (app->follow) {
		app->follow_pending |= kinds;
		return;
	}
	follow_start(app, kinds);
}

void
api_follow_stop(struct app *app)
{
	if (app->follow)
		app->follow->app = NULL;
	app->follow = NULL;
	app->follow_pending = 0;
}
